/*
 * config_envs.c - the stack's `environments:` section: settings per
 * environment that guard its changes (see config.h, docs/guardrails.md).
 *
 *   environments:
 *     prod:
 *       protected: true                 # (cairn env; parsed here, used there)
 *       approvals:
 *         required: 2                   # approvals a saved plan needs (1..100)
 *         distinct_author: true         # the plan's author cannot approve it
 *         approvers:                    # signed approvals: who may approve, with
 *           alice: "ssh-ed25519 AAAA..."  # the Ed25519 key that signs (base/sshkey.h)
 *
 * Checked when the stack is loaded, with file:line:col; kept as JSON in
 * s->envs.
 */
#include "config_int.h"
#include "base/sshkey.h"

#include <stdlib.h>
#include <string.h>

static const char *const env_keys[] = { "protected", "approvals", NULL };
static const char *const approval_keys[] = { "required", "distinct_author", "approvers", NULL };

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

/* A literal of the JSON type `type`, or an error at it. */
static const json_t *literal(const cairn_expr *e, json_type type, const char *what, const char *kind)
{
	const json_t *v = cairn_expr_const(e);

	if (!v || json_typeof(v) != type) {
		if (type == JSON_TRUE && v && json_is_boolean(v))
			return v;
		cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), "%s must be %s", what, kind);
		return NULL;
	}
	return v;
}

/* approvals.approvers: {NAME: "ssh-ed25519 BASE64 [comment]"}, each key
 * an Ed25519 public key listed once, at least `required` of them. */
static int load_approvers(json_t *ap, const char *env, const cairn_expr *x, int required)
{
	json_t *list = json_object();
	const cairn_pos *kp;
	char what[200];
	size_t i;

	json_object_set_new(ap, "approvers", list);
	snprintf(what, sizeof(what), "environments.%s.approvals.approvers", env);
	if (cairn_expr_kind_of(x) != CAIRN_EXPR_MAP || cairn_expr_size(x) == 0)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x), "%s must be a mapping of approvers' "
					  "names to their Ed25519 public keys (name: \"ssh-ed25519 AAAA...\")", what);
	for (i = 0; i < cairn_expr_size(x); i++) {
		const char *who = cairn_expr_key(x, i, &kp);
		const cairn_expr *k = cairn_expr_item(x, i);
		const json_t *v = cairn_expr_const(k);
		unsigned char pub[CAIRN_ED25519_LEN], other[CAIRN_ED25519_LEN];
		const char *name;
		json_t *o;

		if (!*who || strlen(who) > 64 || strpbrk(who, " \t\r\n,()"))
			return cairn_error_set_at(CAIRN_EINVAL, kp, "%s: invalid approver name '%s' (at most 64 "
						  "characters, no spaces, commas or parentheses)", what, who);
		if (!json_is_string(v))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(k), "%s.%s must be an Ed25519 public "
						  "key (\"ssh-ed25519 AAAA...\", as in ~/.ssh/id_ed25519.pub)", what, who);
		if (cairn_sshkey_parse_public(json_string_value(v), pub) != 0) {
			char msg[512];

			cairn_error_format(cairn_error_last(), msg, sizeof(msg));
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(k), "%s.%s: %s", what, who, msg);
		}
		json_object_foreach(list, name, o)
			if (cairn_sshkey_parse_public(json_string_value(o), other) == 0 && !memcmp(pub, other, sizeof(pub)))
				return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(k), "%s.%s: the same key as %s's "
							  "(each approver signs with a key of their own)", what, who, name);
		json_object_set(list, who, (json_t *)v);
	}
	if ((int)json_object_size(list) < required)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x), "%s lists %zu approver%s, fewer than the "
					  "%d approvals required", what, json_object_size(list),
					  json_object_size(list) == 1 ? "" : "s", required);
	return 0;
}

static int load_env(json_t *envs, const char *name, const cairn_pos *kp, const cairn_expr *e)
{
	const cairn_expr *p = cairn_expr_get(e, "protected"), *a = cairn_expr_get(e, "approvals"), *x;
	json_t *o;
	const json_t *v;
	char what[160];
	int rc;

	if (!cairn_env_name_valid(name))
		return cairn_error_set_at(CAIRN_EINVAL, kp, "invalid environment name '%s' in environments "
					  "(use lowercase letters, digits, - and _)", name);
	snprintf(what, sizeof(what), "environments.%s", name);
	if ((rc = check_map(e, env_keys, what, "protected, approvals")) != 0)
		return rc;
	o = json_object();
	json_object_set_new(envs, name, o);
	if (p) {
		snprintf(what, sizeof(what), "environments.%s.protected", name);
		if (!(v = literal(p, JSON_TRUE, what, "true or false")))
			return CAIRN_EINVAL;
		json_object_set(o, "protected", (json_t *)v);
	}
	if (a) {
		json_t *ap = json_object();

		json_object_set_new(o, "approvals", ap);
		snprintf(what, sizeof(what), "environments.%s.approvals", name);
		if ((rc = check_map(a, approval_keys, what, "required, distinct_author, approvers")) != 0)
			return rc;
		if (!(x = cairn_expr_get(a, "required")))
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(a), "%s needs 'required' (how many "
						  "approvals a saved plan needs)", what);
		snprintf(what, sizeof(what), "environments.%s.approvals.required", name);
		if (!(v = literal(x, JSON_INTEGER, what, "a whole number from 1 to 100")))
			return CAIRN_EINVAL;
		if (json_integer_value(v) < 1 || json_integer_value(v) > 100)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(x), "%s must be a whole number from "
						  "1 to 100, got %lld", what, (long long)json_integer_value(v));
		json_object_set(ap, "required", (json_t *)v);
		if ((x = cairn_expr_get(a, "distinct_author")) != NULL) {
			snprintf(what, sizeof(what), "environments.%s.approvals.distinct_author", name);
			if (!(v = literal(x, JSON_TRUE, what, "true or false")))
				return CAIRN_EINVAL;
			json_object_set(ap, "distinct_author", (json_t *)v);
		}
		if ((x = cairn_expr_get(a, "approvers")) != NULL &&
		    (rc = load_approvers(ap, name, x, (int)json_integer_value(json_object_get(ap, "required")))) != 0)
			return rc;
	}
	return 0;
}

int cairn_config__load_envs(cairn_stack *s, const cairn_expr *envs)
{
	const cairn_pos *kp;
	size_t i;
	int rc;

	if (!envs || (cairn_expr_kind_of(envs) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(envs))))
		return 0;
	if (cairn_expr_kind_of(envs) != CAIRN_EXPR_MAP)
		return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(envs), "environments must be a mapping "
					  "of environment names to their settings (protected, approvals)");
	s->envs = json_object();
	if (!(s->env_pos = calloc(cairn_expr_size(envs) + 1, sizeof(*s->env_pos))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < cairn_expr_size(envs); i++) {
		const char *name = cairn_expr_key(envs, i, &kp);

		if (!(s->env_pos[i].name = strdup(name)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		s->env_pos[i].pos = *kp;
		s->nenv_pos = i + 1;
		if ((rc = load_env(s->envs, name, kp, cairn_expr_item(envs, i))) != 0)
			return rc;
	}
	return 0;
}

const cairn_pos *cairn_config_env_pos(const cairn_stack *s, const char *env)
{
	size_t i;

	for (i = 0; env && i < s->nenv_pos; i++)
		if (!strcmp(s->env_pos[i].name, env))
			return &s->env_pos[i].pos;
	return NULL;
}

bool cairn_config_env_protected(const cairn_stack *s, const char *env)
{
	return json_is_true(json_object_get(json_object_get(s->envs, env), "protected"));
}

const json_t *cairn_config_env_approvers(const cairn_stack *s, const char *env)
{
	return json_object_get(json_object_get(json_object_get(s->envs, env), "approvals"), "approvers");
}

int cairn_config_env_approvals(const cairn_stack *s, const char *env, int *required, bool *distinct_author)
{
	json_t *a = json_object_get(json_object_get(s->envs, env), "approvals");

	*required = (int)json_integer_value(json_object_get(a, "required"));
	*distinct_author = json_is_true(json_object_get(a, "distinct_author"));
	return 0;
}
