/*
 * progress.h - what an apply or destroy says while it runs: the engine's
 * events (engine.h, cairn_event) as human lines on the log (stderr), or as
 * apply_start / apply_progress / apply_complete / apply_errored objects on
 * a --json stream; for an operation still running after the progress
 * interval, one line per interval ("web: still creating... (1m30s
 * elapsed)"). The interval is 30 s, or $CAIRN_PROGRESS_INTERVAL seconds
 * (for tests).
 */
#ifndef CAIRN_CLI_PROGRESS_H
#define CAIRN_CLI_PROGRESS_H

#include "engine/engine.h"
#include "json_out.h"

#define CAIRN_PROGRESS_DEFAULT_INTERVAL 30.0

typedef struct cairn_progress_op cairn_progress_op;

typedef struct cairn_progress {
	cairn_jout *jout;        /* borrowed; NULL: human lines on log */
	FILE *log;               /* borrowed; NULL: no human lines */
	double interval;         /* seconds between progress lines of one operation */
	cairn_progress_op *ops;  /* operations running */
	size_t nops, aops;
} cairn_progress;

/* Set up p for jout or log; reads $CAIRN_PROGRESS_INTERVAL (CAIRN_EINVAL
 * with a message when it is not a number of seconds > 0). */
int cairn_progress_init(cairn_progress *p, cairn_jout *jout, FILE *log);
void cairn_progress_release(cairn_progress *p);
/* The engine's callback (opts.on_event, with event_ud = p). */
void cairn_progress_event(void *ud, const cairn_event *ev);

#endif
