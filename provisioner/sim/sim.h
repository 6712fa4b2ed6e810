/*
 * sim.h - `cairn sim`: a local AWS-compatible cloud (EC2 VPC family, EKS,
 * RDS, ElastiCache) over the real wire protocols. See the files in provisioner/sim/.
 *
 * Folder provisioner/sim/: a program of its own inside cairn: server,
 * SigV4 check, its store, one file per service. May use base/ only; only
 * cli/ calls it (cairn_sim_main).
 */
#ifndef CAIRN_SIM_H
#define CAIRN_SIM_H

/* Entry point of `cairn sim [options]`; argv[0] is "sim". Returns the
 * process exit code. */
int cairn_sim_main(int argc, char **argv);

#endif
