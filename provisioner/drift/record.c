/*
 * record.c - a drift run kept in the state database (state/drift.h): one
 * run row per environment, its findings with first seen, last seen and
 * resolved. Parity comparisons are not recorded.
 */
#include "drift_int.h"
#include "state/drift.h"

int cairn_drift_record(cairn_drift_run *r)
{
	size_t i;
	int rc;

	if (!r->store)
		return cairn_error_set(CAIRN_ERROR, "no state database to record the drift run in");
	for (i = 0; i < r->nenvs; i++) {
		drift_env *de = &r->envs[i];
		json_t *res = de->result, *summary = json_object(), *resolved = NULL;
		cairn_drift_run_rec rec;
		int64_t run = 0;
		static const char *const keep[] = { "counts", "coverage", "error", "lock", "pending_operations", NULL };
		const char *const *k;

		for (k = keep; *k; k++)
			if (json_object_get(res, *k))
				json_object_set(summary, *k, json_object_get(res, *k));
		rec.env = de->name;
		rec.started_at = r->now;
		rec.duration_s = json_real_value(json_object_get(res, "duration_s"));
		rec.status = json_string_value(json_object_get(res, "status"));
		rec.summary = summary;
		rec.complete = de->complete;
		rec.marks = de->marks;
		/* an environment that cannot be named has no record */
		if (!cairn_env_name_valid(de->name)) {
			json_decref(summary);
			continue;
		}
		rc = cairn_store_drift_record(r->store, &rec, de->findings, &run, &resolved);
		json_decref(summary);
		if (rc)
			return rc;
		json_object_set_new(res, "run", json_integer(run));
		json_object_set_new(res, "resolved", resolved);
	}
	return 0;
}
