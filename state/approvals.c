/*
 * approvals.c - approvals, revision notes and applied configurations
 * (approvals.h).
 *
 * Statements are prepared per call, like drift.c's: each runs once or
 * twice per command, through the database seam (db.h), so on SQLite and
 * PostgreSQL alike. applied_configs is schema step 4 (store.c); a READONLY
 * read of an older state without it finds nothing recorded.
 */
#include "store_int.h"
#include "approvals.h"
#include "secret.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cairn_store_whoami(char *out, size_t n)
{
	const char *u = getenv("CAIRN_USER");
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	if (!u || !*u)
		u = getenv("USER");
	if (u && *u)
		snprintf(out, n, "%s", u);
	else if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(out, n, "%s", pwp->pw_name);
	else
		snprintf(out, n, "uid %ld", (long)getuid());
}

const char *cairn_store_user(const cairn_store *st)
{
	return st->user;
}

static int prep(cairn_store *st, const char *sql, cairn_dbstmt **out)
{
	int rc = cairn_db_prepare(st->db, sql, 0, out);

	return rc == 0 ? 0 : cairn_store__sqlerr(st, rc, "prepare a statement");
}

/* The summary of revision rev as an object ({} when it has none), in *out. */
static int read_summary(cairn_store *st, int64_t rev, json_t **out)
{
	cairn_dbstmt *s = NULL;
	const char *text;
	json_t *sum = NULL;
	int rc, step;

	if ((rc = prep(st, "SELECT summary FROM revisions WHERE id = ?1", &s)) != 0)
		return rc;
	cairn_db_bind_int64(s, 1, rev);
	if ((step = cairn_db_step(s)) == CAIRN_DB_DONE)
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no revision %lld in %s", (long long)rev, st->path);
	else if (step != CAIRN_DB_ROW)
		rc = cairn_store__sqlerr(st, step, "read a revision's summary");
	else if (!(text = cairn_db_col_text(s, 0)))
		sum = json_object();
	else if (!(sum = json_loads(text, JSON_DECODE_ANY, NULL)) || !json_is_object(sum))
		rc = cairn_error_set(CAIRN_ECORRUPT, "the summary of revision %lld in %s is not a JSON object",
				     (long long)rev, st->path);
	if (!rc && !sum)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cairn_db_finalize(s);
	if (rc)
		json_decref(sum);
	else
		*out = sum;
	return rc;
}

/* The summary's JSON is read, changed and written back here, in C, inside
 * the writer's transaction: one SQL text for both backends (SQLite's
 * json_set and PostgreSQL's jsonb_set differ). */
int cairn_store_rev_annotate(cairn_store *st, int64_t rev, const char *key, json_t *value)
{
	cairn_dbstmt *s = NULL;
	json_t *sum = NULL;
	char *text = NULL;
	int rc;

	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	if ((rc = read_summary(st, rev, &sum)) != 0)
		goto cleanup;
	if (json_object_set(sum, key, value) != 0 || !(text = json_dumps(sum, JSON_COMPACT))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = prep(st, "UPDATE revisions SET summary = ?2 WHERE id = ?1", &s)) == 0) {
		cairn_db_bind_int64(s, 1, rev);
		cairn_store__bind_text(s, 2, text);
		rc = cairn_db_step(s);
		rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "annotate a revision");
	}
cleanup:
	cairn_db_finalize(s);
	json_decref(sum);
	free(text);
	return cairn_store__tx_end(st, rc);
}

int cairn_store_approve(cairn_store *st, const char *env, const char *digest, const char *author,
			const char *plan, int64_t *rev_out)
{
	return cairn_store_approve_signed(st, env, digest, author, plan, NULL, rev_out);
}

int cairn_store_approve_signed(cairn_store *st, const char *env, const char *digest, const char *author,
			       const char *plan, const json_t *signature, int64_t *rev_out)
{
	json_t *sum = json_pack("{s:{s:s,s:s,s:s}}", "approval", "digest", digest, "author", author, "plan", plan);
	int64_t rev = 0;
	int rc;

	if (!sum || (signature && json_object_update(json_object_get(sum, "approval"), (json_t *)signature) != 0)) {
		json_decref(sum);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if ((rc = cairn_store_rev_begin(st, env, "approve", &rev)) == 0 &&
	    (rc = cairn_store_rev_finish(st, rev, "ok", sum)) == 0)
		*rev_out = rev;
	json_decref(sum);
	return rc;
}

/* The approval revisions of env are read whole and their summaries matched
 * in C (no json_extract in SQL: one text for both backends). */
int cairn_store_approvals(cairn_store *st, const char *env, const char *digest, json_t **out)
{
	cairn_dbstmt *s = NULL;
	json_t *arr = json_array(), *sum = NULL, *appr;
	int rc, step;

	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = prep(st, "SELECT id, who, started_at, summary FROM revisions "
			   "WHERE env = ?1 AND command = 'approve' AND status = 'ok' ORDER BY id", &s)) != 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		const char *text = cairn_db_col_text(s, 3);
		const char *author;

		json_decref(sum);
		sum = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		appr = json_object_get(sum, "approval");
		if (!json_is_string(json_object_get(appr, "digest")) ||
		    strcmp(json_string_value(json_object_get(appr, "digest")), digest) != 0)
			continue;
		author = json_string_value(json_object_get(appr, "author"));
		if (json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:s,s:s?,s:s?,s:s?}", "rev",
			(json_int_t)cairn_db_col_int64(s, 0), "who", cairn_db_col_text(s, 1) ? cairn_db_col_text(s, 1) : "",
			"at", (json_int_t)cairn_db_col_int64(s, 2), "author", author ? author : "",
			"approver", json_string_value(json_object_get(appr, "approver")),
			"key", json_string_value(json_object_get(appr, "key")),
			"signature", json_string_value(json_object_get(appr, "signature")))) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "read the approvals");
		goto cleanup;
	}
	*out = arr;
	arr = NULL;
cleanup:
	cairn_db_finalize(s);
	json_decref(sum);
	json_decref(arr);
	return rc;
}

int cairn_store_config_put(cairn_store *st, const char *env, int64_t rev, const json_t *config)
{
	const cairn_secret_key *key = NULL;
	cairn_dbstmt *s = NULL;
	json_t *sealed = NULL;
	int rc;

	if ((rc = cairn_store__key(st, &key)) < 0 || (rc = cairn_secret_seal(&sealed, key, config)) < 0)
		return rc;
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto out;
	if ((rc = prep(st, "INSERT INTO applied_configs(env, rev, config) VALUES (?1, ?2, ?3) "
			   "ON CONFLICT(env, rev) DO UPDATE SET config = excluded.config", &s)) == 0) {
		cairn_store__bind_text(s, 1, env);
		cairn_db_bind_int64(s, 2, rev);
		cairn_store__bind_text(s, 3, json_string_value(sealed));
		rc = cairn_db_step(s);
		rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "record the applied configuration");
	}
	cairn_db_finalize(s);
	rc = cairn_store__tx_end(st, rc);
out:
	json_decref(sealed);
	return rc;
}

int cairn_store_config_get(cairn_store *st, const char *env, int64_t rev, json_t **out)
{
	const cairn_secret_key *key = NULL;
	cairn_dbstmt *s = NULL;
	int rc, step, have = 0;

	/* a READONLY handle on a state from before schema 4 may not have it */
	if ((rc = cairn_store__has_table(st, "applied_configs", &have)) != 0)
		return rc;
	if (!have)
		return cairn_error_set(CAIRN_ENOTFOUND, "no configuration recorded for revision %lld of environment '%s'",
				       (long long)rev, env);
	if ((rc = prep(st, "SELECT config FROM applied_configs WHERE env = ?1 AND rev = ?2", &s)) != 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_db_bind_int64(s, 2, rev);
	step = cairn_db_step(s);
	if (step == CAIRN_DB_DONE)
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no configuration recorded for revision %lld of environment '%s'",
				     (long long)rev, env);
	else if (step != CAIRN_DB_ROW)
		rc = cairn_store__sqlerr(st, step, "read the applied configuration");
	else if ((rc = cairn_store__key(st, &key)) == 0)
		rc = cairn_secret_unseal(out, key, cairn_db_col_text(s, 0) ? cairn_db_col_text(s, 0) : "");
	cairn_db_finalize(s);
	return rc;
}
