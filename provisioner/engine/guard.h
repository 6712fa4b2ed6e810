/*
 * guard.h - the engine's side of approvals and rollbacks
 * (docs/guardrails.md): a saved plan's digest and author, and the
 * configuration an apply applied, captured so that the revision can be
 * planned again (cairn rollback) and written back out for that.
 */
#ifndef CAIRN_ENGINE_GUARD_H
#define CAIRN_ENGINE_GUARD_H

#include "engine.h"

#define CAIRN_DIGEST_LEN 72 /* "sha256:" + 64 hex + NUL */

/* The digest of a plan document: "sha256:" and the SHA-256 of its
 * canonical form (sorted keys, no whitespace) without "mac", so that
 * re-indenting the file does not change it. */
int cairn_guard_digest(const json_t *plan, char out[CAIRN_DIGEST_LEN]);

/* What e applies: {"stack": {"name", "file": NAME, "dir": BASENAME},
 * "files": {relative path: base64 content} (the stack file, the overlay,
 * the stack's own modules/ and policies/ and the files file() read under
 * the stack's directory), "modules": {type: {file, sha256}} (every module
 * used), "variables": the --var values (sensitive ones too: the record is
 * sealed by the store)}. New. */
int cairn_guard_config_capture(cairn_engine *e, json_t **out);

/* Write a captured configuration's files under `dir` (which must exist
 * and be empty): DIR/BASENAME/... . *stack_file: the stack file's path
 * there (malloc'd). A path that is absolute or climbs out with '..' is
 * refused. */
int cairn_guard_config_restore(const json_t *config, const char *dir, char **stack_file);

#endif
