/*
 * json_out.c - the --json stream (json_out.h): objects built with jansson,
 * each written compact on its own line and flushed at once, so that a
 * pipeline reading stdout sees every event when it happens.
 */
#include "json_out.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct cairn_jout {
	FILE *f;
};

int cairn_jout_new(cairn_jout **out, FILE *f, const char *command)
{
	cairn_jout *j = calloc(1, sizeof(*j));
	int rc;

	if (!j)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	j->f = f;
	rc = cairn_jout_emit(j, "version", "info", json_pack("{s:s,s:s,s:s}", "cairn", CAIRN_VERSION, "stream",
		CAIRN_JOUT_VERSION, "command", command), "cairn %s", CAIRN_VERSION);
	if (rc) {
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void cairn_jout_free(cairn_jout *j)
{
	free(j);
}

static void timestamp(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;
	char day[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%06ldZ", day, (long)tv.tv_usec);
}

int cairn_jout_emit(cairn_jout *j, const char *type, const char *level, json_t *fields, const char *fmt, ...)
{
	json_t *o = json_object();
	char ts[64], *msg = NULL, *line = NULL;
	va_list ap;
	int rc = 0, n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg = NULL;
	timestamp(ts, sizeof(ts));
	if (!o || !msg || json_object_set_new(o, "@level", json_string(level)) ||
	    json_object_set_new(o, "@message", json_string(msg)) || json_object_set_new(o, "@timestamp", json_string(ts)) ||
	    json_object_set_new(o, "type", json_string(type)) || (fields && json_object_update(o, fields))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot build a JSON line (out of memory, or a message that is not UTF-8)");
		goto cleanup;
	}
	if (!(line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot serialise a JSON line");
		goto cleanup;
	}
	if (fprintf(j->f, "%s\n", line) < 0 || fflush(j->f) != 0)
		rc = cairn_error_set(CAIRN_EIO, "cannot write the JSON stream");
cleanup:
	free(line);
	free(msg);
	json_decref(fields);
	json_decref(o);
	return rc;
}

int cairn_jout_diagnostic(cairn_jout *j, const char *severity, const cairn_error *err, const char *message)
{
	const char *text = message ? message : err ? err->message : "error";
	json_t *d = json_pack("{s:s,s:s}", "severity", severity, "summary", text), *range = NULL;
	char where[600] = "";

	if (d && err && err->file[0]) {
		range = json_pack("{s:s}", "filename", err->file);
		if (err->line > 0)
			json_object_set_new(range, "line", json_integer(err->line));
		if (err->col > 0)
			json_object_set_new(range, "column", json_integer(err->col));
		json_object_set_new(d, "range", range);
		if (err->line > 0 && err->col > 0)
			snprintf(where, sizeof(where), "%s:%d:%d: ", err->file, err->line, err->col);
		else if (err->line > 0)
			snprintf(where, sizeof(where), "%s:%d: ", err->file, err->line);
		else
			snprintf(where, sizeof(where), "%s: ", err->file);
	}
	return cairn_jout_emit(j, "diagnostic", !strcmp(severity, "error") ? "error" : "warn",
			       json_pack("{s:o*}", "diagnostic", d), "%s: %s%s", severity, where, text);
}

void cairn_jout_duration(char *buf, size_t n, double seconds)
{
	long s = seconds < 0 ? 0 : (long)seconds;

	if (s >= 3600)
		snprintf(buf, n, "%ldh%ldm%lds", s / 3600, s / 60 % 60, s % 60);
	else if (s >= 60)
		snprintf(buf, n, "%ldm%lds", s / 60, s % 60);
	else
		snprintf(buf, n, "%lds", s);
}
