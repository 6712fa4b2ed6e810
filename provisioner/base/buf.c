/*
 * buf.c - growable capped buffer (see buf.h).
 */
#include "buf.h"
#include "file.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cairn_buf_init(cairn_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = b->alloc = 0;
	b->max = max ? max : CAIRN_BUF_DEFAULT_MAX;
}

void cairn_buf_release(cairn_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->alloc = 0;
}

void cairn_buf_clear(cairn_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

static int grow(cairn_buf *b, size_t extra)
{
	size_t max = b->max ? b->max : CAIRN_BUF_DEFAULT_MAX;
	size_t need, alloc;
	char *p;

	if (extra > max || b->len > max - extra)
		return cairn_error_set(CAIRN_ELIMIT, "data exceeds the limit of %zu bytes", max);
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	alloc = b->alloc ? b->alloc : 64;
	while (alloc < need)
		alloc = alloc * 2;
	p = realloc(b->ptr, alloc);
	if (!p)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	b->ptr = p;
	b->alloc = alloc;
	return 0;
}

int cairn_buf_put(cairn_buf *b, const void *data, size_t n)
{
	int rc = grow(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, data, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int cairn_buf_puts(cairn_buf *b, const char *s)
{
	return cairn_buf_put(b, s, strlen(s));
}

int cairn_buf_putc(cairn_buf *b, char c)
{
	return cairn_buf_put(b, &c, 1);
}

int cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return cairn_error_set(CAIRN_ERROR, "bad format");
	if ((rc = grow(b, (size_t)n)) != 0)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int cairn_buf_printf(cairn_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cairn_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *cairn_buf_detach(cairn_buf *b)
{
	char *p = b->ptr;

	if (!p) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	}
	b->ptr = NULL;
	b->len = b->alloc = 0;
	return p;
}

const char *cairn_buf_cstr(const cairn_buf *b)
{
	return b->ptr ? b->ptr : "";
}

int cairn_buf_read_file(cairn_buf *b, const char *path)
{
	/* one reader for every file cairn reads: regular files only (file.c) */
	return cairn_file_read(b, path, NULL);
}

int cairn_buf_put_label(cairn_buf *b, const char *v)
{
	int rc = 0;

	for (; v && *v && !rc; v++) {
		if (*v == '\n')
			rc = cairn_buf_puts(b, "\\n");
		else if (*v == '\\' || *v == '"')
			rc = cairn_buf_putc(b, '\\') ? -1 : cairn_buf_putc(b, *v);
		else
			rc = cairn_buf_putc(b, *v);
	}
	return rc;
}
