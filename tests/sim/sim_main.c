/*
 * sim_main.c - a tiny executable for the sim tests: `cairn-sim-test ARGS`
 * runs what `cairn sim ARGS` runs, while the real CLI is being written.
 */
#include "provisioner/sim/sim.h"

int main(int argc, char **argv)
{
	argv[0] = "sim";
	return cairn_sim_main(argc, argv);
}
