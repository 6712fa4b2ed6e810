/*
 * json_run.h - a plan, apply or destroy as --json stream objects
 * (json_out.h, docs/json-output.md): the planned changes and the plan's
 * counts, the outputs, the final summary. Values are as the JSON plan has
 * them (engine/plan.c): sensitive ones "(sensitive)", never in clear.
 */
#ifndef CAIRN_CLI_JSON_RUN_H
#define CAIRN_CLI_JSON_RUN_H

#include "engine/engine.h"
#include "json_out.h"

/* One "planned_change" per instance the plan changes, then
 * "change_summary" (operation: "plan", "apply" or "destroy"). */
int cairn_json_run_plan(cairn_jout *j, cairn_engine *e, const char *operation);
/* "outputs": the engine's outputs (after an apply), sensitive ones
 * "(sensitive)". */
int cairn_json_run_outputs(cairn_jout *j, cairn_engine *e);
/* The last line, "summary": the command, its exit code and status, and
 * for an apply (summary: cairn_engine_apply's, or NULL when nothing ran)
 * the counts of what was done, and what failed or was skipped; for a plan
 * (e planned, summary NULL) the planned counts. e may be NULL (the command
 * failed before it had an engine). */
int cairn_json_run_summary(cairn_jout *j, const char *command, cairn_engine *e, json_t *summary, int exit_code);

#endif
