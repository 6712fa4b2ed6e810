/*
 * t.h - the unit-test harness: a list of cases, each a function; a failed
 * check prints file:line and the expression, and fails the case. Output is
 * TAP so meson shows each case. Run one case: ./test_x CASE_NAME.
 *
 *   static void test_buf__grows(void) { T_CHECK(1 + 1 == 2); }
 *   static const t_case cases[] = { T_CASE(test_buf__grows), { 0 } };
 *   int main(int argc, char **argv) { return t_main(cases, argc, argv); }
 */
#ifndef CAIRN_T_H
#define CAIRN_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct t_case {
	const char *name;
	void (*fn)(void);
} t_case;

#define T_CASE(f) { #f, f }

static int t_failed_;

#define T_FAIL_(fmt, ...) do { \
	printf("#   %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__); \
	t_failed_ = 1; return; } while (0)
#define T_CHECK(c) do { if (!(c)) T_FAIL_("check failed: %s", #c); } while (0)
#define T_OK(e) do { int t_rc_ = (e); if (t_rc_ != 0) { \
	const cairn_error *t_e_ = cairn_error_last(); \
	T_FAIL_("%s returned %d: %s", #e, t_rc_, t_e_ ? t_e_->message : "(no error)"); } } while (0)
#define T_EQ_INT(a, b) do { long long t_a_ = (a), t_b_ = (b); if (t_a_ != t_b_) \
	T_FAIL_("%s == %lld, expected %lld", #a, t_a_, t_b_); } while (0)
#define T_EQ_STR(a, b) do { const char *t_a_ = (a), *t_b_ = (b); \
	if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) \
		T_FAIL_("%s == \"%s\", expected \"%s\"", #a, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); } while (0)
#define T_CONTAINS(hay, needle) do { const char *t_h_ = (hay), *t_n_ = (needle); \
	if (!t_h_ || !strstr(t_h_, t_n_)) \
		T_FAIL_("%s == \"%s\", expected to contain \"%s\"", #hay, t_h_ ? t_h_ : "(null)", t_n_); } while (0)

static inline int t_main(const t_case *cases, int argc, char **argv)
{
	int n = 0, failed = 0, i;

	for (i = 0; cases[i].name; i++)
		if (argc < 2 || strcmp(argv[1], cases[i].name) == 0)
			n++;
	printf("1..%d\n", n);
	n = 0;
	for (i = 0; cases[i].name; i++) {
		if (argc >= 2 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		t_failed_ = 0;
		cases[i].fn();
		printf("%s %d - %s\n", t_failed_ ? "not ok" : "ok", ++n, cases[i].name);
		fflush(stdout);
		failed += t_failed_;
	}
	return failed ? 1 : 0;
}

#endif
