/*
 * config_envs.c - the stack's `environments:` section: settings per
 * environment name (see config.h and docs/environments.md).
 *
 *   environments:
 *     prod: { protected: true, approvals: { required: 1, distinct_author: true } }
 *     dr:   { protected: true }
 *
 * `protected`: destroy, env destroy and env gc refuse the environment, and
 * so does an apply whose plan deletes or replaces something there, unless
 * it applies a saved plan (cli/). `approvals`: parsed and checked here for
 * the approval rules of the apply. A name may be one with an overlay file
 * or an ephemeral one; it must only be a valid environment name. Every
 * value is a literal (no ${ } references), checked with file:line:col.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const setting_keys[] = { "protected", "approvals", NULL };
static const char *const approval_keys[] = { "required", "distinct_author", NULL };

static bool is_null(const cairn_expr *e)
{
	return cairn_expr_kind_of(e) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(e));
}

static int check_keys(const cairn_expr *map, const char *const *allowed, const char *what)
{
	const cairn_pos *kp;
	const char *const *a;
	size_t i;

	for (i = 0; i < cairn_expr_size(map); i++) {
		const char *k = cairn_expr_key(map, i, &kp);

		for (a = allowed; *a && strcmp(*a, k); a++)
			;
		if (!*a)
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown key '%s' in %s", k, what);
	}
	return 0;
}

static int literal_bool(bool *out, const cairn_expr *e, const char *what)
{
	const json_t *v = cairn_expr_const(e);

	if (!v || !json_is_boolean(v))
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), "%s must be true or false", what);
	*out = json_is_true(v);
	return 0;
}

static int load_approvals(cairn_env_setting *es, const cairn_expr *a)
{
	const cairn_expr *x;
	const json_t *v;
	int rc;

	if (cairn_expr_kind_of(a) != CAIRN_EXPR_MAP)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(a),
			"environments.%s.approvals must be a mapping (required, distinct_author)", es->name);
	if ((rc = check_keys(a, approval_keys, "approvals (required, distinct_author)")) != 0)
		return rc;
	if ((x = cairn_expr_get(a, "required")) != NULL) {
		v = cairn_expr_const(x);
		if (!v || !json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x),
				"approvals.required must be a whole number from 0 to 100");
		es->approvals_required = (int)json_integer_value(v);
	}
	if ((x = cairn_expr_get(a, "distinct_author")) != NULL &&
	    (rc = literal_bool(&es->distinct_author, x, "approvals.distinct_author")) != 0)
		return rc;
	return 0;
}

static int load_setting(cairn_env_setting *es, const char *name, const cairn_pos *kp, const cairn_expr *e)
{
	const cairn_expr *x;
	int rc;

	if (!(es->name = strdup(name)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	es->pos = *kp;
	if (!cairn_env_name_valid(name))
		return cairn_error_set_at(CAIRN_EINVAL, kp, "invalid environment name '%s' in environments "
			"(use lowercase letters, digits, - and _)", name);
	if (is_null(e))
		return 0;
	if (cairn_expr_kind_of(e) != CAIRN_EXPR_MAP)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e),
			"environments.%s must be a mapping (protected, approvals)", name);
	if ((rc = check_keys(e, setting_keys, "an environment's settings (protected, approvals)")) != 0)
		return rc;
	if ((x = cairn_expr_get(e, "protected")) != NULL &&
	    (rc = literal_bool(&es->protected_, x, "protected")) != 0)
		return rc;
	if ((x = cairn_expr_get(e, "approvals")) != NULL && !is_null(x)) {
		es->has_approvals = true;
		if ((rc = load_approvals(es, x)) != 0)
			return rc;
	}
	return 0;
}

int cairn_config__load_envs(cairn_stack *s, const cairn_expr *envs)
{
	const cairn_pos *kp;
	size_t i, n;
	int rc;

	if (!envs || is_null(envs))
		return 0;
	if (cairn_expr_kind_of(envs) != CAIRN_EXPR_MAP)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(envs),
			"environments must be a mapping of environment names to their settings");
	n = cairn_expr_size(envs);
	if (!(s->env_settings = calloc(n ? n : 1, sizeof(*s->env_settings))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *name = cairn_expr_key(envs, i, &kp);

		s->nenv_settings = i + 1;
		if ((rc = load_setting(&s->env_settings[i], name, kp, cairn_expr_item(envs, i))) != 0)
			return rc;
	}
	return 0;
}

void cairn_config__free_envs(cairn_stack *s)
{
	size_t i;

	for (i = 0; i < s->nenv_settings; i++)
		free(s->env_settings[i].name);
	free(s->env_settings);
	s->env_settings = NULL;
	s->nenv_settings = 0;
}

static const cairn_env_setting *setting(const cairn_config *cfg, const char *env)
{
	size_t i;

	for (i = 0; cfg && env && i < cfg->nenv_settings; i++)
		if (!strcmp(cfg->env_settings[i].name, env))
			return &cfg->env_settings[i];
	return NULL;
}

bool cairn_config_env_protected(const cairn_config *cfg, const char *env)
{
	const cairn_env_setting *es = setting(cfg, env);

	return es && es->protected_;
}

const cairn_pos *cairn_config_env_pos(const cairn_config *cfg, const char *env)
{
	const cairn_env_setting *es = setting(cfg, env);

	return es ? &es->pos : NULL;
}

int cairn_config_env_approvals(const cairn_config *cfg, const char *env, int *required, bool *distinct_author)
{
	const cairn_env_setting *es = setting(cfg, env);

	*required = es ? es->approvals_required : 0;
	*distinct_author = es ? es->distinct_author : false;
	return 0;
}
