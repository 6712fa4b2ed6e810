/*
 * env_cmd.h - `cairn env list|create|extend|destroy|gc` (env_cmd.c,
 * docs/environments.md): the environments of a stack, ephemeral ones
 * (recorded in the state, state/envs.h) and protected ones (the stack's
 * environments: section, lang/config.h).
 */
#ifndef CAIRN_CLI_ENV_CMD_H
#define CAIRN_CLI_ENV_CMD_H

#include "engine/engine.h"

/* argv[0] is "env" (flags already normalised by cli.c). Returns the exit
 * code: 0 success, 1 error, 3 the environment is locked by another run. */
int cairn_cli_env(int argc, char **argv);

/* Is env an ephemeral environment recorded in the state at state_path?
 * (false when there is no state, or on any error reading it) */
bool cairn_cli_env_recorded(const char *state_path, const char *env);

/* Add to names (n of them, malloc'd strings as cairn_env_list makes them)
 * the ephemeral environments recorded in the state at state_path that are
 * not there yet, and sort them (drift --all). No state: nothing added.
 * *checked (if not NULL) is set when the state was opened, and so passed
 * its integrity check. */
int cairn_cli_env_add_ephemeral(const char *state_path, char ***names, size_t *n, bool *checked);

/* A protected environment (lang/config.h) refuses a destroy, and an apply
 * whose plan deletes or replaces something there unless it applies a saved
 * plan (saved). Called on a planned engine; sets the error it returns. */
int cairn_cli_check_protected(const cairn_engine *e, bool destroy, bool saved);

/* plan -e ENV: when ENV is protected and the plan destroys or replaces
 * something, which `apply -e ENV` (or, for a destroy plan, `destroy`) would
 * refuse, set the error that says so (at the stack's position of the
 * protection) and return true; otherwise false, the error untouched. */
bool cairn_cli_protected_warning(const cairn_engine *e, bool destroy);

/* cli.c: the end of an apply or destroy as cairn apply prints it. */
void cairn_cli__print_summary(cairn_engine *e, json_t *summary, bool destroy);

#endif
