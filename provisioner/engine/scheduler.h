/*
 * sched.h - the scheduler: tasks with dependencies, each a small state
 * machine that runs module operations as Lua coroutines in the event loop.
 *
 * A task becomes ready when all its dependencies are done; at most
 * `parallelism` tasks run at once. A task's step function is called when it
 * starts and again each time its current module operation finishes; it
 * either starts another operation (CAIRN_STEP_WAIT), finishes
 * (CAIRN_STEP_DONE) or fails (CAIRN_STEP_FAILED). A failed task's
 * dependents are skipped; independent tasks go on. A task marked
 * after_failures (a rollout's gate, which undoes its batch) is not skipped
 * at once: it waits until all its dependencies finished and runs if one of
 * them is done (with deps_failed set), else it is skipped too.
 *
 * Group commit: store writes made by step functions go into one batch per
 * turn of the loop (cairn_sched_store() opens it). An operation whose step
 * wrote an intent (task->held) first runs after the batch commits, so the
 * intent is durable before the module can touch the cloud; a finished
 * task's dependents start after the commit that records it. Operations
 * that need no intent run at once, so a turn goes on starting and running
 * tasks until everything left waits on the network, a timer or a commit.
 *
 * Each task's moves go through one function with a name table, so a log
 * line shows every transition (curl's multistate()).
 *
 * Deadlines: every operation gets one when it starts (the task's
 * `timeouts` for its kind, else the module's, see lua/runtime.h); a loop
 * timer fires at it and the operation is abandoned at once, even in the
 * middle of a wait: its sleep timer and requests are cancelled in the loop,
 * the step function sees op_failed with op_abandoned set (what it was doing
 * may be half done: its intent stays). After cairn_sched_set_interrupt's
 * flag is set (a signal), nothing new starts and every running operation is
 * abandoned the same way at the next turn of the loop (within a fraction of
 * a second); cairn_sched_run then returns.
 */
#ifndef CAIRN_SCHED_H
#define CAIRN_SCHED_H

#include "loop/loop.h"
#include "lua/runtime.h"
#include "ssh/ssh.h"
#include "state/store.h"

#include <signal.h>

typedef enum {
	CAIRN_TASK_PENDING = 0, CAIRN_TASK_READY, CAIRN_TASK_RUNNING, CAIRN_TASK_COMMITTING,
	CAIRN_TASK_DONE, CAIRN_TASK_FAILED, CAIRN_TASK_SKIPPED,
} cairn_task_state;

typedef enum { CAIRN_STEP_WAIT, CAIRN_STEP_DONE, CAIRN_STEP_FAILED } cairn_step_rc;

typedef struct cairn_sched cairn_sched;
typedef struct cairn_task cairn_task;
typedef cairn_step_rc (*cairn_step_fn)(cairn_sched *s, cairn_task *t);

struct cairn_task {
	const char *label;      /* address, for logs (borrowed) */
	cairn_step_fn step;
	void *ud;
	int phase;              /* the step function's own state */
	cairn_task_state state;
	/* outcome of the last operation, valid inside step after an op */
	bool op_failed;
	json_t *op_result;      /* borrowed until the next op starts */
	const json_t *op_unchanged; /* likewise: what the op's ctx.unchanged held (read
				 * marks, lua/runtime.h), or NULL */
	char *error;            /* the failure message (malloc'd), set on FAILED */
	bool held;              /* set by a step that wrote an intent: the operation it
				 * starts first runs after this turn's commit */
	const json_t *host;     /* the SSH host its cairn.ssh requests go to (set by the
				 * step before it starts an operation; borrowed), or NULL */
	bool op_abandoned;      /* with op_failed: stopped by its deadline or a signal,
				 * not failed by the module: its intent must stay */
	const double *timeouts; /* seconds per cairn_timeout_kind (0: the module's), or
				 * NULL: the stack's per-resource `timeouts` (borrowed) */
	bool after_failures;    /* set before the run: see the top of this file */
	bool deps_failed;       /* with after_failures: a dependency failed or was skipped */
	/* private */
	cairn_lua_op *op;
	void (*native_cancel)(void *ud); /* a native wait (cairn_sched_wait_native) */
	void *native_ud;
	bool native;
	json_t *native_result;
	void *wait;             /* what the op waits for (scheduler.c) */
	void *deadline;         /* its deadline timer (scheduler.c) */
	bool deadline_hit;
	json_t *resume_value;
	size_t *dependents, ndependents, adependents;
	size_t nwaiting;
	size_t index;
	bool in_runnable;
	size_t ndeps_done;      /* after_failures: dependencies that are done */
};

typedef void (*cairn_sched_log_fn)(void *ud, cairn_task *t, cairn_task_state from, cairn_task_state to);

/* store may be NULL (nothing to commit). The tasks array is borrowed and
 * must not move while the scheduler lives. */
int cairn_sched_new(cairn_sched **out, cairn_loop *loop, cairn_lua *lua, cairn_store *store,
		    cairn_task *tasks, size_t ntasks, int parallelism);
void cairn_sched_free(cairn_sched *s);
/* t depends on d (indices). */
int cairn_sched_depend(cairn_sched *s, size_t t, size_t d);
void cairn_sched_set_log(cairn_sched *s, cairn_sched_log_fn fn, void *ud);
/* The SSH sessions that cairn.ssh requests go through (task->host names
 * the host); NULL: such requests fail. */
void cairn_sched_set_ssh(cairn_sched *s, cairn_ssh *ssh);
/* A callback run between ticks, when no batch is open (lock heartbeat). */
void cairn_sched_set_idle(cairn_sched *s, int (*fn)(void *ud), void *ud, double every);

/* Start a module operation for t (called from its step function); the
 * step returns CAIRN_STEP_WAIT right after. */
int cairn_sched_start_op(cairn_sched *s, cairn_task *t, const char *type, const char *op,
			 json_t *ctx, json_t *args);
/* Wait for something the caller runs in the loop itself, not a module
 * operation (a health check's HTTP request, connect or pause: checks.c);
 * the step returns CAIRN_STEP_WAIT right after. The caller ends the wait
 * with cairn_sched_wake, from a loop callback; the step then runs with
 * op_result = result (op_failed false). When the run is interrupted (a
 * signal) first, cancel(ud) is called (it must stop what it started; no
 * wake after it) and the step runs with op_failed and op_abandoned. */
int cairn_sched_wait_native(cairn_sched *s, cairn_task *t, void (*cancel)(void *ud), void *ud);
/* End t's native wait with result (stolen; may be NULL: json null). */
void cairn_sched_wake(cairn_sched *s, cairn_task *t, json_t *result);
/* The store, with this tick's batch open. */
cairn_store *cairn_sched_store(cairn_sched *s);
/* Record a failure message for t; returns CAIRN_STEP_FAILED. */
cairn_step_rc cairn_task_fail(cairn_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* flag (set by a signal handler; borrowed) stops the run when non-zero:
 * see the top of this file. */
void cairn_sched_set_interrupt(cairn_sched *s, const volatile sig_atomic_t *flag);
/* Ask the scheduler to start no new task (interrupt, lost lock). */
void cairn_sched_stop(cairn_sched *s, const char *why);
/* Why the scheduler was stopped, or NULL: for a task that would go on
 * waiting (a health check's next attempt) and should end instead. */
const char *cairn_sched_stopped(const cairn_sched *s);
/* Run until every task is done, failed or skipped. Returns 0 if all are
 * done, CAIRN_ERROR if any failed or was skipped, or a store error. */
int cairn_sched_run(cairn_sched *s);
const char *cairn_task_state_name(cairn_task_state st);

#endif
