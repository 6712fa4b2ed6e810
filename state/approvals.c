/*
 * approvals.c - approvals, revision notes and applied configurations
 * (approvals.h).
 *
 * Statements are prepared per call, like drift.c's: each runs once or
 * twice per command. applied_configs is created on first write (IF NOT
 * EXISTS) rather than by a schema migration; a read of a state without it
 * finds nothing recorded.
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

static int prep(cairn_store *st, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);

	return rc == SQLITE_OK ? 0 : cairn_store__sqlerr(st, rc, "prepare a statement");
}

int cairn_store_rev_annotate(cairn_store *st, int64_t rev, const char *key, json_t *value)
{
	sqlite3_stmt *s = NULL;
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto out;
	if ((rc = prep(st, "UPDATE revisions SET summary = json_set(coalesce(summary, '{}'), '$.' || ?2, json(?3)) "
			   "WHERE id = ?1", &s)) == 0) {
		sqlite3_bind_int64(s, 1, rev);
		cairn_store__bind_text(s, 2, key);
		cairn_store__bind_text(s, 3, text);
		rc = sqlite3_step(s);
		rc = rc == SQLITE_DONE ? 0 : cairn_store__sqlerr(st, rc, "annotate a revision");
	}
	sqlite3_finalize(s);
	rc = cairn_store__tx_end(st, rc);
out:
	free(text);
	return rc;
}

int cairn_store_approve(cairn_store *st, const char *env, const char *digest, const char *author,
			const char *plan, int64_t *rev_out)
{
	json_t *sum = json_pack("{s:{s:s,s:s,s:s}}", "approval", "digest", digest, "author", author, "plan", plan);
	int64_t rev = 0;
	int rc;

	if (!sum)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store_rev_begin(st, env, "approve", &rev)) == 0 &&
	    (rc = cairn_store_rev_finish(st, rev, "ok", sum)) == 0)
		*rev_out = rev;
	json_decref(sum);
	return rc;
}

int cairn_store_approvals(cairn_store *st, const char *env, const char *digest, json_t **out)
{
	sqlite3_stmt *s = NULL;
	json_t *arr = json_array();
	int rc, step;

	if ((rc = prep(st, "SELECT id, who, started_at, json_extract(summary, '$.approval.author') FROM revisions "
			   "WHERE env = ?1 AND command = 'approve' AND status = 'ok' "
			   "AND json_extract(summary, '$.approval.digest') = ?2 ORDER BY id", &s)) != 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, digest);
	while ((step = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:s}", "rev", (json_int_t)sqlite3_column_int64(s, 0),
			"who", (const char *)sqlite3_column_text(s, 1), "at", (json_int_t)sqlite3_column_int64(s, 2),
			"author", sqlite3_column_text(s, 3) ? (const char *)sqlite3_column_text(s, 3) : ""));
	if (step != SQLITE_DONE) {
		rc = cairn_store__sqlerr(st, step, "read the approvals");
		goto cleanup;
	}
	*out = arr;
	arr = NULL;
cleanup:
	sqlite3_finalize(s);
	json_decref(arr);
	return rc;
}

static const char configs_table[] =
	"CREATE TABLE IF NOT EXISTS applied_configs ("
	"  env    TEXT NOT NULL,"
	"  rev    INTEGER NOT NULL,"
	"  config TEXT NOT NULL,"   /* sealed JSON (secret.h): {files, variables, ...} */
	"  PRIMARY KEY (env, rev))";

int cairn_store_config_put(cairn_store *st, const char *env, int64_t rev, const json_t *config)
{
	const cairn_secret_key *key = NULL;
	sqlite3_stmt *s = NULL;
	json_t *sealed = NULL;
	int rc;

	if ((rc = cairn_store__key(st, &key)) < 0 || (rc = cairn_secret_seal(&sealed, key, config)) < 0)
		return rc;
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto out;
	if (sqlite3_exec(st->db, configs_table, NULL, NULL, NULL) != SQLITE_OK)
		rc = cairn_store__sqlerr(st, sqlite3_errcode(st->db), "create the table of applied configurations");
	else if ((rc = prep(st, "INSERT OR REPLACE INTO applied_configs(env, rev, config) VALUES (?1, ?2, ?3)", &s)) == 0) {
		cairn_store__bind_text(s, 1, env);
		sqlite3_bind_int64(s, 2, rev);
		cairn_store__bind_text(s, 3, json_string_value(sealed));
		rc = sqlite3_step(s);
		rc = rc == SQLITE_DONE ? 0 : cairn_store__sqlerr(st, rc, "record the applied configuration");
	}
	sqlite3_finalize(s);
	rc = cairn_store__tx_end(st, rc);
out:
	json_decref(sealed);
	return rc;
}

int cairn_store_config_get(cairn_store *st, const char *env, int64_t rev, json_t **out)
{
	const cairn_secret_key *key = NULL;
	sqlite3_stmt *s = NULL;
	int rc, step;

	rc = sqlite3_prepare_v2(st->db, "SELECT config FROM applied_configs WHERE env = ?1 AND rev = ?2", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(s);
		/* no such table: nothing was ever recorded */
		return cairn_error_set(CAIRN_ENOTFOUND, "no configuration recorded for revision %lld of environment '%s'",
				       (long long)rev, env);
	}
	cairn_store__bind_text(s, 1, env);
	sqlite3_bind_int64(s, 2, rev);
	step = sqlite3_step(s);
	if (step == SQLITE_DONE)
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no configuration recorded for revision %lld of environment '%s'",
				     (long long)rev, env);
	else if (step != SQLITE_ROW)
		rc = cairn_store__sqlerr(st, step, "read the applied configuration");
	else if ((rc = cairn_store__key(st, &key)) == 0)
		rc = cairn_secret_unseal(out, key, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc;
}
