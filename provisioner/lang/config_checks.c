/*
 * config_checks.c - the stack's `checks:` list: health checks run after
 * an apply (see config.h, docs/guardrails.md).
 *
 *   checks:
 *     - name: api
 *       http: { url: "http://${lb.dns_name}/health", status: 200, body: "ok" }
 *       retries: 5          # attempts after the first (0..100, default 3)
 *       interval: 2s        # between attempts (default 2s)
 *       deadline: 1m        # for all attempts (default 60s)
 *     - name: db
 *       tcp: { host: "${db.endpoint}", port: 5432 }
 *     - name: app
 *       ssh: { host: web[0], command: "systemctl is-active app" }   # a host of hosts:, exit 0
 *     - name: healthy                   # a resource's check only
 *       module: { expect: available }   # its module's status(); expect optional
 *
 * The shape, the names and the literal settings are checked when the
 * stack is loaded, with file:line:col; the http:/tcp: maps may use
 * expressions and are evaluated after the apply.
 *
 * A resource takes the same list (its checks, run after each of its
 * instances is created, updated or replaced; `self.ATTR` is the instance's
 * attribute) and, with count or for_each, `rollout: { batch: 2 }` or
 * `rollout: { batch: "25%" }`: its changed instances go that many at a
 * time, with its checks between batches (engine/apply.c).
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const check_keys[] = { "name", "http", "tcp", "ssh", "module", "retries", "interval", "deadline",
					   NULL };
static const char *const http_keys[] = { "url", "status", "body", NULL };
static const char *const tcp_keys[] = { "host", "port", NULL };
static const char *const ssh_keys[] = { "host", "command", NULL };
static const char *const module_keys[] = { "expect", NULL };
static const char *const kind_names[] = { "http", "tcp", "ssh", "module" };

static bool known(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static int check_map(const cairn_expr *map, const char *const *allowed, const char *what, const char *shape)
{
	const cairn_pos *kp;
	size_t i;

	if (cairn_expr_kind_of(map) != CAIRN_EXPR_MAP)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(map), "%s must be a mapping (%s)", what, shape);
	for (i = 0; i < cairn_expr_size(map); i++) {
		const char *k = cairn_expr_key(map, i, &kp);

		if (!known(allowed, k))
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown key '%s' in %s (%s)", k, what, shape);
	}
	return 0;
}

/* A check's interval and timeout: more than 0, at most a day. */
static const cairn_duration_rules check_rules = {
	.min = 0, .max = 86400, .zero = false,
	.units = CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H,
};

static int duration(const cairn_expr *e, const char *what, double *out)
{
	const json_t *v = cairn_expr_const(e);

	if (v && json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 86400) {
		*out = json_number_value(v);
		return 0;
	}
	if (v && json_is_string(v) && cairn_duration_parse(json_string_value(v), &check_rules, out) == 0)
		return 0;
	return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), "%s must be a duration like 2s or 1m (at most 24h)",
				  what);
}

static int load_settings(cairn_check_cfg *c, const cairn_expr *e, const char *what);

static int load_check(cairn_check_cfg *list, cairn_check_cfg *c, const cairn_expr *e, size_t idx, bool resource)
{
	const cairn_expr *name, *x;
	const json_t *v;
	char what[160];
	size_t j;
	int rc;

	c->pos = *cairn_expr_start(e);
	c->retries = 3;
	c->interval = 2;
	c->deadline = 60;
	snprintf(what, sizeof(what), "checks[%zu]", idx);
	if ((rc = check_map(e, check_keys, what, "name, http, tcp, ssh or module, retries, interval, deadline")) != 0)
		return rc;
	name = cairn_expr_get(e, "name");
	if (!name || !(v = cairn_expr_const(name)) || !json_is_string(v) || !cairn_config__name_valid(json_string_value(v)))
		return cairn_error_set_at(CAIRN_EINVAL, name ? cairn_expr_start(name) : &c->pos,
					  "%s needs a name (letters, digits, _ and -)", what);
	if (!(c->name = strdup(json_string_value(v))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (j = 0; j < idx; j++)
		if (!strcmp(list[j].name, c->name))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(name), "two checks are named '%s'", c->name);
	snprintf(what, sizeof(what), "check '%s'", c->name);
	{
		static const char *const *const keys[] = { http_keys, tcp_keys, ssh_keys, module_keys };
		static const char *const shapes[] = { "url, status, body", "host, port", "host, command", "expect" };
		static const char *const need[][3] = { { "url" }, { "host", "port" }, { "host", "command" }, { NULL } };
		const cairn_expr *m = NULL;
		int k, found = 0;

		for (k = 0; k < 4; k++)
			if ((x = cairn_expr_get(e, kind_names[k])) != NULL) {
				found++;
				m = x;
				c->kind = k;
			}
		if (found != 1)
			return cairn_error_set_at(CAIRN_EINVAL, &c->pos, "%s needs exactly one of http: {url, status, body}, "
						  "tcp: {host, port}, ssh: {host, command} and module: {expect}", what);
		if (c->kind == CAIRN_CHECK_MODULE && !resource)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(m), "%s: a module check asks a resource's "
						  "module for its object's status: it belongs in that resource's checks:", what);
		if (c->kind == CAIRN_CHECK_MODULE && cairn_expr_kind_of(m) == CAIRN_EXPR_CONST &&
		    json_is_null(cairn_expr_const(m)))
			return (rc = cairn_expr_copy(&c->target, m)) != 0 ? rc : load_settings(c, e, what);
		if ((rc = check_map(m, keys[c->kind], what, shapes[c->kind])) != 0)
			return rc;
		if (c->kind == CAIRN_CHECK_MODULE && (x = cairn_expr_get(m, "expect")) != NULL &&
		    (v = cairn_expr_const(x)) != NULL && !json_is_string(v) &&
		    !(json_is_array(v) && json_array_size(v) > 0 && json_is_string(json_array_get(v, 0))))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x), "%s: module.expect must be a status "
						  "(a string, like available) or a list of them", what);
		for (k = 0; k < 2 && need[c->kind][k]; k++)
			if (!cairn_expr_get(m, need[c->kind][k]))
				return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(m), "%s needs %s.%s", what,
							  kind_names[c->kind], need[c->kind][k]);
	}
	if ((rc = load_settings(c, e, what)) != 0)
		return rc;
	return cairn_expr_copy(&c->target, cairn_expr_get(e, kind_names[c->kind]));
}

/* retries, interval, deadline */
static int load_settings(cairn_check_cfg *c, const cairn_expr *e, const char *what)
{
	const cairn_expr *x;
	const json_t *v;
	int rc;

	if ((x = cairn_expr_get(e, "retries")) != NULL) {
		v = cairn_expr_const(x);
		if (!v || !json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x), "%s: retries must be a whole number "
						  "from 0 to 100", what);
		c->retries = (int)json_integer_value(v);
	}
	if ((x = cairn_expr_get(e, "interval")) != NULL && (rc = duration(x, "interval", &c->interval)) != 0)
		return rc;
	if ((x = cairn_expr_get(e, "deadline")) != NULL && (rc = duration(x, "deadline", &c->deadline)) != 0)
		return rc;
	return 0;
}

static int load_list(cairn_check_cfg **out, size_t *nout, const cairn_expr *checks, bool resource)
{
	size_t i, n;
	int rc;

	if (!checks || (cairn_expr_kind_of(checks) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(checks))))
		return 0;
	if (cairn_expr_kind_of(checks) != CAIRN_EXPR_LIST)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(checks), "checks must be a list of checks "
					  "({name, http, tcp, ssh or module, retries, interval, deadline})");
	n = cairn_expr_size(checks);
	if (!(*out = calloc(n ? n : 1, sizeof(**out))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		*nout = i + 1;
		if ((rc = load_check(*out, &(*out)[i], cairn_expr_item(checks, i), i, resource)) != 0)
			return rc;
	}
	return 0;
}

static void free_list(cairn_check_cfg **list, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free((*list)[i].name);
		cairn_expr_free((*list)[i].target);
	}
	free(*list);
	*list = NULL;
	*n = 0;
}

int cairn_config__load_checks(cairn_stack *s, const cairn_expr *checks)
{
	return load_list(&s->checks, &s->nchecks, checks, false);
}

void cairn_config__free_checks(cairn_stack *s)
{
	free_list(&s->checks, &s->nchecks);
}

int cairn_config__load_res_checks(cairn_res_cfg *r, const cairn_expr *checks)
{
	return load_list(&r->checks, &r->nchecks, checks, true);
}

void cairn_config__free_res_checks(cairn_res_cfg *r)
{
	free_list(&r->checks, &r->nchecks);
}

/* rollout: { batch: 2 } or { batch: "25%" } */
int cairn_config__load_rollout(cairn_res_cfg *r, const cairn_expr *ro, bool has_count)
{
	static const char *const keys[] = { "batch", NULL };
	const cairn_expr *b;
	const json_t *v;
	int rc;

	if (cairn_expr_kind_of(ro) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(ro)))
		return 0;
	if ((rc = check_map(ro, keys, "rollout", "batch: a number of instances or a percentage like \"25%\"")) != 0)
		return rc;
	if (!has_count)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(ro), "rollout is for a resource with count or "
					  "for_each ('%s' has neither)", r->name);
	if (!(b = cairn_expr_get(ro, "batch")))
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(ro), "rollout needs batch: a number of instances "
					  "or a percentage like \"25%%\"");
	v = cairn_expr_const(b);
	if (v && json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= CAIRN_COUNT_MAX) {
		r->rollout_batch = (int)json_integer_value(v);
		return 0;
	}
	if (v && json_is_string(v)) {
		const char *t = json_string_value(v);
		char *end = NULL;
		double pc = strtod(t, &end);

		if (end != t && end && !strcmp(end, "%") && pc > 0 && pc <= 100) {
			r->rollout_percent = pc;
			return 0;
		}
	}
	return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(b), "rollout.batch must be a whole number of instances "
				  "(at least 1) or a percentage like \"25%%\" (more than 0, at most 100)");
}
