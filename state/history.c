/*
 * history.c - revisions: one per apply / destroy / import / state command,
 * each with the resource changes recorded in it (see store.h).
 *
 * A revision is written 'running' when it begins and gets its final status
 * when it finishes. One that never finished reads back as 'interrupted',
 * unless its process still holds the environment's lock (then 'running').
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cairn_store_rev_begin(cairn_store *st, const char *env, const char *command, int64_t *rev_out)
{
	cairn_dbstmt *s = NULL;
	char *shown = NULL; /* the command line with any state URL's password redacted */
	int64_t rev = 0;
	int rc;

	if (!env || !*env)
		return cairn_error_set(CAIRN_EINVAL, "cannot begin a revision without an environment");
	if (!(shown = cairn_store_redact(command ? command : "")))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store__tx_begin(st)) < 0) {
		free(shown);
		return rc;
	}
	if ((rc = cairn_store__ensure_env(st, env)) < 0 ||
	    (rc = cairn_store__stmt(st, STMT_REV_ADD, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, st->user);
	cairn_store__bind_text(s, 3, st->host);
	cairn_db_bind_int64(s, 4, (int64_t)getpid());
	cairn_store__bind_text(s, 5, shown);
	cairn_db_bind_int64(s, 6, cairn_store__now());
	rc = cairn_db_step(s);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "begin a revision");
	cairn_store__done(s);
	if (rc == 0)
		rev = cairn_db_last_id(st->db);

cleanup:
	rc = cairn_store__tx_end(st, rc);
	free(shown);
	if (rc == 0)
		*rev_out = rev;
	return rc;
}

int cairn_store_rev_finish(cairn_store *st, int64_t rev, const char *status, json_t *summary)
{
	cairn_dbstmt *s = NULL;
	char *sum = NULL;
	int rc;

	if (!status || !*status)
		return cairn_error_set(CAIRN_EINVAL, "cannot finish revision %lld without a status", (long long)rev);
	if (summary && !(sum = json_dumps(summary, JSON_COMPACT | JSON_ENCODE_ANY)))
		return cairn_error_set(CAIRN_EINVAL, "cannot encode the summary of revision %lld", (long long)rev);
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto out;
	if ((rc = cairn_store__stmt(st, STMT_REV_FINISH, &s)) == 0) {
		cairn_db_bind_int64(s, 1, rev);
		cairn_db_bind_int64(s, 2, cairn_store__now());
		cairn_store__bind_text(s, 3, status);
		cairn_store__bind_text(s, 4, sum);
		rc = cairn_db_step(s);
		rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "finish a revision");
		cairn_store__done(s);
		if (rc == 0 && cairn_db_changes(st->db) == 0)
			rc = cairn_error_set(CAIRN_ENOTFOUND, "no revision %lld in %s", (long long)rev, st->path);
	}
	rc = cairn_store__tx_end(st, rc);

out:
	free(sum);
	return rc;
}

static int set_str(json_t *o, const char *key, cairn_dbstmt *s, int i)
{
	const char *t = cairn_db_col_text(s, i);

	return json_object_set_new(o, key, t ? json_string(t) : json_null());
}

static int set_int(json_t *o, const char *key, cairn_dbstmt *s, int i)
{
	if (cairn_db_col_null(s, i))
		return json_object_set_new(o, key, json_null());
	return json_object_set_new(o, key, json_integer(cairn_db_col_int64(s, i)));
}

static int rev_changes(cairn_store *st, int64_t rev, json_t **out)
{
	cairn_dbstmt *s = NULL;
	json_t *arr = json_array(), *c;
	int rc = 0, step, bad;

	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store__stmt(st, STMT_REV_CHANGES, &s)) < 0)
		goto cleanup;
	cairn_db_bind_int64(s, 1, rev);
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if (!(c = json_object()) || json_array_append_new(arr, c) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		bad = set_str(c, "address", s, 0);
		if (!cairn_db_col_null(s, 1))
			bad |= set_str(c, "from", s, 1);
		bad |= set_str(c, "type", s, 2);
		bad |= set_str(c, "action", s, 3);
		bad |= set_str(c, "id", s, 4);
		bad |= set_int(c, "at", s, 5);
		if (bad) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "read changes");
		goto cleanup;
	}
	*out = arr;
	arr = NULL;

cleanup:
	cairn_store__done(s);
	json_decref(arr);
	return rc;
}

static int rev_row(cairn_dbstmt *s, json_t **out, int64_t *rev)
{
	json_t *o = json_object(), *summary = NULL;
	const char *status = cairn_db_col_text(s, 7);
	const char *sum = cairn_db_col_text(s, 8);
	int bad = 0, unfinished = cairn_db_col_null(s, 6);

	if (!o)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*rev = cairn_db_col_int64(s, 0);
	bad |= set_int(o, "rev", s, 0);
	bad |= set_str(o, "who", s, 1);
	bad |= set_str(o, "host", s, 2);
	bad |= set_int(o, "pid", s, 3);
	bad |= set_str(o, "command", s, 4);
	bad |= set_int(o, "started_at", s, 5);
	bad |= set_int(o, "finished_at", s, 6);
	if (unfinished)
		status = cairn_db_col_int64(s, 10) ? "running" : "interrupted";
	bad |= json_object_set_new(o, "status", json_string(status ? status : "interrupted"));
	if (sum)
		summary = json_loads(sum, JSON_DECODE_ANY, NULL);
	bad |= json_object_set_new(o, "summary", summary ? summary : json_null());
	bad |= set_int(o, "serial", s, 9);
	if (bad) {
		json_decref(o);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

static int history_rows(cairn_store *st, const char *env, size_t limit, json_t *arr)
{
	cairn_dbstmt *s = NULL;
	json_t *o = NULL;
	int64_t rev;
	int rc, step;
	size_t i;

	if ((rc = cairn_store__stmt(st, STMT_REV_LIST, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_db_bind_int64(s, 2, limit ? (int64_t)limit : INT64_MAX);
	cairn_db_bind_int64(s, 3, cairn_store__now());
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if ((rc = rev_row(s, &o, &rev)) < 0)
			goto cleanup;
		if (json_array_append_new(arr, o) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "read history");
		goto cleanup;
	}
	cairn_store__done(s);
	s = NULL;
	json_array_foreach(arr, i, o) {
		json_t *changes = NULL;

		rev = json_integer_value(json_object_get(o, "rev"));
		if ((rc = rev_changes(st, rev, &changes)) < 0)
			goto cleanup;
		if (json_object_set_new(o, "changes", changes) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}

cleanup:
	cairn_store__done(s);
	return rc;
}

int cairn_store_history(cairn_store *st, const char *env, size_t limit, json_t **out)
{
	json_t *arr = json_array();
	int rc;

	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store__read_begin(st)) < 0)
		goto cleanup;
	rc = history_rows(st, env, limit, arr);
	cairn_store__read_end(st);
	if (rc == 0) {
		*out = arr;
		arr = NULL;
	}

cleanup:
	json_decref(arr);
	return rc;
}
