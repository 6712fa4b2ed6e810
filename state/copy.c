/*
 * copy.c - copy a whole state from one store to another (cairn state
 * migrate: a file to PostgreSQL and back), then verify the copy.
 *
 * The source is held under its writers' lock for the whole copy (a batch
 * that is rolled back at the end, writing nothing), so no environment can
 * be locked, and nothing can change, while it is read. The copy refuses a
 * source with any live environment lock, and a destination that already
 * holds a state. Rows are copied as they are stored (sealed values stay
 * sealed, ids and timestamps kept) in one destination transaction, which is
 * committed only after every environment reads back the same through the
 * store's own functions (resources, outputs, intents unsealed with the
 * destination's key, history, drift records).
 *
 * A table added to the schema must be added to `tables` below.
 */
#include "store_int.h"
#include "approvals.h"
#include "drift.h"
#include "envs.h"
#include "lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

static const struct table {
	const char *name;
	const char *cols;
	const char *serial_col; /* an INTEGER PRIMARY KEY whose sequence must follow (PostgreSQL) */
} tables[] = {
	/* parents before children (foreign keys) */
	{ "envs", "name, serial", NULL },
	{ "revisions", "id, env, who, host, pid, command, started_at, finished_at, status, summary, serial", "id" },
	{ "resources", "env, address, name, type, id, attrs, sensitive, deps, token, created_at, updated_at, rev", NULL },
	{ "intents", "id, env, rev, address, type, op, token, payload, started_at", "id" },
	{ "changes", "seq, rev, env, address, prev_address, type, action, id, at", "seq" },
	{ "outputs", "env, name, value, sensitive, rev", NULL },
	{ "drift_runs", "id, env, started_at, duration_ms, status, who, host, summary", "id" },
	{ "drift_findings", "id, env, key, kind, address, type, object_id, attribute, detail, ignored, "
			    "first_seen, first_run, last_seen, last_run, resolved_at, resolved_run", "id" },
	{ "ephemeral_envs", "name, base, vars, created_at, expires_at, who, host", NULL },
	{ "applied_configs", "env, rev, config", NULL },
};

static int ncols(const char *cols)
{
	int n = 1;

	for (; *cols; cols++)
		n += *cols == ',';
	return n;
}

static int copy_table(cairn_store *dst, cairn_store *src, const struct table *t, int64_t *rows)
{
	cairn_buf sel = CAIRN_BUF_INIT, ins = CAIRN_BUF_INIT;
	cairn_dbstmt *q = NULL, *w = NULL;
	int n = ncols(t->cols), i, rc, step;

	if ((rc = cairn_buf_printf(&sel, "SELECT %s FROM %s ORDER BY 1", t->cols, t->name)) < 0 ||
	    (rc = cairn_buf_printf(&ins, "INSERT INTO %s(%s) VALUES (?1", t->name, t->cols)) < 0)
		goto cleanup;
	for (i = 2; i <= n && rc == 0; i++)
		rc = cairn_buf_printf(&ins, ", ?%d", i);
	if (rc < 0 || (rc = cairn_buf_puts(&ins, ")")) < 0)
		goto cleanup;
	if ((rc = cairn_db_prepare(src->db, sel.ptr, 0, &q)) != 0) {
		rc = cairn_store__sqlerr(src, rc, "read the state to copy");
		goto cleanup;
	}
	if ((rc = cairn_db_prepare(dst->db, ins.ptr, 0, &w)) != 0) {
		rc = cairn_store__sqlerr(dst, rc, "prepare the copy");
		goto cleanup;
	}
	while ((step = cairn_db_step(q)) == CAIRN_DB_ROW) {
		cairn_db_reset(w);
		for (i = 0; i < n; i++)
			cairn_db_bind_text(w, i + 1, cairn_db_col_text(q, i));
		if ((rc = cairn_db_step(w)) != CAIRN_DB_DONE) {
			rc = cairn_store__sqlerr(dst, rc, "write the copy");
			goto cleanup;
		}
		(*rows)++;
	}
	rc = step == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(src, step, "read the state to copy");
	if (rc == 0 && t->serial_col && cairn_db_is_pg(dst->db)) {
		cairn_buf_clear(&sel);
		if ((rc = cairn_buf_printf(&sel, "SELECT setval(pg_get_serial_sequence('%s', '%s'), "
					   "(SELECT max(%s) FROM %s))", t->name, t->serial_col, t->serial_col,
					   t->name)) == 0 &&
		    (rc = cairn_db_exec(dst->db, sel.ptr)) != 0)
			rc = cairn_store__sqlerr(dst, rc, "advance the copy's id sequence");
	}

cleanup:
	cairn_db_finalize(q);
	cairn_db_finalize(w);
	cairn_buf_release(&sel);
	cairn_buf_release(&ins);
	return rc;
}

/* o.ephemeral: env's ephemeral record (variables unsealed), if it has one. */
static int ephemeral_view(cairn_store *st, const char *env, json_t *o)
{
	cairn_ephemeral_env rec = { 0 };
	int rc = cairn_store_ephemeral_get(st, env, &rec);

	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc == 0)
		json_object_set_new(o, "ephemeral", json_pack("{s:s,s:s,s:O,s:I,s:I,s:s}", "name", rec.name,
			"base", rec.base, "vars", rec.vars, "created_at", (json_int_t)rec.created_at,
			"expires_at", (json_int_t)rec.expires_at, "who", rec.who));
	cairn_ephemeral_env_release(&rec);
	return rc;
}

/* o.configs: the applied configuration of each of env's revisions that
 * has one (unsealed), by revision. */
static int configs_view(cairn_store *st, const char *env, json_t *o)
{
	json_t *h = NULL, *x, *cfg, *all = json_object();
	char rev[32];
	size_t i;
	int rc;

	if (!all)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store_history(st, env, 0, &h)) < 0)
		goto cleanup;
	json_array_foreach(h, i, x) {
		int64_t r = json_integer_value(json_object_get(x, "rev"));

		cfg = NULL;
		if ((rc = cairn_store_config_get(st, env, r, &cfg)) == CAIRN_ENOTFOUND) {
			cairn_error_clear();
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto cleanup;
		snprintf(rev, sizeof(rev), "%lld", (long long)r);
		json_object_set_new(all, rev, cfg);
	}
	json_object_set(o, "configs", all);

cleanup:
	json_decref(h);
	json_decref(all);
	return rc;
}

/* Everything the store says about env, through its own read functions. */
static int env_view(cairn_store *st, const char *env, json_t **out)
{
	cairn_state_res *v = NULL;
	cairn_intent *iv = NULL;
	size_t n = 0, ni = 0, i;
	json_t *o = json_object(), *res = json_array(), *ints = json_array(), *x = NULL, *y = NULL;
	int64_t serial = 0;
	int rc;

	if (!o || !res || !ints) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cairn_store_serial(st, env, &serial)) < 0 || (rc = cairn_store_list(st, env, &v, &n)) < 0 ||
	    (rc = cairn_store_intents(st, env, &iv, &ni)) < 0)
		goto cleanup;
	for (i = 0; i < n; i++)
		json_array_append_new(res, json_pack("{s:s,s:s,s:s,s:s?,s:O,s:O,s:O,s:s?,s:I,s:I,s:I}",
			"address", v[i].address, "name", v[i].name, "type", v[i].type, "id", v[i].id,
			"attrs", v[i].attrs, "sensitive", v[i].sensitive, "deps", v[i].deps, "token", v[i].token,
			"created_at", (json_int_t)v[i].created_at, "updated_at", (json_int_t)v[i].updated_at,
			"rev", (json_int_t)v[i].rev));
	for (i = 0; i < ni; i++)
		json_array_append_new(ints, json_pack("{s:I,s:s,s:s,s:s,s:s?,s:O?,s:I,s:I}", "id", (json_int_t)iv[i].id,
			"address", iv[i].address, "type", iv[i].type, "op", iv[i].op, "token", iv[i].token,
			"payload", iv[i].payload, "rev", (json_int_t)iv[i].rev, "started_at", (json_int_t)iv[i].started_at));
	json_object_set_new(o, "serial", json_integer(serial));
	json_object_set(o, "resources", res);
	json_object_set(o, "intents", ints);
	if ((rc = cairn_store_outputs_get(st, env, &x, &y)) < 0)
		goto cleanup;
	json_object_set_new(o, "outputs", json_pack("{s:o,s:o}", "values", x, "sensitive", y));
	if ((rc = cairn_store_history(st, env, 0, &x)) < 0)
		goto cleanup;
	json_object_set_new(o, "history", x);
	if ((rc = cairn_store_drift_history(st, env, 0, &x)) < 0)
		goto cleanup;
	json_object_set_new(o, "drift", x);
	if ((rc = ephemeral_view(st, env, o)) < 0 || (rc = configs_view(st, env, o)) < 0)
		goto cleanup;
	*out = o;
	o = NULL;

cleanup:
	cairn_state_res_free_array(v, n);
	cairn_intent_free_array(iv, ni);
	json_decref(res);
	json_decref(ints);
	json_decref(o);
	return rc;
}

/* The source's first live lock: CAIRN_ELOCKED naming it, or 0. An expired
 * lease, or one whose holder is gone from this host, does not count. */
static int refuse_locked(cairn_store *src, char **envs, size_t n)
{
	cairn_lock_info *li = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		rc = cairn_lock_get(src, envs[i], &li);
		if (rc == 0)
			rc = cairn_error_set(CAIRN_ELOCKED,
				"environment '%s' of %s is locked by %s (pid %ld, %s); refusing to migrate a state in use",
				envs[i], src->path, li->holder, li->pid, li->operation ? li->operation : "?");
		else if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ETIMEOUT)
			rc = 0;
		cairn_lock_info_free(li);
		li = NULL;
	}
	if (rc == 0)
		cairn_error_clear();
	return rc;
}

int cairn_store_copy(cairn_store *dst, cairn_store *src, cairn_store_copy_stats *stats)
{
	char **envs = NULL, **have = NULL;
	size_t n = 0, nhave = 0, i;
	json_t *a = NULL, *b = NULL;
	int64_t rows = 0;
	int rc;

	memset(stats, 0, sizeof(*stats));
	if ((rc = cairn_store_begin(src)) < 0)
		return rc;
	if ((rc = cairn_store_envs(src, &envs, &n)) < 0 || (rc = refuse_locked(src, envs, n)) < 0)
		goto out_src;
	if ((rc = cairn_store_begin(dst)) < 0)
		goto out_src;
	if ((rc = cairn_store_envs(dst, &have, &nhave)) < 0)
		goto out;
	if (nhave) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s already holds a state (environment '%s'); "
				     "refusing to merge into it", dst->path, have[0]);
		goto out;
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if ((rc = copy_table(dst, src, &tables[i], &rows)) < 0)
			goto out;
	for (i = 0; i < n; i++) {
		json_decref(a);
		json_decref(b);
		a = b = NULL;
		if ((rc = env_view(src, envs[i], &a)) < 0)
			goto out;
		if ((rc = env_view(dst, envs[i], &b)) < 0) {
			char *why = strdup(cairn_error_last() ? cairn_error_last()->message : "?");

			rc = cairn_error_set(rc, "the copy of environment '%s' does not read back from %s: %s",
					     envs[i], dst->path, why ? why : "?");
			free(why);
			goto out;
		}
		if (!json_equal(a, b)) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "the copy of environment '%s' in %s differs from %s",
					     envs[i], dst->path, src->path);
			goto out;
		}
		stats->resources += json_array_size(json_object_get(a, "resources"));
		stats->revisions += json_array_size(json_object_get(a, "history"));
	}
	stats->envs = n;
	stats->rows = rows;
	rc = cairn_store_commit(dst);

out:
	if (rc < 0)
		cairn_store_rollback(dst);
out_src:
	cairn_store_rollback(src);
	json_decref(a);
	json_decref(b);
	cairn_strv_free(envs, n);
	cairn_strv_free(have, nhave);
	return rc;
}
