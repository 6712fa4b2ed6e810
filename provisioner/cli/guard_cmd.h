/*
 * guard_cmd.h - guardrails on the command line (docs/guardrails.md):
 * policy findings as people read them, `cairn policy test`, `cairn
 * approve`, the approvals an apply needs, what an apply records for a
 * later rollback, and the configuration `cairn rollback` plans again.
 */
#ifndef CAIRN_CLI_GUARD_CMD_H
#define CAIRN_CLI_GUARD_CMD_H

#include "engine/engine.h"
#include "json_out.h"

/* Print the findings (policy.h's) on stdout, after a plan. */
void cairn_cli_print_findings(const json_t *findings);

/* The stack's policies (policy_dir: NULL for STACKDIR/policies) on e's
 * plan, shown as every command shows them: on stdout after the plan
 * (cairn_cli_print_findings), or with jout one "policy_findings" line.
 * *findings (new): what they found, for the revision's record. `what`:
 * NULL for a plan, which only shows them; else the command that applies
 * ("apply", "destroy", "env create"...), which a deny (or a policy that
 * fails) refuses: an error "WHAT refused: ... nothing was changed" and
 * *denied set true, for exit 4 (CAIRN_EXIT_POLICY). One function for
 * plan, apply, destroy, rollback and the env commands, so that none of
 * them skips the policies or shows them differently. */
int cairn_cli_policies(cairn_engine *e, const char *policy_dir, cairn_jout *jout, const char *what, json_t **findings,
		       bool *denied);

/* Below a revision of `state history`: its approval, policy warnings. */
void cairn_cli_print_history_guard(const json_t *summary);

/* `cairn policy test [-C DIR] [TEST...]`; argv[0] is "policy". Returns
 * the exit code. */
int cairn_cli_policy(int argc, char **argv);

/* `cairn approve PLANFILE [--key PATH]`: doc is the plan file's document
 * (borrowed), o the engine options for its stack and environment,
 * key_path the approver's OpenSSH Ed25519 private key (for an environment
 * that lists approvers), or NULL. Returns the exit code. */
int cairn_cli_approve(const cairn_engine_opts *o, const char *path, json_t *doc, const char *key_path);

/* May e's environment be applied from this plan? 0 when it needs no
 * approvals or the saved plan (doc, NULL for none) has enough; else an
 * error saying what is missing. `what`: "apply", "destroy", "rollback". */
int cairn_cli_check_approvals(cairn_engine *e, const json_t *doc, const char *what);

/* After an apply: keep its configuration (sealed) and the policy warnings
 * with its revision (summary's "rev"). */
int cairn_cli_record_apply(cairn_engine *e, const json_t *summary, const json_t *findings);

/* `cairn rollback`: write the configuration recorded for revision `to` of
 * env to a new private directory (under $TMPDIR; or `at`, when not NULL,
 * made with mode 0700 and refused if it exists: a saved rollback plan's).
 * *tmp (to remove with cairn_cli_rollback_cleanup), *stack_file, *vars
 * (new) and *from (the latest revision with a recorded configuration). */
int cairn_cli_rollback_prepare(const char *state_path, const char *env, long to, const char *at, char **tmp,
			       char **stack_file, json_t **vars, long *from);
void cairn_cli_rollback_cleanup(const char *tmp);

/* What the checks after an apply found (cairn_cli_apply_checks). */
typedef struct cairn_cli_checked {
	bool failed;     /* a check failed: exit 6 (CAIRN_EXIT_CHECKS) */
	char *rollback;  /* the failed checks that ask for the environment's
			  * automatic rollback ("api, db"; a resource's check
			  * in a rollout or a blue-green replacement undid
			  * what it could and asks for none), or NULL */
	json_t *results; /* the stack's checks' results (--metrics), or NULL */
} cairn_cli_checked;

/* The checks after an apply (summary: its, with its "rev"), for apply,
 * rollback and env create alike: the resources' checks that ran during it
 * shown (text, or jout's "resource_health_checks" line), then, with
 * stack_checks (the apply went through), the stack's checks run and shown
 * ("health_checks"); both kept with the revision. *out (release with
 * cairn_cli_checked_release) says what failed. 0, or the error of the
 * stack's checks ("health checks failed after revision N: api"). */
int cairn_cli_apply_checks(cairn_engine *e, cairn_jout *jout, const json_t *summary, bool stack_checks,
			   cairn_cli_checked *out);
void cairn_cli_checked_release(cairn_cli_checked *ck);

/* The results of the health checks (engine/checks.h), on stdout. */
void cairn_cli_print_checks(const json_t *results);
/* *out: the newest revision of env before `before` whose checks passed,
 * or 0. */
int cairn_cli_last_passed(const char *state_path, const char *env, long before, long *out);
/* --metrics FILE: the deployment as a Prometheus textfile (docs/guardrails.md). */
int cairn_cli_write_deploy_metrics(const char *path, const char *env, const char *command, double seconds, bool ok,
				   const json_t *summary, const json_t *checks, int rollbacks, bool automatic);

#endif
