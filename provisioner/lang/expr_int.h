/*
 * expr_int.h - helpers shared by expr.c, funcs.c and config.c, private to
 * the configuration library (not part of the public API in expr.h).
 */
#ifndef CAIRN_EXPR_INT_H
#define CAIRN_EXPR_INT_H

#include "base/buf.h"
#include "expr.h"

/* Append v as a template would show it: strings as-is, integral numbers
 * without ".0", bools as true/false. Null, lists and maps are CAIRN_EINVAL
 * ("cannot interpolate null" / "cannot interpolate a list"). */
int cairn_expr__append_str(cairn_buf *b, const json_t *v);
/* Append a number: integers as integers, integral reals without ".0",
 * others in the shortest form that reads back exactly. */
int cairn_expr__append_number(cairn_buf *b, const json_t *v);

/* Edit distance (for "did you mean" hints), capped at `cap`+1. */
size_t cairn_expr__distance(const char *a, const char *b, size_t cap);
/* The key of obj closest to word (a plausible typo of it), or NULL. */
const char *cairn_expr__closest_key(const json_t *obj, const char *word);
/* Is `cand` a plausible typo of `word`? */
bool cairn_expr__close(const char *word, const char *cand);

/* The argument index (0-based) a function blamed for its last error, or -1.
 * Set by funcs.c, read by the evaluator to point at the argument. */
int cairn_func__error_arg(void);
void cairn_func__clear_error_arg(void);
/* Functions that accept arguments with unknown values nested inside (they
 * only move values around). Others see only fully known arguments. */
bool cairn_func__structural(const char *name);

/* Number of UTF-8 code points in s[0..n). */
size_t cairn_expr__utf8_len(const char *s, size_t n);

#endif
