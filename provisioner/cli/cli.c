/*
 * cli.c - the cairn commands (see cli.h and the README).
 *
 * Every command parses its flags, builds an engine (engine.h) or opens the
 * state store directly, and prints. Errors are printed once, here, as
 * "cairn: error: FILE:LINE:COL: message", with secrets redacted.
 */
#include "cli.h"
#include "base/value.h"
#include "render.h"
#include "drift_cmd.h"
#include "ci.h"
#include "json_run.h"
#include "progress.h"
#include "guard_cmd.h"
#include "engine/policy.h"
#include "engine/checks.h"
#include "state/approvals.h"
#include "env_cmd.h"
#include "base/file.h"
#include "sim/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	FL_ENV = 1 << 0, FL_PLAN = 1 << 1, FL_APPROVE = 1 << 2, FL_JSON = 1 << 3, FL_OUT = 1 << 4,
	FL_DETAILED = 1 << 5, FL_TARGET = 1 << 6, FL_REFRESH = 1 << 7, FL_DESTROY = 1 << 8,
	FL_LOCK = 1 << 9, FL_SENSITIVE = 1 << 10, FL_VARS = 1 << 11, FL_LIMIT = 1 << 12, FL_METRICS = 1 << 13,
	FL_KEY = 1 << 14,
};

typedef struct cli {
	const char *cmd;
	const char *dir;
	const char *stack;
	const char *state;
	const char *env;
	bool env_given;     /* -e on the command line (not just $CAIRN_ENV) */
	json_t *vars;
	int parallelism;
	double lock_timeout;
	int lease;
	bool refresh;
	const char *out;
	bool json;
	bool detailed;
	bool auto_approve;
	bool destroy;
	bool color;
	bool verbose;
	bool show_sensitive;
	bool accept_new_keys;  /* --accept-new-host-keys */
	bool refresh_only;  /* apply --refresh-only (refresh_only.c) */
	long limit;
	char **targets, **excludes;  /* canonical addresses, owned */
	size_t ntargets, nexcludes;
	char **args;
	int nargs;
	cairn_engine *engine; /* for redaction of errors */
	cairn_jout *jout;     /* plan / apply / destroy --json: the stream, or NULL */
	double commit_s;      /* CAIRN_STATS: COMMIT time of an apply, or < 0 */
	const char *label;    /* the revision's command (rollback), or NULL */
	const char *policy_dir; /* the policies to run (rollback: the stack's current ones), or NULL */
	int guard_exit;       /* CAIRN_EXIT_POLICY / _APPROVAL / _CHECKS when a guardrail refused */
	const char *metrics;  /* --metrics FILE (apply, rollback) */
	const char *key;      /* approve --key PATH: the approver's Ed25519 private key */
	bool nested;          /* inside the automatic rollback of a run_apply */
	long failed_rev;      /* the revision whose checks failed, or 0 */
	char *failed_checks;  /* their names, for the automatic rollback's label */
	double m_start;       /* metrics: when the command started */
	json_t *m_summary;    /* metrics: the apply's summary */
	json_t *m_checks;     /* metrics: its check results */
	int m_rollbacks;      /* metrics: rollbacks made (automatic or asked for) */
	bool m_auto;          /* metrics: the rollback was automatic */
	json_t *plan_extra;   /* rollback -out: the members a saved plan gets besides the plan ("rollback") */
	char *rb_tmp;         /* apply / approve of a saved rollback plan: its configuration, written back */
	char *rb_stack, *rb_state, *rb_label, *rb_pdir; /* and what it sets in c (owned) */
} cli;

static int rollback_to(cli *c, long to, const char *why);
static int state_path(cli *c, char **out);

/* ---------- printing ---------- */

static int report(cli *c, int rc)
{
	const cairn_error *e = cairn_error_last();
	char msg[4096];
	char *red;

	if (rc == 0)
		return CAIRN_EXIT_OK;
	cairn_error_format(e, msg, sizeof(msg));
	red = cairn_engine_redact(c ? c->engine : NULL, msg);
	fprintf(stderr, "cairn: error: %s\n", red ? red : msg);
	free(red);
	if (c && c->jout) {
		/* the message without its position, which the diagnostic has apart */
		red = cairn_engine_redact(c->engine, e ? e->message : "unknown error");
		cairn_jout_diagnostic(c->jout, "error", e, red ? red : "(error text withheld)");
		free(red);
	}
	return rc == CAIRN_ELOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_ERROR;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("cairn: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run 'cairn help' for usage)\n", stderr);
	return CAIRN_EXIT_ERROR;
}

static const char usage_text[] =
"usage: cairn COMMAND [flags]\n"
"\n"
"Commands:\n"
"  validate  -e ENV            check the stack and the environment's overlay\n"
"  plan      -e ENV            show what apply would change\n"
"            [-out FILE] [--json] [--detailed-exitcode] [--destroy]\n"
"            [--target ADDR]... [--exclude ADDR]... [--refresh=false]\n"
"  apply     -e ENV [--auto-approve] [--metrics FILE] [plan flags]   make it so\n"
"  apply     [--auto-approve] FILE                   apply a saved plan\n"
"            [--json]: JSON lines on stdout, never asks (needs --auto-approve or FILE)\n"
"  apply     -e ENV --refresh-only [--auto-approve]  accept what exists into the state\n"
"  destroy   -e ENV [--auto-approve] [--target ADDR]... [--json]\n"
"  import    -e ENV ADDR ID    take an existing object under management\n"
"  graph     -e ENV            print the resource graph as DOT\n"
"  output    -e ENV [NAME] [--json] [--show-sensitive]\n"
"  state     list|show ADDR|rm ADDR...|mv FROM TO|history  -e ENV\n"
"  state     migrate --to URL|FILE  copy the whole state (all environments, history) to\n"
"            PostgreSQL or a file, verified; refused while any environment is locked\n"
"  lock      status|force-unlock -e ENV\n"
"  drift     -e ENV[,ENV...] | --all | --parity A:B   drift, unmanaged objects, parity\n"
"            [--json FILE] [--junit FILE] [--metrics FILE] [--html FILE]; drift history -e ENV\n"
"  policy    test [-C DIR] [TEST...]   run the policies on saved plans, compare the findings\n"
"  approve   PLANFILE [--key PATH]   approve a saved plan for its environment (environments.ENV.approvals);\n"
"            --key: the approver's Ed25519 private key, where the stack lists approvers\n"
"  rollback  -e ENV --to REV [--auto-approve]   plan and apply the configuration of revision REV\n"
"  rollback  -e ENV --to REV -out FILE   save it as a plan instead (to approve, then cairn apply FILE)\n"
"  env       list [--json] | create NAME --from BASE [--ttl 4h] [--var K=V]... [--plan-only]\n"
"            | extend NAME --ttl 2h | destroy NAME | gc     ephemeral environments\n"
"  sim       [--listen ADDR:PORT] [--db FILE] ...   the local AWS-compatible cloud\n"
"  version\n"
"\n"
"Common flags:\n"
"  -C DIR                 stack directory (default .; the stack is DIR/stack.yaml)\n"
"  --stack FILE           the stack file (default DIR/stack.yaml)\n"
"  --state FILE|URL       the state: an SQLite file or postgres://... (default $CAIRN_STATE_URL,\n"
"                         else stack.yaml's state:, else STACKDIR/.cairn/state.db; docs/state.md)\n"
"  -e, --env ENV          the environment (default $CAIRN_ENV); its overlay is STACKDIR/ENV.yaml\n"
"  --var NAME=VALUE       set a variable (VALUE is JSON, or else a string)\n"
"  --parallelism N        operations in flight at once (default 10)\n"
"  --accept-new-host-keys accept (and record in the state) the keys of SSH hosts not yet known\n"
"  --lock-timeout DUR     wait this long for the environment's lock (500ms, 30s, 2m, 1d; up to 10 years; default 0)\n"
"  --lease SECONDS        the lock's lease, renewed every third of it (default 60)\n"
"  --no-color, -v/--verbose\n"
"\n"
"Exit codes: 0 success (plan: no changes), 1 error, 2 plan --detailed-exitcode found changes,\n"
"3 the environment is locked by another run, 4 a policy denied the apply, 5 the plan lacks approvals,\n"
"6 health checks failed after the apply (rolled back to the last revision whose checks passed).\n";

/* ---------- parsing ---------- */

/* --lock-timeout (cli.h): 0 (do not wait) up to 10 years, in ms, s, m, h or d. */
static const cairn_duration_rules lock_timeout_rules = {
	.min = 0, .max = 10 * 365 * 86400.0, .zero = true,
	.units = CAIRN_DURATION_MS | CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H | CAIRN_DURATION_D,
};

int cairn_cli_parse_lock_timeout(const char *s, double *out)
{
	return cairn_duration_parse(s, &lock_timeout_rules, out) == 0 ? 0 : -1;
}

int cairn_cli_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
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

/* An address as plans and `state list` print them: NAME, NAME[INDEX] or
 * NAME["KEY"] (NAME: [A-Za-z_][A-Za-z0-9_-]*), and for an object a
 * create_before_destroy put aside, a ~deposed-TOKEN suffix. *out gets the
 * canonical spelling (web["a"] as cairn prints it: JSON escapes as jansson
 * writes them), malloc'd. */
static int parse_address(const char *s, char **out);

/* Push the canonical spelling of a --target / --exclude address (owned by
 * the list). */
static int push_address(char ***v, size_t *n, const char *flag, const char *arg)
{
	char *addr = NULL;

	if (parse_address(arg, &addr) != 0)
		return usage_error("%s: %s", flag, cairn_error_last()->message);
	if (push(v, n, addr)) {
		free(addr);
		return -1;
	}
	return 0;
}

/* What a flag's value looks like, for "flag X needs a value". */
static const char *flag_value_hint(const char *flag)
{
	static const struct { const char *flag, *hint; } hints[] = {
		{ "--var", "--var NAME=VALUE" }, { "-e", "-e ENV" }, { "--env", "--env ENV" }, { "-C", "-C DIR" },
		{ "--dir", "--dir DIR" }, { "--target", "--target ADDRESS" }, { "--exclude", "--exclude ADDRESS" },
		{ "--parallelism", "--parallelism N" }, { "--lock-timeout", "--lock-timeout 30s" },
		{ "--out", "-out FILE" }, { "--limit", "--limit N" }, { "--lease", "--lease SECONDS" },
		{ "--refresh", "--refresh=false" }, { "--stack", "--stack FILE" }, { "--state", "--state FILE" },
		{ "--metrics", "--metrics FILE" },
	};
	size_t i;

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (!strcmp(flag, hints[i].flag))
			return hints[i].hint;
	return "see 'cairn help'";
}

static int parse_address(const char *s, char **out)
{
	const char *p = s, *why = NULL, *q, *suffix = NULL;
	json_t *key = NULL;
	char *name = NULL, *addr = NULL;
	int rc = 0;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')) {
		why = *p ? "a name starts with a letter or '_'" : "it is empty";
		goto done;
	}
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
	       *p == '-')
		p++;
	if (!(name = strndup(s, (size_t)(p - s)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	if (*p == '[') {
		p++;
		if (*p >= '0' && *p <= '9') {
			char *end;
			long long v;

			errno = 0;
			v = strtoll(p, &end, 10);
			if (errno || v > 1000000)
				why = "the index is too large";
			key = json_integer(v);
			p = end;
		} else if (*p == '"') {
			json_error_t jerr;

			for (q = p + 1; *q && *q != '"'; q++)
				if (*q == '\\' && q[1])
					q++;
			if (*q == '"')
				key = json_loadb(p, (size_t)(q - p + 1), JSON_DECODE_ANY, &jerr);
			if (!key)
				why = "the key in [...] is not a valid quoted string";
			p = *q ? q + 1 : q;
		} else if (!*p) {
			why = "unclosed '['";
		} else {
			why = "[...] holds a whole number or a quoted key, like [0] or [\"a\"]";
		}
		if (!why && *p != ']')
			why = "unclosed '['";
		else if (!why)
			p++;
	}
	if (!why && *p) {
		if (!strncmp(p, "~deposed-", 9) && p[9] && strspn(p + 9, "0123456789abcdef") == strlen(p + 9))
			suffix = p;
		else
			why = "unexpected characters after the name";
	}
	if (why)
		goto done;
	if ((addr = cairn_address(name, key)) != NULL && suffix) {
		char *full = NULL;

		if (asprintf(&full, "%s%s", addr, suffix) < 0)
			full = NULL;
		free(addr);
		addr = full;
	}
	if (!addr) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	*out = addr;
done:
	if (why)
		rc = cairn_error_set(CAIRN_EINVAL, "invalid address '%s': %s (addresses look like NAME, NAME[0] or "
				     "NAME[\"key\"])", s, why);
	json_decref(key);
	free(name);
	return rc;
}

static int parse_var(cli *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[256];
	json_error_t jerr;
	json_t *v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return usage_error("--var expects NAME=VALUE, got '%s'", arg);
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
	if (!v)
		v = json_string(eq + 1);
	if (!v) /* jansson takes UTF-8 only; the value is not repeated (it may be a secret) */
		return usage_error("--var %s: the value is not valid UTF-8", name);
	json_object_set_new(c->vars, name, v);
	return 0;
}

enum { O_STACK = 256, O_STATE, O_VAR, O_PAR, O_LOCKT, O_REFRESH, O_OUT, O_JSON, O_DETAILED, O_TARGET,
       O_EXCLUDE, O_APPROVE, O_DESTROY, O_NOCOLOR, O_SENS, O_LIMIT, O_LEASE, O_REFRESH_ONLY, O_ACCEPT_NEW, O_METRICS,
       O_KEY };

static const struct option long_opts[] = {
	{ "env", required_argument, NULL, 'e' },
	{ "dir", required_argument, NULL, 'C' },
	{ "stack", required_argument, NULL, O_STACK },
	{ "state", required_argument, NULL, O_STATE },
	{ "var", required_argument, NULL, O_VAR },
	{ "parallelism", required_argument, NULL, O_PAR },
	{ "lock-timeout", required_argument, NULL, O_LOCKT },
	{ "lease", required_argument, NULL, O_LEASE },
	{ "refresh", required_argument, NULL, O_REFRESH },
	{ "out", required_argument, NULL, O_OUT },
	{ "json", no_argument, NULL, O_JSON },
	{ "detailed-exitcode", no_argument, NULL, O_DETAILED },
	{ "target", required_argument, NULL, O_TARGET },
	{ "exclude", required_argument, NULL, O_EXCLUDE },
	{ "auto-approve", no_argument, NULL, O_APPROVE },
	{ "destroy", no_argument, NULL, O_DESTROY },
	{ "no-color", no_argument, NULL, O_NOCOLOR },
	{ "show-sensitive", no_argument, NULL, O_SENS },
	{ "limit", required_argument, NULL, O_LIMIT },
	{ "accept-new-host-keys", no_argument, NULL, O_ACCEPT_NEW },
	{ "refresh-only", no_argument, NULL, O_REFRESH_ONLY },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "key", required_argument, NULL, O_KEY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int allowed(cli *c, unsigned mask, unsigned flag, const char *name)
{
	if (mask & flag)
		return 0;
	return usage_error("flag %s does not apply to 'cairn %s'", name, c->cmd);
}

/* Is arg (already normalised) a flag whose value is the next argument? */
static bool takes_value(const char *arg)
{
	const struct option *o;

	if (!strcmp(arg, "-e") || !strcmp(arg, "-C"))
		return true;
	if (strncmp(arg, "--", 2) != 0 || strchr(arg, '='))
		return false;
	for (o = long_opts; o->name; o++)
		if (!strcmp(arg + 2, o->name))
			return o->has_arg == required_argument;
	return false;
}

/* Terraform-style single-dash long flags (-out, -target=x) become --out. */
static char **normalise_args(int argc, char **argv)
{
	char **v = calloc((size_t)argc + 1, sizeof(char *));
	int i;

	if (!v)
		return NULL;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		/* the value of a flag that takes one stays as it is: -e -dev is environment "-dev" */
		if (i > 0 && a[0] == '-' && a[1] && a[1] != '-' && a[2] && a[2] != '=' &&
		    !(a[1] >= '0' && a[1] <= '9') && strspn(a + 1, "abcdefghijklmnopqrstuvwxyz-") >= 2 &&
		    !(i > 1 && takes_value(v[i - 1]))) {
			if (asprintf(&v[i], "-%s", a) < 0)
				v[i] = NULL;
		} else {
			v[i] = strdup(a);
		}
	}
	return v;
}

static int parse(cli *c, int argc, char **argv, unsigned mask)
{
	int opt, idx;
	long n;

	c->refresh = true;
	c->color = cairn_cli_color();
	c->env = getenv("CAIRN_ENV");
	c->dir = ".";
	c->vars = json_object();
	c->parallelism = 10;
	c->limit = 0;
	if (getenv("CAIRN_LOCK_LEASE")) {
		if (cairn_cli_parse_int(getenv("CAIRN_LOCK_LEASE"), 1, 86400, &n))
			return usage_error("CAIRN_LOCK_LEASE expects seconds from 1 to 86400, got '%s'",
					   getenv("CAIRN_LOCK_LEASE")), -1;
		c->lease = (int)n;
	}
	optind = 1;
	opterr = 0;
	/* ':' first: a flag without its value is reported as such, not as unknown */
	while ((opt = getopt_long(argc, argv, ":e:C:vh", long_opts, &idx)) != -1) {
		switch (opt) {
		case 'e':
			if (allowed(c, mask, FL_ENV, "-e")) return -1;
			c->env = optarg;
			c->env_given = true;
			break;
		case 'C': c->dir = optarg; break;
		case O_STACK: c->stack = optarg; break;
		case O_STATE: c->state = optarg; break;
		case O_VAR:
			if (allowed(c, mask, FL_VARS, "--var") || parse_var(c, optarg)) return -1;
			break;
		case O_PAR:
			if (allowed(c, mask, FL_PLAN, "--parallelism")) return -1;
			if (cairn_cli_parse_int(optarg, 1, 10000, &n))
				return usage_error("--parallelism expects a number from 1 to 10000, got '%s'", optarg), -1;
			c->parallelism = (int)n;
			break;
		case O_LOCKT:
			if (allowed(c, mask, FL_LOCK, "--lock-timeout")) return -1;
			if (cairn_cli_parse_lock_timeout(optarg, &c->lock_timeout))
				return usage_error("--lock-timeout expects " CAIRN_CLI_LOCK_TIMEOUT_TAKES ", got '%s'",
						   optarg), -1;
			break;
		case O_LEASE:
			if (cairn_cli_parse_int(optarg, 1, 86400, &n))
				return usage_error("--lease expects seconds, got '%s'", optarg), -1;
			c->lease = (int)n;
			break;
		case O_REFRESH:
			if (allowed(c, mask, FL_REFRESH, "--refresh")) return -1;
			if (!strcmp(optarg, "true")) c->refresh = true;
			else if (!strcmp(optarg, "false")) c->refresh = false;
			else return usage_error("--refresh expects true or false, got '%s'", optarg), -1;
			break;
		case O_OUT:
			if (allowed(c, mask, FL_OUT, "-out")) return -1;
			c->out = optarg;
			break;
		case O_JSON:
			if (allowed(c, mask, FL_JSON, "--json")) return -1;
			c->json = true;
			break;
		case O_DETAILED:
			if (allowed(c, mask, FL_DETAILED, "--detailed-exitcode")) return -1;
			c->detailed = true;
			break;
		case O_TARGET:
			if (allowed(c, mask, FL_TARGET, "--target") ||
			    push_address(&c->targets, &c->ntargets, "--target", optarg)) return -1;
			break;
		case O_EXCLUDE:
			if (allowed(c, mask, FL_TARGET, "--exclude") ||
			    push_address(&c->excludes, &c->nexcludes, "--exclude", optarg)) return -1;
			break;
		case O_APPROVE:
			if (allowed(c, mask, FL_APPROVE, "--auto-approve")) return -1;
			c->auto_approve = true;
			break;
		case O_DESTROY:
			if (allowed(c, mask, FL_DESTROY, "--destroy")) return -1;
			c->destroy = true;
			break;
		case O_NOCOLOR: c->color = false; break;
		case O_SENS:
			if (allowed(c, mask, FL_SENSITIVE, "--show-sensitive")) return -1;
			c->show_sensitive = true;
			break;
		case O_LIMIT:
			if (allowed(c, mask, FL_LIMIT, "--limit")) return -1;
			if (cairn_cli_parse_int(optarg, 1, LONG_MAX, &c->limit))
				return usage_error("--limit expects a positive number, got '%s'", optarg), -1;
			break;
		case O_ACCEPT_NEW:
			if (allowed(c, mask, FL_PLAN, "--accept-new-host-keys")) return -1;
			c->accept_new_keys = true;
			break;
		case O_METRICS:
			if (allowed(c, mask, FL_METRICS, "--metrics")) return -1;
			c->metrics = optarg;
			break;
		case O_KEY:
			if (allowed(c, mask, FL_KEY, "--key")) return -1;
			c->key = optarg;
			break;
		case O_REFRESH_ONLY:
			if (strcmp(c->cmd, "apply") != 0)
				return usage_error("flag --refresh-only applies to 'cairn apply' only"), -1;
			c->refresh_only = true;
			break;
		case 'v': c->verbose = true; break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			return usage_error("flag %s needs a value (%s)", argv[optind - 1], flag_value_hint(argv[optind - 1])), -1;
		default:
			return usage_error("unknown flag '%s' for 'cairn %s'", argv[optind - 1], c->cmd), -1;
		}
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return 0;
}

static void engine_opts(cli *c, cairn_engine_opts *o, bool for_write)
{
	memset(o, 0, sizeof(*o));
	o->dir = c->dir;
	o->stack_file = c->stack;
	o->state_file = c->state;
	o->env = c->env;
	o->var_overrides = json_object_size(c->vars) ? c->vars : NULL;
	o->parallelism = c->parallelism;
	o->refresh = c->refresh;
	o->for_write = for_write;
	o->targets = c->targets;
	o->ntargets = c->ntargets;
	o->excludes = c->excludes;
	o->nexcludes = c->nexcludes;
	o->lock_timeout = c->lock_timeout;
	o->lease = c->lease;
	o->log = stderr;
	o->verbose = c->verbose;
	o->ssh_accept_new = c->accept_new_keys;
}

static int need_env(cli *c)
{
	if (!c->env || !*c->env)
		return usage_error("no environment given: use -e ENV (or set CAIRN_ENV)");
	return 0;
}

static int no_args(cli *c)
{
	if (c->nargs > 0)
		return usage_error("unexpected argument '%s' for 'cairn %s'", c->args[0], c->cmd);
	return 0;
}

/* ---------- plan / apply / destroy ---------- */

/* plan -out: the signed plan (engine/plan.c), written atomically and only
 * over a regular file or a new path (base/file.h). */
static int write_plan_file(cli *c, cairn_engine *e, const char *path)
{
	char *text = NULL;
	int rc;

	if ((rc = cairn_plan_save(e, c->plan_extra, &text)) == 0 && (rc = cairn_file_write(path, text, strlen(text), 0600)) != 0)
		cairn_error_prefix("cannot save the plan");
	free(text);
	return rc;
}

static int print_plan(cli *c, cairn_engine *e)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc = cairn_render_plan(e, &b, c->color);

	if (!rc)
		fputs(cairn_buf_cstr(&b), stdout);
	cairn_buf_release(&b);
	fflush(stdout);
	return rc;
}

/* The last line of a --json stream, and its end. */
static void end_stream(cli *c, const char *command, json_t *summary, int exit_code)
{
	if (!c->jout)
		return;
	cairn_json_run_summary(c->jout, command, c->engine, summary, exit_code);
	cairn_jout_free(c->jout);
	c->jout = NULL;
}

/* Does addr name something the plan knows: an instance (web[0]), every
 * instance of a resource (web, even with count 0), or, for destroy, which
 * plans only what the state has, any instance of a stack resource? */
static bool address_known(cairn_engine *e, const char *addr, bool destroy)
{
	size_t i, n = strcspn(addr, "[~");

	for (i = 0; i < e->ninsts; i++)
		if (!strcmp(e->insts[i].address, addr) || !strcmp(e->insts[i].name, addr))
			return true;
	for (i = 0; i < e->stack->nresources; i++)
		if (strlen(e->stack->resources[i].name) == n && !strncmp(addr, e->stack->resources[i].name, n))
			return !addr[n] || destroy;
	return false;
}

/* --target and --exclude must name something (Terraform: "no resource
 * ... in the stack"): a typo would otherwise plan nothing, or everything. */
static int check_targets(cli *c, cairn_engine *e, bool destroy)
{
	size_t i;

	for (i = 0; i < c->ntargets + c->nexcludes; i++) {
		bool target = i < c->ntargets;
		const char *a = target ? c->targets[i] : c->excludes[i - c->ntargets];
		const char *br = strchr(a, '[');
		char *name = br ? strndup(a, (size_t)(br - a)) : NULL;
		int rc = 0;

		if (!address_known(e, a, destroy)) {
			if (br && name && cairn_stack_resource(e->stack, name))
				rc = cairn_error_set(CAIRN_EINVAL, "%s %s: no instance %s in the stack or the state of "
					"environment '%s' (see 'cairn plan' for the instances of %s)",
					target ? "--target" : "--exclude", a, a, c->env, name);
			else
				rc = cairn_error_set(CAIRN_EINVAL, "%s %s: no resource %s in the stack or the state of "
					"environment '%s'", target ? "--target" : "--exclude", a, br && name ? name : a, c->env);
		}
		free(name);
		if (rc)
			return rc;
	}
	return 0;
}

static bool plan_has_changes(cairn_engine *e)
{
	int a, ch, d;

	cairn_engine_counts(e, &a, &ch, &d);
	return a || ch || d;
}

static int cmd_validate(cli *c, int argc, char **argv)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	int rc;

	if (parse(c, argc, argv, FL_ENV | FL_VARS) || no_args(c) || need_env(c))
		return CAIRN_EXIT_ERROR;
	engine_opts(c, &o, false);
	o.no_state = true;
	o.refresh = false;
	rc = cairn_engine_open(&e, &o);
	c->engine = e;
	if (!rc)
		rc = cairn_engine_plan(e, false, NULL);
	if (!rc)
		printf("The configuration of environment '%s' is valid (%zu resources, %zu instances).\n", c->env,
		       e->stack->nresources, e->ninsts);
	rc = report(c, rc);
	cairn_engine_free(e);
	c->engine = NULL;
	return rc;
}

/* CPU time (user + system) of this process so far, for CAIRN_STATS. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}


static int run_plan(cli *c);

static int cmd_plan(cli *c, int argc, char **argv)
{
	if (parse(c, argc, argv, FL_ENV | FL_VARS | FL_PLAN | FL_OUT | FL_JSON | FL_DETAILED | FL_TARGET | FL_REFRESH | FL_DESTROY) ||
	    no_args(c) || need_env(c))
		return CAIRN_EXIT_ERROR;
	return run_plan(c);
}

/* The body of plan (and of rollback -out: c->policy_dir, c->plan_extra). */
static int run_plan(cli *c)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	json_t *findings = NULL;
	bool denied;
	int rc, exit_code = CAIRN_EXIT_OK;

	if (c->json && (rc = cairn_jout_new(&c->jout, stdout, "plan")) != 0)
		return report(c, rc);
	/* before any work: -out names something that must not be replaced */
	if (c->out && (rc = cairn_file_check_writable(c->out)) != 0) {
		cairn_error_prefix("cannot save the plan");
		goto done;
	}
	engine_opts(c, &o, false);
	if (!c->json)
		o.log = c->verbose ? stderr : NULL;
	if ((rc = cairn_engine_open(&e, &o)) != 0)
		goto done;
	c->engine = e;
	if (c->refresh) {
		double t0 = cairn_now(), cpu0 = cpu_seconds();

		if ((rc = cairn_engine_refresh(e)) != 0)
			goto done;
		if (getenv("CAIRN_STATS")) {
			cairn_loop_stats ls;

			cairn_loop_get_stats(e->loop, &ls);
			fprintf(stderr, "cairn stats: refresh_wall_s=%.3f refresh_cpu_s=%.3f resources=%zu "
				"http_requests=%llu retries=%llu parallelism=%d\n", cairn_now() - t0,
				cpu_seconds() - cpu0, e->nstate, (unsigned long long)ls.requests,
				(unsigned long long)ls.retries, e->opts.parallelism);
		}
	}
	if ((rc = cairn_engine_plan(e, c->destroy, NULL)) != 0 || (rc = check_targets(c, e, c->destroy)) != 0)
		goto done;
	if ((rc = cairn_engine_check_prevent_destroy(e)) != 0)
		goto done;
	if (c->json) {
		if (cairn_cli_protected_warning(e, c->destroy))
			cairn_jout_diagnostic(c->jout, "warning", cairn_error_last(), NULL);
		if (e->nintents)
			cairn_jout_emit(c->jout, "diagnostic", "warn", json_pack("{s:{s:s,s:s}}", "diagnostic", "severity",
				"warning", "summary", "operations of an earlier run (interrupted or failed) are pending; "
				"apply reconciles them first"), "warning: %zu operation(s) of an earlier run are pending",
				e->nintents);
		if ((rc = cairn_json_run_plan(c->jout, e, "plan")) != 0)
			goto done;
	} else {
		if (e->nintents)
			printf("Note: %zu operation(s) of an earlier run (interrupted or failed) are pending; apply reconciles them first.\n\n",
			       e->nintents);
		if ((rc = print_plan(c, e)) != 0)
			goto done;
	}
	/* the findings after the plan; a plan only shows them */
	if ((rc = cairn_cli_policies(e, c->policy_dir, c->jout, NULL, &findings, &denied)) != 0)
		goto done;
	if (!c->json) {
		if (cairn_cli_protected_warning(e, c->destroy)) {
			char msg[4096];

			cairn_error_format(cairn_error_last(), msg, sizeof(msg));
			printf("\nWarning: %s\n", msg);
		}
	}
	if (c->out) {
		if (c->destroy) {
			rc = cairn_error_set(CAIRN_EINVAL, "-out with --destroy is not supported; run 'cairn destroy'");
			goto done;
		}
		if ((rc = write_plan_file(c, e, c->out)) != 0)
			goto done;
		if (!c->json && c->plan_extra)
			printf("\nSaved the rollback plan to %s. Have it approved (cairn approve %s), then apply it: "
			       "cairn apply %s\n", c->out, c->out, c->out);
		else if (!c->json)
			printf("\nSaved the plan to %s. To perform exactly these actions, run: cairn apply %s\n", c->out, c->out);
	}
	if (c->detailed && plan_has_changes(e))
		exit_code = CAIRN_EXIT_CHANGES;
done:
	if (rc)
		exit_code = report(c, rc);
	end_stream(c, "plan", NULL, exit_code);
	json_decref(findings);
	cairn_engine_free(e);
	c->engine = NULL;
	return exit_code;
}

static int confirm(cli *c, const char *what)
{
	char line[64];

	if (c->auto_approve)
		return 0;
	if (cairn_cli_no_prompt())
		return cairn_error_set(CAIRN_EINVAL, "%s needs confirmation, and %s: run with --auto-approve",
				       what, cairn_cli_no_prompt());
	printf("\nDo you want to perform these actions in environment '%s'?\n"
	       "  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", c->env);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0)
		return cairn_error_set(CAIRN_EINVAL, "%s cancelled", what);
	return 0;
}

static void print_summary(cairn_engine *e, json_t *summary, bool destroy)
{
	json_t *failed = json_object_get(summary, "failed"), *skipped = json_object_get(summary, "skipped");
	json_t *done = json_object_get(summary, "done"), *x;
	int added = 0, changed = 0, destroyed = 0;
	size_t i;

	json_array_foreach(done, i, x) {
		const char *a = json_string_value(json_object_get(x, "action"));

		if (!strcmp(a, "create")) added++;
		else if (!strcmp(a, "update")) changed++;
		else if (!strcmp(a, "replace")) added++;
		else if (!strcmp(a, "delete")) destroyed++;
	}
	if (json_array_size(failed) == 0 && json_array_size(skipped) == 0) {
		if (destroy)
			printf("\nDestroy complete! Resources: %d destroyed.\n", destroyed);
		else
			printf("\nApply complete! Resources: %d added, %d changed, %d destroyed.\n", added, changed, destroyed);
		if (!destroy && e->outputs && json_object_size(e->outputs)) {
			const char *k;
			json_t *v;

			printf("\nOutputs:\n\n");
			json_object_foreach(e->outputs, k, v) {
				bool sens = false;
				size_t j;
				json_t *s;
				char *r;

				json_array_foreach(e->output_sensitive, j, s)
					if (!strcmp(json_string_value(s), k))
						sens = true;
				r = sens ? strdup("(sensitive)") : cairn_value_render(v);
				printf("%s = %s\n", k, r);
				free(r);
			}
		}
		return;
	}
	printf("\n%s failed: %zu done, %zu failed, %zu skipped", destroy ? "Destroy" : "Apply",
	       json_array_size(done), json_array_size(failed), json_array_size(skipped));
	if (json_array_size(json_object_get(summary, "rolled_back")))
		printf(", %zu rolled back", json_array_size(json_object_get(summary, "rolled_back")));
	printf(".\n");
	json_array_foreach(failed, i, x)
		printf("  failed:  %s: %s\n", json_string_value(json_object_get(x, "address")),
		       json_string_value(json_object_get(x, "error")));
	json_array_foreach(skipped, i, x)
		printf("  skipped: %s: %s\n", json_string_value(json_object_get(x, "address")),
		       json_string_value(json_object_get(x, "reason")));
	/* what a resource's failed checks undid (engine/apply.c's gates) */
	json_array_foreach(json_object_get(summary, "rolled_back"), i, x)
		printf("  rolled back: %s (%s undone)\n", json_string_value(json_object_get(x, "address")),
		       json_string_value(json_object_get(x, "action")));
}

void cairn_cli__print_summary(cairn_engine *e, json_t *summary, bool destroy)
{
	print_summary(e, summary, destroy);
}

/* A saved rollback plan (rollback -out): its "rollback" member says from
 * which revision to which, where the configuration of revision `to` was
 * written when the plan was made (the paths are part of the plan's
 * configuration hash), the stack it was made from (whose approvals count,
 * and beside which the state is) and the policies that ran. Once its MAC
 * verifies, that configuration is written back there and c made to apply
 * it as rollback_to does: stack, state, variables (the sensitive ones
 * too, from the sealed record), label, policies. */
static int rollback_plan_restore(cli *c, json_t *d, const char *env, const char *path)
{
	json_t *rb = json_object_get(d, "rollback"), *vars = NULL;
	const char *dir = json_string_value(json_object_get(rb, "dir"));
	const char *cur = json_string_value(json_object_get(rb, "stack"));
	const char *pdir = json_string_value(json_object_get(rb, "policies"));
	json_t *jf = json_object_get(rb, "from"), *jt = json_object_get(rb, "to");
	const char *base = dir ? strrchr(dir, '/') : NULL;
	long now = 0;
	int rc;

	if (!dir || !cur || !pdir || !json_is_integer(jf) || !json_is_integer(jt) || json_integer_value(jt) < 1 ||
	    dir[0] != '/' || strstr(dir, "/..") || !base || strncmp(base + 1, "cairn-rollback-", 15) != 0)
		return cairn_error_set(CAIRN_EINVAL, "%s: malformed rollback plan: 'rollback' must be {\"from\": REV, "
				       "\"to\": REV, \"dir\", \"stack\", \"policies\"}", path);
	if (!c->state) {
		const char *keep = c->stack;

		c->stack = cur; /* the state the stack the plan was made from names */
		rc = state_path(c, &c->rb_state);
		c->stack = keep;
		if (rc)
			return rc;
		c->state = c->rb_state;
	}
	if ((rc = cairn_plan_check_mac(c->state, d, path)) != 0)
		return rc;
	if ((rc = cairn_cli_rollback_prepare(c->state, env, (long)json_integer_value(jt), dir, &c->rb_tmp, &c->rb_stack,
					     &vars, &now)) != 0)
		return rc;
	if (asprintf(&c->rb_label, "rollback from revision %lld to revision %lld", (long long)json_integer_value(jf),
		     (long long)json_integer_value(jt)) < 0 || !(c->rb_pdir = strdup(pdir))) {
		json_decref(vars);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	c->stack = c->rb_stack;
	c->label = c->rb_label;
	c->policy_dir = c->rb_pdir;
	json_decref(c->vars);
	c->vars = vars;
	return 0;
}

static int load_plan_file(cli *c, const char *path, json_t **doc)
{
	cairn_buf text = CAIRN_BUF_INIT;
	json_error_t jerr;
	json_t *d;
	const char *env, *stack;
	json_t *vars;
	const char *k;
	json_t *v;
	int rc;

	if ((rc = cairn_file_read(&text, path, "plan file")) != 0) {
		cairn_buf_release(&text);
		return rc;
	}
	d = json_loadb(cairn_buf_cstr(&text), text.len, JSON_REJECT_DUPLICATES, &jerr);
	cairn_buf_release(&text);
	if (!d)
		return cairn_error_set(CAIRN_EINVAL, "%s:%d:%d: not a cairn plan file: %s", path, jerr.line, jerr.column, jerr.text);
	env = json_string_value(json_object_get(d, "environment"));
	stack = json_string_value(json_object_get(d, "stack_file"));
	if (!env || !stack || !json_is_array(json_object_get(d, "resource_changes"))) {
		json_decref(d);
		return cairn_error_set(CAIRN_EINVAL, "%s: not a cairn plan file", path);
	}
	if (c->env_given && strcmp(c->env, env) != 0) {
		int rc = cairn_error_set(CAIRN_EINVAL, "%s was made for environment '%s', not '%s'", path, env, c->env);

		json_decref(d); /* env points into d */
		return rc;
	}
	if (json_object_get(d, "rollback") && (rc = rollback_plan_restore(c, d, env, path)) != 0) {
		json_decref(d);
		return rc;
	}
	c->env = env;
	if (!c->stack)
		c->stack = stack;
	vars = json_object_get(d, "variables");
	json_object_foreach(vars, k, v)
		if (!json_object_get(c->vars, k))
			json_object_set(c->vars, k, v);
	*doc = d;
	return 0;
}

/* What can be found wrong before the lock is taken (which creates the state
 * where there is none) is found here: a saved plan that does not fit, and,
 * with no state yet, a plan that names nothing (--target) or would need a
 * confirmation nobody can give. The checks after the lock stand. */
static int check_before_lock(cli *c, cairn_engine *e, bool destroy, json_t *doc, const char *saved)
{
	json_t *forced = NULL;
	int rc;

	if (doc) {
		rc = cairn_plan_load_saved(e, doc, saved, &forced);
		json_decref(forced);
		return rc;
	}
	if (e->store)
		return 0;
	if ((rc = cairn_engine_plan(e, destroy, NULL)) != 0 || (rc = check_targets(c, e, destroy)) != 0)
		return rc;
	if (plan_has_changes(e) && !c->auto_approve && cairn_cli_no_prompt()) {
		if ((rc = print_plan(c, e)) != 0)
			return rc;
		return confirm(c, destroy ? "destroy" : "apply");
	}
	return 0;
}

/* The checks after an apply (guard_cmd.h; rc: the apply's): a failure
 * makes the exit code 6, and, outside a rollback, sets c->failed_rev to
 * ask for the automatic rollback (run_apply, once the engine has let the
 * lock go). The new rc. */
static int after_apply_checks(cli *c, cairn_engine *e, const json_t *summary, int rc, bool destroy)
{
	cairn_cli_checked ck;
	int crc = cairn_cli_apply_checks(e, c->jout, summary, !rc && !destroy, &ck);

	if (ck.failed)
		c->guard_exit = CAIRN_EXIT_CHECKS;
	if (ck.results && !c->nested) {
		json_decref(c->m_checks);
		c->m_checks = json_incref(ck.results);
	}
	if (ck.failed && ck.rollback && !c->label && !c->nested) {
		c->failed_rev = (long)json_integer_value(json_object_get(summary, "rev"));
		free(c->failed_checks);
		c->failed_checks = ck.rollback;
		ck.rollback = NULL;
	}
	cairn_cli_checked_release(&ck);
	return rc ? rc : crc;
}

/* After failed checks: back to the last revision whose checks passed. */
static int auto_rollback(cli *c)
{
	char *state = NULL, *why = NULL;
	long to = 0;
	int rc;

	if (state_path(c, &state) != 0 || cairn_cli_last_passed(state, c->env, c->failed_rev, &to) != 0 || !to) {
		fprintf(c->json ? stderr : stdout, "\nNo revision before %ld passed its health checks: nothing was rolled back.\n",
			c->failed_rev);
		free(state);
		return CAIRN_EXIT_CHECKS;
	}
	free(state);
	fprintf(c->json ? stderr : stdout,
		"\nHealth checks failed: rolling environment '%s' back to revision %ld, the last whose checks passed.\n\n",
		c->env, to);
	if (asprintf(&why, "checks failed: %s", c->failed_checks ? c->failed_checks : "?") < 0)
		why = NULL;
	c->nested = true;
	c->auto_approve = true;
	c->guard_exit = 0;
	rc = rollback_to(c, to, why ? why : "checks failed");
	c->nested = false;
	c->m_rollbacks = 1;
	c->m_auto = true;
	free(why);
	if (rc == 0)
		fprintf(stderr, "cairn: error: revision %ld failed its health checks (%s); environment '%s' was rolled back "
			"to revision %ld\n", c->failed_rev, c->failed_checks ? c->failed_checks : "?", c->env, to);
	else
		fprintf(stderr, "cairn: error: revision %ld failed its health checks (%s), and the rollback to revision %ld "
			"failed too (see above)\n", c->failed_rev, c->failed_checks ? c->failed_checks : "?", to);
	return CAIRN_EXIT_CHECKS;
}

static int run_apply(cli *c, bool destroy)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	json_t *doc = NULL, *forced = NULL, *summary = NULL, *findings = NULL;
	bool denied;
	const char *saved = NULL;
	cairn_progress prog = { 0 };
	int rc;

	if (!destroy && c->nargs == 1)
		saved = c->args[0];
	else if (no_args(c))
		return CAIRN_EXIT_ERROR;
	if ((!saved && need_env(c)) || (c->json && !saved && !c->auto_approve &&
	    usage_error("%s --json needs --auto-approve, or a saved plan (cairn apply FILE): with --json cairn "
			"never asks", destroy ? "destroy" : "apply")))
		return CAIRN_EXIT_ERROR;
	/* the stream starts once the command line is understood */
	if (c->json && (rc = cairn_jout_new(&c->jout, stdout, destroy ? "destroy" : "apply")) != 0)
		return report(c, rc);
	if (saved) {
		if ((rc = load_plan_file(c, saved, &doc)) != 0)
			goto done;
		c->refresh = false;
		if (!c->env || !*c->env) { /* a plan file whose environment is "" */
			rc = cairn_error_set(CAIRN_EINVAL, "no environment given: the plan %s names none", saved);
			goto done;
		}
		if (c->rb_label && !c->jout)
			printf("Applying the rollback plan %s: environment '%s', %s.\n\n", saved, c->env, c->rb_label);
	}
	if ((rc = cairn_progress_init(&prog, c->jout, c->jout ? NULL : stderr)) != 0)
		goto done;
	engine_opts(c, &o, true);
	o.on_event = cairn_progress_event;
	o.event_ud = &prog;
	/* a failing resource check stops the apply and the environment is rolled
	 * back (auto_rollback); not in a rollback, which is not rolled back */
	o.check_stop = !destroy && !c->label && !c->nested;
	if ((rc = cairn_engine_open(&e, &o)) != 0)
		goto done;
	c->engine = e;
	/* a protected environment refuses destroy before anything is written */
	if ((destroy && (rc = cairn_cli_check_protected(e, true, false)) != 0) ||
	    (rc = check_before_lock(c, e, destroy, doc, saved)) != 0)
		goto done;
	if ((rc = cairn_cli_check_approvals(e, doc, c->label ? "rollback" : destroy ? "destroy" : "apply")) != 0) {
		c->guard_exit = CAIRN_EXIT_APPROVAL;
		goto done;
	}
	if ((rc = cairn_engine_lock(e, destroy ? "destroy" : "apply")) != 0)
		goto done;
	if (saved) {
		if ((rc = cairn_plan_load_saved(e, doc, saved, &forced)) != 0)
			goto done;
	} else if (e->nintents) {
		if ((rc = cairn_engine_recover(e, 0)) != 0)
			goto done;
	}
	if (c->refresh && (rc = cairn_engine_refresh(e)) != 0)
		goto done;
	if ((rc = cairn_engine_plan(e, destroy, forced)) != 0 || (rc = check_targets(c, e, destroy)) != 0)
		goto done;
	if (forced && (rc = cairn_plan_verify_saved(e, forced)) != 0)
		goto done;
	if ((rc = cairn_engine_check_prevent_destroy(e)) != 0 || (rc = cairn_cli_check_protected(e, destroy, saved)) != 0)
		goto done;
	if ((rc = c->jout ? cairn_json_run_plan(c->jout, e, destroy ? "destroy" : "apply") : print_plan(c, e)) != 0)
		goto done;
	if (!plan_has_changes(e) && !json_object_size(e->unreached)) {
		/* (hosts the refresh could not reach: their operations fail below) */
		json_t *old = NULL, *olds = NULL;

		/* outputs may still have changed (a new output, a changed expression) */
		if (!destroy && cairn_store_outputs_get(e->store, e->opts.env, &old, &olds) == 0 &&
		    !cairn_value_equal(old, e->outputs) && !cairn_has_unknown(e->outputs)) {
			int64_t rev = 0;

			if (cairn_store_rev_begin(e->store, e->opts.env, "apply (outputs)", &rev) == 0) {
				cairn_store_outputs_set(e->store, e->opts.env, rev, e->outputs, e->output_sensitive);
				cairn_store_rev_finish(e->store, rev, "ok", NULL);
			}
		}
		json_decref(old);
		json_decref(olds);
		goto done;
	}
	/* policies: a deny (or a policy that fails) refuses the apply */
	if ((rc = cairn_cli_policies(e, c->policy_dir, c->jout, c->label ? "rollback" : destroy ? "destroy" : "apply",
				     &findings, &denied)) != 0) {
		if (denied)
			c->guard_exit = CAIRN_EXIT_POLICY;
		goto done;
	}
	if (!saved && (rc = confirm(c, c->label ? "rollback" : destroy ? "destroy" : "apply")) != 0)
		goto done;
	fflush(stdout);
	{
		double t0 = cairn_now();

		rc = cairn_engine_apply(e, c->label ? c->label : destroy ? "destroy" : "apply", &summary);
		if (summary && !destroy) {
			/* the configuration (for rollback) and the policy warnings, with the revision */
			int rrc = cairn_cli_record_apply(e, summary, findings);

			if (rrc && !rc)
				rc = rrc;
		}
		if (summary && !c->nested) {
			json_decref(c->m_summary);
			c->m_summary = json_incref(summary);
		}
		if (getenv("CAIRN_STATS")) {
			uint64_t ncommits = 0;
			double commit_s = 0, write_s = 0, wall = cairn_now() - t0;
			cairn_loop_stats ls;
			uint64_t trips;

			cairn_store_commit_stats(e->store, &ncommits, &commit_s);
			cairn_store_write_stats(e->store, &write_s);
			c->commit_s = commit_s;
			cairn_loop_get_stats(e->loop, &ls);
			trips = cairn_store_round_trips(e->store);
			fprintf(stderr, "cairn stats: apply_wall_s=%.3f commits=%llu commit_s=%.4f (%.2f%%) "
				"state_write_s=%.4f (%.2f%%) http_requests=%llu retries=%llu", wall,
				(unsigned long long)ncommits, commit_s, wall > 0 ? 100 * commit_s / wall : 0,
				write_s, wall > 0 ? 100 * write_s / wall : 0,
				(unsigned long long)ls.requests, (unsigned long long)ls.retries);
			/* PostgreSQL only: waits for the server, all of this run */
			if (trips)
				fprintf(stderr, " state_round_trips=%llu", (unsigned long long)trips);
			fputc('\n', stderr);
		}
	}
	if (summary && !c->jout)
		print_summary(e, summary, destroy);
	else if (summary && !destroy && json_array_size(json_object_get(summary, "failed")) == 0 &&
		 json_array_size(json_object_get(summary, "skipped")) == 0)
		cairn_json_run_outputs(c->jout, e);
	if (summary)
		rc = after_apply_checks(c, e, summary, rc, destroy);
done:
	json_decref(doc);
	json_decref(forced);
	json_decref(findings);
	rc = report(c, rc);
	if (rc && c->guard_exit)
		rc = c->guard_exit;
	end_stream(c, destroy ? "destroy" : "apply", summary, rc);
	json_decref(summary);
	cairn_progress_release(&prog);
	cairn_engine_free(e);
	c->engine = NULL;
	if (c->failed_rev && !c->label && !c->nested)
		rc = auto_rollback(c);
	if (c->metrics && !c->nested && !destroy) {
		if (c->label)
			c->m_rollbacks = 1;
		if (cairn_cli_write_deploy_metrics(c->metrics, c->env, c->label ? "rollback" : "apply", cairn_now() - c->m_start,
						   rc == 0, c->m_summary, c->m_checks, c->m_rollbacks, c->m_auto) != 0)
			rc = report(c, CAIRN_EIO);
	}
	return rc;
}

static int cmd_apply(cli *c, int argc, char **argv)
{
	if (parse(c, argc, argv, FL_ENV | FL_VARS | FL_PLAN | FL_APPROVE | FL_TARGET | FL_REFRESH | FL_LOCK | FL_JSON |
			  FL_METRICS))
		return CAIRN_EXIT_ERROR;
	if (c->refresh_only) {
		cairn_engine_opts o;

		if (c->json)
			return usage_error("flag --json does not apply to 'cairn apply --refresh-only'");
		if (no_args(c) || need_env(c))
			return CAIRN_EXIT_ERROR;
		engine_opts(c, &o, true);
		return cairn_cli_refresh_only(&o, c->auto_approve, c->color);
	}
	return run_apply(c, false);
}

static int cmd_destroy(cli *c, int argc, char **argv)
{
	if (parse(c, argc, argv, FL_ENV | FL_VARS | FL_PLAN | FL_APPROVE | FL_TARGET | FL_REFRESH | FL_LOCK | FL_JSON))
		return CAIRN_EXIT_ERROR;
	return run_apply(c, true);
}

/* The arguments of state show / rm / mv and import's first are addresses:
 * each must parse, and is replaced by its canonical spelling (in the
 * argument array, whose strings cairn_cli_main frees). */
static int canonical_args(cli *c, int n)
{
	char *addr;
	int i, rc;

	for (i = 0; i < n && i < c->nargs; i++) {
		if ((rc = parse_address(c->args[i], &addr)) != 0)
			return rc;
		free(c->args[i]);
		c->args[i] = addr;
	}
	return 0;
}

/* Is the address an instance of the stack, not yet managed? Asked of a
 * read-only engine, so that a wrong address creates and locks no state. */
static int import_target_known(cli *c)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	const cairn_inst *in;
	int rc;

	engine_opts(c, &o, false);
	o.refresh = false;
	if ((rc = cairn_engine_open(&e, &o)) == 0 && (rc = cairn_engine_plan(e, false, NULL)) == 0) {
		in = cairn_engine_inst(e, c->args[0]);
		if (!in || in->res == SIZE_MAX)
			rc = cairn_error_set(CAIRN_EINVAL, "cannot import to %s: no such resource instance in the "
				"configuration of environment '%s' (add it to the stack first)", c->args[0], c->env);
		else if (in->prior)
			rc = cairn_error_set(CAIRN_EINVAL, "cannot import to %s: it is already managed (id %s); "
				"use 'cairn state rm' first to manage another object there", c->args[0],
				in->prior->id ? in->prior->id : "?");
	}
	cairn_engine_free(e);
	return rc;
}

static int cmd_import(cli *c, int argc, char **argv)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	int rc;

	if (parse(c, argc, argv, FL_ENV | FL_VARS | FL_LOCK) || need_env(c))
		return CAIRN_EXIT_ERROR;
	if (c->nargs != 2)
		return usage_error("usage: cairn import -e ENV ADDRESS ID");
	if ((rc = canonical_args(c, 1)) != 0)
		return report(c, rc);
	if ((rc = import_target_known(c)) != 0)
		return report(c, rc);
	engine_opts(c, &o, true);
	o.refresh = false;
	if ((rc = cairn_engine_open(&e, &o)) != 0)
		goto done;
	c->engine = e;
	if ((rc = cairn_engine_lock(e, "import")) != 0)
		goto done;
	if ((rc = cairn_engine_plan(e, false, NULL)) != 0)
		goto done;
	if ((rc = cairn_engine_import(e, c->args[0], c->args[1])) != 0)
		goto done;
	{
		/* an id can be the secret itself (random.password imports by its value) */
		char *id = cairn_engine_redact(e, c->args[1]);

		cairn_buf notes = CAIRN_BUF_INIT;

		printf("Imported %s (id %s) into environment '%s'. Run plan to see how it differs from the configuration.\n",
		       c->args[0], id ? id : "(sensitive)", c->env);
		free(id);
		cairn_render_import_notes(e, c->args[0], &notes);
		fputs(cairn_buf_cstr(&notes), stdout);
		cairn_buf_release(&notes);
	}
done:
	rc = report(c, rc);
	cairn_engine_free(e);
	c->engine = NULL;
	return rc;
}

static int cmd_graph(cli *c, int argc, char **argv)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	if (parse(c, argc, argv, FL_ENV | FL_VARS) || no_args(c) || need_env(c))
		return CAIRN_EXIT_ERROR;
	engine_opts(c, &o, false);
	o.no_state = true;
	if ((rc = cairn_engine_open(&e, &o)) == 0) {
		c->engine = e;
		rc = cairn_graph_dot(e->graph, e->stack->name, &b);
		if (!rc)
			fputs(cairn_buf_cstr(&b), stdout);
	}
	cairn_buf_release(&b);
	rc = report(c, rc);
	cairn_engine_free(e);
	c->engine = NULL;
	return rc;
}

/* ---------- commands on the state store alone ---------- */

/* *out: the state to use (malloc'd): --state, else $CAIRN_STATE_URL, else
 * the stack file's state: key, else STACKDIR/.cairn/state.db. */
static int state_path(cli *c, char **out)
{
	return cairn_cli_state_path(c->state, c->stack, c->dir, out);
}

int cairn_cli_state_path(const char *state, const char *stack, const char *dir, char **out)
{
	char *file = NULL, *named = NULL, *copy = NULL;
	int rc;

	*out = NULL;
	if (cairn_store_location(state, NULL))
		return (*out = strdup(cairn_store_location(state, NULL))) ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (!(file = stack ? strdup(stack) : NULL) && (stack || asprintf(&file, "%s/stack.yaml", dir ? dir : ".") < 0))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_stack_state_of(file, &named)) != 0)
		goto cleanup;
	if (named) {
		*out = named;
		named = NULL;
	} else if (!(copy = strdup(file)) || asprintf(out, "%s/.cairn/state.db", dirname(copy)) < 0) {
		*out = NULL;
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
cleanup:
	free(file);
	free(named);
	free(copy);
	return rc;
}

static int check_env_exists(cli *c)
{
	char *path = NULL, *copy = NULL;
	const char *dir = c->dir;
	struct stat sb;
	int rc = 0;

	if (!cairn_env_name_valid(c->env))
		return cairn_error_set(CAIRN_EINVAL, "invalid environment name '%s' (use lowercase letters, digits, - and _)", c->env);
	if (c->stack) {
		copy = strdup(c->stack);
		dir = copy ? dirname(copy) : ".";
	}
	if (asprintf(&path, "%s/%s.yaml", dir, c->env) < 0)
		path = NULL;
	if (path && stat(path, &sb) != 0) {
		char *state = NULL; /* an ephemeral environment has no file */

		if (state_path(c, &state) != 0)
			rc = CAIRN_EINVAL;
		else if (!cairn_cli_env_recorded(state, c->env))
			rc = cairn_error_set(CAIRN_EINVAL, "unknown environment '%s' (no file %s)", c->env, path);
		free(state);
	}
	free(path);
	free(copy);
	return rc;
}

static int open_store(cli *c, cairn_store **st, bool write)
{
	char *path = NULL;
	struct stat sb;
	int rc;

	if ((rc = state_path(c, &path)) != 0)
		return rc;
	if ((rc = check_env_exists(c)) != 0) {
		free(path);
		return rc;
	}
	/* writing commands (state rm/mv, force-unlock) change existing state only */
	if (!cairn_store_is_url(path) && stat(path, &sb) != 0) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no state at %s: nothing has been applied yet", path);
		free(path);
		return rc;
	}
	rc = cairn_store_open(st, path, write ? CAIRN_STORE_CREATE : CAIRN_STORE_READONLY);
	free(path);
	return rc;
}

/* state rm: every address is recorded; state mv FROM TO: FROM is, TO is
 * not, and they differ. */
static int check_state_args(cli *c, cairn_store *st, bool mv)
{
	cairn_state_res r = { 0 };
	int i, rc;

	if (mv && !strcmp(c->args[0], c->args[1]))
		return cairn_error_set(CAIRN_EINVAL, "cannot move '%s' onto itself", c->args[0]);
	for (i = 0; i < (mv ? 1 : c->nargs); i++) {
		if ((rc = cairn_store_get(st, c->env, c->args[i], &r)) == CAIRN_ENOTFOUND)
			return cairn_error_set(CAIRN_EINVAL, "no resource %s in the state of environment '%s'",
					       c->args[i], c->env);
		cairn_state_res_release(&r);
		if (rc)
			return rc;
	}
	if (mv && (rc = cairn_store_get(st, c->env, c->args[1], &r)) != CAIRN_ENOTFOUND) {
		cairn_state_res_release(&r);
		return rc ? rc : cairn_error_set(CAIRN_EINVAL, "cannot move '%s' to '%s' in environment '%s': '%s' exists",
						 c->args[0], c->args[1], c->env, c->args[1]);
	}
	return 0;
}

static void print_attrs(json_t *attrs, json_t *sensitive, bool show)
{
	const char *k;
	json_t *v;
	size_t w = 0;

	json_object_foreach(attrs, k, v)
		if (strlen(k) > w)
			w = strlen(k);
	json_object_foreach(attrs, k, v) {
		bool sens = false;
		size_t i;
		json_t *s;
		char *r;

		json_array_foreach(sensitive, i, s)
			if (!strcmp(json_string_value(s), k))
				sens = true;
		r = sens && !show ? strdup("(sensitive)") : cairn_value_render(v);
		printf("  %-*s = %s\n", (int)w, k, r);
		free(r);
	}
}

/* state migrate --to URL|FILE: copy the whole state (state/copy.c) from
 * where it is now (--state, CAIRN_STATE_URL or the stack's file). */
static int cmd_state_migrate(cli *c, int argc, char **argv)
{
	cairn_store *src = NULL, *dst = NULL;
	cairn_store_copy_stats stats;
	const char *to = NULL;
	char **args = calloc((size_t)argc + 1, sizeof(*args)), *from = NULL;
	int i, n = 0, rc;

	if (!args)
		return report(c, cairn_error_set(CAIRN_ENOMEM, "out of memory"));
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strncmp(argv[i], "--to=", 5))
			to = argv[i] + 5;
		else
			args[n++] = argv[i];
	}
	if (parse(c, n, args, 0)) {
		free(args);
		return CAIRN_EXIT_ERROR;
	}
	free(args);
	if (!to || !*to || c->nargs)
		return usage_error("usage: cairn state migrate --to URL|FILE [--state FROM]");
	if ((rc = state_path(c, &from)) != 0)
		return report(c, rc);
	if (!strcmp(from, to)) {
		rc = cairn_error_set(CAIRN_EINVAL, "the state is already at the destination");
		goto done;
	}
	if ((rc = cairn_store_open(&src, from, 0)) != 0 ||
	    (rc = cairn_store_open(&dst, to, CAIRN_STORE_CREATE)) != 0 ||
	    (rc = cairn_store_copy(dst, src, &stats)) != 0)
		goto done;
	printf("Migrated the state from %s to %s: %zu environments, %zu resources, %zu revisions "
	       "(%lld rows), verified.\n", cairn_store_path(src), cairn_store_path(dst), stats.envs,
	       stats.resources, stats.revisions, (long long)stats.rows);
	printf("The source is unchanged. Use the new state with --state or CAIRN_STATE_URL.\n");

done:
	cairn_store_free(src);
	cairn_store_free(dst);
	free(from);
	return report(c, rc);
}

static int cmd_state(cli *c, int argc, char **argv)
{
	cairn_store *st = NULL;
	const char *sub;
	int rc = 0;
	size_t i;

	if (argc < 2 || argv[1][0] == '-')
		return usage_error("usage: cairn state list|show|rm|mv|history -e ENV");
	sub = argv[1];
	if (!strcmp(sub, "migrate"))
		return cmd_state_migrate(c, argc - 1, argv + 1);
	if (parse(c, argc - 1, argv + 1, FL_ENV | FL_LOCK | FL_JSON | FL_SENSITIVE | FL_LIMIT) || need_env(c))
		return CAIRN_EXIT_ERROR;
	if (!strcmp(sub, "show") && c->nargs != 1)
		return usage_error("usage: cairn state show -e ENV ADDRESS");
	if (!strcmp(sub, "list") && c->nargs)
		return usage_error("usage: cairn state list -e ENV");
	if ((!strcmp(sub, "show") || !strcmp(sub, "rm") || !strcmp(sub, "mv")) && (rc = canonical_args(c, c->nargs)) != 0)
		return report(c, rc);
	if (!strcmp(sub, "list") || !strcmp(sub, "show") || !strcmp(sub, "history")) {
		if ((rc = open_store(c, &st, false)) != 0)
			goto done;
		if (!strcmp(sub, "list")) {
			cairn_state_res *rs = NULL;
			size_t n = 0;

			if (c->nargs) { rc = usage_error("usage: cairn state list -e ENV"); cairn_store_free(st); return rc; }
			if ((rc = cairn_store_list(st, c->env, &rs, &n)) != 0)
				goto done;
			for (i = 0; i < n; i++) {
				if (c->json)
					continue;
				printf("%s\t%s\t%s\n", rs[i].address, rs[i].type, rs[i].id ? rs[i].id : "-");
			}
			if (c->json) {
				json_t *arr = json_array();

				for (i = 0; i < n; i++)
					json_array_append_new(arr, json_pack("{s:s,s:s,s:s?}", "address", rs[i].address,
						"type", rs[i].type, "id", rs[i].id));
				json_dumpf(arr, stdout, JSON_INDENT(2));
				fputc('\n', stdout);
				json_decref(arr);
			}
			cairn_state_res_free_array(rs, n);
		} else if (!strcmp(sub, "show")) {
			cairn_state_res r = { 0 };

			if (c->nargs != 1) { cairn_store_free(st); return usage_error("usage: cairn state show -e ENV ADDRESS"); }
			if ((rc = cairn_store_get(st, c->env, c->args[0], &r)) != 0) {
				if (rc == CAIRN_ENOTFOUND)
					rc = cairn_error_set(CAIRN_EINVAL, "no resource %s in the state of environment '%s'",
							     c->args[0], c->env);
				goto done;
			}
			printf("# %s (%s)\n", r.address, r.type);
			printf("  %s\n", r.id ? r.id : "(no id)");
			print_attrs(r.attrs, r.sensitive, c->show_sensitive);
			cairn_state_res_release(&r);
		} else {
			json_t *h = NULL, *x;

			if ((rc = cairn_store_history(st, c->env, (size_t)c->limit, &h)) != 0)
				goto done;
			if (c->json) {
				json_dumpf(h, stdout, JSON_INDENT(2));
				fputc('\n', stdout);
			} else {
				json_array_foreach(h, i, x) {
					time_t t = (time_t)json_integer_value(json_object_get(x, "started_at"));
					char when[64];
					size_t j;
					json_t *ch;

					strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
					printf("revision %lld  %s  %s by %s@%s (pid %lld): %s\n",
					       (long long)json_integer_value(json_object_get(x, "rev")), when,
					       json_string_value(json_object_get(x, "command")) ? json_string_value(json_object_get(x, "command")) : "?",
					       json_string_value(json_object_get(x, "who")) ? json_string_value(json_object_get(x, "who")) : "?",
					       json_string_value(json_object_get(x, "host")) ? json_string_value(json_object_get(x, "host")) : "?",
					       (long long)json_integer_value(json_object_get(x, "pid")),
					       json_string_value(json_object_get(x, "status")) ? json_string_value(json_object_get(x, "status")) : "?");
					json_array_foreach(json_object_get(x, "changes"), j, ch)
						printf("    %-8s %s (%s)\n", json_string_value(json_object_get(ch, "action")),
						       json_string_value(json_object_get(ch, "address")),
						       json_string_value(json_object_get(ch, "type")) ? json_string_value(json_object_get(ch, "type")) : "");
					cairn_cli_print_history_guard(json_object_get(x, "summary"));
				}
			}
			json_decref(h);
		}
	} else if (!strcmp(sub, "rm") || !strcmp(sub, "mv")) {
		int64_t rev = 0;

		if ((!strcmp(sub, "rm") && c->nargs < 1) || (!strcmp(sub, "mv") && c->nargs != 2))
			return usage_error(!strcmp(sub, "rm") ? "usage: cairn state rm -e ENV ADDRESS..." : "usage: cairn state mv -e ENV FROM TO");
		if ((rc = open_store(c, &st, true)) != 0)
			goto done;
		if ((rc = cairn_lock_acquire(st, c->env, "state", c->lease > 0 ? c->lease : CAIRN_LOCK_DEFAULT_LEASE,
					     c->lock_timeout, NULL)) != 0)
			goto done;
		/* a wrong address leaves no revision behind */
		if ((rc = check_state_args(c, st, !strcmp(sub, "mv"))) != 0) {
			cairn_lock_release(st, c->env);
			goto done;
		}
		if ((rc = cairn_store_rev_begin(st, c->env, !strcmp(sub, "rm") ? "state rm" : "state mv", &rev)) == 0) {
			if (!strcmp(sub, "rm")) {
				for (i = 0; i < (size_t)c->nargs && !rc; i++) {
					rc = cairn_store_remove(st, c->env, rev, "rm", c->args[i], 0);
					if (rc == CAIRN_ENOTFOUND)
						rc = cairn_error_set(CAIRN_EINVAL, "no resource %s in the state of environment '%s'",
								     c->args[i], c->env);
					else if (!rc)
						printf("Removed %s from the state (the object itself was not touched).\n", c->args[i]);
				}
			} else {
				rc = cairn_store_move(st, c->env, rev, c->args[0], c->args[1]);
				if (rc == CAIRN_ENOTFOUND)
					rc = cairn_error_set(CAIRN_EINVAL, "no resource %s in the state of environment '%s'",
							     c->args[0], c->env);
				else if (!rc)
					printf("Moved %s to %s.\n", c->args[0], c->args[1]);
			}
			cairn_store_rev_finish(st, rev, rc ? "failed" : "ok", NULL);
		}
		cairn_lock_release(st, c->env);
	} else {
		return usage_error("unknown state command '%s' (list, show, rm, mv, history)", sub);
	}
done:
	cairn_store_free(st);
	return report(c, rc);
}

static int cmd_lock(cli *c, int argc, char **argv)
{
	cairn_store *st = NULL;
	cairn_lock_info *li = NULL;
	const char *sub;
	int rc;

	if (argc < 2 || argv[1][0] == '-')
		return usage_error("usage: cairn lock status|force-unlock -e ENV");
	sub = argv[1];
	if (parse(c, argc - 1, argv + 1, FL_ENV | FL_JSON) || no_args(c) || need_env(c))
		return CAIRN_EXIT_ERROR;
	if (strcmp(sub, "status") && strcmp(sub, "force-unlock"))
		return usage_error("unknown lock command '%s' (status, force-unlock)", sub);
	if ((rc = open_store(c, &st, !strcmp(sub, "force-unlock"))) != 0) {
		if (rc == CAIRN_ENOTFOUND) {
			printf("environment '%s' %s not locked\n", c->env, !strcmp(sub, "status") ? "is" : "was");
			return 0;
		}
		goto done;
	}
	if (!strcmp(sub, "status")) {
		rc = cairn_lock_get(st, c->env, &li);
		if (rc == CAIRN_ENOTFOUND) {
			printf("environment '%s' is not locked\n", c->env);
			rc = 0;
		} else if (rc == 0 || rc == CAIRN_ETIMEOUT) {
			time_t since = (time_t)li->since;
			char when[64];

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&since));
			printf("environment '%s' is locked%s\n  holder:    %s\n  pid:       %ld\n  host:      %s\n"
			       "  operation: %s\n  since:     %s\n  expires:   in %llds\n", c->env,
			       rc == CAIRN_ETIMEOUT ? " (lease expired: the next run takes it over)" : "",
			       li->holder, li->pid, li->host, li->operation, when,
			       (long long)(li->expires - (int64_t)time(NULL)));
			rc = 0;
		}
	} else {
		rc = cairn_lock_force_unlock(st, c->env);
		if (rc == CAIRN_ENOTFOUND) {
			printf("environment '%s' was not locked\n", c->env);
			rc = 0;
		} else if (!rc) {
			printf("unlocked environment '%s'\n", c->env);
		}
	}
done:
	cairn_lock_info_free(li);
	cairn_store_free(st);
	return report(c, rc);
}

static int cmd_output(cli *c, int argc, char **argv)
{
	cairn_store *st = NULL;
	json_t *vals = NULL, *sens = NULL;
	const char *k;
	json_t *v;
	int rc;

	if (parse(c, argc, argv, FL_ENV | FL_JSON | FL_SENSITIVE) || need_env(c))
		return CAIRN_EXIT_ERROR;
	if (c->nargs > 1)
		return usage_error("usage: cairn output -e ENV [NAME]");
	if ((rc = open_store(c, &st, false)) != 0)
		goto done;
	if ((rc = cairn_store_outputs_get(st, c->env, &vals, &sens)) != 0)
		goto done;
	if (c->nargs == 1) {
		bool s = false;
		size_t i;
		json_t *x;
		char *r;

		v = json_object_get(vals, c->args[0]);
		if (!v) {
			rc = cairn_error_set(CAIRN_EINVAL, "no output '%s' in environment '%s'", c->args[0], c->env);
			goto done;
		}
		json_array_foreach(sens, i, x)
			if (!strcmp(json_string_value(x), c->args[0]))
				s = true;
		if (s && !c->show_sensitive) {
			rc = cairn_error_set(CAIRN_EINVAL, "output '%s' is sensitive: add --show-sensitive to print it", c->args[0]);
			goto done;
		}
		if (json_is_string(v) && !c->json)
			printf("%s\n", json_string_value(v));
		else {
			r = json_dumps(v, JSON_ENCODE_ANY | (c->json ? JSON_INDENT(2) : JSON_COMPACT));
			printf("%s\n", r);
			free(r);
		}
		goto done;
	}
	if (c->json) {
		json_t *doc = json_object();

		json_object_foreach(vals, k, v) {
			bool s = false;
			size_t i;
			json_t *x;

			json_array_foreach(sens, i, x)
				if (!strcmp(json_string_value(x), k))
					s = true;
			/* o: the new "(sensitive)" string is handed over, v gets a reference */
			json_object_set_new(doc, k, json_pack("{s:o,s:b}", "value",
				s && !c->show_sensitive ? json_string("(sensitive)") : json_incref(v), "sensitive", s));
		}
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(doc);
	} else {
		print_attrs(vals, sens, c->show_sensitive);
	}
done:
	json_decref(vals);
	json_decref(sens);
	cairn_store_free(st);
	return report(c, rc);
}

/* cairn approve PLANFILE (guard_cmd.c): the plan names its environment. */
static int cmd_approve(cli *c, int argc, char **argv)
{
	cairn_engine_opts o;
	json_t *doc = NULL;
	int rc;

	if (parse(c, argc, argv, FL_ENV | FL_VARS | FL_KEY))
		return CAIRN_EXIT_ERROR;
	if (c->nargs != 1)
		return usage_error("usage: cairn approve PLANFILE [--key PATH] (a plan saved with cairn plan -out)");
	if ((rc = load_plan_file(c, c->args[0], &doc)) != 0) {
		int x = report(c, rc);

		/* as cairn_cli_approve: a plan that cannot be approved (an edited rollback plan) is exit 5 */
		return x == CAIRN_EXIT_ERROR && (rc == CAIRN_EINVAL || rc == CAIRN_ESTALE) ? CAIRN_EXIT_APPROVAL : x;
	}
	engine_opts(c, &o, true);
	rc = cairn_cli_approve(&o, c->args[0], doc, c->key);
	json_decref(doc);
	return rc;
}

/* cairn rollback -e ENV --to REV: the configuration recorded for REV,
 * written to a private directory, planned and applied as any apply
 * against this environment's state (guard_cmd.c). */
static int cmd_rollback(cli *c, int argc, char **argv)
{
	char **v;
	long to = 0;
	int rc, i, n = 0;

	/* --to is rollback's alone: taken out before the common flags are parsed
	 * (into a copy of argv: main frees the strings of its own) */
	if (!(v = calloc((size_t)argc + 1, sizeof(char *))))
		return report(c, cairn_error_set(CAIRN_ENOMEM, "out of memory"));
	for (i = 0; i < argc; i++) {
		if (i > 0 && (!strcmp(argv[i], "--to") || !strncmp(argv[i], "--to=", 5))) {
			const char *val = argv[i][4] == '=' ? argv[i] + 5 : i + 1 < argc ? argv[++i] : NULL;

			if (!val || cairn_cli_parse_int(val, 1, LONG_MAX, &to)) {
				free(v);
				return usage_error("--to expects a revision number (see cairn state history), got '%s'",
						   val ? val : "");
			}
			continue;
		}
		v[n++] = argv[i];
	}
	if (parse(c, n, v, FL_ENV | FL_APPROVE | FL_LOCK | FL_PLAN | FL_METRICS | FL_OUT) || no_args(c) || need_env(c)) {
		rc = CAIRN_EXIT_ERROR;
		goto done;
	}
	if (c->out && (c->auto_approve || c->metrics)) {
		rc = usage_error("flag %s does not apply to 'cairn rollback -out': it saves the plan, 'cairn apply FILE' "
				 "applies it", c->auto_approve ? "--auto-approve" : "--metrics");
		goto done;
	}
	if (!to) {
		rc = usage_error("usage: cairn rollback -e ENV --to REV [--auto-approve | -out FILE]");
		goto done;
	}
	if ((rc = check_env_exists(c)) != 0)
		rc = report(c, rc);
	else
		rc = rollback_to(c, to, NULL);
done:
	free(v);
	return rc;
}

/* Plan and apply the configuration of revision `to` (the body of cairn
 * rollback, and the automatic rollback after failed checks: `why`). */
static int rollback_to(cli *c, long to, const char *why)
{
	char *state = NULL, *tmp = NULL, *stack = NULL, *label = NULL, *pdir = NULL, *cur_abs = NULL;
	json_t *vars = NULL;
	long from = 0;
	int rc;

	if ((rc = state_path(c, &state)) != 0) {
		rc = report(c, rc);
		goto done;
	}
	if (asprintf(&pdir, "%s/policies", c->stack ? dirname(strdupa(c->stack)) : c->dir) < 0) {
		pdir = NULL;
		rc = report(c, cairn_error_set(CAIRN_ENOMEM, "out of memory"));
		goto done;
	}
	/* the current stack says whether the environment needs approvals (the
	 * recorded one may predate them) */
	{
		cairn_stack *cur = NULL;
		char *path = NULL;
		int required = 0;
		bool distinct = false;

		if (c->stack || asprintf(&path, "%s/stack.yaml", c->dir) >= 0)
			rc = cairn_stack_load(&cur, c->stack ? c->stack : path);
		else
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		/* a saved rollback plan names the stack whose approvals it needs */
		if (!rc && c->out && !(cur_abs = realpath(c->stack ? c->stack : path, NULL)))
			rc = cairn_error_set(CAIRN_EIO, "cannot resolve %s: %s", c->stack ? c->stack : path, strerror(errno));
		free(path);
		if (!rc)
			cairn_config_env_approvals(cur, c->env, &required, &distinct);
		cairn_stack_free(cur);
		if (!rc && required > 0 && !c->out) {
			rc = report(c, cairn_error_set(CAIRN_EINVAL, "environment '%s' needs %d approval%s (environments.%s."
				"approvals in the stack): a rollback there is a saved plan that was approved: cairn rollback "
				"-e %s --to %ld -out FILE; cairn approve FILE; cairn apply FILE", c->env, required,
				required == 1 ? "" : "s", c->env, c->env, to));
			rc = CAIRN_EXIT_APPROVAL;
			goto done;
		}
		if (rc) {
			rc = report(c, rc);
			goto done;
		}
	}
	if ((rc = cairn_cli_rollback_prepare(state, c->env, to, NULL, &tmp, &stack, &vars, &from)) != 0) {
		rc = report(c, rc);
		goto done;
	}
	if (asprintf(&label, "%srollback from revision %ld to revision %ld%s%s%s", why ? "automatic " : "", from, to,
		     why ? " (" : "", why ? why : "", why ? ")" : "") < 0) {
		label = NULL;
		rc = report(c, cairn_error_set(CAIRN_ENOMEM, "out of memory"));
		goto done;
	}
	if (!c->json)
		printf("%s environment '%s' back to the configuration of revision %ld (the latest applied is revision %ld).\n\n",
		       c->out ? "Planning the rollback of" : "Rolling", c->env, to, from);
	json_decref(c->vars);
	c->vars = json_incref(vars);
	c->stack = stack;
	c->state = state;
	c->label = label;
	if (c->out) {
		char *pabs = NULL, *cdir = dirname(strdupa(cur_abs));

		/* the plan says what it rolls back, and where its configuration was
		 * written, to write it there again at approve and apply (rollback_plan_restore) */
		if (asprintf(&pabs, "%s/policies", cdir) < 0 ||
		    !(c->plan_extra = json_pack("{s:{s:I,s:I,s:s,s:s,s:s}}", "rollback", "from", (json_int_t)from, "to",
						(json_int_t)to, "dir", tmp, "stack", cur_abs, "policies", pabs))) {
			free(pabs);
			rc = report(c, cairn_error_set(CAIRN_ENOMEM, "out of memory"));
			goto done;
		}
		free(pdir);
		pdir = pabs;
		c->policy_dir = pdir;
		rc = run_plan(c);
		json_decref(c->plan_extra);
		c->plan_extra = NULL;
		goto done;
	}
	c->policy_dir = pdir;
	rc = run_apply(c, false);
done:
	cairn_cli_rollback_cleanup(tmp);
	json_decref(vars);
	free(tmp);
	free(stack);
	free(state);
	free(label);
	free(pdir);
	free(cur_abs);
	c->stack = c->state = NULL;
	c->label = c->policy_dir = NULL;
	return rc;
}

/* ---------- main ---------- */

int cairn_cli_main(int argc, char **argv)
{
	cli c;
	char **args;
	double t_start;
	int rc, i;

	memset(&c, 0, sizeof(c));
	c.commit_s = -1;
	t_start = cairn_now();
	c.m_start = t_start;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return CAIRN_EXIT_ERROR;
	}
	c.cmd = argv[1];
	if (!strcmp(c.cmd, "sim"))
		return cairn_sim_main(argc - 1, argv + 1);
	if (!strcmp(c.cmd, "help") || !strcmp(c.cmd, "--help") || !strcmp(c.cmd, "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(c.cmd, "version") || !strcmp(c.cmd, "--version")) {
		printf("cairn %s\n", CAIRN_VERSION);
		return 0;
	}
	args = normalise_args(argc - 1, argv + 1);
	if (!args)
		return CAIRN_EXIT_ERROR;
	if (!strcmp(c.cmd, "validate")) rc = cmd_validate(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "plan")) rc = cmd_plan(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "apply")) rc = cmd_apply(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "destroy")) rc = cmd_destroy(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "import")) rc = cmd_import(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "graph")) rc = cmd_graph(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "output")) rc = cmd_output(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "state")) rc = cmd_state(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "lock")) rc = cmd_lock(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "drift")) rc = cairn_cli_drift(argc - 1, args);
	else if (!strcmp(c.cmd, "policy")) rc = cairn_cli_policy(argc - 1, args);
	else if (!strcmp(c.cmd, "approve")) rc = cmd_approve(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "rollback")) rc = cmd_rollback(&c, argc - 1, args);
	else if (!strcmp(c.cmd, "env")) rc = cairn_cli_env(argc - 1, args);
	else rc = usage_error("unknown command '%s'", c.cmd);
	for (i = 0; i < argc - 1; i++)
		free(args[i]);
	free(args);
	json_decref(c.vars);
	for (i = 0; i < (int)c.ntargets; i++)
		free(c.targets[i]);
	for (i = 0; i < (int)c.nexcludes; i++)
		free(c.excludes[i]);
	free(c.targets);
	free(c.excludes);
	free(c.failed_checks);
	/* a saved rollback plan's configuration, written back for approve or apply */
	cairn_cli_rollback_cleanup(c.rb_tmp);
	free(c.rb_tmp);
	free(c.rb_stack);
	free(c.rb_state);
	free(c.rb_label);
	free(c.rb_pdir);
	json_decref(c.m_summary);
	json_decref(c.m_checks);
	fflush(stdout);
	if (c.commit_s >= 0 && getenv("CAIRN_STATS")) {
		/* the whole command: loading, planning, applying, closing the store */
		double wall = cairn_now() - t_start;

		fprintf(stderr, "cairn stats: command_wall_s=%.3f commit_s=%.4f (%.2f%% of the command)\n",
			wall, c.commit_s, wall > 0 ? 100 * c.commit_s / wall : 0);
	}
	return rc;
}
