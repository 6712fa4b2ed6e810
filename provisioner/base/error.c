/*
 * error.c - thread-local last error (see error.h).
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local cairn_error last_error;
static _Thread_local int have_error;

int cairn_error_vset_at(int code, const cairn_pos *pos, const char *fmt, va_list ap)
{
	cairn_error *e = &last_error;

	e->code = code;
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	e->file[0] = '\0';
	e->line = e->col = 0;
	if (pos && pos->file) {
		snprintf(e->file, sizeof(e->file), "%s", pos->file);
		e->line = pos->line;
		e->col = pos->col;
	}
	have_error = 1;
	return code;
}

int cairn_error_set_at(int code, const cairn_pos *pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cairn_error_vset_at(code, pos, fmt, ap);
	va_end(ap);
	return code;
}

int cairn_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cairn_error_vset_at(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

void cairn_error_prefix(const char *fmt, ...)
{
	char prefix[1024], old[sizeof(last_error.message)];
	va_list ap;

	if (!have_error)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_error.message, sizeof(old));
	snprintf(last_error.message, sizeof(last_error.message), "%.1000s: %.1040s", prefix, old);
}

const cairn_error *cairn_error_last(void)
{
	return have_error ? &last_error : NULL;
}

void cairn_error_clear(void)
{
	have_error = 0;
	memset(&last_error, 0, sizeof(last_error));
}

void cairn_error_format(const cairn_error *e, char *buf, size_t n)
{
	if (!e) {
		snprintf(buf, n, "unknown error");
	} else if (e->file[0] && e->line > 0 && e->col > 0) {
		snprintf(buf, n, "%s:%d:%d: %s", e->file, e->line, e->col, e->message);
	} else if (e->file[0] && e->line > 0) {
		snprintf(buf, n, "%s:%d: %s", e->file, e->line, e->message);
	} else if (e->file[0]) {
		snprintf(buf, n, "%s: %s", e->file, e->message);
	} else {
		snprintf(buf, n, "%s", e->message);
	}
}
