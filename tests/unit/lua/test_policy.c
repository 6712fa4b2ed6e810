/*
 * test_policy.c - one policy in its own sandbox (lua/policy.h): what it
 * returns, the limits that stop it, what it cannot reach, and that one
 * run cannot see another's globals.
 */
#include "t.h"
#include "lua/policy.h"

#include <stdio.h>
#include <unistd.h>

static char path_[64];

/* Run the policy `src` on input; *out the result (or NULL), returns rc. */
static int run(const char *src, const char *input, const cairn_lua_policy_limits *lim, json_t **out)
{
	json_t *in = json_loads(input ? input : "{\"environment\": \"dev\", \"changes\": []}", 0, NULL);
	FILE *f;
	int rc, fd;

	snprintf(path_, sizeof(path_), "/tmp/cairn-policy-XXXXXX");
	if ((fd = mkstemp(path_)) < 0 || !(f = fdopen(fd, "w")))
		abort();
	fputs(src, f);
	fclose(f);
	*out = NULL;
	rc = cairn_lua_policy_run(path_, "policies/p.lua", in, lim, out);
	unlink(path_);
	json_decref(in);
	return rc;
}

static void test_policy__findings(void)
{
	json_t *r = NULL;

	T_OK(run("return function(plan)\n"
		 "  return { { level = 'deny', message = plan.environment .. ' ' .. #plan.changes, address = 'x' } }\n"
		 "end\n", "{\"environment\": \"prod\", \"changes\": [{}, {}]}", NULL, &r));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(r, 0), "message")), "prod 2");
	json_decref(r);
	/* a table with a check function works too */
	T_OK(run("return { check = function(plan) return {} end }\n", NULL, NULL, &r));
	T_CHECK(json_is_object(r) || json_is_array(r));
	json_decref(r);
}

static void test_policy__errors_name_the_line(void)
{
	json_t *r = NULL;

	T_EQ_INT(run("return function(plan)\n  error('no')\nend\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_EQ_STR(cairn_error_last()->message, "policies/p.lua:2: no");
	T_EQ_INT(run("return 1\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "a policy must return a function");
	T_EQ_INT(run("return function(\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "policies/p.lua:");
}

static void test_policy__limits(void)
{
	cairn_lua_policy_limits small = { 100000, 0, 0 }, mem = { 0, 8 << 20, 0 };
	json_t *r = NULL;

	T_EQ_INT(run("return function() while true do end end\n", NULL, &small, &r), CAIRN_ELIMIT);
	T_CONTAINS(cairn_error_last()->message, "exceeded its instruction limit (100000 instructions)");
	T_EQ_INT(run("local x = 0\nwhile true do x = x + 1 end\n", NULL, &small, &r), CAIRN_ELIMIT);
	/* pcall cannot catch the limit */
	T_EQ_INT(run("return function() pcall(function() while true do end end) return {} end\n", NULL, &small, &r),
		 CAIRN_ELIMIT);
	T_EQ_INT(run("return function() local t = {} for i = 1, 64 do t[i] = string.rep('x', 1 << 20) .. i end end\n",
		     NULL, &mem, &r), CAIRN_ELIMIT);
	T_CONTAINS(cairn_error_last()->message, "not enough memory");
}

static void test_policy__no_capabilities(void)
{
	json_t *r = NULL;

	T_EQ_INT(run("return function() cairn.sleep(1) end\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "a policy may not wait (no network, no sleep): it asked for sleep");
	T_EQ_INT(run("return function() return cairn.http.request({ method = 'GET', url = 'http://127.0.0.1:1/' }) end\n",
		     NULL, NULL, &r), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "it asked for http");
	T_EQ_INT(run("return function() return io.open('/etc/passwd') end\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_EQ_INT(run("return function() return os.getenv('HOME') end\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_EQ_INT(run("return function() return cairn.fs.read('/etc/passwd') end\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_EQ_INT(run("return function() return require('x') end\n", NULL, NULL, &r), CAIRN_EINVAL);
	T_EQ_INT(run("return function() return load('return 1')() end\n", NULL, NULL, &r), CAIRN_EINVAL);
}

static void test_policy__isolated(void)
{
	json_t *r = NULL;

	T_OK(run("leaked = 'yes'\nreturn function() return {} end\n", NULL, NULL, &r));
	json_decref(r);
	/* the libraries are read-only */
	T_EQ_INT(run("string.rep = nil\nreturn function() return {} end\n", NULL, NULL, &r), CAIRN_EINVAL);
	/* a second policy runs in a state of its own */
	T_OK(run("return function() return { { level = 'warn', message = tostring(leaked) } } end\n", NULL, NULL, &r));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(r, 0), "message")), "nil");
	json_decref(r);
}

static const t_case cases[] = {
	T_CASE(test_policy__findings),
	T_CASE(test_policy__errors_name_the_line),
	T_CASE(test_policy__limits),
	T_CASE(test_policy__no_capabilities),
	T_CASE(test_policy__isolated),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
