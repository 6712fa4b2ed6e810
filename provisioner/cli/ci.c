/*
 * ci.c - CI mode (ci.h): the environment and the terminals decide whether
 * cairn may colour its output and ask questions.
 */
#include "ci.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cairn_cli_ci(void)
{
	const char *ci = getenv("CI");

	return ci && *ci && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

bool cairn_cli_color(void)
{
	return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !cairn_cli_ci();
}

const char *cairn_cli_no_prompt(void)
{
	if (!isatty(STDIN_FILENO))
		return "there is no terminal to ask";
	if (cairn_cli_ci())
		return "this is a CI run (CI is set), where cairn asks nothing";
	if (!isatty(STDOUT_FILENO))
		return "the output is not a terminal, where cairn asks nothing";
	return NULL;
}
