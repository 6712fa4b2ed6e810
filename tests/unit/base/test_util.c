/*
 * test_util.c - errors, buffers, values.
 */
#include "t.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/value.h"

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

static const t_case cases[] = {
	T_CASE(test_util__buf_cap),
	T_CASE(test_util__error_position),
	T_CASE(test_util__unknown),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
