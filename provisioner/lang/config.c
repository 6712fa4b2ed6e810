/*
 * config.c - loading and checking a stack file and its environment overlays.
 *
 * config_yaml.c turns a file into a cairn_expr tree; this module checks the
 * tree's shape against the stack format (see config.h), moves the pieces
 * into cairn_stack / cairn_env_cfg and reports every mistake at its
 * file:line:col. Variable values and types live in config_vars.c.
 */
#include "config_int.h"
#include "base/buf.h"
#include "expr_int.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The stack with a private name index (cairn_stack_resource). */
typedef struct {
	cairn_stack pub;
	json_t *index;  /* resource name -> position in resources */
} stack_priv;

static const char *const top_keys[] = { "stack", "state", "variables", "resources", "hosts", "outputs", "drift", "environments", "checks", NULL };
static const char *const var_keys[] = { "type", "default", "description", "sensitive", "nullable", "validation", NULL };
static const char *const val_keys[] = { "condition", "message", NULL };
static const char *const out_keys[] = { "value", "description", "sensitive", NULL };
static const char *const life_keys[] = { "prevent_destroy", "ignore_changes", "create_before_destroy", NULL };
/* in the order of cairn_res_cfg.timeouts (and of lua's cairn_timeout_kind) */
static const char *const timeout_keys[] = { "create", "read", "update", "delete", NULL };
static const char *const env_keys[] = { "provider", "variables", NULL };
static const char *const reserved[] = { "var", "env", "count", "each", "path", "self", "null", "true", "false", NULL };

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static const char *closest(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (cairn_expr__close(s, *list))
			return *list;
	return NULL;
}

static char *xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return d;
}

bool cairn_config__name_valid(const char *name)
{
	const char *p = name;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
		return false;
	for (p++; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			return false;
	return p - name <= 128;
}

/* Every key of map must be in allowed: "unknown key 'x' in WHAT". */
static int check_keys(const cairn_expr *map, const char *const *allowed, const char *what)
{
	const cairn_pos *kp;
	const char *k, *hint;
	size_t i;

	for (i = 0; i < cairn_expr_size(map); i++) {
		k = cairn_expr_key(map, i, &kp);
		if (in_list(allowed, k))
			continue;
		if ((hint = closest(allowed, k)) != NULL)
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown key '%s' in %s (did you mean '%s'?)", k, what, hint);
		return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown key '%s' in %s", k, what);
	}
	return 0;
}

static bool is_null(const cairn_expr *e)
{
	return !e || (cairn_expr_kind_of(e) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(e)));
}

static int want_map(const cairn_expr *e, const char *what)
{
	if (cairn_expr_kind_of(e) == CAIRN_EXPR_MAP)
		return 0;
	return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(e), "%s must be a mapping, got %s", what,
		cairn_expr_kind_of(e) == CAIRN_EXPR_LIST ? "a list" : "a single value");
}

/* A literal string value (no ${ }). */
static int want_string(char **out, const cairn_expr *e, const char *what)
{
	const json_t *v = cairn_expr_const(e);

	if (!v || !json_is_string(v))
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), "%s must be a string%s", what,
			cairn_expr_kind_of(e) == CAIRN_EXPR_TEMPLATE || cairn_expr_kind_of(e) == CAIRN_EXPR_OTHER ?
			" without ${ } references" : "");
	if (!(*out = strdup(json_string_value(v))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

static int want_bool(bool *out, const cairn_expr *e, const char *what)
{
	const json_t *v = cairn_expr_const(e);

	if (!v || !json_is_boolean(v))
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(e), "%s must be true or false", what);
	*out = json_is_true(v);
	return 0;
}

/* A list of literal strings: names and their positions. */
static int want_names(char ***names, cairn_pos **poss, size_t *n, const cairn_expr *e, const char *what)
{
	size_t i, cnt = cairn_expr_size(e);
	const json_t *v;

	if (cairn_expr_kind_of(e) != CAIRN_EXPR_LIST)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(e), "%s must be a list of names", what);
	if (!(*names = calloc(cnt ? cnt : 1, sizeof(**names))) || !(*poss = calloc(cnt ? cnt : 1, sizeof(**poss))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < cnt; i++) {
		const cairn_expr *it = cairn_expr_item(e, i);

		v = cairn_expr_const(it);
		if (!v || !json_is_string(v))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(it), "%s must be a list of names (strings)", what);
		if (!((*names)[i] = strdup(json_string_value(v))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		(*poss)[i] = *cairn_expr_pos(it);
		*n = i + 1;
	}
	return 0;
}

int cairn_config__check_const(const cairn_expr *e, const char *what)
{
	size_t i;
	int rc;

	switch (cairn_expr_kind_of(e)) {
	case CAIRN_EXPR_CONST:
		return 0;
	case CAIRN_EXPR_LIST:
	case CAIRN_EXPR_MAP:
		for (i = 0; i < cairn_expr_size(e); i++)
			if ((rc = cairn_config__check_const(cairn_expr_item(e, i), what)) != 0)
				return rc;
		return 0;
	default:
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), "%s must be constants (no ${ } expressions)", what);
	}
}

/* ---- variables ------------------------------------------------------- */

typedef struct {
	const char *var;
} val_ref_ud;

static int validation_ref(void *ud, const cairn_ref *r)
{
	const char *var = ((val_ref_ud *)ud)->var;

	if (!strcmp(r->root, "var") && r->attr && !strcmp(r->attr, var))
		return 0;
	return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
		"the validation condition of variable '%s' can only refer to var.%s", var, var);
}

static int const_ref(void *ud, const cairn_ref *r)
{
	return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "the default of variable '%s' must be a constant "
		"(it cannot refer to '%s')", (const char *)ud, r->root);
}

static int load_validation(cairn_validation *v, cairn_expr *m, const char *var)
{
	const cairn_expr *msg;
	val_ref_ud ud = { var };
	int rc;

	v->pos = *cairn_expr_pos(m);
	if ((rc = want_map(m, "a validation")) != 0 || (rc = check_keys(m, val_keys, "validation")) != 0)
		return rc;
	if (!cairn_expr_get(m, "condition"))
		return cairn_error_set_at(CAIRN_EINVAL, &v->pos, "validation of variable '%s' has no 'condition'", var);
	if (!(msg = cairn_expr_get(m, "message")))
		return cairn_error_set_at(CAIRN_EINVAL, &v->pos, "validation of variable '%s' has no 'message'", var);
	if ((rc = want_string(&v->message, msg, "the validation message")) != 0)
		return rc;
	v->condition = cairn_expr_take(m, "condition");
	return cairn_expr_refs(v->condition, validation_ref, &ud);
}

static int load_validations(cairn_var_cfg *var, cairn_expr *vals)
{
	size_t i, n;
	int rc;

	if (cairn_expr_kind_of(vals) == CAIRN_EXPR_MAP) {
		if (!(var->validations = calloc(1, sizeof(*var->validations))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		var->nvalidations = 1;
		return load_validation(&var->validations[0], vals, var->name);
	}
	if (cairn_expr_kind_of(vals) != CAIRN_EXPR_LIST)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(vals),
			"validation of variable '%s' must be a list of {condition, message} or one such mapping", var->name);
	n = cairn_expr_size(vals);
	if (n && !(var->validations = calloc(n, sizeof(*var->validations))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		var->nvalidations = i + 1;
		if ((rc = load_validation(&var->validations[i], (cairn_expr *)cairn_expr_item(vals, i), var->name)) != 0)
			return rc;
	}
	return 0;
}

static int load_var(cairn_var_cfg *var, const char *name, const cairn_pos *pos, cairn_expr *m)
{
	const cairn_expr *x;
	cairn_expr *vals;
	json_t *dv = NULL, *conv = NULL;
	int rc = 0;

	var->pos = *pos;
	if (!(var->name = xstrdup(name)))
		return CAIRN_ENOMEM;
	if (!cairn_config__name_valid(name))
		return cairn_error_set_at(CAIRN_EINVAL, pos, "invalid variable name '%s' "
			"(names start with a letter or '_' and contain letters, digits, '_' and '-')", name);
	if (is_null(m)) {
		var->type = xstrdup("any");
		return var->type ? 0 : CAIRN_ENOMEM;
	}
	if ((rc = want_map(m, "a variable")) != 0 || (rc = check_keys(m, var_keys, "variable")) != 0)
		return rc;
	if ((x = cairn_expr_get(m, "type")) != NULL) {
		char *t = NULL, *d;
		const char *s;

		if ((rc = want_string(&t, x, "the type")) != 0)
			return rc;
		for (s = t, d = t; *s; s++)
			if (*s != ' ' && *s != '\t')
				*d++ = *s;
		*d = 0;
		var->type = t;
		if (!cairn_type_valid(t))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(x), "invalid type '%s' for variable '%s' "
				"(expected string, number, bool, list, map, any, list(T) or map(T))", json_string_value(cairn_expr_const(x)), name);
	} else if (!(var->type = xstrdup("any"))) {
		return CAIRN_ENOMEM;
	}
	if ((x = cairn_expr_get(m, "description")) != NULL && (rc = want_string(&var->description, x, "description")) != 0)
		return rc;
	if ((x = cairn_expr_get(m, "sensitive")) != NULL && (rc = want_bool(&var->sensitive, x, "sensitive")) != 0)
		return rc;
	if ((x = cairn_expr_get(m, "nullable")) != NULL && (rc = want_bool(&var->nullable, x, "nullable")) != 0)
		return rc;
	if ((vals = cairn_expr_take(m, "validation")) != NULL) {
		rc = load_validations(var, vals);
		cairn_expr_free(vals);
		if (rc)
			return rc;
	}
	if ((var->def = cairn_expr_take(m, "default")) != NULL) {
		if ((rc = cairn_expr_refs(var->def, const_ref, (void *)name)) != 0)
			return rc;
		if ((rc = cairn_expr_eval(&dv, var->def, NULL)) != 0)
			return rc;
		if (!json_is_null(dv) && (rc = cairn_type_check(&conv, var->type, dv)) != 0) {
			const cairn_error *e = cairn_error_last();
			char msg[sizeof(e->message)];

			snprintf(msg, sizeof(msg), "%s", e ? e->message : "");
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(var->def),
				"the default of variable '%s' does not match its type: %.1900s", name, msg);
		}
		json_decref(conv);
		json_decref(dv);
	}
	return rc;
}

static int load_vars(cairn_stack *s, cairn_expr *vars)
{
	const cairn_pos *kp;
	size_t i, n;
	int rc;

	if (is_null(vars))
		return 0;
	if ((rc = want_map(vars, "'variables'")) != 0)
		return rc;
	n = cairn_expr_size(vars);
	if (n && !(s->vars = calloc(n, sizeof(*s->vars))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *k = cairn_expr_key(vars, i, &kp);

		s->nvars = i + 1;
		if ((rc = load_var(&s->vars[i], k, kp, (cairn_expr *)cairn_expr_item(vars, i))) != 0)
			return rc;
	}
	return 0;
}

/* ---- resources ------------------------------------------------------- */

typedef struct {
	bool has_count, has_each;
	const char *res;
	const char *where;  /* NULL: properties */
} res_ref_ud;

static int resource_ref(void *ud, const cairn_ref *r)
{
	res_ref_ud *u = ud;

	if (!strcmp(r->root, "count")) {
		if (u->where)
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "count.%s cannot be used in %s",
				r->attr ? r->attr : "index", u->where);
		if (!u->has_count)
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
				"count.%s can only be used in a resource with 'count' (resource '%s' has none)",
				r->attr ? r->attr : "index", u->res);
		if (!r->attr || strcmp(r->attr, "index") != 0)
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "unknown reference 'count.%s' (only count.index exists)",
				r->attr ? r->attr : "");
	} else if (!strcmp(r->root, "each")) {
		if (u->where)
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "each.%s cannot be used in %s",
				r->attr ? r->attr : "key", u->where);
		if (!u->has_each)
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
				"each.%s can only be used in a resource with 'for_each' (resource '%s' has none)",
				r->attr ? r->attr : "key", u->res);
		if (!r->attr || (strcmp(r->attr, "key") != 0 && strcmp(r->attr, "value") != 0))
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
				"unknown reference 'each.%s' (each.key and each.value exist)", r->attr ? r->attr : "");
	}
	return 0;
}

static int load_lifecycle(cairn_res_cfg *r, cairn_expr *lc)
{
	const cairn_expr *x;
	const cairn_pos *kp;
	const char *k, *hint;
	size_t i;
	int rc;

	if (is_null(lc))
		return 0;
	if ((rc = want_map(lc, "lifecycle")) != 0)
		return rc;
	for (i = 0; i < cairn_expr_size(lc); i++) {
		k = cairn_expr_key(lc, i, &kp);
		if (in_list(life_keys, k))
			continue;
		if ((hint = closest(life_keys, k)) != NULL)
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown lifecycle key '%s' (did you mean '%s'?)", k, hint);
		return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown lifecycle key '%s' "
			"(expected prevent_destroy, ignore_changes or create_before_destroy)", k);
	}
	if ((x = cairn_expr_get(lc, "create_before_destroy")) != NULL &&
	    (rc = want_bool(&r->create_before_destroy, x, "create_before_destroy")) != 0)
		return rc;
	if ((x = cairn_expr_get(lc, "ignore_changes")) != NULL) {
		const json_t *v = cairn_expr_const(x);

		if (v && json_is_string(v) && !strcmp(json_string_value(v), "all"))
			r->ignore_all_changes = true;
		else if (v && json_is_string(v))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(x),
				"ignore_changes must be a list of property names or 'all'");
		else if ((rc = want_names(&r->ignore_changes, &r->ignore_changes_pos, &r->nignore_changes, x,
		                          "ignore_changes")) != 0)
			return rc;
	}
	if ((r->prevent_destroy = cairn_expr_take(lc, "prevent_destroy")) != NULL) {
		const json_t *v = cairn_expr_const(r->prevent_destroy);

		if (v && !json_is_boolean(v))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(r->prevent_destroy),
				"prevent_destroy must be true or false");
	}
	return 0;
}

/* timeouts: { create: 30m, delete: 2h }: Terraform's per-resource
 * deadlines, as constant durations. */
static int load_timeouts(cairn_res_cfg *r, const cairn_expr *to)
{
	const cairn_expr *x;
	const cairn_pos *kp;
	const json_t *v;
	const char *k, *hint;
	char num[64];
	size_t i, j;
	int rc;

	if (is_null(to))
		return 0;
	if ((rc = want_map(to, "timeouts")) != 0)
		return rc;
	for (i = 0; i < cairn_expr_size(to); i++) {
		k = cairn_expr_key(to, i, &kp);
		for (j = 0; timeout_keys[j] && strcmp(timeout_keys[j], k) != 0; j++)
			;
		if (!timeout_keys[j]) {
			if ((hint = closest(timeout_keys, k)) != NULL)
				return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown timeouts key '%s' (did you mean '%s'?)", k, hint);
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown timeouts key '%s' "
				"(expected create, read, update or delete)", k);
		}
		x = cairn_expr_item(to, i);
		v = cairn_expr_const(x);
		if (v && json_is_number(v)) {
			snprintf(num, sizeof(num), "%.17g", json_number_value(v));
			rc = cairn_duration_parse(num, &cairn_duration_timeouts, &r->timeouts[j]);
		} else {
			rc = v && json_is_string(v) ? cairn_duration_parse(json_string_value(v), &cairn_duration_timeouts, &r->timeouts[j]) : CAIRN_EINVAL;
		}
		if (rc)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(x), "timeouts.%s must be a duration like "
				"\"30m\", \"1h30m\" or \"90s\" (more than 0, at most 7 days)", k);
	}
	return 0;
}

static int check_count(const cairn_res_cfg *r)
{
	const json_t *v;

	if (r->count && (v = cairn_expr_const(r->count)) != NULL &&
	    !(json_is_number(v) && json_number_value(v) == floor(json_number_value(v)) &&
	      json_number_value(v) >= 0 && json_number_value(v) <= CAIRN_COUNT_MAX)) {
		char *s = json_is_number(v) ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
		int rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(r->count),
			"count must be a whole number from 0 to %d, got %s", CAIRN_COUNT_MAX,
			s ? s : cairn_value_type_name(v));

		free(s);
		return rc;
	}
	if (r->for_each && (v = cairn_expr_const(r->for_each)) != NULL && !json_is_array(v) && !json_is_object(v))
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(r->for_each),
			"for_each must be a list of strings or a map, got %s", cairn_value_type_name(v));
	return 0;
}

static int load_resource(cairn_res_cfg *r, const char *name, const cairn_pos *pos, cairn_expr *m)
{
	cairn_expr *x = NULL;
	const cairn_pos *cpos, *fpos = NULL;
	res_ref_ud ud = { false, false, name, NULL };
	size_t i;
	int rc;

	r->pos = *pos;
	if (!(r->name = xstrdup(name)))
		return CAIRN_ENOMEM;
	if (!cairn_config__name_valid(name))
		return cairn_error_set_at(CAIRN_EINVAL, pos, "invalid resource name '%s' "
			"(names start with a letter or '_' and contain letters, digits, '_' and '-')", name);
	if (in_list(reserved, name))
		return cairn_error_set_at(CAIRN_EINVAL, pos, "resource name '%s' is reserved", name);
	if ((rc = want_map(m, "a resource")) != 0)
		return rc;
	if (!(x = cairn_expr_take(m, "type"))) {
		for (i = 0; i < cairn_expr_size(m); i++) {
			const char *k = cairn_expr_key(m, i, &cpos);

			if (cairn_expr__close(k, "type"))
				return cairn_error_set_at(CAIRN_EINVAL, cpos, "unknown key '%s' in resource '%s' (did you mean 'type'?)",
					k, name);
		}
		return cairn_error_set_at(CAIRN_EINVAL, pos, "resource '%s' has no 'type'", name);
	}
	r->type_pos = *cairn_expr_pos(x);
	rc = want_string(&r->type, x, "the resource type");
	if (!rc && !r->type[0])
		rc = cairn_error_set_at(CAIRN_EINVAL, &r->type_pos, "the resource type must not be empty");
	cairn_expr_free(x);
	if (rc)
		return rc;
	if ((x = cairn_expr_take(m, "depends_on")) != NULL) {
		rc = want_names(&r->depends_on, &r->depends_on_pos, &r->ndepends_on, x, "depends_on");
		cairn_expr_free(x);
		if (rc)
			return rc;
	}
	if (cairn_expr_get(m, "count") && cairn_expr_get(m, "for_each")) {
		for (i = 0; i < cairn_expr_size(m); i++) {
			const char *k = cairn_expr_key(m, i, &cpos);

			if (!strcmp(k, "count") || !strcmp(k, "for_each"))
				fpos = cpos;
		}
		return cairn_error_set_at(CAIRN_EINVAL, fpos,
			"resource '%s' has both 'count' and 'for_each' (use one of them)", name);
	}
	r->count = cairn_expr_take(m, "count");
	r->for_each = cairn_expr_take(m, "for_each");
	if ((rc = check_count(r)) != 0)
		return rc;
	ud.where = "count";
	if (r->count && (rc = cairn_expr_refs(r->count, resource_ref, &ud)) != 0)
		return rc;
	ud.where = "for_each";
	if (r->for_each && (rc = cairn_expr_refs(r->for_each, resource_ref, &ud)) != 0)
		return rc;
	ud.where = NULL;
	ud.has_count = r->count != NULL;
	ud.has_each = r->for_each != NULL;
	if ((x = cairn_expr_take(m, "lifecycle")) != NULL) {
		rc = load_lifecycle(r, x);
		cairn_expr_free(x);
		if (rc)
			return rc;
	}
	if ((x = cairn_expr_take(m, "timeouts")) != NULL) {
		rc = load_timeouts(r, x);
		cairn_expr_free(x);
		if (rc)
			return rc;
	}
	if ((x = cairn_expr_take(m, "checks")) != NULL) {
		rc = cairn_config__load_res_checks(r, x);
		if (!rc)
			rc = cairn_expr_refs(x, resource_ref, &ud);
		cairn_expr_free(x);
		if (rc)
			return rc;
	}
	if ((x = cairn_expr_take(m, "rollout")) != NULL) {
		rc = cairn_config__load_rollout(r, x, r->count || r->for_each);
		cairn_expr_free(x);
		if (rc)
			return rc;
	}
	if ((rc = cairn_expr_refs(m, resource_ref, &ud)) != 0)
		return rc;
	return cairn_expr_copy(&r->props, m);
}

static int load_resources(stack_priv *sp, cairn_expr *res)
{
	cairn_stack *s = &sp->pub;
	const cairn_pos *kp;
	size_t i, n;
	int rc;

	if (is_null(res))
		return 0;
	if ((rc = want_map(res, "'resources'")) != 0)
		return rc;
	n = cairn_expr_size(res);
	if (n && !(s->resources = calloc(n, sizeof(*s->resources))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *k = cairn_expr_key(res, i, &kp);
		cairn_expr *m = (cairn_expr *)cairn_expr_item(res, i);
		const json_t *t = cairn_expr_kind_of(m) == CAIRN_EXPR_MAP ? cairn_expr_const(cairn_expr_get(m, "type")) : NULL;

		s->nresources = i + 1;
		/* a resource of a host.* type names its host: `host: web[0]` */
		if (json_is_string(t) && !strncmp(json_string_value(t), "host.", 5) &&
		    (rc = cairn_config__host_ref(m, "host")) != 0)
			return rc;
		if ((rc = load_resource(&s->resources[i], k, kp, m)) != 0)
			return rc;
		if (json_object_set_new(sp->index, k, json_integer((json_int_t)i)) != 0)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	return 0;
}

/* hosts: NAME -> a resource of type ssh.host, after the resources, in the
 * same name space (config_hosts.c says why). */
static int load_hosts(stack_priv *sp, cairn_expr *hosts)
{
	cairn_stack *s = &sp->pub;
	const cairn_pos *kp;
	cairn_res_cfg *more;
	size_t i, n, base = s->nresources;
	int rc;

	if (is_null(hosts))
		return 0;
	if ((rc = want_map(hosts, "'hosts'")) != 0)
		return rc;
	n = cairn_expr_size(hosts);
	if (!n)
		return 0;
	if (!(more = realloc(s->resources, (base + n) * sizeof(*more))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->resources = more;
	memset(more + base, 0, n * sizeof(*more));
	for (i = 0; i < n; i++) {
		const char *k = cairn_expr_key(hosts, i, &kp);
		cairn_expr *m = (cairn_expr *)cairn_expr_item(hosts, i), *type = NULL;
		json_t *tv;

		s->nresources = base + i + 1;
		if (json_object_get(sp->index, k)) {
			const cairn_res_cfg *other = &s->resources[json_integer_value(json_object_get(sp->index, k))];

			return cairn_error_set_at(CAIRN_EINVAL, kp, "host '%s' has the name of resource '%s' (line %d): "
				"hosts and resources share one name space", k, k, other->pos.line);
		}
		if (is_null(m) || (rc = want_map(m, "a host")) != 0)
			return is_null(m) ? cairn_error_set_at(CAIRN_EINVAL, kp, "host '%s' needs at least an address", k) : rc;
		if (cairn_expr_get(m, "type")) {
			const cairn_pos *tp = NULL;
			size_t j;

			for (j = 0; j < cairn_expr_size(m); j++)
				if (!strcmp(cairn_expr_key(m, j, &tp), "type"))
					break;
			return cairn_error_set_at(CAIRN_EINVAL, tp, "a host has no 'type' (every entry of hosts: is an "
				"ssh.host; configure it with resources of host.* types that name it)");
		}
		if ((rc = cairn_config__host_ref(m, "bastion")) != 0)
			return rc;
		tv = json_string("ssh.host");
		rc = tv ? cairn_expr_new_const(&type, tv, kp) : cairn_error_set(CAIRN_ENOMEM, "out of memory");
		json_decref(tv);
		if (rc || (rc = cairn_expr_map_set(m, "type", kp, type)) != 0) /* it owns type */
			return rc;
		if ((rc = load_resource(&s->resources[base + i], k, kp, m)) != 0)
			return rc;
		if (json_object_set_new(sp->index, k, json_integer((json_int_t)(base + i))) != 0)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- outputs --------------------------------------------------------- */

static int load_outputs(cairn_stack *s, cairn_expr *outs)
{
	const cairn_pos *kp;
	const cairn_expr *x;
	size_t i, n;
	int rc;

	if (is_null(outs))
		return 0;
	if ((rc = want_map(outs, "'outputs'")) != 0)
		return rc;
	n = cairn_expr_size(outs);
	if (n && !(s->outputs = calloc(n, sizeof(*s->outputs))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *k = cairn_expr_key(outs, i, &kp);
		cairn_expr *m = (cairn_expr *)cairn_expr_item(outs, i);
		cairn_output_cfg *o = &s->outputs[i];

		s->noutputs = i + 1;
		o->pos = *kp;
		if (!(o->name = xstrdup(k)))
			return CAIRN_ENOMEM;
		if (!cairn_config__name_valid(k))
			return cairn_error_set_at(CAIRN_EINVAL, kp, "invalid output name '%s'", k);
		if (cairn_expr_kind_of(m) != CAIRN_EXPR_MAP)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(m),
				"output '%s' must be a mapping with a 'value'", k);
		if ((rc = check_keys(m, out_keys, "output")) != 0)
			return rc;
		if ((x = cairn_expr_get(m, "description")) != NULL && (rc = want_string(&o->description, x, "description")) != 0)
			return rc;
		if ((x = cairn_expr_get(m, "sensitive")) != NULL && (rc = want_bool(&o->sensitive, x, "sensitive")) != 0)
			return rc;
		if (!(o->value = cairn_expr_take(m, "value")))
			return cairn_error_set_at(CAIRN_EINVAL, kp, "output '%s' has no 'value'", k);
	}
	return 0;
}

/* ---- whole-stack checks --------------------------------------------- */

static int var_ref(void *ud, const cairn_ref *r)
{
	const cairn_stack *s = ud;
	size_t i;

	if (!strcmp(r->root, "path") && (!r->attr || strcmp(r->attr, "stack") != 0))
		return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "unknown reference 'path.%s' (only path.stack exists)",
			r->attr ? r->attr : "");
	if (strcmp(r->root, "var") != 0)
		return 0;
	if (!r->attr)
		return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "'var' must be followed by a variable name (var.NAME)");
	for (i = 0; i < s->nvars; i++)
		if (!strcmp(s->vars[i].name, r->attr))
			return 0;
	for (i = 0; i < s->nvars; i++)
		if (cairn_expr__close(r->attr, s->vars[i].name))
			return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "unknown reference 'var.%s' (did you mean 'var.%s'?)",
				r->attr, s->vars[i].name);
	return cairn_error_set_at(CAIRN_EINVAL, &r->pos, "unknown reference 'var.%s' (no variable '%s' is declared)",
		r->attr, r->attr);
}

/* Function names and var.NAME references in one expression. */
static int check_expr(const cairn_stack *s, const cairn_expr *e)
{
	int rc;

	if (!e)
		return 0;
	if ((rc = cairn_expr_check_funcs(e)) != 0)
		return rc;
	return cairn_expr_refs(e, var_ref, (void *)s);
}

static int check_stack(const cairn_stack *s)
{
	size_t i, j;
	int rc;

	for (i = 0; i < s->nvars; i++) {
		if ((rc = cairn_expr_check_funcs(s->vars[i].def)) != 0)
			return rc;
		for (j = 0; j < s->vars[i].nvalidations; j++)
			if ((rc = check_expr(s, s->vars[i].validations[j].condition)) != 0)
				return rc;
	}
	for (i = 0; i < s->nresources; i++) {
		const cairn_res_cfg *r = &s->resources[i];

		if ((rc = check_expr(s, r->count)) != 0 || (rc = check_expr(s, r->for_each)) != 0 ||
		    (rc = check_expr(s, r->props)) != 0 || (rc = check_expr(s, r->prevent_destroy)) != 0)
			return rc;
	}
	for (i = 0; i < s->noutputs; i++)
		if ((rc = check_expr(s, s->outputs[i].value)) != 0)
			return rc;
	return 0;
}

/* ---- the stack ------------------------------------------------------- */

/* The state: key: a path, relative to the stack's directory, or a
 * postgres:// (postgresql://) URL. A stack file is shared (version
 * control): a URL that carries a password is refused, the password
 * belongs in PGPASSWORD, ~/.pgpass or CAIRN_STATE_URL. The message never
 * repeats the URL. *out: the URL, or the path joined to dir. */
static int load_state(char **out, const cairn_expr *x, const char *dir)
{
	const cairn_pos *pos = cairn_expr_pos(x);
	char *v = NULL;
	const char *p, *sep, *auth, *end, *at = NULL, *q;
	int rc;

	if ((rc = want_string(&v, x, "the state")) != 0)
		return rc;
	for (p = v; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (p > v && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '.' || *p == '-')); p++)
		;
	sep = p > v && strncmp(p, "://", 3) == 0 ? p : NULL;
	if (!*v) {
		rc = cairn_error_set_at(CAIRN_EINVAL, pos, "the state is empty: name a file (relative to the stack) "
					"or a postgres:// URL");
	} else if (sep && strncmp(v, "postgres://", 11) != 0 && strncmp(v, "postgresql://", 13) != 0) {
		rc = cairn_error_set_at(CAIRN_EINVAL, pos, "the state's URL scheme '%.*s' is not supported: "
					"name a file (relative to the stack) or a postgres:// URL", (int)(sep - v), v);
	} else if (sep) {
		auth = sep + 3;
		end = auth + strcspn(auth, "/?#");
		for (q = auth; q < end; q++)
			if (*q == '@')
				at = q;
		for (q = strchr(v, '?'); q && !rc; q = strchr(q + 1, '&'))
			if (strncmp(q + 1, "password=", 9) == 0)
				rc = CAIRN_EINVAL;
		if (rc || (at && memchr(auth, ':', (size_t)(at - auth))))
			rc = cairn_error_set_at(CAIRN_EINVAL, pos, "the state's URL holds a password: a stack file is "
						"shared, so keep the password out of it (PGPASSWORD, ~/.pgpass, or the "
						"whole URL in CAIRN_STATE_URL)");
		else
			*out = v, v = NULL;
	} else if (v[0] == '/') {
		*out = v, v = NULL;
	} else if (asprintf(out, "%s/%s", dir, v) < 0) {
		*out = NULL;
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	free(v);
	return rc;
}

int cairn_stack_state_of(const char *path, char **out)
{
	cairn_expr *doc = NULL;
	const cairn_expr *x;
	struct stat sb;
	char *tmp = NULL;
	int rc = 0;

	*out = NULL;
	if (stat(path, &sb) != 0)
		return 0; /* no stack file: the default state */
	if ((rc = cairn_config__load_yaml(&doc, path, path)) != 0)
		return rc;
	if ((x = cairn_expr_get(doc, "state")) != NULL) {
		if (!(tmp = xstrdup(path)))
			rc = CAIRN_ENOMEM;
		else
			rc = load_state(out, x, dirname(tmp));
	}
	free(tmp);
	cairn_expr_free(doc);
	return rc;
}

static int default_name(char **out, const char *dir)
{
	char real[PATH_MAX], *base;

	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	base = basename(real);
	*out = strdup(base && *base && strcmp(base, "/") ? base : "stack");
	return *out ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
}

static int add_file(char ***files, size_t *n, const char *path, const char **out)
{
	char **nf = realloc(*files, (*n + 1) * sizeof(*nf));

	if (!nf)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*files = nf;
	if (!(nf[*n] = strdup(path)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*out = nf[(*n)++];
	return 0;
}

/* An empty stack file (or one that is only `~`, or says `resources:` with
 * nothing under it) would mean "no resources": the next apply would
 * destroy everything. Most likely it is an accident, so it must be said:
 * `resources: {}`. */
static int check_not_empty(const cairn_expr *doc, const char *file)
{
	const cairn_expr *res = cairn_expr_get(doc, "resources");
	const cairn_pos *kp = NULL;
	cairn_pos pos = { file, 1, 1 };
	size_t i;

	if (cairn_expr_size(doc) == 0)
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "the stack file is empty: it would mean no resources, "
			"and apply would destroy everything; write 'resources: {}' if that is what you want");
	if (res && is_null(res)) {
		for (i = 0; i < cairn_expr_size(doc); i++)
			if (!strcmp(cairn_expr_key(doc, i, &kp), "resources"))
				break;
		return cairn_error_set_at(CAIRN_EINVAL, kp ? kp : &pos, "'resources' is empty (null): it would mean "
			"no resources, and apply would destroy everything; write 'resources: {}' if that is what you want");
	}
	return 0;
}

int cairn_stack_load(cairn_stack **out, const char *path)
{
	stack_priv *sp = NULL;
	cairn_stack *s;
	cairn_expr *doc = NULL, *x = NULL;
	const char *file = NULL;
	char *tmp = NULL;
	int rc;

	if (!(sp = calloc(1, sizeof(*sp))) || !(sp->index = json_object())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	s = &sp->pub;
	if ((rc = add_file(&s->files, &s->nfiles, path, &file)) != 0)
		goto cleanup;
	if (!(s->path = xstrdup(path)) || !(tmp = xstrdup(path))) {
		rc = CAIRN_ENOMEM;
		goto cleanup;
	}
	if (!(s->dir = xstrdup(dirname(tmp)))) {
		rc = CAIRN_ENOMEM;
		goto cleanup;
	}
	if ((rc = cairn_config__load_yaml(&doc, path, file)) != 0)
		goto cleanup;
	if ((rc = check_not_empty(doc, file)) != 0)
		goto cleanup;
	if ((rc = check_keys(doc, top_keys, "the stack file")) != 0)
		goto cleanup;
	if ((x = cairn_expr_take(doc, "stack")) != NULL) {
		if ((rc = want_string(&s->name, x, "the stack name")) != 0)
			goto cleanup;
		if (!s->name[0] || strpbrk(s->name, "/ \t")) {
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(x), "invalid stack name '%s'", s->name);
			goto cleanup;
		}
	} else if ((rc = default_name(&s->name, s->dir)) != 0) {
		goto cleanup;
	}
	if (cairn_expr_get(doc, "state") && (rc = load_state(&s->state, cairn_expr_get(doc, "state"), s->dir)) != 0)
		goto cleanup;
	if ((rc = load_vars(s, (cairn_expr *)cairn_expr_get(doc, "variables"))) != 0 ||
	    (rc = load_resources(sp, (cairn_expr *)cairn_expr_get(doc, "resources"))) != 0 ||
	    (rc = load_hosts(sp, (cairn_expr *)cairn_expr_get(doc, "hosts"))) != 0 ||
	    (rc = load_outputs(s, (cairn_expr *)cairn_expr_get(doc, "outputs"))) != 0 ||
	    (rc = cairn_config__load_drift(s, cairn_expr_get(doc, "drift"))) != 0 ||
	    (rc = cairn_config__load_envs(s, cairn_expr_get(doc, "environments"))) != 0 ||
	    (rc = cairn_config__load_checks(s, cairn_expr_get(doc, "checks"))) != 0 ||
	    (rc = check_stack(s)) != 0)
		goto cleanup;
	*out = s;
	sp = NULL;
cleanup:
	cairn_expr_free(x);
	cairn_expr_free(doc);
	free(tmp);
	if (sp)
		cairn_stack_free(&sp->pub);
	return rc;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n && names; i++)
		free(names[i]);
	free(names);
}

void cairn_stack_free(cairn_stack *s)
{
	stack_priv *sp = (stack_priv *)s;
	size_t i, j;

	if (!s)
		return;
	for (i = 0; i < s->nvars; i++) {
		cairn_var_cfg *v = &s->vars[i];

		free(v->name);
		free(v->type);
		cairn_expr_free(v->def);
		free(v->description);
		for (j = 0; j < v->nvalidations; j++) {
			cairn_expr_free(v->validations[j].condition);
			free(v->validations[j].message);
		}
		free(v->validations);
	}
	free(s->vars);
	for (i = 0; i < s->nresources; i++) {
		cairn_res_cfg *r = &s->resources[i];

		free(r->name);
		free(r->type);
		cairn_expr_free(r->props);
		cairn_expr_free(r->count);
		cairn_expr_free(r->for_each);
		free_names(r->depends_on, r->ndepends_on);
		free(r->depends_on_pos);
		cairn_expr_free(r->prevent_destroy);
		free_names(r->ignore_changes, r->nignore_changes);
		free(r->ignore_changes_pos);
		cairn_config__free_res_checks(r);
	}
	free(s->resources);
	for (i = 0; i < s->noutputs; i++) {
		free(s->outputs[i].name);
		cairn_expr_free(s->outputs[i].value);
		free(s->outputs[i].description);
	}
	free(s->outputs);
	cairn_config__free_drift(s);
	json_decref(s->envs);
	for (i = 0; i < s->nenv_pos; i++)
		free(s->env_pos[i].name);
	free(s->env_pos);
	cairn_config__free_checks(s);
	free(s->name);
	free(s->path);
	free(s->dir);
	free(s->state);
	free_names(s->files, s->nfiles);
	json_decref(sp->index);
	free(sp);
}

const cairn_res_cfg *cairn_stack_resource(const cairn_stack *s, const char *name)
{
	const stack_priv *sp = (const stack_priv *)s;
	json_t *i;

	if (!s || !name || !(i = json_object_get(sp->index, name)))
		return NULL;
	return &s->resources[json_integer_value(i)];
}

/* ---- environments ---------------------------------------------------- */

bool cairn_env_name_valid(const char *name)
{
	size_t i;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (i = 1; name[i]; i++) {
		char c = name[i];

		if (i > 62 || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return strcmp(name, "stack") != 0;
}

static int env_path(cairn_buf *b, const cairn_stack *s, const char *name)
{
	cairn_buf_init(b, 0);
	if (!strcmp(s->dir, ".") && !strchr(s->path, '/'))
		return cairn_buf_printf(b, "%s.yaml", name);
	if (!strcmp(s->dir, "/"))
		return cairn_buf_printf(b, "/%s.yaml", name);
	return cairn_buf_printf(b, "%s/%s.yaml", s->dir, name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cairn_env_list_free(char **list, size_t n)
{
	free_names(list, n);
}

int cairn_env_list(char ***out, size_t *n, const cairn_stack *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	char **list = NULL, *stem = NULL, *base;
	size_t cnt = 0;
	int rc = 0;

	if (!d)
		return cairn_error_set(CAIRN_EIO, "cannot list %s: %s", s->dir, strerror(errno));
	base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char **nl;

		if (l <= 5 || strcmp(de->d_name + l - 5, ".yaml") != 0 || !strcmp(de->d_name, base))
			continue;
		if (!(stem = strndup(de->d_name, l - 5))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if (!cairn_env_name_valid(stem)) {
			free(stem);
			stem = NULL;
			continue;
		}
		if (!(nl = realloc(list, (cnt + 1) * sizeof(*nl)))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		list = nl;
		list[cnt++] = stem;
		stem = NULL;
	}
	qsort(list, cnt, sizeof(*list), cmp_str);
	*out = list;
	*n = cnt;
	list = NULL;
cleanup:
	free(stem);
	if (list)
		free_names(list, cnt);
	closedir(d);
	return rc;
}

bool cairn_env_has_overlay(const cairn_stack *s, const char *name)
{
	cairn_buf path = CAIRN_BUF_INIT;
	struct stat st;
	bool has;

	has = cairn_env_name_valid(name) && env_path(&path, s, name) == 0 && stat(path.ptr, &st) == 0;
	cairn_buf_release(&path);
	return has;
}

static int unknown_env(const cairn_stack *s, const char *name, const char *path)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char **envs = NULL;
	size_t n = 0, i;
	int rc;

	cairn_buf_init(&b, 0);
	if (cairn_env_list(&envs, &n, s) == 0)
		for (i = 0; i < n; i++)
			cairn_buf_printf(&b, "%s%s", i ? ", " : "", envs[i]);
	if (!cairn_env_name_valid(name))
		rc = cairn_error_set(CAIRN_EINVAL, "invalid environment name '%s' (environments: %s)", name,
			n ? cairn_buf_cstr(&b) : "none");
	else
		rc = cairn_error_set(CAIRN_EINVAL, "unknown environment '%s' (no file %s; environments: %s)", name, path,
			n ? cairn_buf_cstr(&b) : "none");
	free_names(envs, n);
	cairn_buf_release(&b);
	return rc;
}

int cairn_env_load(cairn_env_cfg **out, const cairn_stack *s, const char *name)
{
	cairn_env_cfg *e = NULL;
	cairn_buf path = CAIRN_BUF_INIT;
	cairn_expr *doc = NULL, *x = NULL;
	const char *file = NULL;
	struct stat st;
	int rc;

	if ((rc = env_path(&path, s, name)) != 0)
		goto cleanup;
	if (!cairn_env_name_valid(name) || stat(path.ptr, &st) != 0) {
		rc = unknown_env(s, name, path.ptr);
		goto cleanup;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (!(e->name = xstrdup(name)) || !(e->path = xstrdup(path.ptr))) {
		rc = CAIRN_ENOMEM;
		goto cleanup;
	}
	if ((rc = add_file(&e->files, &e->nfiles, path.ptr, &file)) != 0 ||
	    (rc = cairn_config__load_yaml(&doc, path.ptr, file)) != 0 ||
	    (rc = check_keys(doc, env_keys, "the environment file")) != 0)
		goto cleanup;
	if ((x = cairn_expr_take(doc, "provider")) != NULL && !is_null(x)) {
		if ((rc = want_map(x, "'provider'")) != 0 ||
		    (rc = cairn_config__check_const(x, "provider settings")) != 0 ||
		    (rc = cairn_expr_eval(&e->provider, x, NULL)) != 0)
			goto cleanup;
	} else if (!(e->provider = json_object())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	cairn_expr_free(x);
	x = NULL;
	if ((e->variables = cairn_expr_take(doc, "variables")) != NULL && is_null(e->variables)) {
		cairn_expr_free(e->variables);
		e->variables = NULL;
	}
	if (e->variables) {
		if ((rc = want_map(e->variables, "'variables'")) != 0 ||
		    (rc = cairn_config__check_const(e->variables, "overlay values")) != 0)
			goto cleanup;
	} else if ((rc = cairn_expr_new_map(&e->variables, &(cairn_pos){ file, 1, 1 })) != 0) {
		goto cleanup;
	}
	*out = e;
	e = NULL;
cleanup:
	cairn_buf_release(&path);
	cairn_expr_free(x);
	cairn_expr_free(doc);
	cairn_env_free(e);
	return rc;
}

void cairn_env_free(cairn_env_cfg *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->path);
	json_decref(e->provider);
	cairn_expr_free(e->variables);
	free_names(e->files, e->nfiles);
	free(e);
}
