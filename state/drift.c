/*
 * drift.c - the record of drift runs and findings (see drift.h).
 *
 * Statements are prepared per call: a drift run writes once per
 * environment, so the store's statement cache (store.c) is left to the
 * hot paths.
 */
#include "store_int.h"
#include "drift.h"
#include "secret.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

static int prep(cairn_store *st, const char *sql, cairn_dbstmt **out)
{
	int rc = cairn_db_prepare(st->db, sql, 0, out);

	return rc == 0 ? 0 : cairn_store__sqlerr(st, rc, "prepare a drift statement");
}

static int step_done(cairn_store *st, cairn_dbstmt *s, const char *what)
{
	int rc = cairn_db_step(s);

	cairn_db_reset(s);
	return rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, what);
}

static const char *str_of(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Mark open findings of env that this run did not see as resolved by it. */
static int resolve_unseen(cairn_store *st, const char *env, int64_t run, int64_t now, json_t *seen, json_t *resolved)
{
	cairn_dbstmt *q = NULL, *u = NULL;
	int rc, src;

	if ((rc = prep(st, "SELECT id, key, kind, address, type, object_id, attribute, first_seen FROM drift_findings "
			   "WHERE env = ?1 AND resolved_at IS NULL", &q)) ||
	    (rc = prep(st, "UPDATE drift_findings SET resolved_at = ?2, resolved_run = ?3 WHERE id = ?1", &u)))
		goto cleanup;
	cairn_store__bind_text(q, 1, env);
	while ((src = cairn_db_step(q)) == CAIRN_DB_ROW) {
		const char *key = cairn_db_col_text(q, 1);
		int i;

		if (key && json_object_get(seen, key))
			continue;
		cairn_db_bind_int64(u, 1, cairn_db_col_int64(q, 0));
		cairn_db_bind_int64(u, 2, now);
		cairn_db_bind_int64(u, 3, run);
		if ((rc = step_done(st, u, "resolve a drift finding")) != 0)
			goto cleanup;
		if (resolved) {
			json_t *f = json_object();
			static const char *const cols[] = { "key", "kind", "address", "type", "id", "attribute" };

			for (i = 0; i < 6; i++) {
				const char *t = cairn_db_col_text(q, i + 1);

				if (t)
					json_object_set_new(f, cols[i], json_string(t));
			}
			json_object_set_new(f, "first_seen", json_integer(cairn_db_col_int64(q, 7)));
			json_object_set_new(f, "resolved_at", json_integer(now));
			json_array_append_new(resolved, f);
		}
	}
	rc = src == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, src, "read the open drift findings");
cleanup:
	cairn_db_finalize(q);
	cairn_db_finalize(u);
	return rc;
}

static int put_finding(cairn_store *st, cairn_dbstmt *get, cairn_dbstmt *upd, cairn_dbstmt *ins,
		       const char *env, int64_t run, int64_t now, json_t *f)
{
	const char *key = str_of(f, "key");
	json_t *ign = json_object_get(f, "ignored");
	char *detail = NULL;
	int rc, src;

	if (!key || !str_of(f, "kind"))
		return cairn_error_set(CAIRN_EINVAL, "a drift finding without a key or kind cannot be recorded");
	cairn_db_reset(get);
	cairn_store__bind_text(get, 1, env);
	cairn_store__bind_text(get, 2, key);
	src = cairn_db_step(get);
	if (src != CAIRN_DB_ROW && src != CAIRN_DB_DONE)
		return cairn_store__sqlerr(st, src, "look up a drift finding");
	if (src == CAIRN_DB_ROW) {
		int64_t id = cairn_db_col_int64(get, 0);

		json_object_set_new(f, "first_seen", json_integer(cairn_db_col_int64(get, 1)));
		json_object_set_new(f, "first_run", json_integer(cairn_db_col_int64(get, 2)));
		cairn_db_reset(get);
		json_object_set_new(f, "last_seen", json_integer(now));
		if (!(detail = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		cairn_db_bind_int64(upd, 1, id);
		cairn_db_bind_int64(upd, 2, now);
		cairn_db_bind_int64(upd, 3, run);
		cairn_store__bind_text(upd, 4, detail);
		cairn_store__bind_text(upd, 5, str_of(ign, "reason"));
		rc = step_done(st, upd, "update a drift finding");
	} else {
		cairn_db_reset(get);
		json_object_set_new(f, "first_seen", json_integer(now));
		json_object_set_new(f, "first_run", json_integer(run));
		json_object_set_new(f, "last_seen", json_integer(now));
		if (!(detail = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		cairn_store__bind_text(ins, 1, env);
		cairn_store__bind_text(ins, 2, key);
		cairn_store__bind_text(ins, 3, str_of(f, "kind"));
		cairn_store__bind_text(ins, 4, str_of(f, "address"));
		cairn_store__bind_text(ins, 5, str_of(f, "type"));
		cairn_store__bind_text(ins, 6, str_of(f, "id"));
		cairn_store__bind_text(ins, 7, str_of(f, "attribute"));
		cairn_store__bind_text(ins, 8, detail);
		cairn_store__bind_text(ins, 9, str_of(ign, "reason"));
		cairn_db_bind_int64(ins, 10, now);
		cairn_db_bind_int64(ins, 11, run);
		rc = step_done(st, ins, "record a drift finding");
	}
	free(detail);
	return rc;
}

/* Upsert the marks, MARKS_PER_STATEMENT rows a statement (a shared state
 * on PostgreSQL: one round trip per hundred marks, not per mark). */
#define MARKS_PER_STATEMENT 100

static int put_mark_rows(cairn_store *st, const char *env, const char **addr, json_t **m, size_t n)
{
	cairn_buf sql = CAIRN_BUF_INIT;
	cairn_dbstmt *s = NULL;
	size_t i;
	int rc;

	cairn_buf_puts(&sql, "INSERT INTO read_marks(env, address, key, digest) VALUES ");
	for (i = 0; i < n; i++)
		cairn_buf_printf(&sql, "%s(?1, ?%zu, ?%zu, ?%zu)", i ? ", " : "", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i);
	if ((rc = cairn_buf_puts(&sql, " ON CONFLICT(env, address) DO UPDATE SET key = excluded.key, "
				 "digest = excluded.digest")) < 0 ||
	    (rc = prep(st, cairn_buf_cstr(&sql), &s)) != 0) {
		cairn_buf_release(&sql);
		return rc;
	}
	cairn_store__bind_text(s, 1, env);
	for (i = 0; i < n; i++) {
		cairn_store__bind_text(s, (int)(2 + 3 * i), addr[i]);
		cairn_store__bind_text(s, (int)(3 + 3 * i), json_string_value(json_array_get(m[i], 0)));
		cairn_store__bind_text(s, (int)(4 + 3 * i), json_string_value(json_array_get(m[i], 1)));
	}
	rc = step_done(st, s, "keep read marks");
	cairn_db_finalize(s);
	cairn_buf_release(&sql);
	return rc;
}

/* marks: address -> [key, digest], or null: the mark goes (a page mark
 * no longer used) */
static int put_marks(cairn_store *st, const char *env, json_t *marks)
{
	const char *addr[MARKS_PER_STATEMENT], *a;
	json_t *m[MARKS_PER_STATEMENT], *v;
	cairn_dbstmt *del = NULL;
	size_t n = 0;
	int rc = 0;

	json_object_foreach(marks, a, v) {
		if (json_is_null(v)) {
			if (!del && (rc = prep(st, "DELETE FROM read_marks WHERE env = ?1 AND address = ?2", &del)) != 0)
				return rc;
			cairn_db_reset(del);
			cairn_store__bind_text(del, 1, env);
			cairn_store__bind_text(del, 2, a);
			if ((rc = step_done(st, del, "drop a read mark")) != 0) {
				cairn_db_finalize(del);
				return rc;
			}
			continue;
		}
		if (!json_string_value(json_array_get(v, 0)) || !json_string_value(json_array_get(v, 1)))
			continue;
		addr[n] = a;
		m[n++] = v;
		if (n == MARKS_PER_STATEMENT) {
			if ((rc = put_mark_rows(st, env, addr, m, n)) != 0) {
				cairn_db_finalize(del);
				return rc;
			}
			n = 0;
		}
	}
	cairn_db_finalize(del);
	return n ? put_mark_rows(st, env, addr, m, n) : 0;
}

int cairn_store_read_marks(cairn_store *st, const char *env,
			   int (*each)(void *ud, const char *address, const char *key, const char *digest), void *ud)
{
	cairn_dbstmt *s = NULL;
	int rc, src;

	if ((rc = prep(st, "SELECT address, key, digest FROM read_marks WHERE env = ?1", &s)))
		return rc;
	cairn_store__bind_text(s, 1, env);
	while ((src = cairn_db_step(s)) == CAIRN_DB_ROW) {
		const char *a = cairn_db_col_text(s, 0), *k = cairn_db_col_text(s, 1), *d = cairn_db_col_text(s, 2);

		if (a && k && d && (rc = each(ud, a, k, d)) != 0)
			break;
	}
	if (!rc)
		rc = src == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, src, "read the read marks");
	cairn_db_finalize(s);
	return rc;
}

int cairn_store_seal_text(cairn_store *st, const char *text, char **out)
{
	const cairn_secret_key *key;
	json_t *v = json_string(text), *sealed = NULL;
	int rc;

	*out = NULL;
	if (!v)
		return cairn_error_set(CAIRN_EINVAL, "a text to seal must be UTF-8");
	if ((rc = cairn_store__key(st, &key)) == 0 && (rc = cairn_secret_seal(&sealed, key, v)) == 0 &&
	    !(*out = strdup(json_string_value(sealed))))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_decref(sealed);
	json_decref(v);
	return rc;
}

int cairn_store_unseal_text(cairn_store *st, const char *sealed, char **out)
{
	const cairn_secret_key *key;
	json_t *v = NULL;
	int rc;

	*out = NULL;
	if ((rc = cairn_store__key(st, &key)) == 0 && (rc = cairn_secret_unseal(&v, key, sealed)) == 0) {
		if (!json_is_string(v))
			rc = cairn_error_set(CAIRN_ECORRUPT, "a sealed text that is not a text");
		else if (!(*out = strdup(json_string_value(v))))
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	json_decref(v);
	return rc;
}

int cairn_store_read_mark(cairn_store *st, const char *env, const char *address, char **key, char **digest)
{
	cairn_dbstmt *s = NULL;
	int rc, src;

	*key = *digest = NULL;
	if ((rc = prep(st, "SELECT key, digest FROM read_marks WHERE env = ?1 AND address = ?2", &s)))
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, address);
	if ((src = cairn_db_step(s)) == CAIRN_DB_ROW) {
		const char *k = cairn_db_col_text(s, 0), *d = cairn_db_col_text(s, 1);

		if (k && d && (!(*key = strdup(k)) || !(*digest = strdup(d)))) {
			free(*key);
			*key = NULL;
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
	} else if (src != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, src, "read a read mark");
	}
	cairn_db_finalize(s);
	return rc;
}

int cairn_store_drift_record(cairn_store *st, const cairn_drift_run_rec *run, json_t *findings,
			     int64_t *run_out, json_t **resolved)
{
	cairn_dbstmt *r = NULL, *get = NULL, *upd = NULL, *ins = NULL, *gone = NULL;
	json_t *seen = json_object(), *res = resolved ? json_array() : NULL, *f;
	char *summary = NULL;
	int64_t id = 0, now = run->started_at;
	size_t i;
	int rc;

	if (!run->env || !*run->env || !run->status)
		return cairn_error_set(CAIRN_EINVAL, "a drift run needs an environment and a status");
	if (run->summary && !(summary = json_dumps(run->summary, JSON_COMPACT | JSON_SORT_KEYS))) {
		json_decref(seen);
		json_decref(res);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto out;
	if ((rc = prep(st, "INSERT INTO drift_runs(env, started_at, duration_ms, status, who, host, summary) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &r)) ||
	    (rc = prep(st, "SELECT id, first_seen, first_run FROM drift_findings "
			   "WHERE env = ?1 AND key = ?2 AND resolved_at IS NULL", &get)) ||
	    (rc = prep(st, "UPDATE drift_findings SET last_seen = ?2, last_run = ?3, detail = ?4, ignored = ?5 "
			   "WHERE id = ?1", &upd)) ||
	    (rc = prep(st, "INSERT INTO drift_findings(env, key, kind, address, type, object_id, attribute, detail, "
			   "ignored, first_seen, first_run, last_seen, last_run) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10, ?11)", &ins)))
		goto cleanup;
	cairn_store__bind_text(r, 1, run->env);
	cairn_db_bind_int64(r, 2, run->started_at);
	cairn_db_bind_int64(r, 3, (int64_t)(run->duration_s * 1000 + 0.5));
	cairn_store__bind_text(r, 4, run->status);
	cairn_store__bind_text(r, 5, st->user);
	cairn_store__bind_text(r, 6, st->host);
	cairn_store__bind_text(r, 7, summary ? summary : "{}");
	if ((rc = step_done(st, r, "record a drift run")) != 0)
		goto cleanup;
	id = cairn_db_last_id(st->db);
	json_array_foreach(findings, i, f) {
		if ((rc = put_finding(st, get, upd, ins, run->env, id, now, f)) != 0)
			goto cleanup;
		json_object_set_new(seen, str_of(f, "key"), json_true());
	}
	if (run->complete)
		rc = resolve_unseen(st, run->env, id, now, seen, res);
	if (!rc && json_object_size(run->marks))
		rc = put_marks(st, run->env, run->marks);
	/* a complete run: the marks of rows the state no longer has go (not
	 * the kept plan, "#plan", the environment's memo, "#env", nor page
	 * marks, "#page:...", which go when a run no longer uses them: no
	 * resource address begins with '#') */
	if (!rc && run->complete && (rc = prep(st, "DELETE FROM read_marks WHERE env = ?1 AND address NOT IN "
					       "(SELECT address FROM resources WHERE env = ?1) AND address <> '#plan' "
					       "AND address <> '#env' AND substr(address, 1, 6) <> '#page:'",
					       &gone)) == 0) {
		cairn_store__bind_text(gone, 1, run->env);
		rc = step_done(st, gone, "drop stale read marks");
	}
cleanup:
	cairn_db_finalize(r);
	cairn_db_finalize(get);
	cairn_db_finalize(upd);
	cairn_db_finalize(ins);
	cairn_db_finalize(gone);
	rc = cairn_store__tx_end(st, rc);
out:
	free(summary);
	json_decref(seen);
	if (rc == 0) {
		if (run_out)
			*run_out = id;
		if (resolved)
			*resolved = res;
	} else {
		json_decref(res);
	}
	return rc;
}

static json_t *col_json(cairn_dbstmt *s, int i)
{
	const char *t = cairn_db_col_text(s, i);
	json_t *v;

	if (!t)
		return json_null();
	v = json_loads(t, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(t);
}

static json_t *col_str(cairn_dbstmt *s, int i)
{
	const char *t = cairn_db_col_text(s, i);

	return t ? json_string(t) : json_null();
}

static json_t *col_int(cairn_dbstmt *s, int i)
{
	return cairn_db_col_null(s, i) ? json_null() : json_integer(cairn_db_col_int64(s, i));
}

int cairn_store_drift_history(cairn_store *st, const char *env, size_t limit, json_t **out)
{
	cairn_dbstmt *q = NULL, *f = NULL;
	json_t *runs = json_array(), *finds = json_array();
	int rc, src;

	if ((rc = cairn_store__read_begin(st)) < 0)
		goto fail;
	if ((rc = prep(st, "SELECT id, started_at, duration_ms, status, who, host, summary FROM drift_runs "
			   "WHERE env = ?1 ORDER BY id DESC LIMIT ?2", &q)) ||
	    (rc = prep(st, "SELECT kind, address, type, object_id, attribute, detail, ignored, first_seen, first_run, "
			   "last_seen, last_run, resolved_at, resolved_run FROM drift_findings WHERE env = ?1 "
			   "ORDER BY resolved_at IS NOT NULL, last_run DESC, id", &f)))
		goto done;
	cairn_store__bind_text(q, 1, env);
	cairn_db_bind_int64(q, 2, limit ? (int64_t)limit : INT64_MAX);
	while ((src = cairn_db_step(q)) == CAIRN_DB_ROW)
		json_array_append_new(runs, json_pack("{s:o,s:o,s:f,s:o,s:o,s:o,s:o}", "id", col_int(q, 0),
			"started_at", col_int(q, 1), "duration_s", cairn_db_col_int64(q, 2) / 1000.0,
			"status", col_str(q, 3), "who", col_str(q, 4), "host", col_str(q, 5), "summary", col_json(q, 6)));
	if (src != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, src, "read the drift runs");
		goto done;
	}
	cairn_store__bind_text(f, 1, env);
	while ((src = cairn_db_step(f)) == CAIRN_DB_ROW)
		json_array_append_new(finds, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			"kind", col_str(f, 0), "address", col_str(f, 1), "type", col_str(f, 2), "id", col_str(f, 3),
			"attribute", col_str(f, 4), "detail", col_json(f, 5), "ignored", col_str(f, 6),
			"first_seen", col_int(f, 7), "first_run", col_int(f, 8), "last_seen", col_int(f, 9),
			"last_run", col_int(f, 10), "resolved_at", col_int(f, 11), "resolved_run", col_int(f, 12)));
	if (src != CAIRN_DB_DONE)
		rc = cairn_store__sqlerr(st, src, "read the drift findings");
done:
	cairn_db_finalize(q);
	cairn_db_finalize(f);
	cairn_store__read_end(st);
	if (rc == 0) {
		*out = json_pack("{s:o,s:o}", "runs", runs, "findings", finds);
		return 0;
	}
fail:
	json_decref(runs);
	json_decref(finds);
	return rc;
}
