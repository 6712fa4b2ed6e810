/*
 * pg.c - the PostgreSQL backend of the database seam (db.h), over libpq.
 *
 * A statement is the store's SQL text with `?N` / `?` turned into `$N`.
 * Parameters travel as text (integers typed bigint), results come back as
 * text and are read row by row by cairn_db_step. A persistent statement is
 * prepared on the server (PQprepare) at its first run and executed by name
 * afterwards; others go through PQexecParams; one without parameters (the
 * transaction statements, which may be two statements in one text) through
 * PQexec.
 *
 * Errors are classified into SQLite's result codes (db.h): a lost
 * connection is SQLITE_IOERR, a lock wait past lock_timeout SQLITE_BUSY, a
 * constraint SQLITE_CONSTRAINT. The connection sets lock_timeout to the
 * store's busy timeout, so a writer waiting for another's transaction fails
 * the way a busy SQLite file does.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"

#define INT8OID 20
#define SESSION_SETUP "SET lock_timeout = '5s'; SET client_min_messages = warning"

struct cairn_pg {
	PGconn *conn;
	unsigned next_name;
	unsigned gen;      /* bumped by a reconnection: statements prepare again */
};

struct cairn_pgstmt {
	char *sql;         /* with $N placeholders */
	int nparams;
	int persistent, prepared;
	unsigned gen;      /* the connection generation it was prepared on */
	char name[32];
	char **vals;
	Oid *types;
	PGresult *res;
	int executed, row, cur, nrows;
};

static void set_err(cairn_db *db, int code, const char *msg)
{
	size_t n;

	free(db->errmsg);
	db->errmsg = strdup(msg ? msg : "unknown error");
	db->errcode = code;
	/* libpq's messages end with a newline, and may go on with LINE, DETAIL
	 * and HINT lines: keep the first, without "ERROR:  " */
	if (db->errmsg) {
		char *nl = strchr(db->errmsg, '\n');

		if (nl)
			*nl = '\0';
		if (strncmp(db->errmsg, "ERROR:  ", 8) == 0)
			memmove(db->errmsg, db->errmsg + 8, strlen(db->errmsg + 8) + 1);
		n = strlen(db->errmsg);
		while (n && db->errmsg[n - 1] == ' ')
			db->errmsg[--n] = '\0';
	}
}

/* The SQLite code for a failed result (NULL: the connection failed). */
static int classify(cairn_db *db, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int code = SQLITE_ERROR;

	if (PQstatus(db->pg->conn) == CONNECTION_BAD || (state && !strncmp(state, "08", 2)) ||
	    (state && !strncmp(state, "57P", 3)))
		code = SQLITE_IOERR;
	else if (state && (!strcmp(state, "55P03") || !strcmp(state, "40001") || !strcmp(state, "40P01")))
		code = SQLITE_BUSY;
	else if (state && !strncmp(state, "23", 2))
		code = SQLITE_CONSTRAINT;
	else if (state && !strncmp(state, "22", 2))
		code = SQLITE_MISMATCH;
	set_err(db, code, res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg->conn));
	if (db->errmsg && !*db->errmsg)
		set_err(db, code, PQerrorMessage(db->pg->conn));
	return code;
}

int cairn_db_open_pg(cairn_db **out, const char *conninfo, const char *shown)
{
	const char *const keys[] = { "dbname", "fallback_application_name", NULL };
	const char *const vals[] = { conninfo, "cairn", NULL };
	cairn_db *db = NULL;
	PGresult *r = NULL;
	int rc = 0;

	if (!(db = calloc(1, sizeof(*db))) || !(db->pg = calloc(1, sizeof(*db->pg)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	db->pg->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->pg->conn) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (PQstatus(db->pg->conn) != CONNECTION_OK) {
		set_err(db, SQLITE_CANTOPEN, PQerrorMessage(db->pg->conn));
		rc = cairn_error_set(CAIRN_EIO, "cannot connect to the state database %s: %s", shown,
				     db->errmsg ? db->errmsg : "?");
		goto cleanup;
	}
	r = PQexec(db->pg->conn, SESSION_SETUP);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		classify(db, r);
		rc = cairn_error_set(CAIRN_EIO, "cannot set up the connection to %s: %s", shown, db->errmsg);
		goto cleanup;
	}
	*out = db;
	db = NULL;

cleanup:
	PQclear(r);
	cairn_db_free(db);
	return rc;
}

void cairn_pg_free(struct cairn_pg *pg)
{
	if (!pg)
		return;
	if (pg->conn)
		PQfinish(pg->conn);
	free(pg);
}

/* `?N` -> `$N`, `?` -> the next number; quoted text is left alone. */
static int translate(const char *sql, cairn_buf *out, int *nparams)
{
	int seq = 0, max = 0, rc = 0;
	const char *p = sql;

	while (*p && rc == 0) {
		if (*p == '\'' || *p == '"') {
			char q = *p;
			const char *e = strchr(p + 1, q);

			e = e ? e + 1 : p + strlen(p);
			rc = cairn_buf_put(out, p, (size_t)(e - p));
			p = e;
		} else if (*p == '?') {
			int n = 0;

			p++;
			if (*p >= '0' && *p <= '9') {
				while (*p >= '0' && *p <= '9' && n < 100000)
					n = n * 10 + (*p++ - '0');
			} else {
				n = ++seq;
			}
			if (n > max)
				max = n;
			rc = cairn_buf_printf(out, "$%d", n);
		} else {
			rc = cairn_buf_putc(out, *p++);
		}
	}
	*nparams = max;
	return rc;
}

int cairn_pg_prepare(cairn_db *db, const char *sql, int persistent, struct cairn_pgstmt **out)
{
	cairn_buf b = CAIRN_BUF_INIT;
	struct cairn_pgstmt *s = calloc(1, sizeof(*s));

	if (!s || translate(sql, &b, &s->nparams) < 0)
		goto nomem;
	s->sql = cairn_buf_detach(&b);
	s->persistent = persistent;
	if (s->nparams > 0 && (!(s->vals = calloc((size_t)s->nparams, sizeof(*s->vals))) ||
			       !(s->types = calloc((size_t)s->nparams, sizeof(*s->types)))))
		goto nomem;
	if (persistent)
		snprintf(s->name, sizeof(s->name), "cairn_%u", db->pg->next_name++);
	*out = s;
	return 0;

nomem:
	cairn_buf_release(&b);
	cairn_pg_finalize(s);
	return SQLITE_NOMEM;
}

void cairn_pg_reset(struct cairn_pgstmt *s)
{
	int i;

	if (!s)
		return;
	PQclear(s->res);
	s->res = NULL;
	s->executed = s->row = s->nrows = 0;
	for (i = 0; i < s->nparams; i++) {
		free(s->vals[i]);
		s->vals[i] = NULL;
		s->types[i] = 0;
	}
}

void cairn_pg_finalize(struct cairn_pgstmt *s)
{
	if (!s)
		return;
	cairn_pg_reset(s);
	free(s->vals);
	free(s->types);
	free(s->sql);
	free(s);
}

int cairn_pg_bind(struct cairn_pgstmt *s, int i, const char *text, int is_int)
{
	char *copy = NULL;

	if (i < 1 || i > s->nparams)
		return SQLITE_RANGE;
	if (text && !(copy = strdup(text)))
		return SQLITE_NOMEM;
	free(s->vals[i - 1]);
	s->vals[i - 1] = copy;
	s->types[i - 1] = is_int ? INT8OID : 0;
	return SQLITE_OK;
}

int cairn_pg_exec(cairn_db *db, const char *sql)
{
	PGresult *r = PQexec(db->pg->conn, sql);
	ExecStatusType t = PQresultStatus(r);
	int rc = SQLITE_OK;

	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
		rc = classify(db, r);
	PQclear(r);
	return rc;
}

static PGresult *run(cairn_db *db, struct cairn_pgstmt *s)
{
	PGconn *c = db->pg->conn;
	PGresult *r;

	if (s->nparams == 0)
		return PQexec(c, s->sql);
	if (!s->persistent)
		return PQexecParams(c, s->sql, s->nparams, s->types, (const char *const *)s->vals,
				    NULL, NULL, 0);
	if (!s->prepared || s->gen != db->pg->gen) {
		r = PQprepare(c, s->name, s->sql, s->nparams, s->types);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			return r;
		PQclear(r);
		s->prepared = 1;
		s->gen = db->pg->gen;
	}
	return PQexecPrepared(c, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0);
}

int cairn_pg_step(cairn_db *db, struct cairn_pgstmt *s)
{
	ExecStatusType t;

	if (!s->executed) {
		s->executed = 1;
		s->res = run(db, s);
		t = PQresultStatus(s->res);
		if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
			db->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
			s->nrows = t == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
		} else {
			int rc = classify(db, s->res);

			PQclear(s->res);
			s->res = NULL;
			return rc;
		}
	}
	if (s->row < s->nrows) {
		s->cur = s->row++;
		return SQLITE_ROW;
	}
	return SQLITE_DONE;
}

const char *cairn_pg_col(struct cairn_pgstmt *s, int i, int *len)
{
	if (!s->res || s->cur >= s->nrows || i < 0 || i >= PQnfields(s->res) ||
	    PQgetisnull(s->res, s->cur, i)) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = PQgetlength(s->res, s->cur, i);
	return PQgetvalue(s->res, s->cur, i);
}

int64_t cairn_pg_last_id(cairn_db *db)
{
	PGresult *r = PQexec(db->pg->conn, "SELECT lastval()");
	int64_t id = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return id;
}

int cairn_pg_reconnect(cairn_db *db)
{
	PGresult *r;
	int ok;

	if (PQstatus(db->pg->conn) == CONNECTION_OK)
		return 0;
	PQreset(db->pg->conn);
	if (PQstatus(db->pg->conn) != CONNECTION_OK)
		return -1;
	db->pg->gen++;
	r = PQexec(db->pg->conn, SESSION_SETUP);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 1 : -1;
}

int cairn_pg_in_tx(cairn_db *db)
{
	PGTransactionStatusType t = PQtransactionStatus(db->pg->conn);

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}
