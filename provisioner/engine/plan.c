/*
 * plan.c - a plan as a JSON document, and checking a saved plan against
 * the current config and state (the text people read is cli/render.c).
 *
 * Sensitive values are written as "(sensitive)", values known only after
 * apply as null. The JSON document is described in docs/plan-json.md; a
 * saved plan (plan -out FILE) is that document.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

bool cairn_inst_is_sensitive(const cairn_inst *in, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach(in->sensitive, i, x)
		if (!strcmp(json_string_value(x), name))
			return true;
	return false;
}

static json_t *safe_value(const json_t *v, bool sensitive)
{
	if (sensitive && v && !json_is_null(v))
		return json_string("(sensitive)");
	if (cairn_has_unknown(v))
		return json_null();
	return v ? json_incref((json_t *)v) : json_null();
}

static json_t *inst_json(const cairn_inst *in)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "address", in->address, "type", in->type, "name", in->name,
			      "action", cairn_action_name(in->action));
	json_t *changes = json_array(), *after_unknown = json_array();
	size_t i;
	json_t *c;

	if (in->key)
		json_object_set(o, "index", in->key);
	if (in->reason)
		json_object_set_new(o, "reason", json_string(in->reason));
	if (in->action == CAIRN_ACT_REPLACE)
		json_object_set_new(o, "create_before_destroy", json_boolean(in->cbd));
	if (in->action == CAIRN_ACT_CREATE) {
		const char *k;
		json_t *v;

		json_object_foreach(in->planned, k, v) {
			if (json_is_null(v))
				continue;
			if (cairn_has_unknown(v))
				json_array_append_new(after_unknown, json_string(k));
			else
				json_array_append_new(changes, json_pack("{s:s,s:n,s:o,s:b,s:b}", "attribute", k, "before",
					"after", safe_value(v, cairn_inst_is_sensitive(in, k)), "force_new", 0, "sensitive", cairn_inst_is_sensitive(in, k)));
		}
	} else {
		json_array_foreach(in->changes, i, c) {
			bool sens = json_is_true(json_object_get(c, "sensitive"));
			json_t *after = json_object_get(c, "after");

			json_array_append_new(changes, json_pack("{s:O,s:o,s:o,s:O,s:b}", "attribute", json_object_get(c, "attribute"),
				"before", safe_value(json_object_get(c, "before"), sens), "after", safe_value(after, sens),
				"force_new", json_object_get(c, "force_new"), "sensitive", sens));
			if (cairn_has_unknown(after))
				json_array_append(after_unknown, json_object_get(c, "attribute"));
		}
	}
	json_object_set_new(o, "changes", changes);
	json_object_set_new(o, "after_unknown", after_unknown);
	return o;
}

int cairn_plan_json(cairn_engine *e, json_t **out)
{
	json_t *doc, *rc = json_array(), *outs = json_object(), *ov = json_object();
	int add, change, destroy;
	size_t i;
	const char *k;
	json_t *v;

	cairn_engine_counts(e, &add, &change, &destroy);
	for (i = 0; i < e->ninsts; i++)
		if (e->insts[i].targeted)
			json_array_append_new(rc, inst_json(&e->insts[i]));
	json_object_foreach(e->outputs, k, v) {
		bool sens = false;
		size_t j;
		json_t *x;

		json_array_foreach(e->output_sensitive, j, x)
			if (!strcmp(json_string_value(x), k))
				sens = true;
		json_object_set_new(outs, k, json_pack("{s:o,s:b,s:b}", "value", safe_value(v, sens), "sensitive", sens,
						       "unknown", cairn_has_unknown(v)));
	}
	/* non-sensitive --var values, so that `apply FILE` sees the same config */
	if (e->opts.var_overrides)
		json_object_foreach(e->opts.var_overrides, k, v)
			if (!json_object_get(e->sensitive_vars, k))
				json_object_set(ov, k, v);
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:o,s:o,s:{s:i,s:i,s:i},s:o,s:o}",
		"format_version", "1", "cairn_version", CAIRN_VERSION, "stack", e->stack->name,
		"stack_file", e->stack->path, "environment", e->opts.env, "config_hash", e->config_hash,
		"state_serial", (json_int_t)e->serial, "refresh", e->opts.refresh, "resource_changes", rc,
		"outputs", outs, "summary", "add", add, "change", change, "destroy", destroy, "variables", ov,
		"inputs", e->inputs ? json_incref(e->inputs) : json_object());
	if (!doc)
		return cairn_error_set(CAIRN_ENOMEM, "cannot build the JSON plan");
	*out = doc;
	return 0;
}

/* "malformed plan file: 'state_serial' must be a whole number, got 1e+30" */
static int malformed_member(const char *name, const char *want, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc;

	if (s && strlen(s) > 64)
		memcpy(s + 60, "...", 4);
	rc = cairn_error_set(CAIRN_EINVAL, "malformed plan file: '%s' must be %s, got %s", name, want,
			     s ? s : "nothing");
	free(s);
	return rc;
}

int cairn_plan_load_saved(cairn_engine *e, json_t *doc, json_t **forced)
{
	const char *fv = json_string_value(json_object_get(doc, "format_version"));
	const char *hash = json_string_value(json_object_get(doc, "config_hash"));
	json_t *serial = json_object_get(doc, "state_serial"), *list = json_object_get(doc, "resource_changes");
	json_t *f, *x;
	size_t i;

	if (!fv || strcmp(fv, "1") != 0)
		return cairn_error_set(CAIRN_EINVAL, "not a cairn plan file (format_version 1 expected)");
	if (!hash)
		return cairn_error_set(CAIRN_EINVAL, "malformed plan file: 'config_hash' must be a string");
	if (!json_is_integer(serial) || json_integer_value(serial) < 0)
		return malformed_member("state_serial", "a whole number, 0 or more", serial);
	if (!json_is_array(list))
		return malformed_member("resource_changes", "a list", list);
	if (strcmp(hash, e->config_hash) != 0)
		return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: the configuration of environment '%s' "
			"(stack, overlay, modules or --var values) changed since it was made; run plan again", e->opts.env);
	{
		json_t *inputs = json_object_get(doc, "inputs"), *fp;
		const char *path;

		/* the files that file() and fileexists() read when the plan was made */
		json_object_foreach(inputs, path, fp) {
			char now[96];

			if (!json_is_string(fp))
				return cairn_error_set(CAIRN_EINVAL, "malformed plan file: input %s", path);
			if (!cairn_file_unchanged(path, json_string_value(fp), now, sizeof(now)))
				return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: %s, which the configuration "
					"of environment '%s' reads, changed since the plan was made (%s, now %s); "
					"run plan again", path, e->opts.env, json_string_value(fp), now);
		}
	}
	if (json_integer_value(serial) != e->serial)
		return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: the state of environment '%s' changed "
			"since it was made (serial %lld, now %lld); run plan again", e->opts.env,
			(long long)json_integer_value(serial), (long long)e->serial);
	f = json_object();
	json_array_foreach(list, i, x) {
		const char *addr = json_string_value(json_object_get(x, "address"));
		const char *act = json_string_value(json_object_get(x, "action"));
		json_t *attrs = json_array(), *c;
		size_t j;

		if (!addr || !act) {
			json_decref(attrs);
			json_decref(f);
			return cairn_error_set(CAIRN_EINVAL, "malformed plan file: resource change %zu", i);
		}
		if (!strcmp(act, "no-op")) {
			json_decref(attrs);
			continue;
		}
		json_array_foreach(json_object_get(x, "changes"), j, c)
			json_array_append(attrs, json_object_get(c, "attribute"));
		json_object_set_new(f, addr, json_pack("{s:s,s:o}", "action", act, "attributes", attrs));
	}
	*forced = f;
	return 0;
}

int cairn_plan_verify_saved(cairn_engine *e, json_t *forced)
{
	size_t i;
	const char *k;
	json_t *v;

	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		json_t *fx = json_object_get(forced, in->address);
		const char *want = fx ? json_string_value(json_object_get(fx, "action")) : "no-op";

		if (!in->targeted)
			continue;
		if (strcmp(want, cairn_action_name(in->action)) != 0)
			return cairn_error_set(CAIRN_ESTALE, "the saved plan no longer matches: %s would now %s instead of %s; "
				"run plan again", in->address, cairn_action_name(in->action), want);
	}
	json_object_foreach(forced, k, v)
		if (!cairn_engine_inst(e, k))
			return cairn_error_set(CAIRN_ESTALE, "the saved plan no longer matches: %s is gone; run plan again", k);
	return 0;
}
