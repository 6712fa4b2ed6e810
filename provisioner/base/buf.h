/*
 * buf.h - the one growable byte buffer, with a size cap.
 *
 * Everything that comes from outside (HTTP bodies, SSH output, files) is read
 * into a cairn_buf whose `max` bounds how large it may grow, so that a hostile
 * peer cannot exhaust memory. Modelled on curl's Curl_dyn_init(s, toobig) and
 * git's strbuf. The contents are always NUL-terminated once anything has been
 * added (ptr may be NULL while len == 0).
 */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct cairn_buf {
	char *ptr;
	size_t len;
	size_t alloc;
	size_t max; /* largest len allowed; 0 means the default (64 MiB) */
} cairn_buf;

#define CAIRN_BUF_INIT { NULL, 0, 0, 0 }
#define CAIRN_BUF_DEFAULT_MAX ((size_t)64 << 20)

void cairn_buf_init(cairn_buf *b, size_t max);
/* Frees the contents; the struct may be reused after cairn_buf_init. */
void cairn_buf_release(cairn_buf *b);
void cairn_buf_clear(cairn_buf *b); /* len = 0, keeps memory */
/* Append; CAIRN_ELIMIT (with an error set) past max, CAIRN_ENOMEM on OOM. */
int cairn_buf_put(cairn_buf *b, const void *data, size_t n);
int cairn_buf_puts(cairn_buf *b, const char *s);
int cairn_buf_putc(cairn_buf *b, char c);
int cairn_buf_printf(cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap);
/* Hand the contents over to the caller (malloc'd, NUL-terminated, never NULL
 * on success); the buffer is left empty. */
char *cairn_buf_detach(cairn_buf *b);
/* The contents as a C string ("" when empty). Borrowed. */
const char *cairn_buf_cstr(const cairn_buf *b);

/* Read a whole regular file into b (bounded by b->max): cairn_file_read
 * (file.h) with no label; a FIFO, device or directory is refused without
 * blocking. Sets an error naming path. */
int cairn_buf_read_file(cairn_buf *b, const char *path);

/* Append v as the inside of a Prometheus label value (text exposition
 * format): backslash, double quote and newline escaped. NULL: nothing. */
int cairn_buf_put_label(cairn_buf *b, const char *v);

#endif
