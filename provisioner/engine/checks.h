/*
 * checks.h - health checks (lang/config.h's checks:): the stack's, run
 * after an apply, and a resource's, run after each batch of its instances
 * during the apply (docs/guardrails.md).
 *
 * Each check's http: or tcp: map is evaluated with the applied
 * attributes, then tried until it passes, its retries are used up or its
 * deadline passes, with its interval between attempts. HTTP(S) through
 * libcurl (a GET: the status, default 200, and optionally a substring of
 * the body); TCP a connect. The checks run one after the other, after the
 * apply's operations: nothing else waits on the event loop then, so they
 * use blocking calls with timeouts instead of the loop.
 */
#ifndef CAIRN_ENGINE_CHECKS_H
#define CAIRN_ENGINE_CHECKS_H

#include "engine.h"

/* Run every check of e's stack. *out: [{name, kind, target, ok, attempts,
 * seconds (the last attempt's latency), error (when not ok)}], new.
 * *passed: all of them passed. Fails only when out of memory. */
int cairn_checks_run(cairn_engine *e, json_t **out, bool *passed);

/* Run the checks of in's resource for that instance, whose attributes
 * (self) are what `self.ATTR` reads; count.index / each.* are in's. *out as
 * above, each result with its "address". These run during an apply (see
 * apply.c): the operations still in flight wait while a check runs. */
int cairn_checks_run_res(cairn_engine *e, const cairn_inst *in, json_t *self, json_t **out, bool *passed);

#endif
