/*
 * test_approvals.c - what guardrails keep in the state (state/approvals.h):
 * approvals matched by the plan's digest, notes added to a revision's
 * summary without losing what it held, and the applied configuration kept
 * sealed per revision (replaced when recorded again). On a SQLite file, or
 * on PostgreSQL under tests/pg/unit.sh (backend.h): the summary's JSON is
 * handled in C, so the same calls work on both.
 */
#include "t.h"
#include "state/backend.h"
#include "state/approvals.h"
#include "state/store.h"

#include <stdlib.h>
#include <unistd.h>

#include "base/buf.h"

static t_state ts;

static cairn_store *setup(void)
{
	setenv("CAIRN_USER", "alice", 1);
	return t_state_open(&ts, "approvals");
}

static void test_approvals__by_digest(void)
{
	cairn_store *st = setup();
	json_t *list = NULL, *h = NULL, *a;
	int64_t r1 = 0, r2 = 0, r3 = 0;

	T_OK(cairn_store_approve(st, "prod", "sha256:aaa", "bob", "plan-a.json", &r1));
	T_OK(cairn_store_approve(st, "prod", "sha256:bbb", "bob", "plan-b.json", &r2));
	T_OK(cairn_store_approve(st, "prod", "sha256:aaa", "bob", "plan-a.json", &r3));
	T_OK(cairn_store_approve(st, "dev", "sha256:aaa", "bob", "plan-a.json", &r1));
	T_OK(cairn_store_approvals(st, "prod", "sha256:aaa", &list));
	T_EQ_INT(json_array_size(list), 2);
	a = json_array_get(list, 1);
	T_EQ_INT(json_integer_value(json_object_get(a, "rev")), r3);
	T_EQ_STR(json_string_value(json_object_get(a, "who")), "alice");
	T_EQ_STR(json_string_value(json_object_get(a, "author")), "bob");
	T_CHECK(json_integer_value(json_object_get(a, "at")) > 0);
	json_decref(list);
	T_OK(cairn_store_approvals(st, "prod", "sha256:ccc", &list));
	T_EQ_INT(json_array_size(list), 0);
	json_decref(list);
	/* the history shows the approval with its summary */
	T_OK(cairn_store_history(st, "prod", 1, &h));
	a = json_object_get(json_object_get(json_array_get(h, 0), "summary"), "approval");
	T_EQ_STR(json_string_value(json_object_get(a, "digest")), "sha256:aaa");
	T_EQ_STR(json_string_value(json_object_get(a, "plan")), "plan-a.json");
	json_decref(h);
	(void)r2;
	t_state_close(&ts, st);
}

static void test_approvals__annotate_keeps_summary(void)
{
	cairn_store *st = setup();
	json_t *h = NULL, *sum, *sum0 = json_pack("{s:i}", "created", 2), *checks = json_pack("[{s:s}]", "name", "http");
	json_t *note = json_string("rollback from revision 2 to revision 1");
	int64_t rev = 0, bare = 0;

	T_OK(cairn_store_rev_begin(st, "dev", "apply", &rev));
	T_OK(cairn_store_rev_finish(st, rev, "ok", sum0));
	T_OK(cairn_store_rev_annotate(st, rev, "checks", checks));
	T_OK(cairn_store_rev_annotate(st, rev, "checks_passed", json_false()));
	T_OK(cairn_store_rev_annotate(st, rev, "checks_passed", json_true()));
	/* a revision without a summary gets one */
	T_OK(cairn_store_rev_begin(st, "dev", "apply", &bare));
	T_OK(cairn_store_rev_annotate(st, bare, "note", note));
	T_OK(cairn_store_history(st, "dev", 0, &h));
	sum = json_object_get(json_array_get(h, 1), "summary");
	T_EQ_INT(json_integer_value(json_object_get(sum, "created")), 2);
	T_CHECK(json_equal(json_object_get(sum, "checks"), checks));
	T_CHECK(json_is_true(json_object_get(sum, "checks_passed")));
	sum = json_object_get(json_array_get(h, 0), "summary");
	T_EQ_STR(json_string_value(json_object_get(sum, "note")), "rollback from revision 2 to revision 1");
	T_EQ_INT(cairn_store_rev_annotate(st, 9999, "note", json_true()), CAIRN_ENOTFOUND);
	json_decref(h);
	json_decref(sum0);
	json_decref(checks);
	json_decref(note);
	t_state_close(&ts, st);
}

static void test_approvals__config_sealed_and_replaced(void)
{
	cairn_store *st = setup();
	json_t *c1 = json_pack("{s:{s:s},s:{s:s}}", "files", "stack.yaml", "resources: {}",
			       "variables", "db_password", "hunter2-secret");
	json_t *c2 = json_pack("{s:{},s:{}}", "files", "variables"), *got = NULL;
	int64_t rev = 0;

	T_OK(cairn_store_rev_begin(st, "prod", "apply", &rev));
	T_EQ_INT(cairn_store_config_get(st, "prod", rev, &got), CAIRN_ENOTFOUND);
	T_CONTAINS(cairn_error_last()->message, "no configuration recorded for revision");
	T_OK(cairn_store_config_put(st, "prod", rev, c1));
	T_OK(cairn_store_config_get(st, "prod", rev, &got));
	T_CHECK(json_equal(got, c1));
	json_decref(got);
	T_OK(cairn_store_config_put(st, "prod", rev, c2));
	T_OK(cairn_store_config_get(st, "prod", rev, &got));
	T_CHECK(json_equal(got, c2));
	json_decref(got);
	T_EQ_INT(cairn_store_config_get(st, "dev", rev, &got), CAIRN_ENOTFOUND);
	T_OK(cairn_store_config_put(st, "dev", rev, c1));
	cairn_store_free(st);
	st = NULL;
	T_CHECK(!t_state_contains(&ts, "hunter2-secret"));
	json_decref(c1);
	json_decref(c2);
	t_state_close(&ts, st);
}

static const t_case cases[] = {
	T_CASE(test_approvals__by_digest),
	T_CASE(test_approvals__annotate_keeps_summary),
	T_CASE(test_approvals__config_sealed_and_replaced),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
