/*
 * parity.c - two environments compared (`cairn drift --parity prod:dr`).
 *
 * Environments of one stack differ on purpose (sizes, zones, counts) and
 * by accident (someone upgraded prod by hand, DR missed an apply). The
 * configuration tells the two apart: for every attribute that either
 * environment's configuration sets (its desired value, defaults included),
 * the cloud's values are compared, and a difference is expected when the
 * desired values differ too (a variable the overlays set differently, a
 * reference to each environment's own objects, ${env.name}); when the
 * configuration gives both the same value, the difference is a parity
 * finding. Maps are compared key by key. An address that exists in one
 * environment and not in the other is a finding unless the configuration
 * has it in only one (count or for_each from the overlays). Attributes
 * neither configuration sets (left to the cloud) are not compared.
 */
#include "drift_int.h"

#include <string.h>

typedef struct pctx {
	json_t *findings;
	const char *a, *b;      /* environment names */
	const char *address, *type;
	bool sensitive;
	size_t explained, compared;
} pctx;

/* The desired value of attr ("name" or "name.key") in a desired object. */
static const json_t *desired_of(const json_t *desired, const char *name, const char *attr)
{
	const json_t *v = json_object_get(desired, name);

	if (!v || json_is_null(v))
		return NULL;
	if (attr[strlen(name)] == '.')
		return json_is_object(v) ? json_object_get(v, attr + strlen(name) + 1) : NULL;
	return v;
}

typedef struct attr_ctx {
	pctx *p;
	const char *name;
	const json_t *desired_a, *desired_b;
} attr_ctx;

static void differs(void *ud, const char *attr, const json_t *va, const json_t *vb)
{
	attr_ctx *ac = ud;
	pctx *c = ac->p;
	const json_t *wa = desired_of(ac->desired_a, ac->name, attr), *wb = desired_of(ac->desired_b, ac->name, attr);
	json_t *f;

	if (cairn_has_unknown(wa) || cairn_has_unknown(wb) || !((!wa && !wb) || (wa && wb && cairn_value_equal(wa, wb)))) {
		c->explained++;
		return;
	}
	f = cairn_drift__finding("parity", c->address, c->type, NULL, attr);
	json_object_set_new(f, "values", json_pack("{s:o,s:o}", c->a, cairn_drift__value(va, c->sensitive),
		c->b, cairn_drift__value(vb, c->sensitive)));
	json_object_set_new(f, "desired", cairn_drift__value(wa, c->sensitive));
	json_object_set_new(f, "reason", json_string(wa ? "the configuration gives both environments the same value"
							: "neither configuration sets a value for this key"));
	if (c->sensitive)
		json_object_set_new(f, "sensitive", json_true());
	json_array_append_new(c->findings, f);
}

static void compare_attrs(pctx *c, const cairn_schema *s, const json_t *ra, const json_t *rb)
{
	const json_t *da = json_object_get(ra, "desired"), *db = json_object_get(rb, "desired");
	const json_t *xa = json_object_get(ra, "actual"), *xb = json_object_get(rb, "actual");
	size_t i;

	for (i = 0; i < s->nattrs; i++) {
		const cairn_attr_schema *a = &s->attrs[i];
		const json_t *wa = json_object_get(da, a->name), *wb = json_object_get(db, a->name);
		attr_ctx ac = { c, a->name, da, db };

		if (!a->required && !a->optional)
			continue;
		if ((!wa || json_is_null(wa)) && (!wb || json_is_null(wb)))
			continue; /* left to the cloud in both */
		c->compared++;
		c->sensitive = a->sensitive || cairn_drift__name_in(json_object_get(ra, "sensitive"), a->name) ||
			       cairn_drift__name_in(json_object_get(rb, "sensitive"), a->name);
		cairn_drift__diff(a->name, a->type == CAIRN_T_MAP, json_object_get(xa, a->name),
				  json_object_get(xb, a->name), differs, &ac);
	}
}

static void missing(pctx *c, const char *address, const char *type, const char *in, const char *not_in)
{
	json_t *f = cairn_drift__finding("parity", address, type, NULL, NULL);
	char why[256];

	snprintf(why, sizeof(why), "exists in %s, not in %s, though the configuration has it in both", in, not_in);
	json_object_set_new(f, "reason", json_string(why));
	json_object_set_new(f, "values", json_pack("{s:s,s:s}", c->a, !strcmp(in, c->a) ? "present" : "absent",
		c->b, !strcmp(in, c->b) ? "present" : "absent"));
	json_array_append_new(c->findings, f);
}

int cairn_drift__parity(const cairn_drift_run *r, const drift_env *a, const drift_env *b, json_t **out)
{
	json_t *res = json_pack("{s:s,s:s,s:s}", "pair", "", "a", a->name, "b", b->name);
	json_t *all = json_object(), *x;
	pctx c = { json_array(), a->name, b->name, NULL, NULL, false, 0, 0 };
	cairn_lua *lua = NULL;
	char pair[300];
	const char *addr;
	int rc = 0;

	snprintf(pair, sizeof(pair), "%s:%s", a->name, b->name);
	json_object_set_new(res, "pair", json_string(pair));
	if (!a->resources || !b->resources) {
		const drift_env *bad = !a->resources ? a : b;
		const char *st = json_string_value(json_object_get(bad->result, "status"));
		const char *err = json_string_value(json_object_get(bad->result, "error"));
		char why[3000];

		if (st && !strcmp(st, "applying"))
			snprintf(why, sizeof(why), "cannot compare %s now: %s is being applied (its lock is held)", pair, bad->name);
		else
			snprintf(why, sizeof(why), "cannot compare %s: %s could not be read: %s", pair, bad->name,
				 err ? err : "unknown error");
		json_object_set_new(res, "status", json_string(st && !strcmp(st, "applying") ? "applying" : "error"));
		json_object_set_new(res, "error", json_string(why));
		json_object_set_new(res, "counts", json_pack("{s:i,s:i,s:i,s:i}", "findings", 0, "ignored", 0,
			"explained", 0, "compared", 0));
		json_object_set_new(res, "findings", json_array());
		json_decref(c.findings);
		json_decref(all);
		*out = res;
		return 0;
	}
	/* the schemas, from a runtime of our own (the engines are gone) */
	if ((rc = cairn_engine_new_lua(&lua, r->stack->dir)) != 0)
		goto cleanup;
	json_object_update(all, a->resources);
	json_object_update_missing(all, b->resources);
	json_object_foreach(all, addr, x) {
		const json_t *ra = json_object_get(a->resources, addr), *rb = json_object_get(b->resources, addr);
		bool ea = ra && json_is_true(json_object_get(ra, "exists")), eb = rb && json_is_true(json_object_get(rb, "exists"));
		bool ca = ra && json_is_true(json_object_get(ra, "config")), cb = rb && json_is_true(json_object_get(rb, "config"));
		const char *type = json_string_value(json_object_get(x, "type"));
		const cairn_schema *s = NULL;

		c.address = addr;
		c.type = type;
		if (ea != eb) {
			if (ca == cb)
				missing(&c, addr, type, ea ? a->name : b->name, ea ? b->name : a->name);
			else
				c.explained++;
			continue;
		}
		if (!ea)
			continue;
		if (strcmp(type, json_string_value(json_object_get(rb, "type"))) != 0) {
			json_t *f = cairn_drift__finding("parity", addr, type, NULL, "type");

			json_object_set_new(f, "values", json_pack("{s:s,s:O}", a->name, type, b->name,
				json_object_get(rb, "type")));
			json_array_append_new(c.findings, f);
			continue;
		}
		if (cairn_lua_schema(lua, type, &s) != 0) {
			rc = CAIRN_EINVAL;
			goto cleanup;
		}
		compare_attrs(&c, s, ra, rb);
	}
	cairn_drift__apply_ignores(r->stack, c.findings, r->now);
	{
		size_t i, active = 0, ignored = 0;
		json_t *f;

		json_array_foreach(c.findings, i, f) {
			if (json_object_get(f, "ignored"))
				ignored++;
			else
				active++;
		}
		json_object_set_new(res, "status", json_string(active ? "differ" : "same"));
		json_object_set_new(res, "counts", json_pack("{s:I,s:I,s:I,s:I}", "findings", (json_int_t)active,
			"ignored", (json_int_t)ignored, "explained", (json_int_t)c.explained,
			"compared", (json_int_t)c.compared));
	}
	json_object_set(res, "findings", c.findings);
cleanup:
	cairn_lua_free(lua);
	json_decref(c.findings);
	json_decref(all);
	if (rc) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

int cairn_drift_parity(cairn_drift_run *r, const char *a, const char *b)
{
	const drift_env *ea = NULL, *eb = NULL;
	json_t *res = NULL;
	size_t i;
	int rc;

	for (i = 0; i < r->nenvs; i++) {
		if (!strcmp(r->envs[i].name, a))
			ea = &r->envs[i];
		if (!strcmp(r->envs[i].name, b))
			eb = &r->envs[i];
	}
	if (!ea || !eb || !r->opts.parity)
		return cairn_error_set(CAIRN_EINVAL, "parity %s:%s: environment '%s' was not read for parity", a, b,
				       !ea ? a : b);
	if ((rc = cairn_drift__parity(r, ea, eb, &res)) != 0)
		return rc;
	json_array_append_new(json_object_get(r->doc, "parity"), res);
	return 0;
}
