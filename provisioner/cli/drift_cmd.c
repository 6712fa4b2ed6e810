/*
 * drift_cmd.c - `cairn drift` (see docs/drift.md): flags, the text people
 * read on stdout, the report files, the exit code; and `cairn drift
 * history -e ENV`, the record the runs left in the state database.
 */
#include "drift_cmd.h"
#include "env_cmd.h"
#include "cli.h"
#include "ci.h"
#include "base/file.h"
#include "drift/drift.h"
#include "state/drift.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BLUE "\033[34m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

typedef struct drift_cli {
	cairn_drift_opts o;
	char **envs;
	size_t nenvs;
	bool all;
	char **pairs;
	size_t npairs;
	const char *json, *junit, *metrics, *html;
	bool color;
	long limit;
	bool json_stdout; /* history --json */
	char **owned;     /* names split from --parity A:B */
	size_t nowned;
	json_t *vars;
} drift_cli;

static const char drift_usage[] =
"usage: cairn drift (-e ENV [-e ENV...] | --all) [flags]\n"
"       cairn drift --parity ENV1:ENV2 [--parity ENV3:ENV4...] [flags]\n"
"       cairn drift history -e ENV [--limit N] [--json]\n"
"\n"
"Reads the environments (at the same time, without their locks) and reports, per resource:\n"
"changed outside cairn, deleted outside cairn, configuration not yet applied, and\n"
"unmanaged objects. Exit code: 0 no drift, 2 drift, 1 an environment could not be read.\n"
"\n"
"Flags:\n"
"  -e, --env ENV[,ENV...]  environments to read (repeatable)\n"
"  --all                   every environment of the stack (an overlay beside stack.yaml)\n"
"  --parity A:B            compare two environments where their configuration says they are alike\n"
"  --json FILE             the report as JSON (schema cairn.drift/1; '-' for stdout)\n"
"  --junit FILE            JUnit XML: one test suite per environment, one failing test per drifted resource\n"
"  --metrics FILE          Prometheus textfile (node_exporter's textfile collector)\n"
"  --html FILE             one self-contained HTML page\n"
"  --no-unmanaged          do not look for unmanaged objects\n"
"  --no-record             do not keep the run in the state database\n"
"  --no-env-memo           read and compare everything even when every answer is the one the last run got\n"
"  -C DIR, --stack FILE, --state FILE, --var NAME=VALUE, --parallelism N, --no-color, -v\n";

static int usage(const char *fmt, const char *arg)
{
	fputs("cairn: error: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n(run 'cairn drift --help' for usage)\n", stderr);
	return CAIRN_EXIT_ERROR;
}

static int push(char ***v, size_t *n, const char *s)
{
	char **p = realloc(*v, (*n + 1) * sizeof(char *));

	if (!p)
		return -1;
	*v = p;
	p[(*n)++] = (char *)s;
	return 0;
}

enum { D_ALL = 256, D_PARITY, D_JSON, D_JUNIT, D_METRICS, D_HTML, D_NOUNM, D_NOREC, D_STACK, D_STATE, D_VAR,
       D_PAR, D_NOCOLOR, D_LIMIT, D_NOMEMO };

static int parse_var(drift_cli *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[256];
	json_t *v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return usage("--var expects NAME=VALUE, got '%s'", arg);
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (!(v = json_loads(eq + 1, JSON_DECODE_ANY, NULL)))
		v = json_string(eq + 1);
	json_object_set_new(c->vars, name, v);
	return 0;
}

/* -e a,b,c: each name once, in the order given */
static int add_envs(drift_cli *c, char *list)
{
	char *p = list, *comma;

	for (;;) {
		size_t i;
		bool dup = false;

		if ((comma = strchr(p, ',')))
			*comma = '\0';
		if (!*p)
			return usage("-e expects environment names, got an empty one in '%s'", list);
		for (i = 0; i < c->nenvs; i++)
			dup |= !strcmp(c->envs[i], p);
		if (!dup && push(&c->envs, &c->nenvs, p))
			return -1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int parse(drift_cli *c, int argc, char **argv, bool history)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' }, { "dir", required_argument, NULL, 'C' },
		{ "all", no_argument, NULL, D_ALL }, { "parity", required_argument, NULL, D_PARITY },
		{ "json", optional_argument, NULL, D_JSON }, { "junit", required_argument, NULL, D_JUNIT },
		{ "metrics", required_argument, NULL, D_METRICS }, { "html", required_argument, NULL, D_HTML },
		{ "no-unmanaged", no_argument, NULL, D_NOUNM }, { "no-record", no_argument, NULL, D_NOREC },
		{ "no-env-memo", no_argument, NULL, D_NOMEMO },
		{ "stack", required_argument, NULL, D_STACK }, { "state", required_argument, NULL, D_STATE },
		{ "var", required_argument, NULL, D_VAR }, { "parallelism", required_argument, NULL, D_PAR },
		{ "no-color", no_argument, NULL, D_NOCOLOR }, { "limit", required_argument, NULL, D_LIMIT },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt, idx;
	long n;

	optind = 1;
	opterr = 0;
	while ((idx = -1, opt = getopt_long(argc, argv, "e:C:vh", opts, &idx)) != -1) {
		bool hist_only = opt == D_LIMIT, run_only = opt == D_ALL || opt == D_PARITY || opt == D_JUNIT ||
			opt == D_METRICS || opt == D_HTML || opt == D_NOUNM || opt == D_NOREC || opt == D_VAR || opt == D_PAR ||
			opt == D_NOMEMO;

		if ((history && run_only) || (!history && hist_only)) {
			char name[64];

			snprintf(name, sizeof(name), "--%s", idx >= 0 ? opts[idx].name : "?");
			return usage(history ? "flag %s does not apply to 'cairn drift history'" :
				     "flag %s applies to 'cairn drift history' only", name);
		}
		switch (opt) {
		case 'e':
			if (add_envs(c, optarg))
				return -1;
			break;
		case 'C': c->o.dir = optarg; break;
		case D_ALL: c->all = true; break;
		case D_PARITY:
			if (!strchr(optarg, ':') || strchr(optarg, ':') == optarg || !strchr(optarg, ':')[1])
				return usage("--parity expects two environments as A:B, got '%s'", optarg);
			if (push(&c->pairs, &c->npairs, optarg))
				return -1;
			break;
		case D_JSON:
			if (history) {
				if (optarg)
					return usage("history --json prints to stdout and takes no file ('%s')", optarg);
				c->json_stdout = true;
			} else {
				if (!optarg && optind < argc && (argv[optind][0] != '-' || !strcmp(argv[optind], "-")))
					optarg = argv[optind++];
				if (!optarg)
					return usage("%s needs a file ('-' for stdout)", "--json");
				c->json = optarg;
			}
			break;
		case D_JUNIT: c->junit = optarg; break;
		case D_METRICS: c->metrics = optarg; break;
		case D_HTML: c->html = optarg; break;
		case D_NOUNM: c->o.unmanaged = false; break;
		case D_NOREC: c->o.record = false; break;
		case D_NOMEMO: c->o.env_memo = false; break;
		case D_STACK: c->o.stack_file = optarg; break;
		case D_STATE: c->o.state_file = optarg; break;
		case D_VAR:
			if (parse_var(c, optarg))
				return -1;
			break;
		case D_PAR:
			if (cairn_cli_parse_int(optarg, 1, 10000, &n))
				return usage("--parallelism expects a number from 1 to 10000, got '%s'", optarg);
			c->o.parallelism = (int)n;
			break;
		case D_NOCOLOR: c->color = false; break;
		case D_LIMIT:
			if (cairn_cli_parse_int(optarg, 1, LONG_MAX, &c->limit))
				return usage("--limit expects a positive number, got '%s'", optarg);
			break;
		case 'v': c->o.verbose = true; break;
		case 'h':
			fputs(drift_usage, stdout);
			exit(0);
		case ':':
			return usage("flag %s needs a value", argv[optind - 1]);
		default:
			return usage("unknown flag '%s' for 'cairn drift'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("unexpected argument '%s' for 'cairn drift'", argv[optind]);
	return 0;
}

/* ---- the text on stdout ---- */

static const char *col(const drift_cli *c, const char *code)
{
	return c->color ? code : "";
}

static const char *s_of(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static void print_value(const json_t *v, bool sensitive)
{
	char *r;

	if (sensitive && json_is_string(v)) {
		fputs(json_string_value(v), stdout); /* "(sensitive)", as plans show it */
		return;
	}
	r = cairn_value_render(v ? v : json_null());

	fputs(r ? r : "?", stdout);
	free(r);
}

static void print_when(json_int_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char when[40];

	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fputs(when, stdout);
}

static const char *heading(const json_t *f)
{
	const char *k = s_of(f, "kind");

	if (!strcmp(k, "changed"))
		return "changed outside cairn";
	if (!strcmp(k, "deleted"))
		return "deleted outside cairn";
	if (!strcmp(k, "unapplied"))
		return "configuration not yet applied";
	if (!strcmp(k, "unmanaged"))
		return "unmanaged";
	return k;
}

static void print_rule(const char *what, const json_t *ig)
{
	printf(" [%s: %s (%s%s%s)]", what, s_of(ig, "reason"), s_of(ig, "rule"),
	       json_object_get(ig, "expires") ? ", expires " : "", s_of(ig, "expires"));
}

/* One resource's findings of one kind (consecutive in the list). */
static size_t print_group(const drift_cli *c, const json_t *findings, size_t i, bool ignored)
{
	const json_t *f = json_array_get(findings, i);
	const char *kind = s_of(f, "kind"), *addr = json_string_value(json_object_get(f, "address"));
	const char *sign = !strcmp(kind, "changed") ? "~" : !strcmp(kind, "deleted") ? "-" :
			   !strcmp(kind, "unapplied") ? "+" : "?";
	const char *color = !strcmp(kind, "deleted") ? C_RED : !strcmp(kind, "unapplied") ? C_BLUE : C_YELLOW;
	size_t j = i;

	printf("  %s%s%s ", col(c, ignored ? "" : color), ignored ? "=" : sign, col(c, ignored ? "" : C_RESET));
	if (addr)
		printf("%s%s%s (%s%s%s): %s", col(c, C_BOLD), addr, col(c, C_RESET), s_of(f, "type"),
		       json_object_get(f, "id") ? " " : "", s_of(f, "id"), heading(f));
	else
		printf("%s%s %s%s: unmanaged: %s", col(c, C_BOLD), s_of(f, "type"), s_of(f, "id"), col(c, C_RESET),
		       s_of(f, "reason"));
	if (!strcmp(kind, "unapplied"))
		printf(" (%s)", s_of(f, "action"));
	if (!strcmp(kind, "unapplied") && !json_object_get(f, "attribute"))
		printf(": %s", s_of(f, "reason"));
	if (!json_object_get(f, "attribute") && json_object_get(f, "ignored"))
		print_rule("ignored", json_object_get(f, "ignored"));
	if (!json_object_get(f, "attribute") && json_object_get(f, "ignore_expired"))
		print_rule("an ignore rule expired", json_object_get(f, "ignore_expired"));
	fputc('\n', stdout);
	for (; j < json_array_size(findings); j++) {
		const json_t *g = json_array_get(findings, j);
		const char *ga = json_string_value(json_object_get(g, "address"));
		bool gi = json_object_get(g, "ignored") != NULL;

		if (strcmp(s_of(g, "kind"), kind) || (ga && addr ? strcmp(ga, addr) : ga != addr) || gi != ignored ||
		    (!addr && strcmp(s_of(g, "id"), s_of(f, "id"))))
			break;
		if (!json_object_get(g, "attribute"))
			continue;
		printf("      %s: recorded ", s_of(g, "attribute"));
		print_value(json_object_get(g, "recorded"), json_is_true(json_object_get(g, "sensitive")));
		printf(!strcmp(kind, "changed") ? ", actual " : ", desired ");
		print_value(json_object_get(g, !strcmp(kind, "changed") ? "actual" : "desired"),
			    json_is_true(json_object_get(g, "sensitive")));
		if (json_is_true(json_object_get(g, "forces_replacement")))
			printf(" (forces replacement)");
		if (gi)
			print_rule("ignored", json_object_get(g, "ignored"));
		else if (json_object_get(g, "ignore_expired"))
			print_rule("an ignore rule expired", json_object_get(g, "ignore_expired"));
		fputc('\n', stdout);
	}
	return j > i ? j : i + 1;
}

static void print_env(const drift_cli *c, const json_t *x)
{
	const char *st = s_of(x, "status");
	const json_t *cov = json_object_get(x, "coverage"), *cnt = json_object_get(x, "counts");
	const json_t *findings = json_object_get(x, "findings");
	size_t i, nign = (size_t)json_integer_value(json_object_get(cnt, "ignored"));

	printf("%s%s%s: ", col(c, C_BOLD), s_of(x, "name"), col(c, C_RESET));
	if (!strcmp(st, "applying")) {
		const json_t *l = json_object_get(x, "lock");

		printf("%snot read%s: an %s by %s (pid %lld on %s) holds its lock since ", col(c, C_BLUE), col(c, C_RESET),
		       s_of(l, "operation"), s_of(l, "holder"), (long long)json_integer_value(json_object_get(l, "pid")),
		       s_of(l, "host"));
		print_when(json_integer_value(json_object_get(l, "since")));
		printf("; it is reported when no run holds the lock\n\n");
		return;
	}
	if (!strcmp(st, "error"))
		printf("%serror%s: %s\n", col(c, C_RED), col(c, C_RESET), s_of(x, "error"));
	else if (!strcmp(st, "clean"))
		printf("%sno drift%s.", col(c, C_GREEN), col(c, C_RESET));
	else
		printf("%sdrift%s: %lld changed, %lld deleted, %lld not applied, %lld unmanaged.", col(c, C_YELLOW),
		       col(c, C_RESET), (long long)json_integer_value(json_object_get(cnt, "changed")),
		       (long long)json_integer_value(json_object_get(cnt, "deleted")),
		       (long long)json_integer_value(json_object_get(cnt, "unapplied")),
		       (long long)json_integer_value(json_object_get(cnt, "unmanaged")));
	if (cov)
		printf("%s%lld resources; coverage %lld managed / %lld seen (%.1f%%)%s.\n", !strcmp(st, "error") ? "  " : " ",
		       (long long)json_integer_value(json_object_get(x, "resources")),
		       (long long)json_integer_value(json_object_get(cov, "managed")),
		       (long long)json_integer_value(json_object_get(cov, "seen")),
		       100 * json_number_value(json_object_get(cov, "ratio")), nign ? "" : "");
	else if (strcmp(st, "error"))
		fputc('\n', stdout);
	if (json_object_get(x, "pending_operations"))
		printf("  note: %lld operation(s) of an earlier run (interrupted or failed) are pending; the next apply reconciles them\n",
		       (long long)json_integer_value(json_object_get(x, "pending_operations")));
	for (i = 0; i < json_array_size(findings);) {
		const json_t *f = json_array_get(findings, i);

		if (json_object_get(f, "ignored")) {
			i++;
			continue;
		}
		i = print_group(c, findings, i, false);
	}
	if (nign) {
		printf("  ignored by the stack's rules (%zu, not drift):\n", nign);
		for (i = 0; i < json_array_size(findings);) {
			if (!json_object_get(json_array_get(findings, i), "ignored")) {
				i++;
				continue;
			}
			i = print_group(c, findings, i, true);
		}
	}
	if (json_array_size(json_object_get(x, "resolved")))
		printf("  resolved since the last run: %zu finding(s)\n", json_array_size(json_object_get(x, "resolved")));
	fputc('\n', stdout);
}

static void print_parity(const drift_cli *c, const json_t *p)
{
	const json_t *cnt = json_object_get(p, "counts"), *f;
	size_t i;

	printf("%sparity %s%s: ", col(c, C_BOLD), s_of(p, "pair"), col(c, C_RESET));
	if (!strcmp(s_of(p, "status"), "error") || !strcmp(s_of(p, "status"), "applying")) {
		printf("%s%s%s: %s\n\n", col(c, C_RED), s_of(p, "status"), col(c, C_RESET), s_of(p, "error"));
		return;
	}
	printf("%s%s%s: %lld finding(s), %lld difference(s) explained by the configuration, %lld attribute(s) compared.\n",
	       col(c, !strcmp(s_of(p, "status"), "same") ? C_GREEN : C_YELLOW),
	       !strcmp(s_of(p, "status"), "same") ? "alike" : "they differ", col(c, C_RESET),
	       (long long)json_integer_value(json_object_get(cnt, "findings")),
	       (long long)json_integer_value(json_object_get(cnt, "explained")),
	       (long long)json_integer_value(json_object_get(cnt, "compared")));
	json_array_foreach(json_object_get(p, "findings"), i, f) {
		const json_t *vals = json_object_get(f, "values");
		const char *k;
		json_t *v;

		printf("  %s %s%s%s", json_object_get(f, "ignored") ? "=" : "!", s_of(f, "address"),
		       json_object_get(f, "attribute") ? " " : "", s_of(f, "attribute"));
		json_object_foreach((json_t *)vals, k, v) {
			printf(" %s ", k);
			if (json_object_get(f, "attribute"))
				print_value(v, json_is_true(json_object_get(f, "sensitive")));
			else
				fputs(json_string_value(v) ? json_string_value(v) : "?", stdout);
			fputc(';', stdout);
		}
		printf(" %s", s_of(f, "reason"));
		if (json_object_get(f, "ignored"))
			print_rule("ignored", json_object_get(f, "ignored"));
		fputc('\n', stdout);
	}
	fputc('\n', stdout);
}

static void print_run(const drift_cli *c, const json_t *doc)
{
	size_t i, n[4] = { 0 };
	static const char *const sts[] = { "drift", "clean", "applying", "error" };
	json_t *x;

	printf("Drift of stack '%s', ", s_of(doc, "stack"));
	print_when(json_integer_value(json_object_get(doc, "started_at")));
	printf(" (%.2f s)\n\n", json_number_value(json_object_get(doc, "duration_s")));
	json_array_foreach(json_object_get(doc, "environments"), i, x) {
		size_t k;

		print_env(c, x);
		for (k = 0; k < 4; k++)
			if (!strcmp(s_of(x, "status"), sts[k]))
				n[k]++;
	}
	json_array_foreach(json_object_get(doc, "parity"), i, x)
		print_parity(c, x);
	if (json_array_size(json_object_get(doc, "environments")))
		printf("Summary: %zu with drift, %zu without, %zu not read (applying), %zu could not be read.\n",
		       n[0], n[1], n[2], n[3]);
}

/* ---- report files ---- */

static int write_report(const char *path, const json_t *doc, int (*fn)(const json_t *, cairn_buf *), const char *what)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc = fn(doc, &b);

	if (!rc) {
		if (!strcmp(path, "-")) {
			fputs(cairn_buf_cstr(&b), stdout);
		} else if ((rc = cairn_file_write(path, b.ptr ? b.ptr : "", b.len, 0644)) != 0) {
			cairn_error_prefix("cannot write the %s report", what);
		}
	}
	cairn_buf_release(&b);
	return rc;
}

static int report_error(int rc)
{
	const cairn_error *e = cairn_error_last();
	char msg[4096];

	if (rc == 0)
		return 0;
	cairn_error_format(e, msg, sizeof(msg));
	fprintf(stderr, "cairn: error: %s\n", msg);
	return CAIRN_EXIT_ERROR;
}

static int state_path(drift_cli *c, char **out);

static int run_drift(drift_cli *c)
{
	cairn_drift_run *r = NULL;
	char **all = NULL;
	size_t nall = 0, i;
	json_t *doc;
	int rc = 0, code;
	struct { const char *path; int (*fn)(const json_t *, cairn_buf *); const char *what; } reports[] = {
		{ c->json, cairn_drift_report_json, "JSON" }, { c->junit, cairn_drift_report_junit, "JUnit" },
		{ c->metrics, cairn_drift_report_metrics, "metrics" }, { c->html, cairn_drift_report_html, "HTML" },
	};

	if (c->npairs && (c->nenvs || c->all))
		return usage("%s: --parity compares the two environments it names; it does not take -e or --all",
			     "cairn drift");
	if (!c->npairs && !c->nenvs && !c->all) {
		const char *env = getenv("CAIRN_ENV");

		if (!env || !*env)
			return usage("%s", "no environment given: use -e ENV, --all or --parity A:B");
		if (add_envs(c, (char *)env))
			return CAIRN_EXIT_ERROR;
	}
	if (c->all && c->nenvs)
		return usage("%s", "-e and --all do not go together");
	/* before any work: the report paths must be writable */
	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++)
		if (reports[i].path && strcmp(reports[i].path, "-") && (rc = cairn_file_check_writable(reports[i].path)) != 0) {
			cairn_error_prefix("cannot write the %s report", reports[i].what);
			return report_error(rc);
		}
	if (c->all) {
		char *sp = NULL;
		bool checked = false;

		if ((rc = cairn_drift_all_envs(&c->o, &all, &nall)) != 0)
			return report_error(rc);
		/* and the ephemeral environments (env_cmd.h) */
		if ((rc = state_path(c, &sp)) == 0)
			rc = cairn_cli_env_add_ephemeral(sp, &all, &nall, &checked);
		if (checked && push(&c->owned, &c->nowned, sp) == 0)
			c->o.checked_state = sp;
		else
			free(sp);
		if (rc) {
			cairn_env_list_free(all, nall);
			return report_error(rc);
		}
		if (nall == 0) {
			cairn_env_list_free(all, nall);
			return usage("%s", "--all: the stack has no environment (no ENV.yaml beside stack.yaml)");
		}
		c->o.envs = all;
		c->o.nenvs = nall;
	} else if (c->npairs) {
		for (i = 0; i < c->npairs; i++) {
			char *colon = strchr(c->pairs[i], ':');

			char *a = strndup(c->pairs[i], (size_t)(colon - c->pairs[i])), *b = strdup(colon + 1);

			if (!a || !b || push(&c->owned, &c->nowned, a) || push(&c->owned, &c->nowned, b)) {
				free(a);
				free(b);
				return report_error(cairn_error_set(CAIRN_ENOMEM, "out of memory"));
			}
			if (!strcmp(a, b))
				return usage("--parity compares two different environments, got '%s' twice", b);
			if (add_envs(c, a) || add_envs(c, b))
				return CAIRN_EXIT_ERROR;
		}
		c->o.envs = c->envs;
		c->o.nenvs = c->nenvs;
		c->o.unmanaged = false;
		c->o.record = false;
		c->o.parity = true;
	} else {
		c->o.envs = c->envs;
		c->o.nenvs = c->nenvs;
	}
	c->o.var_overrides = json_object_size(c->vars) ? c->vars : NULL;
	if ((rc = cairn_drift_run_new(&r, &c->o)) != 0)
		goto done;
	for (i = 0; i < c->npairs; i++) {
		char *colon = strchr(c->pairs[i], ':');

		*colon = '\0';
		rc = cairn_drift_parity(r, c->pairs[i], colon + 1);
		*colon = ':';
		if (rc)
			goto done;
	}
	if (c->o.record && (rc = cairn_drift_record(r)) != 0)
		goto done;
	doc = cairn_drift_doc(r);
	/* parity reports the comparisons alone: each environment's own drift is 'cairn drift -e' */
	if (c->npairs)
		json_object_set_new(doc, "environments", json_array());
	if (!c->json || strcmp(c->json, "-"))
		print_run(c, doc);
	fflush(stdout);
	for (i = 0; i < sizeof(reports) / sizeof(reports[0]) && !rc; i++)
		if (reports[i].path)
			rc = write_report(reports[i].path, doc, reports[i].fn, reports[i].what);
done:
	code = rc ? report_error(rc) : cairn_drift_exit_code(cairn_drift_doc(r));
	cairn_drift_run_free(r);
	cairn_env_list_free(all, nall);
	return code;
}

/* ---- history ---- */

/* *out: the state to use (malloc'd): --state, else $CAIRN_STATE_URL, else
 * the stack file's state: key, else STACKDIR/.cairn/state.db. */
static int state_path(drift_cli *c, char **out)
{
	return cairn_cli_state_path(c->o.state_file, c->o.stack_file, c->o.dir, out);
}

static void print_history(const drift_cli *c, const char *env, const json_t *h)
{
	const json_t *x;
	size_t i, open = 0;

	printf("Drift record of environment '%s'\n\nRuns (newest first):\n", env);
	if (!json_array_size(json_object_get(h, "runs")))
		printf("  none: run 'cairn drift -e %s'\n", env);
	json_array_foreach(json_object_get(h, "runs"), i, x) {
		const json_t *cnt = json_object_get(json_object_get(x, "summary"), "counts");

		printf("  run %lld  ", (long long)json_integer_value(json_object_get(x, "id")));
		print_when(json_integer_value(json_object_get(x, "started_at")));
		printf("  %-8s %.2f s by %s@%s", s_of(x, "status"), json_number_value(json_object_get(x, "duration_s")),
		       s_of(x, "who"), s_of(x, "host"));
		if (cnt)
			printf(": %lld changed, %lld deleted, %lld not applied, %lld unmanaged, %lld ignored",
			       (long long)json_integer_value(json_object_get(cnt, "changed")),
			       (long long)json_integer_value(json_object_get(cnt, "deleted")),
			       (long long)json_integer_value(json_object_get(cnt, "unapplied")),
			       (long long)json_integer_value(json_object_get(cnt, "unmanaged")),
			       (long long)json_integer_value(json_object_get(cnt, "ignored")));
		fputc('\n', stdout);
	}
	printf("\nFindings (open first):\n");
	if (!json_array_size(json_object_get(h, "findings")))
		printf("  none\n");
	json_array_foreach(json_object_get(h, "findings"), i, x) {
		cairn_buf d = CAIRN_BUF_INIT;
		bool resolved = !json_is_null(json_object_get(x, "resolved_at"));

		if (!resolved)
			open++;
		cairn_drift_describe(json_object_get(x, "detail"), &d);
		printf("  %s%-8s%s ", col(c, resolved ? C_GREEN : C_YELLOW), resolved ? "resolved" : "open", col(c, C_RESET));
		if (!json_is_null(json_object_get(x, "address")))
			printf("%s: ", s_of(x, "address"));
		printf("%s\n           first seen ", cairn_buf_cstr(&d));
		print_when(json_integer_value(json_object_get(x, "first_seen")));
		printf(" (run %lld), last seen ", (long long)json_integer_value(json_object_get(x, "first_run")));
		print_when(json_integer_value(json_object_get(x, "last_seen")));
		printf(" (run %lld)", (long long)json_integer_value(json_object_get(x, "last_run")));
		if (resolved) {
			printf(", resolved ");
			print_when(json_integer_value(json_object_get(x, "resolved_at")));
			printf(" (run %lld)", (long long)json_integer_value(json_object_get(x, "resolved_run")));
		}
		fputc('\n', stdout);
		cairn_buf_release(&d);
	}
	(void)open;
}

static int run_history(drift_cli *c)
{
	cairn_store *st = NULL;
	json_t *h = NULL;
	char *path;
	struct stat sb;
	int rc;

	if (c->nenvs != 1)
		return usage("%s", "usage: cairn drift history -e ENV [--limit N] [--json]");
	if (!cairn_env_name_valid(c->envs[0]))
		return usage("invalid environment name '%s'", c->envs[0]);
	if ((rc = state_path(c, &path)) != 0)
		return report_error(rc);
	if (!cairn_store_is_url(path) && stat(path, &sb) != 0) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no state at %s: no drift run has been recorded", path);
		free(path);
		return report_error(rc);
	}
	/* a writer: an older database gets the drift tables first */
	rc = cairn_store_open(&st, path, CAIRN_STORE_CREATE);
	free(path);
	if (!rc)
		rc = cairn_store_drift_history(st, c->envs[0], (size_t)c->limit, &h);
	if (!rc) {
		if (c->json_stdout) {
			json_dumpf(h, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
		} else {
			print_history(c, c->envs[0], h);
		}
	}
	json_decref(h);
	cairn_store_free(st);
	return report_error(rc);
}

int cairn_cli_drift(int argc, char **argv)
{
	drift_cli c;
	bool history = argc >= 2 && !strcmp(argv[1], "history");
	int rc;

	memset(&c, 0, sizeof(c));
	c.o.dir = ".";
	c.o.parallelism = 10;
	c.o.unmanaged = true;
	c.o.record = true;
	c.o.env_memo = true;
	c.o.log = stderr;
	c.color = cairn_cli_color();
	c.vars = json_object();
	if (history)
		rc = parse(&c, argc - 1, argv + 1, true) ? CAIRN_EXIT_ERROR : run_history(&c);
	else
		rc = parse(&c, argc, argv, false) ? CAIRN_EXIT_ERROR : run_drift(&c);
	json_decref(c.vars);
	for (size_t i = 0; i < c.nowned; i++)
		free(c.owned[i]);
	free(c.owned);
	free(c.envs);
	free(c.pairs);
	return rc;
}
