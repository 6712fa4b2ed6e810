/*
 * checks.h - health checks (lang/config.h's checks:): the stack's, run
 * after an apply, and a resource's, run after each batch of its instances
 * during the apply (docs/guardrails.md).
 *
 * Each check's http:, tcp:, ssh: or module: map is evaluated with the
 * applied attributes, then tried until it passes, its retries are used up
 * or its deadline passes, with its interval between attempts. HTTP(S) is
 * a GET (the status, default 200, and optionally a substring of the body);
 * TCP a connect; SSH a command on a host of hosts: (exit 0); module the
 * resource module's status(ctx, id, attrs), in the module sandbox like
 * every module operation.
 *
 * Every check runs inside a scheduler task, in the event loop: its
 * attempts and its pauses are waits of that task (HTTP requests in the
 * loop's curl multi handle, connects and SSH commands as watched sockets,
 * pauses as timers, module calls as module operations), so the checks of
 * several resources run at the same time, and a signal ends them at the
 * next turn of the loop. A task's own HTTP, TCP and SSH checks run at the
 * same time too; its module checks after them, one operation at a time.
 */
#ifndef CAIRN_ENGINE_CHECKS_H
#define CAIRN_ENGINE_CHECKS_H

#include "engine.h"
#include "scheduler.h"

typedef struct cairn_check_run cairn_check_run;

/* An empty run of checks for e. */
int cairn_check_run_new(cairn_check_run **out, cairn_engine *e);
void cairn_check_run_free(cairn_check_run *cr);
/* Add one of the stack's checks. */
int cairn_check_run_add(cairn_check_run *cr, const cairn_check_cfg *c);
/* Add the checks of in's resource for that instance, whose attributes
 * (self, borrowed: incref'd) are what `self.ATTR` reads; count.index /
 * each.* are in's. Each result carries the instance's "address". */
int cairn_check_run_add_res(cairn_check_run *cr, const cairn_inst *in, json_t *self);

/* Drive the run from task t's step function: call it when the run starts
 * and each time the step runs again while the run is not over. It returns
 * CAIRN_STEP_WAIT (return it: the task waits for an attempt or a pause),
 * CAIRN_STEP_DONE (every check has its result: cairn_check_run_results)
 * or CAIRN_STEP_FAILED (t failed: interrupted, or out of memory). While it
 * runs, the run may change t->timeouts (restored when the run is over). */
cairn_step_rc cairn_check_run_step(cairn_check_run *cr, cairn_sched *s, cairn_task *t);
/* [{name, kind, target, ok, attempts, seconds (the last attempt's
 * latency), error (when not ok), address (a resource's), status (a module
 * check's last answer)}] (borrowed), and whether all passed. */
json_t *cairn_check_run_results(const cairn_check_run *cr, bool *passed);

/* Run every check of e's stack, all at the same time, in the event loop.
 * *out: the results as above, in the stack's order, new. *passed: all of
 * them passed. Fails when out of memory, or with the "interrupted by ..."
 * error on a signal (no result then). */
int cairn_checks_run(cairn_engine *e, json_t **out, bool *passed);

/* CAIRN_EINVAL at the check's position when one of the stack's resources
 * has a module check and its module has no status function. */
int cairn_checks_validate(cairn_engine *e);

#endif
