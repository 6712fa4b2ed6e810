/*
 * render.h - what the command line prints of an engine's results: the plan
 * as text (render.c). Only cli/ prints; the engine returns data.
 */
#ifndef CAIRN_CLI_RENDER_H
#define CAIRN_CLI_RENDER_H

#include "engine/engine.h"

/* The engine's plan as text (Terraform's layout), appended to out. color:
 * ANSI colours. 0, or <0 when out of memory. */
int cairn_render_plan(cairn_engine *e, cairn_buf *out, bool color);

/* After `cairn import` of address: a line per write-only attribute (the
 * cloud never returns it) that the configuration sets and does not list in
 * lifecycle.ignore_changes: the next apply will set it. Nothing for others. */
void cairn_render_import_notes(const cairn_engine *e, const char *address, cairn_buf *out);

#endif
