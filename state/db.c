/*
 * db.c - the database seam (db.h): the SQLite backend, and the dispatch to
 * the PostgreSQL one (pg.c).
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

cairn_db *cairn_db_wrap_sqlite(sqlite3 *h)
{
	cairn_db *db = calloc(1, sizeof(*db));

	if (db)
		db->lite = h;
	return db;
}

void cairn_db_free(cairn_db *db)
{
	if (!db)
		return;
	cairn_pg_free(db->pg);
	free(db->errmsg);
	free(db);
}

int cairn_db_is_pg(const cairn_db *db)
{
	return db && db->pg != NULL;
}

int cairn_db_prepare(cairn_db *db, const char *sql, int persistent, cairn_dbstmt **out)
{
	cairn_dbstmt *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return SQLITE_NOMEM;
	s->db = db;
	if (db->pg)
		rc = cairn_pg_prepare(db, sql, persistent, &s->pg);
	else
		rc = sqlite3_prepare_v3(db->lite, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
					&s->lite, NULL);
	if (rc != SQLITE_OK) {
		cairn_db_finalize(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cairn_db_finalize(cairn_dbstmt *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->lite);
	cairn_pg_finalize(s->pg);
	free(s);
}

void cairn_db_reset(cairn_dbstmt *s)
{
	if (!s)
		return;
	if (s->pg) {
		cairn_pg_reset(s->pg);
		return;
	}
	sqlite3_reset(s->lite);
	sqlite3_clear_bindings(s->lite);
}

int cairn_db_exec(cairn_db *db, const char *sql)
{
	return db->pg ? cairn_pg_exec(db, sql) : sqlite3_exec(db->lite, sql, NULL, NULL, NULL);
}

int cairn_db_bind_text(cairn_dbstmt *s, int i, const char *v)
{
	if (s->pg)
		return cairn_pg_bind(s->pg, i, v, 0);
	return v ? sqlite3_bind_text(s->lite, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s->lite, i);
}

int cairn_db_bind_int64(cairn_dbstmt *s, int i, int64_t v)
{
	char num[32];

	if (!s->pg)
		return sqlite3_bind_int64(s->lite, i, v);
	snprintf(num, sizeof(num), "%" PRId64, v);
	return cairn_pg_bind(s->pg, i, num, 1);
}

int cairn_db_bind_null(cairn_dbstmt *s, int i)
{
	return s->pg ? cairn_pg_bind(s->pg, i, NULL, 0) : sqlite3_bind_null(s->lite, i);
}

int cairn_db_step(cairn_dbstmt *s)
{
	return s->pg ? cairn_pg_step(s->db, s->pg) : sqlite3_step(s->lite);
}

int64_t cairn_db_col_int64(cairn_dbstmt *s, int i)
{
	const char *t;

	if (!s->pg)
		return sqlite3_column_int64(s->lite, i);
	if (!(t = cairn_pg_col(s->pg, i, NULL)))
		return 0;
	if (t[0] == 't' && !t[1])
		return 1;
	if (t[0] == 'f' && !t[1])
		return 0;
	return strtoll(t, NULL, 10);
}

const char *cairn_db_col_text(cairn_dbstmt *s, int i)
{
	return s->pg ? cairn_pg_col(s->pg, i, NULL) : (const char *)sqlite3_column_text(s->lite, i);
}

int cairn_db_col_bytes(cairn_dbstmt *s, int i)
{
	int n = 0;

	if (!s->pg)
		return sqlite3_column_bytes(s->lite, i);
	cairn_pg_col(s->pg, i, &n);
	return n;
}

int cairn_db_col_null(cairn_dbstmt *s, int i)
{
	if (!s->pg)
		return sqlite3_column_type(s->lite, i) == SQLITE_NULL;
	return cairn_pg_col(s->pg, i, NULL) == NULL;
}

int64_t cairn_db_changes(cairn_db *db)
{
	return db->pg ? db->changes : sqlite3_changes64(db->lite);
}

int64_t cairn_db_last_id(cairn_db *db)
{
	return db->pg ? cairn_pg_last_id(db) : sqlite3_last_insert_rowid(db->lite);
}

int cairn_db_reconnect(cairn_db *db)
{
	return db->pg ? cairn_pg_reconnect(db) : 0;
}

int cairn_db_pipe_begin(cairn_db *db)
{
	return db->pg ? cairn_pg_pipe_begin(db) : 0;
}

int cairn_db_defer(cairn_dbstmt *s, const char *what)
{
	return s->pg ? cairn_pg_defer(s->db, s->pg, what) : sqlite3_step(s->lite);
}

int cairn_db_pipe_end(cairn_db *db, const char **what)
{
	if (what)
		*what = NULL;
	return db->pg ? cairn_pg_pipe_end(db, what) : 0;
}

uint64_t cairn_db_round_trips(cairn_db *db)
{
	return db && db->pg ? cairn_pg_round_trips(db) : 0;
}

int cairn_db_in_tx(cairn_db *db)
{
	return db->pg ? cairn_pg_in_tx(db) : !sqlite3_get_autocommit(db->lite);
}

const char *cairn_db_errmsg(cairn_db *db, int rc)
{
	if (db && db->pg)
		return db->errmsg && db->errcode == rc ? db->errmsg : sqlite3_errstr(rc);
	/* the connection's message only if it is about this error: a later
	 * statement (a COMMIT after a failed read) replaces it with "not an error" */
	return db && db->lite && sqlite3_extended_errcode(db->lite) == rc ? sqlite3_errmsg(db->lite)
									   : sqlite3_errstr(rc);
}

/* Replace every whole-word `from` (case as written) by `to`. */
static int replace_word(cairn_buf *out, const char *in, const char *from, const char *to)
{
	size_t n = strlen(from);
	const char *p = in, *hit;
	int rc = 0;

	while (rc == 0 && (hit = strstr(p, from))) {
		int left_ok = hit == in || !(hit[-1] == '_' || (hit[-1] >= 'A' && hit[-1] <= 'Z') ||
					     (hit[-1] >= 'a' && hit[-1] <= 'z'));
		int right_ok = !(hit[n] == '_' || (hit[n] >= 'A' && hit[n] <= 'Z') || (hit[n] >= 'a' && hit[n] <= 'z'));

		rc = cairn_buf_put(out, p, (size_t)(hit - p));
		if (rc == 0)
			rc = left_ok && right_ok ? cairn_buf_puts(out, to) : cairn_buf_put(out, hit, n);
		p = hit + n;
	}
	if (rc == 0)
		rc = cairn_buf_puts(out, p);
	return rc;
}

char *cairn_db_ddl_pg(const char *sqlite_ddl)
{
	cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
	char *r = NULL;

	if (replace_word(&a, sqlite_ddl, "INTEGER PRIMARY KEY",
			 "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY") == 0 &&
	    replace_word(&b, cairn_buf_cstr(&a), "INTEGER", "BIGINT") == 0)
		r = cairn_buf_detach(&b);
	cairn_buf_release(&a);
	cairn_buf_release(&b);
	return r;
}
