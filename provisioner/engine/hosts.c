/*
 * hosts.c - which machine an operation runs on, and how to reach it.
 *
 * The stack's hosts are resources of type ssh.host (lang/config_hosts.c);
 * a resource of a host.* type names one in its `host` property (its name:
 * "web[0]"), and a host may name its bastion the same way. The engine, not
 * the module, turns that name into the connection the operation's task
 * uses (cairn_task.host, see provisioner/ssh/ssh.h for its shape):
 *
 *  - during an apply, from the host's attributes as published by then
 *    (its planned values, or what its own apply recorded: a host created
 *    in this run, with an address only known after its machine was);
 *  - during a refresh, before anything is evaluated, from the state:
 *    the host's recorded (or just refreshed) attributes;
 *  - the key the host was first accepted with comes from the state, so a
 *    changed key is refused even without a known_hosts file.
 *
 * Relative key_file and known_hosts paths are the stack directory's; a
 * leading ~/ is $HOME.
 */
#include "engine.h"
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

#define NO_RES SIZE_MAX
#define HOST_TYPE "ssh.host"

bool cairn_engine_is_host_type(const char *type)
{
	return type && (!strcmp(type, HOST_TYPE) || !strncmp(type, "host.", 5));
}

const char *cairn_engine_host_of(const char *type, const char *address, const json_t *attrs)
{
	if (!type)
		return NULL;
	if (!strcmp(type, HOST_TYPE))
		return address;
	if (!strncmp(type, "host.", 5))
		return json_string_value(json_object_get(attrs, "host"));
	return NULL;
}

/* The attributes an instance has published for expressions to see. */
static json_t *published(cairn_engine *e, const cairn_inst *in)
{
	json_t *slot;

	if (in->res == NO_RES)
		return NULL;
	slot = json_object_get(e->root, e->stack->resources[in->res].name);
	if (!in->key)
		return slot;
	if (json_is_integer(in->key))
		return json_array_get(slot, (size_t)json_integer_value(in->key));
	return json_object_get(slot, json_string_value(in->key));
}

static const cairn_state_res *state_host(const cairn_engine *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nstate; i++)
		if (!strcmp(e->state[i].address, name) && !strcmp(e->state[i].type, HOST_TYPE))
			return &e->state[i];
	return NULL;
}

/* The host's attributes: published during a plan or an apply; else, and
 * for what they lack, recorded in the state (refreshed when it was). */
static const json_t *host_attrs(cairn_engine *e, const char *name, const json_t **recorded)
{
	const cairn_state_res *row = state_host(e, name);
	cairn_inst *in = cairn_engine_inst(e, name);
	json_t *p = NULL, *r;

	*recorded = NULL;
	if (row) {
		r = cairn_engine_refreshed(e, row);
		*recorded = json_is_object(r) ? r : cairn_state_res_attrs(row);
	}
	if (in && in->res != NO_RES && in->type && !strcmp(in->type, HOST_TYPE))
		p = published(e, in);
	return json_is_object(p) ? p : *recorded;
}

/* key_file / known_hosts: relative to the stack, ~/ to $HOME */
static json_t *resolve_path(const cairn_engine *e, const char *p)
{
	const char *home = getenv("HOME");
	char *full = NULL;
	json_t *j;

	if (p[0] == '~' && p[1] == '/' && home && asprintf(&full, "%s/%s", home, p + 2) < 0)
		full = NULL;
	else if (p[0] && p[0] != '/' && p[0] != '~' && asprintf(&full, "%s/%s", e->stack->dir, p) < 0)
		full = NULL;
	j = json_string(full ? full : p);
	free(full);
	return j;
}

static int spec_of(cairn_engine *e, const char *name, const json_t *attrs, const json_t *recorded, int depth,
		   json_t **out);

static double port_of(const json_t *attrs)
{
	const json_t *p = json_object_get(attrs, "port");

	return json_is_number(p) ? json_number_value(p) : 22;
}

/* Does the state's record of the host name the same address and port as
 * attrs? The key recorded for it is that endpoint's: a host given another
 * address (its machine replaced by a new one) is a new host, whose key is
 * not compared with the old machine's. */
static bool same_endpoint(const json_t *attrs, const json_t *recorded)
{
	const char *a, *r;

	if (!json_is_object(recorded) || attrs == recorded)
		return true;
	a = json_string_value(json_object_get(attrs, "address"));
	r = json_string_value(json_object_get(recorded, "address"));
	return a && r && !strcmp(a, r) && port_of(attrs) == port_of(recorded);
}

/* Build the connection of host `name` from its attributes. */
static int spec_of(cairn_engine *e, const char *name, const json_t *attrs, const json_t *recorded, int depth,
		   json_t **out)
{
	static const char *const copied[] = {
		"address", "port", "user", "agent", "become", "become_user", "connect_timeout", "command_timeout", NULL,
	};
	json_t *spec = NULL, *v, *key;
	const char *bastion;
	size_t i;
	int rc = 0;

	if (depth > 8)
		return cairn_error_set(CAIRN_EINVAL, "host %s: too many bastions in a row (do they name each other?)", name);
	if (!json_is_object(attrs))
		return cairn_error_set(CAIRN_EINVAL, "host %s is not in the hosts: of the stack nor in the state of "
				       "environment '%s'", name, e->opts.env);
	if (!(spec = json_pack("{s:s}", "name", name)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; copied[i]; i++) {
		v = json_object_get(attrs, copied[i]);
		if (!v || json_is_null(v))
			continue;
		if (cairn_has_unknown(v)) {
			rc = cairn_error_set(CAIRN_EINVAL, "host %s: its %s is not known yet (it comes from a resource that "
					     "has not been applied)", name, copied[i]);
			goto fail;
		}
		if (!strcmp(copied[i], "port") && json_is_real(v))
			json_object_set_new(spec, "port", json_integer((json_int_t)json_real_value(v)));
		else
			json_object_set(spec, copied[i], v);
	}
	if (json_is_string(v = json_object_get(attrs, "key_file")))
		json_object_set_new(spec, "key_file", resolve_path(e, json_string_value(v)));
	if (json_is_string(v = json_object_get(attrs, "known_hosts")))
		json_object_set_new(spec, "known_hosts", *json_string_value(v) ? resolve_path(e, json_string_value(v))
									  : json_string(""));
	key = json_object_get(attrs, "host_key");
	if (!json_is_string(key))
		key = json_object_get(recorded, "host_key");
	if (json_is_string(key) && same_endpoint(attrs, recorded))
		json_object_set(spec, "host_key", key);
	bastion = json_string_value(json_object_get(attrs, "bastion"));
	if (bastion && *bastion) {
		const json_t *battrs, *brec;
		json_t *b = NULL;

		if (!strcmp(bastion, name)) {
			rc = cairn_error_set(CAIRN_EINVAL, "host %s cannot be its own bastion", name);
			goto fail;
		}
		battrs = host_attrs(e, bastion, &brec);
		if ((rc = spec_of(e, bastion, battrs, brec, depth + 1, &b)) != 0)
			goto fail;
		json_object_set_new(spec, "bastion", b);
	}
	*out = spec;
	return 0;
fail:
	json_decref(spec);
	return rc;
}

int cairn_engine_host_spec(cairn_engine *e, const char *name, json_t **out)
{
	const json_t *recorded, *attrs = host_attrs(e, name, &recorded);

	return spec_of(e, name, attrs, recorded, 0, out);
}

int cairn_engine_task_host(cairn_engine *e, cairn_task *t, json_t **slot, json_t *ctx, const char *type,
			   const char *address, const json_t *attrs)
{
	const char *name = cairn_engine_host_of(type, address, attrs);
	json_t *spec = NULL;
	int rc;

	if (!name)
		return cairn_engine_is_host_type(type) ?
		       cairn_error_set(CAIRN_EINVAL, "%s names no host (host: NAME)", address) : 0;
	if (type && !strcmp(type, HOST_TYPE) && attrs) {
		/* the host itself: the attributes its operation is given */
		const cairn_state_res *row = state_host(e, address);
		const json_t *rec = NULL, *r;

		if (row) {
			r = cairn_engine_refreshed(e, row);
			rec = json_is_object(r) ? r : cairn_state_res_attrs(row);
		}
		rc = spec_of(e, name, attrs, rec, 0, &spec);
	} else {
		rc = cairn_engine_host_spec(e, name, &spec);
	}
	if (rc)
		return rc;
	json_decref(*slot);
	*slot = spec;
	t->host = spec;
	if (ctx)
		json_object_set_new(ctx, "host", json_pack("{s:s,s:O?,s:O?,s:O?,s:b}", "name", name,
			"address", json_object_get(spec, "address"), "port", json_object_get(spec, "port"),
			"user", json_object_get(spec, "user"), "become", json_is_true(json_object_get(spec, "become"))));
	return 0;
}

/* Can the connection of host `name` be built from the state alone (what a
 * refresh has: the host and every bastion it goes through recorded)? */
static bool recorded_chain(const cairn_engine *e, const char *name, int depth)
{
	const cairn_state_res *row = state_host(e, name);
	const char *bastion;

	if (!row || !json_is_object(cairn_state_res_attrs(row)) || depth > 8)
		return false;
	bastion = json_string_value(json_object_get(cairn_state_res_attrs(row), "bastion"));
	return !bastion || !*bastion || (strcmp(bastion, name) && recorded_chain(e, bastion, depth + 1));
}

const char *cairn_engine_host_unrecorded(const cairn_engine *e, const char *type, const char *address,
					 const json_t *attrs)
{
	const char *name = cairn_engine_host_of(type, address, attrs);

	if (!name)
		return NULL;
	if (!strcmp(type, HOST_TYPE)) {
		const char *bastion = json_string_value(json_object_get(attrs, "bastion"));

		return bastion && *bastion && !recorded_chain(e, bastion, 1) ? bastion : NULL;
	}
	return recorded_chain(e, name, 0) ? NULL : name;
}

/* Does host instance h go to another machine in this plan? Its address or
 * port changes, or is known only after apply (the machine it comes from is
 * replaced). A host new to the state does not: it was forgotten, and its
 * machine is still the one its resources were recorded on. */
static bool host_moves(const cairn_inst *h)
{
	const json_t *now, *then;

	if (!h->type || strcmp(h->type, HOST_TYPE) != 0 || !json_is_object(h->current) || !json_is_object(h->planned))
		return false;
	if (h->action != CAIRN_ACT_UPDATE && h->action != CAIRN_ACT_REPLACE)
		return false;
	now = json_object_get(h->planned, "address");
	then = json_object_get(h->current, "address");
	if (cairn_is_unknown(now) || !cairn_value_equal(now, then))
		return true;
	now = json_object_get(h->planned, "port");
	return cairn_is_unknown(now) || port_of(h->planned) != port_of(h->current);
}

const char *cairn_engine_host_moves(cairn_engine *e, const char *type, const json_t *attrs,
				    const json_t *recorded)
{
	const char *name, *was;
	cairn_inst *h;

	if (!type || strncmp(type, "host.", 5) != 0)
		return NULL;
	name = json_string_value(json_object_get(attrs, "host"));
	was = json_string_value(json_object_get(recorded, "host"));
	/* moved to another host of the stack: `host` replaces it there */
	if (!name || (was && strcmp(name, was) != 0))
		return NULL;
	h = cairn_engine_inst(e, name);
	return h && host_moves(h) ? h->address : NULL;
}

/* A host's name, planned: what `host: web[0]` reads (web[0].name). */
void cairn_engine_name_host(cairn_engine *e, cairn_inst *in)
{
	json_t *n;

	if (!in->type || strcmp(in->type, HOST_TYPE) != 0 || !json_is_object(in->planned))
		return;
	n = json_object_get(in->planned, "name");
	if (json_is_string(n) && !strcmp(json_string_value(n), in->address))
		return;
	if (in->planned == in->current) {
		json_t *copy = json_copy(in->planned);

		json_decref(in->planned);
		in->planned = copy;
	}
	json_object_set_new(in->planned, "name", json_string(in->address));
	json_object_set_new(in->planned, "id", json_string(in->address));
}

void cairn_engine_plan_host(cairn_engine *e, cairn_inst *in)
{
	cairn_engine_name_host(e, in);
	/* its old machine, which an apply's refresh could not reach, is not
	 * the one its operations go to */
	if (e->unreached && host_moves(in))
		json_object_del(e->unreached, in->address);
}

typedef struct host_check {
	cairn_engine *e;
	const char *what;      /* "host" or "bastion" */
	const cairn_res_cfg *res;
	bool seen;
} host_check;

static int check_host_ref(void *ud, const cairn_ref *ref)
{
	host_check *hc = ud;
	const cairn_res_cfg *target;

	if (hc->seen)
		return 0; /* only the first reference names the host; the rest index it */
	hc->seen = true;
	target = cairn_stack_resource(hc->e->stack, ref->root);
	if (target && target->type && strcmp(target->type, HOST_TYPE) != 0)
		return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "'%s' of %s must name a host of the hosts: section; "
			"'%s' is a %s resource", hc->what, hc->res->name, ref->root, target->type);
	return 0;
}

int cairn_engine_check_hosts(cairn_engine *e)
{
	size_t i;
	int rc;

	for (i = 0; i < e->stack->nresources; i++) {
		const cairn_res_cfg *res = &e->stack->resources[i];
		const char *what = !strcmp(res->type, HOST_TYPE) ? "bastion" : !strncmp(res->type, "host.", 5) ? "host" : NULL;
		const cairn_expr *x = what ? cairn_expr_get(res->props, what) : NULL;
		host_check hc = { e, what, res, false };

		if (x && (rc = cairn_expr_refs(x, check_host_ref, &hc)) != 0)
			return rc;
	}
	return 0;
}

const char *cairn_engine_unreached(const cairn_engine *e, const char *type, const char *address, const json_t *attrs)
{
	const char *name = cairn_engine_host_of(type, address, attrs);

	return name && e->unreached ? json_string_value(json_object_get(e->unreached, name)) : NULL;
}
