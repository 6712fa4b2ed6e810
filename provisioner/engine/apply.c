/*
 * apply.c - execute a plan: one task per instance action, run by the
 * scheduler, with intents before creates and deletes and a state commit
 * after every finished operation (see engine.h, scheduler.h).
 *
 * Ordering: an instance is applied after the instances it depends on. A
 * deletion waits for the deletion of everything that depended on it (from
 * the dependencies recorded in state). A replacement deletes the old object
 * first and then creates the new one, or, with create_before_destroy, moves
 * the old object aside to ADDRESS~deposed-TOKEN, creates the new one, lets
 * the dependents switch to it, and deletes the old one last. A crash at any
 * point leaves every object recorded: the deposed one is an orphan that the
 * next plan deletes.
 *
 * Health checks of a resource (its checks:) run in a gate task after its
 * instances are applied, one gate per instance, or, with rollout:, one per
 * batch of changed instances, each batch waiting for the gate of the one
 * before. What depends on an instance (its dependents' operations, the
 * deletion of the object a create-before-destroy replacement set aside,
 * a delete-first replacement of a dependent) waits for its gate. A gate whose checks fail undoes what can be undone
 * (see undo_of) and fails: what waits on it is skipped, so the old
 * objects stay and the later batches are not started. A rollout's gate
 * also runs when an operation of its batch failed (a module error; the
 * scheduler's after_failures): it runs no checks, undoes the rest of the
 * batch the same way and fails, which stops the rollout there. A gate
 * outside a rollout with nothing to undo stops the whole apply instead
 * (opts.check_stop; see gate_fail): the CLI then rolls the environment back.
 */
#include "checks.h"
#include "engine.h"
#include "scheduler.h"

#include <math.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define NO_RES SIZE_MAX

typedef enum { JOB_APPLY, JOB_DELETE, JOB_FORGET, JOB_RECOVER, JOB_GATE } job_kind;

typedef struct job {
	job_kind kind;
	cairn_engine *e;
	cairn_inst *in;
	cairn_intent *intent;  /* JOB_RECOVER */
	int64_t rev;
	int64_t intent_id;
	int64_t old_intent_id; /* a pending intent whose token this create reuses */
	char *token;
	char *deposed;         /* CBD: where the old object went */
	const char *del_address; /* JOB_DELETE: the state row to delete */
	struct job *partner;   /* CBD deletion: the job that set the old object aside;
				* JOB_APPLY in a rollout: the gate of the batch before */
	json_t *del_attrs;
	const char *del_id;
	json_t *host;          /* the connection of the object's host (hosts.c), or NULL */
	json_t *applied;       /* JOB_APPLY: the attributes it recorded */
	bool rolled_back;      /* JOB_APPLY: undone by its gate */
	cairn_task *task;      /* its task */
	struct job *failed;    /* JOB_GATE of a rollout: the member whose operation failed */
	struct job **members;  /* JOB_GATE: the apply jobs it checks */
	size_t nmembers, cursor;
	bool undo_all;         /* JOB_GATE of a rollout: creates and updates are undone too */
	json_t *results;       /* JOB_GATE: the check results */
	struct cairn_check_run *checks; /* JOB_GATE: its checks, while they run */
	cairn_buf undone;      /* JOB_GATE: what was rolled back, for the message */
	bool env_rollback;     /* JOB_GATE: its checks failed with nothing of its own to undo
				* (outside a rollout and blue-green): the apply stopped, and
				* the environment is to be rolled back (the CLI does it) */
	char label[512];
} job;

static char *new_token(void)
{
	unsigned char raw[16];
	char *hex = malloc(33);
	int i;

	if (!hex || RAND_bytes(raw, sizeof(raw)) != 1) {
		free(hex);
		return NULL;
	}
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return hex;
}

static json_t *inst_deps_json(cairn_engine *e, const cairn_inst *in)
{
	json_t *deps = json_array();
	size_t i;

	for (i = 0; i < in->ndeps; i++)
		json_array_append_new(deps, json_string(e->insts[in->deps[i]].address));
	return deps;
}

static char *id_of(const cairn_schema *s, json_t *attrs)
{
	json_t *id = json_object_get(attrs, s->id_attr);

	if (json_is_string(id))
		return strdup(json_string_value(id));
	if (json_is_number(id))
		return json_dumps(id, JSON_ENCODE_ANY);
	return NULL;
}

/* A pending create intent for this address, whose props match: reuse its
 * token so that the module's create is idempotent across a crash. */
static cairn_intent *pending_create(cairn_engine *e, const char *address)
{
	size_t i;

	for (i = 0; i < e->nintents; i++)
		if (!strcmp(e->intents[i].address, address) && !strcmp(e->intents[i].op, "create"))
			return &e->intents[i];
	return NULL;
}

static cairn_step_rc fail_from_error(job *j, cairn_task *t, const char *what)
{
	const cairn_error *err = cairn_error_last();
	char *m = cairn_engine_redact(j->e, err ? err->message : "failed");

	cairn_task_fail(t, "%s: %s", what, m);
	free(m);
	return CAIRN_STEP_FAILED;
}

static cairn_step_rc start_create(cairn_sched *s, cairn_task *t, job *j)
{
	cairn_engine *e = j->e;
	cairn_inst *in = j->in;
	cairn_intent *pend = pending_create(e, in->address);
	json_t *desired = NULL, *ctx, *args, *payload;
	cairn_store *st;
	int rc;

	if ((rc = cairn_engine_desired(e, in, &e->stack->resources[in->res], &desired)) != 0)
		return fail_from_error(j, t, "cannot evaluate properties");
	json_decref(in->desired);
	in->desired = desired;
	cairn_engine_add_secrets(e, desired, in->sensitive);
	if (cairn_has_unknown(desired))
		return cairn_task_fail(t, "a property is still unknown after its dependencies were applied");
	payload = json_pack("{s:O}", "props", desired);
	if (pend && pend->payload && cairn_value_equal(json_object_get(pend->payload, "props"), desired))
		j->token = strdup(pend->token);
	else
		j->token = new_token();
	if (pend)
		j->old_intent_id = pend->id;
	st = cairn_sched_store(s);
	if (in->action == CAIRN_ACT_REPLACE && in->cbd) {
		if (asprintf(&j->deposed, "%s~deposed-%.8s", in->address, j->token) < 0)
			j->deposed = NULL;
		if ((rc = cairn_store_move(st, e->opts.env, j->rev, in->address, j->deposed)) != 0) {
			json_decref(payload);
			return fail_from_error(j, t, "cannot set the old object aside");
		}
	}
	/* an intent is what lets a later run find an object a crash left
	 * unrecorded; a type whose objects live only in the state has none */
	rc = in->schema->remote ? cairn_store_intent_add(st, e->opts.env, j->rev, in->address, in->type, "create",
							  j->token, payload, &j->intent_id) : 0;
	json_decref(payload);
	if (rc)
		return fail_from_error(j, t, "cannot record intent");
	t->held = j->intent_id > 0;
	ctx = cairn_engine_op_ctx(e, in->address, j->token);
	args = json_pack("[O]", desired);
	rc = cairn_engine_task_host(e, t, &j->host, ctx, in->type, in->address, desired);
	if (!rc)
		rc = cairn_sched_start_op(s, t, in->type, "create", ctx, args);
	json_decref(ctx);
	json_decref(args);
	if (rc)
		return fail_from_error(j, t, "cannot start create");
	t->phase = 10;
	return CAIRN_STEP_WAIT;
}

static cairn_step_rc finish_write(cairn_sched *s, cairn_task *t, job *j, const char *action, json_t *attrs)
{
	cairn_engine *e = j->e;
	cairn_inst *in = j->in;
	cairn_state_res r = { 0 };
	int rc;

	/* a value made by this operation (a generated password) is a secret
	 * from now on: in messages, the summary, the revision's record */
	cairn_engine_add_secrets(e, attrs, in->sensitive);
	r.address = in->address;
	r.name = in->name;
	r.type = in->type;
	r.id = id_of(in->schema, attrs);
	r.attrs = attrs;
	r.sensitive = in->sensitive;
	r.deps = inst_deps_json(e, in);
	r.token = j->token ? j->token : (in->prior ? in->prior->token : NULL);
	rc = cairn_store_put(cairn_sched_store(s), e->opts.env, j->rev, action, &r, j->intent_id);
	if (!rc && j->old_intent_id > 0) {
		rc = cairn_store_intent_clear(cairn_sched_store(s), j->old_intent_id);
		j->old_intent_id = 0;
	}
	free(r.id);
	json_decref(r.deps);
	if (rc)
		return fail_from_error(j, t, "cannot record in state");
	cairn_engine_publish(e, in, attrs);
	json_decref(j->applied);
	j->applied = json_incref(attrs);
	return CAIRN_STEP_DONE;
}

static json_t *merge_attrs(json_t *base, json_t *over)
{
	json_t *m = json_is_object(base) ? json_deep_copy(base) : json_object();

	if (json_is_object(over))
		json_object_update(m, over);
	return m;
}

/* The desired values an update is given: an attribute under
 * lifecycle.ignore_changes keeps what the object has (none, when the state
 * has no value: a write-only attribute after an import), so neither the
 * module nor the state sees the configuration's value for it. */
static void keep_ignored(const cairn_res_cfg *res, const cairn_schema *sc, const json_t *current, json_t *desired)
{
	size_t i;

	for (i = 0; i < sc->nattrs; i++) {
		const char *name = sc->attrs[i].name;
		json_t *have = json_object_get(current, name);
		size_t k;
		bool ignored = res->ignore_all_changes;

		for (k = 0; k < res->nignore_changes && !ignored; k++)
			ignored = strcmp(res->ignore_changes[k], name) == 0;
		if (!ignored)
			continue;
		if (have)
			json_object_set(desired, name, have);
		else
			json_object_del(desired, name);
	}
}

static cairn_step_rc apply_step(cairn_sched *s, cairn_task *t)
{
	job *j = t->ud;
	cairn_engine *e = j->e;
	cairn_inst *in = j->in;

	switch (t->phase) {
	case 0:
		if (cairn_engine_unreached(e, in->type, in->address, in->current ? in->current : in->desired))
			return cairn_task_fail(t, "%s", cairn_engine_unreached(e, in->type, in->address,
					       in->current ? in->current : in->desired));
		if (in->action == CAIRN_ACT_NOOP) {
			cairn_engine_publish(e, in, in->current ? in->current : in->planned);
			if (in->current && in->prior && e->store && e->opts.for_write &&
			    !cairn_value_equal(in->current, cairn_state_res_attrs(in->prior)))
				return finish_write(s, t, j, "refresh", in->current);
			return CAIRN_STEP_DONE;
		}
		if (in->action == CAIRN_ACT_UPDATE) {
			json_t *desired = NULL, *changed = json_array(), *ctx, *args;
			size_t i;
			json_t *c;
			char *id = id_of(in->schema, in->current);
			int rc;

			if (cairn_engine_desired(e, in, &e->stack->resources[in->res], &desired) != 0) {
				free(id);
				json_decref(changed);
				return fail_from_error(j, t, "cannot evaluate properties");
			}
			cairn_engine_add_secrets(e, desired, in->sensitive);
			keep_ignored(&e->stack->resources[in->res], in->schema, in->current, desired);
			json_decref(in->desired);
			in->desired = desired;
			json_array_foreach(in->changes, i, c)
				json_array_append(changed, json_object_get(c, "attribute"));
			ctx = cairn_engine_op_ctx(e, in->address, in->prior ? in->prior->token : NULL);
			args = json_pack("[s?,O,O,o]", id, in->current, desired, changed);
			rc = cairn_engine_task_host(e, t, &j->host, ctx, in->type, in->address, desired);
			if (!rc)
				rc = cairn_sched_start_op(s, t, in->type, "update", ctx, args);
			free(id);
			json_decref(ctx);
			json_decref(args);
			if (rc)
				return fail_from_error(j, t, "cannot start update");
			t->phase = 20;
			return CAIRN_STEP_WAIT;
		}
		return start_create(s, t, j);
	case 10: /* create finished */
		if (t->op_failed)
			return CAIRN_STEP_FAILED; /* the intent stays: the next run reconciles */
		if (!json_is_object(t->op_result))
			return cairn_task_fail(t, "module %s returned %s from create, expected a table", in->type,
					       cairn_value_type_name(t->op_result));
		{
			json_t *attrs = merge_attrs(in->desired, t->op_result);
			cairn_step_rc rc = finish_write(s, t, j, in->action == CAIRN_ACT_REPLACE ? "replace" : "create", attrs);

			json_decref(attrs);
			return rc;
		}
	case 20: /* update finished */
		if (t->op_failed)
			return CAIRN_STEP_FAILED;
		/* as for create: without the attributes the object now has, the
		 * state would claim the desired values, unchecked; it keeps the
		 * previous ones and the next plan shows the change again */
		if (!json_is_object(t->op_result))
			return cairn_task_fail(t, "module %s returned %s from update of %s, expected a table (the "
					       "attributes after the update); the state keeps the previous attributes",
					       in->type, cairn_value_type_name(t->op_result), in->address);
		{
			json_t *a1 = merge_attrs(in->current, in->desired);
			json_t *attrs = merge_attrs(a1, t->op_result);
			cairn_step_rc rc = finish_write(s, t, j, "update", attrs);

			json_decref(a1);
			json_decref(attrs);
			return rc;
		}
	}
	return cairn_task_fail(t, "internal error: bad phase %d", t->phase);
}

static cairn_step_rc delete_step(cairn_sched *s, cairn_task *t)
{
	job *j = t->ud;
	cairn_engine *e = j->e;
	int rc;

	if (t->phase == 0) {
		json_t *ctx, *args, *payload;

		if (cairn_engine_unreached(e, j->in->type, j->in->address, j->del_attrs))
			return cairn_task_fail(t, "%s", cairn_engine_unreached(e, j->in->type, j->in->address, j->del_attrs));
		payload = json_pack("{s:s?}", "id", j->del_id);

		if (j->partner) {
			if (!j->partner->deposed) {
				json_decref(payload);
				return cairn_task_fail(t, "internal error: the old object was not set aside");
			}
			j->del_address = j->partner->deposed;
		}

		rc = j->in->schema->remote ? cairn_store_intent_add(cairn_sched_store(s), e->opts.env, j->rev,
			j->del_address, j->in->type, "delete", j->in->prior ? j->in->prior->token : NULL, payload,
			&j->intent_id) : 0;
		json_decref(payload);
		if (rc)
			return fail_from_error(j, t, "cannot record intent");
		t->held = j->intent_id > 0;
		ctx = cairn_engine_op_ctx(e, j->del_address, NULL);
		args = json_pack("[s?,O]", j->del_id, j->del_attrs ? j->del_attrs : json_null());
		rc = cairn_engine_task_host(e, t, &j->host, ctx, j->in->type, j->in->address, j->del_attrs);
		if (!rc)
			rc = cairn_sched_start_op(s, t, j->in->type, "delete", ctx, args);
		json_decref(ctx);
		json_decref(args);
		if (rc)
			return fail_from_error(j, t, "cannot start delete");
		t->phase = 1;
		return CAIRN_STEP_WAIT;
	}
	if (t->op_failed) {
		/* abandoned (deadline, signal): the delete may be under way, so the
		 * intent stays and the next run looks */
		if (j->intent_id > 0 && !t->op_abandoned)
			cairn_store_intent_clear(cairn_sched_store(s), j->intent_id);
		return CAIRN_STEP_FAILED;
	}
	rc = cairn_store_remove(cairn_sched_store(s), e->opts.env, j->rev, "delete", j->del_address, j->intent_id);
	if (rc && rc != CAIRN_ENOTFOUND)
		return fail_from_error(j, t, "cannot record deletion");
	return CAIRN_STEP_DONE;
}

static cairn_step_rc forget_step(cairn_sched *s, cairn_task *t)
{
	job *j = t->ud;
	int rc = cairn_store_remove(cairn_sched_store(s), j->e->opts.env, j->rev, "forget", j->in->address, 0);

	if (rc && rc != CAIRN_ENOTFOUND)
		return fail_from_error(j, t, "cannot record deletion");
	return CAIRN_STEP_DONE;
}

/* ---------- health-check gates (see the top of this file) ---------- */

typedef enum { UNDO_NONE, UNDO_DELETE_NEW, UNDO_RESTORE_OLD, UNDO_PREVIOUS } undo_kind;

/* What a failed gate does with a member: a create-before-destroy
 * replacement deletes its new object and takes the old one back (blue-green
 * and rollouts); in a rollout a create deletes its object and an in-place
 * update applies the previous attributes again. Anything else stays as
 * applied (a replacement that deleted first has no old object left). */
static undo_kind undo_of(const job *g, const job *m)
{
	if (m->in->action == CAIRN_ACT_REPLACE && m->in->cbd && m->deposed)
		return UNDO_RESTORE_OLD;
	if (!g->undo_all)
		return UNDO_NONE;
	if (m->in->action == CAIRN_ACT_CREATE)
		return UNDO_DELETE_NEW;
	if (m->in->action == CAIRN_ACT_UPDATE && m->in->current)
		return UNDO_PREVIOUS;
	return UNDO_NONE;
}

static void gate_log(job *g, const json_t *results)
{
	cairn_engine *e = g->e;
	size_t i;
	json_t *r;

	if (!e->opts.log)
		return;
	json_array_foreach(results, i, r) {
		json_int_t n = json_integer_value(json_object_get(r, "attempts"));

		if (json_is_true(json_object_get(r, "ok")))
			fprintf(e->opts.log, "%s: check %s ok (%lld attempt%s)\n", json_string_value(json_object_get(r, "address")),
				json_string_value(json_object_get(r, "name")), (long long)n, n == 1 ? "" : "s");
		else
			fprintf(e->opts.log, "%s: check %s FAILED after %lld attempt%s: %s\n",
				json_string_value(json_object_get(r, "address")), json_string_value(json_object_get(r, "name")),
				(long long)n, n == 1 ? "" : "s", json_string_value(json_object_get(r, "error")));
	}
}

static cairn_step_rc gate_next_undo(cairn_sched *s, cairn_task *t, job *g);

/* The gate's failure message: the first failed check (or the failed
 * operation of the batch), then what was done. With opts.check_stop (an
 * apply, not a rollback), a gate outside a rollout whose members had
 * nothing to undo (no blue-green replacement) stops the apply: operations
 * already running finish, nothing new starts (skipped: "the apply stopped:
 * ..."), and the summary's "rollback_environment" asks for the rollback of
 * the whole environment (the CLI's automatic rollback, as for the stack's
 * checks). */
static cairn_step_rc gate_fail(cairn_sched *s, cairn_task *t, job *g)
{
	const json_t *bad = NULL, *r;
	char *why = NULL;
	cairn_step_rc rc;
	size_t i;

	if (g->failed) {
		char *m = cairn_engine_clean(g->e, g->failed->task->error ? g->failed->task->error : "failed");
		cairn_step_rc rc = cairn_task_fail(t, "%s failed: %s; the rollout stopped; %s", g->failed->task->label,
						   m ? m : "(error text withheld)",
						   g->undone.len ? cairn_buf_cstr(&g->undone) : "nothing else was rolled back");

		free(m);
		return rc;
	}
	json_array_foreach(g->results, i, r)
		if (!bad && !json_is_true(json_object_get(r, "ok")))
			bad = r;
	g->env_rollback = g->e->opts.check_stop && !g->undo_all;
	for (i = 0; i < g->nmembers; i++)
		if (g->members[i]->applied && undo_of(g, g->members[i]) != UNDO_NONE)
			g->env_rollback = false;
	if (g->env_rollback && asprintf(&why, "the apply stopped: health check %s of %s failed",
					bad ? json_string_value(json_object_get(bad, "name")) : "?",
					bad ? json_string_value(json_object_get(bad, "address")) : "?") > 0)
		cairn_sched_stop(s, why);
	free(why);
	rc = cairn_task_fail(t, "health check %s of %s failed: %s; %s", bad ? json_string_value(json_object_get(bad, "name")) : "?",
			     bad ? json_string_value(json_object_get(bad, "address")) : "?",
			     bad ? json_string_value(json_object_get(bad, "error")) : "?",
			     g->undone.len ? cairn_buf_cstr(&g->undone) : g->env_rollback ? "the apply stopped" :
			     "nothing was rolled back");
	return rc;
}

static void gate_note(job *g, const char *address, const char *what, const char *detail)
{
	cairn_buf_printf(&g->undone, "%s%s: %s", g->undone.len ? "; " : "rolled back: ", address, what);
	if (detail)
		cairn_buf_printf(&g->undone, " (%s)", detail);
}

/* The first member of a rollout's gate whose operation failed, or NULL
 * (they were all done or skipped). */
static job *failed_member(const job *g)
{
	size_t i;

	for (i = 0; i < g->nmembers; i++)
		if (g->members[i]->task->state == CAIRN_TASK_FAILED)
			return g->members[i];
	return NULL;
}

static cairn_step_rc gate_step(cairn_sched *s, cairn_task *t)
{
	job *g = t->ud;
	cairn_engine *e = g->e;
	job *m = g->cursor < g->nmembers ? g->members[g->cursor] : NULL;
	bool all = true;
	size_t i;
	int rc;

	/* a rollout's batch whose operation failed: no checks, the rest undone */
	if (t->phase == 0 && t->deps_failed && (g->failed = failed_member(g)) != NULL) {
		if (e->opts.log)
			fprintf(e->opts.log, "%s: %s failed: rolling back\n", t->label, g->failed->task->label);
		g->cursor = 0;
		return gate_next_undo(s, t, g);
	}

	switch (t->phase) {
	case 0:
		if (cairn_check_run_new(&g->checks, e) != 0)
			return fail_from_error(g, t, "cannot run the health checks");
		for (i = 0; i < g->nmembers; i++)
			if (cairn_check_run_add_res(g->checks, g->members[i]->in, g->members[i]->applied) != 0)
				return fail_from_error(g, t, "cannot run the health checks");
		t->phase = 1;
		/* fall through */
	case 1: { /* the checks run in the loop: each attempt and pause a wait of this task */
		cairn_step_rc src = cairn_check_run_step(g->checks, s, t);
		json_t *res;

		if (src != CAIRN_STEP_DONE)
			return src;
		res = cairn_check_run_results(g->checks, &all);
		g->results = json_incref(res);
		gate_log(g, res);
		t->phase = 2;
		if (all)
			return CAIRN_STEP_DONE;
		if (e->opts.log)
			fprintf(e->opts.log, "%s: health checks failed: rolling back\n", t->label);
		g->cursor = 0;
		return gate_next_undo(s, t, g);
	}
	case 30: /* the new object's delete finished */
		if (t->op_failed) {
			char *msg = cairn_engine_clean(e, t->error ? t->error : "failed");

			if (g->intent_id > 0 && !t->op_abandoned)
				cairn_store_intent_clear(cairn_sched_store(s), g->intent_id);
			gate_note(g, m->in->address, "could not delete the new object", msg ? msg : "failed");
			free(msg);
		} else if ((rc = cairn_store_remove(cairn_sched_store(s), e->opts.env, g->rev, "delete", m->in->address,
						    g->intent_id)) != 0 && rc != CAIRN_ENOTFOUND) {
			return fail_from_error(g, t, "cannot record the deletion of the new object");
		} else if (undo_of(g, m) == UNDO_RESTORE_OLD) {
			if (cairn_store_move(cairn_sched_store(s), e->opts.env, g->rev, m->deposed, m->in->address) != 0)
				return fail_from_error(g, t, "cannot take the old object back");
			cairn_engine_publish(e, m->in, m->in->current ? m->in->current : cairn_state_res_attrs(m->in->prior));
			gate_note(g, m->in->address, "the new object was deleted, the old one kept",
				  m->in->prior ? m->in->prior->id : NULL);
			m->rolled_back = true;
		} else {
			gate_note(g, m->in->address, "the new object was deleted", NULL);
			m->rolled_back = true;
		}
		g->intent_id = 0;
		g->cursor++;
		return gate_next_undo(s, t, g);
	case 40: /* the previous attributes applied again */
		if (t->op_failed || !json_is_object(t->op_result)) {
			char *msg = cairn_engine_clean(e, t->op_failed && t->error ? t->error : "the module returned no attributes");

			gate_note(g, m->in->address, "could not apply the previous attributes again", msg ? msg : "failed");
			free(msg);
		} else {
			json_t *a1 = merge_attrs(m->applied, m->in->current), *attrs = merge_attrs(a1, t->op_result);
			cairn_state_res r = { 0 };

			r.address = m->in->address;
			r.name = m->in->name;
			r.type = m->in->type;
			r.id = id_of(m->in->schema, attrs);
			r.attrs = attrs;
			r.sensitive = m->in->sensitive;
			r.deps = inst_deps_json(e, m->in);
			r.token = m->in->prior ? m->in->prior->token : NULL;
			rc = cairn_store_put(cairn_sched_store(s), e->opts.env, g->rev, "update", &r, 0);
			free(r.id);
			json_decref(r.deps);
			if (!rc)
				cairn_engine_publish(e, m->in, attrs);
			json_decref(a1);
			json_decref(attrs);
			if (rc)
				return fail_from_error(g, t, "cannot record the previous attributes");
			gate_note(g, m->in->address, "the previous attributes were applied again", NULL);
			m->rolled_back = true;
		}
		g->cursor++;
		return gate_next_undo(s, t, g);
	}
	return cairn_task_fail(t, "internal error: bad phase %d", t->phase);
}

/* Start undoing the next member that has something to undo, or fail the
 * gate once all are done. */
static cairn_step_rc gate_next_undo(cairn_sched *s, cairn_task *t, job *g)
{
	cairn_engine *e = g->e;

	for (; g->cursor < g->nmembers; g->cursor++) {
		job *m = g->members[g->cursor];
		undo_kind k = undo_of(g, m);
		json_t *ctx, *args;
		char *id;
		int rc = 0;

		if (k == UNDO_NONE || !m->applied)
			continue;
		id = id_of(m->in->schema, m->applied);
		ctx = cairn_engine_op_ctx(e, m->in->address, k == UNDO_PREVIOUS ? (m->in->prior ? m->in->prior->token : NULL) : NULL);
		if (k == UNDO_PREVIOUS) {
			json_t *changed = json_array(), *c;
			size_t i;

			json_array_foreach(m->in->changes, i, c)
				json_array_append(changed, json_object_get(c, "attribute"));
			args = json_pack("[s?,O,O,o]", id, m->applied, m->in->current, changed);
		} else {
			json_t *payload = json_pack("{s:s?}", "id", id);

			rc = m->in->schema->remote ? cairn_store_intent_add(cairn_sched_store(s), e->opts.env, g->rev,
				m->in->address, m->in->type, "delete", m->token, payload, &g->intent_id) : 0;
			json_decref(payload);
			t->held = g->intent_id > 0;
			args = json_pack("[s?,O]", id, m->applied);
		}
		if (!rc)
			rc = cairn_engine_task_host(e, t, &g->host, ctx, m->in->type, m->in->address, m->applied);
		if (!rc)
			rc = cairn_sched_start_op(s, t, m->in->type, k == UNDO_PREVIOUS ? "update" : "delete", ctx, args);
		free(id);
		json_decref(ctx);
		json_decref(args);
		if (rc)
			return fail_from_error(g, t, "cannot start the rollback");
		t->phase = k == UNDO_PREVIOUS ? 40 : 30;
		return CAIRN_STEP_WAIT;
	}
	return gate_fail(s, t, g);
}

/* ---------- building the task graph ---------- */

typedef struct plan_run {
	cairn_engine *e;
	job *jobs;
	cairn_task *tasks;
	size_t n;
	json_t *apply_of;   /* address -> task index of its apply/create */
	json_t *delete_of;  /* state address -> task index of its deletion */
	json_t *gate_of;    /* address -> task index of the gate that checks it */
} plan_run;

static size_t add_job(plan_run *p, job_kind kind, cairn_inst *in, int64_t rev)
{
	size_t k = p->n++;
	job *j = &p->jobs[k];

	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->e = p->e;
	j->in = in;
	j->rev = rev;
	j->task = &p->tasks[k];
	p->tasks[k].ud = j;
	p->tasks[k].label = j->label;
	p->tasks[k].timeouts = in->res != NO_RES ? p->e->stack->resources[in->res].timeouts : NULL;
	snprintf(j->label, sizeof(j->label), "%s", in->address);
	switch (kind) {
	case JOB_APPLY: p->tasks[k].step = apply_step; break;
	case JOB_DELETE: p->tasks[k].step = delete_step; break;
	case JOB_GATE: p->tasks[k].step = gate_step; break;
	default: p->tasks[k].step = forget_step; break;
	}
	return k;
}

/* The gates of resource r's changed instances (see the top of this file):
 * one per instance, or one per batch of a rollout (rollout.batch instances,
 * or that percentage of the resource's instances, at least one), in the
 * order of the instances, each batch after the gate of the one before. */
static int add_gates(plan_run *p, size_t r, int64_t rev)
{
	cairn_engine *e = p->e;
	const cairn_res_cfg *res = &e->stack->resources[r];
	bool rollout = res->rollout_batch > 0 || res->rollout_percent > 0;
	size_t i, total = 0, batch, nb = 0, k = 0;
	job *prev = NULL, *g = NULL;

	for (i = 0; i < e->ninsts; i++)
		if (e->insts[i].res == r)
			total++;
	batch = res->rollout_batch > 0 ? (size_t)res->rollout_batch :
		rollout ? (size_t)ceil(res->rollout_percent * (double)total / 100.0) : 1;
	if (batch < 1)
		batch = 1;
	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		json_t *a = json_object_get(p->apply_of, in->address);
		job *m;

		if (in->res != r || !a || (in->action != CAIRN_ACT_CREATE && in->action != CAIRN_ACT_UPDATE &&
					   in->action != CAIRN_ACT_REPLACE))
			continue;
		m = &p->jobs[json_integer_value(a)];
		if (!g || g->nmembers == batch) {
			if (g && rollout)
				prev = g;
			k = add_job(p, JOB_GATE, in, rev);
			g = &p->jobs[k];
			g->undo_all = rollout;
			/* its batch is undone when one of its operations fails, too */
			p->tasks[k].after_failures = rollout;
			if (!(g->members = calloc(batch, sizeof(job *))))
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			nb++;
			if (rollout)
				snprintf(g->label, sizeof(g->label), "%s: batch %zu", res->name, nb);
			else
				snprintf(g->label, sizeof(g->label), "%s: checks", in->address);
		}
		g->members[g->nmembers++] = m;
		m->partner = prev;
		json_object_set_new(p->gate_of, in->address, json_integer((json_int_t)k));
	}
	return 0;
}

static int link_tasks(plan_run *p, cairn_sched *s)
{
	cairn_engine *e = p->e;
	size_t k, i;
	int rc;

	for (k = 0; k < p->n; k++) {
		job *j = &p->jobs[k];
		cairn_inst *in = j->in;

		if (j->kind == JOB_APPLY) {
			json_t *d;

			for (i = 0; i < in->ndeps; i++) {
				json_t *x = json_object_get(p->apply_of, e->insts[in->deps[i]].address);
				json_t *g = json_object_get(p->gate_of, e->insts[in->deps[i]].address);

				if (x && (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(x))) != 0)
					return rc;
				/* a dependent switches to an object once its checks passed */
				if (g && (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(g))) != 0)
					return rc;
			}
			/* a rollout's batch starts when the one before passed its checks */
			if (j->partner && (rc = cairn_sched_depend(s, k, (size_t)(j->partner - p->jobs))) != 0)
				return rc;
			/* a non-CBD replacement creates after its old object is gone */
			if (in->action == CAIRN_ACT_REPLACE && !in->cbd &&
			    (d = json_object_get(p->delete_of, in->address)) != NULL &&
			    (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(d))) != 0)
				return rc;
		} else if (j->kind == JOB_GATE) {
			for (i = 0; i < j->nmembers; i++)
				if ((rc = cairn_sched_depend(s, k, (size_t)(j->members[i] - p->jobs))) != 0)
					return rc;
		} else if (j->kind == JOB_DELETE) {
			/* whatever depended on an object is deleted before it */
			json_t *deps = in->prior ? in->prior->deps : NULL, *x;

			json_array_foreach(deps, i, x) {
				json_t *d = json_object_get(p->delete_of, json_string_value(x));

				if (d && (size_t)json_integer_value(d) != k &&
				    (rc = cairn_sched_depend(s, (size_t)json_integer_value(d), k)) != 0)
					return rc;
			}
			/* a replacement that deletes first waits for the checks of what
			 * it depends on: a failed check leaves it untouched (not when
			 * that one deletes first too: its deletion waits for this one) */
			if (in->action == CAIRN_ACT_REPLACE && !in->cbd)
				for (i = 0; i < in->ndeps; i++) {
					const cairn_inst *d = &e->insts[in->deps[i]];
					json_t *g = d->action == CAIRN_ACT_REPLACE && !d->cbd ? NULL :
						    json_object_get(p->gate_of, d->address);

					if (g && (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(g))) != 0)
						return rc;
				}
			/* CBD: the old object goes after the new one and its dependents */
			if (in->action == CAIRN_ACT_REPLACE && in->cbd) {
				json_t *a = json_object_get(p->apply_of, in->address);
				json_t *g = json_object_get(p->gate_of, in->address);
				size_t q;

				if (a && (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(a))) != 0)
					return rc;
				/* blue-green: the old object stays until the new one passed its checks */
				if (g && (rc = cairn_sched_depend(s, k, (size_t)json_integer_value(g))) != 0)
					return rc;
				for (q = 0; q < p->n; q++) {
					job *o = &p->jobs[q];

					if (o->kind != JOB_APPLY)
						continue;
					for (i = 0; i < o->in->ndeps; i++)
						if (&e->insts[o->in->deps[i]] == in && (rc = cairn_sched_depend(s, k, q)) != 0)
							return rc;
				}
			}
		}
	}
	return 0;
}

/* The task's move, to opts.on_event. */
static void emit_event(job *j, cairn_task *t, cairn_task_state to)
{
	cairn_engine *e = j->e;
	cairn_event ev = { 0 };
	char *m = NULL;

	if (!e->opts.on_event)
		return;
	if (to == CAIRN_TASK_RUNNING)
		ev.kind = CAIRN_EV_START;
	else if (to == CAIRN_TASK_DONE)
		ev.kind = CAIRN_EV_DONE;
	else if (to == CAIRN_TASK_FAILED)
		ev.kind = CAIRN_EV_FAILED;
	else
		return;
	ev.address = j->in->address;
	ev.label = t->label;
	ev.type = j->in->type;
	ev.action = j->kind == JOB_DELETE ? "delete" : j->kind == JOB_FORGET ? "forget" : cairn_action_name(j->in->action);
	if (to == CAIRN_TASK_FAILED) {
		m = cairn_engine_clean(e, t->error ? t->error : "error");
		ev.message = m ? m : "(error text withheld)";
	}
	e->opts.on_event(e->opts.event_ud, &ev);
	free(m);
}

static void progress(void *ud, cairn_task *t, cairn_task_state from, cairn_task_state to)
{
	job *j = t->ud;
	cairn_engine *e = j->e;
	const char *verb = NULL;

	if (j->kind == JOB_APPLY && j->in->action == CAIRN_ACT_NOOP)
		return;
	if (j->kind != JOB_GATE)
		emit_event(j, t, to);
	if (!e->opts.log)
		return;
	if (j->kind == JOB_GATE && (to == CAIRN_TASK_RUNNING || to == CAIRN_TASK_DONE)) {
		/* a rollout without checks: the batch is done */
		bool any = e->stack->resources[j->in->res].nchecks > 0;

		if (to == CAIRN_TASK_DONE || (any && !t->deps_failed))
			fprintf(e->opts.log, "%s: %s\n", t->label, to == CAIRN_TASK_RUNNING ? "running health checks..." :
				any ? "health checks passed" : "batch complete");
	} else if (to == CAIRN_TASK_RUNNING) {
		if (j->kind == JOB_DELETE)
			verb = "destroying...";
		else if (j->kind == JOB_FORGET)
			verb = "forgetting (gone)...";
		else
			verb = j->in->action == CAIRN_ACT_UPDATE ? "modifying..." : "creating...";
		fprintf(e->opts.log, "%s: %s\n", t->label, verb);
	} else if (to == CAIRN_TASK_DONE) {
		fprintf(e->opts.log, "%s: %s\n", t->label, j->kind == JOB_DELETE ? "destruction complete" :
			j->kind == JOB_FORGET ? "forgotten" :
			j->in->action == CAIRN_ACT_UPDATE ? "modifications complete" : "creation complete");
	} else if (to == CAIRN_TASK_FAILED) {
		/* a module's error text: secrets out, control characters escaped */
		char *m = cairn_engine_clean(e, t->error ? t->error : "error");

		fprintf(e->opts.log, "%s: failed: %s\n", t->label, m ? m : "(error text withheld)");
		free(m);
	}
	(void)from;
}

typedef struct idle_ctx {
	cairn_engine *e;
	double next_beat, every;
	int (*beat)(void *);
	char lost[1024];        /* why the lock was lost, if it was */
} idle_ctx;

static int idle_check(void *ud)
{
	idle_ctx *ic = ud;

	if (ic->e->opts.on_event) {
		cairn_event tick = { .kind = CAIRN_EV_TICK };

		ic->e->opts.on_event(ic->e->opts.event_ud, &tick);
	}

	if (ic->beat && cairn_now() >= ic->next_beat) {
		ic->next_beat = cairn_now() + ic->every;
		if (ic->beat(ic->e) != 0) {
			const cairn_error *err = cairn_error_last();

			snprintf(ic->lost, sizeof(ic->lost), "lost the lock of environment '%s' (%.800s); stopped "
				 "before writing anything else", ic->e->opts.env, err ? err->message : "taken by another run");
			return cairn_error_set(CAIRN_ELOCKED, "%s", ic->lost);
		}
	}
	return 0;
}

static int run_tasks(cairn_engine *e, cairn_task *tasks, size_t n, plan_run *p, idle_ctx *ic)
{
	cairn_sched *s = NULL;
	int rc;

	if ((rc = cairn_sched_new(&s, e->loop, e->lua, e->store, tasks, n, e->opts.parallelism)) != 0)
		return rc;
	if (p && (rc = link_tasks(p, s)) != 0)
		goto cleanup;
	cairn_sched_set_log(s, progress, e);
	cairn_sched_set_idle(s, idle_check, ic, 0.2);
	rc = cairn_engine_run_sched(e, s);
cleanup:
	cairn_sched_free(s);
	return rc;
}

/* ---------- recovery of interrupted runs ---------- */

/* The resource name of an address: name, name[3], name["key"]. malloc'd. */
static char *intent_name(const char *address)
{
	const char *br = strchr(address, '[');

	return br ? strndup(address, (size_t)(br - address)) : strdup(address);
}

static cairn_step_rc recover_step(cairn_sched *s, cairn_task *t)
{
	job *j = t->ud;
	cairn_engine *e = j->e;
	cairn_intent *it = j->intent;
	int rc;

	if (t->phase == 0) {
		const cairn_schema *sch;
		json_t *ctx, *args;

		if ((rc = cairn_lua_schema(e->lua, it->type, &sch)) != 0)
			return fail_from_error(j, t, "cannot recover");
		if (!strcmp(it->op, "create") && !(sch->ops & CAIRN_OPS_RECOVER))
			return CAIRN_STEP_DONE; /* its token is reused by the next create */
		ctx = cairn_engine_op_ctx(e, it->address, it->token);
		if (!strcmp(it->op, "create")) {
			char *nm = intent_name(it->address);
			json_t *names = cairn_engine_sensitive_names(e, sch, nm ? nm : it->address);

			/* the props an interrupted create sent: their secrets stay secret */
			cairn_engine_add_secrets(e, json_object_get(it->payload, "props"), names);
			json_decref(names);
			free(nm);
			args = json_pack("[s?,O]", it->token, json_object_get(it->payload, "props") ?
				json_object_get(it->payload, "props") : json_null());
			rc = cairn_sched_start_op(s, t, it->type, "recover", ctx, args);
		} else {
			cairn_state_res *row = NULL;
			size_t i;

			for (i = 0; i < e->nstate; i++)
				if (!strcmp(e->state[i].address, it->address))
					row = &e->state[i];
			if (!row) {
				json_decref(ctx);
				cairn_store_intent_clear(cairn_sched_store(s), it->id);
				return CAIRN_STEP_DONE;
			}
			args = json_pack("[s?,O]", row->id, cairn_state_res_attrs(row));
			rc = cairn_engine_task_host(e, t, &j->host, ctx, it->type, row->address, cairn_state_res_attrs(row));
			if (!rc)
				rc = cairn_sched_start_op(s, t, it->type, "read", ctx, args);
		}
		json_decref(ctx);
		json_decref(args);
		if (rc)
			return fail_from_error(j, t, "cannot recover");
		t->phase = 1;
		return CAIRN_STEP_WAIT;
	}
	if (t->op_failed)
		return CAIRN_STEP_FAILED;
	if (!strcmp(it->op, "create")) {
		const cairn_schema *sch;
		cairn_state_res r = { 0 };
		json_t *attrs;

		if (!json_is_object(t->op_result)) {
			/* the module looked and nothing was made */
			if (cairn_store_intent_clear(cairn_sched_store(s), it->id) != 0)
				return fail_from_error(j, t, "cannot record recovery");
			return CAIRN_STEP_DONE;
		}
		cairn_lua_schema(e->lua, it->type, &sch);
		attrs = merge_attrs(json_object_get(it->payload, "props"), t->op_result);
		r.address = it->address;
		{
			char *nm = intent_name(it->address);

			r.name = nm;
			r.type = it->type;
			r.id = id_of(sch, attrs);
			r.attrs = attrs;
			/* the schema's sensitive attributes and the properties whose
			 * expressions read a sensitive value: sealed in the state */
			r.sensitive = cairn_engine_sensitive_names(e, sch, nm ? nm : it->address);
			r.token = it->token;
			r.deps = json_array();
			cairn_engine_add_secrets(e, attrs, r.sensitive);
			rc = cairn_store_put(cairn_sched_store(s), e->opts.env, j->rev, "recover", &r, it->id);
			free(nm);
			free(r.id);
			json_decref(r.sensitive);
			json_decref(r.deps);
		}
		json_decref(attrs);
		if (rc)
			return fail_from_error(j, t, "cannot record recovered object");
		if (e->opts.log)
			fprintf(e->opts.log, "%s: recovered the object an interrupted run created\n", it->address);
		return CAIRN_STEP_DONE;
	}
	/* an interrupted delete: gone means gone */
	if (!json_is_object(t->op_result))
		rc = cairn_store_remove(cairn_sched_store(s), e->opts.env, j->rev, "delete", it->address, it->id);
	else
		rc = cairn_store_intent_clear(cairn_sched_store(s), it->id);
	if (rc && rc != CAIRN_ENOTFOUND)
		return fail_from_error(j, t, "cannot record recovery");
	return CAIRN_STEP_DONE;
}

int cairn_engine_recover(cairn_engine *e, int64_t rev)
{
	job *jobs;
	cairn_task *tasks;
	idle_ctx ic = { e, 0, 0, NULL, "" };
	bool own_rev = false;
	size_t i;
	int rc;

	if (!e->nintents)
		return 0;
	if (rev <= 0) {
		if ((rc = cairn_store_rev_begin(e->store, e->opts.env, "recover", &rev)) != 0)
			return rc;
		own_rev = true;
	}
	jobs = calloc(e->nintents, sizeof(*jobs));
	tasks = calloc(e->nintents, sizeof(*tasks));
	if (!jobs || !tasks) {
		free(jobs);
		free(tasks);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (i = 0; i < e->nintents; i++) {
		jobs[i].e = e;
		jobs[i].intent = &e->intents[i];
		jobs[i].rev = rev;
		jobs[i].kind = JOB_RECOVER;
		snprintf(jobs[i].label, sizeof(jobs[i].label), "%s", e->intents[i].address);
		tasks[i].label = jobs[i].label;
		tasks[i].ud = &jobs[i];
		tasks[i].step = recover_step;
		tasks[i].timeouts = cairn_engine_timeouts(e, e->intents[i].address);
	}
	{
		cairn_sched *s = NULL;

		rc = cairn_sched_new(&s, e->loop, e->lua, e->store, tasks, e->nintents, e->opts.parallelism);
		if (!rc) {
			cairn_sched_set_idle(s, idle_check, &ic, 0.2);
			rc = cairn_engine_run_sched(e, s);
		}
		cairn_sched_free(s);
	}
	if (rc == CAIRN_ERROR && cairn_engine_signal(e))
		rc = cairn_engine_interrupted_error(e);
	else if (rc == CAIRN_ERROR)
		for (i = 0; i < e->nintents; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_clean(e, tasks[i].error ? tasks[i].error : "failed");

				rc = cairn_error_set(CAIRN_EREMOTE, "cannot recover %s: %s", tasks[i].label, m ? m : "(error text withheld)");
				free(m);
				break;
			}
	for (i = 0; i < e->nintents; i++) {
		free(tasks[i].error);
		json_decref(jobs[i].host);
	}
	free(tasks);
	free(jobs);
	if (own_rev)
		cairn_store_rev_finish(e->store, rev, rc ? "failed" : "ok", NULL);
	if (rc)
		return rc;
	return cairn_engine_reload_state(e);
}

/* ---------- apply ---------- */

int cairn_engine_apply(cairn_engine *e, const char *command, json_t **summary)
{
	plan_run p = { e, NULL, NULL, 0, json_object(), json_object(), json_object() };
	idle_ctx ic = { e, 0, 0, NULL, "" };
	json_t *done = json_array(), *failed = json_array(), *skipped = json_array(), *undone = json_array();
	int64_t rev = 0;
	size_t i, max = e->ninsts * 3 + 1;
	int rc, run_rc;
	json_t *checks = NULL;
	const char *gate_error = NULL, *rollout_error = NULL;
	json_t *env_rb = json_array(); /* "CHECK of ADDRESS" of the gates that ask for the environment's rollback */

	p.jobs = calloc(max, sizeof(job));
	p.tasks = calloc(max, sizeof(cairn_task));
	if (!p.jobs || !p.tasks) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* the lease may have run out while the plan was shown and confirmed:
	 * renewed now, or found taken, before anything is written */
	if (cairn_engine_heartbeat_every(e, &ic.every, &ic.beat) && (rc = ic.beat(e)) != 0)
		goto cleanup;
	if ((rc = cairn_store_rev_begin(e->store, e->opts.env, command, &rev)) != 0)
		goto cleanup;
	/* deletions first in the list, so that apply_of / delete_of are complete before linking */
	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		size_t k;

		if (!in->targeted)
			continue;
		if (in->action == CAIRN_ACT_DELETE || (in->action == CAIRN_ACT_REPLACE && in->prior)) {
			k = add_job(&p, JOB_DELETE, in, rev);
			p.jobs[k].del_address = in->address;
			p.jobs[k].del_attrs = in->current ? in->current : cairn_state_res_attrs(in->prior);
			p.jobs[k].del_id = in->prior->id;
			if (in->action == CAIRN_ACT_REPLACE)
				snprintf(p.jobs[k].label, sizeof(p.jobs[k].label), "%s (old)", in->address);
			json_object_set_new(p.delete_of, in->address, json_integer((json_int_t)k));
		}
		if (in->action == CAIRN_ACT_NOOP && in->res == NO_RES && in->gone && in->prior)
			add_job(&p, JOB_FORGET, in, rev);
		if (in->res != NO_RES) {
			json_t *d = json_object_get(p.delete_of, in->address);

			k = add_job(&p, JOB_APPLY, in, rev);
			json_object_set_new(p.apply_of, in->address, json_integer((json_int_t)k));
			if (d && in->action == CAIRN_ACT_REPLACE && in->cbd)
				p.jobs[json_integer_value(d)].partner = &p.jobs[k];
		}
	}
	for (i = 0; i < e->stack->nresources; i++)
		if ((e->stack->resources[i].nchecks || e->stack->resources[i].rollout_batch ||
		     e->stack->resources[i].rollout_percent > 0) && (rc = add_gates(&p, i, rev)) != 0)
			goto cleanup;
	cairn_engine_heartbeat_every(e, &ic.every, &ic.beat);
	ic.next_beat = cairn_now() + ic.every;
	run_rc = run_tasks(e, p.tasks, p.n, &p, &ic);
	/* the deposed object of a CBD replacement is deleted by address */
	for (i = 0; i < p.n; i++) {
		cairn_task *t = &p.tasks[i];
		job *j = &p.jobs[i];

		if (j->kind == JOB_APPLY && j->in->action == CAIRN_ACT_NOOP && t->state == CAIRN_TASK_DONE)
			continue;
		if (j->kind == JOB_GATE) {
			/* not an operation: its checks, and its failure with what it undid */
			if (!checks)
				checks = json_array();
			json_array_extend(checks, j->results);
			if (t->state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_clean(e, t->error ? t->error : "failed");

				json_array_append_new(failed, json_pack("{s:s,s:s,s:b}", "address", t->label, "error",
									m ? m : "failed", "checks", !j->failed));
				if (!gate_error && j->results)
					gate_error = t->error;
				if (j->env_rollback) {
					const json_t *r;
					size_t x;

					json_array_foreach(j->results, x, r)
						if (!json_is_true(json_object_get(r, "ok")))
							json_array_append_new(env_rb, json_sprintf("%s of %s",
								json_string_value(json_object_get(r, "name")),
								json_string_value(json_object_get(r, "address"))));
				}
				if (!rollout_error && j->failed)
					rollout_error = t->error;
				free(m);
			}
			continue;
		}
		if (t->state == CAIRN_TASK_DONE && j->rolled_back)
			json_array_append_new(undone, json_pack("{s:s,s:s}", "address", t->label, "action",
								cairn_action_name(j->in->action)));
		else if (t->state == CAIRN_TASK_DONE)
			json_array_append_new(done, json_pack("{s:s,s:s}", "address", t->label, "action",
				j->kind == JOB_DELETE ? "delete" : j->kind == JOB_FORGET ? "forget" : cairn_action_name(j->in->action)));
		else if (t->state == CAIRN_TASK_FAILED) {
			char *m = cairn_engine_clean(e, t->error ? t->error : "failed");

			json_array_append_new(failed, json_pack("{s:s,s:s}", "address", t->label, "error", m ? m : "failed"));
			free(m);
		} else {
			char *m = cairn_engine_redact(e, t->error ? t->error : "not started");

			json_array_append_new(skipped, json_pack("{s:s,s:s}", "address", t->label, "reason", m));
			free(m);
		}
	}
	if (run_rc && run_rc != CAIRN_ERROR) {
		/* a store or lock failure: report it as is */
		rc = run_rc;
	} else {
		json_t *vals = NULL, *sens = NULL;

		rc = 0;
		if (json_array_size(failed) == 0 && json_array_size(skipped) == 0 &&
		    cairn_engine_outputs(e, &vals, &sens) == 0) {
			cairn_store_outputs_set(e->store, e->opts.env, rev, vals, sens);
			json_decref(e->outputs);
			json_decref(e->output_sensitive);
			e->outputs = vals;
			e->output_sensitive = sens;
		}
	}
	*summary = json_pack("{s:O,s:O,s:O,s:I}", "done", done, "failed", failed, "skipped", skipped,
			     "rev", (json_int_t)rev);
	if (checks) {
		/* the resources' checks, kept with the revision */
		json_t *x;
		bool all = true;

		json_array_foreach(checks, i, x)
			all = all && json_is_true(json_object_get(x, "ok"));
		json_object_set(*summary, "resource_checks", checks);
		json_object_set(*summary, "rolled_back", undone);
		json_object_set_new(*summary, "resource_checks_passed", json_boolean(all && !gate_error));
		if (json_array_size(env_rb))
			json_object_set(*summary, "rollback_environment", env_rb);
	}
	cairn_store_rev_finish(e->store, rev, cairn_engine_signal(e) ? "interrupted" :
		(json_array_size(failed) || json_array_size(skipped) || rc) ? "failed" : "ok", *summary);
	if (!rc && (json_array_size(failed) || json_array_size(skipped)))
		rc = CAIRN_ERROR;
	if (rc == CAIRN_ERROR && ic.lost[0])
		cairn_error_set(CAIRN_ERROR, "%s", ic.lost);
	else if (rc == CAIRN_ERROR && cairn_engine_signal(e))
		cairn_engine_interrupted_error(e);
	else if (rc == CAIRN_ERROR && gate_error) {
		char *m = cairn_engine_clean(e, gate_error);

		cairn_error_set(CAIRN_ERROR, "%s", m ? m : "health checks failed");
		free(m);
	} else if (rc == CAIRN_ERROR && rollout_error) {
		/* a rollout's batch whose operation failed: what was undone */
		char *m = cairn_engine_clean(e, rollout_error);

		cairn_error_set(CAIRN_ERROR, "%s", m ? m : "a rollout's batch failed");
		free(m);
	} else if (rc == CAIRN_ERROR)
		cairn_error_set(CAIRN_ERROR, "%s", "some operations failed");
cleanup:
	for (i = 0; i < p.n; i++) {
		free(p.tasks[i].error);
		free(p.jobs[i].token);
		free(p.jobs[i].deposed);
		json_decref(p.jobs[i].host);
		json_decref(p.jobs[i].applied);
		json_decref(p.jobs[i].results);
		cairn_check_run_free(p.jobs[i].checks);
		free(p.jobs[i].members);
		cairn_buf_release(&p.jobs[i].undone);
	}
	json_decref(checks);
	json_decref(undone);
	json_decref(env_rb);
	json_decref(p.gate_of);
	free(p.jobs);
	free(p.tasks);
	json_decref(p.apply_of);
	json_decref(p.delete_of);
	json_decref(done);
	json_decref(failed);
	json_decref(skipped);
	return rc;
}

/* ---------- import ---------- */

static cairn_step_rc import_step(cairn_sched *s, cairn_task *t)
{
	job *j = t->ud;
	cairn_engine *e = j->e;
	cairn_inst *in = j->in;
	int rc;

	if (t->phase == 0) {
		json_t *ctx = cairn_engine_op_ctx(e, in->address, NULL), *args;

		if ((rc = cairn_engine_task_host(e, t, &j->host, ctx, in->type, in->address, in->desired)) != 0) {
			json_decref(ctx);
			return fail_from_error(j, t, "cannot start import");
		}
		if (in->schema->ops & CAIRN_OPS_IMPORT) {
			args = json_pack("[s]", j->del_id);
			rc = cairn_sched_start_op(s, t, in->type, "import", ctx, args);
		} else {
			args = json_pack("[s,{}]", j->del_id);
			rc = cairn_sched_start_op(s, t, in->type, "read", ctx, args);
		}
		json_decref(ctx);
		json_decref(args);
		if (rc)
			return fail_from_error(j, t, "cannot start import");
		t->phase = 1;
		return CAIRN_STEP_WAIT;
	}
	if (t->op_failed)
		return CAIRN_STEP_FAILED;
	if (!json_is_object(t->op_result))
		return cairn_task_fail(t, "cannot import %s: no %s with id '%s' exists", in->address, in->type, j->del_id);
	if (!strncmp(in->type, "host.", 5) && !json_object_get(t->op_result, "host"))
		/* the host it was imported from, as the stack names it */
		json_object_set(t->op_result, "host", json_object_get(in->desired, "host"));
	return finish_write(s, t, j, "import", t->op_result);
}

int cairn_engine_import(cairn_engine *e, const char *address, const char *id)
{
	cairn_inst *in = cairn_engine_inst(e, address);
	cairn_task task = { 0 };
	cairn_sched *s = NULL;
	idle_ctx ic = { e, 0, 0, NULL, "" };
	job j = { 0 };
	int64_t rev = 0;
	int rc;

	if (!in || in->res == NO_RES)
		return cairn_error_set(CAIRN_EINVAL, "cannot import to %s: no such resource instance in the configuration "
			"of environment '%s' (add it to the stack first)", address, e->opts.env);
	if (in->prior)
		return cairn_error_set(CAIRN_EINVAL, "cannot import to %s: it is already managed (id %s); "
			"use 'cairn state rm' first to manage another object there", address, in->prior->id ? in->prior->id : "?");
	if ((rc = cairn_store_rev_begin(e->store, e->opts.env, "import", &rev)) != 0)
		return rc;
	j.kind = JOB_APPLY;
	j.e = e;
	j.in = in;
	j.rev = rev;
	j.del_id = id;
	snprintf(j.label, sizeof(j.label), "%s", address);
	task.label = j.label;
	task.ud = &j;
	task.step = import_step;
	task.timeouts = e->stack->resources[in->res].timeouts;
	cairn_engine_heartbeat_every(e, &ic.every, &ic.beat);
	ic.next_beat = cairn_now() + ic.every;
	if ((rc = cairn_sched_new(&s, e->loop, e->lua, e->store, &task, 1, 1)) == 0) {
		cairn_sched_set_idle(s, idle_check, &ic, 0.2);
		rc = cairn_engine_run_sched(e, s);
	}
	cairn_sched_free(s);
	if (rc == CAIRN_ERROR && cairn_engine_signal(e)) {
		rc = cairn_engine_interrupted_error(e);
	} else if (rc == CAIRN_ERROR) {
		char *m = cairn_engine_clean(e, task.error ? task.error : "import failed");

		rc = cairn_error_set(CAIRN_EREMOTE, "%s", m ? m : "import failed");
		free(m);
	}
	cairn_store_rev_finish(e->store, rev, rc ? "failed" : "ok", NULL);
	free(task.error);
	json_decref(j.host);
	json_decref(j.applied);
	return rc;
}
