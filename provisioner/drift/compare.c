/*
 * compare.c - findings of one environment: attribute by attribute, what
 * the state recorded against what the cloud says (changed outside cairn),
 * and what the configuration wants against what the state recorded
 * (configuration not yet applied). See drift_int.h for a finding's shape.
 *
 * Only the attributes a configuration can set (required or optional) are
 * compared: computed-only ones (ids, ARNs, statuses, endpoints) change
 * with the cloud's life and say nothing about drift. A map (tags, labels)
 * is compared key by key, so a tag added by hand is its own finding.
 */
#include "drift_int.h"

#include <stdlib.h>
#include <string.h>

bool cairn_drift__name_in(const json_t *names, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach(names, i, x)
		if (!strcmp(json_string_value(x), name))
			return true;
	return false;
}

json_t *cairn_drift__finding(const char *kind, const char *address, const char *type, const char *id,
			     const char *attribute)
{
	json_t *f = json_object();
	cairn_buf key = CAIRN_BUF_INIT;

	json_object_set_new(f, "kind", json_string(kind));
	if (address)
		json_object_set_new(f, "address", json_string(address));
	if (type)
		json_object_set_new(f, "type", json_string(type));
	if (id)
		json_object_set_new(f, "id", json_string(id));
	if (attribute)
		json_object_set_new(f, "attribute", json_string(attribute));
	if (address)
		cairn_buf_printf(&key, "%s|%s|%s", kind, address, attribute ? attribute : "");
	else
		cairn_buf_printf(&key, "%s|%s:%s|%s", kind, type ? type : "", id ? id : "", attribute ? attribute : "");
	json_object_set_new(f, "key", json_string(cairn_buf_cstr(&key)));
	cairn_buf_release(&key);
	return f;
}

static json_t *unknown_as_text(const json_t *v)
{
	json_t *out, *x;
	const char *k;
	size_t i;

	if (cairn_is_unknown(v))
		return json_string(DRIFT_UNKNOWN);
	if (!cairn_has_unknown(v))
		return json_incref((json_t *)v);
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x)
			json_array_append_new(out, unknown_as_text(x));
		return out;
	}
	out = json_object();
	json_object_foreach((json_t *)v, k, x)
		json_object_set_new(out, k, unknown_as_text(x));
	return out;
}

json_t *cairn_drift__value(const json_t *v, bool sensitive)
{
	if (!v)
		return json_null();
	if (sensitive && !json_is_null(v))
		return json_string(DRIFT_SENSITIVE);
	return unknown_as_text(v);
}

json_t *cairn_drift__redact(const cairn_engine *e, json_t *v)
{
	json_t *out, *x;
	const char *k;
	size_t i;

	if (json_is_string(v)) {
		char *r = cairn_engine_redact(e, json_string_value(v));
		json_t *s;

		if (!r)
			return json_string(DRIFT_SENSITIVE);
		s = strcmp(r, json_string_value(v)) ? json_string(r) : json_incref(v);
		free(r);
		return s ? s : json_string(DRIFT_SENSITIVE);
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x)
			json_array_append_new(out, cairn_drift__redact(e, x));
		return out;
	}
	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach(v, k, x) {
			char *rk = cairn_engine_redact(e, k);

			json_object_set_new(out, rk ? rk : DRIFT_SENSITIVE, cairn_drift__redact(e, x));
			free(rk);
		}
		return out;
	}
	return json_incref(v);
}

void cairn_drift__diff(const char *name, bool is_map, const json_t *a, const json_t *b,
		       void (*fn)(void *ud, const char *attr, const json_t *a, const json_t *b), void *ud)
{
	const char *k;
	json_t *x;

	if (a && json_is_null(a))
		a = NULL;
	if (b && json_is_null(b))
		b = NULL;
	if ((!a && !b) || (a && b && cairn_value_equal(a, b)))
		return;
	if (!is_map || (a && !json_is_object(a)) || (b && !json_is_object(b)) || cairn_is_unknown(a) ||
	    cairn_is_unknown(b)) {
		fn(ud, name, a, b);
		return;
	}
	{
		cairn_buf attr = CAIRN_BUF_INIT;

		json_object_foreach((json_t *)a, k, x) {
			json_t *y = b ? json_object_get(b, k) : NULL;

			if (y && cairn_value_equal(x, y))
				continue;
			cairn_buf_clear(&attr);
			cairn_buf_printf(&attr, "%s.%s", name, k);
			fn(ud, cairn_buf_cstr(&attr), x, y);
		}
		json_object_foreach((json_t *)b, k, x) {
			if (a && json_object_get(a, k))
				continue;
			cairn_buf_clear(&attr);
			cairn_buf_printf(&attr, "%s.%s", name, k);
			fn(ud, cairn_buf_cstr(&attr), NULL, x);
		}
		cairn_buf_release(&attr);
	}
}

/* ---- changed outside cairn ---- */

typedef struct changed_ctx {
	json_t *findings;
	const cairn_state_res *row;
	bool sensitive;
	const char *ignored_by; /* lifecycle.ignore_changes, or NULL */
} changed_ctx;

static void add_changed(void *ud, const char *attr, const json_t *recorded, const json_t *actual)
{
	changed_ctx *c = ud;
	json_t *f = cairn_drift__finding("changed", c->row->address, c->row->type, c->row->id, attr);

	json_object_set_new(f, "recorded", cairn_drift__value(recorded, c->sensitive));
	json_object_set_new(f, "actual", cairn_drift__value(actual, c->sensitive));
	if (c->sensitive)
		json_object_set_new(f, "sensitive", json_true());
	if (c->ignored_by)
		json_object_set_new(f, "ignored", json_pack("{s:s,s:s}", "reason",
			"the resource's lifecycle.ignore_changes names it", "rule", c->ignored_by));
	json_array_append_new(c->findings, f);
}

static bool ignores_change(const cairn_res_cfg *cfg, const char *name)
{
	size_t i;

	if (!cfg)
		return false;
	if (cfg->ignore_all_changes)
		return true;
	for (i = 0; i < cfg->nignore_changes; i++)
		if (!strcmp(cfg->ignore_changes[i], name))
			return true;
	return false;
}

int cairn_drift__changed(json_t *findings, const cairn_state_res *row, const cairn_schema *s,
			 const json_t *actual, const json_t *sensitive, const cairn_res_cfg *cfg)
{
	size_t i;

	for (i = 0; i < s->nattrs; i++) {
		const cairn_attr_schema *a = &s->attrs[i];
		changed_ctx c = { findings, row, false, NULL };

		if (!a->required && !a->optional)
			continue;
		c.sensitive = a->sensitive || cairn_drift__name_in(sensitive, a->name);
		if (ignores_change(cfg, a->name))
			c.ignored_by = "lifecycle.ignore_changes";
		cairn_drift__diff(a->name, a->type == CAIRN_T_MAP, json_object_get(cairn_state_res_attrs(row), a->name),
				  json_object_get(actual, a->name), add_changed, &c);
	}
	return 0;
}

/* ---- configuration not yet applied ---- */

typedef struct unapplied_ctx {
	json_t *findings;
	const cairn_inst *in;
	const char *action;
	bool sensitive;
	bool force_new;
} unapplied_ctx;

static void add_unapplied(void *ud, const char *attr, const json_t *recorded, const json_t *desired)
{
	unapplied_ctx *c = ud;
	json_t *f = cairn_drift__finding("unapplied", c->in->address, c->in->type,
		c->in->prior ? c->in->prior->id : NULL, attr);

	json_object_set_new(f, "action", json_string(c->action));
	json_object_set_new(f, "recorded", cairn_drift__value(recorded, c->sensitive));
	json_object_set_new(f, "desired", cairn_drift__value(desired, c->sensitive));
	if (c->sensitive)
		json_object_set_new(f, "sensitive", json_true());
	if (c->force_new)
		json_object_set_new(f, "forces_replacement", json_true());
	json_array_append_new(c->findings, f);
}

int cairn_drift__unapplied(json_t *findings, cairn_engine *e)
{
	size_t i, j;

	for (i = 0; i < e->ninsts; i++) {
		const cairn_inst *in = &e->insts[i];
		const char *action = cairn_action_name(in->action);
		json_t *f, *ch;

		switch (in->action) {
		case CAIRN_ACT_NOOP:
			break;
		case CAIRN_ACT_CREATE:
		case CAIRN_ACT_DELETE:
			f = cairn_drift__finding("unapplied", in->address, in->type, in->prior ? in->prior->id : NULL, NULL);
			json_object_set_new(f, "action", json_string(action));
			json_object_set_new(f, "reason", json_string(in->action == CAIRN_ACT_CREATE ?
				"in the configuration, not created yet" : (in->reason ? in->reason : "no longer in the configuration")));
			json_array_append_new(findings, f);
			break;
		default:
			json_array_foreach(in->changes, j, ch) {
				const char *name = json_string_value(json_object_get(ch, "attribute"));
				const cairn_attr_schema *a = cairn_schema_attr(in->schema, name);
				unapplied_ctx c = { findings, in, action, json_is_true(json_object_get(ch, "sensitive")),
						    json_is_true(json_object_get(ch, "force_new")) };

				cairn_drift__diff(name, a && a->type == CAIRN_T_MAP, json_object_get(ch, "before"),
						  json_object_get(ch, "after"), add_unapplied, &c);
			}
			break;
		}
	}
	return 0;
}
