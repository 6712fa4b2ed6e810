/*
 * env_cmd.c - `cairn env list|create|extend|destroy|gc` (see env_cmd.h and
 * docs/environments.md).
 *
 * An ephemeral environment is recorded in the state (state/envs.h) and
 * lives through the engine like any other (engine/ephemeral.c gives it its
 * base's overlay). Everything that changes one runs under that
 * environment's own lock: create records it after taking the lock, destroy
 * and gc forget it before releasing it, and gc re-reads the record under
 * the lock, so that two gc runners, or gc and an `env extend` or an apply,
 * never act on the same environment at once. Nothing here takes a lock on
 * the whole state: ten pipelines on ten environments run side by side.
 *
 * The guardrails of apply and destroy hold here, through the same
 * functions (guard_cmd.h): the stack's policies on every plan, the checks
 * after env create's apply; a name that needs approvals is refused, as the
 * env commands apply no saved plan (docs/guardrails.md).
 */
#include "env_cmd.h"
#include "guard_cmd.h"
#include "ci.h"
#include "cli.h"
#include "base/value.h"
#include "json_run.h"
#include "progress.h"
#include "render.h"
#include "state/envs.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct env_cli {
	const char *sub;
	const char *dir, *stack_file, *state_file;
	const char *from;
	json_t *vars;
	double ttl;          /* seconds; < 0: not given */
	double lock_timeout;
	int lease;
	int parallelism;
	bool auto_approve, plan_only, json, color, verbose;
	char **args;
	int nargs;
	cairn_stack *stack;
	char *state_path;
	char command[16];     /* "env create"... */
	cairn_jout *jout;     /* --json (not env list): the stream, or NULL */
	cairn_progress prog;  /* what an apply or destroy says as it goes */
	int guard_exit;       /* CAIRN_EXIT_POLICY... when a guardrail refused (not gc's, per environment) */
} env_cli;

static const char env_usage[] =
"usage: cairn env list [--json]\n"
"       cairn env create NAME --from BASE [--ttl 4h] [--var K=V]... [--auto-approve | --plan-only] [--json]\n"
"       cairn env extend NAME --ttl 2h [--json]\n"
"       cairn env destroy NAME [--auto-approve] [--json]\n"
"       cairn env gc [--json]\n"
"Common flags: -C DIR, --stack FILE, --state FILE, --lock-timeout DUR, --lease SECONDS,\n"
"  --parallelism N, --no-color, -v; --json (not list): the stream of docs/json-output.md.\n"
"See docs/environments.md.\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("cairn: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run 'cairn env --help' for usage)\n", stderr);
	return CAIRN_EXIT_ERROR;
}

/* Print the current error once (redacted through e when there is one), and
 * with --json, write it as a diagnostic too. */
static int fail(env_cli *c, const cairn_engine *e, int rc)
{
	const cairn_error *err = cairn_error_last();
	char msg[4096];
	char *red;

	if (rc == 0)
		return CAIRN_EXIT_OK;
	fflush(stdout);
	cairn_error_format(err, msg, sizeof(msg));
	red = cairn_engine_redact(e, msg);
	fprintf(stderr, "cairn: error: %s\n", red ? red : msg);
	free(red);
	if (c->jout) {
		/* the message without its position, which the diagnostic has apart */
		red = cairn_engine_redact(e, err ? err->message : "unknown error");
		cairn_jout_diagnostic(c->jout, "error", err, red ? red : "(error text withheld)");
		free(red);
	}
	return c->guard_exit ? c->guard_exit : rc == CAIRN_ELOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_ERROR;
}

/* ---------- parsing ---------- */

enum { E_STACK = 256, E_STATE, E_FROM, E_TTL, E_VAR, E_APPROVE, E_PLANONLY, E_JSON, E_LOCKT, E_LEASE, E_PAR,
       E_NOCOLOR };

/* Which subcommands take which flag: l(ist) c(reate) e(xtend) d(estroy) g(c). */
static const struct { int opt; const char *subs; } flag_subs[] = {
	{ E_FROM, "c" }, { E_TTL, "ce" }, { E_VAR, "c" }, { E_APPROVE, "cd" }, { E_PLANONLY, "c" },
	{ E_JSON, "lcedg" }, { E_LOCKT, "ced" }, { E_LEASE, "cdg" }, { E_PAR, "cdg" }, { E_NOCOLOR, "cdg" },
	{ 'v', "cdg" },
};

/* --ttl: a second up to 10 years; s, m, h or d (--lock-timeout: cli.h's rule). */
static const cairn_duration_rules ttl_rules = {
	.min = 1, .max = 10 * 365 * 86400.0, .zero = false,
	.units = CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H | CAIRN_DURATION_D,
};

static int parse_var(env_cli *c, const char *arg)
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

static bool flag_applies(const env_cli *c, int opt)
{
	size_t i;

	for (i = 0; i < sizeof(flag_subs) / sizeof(flag_subs[0]); i++)
		if (flag_subs[i].opt == opt)
			return strchr(flag_subs[i].subs, c->sub[0]) != NULL; /* list, create, extend, destroy, gc */
	return true;
}

static int parse(env_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'C' }, { "stack", required_argument, NULL, E_STACK },
		{ "state", required_argument, NULL, E_STATE }, { "from", required_argument, NULL, E_FROM },
		{ "ttl", required_argument, NULL, E_TTL }, { "var", required_argument, NULL, E_VAR },
		{ "auto-approve", no_argument, NULL, E_APPROVE }, { "plan-only", no_argument, NULL, E_PLANONLY },
		{ "json", no_argument, NULL, E_JSON }, { "lock-timeout", required_argument, NULL, E_LOCKT },
		{ "lease", required_argument, NULL, E_LEASE }, { "parallelism", required_argument, NULL, E_PAR },
		{ "no-color", no_argument, NULL, E_NOCOLOR }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt, idx;
	long n;

	c->ttl = -1;
	c->dir = ".";
	c->color = cairn_cli_color();
	optind = 1;
	opterr = 0;
	while ((idx = -1, opt = getopt_long(argc, argv, ":C:vh", opts, &idx)) != -1) {
		if (opt != ':' && opt != '?' && !flag_applies(c, opt))
			return usage("flag %s%s does not apply to 'cairn env %s'", idx >= 0 ? "--" : "",
				     idx >= 0 ? opts[idx].name : argv[optind - 1], c->sub);
		switch (opt) {
		case 'C': c->dir = optarg; break;
		case E_STACK: c->stack_file = optarg; break;
		case E_STATE: c->state_file = optarg; break;
		case E_FROM: c->from = optarg; break;
		case E_TTL:
			if (cairn_duration_parse(optarg, &ttl_rules, &c->ttl))
				return usage("--ttl expects a duration of at least a second like 90s, 30m, 4h or 2d, got '%s'",
					     optarg);
			break;
		case E_VAR:
			if (parse_var(c, optarg))
				return -1;
			break;
		case E_APPROVE: c->auto_approve = true; break;
		case E_PLANONLY: c->plan_only = true; break;
		case E_JSON: c->json = true; break;
		case E_LOCKT:
			if (cairn_cli_parse_lock_timeout(optarg, &c->lock_timeout))
				return usage("--lock-timeout expects " CAIRN_CLI_LOCK_TIMEOUT_TAKES ", got '%s'", optarg);
			break;
		case E_LEASE:
			if (cairn_cli_parse_int(optarg, 1, 86400, &n))
				return usage("--lease expects seconds, got '%s'", optarg);
			c->lease = (int)n;
			break;
		case E_PAR:
			if (cairn_cli_parse_int(optarg, 1, 10000, &n))
				return usage("--parallelism expects a number from 1 to 10000, got '%s'", optarg);
			c->parallelism = (int)n;
			break;
		case E_NOCOLOR: c->color = false; break;
		case 'v': c->verbose = true; break;
		case 'h':
			fputs(env_usage, stdout);
			exit(0);
		case ':':
			return usage("flag %s needs a value", argv[optind - 1]);
		default:
			return usage("unknown flag '%s' for 'cairn env %s'", argv[optind - 1], c->sub);
		}
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	return 0;
}

/* ---------- shared steps ---------- */

static int load_stack(env_cli *c)
{
	char *file = NULL;
	int rc;

	if (c->stack_file)
		file = strdup(c->stack_file);
	else if (asprintf(&file, "%s/stack.yaml", c->dir) < 0)
		file = NULL;
	if (!file)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_stack_load(&c->stack, file);
	free(file);
	if (!rc && cairn_store_location(c->state_file, c->stack->state) &&
	    !(c->state_path = strdup(cairn_store_location(c->state_file, c->stack->state))))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	else if (!rc && !cairn_store_location(c->state_file, c->stack->state) && asprintf(&c->state_path, "%s/.cairn/state.db", c->stack->dir) < 0)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return rc;
}

/* The state for reading, or *st NULL when there is none yet. */
static int open_state(env_cli *c, cairn_store **st, bool write)
{
	return cairn_store_open_existing(st, c->state_path, write ? CAIRN_STORE_CREATE : CAIRN_STORE_READONLY);
}

static void engine_opts(env_cli *c, cairn_engine_opts *o, const char *env, bool for_write)
{
	memset(o, 0, sizeof(*o));
	o->dir = c->dir;
	o->stack_file = c->stack_file;
	o->state_file = c->state_file;
	o->env = env;
	o->var_overrides = json_object_size(c->vars) ? c->vars : NULL;
	o->parallelism = c->parallelism;
	o->refresh = true;
	o->for_write = for_write;
	o->lock_timeout = c->lock_timeout;
	o->lease = c->lease;
	/* as apply: what runs on stderr (a plan only with -v) */
	o->log = for_write || c->verbose ? stderr : NULL;
	o->verbose = c->verbose;
	o->on_event = cairn_progress_event;
	o->event_ud = &c->prog;
}

static void fmt_time(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;

	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", gmtime(&tt));
}

/* "3h59m", "45s": a span of seconds for people. */
static void fmt_span(char *buf, size_t n, int64_t s)
{
	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(buf, n, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, n, "%llds", (long long)s);
}

static void fmt_expiry(char *buf, size_t n, int64_t expires_at)
{
	char when[64], span[32];
	int64_t now = (int64_t)time(NULL);

	if (!expires_at) {
		snprintf(buf, n, "never");
		return;
	}
	fmt_time(when, sizeof(when), expires_at);
	fmt_span(span, sizeof(span), expires_at - now);
	snprintf(buf, n, expires_at > now ? "%s (in %s)" : "%s (expired %s ago)", when, span);
}

/* The refusal when a confirmation cannot be asked (CI, no terminal): the
 * same words as cairn apply's. */
static int cannot_ask(const char *what)
{
	return cairn_error_set(CAIRN_EINVAL, "%s needs confirmation, and %s: run with --auto-approve", what,
			       cairn_cli_no_prompt());
}

static int confirm(bool auto_approve, const char *what, const char *env)
{
	char line[64];

	if (auto_approve)
		return 0;
	if (cairn_cli_no_prompt())
		return cannot_ask(what);
	printf("\nDo you want to perform these actions in environment '%s'?\n"
	       "  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", env);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0)
		return cairn_error_set(CAIRN_EINVAL, "%s cancelled", what);
	return 0;
}

/* The plan as text, or with --json as planned_change and change_summary
 * lines (operation: "plan", "apply" or "destroy"). */
static int print_plan(env_cli *c, cairn_engine *e, const char *operation)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	if (c->jout)
		return cairn_json_run_plan(c->jout, e, operation);
	rc = cairn_render_plan(e, &b, c->color);

	if (!rc)
		fputs(cairn_buf_cstr(&b), stdout);
	cairn_buf_release(&b);
	fflush(stdout);
	return rc;
}

static bool plan_has_changes(const cairn_engine *e)
{
	int a, ch, d;

	cairn_engine_counts(e, &a, &ch, &d);
	return a || ch || d;
}

/* The stack's policies on e's plan, as apply and destroy run them
 * (guard_cmd.h): shown after the plan; for a command that applies
 * (`what`; NULL for --plan-only) a deny refuses it with exit 4, except in
 * gc, where it fails that environment only and gc goes on. */
static int policies(env_cli *c, cairn_engine *e, const char *what, bool gc, json_t **findings)
{
	bool denied = false;
	int rc = cairn_cli_policies(e, NULL, c->jout, what, findings, &denied);

	if (denied && !gc)
		c->guard_exit = CAIRN_EXIT_POLICY;
	return rc;
}

/* ---------- protected environments, and the check other commands use ---------- */

/* Where the stack marks env protected (for file:line:col), or NULL. */
static const cairn_pos *protected_at(const cairn_stack *s, const char *env)
{
	return cairn_config_env_protected(s, env) ? cairn_config_env_pos(s, env) : NULL;
}

static int refuse_protected(const cairn_stack *s, const char *env, const char *cmd)
{
	return cairn_error_set_at(CAIRN_EINVAL, protected_at(s, env), "environment '%s' is protected (environments: "
		"%s: protected: true): '%s' refuses it; to tear it down, remove the protection from the stack first",
		env, env, cmd);
}

/* How many approvals the stack requires for env (environments.ENV.approvals,
 * by name: an ephemeral environment's base's do not carry over, as its
 * protection does not), or 0. */
static int needs_approvals(const cairn_stack *s, const char *env)
{
	int required = 0;
	bool distinct = false;

	cairn_config_env_approvals(s, env, &required, &distinct);
	return required;
}

/* The env commands apply no saved plan, so none of them can satisfy an
 * environment that needs approvals: refused (exit 5), as apply -e ENV and
 * destroy -e ENV are. */
static int refuse_approvals(const cairn_stack *s, const char *env, const char *cmd, const char *how)
{
	int n = needs_approvals(s, env);

	return cairn_error_set_at(CAIRN_EINVAL, cairn_config_env_pos(s, env), "environment '%s' needs %d approval%s "
		"(environments.%s.approvals in the stack), and '%s' applies no saved plan, which is what approvals are "
		"given to: it refuses it%s", env, n, n == 1 ? "" : "s", env, cmd, how);
}

/* "destroy a, replace b and 3 more": the deletions and replacements of e's
 * plan, in list; how many there are. */
static size_t risky_changes(const cairn_engine *e, cairn_buf *list)
{
	size_t i, n = 0;

	for (i = 0; i < e->ninsts; i++) {
		const cairn_inst *in = &e->insts[i];

		if (!in->targeted || (in->action != CAIRN_ACT_DELETE && in->action != CAIRN_ACT_REPLACE))
			continue;
		if (n++ < 5)
			cairn_buf_printf(list, "%s%s %s", n > 1 ? ", " : "", in->action == CAIRN_ACT_DELETE ? "destroy" :
					 "replace", in->address);
	}
	if (n > 5)
		cairn_buf_printf(list, " and %zu more", n - 5);
	return n;
}

int cairn_cli_check_protected(const cairn_engine *e, bool destroy, bool saved)
{
	cairn_buf list = CAIRN_BUF_INIT;
	int rc;

	if (!cairn_config_env_protected(e->stack, e->opts.env))
		return 0;
	if (destroy)
		return refuse_protected(e->stack, e->opts.env, "cairn destroy");
	if (saved)
		return 0;
	cairn_buf_init(&list, 0);
	rc = risky_changes(e, &list) == 0 ? 0 : cairn_error_set_at(CAIRN_EINVAL, protected_at(e->stack, e->opts.env),
		"environment '%s' is protected: this plan would %s; a plan "
		"that destroys or replaces something there is applied only as a saved plan: run 'cairn plan -e %s "
		"-out FILE', review it, then 'cairn apply FILE'", e->opts.env, cairn_buf_cstr(&list), e->opts.env);
	cairn_buf_release(&list);
	return rc;
}

bool cairn_cli_protected_warning(const cairn_engine *e, bool destroy)
{
	cairn_buf list = CAIRN_BUF_INIT;
	bool warn;

	if (!cairn_config_env_protected(e->stack, e->opts.env))
		return false;
	cairn_buf_init(&list, 0);
	if ((warn = risky_changes(e, &list) > 0) && destroy)
		refuse_protected(e->stack, e->opts.env, "cairn destroy");
	else if (warn)
		cairn_error_set_at(CAIRN_EINVAL, protected_at(e->stack, e->opts.env), "environment '%s' is protected and "
			"this plan would %s: 'cairn apply -e %s' will refuse it; it is applied only as a saved plan: "
			"'cairn plan -e %s -out FILE', review it, then 'cairn apply FILE'", e->opts.env,
			cairn_buf_cstr(&list), e->opts.env, e->opts.env);
	cairn_buf_release(&list);
	return warn;
}

bool cairn_cli_env_recorded(const char *state_path, const char *env)
{
	cairn_ephemeral_env rec = { 0 };
	cairn_store *st = NULL;
	bool found = false;

	if (cairn_store_open_existing(&st, state_path, CAIRN_STORE_READONLY) == 0 && st &&
	    cairn_store_ephemeral_get(st, env, &rec) == 0)
		found = true;
	cairn_ephemeral_env_release(&rec);
	cairn_store_free(st);
	return found;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cairn_cli_env_add_ephemeral(const char *state_path, char ***names, size_t *n, bool *checked)
{
	cairn_ephemeral_env *recs = NULL;
	cairn_store *st = NULL;
	size_t nrecs = 0, i, j;
	char **v;
	int rc = 0;

	if ((rc = cairn_store_open_existing(&st, state_path, CAIRN_STORE_READONLY)) != 0 || !st)
		return rc;
	if (checked)
		*checked = true; /* the open ran the file's integrity check */
	if ((rc = cairn_store_ephemeral_list(st, &recs, &nrecs)) != 0)
		goto cleanup;
	for (i = 0; i < nrecs; i++) {
		bool dup = false;

		for (j = 0; j < *n && !dup; j++)
			dup = !strcmp((*names)[j], recs[i].name); /* an overlay file wins */
		if (dup)
			continue;
		if (!(v = realloc(*names, (*n + 1) * sizeof(*v))) || !(v[*n] = strdup(recs[i].name))) {
			if (v)
				*names = v;
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		*names = v;
		(*n)++;
	}
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_name);
cleanup:
	cairn_ephemeral_env_free_array(recs, nrecs);
	cairn_store_free(st);
	return rc;
}

/* ---------- env list ---------- */

/* A lock's holder as env list and env gc --json show it. */
static json_t *lock_json(const cairn_lock_info *li)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:I}", "holder", li->holder, "host", li->host, "pid", (json_int_t)li->pid,
			 "operation", li->operation, "since", (json_int_t)li->since, "expires", (json_int_t)li->expires);
}

/* One environment as `env list --json` gives it. */
static json_t *describe(env_cli *c, cairn_store *st, const char *name, const cairn_ephemeral_env *rec, bool overlay)
{
	json_t *o = json_object(), *sum = NULL;
	cairn_lock_info *li = NULL;

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "kind", json_string(overlay ? "overlay" : "ephemeral"));
	json_object_set_new(o, "protected", json_boolean(cairn_config_env_protected(c->stack, name)));
	json_object_set_new(o, "base", rec && !overlay ? json_string(rec->base) : json_null());
	json_object_set_new(o, "resources", json_integer(0));
	json_object_set_new(o, "last_run", json_null());
	json_object_set_new(o, "lock", json_null());
	json_object_set_new(o, "last_drift", json_null());
	if (st && cairn_store_env_summary(st, name, &sum) == 0) {
		json_object_update(o, sum);
		json_decref(sum);
	}
	if (st && cairn_lock_get(st, name, &li) == 0)
		json_object_set_new(o, "lock", lock_json(li));
	cairn_lock_info_free(li);
	if (rec && !overlay) {
		json_object_set_new(o, "created_at", json_integer(rec->created_at));
		json_object_set_new(o, "created_by", json_string(rec->who));
		json_object_set_new(o, "expires_at", rec->expires_at ? json_integer(rec->expires_at) : json_null());
		json_object_set_new(o, "expired", json_boolean(rec->expires_at && rec->expires_at <= (int64_t)time(NULL)));
	} else {
		json_object_set_new(o, "expires_at", json_null());
		json_object_set_new(o, "expired", json_false());
	}
	return o;
}

static const char *s_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "?";
}

static void print_row(const json_t *x, int w)
{
	const json_t *run = json_object_get(x, "last_run"), *lock = json_object_get(x, "lock");
	const json_t *dr = json_object_get(x, "last_drift");
	char kind[160], last[512], lk[512], drift[128], exp[128], when[64];

	snprintf(kind, sizeof(kind), "%s%s%s%s", s_of(x, "kind"),
		 json_is_string(json_object_get(x, "base")) ? " from " : "",
		 json_is_string(json_object_get(x, "base")) ? s_of(x, "base") : "",
		 json_is_true(json_object_get(x, "protected")) ? ", protected" : "");
	if (json_is_object(run)) {
		fmt_time(when, sizeof(when), json_integer_value(json_object_get(run, "started_at")));
		snprintf(last, sizeof(last), "last run: %s %s by %s at %s", s_of(run, "command"), s_of(run, "status"),
			 s_of(run, "who"), when);
	} else {
		snprintf(last, sizeof(last), "never applied");
	}
	if (json_is_object(lock))
		snprintf(lk, sizeof(lk), "locked by %s (%s, pid %lld)", s_of(lock, "holder"), s_of(lock, "operation"),
			 (long long)json_integer_value(json_object_get(lock, "pid")));
	else
		snprintf(lk, sizeof(lk), "unlocked");
	if (json_is_object(dr)) {
		fmt_time(when, sizeof(when), json_integer_value(json_object_get(dr, "started_at")));
		snprintf(drift, sizeof(drift), "drift: %s at %s", s_of(dr, "status"), when);
	} else {
		snprintf(drift, sizeof(drift), "drift: never checked");
	}
	if (json_is_integer(json_object_get(x, "expires_at"))) {
		char e[100];

		fmt_expiry(e, sizeof(e), json_integer_value(json_object_get(x, "expires_at")));
		snprintf(exp, sizeof(exp), "expires %s", e);
	} else {
		snprintf(exp, sizeof(exp), "%s", json_is_string(json_object_get(x, "base")) ? "never expires" : "");
	}
	printf("%-*s  %-28s  %4lld resource(s)\n", w, s_of(x, "name"), kind,
	       (long long)json_integer_value(json_object_get(x, "resources")));
	printf("%-*s  %s; %s; %s%s%s\n", w, "", last, lk, drift, *exp ? "; " : "", exp);
}

static int env_list(env_cli *c)
{
	cairn_ephemeral_env *recs = NULL;
	cairn_store *st = NULL;
	char **names = NULL;
	size_t nnames = 0, nrecs = 0, i, j;
	json_t *arr = json_array(), *x;
	int rc, w = 4;

	if (c->nargs)
		return usage("unexpected argument '%s' for 'cairn env list'", c->args[0]);
	if ((rc = load_stack(c)) != 0 || (rc = cairn_env_list(&names, &nnames, c->stack)) != 0 ||
	    (rc = open_state(c, &st, false)) != 0 || (st && (rc = cairn_store_ephemeral_list(st, &recs, &nrecs)) != 0))
		goto cleanup;
	/* both lists are sorted: merge them; an overlay file wins over a record of the same name */
	for (i = 0, j = 0; i < nnames || j < nrecs;) {
		int cmp = i >= nnames ? 1 : j >= nrecs ? -1 : strcmp(names[i], recs[j].name);

		if (cmp <= 0) {
			json_array_append_new(arr, describe(c, st, names[i], cmp == 0 ? &recs[j] : NULL, true));
			i++;
			j += cmp == 0;
		} else {
			json_array_append_new(arr, describe(c, st, recs[j].name, &recs[j], false));
			j++;
		}
	}
	if (c->json) {
		json_t *doc = json_pack("{s:s,s:O}", "stack", c->stack->name, "environments", arr);

		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(doc);
		goto cleanup;
	}
	json_array_foreach(arr, i, x)
		if ((int)strlen(s_of(x, "name")) > w)
			w = (int)strlen(s_of(x, "name"));
	if (!json_array_size(arr))
		printf("Stack '%s' has no environment (no ENV.yaml beside %s, none created with 'cairn env create').\n",
		       c->stack->name, c->stack->path);
	json_array_foreach(arr, i, x)
		print_row(x, w);
cleanup:
	json_decref(arr);
	cairn_env_list_free(names, nnames);
	cairn_ephemeral_env_free_array(recs, nrecs);
	cairn_store_free(st);
	return fail(c, NULL, rc);
}

/* ---------- env create ---------- */

static int check_new_name(env_cli *c, const char *name)
{
	char **envs = NULL;
	size_t n = 0, i;
	cairn_buf b = CAIRN_BUF_INIT;
	int rc = 0;

	if (!cairn_env_name_valid(name))
		return cairn_error_set(CAIRN_EINVAL, "invalid environment name '%s' (use lowercase letters, digits, - and _, "
				       "at most 63, starting with a letter or digit)", name);
	if (cairn_env_has_overlay(c->stack, name))
		return cairn_error_set(CAIRN_EINVAL, "environment '%s' already exists: it has an overlay file beside %s",
				       name, c->stack->path);
	if (!strcmp(name, c->from))
		return cairn_error_set(CAIRN_EINVAL, "--from %s: an environment cannot be based on itself", c->from);
	if (cairn_env_has_overlay(c->stack, c->from))
		return 0;
	cairn_buf_init(&b, 0);
	if (cairn_env_list(&envs, &n, c->stack) == 0)
		for (i = 0; i < n; i++)
			cairn_buf_printf(&b, "%s%s", i ? ", " : "", envs[i]);
	rc = cairn_error_set(CAIRN_EINVAL, "--from %s: no such environment with an overlay file (the base of an "
			     "ephemeral environment is one of: %s)", c->from, n ? cairn_buf_cstr(&b) : "none");
	cairn_env_list_free(envs, n);
	cairn_buf_release(&b);
	return rc;
}

/* ---------- the --json stream ---------- */

/* An "environment" line: what became of one environment (action:
 * "planned", "created", "incomplete", "extended", "destroyed", "skipped",
 * "failed") with its record {name, base, expires_at} (null when unknown,
 * or never), plus the members of more (stolen; may be NULL). */
static void emit_env(env_cli *c, const char *level, const char *action, const char *name, const char *base,
		     int64_t expires_at, json_t *more, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void emit_env(env_cli *c, const char *level, const char *action, const char *name, const char *base,
		     int64_t expires_at, json_t *more, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	json_t *f;

	if (!c->jout) {
		json_decref(more);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f = json_pack("{s:{s:s,s:s?,s:o},s:s}", "environment", "name", name, "base", base, "expires_at",
		      expires_at ? json_integer(expires_at) : json_null(), "action", action);
	if (f && more)
		json_object_update(f, more);
	json_decref(more);
	cairn_jout_emit(c->jout, "environment", level, f, "%s", msg);
}

/* The last line of the stream, and its end. Without extra, for env create
 * and env destroy: cairn_json_run_summary's (e and summary, the apply's,
 * may be NULL); otherwise the command, exit code, status and the members
 * of extra (stolen; may be NULL). */
static void end_stream(env_cli *c, cairn_engine *e, json_t *summary, int exit_code, json_t *extra)
{
	json_t *f;

	if (!c->jout) {
		json_decref(extra);
		return;
	}
	if (!extra && (!strcmp(c->sub, "create") || !strcmp(c->sub, "destroy"))) {
		cairn_json_run_summary(c->jout, c->command, e, summary, exit_code);
	} else {
		f = json_pack("{s:s,s:i,s:s}", "command", c->command, "exit_code", exit_code, "status",
			      exit_code ? "error" : "ok");
		if (f && extra)
			json_object_update(f, extra);
		cairn_jout_emit(c->jout, "summary", exit_code ? "error" : "info", f, "%s %s (exit %d)", c->command,
				exit_code ? "failed" : "succeeded", exit_code);
	}
	json_decref(extra);
	cairn_jout_free(c->jout);
	c->jout = NULL;
}

/* ---------- env create ---------- */

static int create_plan_only(env_cli *c, const char *name)
{
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	json_t *extra = NULL, *findings = NULL;
	int64_t expires = c->ttl > 0 ? (int64_t)time(NULL) + (int64_t)(c->ttl + 0.5) : 0;
	int rc, add, ch, d;

	if (cairn_cli_env_recorded(c->state_path, name))
		return fail(c, NULL, cairn_error_set(CAIRN_EINVAL, "environment '%s' already exists (an ephemeral "
						  "environment in %s)", name, c->state_path));
	engine_opts(c, &o, name, false);
	o.env_from = c->from;
	/* the policies' findings as plan shows them: a deny does not change the exit code */
	if ((rc = cairn_engine_open(&e, &o)) == 0 && (rc = cairn_engine_plan(e, false, NULL)) == 0 &&
	    (rc = print_plan(c, e, "plan")) == 0 && (rc = policies(c, e, NULL, false, &findings)) == 0) {
		int n = needs_approvals(c->stack, name);

		/* the plan is shown, as plan shows one; the create would be refused */
		if (n > 0 && !c->jout)
			fprintf(stderr, "cairn: warning: environment '%s' needs %d approval%s (environments.%s.approvals "
				"in the stack): 'cairn env create' will refuse it, as it applies no saved plan\n",
				name, n, n == 1 ? "" : "s", name);
		if (c->jout)
			emit_env(c, "info", "planned", name, c->from, expires, NULL,
				 n > 0 ? "Plan only: environment '%s' was not created; it needs approvals, which "
					 "'cairn env create' cannot be given." : "Plan only: environment '%s' was not created.",
				 name);
		else
			printf("\nPlan only: environment '%s' was not created.\n", name);
	}
	rc = fail(c, e, rc);
	if (!rc) {
		cairn_engine_counts(e, &add, &ch, &d);
		extra = json_pack("{s:{s:i,s:i,s:i}}", "planned", "add", add, "change", ch, "remove", d);
	}
	end_stream(c, e, NULL, rc, extra ? extra : json_object());
	json_decref(findings);
	cairn_engine_free(e);
	return rc;
}

/* The end of an env create's apply (rc: the apply's, and its checks'):
 * its summary and outputs, the checks after it as after every apply
 * (guard_cmd.h: a failure is exit 6), and what became of the
 * environment. No automatic rollback after failed checks: a new
 * environment has no earlier revision whose checks passed (cairn apply
 * would say "nothing was rolled back"); it stays as created. The new rc. */
static int finish_create(env_cli *c, cairn_engine *e, const cairn_ephemeral_env *rec, json_t *summary, int rc)
{
	cairn_cli_checked ck = { 0 };
	char exp[128], msg[1024] = "";
	bool clean = summary && !json_array_size(json_object_get(summary, "failed")) &&
		     !json_array_size(json_object_get(summary, "skipped"));
	int crc = 0;

	if (summary && !c->jout)
		cairn_cli__print_summary(e, summary, false);
	else if (clean)
		cairn_json_run_outputs(c->jout, e);
	if (summary) {
		crc = cairn_cli_apply_checks(e, c->jout, summary, !rc, &ck);
		if (ck.failed)
			c->guard_exit = CAIRN_EXIT_CHECKS;
		if (!rc)
			rc = crc;
	}
	fmt_expiry(exp, sizeof(exp), rec->expires_at);
	if (!rc)
		snprintf(msg, sizeof(msg), "Environment '%s' created from '%s'; it expires %s.", rec->name, rec->base,
			 rec->expires_at ? exp : "never (no --ttl)");
	else if (ck.failed)
		snprintf(msg, sizeof(msg), "Environment '%s' was created and failed its health checks; a new environment "
			 "has no earlier revision to roll back to: it stays as created. Fix it and run 'cairn apply -e %s', "
			 "or remove it: 'cairn env destroy %s'.", rec->name, rec->name, rec->name);
	else if (summary)
		snprintf(msg, sizeof(msg), "Environment '%s' is recorded with what was created: run 'cairn apply -e %s' "
			 "to finish it, or 'cairn env destroy %s'.", rec->name, rec->name, rec->name);
	/* (nothing when nothing was created: the caller forgets the record) */
	if (msg[0] && !c->jout)
		printf("\n%s\n", msg);
	else if (msg[0])
		emit_env(c, rc ? "error" : "info", !rc ? "created" : ck.failed ? "unhealthy" : "incomplete", rec->name,
			 rec->base, rec->expires_at, NULL, "%s", msg);
	cairn_cli_checked_release(&ck);
	return rc;
}

static int env_create(env_cli *c)
{
	cairn_ephemeral_env rec = { 0 };
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	json_t *summary = NULL, *findings = NULL;
	const char *name = c->args[0];
	bool recorded = false;
	int rc;

	if ((rc = load_stack(c)) != 0 || (rc = check_new_name(c, name)) != 0)
		return fail(c, NULL, rc);
	if (c->plan_only)
		return create_plan_only(c, name);
	/* before anything is written: a name the stack gives approvals (--plan-only shows the plan, as plan does) */
	if (needs_approvals(c->stack, name)) {
		c->guard_exit = CAIRN_EXIT_APPROVAL;
		return fail(c, NULL, refuse_approvals(c->stack, name, "cairn env create", "; give it an overlay file "
			    "and apply an approved saved plan (cairn plan -e ENV -out FILE; cairn approve FILE; cairn "
			    "apply FILE), or create the ephemeral environment under another name"));
	}
	/* before anything is written: a confirmation nobody can give (CI, no terminal) */
	if (!c->auto_approve && cairn_cli_no_prompt())
		return fail(c, NULL, cannot_ask("env create"));
	engine_opts(c, &o, name, true);
	o.env_from = c->from;
	/* as apply: a resource's check that fails outside a rollout stops it */
	o.check_stop = true;
	if ((rc = cairn_engine_open(&e, &o)) != 0 || (rc = cairn_engine_lock(e, "env create")) != 0)
		goto done;
	rec.name = (char *)name;
	rec.base = (char *)c->from;
	rec.vars = json_object_size(c->vars) ? c->vars : NULL;
	/* one clock reading for both: the TTL recorded is exactly the one asked */
	rec.created_at = (int64_t)time(NULL);
	rec.expires_at = c->ttl > 0 ? rec.created_at + (int64_t)(c->ttl + 0.5) : 0;
	if ((rc = cairn_store_ephemeral_add(e->store, &rec)) != 0)
		goto done;
	recorded = true;
	if ((rc = cairn_engine_reload_state(e)) != 0 || (rc = cairn_engine_plan(e, false, NULL)) != 0 ||
	    (rc = cairn_engine_check_prevent_destroy(e)) != 0 || (rc = print_plan(c, e, "apply")) != 0 ||
	    (rc = policies(c, e, "env create", false, &findings)) != 0 ||
	    (plan_has_changes(e) && (rc = confirm(c->auto_approve, "env create", name)) != 0))
		goto done;
	fflush(stdout);
	rc = cairn_engine_apply(e, "env create", &summary);
	if (summary) {
		/* the configuration it applied and the policy warnings, as every
		 * apply records them: its creation is a revision that can be
		 * rolled back to */
		int rrc = cairn_cli_record_apply(e, summary, findings);

		if (rrc && !rc)
			rc = rrc;
	}
	rc = finish_create(c, e, &rec, summary, rc);
done:
	/* nothing was created (an error before the apply, a refusal): forget it again */
	if (rc && recorded && !summary && cairn_store_ephemeral_forget(e->store, name) == 0)
		cairn_error_prefix("environment '%s' was not created", name);
	rc = fail(c, e, rc);
	end_stream(c, e, summary, rc, NULL);
	json_decref(summary);
	json_decref(findings);
	cairn_engine_free(e);
	return rc;
}

/* ---------- env extend ---------- */

static int env_extend(env_cli *c)
{
	cairn_ephemeral_env rec = { 0 };
	cairn_store *st = NULL;
	const char *name = c->args[0];
	int64_t now = (int64_t)time(NULL), until;
	bool locked = false;
	char exp[128];
	int rc;

	if ((rc = load_stack(c)) != 0)
		goto done;
	if (cairn_env_has_overlay(c->stack, name)) {
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' has an overlay file: it is not ephemeral and "
				     "never expires", name);
		goto done;
	}
	if ((rc = open_state(c, &st, true)) != 0)
		goto done;
	if (!st || (rc = cairn_store_ephemeral_get(st, name, &rec)) == CAIRN_ENOTFOUND) {
		rc = cairn_error_set(CAIRN_EINVAL, "unknown environment '%s' (no ephemeral environment of that name in %s)",
				     name, c->state_path);
		goto done;
	}
	/* under its lock: a gc that has taken it is destroying it */
	if (rc || (rc = cairn_lock_acquire(st, name, "env extend", c->lease, c->lock_timeout, NULL)) != 0)
		goto done;
	locked = true;
	cairn_ephemeral_env_release(&rec);
	if ((rc = cairn_store_ephemeral_get(st, name, &rec)) == CAIRN_ENOTFOUND)
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' is gone (destroyed meanwhile)", name);
	if (rc)
		goto done;
	if (!rec.expires_at) {
		rc = cairn_error_set(CAIRN_EINVAL, "environment '%s' never expires (it was created without --ttl): "
				     "nothing to extend", name);
		goto done;
	}
	until = (rec.expires_at > now ? rec.expires_at : now) + (int64_t)(c->ttl + 0.5);
	if ((rc = cairn_store_ephemeral_set_expiry(st, name, until)) != 0)
		goto done;
	fmt_expiry(exp, sizeof(exp), until);
	if (c->jout)
		emit_env(c, "info", "extended", name, rec.base, until, NULL, "Environment '%s' now expires %s.", name, exp);
	else
		printf("Environment '%s' now expires %s.\n", name, exp);
done:
	if (locked)
		cairn_lock_release(st, name);
	cairn_ephemeral_env_release(&rec);
	cairn_store_free(st);
	return fail(c, NULL, rc);
}

/* ---------- env destroy and env gc ---------- */

/* What destroy_env found and did, for gc's report. */
typedef struct gone {
	char why[4096];   /* skipped: why; failed: the error (redacted) */
	json_t *lock;     /* skipped for a lock: its holder (lock_json), or NULL */
	int destroyed;    /* resources destroyed */
} gone;

/* gc: why the destroy of name failed (rc), with the operations that failed
 * (summary: the apply's, or NULL), redacted, in g->why for its line of the
 * stream; on stderr too. */
static void gc_failure(env_cli *c, const cairn_engine *e, const char *name, int rc, json_t *summary, gone *g)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char msg[4096], *red;
	size_t i;
	json_t *x;

	if (!c->jout) { /* text: the apply's summary is above */
		fail(c, e, rc);
		return;
	}
	cairn_buf_init(&b, 0);
	cairn_error_format(cairn_error_last(), msg, sizeof(msg));
	cairn_buf_printf(&b, "%s", msg);
	json_array_foreach(json_object_get(summary, "failed"), i, x)
		cairn_buf_printf(&b, "%s %s: %s", i ? ";" : ":", s_of(x, "address"), s_of(x, "error"));
	red = cairn_engine_redact(e, cairn_buf_cstr(&b));
	snprintf(g->why, sizeof(g->why), "%s", red ? red : "(error text withheld)");
	fprintf(stderr, "cairn: error: env gc: %s: %s\n", name, g->why);
	free(red);
	cairn_buf_release(&b);
}

/* Destroy an ephemeral environment and forget it, under its lock. For gc
 * (g non-NULL): no confirmation, and an environment found no longer expired
 * (extended) or gone (another runner) once the lock is held, or locked by
 * another run, is skipped: g->why says why, and the return is 0, or
 * CAIRN_ELOCKED for a lock held (g->lock: who holds it). For env destroy
 * (g NULL), the end of the --json stream too. */
static int destroy_env(env_cli *c, const char *name, gone *g)
{
	cairn_ephemeral_env rec = { 0 };
	cairn_engine_opts o;
	cairn_engine *e = NULL;
	cairn_lock_info *li = NULL;
	json_t *summary = NULL, *findings = NULL;
	bool gc = g != NULL;
	int rc, a, ch, d = 0;

	engine_opts(c, &o, name, true);
	if (gc)
		o.lock_timeout = 0;
	if ((rc = cairn_engine_open(&e, &o)) != 0) {
		if (gc && !cairn_cli_env_recorded(c->state_path, name)) {
			snprintf(g->why, sizeof(g->why), "already destroyed by another run");
			rc = 0;
		}
		goto done;
	}
	if ((rc = cairn_engine_lock(e, gc ? "env gc" : "env destroy")) != 0) {
		if (gc && rc == CAIRN_ELOCKED) {
			snprintf(g->why, sizeof(g->why), "%s", cairn_error_last()->message);
			if (e->store && cairn_lock_get(e->store, name, &li) == 0)
				g->lock = lock_json(li);
		}
		goto done;
	}
	/* what it is now, under the lock */
	if ((rc = cairn_store_ephemeral_get(e->store, name, &rec)) == CAIRN_ENOTFOUND) {
		if (gc)
			snprintf(g->why, sizeof(g->why), "already destroyed by another run");
		rc = gc ? 0 : cairn_error_set(CAIRN_EINVAL, "environment '%s' is gone (destroyed meanwhile)", name);
		goto done;
	}
	if (rc)
		goto done;
	if (gc && (!rec.expires_at || rec.expires_at > (int64_t)time(NULL))) {
		snprintf(g->why, sizeof(g->why), "extended meanwhile");
		goto done;
	}
	if (e->nintents && (rc = cairn_engine_recover(e, 0)) != 0)
		goto done;
	if ((rc = cairn_engine_refresh(e)) != 0 || (rc = cairn_engine_plan(e, true, NULL)) != 0 ||
	    (rc = cairn_engine_check_prevent_destroy(e)) != 0 || (!gc && (rc = print_plan(c, e, "destroy")) != 0))
		goto done;
	cairn_engine_counts(e, &a, &ch, &d);
	if (gc && !c->jout)
		printf("env gc: %s: %d resource(s) to destroy\n", name, d);
	if (plan_has_changes(e)) {
		/* the policies, as cairn destroy runs them: a deny keeps the environment */
		if ((rc = policies(c, e, gc ? "env gc" : "env destroy", gc, &findings)) != 0 ||
		    (!gc && (rc = confirm(c->auto_approve, "env destroy", name)) != 0))
			goto done;
		fflush(stdout);
		rc = cairn_engine_apply(e, gc ? "env gc" : "env destroy", &summary);
		if (summary && !c->jout)
			cairn_cli__print_summary(e, summary, true);
		if (rc)
			goto done;
	}
	if ((rc = cairn_store_ephemeral_forget(e->store, name)) != 0)
		goto done;
	if (gc)
		g->destroyed = d;
	else if (c->jout)
		emit_env(c, "info", "destroyed", name, rec.base, rec.expires_at, json_pack("{s:i}", "resources", d),
			 "Environment '%s' destroyed and forgotten.", name);
	if (!c->jout)
		printf("\nEnvironment '%s' destroyed and forgotten.\n", name);
done:
	if (rc && gc && rc != CAIRN_ELOCKED)
		gc_failure(c, e, name, rc, summary, g);
	else if (!gc)
		end_stream(c, e, summary, fail(c, e, rc), NULL);
	cairn_lock_info_free(li);
	json_decref(summary);
	json_decref(findings);
	cairn_ephemeral_env_release(&rec);
	cairn_engine_free(e);
	return rc;
}

/* An environment env destroy / gc must leave alone: one with an overlay
 * file, a protected one, or one that needs approvals (guard_exit:
 * CAIRN_EXIT_APPROVAL then, as destroy -e ENV's). */
static int untouchable(env_cli *c, const char *name, const char *cmd, int *guard_exit)
{
	if (cairn_env_has_overlay(c->stack, name))
		return cairn_error_set(CAIRN_EINVAL, "environment '%s' has an overlay file: it is not ephemeral, and '%s' "
				       "never touches it ('cairn destroy -e %s' destroys its resources)", name, cmd, name);
	if (cairn_config_env_protected(c->stack, name))
		return refuse_protected(c->stack, name, cmd);
	if (needs_approvals(c->stack, name)) {
		*guard_exit = CAIRN_EXIT_APPROVAL;
		return refuse_approvals(c->stack, name, cmd, "; to tear it down, remove its approvals from the stack "
					"first, as for 'cairn destroy -e ENV', which it refuses too");
	}
	return 0;
}

static int env_destroy(env_cli *c)
{
	const char *name = c->args[0];
	int rc;

	if ((rc = load_stack(c)) != 0 || (rc = untouchable(c, name, "cairn env destroy", &c->guard_exit)) != 0)
		return fail(c, NULL, rc);
	if (!cairn_cli_env_recorded(c->state_path, name))
		return fail(c, NULL, cairn_error_set(CAIRN_EINVAL, "unknown environment '%s' (no ephemeral environment of "
						  "that name in %s)", name, c->state_path));
	if (!c->auto_approve && cairn_cli_no_prompt())
		return fail(c, NULL, cannot_ask("env destroy"));
	rc = destroy_env(c, name, NULL);
	return rc == 0 ? CAIRN_EXIT_OK : c->guard_exit ? c->guard_exit : rc == CAIRN_ELOCKED ? CAIRN_EXIT_LOCKED :
	       CAIRN_EXIT_ERROR;
}

/* gc's report of one environment: a line of text, or of the stream. */
static void gc_report(env_cli *c, const cairn_ephemeral_env *rec, const char *action, gone *g)
{
	const char *name = rec->name;

	if (!c->jout) {
		if (!strcmp(action, "skipped"))
			printf("env gc: %s: skipped: %s\n", name, g->why);
		else if (!strcmp(action, "failed"))
			printf("env gc: %s: failed (see the error above); the next gc tries again\n", name);
		fflush(stdout);
		return;
	}
	if (!strcmp(action, "skipped"))
		emit_env(c, "warn", action, name, rec->base, rec->expires_at, json_pack("{s:s,s:o*}", "reason", g->why,
			 "lock", g->lock), "env gc: %s: skipped: %s", name, g->why);
	else if (!strcmp(action, "failed"))
		emit_env(c, "error", action, name, rec->base, rec->expires_at, json_pack("{s:s}", "error", g->why),
			 "env gc: %s: failed: %s; the next gc tries again", name, g->why);
	else
		emit_env(c, "info", action, name, rec->base, rec->expires_at, json_pack("{s:i}", "resources",
			 g->destroyed), "Environment '%s' destroyed and forgotten.", name);
	g->lock = NULL; /* given to the line */
}

static int env_gc(env_cli *c)
{
	cairn_ephemeral_env *recs = NULL;
	cairn_store *st = NULL;
	size_t n = 0, i, destroyed = 0, skipped = 0, failed = 0;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = load_stack(c)) != 0 || (rc = open_state(c, &st, false)) != 0 ||
	    (st && (rc = cairn_store_ephemeral_list(st, &recs, &n)) != 0))
		goto done;
	cairn_store_free(st);
	st = NULL;
	for (i = 0; i < n; i++) {
		const char *name = recs[i].name;
		gone g;
		char span[32];
		int approvals = 0; /* (gc reports it as skipped, as a protected one) */

		memset(&g, 0, sizeof(g));
		if (!recs[i].expires_at || recs[i].expires_at > now)
			continue;
		fmt_span(span, sizeof(span), now - recs[i].expires_at);
		if (untouchable(c, name, "cairn env gc", &approvals) != 0) {
			cairn_error_format(cairn_error_last(), g.why, sizeof(g.why));
			gc_report(c, &recs[i], "skipped", &g);
			skipped++;
			continue;
		}
		if (!c->jout) {
			printf("env gc: %s: expired %s ago: destroying\n", name, span);
			fflush(stdout);
		}
		rc = destroy_env(c, name, &g);
		if (rc && rc != CAIRN_ELOCKED) {
			gc_report(c, &recs[i], "failed", &g);
			failed++;
		} else if (rc || g.why[0]) {
			gc_report(c, &recs[i], "skipped", &g);
			skipped++;
		} else {
			gc_report(c, &recs[i], "destroyed", &g);
			destroyed++;
		}
		json_decref(g.lock);
	}
	rc = 0;
	if (!c->jout)
		printf("env gc: %zu destroyed, %zu skipped, %zu failed.\n", destroyed, skipped, failed);
	else if (failed)
		cairn_jout_diagnostic(c->jout, "error", NULL, failed == 1 ? "1 expired environment could not be destroyed "
				      "(see its line); the next gc tries again" : "expired environments could not be "
				      "destroyed (see their lines); the next gc tries again");
done:
	cairn_ephemeral_env_free_array(recs, n);
	cairn_store_free(st);
	if (rc)
		return fail(c, NULL, rc);
	end_stream(c, NULL, NULL, failed ? CAIRN_EXIT_ERROR : CAIRN_EXIT_OK, json_pack("{s:{s:I,s:I,s:I}}",
		   "environments", "destroyed", (json_int_t)destroyed, "skipped", (json_int_t)skipped, "failed",
		   (json_int_t)failed));
	return failed ? CAIRN_EXIT_ERROR : CAIRN_EXIT_OK;
}

/* ---------- main ---------- */

/* What is wrong with the command line itself, found before the --json
 * stream starts (stdout stays empty). */
static int check_args(env_cli *c)
{
	bool create = !strcmp(c->sub, "create"), destroy = !strcmp(c->sub, "destroy");

	if (!strcmp(c->sub, "list") || !strcmp(c->sub, "gc"))
		return c->nargs ? usage("unexpected argument '%s' for 'cairn env %s'", c->args[0], c->sub) : 0;
	if (!strcmp(c->sub, "extend"))
		return c->nargs != 1 || c->ttl < 0 ? usage("usage: cairn env extend NAME --ttl 2h") : 0;
	if (destroy && c->nargs != 1)
		return usage("usage: cairn env destroy NAME [--auto-approve]");
	if (create && c->nargs != 1)
		return usage("usage: cairn env create NAME --from BASE [--ttl 4h] [--var K=V]... [--auto-approve | --plan-only]");
	if (create && !c->from)
		return usage("cairn env create %s needs --from BASE: the environment whose overlay it starts from", c->args[0]);
	if (create && c->auto_approve && c->plan_only)
		return usage("--auto-approve and --plan-only do not go together");
	if (c->json && !c->auto_approve && !c->plan_only)
		return usage("env %s --json needs --auto-approve%s: with --json cairn never asks", c->sub,
			     create ? " (or --plan-only)" : "");
	return 0;
}

/* The stream's first line, and the progress of applies and destroys (gc
 * --json: the environments' lines only; the progress goes to stderr). */
static int start(env_cli *c)
{
	int rc;

	if (c->json && (rc = cairn_jout_new(&c->jout, stdout, c->command)) != 0)
		return rc;
	return cairn_progress_init(&c->prog, strcmp(c->sub, "gc") ? c->jout : NULL,
				   c->jout && strcmp(c->sub, "gc") ? NULL : stderr);
}

int cairn_cli_env(int argc, char **argv)
{
	env_cli c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(env_usage, stdout);
			return CAIRN_EXIT_OK;
		}
		fputs(env_usage, stderr);
		return CAIRN_EXIT_ERROR;
	}
	c.sub = argv[1];
	if (strcmp(c.sub, "list") && strcmp(c.sub, "create") && strcmp(c.sub, "extend") && strcmp(c.sub, "destroy") &&
	    strcmp(c.sub, "gc"))
		return usage("unknown env command '%s' (list, create, extend, destroy, gc)", c.sub);
	snprintf(c.command, sizeof(c.command), "env %s", c.sub);
	if (!(c.vars = json_object()))
		return CAIRN_EXIT_ERROR;
	if (parse(&c, argc - 1, argv + 1) != 0 || check_args(&c) != 0)
		rc = CAIRN_EXIT_ERROR;
	else if (!strcmp(c.sub, "list"))
		rc = env_list(&c);
	else if ((rc = start(&c)) != 0)
		rc = fail(&c, NULL, rc);
	else if (!strcmp(c.sub, "create"))
		rc = env_create(&c);
	else if (!strcmp(c.sub, "extend"))
		rc = env_extend(&c);
	else if (!strcmp(c.sub, "destroy"))
		rc = env_destroy(&c);
	else
		rc = env_gc(&c);
	/* a command that failed before it had more to say */
	end_stream(&c, NULL, NULL, rc, NULL);
	cairn_progress_release(&c.prog);
	json_decref(c.vars);
	cairn_stack_free(c.stack);
	free(c.state_path);
	fflush(stdout);
	return rc;
}
