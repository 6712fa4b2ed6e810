/*
 * backend.h - run the state unit tests against either backend.
 *
 * Without CAIRN_TEST_STATE_URL the store is a SQLite file in the test's
 * temporary directory. With CAIRN_TEST_STATE_URL=postgres://... (set by
 * tests/pg/unit.sh, which starts its own server) each test gets a fresh,
 * empty PostgreSQL schema instead, and a fixed CAIRN_STATE_KEY (a state on
 * PostgreSQL takes its key from the environment only) unless the test set one. Tests about the file
 * itself (modes, corruption, foreign SQLite files) skip on PostgreSQL;
 * tests/unit/state/test_store.c has PostgreSQL's own refusal cases.
 * t_state_open/_close: a test's store set up and removed (t_state).
 */
#ifndef CAIRN_TEST_BACKEND_H
#define CAIRN_TEST_BACKEND_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "state/store.h"

#define T_PG_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddee00"

static inline const char *t_pg_base(void)
{
	const char *u = getenv("CAIRN_TEST_STATE_URL");

	return u && *u ? u : NULL;
}

/* Run sql on the base database; 0 if it succeeded. */
static inline int t_pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(t_pg_base());
	PGresult *r = NULL;
	int ok = 0;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
			printf("# %s: %s", sql, PQresultErrorMessage(r));
	} else {
		printf("# cannot connect to %s: %s", t_pg_base(), PQerrorMessage(c));
	}
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The state location of a test: dir/.cairn/state.db, or the URL of a new
 * empty schema. malloc'd. */
static inline char *t_state_loc(const char *dir)
{
	static int n;
	cairn_buf b = CAIRN_BUF_INIT, q = CAIRN_BUF_INIT;
	const char *base = t_pg_base();

	if (!base) {
		cairn_buf_printf(&b, "%s/.cairn/state.db", dir);
		return cairn_buf_detach(&b);
	}
	setenv("CAIRN_STATE_KEY", T_PG_KEY, 0); /* unless the test set its own */
	cairn_buf_printf(&q, "CREATE SCHEMA t_%ld_%d", (long)getpid(), ++n);
	if (t_pg_exec(q.ptr) != 0)
		abort();
	cairn_buf_release(&q);
	/* libpq's options=-csearch_path=SCHEMA, its '=' escaped */
	cairn_buf_printf(&b, "%s%coptions=-csearch_path%%3Dt_%ld_%d", base, strchr(base, '?') ? '&' : '?',
			 (long)getpid(), n);
	return cairn_buf_detach(&b);
}

/* Does any row of any table of the state's schema contain needle? */
static inline int t_pg_contains(const char *url, const char *needle)
{
	PGconn *c = PQconnectdb(url);
	PGresult *t = NULL, *r = NULL;
	int found = 0, i, j;

	if (PQstatus(c) != CONNECTION_OK)
		abort();
	t = PQexec(c, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()");
	if (PQresultStatus(t) != PGRES_TUPLES_OK || PQntuples(t) == 0)
		abort();
	for (i = 0; i < PQntuples(t) && !found; i++) {
		cairn_buf q = CAIRN_BUF_INIT;

		cairn_buf_printf(&q, "SELECT x::text FROM \"%s\" x", PQgetvalue(t, i, 0));
		r = PQexec(c, q.ptr);
		cairn_buf_release(&q);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			abort();
		for (j = 0; j < PQntuples(r) && !found; j++)
			found = strstr(PQgetvalue(r, j, 0), needle) != NULL;
		PQclear(r);
	}
	PQclear(t);
	PQfinish(c);
	return found;
}

/* A test's state: a new temporary directory /tmp/cairn-test-NAME-XXXXXX
 * and the location of its store (t_state_loc: a file in it, or a new
 * PostgreSQL schema). */
typedef struct t_state {
	char dir[256];
	char loc[512];
} t_state;

/* Set t up and open its store for writing (created, CAIRN_STATE_KEY unset
 * first: a test that wants a key sets it after); aborts when it cannot. */
static inline cairn_store *t_state_open(t_state *t, const char *name)
{
	cairn_store *st = NULL;
	char *loc;

	snprintf(t->dir, sizeof(t->dir), "/tmp/cairn-test-%s-XXXXXX", name);
	if (!mkdtemp(t->dir))
		abort();
	unsetenv("CAIRN_STATE_KEY");
	loc = t_state_loc(t->dir);
	snprintf(t->loc, sizeof(t->loc), "%s", loc);
	free(loc);
	if (cairn_store_open(&st, t->loc, CAIRN_STORE_CREATE) != 0)
		abort();
	return st;
}

/* Free st (may be NULL) and remove t's directory. */
static inline void t_state_close(t_state *t, cairn_store *st)
{
	cairn_buf cmd = CAIRN_BUF_INIT;

	cairn_store_free(st);
	cairn_buf_printf(&cmd, "rm -rf '%s'", t->dir);
	if (system(cmd.ptr) != 0)
		fprintf(stderr, "# cannot remove %s\n", t->dir);
	cairn_buf_release(&cmd);
}

/* Does t's stored data hold needle in clear: the SQLite file or its WAL,
 * or any row of the PostgreSQL schema? (Close the store first.) */
static inline int t_state_contains(const t_state *t, const char *needle)
{
	cairn_buf cmd = CAIRN_BUF_INIT;
	int found;

	if (t_pg_base())
		return t_pg_contains(t->loc, needle);
	cairn_buf_printf(&cmd, "cat '%s' '%s-wal' 2>/dev/null | grep -q '%s'", t->loc, t->loc, needle);
	found = system(cmd.ptr) == 0;
	cairn_buf_release(&cmd);
	return found;
}

#define T_SKIP_ON_PG(why) do { if (t_pg_base()) { printf("# skipped on PostgreSQL: %s\n", why); return; } } while (0)

#endif
