/*
 * envs.c - the record of ephemeral environments, and the summary of an
 * environment that `cairn env list` shows (see envs.h).
 *
 * Statements are prepared per call, as in drift.c: these run once or a
 * few times per command, not on the apply's hot path.
 */
#include "store_int.h"
#include "envs.h"
#include "drift.h"

#include <stdlib.h>
#include <string.h>

void cairn_ephemeral_env_release(cairn_ephemeral_env *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->base);
	json_decref(e->vars);
	free(e->who);
	memset(e, 0, sizeof(*e));
}

void cairn_ephemeral_env_free_array(cairn_ephemeral_env *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		cairn_ephemeral_env_release(&v[i]);
	free(v);
}

/* Prepare sql; *missing (may be NULL) is set instead, and nothing
 * prepared, when the table is not there (an older schema read through a
 * READONLY handle). The table is looked up first rather than the failure
 * read afterwards: on PostgreSQL a failed statement would end the read
 * snapshot the caller may have open. */
static int prep(cairn_store *st, const char *sql, cairn_dbstmt **out, bool *missing)
{
	int rc, have = 1;

	if (missing && (rc = cairn_store__has_table(st, "ephemeral_envs", &have)) != 0)
		return rc;
	if (!have) {
		*missing = true;
		return 0;
	}
	if ((rc = cairn_db_prepare(st->db, sql, 0, out)) != 0)
		return cairn_store__sqlerr(st, rc, "prepare a statement on ephemeral environments");
	return 0;
}

#define ENV_COLS "name, base, vars, created_at, expires_at, who"

static int read_row(cairn_store *st, cairn_dbstmt *s, cairn_ephemeral_env *out)
{
	const cairn_secret_key *key = NULL;
	const char *sealed = cairn_db_col_text(s, 2);
	cairn_ephemeral_env e = { 0 };
	int rc = 0;

	e.name = cairn_store__col_strdup(s, 0, &rc);
	e.base = cairn_store__col_strdup(s, 1, &rc);
	e.who = cairn_store__col_strdup(s, 5, &rc);
	e.created_at = cairn_db_col_int64(s, 3);
	e.expires_at = cairn_db_col_null(s, 4) ? 0 : cairn_db_col_int64(s, 4);
	if (!rc && (rc = cairn_store__key(st, &key)) == 0) {
		if ((rc = cairn_secret_unseal(&e.vars, key, sealed ? sealed : "")) != 0)
			cairn_error_prefix("cannot read the variables of environment '%s'", e.name ? e.name : "?");
		else if (!json_is_object(e.vars))
			rc = cairn_error_set(CAIRN_ECORRUPT, "the variables of environment '%s' in %s are not an object",
					     e.name ? e.name : "?", st->path);
	}
	if (rc) {
		cairn_ephemeral_env_release(&e);
		return rc;
	}
	*out = e;
	return 0;
}

int cairn_store_ephemeral_add(cairn_store *st, const cairn_ephemeral_env *e)
{
	const cairn_secret_key *key = NULL;
	cairn_dbstmt *s = NULL;
	json_t *sealed = NULL, *empty = NULL;
	char who[512];
	int rc, src;

	if ((rc = cairn_store__key(st, &key)) != 0)
		return rc;
	if (!e->vars && !(empty = json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_secret_seal(&sealed, key, e->vars ? e->vars : empty);
	json_decref(empty);
	if (rc)
		return rc;
	snprintf(who, sizeof(who), "%s@%s", st->user, st->host);
	if ((rc = cairn_store__tx_begin(st)) != 0) {
		json_decref(sealed);
		return rc;
	}
	if ((rc = prep(st, "INSERT INTO ephemeral_envs(" ENV_COLS ", host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		       &s, NULL)) == 0) {
		cairn_store__bind_text(s, 1, e->name);
		cairn_store__bind_text(s, 2, e->base);
		cairn_store__bind_text(s, 3, json_string_value(sealed));
		cairn_db_bind_int64(s, 4, e->created_at > 0 ? e->created_at : cairn_store__now());
		if (e->expires_at > 0)
			cairn_db_bind_int64(s, 5, e->expires_at);
		else
			cairn_db_bind_null(s, 5);
		cairn_store__bind_text(s, 6, who);
		cairn_store__bind_text(s, 7, st->host);
		src = cairn_db_step(s);
		if ((src & 0xff) == SQLITE_CONSTRAINT)
			rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' already exists (in %s)", e->name, st->path);
		else if (src != CAIRN_DB_DONE)
			rc = cairn_store__sqlerr(st, src, "record an ephemeral environment");
	}
	if (!rc)
		rc = cairn_store__ensure_env(st, e->name);
	cairn_db_finalize(s);
	json_decref(sealed);
	return cairn_store__tx_end(st, rc);
}

int cairn_store_ephemeral_get(cairn_store *st, const char *name, cairn_ephemeral_env *out)
{
	cairn_dbstmt *s = NULL;
	bool missing = false;
	int rc, src;

	if ((rc = prep(st, "SELECT " ENV_COLS " FROM ephemeral_envs WHERE name = ?1", &s, &missing)) != 0)
		return rc;
	if (missing)
		return CAIRN_ENOTFOUND;
	cairn_store__bind_text(s, 1, name);
	src = cairn_db_step(s);
	if (src == CAIRN_DB_ROW)
		rc = read_row(st, s, out);
	else if (src == CAIRN_DB_DONE)
		rc = CAIRN_ENOTFOUND;
	else
		rc = cairn_store__sqlerr(st, src, "read an ephemeral environment");
	cairn_db_finalize(s);
	return rc;
}

int cairn_store_ephemeral_list(cairn_store *st, cairn_ephemeral_env **out, size_t *n)
{
	cairn_ephemeral_env *v = NULL, *nv;
	cairn_dbstmt *s = NULL;
	bool missing = false;
	size_t len = 0;
	int rc, src;

	if ((rc = prep(st, "SELECT " ENV_COLS " FROM ephemeral_envs ORDER BY name", &s, &missing)) != 0)
		return rc;
	while (!missing && (src = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if (!(nv = realloc(v, (len + 1) * sizeof(*v)))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		v = nv;
		if ((rc = read_row(st, s, &v[len])) != 0)
			goto cleanup;
		len++;
	}
	if (!missing && src != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, src, "list ephemeral environments");
		goto cleanup;
	}
	*out = v;
	*n = len;
	v = NULL;
cleanup:
	cairn_db_finalize(s);
	cairn_ephemeral_env_free_array(v, len);
	return rc;
}

int cairn_store_ephemeral_set_expiry(cairn_store *st, const char *name, int64_t expires_at)
{
	cairn_dbstmt *s = NULL;
	int rc, src;

	if ((rc = cairn_store__tx_begin(st)) != 0)
		return rc;
	if ((rc = prep(st, "UPDATE ephemeral_envs SET expires_at = ?2 WHERE name = ?1", &s, NULL)) == 0) {
		cairn_store__bind_text(s, 1, name);
		if (expires_at > 0)
			cairn_db_bind_int64(s, 2, expires_at);
		else
			cairn_db_bind_null(s, 2);
		if ((src = cairn_db_step(s)) != CAIRN_DB_DONE)
			rc = cairn_store__sqlerr(st, src, "set the expiry of an ephemeral environment");
		else if (cairn_db_changes(st->db) == 0)
			rc = CAIRN_ENOTFOUND;
	}
	cairn_db_finalize(s);
	return cairn_store__tx_end(st, rc);
}

/* One integer from sql with ?1 = name (and, when it has them, ?2 = this
 * handle's lock id and ?3 = now). */
static int count_of(cairn_store *st, const char *sql, const char *name, int64_t *out)
{
	cairn_dbstmt *s = NULL;
	int rc, src;

	if ((rc = prep(st, sql, &s, NULL)) != 0)
		return rc;
	cairn_store__bind_text(s, 1, name);
	if (strstr(sql, "?2"))
		cairn_store__bind_text(s, 2, st->lock_id);
	if (strstr(sql, "?3"))
		cairn_db_bind_int64(s, 3, cairn_store__now());
	if ((src = cairn_db_step(s)) == CAIRN_DB_ROW)
		*out = cairn_db_col_int64(s, 0);
	else
		rc = cairn_store__sqlerr(st, src, "read the state of an environment");
	cairn_db_finalize(s);
	return rc;
}

static int delete_rows(cairn_store *st, const char *sql, const char *name)
{
	cairn_dbstmt *s = NULL;
	int rc, src;

	if ((rc = prep(st, sql, &s, NULL)) != 0)
		return rc;
	cairn_store__bind_text(s, 1, name);
	if ((src = cairn_db_step(s)) != CAIRN_DB_DONE)
		rc = cairn_store__sqlerr(st, src, "forget an ephemeral environment");
	cairn_db_finalize(s);
	return rc;
}

int cairn_store_ephemeral_forget(cairn_store *st, const char *name)
{
	int64_t n = 0, res = 0, intents = 0, locked = 0;
	int rc;

	if ((rc = cairn_store__tx_begin(st)) != 0)
		return rc;
	if ((rc = count_of(st, "SELECT count(*) FROM ephemeral_envs WHERE name = ?1", name, &n)) != 0 ||
	    (rc = count_of(st, "SELECT count(*) FROM resources WHERE env = ?1", name, &res)) != 0 ||
	    (rc = count_of(st, "SELECT count(*) FROM intents WHERE env = ?1", name, &intents)) != 0 ||
	    (rc = count_of(st, "SELECT count(*) FROM locks WHERE env = ?1 AND lock_id != ?2 AND expires > ?3",
			   name, &locked)) != 0)
		goto cleanup;
	if (!n)
		rc = CAIRN_ENOTFOUND;
	else if (locked)
		rc = cairn_error_set(CAIRN_ELOCKED, "cannot forget environment '%s': another run holds its lock", name);
	else if (res || intents)
		rc = cairn_error_set(CAIRN_EINVAL, "cannot forget environment '%s': the state still records %lld "
				     "resource(s) and %lld pending operation(s) of it", name, (long long)res,
				     (long long)intents);
	else if ((rc = delete_rows(st, "DELETE FROM ephemeral_envs WHERE name = ?1", name)) == 0 &&
		 (rc = delete_rows(st, "DELETE FROM outputs WHERE env = ?1", name)) == 0 &&
		 (rc = delete_rows(st, "DELETE FROM read_marks WHERE env = ?1", name)) == 0)
		/* a create that never applied (refused after its lock recorded
		 * the name): no trace of it; a destroyed one keeps its history */
		rc = delete_rows(st, "DELETE FROM envs WHERE name = ?1 AND serial = 0 AND "
				 "NOT EXISTS (SELECT 1 FROM revisions WHERE env = ?1)", name);
cleanup:
	return cairn_store__tx_end(st, rc);
}

int cairn_store_env_summary(cairn_store *st, const char *env, json_t **out)
{
	json_t *o = json_object(), *h = NULL, *d = NULL, *run;
	int64_t res = 0;
	int rc;

	if (!o)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = count_of(st, "SELECT count(*) FROM resources WHERE env = ?1", env, &res)) != 0 ||
	    (rc = cairn_store_history(st, env, 1, &h)) != 0)
		goto cleanup;
	json_object_set_new(o, "resources", json_integer(res));
	if ((run = json_array_get(h, 0)) != NULL) {
		json_object_del(run, "changes");
		json_object_del(run, "summary");
		json_object_set(o, "last_run", run);
	}
	/* an older database read through a READONLY handle has no drift tables */
	if (cairn_store_drift_history(st, env, 1, &d) == 0) {
		json_t *r = json_array_get(json_object_get(d, "runs"), 0);

		if (r)
			json_object_set_new(o, "last_drift", json_pack("{s:O?,s:O?}", "started_at",
				json_object_get(r, "started_at"), "status", json_object_get(r, "status")));
	}
	*out = o;
	o = NULL;
cleanup:
	json_decref(o);
	json_decref(h);
	json_decref(d);
	return rc;
}
