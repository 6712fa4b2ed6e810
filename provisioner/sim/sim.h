/*
 * sim.h - `cairn sim`: a local AWS-compatible cloud (EC2 VPC family, EKS,
 * RDS, ElastiCache) over the real wire protocols. See the files in provisioner/sim/.
 */
#ifndef CAIRN_SIM_H
#define CAIRN_SIM_H

/* Entry point of `cairn sim [options]`; argv[0] is "sim". Returns the
 * process exit code. */
int cairn_sim_main(int argc, char **argv);

#endif
