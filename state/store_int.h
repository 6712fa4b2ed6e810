/*
 * store_int.h - the inside of a cairn_store, shared by the state/ files only.
 *
 * Not an API: store.c owns the handle, the schema, the statement cache and
 * the transaction helpers; resources.c, history.c and lock.c use them.
 * Every SQL statement the store runs is listed once in store.c
 * (stmt_sql[]), prepared on first use and kept for the life of the handle.
 */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include "store.h"
#include "secret.h"

#include "db.h"

#include <sqlite3.h>
#include <stdint.h>

typedef enum cairn_stmt_id {
	STMT_BEGIN_IMMEDIATE,
	STMT_BEGIN_READ,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,

	STMT_ENV_BUMP,
	STMT_ENV_ENSURE,
	STMT_ENV_SERIAL,
	STMT_ENV_LIST,
	STMT_ENV_ADD,

	STMT_RES_UPSERT,
	STMT_RES_GET,
	STMT_RES_LIST,
	STMT_RES_DELETE,
	STMT_RES_EXISTS,
	STMT_RES_RENAME,
	STMT_CHANGE_ADD,

	STMT_INTENT_ADD,
	STMT_INTENT_CLEAR,
	STMT_INTENT_LIST,

	STMT_REV_ADD,
	STMT_REV_FINISH,
	STMT_REV_LIST,
	STMT_REV_CHANGES,

	STMT_OUT_CLEAR,
	STMT_OUT_ADD,
	STMT_OUT_LIST,

	STMT_LOCK_GET,
	STMT_LOCK_PUT,
	STMT_LOCK_RENEW,
	STMT_LOCK_RELEASE,
	STMT_LOCK_DELETE,

	STMT__COUNT
} cairn_stmt_id;

struct cairn_store {
	cairn_db *db;     /* the seam (db.h): every statement goes through it */
	sqlite3 *lite;    /* SQLite only: the handle under db, for opening checks */
	int is_pg;        /* the state is a PostgreSQL database (path is a URL) */
	char *path;       /* the file, or the URL with its password redacted */
	char *dir;        /* SQLite only (NULL on PostgreSQL) */
	char *key_file;   /* SQLite only: PostgreSQL needs $CAIRN_STATE_KEY */
	unsigned flags;
	int batch;        /* a batch (cairn_store_begin) is open */
	int batch_lost;   /* SQLite rolled the open batch back after an error */
	int piped;        /* PostgreSQL: this call's statements are pipelined (db.h) */
	/* PostgreSQL, inside a batch: serial bumps of the calls that succeeded
	 * (added to envs at the batch's commit), and of the call under way */
	struct cairn_store_bump {
		char *env;
		int64_t n;
	} *bumps;
	size_t nbumps, capbumps;
	struct cairn_store_bump *tx_bump;
	int64_t tx_bumps;
	cairn_dbstmt *stmts[STMT__COUNT];
	cairn_secret_key key;
	int have_key;
	char lock_id[33]; /* random, hex: identifies this handle as a lock holder */
	char host[256];
	char user[128];
	uint64_t ncommits;
	double commit_secs;
	double write_secs; /* inside every mutating call, commits included */
	double tx_t0;
	double busy_t0;    /* SQLite: when the current wait for a lock began */
	int batch_commit;
};

/* The cached statement `id`, reset and unbound, ready to bind. */
int cairn_store__stmt(cairn_store *st, cairn_stmt_id id, cairn_dbstmt **out);
/* Reset a statement after use (NULL allowed): releases its read snapshot. */
void cairn_store__done(cairn_dbstmt *s);

/* Turn a SQLite failure into a CAIRN_E* code with a message naming the
 * database and `what` was being done. */
int cairn_store__sqlerr(cairn_store *st, int sqlrc, const char *what);

/* A writer's transaction around one mutating call: BEGIN IMMEDIATE .. COMMIT
 * on its own, or a SAVEPOINT inside the open batch, so every call is atomic
 * either way. tx_end commits (rc == 0) or rolls back, and returns the
 * resulting code (rc, or the commit's error). */
int cairn_store__tx_begin(cairn_store *st);
int cairn_store__tx_end(cairn_store *st, int rc);
/* A consistent read snapshot over several statements (no-op in a batch). */
int cairn_store__read_begin(cairn_store *st);
void cairn_store__read_end(cairn_store *st);

/* *out: 1 if the state has table `name` (a READONLY handle on an older
 * schema may not), 0 if not. */
int cairn_store__has_table(cairn_store *st, const char *name, int *out);

/* The sealing key, loaded on first need (created if the handle can write). */
int cairn_store__key(cairn_store *st, const cairn_secret_key **out);

/* Bump env's serial (creating the env row). */
int cairn_store__bump_serial(cairn_store *st, const char *env);
/* Make sure env has a row (serial 0) so that it is listed. */
int cairn_store__ensure_env(cairn_store *st, const char *env);

int cairn_store__writable(cairn_store *st);

/* Bind helpers: NULL binds SQL NULL. */
int cairn_store__bind_text(cairn_dbstmt *s, int i, const char *v);
/* Column as a new malloc'd string (NULL for SQL NULL); sets *err on OOM. */
char *cairn_store__col_strdup(cairn_dbstmt *s, int i, int *err);

int64_t cairn_store__now(void);

/* The schema's migration steps, in order, written once in SQLite's words
 * (db.h); store.c applies them to a file, store_pg.c to PostgreSQL. */
struct cairn_store_migration {
	int version;
	const char *sql;
};
extern const struct cairn_store_migration cairn_store__migrations[];

/* Connect to the PostgreSQL state at url, check it is a cairn state (or
 * empty) of a schema this cairn knows, and bring it up to date when the
 * handle writes (store_pg.c). Sets st->db and st->path (redacted). */
int cairn_store__open_pg(cairn_store *st, const char *url);

#endif
