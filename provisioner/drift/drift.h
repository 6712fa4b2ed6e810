/*
 * drift.h - drift detection: what changed in the cloud behind cairn's
 * back, what the configuration has that was never applied, what exists
 * that nothing manages, and how two environments differ where their
 * configuration says they should not (docs/drift.md).
 *
 * Folder provisioner/drift/: one drift run over several environments
 * (drift.c), the comparisons (compare.c), the search for unmanaged objects
 * (unmanaged.c), ignore rules (ignore.c), parity between two environments
 * (parity.c), the run kept as a record (record.c), the reports for
 * machines: JSON, JUnit, Prometheus metrics, HTML (report_*.c), and
 * `apply --refresh-only` (accept.c). May use engine/ and everything below
 * it; only cli/ uses it. It returns data and writes nothing but the state
 * database's drift tables (and, for accept, the resources it is asked to
 * accept).
 *
 * A run reads every environment at once, each in its own thread with its
 * own engine (stack, overlay, Lua runtime, event loop, read-only state
 * handle): an engine owns its event loop, its signer (the environment's
 * credentials) and a scheduler that drives the loop until its tasks are
 * done, so engines cannot share one loop without changes to the engine,
 * the scheduler and the loop's signer; threads need none. Inside each
 * environment the reads are the engine's refresh (batched read_many) plus
 * the modules' `list` calls for unmanaged objects. Nothing takes an
 * environment's lock: an environment whose lock is held by a live run is
 * reported as "applying", not read.
 *
 * The result is one JSON document (the --json report, schema
 * "cairn.drift/1", documented in docs/drift.md); the other reports are
 * made from it.
 */
#ifndef CAIRN_DRIFT_H
#define CAIRN_DRIFT_H

#include "engine/engine.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CAIRN_DRIFT_SCHEMA "cairn.drift/1"

typedef struct cairn_drift_opts {
	const char *dir;         /* stack directory (default ".") */
	const char *stack_file;  /* default DIR/stack.yaml */
	const char *state_file;  /* default STACKDIR/.cairn/state.db */
	json_t *var_overrides;   /* borrowed (copied per environment); may be NULL */
	int parallelism;         /* reads in flight per environment (default 10) */
	FILE *log;               /* the modules' warnings; NULL = quiet */
	bool verbose;
	char **envs;             /* the environments, in report order */
	size_t nenvs;
	bool unmanaged;          /* search for unmanaged objects (list calls) */
	bool record;             /* keep the run in the state database */
	bool parity;             /* keep what cairn_drift_parity compares */
	bool env_memo;           /* take an environment's result from its memo when every answer is the same */
	int64_t now;             /* the run's time, unix seconds (0: now): ignore rules' expiry */
	int envs_at_once;        /* environments read at the same time (0: 8) */
	const char *checked_state; /* this process has just opened (and checked) the
				    * state at this path: its open skips the quick_check */
} cairn_drift_opts;

typedef struct cairn_drift_run cairn_drift_run;

/* The stack's environments (overlays beside it), sorted; free with
 * cairn_env_list_free. */
int cairn_drift_all_envs(const cairn_drift_opts *o, char ***out, size_t *n);

/* Read every environment of o->envs and compare. Returns 0 with *out set
 * when the run could be made, even if some environments could not be read
 * (their entry in the document says "error"); <0 when nothing could be
 * done (the stack does not load, the state database cannot be opened). */
int cairn_drift_run_new(cairn_drift_run **out, const cairn_drift_opts *o);
void cairn_drift_run_free(cairn_drift_run *r);

/* Compare environments a and b of the run (both must have been read) and
 * add the result to the document's "parity" list. */
int cairn_drift_parity(cairn_drift_run *r, const char *a, const char *b);

/* Store each environment's result in the state database (state/drift.h):
 * fills each finding's first_seen and the "resolved" lists. */
int cairn_drift_record(cairn_drift_run *r);

/* The report document (borrowed; lives as long as the run). */
json_t *cairn_drift_doc(const cairn_drift_run *r);

/* 0 nothing found, 2 drift (or parity findings), 1 an environment could
 * not be read. */
int cairn_drift_exit_code(const json_t *doc);

/* apply --refresh-only (accept.c). The changes that accepting the cloud's
 * attributes would record, after cairn_engine_refresh: [{address, type, id,
 * action: "refresh" | "forget", attributes: [{attribute, recorded, actual,
 * sensitive}]}], sensitive values redacted. */
int cairn_drift_accept_plan(cairn_engine *e, json_t **out);
/* Record them in one revision ("apply --refresh-only") under the lock the
 * engine holds (cairn_engine_lock); *rev_out gets the revision. */
int cairn_drift_accept(cairn_engine *e, const json_t *changes, int64_t *rev_out);

/* One line saying what a finding (docs/drift.md) is, for people, appended to b. */
void cairn_drift_describe(const json_t *finding, cairn_buf *b);

/* The reports (docs/drift.md), appended to out. 0, or <0 (out of memory). */
int cairn_drift_report_json(const json_t *doc, cairn_buf *out);
int cairn_drift_report_junit(const json_t *doc, cairn_buf *out);
int cairn_drift_report_metrics(const json_t *doc, cairn_buf *out);
int cairn_drift_report_html(const json_t *doc, cairn_buf *out);

#endif
