/*
 * db.h - the state store's database seam: one SQL text, two engines.
 *
 * Internal to state/ (like store_int.h). Every store function (resources.c,
 * history.c, lock.c, drift.c, and any new table's file) talks to its
 * database through these calls only, never through sqlite3_* or PQ*
 * directly, and keeps ONE SQL text for both backends:
 *
 *   - SQLite (db.c): a thin wrapper over sqlite3_stmt.
 *   - PostgreSQL (pg.c, libpq): `?N` and `?` placeholders become `$N`,
 *     statements cached by the store are prepared server-side on their
 *     first run, each step walks the rows of the result.
 *
 * Write SQL that both accept: `?N` placeholders, `INSERT .. ON CONFLICT(..)
 * DO NOTHING / DO UPDATE SET x = excluded.x` (not INSERT OR IGNORE/REPLACE),
 * `RETURNING`, no PRAGMA, no SQLite-only functions, no LIMIT -1 (bind
 * INT64_MAX for "all"), and bind integers with cairn_db_bind_int64 (they
 * reach PostgreSQL as bigint). A new row's id comes from cairn_db_last_id()
 * (last_insert_rowid / lastval()). Schema steps are written once too, in
 * SQLite's words, with the column types INTEGER and TEXT only:
 * cairn_db_ddl_pg() turns `INTEGER PRIMARY KEY` into an identity column and
 * INTEGER into BIGINT for PostgreSQL.
 *
 * Results speak SQLite's result codes on both backends: CAIRN_DB_ROW,
 * CAIRN_DB_DONE, 0, or an error code (SQLITE_BUSY when a PostgreSQL lock
 * wait timed out, SQLITE_IOERR when the connection is gone,
 * SQLITE_CONSTRAINT for a violated constraint, SQLITE_ERROR otherwise),
 * with cairn_db_errmsg() saying what the server said. The store turns them
 * into CAIRN_E* codes in one place (cairn_store__sqlerr).
 *
 * Transactions differ by statement text only, and the store keeps those few
 * texts in a per-backend table (store.c): a writer's BEGIN IMMEDIATE is, on
 * PostgreSQL, BEGIN plus a transaction-scoped advisory lock on the state's
 * schema, so writers are serialised exactly as SQLite's write lock does.
 */
#ifndef CAIRN_STATE_DB_H
#define CAIRN_STATE_DB_H

#include <sqlite3.h>
#include <stdint.h>

#define CAIRN_DB_ROW  SQLITE_ROW
#define CAIRN_DB_DONE SQLITE_DONE

typedef struct cairn_db cairn_db;
typedef struct cairn_dbstmt cairn_dbstmt;
struct cairn_pg;
struct cairn_pgstmt;

/* Private to db.c and pg.c. */
struct cairn_db {
	sqlite3 *lite;          /* the SQLite backend, or */
	struct cairn_pg *pg;    /* the PostgreSQL one */
	int64_t changes;        /* PostgreSQL: rows changed by the last statement */
	int errcode;            /* PostgreSQL: the last error, as a SQLite code */
	char *errmsg;           /* PostgreSQL: the server's message for it */
};
struct cairn_dbstmt {
	cairn_db *db;
	sqlite3_stmt *lite;
	struct cairn_pgstmt *pg;
};

/* A cairn_db over an open SQLite handle (not taken over: close it after
 * cairn_db_free). NULL on out of memory. */
cairn_db *cairn_db_wrap_sqlite(sqlite3 *h);
/* Connect to PostgreSQL (pg.c). conninfo: a postgres:// URL or libpq
 * keywords; PG* variables and ~/.pgpass apply. On failure returns a CAIRN_E*
 * code with the message set, naming `shown` (the redacted URL). */
int cairn_db_open_pg(cairn_db **out, const char *conninfo, const char *shown);
void cairn_db_free(cairn_db *db);
int cairn_db_is_pg(const cairn_db *db);

/* Prepare sql. persistent: kept for the handle's life and run many times
 * (server-side prepared on PostgreSQL). Returns 0 or an error code. */
int cairn_db_prepare(cairn_db *db, const char *sql, int persistent, cairn_dbstmt **out);
void cairn_db_finalize(cairn_dbstmt *s);
/* Forget the last run's rows and the bindings, ready to bind again. */
void cairn_db_reset(cairn_dbstmt *s);
/* Run statements that return no rows (several, ';'-separated). */
int cairn_db_exec(cairn_db *db, const char *sql);

/* i counts from 1. text NULL binds SQL NULL; the text is copied or must
 * outlive the step. */
int cairn_db_bind_text(cairn_dbstmt *s, int i, const char *v);
int cairn_db_bind_int64(cairn_dbstmt *s, int i, int64_t v);
int cairn_db_bind_null(cairn_dbstmt *s, int i);

/* CAIRN_DB_ROW (a row is current), CAIRN_DB_DONE, or an error code. */
int cairn_db_step(cairn_dbstmt *s);
/* Columns of the current row, from 0. Text is valid until the next step or
 * reset. A boolean (PostgreSQL) reads as 1/0. */
int64_t cairn_db_col_int64(cairn_dbstmt *s, int i);
const char *cairn_db_col_text(cairn_dbstmt *s, int i);
int cairn_db_col_bytes(cairn_dbstmt *s, int i);
int cairn_db_col_null(cairn_dbstmt *s, int i);

/* Rows changed by the last INSERT/UPDATE/DELETE, the id of the last row
 * inserted into a table with an INTEGER PRIMARY KEY. */
int64_t cairn_db_changes(cairn_db *db);
int64_t cairn_db_last_id(cairn_db *db);
/* PostgreSQL: if the connection is gone (server restarted, backend
 * killed), connect again (libpq's PQreset, same parameters): 1 reconnected,
 * 0 nothing to do (or SQLite), -1 still unreachable. Whatever transaction
 * was open is lost; statements are prepared again on their next run. */
int cairn_db_reconnect(cairn_db *db);
/* A transaction is open (or, on PostgreSQL, failed and not yet ended). */
int cairn_db_in_tx(cairn_db *db);
/*
 * Pipelining, for the statements of one store call (PostgreSQL; on SQLite
 * every statement runs at once and these cost nothing):
 *
 *   cairn_db_pipe_begin(db)      1 if statements are pipelined from now on
 *   cairn_db_defer(s, what)      run s, whose rows are not needed now
 *   cairn_db_pipe_end(db, &what) wait for all: 0 or the first error code
 *
 * A deferred statement is sent and cairn_db_defer returns CAIRN_DB_DONE; its
 * outcome is known at cairn_db_pipe_end, which returns the first failure
 * and the `what` (a static string) of the statement that failed; the
 * statements after a failure are skipped. Outside a pipeline (and always
 * on SQLite) cairn_db_defer is cairn_db_step. cairn_db_step inside a
 * pipeline waits for the results up to its own. A deferred statement that
 * returns rows keeps them for a cairn_db_step after cairn_db_pipe_end (if
 * it is not reset before). The transaction state is whatever the server
 * left: after a failure, the caller rolls back as it would otherwise.
 */
int cairn_db_pipe_begin(cairn_db *db);
int cairn_db_defer(cairn_dbstmt *s, const char *what);
int cairn_db_pipe_end(cairn_db *db, const char **what);
/* Waits for the server's answer so far (0 on SQLite). */
uint64_t cairn_db_round_trips(cairn_db *db);

/* The message for error code rc, if it is the last error. */
const char *cairn_db_errmsg(cairn_db *db, int rc);

/* The PostgreSQL text of a schema step written for SQLite (malloc'd). */
char *cairn_db_ddl_pg(const char *sqlite_ddl);

/* pg.c's side of the calls above (db.c dispatches to them). */
void cairn_pg_free(struct cairn_pg *pg);
int cairn_pg_prepare(cairn_db *db, const char *sql, int persistent, struct cairn_pgstmt **out);
void cairn_pg_finalize(struct cairn_pgstmt *s);
void cairn_pg_reset(struct cairn_pgstmt *s);
int cairn_pg_exec(cairn_db *db, const char *sql);
int cairn_pg_bind(struct cairn_pgstmt *s, int i, const char *text, int is_int);
int cairn_pg_step(cairn_db *db, struct cairn_pgstmt *s);
const char *cairn_pg_col(struct cairn_pgstmt *s, int i, int *len);
int64_t cairn_pg_last_id(cairn_db *db);
int cairn_pg_in_tx(cairn_db *db);
int cairn_pg_reconnect(cairn_db *db);
int cairn_pg_pipe_begin(cairn_db *db);
int cairn_pg_defer(cairn_db *db, struct cairn_pgstmt *s, const char *what);
int cairn_pg_pipe_end(cairn_db *db, const char **what);
uint64_t cairn_pg_round_trips(cairn_db *db);

#endif
