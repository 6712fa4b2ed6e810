/*
 * funcs.c - the function library of the expression language.
 *
 * Each function checks its own arity and argument types and reports errors
 * without a position ("join(): argument 2 must be a list, got string"); it
 * may blame one argument (set_arg) so that the evaluator points at it.
 * Functions that would make plans non-deterministic (uuid, timestamp) are
 * known but refuse to run. Hashes and base64 come from libcrypto.
 */
#include "expr.h"
#include "expr_int.h"
#include "base/file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define FILE_MAX ((size_t)4 << 20)
#define RANGE_MAX 1048576

static _Thread_local int error_arg = -1;

int cairn_func__error_arg(void)
{
	return error_arg;
}

void cairn_func__clear_error_arg(void)
{
	error_arg = -1;
}

#define FN(name) static int f_##name(json_t **out, json_t *const *a, size_t n, const cairn_eval_ctx *ctx)

static int arity(const char *fn, size_t n, size_t min, size_t max)
{
	if (n >= min && n <= max)
		return 0;
	if (min == max)
		return cairn_error_set(CAIRN_EINVAL, "wrong number of arguments to %s(): expected %zu, got %zu",
			fn, min, n);
	if (max == SIZE_MAX)
		return cairn_error_set(CAIRN_EINVAL, "wrong number of arguments to %s(): expected at least %zu, got %zu",
			fn, min, n);
	return cairn_error_set(CAIRN_EINVAL, "wrong number of arguments to %s(): expected %zu to %zu, got %zu",
		fn, min, max, n);
}

#define ARITY(fn, min, max) do { int rc_ = arity(fn, n, min, max); if (rc_) return rc_; } while (0)

static int bad_arg(const char *fn, size_t i, const char *want, const json_t *got)
{
	error_arg = (int)i;
	return cairn_error_set(CAIRN_EINVAL, "%s(): argument %zu must be %s, got %s", fn, i + 1, want,
		cairn_value_type_name(got));
}

static int arg_err(size_t i, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int arg_err(size_t i, const char *fmt, ...)
{
	va_list ap;

	error_arg = (int)i;
	va_start(ap, fmt);
	cairn_error_vset_at(CAIRN_EINVAL, NULL, fmt, ap);
	va_end(ap);
	return CAIRN_EINVAL;
}

static int ret(json_t **out, json_t *v)
{
	if (!v)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*out = v;
	return 0;
}

static int strict_str(const char **out, const char *fn, json_t *const *a, size_t i)
{
	*out = NULL; /* set on every path: GCC cannot see that a failure returns non-zero */
	if (!json_is_string(a[i]))
		return bad_arg(fn, i, "a string", a[i]);
	*out = json_string_value(a[i]);
	return 0;
}

static int int_arg(json_int_t *out, const char *fn, json_t *const *a, size_t i)
{
	*out = 0;
	if (json_is_integer(a[i])) {
		*out = json_integer_value(a[i]);
		return 0;
	}
	if (json_is_real(a[i])) {
		double d = json_real_value(a[i]);

		if (d == floor(d) && fabs(d) < 9e15) {
			*out = (json_int_t)d;
			return 0;
		}
		return arg_err(i, "%s(): argument %zu must be a whole number", fn, i + 1);
	}
	return bad_arg(fn, i, "a number", a[i]);
}

static int list_arg(const char *fn, json_t *const *a, size_t i)
{
	return json_is_array(a[i]) ? 0 : bad_arg(fn, i, "a list", a[i]);
}

static int map_arg(const char *fn, json_t *const *a, size_t i)
{
	return json_is_object(a[i]) ? 0 : bad_arg(fn, i, "a map", a[i]);
}

static int buf_ret(json_t **out, cairn_buf *b)
{
	json_t *s = json_stringn(cairn_buf_cstr(b), b->len);

	cairn_buf_release(b);
	if (!s)
		return cairn_error_set(CAIRN_EINVAL, "the result is not valid UTF-8");
	*out = s;
	return 0;
}

/* ---- strings --------------------------------------------------------- */

static int fmt_verb(cairn_buf *b, const char *spec, size_t speclen, char verb, json_t *v, size_t argi)
{
	char f[32];

	if (speclen + 4 > sizeof(f)) /* room for "lld" or ".0f" and the NUL */
		return arg_err(argi, "format(): format specification too long");
	memcpy(f, spec, speclen);
	switch (verb) {
	case 'd':
		if (!json_is_number(v) || (json_is_real(v) && json_real_value(v) != floor(json_real_value(v))))
			return arg_err(argi, "format(): %%d needs a whole number, got %s", cairn_value_type_name(v));
		if (json_is_real(v) && fabs(json_real_value(v)) >= 0x1p63) {
			/* a whole number beyond long long: its digits, as %.0f writes them */
			if (memchr(spec, '.', speclen))
				return arg_err(argi, "format(): %%d with a precision cannot format %g", json_real_value(v));
			memcpy(f + speclen, ".0f", 4);
			return cairn_buf_printf(b, f, json_real_value(v));
		}
		memcpy(f + speclen, "lld", 4);
		return cairn_buf_printf(b, f, json_is_integer(v) ? (long long)json_integer_value(v) :
			(long long)json_real_value(v));
	case 'f':
	case 'e':
	case 'g':
		if (!json_is_number(v))
			return arg_err(argi, "format(): %%%c needs a number, got %s", verb, cairn_value_type_name(v));
		f[speclen] = verb;
		f[speclen + 1] = 0;
		return cairn_buf_printf(b, f, json_number_value(v));
	case 'x':
	case 'X':
		if (!json_is_integer(v))
			return arg_err(argi, "format(): %%%c needs an integer, got %s", verb, cairn_value_type_name(v));
		memcpy(f + speclen, verb == 'x' ? "llx" : "llX", 4);
		return cairn_buf_printf(b, f, (long long)json_integer_value(v));
	case 't':
		if (!json_is_boolean(v))
			return arg_err(argi, "format(): %%t needs a bool, got %s", cairn_value_type_name(v));
		/* fall through */
	case 's':
	case 'v':
	case 'q': {
		cairn_buf tmp = CAIRN_BUF_INIT;
		int rc;

		cairn_buf_init(&tmp, 0);
		if (verb == 'q') {
			char *s;

			if (!json_is_string(v)) {
				cairn_buf_release(&tmp);
				return arg_err(argi, "format(): %%q needs a string, got %s", cairn_value_type_name(v));
			}
			s = json_dumps(v, JSON_ENCODE_ANY);
			rc = s ? cairn_buf_puts(&tmp, s) : cairn_error_set(CAIRN_ENOMEM, "out of memory");
			free(s);
		} else if (verb == 'v' && (json_is_array(v) || json_is_object(v) || json_is_null(v))) {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);

			rc = s ? cairn_buf_puts(&tmp, s) : cairn_error_set(CAIRN_ENOMEM, "out of memory");
			free(s);
		} else if ((rc = cairn_expr__append_str(&tmp, v)) != 0) {
			cairn_buf_release(&tmp);
			return arg_err(argi, "format(): %%%c cannot format %s", verb, cairn_value_type_name(v));
		}
		if (!rc) {
			memcpy(f + speclen, "s", 2);
			rc = cairn_buf_printf(b, f, cairn_buf_cstr(&tmp));
		}
		cairn_buf_release(&tmp);
		return rc;
	}
	default:
		return cairn_error_set(CAIRN_EINVAL, "format(): unsupported verb '%%%c'", verb);
	}
}

/* A width or precision of format(): digits, at most FMT_MAX (printf would
 * otherwise allocate whatever a stack asks: "%.999999999f" is a gigabyte). */
#define FMT_MAX 1024

static int fmt_number(const char **f, const char *spec, const char *what)
{
	size_t v = 0;

	for (; **f >= '0' && **f <= '9'; (*f)++) {
		v = v * 10 + (size_t)(**f - '0');
		if (v > FMT_MAX) {
			while (**f >= '0' && **f <= '9')
				(*f)++;
			return arg_err(0, "format(): %s too large in '%.*s' (at most %d)", what,
				       (int)(*f - spec + (**f ? 1 : 0)), spec, FMT_MAX);
		}
	}
	return 0;
}

FN(format)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *f;
	size_t next = 1;
	int rc;

	ARITY("format", 1, SIZE_MAX);
	if ((rc = strict_str(&f, "format", a, 0)) != 0)
		return rc;
	cairn_buf_init(&b, 0);
	while (*f) {
		const char *spec = f;
		char verb;

		if (*f != '%') {
			if ((rc = cairn_buf_putc(&b, *f++)) != 0)
				goto fail;
			continue;
		}
		if (f[1] == '%') {
			if ((rc = cairn_buf_putc(&b, '%')) != 0)
				goto fail;
			f += 2;
			continue;
		}
		f++;
		while (*f && strchr("-+ 0#", *f))
			f++;
		if ((rc = fmt_number(&f, spec, "width")) != 0)
			goto fail;
		if (*f == '.') {
			f++;
			if ((rc = fmt_number(&f, spec, "precision")) != 0)
				goto fail;
		}
		verb = *f;
		if (!verb || !strchr("sdfvqxXtge", verb)) {
			rc = arg_err(0, "format(): invalid format verb at '%.*s'", (int)(f - spec + (verb ? 1 : 0)), spec);
			goto fail;
		}
		if (next >= n) {
			rc = arg_err(0, "format(): not enough arguments for the format (%%%c needs argument %zu)", verb, next + 1);
			goto fail;
		}
		if ((rc = fmt_verb(&b, spec, (size_t)(f - spec), verb, a[next], next)) != 0)
			goto fail;
		next++;
		f++;
	}
	if (next < n) {
		rc = arg_err(next, "format(): too many arguments for the format (%zu used, %zu given)", next - 1, n - 1);
		goto fail;
	}
	return buf_ret(out, &b);
fail:
	cairn_buf_release(&b);
	return rc;
}

/* formatlist(spec, args...): format() once per element of the list
 * arguments (all of one length); other arguments repeat. */
FN(formatlist)
{
	json_t **row = NULL, *list = NULL, *one = NULL;
	size_t len = SIZE_MAX, i, k;
	int rc = 0;

	ARITY("formatlist", 1, SIZE_MAX);
	for (k = 1; k < n; k++) {
		if (!json_is_array(a[k]))
			continue;
		if (len != SIZE_MAX && json_array_size(a[k]) != len)
			return arg_err(k, "formatlist(): the lists must have the same length (%zu and %zu)", len,
				       json_array_size(a[k]));
		len = json_array_size(a[k]);
	}
	if (len == SIZE_MAX)
		len = 1;
	if (!(row = calloc(n, sizeof(*row))) || !(list = json_array())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	row[0] = a[0];
	for (i = 0; i < len && !rc; i++) {
		for (k = 1; k < n; k++)
			row[k] = json_is_array(a[k]) ? json_array_get(a[k], i) : a[k];
		one = NULL;
		if ((rc = f_format(&one, row, n, ctx)) == 0 && json_array_append_new(list, one) != 0)
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (!rc) {
		*out = list;
		list = NULL;
	}
cleanup:
	free(row);
	json_decref(list);
	return rc;
}

FN(join)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *sep;
	size_t i;
	json_t *x;
	int rc;

	ARITY("join", 2, 2);
	if ((rc = strict_str(&sep, "join", a, 0)) != 0 || (rc = list_arg("join", a, 1)) != 0)
		return rc;
	cairn_buf_init(&b, 0);
	json_array_foreach(a[1], i, x) {
		if ((i && (rc = cairn_buf_puts(&b, sep)) != 0))
			goto fail;
		if (json_is_array(x) || json_is_object(x) || json_is_null(x)) {
			rc = arg_err(1, "join(): element %zu must be a string, got %s", i, cairn_value_type_name(x));
			goto fail;
		}
		if ((rc = cairn_expr__append_str(&b, x)) != 0)
			goto fail;
	}
	return buf_ret(out, &b);
fail:
	cairn_buf_release(&b);
	return rc;
}

FN(split)
{
	const char *sep, *s, *p;
	json_t *l;
	size_t sl;
	int rc;

	ARITY("split", 2, 2);
	if ((rc = strict_str(&sep, "split", a, 0)) != 0 || (rc = strict_str(&s, "split", a, 1)) != 0)
		return rc;
	if (!*sep)
		return arg_err(0, "split(): the separator must not be empty");
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	sl = strlen(sep);
	for (;;) {
		p = strstr(s, sep);
		if (json_array_append_new(l, json_stringn(s, p ? (size_t)(p - s) : strlen(s)))) {
			json_decref(l);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		if (!p)
			break;
		s = p + sl;
	}
	*out = l;
	return 0;
}

static int case_map(json_t **out, json_t *const *a, size_t n, const char *fn, int mode)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *s;
	bool word = false;
	int rc;

	ARITY(fn, 1, 1);
	if ((rc = strict_str(&s, fn, a, 0)) != 0)
		return rc;
	cairn_buf_init(&b, 0);
	if ((rc = cairn_buf_put(&b, s, json_string_length(a[0]))) != 0)
		return rc;
	for (size_t i = 0; i < b.len; i++) {
		char c = b.ptr[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool alnum = alpha || (c >= '0' && c <= '9') || ((unsigned char)c >= 0x80);

		if (mode == 0 || (mode == 2 && !word)) {
			if (c >= 'a' && c <= 'z')
				b.ptr[i] = (char)(c - 32);
		} else if (mode == 1) {
			if (c >= 'A' && c <= 'Z')
				b.ptr[i] = (char)(c + 32);
		}
		word = alnum;
	}
	return buf_ret(out, &b);
}

FN(upper) { return case_map(out, a, n, "upper", 0); }
FN(lower) { return case_map(out, a, n, "lower", 1); }
FN(title) { return case_map(out, a, n, "title", 2); }

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

FN(trimspace)
{
	const char *s, *e;
	int rc;

	ARITY("trimspace", 1, 1);
	if ((rc = strict_str(&s, "trimspace", a, 0)) != 0)
		return rc;
	e = s + json_string_length(a[0]);
	while (s < e && is_space(*s))
		s++;
	while (e > s && is_space(e[-1]))
		e--;
	return ret(out, json_stringn(s, (size_t)(e - s)));
}

FN(trim)
{
	const char *s, *e, *cut;
	int rc;

	ARITY("trim", 2, 2);
	if ((rc = strict_str(&s, "trim", a, 0)) != 0 || (rc = strict_str(&cut, "trim", a, 1)) != 0)
		return rc;
	e = s + json_string_length(a[0]);
	/* cutset of ASCII characters; multi-byte characters are kept whole */
	while (s < e && (unsigned char)*s < 0x80 && strchr(cut, *s))
		s++;
	while (e > s && (unsigned char)e[-1] < 0x80 && strchr(cut, e[-1]))
		e--;
	return ret(out, json_stringn(s, (size_t)(e - s)));
}

static int affix(json_t **out, json_t *const *a, size_t n, const char *fn, bool prefix, bool test)
{
	const char *s, *x;
	size_t sl, xl;
	bool has;
	int rc;

	ARITY(fn, 2, 2);
	if ((rc = strict_str(&s, fn, a, 0)) != 0 || (rc = strict_str(&x, fn, a, 1)) != 0)
		return rc;
	sl = json_string_length(a[0]);
	xl = json_string_length(a[1]);
	has = xl <= sl && memcmp(prefix ? s : s + sl - xl, x, xl) == 0;
	if (test)
		return ret(out, json_boolean(has));
	if (!has)
		return ret(out, json_incref(a[0]));
	return ret(out, json_stringn(prefix ? s + xl : s, sl - xl));
}

FN(trimprefix) { return affix(out, a, n, "trimprefix", true, false); }
FN(trimsuffix) { return affix(out, a, n, "trimsuffix", false, false); }
FN(startswith) { return affix(out, a, n, "startswith", true, true); }
FN(endswith) { return affix(out, a, n, "endswith", false, true); }

FN(replace)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *s, *from, *to, *p;
	size_t fl;
	int rc;

	ARITY("replace", 3, 3);
	if ((rc = strict_str(&s, "replace", a, 0)) != 0 || (rc = strict_str(&from, "replace", a, 1)) != 0 ||
	    (rc = strict_str(&to, "replace", a, 2)) != 0)
		return rc;
	if (!*from)
		return arg_err(1, "replace(): the substring to replace must not be empty");
	fl = strlen(from);
	cairn_buf_init(&b, 0);
	while ((p = strstr(s, from)) != NULL) {
		if ((rc = cairn_buf_put(&b, s, (size_t)(p - s))) != 0 || (rc = cairn_buf_puts(&b, to)) != 0)
			goto fail;
		s = p + fl;
	}
	if ((rc = cairn_buf_puts(&b, s)) != 0)
		goto fail;
	return buf_ret(out, &b);
fail:
	cairn_buf_release(&b);
	return rc;
}

/* Byte offset of code point `cp` in s (len bytes). */
static size_t cp_offset(const char *s, size_t len, size_t cp)
{
	size_t i = 0;

	while (i < len && cp > 0) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		cp--;
	}
	return i;
}

FN(substr)
{
	const char *s;
	json_int_t off, len;
	size_t total, bl, b0, b1;
	int rc;

	ARITY("substr", 3, 3);
	if ((rc = strict_str(&s, "substr", a, 0)) != 0 || (rc = int_arg(&off, "substr", a, 1)) != 0 ||
	    (rc = int_arg(&len, "substr", a, 2)) != 0)
		return rc;
	bl = json_string_length(a[0]);
	total = cairn_expr__utf8_len(s, bl);
	if (off < 0)
		off += (json_int_t)total;
	if (off < 0 || (size_t)off > total)
		return arg_err(1, "substr(): offset %" JSON_INTEGER_FORMAT " is out of range for a string of length %zu",
			json_integer_value(a[1]), total);
	if (len < -1)
		return arg_err(2, "substr(): length must be -1 (the rest) or more");
	if (len == -1 || (size_t)len > total - (size_t)off)
		len = (json_int_t)(total - (size_t)off);
	b0 = cp_offset(s, bl, (size_t)off);
	b1 = b0 + cp_offset(s + b0, bl - b0, (size_t)len);
	return ret(out, json_stringn(s + b0, b1 - b0));
}

/* ---- collections ----------------------------------------------------- */

FN(length)
{
	ARITY("length", 1, 1);
	if (json_is_array(a[0]))
		return ret(out, json_integer((json_int_t)json_array_size(a[0])));
	if (json_is_object(a[0]))
		return ret(out, json_integer((json_int_t)json_object_size(a[0])));
	if (json_is_string(a[0]))
		return ret(out, json_integer((json_int_t)cairn_expr__utf8_len(json_string_value(a[0]),
			json_string_length(a[0]))));
	return bad_arg("length", 0, "a list, map or string", a[0]);
}

FN(lookup)
{
	const char *k;
	json_t *v;
	int rc;

	ARITY("lookup", 2, 3);
	if ((rc = map_arg("lookup", a, 0)) != 0 || (rc = strict_str(&k, "lookup", a, 1)) != 0)
		return rc;
	if ((v = json_object_get(a[0], k)) != NULL)
		return ret(out, json_incref(v));
	if (n == 3)
		return ret(out, json_incref(a[2]));
	return arg_err(1, "lookup(): key \"%s\" not found in the map (and no default given)", k);
}

FN(merge)
{
	json_t *m = json_object();
	size_t i;
	int rc;

	if (!m)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (json_is_null(a[i]))
			continue;
		if ((rc = map_arg("merge", a, i)) != 0) {
			json_decref(m);
			return rc;
		}
		json_object_update(m, a[i]);
	}
	*out = m;
	return 0;
}

FN(concat)
{
	json_t *l = json_array();
	size_t i;
	int rc;

	if (!l)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if ((rc = list_arg("concat", a, i)) != 0) {
			json_decref(l);
			return rc;
		}
		json_array_extend(l, a[i]);
	}
	*out = l;
	return 0;
}

static int cmp_keys(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of an object, sorted (borrowed strings). */
static const char **sorted_keys(json_t *o, size_t *count)
{
	size_t cnt = json_object_size(o), i = 0;
	const char **ks = malloc((cnt ? cnt : 1) * sizeof(*ks));
	const char *k;
	json_t *x;

	if (!ks)
		return NULL;
	json_object_foreach(o, k, x)
		ks[i++] = k;
	qsort(ks, cnt, sizeof(*ks), cmp_keys);
	*count = cnt;
	return ks;
}

static int keys_values(json_t **out, json_t *const *a, size_t n, const char *fn, bool keys)
{
	const char **ks;
	size_t cnt, i;
	json_t *l;
	int rc;

	ARITY(fn, 1, 1);
	if ((rc = map_arg(fn, a, 0)) != 0)
		return rc;
	if (!(ks = sorted_keys(a[0], &cnt)) || !(l = json_array())) {
		free(ks);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (i = 0; i < cnt; i++)
		json_array_append_new(l, keys ? json_string(ks[i]) : json_incref(json_object_get(a[0], ks[i])));
	free(ks);
	*out = l;
	return 0;
}

FN(keys) { return keys_values(out, a, n, "keys", true); }
FN(values) { return keys_values(out, a, n, "values", false); }

FN(element)
{
	json_int_t i;
	size_t len;
	int rc;

	ARITY("element", 2, 2);
	if ((rc = list_arg("element", a, 0)) != 0 || (rc = int_arg(&i, "element", a, 1)) != 0)
		return rc;
	len = json_array_size(a[0]);
	if (len == 0)
		return arg_err(0, "element(): cannot take an element of an empty list");
	if (i < 0)
		return arg_err(1, "element(): index must not be negative");
	return ret(out, json_incref(json_array_get(a[0], (size_t)i % len)));
}

FN(contains)
{
	size_t i;
	json_t *x;
	int rc;

	ARITY("contains", 2, 2);
	if ((rc = list_arg("contains", a, 0)) != 0)
		return rc;
	json_array_foreach(a[0], i, x)
		if (cairn_value_equal(x, a[1]))
			return ret(out, json_true());
	return ret(out, json_false());
}

FN(index)
{
	size_t i;
	json_t *x;
	int rc;

	ARITY("index", 2, 2);
	if ((rc = list_arg("index", a, 0)) != 0)
		return rc;
	json_array_foreach(a[0], i, x)
		if (cairn_value_equal(x, a[1]))
			return ret(out, json_integer((json_int_t)i));
	return arg_err(1, "index(): the value is not in the list");
}

FN(range)
{
	json_t *l, *v;
	double start = 0, end, step = 1, x;
	bool ints = true;
	size_t i, cnt = 0;

	ARITY("range", 1, 3);
	for (i = 0; i < n; i++) {
		if (!json_is_number(a[i]))
			return bad_arg("range", i, "a number", a[i]);
		if (!json_is_integer(a[i]))
			ints = false;
	}
	if (n == 1) {
		end = json_number_value(a[0]);
	} else {
		start = json_number_value(a[0]);
		end = json_number_value(a[1]);
		if (n == 3)
			step = json_number_value(a[2]);
		else if (end < start)
			step = -1;
	}
	if (step == 0)
		return arg_err(2, "range(): step must not be zero");
	if ((step > 0 && end < start) || (step < 0 && end > start))
		return arg_err(n == 3 ? 2 : 1, "range(): the step goes away from the end");
	if (fabs((end - start) / step) > RANGE_MAX)
		return cairn_error_set(CAIRN_EINVAL, "range(): more than %d elements", RANGE_MAX);
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (x = start; step > 0 ? x < end : x > end; x = start + step * (double)++cnt) {
		v = ints ? json_integer((json_int_t)x) : json_real(x);
		if (json_array_append_new(l, v)) {
			json_decref(l);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
	}
	*out = l;
	return 0;
}

FN(slice)
{
	json_int_t s, e;
	size_t len, i;
	json_t *l;
	int rc;

	ARITY("slice", 3, 3);
	if ((rc = list_arg("slice", a, 0)) != 0 || (rc = int_arg(&s, "slice", a, 1)) != 0 ||
	    (rc = int_arg(&e, "slice", a, 2)) != 0)
		return rc;
	len = json_array_size(a[0]);
	if (s < 0 || (size_t)s > len)
		return arg_err(1, "slice(): start index %" JSON_INTEGER_FORMAT " out of range (list has %zu elements)", s, len);
	if (e < s || (size_t)e > len)
		return arg_err(2, "slice(): end index %" JSON_INTEGER_FORMAT " out of range (start %" JSON_INTEGER_FORMAT
			", list has %zu elements)", e, s, len);
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = (size_t)s; i < (size_t)e; i++)
		json_array_append(l, json_array_get(a[0], i));
	*out = l;
	return 0;
}

FN(reverse)
{
	json_t *l;
	size_t i, len;
	int rc;

	ARITY("reverse", 1, 1);
	if ((rc = list_arg("reverse", a, 0)) != 0)
		return rc;
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	len = json_array_size(a[0]);
	for (i = len; i > 0; i--)
		json_array_append(l, json_array_get(a[0], i - 1));
	*out = l;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Append a key for v that two values share exactly when cairn_value_equal
 * says they are equal: numbers by their double value (1 and 1.0 alike),
 * strings and map keys length-prefixed, map keys in sorted order. */
static int canon_key(cairn_buf *b, const json_t *v, int depth)
{
	const char **keys = NULL, *k;
	size_t i, nk = 0;
	json_t *x;
	int rc = 0;

	if (depth > 100)
		return cairn_error_set(CAIRN_EINVAL, "value nested too deeply");
	switch (json_typeof(v)) {
	case JSON_INTEGER:
	case JSON_REAL:
		/* + 0.0 makes -0 and 0 one key, as == does */
		return cairn_buf_printf(b, "#%.17g;", json_number_value(v) + 0.0);
	case JSON_STRING:
		if ((rc = cairn_buf_printf(b, "s%zu:", json_string_length(v))) < 0)
			return rc;
		return cairn_buf_put(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY:
		if ((rc = cairn_buf_putc(b, '[')) < 0)
			return rc;
		json_array_foreach(v, i, x)
			if ((rc = canon_key(b, x, depth + 1)) < 0)
				return rc;
		return cairn_buf_putc(b, ']');
	case JSON_OBJECT:
		if (!(keys = malloc((json_object_size(v) + 1) * sizeof(*keys))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		json_object_foreach((json_t *)v, k, x)
			keys[nk++] = k;
		qsort(keys, nk, sizeof(*keys), key_cmp);
		rc = cairn_buf_putc(b, '{');
		for (i = 0; i < nk && rc >= 0; i++)
			if ((rc = cairn_buf_printf(b, "%zu:%s", strlen(keys[i]), keys[i])) >= 0)
				rc = canon_key(b, json_object_get(v, keys[i]), depth + 1);
		if (rc >= 0)
			rc = cairn_buf_putc(b, '}');
		free(keys);
		return rc;
	case JSON_TRUE:
		return cairn_buf_putc(b, 't');
	case JSON_FALSE:
		return cairn_buf_putc(b, 'f');
	default:
		return cairn_buf_putc(b, 'n');
	}
}

/* Linear: each element's key goes into a hash set (a json object). */
FN(distinct)
{
	json_t *l = NULL, *seen = NULL, *x;
	cairn_buf key = CAIRN_BUF_INIT;
	size_t i;
	int rc;

	ARITY("distinct", 1, 1);
	if ((rc = list_arg("distinct", a, 0)) != 0)
		return rc;
	cairn_buf_init(&key, 0);
	if (!(l = json_array()) || !(seen = json_object())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach(a[0], i, x) {
		cairn_buf_clear(&key);
		if ((rc = canon_key(&key, x, 0)) < 0)
			goto cleanup;
		if (json_object_getn(seen, cairn_buf_cstr(&key), key.len))
			continue;
		if (json_object_setn_new_nocheck(seen, cairn_buf_cstr(&key), key.len, json_true()) ||
		    json_array_append(l, x)) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = l;
	l = NULL;
	rc = 0;
cleanup:
	cairn_buf_release(&key);
	json_decref(seen);
	json_decref(l);
	return rc;
}

static int flatten_into(json_t *dst, json_t *src, int depth)
{
	size_t i;
	json_t *x;
	int rc;

	if (depth > 100)
		return cairn_error_set(CAIRN_EINVAL, "flatten(): lists nested too deeply");
	json_array_foreach(src, i, x) {
		if (json_is_array(x)) {
			if ((rc = flatten_into(dst, x, depth + 1)) != 0)
				return rc;
		} else if (json_array_append(dst, x)) {
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
	}
	return 0;
}

FN(flatten)
{
	json_t *l;
	int rc;

	ARITY("flatten", 1, 1);
	if ((rc = list_arg("flatten", a, 0)) != 0)
		return rc;
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = flatten_into(l, a[0], 0)) != 0) {
		json_decref(l);
		return rc;
	}
	*out = l;
	return 0;
}

FN(coalesce)
{
	size_t i;

	ARITY("coalesce", 1, SIZE_MAX);
	for (i = 0; i < n; i++)
		if (!json_is_null(a[i]) && !(json_is_string(a[i]) && json_string_length(a[i]) == 0))
			return ret(out, json_incref(a[i]));
	return cairn_error_set(CAIRN_EINVAL, "coalesce(): all arguments are null or empty strings");
}

FN(compact)
{
	json_t *l, *x;
	size_t i;
	int rc;

	ARITY("compact", 1, 1);
	if ((rc = list_arg("compact", a, 0)) != 0)
		return rc;
	if (!(l = json_array()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_array_foreach(a[0], i, x) {
		if (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0))
			continue;
		if (!json_is_string(x)) {
			json_decref(l);
			return arg_err(0, "compact(): element %zu must be a string, got %s", i, cairn_value_type_name(x));
		}
		json_array_append(l, x);
	}
	*out = l;
	return 0;
}

FN(zipmap)
{
	json_t *m, *k;
	size_t i;
	int rc;

	ARITY("zipmap", 2, 2);
	if ((rc = list_arg("zipmap", a, 0)) != 0 || (rc = list_arg("zipmap", a, 1)) != 0)
		return rc;
	if (json_array_size(a[0]) != json_array_size(a[1]))
		return arg_err(1, "zipmap(): the lists have different lengths (%zu keys, %zu values)",
			json_array_size(a[0]), json_array_size(a[1]));
	if (!(m = json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_array_foreach(a[0], i, k) {
		if (!json_is_string(k)) {
			json_decref(m);
			return arg_err(0, "zipmap(): key %zu must be a string, got %s", i, cairn_value_type_name(k));
		}
		json_object_set(m, json_string_value(k), json_array_get(a[1], i));
	}
	*out = m;
	return 0;
}

/* ---- conversions ----------------------------------------------------- */

FN(tostring)
{
	cairn_buf b = CAIRN_BUF_INIT;

	ARITY("tostring", 1, 1);
	if (json_is_null(a[0]))
		return ret(out, json_null());
	if (json_is_array(a[0]) || json_is_object(a[0]))
		return bad_arg("tostring", 0, "a string, number or bool", a[0]);
	cairn_buf_init(&b, 0);
	if (cairn_expr__append_str(&b, a[0]) != 0) {
		cairn_buf_release(&b);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	return buf_ret(out, &b);
}

FN(tonumber)
{
	const char *s;
	char *end;

	ARITY("tonumber", 1, 1);
	if (json_is_null(a[0]) || json_is_number(a[0]))
		return ret(out, json_incref(a[0]));
	if (!json_is_string(a[0]))
		return bad_arg("tonumber", 0, "a string or number", a[0]);
	s = json_string_value(a[0]);
	if (*s && !is_space(*s)) {
		long long v;
		double d;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (!errno && *end == '\0')
			return ret(out, json_integer(v));
		errno = 0;
		d = strtod(s, &end);
		if (!errno && *end == '\0' && isfinite(d) && !strpbrk(s, "xXnN"))
			return ret(out, json_real(d));
	}
	return arg_err(0, "tonumber(): cannot convert \"%s\" to a number", s);
}

FN(tobool)
{
	const char *s;

	ARITY("tobool", 1, 1);
	if (json_is_null(a[0]) || json_is_boolean(a[0]))
		return ret(out, json_incref(a[0]));
	if (!json_is_string(a[0]))
		return bad_arg("tobool", 0, "a string or bool", a[0]);
	s = json_string_value(a[0]);
	if (!strcmp(s, "true"))
		return ret(out, json_true());
	if (!strcmp(s, "false"))
		return ret(out, json_false());
	return arg_err(0, "tobool(): cannot convert \"%s\" to a bool", s);
}

FN(tolist)
{
	ARITY("tolist", 1, 1);
	if (json_is_array(a[0]) || json_is_null(a[0]))
		return ret(out, json_incref(a[0]));
	return bad_arg("tolist", 0, "a list", a[0]);
}

FN(tomap)
{
	ARITY("tomap", 1, 1);
	if (json_is_object(a[0]) || json_is_null(a[0]))
		return ret(out, json_incref(a[0]));
	return bad_arg("tomap", 0, "a map", a[0]);
}

FN(jsonencode)
{
	char *s;
	json_t *v;

	ARITY("jsonencode", 1, 1);
	s = json_dumps(a[0], JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	v = json_string(s);
	free(s);
	return ret(out, v);
}

FN(jsondecode)
{
	json_error_t err;
	const char *s;
	json_t *v;
	int rc;

	ARITY("jsondecode", 1, 1);
	if ((rc = strict_str(&s, "jsondecode", a, 0)) != 0)
		return rc;
	v = json_loadb(s, json_string_length(a[0]), JSON_DECODE_ANY, &err);
	if (!v)
		return arg_err(0, "jsondecode(): invalid JSON at line %d column %d: %s", err.line, err.column, err.text);
	if (cairn_has_unknown(v)) {
		json_decref(v);
		return arg_err(0, "jsondecode(): invalid key in JSON");
	}
	*out = v;
	return 0;
}

/* ---- files ----------------------------------------------------------- */

static int resolve_path(cairn_buf *b, const char *fn, json_t *const *a, const cairn_eval_ctx *ctx)
{
	const char *p;
	int rc;

	if ((rc = strict_str(&p, fn, a, 0)) != 0)
		return rc;
	if (!*p)
		return arg_err(0, "%s(): the path is empty", fn);
	cairn_buf_init(b, 0);
	if (p[0] != '/' && ctx && ctx->base_dir && *ctx->base_dir && strcmp(ctx->base_dir, ".") != 0)
		if ((rc = cairn_buf_printf(b, "%s/", ctx->base_dir)) != 0)
			return rc;
	return cairn_buf_puts(b, p);
}

static void hex_of(const unsigned char *h, unsigned int hl, char *hex)
{
	unsigned int i;

	for (i = 0; i < hl; i++) {
		hex[2 * i] = "0123456789abcdef"[h[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
	}
	hex[2 * hl] = 0;
}

static void fingerprint_data(const char *data, size_t len, char *out, size_t outlen)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int hl = 0;

	if (!EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL))
		hl = 0;
	hex_of(h, hl, hex);
	snprintf(out, outlen, "sha256:%s", hex);
}

/* What a file is now: "sha256:HEX" of its content (when `content` and it
 * is a regular file), else "exists", "directory", "absent" or "unreadable". */
static void file_fingerprint(const char *path, bool content, char *out, size_t outlen)
{
	cairn_buf data = CAIRN_BUF_INIT;
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(out, outlen, "%s", errno == ENOENT || errno == ENOTDIR ? "absent" : "unreadable");
		return;
	}
	if (!content || !S_ISREG(st.st_mode)) {
		snprintf(out, outlen, "%s", S_ISDIR(st.st_mode) ? "directory" : "exists");
		return;
	}
	cairn_buf_init(&data, FILE_MAX);
	if (cairn_file_read(&data, path, NULL) != 0)
		snprintf(out, outlen, "unreadable");
	else
		fingerprint_data(cairn_buf_cstr(&data), data.len, out, outlen);
	cairn_buf_release(&data);
}

int cairn_file_unchanged(const char *path, const char *fingerprint, char *now, size_t nowlen)
{
	bool content = strncmp(fingerprint, "sha256:", 7) == 0;

	file_fingerprint(path, content, now, nowlen);
	if (!strcmp(fingerprint, "exists"))
		return strcmp(now, "absent") != 0 && strcmp(now, "directory") != 0;
	return strcmp(now, fingerprint) == 0;
}

/* Remember what a function looked at (absolute path), for saved plans:
 * file() passes the content it read (hashed once per path), fileexists()
 * the existence, which does not override a recorded content. */
static void record_input(const cairn_eval_ctx *ctx, const char *path, const cairn_buf *content,
			 const char *exists)
{
	cairn_buf abs = CAIRN_BUF_INIT;
	char cwd[4096], fp[96];
	json_t *had;

	if (!ctx || !ctx->inputs)
		return;
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
		cairn_buf_printf(&abs, "%s/%s", cwd, path);
	else
		cairn_buf_puts(&abs, path);
	had = json_object_get(ctx->inputs, cairn_buf_cstr(&abs));
	if (content && !(had && !strncmp(json_string_value(had), "sha256:", 7))) {
		fingerprint_data(cairn_buf_cstr(content), content->len, fp, sizeof(fp));
		json_object_set_new(ctx->inputs, cairn_buf_cstr(&abs), json_string(fp));
	} else if (!content && (!had || !strcmp(exists, "absent"))) {
		json_object_set_new(ctx->inputs, cairn_buf_cstr(&abs), json_string(exists));
	}
	cairn_buf_release(&abs);
}

FN(file)
{
	cairn_buf path = CAIRN_BUF_INIT, data = CAIRN_BUF_INIT;
	struct stat st;
	json_t *v;
	int rc;

	ARITY("file", 1, 1);
	if ((rc = resolve_path(&path, "file", a, ctx)) != 0)
		goto cleanup;
	if (stat(path.ptr, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > FILE_MAX) {
		rc = arg_err(0, "file(): %s is larger than 4 MiB", path.ptr);
		goto cleanup;
	}
	cairn_buf_init(&data, FILE_MAX);
	if ((rc = cairn_file_read(&data, path.ptr, NULL)) != 0) {
		const cairn_error *err = cairn_error_last();
		char why[sizeof(err->message)];

		/* it names the path and why: missing, not a regular file (a
		 * FIFO would hang the read), too large, unreadable */
		snprintf(why, sizeof(why), "%s", err ? err->message : "cannot read the file");
		rc = arg_err(0, "file(): %s", why);
		goto cleanup;
	}
	if (!(v = json_stringn(cairn_buf_cstr(&data), data.len))) {
		rc = arg_err(0, "file(): %s is not valid UTF-8 text (use base64 for binary files)", path.ptr);
		goto cleanup;
	}
	record_input(ctx, path.ptr, &data, NULL);
	*out = v;
cleanup:
	cairn_buf_release(&path);
	cairn_buf_release(&data);
	return rc;
}

/* The bytes of a file of the stack (as file() finds it), up to FILE_MAX;
 * recorded among the inputs. fn names the caller in messages. */
static int read_input(cairn_buf *data, cairn_buf *path, const char *fn, json_t *const *a, const cairn_eval_ctx *ctx)
{
	struct stat st;
	int rc;

	if ((rc = resolve_path(path, fn, a, ctx)) != 0)
		return rc;
	if (stat(path->ptr, &st) != 0)
		return arg_err(0, "%s(): cannot read %s: %s", fn, path->ptr, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return arg_err(0, "%s(): %s is not a regular file", fn, path->ptr);
	if ((size_t)st.st_size > FILE_MAX)
		return arg_err(0, "%s(): %s is larger than 4 MiB", fn, path->ptr);
	cairn_buf_init(data, FILE_MAX);
	if (cairn_buf_read_file(data, path->ptr) != 0)
		return arg_err(0, "%s(): cannot read %s (larger than 4 MiB or unreadable)", fn, path->ptr);
	record_input(ctx, path->ptr, data, NULL);
	return 0;
}

/* filebase64(path): a file's bytes, base64 (binary files, for host.file's
 * content_base64). */
FN(filebase64)
{
	cairn_buf path = CAIRN_BUF_INIT, data = CAIRN_BUF_INIT;
	char *b64 = NULL;
	int rc;

	ARITY("filebase64", 1, 1);
	if ((rc = read_input(&data, &path, "filebase64", a, ctx)) != 0)
		goto cleanup;
	if (!(b64 = malloc(4 * ((data.len + 2) / 3) + 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cairn_buf_cstr(&data), (int)data.len);
	rc = ret(out, json_string(b64));
cleanup:
	free(b64);
	cairn_buf_release(&path);
	cairn_buf_release(&data);
	return rc;
}

/* One template (a line of a template file, at line `line`, or the whole
 * text at line 0: positions then name only the file) evaluated against
 * sub; its text appended to acc, or *unknown set. */
static int template_part(cairn_buf *acc, bool *unknown, const char *text, const char *file, int line,
			 const cairn_eval_ctx *sub)
{
	cairn_pos pos = { file, line, line ? 1 : 0 };
	cairn_expr *tpl = NULL;
	json_t *v = NULL;
	char *s = NULL;
	int rc;

	if ((rc = cairn_expr_parse_template_ex(&tpl, text, &pos, line > 0)) == 0)
		rc = cairn_expr_eval(&v, tpl, sub);
	cairn_expr_free(tpl);
	if (rc)
		return rc;
	if (cairn_is_unknown(v))
		*unknown = true;
	else if (json_is_string(v))
		rc = cairn_buf_put(acc, json_string_value(v), json_string_length(v));
	else if ((s = json_dumps(v, JSON_ENCODE_ANY)) != NULL)
		rc = cairn_buf_puts(acc, s);
	free(s);
	json_decref(v);
	return rc;
}

/* templatefile(path, vars): a text file of the stack read as a template:
 * its ${ } expressions see the map vars by name (${name}, ${peers[0]}),
 * and the functions; nothing else of the stack. Line by line, so that a
 * mistake is reported at its line and column; a file whose ${ } spans
 * lines is read whole (positions then name only the file). */
FN(templatefile)
{
	cairn_buf path = CAIRN_BUF_INIT, data = CAIRN_BUF_INIT, line = CAIRN_BUF_INIT, acc = CAIRN_BUF_INIT;
	cairn_eval_ctx sub;
	const char *p, *end, *nl;
	bool unknown = false;
	json_t *v = NULL;
	int rc, lineno = 0;

	ARITY("templatefile", 2, 2);
	if (!json_is_object(a[1])) {
		rc = arg_err(1, "templatefile(): the variables must be a map, got %s", cairn_value_type_name(a[1]));
		goto cleanup;
	}
	if ((rc = read_input(&data, &path, "templatefile", a, ctx)) != 0)
		goto cleanup;
	if (!(v = json_stringn(cairn_buf_cstr(&data), data.len))) {
		rc = arg_err(0, "templatefile(): %s is not valid UTF-8 text", path.ptr);
		goto cleanup;
	}
	sub.root = a[1];
	sub.base_dir = ctx ? ctx->base_dir : NULL;
	sub.inputs = ctx ? ctx->inputs : NULL;
	cairn_buf_init(&acc, FILE_MAX * 4);
	for (p = cairn_buf_cstr(&data), end = p + data.len, rc = 0; p < end && !rc; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		cairn_buf_clear(&line);
		cairn_buf_put(&line, p, nl ? (size_t)(nl - p) : (size_t)(end - p));
		rc = template_part(&acc, &unknown, cairn_buf_cstr(&line), path.ptr, ++lineno, &sub);
		if (!rc && nl)
			rc = cairn_buf_putc(&acc, '\n');
	}
	if (rc && strstr(cairn_error_last()->message, "unclosed")) {
		/* a ${ } over several lines: the whole text at once */
		cairn_buf_clear(&acc);
		unknown = false;
		rc = template_part(&acc, &unknown, cairn_buf_cstr(&data), path.ptr, 0, &sub);
	}
	if (rc) {
		char msg[2048];

		cairn_error_format(cairn_error_last(), msg, sizeof(msg));
		rc = arg_err(0, "templatefile(): %s", msg);
		goto cleanup;
	}
	rc = ret(out, unknown ? cairn_unknown() : json_stringn(cairn_buf_cstr(&acc), acc.len));
cleanup:
	json_decref(v);
	cairn_buf_release(&path);
	cairn_buf_release(&data);
	cairn_buf_release(&line);
	cairn_buf_release(&acc);
	return rc;
}

FN(fileexists)
{
	cairn_buf path = CAIRN_BUF_INIT;
	struct stat st;
	int rc;

	ARITY("fileexists", 1, 1);
	if ((rc = resolve_path(&path, "fileexists", a, ctx)) != 0)
		goto cleanup;
	if (stat(path.ptr, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			record_input(ctx, path.ptr, NULL, "absent");
			rc = ret(out, json_false());
		} else {
			rc = arg_err(0, "fileexists(): cannot check %s: %s", path.ptr, strerror(errno));
		}
	} else if (S_ISDIR(st.st_mode)) {
		rc = arg_err(0, "fileexists(): %s is a directory, not a file", path.ptr);
	} else {
		record_input(ctx, path.ptr, NULL, "exists");
		rc = ret(out, json_true());
	}
cleanup:
	cairn_buf_release(&path);
	return rc;
}

/* ---- hashes and encodings -------------------------------------------- */

static int digest(json_t **out, json_t *const *a, size_t n, const char *fn, const EVP_MD *md)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int hl = 0;
	const char *s;
	int rc;

	ARITY(fn, 1, 1);
	if ((rc = strict_str(&s, fn, a, 0)) != 0)
		return rc;
	if (!EVP_Digest(s, json_string_length(a[0]), h, &hl, md, NULL))
		return cairn_error_set(CAIRN_ERROR, "%s(): hashing failed", fn);
	hex_of(h, hl, hex);
	return ret(out, json_string(hex));
}

FN(sha256) { return digest(out, a, n, "sha256", EVP_sha256()); }
FN(sha1) { return digest(out, a, n, "sha1", EVP_sha1()); }
FN(md5) { return digest(out, a, n, "md5", EVP_md5()); }

FN(base64encode)
{
	const char *s;
	size_t len;
	unsigned char *enc;
	json_t *v;
	int rc;

	ARITY("base64encode", 1, 1);
	if ((rc = strict_str(&s, "base64encode", a, 0)) != 0)
		return rc;
	len = json_string_length(a[0]);
	if (len > FILE_MAX * 4)
		return arg_err(0, "base64encode(): the string is too long");
	if (!(enc = malloc(4 * ((len + 2) / 3) + 1)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	EVP_EncodeBlock(enc, (const unsigned char *)s, (int)len);
	v = json_string((char *)enc);
	free(enc);
	return ret(out, v);
}

FN(base64decode)
{
	const char *s;
	size_t len, i;
	unsigned char *dec;
	int dl, pad = 0, rc;
	json_t *v;

	ARITY("base64decode", 1, 1);
	if ((rc = strict_str(&s, "base64decode", a, 0)) != 0)
		return rc;
	len = json_string_length(a[0]);
	if (len % 4 != 0 || len > FILE_MAX * 8)
		return arg_err(0, "base64decode(): invalid base64 (length %zu is not a multiple of 4)", len);
	for (i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';

		if (c == '=' && i >= len - 2 && (i == len - 1 || s[len - 1] == '='))
			pad++;
		else if (!ok)
			return arg_err(0, "base64decode(): invalid base64 character at offset %zu", i);
	}
	if (!(dec = malloc(len / 4 * 3 + 1)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	dl = len ? EVP_DecodeBlock(dec, (const unsigned char *)s, (int)len) : 0;
	if (dl < 0) {
		free(dec);
		return arg_err(0, "base64decode(): invalid base64");
	}
	dl -= pad;
	v = json_stringn((char *)dec, (size_t)dl);
	free(dec);
	if (!v)
		return arg_err(0, "base64decode(): the decoded data is not valid UTF-8");
	*out = v;
	return 0;
}

/* ---- network --------------------------------------------------------- */

typedef struct {
	int family;
	unsigned char addr[16];
	int bits;    /* 32 or 128 */
	int prefix;
} cidr;

static int parse_cidr(cidr *c, const char *fn, json_t *const *a, size_t i)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *s, *slash;
	char *end;
	long pl;
	int rc;

	if ((rc = strict_str(&s, fn, a, i)) != 0)
		return rc;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(tmp) || !slash[1])
		return arg_err(i, "%s(): invalid CIDR prefix \"%s\" (expected ADDRESS/LENGTH)", fn, s);
	memcpy(tmp, s, (size_t)(slash - s));
	tmp[slash - s] = 0;
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = AF_INET;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = AF_INET6;
		c->bits = 128;
	} else {
		return arg_err(i, "%s(): invalid IP address in \"%s\"", fn, s);
	}
	errno = 0;
	pl = strtol(slash + 1, &end, 10);
	if (errno || *end || slash[1] < '0' || slash[1] > '9' || pl < 0 || pl > c->bits)
		return arg_err(i, "%s(): invalid prefix length in \"%s\"", fn, s);
	c->prefix = (int)pl;
	return 0;
}

static void set_bit(unsigned char *addr, int bit, int v)
{
	unsigned char m = (unsigned char)(0x80 >> (bit % 8));

	if (v)
		addr[bit / 8] |= m;
	else
		addr[bit / 8] &= (unsigned char)~m;
}

/* Write the low `nbits` bits of num (sign-extended beyond 64) at bit `from`. */
static void put_bits(unsigned char *addr, int from, int nbits, json_int_t num)
{
	int i;

	for (i = 0; i < nbits; i++) {
		int v = i < 63 ? (int)((num >> i) & 1) : (num < 0);

		set_bit(addr, from + nbits - 1 - i, v);
	}
}

/* Does num fit in nbits (unsigned, or negative counting from the end)? */
static bool fits(json_int_t num, int nbits, bool allow_negative)
{
	if (num < 0 && !allow_negative)
		return false;
	if (nbits >= 63)
		return true;
	if (num >= 0)
		return num < ((json_int_t)1 << nbits);
	return -num <= ((json_int_t)1 << nbits);
}

static int cidr_str(json_t **out, const cidr *c, bool with_prefix)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t l;

	if (!inet_ntop(c->family, c->addr, buf, INET6_ADDRSTRLEN))
		return cairn_error_set(CAIRN_ERROR, "cannot format address");
	l = strlen(buf);
	if (with_prefix)
		snprintf(buf + l, sizeof(buf) - l, "/%d", c->prefix);
	return ret(out, json_string(buf));
}

FN(cidrsubnet)
{
	json_int_t newbits, num;
	cidr c;
	int rc;

	ARITY("cidrsubnet", 3, 3);
	if ((rc = parse_cidr(&c, "cidrsubnet", a, 0)) != 0 || (rc = int_arg(&newbits, "cidrsubnet", a, 1)) != 0 ||
	    (rc = int_arg(&num, "cidrsubnet", a, 2)) != 0)
		return rc;
	if (newbits < 0)
		return arg_err(1, "cidrsubnet(): newbits must not be negative");
	if (newbits > c.bits - c.prefix) /* not prefix + newbits: newbits may be near INT64_MAX */
		return arg_err(1, "cidrsubnet(): insufficient address space to extend prefix of %d by %" JSON_INTEGER_FORMAT,
			c.prefix, newbits);
	if (!fits(num, (int)newbits, false))
		return arg_err(2, "cidrsubnet(): netnum %" JSON_INTEGER_FORMAT " does not fit in %" JSON_INTEGER_FORMAT
			" bits (must be 0 to %.0f)", num, newbits, ldexp(1, (int)newbits) - 1);
	put_bits(c.addr, c.prefix + (int)newbits, c.bits - c.prefix - (int)newbits, 0);
	put_bits(c.addr, c.prefix, (int)newbits, num);
	c.prefix += (int)newbits;
	return cidr_str(out, &c, true);
}

FN(cidrhost)
{
	json_int_t num;
	int hostbits, rc;
	cidr c;

	ARITY("cidrhost", 2, 2);
	if ((rc = parse_cidr(&c, "cidrhost", a, 0)) != 0 || (rc = int_arg(&num, "cidrhost", a, 1)) != 0)
		return rc;
	hostbits = c.bits - c.prefix;
	if (!fits(num, hostbits, true))
		return arg_err(1, "cidrhost(): host number %" JSON_INTEGER_FORMAT " does not fit in prefix /%d (%d host bits)",
			num, c.prefix, hostbits);
	put_bits(c.addr, c.prefix, hostbits, num);
	return cidr_str(out, &c, false);
}

FN(cidrnetmask)
{
	cidr c;
	int rc, i;

	ARITY("cidrnetmask", 1, 1);
	if ((rc = parse_cidr(&c, "cidrnetmask", a, 0)) != 0)
		return rc;
	if (c.family != AF_INET)
		return arg_err(0, "cidrnetmask(): only IPv4 prefixes have a netmask");
	for (i = 0; i < 32; i++)
		set_bit(c.addr, i, i < c.prefix);
	return cidr_str(out, &c, false);
}

/* ---- numbers --------------------------------------------------------- */

static int num_arg(double *out, const char *fn, json_t *const *a, size_t i)
{
	*out = 0;
	*out = 0;
	if (!json_is_number(a[i]))
		return bad_arg(fn, i, "a number", a[i]);
	*out = json_number_value(a[i]);
	return 0;
}

static json_t *int_or_real(double d)
{
	if (d == floor(d) && fabs(d) < 9e15)
		return json_integer((json_int_t)d);
	return json_real(d);
}

FN(abs)
{
	double d;
	int rc;

	ARITY("abs", 1, 1);
	if ((rc = num_arg(&d, "abs", a, 0)) != 0)
		return rc;
	if (json_is_integer(a[0]) && json_integer_value(a[0]) != INT64_MIN)
		return ret(out, json_integer(llabs(json_integer_value(a[0]))));
	return ret(out, json_real(fabs(d)));
}

static int round_fn(json_t **out, json_t *const *a, size_t n, const char *fn, double (*f)(double))
{
	double d;
	int rc;

	ARITY(fn, 1, 1);
	if ((rc = num_arg(&d, fn, a, 0)) != 0)
		return rc;
	if (json_is_integer(a[0]))
		return ret(out, json_incref(a[0]));
	d = f(d);
	return ret(out, fabs(d) < 9e18 ? json_integer((json_int_t)d) : json_real(d));
}

FN(ceil) { return round_fn(out, a, n, "ceil", ceil); }
FN(floor) { return round_fn(out, a, n, "floor", floor); }

/* max/min take numbers, or one list of numbers. */
static int extreme(json_t **out, json_t *const *a, size_t n, const char *fn, bool want_max)
{
	json_t *const *items = a, *best = NULL;
	size_t cnt = n, i;
	json_t **tmp = NULL;

	ARITY(fn, 1, SIZE_MAX);
	if (n == 1 && json_is_array(a[0])) {
		cnt = json_array_size(a[0]);
		if (!cnt)
			return arg_err(0, "%s(): the list is empty", fn);
		if (!(tmp = malloc(cnt * sizeof(*tmp))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		for (i = 0; i < cnt; i++)
			tmp[i] = json_array_get(a[0], i);
		items = tmp;
	}
	for (i = 0; i < cnt; i++) {
		if (!json_is_number(items[i])) {
			int rc = tmp ? arg_err(0, "%s(): element %zu must be a number, got %s", fn, i,
				cairn_value_type_name(items[i])) : bad_arg(fn, i, "a number", items[i]);

			free(tmp);
			return rc;
		}
		if (!best || (want_max ? json_number_value(items[i]) > json_number_value(best) :
		                         json_number_value(items[i]) < json_number_value(best)))
			best = items[i];
	}
	free(tmp);
	return ret(out, json_incref(best));
}

FN(max) { return extreme(out, a, n, "max", true); }
FN(min) { return extreme(out, a, n, "min", false); }

FN(pow)
{
	double x, y, r;
	int rc;

	ARITY("pow", 2, 2);
	if ((rc = num_arg(&x, "pow", a, 0)) != 0 || (rc = num_arg(&y, "pow", a, 1)) != 0)
		return rc;
	r = pow(x, y);
	if (!isfinite(r))
		return cairn_error_set(CAIRN_EINVAL, "pow(): the result is not a finite number");
	if (json_is_integer(a[0]) && json_is_integer(a[1]) && y >= 0)
		return ret(out, int_or_real(r));
	return ret(out, json_real(r));
}

FN(sum)
{
	json_t *x;
	size_t i;
	bool ints = true;
	long long is = 0;
	double ds = 0;
	int rc;

	ARITY("sum", 1, 1);
	if ((rc = list_arg("sum", a, 0)) != 0)
		return rc;
	if (!json_array_size(a[0]))
		return arg_err(0, "sum(): the list is empty");
	json_array_foreach(a[0], i, x) {
		if (!json_is_number(x))
			return arg_err(0, "sum(): element %zu must be a number, got %s", i, cairn_value_type_name(x));
		if (ints && json_is_integer(x) && !__builtin_add_overflow(is, json_integer_value(x), &is))
			;
		else
			ints = false;
		ds += json_number_value(x);
	}
	return ret(out, ints ? json_integer(is) : json_real(ds));
}

/* ---- refused --------------------------------------------------------- */

FN(uuid)
{
	return cairn_error_set(CAIRN_EINVAL, "uuid() is not available: it would make plans non-deterministic");
}

FN(timestamp)
{
	return cairn_error_set(CAIRN_EINVAL, "timestamp() is not available: it would make plans non-deterministic");
}

/* ---- the table ------------------------------------------------------- */

typedef struct {
	const char *name;
	cairn_func_fn fn;
	bool structural;
	bool hidden;
} func_entry;

#define F(name) { #name, f_##name, false, false }
#define S(name) { #name, f_##name, true, false }

static const func_entry funcs[] = {
	F(abs), F(base64decode), F(base64encode), F(ceil), F(cidrhost), F(cidrnetmask), F(cidrsubnet),
	S(coalesce), F(compact), S(concat), F(contains), F(distinct), S(element), F(endswith), F(file),
	F(fileexists), F(flatten), F(floor), F(format), F(index), F(join), F(jsondecode), F(jsonencode),
	S(keys), S(length), S(lookup), F(lower), F(max), F(md5), S(merge), F(min), F(pow), F(range),
	F(replace), S(reverse), F(sha1), F(sha256), S(slice), F(split), F(startswith), F(substr), F(sum),
	F(title), F(tobool), S(tolist), S(tomap), F(tonumber), F(tostring), F(trim), F(trimprefix),
	F(trimspace), F(trimsuffix), F(upper), S(values), F(zipmap),
	F(filebase64), F(formatlist), F(templatefile),
	{ "uuid", f_uuid, false, true },
	{ "timestamp", f_timestamp, false, true },
	{ NULL, NULL, false, false },
};

static const func_entry *find(const char *name)
{
	const func_entry *f;

	for (f = funcs; f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

cairn_func_fn cairn_func_lookup(const char *name)
{
	const func_entry *f = find(name);

	return f ? f->fn : NULL;
}

bool cairn_func__structural(const char *name)
{
	const func_entry *f = find(name);

	return f && f->structural;
}

static const char *names[sizeof(funcs) / sizeof(funcs[0])];

static void init_names(void)
{
	size_t i, k = 0;

	for (i = 0; funcs[i].name; i++)
		if (!funcs[i].hidden)
			names[k++] = funcs[i].name;
	names[k] = NULL;
}

const char *const *cairn_func_names(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, init_names);
	return names;
}
