/*
 * main.c - the cairn command.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return cairn_cli_main(argc, argv);
}
