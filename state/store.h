/*
 * store.h - the state store: one SQLite database per stack.
 *
 * Default location `.cairn/state.db` beside the stack file (directory 0700,
 * file 0600). WAL mode, busy timeout, foreign keys on. The database carries
 * PRAGMA application_id = CAIRN_STORE_APP_ID and a schema version in
 * PRAGMA user_version, upgraded by migrations in order; a file that is not
 * SQLite, has another application_id, a newer schema, or fails
 * `PRAGMA quick_check` is refused with CAIRN_ECORRUPT and never written.
 *
 * Folder state/: the store, locks (lock.h), sealed secrets (secret.h), the
 * WAL buffer VFS (walbuf.h). May use base/ only.
 *
 * Each environment is a namespace (rows keyed by env name) with its own
 * serial (bumped by every change to its resources or outputs), its own lock
 * (lock.h) and its own history of revisions.
 *
 * Transactions: every mutating call commits at once unless the caller has
 * opened a batch with cairn_store_begin(); then it joins the batch and the
 * batch commits in cairn_store_commit(). The scheduler uses batches for group
 * commit: all operations that finished in one event-loop tick are committed
 * together, before any dependent starts. Nothing is reported done before its
 * commit.
 *
 * Sensitive attributes (names listed in cairn_state_res.sensitive) are stored
 * sealed with AES-256-GCM (secret.h), never in plain text; they come back
 * unsealed from the read functions.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "base/error.h"
#include "base/value.h"

#include <stdint.h>

#define CAIRN_STORE_APP_ID 0x6361726e /* "carn" */
#define CAIRN_STORE_SCHEMA_VERSION 5
/* The oldest schema a READONLY handle reads as it is: the tables that
 * reading commands use (resources, intents, revisions, outputs, locks) are
 * those of version 1; version 2 only added the drift tables (drift.h),
 * version 3 the ephemeral environments (envs.h), version 4 the applied
 * configurations (approvals.h), both read as none when absent,
 * which the first writer adds. */
#define CAIRN_STORE_READ_MIN_VERSION 1

typedef struct cairn_store cairn_store;

enum {
	CAIRN_STORE_CREATE   = 1 << 0, /* create the file (and its dir) if missing */
	CAIRN_STORE_READONLY = 1 << 1, /* open for reading only (plan, show, list) */
	CAIRN_STORE_CHECKED  = 1 << 2, /* this process has just opened the same file and checked
					* it (quick_check): the other checks only */
};

/* Open (or create) the state database at path. Errors: CAIRN_ENOTFOUND (no
 * file and no CREATE flag), CAIRN_EIO (unreadable), CAIRN_ECORRUPT (not
 * SQLite, foreign, newer schema, integrity failure). The key for sealing
 * secrets is taken from $CAIRN_STATE_KEY, or from the file `key` beside the
 * database (created 0600 with 32 random bytes on first need).
 * An existing zero-length file is initialised by a writer; READONLY on an
 * empty (never initialised) file is CAIRN_ENOTFOUND. Mutating calls on a
 * READONLY handle fail with CAIRN_EINVAL. Opening also runs PRAGMA
 * quick_check, which reads the whole file (milliseconds for 10,000
 * resources), unless CAIRN_STORE_CHECKED says it has just passed it (cairn
 * drift: its writer's open checks the file, its readers' do not again). */
int cairn_store_open(cairn_store **out, const char *path, unsigned flags);

/* ---- state by URL (store_pg.c, docs/state.md) ----
 * A location that starts with postgres:// or postgresql:// is a PostgreSQL
 * database (libpq: PG* variables and ~/.pgpass apply); anything else is a
 * file path. cairn_store_open takes either. On PostgreSQL the state lives
 * in the connection's current schema (one schema per stack), the sealing
 * key must come from $CAIRN_STATE_KEY (every machine needs the same one),
 * and cairn_store_path() is the URL with its password replaced by "***". */
int cairn_store_is_url(const char *location);
/* The state location to use: flag if set, else $CAIRN_STATE_URL if set,
 * else dflt (the stack's .cairn/state.db). */
const char *cairn_store_location(const char *flag, const char *dflt);
/* cairn_store_open of a state that may not exist yet: 0 with *out NULL when
 * there is none (no file; on PostgreSQL, with CAIRN_STORE_READONLY, a
 * schema nothing was written to). A file is never created here; on
 * PostgreSQL a writing handle brings the schema up as cairn_store_open
 * does. */
int cairn_store_open_existing(cairn_store **out, const char *location, unsigned flags);
/* text with every URL password (scheme://user:PASSWORD@) and every
 * password=VALUE replaced by "***"; malloc'd, NULL on out of memory. For
 * messages and the history's command lines. */
char *cairn_store_redact(const char *text);
void cairn_store_free(cairn_store *st);
/* A SQLite file: its close (cairn_store_free) leaves the WAL for the next
 * open instead of checkpointing it into the file now. A checkpoint syncs
 * the file, which on a busy disk can take seconds: a run that SIGTERM or
 * SIGINT stops leaves at once (what it committed is in the WAL already).
 * Nothing on PostgreSQL. */
void cairn_store_skip_checkpoint(cairn_store *st);
const char *cairn_store_path(const cairn_store *st);

/* Batches (see above). begin while a batch is open is an error (assert).
 * Inside a batch each mutating call is still atomic on its own (a
 * SAVEPOINT): one that fails leaves the batch's earlier calls in place.
 * Freeing the store with a batch open rolls it back. */
int cairn_store_begin(cairn_store *st);
int cairn_store_commit(cairn_store *st);
void cairn_store_rollback(cairn_store *st);
/* Commits done and total seconds spent in them (for the benchmark): every
 * COMMIT, of batches and of calls outside a batch, timed with the
 * monotonic clock. */
void cairn_store_commit_stats(const cairn_store *st, uint64_t *ncommits, double *seconds);
/* Total seconds spent inside mutating calls and batch commits (all state
 * writing, for the benchmark's "share of apply time in state commits"). */
void cairn_store_write_stats(const cairn_store *st, double *seconds);
/* Round trips to a PostgreSQL state so far: each wait for the server's
 * answer (0 for a SQLite file). */
uint64_t cairn_store_round_trips(const cairn_store *st);

/* ---- copying a whole state (copy.c: cairn state migrate) ---- */
typedef struct cairn_store_copy_stats {
	size_t envs, resources, revisions;
	int64_t rows; /* rows of every table */
} cairn_store_copy_stats;
/* Copy every environment, with its resources, intents, outputs, history and
 * drift records, from src into dst (a file into PostgreSQL or back), rows
 * as stored (sealed values stay sealed: both must use the same key), in one
 * dst transaction committed only once every environment reads back equal
 * through both stores. Refuses (CAIRN_ELOCKED) while any environment of src
 * holds a live lock, and (CAIRN_EINVAL) a dst that already holds a state.
 * src is held under its writers' lock meanwhile and is not written. */
int cairn_store_copy(cairn_store *dst, cairn_store *src, cairn_store_copy_stats *stats);

/* ---- environments ---- */
/* The environment's serial (0 if it has never been written). */
int cairn_store_serial(cairn_store *st, const char *env, int64_t *out);
/* Environments that have any rows, sorted; free with cairn_strv_free. */
int cairn_store_envs(cairn_store *st, char ***out, size_t *n);
void cairn_strv_free(char **v, size_t n);

/* ---- resources ---- */
typedef struct cairn_state_res {
	char *address;    /* "web", "web[0]", "web[\"a\"]" */
	char *name;       /* the config name: "web" */
	char *type;       /* "local.file" */
	char *id;         /* the resource's id in its cloud (may be NULL) */
	json_t *attrs;    /* object: every attribute, unsealed; NULL while a lazily
			   * listed row is not parsed: read it through
			   * cairn_state_res_attrs */
	char *attrs_text; /* such a row's attributes as stored, until parsed */
	json_t *sensitive;/* array of attribute names that are sealed at rest */
	json_t *deps;     /* array of addresses it depended on when last applied */
	char *token;      /* idempotency token it was created with (may be NULL) */
	int64_t created_at, updated_at; /* unix seconds */
	int64_t rev;      /* revision that last changed it */
	unsigned char text_sha[32]; /* SHA-256 of its attributes' text as stored
				     * (cairn drift's read marks) */
	bool damaged;     /* a lazily listed row whose text did not parse */
} cairn_state_res;

void cairn_state_res_release(cairn_state_res *r);
/* r's attributes, parsed now if r was listed lazily (cairn_store_list_lazy;
 * parsing fills a cache of r's, so r may be const: one thread uses a row).
 * A row whose text does not parse (the state was damaged after it was
 * listed) gives an empty object and r->damaged. */
json_t *cairn_state_res_attrs(const cairn_state_res *r);
void cairn_state_res_free_array(cairn_state_res *v, size_t n);

/* All resources of env, sorted by address. */
int cairn_store_list(cairn_store *st, const char *env, cairn_state_res **out, size_t *n);
/* The same, but the attributes of a row without sensitive ones are kept
 * as text, parsed on first use (cairn_state_res_attrs): cairn drift, whose
 * steady state reads few of them. */
int cairn_store_list_lazy(cairn_store *st, const char *env, cairn_state_res **out, size_t *n);
/* One resource; CAIRN_ENOTFOUND if absent. */
int cairn_store_get(cairn_store *st, const char *env, const char *address, cairn_state_res *out);
/* Insert or replace r (by address) and record the change in revision rev
 * with `action` ("create", "update", "replace", "import", "refresh", "mv").
 * If intent_id > 0 that intent is cleared in the same transaction. Bumps the
 * serial. rev <= 0 records no change (no revision); a rev that does not
 * exist is CAIRN_EINVAL. r->name NULL: derived from the address ("web[0]"
 * -> "web"). r->created_at 0: now for a new row, kept for an existing one;
 * updated_at is always now. */
int cairn_store_put(cairn_store *st, const char *env, int64_t rev, const char *action,
		    const cairn_state_res *r, int64_t intent_id);
/* Remove a resource (action "delete" or "rm"); clears intent_id if > 0.
 * CAIRN_ENOTFOUND if absent. */
int cairn_store_remove(cairn_store *st, const char *env, int64_t rev, const char *action,
		       const char *address, int64_t intent_id);
/* Rename an address (state mv). CAIRN_ENOTFOUND / CAIRN_EINVAL if `to`
 * exists. The change is recorded with action "mv", address `to` and
 * "from" `from` in history. */
int cairn_store_move(cairn_store *st, const char *env, int64_t rev, const char *from, const char *to);

/* ---- intents: written before a create / delete / replace reaches the cloud ----
 * The payload may carry secret properties, so it is always stored sealed
 * (this loads or creates the key). */
typedef struct cairn_intent {
	int64_t id;
	char *address;
	char *type;
	char *op;         /* "create" | "delete" | "update" */
	char *token;      /* idempotency token */
	json_t *payload;  /* what the engine needs to recover (props, id, ...) */
	int64_t rev;
	int64_t started_at;
} cairn_intent;

int cairn_store_intent_add(cairn_store *st, const char *env, int64_t rev, const char *address,
			   const char *type, const char *op, const char *token,
			   json_t *payload, int64_t *id_out);
/* Clear an intent without a resource change (the operation failed cleanly,
 * or recovery found nothing to record). */
int cairn_store_intent_clear(cairn_store *st, int64_t id);
/* Pending intents of env, oldest first. */
int cairn_store_intents(cairn_store *st, const char *env, cairn_intent **out, size_t *n);
void cairn_intent_free_array(cairn_intent *v, size_t n);

/* ---- revisions: one per apply / destroy / import / state command ---- */
/* Start a revision: records who ($USER or uid), host, pid, command line,
 * start time. */
int cairn_store_rev_begin(cairn_store *st, const char *env, const char *command, int64_t *rev_out);
/* status: "ok", "failed", "interrupted". summary: object, may be NULL. */
int cairn_store_rev_finish(cairn_store *st, int64_t rev, const char *status, json_t *summary);
/* History of env, newest first, at most `limit` (0 = all): array of
 * {rev, who, host, pid, command, started_at, finished_at, status, summary,
 *  serial, changes: [{address, type, action, id, at, from (mv only)}]}.
 * Revisions never finished show status "interrupted" (finished_at null),
 * or "running" while their process (same host and pid) holds env's live
 * lock. serial is env's serial when the revision finished. */
int cairn_store_history(cairn_store *st, const char *env, size_t limit, json_t **out);

/* ---- outputs ---- */
/* Replace all outputs of env. values: object name -> value; sensitive:
 * array of names to seal. */
int cairn_store_outputs_set(cairn_store *st, const char *env, int64_t rev, json_t *values, json_t *sensitive);
/* *values: object (unsealed); *sensitive: array of names. */
int cairn_store_outputs_get(cairn_store *st, const char *env, json_t **values, json_t **sensitive);

#endif
