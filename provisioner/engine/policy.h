/*
 * policy.h - policies on plans: the Lua files of a stack's policies/
 * folder, run on every plan (docs/guardrails.md).
 *
 * Each policy gets the plan as policies see it (cairn_policy_input: the
 * environment and every planned resource with its action and its whole
 * before and after, sensitive values as "(sensitive)") and returns
 * findings. A policy runs in a sandbox of its own (lua/policy.h); one that
 * fails, exceeds a limit or returns something that is not a list of
 * findings is a deny, never a pass.
 */
#ifndef CAIRN_ENGINE_POLICY_H
#define CAIRN_ENGINE_POLICY_H

#include "engine.h"

/* The policy input from a plan document (cairn_plan_json's, or a saved
 * plan, or a `plan --json` output): {"environment", "stack",
 * "changes": [{address, type, name, action, reason, before, after,
 * after_unknown}]}. New reference. CAIRN_EINVAL if doc is not a plan. */
int cairn_policy_input(const json_t *plan, json_t **out);

/* Run every .lua file of DIR (in name order; a missing DIR has none) on input.
 * *out: array of findings {policy, level: "deny" | "warn", message,
 * address (optional)}, new. `shown`: how DIR is named in messages
 * ("policies"). Fails only when DIR cannot be read. */
int cairn_policy_run_dir(const char *dir, const char *shown, const json_t *input, json_t **out);

/* The stack's policies (STACKDIR/policies, or `dir` when not NULL) on e's
 * plan. */
int cairn_policy_check(cairn_engine *e, const char *dir, json_t **out);

/* How many findings are denies. */
size_t cairn_policy_denies(const json_t *findings);

#endif
