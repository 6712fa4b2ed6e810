/*
 * fuzz_expr.c - the expression parser and evaluator (lang/expr.c) and the
 * function library (lang/funcs.c). The input is parsed both as a YAML
 * string's text (a template: "a ${x} b") and as a bare expression (as
 * --var values are); each tree that parses is walked for references,
 * checked for unknown functions, copied, and evaluated against a root
 * holding variables of every type, resources with count and for_each
 * instances, each/count values and an unknown value, as in a plan.
 *
 * Seeds: tests/fuzz/seeds/expr/ (one expression or template per file).
 */
#include "fuzz.h"
#include "lang/expr.h"

static json_t *root;

static int count_ref(void *ud, const cairn_ref *ref)
{
	(*(size_t *)ud)++;
	return ref->root ? 0 : 1;
}

static void exercise(const cairn_expr *e)
{
	cairn_eval_ctx ctx = { root, fuzz_dir(), NULL };
	cairn_expr *copy = NULL;
	json_t *v = NULL;
	size_t nrefs = 0;

	cairn_expr_refs(e, count_ref, &nrefs);
	if (cairn_expr_check_funcs(e) != 0)
		return;
	if (cairn_expr_copy(&copy, e) != 0)
		abort();
	ctx.inputs = json_object();
	if (cairn_expr_eval(&v, copy, &ctx) == 0) {
		char *r = cairn_value_render(v);

		free(r);
		json_decref(v);
	}
	json_decref(ctx.inputs);
	cairn_expr_free(copy);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[512];

	fuzz_write(path, sizeof(path), "hello.txt", "hello\n", 6);
	root = json_pack("{s:{s:s,s:i,s:f,s:b,s:n,s:[i,i,i],s:{s:i,s:s},s:[s,s],s:s},"
			 "s:{s:s,s:s},s:{s:s},s:{s:i},s:{s:s,s:{s:s}},"
			 "s:[{s:s,s:[s,s]},{s:s,s:[s]}],s:{s:{s:s},s:{s:s}},s:{s:s,s:i}}",
		"var", "name", "web", "port", 8080, "ratio", 0.5, "on", 1, "nothing", "list", 1, 2, 3,
		       "map", "a", 1, "b", "two", "zones", "a", "b", "secret", "hunter2",
		"env", "name", "dev", "stack", "demo", "path", "stack", fuzz_dir(), "count", "index", 1,
		"each", "key", "k", "value", "v", "x",
		"web", "id", "i-1", "ips", "10.0.0.1", "10.0.0.2", "id", "i-2", "ips", "10.0.0.3",
		"bucket", "a", "arn", "arn:a", "b", "arn", "arn:b",
		"vpc", "id", "vpc-1", "n", 3);
	if (!root)
		abort();
	json_object_set_new(json_object_get(root, "var"), "later", cairn_unknown());
	json_object_set_new(json_object_get(root, "vpc"), "cidr", cairn_unknown());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const cairn_pos pos = { "fuzz.yaml", 3, 7 };
	cairn_expr *e = NULL;
	char *text = malloc(size + 1);

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (cairn_expr_parse_template(&e, text, &pos) == 0) {
		exercise(e);
		cairn_expr_free(e);
		e = NULL;
	}
	cairn_error_clear();
	if (cairn_expr_parse(&e, text, &pos) == 0) {
		exercise(e);
		cairn_expr_free(e);
	}
	cairn_error_clear();
	free(text);
	return 0;
}
