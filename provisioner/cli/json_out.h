/*
 * json_out.h - the machine-readable stream of a command (--json): one JSON
 * object per line, flushed line by line, the way CI systems read
 * Terraform's -json. Every line has "@level", "@message", "@timestamp" and
 * "type"; the first is {"type": "version", ...}. docs/json-output.md lists
 * every type and its fields. Any command may write one (plan, apply,
 * destroy; env commands later).
 */
#ifndef CAIRN_CLI_JSON_OUT_H
#define CAIRN_CLI_JSON_OUT_H

#include "base/error.h"

#include <jansson.h>
#include <stdio.h>

/* The version of the stream's format, in the first line. */
#define CAIRN_JOUT_VERSION "1.0"

typedef struct cairn_jout cairn_jout;

/* A stream on f (borrowed; stdout for the commands) for `command` ("plan",
 * "apply", ...); writes the version line. */
int cairn_jout_new(cairn_jout **out, FILE *f, const char *command);
void cairn_jout_free(cairn_jout *j);

/* One line: {"@level": level, "@message": the formatted message,
 * "@timestamp": now (RFC 3339, UTC, microseconds), "type": type} plus the
 * members of fields (stolen; may be NULL). level: "info", "warn", "error".
 * 0, or CAIRN_ENOMEM / CAIRN_EIO. */
int cairn_jout_emit(cairn_jout *j, const char *type, const char *level, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A "diagnostic" line for err: severity "error" or "warning", the message
 * (already redacted by the caller: `message`, or err's own), and where err
 * has a position, "range": {"filename", "line", "column"}. */
int cairn_jout_diagnostic(cairn_jout *j, const char *severity, const cairn_error *err, const char *message);

/* seconds as people read a wait: "45s", "1m30s", "1h2m3s". */
void cairn_jout_duration(char *buf, size_t n, double seconds);

#endif
