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
	const volatile sig_atomic_t *interrupt;
	bool aborting;          /* interrupted: every running op is abandoned */
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

static void wait_cancel(cairn_sched *s, cairn_task *t);
static void make_runnable(cairn_sched *s, cairn_task *t, json_t *value);

/* -- deadlines -------------------------------------------------------------- */

typedef struct deadline {
	cairn_sched *s;
	size_t task;
	uint64_t timer;
} deadline;

static void deadline_fire(void *ud)
{
	deadline *d = ud;
	cairn_task *t = &d->s->tasks[d->task];

	t->deadline = NULL;
	t->deadline_hit = true;
	make_runnable(d->s, t, NULL); /* resume_one abandons it */
	free(d);
}

static void deadline_disarm(cairn_sched *s, cairn_task *t)
{
	deadline *d = t->deadline;

	if (!d)
		return;
	cairn_loop_timer_cancel(s->loop, d->timer);
	free(d);
	t->deadline = NULL;
}

/* The operation's deadline: in the runtime (running code checks it) and as
 * a loop timer (a wait is ended at it). */
static int deadline_arm(cairn_sched *s, cairn_task *t, const char *type, const char *opname)
{
	cairn_timeout_kind k = cairn_lua_timeout_kind(opname);
	const cairn_schema *sch;
	double secs;
	deadline *d;
	int rc;

	t->deadline_hit = false;
	if ((rc = cairn_lua_schema(s->lua, type, &sch)) != 0)
		return rc;
	secs = t->timeouts && t->timeouts[k] > 0 ? t->timeouts[k] : sch->timeouts[k];
	cairn_lua_op_set_timeout(t->op, secs);
	if (!(d = calloc(1, sizeof(*d))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	d->s = s;
	d->task = t->index;
	if ((rc = cairn_loop_timer(s->loop, secs, deadline_fire, d, &d->timer)) != 0) {
		free(d);
		return rc;
	}
	t->deadline = d;
	return 0;
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

		wait_cancel(s, t);
		deadline_disarm(s, t);
		if (t->native && t->native_cancel)
			t->native_cancel(t->native_ud);
		t->native = false;
		json_decref(t->native_result);
		t->native_result = NULL;
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

void cairn_sched_set_interrupt(cairn_sched *s, const volatile sig_atomic_t *flag)
{
	s->interrupt = flag;
}

void cairn_sched_stop(cairn_sched *s, const char *why)
{
	if (s->stopped)
		return;
	s->stopped = true;
	s->stop_reason = strdup(why ? why : "stopped");
}

const char *cairn_sched_stopped(const cairn_sched *s)
{
	return s->stopped ? (s->stop_reason ? s->stop_reason : "stopped") : NULL;
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
	wait_cancel(s, t);
	deadline_disarm(s, t);
	cairn_lua_op_free(t->op);
	t->op = op;
	t->native = false;
	t->op_abandoned = false;
	if ((rc = deadline_arm(s, t, type, opname)) != 0)
		return rc;
	json_decref(t->resume_value);
	t->resume_value = NULL;
	/* first resume waits for the next tick, after this tick's commit */
	if (!t->in_runnable) {
		s->runnable[s->nrunnable++] = t->index;
		t->in_runnable = true;
	}
	return 0;
}

int cairn_sched_wait_native(cairn_sched *s, cairn_task *t, void (*cancel)(void *ud), void *ud)
{
	wait_cancel(s, t);
	deadline_disarm(s, t);
	cairn_lua_op_free(t->op);
	t->op = NULL;
	t->native = true;
	t->native_cancel = cancel;
	t->native_ud = ud;
	t->op_abandoned = false;
	json_decref(t->resume_value);
	t->resume_value = NULL;
	/* started while the run is being stopped: abandoned at the next turn */
	if (s->aborting)
		make_runnable(s, t, NULL);
	return 0;
}

void cairn_sched_wake(cairn_sched *s, cairn_task *t, json_t *result)
{
	if (!t->native) {
		json_decref(result);
		return;
	}
	make_runnable(s, t, result ? result : json_null());
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

/*
 * What an operation waits for: one sleep, one request, or the requests of
 * cairn.http.request_all, whose answers are collected in order. The task
 * owns it (t->wait) until the last answer makes the task runnable, or until
 * the operation is abandoned (deadline, signal): then the timer and the
 * requests still out are cancelled in the loop, so no callback ever comes
 * for an operation that is gone.
 */
typedef struct wait_part {
	struct op_wait *w;
	size_t index;
	bool out;            /* still in the loop (or the SSH pool) */
	bool ssh;            /* a cairn.ssh request: out in s->ssh, not the loop */
} wait_part;

typedef struct op_wait {
	cairn_sched *s;
	size_t task;
	uint64_t timer;      /* a sleep's timer, or 0 */
	bool all;            /* request_all: the answer is the array */
	size_t remaining;    /* answers still to come (+1 while submitting) */
	json_t *answers;     /* one slot per request */
	size_t nparts;
	wait_part parts[];
} op_wait;

static op_wait *wait_new(cairn_sched *s, cairn_task *t, size_t nparts)
{
	op_wait *w = calloc(1, sizeof(*w) + nparts * sizeof(wait_part));
	size_t i;

	if (!w || !(w->answers = json_array())) {
		free(w);
		return NULL;
	}
	w->s = s;
	w->task = t->index;
	w->nparts = nparts;
	for (i = 0; i < nparts; i++) {
		w->parts[i].w = w;
		w->parts[i].index = i;
		json_array_append_new(w->answers, json_null());
	}
	t->wait = w;
	return w;
}

static void wait_free(op_wait *w)
{
	if (!w)
		return;
	json_decref(w->answers);
	free(w);
}

/* Cancel what is still out and forget the wait (the operation is gone). */
static void wait_cancel(cairn_sched *s, cairn_task *t)
{
	op_wait *w = t->wait;
	size_t i;

	if (!w)
		return;
	if (w->timer)
		cairn_loop_timer_cancel(s->loop, w->timer);
	for (i = 0; i < w->nparts; i++) {
		if (!w->parts[i].out)
			continue;
#ifdef HAVE_LIBSSH2
		if (w->parts[i].ssh && s->ssh) {
			cairn_ssh_cancel(s->ssh, &w->parts[i]);
			continue;
		}
#endif
		cairn_loop_http_cancel(s->loop, &w->parts[i]);
	}
	t->wait = NULL;
	wait_free(w);
}

/* One more answer (or the submission's hold) done: the last one makes the
 * task runnable with the answer (a sleep: null; request_all: the array). */
static void wait_done(op_wait *w)
{
	cairn_sched *s = w->s;
	cairn_task *t = &s->tasks[w->task];
	json_t *value;

	if (--w->remaining > 0)
		return;
	t->wait = NULL;
	if (w->all)
		value = json_incref(w->answers);
	else if (w->nparts)
		value = json_incref(json_array_get(w->answers, 0));
	else
		value = json_null();
	make_runnable(s, t, value);
	wait_free(w);
}

static void wait_put(op_wait *w, size_t index, json_t *answer)
{
	json_array_set_new(w->answers, index, answer ? answer : json_pack("{s:s}", "error", "out of memory"));
	wait_done(w);
}

static void on_http(void *ud, json_t *response)
{
	wait_part *p = ud;

	p->out = false;
	wait_put(p->w, p->index, response);
}

static void on_timer(void *ud)
{
	op_wait *w = ud;

	w->timer = 0;
	wait_done(w);
}

/* Start the requests (a JSON array) of the wait w. */
static void submit_http(cairn_sched *s, op_wait *w, json_t *requests)
{
	size_t i;

	w->remaining = w->nparts + 1; /* held until every request is started */
	for (i = 0; i < w->nparts; i++) {
		const cairn_error *e;

		if (cairn_loop_http(s->loop, json_array_get(requests, i), on_http, &w->parts[i]) == 0) {
			w->parts[i].out = true;
			continue;
		}
		e = cairn_error_last();
		wait_put(w, i, json_pack("{s:s}", "error", e ? e->message : "request failed"));
	}
	wait_done(w); /* the hold */
}

static void skip_dependents(cairn_sched *s, cairn_task *t);

/* A dependency of d, marked after_failures, finished (done, or not): d
 * starts once all did, when one is done; else it is skipped too. */
static void dep_finished(cairn_sched *s, cairn_task *d, const cairn_task *dep, bool done)
{
	if (done)
		d->ndeps_done++;
	else if (!d->deps_failed) {
		d->deps_failed = true;
		free(d->error);
		if (asprintf(&d->error, "dependency %s failed", dep->label) < 0)
			d->error = NULL;
	}
	if (--d->nwaiting != 0 || d->state != CAIRN_TASK_PENDING)
		return;
	if (d->deps_failed && !d->ndeps_done) {
		task_move(s, d, CAIRN_TASK_SKIPPED);
		skip_dependents(s, d);
		return;
	}
	free(d->error); /* it runs: its own failure, if any, says why */
	d->error = NULL;
	task_move(s, d, CAIRN_TASK_READY);
	s->ready[s->nready++] = d->index;
}

static void skip_dependents(cairn_sched *s, cairn_task *t)
{
	size_t i;

	for (i = 0; i < t->ndependents; i++) {
		cairn_task *d = &s->tasks[t->dependents[i]];

		if (d->after_failures && d->state == CAIRN_TASK_PENDING) {
			dep_finished(s, d, t, false);
			continue;
		}
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
		if (!t->op && !t->native) {
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

			if (d->after_failures) {
				dep_finished(s, d, t, true);
				continue;
			}
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
	json_t *one = NULL, *requests = req;
	op_wait *w = NULL;
	int rc = 0;

	if (kind && strcmp(kind, "all") == 0) {
		requests = json_object_get(req, "requests");
		if (!(w = wait_new(s, t, json_array_size(requests))))
			goto oom;
		w->all = true;
		submit_http(s, w, requests);
		return;
	}
	if (kind && strcmp(kind, "http") == 0) {
		if (!(one = json_pack("[O]", req)) || !(w = wait_new(s, t, 1))) {
			json_decref(one);
			goto oom;
		}
		submit_http(s, w, one);
		json_decref(one);
		return;
	}
	if (kind && strcmp(kind, "sleep") == 0) {
		double secs = json_number_value(json_object_get(req, "seconds"));

		if (!(w = wait_new(s, t, 0)))
			goto oom;
		w->remaining = 1;
		rc = cairn_loop_timer(s->loop, secs > 0 ? secs : 0, on_timer, w, &w->timer);
	} else if (kind && strcmp(kind, "ssh") == 0) {
		/* the host is the task's, as the engine chose it: never the module's */
		if (!t->host) {
			rc = cairn_error_set(CAIRN_EINVAL, "%s has no host: cairn.ssh is for resources that name "
					     "a host (host: NAME)", t->label ? t->label : "this resource");
#ifdef HAVE_LIBSSH2
		} else if (s->ssh) {
			if (!(w = wait_new(s, t, 1)))
				goto oom;
			w->remaining = 1;
			rc = cairn_ssh_submit(s->ssh, t->host, req, on_http, &w->parts[0]);
			w->parts[0].out = (rc == 0);
			w->parts[0].ssh = true;
#endif
		} else {
			rc = cairn_error_set(CAIRN_EINVAL, "this cairn was built without SSH (libssh2)");
		}
	} else {
		rc = cairn_error_set(CAIRN_EINVAL, "module yielded an unknown request kind");
	}
	if (rc) {
		const cairn_error *e = cairn_error_last();

		t->wait = NULL;
		wait_free(w);
		make_runnable(s, t, json_pack("{s:s}", "error", e ? e->message : "request failed"));
	}
	return;
oom:
	make_runnable(s, t, json_pack("{s:s}", "error", "out of memory"));
}

/* A native wait ended (woken), or the run is interrupted while it waits. */
static void resume_native(cairn_sched *s, cairn_task *t, json_t *value)
{
	bool abandon = s->aborting && !value;

	t->native = false;
	if (abandon && t->native_cancel)
		t->native_cancel(t->native_ud);
	json_decref(t->native_result);
	t->native_result = abandon ? NULL : value;
	t->op_failed = abandon;
	t->op_abandoned = abandon;
	t->op_result = t->native_result;
	t->op_unchanged = NULL;
	if (abandon) {
		free(t->error);
		t->error = strdup("interrupted");
	}
	after_step(s, t, t->step(s, t));
}

static void resume_one(cairn_sched *s, cairn_task *t)
{
	json_t *value = t->resume_value;
	cairn_op_status st;

	t->resume_value = NULL;
	if (t->native) {
		resume_native(s, t, value);
		return;
	}
	if (s->aborting || t->deadline_hit) {
		/* abandoned where it is: what it waits for is cancelled */
		wait_cancel(s, t);
		st = cairn_lua_op_abort(t->op, s->aborting ? CAIRN_ABORT_INTERRUPT : CAIRN_ABORT_DEADLINE);
	} else {
		st = cairn_lua_op_resume(t->op, value);
	}
	json_decref(value);
	if (st == CAIRN_OP_YIELDED) {
		submit_request(s, t, cairn_lua_op_request(t->op));
		return;
	}
	deadline_disarm(s, t);
	t->op_failed = (st == CAIRN_OP_FAILED);
	t->op_abandoned = t->op_failed && cairn_lua_op_abandoned(t->op);
	t->op_result = t->op_failed ? NULL : cairn_lua_op_result(t->op);
	t->op_unchanged = t->op_failed ? NULL : cairn_lua_op_unchanged(t->op);
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
		if (t->state == CAIRN_TASK_RUNNING && (t->op || t->native)) {
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

/* A signal: start nothing more, and abandon every running operation (its
 * waits cancelled, its intent kept) in this turn. */
static void abort_running(cairn_sched *s)
{
	size_t i;

	s->aborting = true;
	cairn_sched_stop(s, "interrupted");
	for (i = 0; i < s->ntasks; i++) {
		cairn_task *t = &s->tasks[i];

		if (t->state == CAIRN_TASK_RUNNING && (t->op || t->native) && !t->in_runnable)
			make_runnable(s, t, NULL);
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
		if (s->interrupt && *s->interrupt && !s->aborting)
			abort_running(s);
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
