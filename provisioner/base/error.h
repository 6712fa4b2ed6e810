/*
 * error.h - the error convention of cairn.
 *
 * Every fallible function returns int: 0 on success, a negative CAIRN_E* code
 * on failure. The human-readable detail (message, and where there is one the
 * file:line:col of the user's input) is stored in a thread-local cairn_error
 * set at the point of failure and read by the CLI, which is the only layer
 * that prints. Modelled on libgit2's git_error_set / git_error_last.
 *
 * Folder provisioner/base/: errors (error.h), size-capped buffers (buf.h),
 * the value model (value.h) and reading / writing the files a user names
 * (file.h). Uses nothing of cairn's; everything uses it.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum {
	CAIRN_OK        = 0,
	CAIRN_ERROR     = -1,  /* generic failure */
	CAIRN_ENOMEM    = -2,
	CAIRN_EINVAL    = -3,  /* bad user input: config, expression, flag, value */
	CAIRN_ENOTFOUND = -4,
	CAIRN_ELOCKED   = -5,  /* environment lock held by someone else */
	CAIRN_ESTALE    = -6,  /* saved plan no longer matches state or config */
	CAIRN_ECORRUPT  = -7,  /* corrupt or foreign state database */
	CAIRN_EIO       = -8,  /* file system / OS failure */
	CAIRN_ETIMEOUT  = -9,
	CAIRN_EREMOTE   = -10, /* a cloud API or host answered with an error */
	CAIRN_ELIMIT    = -11, /* a resource limit (memory, instructions, size) hit */
};

/* A position in a user's input file. `file` is borrowed: it points to a path
 * string owned by whoever loaded the file (a cairn_stack, for config). */
typedef struct cairn_pos {
	const char *file;
	int line; /* 1-based; 0 = unknown */
	int col;  /* 1-based; 0 = unknown */
} cairn_pos;

typedef struct cairn_error {
	int code;
	char message[2048];
	char file[512]; /* copied, so the error outlives the config */
	int line, col;
} cairn_error;

/* Set the thread's last error. fmt is printf-style. Returns `code` so that
 * callers can write `return cairn_error_set(CAIRN_EINVAL, "...")`. */
int cairn_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Same, with the position of the offending input (pos may be NULL). */
int cairn_error_set_at(int code, const cairn_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cairn_error_vset_at(int code, const cairn_pos *pos, const char *fmt, va_list ap);
/* Prefix the current message: "prefix: old message". Keeps code and position. */
void cairn_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last error set on this thread, or NULL if none since the last clear. */
const cairn_error *cairn_error_last(void);
void cairn_error_clear(void);
/* Write "file:line:col: message" (or just "message") into buf. */
void cairn_error_format(const cairn_error *e, char *buf, size_t n);

#endif
