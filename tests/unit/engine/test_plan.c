/*
 * test_plan.c - the planner: schema-aware diffs against recorded state.
 * Runs the engine on small stacks of built-in modules in a temp directory,
 * with state written through the real store.
 */
#include "t.h"
#include "engine/engine.h"
#include "cli/render.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static cairn_engine *open_engine(const char *stack, bool for_write)
{
	cairn_engine_opts o = { 0 };
	cairn_engine *e = NULL;

	snprintf(dir, sizeof(dir), "/tmp/cairn-plan.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	write_file("stack.yaml", stack);
	write_file("dev.yaml", "provider: {region: eu-west-1}\nvariables: {}\n");
	o.dir = dir;
	o.env = "dev";
	o.for_write = for_write;
	o.refresh = false;
	if (cairn_engine_open(&e, &o) != 0)
		return NULL;
	/* a writing engine opens (and creates) the state when it takes the lock */
	if (for_write && cairn_engine_lock(e, "test") != 0) {
		cairn_engine_free(e);
		return NULL;
	}
	return e;
}

static void cleanup_dir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return;
}

static void record(cairn_engine *e, const char *address, const char *type, const char *attrs_json)
{
	cairn_state_res r = { 0 };
	int64_t rev;

	r.address = (char *)address;
	r.name = (char *)address;
	r.type = (char *)type;
	r.id = (char *)"x1";
	r.attrs = json_loads(attrs_json, 0, NULL);
	r.sensitive = json_array();
	r.deps = json_array();
	cairn_store_rev_begin(e->store, "dev", "test", &rev);
	cairn_store_put(e->store, "dev", rev, "create", &r, 0);
	cairn_store_rev_finish(e->store, rev, "ok", NULL);
	json_decref(r.attrs);
	json_decref(r.sensitive);
	json_decref(r.deps);
	cairn_engine_reload_state(e);
}

static void test_plan__create_with_unknowns(void)
{
	cairn_engine *e = open_engine(
		"resources:\n"
		"  a: {type: null.resource, triggers: {k: v}}\n"
		"  f: {type: local.file, path: \"out/${a.id}\", content: hi}\n", false);
	cairn_inst *f;
	int add, ch, del;

	T_CHECK(e != NULL);
	T_OK(cairn_engine_plan(e, false, NULL));
	cairn_engine_counts(e, &add, &ch, &del);
	T_EQ_INT(add, 2);
	f = cairn_engine_inst(e, "f");
	T_CHECK(f && f->action == CAIRN_ACT_CREATE);
	T_CHECK(cairn_is_unknown(json_object_get(f->planned, "path")));
	T_EQ_STR(json_string_value(json_object_get(f->planned, "content")), "hi");
	T_EQ_STR(json_string_value(json_object_get(f->planned, "file_permission")), "0644"); /* default */
	T_EQ_INT(f->ndeps, 1);
	cairn_engine_free(e);
	cleanup_dir();
}

static void test_plan__noop_update_replace(void)
{
	cairn_engine *e = open_engine(
		"resources:\n"
		"  same: {type: local.file, path: p1, content: c}\n"
		"  upd:  {type: local.file, path: p2, content: new}\n"
		"  rep:  {type: local.file, path: p3-new, content: c}\n", true);
	cairn_inst *in;
	json_t *c;

	T_CHECK(e != NULL);
	record(e, "same", "local.file", "{\"path\":\"p1\",\"content\":\"c\",\"file_permission\":\"0644\",\"directory_permission\":\"0755\",\"id\":\"p1\"}");
	record(e, "upd", "local.file", "{\"path\":\"p2\",\"content\":\"old\",\"file_permission\":\"0644\",\"directory_permission\":\"0755\",\"id\":\"p2\"}");
	record(e, "rep", "local.file", "{\"path\":\"p3\",\"content\":\"c\",\"file_permission\":\"0644\",\"directory_permission\":\"0755\",\"id\":\"p3\"}");
	record(e, "gone", "local.file", "{\"path\":\"p4\",\"content\":\"c\",\"file_permission\":\"0644\",\"directory_permission\":\"0755\",\"id\":\"p4\"}");
	T_OK(cairn_engine_plan(e, false, NULL));
	T_EQ_INT(cairn_engine_inst(e, "same")->action, CAIRN_ACT_NOOP);
	in = cairn_engine_inst(e, "upd");
	T_EQ_INT(in->action, CAIRN_ACT_UPDATE);
	T_EQ_INT(json_array_size(in->changes), 1);
	c = json_array_get(in->changes, 0);
	T_EQ_STR(json_string_value(json_object_get(c, "attribute")), "content");
	T_EQ_STR(json_string_value(json_object_get(c, "before")), "old");
	T_EQ_STR(json_string_value(json_object_get(c, "after")), "new");
	in = cairn_engine_inst(e, "rep");
	T_EQ_INT(in->action, CAIRN_ACT_REPLACE);
	T_CHECK(json_is_true(json_object_get(json_array_get(in->changes, 0), "force_new")));
	in = cairn_engine_inst(e, "gone");
	T_CHECK(in != NULL);
	T_EQ_INT(in->action, CAIRN_ACT_DELETE);
	cairn_engine_free(e);
	cleanup_dir();
}

static void test_plan__ignore_changes_and_destroy(void)
{
	cairn_engine *e = open_engine(
		"resources:\n"
		"  f:\n    type: local.file\n    path: p\n    content: new\n    lifecycle: {ignore_changes: [content]}\n", true);
	int add, ch, del;

	T_CHECK(e != NULL);
	record(e, "f", "local.file", "{\"path\":\"p\",\"content\":\"old\",\"file_permission\":\"0644\",\"directory_permission\":\"0755\",\"id\":\"p\"}");
	T_OK(cairn_engine_plan(e, false, NULL));
	T_EQ_INT(cairn_engine_inst(e, "f")->action, CAIRN_ACT_NOOP);
	T_OK(cairn_engine_plan(e, true, NULL));
	cairn_engine_counts(e, &add, &ch, &del);
	T_EQ_INT(add, 0);
	T_EQ_INT(del, 1);
	cairn_engine_free(e);
	cleanup_dir();
}

static void test_plan__count_and_for_each(void)
{
	cairn_engine *e = open_engine(
		"variables:\n  n: {default: 3}\n  m: {default: {a: x, b: y}}\n"
		"resources:\n"
		"  w: {type: null.resource, count: \"${var.n}\", triggers: {i: \"${count.index}\"}}\n"
		"  f: {type: null.resource, for_each: \"${var.m}\", triggers: {k: \"${each.key}=${each.value}\"}}\n"
		"  all: {type: null.resource, triggers: {n: \"${length(w)}\"}}\n", false);
	cairn_inst *in;

	T_CHECK(e != NULL);
	T_OK(cairn_engine_plan(e, false, NULL));
	T_CHECK(cairn_engine_inst(e, "w[2]") != NULL);
	T_CHECK(cairn_engine_inst(e, "w[3]") == NULL);
	in = cairn_engine_inst(e, "f[\"b\"]");
	T_CHECK(in != NULL);
	T_EQ_STR(json_string_value(json_object_get(json_object_get(in->desired, "triggers"), "k")), "b=y");
	in = cairn_engine_inst(e, "all");
	T_EQ_INT(in->ndeps, 3);
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(in->desired, "triggers"), "n")), 3);
	cairn_engine_free(e);
	cleanup_dir();
}

static void test_plan__sensitive_taint(void)
{
	cairn_engine *e = open_engine(
		"variables:\n  pw: {sensitive: true, default: hunter2-secret}\n"
		"resources:\n  f: {type: local.file, path: p, content: \"pw=${var.pw}\"}\n", false);
	cairn_buf b = CAIRN_BUF_INIT;
	char *red;

	T_CHECK(e != NULL);
	T_OK(cairn_engine_plan(e, false, NULL));
	T_OK(cairn_render_plan(e, &b, false));
	T_CHECK(strstr(cairn_buf_cstr(&b), "hunter2-secret") == NULL);
	T_CONTAINS(cairn_buf_cstr(&b), "content");
	T_CONTAINS(cairn_buf_cstr(&b), "(sensitive)");
	red = cairn_engine_redact(e, "module said hunter2-secret oops");
	T_EQ_STR(red, "module said (sensitive) oops");
	free(red);
	/* the tainted property's whole value is a secret too: longest match wins */
	red = cairn_engine_redact(e, "content was pw=hunter2-secret");
	T_EQ_STR(red, "content was (sensitive)");
	free(red);
	cairn_buf_release(&b);
	cairn_engine_free(e);
	cleanup_dir();
}

static void test_plan__unknown_count_is_error(void)
{
	cairn_engine *e = open_engine(
		"resources:\n  a: {type: random.id}\n  b: {type: null.resource, count: \"${length(a.hex)}\"}\n", false);

	T_CHECK(e != NULL);
	T_EQ_INT(cairn_engine_plan(e, false, NULL), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "known only after apply");
	cairn_engine_free(e);
	cleanup_dir();
}

/* What a drift replay may send again (engine.h): reads alone. */
static void test_plan__replay_reads_only(void)
{
	static const struct { const char *req; bool read; } rows[] = {
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Action=DescribeVpcs&Version=2016-11-15\"}", true },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Version=1&Action=ListTagsForResource\"}", true },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Action=GetCallerIdentity\"}", true },
		{ "{\"url\":\"http://h/clusters/c1\"}", true },
		{ "{\"method\":\"GET\",\"url\":\"http://h/?Action=DescribeVpcs\"}", true },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Action=TerminateInstances&InstanceId.1=i-1\"}", false },
		{ "{\"method\":\"GET\",\"url\":\"http://h/?Action=DeleteVpc&VpcId=v\"}", false },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Action=DescribeVpcs&Action=DeleteVpc\"}", false },
		{ "{\"method\":\"POST\",\"url\":\"http://h/?Action=DeleteVpc\",\"body\":\"Action=DescribeVpcs\"}", false },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Act%69on=DeleteVpc\"}", false },
		{ "{\"method\":\"POST\",\"url\":\"http://h/\",\"body\":\"Action=Describe\"}", false },
		{ "{\"method\":\"POST\",\"url\":\"http://h/clusters\",\"body\":\"{\\\"name\\\":\\\"c\\\"}\"}", false },
		{ "{\"method\":\"DELETE\",\"url\":\"http://h/clusters/c1\"}", false },
		{ "{\"method\":\"PUT\",\"url\":\"http://h/x\"}", false },
		{ "{\"method\":\"GET\"}", false },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *r = json_loads(rows[i].req, 0, NULL);

		T_CHECK(r != NULL);
		if (r && cairn_engine_request_is_read(r) != rows[i].read)
			T_FAIL_("%s: %s, expected %s", rows[i].req, rows[i].read ? "not a read" : "a read",
				rows[i].read ? "a read" : "not");
		json_decref(r);
	}
}

static const t_case cases[] = {
	T_CASE(test_plan__create_with_unknowns),
	T_CASE(test_plan__noop_update_replace),
	T_CASE(test_plan__ignore_changes_and_destroy),
	T_CASE(test_plan__count_and_for_each),
	T_CASE(test_plan__sensitive_taint),
	T_CASE(test_plan__unknown_count_is_error),
	T_CASE(test_plan__replay_reads_only),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
