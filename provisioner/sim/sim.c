#include "sim.h"
#include <stdio.h>
int cairn_sim_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "cairn: sim not built yet\n"); return 1; }
