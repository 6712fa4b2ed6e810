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
 * Pipelining (cairn_pg_pipe_begin .. cairn_pg_pipe_end): the statements of
 * one store call are sent without waiting for their results (libpq's
 * pipeline mode, PostgreSQL 14+ libpq), and their results are read at the
 * end, behind one Sync: one round trip instead of one per statement. A
 * statement whose rows are needed before the end (cairn_pg_step) sends a
 * flush request and reads the results up to its own. The server stops at
 * the first error and skips the rest up to the Sync (PGRES_PIPELINE_ABORTED);
 * that first error is what the pipeline returns, with the `what` its
 * statement was deferred with. Anything that needs the connection idle
 * (cairn_pg_exec, cairn_pg_last_id, a reconnection) ends the pipeline
 * first; the statements after it run one by one as before.
 *
 * Errors are classified into SQLite's result codes (db.h): a lost
 * connection is SQLITE_IOERR, a lock wait past lock_timeout SQLITE_BUSY, a
 * constraint SQLITE_CONSTRAINT. The connection sets lock_timeout to the
 * store's busy timeout, so a writer waiting for another's transaction fails
 * the way a busy SQLite file does.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"

#define INT8OID 20
#define SESSION_SETUP "SET lock_timeout = '5s'; SET client_min_messages = warning"

/* A result still to be read in pipeline mode, in the order sent. */
struct pipe_ent {
	struct cairn_pgstmt *s;
	const char *what;  /* what the store was doing (a static string), or NULL */
	int prepare;       /* the Parse of s, not its run */
};

struct cairn_pg {
	PGconn *conn;
	unsigned next_name;
	unsigned gen;      /* bumped by a reconnection: statements prepare again */
	uint64_t round_trips; /* waits for the server's answer */
	int pipe;          /* in pipeline mode (cairn_pg_pipe_begin) */
	struct pipe_ent *q;
	size_t qhead, qlen, qcap; /* q[qhead..qlen) are unread */
	size_t qflushed;   /* a flush request covers q[..qflushed) */
	int pipe_rc;       /* the first failure since pipe_begin, and */
	const char *pipe_what; /* what its statement was doing */
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
	struct cairn_pg *owner;
	int pending;       /* sent in pipeline mode, result not read yet: entry + 1 */
	int failed;        /* pipeline mode: its run failed or was skipped */
};

static void pipe_finish(cairn_db *db);

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
	free(pg->q);
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
	s->owner = db->pg;
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
	s->pending = s->failed = 0; /* a result still to come is dropped */
	for (i = 0; i < s->nparams; i++) {
		free(s->vals[i]);
		s->vals[i] = NULL;
		s->types[i] = 0;
	}
}

void cairn_pg_finalize(struct cairn_pgstmt *s)
{
	size_t i;

	if (!s)
		return;
	for (i = s->owner ? s->owner->qhead : 0; s->owner && i < s->owner->qlen; i++)
		if (s->owner->q[i].s == s)
			s->owner->q[i].s = NULL;
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
	PGresult *r;
	ExecStatusType t;
	int rc = SQLITE_OK;

	pipe_finish(db);
	db->pg->round_trips++;
	r = PQexec(db->pg->conn, sql);
	t = PQresultStatus(r);

	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
		rc = classify(db, r);
	PQclear(r);
	return rc;
}

static PGresult *run(cairn_db *db, struct cairn_pgstmt *s)
{
	PGconn *c = db->pg->conn;
	PGresult *r;

	db->pg->round_trips++;
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
		db->pg->round_trips++;
	}
	return PQexecPrepared(c, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0);
}

/* ---- pipeline mode ---- */

static int pipe_push(struct cairn_pg *pg, struct cairn_pgstmt *s, const char *what, int prepare)
{
	if (pg->qlen == pg->qcap) {
		size_t cap = pg->qcap ? pg->qcap * 2 : 16;
		struct pipe_ent *nq = realloc(pg->q, cap * sizeof(*nq));

		if (!nq)
			return SQLITE_NOMEM;
		pg->q = nq;
		pg->qcap = cap;
	}
	pg->q[pg->qlen].s = s;
	pg->q[pg->qlen].what = what;
	pg->q[pg->qlen].prepare = prepare;
	pg->qlen++;
	return 0;
}

/* Record the pipeline's first failure (code and message, from res). */
static int pipe_fail(cairn_db *db, PGresult *res, const char *what)
{
	struct cairn_pg *pg = db->pg;

	if (pg->pipe_rc)
		return pg->pipe_rc;
	pg->pipe_rc = classify(db, res);
	pg->pipe_what = what;
	return pg->pipe_rc;
}

/* Send s (its Parse first if it is not prepared on this connection). */
static int pipe_send(cairn_db *db, struct cairn_pgstmt *s, const char *what)
{
	struct cairn_pg *pg = db->pg;
	const char *const *vals = (const char *const *)s->vals;
	int ok;

	if (s->persistent && (!s->prepared || s->gen != pg->gen)) {
		if (pipe_push(pg, s, what, 1) != 0)
			return SQLITE_NOMEM;
		if (!PQsendPrepare(pg->conn, s->name, s->sql, s->nparams, s->types)) {
			pg->qlen--;
			return pipe_fail(db, NULL, what);
		}
		s->prepared = 1;
		s->gen = pg->gen;
	}
	if (pipe_push(pg, s, what, 0) != 0)
		return SQLITE_NOMEM;
	if (s->persistent)
		ok = PQsendQueryPrepared(pg->conn, s->name, s->nparams, vals, NULL, NULL, 0);
	else
		ok = PQsendQueryParams(pg->conn, s->sql, s->nparams, s->types, vals, NULL, NULL, 0);
	if (!ok) {
		pg->qlen--;
		return pipe_fail(db, NULL, what);
	}
	PQclear(s->res);
	s->res = NULL;
	s->executed = 1;
	s->row = s->nrows = 0;
	s->failed = 0;
	s->pending = (int)pg->qlen; /* its entry, plus one */
	return 0;
}

/* Read the results of the next entry due. */
static void pipe_read_one(cairn_db *db)
{
	struct cairn_pg *pg = db->pg;
	size_t idx = pg->qhead++;
	struct pipe_ent *e = &pg->q[idx];
	struct cairn_pgstmt *s = e->s;
	PGresult *r, *first = NULL;
	ExecStatusType t;
	int mine = s && !e->prepare && s->pending == (int)idx + 1;

	while ((r = PQgetResult(pg->conn))) {
		if (!first)
			first = r;
		else
			PQclear(r);
	}
	t = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
		if (mine) {
			db->changes = strtoll(PQcmdTuples(first), NULL, 10);
			s->nrows = t == PGRES_TUPLES_OK ? PQntuples(first) : 0;
			s->res = first;
			first = NULL;
		}
	} else {
		/* skipped after an earlier failure, or the failure itself */
		int code = t == PGRES_PIPELINE_ABORTED && pg->pipe_rc ? pg->pipe_rc
								      : pipe_fail(db, first, e->what);

		if (s && e->prepare)
			s->prepared = 0;
		else if (mine)
			s->failed = code;
	}
	if (mine)
		s->pending = 0;
	PQclear(first);
}

/* Read the results up to and including entry idx (a flush request makes
 * the server send what it holds): one round trip. */
static void pipe_wait(cairn_db *db, size_t idx)
{
	struct cairn_pg *pg = db->pg;

	if (pg->qflushed <= idx) {
		pg->round_trips++;
		if (!PQsendFlushRequest(pg->conn) || PQflush(pg->conn) != 0) {
			/* nothing more will come: fail what is due */
			pipe_fail(db, NULL, pg->q[idx].what);
			while (pg->qhead <= idx) {
				struct pipe_ent *e = &pg->q[pg->qhead];

				if (e->s && e->prepare)
					e->s->prepared = 0;
				else if (e->s && e->s->pending == (int)pg->qhead + 1) {
					e->s->failed = pg->pipe_rc;
					e->s->pending = 0;
				}
				pg->qhead++;
			}
			return;
		}
		pg->qflushed = pg->qlen;
	}
	while (pg->qhead <= idx)
		pipe_read_one(db);
}

/* Send a Sync, read every result still due, leave pipeline mode. */
static void pipe_finish(cairn_db *db)
{
	struct cairn_pg *pg = db->pg;
	PGresult *r;

	if (!pg->pipe)
		return;
	pg->round_trips++;
	if (PQpipelineSync(pg->conn)) {
		pg->qflushed = pg->qlen;
		while (pg->qhead < pg->qlen)
			pipe_read_one(db);
		while ((r = PQgetResult(pg->conn))) {
			ExecStatusType t = PQresultStatus(r);

			PQclear(r);
			if (t == PGRES_PIPELINE_SYNC)
				break;
		}
	} else if (pg->qlen > 0) {
		pg->qflushed = 0;
		pipe_wait(db, pg->qlen - 1); /* fails them all */
	}
	pg->qhead = pg->qlen = pg->qflushed = 0;
	if (!PQexitPipelineMode(pg->conn))
		pipe_fail(db, NULL, NULL);
	pg->pipe = 0;
}

int cairn_pg_pipe_begin(cairn_db *db)
{
	struct cairn_pg *pg = db->pg;

	pg->pipe_rc = 0;
	pg->pipe_what = NULL;
	pg->qhead = pg->qlen = pg->qflushed = 0;
	if (PQstatus(pg->conn) != CONNECTION_OK || !PQenterPipelineMode(pg->conn))
		return 0;
	pg->pipe = 1;
	return 1;
}

int cairn_pg_pipe_end(cairn_db *db, const char **what)
{
	struct cairn_pg *pg = db->pg;
	int rc;

	pipe_finish(db);
	rc = pg->pipe_rc;
	if (what)
		*what = pg->pipe_what;
	pg->pipe_rc = 0;
	pg->pipe_what = NULL;
	return rc;
}

int cairn_pg_defer(cairn_db *db, struct cairn_pgstmt *s, const char *what)
{
	int rc;

	if (!db->pg->pipe || strchr(s->sql, ';'))
		return cairn_pg_step(db, s);
	if ((rc = pipe_send(db, s, what)) != 0)
		return rc;
	return SQLITE_DONE;
}

uint64_t cairn_pg_round_trips(cairn_db *db)
{
	return db->pg->round_trips;
}

int cairn_pg_step(cairn_db *db, struct cairn_pgstmt *s)
{
	ExecStatusType t;

	if (!s->executed) {
		if (db->pg->pipe && !strchr(s->sql, ';')) {
			int rc = pipe_send(db, s, NULL);

			if (rc != 0)
				return rc;
		} else {
			pipe_finish(db);
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
	}
	if (s->pending)
		pipe_wait(db, (size_t)s->pending - 1);
	if (s->failed) {
		int rc = s->failed;

		/* the message is the first failure's */
		db->errcode = rc;
		s->failed = 0;
		s->nrows = 0;
		return rc;
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
	PGresult *r;
	int64_t id = 0;

	pipe_finish(db);
	db->pg->round_trips++;
	r = PQexec(db->pg->conn, "SELECT lastval()");

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
	pipe_finish(db);
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
