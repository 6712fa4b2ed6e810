/*
 * test_lua.c - the Lua runtime: sandbox, module loading and schemas, the
 * operation coroutines and their yield protocol, limits, the cairn API, and
 * the built-in modules (local.file, random.id, random.password,
 * null.resource) driven through the same op API the scheduler uses.
 *
 * Fixture modules live in tests/unit/lua/modules/<ns>/<name>.lua.
 */
#include "t.h"
#include "lua/runtime.h"
#include "lua/internal.h"
#include "base/buf.h"

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

static char fixtures[4096];

/* <source root>/tests/unit/lua/modules, from CAIRN_MODULES_DIR (<source root>/modules) */
static const char *fixtures_dir(void)
{
	const char *slash;

	if (!fixtures[0]) {
		slash = strrchr(CAIRN_MODULES_DIR, '/');
		snprintf(fixtures, sizeof(fixtures), "%.*s/tests/unit/lua/modules",
			 (int)(slash ? slash - CAIRN_MODULES_DIR : 1), slash ? CAIRN_MODULES_DIR : ".");
	}
	return fixtures;
}

static cairn_buf logbuf = CAIRN_BUF_INIT;

static void capture_log(void *ud, const char *level, const char *address, const char *msg)
{
	cairn_buf_printf(&logbuf, "[%s] %s: %s\n", level, address ? address : "-", msg);
}

static const char *modules_dir(void)
{
	const char *e = getenv("CAIRN_MODULES_PATH");

	return e && *e ? e : CAIRN_MODULES_DIR;
}

static cairn_lua *new_rt(size_t mem, long long instructions)
{
	const char *dirs[2] = { fixtures_dir(), modules_dir() };
	cairn_lua_limits lim = { mem, instructions };
	cairn_lua *rt = NULL;

	if (cairn_lua_new(&rt, dirs, 2, &lim) < 0)
		return NULL;
	cairn_lua_set_log(rt, capture_log, NULL);
	return rt;
}

typedef struct run {
	int st;              /* cairn_op_status, or -1 when op_new failed */
	json_t *result;
	json_t *requests;
	char err[2048];
	char code[256];
	char tb[4096];
	int errclass;
} run;

static void run_release(run *r)
{
	json_decref(r->result);
	json_decref(r->requests);
	memset(r, 0, sizeof(*r));
}

/* http://paginate/: three pages of DescribeVpcs, one VPC each */
static json_t *page_answer(json_t *req)
{
	const char *body = json_string_value(json_object_get(req, "body"));
	const char *id = "a", *next = "<nextToken>t1</nextToken>";
	char xml[512];

	if (body && strstr(body, "NextToken=t2"))
		id = "c", next = "";
	else if (body && strstr(body, "NextToken=t1"))
		id = "b", next = "<nextToken>t2</nextToken>";
	snprintf(xml, sizeof(xml), "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
		 "<vpcSet><item><vpcId>vpc-%s</vpcId></item></vpcSet>%s</DescribeVpcsResponse>", id, next);
	return json_pack("{s:i, s:{}, s:s}", "status", 200, "headers", "body", xml);
}

/* http://errors/: DescribeVpcAttribute; VpcId=vpc-gone answers
 * InvalidVpcID.NotFound, VpcId=vpc-denied UnauthorizedOperation (403) */
static json_t *error_answer(json_t *req)
{
	const char *body = json_string_value(json_object_get(req, "body"));
	const char *code = NULL;
	char xml[512];

	if (body && strstr(body, "VpcId=vpc-gone"))
		code = "InvalidVpcID.NotFound";
	else if (body && strstr(body, "VpcId=vpc-denied"))
		code = "UnauthorizedOperation";
	if (!code)
		return json_pack("{s:i, s:{}, s:s}", "status", 200, "headers", "body",
				 "<DescribeVpcAttributeResponse><enableDnsSupport><value>true</value>"
				 "</enableDnsSupport></DescribeVpcAttributeResponse>");
	snprintf(xml, sizeof(xml), "<Response><Errors><Error><Code>%s</Code><Message>no</Message></Error>"
		 "</Errors></Response>", code);
	return json_pack("{s:i, s:{}, s:s}", "status", strstr(code, "Unauthorized") ? 403 : 400,
			 "headers", "body", xml);
}

/* A fake host for cairn.ssh: what provisioner/ssh would answer. */
static json_t *ssh_answer(json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *path = json_string_value(json_object_get(req, "path"));

	if (path && !strcmp(path, "/denied"))
		return json_pack("{s:s,s:s}", "error", "h (10.0.0.1:22): cannot read /denied: Permission denied",
				 "code", "permission_denied");
	if (!strcmp(op, "exec")) /* stdout: the stdin it was given (base64 "AGJpbv8=" = "\0bin\xff") */
		return json_pack("{s:i,s:O,s:s,s:b,s:b}", "exit_code", 7, "stdout_b64", json_object_get(req, "stdin_b64"),
				 "stderr_b64", "ZXJy", "stdout_truncated", 0, "stderr_truncated", 0);
	if (!strcmp(op, "stat") && !strcmp(path, "/missing"))
		return json_pack("{s:b}", "exists", 0);
	if (!strcmp(op, "stat"))
		return json_pack("{s:b,s:s,s:s,s:i,s:i,s:i}", "exists", 1, "type", "file", "mode", "0640", "uid", 0,
				 "gid", 0, "size", 3);
	if (!strcmp(op, "read"))
		return json_pack("{s:b,s:s}", "exists", 1, "content_b64", "AAEC");
	if (!strcmp(op, "readlink"))
		return json_pack("{s:b,s:s}", "exists", 1, "target", "/target");
	if (!strcmp(op, "remove"))
		return json_pack("{s:b}", "removed", 0);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *answer_for(json_t *req)
{
	const char *kind = json_string_value(json_object_get(req, "kind"));
	const char *url = json_string_value(json_object_get(req, "url"));

	if (kind && strcmp(kind, "ssh") == 0)
		return ssh_answer(req);
	if (kind && strcmp(kind, "http") == 0 && url && strcmp(url, "http://paginate/") == 0)
		return page_answer(req);
	if (kind && strcmp(kind, "http") == 0)
		return json_pack("{s:i, s:{s:s}, s:s}", "status", 200,
				 "headers", "x-amzn-requestid", "req-1", "body", "<ok/>");
	if (kind && strcmp(kind, "all") == 0) {
		/* each answer's body is its request's URL, in order */
		json_t *out = json_array(), *one;
		size_t i;

		json_array_foreach(json_object_get(req, "requests"), i, one) {
			const char *u = json_string_value(json_object_get(one, "url"));

			if (u && strcmp(u, "http://paginate/") == 0)
				json_array_append_new(out, page_answer(one));
			else if (u && strcmp(u, "http://errors/") == 0)
				json_array_append_new(out, error_answer(one));
			else
				json_array_append_new(out, json_pack("{s:i, s:{}, s:O}", "status", 200 + (int)i,
								     "headers", "body", json_object_get(one, "url")));
		}
		return out;
	}
	return json_null();
}

/* Run op to completion, answering sleeps with null and HTTP with a 200,
 * with a deadline of `timeout` seconds (0: none). args is stolen. */
static void run_op_timeout(run *r, cairn_lua *rt, const char *type, const char *opname,
			   json_t *args, const char *base_dir, double timeout)
{
	cairn_lua_op *op = NULL;
	json_t *ctx, *answer;
	const cairn_error *e;
	int i;

	memset(r, 0, sizeof(*r));
	r->requests = json_array();
	ctx = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:{s:s}}", "env", "dev", "stack", "demo",
			"address", "test.thing.a", "token", "tok-1", "base_dir", base_dir,
			"provider", "region", "us-east-1");
	if (cairn_lua_op_new(&op, rt, type, opname, ctx, args) < 0) {
		e = cairn_error_last();
		r->st = -1;
		r->errclass = e ? e->code : 0;
		snprintf(r->err, sizeof(r->err), "%s", e ? e->message : "");
		goto done;
	}
	cairn_lua_op_set_timeout(op, timeout);
	r->st = cairn_lua_op_resume(op, NULL);
	for (i = 0; r->st == CAIRN_OP_YIELDED && i < 1000; i++) {
		json_array_append(r->requests, cairn_lua_op_request(op));
		answer = answer_for(cairn_lua_op_request(op));
		r->st = cairn_lua_op_resume(op, answer);
		json_decref(answer);
	}
	if (r->st == CAIRN_OP_DONE) {
		r->result = json_incref(cairn_lua_op_result(op));
	} else if (r->st == CAIRN_OP_FAILED) {
		e = cairn_error_last();
		r->errclass = e ? e->code : 0;
		snprintf(r->err, sizeof(r->err), "%s", cairn_lua_op_error(op));
		if (cairn_lua_op_error_code(op))
			snprintf(r->code, sizeof(r->code), "%s", cairn_lua_op_error_code(op));
		if (cairn_lua_op_traceback(op))
			snprintf(r->tb, sizeof(r->tb), "%s", cairn_lua_op_traceback(op));
		if (!e || strcmp(e->message, r->err) != 0)
			snprintf(r->err, sizeof(r->err), "cairn error does not match the op's error");
	}
done:
	cairn_lua_op_free(op);
	json_decref(ctx);
	json_decref(args);
}

static void run_op(run *r, cairn_lua *rt, const char *type, const char *opname,
		   json_t *args, const char *base_dir)
{
	run_op_timeout(r, rt, type, opname, args, base_dir, 0);
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long iget(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static int bget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v ? json_is_true(v) : -1;
}

/* -- sandbox ----------------------------------------------------------------- */

static void test_lua__sandbox(void)
{
	static const char *const absent[] = {
		"io", "os", "package", "debug", "load", "loadfile", "dofile", "rawset",
		"coroutine", "_G", "warn", "loadstring", "string_dump", "gc_stop", "cairn_fs",
		"string_writable", "cairn_writable", "cairn_json_writable", "string_setmeta",
		"strmeta_writable", "pairs_leak", "array_proxy", "array_cairn", "gc_meta", NULL,
	};
	cairn_lua *rt = new_rt(0, 0);
	run r;
	int i;

	T_CHECK(rt != NULL);
	run_op(&r, rt, "test.sandbox", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	for (i = 0; absent[i]; i++) {
		if (bget(r.result, absent[i]) != 0)
			printf("#   sandbox lets a module have/do: %s\n", absent[i]);
		T_CHECK(bget(r.result, absent[i]) == 0);
	}
	T_CHECK(bget(r.result, "string_meta") == 0);
	T_CHECK(bget(r.result, "env_meta") == 0);
	T_CHECK(bget(r.result, "gc_count") == 1);
	T_CHECK(bget(r.result, "upper_works") == 1);
	T_CHECK(bget(r.result, "math_pairs") == 1);
	T_CHECK(bget(r.result, "setmeta_works") == 1);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__globals_isolated(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.sandbox", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	run_release(&r);
	/* another module does not see the global, nor a changed library */
	run_op(&r, rt, "test.observer", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "polluted"), "no");
	T_EQ_STR(sget(r.result, "upper"), "X");
	T_EQ_STR(sget(r.result, "log"), "function");
	T_CHECK(bget(r.result, "fs") == 0);
	run_release(&r);
	/* the module itself keeps its own globals between operations */
	run_op(&r, rt, "test.sandbox", "read", json_pack("[s]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "polluted"), "yes");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__require(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.req", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(bget(r.result, "same") == 1);
	T_EQ_INT(iget(r.result, "double"), 42);
	T_EQ_INT(iget(r.result, "loads"), 1);
	T_CHECK(bget(r.result, "os") == 0);
	T_CONTAINS(sget(r.result, "os_err"), "'os' not found on the module search path");
	T_CHECK(bget(r.result, "dots") == 0);
	T_CONTAINS(sget(r.result, "dots_err"), "invalid module name");
	T_CHECK(bget(r.result, "missing") == 0);
	T_CONTAINS(sget(r.result, "missing_err"), "lib.nothere");
	run_release(&r);
	cairn_lua_free(rt);
}

/* -- schemas ------------------------------------------------------------------ */

static void test_lua__schema(void)
{
	cairn_lua *rt = new_rt(0, 0);
	const cairn_schema *s = NULL, *again = NULL;
	const cairn_attr_schema *a;
	size_t i;

	T_OK(cairn_lua_schema(rt, "test.schema", &s));
	T_OK(cairn_lua_schema(rt, "test.schema", &again));
	T_CHECK(s == again);
	T_EQ_STR(s->type, "test.schema");
	T_CONTAINS(s->file, "modules/test/schema.lua");
	T_EQ_STR(s->description, "schema parsing");
	T_EQ_STR(s->id_attr, "arn");
	T_EQ_INT(s->nattrs, 9);
	for (i = 1; i < s->nattrs; i++)
		T_CHECK(strcmp(s->attrs[i - 1].name, s->attrs[i].name) < 0);
	T_EQ_INT(s->ops, CAIRN_OPS_CREATE | CAIRN_OPS_READ | CAIRN_OPS_UPDATE | CAIRN_OPS_DELETE | CAIRN_OPS_LIST);

	T_CHECK((a = cairn_schema_attr(s, "name")) != NULL);
	T_EQ_INT(a->type, CAIRN_T_STRING);
	T_CHECK(a->required && !a->optional && !a->computed && a->force_new && !a->sensitive);
	T_EQ_STR(a->description, "the name");
	T_CHECK((a = cairn_schema_attr(s, "size")) != NULL);
	T_CHECK(a->type == CAIRN_T_NUMBER && a->optional && !a->required && json_integer_value(a->def) == 3);
	T_CHECK((a = cairn_schema_attr(s, "enabled")) != NULL);
	T_CHECK(a->type == CAIRN_T_BOOL && json_is_true(a->def));
	T_CHECK((a = cairn_schema_attr(s, "tags")) != NULL);
	T_CHECK(a->type == CAIRN_T_MAP && json_is_object(a->def));
	T_CHECK((a = cairn_schema_attr(s, "zones")) != NULL);
	T_CHECK(a->type == CAIRN_T_LIST && json_is_array(a->def));
	T_CHECK((a = cairn_schema_attr(s, "secret")) != NULL);
	T_CHECK(a->sensitive && a->optional && a->write_only);
	T_CHECK(!cairn_schema_attr(s, "name")->write_only);
	T_CHECK((a = cairn_schema_attr(s, "arn")) != NULL);
	T_CHECK(a->computed && !a->optional && !a->required);
	T_CHECK((a = cairn_schema_attr(s, "region")) != NULL);
	T_CHECK(a->computed && a->optional);
	T_CHECK((a = cairn_schema_attr(s, "anything")) != NULL);
	T_CHECK(a->type == CAIRN_T_ANY && a->optional);
	T_CHECK(cairn_schema_attr(s, "nope") == NULL);
	cairn_lua_free(rt);
}

static const char *check_msg(const cairn_schema *s, const char *attr, const char *json)
{
	static char msg[2048];
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	int rc = cairn_attr_check(cairn_schema_attr(s, attr), v, false);

	json_decref(v);
	snprintf(msg, sizeof(msg), "%s", rc ? cairn_error_last()->message : "ok");
	return msg;
}

/* min, max, integer, pattern and enum on known values */
static void test_lua__constraints(void)
{
	cairn_lua *rt = new_rt(0, 0);
	const cairn_schema *s = NULL;
	const cairn_attr_schema *a;

	T_OK(cairn_lua_schema(rt, "test.constraints", &s));
	T_CHECK((a = cairn_schema_attr(s, "n")) != NULL);
	T_CHECK(a->has_min && a->has_max && a->integer && a->min == 1 && a->max == 10);
	T_EQ_STR(check_msg(s, "n", "1"), "ok");
	T_EQ_STR(check_msg(s, "n", "10.0"), "ok");
	T_EQ_STR(check_msg(s, "n", "0"), "must be a whole number from 1 to 10, got 0");
	T_EQ_STR(check_msg(s, "n", "11"), "must be a whole number from 1 to 10, got 11");
	T_EQ_STR(check_msg(s, "n", "2.5"), "must be a whole number from 1 to 10, got 2.5");
	T_EQ_STR(check_msg(s, "n", "9223372036854775807"), "must be a whole number from 1 to 10, got 9223372036854775807");
	T_EQ_STR(check_msg(s, "low", "0.25"), "must be a number of at least 0.5, got 0.25");
	T_EQ_STR(check_msg(s, "low", "1e300"), "ok");
	T_EQ_STR(check_msg(s, "high", "3.5"), "must be a number of at most 3, got 3.5");
	T_EQ_STR(check_msg(s, "mode", "\"0644\""), "ok");
	T_EQ_STR(check_msg(s, "mode", "\"644\""), "must match the pattern [0-7]{4}, got \"644\"");
	T_EQ_STR(check_msg(s, "mode", "\"06444\""), "must match the pattern [0-7]{4}, got \"06444\"");
	T_EQ_STR(check_msg(s, "mode", "\"x0644\""), "must match the pattern [0-7]{4}, got \"x0644\"");
	T_EQ_STR(check_msg(s, "kind", "\"bb\""), "ok");
	T_EQ_STR(check_msg(s, "kind", "\"BB\""), "must be one of \"a\", \"bb\", got \"BB\" (did you mean \"bb\"?)");
	T_EQ_STR(check_msg(s, "kind", "\"c\""), "must be one of \"a\", \"bb\", got \"c\"");
	T_EQ_STR(check_msg(s, "size", "2.5"), "ok");
	T_EQ_STR(check_msg(s, "size", "1.0"), "ok");
	T_EQ_STR(check_msg(s, "size", "2"), "must be one of 1, 2.5, got 2");
	/* a sensitive value is never shown */
	T_EQ_STR(check_msg(s, "secret", "\"hunter2\""), "must match the pattern [a-z]{8,}");
	T_CHECK(cairn_schema_attr(s, "where")->local_path);
	cairn_lua_free(rt);
}

/* cairn's own files: a path, a tree, symlinks and '..' resolved */
static void test_lua__protected_paths(void)
{
	cairn_lua *rt = new_rt(0, 0);
	char dir[] = "/tmp/cairn-prot.XXXXXX", p[4096];

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/.cairn", dir);
	T_CHECK(mkdir(p, 0700) == 0);
	T_OK(cairn_lua_check_path(rt, p));
	T_OK(cairn_lua_protect(rt, p, true, "cairn's state directory"));
	snprintf(p, sizeof(p), "%s/elsewhere/state.db", dir);
	T_OK(cairn_lua_protect(rt, p, false, "cairn's state database"));
	snprintf(p, sizeof(p), "%s/.cairn/state.db", dir);
	T_CHECK(cairn_lua_check_path(rt, p) == CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "points into cairn's state directory");
	snprintf(p, sizeof(p), "%s/a/b/../../.cairn/new/x", dir);
	T_CHECK(cairn_lua_check_path(rt, p) == CAIRN_EINVAL);
	snprintf(p, sizeof(p), "%s/.cairnx", dir);
	T_OK(cairn_lua_check_path(rt, p));
	snprintf(p, sizeof(p), "%s/.cairn/../ok", dir);
	T_OK(cairn_lua_check_path(rt, p));
	snprintf(p, sizeof(p), "%s/elsewhere/state.db-wal", dir);
	T_CHECK(cairn_lua_check_path(rt, p) == CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "points into cairn's state database");
	snprintf(p, sizeof(p), "%s/elsewhere/state.dbx", dir);
	T_OK(cairn_lua_check_path(rt, p));
	snprintf(p, sizeof(p), "%s/elsewhere/other", dir);
	T_OK(cairn_lua_check_path(rt, p));
	/* a symlink to the state directory */
	{
		char link[4096], target[4096];

		snprintf(link, sizeof(link), "%s/link", dir);
		snprintf(target, sizeof(target), "%s/.cairn", dir);
		T_CHECK(symlink(target, link) == 0);
		snprintf(p, sizeof(p), "%s/link/state.db", dir);
		T_CHECK(cairn_lua_check_path(rt, p) == CAIRN_EINVAL);
		unlink(link);
	}
	snprintf(p, sizeof(p), "%s/.cairn", dir);
	rmdir(p);
	rmdir(dir);
	cairn_lua_free(rt);
}

static void expect_load_error(cairn_lua *rt, const char *type, int code, const char *needle, const char *needle2)
{
	const cairn_schema *s = NULL;
	const cairn_error *e;

	T_EQ_INT(cairn_lua_schema(rt, type, &s), code);
	T_CHECK(s == NULL);
	e = cairn_error_last();
	T_CHECK(e != NULL);
	T_CONTAINS(e->message, needle);
	if (needle2)
		T_CONTAINS(e->message, needle2);
}

static void test_lua__schema_errors(void)
{
	cairn_lua *rt = new_rt(0, 1000000);

	expect_load_error(rt, "bad.unknown_key", CAIRN_EINVAL, "modules/bad/unknown_key.lua: ", "unknown key 'requird'");
	expect_load_error(rt, "bad.bad_type", CAIRN_EINVAL, "modules/bad/bad_type.lua", "unknown type 'strin'");
	expect_load_error(rt, "bad.wrong_name", CAIRN_EINVAL, "modules/bad/wrong_name.lua",
			  "declares type 'bad.other' but was loaded as 'bad.wrong_name'");
	expect_load_error(rt, "bad.no_delete", CAIRN_EINVAL, "modules/bad/no_delete.lua", "no 'delete' function");
	expect_load_error(rt, "bad.bad_default", CAIRN_EINVAL, "modules/bad/bad_default.lua",
			  "default is a string, not a number");
	expect_load_error(rt, "bad.syntax", CAIRN_EINVAL, "modules/bad/syntax.lua:4:", NULL);
	expect_load_error(rt, "bad.runtime", CAIRN_EINVAL, "modules/bad/runtime.lua:2:", "attempt to index a nil value");
	expect_load_error(rt, "bad.no_id", CAIRN_EINVAL, "modules/bad/no_id.lua", "id_attr 'id' is not in the schema");
	expect_load_error(rt, "bad.loops", CAIRN_ELIMIT, "modules/bad/loops.lua:1:",
			  "module bad.loops exceeded its instruction limit");
	expect_load_error(rt, "nope.nothing", CAIRN_ENOTFOUND, "unknown resource type 'nope.nothing'", NULL);
	expect_load_error(rt, "../etc", CAIRN_ENOTFOUND, "unknown resource type", NULL);
	expect_load_error(rt, "lonely", CAIRN_ENOTFOUND, "unknown resource type", NULL);
	expect_load_error(rt, "lib.util", CAIRN_EINVAL, "must declare its type", NULL);
	expect_load_error(rt, "bad.min_on_string", CAIRN_EINVAL, "modules/bad/min_on_string.lua: schema attribute 'name'",
			  "min, max and integer apply to numbers");
	expect_load_error(rt, "bad.min_gt_max", CAIRN_EINVAL, "schema attribute 'n': min and max must be finite, min <= max",
			  NULL);
	expect_load_error(rt, "bad.bad_pattern", CAIRN_EINVAL,
			  "schema attribute 'name': pattern is not a POSIX extended regular expression", NULL);
	expect_load_error(rt, "bad.pattern_on_number", CAIRN_EINVAL, "schema attribute 'n': pattern applies to strings",
			  NULL);
	expect_load_error(rt, "bad.empty_enum", CAIRN_EINVAL, "schema attribute 'name': 'enum' must be a non-empty list",
			  NULL);
	expect_load_error(rt, "bad.enum_wrong_type", CAIRN_EINVAL, "schema attribute 'name': enum values must be strings",
			  NULL);
	expect_load_error(rt, "bad.default_out_of_range", CAIRN_EINVAL,
			  "schema attribute 'n': the default must be a number from 1 to 10, got 11", NULL);
	expect_load_error(rt, "bad.path_on_list", CAIRN_EINVAL, "schema attribute 'where': local_path applies to strings",
			  NULL);
	expect_load_error(rt, "bad.min_not_number", CAIRN_EINVAL, "schema attribute 'n': 'min' must be a number", NULL);
	/* a write-only value is the user's, never the module's */
	expect_load_error(rt, "bad.write_only_computed", CAIRN_EINVAL,
			  "schema attribute 'secret': cannot be both write_only and computed", NULL);
	expect_load_error(rt, "bad.read_many_keys", CAIRN_EINVAL,
			  "'read_many_attrs' must be a boolean or a list of attribute names", NULL);
	/* a failed load leaves the runtime usable */
	{
		const cairn_schema *s;
		T_OK(cairn_lua_schema(rt, "null.resource", &s));
		T_CHECK(s->read_many_attrs && !s->read_many_keys);
	}
	cairn_lua_free(rt);
}

static void test_lua__types(void)
{
	cairn_lua *rt = new_rt(0, 1000000);
	char **names = NULL;
	size_t n = 0, i;
	cairn_buf all = CAIRN_BUF_INIT;

	T_OK(cairn_lua_types(rt, &names, &n));
	for (i = 0; i < n; i++) {
		cairn_buf_printf(&all, "%s,", names[i]);
		if (i)
			T_CHECK(strcmp(names[i - 1], names[i]) < 0);
	}
	T_CONTAINS(cairn_buf_cstr(&all), "local.file,null.resource,random.id,random.password,");
	T_CONTAINS(cairn_buf_cstr(&all), "test.wait,");
	T_CHECK(!strstr(cairn_buf_cstr(&all), "lib.util"));
	T_CHECK(!strstr(cairn_buf_cstr(&all), "bad."));
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	cairn_buf_release(&all);
	cairn_lua_free(rt);
}

/* -- operations and the yield protocol ---------------------------------------- */

static void test_lua__yield_sleep_http(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *req;
	run r;

	cairn_buf_clear(&logbuf);
	run_op(&r, rt, "test.wait", "create", json_pack("[{s:s}]", "url", "https://ec2.example/"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(json_array_size(r.requests), 4);
	req = json_array_get(r.requests, 0);
	T_EQ_STR(sget(req, "kind"), "sleep");
	T_CHECK(json_real_value(json_object_get(req, "seconds")) == 1.5);
	req = json_array_get(r.requests, 1);
	T_EQ_STR(sget(req, "kind"), "http");
	T_EQ_STR(sget(req, "method"), "POST");
	T_EQ_STR(sget(req, "url"), "https://ec2.example/");
	T_EQ_STR(sget(req, "body"), "Action=CreateVpc");
	T_EQ_STR(sget(req, "sigv4"), "aws:amz:us-east-1:ec2");
	T_EQ_STR(sget(req, "service"), "ec2");
	T_EQ_STR(sget(req, "action"), "CreateVpc");
	T_CHECK(json_number_value(json_object_get(req, "timeout")) == 30);
	T_CHECK(bget(req, "idempotent") == 0);
	T_EQ_STR(sget(json_object_get(req, "headers"), "content-type"), "application/x-www-form-urlencoded");
	/* cairn.wait.poll: backoff 2, 4 */
	T_CHECK(json_real_value(json_object_get(json_array_get(r.requests, 2), "seconds")) == 2);
	T_CHECK(json_real_value(json_object_get(json_array_get(r.requests, 3), "seconds")) == 4);

	T_EQ_STR(sget(r.result, "id"), "vpc-200");
	T_EQ_STR(sget(r.result, "body"), "<ok/>");
	T_EQ_STR(sget(r.result, "hdr"), "req-1");
	T_EQ_STR(sget(r.result, "state"), "available");
	T_EQ_INT(iget(r.result, "tries"), 3);
	T_EQ_STR(sget(r.result, "token"), "tok-1");
	T_EQ_STR(sget(r.result, "provider_region"), "us-east-1");
	T_CHECK(bget(r.result, "has_log") == 1);
	T_CONTAINS(cairn_buf_cstr(&logbuf), "[info] test.thing.a: creating test.thing.a in dev\n");
	run_release(&r);

	/* a GET defaults to idempotent; a yield inside pcall works */
	run_op(&r, rt, "test.wait", "update", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(bget(r.result, "ok") == 1);
	T_EQ_INT(iget(r.result, "status"), 200);
	T_EQ_STR(sget(json_array_get(r.requests, 0), "method"), "GET");
	T_CHECK(bget(json_array_get(r.requests, 0), "idempotent") == 1);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__request_all(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *req, *list;
	run r;

	run_op(&r, rt, "test.all", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(json_array_size(r.requests), 1);
	req = json_array_get(r.requests, 0);
	T_EQ_STR(sget(req, "kind"), "all");
	list = json_object_get(req, "requests");
	T_EQ_INT(json_array_size(list), 3);
	T_EQ_STR(sget(json_array_get(list, 0), "kind"), "http");
	T_EQ_STR(sget(json_array_get(list, 0), "method"), "GET");
	T_CHECK(bget(json_array_get(list, 0), "idempotent") == 1);
	T_EQ_STR(sget(json_array_get(list, 1), "method"), "POST");
	T_EQ_STR(sget(json_array_get(list, 1), "body"), "x=1");
	T_EQ_STR(sget(json_array_get(list, 1), "action"), "DescribeVpcs");
	T_CHECK(bget(json_array_get(list, 1), "idempotent") == 0);
	T_CHECK(json_number_value(json_object_get(json_array_get(list, 2), "timeout")) == 5);
	T_EQ_INT(iget(r.result, "n"), 3);
	T_EQ_STR(sget(r.result, "b1"), "http://h/1");
	T_EQ_STR(sget(r.result, "b2"), "http://h/2");
	T_EQ_STR(sget(r.result, "b3"), "http://h/3");
	T_EQ_INT(iget(r.result, "s2"), 201);
	run_release(&r);

	/* bad calls fail before anything is sent */
	run_op(&r, rt, "test.all", "read", json_pack("[s]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "between 1 and 64 requests");
	T_EQ_INT(json_array_size(r.requests), 0);
	run_release(&r);
	run_op(&r, rt, "test.all", "update", json_pack("[s,{},{}]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "'url' must be an http:// or https:// URL");
	T_EQ_INT(json_array_size(r.requests), 0);
	run_release(&r);
	run_op(&r, rt, "test.all", "delete", json_pack("[s,{}]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "between 1 and 64 requests");
	run_release(&r);
	run_op(&r, rt, "test.all", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "a request must be a table");
	run_release(&r);
	cairn_lua_free(rt);
}

/* Run type's create without arguments: it must finish (its error is shown
 * when it does not). */
static void run_create_done(run *r, cairn_lua *rt, const char *type)
{
	run_op(r, rt, type, "create", json_array(), NULL);
	T_EQ_INT(r->st, CAIRN_OP_DONE);
	if (r->st != CAIRN_OP_DONE)
		fprintf(stderr, "# %s\n", r->err);
}

static void test_lua__aws_pagination(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_create_done(&r, rt, "test.paginate");
	T_EQ_STR(sget(r.result, "all"), "vpc-a,vpc-b,vpc-c");
	T_EQ_STR(sget(r.result, "rest"), "vpc-a,vpc-b,vpc-c");
	T_EQ_STR(sget(r.result, "second_root"), "vpc-a");
	/* describe: 3 pages; ec2_all: one wait for both; ec2_items: pages 2, 3 */
	T_EQ_INT(json_array_size(r.requests), 6);
	T_EQ_STR(sget(json_array_get(r.requests, 3), "kind"), "all");
	T_CONTAINS(sget(json_array_get(r.requests, 1), "body"), "Filter.1.Name=x");
	T_CONTAINS(sget(json_array_get(r.requests, 1), "body"), "NextToken=t1");
	T_CONTAINS(sget(json_array_get(r.requests, 5), "body"), "NextToken=t2");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__aws_query_all_tolerate(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_create_done(&r, rt, "test.tolerate");
	/* the tolerated error is reported at its index, the others answer */
	T_EQ_STR(sget(r.result, "answers"), "1:true,3:true");
	T_EQ_STR(sget(r.result, "errors"), "2:InvalidVpcID.NotFound");
	/* other codes, or no tolerated codes, still raise */
	T_EQ_STR(sget(r.result, "other"), "UnauthorizedOperation");
	T_EQ_STR(sget(r.result, "strict"), "InvalidVpcID.NotFound");
	T_EQ_INT(json_array_size(r.requests), 3);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__op_stepwise(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *ctx = json_pack("{s:s}", "address", "x"), *args = json_pack("[{s:s}]", "url", "http://h/");
	cairn_lua_op *op = NULL;

	T_OK(cairn_lua_op_new(&op, rt, "test.wait", "create", ctx, args));
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_YIELDED);
	T_EQ_STR(sget(cairn_lua_op_request(op), "kind"), "sleep");
	T_CHECK(cairn_lua_op_result(op) == NULL);
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_YIELDED);
	T_EQ_STR(sget(cairn_lua_op_request(op), "kind"), "http");
	/* abandon the operation half-way: freeing it must not leak */
	cairn_lua_op_free(op);
	op = NULL;
	/* an operation the module does not have */
	T_EQ_INT(cairn_lua_op_new(&op, rt, "null.resource", "read_many", ctx, args), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "has no 'read_many' operation");
	T_EQ_INT(cairn_lua_op_new(&op, rt, "null.resource", "frobnicate", ctx, args), CAIRN_EINVAL);
	T_EQ_INT(cairn_lua_op_new(&op, rt, "nope.nothing", "create", ctx, args), CAIRN_ENOTFOUND);
	T_CHECK(op == NULL);
	json_decref(ctx);
	json_decref(args);
	cairn_lua_free(rt);
}

static void test_lua__wait_timeout(void)
{
	cairn_lua *rt = new_rt(0, 0);
	double total = 0;
	size_t i;
	run r;

	run_op(&r, rt, "test.wait", "read", json_pack("[s]", "vpc-1"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/wait.lua:25: timed out after 5s waiting for nothing");
	for (i = 0; i < json_array_size(r.requests); i++)
		total += json_real_value(json_object_get(json_array_get(r.requests, i), "seconds"));
	T_CHECK(total == 5);
	run_release(&r);
	cairn_lua_free(rt);
}

/* cairn.ssh: requests as provisioner/ssh wants them (binary as base64),
 * answers back as Lua values, transport failures as errors. */
static void test_lua__ssh(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *q;
	run r;

	/* cairn.ssh is for modules from a trusted directory: the fixtures here */
	cairn_lua_set_trusted(rt, 0);

	run_op(&r, rt, "test.ssh", "create", json_pack("[{}]"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(json_array_size(r.requests), 7);
	q = json_array_get(r.requests, 0);
	T_EQ_STR(sget(q, "kind"), "ssh");
	T_EQ_STR(sget(q, "op"), "exec");
	T_EQ_STR(sget(q, "command"), "uname");
	T_EQ_STR(sget(q, "stdin_b64"), "AGJpbv8=");
	T_EQ_STR(sget(json_object_get(q, "env"), "A"), "1");
	T_EQ_STR(sget(q, "lock"), "k");
	T_CHECK(json_real_value(json_object_get(q, "timeout")) == 5);
	T_CHECK(json_object_get(q, "host") == NULL); /* never the module's to say */
	q = json_array_get(r.requests, 4);
	T_EQ_STR(sget(q, "op"), "write");
	T_EQ_STR(sget(q, "path"), "/etc/y");
	T_EQ_STR(sget(q, "content_b64"), "AQID");
	T_EQ_STR(sget(q, "mode"), "0600");
	T_EQ_INT(iget(r.result, "exit"), 7);
	T_CHECK(json_is_true(json_object_get(r.result, "stdout_ok"))); /* binary, byte for byte */
	T_EQ_STR(sget(r.result, "stderr"), "err");
	T_EQ_STR(sget(r.result, "stdout_b64"), "gone");
	T_EQ_STR(sget(r.result, "mode"), "0640");
	T_CHECK(json_is_true(json_object_get(r.result, "missing")));
	T_EQ_INT(iget(r.result, "len"), 3);
	T_EQ_INT(iget(r.result, "byte"), 0);
	T_CHECK(json_is_true(json_object_get(r.result, "wrote")));
	T_EQ_STR(sget(r.result, "link"), "/target");
	T_CHECK(json_is_false(json_object_get(r.result, "removed")));
	run_release(&r);

	run_op(&r, rt, "test.ssh", "read", json_pack("[s,{}]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/ssh.lua:");
	T_CONTAINS(r.err, "h (10.0.0.1:22): cannot read /denied: Permission denied");
	run_release(&r);
	run_op(&r, rt, "test.ssh", "update", json_pack("[s,{},{},[]]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "cairn.ssh.exec: unknown field 'stdinn'");
	T_EQ_INT(json_array_size(r.requests), 0);
	run_release(&r);
	run_op(&r, rt, "test.ssh", "delete", json_pack("[s,{}]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "cairn.ssh.exec: 'command' is required");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__http_validation(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.wait", "delete", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/wait.lua:");
	T_CONTAINS(r.err, "'url' must be an http:// or https:// URL");
	T_EQ_INT(json_array_size(r.requests), 0);
	run_release(&r);
	run_op(&r, rt, "test.wait", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "unknown field 'bogus'");
	run_release(&r);
	cairn_lua_free(rt);
}

/* -- errors ------------------------------------------------------------------------ */

static void test_lua__error_position(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.fail", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_EQ_STR(r.err, "modules/test/fail.lua:5: boom: something broke");
	T_EQ_INT(r.errclass, CAIRN_ERROR);
	T_CONTAINS(r.tb, "modules/test/fail.lua:5:");
	run_release(&r);
	run_op(&r, rt, "test.fail", "read", json_pack("[s]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/fail.lua:9: attempt to index a nil value");
	run_release(&r);
	/* an error raised by the cairn API names the module's line too */
	run_op(&r, rt, "test.fail", "delete", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/fail.lua:15: bad argument #1");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__error_table(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.fail", "update", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_EQ_STR(r.err, "modules/test/fail.lua:12: InvalidVpcID.NotFound: the vpc 'vpc-1' does not exist");
	T_EQ_STR(r.code, "InvalidVpcID.NotFound");
	T_EQ_INT(r.errclass, CAIRN_EREMOTE);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__bad_result(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	run_op(&r, rt, "test.fail", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/test/fail.lua: list returned a value that cannot convert function to JSON (at f)");
	run_release(&r);
	run_op(&r, rt, "test.fail", "import", json_pack("[s]", "x"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "cannot convert a NaN or infinite number to JSON (at x.list[2].y)");
	run_release(&r);
	cairn_lua_free(rt);
}

/* -- limits --------------------------------------------------------------------- */

static void test_lua__instruction_limit(void)
{
	cairn_lua *rt = new_rt(0, 1000000);
	run r;

	run_op(&r, rt, "test.limits", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_EQ_INT(r.errclass, CAIRN_ELIMIT);
	T_CONTAINS(r.err, "modules/test/limits.lua:");
	T_CONTAINS(r.err, "module test.limits exceeded its instruction limit");
	run_release(&r);
	/* pcall cannot swallow it */
	run_op(&r, rt, "test.limits", "update", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "exceeded its instruction limit");
	run_release(&r);
	/* the next operation has its own budget */
	run_op(&r, rt, "test.limits", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(iget(r.result, "n"), 1000);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__memory_limit(void)
{
	cairn_lua *rt = new_rt((size_t)8 << 20, 0);
	int i;
	run r;

	T_CHECK(rt != NULL);
	for (i = 0; i < 3; i++) {
		run_op(&r, rt, "test.limits", "read", json_pack("[s]", "x"), NULL);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_EQ_INT(r.errclass, CAIRN_ELIMIT);
		T_CONTAINS(r.err, "modules/test/limits.lua:");
		T_CONTAINS(r.err, "not enough memory");
		run_release(&r);
		/* the state is still usable */
		run_op(&r, rt, "test.limits", "list", json_array(), NULL);
		T_EQ_INT(r.st, CAIRN_OP_DONE);
		T_EQ_INT(iget(r.result, "n"), 1000);
		run_release(&r);
		cairn_buf_clear(&logbuf);
		run_op(&r, rt, "test.limits", "import", json_pack("[s]", "x"), NULL);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_EQ_INT(r.errclass, CAIRN_ELIMIT);
		T_CONTAINS(r.err, "not enough memory");
		/* the limit was hit in the decoder, not while building the text */
		T_CONTAINS(cairn_buf_cstr(&logbuf), "xml text built");
		run_release(&r);
	}
	cairn_lua_free(rt);
}

/* -- nothing escapes the limits, the deadline or an interrupt ------------------- */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the process (every thread): what a bound on instructions
 * bounds, whatever the machine's load (wall time is not, on a shared CI) */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_escape(run *r, cairn_lua *rt, const char *c, double timeout)
{
	run_op_timeout(r, rt, "test.escape", "create", json_pack("[{s:s}]", "case", c), NULL, timeout);
}

/* Each way out (a message handler, __close, a callback of a C function, a C
 * function that runs no hook) ends at the instruction limit, at once. */
static void test_lua__escapes(void)
{
	static const char *const cases[] = {
		"xpcall_handler", "xpcall_limit", "xpcall_nested", "xpcall_retry", "pcall_loop", "close_unwind",
		"close_error", "gsub_callback", "sort_comparator", "tostring_meta", "index_meta", "pattern",
		"pattern_method", "gmatch", "gsub_pattern", "rep_loop", NULL,
	};
	cairn_lua *rt = new_rt(0, 2000000);
	double t0;
	run r;
	int i;

	T_CHECK(rt != NULL);
	for (i = 0; cases[i]; i++) {
		t0 = cpu();
		run_escape(&r, rt, cases[i], 0);
		if (r.st != CAIRN_OP_FAILED || r.errclass != CAIRN_ELIMIT)
			printf("#   case %s: status %d, class %d: %s\n", cases[i], r.st, r.errclass, r.err);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_EQ_INT(r.errclass, CAIRN_ELIMIT);
		T_CONTAINS(r.err, "module test.escape exceeded its instruction limit (2000000 instructions)");
		T_CHECK(cpu() - t0 < 5);
		run_release(&r);
	}
	/* an error object's metamethods are not run to describe it */
	run_escape(&r, rt, "error_object", 0);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "error object is a table without code or message");
	run_release(&r);
	/* string.rep: "" for an empty string whatever the count, and a result
	 * beyond the memory cap refused before anything is allocated */
	t0 = cpu();
	run_escape(&r, rt, "rep_empty", 0);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(iget(r.result, "n"), 0);
	run_release(&r);
	run_escape(&r, rt, "rep_huge", 0);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "resulting string too large");
	T_CHECK(cpu() - t0 < 2);
	run_release(&r);
	/* the runtime is still fine */
	run_op(&r, rt, "test.limits", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	run_release(&r);
	cairn_lua_free(rt);
}

/* The deadline ends running code (Lua, a pattern, a looping message
 * handler) and a wait, with a message that says which and where. */
static void test_lua__deadline(void)
{
	static const char *const cases[] = { "pattern", "xpcall_handler", "close_unwind", "rep_loop", NULL };
	cairn_lua *rt = new_rt(0, 1000000000000000LL);
	cairn_lua_op *op = NULL;
	json_t *ctx = json_pack("{s:s}", "address", "test.escape.a"), *args;
	double t0;
	run r;
	int i;

	T_CHECK(rt != NULL);
	for (i = 0; cases[i]; i++) {
		t0 = mono();
		run_escape(&r, rt, cases[i], 0.5);
		if (r.errclass != CAIRN_ETIMEOUT)
			printf("#   case %s: status %d, class %d: %s\n", cases[i], r.st, r.errclass, r.err);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_EQ_INT(r.errclass, CAIRN_ETIMEOUT);
		T_CONTAINS(r.err, "modules/test/escape.lua:");
		T_CONTAINS(r.err, "create did not finish within its deadline of 0.5s (timeouts.create");
		T_CHECK(mono() - t0 < 3);
		run_release(&r);
	}
	/* a wait: the scheduler aborts it when its deadline passes */
	args = json_pack("[{s:s}]", "case", "sleep_long");
	T_OK(cairn_lua_op_new(&op, rt, "test.escape", "create", ctx, args));
	cairn_lua_op_set_timeout(op, 0.2);
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_YIELDED);
	T_EQ_STR(json_string_value(json_object_get(cairn_lua_op_request(op), "kind")), "sleep");
	usleep(300000);
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_FAILED);
	T_CHECK(cairn_lua_op_abandoned(op));
	T_CONTAINS(cairn_lua_op_error(op), "modules/test/escape.lua:");
	T_CONTAINS(cairn_lua_op_error(op), "did not finish within its deadline of 0.2s");
	cairn_lua_op_free(op);
	op = NULL;
	/* an interrupt while it waits */
	T_OK(cairn_lua_op_new(&op, rt, "test.escape", "create", ctx, args));
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_YIELDED);
	T_EQ_INT(cairn_lua_op_abort(op, CAIRN_ABORT_INTERRUPT), CAIRN_OP_FAILED);
	T_CHECK(cairn_lua_op_abandoned(op));
	T_CONTAINS(cairn_lua_op_error(op), "interrupted: create abandoned");
	T_EQ_INT(cairn_lua_op_resume(op, NULL), CAIRN_OP_FAILED);
	cairn_lua_op_free(op);
	json_decref(args);
	json_decref(ctx);
	/* a module's own timeouts, and bad ones */
	{
		const cairn_schema *sch;

		T_OK(cairn_lua_schema(rt, "test.escape", &sch));
		T_CHECK(sch->timeouts[CAIRN_TIMEOUT_CREATE] == 3600 && sch->timeouts[CAIRN_TIMEOUT_READ] == 600);
		T_OK(cairn_lua_schema(rt, "test.timeouts", &sch));
		T_CHECK(sch->timeouts[CAIRN_TIMEOUT_CREATE] == 5400 && sch->timeouts[CAIRN_TIMEOUT_DELETE] == 90);
		T_CHECK(sch->timeouts[CAIRN_TIMEOUT_UPDATE] == 3600);
		T_CHECK(cairn_lua_schema(rt, "bad.timeouts", &sch) == CAIRN_EINVAL);
		T_CONTAINS(cairn_error_last()->message, "modules/bad/timeouts.lua: timeouts.delete must be a duration");
	}
	cairn_lua_free(rt);
}

static cairn_lua *alarm_rt;

static void on_alarm(int sig)
{
	(void)sig;
	cairn_lua_interrupt(alarm_rt);
}

/* A signal (cairn_lua_interrupt from its handler) ends running code at once,
 * even a message handler that loops where hooks are off. */
static void test_lua__interrupt(void)
{
	cairn_lua *rt = new_rt(0, 1000000000000000LL);
	struct itimerval it = { { 0, 0 }, { 0, 300000 } };
	struct sigaction sa, old;
	double t0;
	run r;

	T_CHECK(rt != NULL);
	alarm_rt = rt;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &it, NULL);
	t0 = mono();
	run_escape(&r, rt, "xpcall_handler", 0);
	sigaction(SIGALRM, &old, NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "interrupted: create abandoned");
	T_CHECK(mono() - t0 < 3);
	run_release(&r);
	T_CHECK(cairn_lua_interrupted(rt));
	/* nothing runs any more */
	run_op(&r, rt, "test.limits", "list", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "interrupted");
	run_release(&r);
	cairn_lua_free(rt);
}

/* The sandbox's matcher gives what Lua's own gives, case by case. */
static void test_lua__patterns_like_lua(void)
{
	cairn_lua *rt = new_rt(0, 0);
	lua_State *L = luaL_newstate();
	char path[4200];
	const char *want = NULL;
	run r;

	T_CHECK(rt != NULL && L != NULL);
	luaL_openlibs(L);
	snprintf(path, sizeof(path), "%s/test/patterns.lua", fixtures_dir());
	if (luaL_dofile(L, path) != LUA_OK || lua_getfield(L, -1, "create") != LUA_TFUNCTION ||
	    lua_pcall(L, 0, 1, 0) != LUA_OK || lua_getfield(L, -1, "out") != LUA_TSTRING)
		printf("#   plain Lua: %s\n", lua_tostring(L, -1));
	else
		want = lua_tostring(L, -1);
	T_CHECK(want != NULL);
	run_op(&r, rt, "test.patterns", "create", json_array(), NULL);
	if (r.st != CAIRN_OP_DONE)
		printf("#   %s\n", r.err);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	if (want && sget(r.result, "out") && strcmp(want, sget(r.result, "out")) != 0) {
		/* show the first line that differs */
		const char *a = want, *b = sget(r.result, "out");

		while (*a && *a == *b)
			a++, b++;
		while (a > want && a[-1] != '\n')
			a--, b--;
		printf("#   Lua:     %.*s\n#   sandbox: %.*s\n", (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
	}
	T_EQ_STR(sget(r.result, "out"), want);
	run_release(&r);
	lua_close(L);
	cairn_lua_free(rt);
}

/* A stack's module that changes what require("aws.common") gave it, or the
 * string functions, changes nothing that a built-in module uses. */
static void test_lua__require_isolated(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	T_CHECK(rt != NULL);
	cairn_buf_clear(&logbuf);
	run_op(&r, rt, "test.thief", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(bget(r.result, "string_format") == 0);
	T_CHECK(bget(r.result, "string_meta") == 0);
	T_CHECK(bget(r.result, "method") == 0);
	run_release(&r);
	/* the built-in aws.vpc's aws.common is its own */
	run_op(&r, rt, "aws.vpc", "read", json_pack("[s,{}]", "vpc-1"), NULL);
	T_CHECK(r.st == CAIRN_OP_DONE || r.st == CAIRN_OP_FAILED);
	T_CHECK(json_array_size(r.requests) > 0);
	T_CHECK(!strstr(cairn_buf_cstr(&logbuf), "captured"));
	T_CHECK(!strstr(r.err, "captured"));
	run_release(&r);
	/* the same library in one module is one table (module state works) */
	run_op(&r, rt, "test.req", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(bget(r.result, "same") == 1);
	run_release(&r);
	cairn_lua_free(rt);
}

static void write_file(const char *path, const char *text);

/* Capabilities come from where a module was found: a local.* module of the
 * stack's own has no cairn.fs, and a library of the stack's cannot take the
 * place of the one a built-in module requires. */
static void test_lua__trusted_dirs(void)
{
	char dir[] = "/tmp/cairn-test-trust-XXXXXX", path[512];
	const char *dirs[2];
	const cairn_schema *s;
	cairn_lua *rt = new_rt(0, 0);
	run r;

	T_CHECK(rt != NULL);
	run_op(&r, rt, "local.evil", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(bget(r.result, "fs") == 0);
	T_CHECK(bget(r.result, "ssh") == 0);
	run_release(&r);
	cairn_lua_free(rt);

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/aws", dir);
	T_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/aws/common.lua", dir);
	write_file(path, "print('shadow loaded') return {}\n");
	dirs[0] = dir;
	dirs[1] = modules_dir();
	T_OK(cairn_lua_new(&rt, dirs, 2, NULL));
	cairn_lua_set_log(rt, capture_log, NULL);
	cairn_buf_clear(&logbuf);
	T_OK(cairn_lua_schema(rt, "aws.vpc", &s));
	T_CHECK(!strstr(cairn_buf_cstr(&logbuf), "shadow loaded"));
	/* read_many_attrs as a list: only those recorded attrs go to read_many */
	T_OK(cairn_lua_schema(rt, "aws.security_group", &s));
	T_CHECK(s->read_many_attrs && s->read_many_keys && json_array_size(s->read_many_keys) == 2);
	T_EQ_STR(json_string_value(json_array_get(s->read_many_keys, 1)), "egress");
	cairn_lua_free(rt);
	unlink(path);
	snprintf(path, sizeof(path), "%s/aws", dir);
	rmdir(path);
	rmdir(dir);
}

/* cairn.fs never reaches the state directory: not by its path, not through
 * "..", not through a symlink. */
static void test_lua__fs_state_dir(void)
{
	char dir[] = "/tmp/cairn-test-deny-XXXXXX", path[512], link[512];
	static const char *const denied[] = { ".cairn/key", "sub/../.cairn/key", "link/key", "link", ".cairn", NULL };
	cairn_lua *rt = new_rt(0, 0);
	run r;
	int i;

	T_CHECK(rt != NULL && mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/.cairn", dir);
	T_CHECK(mkdir(path, 0700) == 0);
	T_OK(cairn_lua_protect(rt, path, true, "cairn's state directory"));
	snprintf(path, sizeof(path), "%s/.cairn/key", dir);
	write_file(path, "secret key");
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(path, sizeof(path), "%s/.cairn", dir);
	T_CHECK(symlink(path, link) == 0);
	snprintf(path, sizeof(path), "%s/sub", dir);
	T_CHECK(mkdir(path, 0755) == 0);
	for (i = 0; denied[i]; i++) {
		run_op(&r, rt, "local.file", "read", json_pack("[s,{}]", denied[i]), dir);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_CONTAINS(r.err, "it is inside cairn's state directory");
		T_CHECK(!strstr(r.err, "secret key"));
		run_release(&r);
		run_op(&r, rt, "local.file", "create", json_pack("[{s:s,s:s}]", "path", denied[i], "content", "x"), dir);
		T_EQ_INT(r.st, CAIRN_OP_FAILED);
		T_CONTAINS(r.err, "it is inside cairn's state directory");
		run_release(&r);
	}
	snprintf(path, sizeof(path), "%s/.cairn/key", dir);
	{
		cairn_buf b = CAIRN_BUF_INIT;

		T_OK(cairn_buf_read_file(&b, path));
		T_EQ_STR(cairn_buf_cstr(&b), "secret key");
		cairn_buf_release(&b);
	}
	/* elsewhere, as before */
	run_op(&r, rt, "local.file", "create", json_pack("[{s:s,s:s}]", "path", "sub/ok.txt", "content", "x"), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	run_release(&r);
	snprintf(path, sizeof(path), "%s/sub/ok.txt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	unlink(link);
	snprintf(path, sizeof(path), "%s/.cairn/key", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.cairn", dir);
	rmdir(path);
	rmdir(dir);
	cairn_lua_free(rt);
}

/* -- json, xml ------------------------------------------------------------------ */

static void test_lua__json_roundtrip(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *in = json_pack("{s:s, s:i, s:[i,s,b], s:{s:s}, s:f, s:[], s:{}, s:n, s:I}",
			       "name", "x", "n", 42, "list", 1, "a", 1, "obj", "k", "v", "f", 2.5,
			       "empty", "emptyobj", "gone", "big", (json_int_t)9007199254740993LL);
	json_t *expect, *v;
	run r;

	run_op(&r, rt, "test.json", "create", json_pack("[O]", in), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	expect = json_deep_copy(in);
	json_object_del(expect, "gone"); /* null members become absent */
	T_CHECK(json_equal(json_object_get(r.result, "echo"), expect));
	json_decref(expect);
	T_CHECK(json_is_array(json_object_get(json_object_get(r.result, "echo"), "empty")));
	T_CHECK(json_is_object(json_object_get(json_object_get(r.result, "echo"), "emptyobj")));
	T_CHECK(json_is_integer(json_object_get(json_object_get(r.result, "echo"), "big")));
	T_EQ_INT(iget(json_object_get(r.result, "echo"), "big"), 9007199254740993LL);
	v = json_object_get(r.result, "empty_arr");
	T_CHECK(json_is_array(v) && json_array_size(v) == 0);
	v = json_object_get(r.result, "empty_obj");
	T_CHECK(json_is_object(v) && json_object_size(v) == 0);
	v = json_pack("[i,i,i]", 1, 2, 3);
	T_CHECK(json_equal(json_object_get(r.result, "seq"), v));
	json_decref(v);
	v = json_pack("[i,n,i]", 1, 3);
	T_CHECK(json_equal(json_object_get(r.result, "null_in_arr"), v));
	json_decref(v);
	T_CHECK(json_is_real(json_object_get(r.result, "float")));
	T_EQ_INT(iget(r.result, "int"), 9007199254740993LL);
	T_EQ_INT(iget(r.result, "neg"), -7);
	v = json_pack("{s:{s:[b,b]}}", "a", "b", 1, 0);
	T_CHECK(json_equal(json_object_get(r.result, "nested"), v));
	json_decref(v);
	T_CONTAINS(sget(r.result, "decode_err"), "invalid JSON");
	T_CHECK(bget(r.result, "is_array") == 1);
	T_EQ_STR(sget(r.result, "arr_type"), "integer");
	T_CHECK(sget(r.result, "encoded") && sget(r.result, "encoded")[0] == '{');
	json_decref(in);
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__xml_ec2(void)
{
	cairn_lua *rt = new_rt(0, 0);
	cairn_buf body = CAIRN_BUF_INIT;
	json_t *vpcs, *v, *tags;
	run r;

	char path[4200];

	snprintf(path, sizeof(path), "%s/test/describe_vpcs.xml", fixtures_dir());
	T_OK(cairn_buf_read_file(&body, path));
	run_op(&r, rt, "test.xml", "create", json_pack("[{s:s}]", "body", body.ptr), NULL);
	cairn_buf_release(&body);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "root"), "DescribeVpcsResponse");
	T_EQ_STR(sget(r.result, "request_id"), "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE");
	vpcs = json_object_get(r.result, "vpcs");
	T_EQ_INT(json_array_size(vpcs), 2);
	v = json_array_get(vpcs, 0);
	T_EQ_STR(sget(v, "id"), "vpc-1a2b3c4d");
	T_EQ_STR(sget(v, "cidr"), "10.0.0.0/16");
	T_EQ_STR(sget(v, "state"), "available");
	T_CHECK(bget(v, "default") == 0);
	T_EQ_INT(iget(v, "assoc"), 1);
	tags = json_object_get(v, "tags");
	T_EQ_STR(sget(tags, "Name"), "prod-vpc");
	T_EQ_STR(sget(tags, "env"), "prod");
	v = json_array_get(vpcs, 1);
	T_EQ_STR(sget(v, "id"), "vpc-0f9e8d7c");
	T_EQ_INT(iget(v, "assoc"), 2);
	T_CHECK(bget(v, "default") == 1);
	T_EQ_INT(json_object_size(json_object_get(v, "tags")), 0);
	T_CONTAINS(sget(r.result, "bad_err"), "invalid XML at line 1");
	T_EQ_STR(sget(r.result, "attr_id"), "7");
	T_EQ_STR(sget(r.result, "attr_text"), "hi");
	T_EQ_INT(iget(r.result, "empty"), 0);
	T_CONTAINS(sget(r.result, "dtd_err"), "document type declarations are not accepted");
	T_EQ_INT(iget(r.result, "three_n"), 3);
	T_EQ_STR(sget(r.result, "three_1"), "1");
	T_EQ_STR(sget(r.result, "three_2"), "2");
	T_EQ_STR(sget(r.result, "three_3"), "");
	T_EQ_STR(sget(r.result, "blank"), "  ");
	T_EQ_STR(sget(r.result, "mixed_text"), "t");
	T_EQ_STR(sget(r.result, "mixed_child"), "u");
	T_CONTAINS(sget(r.result, "deep_err"), "nested too deeply");
	T_CONTAINS(sget(r.result, "junk_err"), "invalid XML");
	T_EQ_STR(sget(r.result, "names"), "1 2 2 3 4 5");
	T_EQ_STR(sget(r.result, "skipped"), "nil nil 2 leaf 3");
	/* digest length, distinct, only the set's items; a decoded item keeps
	 * its digest; the known one is a stub with the known id */
	T_EQ_STR(sget(r.result, "marks"), "64 true nil a 1 true nil b-known nil true true c nil true z");
	T_EQ_STR(sget(r.result, "hit"), "2 a c true nil table 0 3 true z");
	T_EQ_STR(sget(r.result, "big"), "600 of 600");
	T_EQ_STR(sget(r.result, "pages"), "1 cairn-page 1 192 nil true \"\" true tok table 0 one nil nil b 9 1 true "
		 "true true b true 1 true 128 true \"\" true b true tok");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__api(void)
{
	cairn_lua *rt = new_rt(0, 0);
	run r;

	cairn_buf_clear(&logbuf);
	run_op(&r, rt, "test.api", "create", json_array(), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "sha"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	T_EQ_STR(sget(r.result, "hmac"), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
	T_EQ_STR(sget(r.result, "b64"), "aGVsbG8sIHdvcmxk");
	T_EQ_STR(sget(r.result, "b64_back"), "hello, world");
	T_EQ_STR(sget(r.result, "b64_err"), "invalid base64");
	T_EQ_INT(iget(r.result, "hex_len"), 10);
	T_EQ_INT(iget(r.result, "bytes_len"), 7);
	T_EQ_INT(iget(r.result, "int_lo"), 1);
	T_EQ_INT(iget(r.result, "int_hi"), 6);
	T_CHECK(bget(r.result, "now_ok") == 1);
	T_EQ_STR(sget(r.result, "url"), "a%20b%2F%C3%BC~");
	T_EQ_STR(sget(r.result, "query"), "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1");
	T_EQ_STR(sget(r.result, "url_back"), "a b c");
	T_CHECK(bget(r.result, "url_bad") == 1);
	/* a helper that fails to load fails the same way every time */
	T_CONTAINS(sget(r.result, "broken1"), "modules/lib/broken.lua:1: this helper is broken");
	T_CONTAINS(sget(r.result, "broken2"), "modules/lib/broken.lua:1: this helper is broken");
	T_EQ_STR(sget(r.result, "paged"), "a,b,c");
	T_EQ_STR(sget(r.result, "version"), CAIRN_VERSION);
	T_CONTAINS(sget(r.result, "sleep_err"), "seconds must be between 0 and 86400");
	T_CONTAINS(cairn_buf_cstr(&logbuf), "[info] test.thing.a: printed\t42\n");
	T_CONTAINS(cairn_buf_cstr(&logbuf), "[warn] test.thing.a: careful: 7\n");
	T_CONTAINS(cairn_buf_cstr(&logbuf), "[debug] test.thing.a: via ctx\n");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__bytecode_refused(void)
{
	char dir[] = "/tmp/cairn-test-lua-XXXXXX", sub[600], file[700];
	const char *dirs[1] = { dir };
	static const char chunk[] = "\x1bLuaT\x00\x19\x93\r\n\x1a\nreturn {}";
	const cairn_schema *s = NULL;
	cairn_lua *rt = NULL;
	FILE *f;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/evil", dir);
	T_CHECK(mkdir(sub, 0755) == 0);
	snprintf(file, sizeof(file), "%s/bin.lua", sub);
	T_CHECK((f = fopen(file, "wb")) != NULL);
	fwrite(chunk, 1, sizeof(chunk) - 1, f);
	fclose(f);
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_EQ_INT(cairn_lua_schema(rt, "evil.bin", &s), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "attempt to load a binary chunk");
	cairn_lua_free(rt);
	unlink(file);
	rmdir(sub);
	rmdir(dir);
}

/* -- built-in modules ---------------------------------------------------------------- */

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

/* A module text is compiled once per process: a second runtime loads its
 * bytecode, with the same file:line in errors; a changed text is compiled
 * again; a text that does not compile is never kept. */
static void test_lua__compiled_once(void)
{
	char dir[] = "/tmp/cairn-test-lua-XXXXXX", sub[600], file[700], lib[700];
	const char *dirs[1] = { dir };
	const cairn_schema *s = NULL;
	cairn_lua *rt = NULL;
	size_t before;
	run r;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/once", dir);
	T_CHECK(mkdir(sub, 0755) == 0);
	snprintf(file, sizeof(file), "%s/mod.lua", sub);
	snprintf(lib, sizeof(lib), "%s/lib.lua", sub);
	write_file(lib, "return { boom = function() error(\"lib boom\") end }\n");
	write_file(file, "local lib = require(\"once.lib\")\n"
		   "return { type = \"once.mod\", description = \"first\",\n"
		   "  schema = { id = { type = \"string\", computed = true } },\n"
		   "  create = function(ctx, p) lib.boom() end,\n"
		   "  read = function(ctx, id) error(\"read boom\") end,\n"
		   "  delete = function(ctx, id) end }\n");
	before = cairn_lua__chunks_compiled();
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_OK(cairn_lua_schema(rt, "once.mod", &s));
	run_op(&r, rt, "once.mod", "create", json_array(), NULL);
	T_CONTAINS(r.err, "once/lib.lua:1: lib boom");
	run_release(&r);
	cairn_lua_free(rt);
	T_EQ_INT((int)(cairn_lua__chunks_compiled() - before), 2);
	/* another runtime (another environment): nothing compiled again */
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_OK(cairn_lua_schema(rt, "once.mod", &s));
	T_EQ_STR(s->description, "first");
	run_op(&r, rt, "once.mod", "read", json_pack("[s]", "x"), NULL);
	T_CONTAINS(r.err, "once/mod.lua:5: read boom");
	T_CONTAINS(r.tb, "once/mod.lua:5:");
	run_release(&r);
	run_op(&r, rt, "once.mod", "create", json_array(), NULL);
	T_CONTAINS(r.err, "once/lib.lua:1: lib boom");
	run_release(&r);
	cairn_lua_free(rt);
	T_EQ_INT((int)(cairn_lua__chunks_compiled() - before), 2);
	/* the file changed, even to a text of the same length: compiled again */
	write_file(file, "local lib = require(\"once.lib\")\n"
		   "return { type = \"once.mod\", description = \"again\",\n"
		   "  schema = { id = { type = \"string\", computed = true } },\n"
		   "  create = function(ctx, p) lib.boom() end,\n"
		   "  read = function(ctx, id) error(\"read boom\") end,\n"
		   "  delete = function(ctx, id) end }\n");
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_OK(cairn_lua_schema(rt, "once.mod", &s));
	T_EQ_STR(s->description, "again");
	cairn_lua_free(rt);
	T_EQ_INT((int)(cairn_lua__chunks_compiled() - before), 3);
	/* a text that does not compile fails the same way each time */
	write_file(file, "return { type = \"once.mod\",\n  schema = ]\n");
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_EQ_INT(cairn_lua_schema(rt, "once.mod", &s), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "once/mod.lua:2:");
	cairn_lua_free(rt);
	T_OK(cairn_lua_new(&rt, dirs, 1, NULL));
	T_EQ_INT(cairn_lua_schema(rt, "once.mod", &s), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "once/mod.lua:2:");
	cairn_lua_free(rt);
	T_EQ_INT((int)(cairn_lua__chunks_compiled() - before), 5);
	unlink(file);
	unlink(lib);
	rmdir(sub);
	rmdir(dir);
}

static void test_lua__local_file(void)
{
	cairn_lua *rt = new_rt(0, 0);
	char dir[] = "/tmp/cairn-test-lua-XXXXXX", path[512], abs[512];
	const cairn_schema *s;
	cairn_buf b = CAIRN_BUF_INIT;
	json_t *attrs;
	struct stat st;
	run r;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sub/dir/a.txt", dir);
	T_OK(cairn_lua_schema(rt, "local.file", &s));
	T_CHECK(cairn_schema_attr(s, "path")->required && cairn_schema_attr(s, "path")->force_new);
	T_EQ_STR(json_string_value(cairn_schema_attr(s, "file_permission")->def), "0644");

	run_op(&r, rt, "local.file", "create",
	       json_pack("[{s:s, s:s, s:s}]", "path", "sub/dir/a.txt", "content", "hello\n", "file_permission", "0600"), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "id"), "sub/dir/a.txt");
	T_EQ_INT(iget(r.result, "size"), 6);
	T_EQ_STR(sget(r.result, "content_sha256"), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
	T_OK(cairn_buf_read_file(&b, path));
	T_EQ_STR(b.ptr, "hello\n");
	cairn_buf_release(&b);
	T_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	attrs = json_incref(r.result);
	run_release(&r);

	/* read: unchanged */
	run_op(&r, rt, "local.file", "read", json_pack("[s,O]", "sub/dir/a.txt", attrs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(json_equal(r.result, attrs));
	run_release(&r);

	/* read after an edit outside cairn: the drift shows */
	write_file(path, "changed by hand");
	run_op(&r, rt, "local.file", "read", json_pack("[s,O]", "sub/dir/a.txt", attrs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "content"), "changed by hand");
	T_EQ_INT(iget(r.result, "size"), 15);
	run_release(&r);

	/* update: rewrites content and mode */
	run_op(&r, rt, "local.file", "update",
	       json_pack("[s,O,{s:s,s:s,s:s},[s,s]]", "sub/dir/a.txt", attrs, "path", "sub/dir/a.txt",
			 "content", "v2", "file_permission", "0640", "content", "file_permission"), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "file_permission"), "0640");
	T_OK(cairn_buf_read_file(&b, path));
	T_EQ_STR(b.ptr, "v2");
	cairn_buf_release(&b);
	T_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	run_release(&r);

	/* import by absolute path */
	run_op(&r, rt, "local.file", "import", json_pack("[s]", path), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "content"), "v2");
	T_EQ_STR(sget(r.result, "id"), path);
	run_release(&r);

	/* read after deletion outside cairn: gone */
	T_CHECK(unlink(path) == 0);
	run_op(&r, rt, "local.file", "read", json_pack("[s,O]", "sub/dir/a.txt", attrs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(json_is_null(r.result));
	run_release(&r);

	/* delete: fine when missing, removes when present */
	run_op(&r, rt, "local.file", "delete", json_pack("[s,O]", "sub/dir/a.txt", attrs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	run_release(&r);
	snprintf(abs, sizeof(abs), "%s/b.txt", dir);
	run_op(&r, rt, "local.file", "create", json_pack("[{s:s}]", "path", abs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(iget(r.result, "size"), 0);
	T_CHECK(access(abs, F_OK) == 0);
	run_release(&r);
	run_op(&r, rt, "local.file", "delete", json_pack("[s,n]", abs), dir);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(access(abs, F_OK) != 0);
	run_release(&r);

	/* a bad mode is an error that names the module line */
	run_op(&r, rt, "local.file", "create", json_pack("[{s:s, s:s}]", "path", "c.txt", "file_permission", "rw"), dir);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "modules/local/file.lua:");
	T_CONTAINS(r.err, "file_permission must be four octal digits");
	run_release(&r);

	json_decref(attrs);
	snprintf(path, sizeof(path), "%s/sub/dir", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	T_CHECK(rmdir(dir) == 0);
	cairn_lua_free(rt);
}

static bool all_hex(const char *s)
{
	for (; s && *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return s != NULL;
}

static void test_lua__random_id(void)
{
	cairn_lua *rt = new_rt(0, 0);
	char first[64];
	run r;

	run_op(&r, rt, "random.id", "create", json_pack("[{s:i, s:s}]", "byte_length", 4, "prefix", "p-"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(strlen(sget(r.result, "hex")), 10);
	T_CHECK(strncmp(sget(r.result, "hex"), "p-", 2) == 0 && all_hex(sget(r.result, "hex") + 2));
	T_EQ_STR(sget(r.result, "id"), sget(r.result, "hex"));
	T_EQ_INT(strlen(sget(r.result, "b64_std")), 10);
	T_EQ_INT(iget(r.result, "byte_length"), 4);
	snprintf(first, sizeof(first), "%s", sget(r.result, "hex"));
	run_release(&r);
	run_op(&r, rt, "random.id", "create", json_pack("[{}]"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(strlen(sget(r.result, "hex")), 16);
	T_CHECK(strcmp(sget(r.result, "hex"), first) != 0);
	run_release(&r);
	run_op(&r, rt, "random.id", "import", json_pack("[s]", "p-,deadbeef"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_STR(sget(r.result, "hex"), "p-deadbeef");
	T_EQ_STR(sget(r.result, "b64_std"), "p-3q2+7w==");
	T_EQ_STR(sget(r.result, "b64_url"), "p-3q2-7w");
	run_release(&r);
	run_op(&r, rt, "random.id", "create", json_pack("[{s:i}]", "byte_length", 0), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "byte_length must be a whole number");
	run_release(&r);
	cairn_lua_free(rt);
}

static int count_in(const char *s, const char *set)
{
	int n = 0;

	for (; *s; s++)
		if (strchr(set, *s))
			n++;
	return n;
}

static void test_lua__random_password(void)
{
	cairn_lua *rt = new_rt(0, 0);
	const cairn_schema *s;
	const char *pw;
	int i;
	run r;

	T_OK(cairn_lua_schema(rt, "random.password", &s));
	T_CHECK(cairn_schema_attr(s, "result")->sensitive && cairn_schema_attr(s, "result")->computed);
	for (i = 0; i < 20; i++) {
		run_op(&r, rt, "random.password", "create",
		       json_pack("[{s:i, s:i, s:i, s:i, s:s}]", "length", 24, "min_upper", 3, "min_numeric", 4,
				 "min_special", 2, "override_special", "_%"), NULL);
		T_EQ_INT(r.st, CAIRN_OP_DONE);
		pw = sget(r.result, "result");
		T_EQ_INT(strlen(pw), 24);
		T_CHECK(count_in(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 3);
		T_CHECK(count_in(pw, "0123456789") >= 4);
		T_CHECK(count_in(pw, "_%") >= 2);
		T_EQ_INT(count_in(pw, "!@#$&*()-=+[]{}<>:?"), 0);
		T_EQ_STR(sget(r.result, "id"), "none");
		run_release(&r);
	}
	run_op(&r, rt, "random.password", "create", json_pack("[{s:i, s:b, s:b, s:b}]", "length", 12,
	       "special", 0, "upper", 0, "lower", 0), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(count_in(sget(r.result, "result"), "0123456789"), 12);
	run_release(&r);
	run_op(&r, rt, "random.password", "create", json_pack("[{}]"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(strlen(sget(r.result, "result")), 16);
	run_release(&r);
	run_op(&r, rt, "random.password", "create",
	       json_pack("[{s:i, s:i, s:i}]", "length", 3, "min_upper", 2, "min_lower", 2), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "minimums add up to 4 characters, more than length 3");
	run_release(&r);
	run_op(&r, rt, "random.password", "create",
	       json_pack("[{s:b, s:b, s:b, s:b}]", "special", 0, "upper", 0, "lower", 0, "numeric", 0), NULL);
	T_EQ_INT(r.st, CAIRN_OP_FAILED);
	T_CONTAINS(r.err, "no characters to choose from");
	run_release(&r);
	cairn_lua_free(rt);
}

static void test_lua__null_resource(void)
{
	cairn_lua *rt = new_rt(0, 0);
	json_t *attrs;
	int i, done = 0;
	run r;

	run_op(&r, rt, "null.resource", "create", json_pack("[{s:{s:s}}]", "triggers", "v", "1"), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_EQ_INT(strlen(sget(r.result, "id")), 16);
	T_CHECK(all_hex(sget(r.result, "id")));
	T_EQ_STR(sget(json_object_get(r.result, "triggers"), "v"), "1");
	attrs = json_incref(r.result);
	run_release(&r);
	run_op(&r, rt, "null.resource", "read", json_pack("[s,O]", sget(attrs, "id"), attrs), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	T_CHECK(json_equal(r.result, attrs));
	run_release(&r);
	run_op(&r, rt, "null.resource", "delete", json_pack("[s,O]", sget(attrs, "id"), attrs), NULL);
	T_EQ_INT(r.st, CAIRN_OP_DONE);
	run_release(&r);
	json_decref(attrs);
	/* the benchmark's shape: many cheap operations on one state */
	for (i = 0; i < 10000; i++) {
		run_op(&r, rt, "null.resource", "create", json_pack("[{}]"), NULL);
		done += r.st == CAIRN_OP_DONE;
		run_release(&r);
	}
	T_EQ_INT(done, 10000);
	cairn_lua_free(rt);
}

static const t_case cases[] = {
	T_CASE(test_lua__sandbox),
	T_CASE(test_lua__globals_isolated),
	T_CASE(test_lua__require),
	T_CASE(test_lua__schema),
	T_CASE(test_lua__schema_errors),
	T_CASE(test_lua__constraints),
	T_CASE(test_lua__protected_paths),
	T_CASE(test_lua__types),
	T_CASE(test_lua__yield_sleep_http),
	T_CASE(test_lua__op_stepwise),
	T_CASE(test_lua__wait_timeout),
	T_CASE(test_lua__http_validation),
	T_CASE(test_lua__ssh),
	T_CASE(test_lua__error_position),
	T_CASE(test_lua__error_table),
	T_CASE(test_lua__bad_result),
	T_CASE(test_lua__instruction_limit),
	T_CASE(test_lua__memory_limit),
	T_CASE(test_lua__request_all),
	T_CASE(test_lua__aws_pagination),
	T_CASE(test_lua__aws_query_all_tolerate),
	T_CASE(test_lua__json_roundtrip),
	T_CASE(test_lua__xml_ec2),
	T_CASE(test_lua__api),
	T_CASE(test_lua__bytecode_refused),
	T_CASE(test_lua__compiled_once),
	T_CASE(test_lua__local_file),
	T_CASE(test_lua__random_id),
	T_CASE(test_lua__random_password),
	T_CASE(test_lua__null_resource),
	T_CASE(test_lua__escapes),
	T_CASE(test_lua__deadline),
	T_CASE(test_lua__interrupt),
	T_CASE(test_lua__patterns_like_lua),
	T_CASE(test_lua__require_isolated),
	T_CASE(test_lua__trusted_dirs),
	T_CASE(test_lua__fs_state_dir),
	{ 0 },
};

int main(int argc, char **argv)
{
	int rc = t_main(cases, argc, argv);

	cairn_buf_release(&logbuf);
	return rc;
}
