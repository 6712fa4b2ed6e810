/*
 * ci.h - how cairn behaves when nobody watches: with CI set (CI=true, as
 * every CI system sets it) or when stdout is not a terminal, no colours and
 * no questions: a command that would ask for a confirmation fails and says
 * to pass --auto-approve.
 */
#ifndef CAIRN_CLI_CI_H
#define CAIRN_CLI_CI_H

#include <stdbool.h>

/* Is $CI set to something other than "", "false" or "0"? */
bool cairn_cli_ci(void);
/* Colours on stdout: a terminal, not CI, no $NO_COLOR. */
bool cairn_cli_color(void);
/* Why no question can be asked ("this is a CI run (CI=true)", "there is no
 * terminal to ask", ...), or NULL when one can. A static string. */
const char *cairn_cli_no_prompt(void);

#endif
