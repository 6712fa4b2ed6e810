/*
 * config_vars.c - variable types and the resolution of variable values for
 * an environment (overlay, then --var overrides, then defaults), with type
 * conversion and validations. Values of sensitive variables never appear in
 * messages.
 */
#include "config_int.h"
#include "base/buf.h"
#include "expr_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- types ----------------------------------------------------------- */

/* Parse one type at *p (no spaces); returns false if malformed. */
static bool type_parse(const char **p, int depth)
{
	static const char *const prims[] = { "string", "number", "bool", "any" };
	size_t i, l;

	if (depth > 32)
		return false;
	for (i = 0; i < 4; i++) {
		l = strlen(prims[i]);
		if (!strncmp(*p, prims[i], l)) {
			*p += l;
			return true;
		}
	}
	if (!strncmp(*p, "list", 4) || !strncmp(*p, "map", 3)) {
		*p += (*p)[0] == 'l' ? 4 : 3;
		if (**p != '(')
			return true;
		(*p)++;
		if (!type_parse(p, depth + 1) || **p != ')')
			return false;
		(*p)++;
		return true;
	}
	return false;
}

static char *strip_spaces(const char *t)
{
	char *s = malloc(strlen(t) + 1), *d = s;

	if (!s)
		return NULL;
	for (; *t; t++)
		if (*t != ' ' && *t != '\t')
			*d++ = *t;
	*d = 0;
	return s;
}

bool cairn_type_valid(const char *type)
{
	char *t = type ? strip_spaces(type) : NULL;
	const char *p = t;
	bool ok;

	if (!t)
		return false;
	ok = type_parse(&p, 0) && *p == '\0';
	free(t);
	return ok;
}

/* The element type of list(T)/map(T) ("any" for bare list/map), as a
 * pointer into t and a length. */
static void elem_type(const char *t, size_t tlen, const char **et, size_t *elen)
{
	size_t skip = t[0] == 'l' ? 4 : 3;

	if (tlen == skip) {
		*et = "any";
		*elen = 3;
	} else {
		*et = t + skip + 1;
		*elen = tlen - skip - 2;
	}
}

static int mismatch(const char *t, size_t tlen, const json_t *v, const cairn_buf *path)
{
	if (path->len)
		return cairn_error_set(CAIRN_EINVAL, "expected %.*s at %s, got %s", (int)tlen, t, cairn_buf_cstr(path),
			cairn_value_type_name(v));
	return cairn_error_set(CAIRN_EINVAL, "expected %.*s, got %s", (int)tlen, t, cairn_value_type_name(v));
}

static int check(json_t **out, const char *t, size_t tlen, json_t *v, cairn_buf *path)
{
	const char *et, *k;
	size_t elen, i, mark;
	json_t *res = NULL, *conv = NULL, *x;
	int rc;

	if (cairn_is_unknown(v) || json_is_null(v) || (tlen == 3 && !strncmp(t, "any", 3))) {
		*out = json_incref(v);
		return 0;
	}
	if (tlen == 6 && !strncmp(t, "string", 6)) {
		cairn_buf b = CAIRN_BUF_INIT;

		if (json_is_string(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (!json_is_number(v) && !json_is_boolean(v))
			return mismatch(t, tlen, v, path);
		cairn_buf_init(&b, 0);
		if ((rc = cairn_expr__append_str(&b, v)) == 0 && !(*out = json_string(cairn_buf_cstr(&b))))
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		cairn_buf_release(&b);
		return rc;
	}
	if ((tlen == 6 && !strncmp(t, "number", 6) && json_is_number(v)) ||
	    (tlen == 4 && !strncmp(t, "bool", 4) && json_is_boolean(v))) {
		*out = json_incref(v);
		return 0;
	}
	if (t[0] != 'l' && t[0] != 'm')
		return mismatch(t, tlen, v, path);
	elem_type(t, tlen, &et, &elen);
	if (t[0] == 'l' ? !json_is_array(v) : !json_is_object(v))
		return mismatch(t, tlen, v, path);
	if (!(res = t[0] == 'l' ? json_array() : json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	mark = path->len;
	if (t[0] == 'l') {
		json_array_foreach(v, i, x) {
			path->len = mark;
			cairn_buf_printf(path, "[%zu]", i);
			if ((rc = check(&conv, et, elen, x, path)) != 0)
				goto fail;
			json_array_append_new(res, conv);
		}
	} else {
		json_object_foreach(v, k, x) {
			path->len = mark;
			cairn_buf_printf(path, "[\"%s\"]", k);
			if ((rc = check(&conv, et, elen, x, path)) != 0)
				goto fail;
			json_object_set_new(res, k, conv);
		}
	}
	path->len = mark;
	if (path->ptr)
		path->ptr[mark] = 0;
	*out = res;
	return 0;
fail:
	json_decref(res);
	return rc;
}

int cairn_type_check(json_t **out, const char *type, json_t *v)
{
	cairn_buf path = CAIRN_BUF_INIT;
	char *t;
	int rc;

	if (!(t = strip_spaces(type)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (!cairn_type_valid(t)) {
		rc = cairn_error_set(CAIRN_EINVAL, "invalid type '%s'", type);
	} else {
		cairn_buf_init(&path, 4096);
		rc = check(out, t, strlen(t), v, &path);
		cairn_buf_release(&path);
	}
	free(t);
	return rc;
}

/* ---- resolution ------------------------------------------------------ */

static const cairn_var_cfg *find_var(const cairn_stack *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nvars; i++)
		if (!strcmp(s->vars[i].name, name))
			return &s->vars[i];
	return NULL;
}

static int unknown_var(const cairn_stack *s, const char *name, const cairn_pos *pos, const char *where)
{
	size_t i;

	for (i = 0; i < s->nvars; i++)
		if (cairn_expr__close(name, s->vars[i].name))
			return cairn_error_set_at(CAIRN_EINVAL, pos, "unknown variable '%s'%s (did you mean '%s'?)", name, where,
				s->vars[i].name);
	return cairn_error_set_at(CAIRN_EINVAL, pos, "unknown variable '%s'%s (the stack declares no such variable)",
		name, where);
}

/* "expected number, got string" plus the value when it may be shown. */
static int bad_value(const cairn_var_cfg *var, const cairn_pos *pos, const char *src, const json_t *v)
{
	const cairn_error *e = cairn_error_last();
	char msg[2048];
	char *shown = NULL;
	int rc;

	snprintf(msg, sizeof(msg), "%s", e ? e->message : "invalid value");
	if (var->sensitive) {
		return cairn_error_set_at(CAIRN_EINVAL, pos,
			"invalid value for variable '%s'%s: %s (the value of sensitive variable '%s' is not shown)",
			var->name, src, msg, var->name);
	}
	if (json_is_string(v) || json_is_number(v) || json_is_boolean(v))
		shown = json_dumps(v, JSON_ENCODE_ANY);
	if (shown && strlen(shown) <= 64)
		rc = cairn_error_set_at(CAIRN_EINVAL, pos, "invalid value for variable '%s'%s: %s (%s)", var->name, src,
			msg, shown);
	else
		rc = cairn_error_set_at(CAIRN_EINVAL, pos, "invalid value for variable '%s'%s: %s", var->name, src, msg);
	free(shown);
	return rc;
}

static int run_validations(const cairn_var_cfg *var, json_t *value, const char *base_dir)
{
	json_t *root = NULL, *vars = NULL, *res = NULL;
	cairn_eval_ctx ctx;
	size_t i;
	int rc = 0;

	if (!var->nvalidations)
		return 0;
	if (!(root = json_object()) || !(vars = json_object()) || json_object_set(vars, var->name, value) ||
	    json_object_set(root, "var", vars)) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	ctx.root = root;
	ctx.base_dir = base_dir;
	ctx.inputs = NULL;
	for (i = 0; i < var->nvalidations; i++) {
		const cairn_validation *v = &var->validations[i];
		const cairn_pos *cpos = cairn_expr_start(v->condition);

		if ((rc = cairn_expr_eval(&res, v->condition, &ctx)) != 0) {
			if (var->sensitive)
				rc = cairn_error_set_at(rc, cpos, "cannot evaluate the validation of sensitive variable '%s' "
					"(details are hidden so as not to show the value of sensitive variable '%s')",
					var->name, var->name);
			goto cleanup;
		}
		if (!json_is_boolean(res)) {
			/* a plain string was probably meant as an expression */
			bool text = cairn_expr_kind_of(v->condition) == CAIRN_EXPR_CONST && json_is_string(res);

			rc = cairn_error_set_at(CAIRN_EINVAL, cpos, "the validation condition of variable '%s' must be a bool, "
				"got %s%s", var->name, cairn_value_type_name(res), text ? " (write it as \"${...}\")" : "");
			goto cleanup;
		}
		if (!json_is_true(res)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, cpos, "invalid value for variable '%s': %s", var->name,
				v->message);
			goto cleanup;
		}
		json_decref(res);
		res = NULL;
	}
cleanup:
	json_decref(res);
	json_decref(vars);
	json_decref(root);
	return rc;
}

/* Check every overlay / override name against the declarations. */
static int check_names(const cairn_stack *s, const cairn_env_cfg *env, json_t *overrides)
{
	const cairn_pos *kp;
	const char *k, *where;
	char tmp[600];
	json_t *x;
	size_t i;
	int rc;

	if (env) {
		snprintf(tmp, sizeof(tmp), " in %s", env->path);
		for (i = 0; i < cairn_expr_size(env->variables); i++) {
			k = cairn_expr_key(env->variables, i, &kp);
			if (!find_var(s, k) && (rc = unknown_var(s, k, kp, tmp)) != 0)
				return rc;
		}
	}
	where = " given with --var";
	if (overrides)
		json_object_foreach(overrides, k, x)
			if (!find_var(s, k))
				return unknown_var(s, k, NULL, where);
	return 0;
}

static int resolve_one(json_t *result, const cairn_stack *s, const cairn_var_cfg *var,
	const cairn_env_cfg *env, json_t *overrides)
{
	const cairn_expr *src = NULL;
	const char *from = "";
	json_t *v = NULL, *conv = NULL, *ov = overrides ? json_object_get(overrides, var->name) : NULL;
	const cairn_pos *pos = NULL;
	int rc;

	if (ov && (!json_is_null(ov) || var->nullable)) {
		v = json_incref(ov);
		from = " (from --var)";
	} else if (env && (src = cairn_expr_get(env->variables, var->name)) != NULL &&
	           (!cairn_expr_const(src) || !json_is_null(cairn_expr_const(src)) || var->nullable)) {
		if ((rc = cairn_expr_eval(&v, src, NULL)) != 0)
			return rc;
		pos = cairn_expr_pos(src);
	} else if (var->def) {
		if ((rc = cairn_expr_eval(&v, var->def, NULL)) != 0)
			return rc;
		pos = cairn_expr_pos(var->def);
	} else if (env) {
		return cairn_error_set_at(CAIRN_EINVAL, &var->pos, "variable '%s' is required but not set in %s",
			var->name, env->path);
	} else {
		return cairn_error_set_at(CAIRN_EINVAL, &var->pos,
			"variable '%s' is required but not set (no environment given)", var->name);
	}
	if ((rc = cairn_type_check(&conv, var->type, v)) != 0) {
		rc = bad_value(var, pos, from, v);
		goto cleanup;
	}
	if ((rc = run_validations(var, conv, s->dir)) != 0)
		goto cleanup;
	if (json_object_set(result, var->name, conv) != 0)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	json_decref(v);
	json_decref(conv);
	return rc;
}

int cairn_vars_resolve(json_t **out, const cairn_stack *s, const cairn_env_cfg *env, json_t *overrides)
{
	json_t *result = NULL;
	size_t i;
	int rc;

	if (overrides && !json_is_object(overrides))
		return cairn_error_set(CAIRN_EINVAL, "variable overrides must be an object");
	if ((rc = check_names(s, env, overrides)) != 0)
		return rc;
	if (!(result = json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < s->nvars; i++)
		if ((rc = resolve_one(result, s, &s->vars[i], env, overrides)) != 0)
			goto cleanup;
	*out = result;
	result = NULL;
cleanup:
	json_decref(result);
	return rc;
}
