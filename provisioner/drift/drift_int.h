/*
 * drift_int.h - the inside of a drift run, shared by the files of
 * provisioner/drift/ only (see drift.h).
 *
 * A finding is a JSON object (docs/drift.md): "kind" (changed, deleted,
 * unapplied, unmanaged, parity), "key" (its identity across runs:
 * kind|subject|attribute), "address" (absent for unmanaged objects),
 * "type", "id", "attribute" (absent when it is about the whole resource),
 * the values ("recorded", "actual", "desired", sensitive ones as
 * "(sensitive)"), and "ignored" / "ignore_expired" ({reason, rule,
 * expires}) when a rule matched.
 */
#ifndef CAIRN_DRIFT_INT_H
#define CAIRN_DRIFT_INT_H

#include "drift.h"

/* One environment of a run. */
typedef struct drift_env {
	char *name;
	json_t *result;      /* its object in the document's "environments" */
	json_t *findings;    /* result.findings (borrowed) */
	json_t *resources;   /* address -> {type, config, exists, desired, actual, sensitive}: for parity */
	bool complete;       /* it was read (clean or drift) */
	json_t *marks;       /* read marks its refresh found to keep (engine.h mark_new), or NULL */
} drift_env;

struct cairn_drift_run {
	cairn_drift_opts opts;
	cairn_stack *stack;   /* loaded once for names, environments and ignore rules */
	char *state_path;
	cairn_store *store;   /* writable, for the record; NULL when there is no state and no record */
	drift_env *envs;
	size_t nenvs;
	json_t *doc;
	int64_t now;
	double t0;
	size_t next;          /* the next environment a worker takes (under lock) */
};

#define DRIFT_SENSITIVE "(sensitive)"
#define DRIFT_UNKNOWN "(known after apply)"

/* compare.c */
/* A new finding {kind, key, address?, type, id?, attribute?}. */
json_t *cairn_drift__finding(const char *kind, const char *address, const char *type, const char *id,
			     const char *attribute);
/* The settable attributes of s whose recorded and actual values differ,
 * as "changed" findings (a map attribute key by key: "tags.Owner");
 * attributes in the resource's lifecycle.ignore_changes are added as
 * ignored. sensitive: names whose values are redacted. */
int cairn_drift__changed(json_t *findings, const cairn_state_res *row, const cairn_schema *s,
			 const json_t *actual, const json_t *sensitive, const cairn_res_cfg *cfg);
/* "unapplied" findings from a plan made against the recorded state. */
int cairn_drift__unapplied(json_t *findings, cairn_engine *e);
/* Differences between two values of attribute `name` (a map key by key):
 * calls fn(ud, attribute, a, b) for each; a or b may be NULL (absent). */
void cairn_drift__diff(const char *name, bool is_map, const json_t *a, const json_t *b,
		       void (*fn)(void *ud, const char *attr, const json_t *a, const json_t *b), void *ud);
/* v with unknown values written as "(known after apply)", or "(sensitive)". New reference. */
json_t *cairn_drift__value(const json_t *v, bool sensitive);
/* Replace, in every string of v (keys too), the engine's secrets. */
json_t *cairn_drift__redact(const cairn_engine *e, json_t *v);
bool cairn_drift__name_in(const json_t *names, const char *name);

/* unmanaged.c: list the objects of the stack's types that are tagged as
 * this environment's, or that sit in its managed containers, and add an
 * "unmanaged" finding for each one the state does not hold. In two steps
 * around the refresh: _begin (before it) lists the contents of the
 * containers the state records, keeping the objects for the refresh to
 * take (modules/aws/common.lua); _end (after it, e->refreshed set) does
 * the rest and adds the findings. *seen gets the number of distinct
 * objects listed. _free accepts NULL. */
typedef struct cairn_drift_search cairn_drift_search;
int cairn_drift__unmanaged_begin(cairn_engine *e, cairn_drift_search **out);
int cairn_drift__unmanaged_end(cairn_drift_search *s, json_t *findings, size_t *seen, size_t *listed_managed);
void cairn_drift__unmanaged_free(cairn_drift_search *s);

/* ignore.c: mark the findings the stack's ignore rules hide ("ignored") or
 * would hide but for their expiry ("ignore_expired"). */
void cairn_drift__apply_ignores(const cairn_stack *st, json_t *findings, int64_t now);
/* Does the glob (only * and ? are special) match s? */
bool cairn_drift__glob(const char *pat, const char *s);

/* report.c: the subject of a finding: its address, or "unmanaged TYPE ID". */
void cairn_drift__subject(const json_t *f, cairn_buf *b);

/* parity.c */
int cairn_drift__parity(const cairn_drift_run *r, const drift_env *a, const drift_env *b, json_t **out);

#endif
