/*
 * json_run.c - the objects of a plan, apply or destroy on the --json stream
 * (json_run.h). The planned changes come from the JSON plan document
 * (cairn_plan_json), which already shows sensitive values as
 * "(sensitive)" and unknown ones as null, so the stream can say nothing
 * the saved plan would not.
 */
#include "json_run.h"

#include <stdlib.h>
#include <string.h>

/* "Plan to create", "Plan to replace"... */
static const char *verb(const char *action)
{
	if (!strcmp(action, "create")) return "create";
	if (!strcmp(action, "update")) return "update in place";
	if (!strcmp(action, "replace")) return "replace";
	if (!strcmp(action, "delete")) return "destroy";
	return action;
}

/* An attribute's value as the stream shows it: "(sensitive)" when the
 * attribute is sensitive or its text holds one of the run's secrets (a
 * second guard), null while unknown. New reference. */
static json_t *shown(cairn_engine *e, const cairn_inst *in, const char *name, json_t *v)
{
	char *text, *red;
	bool secret;

	if (json_is_null(v))
		return json_null();
	if (cairn_inst_is_sensitive(in, name))
		return json_string("(sensitive)");
	if (cairn_has_unknown(v))
		return json_null();
	text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	red = text ? cairn_engine_redact(e, text) : NULL;
	secret = !red || strcmp(red, text) != 0;
	free(text);
	free(red);
	return secret ? json_string("(sensitive)") : json_incref(v);
}

/* An instance's attributes (before: what the state or the refresh has;
 * after: what the plan will make), each shown(), or null. */
static json_t *attrs_shown(cairn_engine *e, const cairn_inst *in, const json_t *attrs)
{
	json_t *o, *v;
	const char *k;

	if (!json_is_object(attrs))
		return json_null();
	o = json_object();
	json_object_foreach((json_t *)attrs, k, v)
		json_object_set_new(o, k, shown(e, in, k, v));
	return o;
}

static json_t *before_of(cairn_engine *e, const cairn_inst *in)
{
	if (in->action == CAIRN_ACT_CREATE)
		return json_null();
	return attrs_shown(e, in, in->current ? in->current : in->prior ? cairn_state_res_attrs(in->prior) : NULL);
}

static json_t *after_of(cairn_engine *e, const cairn_inst *in)
{
	if (in->action == CAIRN_ACT_DELETE)
		return json_null();
	return attrs_shown(e, in, in->planned);
}

static int planned_change(cairn_jout *j, cairn_engine *e, json_t *rc)
{
	cairn_inst *in = cairn_engine_inst(e, json_string_value(json_object_get(rc, "address")));
	const char *addr = json_string_value(json_object_get(rc, "address"));
	const char *action = json_string_value(json_object_get(rc, "action"));
	json_t *f = json_pack("{s:{s:O,s:O,s:O},s:O,s:O,s:O}", "resource", "address", json_object_get(rc, "address"),
			      "type", json_object_get(rc, "type"), "name", json_object_get(rc, "name"),
			      "action", json_object_get(rc, "action"), "changes", json_object_get(rc, "changes"),
			      "after_unknown", json_object_get(rc, "after_unknown"));

	if (f && json_object_get(rc, "index"))
		json_object_set(json_object_get(f, "resource"), "index", json_object_get(rc, "index"));
	if (f && json_object_get(rc, "reason"))
		json_object_set(f, "reason", json_object_get(rc, "reason"));
	if (f && in) {
		json_object_set_new(f, "before", before_of(e, in));
		json_object_set_new(f, "after", after_of(e, in));
	}
	if (f && json_object_get(rc, "create_before_destroy"))
		json_object_set(f, "create_before_destroy", json_object_get(rc, "create_before_destroy"));
	return cairn_jout_emit(j, "planned_change", "info", f, "%s: Plan to %s", addr ? addr : "?",
			       verb(action ? action : "?"));
}

int cairn_json_run_plan(cairn_jout *j, cairn_engine *e, const char *operation)
{
	json_t *doc = NULL, *rc;
	int add, change, destroy, err;
	size_t i;

	if ((err = cairn_plan_json(e, &doc)) != 0)
		return err;
	json_array_foreach(json_object_get(doc, "resource_changes"), i, rc) {
		if (!strcmp(json_string_value(json_object_get(rc, "action")), "no-op"))
			continue;
		if ((err = planned_change(j, e, rc)) != 0)
			goto cleanup;
	}
	cairn_engine_counts(e, &add, &change, &destroy);
	err = cairn_jout_emit(j, "change_summary", "info", json_pack("{s:{s:i,s:i,s:i,s:s}}", "changes", "add", add,
		"change", change, "remove", destroy, "operation", operation), "Plan: %d to add, %d to change, %d to destroy.",
		add, change, destroy);
cleanup:
	json_decref(doc);
	return err;
}

static bool output_sensitive(const cairn_engine *e, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach(e->output_sensitive, i, x)
		if (!strcmp(json_string_value(x), name))
			return true;
	return false;
}

int cairn_json_run_outputs(cairn_jout *j, cairn_engine *e)
{
	json_t *outs = json_object();
	const char *k;
	json_t *v;

	json_object_foreach(e->outputs, k, v) {
		bool sens = output_sensitive(e, k);

		json_object_set_new(outs, k, json_pack("{s:o,s:b}", "value", sens ? json_string("(sensitive)") :
			cairn_has_unknown(v) ? json_null() : json_incref(v), "sensitive", sens));
	}
	return cairn_jout_emit(j, "outputs", "info", json_pack("{s:o}", "outputs", outs), "Outputs: %zu",
			       json_object_size(outs));
}

/* Counts of what an apply did, by action. */
static json_t *applied_counts(json_t *summary)
{
	int add = 0, change = 0, remove = 0;
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(summary, "done"), i, x) {
		const char *a = json_string_value(json_object_get(x, "action"));

		if (!strcmp(a, "create") || !strcmp(a, "replace"))
			add++;
		else if (!strcmp(a, "update"))
			change++;
		else if (!strcmp(a, "delete"))
			remove++;
	}
	return json_pack("{s:i,s:i,s:i}", "add", add, "change", change, "remove", remove);
}

int cairn_json_run_summary(cairn_jout *j, const char *command, cairn_engine *e, json_t *summary, int exit_code)
{
	const char *status = exit_code == 0 ? "ok" : exit_code == 2 && !strcmp(command, "plan") ? "changes" : "error";
	json_t *f = json_pack("{s:s,s:i,s:s}", "command", command, "exit_code", exit_code, "status", status);
	int add = 0, change = 0, destroy = 0;

	if (!f)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (summary) {
		json_object_set_new(f, "applied", applied_counts(summary));
		json_object_set(f, "failed", json_object_get(summary, "failed"));
		json_object_set(f, "skipped", json_object_get(summary, "skipped"));
	} else if (e && e->planned && exit_code != 1 && !strcmp(command, "plan")) {
		cairn_engine_counts(e, &add, &change, &destroy);
		json_object_set_new(f, "planned", json_pack("{s:i,s:i,s:i}", "add", add, "change", change, "remove", destroy));
	} else if (strcmp(command, "plan") != 0) {
		/* nothing was applied: no changes, or it failed before */
		json_object_set_new(f, "applied", json_pack("{s:i,s:i,s:i}", "add", 0, "change", 0, "remove", 0));
		json_object_set_new(f, "failed", json_array());
		json_object_set_new(f, "skipped", json_array());
	}
	return cairn_jout_emit(j, "summary", exit_code == 0 || !strcmp(status, "changes") ? "info" : "error", f,
			       "%s %s (exit %d)", command, !strcmp(status, "ok") ? "succeeded" : !strcmp(status, "changes") ?
			       "found changes" : "failed", exit_code);
}
