/*
 * unmanaged.c - objects that exist but that nothing manages: those tagged
 * as this stack's and environment's (cairn:stack, cairn:env: the tags the
 * AWS modules put on every object, modules/aws/common.lua) that the state
 * does not hold, left by a crash or a `state rm`; and those inside a
 * managed container (a managed VPC's subnets, security groups, route
 * tables and internet gateways; a managed EKS cluster's node groups) that
 * no resource of the stack holds.
 *
 * Both are found with the modules' `list(ctx, filter)`. Which filter names
 * a container, and which objects a cloud makes by itself in each container
 * (a VPC's default security group and main route table: not unmanaged), is
 * provider knowledge the modules do not declare; it is the table below.
 * A type whose module has no `list`, or that is not in the table, is not
 * searched (docs/drift.md lists what is).
 *
 * All the list calls of an environment run at once, as tasks of one
 * scheduler on the environment's loop (at most --parallelism at a time).
 */
#include "drift_int.h"
#include "engine/scheduler.h"

#include <stdlib.h>
#include <string.h>

typedef struct list_rule {
	const char *type;
	bool by_tags;               /* its list accepts "tag:KEY" filters */
	const char *container;      /* the container type, or NULL */
	const char *filter;         /* the list filter that names containers */
	const char *container_attr; /* the container's attribute that filter takes */
	const char *member_attr;    /* the contained object's attribute naming its container */
	const char *builtin_filter; /* with builtin_value: the objects the cloud makes in each container */
	const char *builtin_value;
} list_rule;

static const list_rule rules[] = {
	{ "aws.vpc", true, NULL, NULL, NULL, NULL, NULL, NULL },
	{ "aws.subnet", true, "aws.vpc", "vpc-id", "id", "vpc_id", NULL, NULL },
	{ "aws.security_group", true, "aws.vpc", "vpc-id", "id", "vpc_id", "group-name", "default" },
	{ "aws.route_table", true, "aws.vpc", "vpc-id", "id", "vpc_id", "association.main", "true" },
	{ "aws.internet_gateway", true, "aws.vpc", "attachment.vpc-id", "id", "vpc_id", NULL, NULL },
	{ "aws.eks_nodegroup", false, "aws.eks_cluster", "cluster_name", "name", "cluster_name", NULL, NULL },
};

#define FILTER_VALUES 200 /* EC2 takes at most 200 filter values in a call */

typedef enum { L_TAGGED, L_CONTAINED, L_BUILTIN } list_why;

typedef struct list_job {
	cairn_engine *e;
	const list_rule *rule;
	list_why why;
	json_t *filter;
	json_t *result;  /* the module's array */
} list_job;

static cairn_step_rc list_step(cairn_sched *s, cairn_task *t)
{
	list_job *j = t->ud;

	if (t->phase == 0) {
		json_t *ctx = cairn_engine_op_ctx(j->e, NULL, NULL), *args = json_pack("[O]", j->filter);
		int rc;

		t->phase = 1;
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
	j->result = json_incref(t->op_result);
	return CAIRN_STEP_DONE;
}

static bool has_list(cairn_engine *e, const char *type, const cairn_schema **out)
{
	const cairn_schema *s = NULL;

	if (cairn_lua_schema(e->lua, type, &s) != 0) {
		cairn_error_clear();
		return false;
	}
	*out = s;
	return (s->ops & CAIRN_OPS_LIST) != 0;
}

/* The stack uses this provider: its types, or its state's, share the prefix. */
static bool provider_in_use(cairn_engine *e, const char *type)
{
	const char *dot = strchr(type, '.');
	size_t n = dot ? (size_t)(dot - type) + 1 : strlen(type), i;

	for (i = 0; i < e->stack->nresources; i++)
		if (!strncmp(e->stack->resources[i].type, type, n))
			return true;
	for (i = 0; i < e->nstate; i++)
		if (!strncmp(e->state[i].type, type, n))
			return true;
	return false;
}

/* The values of container_attr of the managed containers that still exist. */
static json_t *containers(cairn_engine *e, const list_rule *r, json_t *names)
{
	json_t *vals = json_array();
	size_t i;

	for (i = 0; i < e->nstate; i++) {
		const cairn_state_res *row = &e->state[i];
		json_t *cur = e->refreshed ? json_object_get(e->refreshed, row->address) : NULL, *v;

		if (strcmp(row->type, r->container) != 0 || !cur || json_is_null(cur))
			continue;
		v = json_object_get(cur, r->container_attr);
		if (json_is_string(v)) {
			json_array_append(vals, v);
			json_object_set_new(names, json_string_value(v), json_string(row->address));
		}
	}
	return vals;
}

static int add_job(list_job **jobs, size_t *n, size_t *cap, list_job j)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		list_job *p = realloc(*jobs, c * sizeof(*p));

		if (!p) {
			json_decref(j.filter);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		*jobs = p;
		*cap = c;
	}
	(*jobs)[(*n)++] = j;
	return 0;
}

static int plan_jobs(cairn_engine *e, list_job **jobs, size_t *njobs, json_t *where)
{
	size_t cap = 0, i, k;
	int rc = 0;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]) && !rc; i++) {
		const list_rule *r = &rules[i];
		const cairn_schema *s;

		if (!provider_in_use(e, r->type) || !has_list(e, r->type, &s))
			continue;
		if (r->by_tags)
			rc = add_job(jobs, njobs, &cap, (list_job){ e, r, L_TAGGED, json_pack("{s:s,s:s}",
				"tag:cairn:stack", e->stack->name, "tag:cairn:env", e->opts.env), NULL });
		if (r->container && !rc) {
			json_t *vals = containers(e, r, where);

			for (k = 0; k < json_array_size(vals) && !rc; k += FILTER_VALUES) {
				json_t *part = json_array();
				size_t m;

				for (m = k; m < json_array_size(vals) && m < k + FILTER_VALUES; m++)
					json_array_append(part, json_array_get(vals, m));
				rc = add_job(jobs, njobs, &cap, (list_job){ e, r, L_CONTAINED,
					json_pack("{s:O}", r->filter, part), NULL });
				if (!rc && r->builtin_filter)
					rc = add_job(jobs, njobs, &cap, (list_job){ e, r, L_BUILTIN,
						json_pack("{s:O,s:s}", r->filter, part, r->builtin_filter, r->builtin_value), NULL });
				json_decref(part);
			}
			json_decref(vals);
		}
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

static int run_jobs(cairn_engine *e, list_job *jobs, size_t njobs)
{
	cairn_task *tasks = calloc(njobs ? njobs : 1, sizeof(*tasks));
	cairn_sched *s = NULL;
	size_t i;
	int rc;

	if (!tasks)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < njobs; i++) {
		tasks[i].step = list_step;
		tasks[i].ud = &jobs[i];
		tasks[i].label = jobs[i].rule->type;
	}
	if ((rc = cairn_sched_new(&s, e->loop, e->lua, NULL, tasks, njobs, e->opts.parallelism)) == 0) {
		cairn_sched_set_log(s, log_task, e);
		rc = cairn_sched_run(s);
	}
	if (rc == CAIRN_ERROR)
		for (i = 0; i < njobs; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_redact(e, tasks[i].error ? tasks[i].error : "failed");

				rc = cairn_error_set(CAIRN_EREMOTE, "cannot list %s objects to find unmanaged ones: %s",
						     tasks[i].label, m ? m : "failed");
				free(m);
				break;
			}
	cairn_sched_free(s);
	for (i = 0; i < njobs; i++)
		free(tasks[i].error);
	free(tasks);
	return rc;
}

static const char *id_of(cairn_engine *e, const list_rule *r, const json_t *attrs)
{
	const cairn_schema *s = NULL;

	if (cairn_lua_schema(e->lua, r->type, &s) != 0)
		return NULL;
	return json_string_value(json_object_get(attrs, s->id_attr));
}

int cairn_drift__unmanaged(cairn_engine *e, json_t *findings, size_t *seen, size_t *listed_managed)
{
	list_job *jobs = NULL;
	size_t njobs = 0, i, k;
	json_t *where = json_object(), *managed = json_object(), *found = json_object(), *builtin = json_object();
	const char *key;
	json_t *x;
	int rc;

	*seen = 0;
	*listed_managed = 0;
	for (i = 0; i < e->nstate; i++)
		if (e->state[i].id) {
			cairn_buf b = CAIRN_BUF_INIT;

			cairn_buf_printf(&b, "%s:%s", e->state[i].type, e->state[i].id);
			json_object_set_new(managed, cairn_buf_cstr(&b), json_true());
			cairn_buf_release(&b);
		}
	if ((rc = plan_jobs(e, &jobs, &njobs, where)) != 0 || njobs == 0 || (rc = run_jobs(e, jobs, njobs)) != 0)
		goto cleanup;
	/* the cloud's own objects first, then what each listing found */
	for (i = 0; i < njobs; i++)
		if (jobs[i].why == L_BUILTIN)
			json_array_foreach(jobs[i].result, k, x) {
				const char *id = id_of(e, jobs[i].rule, x);

				if (id)
					json_object_set_new(builtin, id, json_true());
			}
	for (i = 0; i < njobs; i++) {
		if (jobs[i].why == L_BUILTIN)
			continue;
		json_array_foreach(jobs[i].result, k, x) {
			const char *id = id_of(e, jobs[i].rule, x);
			cairn_buf b = CAIRN_BUF_INIT;
			json_t *f, *had;

			if (!id || json_object_get(builtin, id))
				continue;
			cairn_buf_printf(&b, "%s:%s", jobs[i].rule->type, id);
			had = json_object_get(found, cairn_buf_cstr(&b));
			if (!had) {
				(*seen)++;
				if (json_object_get(managed, cairn_buf_cstr(&b)))
					(*listed_managed)++;
			}
			if (!json_object_get(managed, cairn_buf_cstr(&b)) && (!had || jobs[i].why == L_TAGGED)) {
				json_t *tags = json_object_get(x, "tags");
				cairn_buf why = CAIRN_BUF_INIT;

				if (jobs[i].why == L_TAGGED) {
					cairn_buf_printf(&why, "tagged cairn:stack=%s cairn:env=%s but not in the state",
							 e->stack->name, e->opts.env);
				} else {
					const char *cid = json_string_value(json_object_get(x, jobs[i].rule->member_attr));
					const char *caddr = cid ? json_string_value(json_object_get(where, cid)) : NULL;

					cairn_buf_printf(&why, "inside %s %s (%s), managed by nothing", jobs[i].rule->container,
							 caddr ? caddr : "?", cid ? cid : "?");
				}
				f = cairn_drift__finding("unmanaged", NULL, jobs[i].rule->type, id, NULL);
				json_object_set_new(f, "reason", json_string(cairn_buf_cstr(&why)));
				if (json_is_object(tags) && json_object_size(tags))
					json_object_set(f, "tags", tags);
				json_object_set(found, cairn_buf_cstr(&b), f);
				json_decref(f);
				cairn_buf_release(&why);
			} else if (!had) {
				json_object_set_new(found, cairn_buf_cstr(&b), json_true());
			}
			cairn_buf_release(&b);
		}
	}
	json_object_foreach(found, key, x)
		if (json_is_object(x))
			json_array_append(findings, x);
cleanup:
	for (i = 0; i < njobs; i++) {
		json_decref(jobs[i].filter);
		json_decref(jobs[i].result);
	}
	free(jobs);
	json_decref(where);
	json_decref(managed);
	json_decref(found);
	json_decref(builtin);
	return rc;
}
