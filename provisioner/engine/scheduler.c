/*
 * sched.c - tasks, Lua coroutines and group commit in one event loop
 * (see sched.h).
 */
#include "scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cairn_sched {
	cairn_loop *loop;
	cairn_lua *lua;
	cairn_store *store;
	cairn_task *tasks;
	size_t ntasks;
	int parallelism;
	int running;            /* tasks in RUNNING */
	size_t finished;        /* DONE + FAILED + SKIPPED */
	size_t *ready, nready, hready;  /* FIFO of ready task indices */
	size_t *runnable, nrunnable;    /* tasks whose op can be resumed */
	size_t *committing, ncommitting;
	bool batch_open;
	int store_rc;
	bool stopped;
	char *stop_reason;
	cairn_sched_log_fn log;
	void *log_ud;
	cairn_ssh *ssh;
	int (*idle)(void *);
	void *idle_ud;
	double idle_every, idle_next;
};

static const char *const state_names[] = {
	"pending", "ready", "running", "committing", "done", "failed", "skipped",
};

const char *cairn_task_state_name(cairn_task_state st)
{
	return state_names[st];
}

/* The one place a task changes state. */
static void task_move(cairn_sched *s, cairn_task *t, cairn_task_state to)
{
	cairn_task_state from = t->state;

	if (from == to)
		return;
	t->state = to;
	if (to == CAIRN_TASK_RUNNING)
		s->running++;
	if (from == CAIRN_TASK_RUNNING)
		s->running--;
	if (to == CAIRN_TASK_DONE || to == CAIRN_TASK_FAILED || to == CAIRN_TASK_SKIPPED)
		s->finished++;
	if (s->log)
		s->log(s->log_ud, t, from, to);
}

int cairn_sched_new(cairn_sched **out, cairn_loop *loop, cairn_lua *lua, cairn_store *store,
		    cairn_task *tasks, size_t ntasks, int parallelism)
{
	cairn_sched *s = calloc(1, sizeof(*s));
	size_t n = ntasks ? ntasks : 1, i;

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->ready = malloc(n * sizeof(size_t));
	s->runnable = malloc(n * sizeof(size_t));
	s->committing = malloc(n * sizeof(size_t));
	if (!s->ready || !s->runnable || !s->committing) {
		cairn_sched_free(s);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	s->loop = loop;
	s->lua = lua;
	s->store = store;
	s->tasks = tasks;
	s->ntasks = ntasks;
	s->parallelism = parallelism > 0 ? parallelism : 10;
	for (i = 0; i < ntasks; i++)
		tasks[i].index = i;
	*out = s;
	return 0;
}

void cairn_sched_free(cairn_sched *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->ntasks; i++) {
		cairn_task *t = &s->tasks[i];

		cairn_lua_op_free(t->op);
		t->op = NULL;
		json_decref(t->resume_value);
		t->resume_value = NULL;
		free(t->dependents);
		t->dependents = NULL;
		t->ndependents = t->adependents = 0;
	}
	if (s->batch_open)
		cairn_store_rollback(s->store);
	free(s->ready);
	free(s->runnable);
	free(s->committing);
	free(s->stop_reason);
	free(s);
}

int cairn_sched_depend(cairn_sched *s, size_t ti, size_t di)
{
	cairn_task *d = &s->tasks[di];

	if (d->ndependents == d->adependents) {
		size_t a = d->adependents ? d->adependents * 2 : 4;
		size_t *p = realloc(d->dependents, a * sizeof(size_t));

		if (!p)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		d->dependents = p;
		d->adependents = a;
	}
	d->dependents[d->ndependents++] = ti;
	s->tasks[ti].nwaiting++;
	return 0;
}

void cairn_sched_set_log(cairn_sched *s, cairn_sched_log_fn fn, void *ud)
{
	s->log = fn;
	s->log_ud = ud;
}

void cairn_sched_set_ssh(cairn_sched *s, cairn_ssh *ssh)
{
	s->ssh = ssh;
}

void cairn_sched_set_idle(cairn_sched *s, int (*fn)(void *), void *ud, double every)
{
	s->idle = fn;
	s->idle_ud = ud;
	s->idle_every = every;
	s->idle_next = cairn_now() + every;
}

void cairn_sched_stop(cairn_sched *s, const char *why)
{
	if (s->stopped)
		return;
	s->stopped = true;
	s->stop_reason = strdup(why ? why : "stopped");
}

cairn_step_rc cairn_task_fail(cairn_task *t, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(t->error);
	t->error = msg;
	return CAIRN_STEP_FAILED;
}

cairn_store *cairn_sched_store(cairn_sched *s)
{
	if (s->store && !s->batch_open) {
		int rc = cairn_store_begin(s->store);

		if (rc) {
			s->store_rc = rc;
			return s->store;
		}
		s->batch_open = true;
	}
	return s->store;
}

int cairn_sched_start_op(cairn_sched *s, cairn_task *t, const char *type, const char *opname,
			 json_t *ctx, json_t *args)
{
	cairn_lua_op *op = NULL;
	int rc = cairn_lua_op_new(&op, s->lua, type, opname, ctx, args);

	if (rc)
		return rc;
	cairn_lua_op_free(t->op);
	t->op = op;
	json_decref(t->resume_value);
	t->resume_value = NULL;
	/* first resume waits for the next tick, after this tick's commit */
	if (!t->in_runnable) {
		s->runnable[s->nrunnable++] = t->index;
		t->in_runnable = true;
	}
	return 0;
}

static void make_runnable(cairn_sched *s, cairn_task *t, json_t *value)
{
	json_decref(t->resume_value);
	t->resume_value = value;
	if (!t->in_runnable) {
		s->runnable[s->nrunnable++] = t->index;
		t->in_runnable = true;
	}
}

typedef struct wake {
	cairn_sched *s;
	size_t task;
} wake;

static void on_http(void *ud, json_t *response)
{
	wake *w = ud;

	make_runnable(w->s, &w->s->tasks[w->task], response);
	free(w);
}

/* cairn.http.request_all: the answers are collected in order; the task runs
 * again when the last one is in. */
typedef struct gather {
	cairn_sched *s;
	size_t task;
	size_t remaining;
	json_t *answers;   /* array, one slot per request */
} gather;

typedef struct gather_part {
	gather *g;
	size_t index;
} gather_part;

static void gather_done(gather *g)
{
	if (--g->remaining == 0) {
		make_runnable(g->s, &g->s->tasks[g->task], g->answers);
		free(g);
	}
}

static void gather_put(gather *g, size_t index, json_t *answer)
{
	json_array_set_new(g->answers, index, answer ? answer : json_pack("{s:s}", "error", "out of memory"));
	gather_done(g);
}

static void on_http_part(void *ud, json_t *response)
{
	gather_part *p = ud;
	gather *g = p->g;
	size_t index = p->index;

	free(p);
	gather_put(g, index, response);
}

static void submit_all(cairn_sched *s, cairn_task *t, json_t *requests)
{
	size_t n = json_array_size(requests), i;
	gather *g = calloc(1, sizeof(*g));

	if (!g || !(g->answers = json_array())) {
		free(g);
		make_runnable(s, t, json_pack("{s:s}", "error", "out of memory"));
		return;
	}
	g->s = s;
	g->task = t->index;
	g->remaining = n + 1; /* held until every request is started */
	for (i = 0; i < n; i++)
		json_array_append_new(g->answers, json_null());
	for (i = 0; i < n; i++) {
		gather_part *p = malloc(sizeof(*p));
		const cairn_error *e;

		if (p) {
			p->g = g;
			p->index = i;
			if (cairn_loop_http(s->loop, json_array_get(requests, i), on_http_part, p) == 0)
				continue;
			free(p);
		}
		e = cairn_error_last();
		gather_put(g, i, json_pack("{s:s}", "error", p && e ? e->message : "request failed"));
	}
	gather_done(g);
}

static void on_timer(void *ud)
{
	wake *w = ud;

	make_runnable(w->s, &w->s->tasks[w->task], json_null());
	free(w);
}

static void skip_dependents(cairn_sched *s, cairn_task *t)
{
	size_t i;

	for (i = 0; i < t->ndependents; i++) {
		cairn_task *d = &s->tasks[t->dependents[i]];

		if (d->state == CAIRN_TASK_PENDING || d->state == CAIRN_TASK_READY) {
			/* a READY one stays in the ready queue: start_ready skips it */
			if (!d->error && asprintf(&d->error, "dependency %s failed", t->label) < 0)
				d->error = NULL;
			task_move(s, d, CAIRN_TASK_SKIPPED);
			skip_dependents(s, d);
		}
	}
}

/* Act on what a step function returned. */
static void after_step(cairn_sched *s, cairn_task *t, cairn_step_rc rc)
{
	switch (rc) {
	case CAIRN_STEP_WAIT:
		if (!t->op) {
			cairn_task_fail(t, "internal error: step waits without an operation");
			task_move(s, t, CAIRN_TASK_FAILED);
			skip_dependents(s, t);
		}
		break;
	case CAIRN_STEP_DONE:
		task_move(s, t, CAIRN_TASK_COMMITTING);
		s->committing[s->ncommitting++] = t->index;
		break;
	case CAIRN_STEP_FAILED:
		if (!t->error)
			cairn_task_fail(t, "failed");
		task_move(s, t, CAIRN_TASK_FAILED);
		skip_dependents(s, t);
		break;
	}
}

/* Commit the batch, then release the dependents of what it recorded. */
static int finalize(cairn_sched *s)
{
	size_t i, j;

	if (s->batch_open) {
		int rc = cairn_store_commit(s->store);

		s->batch_open = false;
		if (rc)
			return rc;
	}
	if (s->store_rc)
		return s->store_rc;
	for (i = 0; i < s->nrunnable; i++)
		s->tasks[s->runnable[i]].held = false;
	for (i = 0; i < s->ncommitting; i++) {
		cairn_task *t = &s->tasks[s->committing[i]];

		task_move(s, t, CAIRN_TASK_DONE);
		for (j = 0; j < t->ndependents; j++) {
			cairn_task *d = &s->tasks[t->dependents[j]];

			if (--d->nwaiting == 0 && d->state == CAIRN_TASK_PENDING) {
				task_move(s, d, CAIRN_TASK_READY);
				s->ready[s->nready++] = d->index;
			}
		}
	}
	s->ncommitting = 0;
	return 0;
}

static void start_ready(cairn_sched *s)
{
	while (s->hready < s->nready && s->running < s->parallelism && !s->stopped) {
		cairn_task *t = &s->tasks[s->ready[s->hready++]];

		if (t->state != CAIRN_TASK_READY)
			continue;
		task_move(s, t, CAIRN_TASK_RUNNING);
		after_step(s, t, t->step(s, t));
	}
}

static void submit_request(cairn_sched *s, cairn_task *t, json_t *req)
{
	const char *kind = json_string_value(json_object_get(req, "kind"));
	wake *w;
	int rc;

	if (kind && strcmp(kind, "all") == 0) {
		submit_all(s, t, json_object_get(req, "requests"));
		return;
	}
	if (!(w = malloc(sizeof(*w)))) {
		make_runnable(s, t, json_pack("{s:s}", "error", "out of memory"));
		return;
	}
	w->s = s;
	w->task = t->index;
	if (kind && strcmp(kind, "sleep") == 0) {
		double secs = json_number_value(json_object_get(req, "seconds"));

		rc = cairn_loop_timer(s->loop, secs > 0 ? secs : 0, on_timer, w, NULL);
	} else if (kind && strcmp(kind, "http") == 0) {
		rc = cairn_loop_http(s->loop, req, on_http, w);
	} else if (kind && strcmp(kind, "ssh") == 0) {
		/* the host is the task's, as the engine chose it: never the module's */
		if (!t->host)
			rc = cairn_error_set(CAIRN_EINVAL, "%s has no host: cairn.ssh is for resources that name "
					     "a host (host: NAME)", t->label ? t->label : "this resource");
#ifdef HAVE_LIBSSH2
		else if (s->ssh)
			rc = cairn_ssh_submit(s->ssh, t->host, req, on_http, w);
#endif
		else
			rc = cairn_error_set(CAIRN_EINVAL, "this cairn was built without SSH (libssh2)");
	} else {
		rc = cairn_error_set(CAIRN_EINVAL, "module yielded an unknown request kind");
	}
	if (rc) {
		const cairn_error *e = cairn_error_last();

		free(w);
		make_runnable(s, t, json_pack("{s:s}", "error", e ? e->message : "request failed"));
	}
}

static void resume_one(cairn_sched *s, cairn_task *t)
{
	json_t *value = t->resume_value;
	cairn_op_status st;

	t->resume_value = NULL;
	st = cairn_lua_op_resume(t->op, value);
	json_decref(value);
	if (st == CAIRN_OP_YIELDED) {
		submit_request(s, t, cairn_lua_op_request(t->op));
		return;
	}
	t->op_failed = (st == CAIRN_OP_FAILED);
	t->op_result = t->op_failed ? NULL : cairn_lua_op_result(t->op);
	if (t->op_failed) {
		const cairn_error *e = cairn_error_last();

		free(t->error);
		t->error = strdup(e ? e->message : "module operation failed");
	}
	after_step(s, t, t->step(s, t));
}

static size_t resume_runnable(cairn_sched *s)
{
	size_t n = s->nrunnable, i, progress = 0;
	size_t *batch = malloc((n ? n : 1) * sizeof(size_t));

	if (!batch)
		return 0;
	memcpy(batch, s->runnable, n * sizeof(size_t));
	s->nrunnable = 0;
	for (i = 0; i < n; i++)
		s->tasks[batch[i]].in_runnable = false;
	for (i = 0; i < n; i++) {
		cairn_task *t = &s->tasks[batch[i]];

		if (t->held) {
			/* its intent is not committed yet: next turn */
			if (!t->in_runnable) {
				s->runnable[s->nrunnable++] = t->index;
				t->in_runnable = true;
			}
			continue;
		}
		if (t->state == CAIRN_TASK_RUNNING && t->op) {
			resume_one(s, t);
			progress++;
			/* a freed slot takes the next ready task at once, and the
			 * requests made so far go out now, not after the others of
			 * this turn have run: their wait overlaps this work */
			start_ready(s);
			cairn_loop_flush(s->loop);
		}
	}
	free(batch);
	return progress;
}

static bool any_unheld_runnable(const cairn_sched *s)
{
	size_t i;

	for (i = 0; i < s->nrunnable; i++)
		if (!s->tasks[s->runnable[i]].held)
			return true;
	return false;
}

static void skip_unstarted(cairn_sched *s)
{
	size_t i;

	for (i = 0; i < s->ntasks; i++) {
		cairn_task *t = &s->tasks[i];

		if (t->state == CAIRN_TASK_PENDING || t->state == CAIRN_TASK_READY) {
			if (!t->error)
				t->error = strdup(s->stop_reason ? s->stop_reason : "not started");
			task_move(s, t, CAIRN_TASK_SKIPPED);
		}
	}
}

int cairn_sched_run(cairn_sched *s)
{
	size_t i;
	int rc = 0, pending = 0;

	for (i = 0; i < s->ntasks; i++)
		if (s->tasks[i].nwaiting == 0 && s->tasks[i].state == CAIRN_TASK_PENDING) {
			task_move(s, &s->tasks[i], CAIRN_TASK_READY);
			s->ready[s->nready++] = i;
		}
	while (s->finished < s->ntasks) {
		/* One commit per turn: the results of the operations that finished
		 * and the intents of the ones that start. An operation first runs
		 * in the turn after its intent's commit; a task's dependents start
		 * in the turn after its result's commit. */
		do {
			resume_runnable(s);
			start_ready(s);
		} while (any_unheld_runnable(s));
		if ((rc = finalize(s)) != 0)
			break;
		if (s->idle && cairn_now() >= s->idle_next) {
			s->idle_next = cairn_now() + s->idle_every;
			if (s->idle(s->idle_ud) != 0) {
				const cairn_error *e = cairn_error_last();

				cairn_sched_stop(s, e ? e->message : "stopped");
			}
		}
		if (s->stopped && s->running == 0 && s->ncommitting == 0)
			skip_unstarted(s);
		if (s->finished >= s->ntasks)
			break;
		if (s->nrunnable == 0 && (s->hready >= s->nready || s->running >= s->parallelism || s->stopped)) {
			double wait = s->idle ? s->idle_every : 1.0;

			if (s->running == 0 && s->hready >= s->nready && !s->stopped) {
				/* nothing runs and nothing is ready: the rest can never start */
				cairn_sched_stop(s, "unreachable task");
				continue;
			}
			if ((rc = cairn_loop_run_once(s->loop, wait, &pending)) != 0)
				break;
		}
	}
	if (rc) {
		if (s->batch_open) {
			cairn_store_rollback(s->store);
			s->batch_open = false;
		}
		return rc;
	}
	for (i = 0; i < s->ntasks; i++)
		if (s->tasks[i].state != CAIRN_TASK_DONE)
			return CAIRN_ERROR;
	return 0;
}
