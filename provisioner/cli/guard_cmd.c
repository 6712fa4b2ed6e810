/*
 * guard_cmd.c - guardrails on the command line (guard_cmd.h): policy
 * findings, `cairn policy test`, `cairn approve`, the approvals check of
 * an apply, the record an apply leaves for rollbacks, and the recorded
 * configuration `cairn rollback` plans again. See docs/guardrails.md.
 */
#include "guard_cmd.h"
#include "cli.h"
#include "base/file.h"
#include "engine/guard.h"
#include "engine/policy.h"
#include "engine/checks.h"
#include "base/sshkey.h"
#include "state/approvals.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

static int print_error(int rc)
{
	char msg[4096];

	cairn_error_format(cairn_error_last(), msg, sizeof(msg));
	fprintf(stderr, "cairn: error: %s\n", msg);
	return rc == CAIRN_ELOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_ERROR;
}

/* ---------- findings ---------- */

static void print_finding(const json_t *f, const char *indent)
{
	const char *addr = json_string_value(json_object_get(f, "address"));
	char *msg = cairn_engine_escape(json_string_value(json_object_get(f, "message")));
	char *a = addr ? cairn_engine_escape(addr) : NULL;

	printf("%s%-5s %s: %s%s%s\n", indent, json_string_value(json_object_get(f, "level")),
	       json_string_value(json_object_get(f, "policy")), a ? a : "", a ? ": " : "", msg ? msg : "?");
	free(msg);
	free(a);
}

void cairn_cli_print_findings(const json_t *findings)
{
	size_t i, denies = cairn_policy_denies(findings), n = json_array_size(findings);
	json_t *f;

	if (!n)
		return;
	printf("\nPolicies: %zu deny, %zu warning%s\n", denies, n - denies, n - denies == 1 ? "" : "s");
	json_array_foreach(findings, i, f)
		print_finding(f, "  ");
}

int cairn_cli_policies(cairn_engine *e, const char *policy_dir, cairn_jout *jout, const char *what, json_t **findings,
		       bool *denied)
{
	json_t *f = NULL;
	size_t n, denies;
	int rc;

	*denied = false;
	if ((rc = cairn_policy_check(e, policy_dir, &f)) != 0)
		return rc;
	n = json_array_size(f);
	denies = cairn_policy_denies(f);
	if (!jout)
		cairn_cli_print_findings(f);
	else if (n)
		cairn_jout_emit(jout, "policy_findings", denies ? "error" : "warn", json_pack("{s:O}", "findings", f),
				"policies: %zu deny, %zu warning(s)", denies, n - denies);
	*findings = f;
	if (!what || !denies)
		return 0;
	*denied = true;
	return cairn_error_set(CAIRN_EINVAL, "%s refused: %zu policy %s it (see above); nothing was changed", what, denies,
			       denies == 1 ? "finding denies" : "findings deny");
}

void cairn_cli_print_history_guard(const json_t *summary)
{
	json_t *a = json_object_get(summary, "approval"), *w = json_object_get(summary, "policy_warnings"), *f;
	size_t i;

	if (a) {
		unsigned char pub[CAIRN_ED25519_LEN];
		char fp[CAIRN_SSHKEY_FP_LEN] = "";
		const char *signer = json_string_value(json_object_get(a, "approver"));

		if (signer && json_is_string(json_object_get(a, "key")) &&
		    cairn_sshkey_parse_public(json_string_value(json_object_get(a, "key")), pub) == 0)
			cairn_sshkey_fingerprint(pub, fp);
		printf("    approved %s (plan %s, made by %s)%s%s%s%s%s\n", json_string_value(json_object_get(a, "digest")),
		       json_string_value(json_object_get(a, "plan")), json_string_value(json_object_get(a, "author")),
		       signer ? ", signed by " : "", signer ? signer : "", fp[0] ? " (" : "", fp, fp[0] ? ")" : "");
	}
	json_array_foreach(w, i, f)
		print_finding(f, "    policy ");
	if (json_object_get(summary, "checks_passed")) {
		cairn_buf b = CAIRN_BUF_INIT;

		json_array_foreach(json_object_get(summary, "checks"), i, f)
			if (!json_is_true(json_object_get(f, "ok")))
				cairn_buf_printf(&b, "%s%s", b.len ? ", " : "", json_string_value(json_object_get(f, "name")));
		printf("    checks   %s%s%s%s\n", json_is_true(json_object_get(summary, "checks_passed")) ? "passed" : "failed",
		       b.len ? " (" : "", cairn_buf_cstr(&b), b.len ? ")" : "");
		cairn_buf_release(&b);
	}
	if (json_object_get(summary, "resource_checks_passed") &&
	    (json_array_size(json_object_get(summary, "resource_checks")) ||
	     !json_is_true(json_object_get(summary, "resource_checks_passed")))) {
		cairn_buf b = CAIRN_BUF_INIT;

		json_array_foreach(json_object_get(summary, "resource_checks"), i, f)
			if (!json_is_true(json_object_get(f, "ok")))
				cairn_buf_printf(&b, "%s%s: %s", b.len ? ", " : "", json_string_value(json_object_get(f, "address")),
						 json_string_value(json_object_get(f, "name")));
		printf("    resource checks %s%s%s%s\n", json_is_true(json_object_get(summary, "resource_checks_passed")) ?
		       "passed" : "failed", b.len ? " (" : "", cairn_buf_cstr(&b), b.len ? ")" : "");
		cairn_buf_release(&b);
	}
}

/* ---------- cairn policy test ---------- */

static const char policy_usage[] =
"usage: cairn policy test [-C DIR] [TEST...]\n"
"\n"
"Runs the policies of DIR/policies on the plans of the tests (default: every\n"
"DIR/policies/tests/*.json) and compares their findings with the expected ones.\n"
"A test is {\"plan\": \"FILE\" (a saved plan or 'plan --json' output, relative to\n"
"the test) or the plan itself, \"expect\": [{\"policy\": \"NAME\", \"level\": \"deny\"|\"warn\",\n"
"\"address\": \"ADDR\", \"message\": \"SUBSTRING\"}]}: every finding must be expected\n"
"and every expectation met. Exit 0 all pass, 1 a test failed or could not run.\n";

static bool expect_matches(const json_t *x, const json_t *f)
{
	const char *pol = json_string_value(json_object_get(x, "policy"));
	const char *lvl = json_string_value(json_object_get(x, "level"));
	const char *addr = json_string_value(json_object_get(x, "address"));
	const char *msg = json_string_value(json_object_get(x, "message"));
	const char *fpol = json_string_value(json_object_get(f, "policy"));
	const char *base = fpol ? strrchr(fpol, '/') : NULL;
	size_t bl;

	base = base ? base + 1 : fpol ? fpol : "";
	bl = strlen(base) > 4 && !strcmp(base + strlen(base) - 4, ".lua") ? strlen(base) - 4 : strlen(base);
	if (pol && !(strlen(pol) == bl && !strncmp(pol, base, bl)) && strcmp(pol, base) != 0)
		return false;
	if (lvl && strcmp(lvl, json_string_value(json_object_get(f, "level"))) != 0)
		return false;
	if (addr && (!json_object_get(f, "address") || strcmp(addr, json_string_value(json_object_get(f, "address")))))
		return false;
	if (msg && !strstr(json_string_value(json_object_get(f, "message")), msg))
		return false;
	return true;
}

static int load_json(const char *path, const char *what, json_t **out)
{
	cairn_buf text = CAIRN_BUF_INIT;
	json_error_t jerr;
	int rc;

	if ((rc = cairn_file_read(&text, path, what)) != 0) {
		cairn_buf_release(&text);
		return rc;
	}
	*out = json_loadb(cairn_buf_cstr(&text), text.len, JSON_REJECT_DUPLICATES, &jerr);
	cairn_buf_release(&text);
	if (!*out)
		return cairn_error_set(CAIRN_EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	return 0;
}

/* One test file; 0 pass, 1 fail (printed), <0 could not run (error set). */
static int run_test(const char *pdir, const char *path)
{
	json_t *t = NULL, *plan = NULL, *input = NULL, *findings = NULL, *expect, *x, *f;
	char *used = NULL;
	size_t i, j, nf = 0;
	int rc, failed = 0;

	if ((rc = load_json(path, "policy test", &t)) != 0)
		return rc;
	expect = json_object_get(t, "expect");
	x = json_object_get(t, "plan");
	if (!json_is_object(t) || !json_is_array(expect) || !(json_is_string(x) || json_is_object(x))) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s: a policy test is {\"plan\": FILE or the plan, \"expect\": [...]}", path);
		goto cleanup;
	}
	if (json_is_string(x)) {
		cairn_buf p = CAIRN_BUF_INIT;
		const char *slash = strrchr(path, '/');

		if (json_string_value(x)[0] == '/' || !slash)
			cairn_buf_puts(&p, json_string_value(x));
		else
			cairn_buf_printf(&p, "%.*s/%s", (int)(slash - path), path, json_string_value(x));
		rc = load_json(cairn_buf_cstr(&p), "plan", &plan);
		cairn_buf_release(&p);
		if (rc)
			goto cleanup;
	} else {
		plan = json_incref(x);
	}
	if ((rc = cairn_policy_input(plan, &input)) != 0) {
		cairn_error_prefix("%s", path);
		goto cleanup;
	}
	if ((rc = cairn_policy_run_dir(pdir, "policies", input, &findings)) != 0)
		goto cleanup;
	nf = json_array_size(findings);
	if (!(used = calloc(nf + 1, 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach(expect, i, x) {
		bool found = false;

		json_array_foreach(findings, j, f)
			if (!used[j] && expect_matches(x, f)) {
				used[j] = found = true;
				break;
			}
		if (!found) {
			char *s = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);

			if (!failed++)
				printf("FAIL  %s\n", path);
			printf("      expected, not found: %s\n", s ? s : "?");
			free(s);
		}
	}
	json_array_foreach(findings, j, f)
		if (!used[j]) {
			if (!failed++)
				printf("FAIL  %s\n", path);
			print_finding(f, "      unexpected: ");
		}
	if (!failed)
		printf("ok    %s (%zu finding%s)\n", path, nf, nf == 1 ? "" : "s");
	rc = failed ? 1 : 0;
cleanup:
	free(used);
	json_decref(t);
	json_decref(plan);
	json_decref(input);
	json_decref(findings);
	return rc;
}

static int json_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

int cairn_cli_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *dir = ".";
	cairn_buf pdir = CAIRN_BUF_INIT, tdir = CAIRN_BUF_INIT;
	struct dirent **names = NULL;
	int opt, i, n = 0, failed = 0, ran = 0, rc = 0;

	if (argc < 2 || strcmp(argv[1], "test") != 0) {
		fputs(policy_usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : CAIRN_EXIT_ERROR;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc - 1, argv + 1, ":C:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'C': dir = optarg; break;
		case 'h': fputs(policy_usage, stdout); return 0;
		case ':': fprintf(stderr, "cairn: error: flag %s needs a value\n", argv[optind]); return CAIRN_EXIT_ERROR;
		default:
			fprintf(stderr, "cairn: error: unknown flag '%s' for 'cairn policy test'\n", argv[optind]);
			return CAIRN_EXIT_ERROR;
		}
	}
	cairn_buf_printf(&pdir, "%s/policies", dir);
	if (optind + 1 < argc) {
		for (i = optind + 1; i < argc; i++, ran++) {
			rc = run_test(cairn_buf_cstr(&pdir), argv[i]);
			if (rc < 0) {
				print_error(rc);
				printf("ERROR %s\n", argv[i]);
			}
			failed += rc != 0;
		}
	} else {
		cairn_buf_printf(&tdir, "%s/policies/tests", dir);
		if ((n = scandir(cairn_buf_cstr(&tdir), &names, json_file, alphasort)) < 0) {
			fprintf(stderr, "cairn: error: cannot read the policy tests in %s: %s\n", cairn_buf_cstr(&tdir),
				strerror(errno));
			cairn_buf_release(&pdir);
			cairn_buf_release(&tdir);
			return CAIRN_EXIT_ERROR;
		}
		for (i = 0; i < n; i++, ran++) {
			cairn_buf p = CAIRN_BUF_INIT;

			cairn_buf_printf(&p, "%s/%s", cairn_buf_cstr(&tdir), names[i]->d_name);
			rc = run_test(cairn_buf_cstr(&pdir), cairn_buf_cstr(&p));
			if (rc < 0) {
				print_error(rc);
				printf("ERROR %s\n", cairn_buf_cstr(&p));
			}
			failed += rc != 0;
			cairn_buf_release(&p);
			free(names[i]);
		}
		free(names);
	}
	printf("\n%d test%s, %d failed\n", ran, ran == 1 ? "" : "s", failed);
	cairn_buf_release(&pdir);
	cairn_buf_release(&tdir);
	if (!ran) {
		fprintf(stderr, "cairn: error: no policy tests found\n");
		return CAIRN_EXIT_ERROR;
	}
	return failed ? CAIRN_EXIT_ERROR : CAIRN_EXIT_OK;
}

/* ---------- approvals ---------- */

/* What an approver signs (docs/guardrails.md): the environment and the
 * plan's digest, so that a signature is good for that plan there only. */
static char *approval_message(const char *env, const char *digest)
{
	char *m = NULL;

	if (asprintf(&m, "cairn-approval-v1\nenvironment=%s\ndigest=%s\n", env, digest) < 0)
		return NULL;
	return m;
}

/* Does the signed approval x (of digest, in e's environment) verify with
 * the key approvers list for its approver? NULL when it does, else why not
 * (malloc'd). */
static char *approval_invalid(cairn_engine *e, const json_t *approvers, const char *digest, const json_t *x)
{
	const char *name = json_string_value(json_object_get(x, "approver"));
	const char *sig = json_string_value(json_object_get(x, "signature"));
	const char *listed = name ? json_string_value(json_object_get(approvers, name)) : NULL;
	long long rev = (long long)json_integer_value(json_object_get(x, "rev"));
	unsigned char pub[CAIRN_ED25519_LEN], *raw = NULL;
	size_t rawlen = 0;
	char *msg = NULL, *why = NULL;
	bool ok;

	if (!name || !sig) {
		if (asprintf(&why, "revision %lld, by %s: not signed", rev, json_string_value(json_object_get(x, "who"))) < 0)
			why = NULL;
		return why ? why : strdup("an approval: not signed");
	}
	if (!listed || cairn_sshkey_parse_public(listed, pub) != 0) {
		if (asprintf(&why, "revision %lld: signed as '%s', who is not one of the approvers", rev, name) < 0)
			why = NULL;
		return why ? why : strdup("an approval by an unknown approver");
	}
	ok = !strncmp(sig, "ed25519:", 8) && cairn_base64_decode(sig + 8, strlen(sig + 8), &raw, &rawlen) == 0 &&
	     rawlen == CAIRN_ED25519_SIGLEN && (msg = approval_message(e->opts.env, digest)) != NULL &&
	     cairn_sshkey_verify(pub, msg, strlen(msg), raw);
	free(raw);
	free(msg);
	if (ok)
		return NULL;
	if (asprintf(&why, "revision %lld: %s's signature does not verify with %s's key in the stack (forged, or "
		     "made with another key)", rev, name, name) < 0)
		why = NULL;
	return why ? why : strdup("an approval whose signature does not verify");
}

/* The approvals of the plan doc that count: distinct approvers, without
 * the author when the environment says so. With approvers (signed
 * approvals), only those whose signature verifies with the key the stack
 * lists for their approver count, by that name; the others are in *bad. */
static int count_approvals(cairn_engine *e, const char *digest, const char *author, bool distinct_author,
			   const json_t *approvers, json_t **who, json_t **bad)
{
	json_t *list = NULL, *x, *names = json_array(), *refused = json_array();
	size_t i, j;
	int rc = 0;

	*who = names;
	*bad = refused;
	if (!e->store)
		return 0;
	if ((rc = cairn_store_approvals(e->store, e->opts.env, digest, &list)) != 0)
		return rc;
	json_array_foreach(list, i, x) {
		const char *w = json_string_value(json_object_get(x, approvers ? "approver" : "who"));
		json_t *y;
		bool seen = false;

		if (approvers) {
			char *why = approval_invalid(e, approvers, digest, x);

			if (why) {
				json_array_append_new(refused, json_string(why));
				free(why);
				continue;
			}
		}
		if (distinct_author && author && !strcmp(w, author))
			continue;
		json_array_foreach(names, j, y)
			if (!strcmp(json_string_value(y), w))
				seen = true;
		if (!seen)
			json_array_append_new(names, json_string(w));
	}
	json_decref(list);
	return 0;
}

static void join_names(cairn_buf *b, const json_t *names, const char *sep)
{
	size_t i;
	json_t *x;

	json_array_foreach(names, i, x)
		cairn_buf_printf(b, "%s%s", i ? sep : "", json_string_value(x));
}

/* The approvals e's environment needs for doc (NULL: no saved plan): the
 * stack's; for a rollback plan, those of the stack it was made from (the
 * current one, whose path the plan records), not the old revision's.
 * *approvers: the approvers whose signatures count (new), or NULL. */
static int plan_approvals(cairn_engine *e, const json_t *doc, int *required, bool *distinct, json_t **approvers)
{
	const char *cur = json_string_value(json_object_get(json_object_get(doc, "rollback"), "stack"));
	cairn_stack *st = NULL;
	int rc;

	*required = 0;
	*distinct = false;
	*approvers = NULL;
	if (!cur) {
		cairn_config_env_approvals(e->stack, e->opts.env, required, distinct);
		*approvers = json_deep_copy(cairn_config_env_approvers(e->stack, e->opts.env));
		return 0;
	}
	if ((rc = cairn_stack_load(&st, cur)) != 0) {
		cairn_error_prefix("cannot read the stack the rollback plan was made from, which says which approvals "
				   "it needs");
		return rc;
	}
	cairn_config_env_approvals(st, e->opts.env, required, distinct);
	*approvers = json_deep_copy(cairn_config_env_approvers(st, e->opts.env));
	cairn_stack_free(st);
	return 0;
}

int cairn_cli_check_approvals(cairn_engine *e, const json_t *doc, const char *what)
{
	char digest[CAIRN_DIGEST_LEN];
	json_t *who = NULL, *bad = NULL, *approvers = NULL;
	cairn_buf b = CAIRN_BUF_INIT, nc = CAIRN_BUF_INIT;
	bool distinct = false;
	int required = 0, rc;

	if ((rc = plan_approvals(e, doc, &required, &distinct, &approvers)) != 0)
		return rc;
	if (required <= 0)
		goto cleanup;
	if (!doc) {
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' needs %d approval%s (environments.%s.approvals in "
			"the stack): %s only a saved plan that was approved: cairn plan -e %s -out FILE; cairn approve FILE; "
			"cairn apply FILE", e->opts.env, required, required == 1 ? "" : "s", e->opts.env,
			!strcmp(what, "apply") ? "apply" : "it applies", e->opts.env);
		goto cleanup;
	}
	if ((rc = cairn_guard_digest(doc, digest)) != 0 ||
	    (rc = count_approvals(e, digest, json_string_value(json_object_get(doc, "author")), distinct, approvers,
				  &who, &bad)) != 0)
		goto cleanup;
	join_names(&nc, bad, "; ");
	if ((int)json_array_size(who) < required) {
		join_names(&b, who, ", ");
		rc = cairn_error_set(CAIRN_EINVAL, "the plan (%s) has %zu of the %d %sapproval%s environment '%s' needs%s%s%s"
			"%s; approvals are of a plan's digest, so one given to another plan does not count (cairn approve FILE)%s%s",
			digest, json_array_size(who), required, approvers ? "signed " : "", required == 1 ? "" : "s",
			e->opts.env, b.len ? " (approved by " : "", cairn_buf_cstr(&b), b.len ? ")" : "",
			distinct ? "; its author's own approval does not count" : "",
			nc.len ? "; refused, not counted: " : "", cairn_buf_cstr(&nc));
	} else if (nc.len) {
		fprintf(stderr, "cairn: warning: approvals refused, not counted: %s\n", cairn_buf_cstr(&nc));
	}
cleanup:
	cairn_buf_release(&b);
	cairn_buf_release(&nc);
	json_decref(who);
	json_decref(bad);
	json_decref(approvers);
	return rc;
}

/* approve --key PATH: the approver the stack lists with that key (*name,
 * borrowed from approvers) and the signature of the plan's digest, as the
 * approval keeps it (*sig, new). */
static int sign_approval(cairn_engine *e, const json_t *approvers, const char *key_path, const char *digest,
			 const char **name, json_t **sig, char fp[CAIRN_SSHKEY_FP_LEN])
{
	unsigned char seed[CAIRN_ED25519_LEN], pub[CAIRN_ED25519_LEN], other[CAIRN_ED25519_LEN];
	unsigned char s[CAIRN_ED25519_SIGLEN];
	char *msg = NULL, *b64 = NULL, *line = NULL;
	const char *k;
	json_t *v;
	cairn_buf names = CAIRN_BUF_INIT;
	int rc;

	*name = NULL;
	if ((rc = cairn_sshkey_load_private(key_path, seed, pub)) != 0)
		return rc;
	cairn_sshkey_fingerprint(pub, fp);
	json_object_foreach((json_t *)approvers, k, v) {
		if (cairn_sshkey_parse_public(json_string_value(v), other) == 0 && !memcmp(pub, other, sizeof(pub)))
			*name = k;
		cairn_buf_printf(&names, "%s%s", names.len ? ", " : "", k);
	}
	if (!*name) {
		rc = cairn_error_set(CAIRN_EINVAL, "the key %s (%s) is not one of the approvers of environment '%s' "
				     "(environments.%s.approvals.approvers: %s): nothing was approved", key_path, fp,
				     e->opts.env, e->opts.env, cairn_buf_cstr(&names));
		goto cleanup;
	}
	if (!(msg = approval_message(e->opts.env, digest))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cairn_sshkey_sign(seed, msg, strlen(msg), s)) != 0)
		goto cleanup;
	b64 = cairn_base64_encode(s, sizeof(s));
	line = cairn_sshkey_public_line(pub);
	if (!b64 || !line || !(*sig = json_pack("{s:s,s:s,s:s+}", "approver", *name, "key", line, "signature",
						 "ed25519:", b64)))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	OPENSSL_cleanse(seed, sizeof(seed));
	cairn_buf_release(&names);
	free(msg);
	free(b64);
	free(line);
	return rc;
}

int cairn_cli_approve(const cairn_engine_opts *opts, const char *path, json_t *doc, const char *key_path)
{
	cairn_engine_opts o = *opts;
	cairn_engine *e = NULL;
	json_t *forced = NULL, *who = NULL, *bad = NULL, *approvers = NULL, *sig = NULL;
	char digest[CAIRN_DIGEST_LEN], me[128], fp[CAIRN_SSHKEY_FP_LEN] = "";
	const char *author = json_string_value(json_object_get(doc, "author"));
	bool distinct = false;
	int required = 0, rc;
	int64_t rev = 0;

	o.refresh = false;
	o.log = NULL;
	if ((rc = cairn_engine_open(&e, &o)) != 0)
		goto done;
	/* only the plan as written, still current, can be approved */
	if ((rc = cairn_plan_load_saved(e, doc, path, &forced)) != 0)
		goto done;
	if (!author) {
		rc = cairn_error_set(CAIRN_EINVAL, "the saved plan %s does not say who made it (made by an older cairn): "
				     "run plan -out again", path);
		goto done;
	}
	if ((rc = cairn_guard_digest(doc, digest)) != 0)
		goto done;
	cairn_store_whoami(me, sizeof(me));
	if ((rc = plan_approvals(e, doc, &required, &distinct, &approvers)) != 0)
		goto done;
	if (approvers && !key_path) {
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' takes signed approvals only (environments.%s.approvals."
				     "approvers): cairn approve %s --key ~/.ssh/id_ed25519 (the key of an approver the stack "
				     "lists)", e->opts.env, e->opts.env, path);
		goto done;
	}
	if (!approvers && key_path) {
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' lists no approvers (environments.%s.approvals.approvers), "
				     "so its approvals are not signed: run cairn approve without --key", e->opts.env, e->opts.env);
		goto done;
	}
	if (approvers) {
		const char *name = NULL;

		/* the approver is who the stack lists with the key, not $CAIRN_USER */
		if ((rc = sign_approval(e, approvers, key_path, digest, &name, &sig, fp)) != 0)
			goto done;
		snprintf(me, sizeof(me), "%s", name);
	}
	if (distinct && !strcmp(me, author)) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s made the plan %s and cannot approve it: environment '%s' needs "
				     "the approval of someone else (environments.%s.approvals.distinct_author)", me, path,
				     e->opts.env, e->opts.env);
		goto done;
	}
	if ((rc = cairn_engine_lock(e, "approve")) != 0)
		goto done;
	if ((rc = count_approvals(e, digest, author, distinct, approvers, &who, &bad)) != 0)
		goto done;
	{
		size_t i;
		json_t *x;

		json_array_foreach(who, i, x)
			if (!strcmp(json_string_value(x), me)) {
				printf("%s has already approved the plan %s (%s) for environment '%s'.\n", me, path, digest,
				       e->opts.env);
				goto done;
			}
	}
	if ((rc = cairn_store_approve_signed(e->store, e->opts.env, digest, author, path, sig, &rev)) != 0)
		goto done;
	printf("Approved the plan %s (%s, made by %s) for environment '%s' as %s%s%s%s (revision %lld)", path, digest,
	       author, e->opts.env, me, fp[0] ? " (signed with " : "", fp, fp[0] ? ")" : "", (long long)rev);
	if (required > 0)
		printf(": %zu of %d approval%s", json_array_size(who) + 1, required, required == 1 ? "" : "s");
	printf(".\n");
done:
	json_decref(forced);
	json_decref(who);
	json_decref(bad);
	json_decref(approvers);
	json_decref(sig);
	cairn_engine_free(e);
	if (rc) {
		int x = print_error(rc);

		return x == CAIRN_EXIT_LOCKED ? x : rc == CAIRN_ESTALE || rc == CAIRN_EINVAL ? CAIRN_EXIT_APPROVAL : x;
	}
	return CAIRN_EXIT_OK;
}

/* ---------- what an apply records ---------- */

int cairn_cli_record_apply(cairn_engine *e, const json_t *summary, const json_t *findings)
{
	json_t *rv = json_object_get(summary, "rev"), *cfg = NULL, *warn = json_array(), *f;
	int64_t rev = json_integer_value(rv);
	size_t i;
	int rc = 0;

	if (!rv || !e->store) {
		json_decref(warn);
		return 0;
	}
	json_array_foreach(findings, i, f)
		if (!strcmp(json_string_value(json_object_get(f, "level")), "warn"))
			json_array_append(warn, f);
	if (json_array_size(warn))
		rc = cairn_store_rev_annotate(e->store, rev, "policy_warnings", warn);
	if (!rc && (rc = cairn_guard_config_capture(e, &cfg)) == 0)
		rc = cairn_store_config_put(e->store, e->opts.env, rev, cfg);
	json_decref(cfg);
	json_decref(warn);
	return rc;
}

/* ---------- rollback ---------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void cairn_cli_rollback_cleanup(const char *tmp)
{
	if (tmp)
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int cairn_cli_rollback_prepare(const char *state_path, const char *env, long to, const char *at, char **tmp,
			       char **stack_file, json_t **vars, long *from)
{
	cairn_store *st = NULL;
	json_t *cfg = NULL, *h = NULL, *x;
	const char *tdir = getenv("TMPDIR");
	char *dir = NULL;
	size_t i;
	int rc;

	*from = 0;
	if ((rc = cairn_store_open_existing(&st, state_path, CAIRN_STORE_READONLY)) != 0)
		return rc;
	if (!st)
		return cairn_error_set(CAIRN_ENOTFOUND, "no state at %s: nothing has been applied yet", state_path);
	if ((rc = cairn_store_config_get(st, env, to, &cfg)) != 0) {
		if (rc == CAIRN_ENOTFOUND)
			rc = cairn_error_set(CAIRN_ENOTFOUND, "revision %ld of environment '%s' has no recorded "
					     "configuration: only applies record one (see cairn state history -e %s)", to, env, env);
		goto cleanup;
	}
	if ((rc = cairn_store_history(st, env, 0, &h)) != 0)
		goto cleanup;
	json_array_foreach(h, i, x) {
		json_t *c = NULL;
		long r = (long)json_integer_value(json_object_get(x, "rev"));

		if (cairn_store_config_get(st, env, r, &c) == 0) {
			json_decref(c);
			*from = r;
			break;
		}
	}
	if (at) {
		/* a saved rollback plan: the directory it was made in, made again
		 * (the paths are part of the plan's configuration hash) */
		if (!(dir = strdup(at))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if (mkdir(dir, 0700) != 0) {
			rc = cairn_error_set(CAIRN_EIO, "cannot write the configuration of revision %ld to %s, where the "
					     "rollback plan was made: %s", to, dir, errno == EEXIST ?
					     "it exists (is this plan being applied or approved already?)" : strerror(errno));
			free(dir);
			dir = NULL;
			goto cleanup;
		}
	} else if (asprintf(&dir, "%s/cairn-rollback-XXXXXX", tdir && *tdir ? tdir : "/tmp") < 0 || !dir) {
		dir = NULL;
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	} else if (!mkdtemp(dir)) {
		rc = cairn_error_set(CAIRN_EIO, "cannot create a directory for the configuration of revision %ld: %s",
				     to, strerror(errno));
		goto cleanup;
	}
	if ((rc = cairn_guard_config_restore(cfg, dir, stack_file)) != 0) {
		cairn_cli_rollback_cleanup(dir);
		goto cleanup;
	}
	*vars = json_incref(json_object_get(cfg, "variables"));
	if (!*vars)
		*vars = json_object();
	*tmp = dir;
	dir = NULL;
cleanup:
	free(dir);
	json_decref(cfg);
	json_decref(h);
	cairn_store_free(st);
	return rc;
}

/* ---------- health checks ---------- */

/* "api, db": the names of the checks of res that failed. */
static char *failed_names(const json_t *res)
{
	cairn_buf names = CAIRN_BUF_INIT;
	const json_t *x;
	size_t i;

	cairn_buf_init(&names, 0);
	json_array_foreach(res, i, x)
		if (!json_is_true(json_object_get(x, "ok")))
			cairn_buf_printf(&names, "%s%s", names.len ? ", " : "", json_string_value(json_object_get(x, "name")));
	return cairn_buf_detach(&names);
}

/* The resources' checks, run during the apply (engine/apply.c): shown;
 * when one failed, the command exits 6 (the error, from the engine, says
 * what was rolled back) and the revision is not one to roll back to. A
 * rollout or a blue-green replacement undid what it could: no automatic
 * rollback then; a check that failed outside them stopped the apply
 * ("rollback_environment") and asks for the automatic rollback, as the
 * stack's checks do. */
static void resource_checks(cairn_engine *e, cairn_jout *jout, const json_t *summary, cairn_cli_checked *out)
{
	int64_t rev = json_integer_value(json_object_get(summary, "rev"));
	bool passed = json_is_true(json_object_get(summary, "resource_checks_passed"));
	const json_t *rb = json_object_get(summary, "rollback_environment"), *x;
	size_t i;

	if (!passed && json_array_size(rb)) {
		cairn_buf names = CAIRN_BUF_INIT;

		cairn_buf_init(&names, 0);
		json_array_foreach(rb, i, x)
			cairn_buf_printf(&names, "%s%s", names.len ? ", " : "", json_string_value(x));
		free(out->rollback);
		out->rollback = cairn_buf_detach(&names);
	}
	/* a rollout without checks: batches, nothing checked */
	if (passed && !json_array_size(json_object_get(summary, "resource_checks")))
		return;
	if (jout)
		cairn_jout_emit(jout, "resource_health_checks", passed ? "info" : "error", json_pack("{s:O,s:b}", "checks",
				json_object_get(summary, "resource_checks"), "passed", passed), "resource health checks %s",
				passed ? "passed" : "failed");
	else {
		printf("\nResource health checks:\n");
		cairn_cli_print_checks(json_object_get(summary, "resource_checks"));
	}
	if (!passed) {
		out->failed = true;
		cairn_store_rev_annotate(e->store, rev, "checks_passed", json_false());
	} else if (!e->stack->nchecks && !json_array_size(json_object_get(summary, "failed")) &&
		   !json_array_size(json_object_get(summary, "skipped"))) {
		cairn_store_rev_annotate(e->store, rev, "checks_passed", json_true());
	}
}

/* The stack's checks after an apply: shown, kept with the revision; when
 * one fails, an error that says so, and a request for the automatic
 * rollback. */
static int stack_checks(cairn_engine *e, cairn_jout *jout, const json_t *summary, cairn_cli_checked *out)
{
	json_t *res = NULL;
	bool passed = false;
	int64_t rev = json_integer_value(json_object_get(summary, "rev"));
	int rc;

	if (!jout) {
		printf("\nRunning %zu health check%s...\n", e->stack->nchecks, e->stack->nchecks == 1 ? "" : "s");
		fflush(stdout);
	}
	if ((rc = cairn_checks_run(e, &res, &passed)) != 0)
		return rc;
	if (jout)
		cairn_jout_emit(jout, "health_checks", passed ? "info" : "error", json_pack("{s:O,s:b}", "checks", res,
				"passed", passed), "health checks %s", passed ? "passed" : "failed");
	else
		cairn_cli_print_checks(res);
	cairn_store_rev_annotate(e->store, rev, "checks", res);
	cairn_store_rev_annotate(e->store, rev, "checks_passed", passed ? json_true() : json_false());
	out->results = res;
	if (passed)
		return 0;
	out->failed = true;
	free(out->rollback);
	out->rollback = failed_names(res);
	return cairn_error_set(CAIRN_ERROR, "health checks failed after revision %lld: %s", (long long)rev,
			       out->rollback ? out->rollback : "?");
}

int cairn_cli_apply_checks(cairn_engine *e, cairn_jout *jout, const json_t *summary, bool run_stack,
			   cairn_cli_checked *out)
{
	memset(out, 0, sizeof(*out));
	if (json_object_get(summary, "resource_checks"))
		resource_checks(e, jout, summary, out);
	return run_stack && e->stack->nchecks ? stack_checks(e, jout, summary, out) : 0;
}

void cairn_cli_checked_release(cairn_cli_checked *ck)
{
	free(ck->rollback);
	json_decref(ck->results);
	memset(ck, 0, sizeof(*ck));
}

void cairn_cli_print_checks(const json_t *results)
{
	size_t i;
	json_t *r;

	json_array_foreach(results, i, r) {
		int n = (int)json_integer_value(json_object_get(r, "attempts"));
		char *err = cairn_engine_escape(json_string_value(json_object_get(r, "error")) ?
						json_string_value(json_object_get(r, "error")) : "");

		const char *addr = json_string_value(json_object_get(r, "address"));

		/* a resource's check: the instance it checked first */
		if (addr)
			printf("  %-4s  %s:", json_is_true(json_object_get(r, "ok")) ? "ok" : "FAIL", addr);
		if (json_is_true(json_object_get(r, "ok")))
			printf("%s%s (%s %s, %d attempt%s, %.3fs)\n", addr ? " " : "  ok    ", json_string_value(json_object_get(r, "name")),
			       json_string_value(json_object_get(r, "kind")), json_string_value(json_object_get(r, "target")),
			       n, n == 1 ? "" : "s", json_real_value(json_object_get(r, "seconds")));
		else
			printf("%s%s (%s %s): after %d attempt%s: %s\n", addr ? " " : "  FAIL  ", json_string_value(json_object_get(r, "name")),
			       json_string_value(json_object_get(r, "kind")),
			       json_string_value(json_object_get(r, "target")) ? json_string_value(json_object_get(r, "target")) : "?",
			       n, n == 1 ? "" : "s", err ? err : "?");
		free(err);
	}
	fflush(stdout);
}

int cairn_cli_last_passed(const char *state_path, const char *env, long before, long *out)
{
	cairn_store *st = NULL;
	json_t *h = NULL, *x;
	size_t i;
	int rc;

	*out = 0;
	if ((rc = cairn_store_open(&st, state_path, CAIRN_STORE_READONLY)) != 0)
		return rc;
	if ((rc = cairn_store_history(st, env, 0, &h)) == 0)
		json_array_foreach(h, i, x) {
			long r = (long)json_integer_value(json_object_get(x, "rev"));

			if (r < before && json_is_true(json_object_get(json_object_get(x, "summary"), "checks_passed"))) {
				*out = r;
				break;
			}
		}
	json_decref(h);
	cairn_store_free(st);
	return rc;
}

/* ---------- deployment metrics ---------- */

/* The checks' samples: the stack's (labels env, check) or the resources'
 * (cairn_resource_check_*, labels env, resource, check). */
static void check_metrics(cairn_buf *b, const char *env, const json_t *checks, bool resources)
{
	static const struct {
		const char *name, *help;
	} m[] = {
		{ "success", "1 when the health check passed after the apply." },
		{ "attempts", "Attempts the health check took." },
		{ "latency_seconds", "The last attempt's latency." },
	};
	const char *prefix = resources ? "cairn_resource_check_" : "cairn_check_";
	size_t i, k;
	json_t *x;

	if (!json_array_size(checks))
		return;
	for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		cairn_buf_printf(b, "# HELP %s%s %s%s\n# TYPE %s%s gauge\n", prefix, m[k].name,
				 resources ? "A resource's health check: " : "", m[k].help, prefix, m[k].name);
		json_array_foreach(checks, i, x) {
			cairn_buf_printf(b, "%s%s{env=\"", prefix, m[k].name);
			cairn_buf_put_label(b, env);
			if (resources) {
				cairn_buf_puts(b, "\",resource=\"");
				cairn_buf_put_label(b, json_string_value(json_object_get(x, "address")));
			}
			cairn_buf_puts(b, "\",check=\"");
			cairn_buf_put_label(b, json_string_value(json_object_get(x, "name")));
			if (k == 0)
				cairn_buf_printf(b, "\"} %d\n", json_is_true(json_object_get(x, "ok")));
			else if (k == 1)
				cairn_buf_printf(b, "\"} %lld\n", (long long)json_integer_value(json_object_get(x, "attempts")));
			else
				cairn_buf_printf(b, "\"} %.6f\n", json_real_value(json_object_get(x, "seconds")));
		}
	}
}

int cairn_cli_write_deploy_metrics(const char *path, const char *env, const char *command, double seconds, bool ok,
				   const json_t *summary, const json_t *checks, int rollbacks, bool automatic)
{
	static const char *const actions[] = { "create", "update", "replace", "delete" };
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i, k;
	json_t *x;
	int rc;

	cairn_buf_printf(&b, "# HELP cairn_deploy_success 1 when the apply (or rollback) and its health checks succeeded.\n"
		"# TYPE cairn_deploy_success gauge\ncairn_deploy_success{env=\"%s\",command=\"%s\"} %d\n", env, command, ok);
	cairn_buf_printf(&b, "# HELP cairn_deploy_duration_seconds How long the command took, checks and rollback included.\n"
		"# TYPE cairn_deploy_duration_seconds gauge\ncairn_deploy_duration_seconds{env=\"%s\",command=\"%s\"} %.3f\n",
		env, command, seconds);
	cairn_buf_printf(&b, "# HELP cairn_deploy_changes Operations done by the apply, by action.\n"
		"# TYPE cairn_deploy_changes gauge\n");
	for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
		int n = 0;

		json_array_foreach(json_object_get(summary, "done"), i, x)
			if (!strcmp(json_string_value(json_object_get(x, "action")), actions[k]))
				n++;
		cairn_buf_printf(&b, "cairn_deploy_changes{env=\"%s\",action=\"%s\"} %d\n", env, actions[k], n);
	}
	cairn_buf_printf(&b, "# HELP cairn_deploy_failures Operations of the apply that failed or were skipped.\n"
		"# TYPE cairn_deploy_failures gauge\ncairn_deploy_failures{env=\"%s\"} %zu\n", env,
		json_array_size(json_object_get(summary, "failed")) + json_array_size(json_object_get(summary, "skipped")));
	cairn_buf_printf(&b, "# HELP cairn_deploy_rollbacks Rollbacks made by the command.\n"
		"# TYPE cairn_deploy_rollbacks gauge\ncairn_deploy_rollbacks{env=\"%s\",kind=\"%s\"} %d\n", env,
		automatic ? "automatic" : "requested", rollbacks);
	check_metrics(&b, env, checks, false);
	check_metrics(&b, env, json_object_get(summary, "resource_checks"), true);
	cairn_buf_printf(&b, "# HELP cairn_deploy_timestamp_seconds When the command finished.\n"
		"# TYPE cairn_deploy_timestamp_seconds gauge\ncairn_deploy_timestamp_seconds{env=\"%s\"} %lld\n", env,
		(long long)time(NULL));
	if ((rc = cairn_file_write(path, b.ptr, b.len, 0644)) != 0)
		cairn_error_prefix("cannot write the metrics");
	cairn_buf_release(&b);
	return rc;
}
