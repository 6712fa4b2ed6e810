/*
 * test_config_guard.c - the stack's guardrail sections (config_envs.c,
 * config_checks.c): environments: with its accessors, checks: with its
 * defaults, and every refusal with its file:line:col.
 */
#include "t.h"
#include "lang/config.h"

#include <stdio.h>
#include <unistd.h>

static char path_[64];

/* Load a stack with this text: 0 and *out, or the error. */
static int load(const char *yaml, cairn_stack **out)
{
	FILE *f;
	int fd, rc;

	snprintf(path_, sizeof(path_), "/tmp/cairn-guard-XXXXXX");
	if ((fd = mkstemp(path_)) < 0 || !(f = fdopen(fd, "w")))
		abort();
	fputs(yaml, f);
	fclose(f);
	*out = NULL;
	rc = cairn_stack_load(out, path_);
	unlink(path_);
	return rc;
}

/* The error's message and its line:col ("6:34: message"). */
static const char *err_at(const char *yaml)
{
	static char buf[2200];
	cairn_stack *s = NULL;
	const cairn_error *e;

	if (load(yaml, &s) == 0) {
		cairn_stack_free(s);
		return "ok";
	}
	e = cairn_error_last();
	snprintf(buf, sizeof(buf), "%d:%d: %s", e->line, e->col, e->message);
	return buf;
}

static void test_config_guard__environments(void)
{
	cairn_stack *s = NULL;
	int required = -1;
	bool distinct = true;

	T_OK(load("environments:\n"
		  "  prod: { protected: true, approvals: { required: 2, distinct_author: true } }\n"
		  "  staging: { approvals: { required: 1 } }\n"
		  "  dev: {}\n", &s));
	T_CHECK(cairn_config_env_protected(s, "prod"));
	T_CHECK(!cairn_config_env_protected(s, "staging"));
	T_OK(cairn_config_env_approvals(s, "prod", &required, &distinct));
	T_EQ_INT(required, 2);
	T_CHECK(distinct);
	T_OK(cairn_config_env_approvals(s, "staging", &required, &distinct));
	T_EQ_INT(required, 1);
	T_CHECK(!distinct);
	T_OK(cairn_config_env_approvals(s, "nosuch", &required, &distinct));
	T_EQ_INT(required, 0);
	cairn_stack_free(s);
	/* none at all */
	T_OK(load("resources: {}\n", &s));
	T_CHECK(!cairn_config_env_protected(s, "prod"));
	cairn_stack_free(s);
}

static void test_config_guard__environments_refused(void)
{
	T_EQ_STR(err_at("environments: [prod]\n"), "1:15: environments must be a mapping of environment names to "
		 "their settings (protected, approvals)");
	T_EQ_STR(err_at("environments:\n  Prod: {}\n"), "2:3: invalid environment name 'Prod' in environments (use "
		 "lowercase letters, digits, - and _)");
	T_EQ_STR(err_at("environments:\n  prod: { protect: true }\n"), "2:11: unknown key 'protect' in "
		 "environments.prod (protected, approvals)");
	T_EQ_STR(err_at("environments:\n  prod: { protected: yes please }\n"), "2:22: environments.prod.protected "
		 "must be true or false");
	T_EQ_STR(err_at("environments:\n  prod: { approvals: { required: 101 } }\n"), "2:34: environments.prod."
		 "approvals.required must be a whole number from 1 to 100, got 101");
	T_EQ_STR(err_at("environments:\n  prod: { approvals: { required: \"2\" } }\n"), "2:34: environments.prod."
		 "approvals.required must be a whole number from 1 to 100");
	T_EQ_STR(err_at("environments:\n  prod: { approvals: { required: 1, who: me } }\n"), "2:37: unknown key 'who' "
		 "in environments.prod.approvals (required, distinct_author, approvers)");
	T_EQ_STR(err_at("environments:\n  prod: { approvals: { required: 1, approvers: [a] } }\n"), "2:48: environments."
		 "prod.approvals.approvers must be a mapping of approvers' names to their Ed25519 public keys "
		 "(name: \"ssh-ed25519 AAAA...\")");
	T_EQ_STR(err_at("environments:\n  prod: { approvals: { required: 1, approvers: { a: ssh-rsa AAAA } } }\n"),
		 "2:53: environments.prod.approvals.approvers.a: not an Ed25519 public key: it starts with 'ssh-rsa', "
		 "not 'ssh-ed25519' (only Ed25519 keys sign approvals)");
}

static void test_config_guard__checks(void)
{
	cairn_stack *s = NULL;

	T_OK(load("checks:\n"
		  "  - { name: api, http: { url: \"http://x/${var.a}\" } }\n"
		  "  - { name: db, tcp: { host: x, port: 5432 }, retries: 0, interval: 1m, deadline: 90 }\n"
		  "  - { name: app, ssh: { host: web, command: \"true\" } }\n", &s));
	T_EQ_INT(s->nchecks, 3);
	T_EQ_STR(s->checks[0].name, "api");
	T_EQ_INT(s->checks[0].kind, CAIRN_CHECK_HTTP);
	T_EQ_INT(s->checks[0].retries, 3);
	T_CHECK(s->checks[0].interval == 2 && s->checks[0].deadline == 60);
	T_EQ_INT(s->checks[1].kind, CAIRN_CHECK_TCP);
	T_EQ_INT(s->checks[1].retries, 0);
	T_CHECK(s->checks[1].interval == 60 && s->checks[1].deadline == 90);
	T_EQ_INT(s->checks[2].kind, CAIRN_CHECK_SSH);
	T_EQ_INT(s->checks[2].pos.line, 4);
	cairn_stack_free(s);
}

static void test_config_guard__checks_refused(void)
{
	T_EQ_STR(err_at("checks: { name: x }\n"), "1:9: checks must be a list of checks ({name, http, tcp, ssh or "
		 "module, retries, interval, deadline})");
	T_EQ_STR(err_at("checks:\n  - { http: { url: x } }\n"), "2:5: checks[0] needs a name (letters, digits, _ and -)");
	T_EQ_STR(err_at("checks:\n  - { name: a, tcp: { host: x } }\n"), "2:21: check 'a' needs tcp.port");
	T_EQ_STR(err_at("checks:\n  - { name: a }\n"), "2:5: check 'a' needs exactly one of http: {url, status, body}, "
		 "tcp: {host, port}, ssh: {host, command} and module: {expect}");
	/* a module check asks a resource's module: never the stack's */
	T_EQ_STR(err_at("checks:\n  - { name: a, module: { expect: available } }\n"), "2:24: check 'a': a module check "
		 "asks a resource's module for its object's status: it belongs in that resource's checks:");
	T_EQ_STR(err_at("resources:\n  db:\n    type: aws.db_instance\n    checks:\n      - { name: a, module: { expect: 3 } }\n"),
		 "5:38: check 'a': module.expect must be a status (a string, like available) or a list of them");
	T_EQ_STR(err_at("resources:\n  db:\n    type: aws.db_instance\n    checks:\n      - { name: a, module: { want: x } }\n"),
		 "5:30: unknown key 'want' in check 'a' (expect)");
	T_EQ_STR(err_at("checks:\n  - { name: a, ssh: { host: x, command: y, user: z } }\n"), "2:44: unknown key 'user' "
		 "in check 'a' (host, command)");
	T_EQ_STR(err_at("checks:\n  - { name: a, tcp: { host: x, port: 1 }, retries: -1 }\n"), "2:52: check 'a': retries "
		 "must be a whole number from 0 to 100");
	T_EQ_STR(err_at("checks:\n  - { name: a, tcp: { host: x, port: 1 }, deadline: 2d }\n"), "2:53: deadline must be "
		 "a duration like 2s or 1m (at most 24h)");
	T_EQ_STR(err_at("checks:\n  - { name: a, tcp: { host: x, port: 1 } }\n  - { name: a, tcp: { host: x, port: 1 } }\n"),
		 "3:13: two checks are named 'a'");
}

static const t_case cases[] = {
	T_CASE(test_config_guard__environments),
	T_CASE(test_config_guard__environments_refused),
	T_CASE(test_config_guard__checks),
	T_CASE(test_config_guard__checks_refused),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
