/*
 * main.c - the cairn command (placeholder until the CLI lands).
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "cairn: not yet\n");
	return 1;
}
