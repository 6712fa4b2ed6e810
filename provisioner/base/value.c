/*
 * value.c - helpers over json_t values (see value.h).
 */
#include "value.h"
#include "buf.h"
#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool cairn_is_ascii(const char *s, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ULL)
			return false;
	}
	for (; i < len; i++)
		if ((unsigned char)s[i] & 0x80)
			return false;
	return true;
}

json_t *cairn_json_stringn(const char *s, size_t len)
{
	return cairn_is_ascii(s, len) ? json_stringn_nocheck(s, len) : json_stringn(s, len);
}

json_t *cairn_unknown(void)
{
	json_t *o = json_object();

	if (o)
		json_object_set_new(o, CAIRN_UNKNOWN_KEY, json_true());
	return o;
}

bool cairn_is_unknown(const json_t *v)
{
	return v && json_is_object(v) && json_object_size(v) == 1 &&
	       json_object_get(v, CAIRN_UNKNOWN_KEY) != NULL;
}

bool cairn_has_unknown(const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;

	if (!v)
		return false;
	if (cairn_is_unknown(v))
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (cairn_has_unknown(x))
				return true;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if (cairn_has_unknown(x))
				return true;
	}
	return false;
}

const char *cairn_value_type_name(const json_t *v)
{
	if (!v || json_is_null(v))
		return "null";
	if (cairn_is_unknown(v))
		return "unknown";
	switch (json_typeof(v)) {
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	case JSON_ARRAY: return "list";
	case JSON_OBJECT: return "map";
	default: return "null";
	}
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **cairn_json_sorted_keys(const json_t *v, size_t *n)
{
	const char **keys = malloc((json_object_size(v) + 1) * sizeof(char *));
	const char *k;
	json_t *x;

	*n = 0;
	if (!keys)
		return NULL;
	json_object_foreach((json_t *)v, k, x)
		keys[(*n)++] = k;
	qsort(keys, *n, sizeof(*keys), cmp_key);
	return keys;
}

static void render(cairn_buf *b, const json_t *v)
{
	if (!v) {
		cairn_buf_puts(b, "null");
	} else if (cairn_is_unknown(v)) {
		cairn_buf_puts(b, "(known after apply)");
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;

		cairn_buf_putc(b, '[');
		json_array_foreach(v, i, x) {
			if (i)
				cairn_buf_puts(b, ", ");
			render(b, x);
		}
		cairn_buf_putc(b, ']');
	} else if (json_is_object(v)) {
		size_t n, i;
		const char **keys = cairn_json_sorted_keys(v, &n);

		if (!keys)
			return;
		cairn_buf_putc(b, '{');
		for (i = 0; i < n; i++) {
			json_t *key = json_string(keys[i]);
			char *ks = json_dumps(key, JSON_ENCODE_ANY);

			cairn_buf_printf(b, "%s%s = ", i ? ", " : "", ks ? ks : "?");
			free(ks);
			json_decref(key);
			render(b, json_object_get(v, keys[i]));
		}
		cairn_buf_putc(b, '}');
		free(keys);
	} else if (json_is_integer(v)) {
		cairn_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_boolean(v) || json_is_null(v)) {
		cairn_buf_puts(b, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
	} else {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		cairn_buf_puts(b, s ? s : "?");
		free(s);
	}
}

char *cairn_value_render(const json_t *v)
{
	cairn_buf b = CAIRN_BUF_INIT;

	render(&b, v);
	return cairn_buf_detach(&b);
}

bool cairn_value_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_array(a) && json_is_array(b)) {
		size_t n = json_array_size(a), i;

		if (n != json_array_size(b))
			return false;
		for (i = 0; i < n; i++)
			if (!cairn_value_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *x;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, k, x)
			if (!cairn_value_equal(x, json_object_get(b, k)))
				return false;
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}

/* -- durations ------------------------------------------------------------ */

const cairn_duration_rules cairn_duration_timeouts = {
	.min = 0, .max = 7.0 * 86400, .zero = false,
	.units = CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H,
};

/* The unit at *s (moved past it): seconds per unit, or 0 when it is none
 * that rules allow. "ms" wins over "m": "1m30s" is read as 1m then 30s. */
static double duration_unit(const char **s, unsigned units)
{
	static const struct { const char *name; unsigned bit; double secs; } table[] = {
		{ "ms", CAIRN_DURATION_MS, 0.001 }, { "s", CAIRN_DURATION_S, 1 }, { "m", CAIRN_DURATION_M, 60 },
		{ "h", CAIRN_DURATION_H, 3600 }, { "d", CAIRN_DURATION_D, 86400 },
	};
	size_t i, n;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		n = strlen(table[i].name);
		if (!strncmp(*s, table[i].name, n)) {
			if (!(units & table[i].bit))
				return 0;
			*s += n;
			return table[i].secs;
		}
	}
	return 0;
}

int cairn_duration_parse(const char *s, const cairn_duration_rules *rules, double *out)
{
	double total = 0, v, unit;
	char *end;
	int parts = 0;

	if (!s || !*s)
		return CAIRN_EINVAL;
	while (*s) {
		/* strtod alone would take spaces, signs, hex, exponents, inf and nan */
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return CAIRN_EINVAL;
		errno = 0;
		v = strtod(s, &end);
		if (end == s || errno || !isfinite(v))
			return CAIRN_EINVAL;
		for (const char *p = s; p < end; p++)
			if (!((*p >= '0' && *p <= '9') || *p == '.'))
				return CAIRN_EINVAL; /* "1e3", "0x10" */
		s = end;
		if (!*s) {
			if (parts)
				return CAIRN_EINVAL; /* "1h30": a unit is missing */
			unit = 1;
		} else if ((unit = duration_unit(&s, rules->units)) == 0) {
			return CAIRN_EINVAL;
		}
		total += v * unit;
		parts++;
	}
	if (!isfinite(total) || total > rules->max || (total == 0 ? !rules->zero : total < rules->min))
		return CAIRN_EINVAL;
	*out = total;
	return 0;
}

void cairn_duration_format(double seconds, char *buf, size_t n)
{
	long long w = (long long)seconds, h = w / 3600, m = (w % 3600) / 60, sec = w % 60;
	int at = 0;

	if (!n)
		return;
	buf[0] = '\0';
	if ((double)w != seconds || w < 60) {
		snprintf(buf, n, "%gs", seconds);
		return;
	}
	if (h)
		at = snprintf(buf, n, "%lldh", h);
	if (m && at >= 0 && (size_t)at < n)
		at += snprintf(buf + at, n - (size_t)at, "%lldm", m);
	if (sec && at >= 0 && (size_t)at < n)
		snprintf(buf + at, n - (size_t)at, "%llds", sec);
}
