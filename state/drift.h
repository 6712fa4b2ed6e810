/*
 * drift.h - drift kept as a record: every `cairn drift` run of an
 * environment and the findings it made, with when each was first seen,
 * last seen and resolved (tables drift_runs and drift_findings, schema
 * version 2; see docs/drift.md).
 *
 * A finding is identified across runs by its `key` (kind, subject and
 * attribute, made by provisioner/drift/): a run that sees a key that has an
 * open row updates it (last seen, detail); a key without one opens a new
 * row; a complete run (one that read the environment) resolves every open
 * row of the environment it did not see. A run that could not read the
 * environment (an error, an apply in progress) resolves nothing.
 */
#ifndef CAIRN_STATE_DRIFT_H
#define CAIRN_STATE_DRIFT_H

#include "store.h"

#include <stdbool.h>

typedef struct cairn_drift_run_rec {
	const char *env;
	int64_t started_at;   /* unix seconds */
	double duration_s;
	const char *status;   /* "clean", "drift", "applying", "error" */
	json_t *summary;      /* object stored as JSON (counts, coverage, error), may be NULL */
	bool complete;        /* the environment was read: resolve what was not seen */
	json_t *marks;        /* NULL, or read marks to keep: address -> [key, digest] */
} cairn_drift_run_rec;

/* Record a run and its findings in one transaction. findings: array of
 * objects, each with "key" and "kind" and optionally "address", "type",
 * "id", "attribute", "ignored" ({"reason": ...}); the whole object is
 * kept as the finding's detail (its values must already be redacted).
 * Each finding object gets "first_seen", "first_run" and "last_seen"
 * added. *run_out (may be NULL) receives the run's id; *resolved (may be
 * NULL) an array of the findings this run resolved (new reference). */
int cairn_store_drift_record(cairn_store *st, const cairn_drift_run_rec *run, json_t *findings,
			     int64_t *run_out, json_t **resolved);

/* env's read marks (lua/runtime.h): each(ud, address, key, digest) for
 * each of them; a non-zero return stops the reading and is returned. */
int cairn_store_read_marks(cairn_store *st, const char *env,
			   int (*each)(void *ud, const char *address, const char *key, const char *digest), void *ud);

/* One of env's read marks: *key and *digest (malloc'd) of the mark at
 * address, or both NULL when there is none. */
int cairn_store_read_mark(cairn_store *st, const char *env, const char *address, char **key, char **digest);

/* A mark's text sealed with the state's key (secret.h), and back: for a
 * mark that keeps what must be neither read nor forged by whoever can
 * write the state but has not its key (drift's environment memo: requests
 * it sends signed). CAIRN_ENOTFOUND when there is no key; unsealing a
 * text that does not verify: CAIRN_ECORRUPT. *out malloc'd. */
int cairn_store_seal_text(cairn_store *st, const char *text, char **out);
int cairn_store_unseal_text(cairn_store *st, const char *sealed, char **out);

/* The record of env: {"runs": [{id, started_at, duration_s, status, who,
 * host, summary}] newest first, at most `limit` (0 = all), "findings":
 * [{kind, address, type, id, attribute, detail, ignored, first_seen,
 * first_run, last_seen, last_run, resolved_at, resolved_run}] the open ones
 * first, then by last seen, newest first}. */
int cairn_store_drift_history(cairn_store *st, const char *env, size_t limit, json_t **out);

#endif
