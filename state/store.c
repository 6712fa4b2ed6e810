/*
 * store.c - the state store's handle: opening and checking the database,
 * the schema and its migrations, the statement cache, transactions and
 * batches, environments and their serials.
 *
 * Resources, intents and outputs live in resources.c; revisions and history
 * in history.c; leased locks in lock.c. They share the handle through
 * store_int.h.
 *
 * Durability: the database runs in WAL mode with synchronous=NORMAL. In WAL
 * mode a commit is an append to the -wal file; with NORMAL, SQLite does not
 * fsync at each commit but only at checkpoints. A process crash (kill -9,
 * OOM kill, a segfault) loses nothing that was committed: the data is in
 * the OS page cache and the -wal file, and the next opener replays it. An
 * OS crash or power loss can lose the last few commits, but never corrupts
 * the database (the WAL is checksummed and replayed only up to the last
 * valid commit). That is the trade the scheduler needs: a commit per
 * finished cloud operation costs microseconds, not an fsync. Where an
 * operation must survive power loss too, the idempotency token in its
 * intent makes the retry safe. The database is opened through the walbuf
 * VFS (walbuf.h), which writes a commit's WAL frames in 64 KiB writes
 * instead of two writes per page; the commit is still in the OS before
 * COMMIT returns.
 *
 * Concurrency: every writer starts with BEGIN IMMEDIATE, taking SQLite's
 * write lock up front, so two processes never deadlock upgrading a read
 * lock; they wait for it up to CAIRN_STORE_BUSY_MS, trying every 1-2 ms
 * (busy_wait: SQLite's own handler tries every 100 ms, so a writer that
 * takes the lock again just after its commit starves the others). Readers
 * in WAL mode never block writers nor are blocked by them. Opening a file
 * already at the current schema takes no write lock.
 *
 * Refusal: before anything is written (no journal mode change, no
 * migration) the file is checked: it must be SQLite, carry our
 * application_id (or be empty), not be from a newer schema, and pass
 * PRAGMA quick_check. Checkpoint-on-close is off until the file is
 * accepted, so closing a refused WAL file never writes to it either.
 */
#include "store_int.h"
#include "approvals.h"
#include "lock.h"
#include "walbuf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/buf.h"

#define CAIRN_STORE_BUSY_MS 5000

/* ---- every statement the store runs ---- */

#define INTENT_ADD_SQL \
	"INSERT INTO intents(env, rev, address, type, op, token, payload, started_at) " \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"

#define RES_COLS "address, name, type, id, attrs, sensitive, deps, token, created_at, updated_at, rev"

static const char *const stmt_sql[STMT__COUNT] = {
	[STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[STMT_BEGIN_READ]      = "BEGIN",
	[STMT_COMMIT]          = "COMMIT",
	[STMT_ROLLBACK]        = "ROLLBACK",
	[STMT_SAVEPOINT]       = "SAVEPOINT cairn_op",
	[STMT_RELEASE]         = "RELEASE cairn_op",
	[STMT_ROLLBACK_TO]     = "ROLLBACK TO cairn_op",

	[STMT_ENV_BUMP] =
		"INSERT INTO envs(name, serial) VALUES (?1, 1) "
		"ON CONFLICT(name) DO UPDATE SET serial = envs.serial + 1",
	[STMT_ENV_ENSURE] = "INSERT INTO envs(name, serial) VALUES (?1, 0) ON CONFLICT(name) DO NOTHING",
	[STMT_ENV_SERIAL] = "SELECT serial FROM envs WHERE name = ?1",
	[STMT_ENV_ADD] =
		"INSERT INTO envs(name, serial) VALUES (?1, ?2) "
		"ON CONFLICT(name) DO UPDATE SET serial = envs.serial + excluded.serial",
	[STMT_ENV_LIST]   = "SELECT name FROM envs ORDER BY name",

	[STMT_RES_UPSERT] =
		"INSERT INTO resources(env, " RES_COLS ") "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"        CASE WHEN ?10 > 0 THEN ?10 ELSE ?11 END, ?11, ?12) "
		"ON CONFLICT(env, address) DO UPDATE SET "
		"  name = excluded.name, type = excluded.type, id = excluded.id, "
		"  attrs = excluded.attrs, sensitive = excluded.sensitive, deps = excluded.deps, "
		"  token = excluded.token, updated_at = excluded.updated_at, rev = excluded.rev, "
		"  created_at = CASE WHEN ?10 > 0 THEN ?10 ELSE resources.created_at END",
	[STMT_RES_GET]    = "SELECT " RES_COLS " FROM resources WHERE env = ?1 AND address = ?2",
	[STMT_RES_LIST]   = "SELECT " RES_COLS " FROM resources WHERE env = ?1 ORDER BY address",
	[STMT_RES_DELETE] = "DELETE FROM resources WHERE env = ?1 AND address = ?2 RETURNING type, id",
	[STMT_RES_EXISTS] = "SELECT name, type, id FROM resources WHERE env = ?1 AND address = ?2",
	[STMT_RES_RENAME] =
		"UPDATE resources SET address = ?3, name = ?4, rev = ?5, updated_at = ?6 "
		"WHERE env = ?1 AND address = ?2",
	[STMT_CHANGE_ADD] =
		"INSERT INTO changes(rev, env, address, prev_address, type, action, id, at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",

	[STMT_INTENT_ADD] = INTENT_ADD_SQL,
	[STMT_INTENT_CLEAR] = "DELETE FROM intents WHERE id = ?1",
	[STMT_INTENT_LIST] =
		"SELECT id, address, type, op, token, payload, rev, started_at "
		"FROM intents WHERE env = ?1 ORDER BY id",

	[STMT_REV_ADD] =
		"INSERT INTO revisions(env, who, host, pid, command, started_at, status, serial) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', "
		"        (SELECT serial FROM envs WHERE name = ?1))",
	[STMT_REV_FINISH] =
		"UPDATE revisions SET finished_at = ?2, status = ?3, summary = ?4, "
		"  serial = (SELECT serial FROM envs WHERE name = revisions.env) "
		"WHERE id = ?1",
	[STMT_REV_LIST] =
		"SELECT r.id, r.who, r.host, r.pid, r.command, r.started_at, r.finished_at, "
		"       r.status, r.summary, r.serial, "
		"       (l.env IS NOT NULL) AS held "
		"FROM revisions r LEFT JOIN locks l "
		"  ON l.env = r.env AND l.host = r.host AND l.pid = r.pid AND l.expires > ?3 "
		"WHERE r.env = ?1 ORDER BY r.id DESC LIMIT ?2",
	[STMT_REV_CHANGES] =
		"SELECT address, prev_address, type, action, id, at FROM changes "
		"WHERE rev = ?1 ORDER BY seq",

	[STMT_OUT_CLEAR] = "DELETE FROM outputs WHERE env = ?1",
	[STMT_OUT_ADD] =
		"INSERT INTO outputs(env, name, value, sensitive, rev) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_OUT_LIST] = "SELECT name, value, sensitive FROM outputs WHERE env = ?1 ORDER BY name",

	[STMT_LOCK_GET] =
		"SELECT env, lock_id, holder, host, pid, operation, since, expires "
		"FROM locks WHERE env = ?1",
	[STMT_LOCK_PUT] =
		"INSERT INTO locks(env, lock_id, holder, host, pid, operation, since, expires, lease) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
		"ON CONFLICT(env) DO UPDATE SET lock_id = excluded.lock_id, holder = excluded.holder, "
		"  host = excluded.host, pid = excluded.pid, operation = excluded.operation, "
		"  since = excluded.since, expires = excluded.expires, lease = excluded.lease",
	[STMT_LOCK_RENEW] =
		"UPDATE locks SET expires = ?3 + lease WHERE env = ?1 AND lock_id = ?2",
	[STMT_LOCK_RELEASE] = "DELETE FROM locks WHERE env = ?1 AND lock_id = ?2",
	[STMT_LOCK_DELETE]  = "DELETE FROM locks WHERE env = ?1",
};

/*
 * The few statements whose text differs on PostgreSQL (db.h): NULL means
 * the same text as above. A writer's transaction takes a transaction-scoped
 * advisory lock on the state (its schema), as BEGIN IMMEDIATE takes
 * SQLite's write lock; a reader's is one snapshot, as in SQLite's WAL.
 * A new intent's id comes back with the INSERT (RETURNING id) rather than
 * from a `SELECT lastval()` after it, which would be one more round trip.
 */
#define PG_WRITE_LOCK "SELECT pg_advisory_xact_lock(1667330670, hashtext(current_schema()))"

static const char *const stmt_sql_pg[STMT__COUNT] = {
	[STMT_BEGIN_IMMEDIATE] = "BEGIN; " PG_WRITE_LOCK,
	[STMT_BEGIN_READ]      = "BEGIN ISOLATION LEVEL REPEATABLE READ",
	[STMT_INTENT_ADD]      = INTENT_ADD_SQL " RETURNING id",
};

/* ---- schema: migration steps, applied in order in one transaction ---- */

static const char schema_v1[] =
	"CREATE TABLE meta ("
	"  key   TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");"
	"CREATE TABLE envs ("
	"  name   TEXT PRIMARY KEY,"
	"  serial INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE revisions ("
	"  id          INTEGER PRIMARY KEY,"
	"  env         TEXT NOT NULL REFERENCES envs(name),"
	"  who         TEXT NOT NULL,"
	"  host        TEXT NOT NULL,"
	"  pid         INTEGER NOT NULL,"
	"  command     TEXT NOT NULL,"
	"  started_at  INTEGER NOT NULL,"
	"  finished_at INTEGER,"
	"  status      TEXT NOT NULL,"
	"  summary     TEXT,"
	"  serial      INTEGER"
	");"
	"CREATE INDEX revisions_env ON revisions(env, id);"
	"CREATE TABLE resources ("
	"  env        TEXT NOT NULL REFERENCES envs(name),"
	"  address    TEXT NOT NULL,"
	"  name       TEXT NOT NULL,"
	"  type       TEXT NOT NULL,"
	"  id         TEXT,"
	"  attrs      TEXT NOT NULL," /* JSON object, sensitive members sealed */
	"  sensitive  TEXT NOT NULL," /* JSON array of attribute names */
	"  deps       TEXT NOT NULL," /* JSON array of addresses */
	"  token      TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  rev        INTEGER NOT NULL,"
	"  PRIMARY KEY (env, address)"
	");"
	"CREATE TABLE intents ("
	"  id         INTEGER PRIMARY KEY,"
	"  env        TEXT NOT NULL,"
	"  rev        INTEGER NOT NULL,"
	"  address    TEXT NOT NULL,"
	"  type       TEXT NOT NULL,"
	"  op         TEXT NOT NULL,"
	"  token      TEXT,"
	"  payload    TEXT NOT NULL," /* sealed JSON: may carry secret properties */
	"  started_at INTEGER NOT NULL"
	");"
	"CREATE INDEX intents_env ON intents(env, id);"
	"CREATE TABLE changes ("
	"  seq          INTEGER PRIMARY KEY,"
	"  rev          INTEGER NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,"
	"  env          TEXT NOT NULL,"
	"  address      TEXT NOT NULL,"
	"  prev_address TEXT,"        /* for action 'mv' */
	"  type         TEXT NOT NULL,"
	"  action       TEXT NOT NULL,"
	"  id           TEXT,"
	"  at           INTEGER NOT NULL"
	");"
	"CREATE INDEX changes_rev ON changes(rev, seq);"
	"CREATE TABLE outputs ("
	"  env       TEXT NOT NULL REFERENCES envs(name),"
	"  name      TEXT NOT NULL,"
	"  value     TEXT NOT NULL,"  /* JSON, or the sealed text if sensitive */
	"  sensitive INTEGER NOT NULL,"
	"  rev       INTEGER NOT NULL,"
	"  PRIMARY KEY (env, name)"
	");"
	"CREATE TABLE locks ("
	"  env       TEXT PRIMARY KEY,"
	"  lock_id   TEXT NOT NULL,"
	"  holder    TEXT NOT NULL,"
	"  host      TEXT NOT NULL,"
	"  pid       INTEGER NOT NULL,"
	"  operation TEXT NOT NULL,"
	"  since     INTEGER NOT NULL,"
	"  expires   INTEGER NOT NULL,"
	"  lease     INTEGER NOT NULL"
	");"
	"INSERT INTO meta(key, value) VALUES ('created_by', 'cairn " CAIRN_VERSION "');";

/* version 2: drift kept as a record (drift.c, drift.h) */
static const char schema_v2[] =
	"CREATE TABLE drift_runs ("
	"  id          INTEGER PRIMARY KEY,"
	"  env         TEXT NOT NULL,"
	"  started_at  INTEGER NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  status      TEXT NOT NULL,"   /* clean | drift | applying | error */
	"  who         TEXT NOT NULL,"
	"  host        TEXT NOT NULL,"
	"  summary     TEXT NOT NULL"    /* JSON: counts, coverage, error */
	");"
	"CREATE INDEX drift_runs_env ON drift_runs(env, id);"
	"CREATE TABLE drift_findings ("
	"  id           INTEGER PRIMARY KEY,"
	"  env          TEXT NOT NULL,"
	"  key          TEXT NOT NULL,"  /* kind|subject|attribute: the same finding across runs */
	"  kind         TEXT NOT NULL,"
	"  address      TEXT,"
	"  type         TEXT,"
	"  object_id    TEXT,"
	"  attribute    TEXT,"
	"  detail       TEXT NOT NULL,"  /* JSON, sensitive values redacted */
	"  ignored      TEXT,"           /* the reason of the ignore rule that hid it */
	"  first_seen   INTEGER NOT NULL,"
	"  first_run    INTEGER NOT NULL,"
	"  last_seen    INTEGER NOT NULL,"
	"  last_run     INTEGER NOT NULL,"
	"  resolved_at  INTEGER,"
	"  resolved_run INTEGER"
	");"
	"CREATE UNIQUE INDEX drift_findings_open ON drift_findings(env, key) WHERE resolved_at IS NULL;"
	"CREATE INDEX drift_findings_env ON drift_findings(env, last_run);";

/* version 3: ephemeral environments, those without an overlay file (envs.c, envs.h) */
static const char schema_v3[] =
	"CREATE TABLE ephemeral_envs ("
	"  name       TEXT PRIMARY KEY,"
	"  base       TEXT NOT NULL,"    /* the environment whose overlay it uses */
	"  vars       TEXT NOT NULL,"    /* sealed JSON object: its --var values */
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER,"          /* unix seconds; NULL: never */
	"  who        TEXT NOT NULL,"
	"  host       TEXT NOT NULL"
	");";

/* version 4: the configuration each apply used, for rollback (approvals.c).
 * IF NOT EXISTS: cairn before this step created the table on first use. */
static const char schema_v4[] =
	"CREATE TABLE IF NOT EXISTS applied_configs ("
	"  env    TEXT NOT NULL,"
	"  rev    INTEGER NOT NULL,"
	"  config TEXT NOT NULL,"   /* sealed JSON (secret.h): {files, variables, ...} */
	"  PRIMARY KEY (env, rev)"
	");";

/* version 5: cairn drift's read marks (drift.c; lua/runtime.h): the
 * digest of the bytes an object was last read from, when what they said
 * equalled the state's row. A cache: a mark whose key no longer holds is
 * ignored, and dropping the table loses nothing but time. */
static const char schema_v5[] =
	"CREATE TABLE IF NOT EXISTS read_marks ("
	"  env     TEXT NOT NULL,"
	"  address TEXT NOT NULL,"
	"  key     TEXT NOT NULL,"   /* hex SHA-256: module sources, provider settings, the row's text */
	"  digest  TEXT NOT NULL,"   /* hex SHA-256 of the object's bytes */
	"  PRIMARY KEY (env, address)"
	");";

const struct cairn_store_migration cairn_store__migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
	{ 3, schema_v3 },
	{ 4, schema_v4 },
	{ 5, schema_v5 },
};

#define migrations cairn_store__migrations
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == CAIRN_STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

/* ---- small helpers ---- */

int64_t cairn_store__now(void)
{
	return (int64_t)time(NULL);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cairn_store__bind_text(cairn_dbstmt *s, int i, const char *v)
{
	return cairn_db_bind_text(s, i, v);
}

char *cairn_store__col_strdup(cairn_dbstmt *s, int i, int *err)
{
	const char *t = cairn_db_col_text(s, i);
	char *r;

	if (!t)
		return NULL;
	if (!(r = strdup(t)))
		*err = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return r;
}

int cairn_store__sqlerr(cairn_store *st, int sqlrc, const char *what)
{
	const char *msg = cairn_db_errmsg(st ? st->db : NULL, sqlrc);
	const char *path = st && st->path ? st->path : "(state)";
	int code;

	if (((sqlrc & 0xff) == SQLITE_CANTOPEN || (sqlrc & 0xff) == SQLITE_READONLY ||
	     (sqlrc & 0xff) == SQLITE_PERM || (sqlrc & 0xff) == SQLITE_IOERR) &&
	    st && !st->is_pg && st->dir && access(st->dir, W_OK) != 0)
		return cairn_error_set(CAIRN_EIO, "cannot %s in %s: %s (the state directory %s is not writable: "
			"SQLite needs to create %s-wal and %s-shm beside the database, even to read it)",
			what, path, msg, st->dir, path, path);
	switch (sqlrc & 0xff) {
	case SQLITE_NOMEM:
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return cairn_error_set(CAIRN_ETIMEOUT,
			"cannot %s in %s: the database stayed busy for %d ms (another cairn writing?)",
			what, path, CAIRN_STORE_BUSY_MS);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = CAIRN_ECORRUPT;
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		code = CAIRN_EIO;
		break;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
		code = CAIRN_EINVAL;
		break;
	default:
		code = CAIRN_ERROR;
	}
	return cairn_error_set(code, "cannot %s in %s: %s", what, path, msg);
}

int cairn_store__stmt(cairn_store *st, cairn_stmt_id id, cairn_dbstmt **out)
{
	cairn_dbstmt *s = st->stmts[id];
	const char *sql;
	int rc;

	assert(id < STMT__COUNT && stmt_sql[id]);
	if (!s) {
		sql = st->is_pg && stmt_sql_pg[id] ? stmt_sql_pg[id] : stmt_sql[id];
		rc = cairn_db_prepare(st->db, sql, 1, &s);
		if (rc != SQLITE_OK)
			return cairn_store__sqlerr(st, rc, "prepare a statement");
		st->stmts[id] = s;
	} else {
		cairn_db_reset(s);
	}
	*out = s;
	return 0;
}

void cairn_store__done(cairn_dbstmt *s)
{
	cairn_db_reset(s);
}

/* Run a cached statement that returns no rows. */
static int run(cairn_store *st, cairn_stmt_id id, const char *what)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, id, &s)) < 0)
		return rc;
	/* inside a pipelined call (tx_begin), sent without waiting */
	rc = cairn_db_defer(s, what);
	rc = (rc == CAIRN_DB_DONE || rc == CAIRN_DB_ROW) ? 0 : cairn_store__sqlerr(st, rc, what);
	cairn_store__done(s);
	return rc;
}

int cairn_store__writable(cairn_store *st)
{
	if (st->flags & CAIRN_STORE_READONLY)
		return cairn_error_set(CAIRN_EINVAL, "cannot write to %s: it was opened read-only",
				       st->path);
	return 0;
}

/* ---- transactions ---- */

/* Start a transaction. A BEGIN that failed leaves none open: on PostgreSQL
 * the BEGIN has run and the lock wait after it timed out, so roll back.
 * Starting a transaction is the one place where a lost PostgreSQL
 * connection is safe to replace: nothing of ours is in flight, so connect
 * again and retry once. (A connection lost inside a transaction loses it:
 * that call fails, and a batch's commit fails; intents committed before
 * stay for the next apply's recovery.) */
static int begin(cairn_store *st, cairn_stmt_id id, const char *what)
{
	int rc = run(st, id, what);

	if (rc == CAIRN_EIO && st->is_pg && !cairn_db_in_tx(st->db) && cairn_db_reconnect(st->db) == 1) {
		cairn_error_clear();
		rc = run(st, id, what);
	}
	if (rc < 0 && cairn_db_in_tx(st->db))
		run(st, STMT_ROLLBACK, "roll back");
	return rc;
}

static int commit(cairn_store *st)
{
	double t0 = mono_now();
	int rc = run(st, STMT_COMMIT, "commit");

	st->commit_secs += mono_now() - t0;
	if (st->batch_commit)
		st->write_secs += mono_now() - t0;
	if (rc < 0) {
		if (cairn_db_in_tx(st->db))
			run(st, STMT_ROLLBACK, "roll back");
		return rc;
	}
	st->ncommits++;
	return 0;
}

int cairn_store__tx_begin(cairn_store *st)
{
	int rc;

	if ((rc = cairn_store__writable(st)) < 0)
		return rc;
	st->tx_t0 = mono_now();
	st->tx_bump = NULL;
	if (st->batch) {
		if (st->batch_lost)
			return cairn_error_set(CAIRN_ERROR,
				"cannot write to %s: the open batch was rolled back after an earlier error",
				st->path);
		/* PostgreSQL: the call's statements go out in one pipeline, from
		 * the SAVEPOINT to the RELEASE, and tx_end waits for them all */
		st->piped = cairn_db_pipe_begin(st->db);
		return run(st, STMT_SAVEPOINT, "start an operation");
	}
	return begin(st, STMT_BEGIN_IMMEDIATE, "start a transaction");
}

static int tx_end(cairn_store *st, int rc);

int cairn_store__tx_end(cairn_store *st, int rc)
{
	struct cairn_store_bump *b = st->tx_bump;

	st->tx_bump = NULL;
	rc = tx_end(st, rc);
	if (rc == 0 && b)
		b->n += st->tx_bumps; /* the call is in the batch: so are its serial bumps */
	st->write_secs += mono_now() - st->tx_t0;
	return rc;
}

static int tx_end(cairn_store *st, int rc)
{
	if (st->batch && st->piped) {
		const char *what = NULL;
		int prc;

		if (rc == 0)
			rc = run(st, STMT_RELEASE, "finish an operation");
		prc = cairn_db_pipe_end(st->db, &what);
		st->piped = 0;
		if (prc != 0 && rc == 0)
			rc = cairn_store__sqlerr(st, prc, what ? what : "finish an operation");
		if (rc == 0)
			return 0;
		if (!cairn_db_in_tx(st->db)) {
			st->batch_lost = 1;
			return rc;
		}
		run(st, STMT_ROLLBACK_TO, "undo an operation");
		run(st, STMT_RELEASE, "undo an operation");
		return rc;
	}
	if (st->batch) {
		if (rc == 0)
			return run(st, STMT_RELEASE, "finish an operation");
		if (!cairn_db_in_tx(st->db)) {
			/* SQLite gave up the whole transaction (disk full, I/O) */
			st->batch_lost = 1;
			return rc;
		}
		run(st, STMT_ROLLBACK_TO, "undo an operation");
		run(st, STMT_RELEASE, "undo an operation");
		return rc;
	}
	if (rc == 0)
		return commit(st);
	if (cairn_db_in_tx(st->db))
		run(st, STMT_ROLLBACK, "roll back");
	return rc;
}

int cairn_store__read_begin(cairn_store *st)
{
	if (st->batch)
		return 0;
	return begin(st, STMT_BEGIN_READ, "start reading");
}

void cairn_store__read_end(cairn_store *st)
{
	if (!st->batch && cairn_db_in_tx(st->db))
		run(st, STMT_COMMIT, "finish reading");
}

static void clear_bumps(cairn_store *st)
{
	size_t i;

	for (i = 0; i < st->nbumps; i++)
		free(st->bumps[i].env);
	st->nbumps = 0;
	st->tx_bump = NULL;
}

/* PostgreSQL: the batch's serial bumps, one statement per environment. */
static int add_bumps(cairn_store *st)
{
	double t0 = mono_now();
	cairn_dbstmt *s = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < st->nbumps && rc == 0; i++) {
		if (st->bumps[i].n == 0 || (rc = cairn_store__stmt(st, STMT_ENV_ADD, &s)) < 0)
			continue;
		cairn_store__bind_text(s, 1, st->bumps[i].env);
		cairn_db_bind_int64(s, 2, st->bumps[i].n);
		rc = cairn_db_step(s);
		rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "bump the serial");
		cairn_store__done(s);
	}
	clear_bumps(st);
	st->write_secs += mono_now() - t0;
	return rc;
}

int cairn_store_begin(cairn_store *st)
{
	int rc;

	assert(!st->batch);
	if ((rc = cairn_store__writable(st)) < 0)
		return rc;
	{
		double t0 = mono_now();

		rc = begin(st, STMT_BEGIN_IMMEDIATE, "start a batch");
		st->write_secs += mono_now() - t0;
	}
	if (rc < 0)
		return rc;
	st->batch = 1;
	st->batch_lost = 0;
	return 0;
}

int cairn_store_commit(cairn_store *st)
{
	int rc;

	assert(st->batch);
	st->batch = 0;
	if (st->batch_lost) {
		st->batch_lost = 0;
		clear_bumps(st);
		return cairn_error_set(CAIRN_ERROR,
			"cannot commit to %s: the batch was rolled back after an earlier error", st->path);
	}
	st->batch_commit = 1;
	if ((rc = add_bumps(st)) < 0) {
		if (cairn_db_in_tx(st->db))
			run(st, STMT_ROLLBACK, "roll back");
	} else {
		rc = commit(st);
	}
	st->batch_commit = 0;
	return rc;
}

void cairn_store_rollback(cairn_store *st)
{
	clear_bumps(st);
	if (!st->batch)
		return;
	st->batch = 0;
	st->batch_lost = 0;
	if (cairn_db_in_tx(st->db))
		run(st, STMT_ROLLBACK, "roll back");
}

void cairn_store_write_stats(const cairn_store *st, double *seconds)
{
	*seconds = st->write_secs;
}

uint64_t cairn_store_round_trips(const cairn_store *st)
{
	return cairn_db_round_trips(st->db);
}

void cairn_store_commit_stats(const cairn_store *st, uint64_t *ncommits, double *seconds)
{
	if (ncommits)
		*ncommits = st->ncommits;
	if (seconds)
		*seconds = st->commit_secs;
}

/* ---- opening ---- */

/* mkdir -p with mode 0700 for every directory created. */
static int make_dirs(const char *dir)
{
	char *p = NULL, *s;
	int rc = 0;

	if (!(p = strdup(dir)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			chmod(p, 0700); /* a restrictive umask may have taken too much */
		} else if (errno != EEXIST) {
			rc = cairn_error_set(CAIRN_EIO, "cannot create directory %s: %s", p, strerror(errno));
			goto cleanup;
		}
		*s = c;
		if (!c)
			break;
	}

cleanup:
	free(p);
	return rc;
}

static int set_paths(cairn_store *st, const char *path)
{
	const char *slash = strrchr(path, '/');
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	if (!(st->path = strdup(path)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (!slash)
		st->dir = strdup(".");
	else if (slash == path)
		st->dir = strdup("/");
	else
		st->dir = strndup(path, (size_t)(slash - path));
	if (!st->dir)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_buf_printf(&b, "%s/key", st->dir)) < 0)
		return rc;
	st->key_file = cairn_buf_detach(&b);
	return 0;
}

/* Make sure the file exists (creating it 0600, empty) or say why not. */
static int prepare_file(cairn_store *st, unsigned flags)
{
	struct stat sb;
	int fd;

	if (stat(st->path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			return cairn_error_set(CAIRN_ECORRUPT, "%s is not a cairn state database (not a file)",
					       st->path);
		return 0;
	}
	if (errno != ENOENT)
		return cairn_error_set(CAIRN_EIO, "cannot open state database %s: %s", st->path, strerror(errno));
	if (!(flags & CAIRN_STORE_CREATE) || (flags & CAIRN_STORE_READONLY))
		return cairn_error_set(CAIRN_ENOTFOUND, "state database %s does not exist", st->path);
	if (make_dirs(st->dir) < 0)
		return CAIRN_EIO;
	fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno != EEXIST)
		return cairn_error_set(CAIRN_EIO, "cannot create state database %s: %s", st->path, strerror(errno));
	if (fd >= 0) {
		fchmod(fd, 0600);
		close(fd);
	}
	return 0;
}

static int pragma_int(cairn_store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->lite, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

static int refuse(cairn_store *st, int sqlrc)
{
	if ((sqlrc & 0xff) == SQLITE_NOTADB)
		return cairn_error_set(CAIRN_ECORRUPT,
			"%s is not a cairn state database (file is not a database); refusing to touch it",
			st->path);
	if ((sqlrc & 0xff) == SQLITE_CORRUPT)
		return cairn_error_set(CAIRN_ECORRUPT, "state database %s is corrupt: %s",
				       st->path, sqlite3_errmsg(st->lite));
	return cairn_store__sqlerr(st, sqlrc, "read the database header");
}

/*
 * The checks run before anything is written. *version receives the
 * user_version (0 for an empty file to initialise).
 */
static int check_file(cairn_store *st, int64_t *version)
{
	int64_t app_id = 0, uv = 0, nobj = 0;
	sqlite3_stmt *s = NULL;
	const char *res;
	int rc;

	/* one snapshot: another process may be initialising the file */
	if ((rc = sqlite3_exec(st->lite, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		return refuse(st, rc);
	if ((rc = pragma_int(st, "PRAGMA application_id", &app_id)) == SQLITE_OK &&
	    (rc = pragma_int(st, "PRAGMA user_version", &uv)) == SQLITE_OK)
		rc = pragma_int(st, "SELECT count(*) FROM sqlite_schema", &nobj);
	sqlite3_exec(st->lite, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return refuse(st, rc);
	if (app_id != CAIRN_STORE_APP_ID && !(app_id == 0 && uv == 0 && nobj == 0))
		return cairn_error_set(CAIRN_ECORRUPT,
			"%s is not a cairn state database (application_id 0x%08llx, expected 0x%08x); "
			"refusing to touch it", st->path, (unsigned long long)(uint32_t)app_id,
			CAIRN_STORE_APP_ID);
	if (uv > CAIRN_STORE_SCHEMA_VERSION)
		return cairn_error_set(CAIRN_ECORRUPT,
			"%s was written by a newer cairn (schema version %lld, this cairn knows up to %d); "
			"upgrade cairn", st->path, (long long)uv, CAIRN_STORE_SCHEMA_VERSION);
	if (uv < 0)
		return cairn_error_set(CAIRN_ECORRUPT, "%s has an invalid schema version %lld",
				       st->path, (long long)uv);

	if (st->flags & CAIRN_STORE_CHECKED) {
		*version = uv;
		return 0; /* the same process's open of this file has just checked it */
	}
	rc = sqlite3_prepare_v2(st->lite, "PRAGMA quick_check(4)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return refuse(st, rc);
	}
	res = (const char *)sqlite3_column_text(s, 0);
	if (!res || strcmp(res, "ok") != 0) {
		cairn_buf why = CAIRN_BUF_INIT;

		cairn_buf_init(&why, 1024);
		do {
			res = (const char *)sqlite3_column_text(s, 0);
			for (; res && *res; res++) {
				if (*res == '\n')
					cairn_buf_puts(&why, "; ");
				else
					cairn_buf_putc(&why, *res);
			}
			cairn_buf_puts(&why, "; ");
		} while (sqlite3_step(s) == SQLITE_ROW);
		if (why.len >= 2)
			why.ptr[why.len -= 2] = '\0';
		rc = cairn_error_set(CAIRN_ECORRUPT, "state database %s failed its integrity check: %s",
				     st->path, cairn_buf_cstr(&why));
		cairn_buf_release(&why);
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_finalize(s);
	*version = uv;
	return 0;
}

static int exec(cairn_store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(st->lite, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : cairn_store__sqlerr(st, rc, what);
}

/* Apply the missing migration steps, all in one transaction. Re-reads the
 * version under the write lock: another process may have just done it. */
static int migrate(cairn_store *st)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int64_t uv = 0, app_id = 0;
	size_t i;
	int rc;

	if ((rc = exec(st, "BEGIN IMMEDIATE", "start the schema upgrade")) < 0)
		return rc;
	if ((rc = pragma_int(st, "PRAGMA user_version", &uv)) != SQLITE_OK ||
	    (rc = pragma_int(st, "PRAGMA application_id", &app_id)) != SQLITE_OK) {
		rc = refuse(st, rc);
		goto cleanup;
	}
	if (uv > CAIRN_STORE_SCHEMA_VERSION || (app_id != 0 && app_id != CAIRN_STORE_APP_ID)) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "%s changed while it was being opened", st->path);
		goto cleanup;
	}
	if (uv == CAIRN_STORE_SCHEMA_VERSION) {
		rc = 0;
		goto cleanup;
	}
	for (i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		if (migrations[i].version <= uv)
			continue;
		if ((rc = exec(st, migrations[i].sql, "upgrade the schema")) < 0)
			goto cleanup;
	}
	if ((rc = cairn_buf_printf(&b, "PRAGMA application_id = %d; PRAGMA user_version = %d",
				   CAIRN_STORE_APP_ID, CAIRN_STORE_SCHEMA_VERSION)) < 0 ||
	    (rc = exec(st, b.ptr, "upgrade the schema")) < 0)
		goto cleanup;
	rc = exec(st, "COMMIT", "commit the schema upgrade");

cleanup:
	if (!sqlite3_get_autocommit(st->lite))
		sqlite3_exec(st->lite, "ROLLBACK", NULL, NULL, NULL);
	cairn_buf_release(&b);
	return rc;
}

/*
 * Switch a new file from the rollback journal to WAL (persistent; a no-op
 * once done). The switch needs an exclusive lock, and two processes that
 * both hold a read lock while asking for it get SQLITE_BUSY at once,
 * without the busy handler (SQLite breaks the deadlock), so retry here.
 */
static int set_wal(cairn_store *st)
{
	double deadline = mono_now() + CAIRN_STORE_BUSY_MS / 1000.0;
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	const unsigned char *mode;
	sqlite3_stmt *s = NULL;
	int rc, is_wal;

	for (;;) {
		is_wal = 0;
		rc = sqlite3_prepare_v2(st->lite, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			mode = sqlite3_column_text(s, 0);
			is_wal = mode && strcmp((const char *)mode, "wal") == 0;
			rc = SQLITE_OK;
		}
		sqlite3_finalize(s);
		s = NULL;
		if (rc == SQLITE_OK && is_wal)
			return 0;
		if (rc == SQLITE_OK)
			return cairn_error_set(CAIRN_EIO, "cannot switch %s to WAL mode", st->path);
		if ((rc & 0xff) != SQLITE_BUSY || mono_now() >= deadline)
			return cairn_store__sqlerr(st, rc, "switch to WAL mode");
		nanosleep(&pause, NULL);
	}
}

/*
 * The busy handler: try again every 1 to 2 ms (jittered, so that waiters
 * do not march in step) until CAIRN_STORE_BUSY_MS have passed since this
 * wait began. SQLite's default sleeps 1, 2, 5 ... up to 100 ms between
 * tries: a process committing batch after batch retakes the lock within
 * microseconds of each commit, and a waiter that looks every 100 ms
 * misses the short gaps between its batches for seconds (nine of ten
 * parallel `env create`s once failed that way, tests/unit/state).
 */
static int busy_wait(void *ud, int count)
{
	cairn_store *st = ud;
	double now = mono_now();
	struct timespec pause = { 0, 0 };

	if (count == 0)
		st->busy_t0 = now;
	if (now - st->busy_t0 >= CAIRN_STORE_BUSY_MS / 1000.0)
		return 0;
	pause.tv_nsec = (1000 + (long)(((unsigned)count * 2654435761u ^ (unsigned)getpid()) % 1000)) * 1000;
	nanosleep(&pause, NULL);
	return 1;
}

static int open_db(cairn_store *st)
{
	int ro = (st->flags & CAIRN_STORE_READONLY) != 0;
	const char *vfs = NULL;
	int64_t version = 0;
	int rc;

	if ((rc = cairn_walbuf_vfs(&vfs)) < 0)
		return rc;
	rc = sqlite3_open_v2(st->path, &st->lite,
			     (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW,
			     vfs);
	if (rc == SQLITE_OK && !(st->db = cairn_db_wrap_sqlite(st->lite)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (rc != SQLITE_OK)
		return cairn_store__sqlerr(st, rc, "open the database");
	sqlite3_extended_result_codes(st->lite, 1);
	/* until the file is accepted, closing it must not checkpoint into it */
	sqlite3_db_config(st->lite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_handler(st->lite, busy_wait, st);

	if ((rc = check_file(st, &version)) < 0)
		return rc;
	if (ro) {
		if (version == 0)
			return cairn_error_set(CAIRN_ENOTFOUND, "state database %s is empty", st->path);
		if (version < CAIRN_STORE_READ_MIN_VERSION)
			return cairn_error_set(CAIRN_EINVAL,
				"state database %s has schema version %lld and needs an upgrade; "
				"run a command that writes state", st->path, (long long)version);
	}
	sqlite3_db_config(st->lite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);

	if (!ro) {
		if ((rc = set_wal(st)) < 0)
			return rc;
		if ((rc = exec(st, "PRAGMA synchronous = NORMAL", "set synchronous mode")) < 0)
			return rc;
	}
	if ((rc = exec(st, "PRAGMA foreign_keys = ON", "enable foreign keys")) < 0)
		return rc;
	if (!ro && version < CAIRN_STORE_SCHEMA_VERSION && (rc = migrate(st)) < 0)
		return rc;
	return 0;
}

static void identify(cairn_store *st)
{
	unsigned char rnd[16];
	size_t i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		/* not fatal for a lock id: fall back to pid and time */
		uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)st;

		memset(rnd, 0, sizeof(rnd));
		memcpy(rnd, &x, sizeof(x));
	}
	for (i = 0; i < sizeof(rnd); i++) {
		static const char hex[] = "0123456789abcdef";

		st->lock_id[2 * i] = hex[rnd[i] >> 4];
		st->lock_id[2 * i + 1] = hex[rnd[i] & 15];
	}
	st->lock_id[32] = '\0';

	/* CAIRN_HOSTNAME: the name a lock holder gives for its machine (tests
	 * of several machines on one, containers whose hostnames collide) */
	if (getenv("CAIRN_HOSTNAME") && *getenv("CAIRN_HOSTNAME"))
		snprintf(st->host, sizeof(st->host), "%s", getenv("CAIRN_HOSTNAME"));
	else if (gethostname(st->host, sizeof(st->host)) != 0)
		snprintf(st->host, sizeof(st->host), "localhost");
	st->host[sizeof(st->host) - 1] = '\0';

	cairn_store_whoami(st->user, sizeof(st->user)); /* $CAIRN_USER, $USER, the uid's user */
}

int cairn_store_open(cairn_store **out, const char *path, unsigned flags)
{
	cairn_store *st = NULL;
	int rc;

	if (!path || !*path)
		return cairn_error_set(CAIRN_EINVAL, "no state database path given");
	if (!(st = calloc(1, sizeof(*st))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	st->flags = flags;
	if (cairn_store_is_url(path)) {
		st->is_pg = 1;
		if ((rc = cairn_store__open_pg(st, path)) < 0)
			goto cleanup;
	} else if ((rc = set_paths(st, path)) < 0 ||
	    (rc = prepare_file(st, flags)) < 0 ||
	    (rc = open_db(st)) < 0)
		goto cleanup;
	identify(st);
	*out = st;
	st = NULL;

cleanup:
	cairn_store_free(st);
	return rc;
}

void cairn_store_free(cairn_store *st)
{
	size_t i;

	if (!st)
		return;
	if (st->batch)
		cairn_store_rollback(st);
	for (i = 0; i < STMT__COUNT; i++)
		cairn_db_finalize(st->stmts[i]);
	cairn_db_free(st->db);
	sqlite3_close_v2(st->lite);
	OPENSSL_cleanse(&st->key, sizeof(st->key));
	free(st->path);
	free(st->dir);
	free(st->key_file);
	clear_bumps(st);
	free(st->bumps);
	free(st);
}

void cairn_store_skip_checkpoint(cairn_store *st)
{
	if (st && st->lite)
		sqlite3_db_config(st->lite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
}

const char *cairn_store_path(const cairn_store *st)
{
	return st->path;
}

int cairn_store__has_table(cairn_store *st, const char *name, int *out)
{
	const char *sql = st->is_pg
		? "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
		  "AND table_name = ?1"
		: "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1";
	cairn_dbstmt *s = NULL;
	int rc, step;

	if ((rc = cairn_db_prepare(st->db, sql, 0, &s)) != 0)
		return cairn_store__sqlerr(st, rc, "list the tables");
	cairn_db_bind_text(s, 1, name);
	if ((step = cairn_db_step(s)) == CAIRN_DB_ROW)
		*out = cairn_db_col_int64(s, 0) > 0;
	else
		rc = cairn_store__sqlerr(st, step, "list the tables");
	cairn_db_finalize(s);
	return rc;
}

int cairn_store__key(cairn_store *st, const cairn_secret_key **out)
{
	int rc;

	if (!st->have_key) {
		if (st->is_pg && !(getenv("CAIRN_STATE_KEY") && *getenv("CAIRN_STATE_KEY")))
			return cairn_error_set(CAIRN_ENOTFOUND,
				"no state key: the state at %s is shared, so the key that seals its secrets must "
				"come from CAIRN_STATE_KEY (the same value on every machine)", st->path);
		rc = cairn_secret_key_load(&st->key, st->key_file,
					   !(st->flags & CAIRN_STORE_READONLY));
		if (rc < 0)
			return rc;
		st->have_key = 1;
	}
	*out = &st->key;
	return 0;
}

/* ---- environments ---- */

static int env_stmt(cairn_store *st, cairn_stmt_id id, const char *env, const char *what)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, id, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	rc = cairn_db_defer(s, what);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, what);
	cairn_store__done(s);
	return rc;
}

/*
 * On PostgreSQL inside a batch, a call's serial bump is counted here and
 * added to envs once, just before the batch's COMMIT (add_bumps): the same
 * committed serial, but without an UPDATE of the environment's row per
 * call. Those UPDATEs, each in its own savepoint, left a chain of row
 * versions (each locked by the next call's foreign-key check, so a
 * MultiXact) that every later statement touching the row walked: a
 * batch's cost grew with the square of its size. The row is still made
 * to exist (ENV_ENSURE, which writes nothing when it does), as resources
 * reference it.
 */
int cairn_store__bump_serial(cairn_store *st, const char *env)
{
	struct cairn_store_bump *nb;
	size_t i;
	int rc;

	if (!st->is_pg || !st->batch || (st->tx_bump && strcmp(st->tx_bump->env, env) != 0))
		return env_stmt(st, STMT_ENV_BUMP, env, "bump the serial");
	if (st->tx_bump) {
		st->tx_bumps++;
		return 0;
	}
	if ((rc = env_stmt(st, STMT_ENV_ENSURE, env, "record the environment")) < 0)
		return rc;
	for (i = 0; i < st->nbumps && strcmp(st->bumps[i].env, env) != 0; i++)
		;
	if (i == st->nbumps) {
		if (st->nbumps == st->capbumps) {
			size_t cap = st->capbumps ? st->capbumps * 2 : 4;

			if (!(nb = realloc(st->bumps, cap * sizeof(*nb))))
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			st->bumps = nb;
			st->capbumps = cap;
		}
		if (!(st->bumps[i].env = strdup(env)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		st->bumps[i].n = 0;
		st->nbumps++;
	}
	st->tx_bump = &st->bumps[i];
	st->tx_bumps = 1;
	return 0;
}

int cairn_store__ensure_env(cairn_store *st, const char *env)
{
	return env_stmt(st, STMT_ENV_ENSURE, env, "record the environment");
}

int cairn_store_serial(cairn_store *st, const char *env, int64_t *out)
{
	cairn_dbstmt *s = NULL;
	size_t i;
	int rc;

	if ((rc = cairn_store__stmt(st, STMT_ENV_SERIAL, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	rc = cairn_db_step(s);
	if (rc == CAIRN_DB_ROW) {
		*out = cairn_db_col_int64(s, 0);
		rc = 0;
	} else if (rc == CAIRN_DB_DONE) {
		*out = 0;
		rc = 0;
	} else {
		rc = cairn_store__sqlerr(st, rc, "read the serial");
	}
	cairn_store__done(s);
	for (i = 0; rc == 0 && i < st->nbumps; i++)
		if (strcmp(st->bumps[i].env, env) == 0)
			*out += st->bumps[i].n; /* this batch's, not yet added (PostgreSQL) */
	return rc;
}

void cairn_strv_free(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cairn_store_envs(cairn_store *st, char ***out, size_t *n)
{
	cairn_dbstmt *s = NULL;
	char **v = NULL, **nv;
	size_t len = 0, cap = 0;
	int rc, step;

	if ((rc = cairn_store__stmt(st, STMT_ENV_LIST, &s)) < 0)
		return rc;
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			v = nv;
		}
		v[len] = cairn_store__col_strdup(s, 0, &rc);
		if (rc < 0)
			goto cleanup;
		if (v[len])
			len++;
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "list environments");
		goto cleanup;
	}
	*out = v;
	*n = len;
	v = NULL;

cleanup:
	cairn_store__done(s);
	cairn_strv_free(v, len);
	return rc;
}
