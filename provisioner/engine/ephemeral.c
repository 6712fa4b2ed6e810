/*
 * ephemeral.c - which overlay an environment uses (see engine.h).
 *
 * An environment with an overlay file (ENV.yaml beside the stack) uses it;
 * that file always wins. One without is an ephemeral environment if the
 * state records it (state/envs.h): it uses its base's overlay under its own
 * name (so ${env.name} is its name), and its recorded variable values come
 * before the ones given on the command line. `env create` names the base
 * itself (opts.env_from) before the environment is recorded.
 */
#include "engine.h"
#include "state/envs.h"

#include <stdlib.h>
#include <string.h>

/* The recorded environment of that name, or CAIRN_ENOTFOUND (no state, or
 * no such record). */
static int lookup(cairn_engine *e, cairn_ephemeral_env *rec)
{
	cairn_store *st = NULL;
	int rc;

	/* validate and graph read it too */
	if ((rc = cairn_store_open_existing(&st, e->state_path, CAIRN_STORE_READONLY |
					    (e->opts.store_checked ? CAIRN_STORE_CHECKED : 0))) == 0)
		rc = st ? cairn_store_ephemeral_get(st, e->opts.env, rec) : CAIRN_ENOTFOUND;
	cairn_store_free(st);
	return rc;
}

/* e->env_overrides: the recorded values, then those of the command line. */
static int merge_vars(cairn_engine *e, json_t *recorded)
{
	if (!(e->env_overrides = recorded ? json_deep_copy(recorded) : json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (e->opts.var_overrides && json_object_update(e->env_overrides, e->opts.var_overrides) != 0)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	e->opts.var_overrides = json_object_size(e->env_overrides) ? e->env_overrides : NULL;
	return 0;
}

static int load_as(cairn_engine *e, const char *base)
{
	int rc;

	if (!cairn_env_has_overlay(e->stack, base))
		return cairn_error_set(CAIRN_EINVAL, "environment '%s' is based on '%s', which has no overlay file "
				       "beside the stack any more", e->opts.env, base);
	if ((rc = cairn_env_load(&e->env, e->stack, base)) != 0)
		return rc;
	free(e->env->name);
	if (!(e->env->name = strdup(e->opts.env)) || !(e->env_base = strdup(base)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

int cairn_engine__load_env(cairn_engine *e)
{
	cairn_ephemeral_env rec = { 0 };
	int rc;

	if (cairn_env_has_overlay(e->stack, e->opts.env)) {
		if (e->opts.env_from)
			return cairn_error_set(CAIRN_EINVAL, "environment '%s' has an overlay file: it is not an "
					       "ephemeral environment", e->opts.env);
		return cairn_env_load(&e->env, e->stack, e->opts.env);
	}
	if (e->opts.env_from) {
		if ((rc = load_as(e, e->opts.env_from)) == 0)
			rc = merge_vars(e, NULL);
		return rc;
	}
	if (!cairn_env_name_valid(e->opts.env) || (rc = lookup(e, &rec)) == CAIRN_ENOTFOUND)
		return cairn_env_load(&e->env, e->stack, e->opts.env); /* "unknown environment" */
	if (rc == 0 && (rc = load_as(e, rec.base)) == 0)
		rc = merge_vars(e, rec.vars);
	cairn_ephemeral_env_release(&rec);
	return rc;
}
