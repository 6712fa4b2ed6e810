/*
 * test_util.c - errors, buffers, values.
 */
#include "t.h"
#include "base/buf.h"
#include "base/digest.h"
#include "base/error.h"
#include "base/value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_util__buf_cap(void)
{
	cairn_buf b;

	cairn_buf_init(&b, 8);
	T_OK(cairn_buf_puts(&b, "abcd"));
	T_OK(cairn_buf_printf(&b, "%d", 123));
	T_EQ_STR(cairn_buf_cstr(&b), "abcd123");
	T_EQ_INT(cairn_buf_puts(&b, "xy"), CAIRN_ELIMIT);
	T_EQ_STR(cairn_buf_cstr(&b), "abcd123");
	cairn_buf_release(&b);
}

static void test_util__buf_label(void)
{
	cairn_buf b = CAIRN_BUF_INIT;

	cairn_buf_init(&b, 0);
	T_OK(cairn_buf_put_label(&b, "flag[\"beta\"] a\\b\nc"));
	T_OK(cairn_buf_put_label(&b, NULL));
	T_EQ_STR(cairn_buf_cstr(&b), "flag[\\\"beta\\\"] a\\\\b\\nc");
	cairn_buf_release(&b);
}

static void test_util__error_position(void)
{
	cairn_pos pos = { "stack.yaml", 3, 7 };
	char msg[256];

	T_EQ_INT(cairn_error_set_at(CAIRN_EINVAL, &pos, "bad %s", "thing"), CAIRN_EINVAL);
	cairn_error_prefix("cannot load");
	cairn_error_format(cairn_error_last(), msg, sizeof(msg));
	T_EQ_STR(msg, "stack.yaml:3:7: cannot load: bad thing");
	cairn_error_clear();
	T_CHECK(cairn_error_last() == NULL);
}

static void test_util__unknown(void)
{
	json_t *u = cairn_unknown(), *l = json_array(), *a = json_integer(1), *b = json_real(1.0);
	char *r;

	T_CHECK(cairn_is_unknown(u));
	json_array_append(l, u);
	T_CHECK(cairn_has_unknown(l));
	T_CHECK(!cairn_is_unknown(l));
	T_CHECK(cairn_value_equal(a, b));
	r = cairn_value_render(u);
	T_EQ_STR(r, "(known after apply)");
	free(r);
	json_decref(u); json_decref(l); json_decref(a); json_decref(b);
}

static void test_util__render(void)
{
	json_t *v = json_loads("{\"b\": -7, \"a\": [true, null, 2.5, \"x\\\"y\", {}], \"A\": false}", 0, NULL);
	json_t *m = json_object();
	char *r, key[16];
	int i;

	T_CHECK(v != NULL);
	r = cairn_value_render(v);
	T_EQ_STR(r, "{\"A\" = false, \"a\" = [true, null, 2.5, \"x\\\"y\", {}], \"b\" = -7}");
	free(r);
	/* keys made in reverse order come out sorted */
	for (i = 999; i >= 0; i--) {
		snprintf(key, sizeof(key), "k%03d", i);
		json_object_set_new(m, key, json_integer(i));
	}
	r = cairn_value_render(m);
	T_CHECK(r && !strncmp(r, "{\"k000\" = 0, \"k001\" = 1, ", strlen("{\"k000\" = 0, \"k001\" = 1, ")));
	T_CHECK(r && strstr(r, ", \"k999\" = 999}") != NULL);
	free(r);
	json_decref(v);
	json_decref(m);
}

/* Table-driven: each row is an input, the rules, and what comes out
 * (ok, and the seconds) so that every edge reads as one line. */
static const cairn_duration_rules lock_rules = {
	.min = 0, .max = HUGE_VAL, .zero = true,
	.units = CAIRN_DURATION_MS | CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H,
};
static const cairn_duration_rules ttl_rules = {
	.min = 1, .max = 10 * 365 * 86400.0, .zero = false,
	.units = CAIRN_DURATION_S | CAIRN_DURATION_M | CAIRN_DURATION_H | CAIRN_DURATION_D,
};

static void test_util__duration_parse(void)
{
	static const struct {
		const char *in;
		const cairn_duration_rules *rules;
		int ok;
		double secs;
	} rows[] = {
		/* the forms people write */
		{ "90", &cairn_duration_timeouts, 1, 90 },
		{ "90s", &cairn_duration_timeouts, 1, 90 },
		{ "30m", &cairn_duration_timeouts, 1, 1800 },
		{ "1h30m", &cairn_duration_timeouts, 1, 5400 },
		{ "1.5h", &cairn_duration_timeouts, 1, 5400 },
		{ ".5s", &cairn_duration_timeouts, 1, 0.5 },
		{ "250ms", &lock_rules, 1, 0.25 },
		{ "1m30s", &lock_rules, 1, 90 },      /* "m" then "s", not "ms" */
		{ "2d", &ttl_rules, 1, 172800 },
		/* empty, and a unit missing */
		{ "", &lock_rules, 0, 0 },
		{ "s", &lock_rules, 0, 0 },
		{ "1h30", &cairn_duration_timeouts, 0, 0 },
		{ ".", &lock_rules, 0, 0 },
		{ "1..2s", &lock_rules, 0, 0 },
		/* negative and signed */
		{ "-5s", &lock_rules, 0, 0 },
		{ "+5s", &lock_rules, 0, 0 },
		{ "1h-5m", &cairn_duration_timeouts, 0, 0 },
		/* units the caller does not take, or nobody does */
		{ "5d", &lock_rules, 0, 0 },
		{ "5ms", &ttl_rules, 0, 0 },
		{ "5ms", &cairn_duration_timeouts, 0, 0 },
		{ "5w", &ttl_rules, 0, 0 },
		{ "5S", &lock_rules, 0, 0 },
		{ "5sec", &lock_rules, 0, 0 },
		{ "soon", &lock_rules, 0, 0 },
		/* spaces, anywhere */
		{ " 5s", &lock_rules, 0, 0 },
		{ "5s ", &lock_rules, 0, 0 },
		{ "5 s", &lock_rules, 0, 0 },
		{ "1h 30m", &cairn_duration_timeouts, 0, 0 },
		/* what strtod would take but a person does not write */
		{ "1e3", &lock_rules, 0, 0 },
		{ "0x10", &lock_rules, 0, 0 },
		{ "inf", &lock_rules, 0, 0 },
		{ "nan", &lock_rules, 0, 0 },
		/* zero: allowed or not */
		{ "0", &lock_rules, 1, 0 },
		{ "0s", &lock_rules, 1, 0 },
		{ "0ms", &lock_rules, 1, 0 },
		{ "0", &cairn_duration_timeouts, 0, 0 },
		{ "0h0m", &cairn_duration_timeouts, 0, 0 },
		{ "0s", &ttl_rules, 0, 0 },
		/* the bounds, inclusive */
		{ "7d", &ttl_rules, 1, 7 * 86400 },
		{ "168h", &cairn_duration_timeouts, 1, 7 * 86400 },
		{ "168h1s", &cairn_duration_timeouts, 0, 0 },
		{ "1s", &ttl_rules, 1, 1 },
		{ "0.999s", &ttl_rules, 0, 0 },
		{ "3650d", &ttl_rules, 1, 3650 * 86400.0 },
		{ "3650d1s", &ttl_rules, 0, 0 },
		{ "300000000d", &ttl_rules, 0, 0 }, /* the bound is on seconds, not on the number */
		{ "8760000h", &lock_rules, 1, 8760000 * 3600.0 },
		/* overflow: to infinity in strtod, or in the multiplication */
		{ "1" "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000s",
		  &lock_rules, 0, 0 },
		{ "1" "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000h",
		  &lock_rules, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double out = -1;
		int rc = cairn_duration_parse(rows[i].in, rows[i].rules, &out);

		if (rows[i].ok && (rc != 0 || out != rows[i].secs))
			T_FAIL_("'%s': rc %d, %g seconds; expected %g", rows[i].in, rc, out, rows[i].secs);
		if (!rows[i].ok && (rc != CAIRN_EINVAL || out != -1))
			T_FAIL_("'%s': rc %d, %g seconds; expected CAIRN_EINVAL, out untouched", rows[i].in, rc, out);
	}
	T_EQ_INT(cairn_duration_parse(NULL, &lock_rules, &(double){ 0 }), CAIRN_EINVAL);
	T_CHECK(cairn_error_last() == NULL); /* the caller says what it accepts */
}

/* An answer hashed as it arrives, in pieces of any size, has the digest of
 * the whole: request ids near the start (EC2), near the end (RDS), split
 * across pieces, missing, or both; short and long answers. */
static void test_util__answer_hasher(void)
{
	static const char *const ids[] = { "", "<requestId>r-1234</requestId>", "<RequestId>abc-def</RequestId>",
					   "<requestId>unterminated", "<RequestId>x</RequestId><requestId>y</requestId>" };
	unsigned seed = 7;
	size_t t;

	for (t = 0; t < 3000; t++) {
		size_t len = (t % 7 == 0) ? (size_t)(rand_r(&seed) % 900) : (size_t)(rand_r(&seed) % 6000);
		char *s = malloc(len + 64), one[65], streamed[65];
		const char *id = ids[rand_r(&seed) % 5];
		size_t at, i, idl = strlen(id);
		cairn_answer_hasher *h;

		for (i = 0; i < len; i++)
			s[i] = "abc<>/ \n"[rand_r(&seed) % 8];
		if (idl && len > idl) {
			/* near the start, near the end, or anywhere */
			switch (rand_r(&seed) % 3) {
			case 0: at = (size_t)rand_r(&seed) % (len - idl < 600 ? len - idl + 1 : 600); break;
			case 1: at = len - idl - (size_t)rand_r(&seed) % (len - idl < 600 ? len - idl + 1 : 600); break;
			default: at = (size_t)rand_r(&seed) % (len - idl + 1); break;
			}
			memcpy(s + at, id, idl);
		}
		T_OK(cairn_answer_digest(s, len, one));
		T_CHECK((h = cairn_answer_hasher_new()) != NULL);
		for (i = 0; i < len;) {
			size_t n = 1 + (size_t)rand_r(&seed) % (t % 2 ? 40 : 1500);

			if (n > len - i)
				n = len - i;
			T_OK(cairn_answer_hasher_add(h, s + i, n));
			i += n;
		}
		T_OK(cairn_answer_hasher_end(h, streamed));
		if (strcmp(one, streamed) != 0) {
			T_FAIL_("answer %zu (%zu bytes, id '%s'): %s whole, %s in pieces", t, len, id, one, streamed);
			free(s);
			return;
		}
		free(s);
	}
	/* abandoned halfway: nothing to leak */
	cairn_answer_hasher *h = cairn_answer_hasher_new();

	T_CHECK(h != NULL);
	T_OK(cairn_answer_hasher_add(h, "<requestId>", 11));
	cairn_answer_hasher_free(h);
}

static const t_case cases[] = {
	T_CASE(test_util__buf_cap),
	T_CASE(test_util__buf_label),
	T_CASE(test_util__error_position),
	T_CASE(test_util__unknown),
	T_CASE(test_util__render),
	T_CASE(test_util__duration_parse),
	T_CASE(test_util__answer_hasher),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
