/*
 * store_pg.c - opening a state store kept in PostgreSQL (see store.h and
 * docs/state.md): the URL, its redaction, the checks before anything is
 * written, and the schema's migrations.
 *
 * One state per PostgreSQL schema: the tables live in the connection's
 * current schema (the first of its search_path, `public` unless the URL or
 * PGOPTIONS say otherwise, e.g. `?options=-csearch_path%3Dteam_a`). Several
 * stacks share a database by using one schema each.
 *
 * The version and identity that a SQLite file keeps in PRAGMA user_version
 * and application_id live in the `meta` table: application = 'cairn',
 * schema_version = N. A schema that has tables but no such row is not a
 * cairn state and is refused before anything is written, as is a newer
 * schema version.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"

int cairn_store_is_url(const char *location)
{
	return location && (strncmp(location, "postgres://", 11) == 0 ||
			    strncmp(location, "postgresql://", 13) == 0);
}

const char *cairn_store_location(const char *flag, const char *dflt)
{
	const char *env = getenv("CAIRN_STATE_URL");

	if (flag && *flag)
		return flag;
	if (env && *env)
		return env;
	return dflt;
}

int cairn_store_open_existing(cairn_store **out, const char *location, unsigned flags)
{
	struct stat sb;
	int rc;

	*out = NULL;
	if (!cairn_store_is_url(location))
		return stat(location, &sb) != 0 ? 0 : cairn_store_open(out, location, flags & ~CAIRN_STORE_CREATE);
	rc = cairn_store_open(out, location, flags);
	if (rc == CAIRN_ENOTFOUND && (flags & CAIRN_STORE_READONLY)) {
		cairn_error_clear();
		return 0;
	}
	return rc;
}

static int is_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"';
}

char *cairn_store_redact(const char *text)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *p = text;

	if (!text)
		return NULL;
	while (*p) {
		const char *at, *colon, *q;

		/* scheme://user:PASSWORD@host */
		if (strncmp(p, "://", 3) == 0) {
			if (cairn_buf_put(&b, p, 3) < 0)
				goto nomem;
			p += 3;
			for (q = p, at = NULL; !is_end(*q) && *q != '/' && *q != '?' && *q != '#'; q++)
				if (*q == '@')
					at = q;
			colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
			if (colon) {
				if (cairn_buf_put(&b, p, (size_t)(colon - p)) < 0 || cairn_buf_puts(&b, ":***") < 0)
					goto nomem;
				p = at;
			}
			continue;
		}
		/* password=SECRET (a URL's query or libpq keywords) */
		if (strncmp(p, "password=", 9) == 0 && (p == text || !((p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '_'))) {
			if (cairn_buf_puts(&b, "password=***") < 0)
				goto nomem;
			for (p += 9; !is_end(*p) && *p != '&'; p++)
				;
			continue;
		}
		if (cairn_buf_putc(&b, *p++) < 0)
			goto nomem;
	}
	if (cairn_buf_putc(&b, '\0') < 0)
		goto nomem;
	return cairn_buf_detach(&b);

nomem:
	cairn_buf_release(&b);
	return NULL;
}

/* Run sql (no rows wanted) or say what failed. */
static int exec(cairn_store *st, const char *sql, const char *what)
{
	int rc = cairn_db_exec(st->db, sql);

	return rc == 0 ? 0 : cairn_store__sqlerr(st, rc, what);
}

/* One-row query: the first column of its first row as a new string (NULL
 * for no row or SQL NULL). */
static int query1(cairn_store *st, const char *sql, const char *arg, char **out, const char *what)
{
	cairn_dbstmt *s = NULL;
	int rc, step;

	*out = NULL;
	if ((rc = cairn_db_prepare(st->db, sql, 0, &s)) != 0)
		return cairn_store__sqlerr(st, rc, what);
	if (arg)
		cairn_db_bind_text(s, 1, arg);
	step = cairn_db_step(s);
	rc = 0;
	if (step == CAIRN_DB_ROW)
		*out = cairn_store__col_strdup(s, 0, &rc);
	else if (step != CAIRN_DB_DONE)
		rc = cairn_store__sqlerr(st, step, what);
	cairn_db_finalize(s);
	return rc;
}

/*
 * *version: the schema version of the state in the current schema, 0 when
 * that schema has no tables at all (a state to initialise).
 */
static int read_version(cairn_store *st, int64_t *version)
{
	char *schema = NULL, *ntables = NULL, *app = NULL, *ver = NULL, *end = NULL;
	int rc;

	if ((rc = query1(st, "SELECT current_schema()", NULL, &schema, "read the current schema")) < 0)
		goto cleanup;
	if (!schema) {
		rc = cairn_error_set(CAIRN_EINVAL,
			"the state database %s has no schema to use: the search_path names no existing schema "
			"(create it, or name another with ?options=-csearch_path%%3DNAME)", st->path);
		goto cleanup;
	}
	if ((rc = query1(st, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
			 NULL, &ntables, "list the tables")) < 0)
		goto cleanup;
	if (ntables && strcmp(ntables, "0") == 0) {
		*version = 0;
		goto cleanup;
	}
	if ((rc = query1(st, "SELECT count(*) FROM information_schema.tables "
			 "WHERE table_schema = current_schema() AND table_name = 'meta'", NULL, &app,
			 "look for the meta table")) < 0)
		goto cleanup;
	if (app && strcmp(app, "1") == 0) {
		free(app);
		app = NULL;
		if ((rc = query1(st, "SELECT value FROM meta WHERE key = ?1", "application", &app,
				 "read the meta table")) < 0 ||
		    (rc = query1(st, "SELECT value FROM meta WHERE key = ?1", "schema_version", &ver,
				 "read the meta table")) < 0)
			goto cleanup;
	}
	if (!app || strcmp(app, "cairn") != 0 || !ver) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
			"%s is not a cairn state database (schema '%s' has %s tables but no cairn meta row); "
			"refusing to touch it", st->path, schema, ntables ? ntables : "?");
		goto cleanup;
	}
	*version = strtoll(ver, &end, 10);
	if (!end || *end || *version <= 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "%s has an invalid schema version '%s'", st->path, ver);
		goto cleanup;
	}
	if (*version > CAIRN_STORE_SCHEMA_VERSION)
		rc = cairn_error_set(CAIRN_ECORRUPT,
			"%s was written by a newer cairn (schema version %lld, this cairn knows up to %d); "
			"upgrade cairn", st->path, (long long)*version, CAIRN_STORE_SCHEMA_VERSION);

cleanup:
	free(schema);
	free(ntables);
	free(app);
	free(ver);
	return rc;
}

/* Apply the missing steps in one transaction, under the writers' lock;
 * the version is read again there: another cairn may have just done it. */
static int migrate(cairn_store *st)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char *ddl = NULL;
	int64_t uv = 0;
	int i, rc;

	if ((rc = exec(st, "BEGIN; SELECT pg_advisory_xact_lock(1667330670, hashtext(current_schema()))",
		       "start the schema upgrade")) < 0)
		return rc;
	if ((rc = read_version(st, &uv)) < 0 || uv == CAIRN_STORE_SCHEMA_VERSION)
		goto cleanup;
	for (i = 0; i < CAIRN_STORE_SCHEMA_VERSION; i++) {
		if (cairn_store__migrations[i].version <= uv)
			continue;
		free(ddl);
		if (!(ddl = cairn_db_ddl_pg(cairn_store__migrations[i].sql))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((rc = exec(st, ddl, "upgrade the schema")) < 0)
			goto cleanup;
	}
	if ((rc = cairn_buf_printf(&b, "INSERT INTO meta(key, value) VALUES ('application', 'cairn'), "
				   "('schema_version', '%d') ON CONFLICT(key) DO UPDATE SET value = excluded.value",
				   CAIRN_STORE_SCHEMA_VERSION)) < 0 ||
	    (rc = exec(st, b.ptr, "upgrade the schema")) < 0)
		goto cleanup;
	rc = exec(st, "COMMIT", "commit the schema upgrade");

cleanup:
	if (cairn_db_in_tx(st->db))
		cairn_db_exec(st->db, "ROLLBACK");
	free(ddl);
	cairn_buf_release(&b);
	return rc;
}

int cairn_store__open_pg(cairn_store *st, const char *url)
{
	int ro = (st->flags & CAIRN_STORE_READONLY) != 0;
	int64_t version = 0;
	int rc;

	if (!(st->path = cairn_store_redact(url)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_db_open_pg(&st->db, url, st->path)) < 0)
		return rc;
	if ((rc = read_version(st, &version)) < 0)
		return rc;
	/* as with a file: only CAIRN_STORE_CREATE makes a state where there is none */
	if (version == 0 && (ro || !(st->flags & CAIRN_STORE_CREATE)))
		return cairn_error_set(CAIRN_ENOTFOUND, "state database %s is empty", st->path);
	if (ro)
		return 0;
	return migrate(st);
}
