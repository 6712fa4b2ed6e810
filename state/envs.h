/*
 * envs.h - ephemeral environments: environments without an overlay file,
 * recorded in the state (table ephemeral_envs, schema version 3; see
 * docs/environments.md).
 *
 * An ephemeral environment is made by `cairn env create NAME --from BASE`:
 * it uses BASE's overlay file plus its own variable values, and may expire.
 * Its resources, outputs, lock and history are those of any environment
 * (rows keyed by NAME); this table only says that NAME exists, how it is
 * configured and until when. Its variable values are kept sealed
 * (secret.h): a --var may carry a secret.
 *
 * A database of schema version 2 or older, read through a READONLY handle,
 * has no such table: it is read as having no ephemeral environment.
 */
#ifndef CAIRN_STATE_ENVS_H
#define CAIRN_STATE_ENVS_H

#include "store.h"

typedef struct cairn_ephemeral_env {
	char *name;
	char *base;          /* the environment whose overlay it uses */
	json_t *vars;        /* object: its variable values, unsealed */
	int64_t created_at;  /* unix seconds */
	int64_t expires_at;  /* unix seconds; 0: never */
	char *who;           /* user@host that created it */
} cairn_ephemeral_env;

void cairn_ephemeral_env_release(cairn_ephemeral_env *e);
void cairn_ephemeral_env_free_array(cairn_ephemeral_env *v, size_t n);

/* Record a new ephemeral environment (name, base, vars (may be NULL),
 * expires_at, created_at: now when 0; who is filled in here). CAIRN_EINVAL
 * "environment 'x' already exists" if it is recorded. */
int cairn_store_ephemeral_add(cairn_store *st, const cairn_ephemeral_env *e);
/* The record of name into *out (release it); CAIRN_ENOTFOUND if none. */
int cairn_store_ephemeral_get(cairn_store *st, const char *name, cairn_ephemeral_env *out);
/* Every record, sorted by name (free with cairn_ephemeral_env_free_array). */
int cairn_store_ephemeral_list(cairn_store *st, cairn_ephemeral_env **out, size_t *n);
/* Set name's expiry (unix seconds, 0: never). CAIRN_ENOTFOUND if not recorded. */
int cairn_store_ephemeral_set_expiry(cairn_store *st, const char *name, int64_t expires_at);
/* Forget name: remove its record, and its outputs, but only if nothing is
 * recorded for it any more (no resource, no pending intent) and no live
 * lock other than this handle's is held on it, all checked in the same
 * transaction as the removal. CAIRN_ENOTFOUND if not recorded; CAIRN_EINVAL
 * naming what is left otherwise. History and drift records are kept. */
int cairn_store_ephemeral_forget(cairn_store *st, const char *name);

/* What `cairn env list` shows of env, as an object: "resources" (count),
 * "last_run" ({rev, command, who, host, started_at, finished_at, status})
 * or absent, "last_drift" ({started_at, status}) or absent. */
int cairn_store_env_summary(cairn_store *st, const char *env, json_t **out);

#endif
