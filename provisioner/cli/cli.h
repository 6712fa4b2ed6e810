/*
 * cli.h - the cairn command line: argument parsing and the commands.
 * The only layer that prints (errors, plans, progress).
 *
 * Folder provisioner/cli/: main, argument parsing, the commands, and
 * everything people read (render.c: plans). May use every folder below it:
 * engine/, sim/ and what they use. Nothing includes cli/.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

/* Exit codes (documented in the README). */
enum {
	CAIRN_EXIT_OK = 0,
	CAIRN_EXIT_ERROR = 1,
	CAIRN_EXIT_CHANGES = 2,  /* plan --detailed-exitcode: changes present */
	CAIRN_EXIT_LOCKED = 3,   /* the environment is locked by someone else */
	CAIRN_EXIT_POLICY = 4,   /* a policy denied the plan (docs/guardrails.md) */
	CAIRN_EXIT_APPROVAL = 5, /* the environment needs approvals the plan does not have */
	CAIRN_EXIT_CHECKS = 6,   /* health checks failed after the apply (rolled back when possible) */
};

int cairn_cli_main(int argc, char **argv);
/* A whole decimal number in [min, max] (a flag's or a variable's value):
 * 0, or -1 when s is not one. */
int cairn_cli_parse_int(const char *s, long min, long max, long *out);
/* --lock-timeout DUR, one rule for every command that takes it (apply,
 * destroy, rollback, import, state, the env commands): 0 (do not wait) up to 10 years, in
 * ms, s, m, h or d ("500ms", "30s", "1h30m", "1d"). 0 and *out in
 * seconds, or -1 (*out untouched); the caller says, with
 * CAIRN_CLI_LOCK_TIMEOUT_TAKES, what the flag takes. */
int cairn_cli_parse_lock_timeout(const char *s, double *out);
#define CAIRN_CLI_LOCK_TIMEOUT_TAKES "a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d"
/* *out (malloc'd): the state a command uses: `state` (--state) if set, else
 * $CAIRN_STATE_URL, else the `state:` key of the stack file (`stack`, or
 * DIR/stack.yaml; dir NULL is "."), else STACKDIR/.cairn/state.db.
 * 0, or a CAIRN_E* code with the error set (a stack file that does not parse). */
int cairn_cli_state_path(const char *state, const char *stack, const char *dir, char **out);

#endif
