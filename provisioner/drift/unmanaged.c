/*
 * unmanaged.c - objects that exist but that nothing manages: those tagged
 * as this stack's and environment's (cairn:stack, cairn:env: the tags the
 * AWS modules put on every object, modules/aws/common.lua) that the state
 * does not hold, left by a crash or a `state rm`; and those inside a
 * managed container (a managed VPC's subnets, security groups, route
 * tables, internet gateways, instances and DB and cache subnet groups; a
 * managed EKS cluster's node groups; a managed DB subnet group's DB
 * instances, a managed cache subnet group's replication groups) that no
 * resource of the stack holds.
 *
 * Both are found with the modules' `list(ctx, filter)`. Which filter names
 * a container, which objects a cloud makes by itself in each container (a
 * VPC's default security group and main route table, an EKS cluster's
 * security group, an EKS node group's instances: not unmanaged), and
 * which filter names an object by id, is provider knowledge the modules do
 * not declare; it is the table below. A type whose module has no `list`,
 * or that is not in the table, is not searched (docs/drift.md).
 *
 * A listing returns whole objects, and every managed object is in one:
 * their answers are the biggest cost of a drift run after the refresh. So
 * each object is listed once. First round, at the same time: the tagged
 * VPCs, the ids of every VPC, the contents of the managed containers, and
 * the cloud's own objects in them. Second round, only when needed: the
 * tagged objects in the VPCs that are not managed, and, among the objects
 * of the managed containers that the state does not hold, those tagged as
 * this stack's (by id: small answers), which tells a leftover of a crash
 * from an object someone made by hand.
 *
 * The list calls of a round run as tasks of one scheduler on the
 * environment's loop (at most --parallelism at a time).
 *
 * The first round runs before the refresh (cairn_drift__unmanaged_begin),
 * on the containers the state records, and its list calls carry
 * ctx.keep_listed: the modules keep what the listing returned and the
 * refresh takes the managed objects from it instead of asking for them
 * again (modules/aws/common.lua), so each object is fetched and decoded
 * once per run. The rest runs after the refresh (_end), which says which
 * containers still exist: objects listed in one the refresh found gone are
 * dropped, and a container the state's record missed is listed then.
 */
#include "drift_int.h"
#include "engine/scheduler.h"

#include <stdlib.h>
#include <string.h>

typedef struct list_rule {
	const char *type;
	bool by_tags;               /* its list accepts "tag:KEY" filters (and id_filter) */
	const char *id_filter;      /* the list filter naming objects by id */
	const char *container;      /* the container type, or NULL */
	const char *filter;         /* the list filter that names containers */
	const char *container_attr; /* the container's attribute that filter takes */
	const char *member_attr;    /* the contained object's attribute naming its container */
	struct {
		const char *filter, *value; /* the list filter naming them */
		const char *with;           /* listed only when the stack has this type (NULL: always) */
	} builtin[2];               /* the objects the cloud (or a managed object) makes in each container */
	bool tagged_anywhere;       /* the tagged search is one listing of the whole region (below) */
} list_rule;

/*
 * EC2 filters on the server: the tagged search of a contained type lists,
 * with the tag filter, only the containers that are not managed (those
 * that are were listed whole), and the managed containers' objects that
 * the state lacks are then checked for the tags by id. RDS and ElastiCache
 * cannot filter on tags or containers: their modules' `list` applies the
 * same filters to every object of the region (modules/aws/common.lua
 * local_filter), so there the tagged search is one listing with the tag
 * filter (tagged_anywhere), which finds the tagged objects wherever they
 * are, and a subnet group's or a database's container is compared by name.
 * That listing describes every object of the region and asks for the tags
 * of most: it is made only when the stack's configuration or state has
 * objects of the type (nothing else of that type can be tagged as ours,
 * unless someone forgot it in the state and took it out of the stack).
 */
#define TYPE(t, tags, idf) .type = t, .by_tags = tags, .id_filter = idf
#define CONTAINED(cont, filt, cattr, mattr) \
	.container = cont, .filter = filt, .container_attr = cattr, .member_attr = mattr
static const list_rule rules[] = {
	{ TYPE("aws.vpc", true, "vpc-id") },
	{ TYPE("aws.subnet", true, "subnet-id"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id") },
	/* a VPC's default group; an EKS cluster's group, which EKS makes in its VPC */
	{ TYPE("aws.security_group", true, "group-id"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id"),
	  .builtin = { { "group-name", "default", NULL }, { "tag-key", "aws:eks:cluster-name", "aws.eks_cluster" } } },
	{ TYPE("aws.route_table", true, "route-table-id"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id"),
	  .builtin = { { "association.main", "true", NULL } } },
	{ TYPE("aws.internet_gateway", true, "internet-gateway-id"),
	  CONTAINED("aws.vpc", "attachment.vpc-id", "id", "vpc_id") },
	{ TYPE("aws.eks_nodegroup", false, NULL), CONTAINED("aws.eks_cluster", "cluster_name", "name", "cluster_name") },
	/* an instance of a managed EKS node group is its group's */
	{ TYPE("aws.instance", true, "instance-id"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id"),
	  .builtin = { { "tag-key", "eks:nodegroup-name", "aws.eks_nodegroup" } } },
	{ TYPE("aws.key_pair", true, "key-name") },
	{ TYPE("aws.db_subnet_group", true, "name"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id"),
	  .tagged_anywhere = true },
	{ TYPE("aws.db_instance", true, "db-instance-id"),
	  CONTAINED("aws.db_subnet_group", "db-subnet-group-name", "name", "db_subnet_group_name"), .tagged_anywhere = true },
	{ TYPE("aws.cache_subnet_group", true, "name"), CONTAINED("aws.vpc", "vpc-id", "id", "vpc_id"),
	  .tagged_anywhere = true },
	{ TYPE("aws.elasticache_replication_group", true, "replication-group-id"),
	  CONTAINED("aws.cache_subnet_group", "cache-subnet-group-name", "name", "subnet_group_name"),
	  .tagged_anywhere = true },
};
#undef TYPE
#undef CONTAINED
#define NRULES (sizeof(rules) / sizeof(rules[0]))

#define FILTER_VALUES 200 /* EC2 takes at most 200 filter values in a call */

typedef enum {
	L_TAGGED,    /* tagged as this stack's and environment's */
	L_ALL,       /* every container (ids) */
	L_CONTAINED, /* in managed containers */
	L_BUILTIN,   /* the cloud's own, in managed containers */
	L_TAGCHECK,  /* which of these ids are tagged as ours */
} list_why;

typedef struct list_job {
	cairn_engine *e;
	const list_rule *rule;
	list_why why;
	json_t *filter;
	json_t *result;  /* the module's array */
	json_t *unchanged; /* id -> digest: managed objects it found unchanged and
			    * left out of result (read marks: ctx.unchanged), or NULL */
	bool keep;       /* the refresh that follows may take its objects (ctx.keep_listed) */
} list_job;

typedef struct jobs {
	list_job *v;
	size_t n, cap;
} jobs;

static const cairn_schema *list_schema(cairn_engine *e, const char *type);

/* ctx.list_fields: all the search reads of a listed object (its id, its
 * container's, its tags), so that a module may list just those instead of
 * each object's whole attributes (modules/aws/common.lua M.brief). */
static json_t *list_fields(cairn_engine *e, const list_rule *r)
{
	const cairn_schema *s = list_schema(e, r->type);
	json_t *out = json_array();

	if (s && s->id_attr)
		json_array_append_new(out, json_string(s->id_attr));
	if (r->member_attr)
		json_array_append_new(out, json_string(r->member_attr));
	json_array_append_new(out, json_string("tags"));
	return out;
}

static cairn_step_rc list_step(cairn_sched *s, cairn_task *t)
{
	list_job *j = t->ud;

	if (t->phase == 0) {
		json_t *ctx = cairn_engine_op_ctx(j->e, NULL, NULL), *args = json_pack("[O]", j->filter);
		int rc;

		t->phase = 1;
		if (j->keep) {
			const json_t *m = cairn_engine_marks_offered(j->e, j->rule->type);

			json_object_set_new(ctx, "keep_listed", json_true());
			/* read marks: only where the refresh that follows takes the
			 * objects (an empty set: every object hashed, none skipped) */
			if (j->e->marks_on && (m || j->e->mark_keep))
				json_object_set_new(ctx, "marks", m ? json_incref((json_t *)m) : json_object());
		}
		json_object_set_new(ctx, "list_fields", list_fields(j->e, j->rule));
		rc = cairn_sched_start_op(s, t, j->rule->type, "list", ctx, args);
		json_decref(ctx);
		json_decref(args);
		if (rc) {
			const cairn_error *err = cairn_error_last();

			return cairn_task_fail(t, "%s", err ? err->message : "cannot start list");
		}
		return CAIRN_STEP_WAIT;
	}
	if (t->op_failed)
		return CAIRN_STEP_FAILED;
	if (!json_is_array(t->op_result))
		return cairn_task_fail(t, "module %s returned %s from list, expected a list", j->rule->type,
				       cairn_value_type_name(t->op_result));
	if (t->op_unchanged) {
		const json_t *offered, *d;
		const char *id;

		/* page marks: kept, or noted as used; then only ids are left */
		cairn_engine_take_pages(j->e, j->rule->type, (json_t *)t->op_unchanged);
		offered = cairn_engine_marks_offered(j->e, j->rule->type);

		/* each one a managed object, by the mark this run offered for it */
		json_object_foreach((json_t *)t->op_unchanged, id, d) {
			const char *want = offered ? json_string_value(json_object_get(offered, json_string_value(d))) : NULL;

			if (!want || strcmp(want, id))
				return cairn_task_fail(t, "module %s named %s unchanged in its listing, which has no such "
						       "read mark", j->rule->type, id);
		}
	}
	j->result = json_incref(t->op_result);
	if (t->op_unchanged) {
		cairn_engine *e = j->e;

		j->unchanged = json_incref((json_t *)t->op_unchanged);
		/* the refresh takes those rows without a read (engine.c) */
		if (!e->listed_unchanged)
			e->listed_unchanged = json_object();
		json_object_update(e->listed_unchanged, j->unchanged);
	}
	return CAIRN_STEP_DONE;
}

static const cairn_schema *list_schema(cairn_engine *e, const char *type)
{
	const cairn_schema *s = NULL;

	if (cairn_lua_schema(e->lua, type, &s) != 0) {
		cairn_error_clear();
		return NULL;
	}
	return (s->ops & CAIRN_OPS_LIST) ? s : NULL;
}

/* The types of the stack's configuration and of its state (type -> true),
 * gathered once per search: the rules ask about them many times, and the
 * state has thousands of rows. */
static json_t *types_in_use(cairn_engine *e)
{
	json_t *types = json_object();
	const char *last = NULL;
	size_t i;

	for (i = 0; i < e->stack->nresources; i++)
		json_object_set_new(types, e->stack->resources[i].type, json_true());
	for (i = 0; i < e->nstate; i++)
		if (!last || strcmp(last, e->state[i].type)) /* neighbours mostly share one */
			json_object_set_new(types, (last = e->state[i].type), json_true());
	return types;
}

/* The stack uses this provider: its types, or its state's, share the prefix. */
static bool provider_in_use(const json_t *types, const char *type)
{
	const char *dot = strchr(type, '.'), *t;
	size_t n = dot ? (size_t)(dot - type) + 1 : strlen(type);
	json_t *v;

	json_object_foreach((json_t *)types, t, v)
		if (!strncmp(t, type, n))
			return true;
	return false;
}

/* The stack's configuration or its state has objects of this type. */
static bool type_in_use(const json_t *types, const char *type)
{
	return json_object_get(types, type) != NULL;
}

/* Is the rule's type searched? Not when there can be nothing to list: no
 * search by tags (a tagged_anywhere type only when the stack has it) and
 * no container of the stack's. Then its module is not even loaded (a
 * stack of VPCs loads no database, cache or EKS module to search them). */
static bool searched(cairn_engine *e, const json_t *types, const list_rule *r)
{
	if (!provider_in_use(types, r->type))
		return false;
	if (r->container && !(r->by_tags && (!r->tagged_anywhere || type_in_use(types, r->type))) &&
	    !type_in_use(types, r->container))
		return false;
	return list_schema(e, r->type) && (!r->container || list_schema(e, r->container));
}

/* The values of container_attr of the managed containers: as the state
 * records them (recorded), or of those the refresh found (still exist);
 * names: value -> the container's address. */
static json_t *containers(cairn_engine *e, const char *type, const char *attr, json_t *names, bool recorded)
{
	json_t *vals = json_array(), *seen = json_object();
	size_t i;

	for (i = 0; i < e->nstate; i++) {
		const cairn_state_res *row = &e->state[i];
		json_t *cur, *v;

		if (strcmp(row->type, type) != 0)
			continue; /* (the rows of other types are not parsed for it) */
		cur = recorded ? cairn_state_res_attrs(row) : cairn_engine_refreshed(e, row);
		if (!cur || json_is_null(cur))
			continue;
		v = json_object_get(cur, attr);
		if (json_is_string(v) && !json_object_get(seen, json_string_value(v))) {
			json_array_append(vals, v);
			json_object_set_new(seen, json_string_value(v), json_true());
			json_object_set_new(names, json_string_value(v), json_string(row->address));
		}
	}
	json_decref(seen);
	return vals;
}

static int add_job(jobs *js, cairn_engine *e, const list_rule *r, list_why why, json_t *filter)
{
	if (js->n == js->cap) {
		size_t c = js->cap ? js->cap * 2 : 16;
		list_job *p = realloc(js->v, c * sizeof(*p));

		if (!p) {
			json_decref(filter);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		js->v = p;
		js->cap = c;
	}
	js->v[js->n++] = (list_job){ e, r, why, filter, NULL, NULL, false };
	return 0;
}

static json_t *tag_filter(cairn_engine *e)
{
	return json_pack("{s:s,s:s}", "tag:cairn:stack", e->stack->name, "tag:cairn:env", e->opts.env);
}

/* One job per FILTER_VALUES values: base + {name: [values...]}. */
static int add_chunked(jobs *js, cairn_engine *e, const list_rule *r, list_why why, const json_t *base,
		       const char *name, const json_t *vals, const char *extra_name, const char *extra_val)
{
	size_t k, m;
	int rc = 0;

	for (k = 0; k < json_array_size(vals) && !rc; k += FILTER_VALUES) {
		json_t *part = json_array(), *f = base ? json_deep_copy(base) : json_object();

		for (m = k; m < json_array_size(vals) && m < k + FILTER_VALUES; m++)
			json_array_append(part, json_array_get(vals, m));
		json_object_set_new(f, name, part);
		if (extra_name)
			json_object_set_new(f, extra_name, json_string(extra_val));
		rc = add_job(js, e, r, why, f);
	}
	return rc;
}

static void log_task(void *ud, cairn_task *t, cairn_task_state from, cairn_task_state to)
{
	cairn_engine *e = ud;

	if (e->opts.log && e->opts.verbose)
		fprintf(e->opts.log, "cairn: %s: list %s: %s -> %s\n", e->opts.env, t->label,
			cairn_task_state_name(from), cairn_task_state_name(to));
}

static int run_jobs(cairn_engine *e, list_job *v, size_t n)
{
	cairn_task *tasks;
	cairn_sched *s = NULL;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if (!(tasks = calloc(n, sizeof(*tasks))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		tasks[i].step = list_step;
		tasks[i].ud = &v[i];
		tasks[i].label = v[i].rule->type;
	}
	if ((rc = cairn_sched_new(&s, e->loop, e->lua, NULL, tasks, n, e->opts.parallelism)) == 0) {
		cairn_sched_set_log(s, log_task, e);
		rc = cairn_sched_run(s);
	}
	if (rc == CAIRN_ERROR)
		for (i = 0; i < n; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_redact(e, tasks[i].error ? tasks[i].error : "failed");

				rc = cairn_error_set(CAIRN_EREMOTE, "cannot list %s objects to find unmanaged ones: %s",
						     tasks[i].label, m ? m : "failed");
				free(m);
				break;
			}
	cairn_sched_free(s);
	for (i = 0; i < n; i++)
		free(tasks[i].error);
	free(tasks);
	return rc;
}

static const char *id_of(cairn_engine *e, const list_rule *r, const json_t *attrs)
{
	const cairn_schema *s = list_schema(e, r->type);

	return s ? json_string_value(json_object_get(attrs, s->id_attr)) : NULL;
}

/* What the search found, by "type:id". */
typedef struct found {
	cairn_engine *e;
	json_t *managed;   /* "type:id" -> true: the state's objects (false once listed) */
	size_t seen_managed; /* the state's objects listed */
	json_t *builtin;   /* id -> true: the cloud's own */
	json_t *where;     /* container attr value -> container address */
	json_t *objects;   /* "type:id" -> {rule index, attrs, tagged} */
	json_t *candidates;/* rule index (as text) -> [ids] in managed containers, not in the state */
	json_t *dead;      /* container type -> {value: true}: listed, but the refresh found it gone */
	json_t *types;     /* types_in_use */
} found;

/* "type:id" into key */
static int object_key(cairn_buf *key, const char *type, const char *id)
{
	int rc;

	if ((rc = cairn_buf_puts(key, type)) < 0 || (rc = cairn_buf_putc(key, ':')) < 0)
		return rc;
	return cairn_buf_puts(key, id);
}

/* A listed object: attrs, or (NULL) one the listing found unchanged by its
 * read mark, which is one of the state's. */
static void note_id(found *fd, size_t ri, const char *id, const json_t *attrs, bool tagged)
{
	cairn_buf key = CAIRN_BUF_INIT;
	json_t *o;

	if (!id || json_object_get(fd->builtin, id) || object_key(&key, rules[ri].type, id) < 0)
		goto cleanup;
	/* an object the state holds: counted once, never a finding */
	if ((o = json_object_get(fd->managed, cairn_buf_cstr(&key)))) {
		if (json_is_true(o)) {
			json_object_set_new(fd->managed, cairn_buf_cstr(&key), json_false());
			fd->seen_managed++;
		}
		goto cleanup;
	}
	if (!attrs)
		goto cleanup;
	if ((o = json_object_get(fd->objects, cairn_buf_cstr(&key)))) {
		if (tagged)
			json_object_set_new(o, "tagged", json_true());
	} else {
		json_object_set_new(fd->objects, cairn_buf_cstr(&key), json_pack("{s:I,s:O,s:b}", "rule", (json_int_t)ri,
			"attrs", attrs, "tagged", tagged));
		if (!tagged) {
			char ix[8];
			json_t *list;

			snprintf(ix, sizeof(ix), "%zu", ri);
			if (!(list = json_object_get(fd->candidates, ix))) {
				list = json_array();
				json_object_set_new(fd->candidates, ix, list);
			}
			json_array_append_new(list, json_string(id));
		}
	}
cleanup:
	cairn_buf_release(&key);
}

static void note(found *fd, size_t ri, const json_t *attrs, bool tagged)
{
	note_id(fd, ri, id_of(fd->e, &rules[ri], attrs), attrs, tagged);
}

static size_t rule_index(const list_rule *r)
{
	return (size_t)(r - rules);
}

/* The jobs of the contents of the containers of rule r whose values are
 * vals (and of the cloud's own objects in them). */
static int add_contained(jobs *js, cairn_engine *e, const json_t *types, const list_rule *r, const json_t *vals)
{
	int rc = add_chunked(js, e, r, L_CONTAINED, NULL, r->filter, vals, NULL, NULL);
	size_t b;

	for (b = 0; b < sizeof(r->builtin) / sizeof(r->builtin[0]) && !rc; b++)
		if (r->builtin[b].filter && (!r->builtin[b].with || type_in_use(types, r->builtin[b].with)))
			rc = add_chunked(js, e, r, L_BUILTIN, NULL, r->filter, vals, r->builtin[b].filter,
					 r->builtin[b].value);
	return rc;
}

/* Is type (searched) the container of a type searched by tags in the
 * containers that are not managed? Then the second round needs them all. */
static bool contains_tagged(cairn_engine *e, const json_t *types, const char *type)
{
	size_t i;

	for (i = 0; i < NRULES; i++)
		if (rules[i].container && !strcmp(rules[i].container, type) && rules[i].by_tags &&
		    !rules[i].tagged_anywhere && searched(e, types, &rules[i]))
			return true;
	return false;
}

/* Before the refresh: the containers as recorded. listed: container type
 * -> the values listed. */
static int first_round(found *fd, jobs *js, json_t *listed)
{
	cairn_engine *e = fd->e;
	size_t i;
	int rc = 0;

	for (i = 0; i < NRULES && !rc; i++) {
		const list_rule *r = &rules[i];
		json_t *vals, *names;

		if (!searched(e, fd->types, r))
			continue;
		if (!r->container || r->tagged_anywhere) {
			/* listing every object of the region, with a call per
			 * object for its tags: only for a type the stack has */
			if (r->by_tags && (!r->tagged_anywhere || type_in_use(fd->types, r->type)))
				rc = add_job(js, e, r, L_TAGGED, tag_filter(e));
			if (!r->container || rc)
				continue;
		}
		names = json_object();
		vals = containers(e, r->container, r->container_attr, names, true);
		json_decref(names);
		if (!json_object_get(listed, r->container))
			json_object_set(listed, r->container, vals);
		rc = add_contained(js, e, fd->types, r, vals);
		json_decref(vals);
	}
	/* every container of the types searched by tag: where else our objects may be */
	for (i = 0; i < NRULES && !rc; i++)
		if (!rules[i].container && rules[i].by_tags && contains_tagged(e, fd->types, rules[i].type))
			rc = add_job(js, e, &rules[i], L_ALL, json_object());
	for (i = 0; i < js->n; i++)
		js->v[i].keep = true;
	if (!rc)
		rc = run_jobs(e, js->v, js->n);
	return rc;
}

static bool has_value(const json_t *vals, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(vals, i, x)
		if (!strcmp(json_string_value(x), v))
			return true;
	return false;
}

/* After the refresh: the containers that still exist (managed_cont:
 * container type -> values; fd->where), those listed that are gone
 * (fd->dead), and the contents of those the first round did not list
 * (a container whose recorded attributes lack the value), listed now as
 * more jobs of the first round. */
static int settle_containers(found *fd, jobs *one, const json_t *listed, json_t *managed_cont)
{
	cairn_engine *e = fd->e;
	size_t i, k, n0 = one->n;
	json_t *x;
	int rc = 0;

	for (i = 0; i < NRULES && !rc; i++) {
		const list_rule *r = &rules[i];
		json_t *live, *was = json_object_get(listed, r->container ? r->container : ""), *more;

		if (!r->container || !searched(e, fd->types, r))
			continue;
		live = containers(e, r->container, r->container_attr, fd->where, false);
		if (!json_object_get(managed_cont, r->container)) {
			json_t *dead = json_object();

			json_object_set(managed_cont, r->container, live);
			json_array_foreach(was, k, x)
				if (!has_value(live, json_string_value(x)))
					json_object_set_new(dead, json_string_value(x), json_true());
			json_object_set_new(fd->dead, r->container, dead);
		}
		more = json_array();
		json_array_foreach(live, k, x)
			if (!has_value(was, json_string_value(x)))
				json_array_append(more, x);
		if (json_array_size(more))
			rc = add_contained(one, e, fd->types, r, more);
		json_decref(more);
		json_decref(live);
	}
	if (!rc)
		rc = run_jobs(e, one->v + n0, one->n - n0);
	return rc;
}

static int second_round(found *fd, jobs *first, jobs *js, json_t *managed_cont)
{
	cairn_engine *e = fd->e;
	json_t *others = json_object(), *tf = tag_filter(e), *x;
	const char *id;
	size_t i, k;
	int rc = 0;

	/* containers that are not managed: all of them minus the managed ones */
	for (i = 0; i < first->n; i++) {
		list_job *j = &first->v[i];
		json_t *mine = json_object_get(managed_cont, j->rule->type), *list;

		if (j->why != L_ALL)
			continue;
		list = json_array();
		json_array_foreach(j->result, k, x) {
			const char *id = id_of(e, j->rule, x);

			if (id && !has_value(mine, id))
				json_array_append_new(list, json_string(id));
		}
		json_object_foreach(j->unchanged, id, x)
			if (!has_value(mine, id))
				json_array_append_new(list, json_string(id));
		json_object_set_new(others, j->rule->type, list);
	}
	for (i = 0; i < NRULES && !rc; i++) {
		const list_rule *r = &rules[i];
		json_t *other = r->container ? json_object_get(others, r->container) : NULL, *cand;
		char ix[8];

		if (!r->by_tags || !r->container || r->tagged_anywhere || !searched(e, fd->types, r))
			continue;
		if (json_array_size(other))
			rc = add_chunked(js, e, r, L_TAGGED, tf, r->filter, other, NULL, NULL);
		snprintf(ix, sizeof(ix), "%zu", i);
		cand = json_object_get(fd->candidates, ix);
		if (!rc && json_array_size(cand))
			rc = add_chunked(js, e, r, L_TAGCHECK, tf, r->id_filter, cand, NULL, NULL);
	}
	if (!rc)
		rc = run_jobs(e, js->v, js->n);
	json_decref(others);
	json_decref(tf);
	return rc;
}

/* An object of a managed container's listing that sits in one the refresh
 * found gone. */
static bool in_dead_container(const found *fd, const list_job *j, const json_t *attrs)
{
	json_t *dead = j->rule->container ? json_object_get(fd->dead, j->rule->container) : NULL;
	const char *cv;

	if (!json_object_size(dead))
		return false;
	cv = json_string_value(json_object_get(attrs, j->rule->member_attr));
	return cv && json_object_get(dead, cv);
}

static void collect(found *fd, jobs *js)
{
	size_t i, k;
	json_t *x;

	const char *id;

	for (i = 0; i < js->n; i++)
		if (js->v[i].why == L_BUILTIN) {
			json_array_foreach(js->v[i].result, k, x)
				if ((id = id_of(fd->e, js->v[i].rule, x)))
					json_object_set_new(fd->builtin, id, json_true());
			json_object_foreach(js->v[i].unchanged, id, x)
				json_object_set_new(fd->builtin, id, json_true());
		}
	for (i = 0; i < js->n; i++)
		if (js->v[i].why == L_TAGGED || js->v[i].why == L_CONTAINED || js->v[i].why == L_TAGCHECK) {
			json_array_foreach(js->v[i].result, k, x) {
				if (js->v[i].why == L_CONTAINED && in_dead_container(fd, &js->v[i], x))
					continue;
				note(fd, rule_index(js->v[i].rule), x, js->v[i].why != L_CONTAINED);
			}
			json_object_foreach(js->v[i].unchanged, id, x)
				note_id(fd, rule_index(js->v[i].rule), id, NULL, js->v[i].why != L_CONTAINED);
		}
}

static void free_jobs(jobs *js)
{
	size_t i;

	for (i = 0; i < js->n; i++) {
		json_decref(js->v[i].filter);
		json_decref(js->v[i].result);
		json_decref(js->v[i].unchanged);
	}
	free(js->v);
}

static json_t *finding_of(found *fd, const list_rule *r, const json_t *o)
{
	cairn_engine *e = fd->e;
	const json_t *attrs = json_object_get(o, "attrs"), *tags = json_object_get(attrs, "tags");
	const char *id = id_of(e, r, attrs);
	cairn_buf why = CAIRN_BUF_INIT;
	json_t *f;

	if (json_is_true(json_object_get(o, "tagged"))) {
		cairn_buf_printf(&why, "tagged cairn:stack=%s cairn:env=%s but not in the state", e->stack->name,
				 e->opts.env);
	} else {
		const char *cid = json_string_value(json_object_get(attrs, r->member_attr));
		const char *caddr = cid ? json_string_value(json_object_get(fd->where, cid)) : NULL;

		cairn_buf_printf(&why, "inside %s %s (%s), managed by nothing", r->container, caddr ? caddr : "?",
				 cid ? cid : "?");
	}
	f = cairn_drift__finding("unmanaged", NULL, r->type, id, NULL);
	json_object_set_new(f, "reason", json_string(cairn_buf_cstr(&why)));
	if (json_is_object(tags) && json_object_size(tags))
		json_object_set(f, "tags", (json_t *)tags);
	cairn_buf_release(&why);
	return f;
}

struct cairn_drift_search {
	found fd;
	jobs one, two;
	json_t *listed;       /* container type -> values listed in the first round */
	json_t *managed_cont; /* container type -> values of those that still exist */
};

void cairn_drift__unmanaged_free(cairn_drift_search *s)
{
	if (!s)
		return;
	free_jobs(&s->one);
	free_jobs(&s->two);
	json_decref(s->listed);
	json_decref(s->managed_cont);
	json_decref(s->fd.managed);
	json_decref(s->fd.builtin);
	json_decref(s->fd.where);
	json_decref(s->fd.objects);
	json_decref(s->fd.candidates);
	json_decref(s->fd.dead);
	json_decref(s->fd.types);
	free(s);
}

int cairn_drift__unmanaged_begin(cairn_engine *e, cairn_drift_search **out)
{
	cairn_drift_search *s = calloc(1, sizeof(*s));
	size_t i;
	int rc;

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->fd = (found){ e, json_object(), 0, json_object(), json_object(), json_object(), json_object(), json_object(),
			  types_in_use(e) };
	s->listed = json_object();
	s->managed_cont = json_object();
	for (i = 0; i < e->nstate; i++)
		if (e->state[i].id) {
			cairn_buf b = CAIRN_BUF_INIT;

			if (object_key(&b, e->state[i].type, e->state[i].id) == 0)
				json_object_set_new(s->fd.managed, cairn_buf_cstr(&b), json_true());
			cairn_buf_release(&b);
		}
	if ((rc = first_round(&s->fd, &s->one, s->listed)) != 0) {
		cairn_drift__unmanaged_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int cairn_drift__unmanaged_end(cairn_drift_search *s, json_t *findings, size_t *seen, size_t *listed_managed)
{
	found *fd = &s->fd;
	json_t *o;
	const char *key;
	int rc;

	*seen = 0;
	*listed_managed = 0;
	if ((rc = settle_containers(fd, &s->one, s->listed, s->managed_cont)) != 0)
		return rc;
	collect(fd, &s->one);
	if ((rc = second_round(fd, &s->one, &s->two, s->managed_cont)) != 0)
		return rc;
	collect(fd, &s->two);
	json_object_foreach(fd->objects, key, o) {
		const list_rule *r = &rules[json_integer_value(json_object_get(o, "rule"))];

		json_array_append_new(findings, finding_of(fd, r, o));
	}
	*seen = json_object_size(fd->objects) + fd->seen_managed;
	*listed_managed = fd->seen_managed;
	return 0;
}
