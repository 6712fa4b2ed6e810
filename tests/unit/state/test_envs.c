/*
 * test_envs.c - the record of ephemeral environments (state/envs.h): add,
 * get, list, expiry, the sealing of their variables, and forget's refusals
 * (resources left, another handle's live lock), in one transaction each.
 * On a SQLite file, or on PostgreSQL under tests/pg/unit.sh (backend.h).
 */
#include "t.h"
#include "state/backend.h"
#include "state/envs.h"
#include "state/lock.h"
#include "state/store.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

static t_state ts;

static void test_envs__add_get_list(void)
{
	cairn_store *st = t_state_open(&ts, "envs");
	cairn_ephemeral_env a = { 0 }, got = { 0 }, *v = NULL;
	json_t *vars = json_pack("{s:s,s:i}", "db_password", "hunter2-secret", "n", 3);
	size_t n = 0;

	a.name = "pr-2";
	a.base = "dev";
	a.vars = vars;
	a.expires_at = 2000000000;
	T_OK(cairn_store_ephemeral_add(st, &a));
	a.name = "pr-1";
	a.vars = NULL;
	a.expires_at = 0;
	a.created_at = 1900000000; /* given: kept (the caller's expiry is from the same reading) */
	T_OK(cairn_store_ephemeral_add(st, &a));
	T_EQ_INT(cairn_store_ephemeral_add(st, &a), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "environment 'pr-1' already exists");
	T_OK(cairn_store_ephemeral_get(st, "pr-2", &got));
	T_EQ_STR(got.base, "dev");
	T_EQ_INT(got.expires_at, 2000000000);
	T_CHECK(json_equal(got.vars, vars));
	T_CHECK(got.who && strchr(got.who, '@'));
	cairn_ephemeral_env_release(&got);
	T_EQ_INT(cairn_store_ephemeral_get(st, "pr-3", &got), CAIRN_ENOTFOUND);
	T_OK(cairn_store_ephemeral_list(st, &v, &n));
	T_EQ_INT(n, 2);
	T_EQ_STR(v[0].name, "pr-1");
	T_EQ_INT(v[0].expires_at, 0);
	T_EQ_INT(v[0].created_at, 1900000000);
	T_CHECK(v[1].created_at >= (int64_t)time(NULL) - 60); /* not given: now */
	T_EQ_INT(json_object_size(v[0].vars), 0);
	T_EQ_STR(v[1].name, "pr-2");
	cairn_ephemeral_env_free_array(v, n);
	json_decref(vars);
	t_state_close(&ts, st);
}

static void test_envs__vars_sealed_at_rest(void)
{
	cairn_store *st = t_state_open(&ts, "envs");
	cairn_ephemeral_env a = { .name = "pr-1", .base = "dev" };
	json_t *vars = json_pack("{s:s}", "db_password", "hunter2-secret");

	a.vars = vars;
	T_OK(cairn_store_ephemeral_add(st, &a));
	cairn_store_free(st);
	st = NULL;
	/* the whole file, WAL included, or every row of the PostgreSQL schema,
	 * never holds the value in clear */
	T_CHECK(t_state_contains(&ts, "pr-1")); /* the search does see what is in clear */
	T_CHECK(!t_state_contains(&ts, "hunter2-secret"));
	json_decref(vars);
	t_state_close(&ts, st);
}

static void test_envs__expiry(void)
{
	cairn_store *st = t_state_open(&ts, "envs");
	cairn_ephemeral_env a = { .name = "pr-1", .base = "dev", .expires_at = 100 }, got = { 0 };

	T_OK(cairn_store_ephemeral_add(st, &a));
	T_OK(cairn_store_ephemeral_set_expiry(st, "pr-1", 200));
	T_OK(cairn_store_ephemeral_get(st, "pr-1", &got));
	T_EQ_INT(got.expires_at, 200);
	cairn_ephemeral_env_release(&got);
	T_OK(cairn_store_ephemeral_set_expiry(st, "pr-1", 0));
	T_OK(cairn_store_ephemeral_get(st, "pr-1", &got));
	T_EQ_INT(got.expires_at, 0);
	cairn_ephemeral_env_release(&got);
	T_EQ_INT(cairn_store_ephemeral_set_expiry(st, "nope", 5), CAIRN_ENOTFOUND);
	t_state_close(&ts, st);
}

static void test_envs__forget_only_when_empty_and_unlocked(void)
{
	cairn_store *st = t_state_open(&ts, "envs"), *other = NULL;
	cairn_ephemeral_env a = { .name = "pr-1", .base = "dev" }, got = { 0 };
	cairn_state_res r = { 0 };
	int64_t rev = 0;

	T_OK(cairn_store_ephemeral_add(st, &a));
	r.address = "x";
	r.type = "null.resource";
	r.id = "x-1";
	r.attrs = json_object();
	r.sensitive = json_array();
	r.deps = json_array();
	T_OK(cairn_store_rev_begin(st, "pr-1", "apply", &rev));
	T_OK(cairn_store_put(st, "pr-1", rev, "create", &r, 0));
	T_EQ_INT(cairn_store_ephemeral_forget(st, "pr-1"), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "still records 1 resource(s)");
	T_OK(cairn_store_remove(st, "pr-1", rev, "delete", "x", 0));
	/* another handle's live lock: refused; this handle's own: fine */
	T_OK(cairn_store_open(&other, ts.loc, 0));
	T_OK(cairn_lock_acquire(other, "pr-1", "apply", 60, 0, NULL));
	T_EQ_INT(cairn_store_ephemeral_forget(st, "pr-1"), CAIRN_ELOCKED);
	T_OK(cairn_lock_release(other, "pr-1"));
	T_OK(cairn_lock_acquire(st, "pr-1", "env destroy", 60, 0, NULL));
	T_OK(cairn_store_ephemeral_forget(st, "pr-1"));
	T_OK(cairn_lock_release(st, "pr-1"));
	T_EQ_INT(cairn_store_ephemeral_get(st, "pr-1", &got), CAIRN_ENOTFOUND);
	T_EQ_INT(cairn_store_ephemeral_forget(st, "pr-1"), CAIRN_ENOTFOUND);
	json_decref(r.attrs);
	json_decref(r.sensitive);
	json_decref(r.deps);
	cairn_store_free(other);
	t_state_close(&ts, st);
}

static const t_case cases[] = {
	T_CASE(test_envs__add_get_list),
	T_CASE(test_envs__vars_sealed_at_rest),
	T_CASE(test_envs__expiry),
	T_CASE(test_envs__forget_only_when_empty_and_unlocked),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
