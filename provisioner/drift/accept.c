/*
 * accept.c - `cairn apply --refresh-only`: what is out there, accepted
 * into the state. Each recorded resource whose refreshed attributes differ
 * from the recorded ones is recorded again with the cloud's attributes
 * (action "refresh"); each one the refresh found gone is forgotten (action
 * "forget"); all in one revision. Nothing in the cloud is touched and the
 * configuration is not consulted.
 */
#include "drift_int.h"

#include <string.h>

typedef struct acc_ctx {
	json_t *attrs;
	bool sensitive;
} acc_ctx;

static void add_attr(void *ud, const char *attr, const json_t *recorded, const json_t *actual)
{
	acc_ctx *c = ud;
	json_t *a = json_pack("{s:s,s:o,s:o}", "attribute", attr, "recorded", cairn_drift__value(recorded, c->sensitive),
			      "actual", cairn_drift__value(actual, c->sensitive));

	if (c->sensitive)
		json_object_set_new(a, "sensitive", json_true());
	json_array_append_new(c->attrs, a);
}

/* every attribute of either side, the schema's maps key by key */
static json_t *differences(const cairn_state_res *row, const cairn_schema *s, const json_t *cur)
{
	acc_ctx c = { json_array(), false };
	json_t *names = json_object(), *x;
	const char *k;

	json_object_foreach(cairn_state_res_attrs(row), k, x)
		json_object_set_new(names, k, json_true());
	json_object_foreach((json_t *)cur, k, x)
		json_object_set_new(names, k, json_true());
	json_object_foreach(names, k, x) {
		const cairn_attr_schema *a = s ? cairn_schema_attr(s, k) : NULL;

		c.sensitive = (a && a->sensitive) || cairn_drift__name_in(row->sensitive, k);
		cairn_drift__diff(k, a && a->type == CAIRN_T_MAP, json_object_get(cairn_state_res_attrs(row), k), json_object_get(cur, k),
				  add_attr, &c);
	}
	json_decref(names);
	return c.attrs;
}

int cairn_drift_accept_plan(cairn_engine *e, json_t **out)
{
	json_t *changes = json_array(), *red;
	size_t i;

	for (i = 0; i < e->nstate; i++) {
		const cairn_state_res *row = &e->state[i];
		json_t *cur = cairn_engine_refreshed(e, row), *attrs;
		const cairn_schema *s = NULL;

		if (!cur)
			continue;
		if (json_is_null(cur)) {
			json_array_append_new(changes, json_pack("{s:s,s:s,s:s?,s:s}", "address", row->address, "type",
				row->type, "id", row->id, "action", "forget"));
			continue;
		}
		if (cairn_lua_schema(e->lua, row->type, &s) != 0)
			cairn_error_clear();
		attrs = differences(row, s, cur);
		if (json_array_size(attrs))
			json_array_append_new(changes, json_pack("{s:s,s:s,s:s?,s:s,s:o}", "address", row->address, "type",
				row->type, "id", row->id, "action", "refresh", "attributes", attrs));
		else
			json_decref(attrs);
	}
	red = cairn_drift__redact(e, changes);
	json_decref(changes);
	*out = red;
	return 0;
}

static const cairn_state_res *row_of(cairn_engine *e, const char *address)
{
	size_t i;

	for (i = 0; i < e->nstate; i++)
		if (!strcmp(e->state[i].address, address))
			return &e->state[i];
	return NULL;
}

int cairn_drift_accept(cairn_engine *e, const json_t *changes, int64_t *rev_out)
{
	int64_t rev = 0;
	size_t i;
	json_t *c, *done = json_array();
	int rc;

	if (!e->locked)
		return cairn_error_set(CAIRN_ERROR, "refresh-only needs the environment's lock");
	if ((rc = cairn_store_rev_begin(e->store, e->opts.env, "apply --refresh-only", &rev)) != 0) {
		json_decref(done);
		return rc;
	}
	if ((rc = cairn_store_begin(e->store)) != 0)
		goto finish;
	json_array_foreach(changes, i, c) {
		const char *addr = json_string_value(json_object_get(c, "address"));
		const char *action = json_string_value(json_object_get(c, "action"));
		const cairn_state_res *row = row_of(e, addr);

		if (!row) {
			rc = cairn_error_set(CAIRN_ESTALE, "%s is no longer in the state", addr);
			break;
		}
		if (!strcmp(action, "forget")) {
			rc = cairn_store_remove(e->store, e->opts.env, rev, "forget", addr, 0);
		} else {
			cairn_state_res r = *row;

			r.attrs = cairn_engine_refreshed(e, row);
			r.attrs_text = NULL;
			rc = cairn_store_put(e->store, e->opts.env, rev, "refresh", &r, 0);
		}
		if (rc)
			break;
		json_array_append_new(done, json_pack("{s:s,s:s}", "address", addr, "action", action));
	}
	if (rc)
		cairn_store_rollback(e->store);
	else
		rc = cairn_store_commit(e->store);
finish:
	{
		json_t *summary = json_pack("{s:O}", "done", done);

		cairn_store_rev_finish(e->store, rev, rc ? "failed" : "ok", rc ? NULL : summary);
		json_decref(summary);
	}
	json_decref(done);
	if (!rc && rev_out)
		*rev_out = rev;
	return rc;
}
