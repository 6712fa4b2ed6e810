/*
 * drift_cmd.h - `cairn drift` and `cairn drift history` (drift_cmd.c), and
 * `cairn apply --refresh-only` (refresh_only.c): the commands over
 * provisioner/drift/ and what they print.
 */
#ifndef CAIRN_CLI_DRIFT_CMD_H
#define CAIRN_CLI_DRIFT_CMD_H

/* argv[0] is "drift" (flags already normalised by cli.c). Returns the exit
 * code: 0 no drift, 2 drift, 1 error (docs/drift.md). */
int cairn_cli_drift(int argc, char **argv);

#include "engine/engine.h"

/* apply --refresh-only with the engine options of the apply (for_write).
 * Returns the exit code. */
int cairn_cli_refresh_only(const cairn_engine_opts *o, bool auto_approve, bool color);

#endif
