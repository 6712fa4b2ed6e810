/*
 * test_config.c - loading stack files and overlays: shapes, positions,
 * YAML details, variable types and resolution. Fixtures are written into a
 * temporary directory.
 */
#include "t.h"
#include "lang/config.h"

#include <dirent.h>
#include <unistd.h>

static char dir_[64];

static void cleanup_dir(void)
{
	DIR *d;
	struct dirent *de;
	char p[512];

	if (!dir_[0] || !(d = opendir(dir_)))
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir_, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir_);
	dir_[0] = 0;
}

/* Write name in a fresh temp dir (one per test), return its path. */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	if (!dir_[0]) {
		snprintf(dir_, sizeof(dir_), "/tmp/cairn-config-XXXXXX");
		if (!mkdtemp(dir_))
			abort();
	}
	snprintf(path, sizeof(path), "%s/%s", dir_, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* The error as the CLI would show it, with the temp dir cut off. */
static const char *err(void)
{
	static char buf[2048];
	const cairn_error *e = cairn_error_last();
	char *p;
	size_t dl = strlen(dir_);

	cairn_error_format(e, buf, sizeof(buf));
	while (dl && (p = strstr(buf, dir_)) != NULL)
		memmove(p, p + dl + 1, strlen(p + dl + 1) + 1);
	return buf;
}

/* Load a stack.yaml with this text; return "ok" or the error. */
static const char *load_err(const char *yaml)
{
	cairn_stack *s = NULL;
	const char *path = put("stack.yaml", yaml);
	int rc = cairn_stack_load(&s, path);
	const char *msg = rc ? err() : "ok";

	cairn_stack_free(s);
	cleanup_dir();
	return msg;
}

static void test_config__full_stack(void)
{
	cairn_stack *s = NULL;
	const cairn_res_cfg *r;
	const char *path = put("stack.yaml",
		"stack: demo\n"
		"variables:\n"
		"  region:\n"
		"    type: string\n"
		"    default: us-east-1\n"
		"    description: where\n"
		"  azs:\n"
		"    type: list( string )\n"
		"  password:\n"
		"    type: string\n"
		"    sensitive: true\n"
		"    nullable: true\n"
		"    validation:\n"
		"      condition: \"${length(var.password) >= 8}\"\n"
		"      message: too short\n"
		"resources:\n"
		"  vpc:\n"
		"    type: aws.vpc\n"
		"    cidr_block: 10.0.0.0/16\n"
		"    tags: { Name: \"${var.region}-vpc\" }\n"
		"    lifecycle:\n"
		"      prevent_destroy: true\n"
		"      ignore_changes: [tags, description]\n"
		"      create_before_destroy: true\n"
		"  subnet:\n"
		"    type: aws.subnet\n"
		"    count: \"${length(var.azs)}\"\n"
		"    depends_on: [vpc]\n"
		"    vpc_id: ${vpc.id}\n"
		"    az: \"${var.azs[count.index]}\"\n"
		"  svc:\n"
		"    type: local.file\n"
		"    for_each: { a: 1, b: 2 }\n"
		"    name: ${each.key}\n"
		"    lifecycle: { ignore_changes: all }\n"
		"outputs:\n"
		"  vpc_id:\n"
		"    value: ${vpc.id}\n"
		"    description: the VPC\n"
		"    sensitive: false\n");

	T_OK(cairn_stack_load(&s, path));
	T_EQ_STR(s->name, "demo");
	T_EQ_STR(s->path, path);
	T_EQ_STR(s->dir, dir_);
	T_EQ_INT(s->nvars, 3);
	T_EQ_STR(s->vars[0].name, "region");
	T_EQ_STR(s->vars[0].type, "string");
	T_EQ_STR(s->vars[0].description, "where");
	T_EQ_STR(json_string_value(cairn_expr_const(s->vars[0].def)), "us-east-1");
	T_EQ_INT(s->vars[0].pos.line, 3);
	T_EQ_INT(s->vars[0].pos.col, 3);
	T_EQ_STR(s->vars[1].type, "list(string)");
	T_CHECK(s->vars[1].def == NULL);
	T_CHECK(s->vars[2].sensitive && s->vars[2].nullable);
	T_EQ_INT(s->vars[2].nvalidations, 1);
	T_EQ_STR(s->vars[2].validations[0].message, "too short");
	T_EQ_INT(cairn_expr_pos(s->vars[2].validations[0].condition)->line, 14);
	T_EQ_INT(s->nresources, 3);
	r = cairn_stack_resource(s, "vpc");
	T_CHECK(r == &s->resources[0]);
	T_EQ_STR(r->type, "aws.vpc");
	T_EQ_INT(r->type_pos.line, 18);
	T_EQ_INT(r->type_pos.col, 11);
	T_CHECK(r->prevent_destroy && json_is_true(cairn_expr_const(r->prevent_destroy)));
	T_EQ_INT(r->nignore_changes, 2);
	T_EQ_STR(r->ignore_changes[1], "description");
	T_EQ_INT(r->ignore_changes_pos[1].col, 30);
	T_CHECK(r->create_before_destroy);
	T_EQ_INT(cairn_expr_size(r->props), 2);
	T_CHECK(cairn_expr_get(r->props, "cidr_block") != NULL);
	T_CHECK(cairn_expr_get(r->props, "lifecycle") == NULL);
	T_CHECK(cairn_expr_get(r->props, "type") == NULL);
	r = cairn_stack_resource(s, "subnet");
	T_CHECK(r->count != NULL && r->for_each == NULL);
	T_EQ_INT(r->ndepends_on, 1);
	T_EQ_STR(r->depends_on[0], "vpc");
	T_EQ_INT(r->depends_on_pos[0].line, 28);
	T_EQ_INT(r->depends_on_pos[0].col, 18);
	T_CHECK(cairn_expr_kind_of(cairn_expr_get(r->props, "vpc_id")) == CAIRN_EXPR_OTHER);
	r = cairn_stack_resource(s, "svc");
	T_CHECK(r->for_each != NULL && r->ignore_all_changes);
	T_CHECK(cairn_stack_resource(s, "nope") == NULL);
	T_EQ_INT(s->noutputs, 1);
	T_EQ_STR(s->outputs[0].name, "vpc_id");
	T_EQ_STR(s->outputs[0].description, "the VPC");
	T_EQ_INT(s->nfiles, 1);
	T_EQ_STR(s->files[0], path);
	cairn_stack_free(s);
	cleanup_dir();
}

static void test_config__default_name_and_empty(void)
{
	cairn_stack *s = NULL;
	const char *path = put("stack.yaml", "# nothing yet\nresources: {}\n");

	T_OK(cairn_stack_load(&s, path));
	T_EQ_STR(s->name, strrchr(dir_, '/') + 1);
	T_EQ_INT(s->nresources, 0);
	cairn_stack_free(s);
	/* empty, ~ or `resources:` alone would mean "destroy everything": refused */
	path = put("stack.yaml", "# nothing yet\n");
	T_CHECK(cairn_stack_load(&s, path) == CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "the stack file is empty");
	T_EQ_INT(cairn_error_last()->line, 1);
	path = put("stack.yaml", "~\n");
	T_CHECK(cairn_stack_load(&s, path) == CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "the stack file is empty");
	path = put("stack.yaml", "variables: {}\nresources:\n");
	T_CHECK(cairn_stack_load(&s, path) == CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "'resources' is empty (null)");
	T_EQ_INT(cairn_error_last()->line, 2);
	cleanup_dir();
}

/* Plain scalars follow the YAML 1.2 core schema; quoted ones are strings. */
static void test_config__core_schema(void)
{
	static const struct { const char *yaml; const char *json; } cases[] = {
		{ "~", "null" }, { "null", "null" }, { "", "null" }, { "true", "true" }, { "False", "false" },
		{ "yes", "\"yes\"" }, { "on", "\"on\"" }, { "42", "42" }, { "-7", "-7" }, { "+3", "3" },
		{ "0x1F", "31" }, { "0o17", "15" }, { "017", "17" }, { "1.5", "1.5" }, { "1e3", "1000.0" },
		{ ".5", "0.5" }, { "\"42\"", "\"42\"" }, { "'true'", "\"true\"" }, { "1.2.3", "\"1.2.3\"" },
		{ "0x", "\"0x\"" }, { "10.0.0.0/16", "\"10.0.0.0/16\"" }, { "!!str 5", "\"5\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256];
		cairn_stack *s = NULL;
		json_t *v = NULL;
		char *out;

		snprintf(yaml, sizeof(yaml), "variables:\n  x:\n    default: %s\n", cases[i].yaml);
		T_OK(cairn_stack_load(&s, put("stack.yaml", yaml)));
		T_OK(cairn_expr_eval(&v, s->vars[0].def, NULL));
		out = json_dumps(v, JSON_ENCODE_ANY);
		if (strcmp(out, cases[i].json) != 0)
			printf("#   case %s\n", cases[i].yaml);
		T_EQ_STR(out, cases[i].json);
		free(out);
		json_decref(v);
		cairn_stack_free(s);
	}
	cleanup_dir();
	T_EQ_STR(load_err("variables:\n  x:\n    default: .inf\n"),
		"stack.yaml:3:14: infinite and NaN numbers are not supported (quote '.inf' to make it a string)");
	T_EQ_STR(load_err("variables:\n  x:\n    default: 99999999999999999999\n"),
		"stack.yaml:3:14: integer 99999999999999999999 is out of range");
}

static void test_config__malformed_yaml(void)
{
	T_EQ_STR(load_err("resources:\n  a: [1, 2\n"),
		"stack.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence at line 2)");
	T_EQ_STR(load_err("resources:\n\tweb:\n"),
		"stack.yaml:2:1: tab character where YAML expects spaces (indent with spaces, not tabs)");
	T_EQ_STR(load_err("a: b: c\n"),
		"stack.yaml:1:5: mapping values are not allowed in this context");
	T_EQ_STR(load_err("a: 1\nb: \"x\xff\"\n"), "stack.yaml:2:6: invalid leading UTF-8 octet");
	T_EQ_STR(load_err("- a\n- b\n"), "stack.yaml:1:1: expected a mapping at the top of the file");
	T_EQ_STR(load_err("resources: {}\n---\nresources: {}\n"),
		"stack.yaml:2:1: several YAML documents in one file are not supported (found a second '---')");
}

static void test_config__duplicates(void)
{
	T_EQ_STR(load_err("resources:\n  web:\n    type: a.b\n  web:\n    type: a.c\n"),
		"stack.yaml:4:3: duplicate key 'web' (first at line 2)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: a.b\n    tags:\n      k: 1\n      k: 2\n"),
		"stack.yaml:6:7: duplicate key 'k' (first at line 5)");
	T_EQ_STR(load_err("resources:\n  web: { type: a.b, x: 1, x: 2 }\n"),
		"stack.yaml:2:27: duplicate key 'x' (first at line 2)");
}

static void test_config__aliases(void)
{
	cairn_stack *s = NULL;
	json_t *v = NULL;
	const char *path = put("stack.yaml",
		"variables: { e: {} }\n"
		"resources:\n"
		"  a:\n"
		"    type: t.x\n"
		"    tags: &tags { team: core, env: \"${var.e}\" }\n"
		"  b:\n"
		"    type: t.x\n"
		"    tags: *tags\n");

	T_OK(cairn_stack_load(&s, path));
	T_CHECK(cairn_expr_kind_of(cairn_expr_get(cairn_expr_get(s->resources[1].props, "tags"), "env")) ==
		CAIRN_EXPR_OTHER);
	T_OK(cairn_expr_eval(&v, cairn_expr_get(cairn_expr_get(s->resources[1].props, "tags"), "team"), NULL));
	T_EQ_STR(json_string_value(v), "core");
	json_decref(v);
	cairn_stack_free(s);
	cleanup_dir();
	T_EQ_STR(load_err("resources:\n  a: { type: t, <<: {} }\n"), "stack.yaml:2:17: merge keys ('<<') are not supported");
	T_EQ_STR(load_err("resources:\n  a: { type: t, x: *nope }\n"),
		"stack.yaml:2:20: unknown anchor '*nope'");
}

static void test_config__billion_laughs(void)
{
	const char *msg = load_err(
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n");

	T_CONTAINS(msg, "too many nodes after expanding aliases");
}

static void test_config__unknown_keys(void)
{
	T_EQ_STR(load_err("resorces: {}\n"),
		"stack.yaml:1:1: unknown key 'resorces' in the stack file (did you mean 'resources'?)");
	T_EQ_STR(load_err("variables:\n  x:\n    defualt: 1\n"),
		"stack.yaml:3:5: unknown key 'defualt' in variable (did you mean 'default'?)");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    lifecycle:\n      prevent_destory: true\n"),
		"stack.yaml:5:7: unknown lifecycle key 'prevent_destory' (did you mean 'prevent_destroy'?)");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    lifecycle:\n      frozen: true\n"),
		"stack.yaml:5:7: unknown lifecycle key 'frozen' (expected prevent_destroy, ignore_changes or "
		"create_before_destroy)");
	T_EQ_STR(load_err("outputs:\n  o:\n    value: 1\n    sensitve: true\n"),
		"stack.yaml:4:5: unknown key 'sensitve' in output (did you mean 'sensitive'?)");
	T_EQ_STR(load_err("variables:\n  x:\n    validation:\n      - condition: \"${var.x}\"\n        mesage: m\n"),
		"stack.yaml:5:9: unknown key 'mesage' in validation (did you mean 'message'?)");
}

/* state: a path joined to the stack's directory, or a postgres:// URL
 * without a password; cairn_stack_state_of reads the same key alone. */
static void test_config__state(void)
{
	cairn_stack *s = NULL;
	const char *path;
	char want[600], *loc = NULL;

	path = put("stack.yaml", "state: ../shared/st.db\nresources: {}\n");
	T_OK(cairn_stack_load(&s, path));
	snprintf(want, sizeof(want), "%s/../shared/st.db", dir_);
	T_EQ_STR(s->state, want);
	T_OK(cairn_stack_state_of(path, &loc));
	T_EQ_STR(loc, want);
	free(loc);
	loc = NULL;
	cairn_stack_free(s);
	s = NULL;
	path = put("stack.yaml", "state: postgres://cairn@db/cairn?options=-csearch_path%3Dweb\nresources: {}\n");
	T_OK(cairn_stack_load(&s, path));
	T_EQ_STR(s->state, "postgres://cairn@db/cairn?options=-csearch_path%3Dweb");
	cairn_stack_free(s);
	s = NULL;
	path = put("stack.yaml", "resources: {}\n");
	T_OK(cairn_stack_load(&s, path));
	T_CHECK(s->state == NULL);
	T_OK(cairn_stack_state_of(path, &loc));
	T_CHECK(loc == NULL);
	cairn_stack_free(s);
	s = NULL;
	path = put("stack.yaml", "state: /abs/st.db\nresources: {}\n");
	T_OK(cairn_stack_state_of(path, &loc));
	T_EQ_STR(loc, "/abs/st.db");
	free(loc);
	loc = NULL;
	snprintf(want, sizeof(want), "%s/none.yaml", dir_);
	T_OK(cairn_stack_state_of(want, &loc));
	T_CHECK(loc == NULL);
	cleanup_dir();

	T_EQ_STR(load_err("resources: {}\nstate: postgres://cairn:hunter2@db/cairn\n"),
		"stack.yaml:2:8: the state's URL holds a password: a stack file is shared, so keep the password "
		"out of it (PGPASSWORD, ~/.pgpass, or the whole URL in CAIRN_STATE_URL)");
	T_EQ_STR(load_err("state: postgresql://db/cairn?sslmode=disable&password=hunter2\nresources: {}\n"),
		"stack.yaml:1:8: the state's URL holds a password: a stack file is shared, so keep the password "
		"out of it (PGPASSWORD, ~/.pgpass, or the whole URL in CAIRN_STATE_URL)");
	T_EQ_STR(load_err("state: mysql://db/cairn\nresources: {}\n"),
		"stack.yaml:1:8: the state's URL scheme 'mysql' is not supported: name a file (relative to the "
		"stack) or a postgres:// URL");
	T_EQ_STR(load_err("state: \"\"\nresources: {}\n"),
		"stack.yaml:1:8: the state is empty: name a file (relative to the stack) or a postgres:// URL");
	T_EQ_STR(load_err("state: 3\nresources: {}\n"), "stack.yaml:1:8: the state must be a string");
	T_EQ_STR(load_err("state: \"${var.x}\"\nresources: {}\n"),
		"stack.yaml:1:11: the state must be a string without ${ } references");
	/* user@host with no password, and a ':' in the path or query, are fine */
	T_EQ_STR(load_err("state: postgres://u@h:5432/db?options=-csearch_path%3Da:b\nresources: {}\n"), "ok");
	path = put("stack.yaml", "state: postgres://u:pw@h/db\nresources: {}\n");
	T_EQ_INT(cairn_stack_state_of(path, &loc), CAIRN_EINVAL);
	T_CHECK(loc == NULL);
	T_CHECK(strstr(err(), "pw@") == NULL);
	cleanup_dir();
}

static void test_config__names(void)
{
	T_EQ_STR(load_err("resources:\n  1web:\n    type: t\n"),
		"stack.yaml:2:3: invalid resource name '1web' (names start with a letter or '_' and contain letters, "
		"digits, '_' and '-')");
	T_EQ_STR(load_err("resources:\n  var:\n    type: t\n"), "stack.yaml:2:3: resource name 'var' is reserved");
	T_EQ_STR(load_err("variables:\n  \"a b\": {}\n"),
		"stack.yaml:2:3: invalid variable name 'a b' (names start with a letter or '_' and contain letters, "
		"digits, '_' and '-')");
	T_EQ_STR(load_err("outputs:\n  \"x.y\": { value: 1 }\n"), "stack.yaml:2:3: invalid output name 'x.y'");
}

static void test_config__resource_shape(void)
{
	T_EQ_STR(load_err("resources:\n  web:\n    image: x\n"), "stack.yaml:2:3: resource 'web' has no 'type'");
	T_EQ_STR(load_err("resources:\n  web:\n    tpye: aws.vpc\n"),
		"stack.yaml:3:5: unknown key 'tpye' in resource 'web' (did you mean 'type'?)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: [a]\n"), "stack.yaml:3:11: the resource type must be a string");
	T_EQ_STR(load_err("resources:\n  web:\n    type: \"${var.t}\"\n"),
		"stack.yaml:3:14: the resource type must be a string without ${ } references");
	T_EQ_STR(load_err("resources:\n  web: [1]\n"), "stack.yaml:2:8: a resource must be a mapping, got a list");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    count: 2\n    for_each: [a]\n"),
		"stack.yaml:5:5: resource 'web' has both 'count' and 'for_each' (use one of them)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    depends_on: db\n"),
		"stack.yaml:4:17: depends_on must be a list of names");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    depends_on: [db, 3]\n"),
		"stack.yaml:4:22: depends_on must be a list of names (strings)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    count: -1\n"),
		"stack.yaml:4:12: count must be a whole number from 0 to 100000, got -1");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    for_each: abc\n"),
		"stack.yaml:4:15: for_each must be a list of strings or a map, got string");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    lifecycle: { create_before_destroy: 1 }\n"),
		"stack.yaml:4:41: create_before_destroy must be true or false");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    lifecycle: { ignore_changes: some }\n"),
		"stack.yaml:4:34: ignore_changes must be a list of property names or 'all'");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    name: \"${count.index}\"\n"),
		"stack.yaml:4:14: count.index can only be used in a resource with 'count' (resource 'web' has none)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    for_each: [a]\n    name: x-${each.val}\n"),
		"stack.yaml:5:15: unknown reference 'each.val' (each.key and each.value exist)");
	T_EQ_STR(load_err("resources:\n  web:\n    type: t\n    count: ${count.index}\n"),
		"stack.yaml:4:14: count.index cannot be used in count");
	T_EQ_STR(load_err("outputs:\n  o:\n    description: x\n"), "stack.yaml:2:3: output 'o' has no 'value'");
	T_EQ_STR(load_err("outputs:\n  o: 1\n"), "stack.yaml:2:6: output 'o' must be a mapping with a 'value'");
}

static void test_config__expression_positions(void)
{
	/* plain, double-quoted and single-quoted scalars: exact columns */
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: x-${upper(1}\n"),
		"stack.yaml:4:19: expected ')' after arguments, found '}'");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: \"x-${upper(1}\"\n"),
		"stack.yaml:4:20: expected ')' after arguments, found '}'");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: 'x-${upper(1}'\n"),
		"stack.yaml:4:20: expected ')' after arguments, found '}'");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: \"ab ${var.x\"\n"),
		"stack.yaml:4:12: unclosed '${' (expected '}' to close '${')");
	/* escapes shift columns: the scalar's start is reported */
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: \"\\t ${var.x\"\n"),
		"stack.yaml:4:8: unclosed '${' (expected '}' to close '${')");
	/* block scalars: the scalar's start */
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: |\n      one\n      ${nope(}\n"),
		"stack.yaml:4:8: expected an expression, found '}'");
}

static void test_config__load_time_checks(void)
{
	T_EQ_STR(load_err("variables:\n  name: {}\nresources:\n  w:\n    type: t\n    a: ${var.nme}\n"),
		"stack.yaml:6:10: unknown reference 'var.nme' (did you mean 'var.name'?)");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: ${var.zzz}\n"),
		"stack.yaml:4:10: unknown reference 'var.zzz' (no variable 'zzz' is declared)");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    a: ${var}\n"),
		"stack.yaml:4:10: 'var' must be followed by a variable name (var.NAME)");
	T_EQ_STR(load_err("outputs:\n  o:\n    value: '${jion(\",\", [])}'\n"),
		"stack.yaml:3:15: unknown function 'jion' (did you mean join()?)");
	T_EQ_STR(load_err("resources:\n  w:\n    type: t\n    f: ${path.root}\n"),
		"stack.yaml:4:10: unknown reference 'path.root' (only path.stack exists)");
}

static void test_config__variables(void)
{
	T_EQ_STR(load_err("variables:\n  x:\n    type: strin\n"),
		"stack.yaml:3:11: invalid type 'strin' for variable 'x' (expected string, number, bool, list, map, any, "
		"list(T) or map(T))");
	T_EQ_STR(load_err("variables:\n  x:\n    type: number\n    default: abc\n"),
		"stack.yaml:4:14: the default of variable 'x' does not match its type: expected number, got string");
	T_EQ_STR(load_err("variables:\n  x:\n    default: ${var.y}\n"),
		"stack.yaml:3:16: the default of variable 'x' must be a constant (it cannot refer to 'var')");
	T_EQ_STR(load_err("variables:\n  x:\n    sensitive: maybe\n"), "stack.yaml:3:16: sensitive must be true or false");
	T_EQ_STR(load_err("variables:\n  x:\n    validation:\n      condition: \"${var.y > 1}\"\n      message: m\n"),
		"stack.yaml:4:21: the validation condition of variable 'x' can only refer to var.x");
	T_EQ_STR(load_err("variables:\n  x:\n    validation:\n      message: m\n"),
		"stack.yaml:4:7: validation of variable 'x' has no 'condition'");
	T_EQ_STR(load_err("variables: [a]\n"), "stack.yaml:1:12: 'variables' must be a mapping, got a list");
}

static void test_config__type_valid(void)
{
	T_CHECK(cairn_type_valid("string"));
	T_CHECK(cairn_type_valid("list"));
	T_CHECK(cairn_type_valid("map(list(number))"));
	T_CHECK(cairn_type_valid("list( string )"));
	T_CHECK(!cairn_type_valid("list("));
	T_CHECK(!cairn_type_valid("list(string"));
	T_CHECK(!cairn_type_valid("strings"));
	T_CHECK(!cairn_type_valid("set(string)"));
	T_CHECK(!cairn_type_valid(""));
}

static const char *tc(const char *type, const char *json)
{
	static char buf[1024];
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL), *out = NULL;
	char *s;

	if (cairn_type_check(&out, type, v) != 0) {
		snprintf(buf, sizeof(buf), "error: %.1000s", cairn_error_last()->message);
	} else {
		s = json_dumps(out, JSON_ENCODE_ANY);
		snprintf(buf, sizeof(buf), "%s", s);
		free(s);
	}
	json_decref(v);
	json_decref(out);
	return buf;
}

static void test_config__type_check(void)
{
	T_EQ_STR(tc("string", "3"), "\"3\"");
	T_EQ_STR(tc("string", "2.5"), "\"2.5\"");
	T_EQ_STR(tc("string", "true"), "\"true\"");
	T_EQ_STR(tc("number", "\"3\""), "error: expected number, got string");
	T_EQ_STR(tc("bool", "\"true\""), "error: expected bool, got string");
	T_EQ_STR(tc("list(string)", "[1, \"a\"]"), "[\"1\", \"a\"]");
	T_EQ_STR(tc("list(number)", "[1, \"a\"]"), "error: expected number at [1], got string");
	T_EQ_STR(tc("map(list(number))", "{\"a\": [1, {}]}"), "error: expected number at [\"a\"][1], got map");
	T_EQ_STR(tc("map", "[]"), "error: expected map, got list");
	T_EQ_STR(tc("any", "[1]"), "[1]");
	T_EQ_STR(tc("number", "null"), "null");
	T_EQ_STR(tc("list", "[1, \"x\"]"), "[1, \"x\"]");
}

static void test_config__env_load(void)
{
	cairn_stack *s = NULL;
	cairn_env_cfg *e = NULL;
	char **envs = NULL;
	size_t n = 0;
	const char *path;

	put("dev.yaml", "provider:\n  region: us-east-1\n  endpoint: http://127.0.0.1:4566\nvariables:\n  n: 3\n");
	put("prod.yaml", "variables:\n");
	put("notes.txt", "x");
	put("Bad.yaml", "x: 1");
	path = put("stack.yaml", "variables:\n  n: { type: number }\n");
	T_OK(cairn_stack_load(&s, path));
	T_OK(cairn_env_list(&envs, &n, s));
	T_EQ_INT(n, 2);
	T_EQ_STR(envs[0], "dev");
	T_EQ_STR(envs[1], "prod");
	cairn_env_list_free(envs, n);
	T_OK(cairn_env_load(&e, s, "dev"));
	T_EQ_STR(e->name, "dev");
	T_CONTAINS(e->path, "/dev.yaml");
	T_EQ_STR(json_string_value(json_object_get(e->provider, "endpoint")), "http://127.0.0.1:4566");
	T_EQ_INT(cairn_expr_size(e->variables), 1);
	cairn_env_free(e);
	e = NULL;
	T_OK(cairn_env_load(&e, s, "prod"));
	T_EQ_INT(cairn_expr_size(e->variables), 0);
	T_EQ_INT(json_object_size(e->provider), 0);
	cairn_env_free(e);
	e = NULL;
	T_EQ_INT(cairn_env_load(&e, s, "qa"), CAIRN_EINVAL);
	T_EQ_STR(err(), "unknown environment 'qa' (no file qa.yaml; environments: dev, prod)");
	T_EQ_INT(cairn_env_load(&e, s, "../x"), CAIRN_EINVAL);
	T_EQ_STR(err(), "invalid environment name '../x' (environments: dev, prod)");
	T_EQ_INT(cairn_env_load(&e, s, "stack"), CAIRN_EINVAL);
	put("qa.yaml", "variables:\n  n: ${1 + 2}\n");
	T_EQ_INT(cairn_env_load(&e, s, "qa"), CAIRN_EINVAL);
	T_EQ_STR(err(), "qa.yaml:2:8: overlay values must be constants (no ${ } expressions)");
	put("qa.yaml", "variable:\n  n: 1\n");
	T_EQ_INT(cairn_env_load(&e, s, "qa"), CAIRN_EINVAL);
	T_EQ_STR(err(), "qa.yaml:1:1: unknown key 'variable' in the environment file (did you mean 'variables'?)");
	T_CHECK(cairn_env_name_valid("pr-123"));
	T_CHECK(!cairn_env_name_valid("-x"));
	T_CHECK(!cairn_env_name_valid("Dev"));
	cairn_stack_free(s);
	cleanup_dir();
}

/* Resolve with stack text and dev overlay text; result or error. */
static const char *resolve(const char *stack, const char *dev, const char *overrides)
{
	static char buf[2048];
	cairn_stack *s = NULL;
	cairn_env_cfg *e = NULL;
	json_t *ov = overrides ? json_loads(overrides, 0, NULL) : NULL, *out = NULL;
	const char *path;
	int rc;

	if (dev)
		put("dev.yaml", dev);
	path = put("stack.yaml", stack);
	if ((rc = cairn_stack_load(&s, path)) == 0 && (!dev || (rc = cairn_env_load(&e, s, "dev")) == 0))
		rc = cairn_vars_resolve(&out, s, e, ov);
	if (rc) {
		snprintf(buf, sizeof(buf), "%.2000s", err());
	} else {
		char *j = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);

		snprintf(buf, sizeof(buf), "%s", j);
		free(j);
	}
	json_decref(ov);
	json_decref(out);
	cairn_env_free(e);
	cairn_stack_free(s);
	cleanup_dir();
	return buf;
}

static void test_config__vars_resolve(void)
{
	const char *stack =
		"variables:\n"
		"  region: { default: us-east-1 }\n"
		"  size: { type: number, default: 1 }\n"
		"  name: { type: string }\n"
		"  tags: { type: map(string), default: { a: 1 } }\n"
		"  opt: { default: null }\n";

	T_EQ_STR(resolve(stack, "variables:\n  name: 42\n  size: 3\n", NULL),
		"{\"name\":\"42\",\"opt\":null,\"region\":\"us-east-1\",\"size\":3,\"tags\":{\"a\":\"1\"}}");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n", "{\"size\": 9, \"region\": \"eu-west-1\"}"),
		"{\"name\":\"x\",\"opt\":null,\"region\":\"eu-west-1\",\"size\":9,\"tags\":{\"a\":\"1\"}}");
	/* null means "not set" unless nullable */
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n  size: ~\n", NULL),
		"{\"name\":\"x\",\"opt\":null,\"region\":\"us-east-1\",\"size\":1,\"tags\":{\"a\":\"1\"}}");
	T_EQ_STR(resolve(stack, "variables:\n  size: 2\n", NULL),
		"stack.yaml:4:3: variable 'name' is required but not set in dev.yaml");
	T_EQ_STR(resolve(stack, NULL, NULL),
		"stack.yaml:4:3: variable 'name' is required but not set (no environment given)");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n  sise: 2\n", NULL),
		"dev.yaml:3:3: unknown variable 'sise' in dev.yaml (did you mean 'size'?)");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n  zzz: 2\n", NULL),
		"dev.yaml:3:3: unknown variable 'zzz' in dev.yaml (the stack declares no such variable)");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n  size: \"3\"\n", NULL),
		"dev.yaml:3:9: invalid value for variable 'size': expected number, got string (\"3\")");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n", "{\"size\": \"big\"}"),
		"invalid value for variable 'size' (from --var): expected number, got string (\"big\")");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n", "{\"zzzz\": 1}"),
		"unknown variable 'zzzz' given with --var (the stack declares no such variable)");
	T_EQ_STR(resolve(stack, "variables:\n  name: x\n  tags: { a: [1] }\n", NULL),
		"dev.yaml:3:9: invalid value for variable 'tags': expected string at [\"a\"], got list");
}

static void test_config__validations(void)
{
	const char *stack =
		"variables:\n"
		"  port:\n"
		"    type: number\n"
		"    validation:\n"
		"      - condition: \"${var.port > 1024}\"\n"
		"        message: port must be above 1024\n"
		"      - condition: \"${var.port < 65536}\"\n"
		"        message: port too large\n"
		"  secret:\n"
		"    sensitive: true\n"
		"    type: number\n"
		"    default: 1\n"
		"    validation:\n"
		"      condition: \"${tonumber(var.secret) > 0}\"\n"
		"      message: must be positive\n";

	T_EQ_STR(resolve(stack, "variables:\n  port: 8080\n", NULL), "{\"port\":8080,\"secret\":1}");
	T_EQ_STR(resolve(stack, "variables:\n  port: 80\n", NULL),
		"stack.yaml:5:23: invalid value for variable 'port': port must be above 1024");
	T_EQ_STR(resolve(stack, "variables:\n  port: 70000\n", NULL),
		"stack.yaml:7:23: invalid value for variable 'port': port too large");
	T_EQ_STR(resolve(stack, "variables:\n  port: 8080\n  secret: hunter2\n", NULL),
		"dev.yaml:3:11: invalid value for variable 'secret': expected number, got string "
		"(the value of sensitive variable 'secret' is not shown)");
	T_EQ_STR(resolve(stack, "variables:\n  port: 8080\n  secret: -5\n", NULL),
		"stack.yaml:14:21: invalid value for variable 'secret': must be positive");
	T_EQ_STR(resolve("variables:\n  x:\n    validation:\n      condition: \"${var.x}\"\n      message: m\n",
		"variables:\n  x: 1\n", NULL),
		"stack.yaml:4:21: the validation condition of variable 'x' must be a bool, got number");
	/* the ${...} hint only for a condition written as plain text */
	T_EQ_STR(resolve("variables:\n  x:\n    validation:\n      condition: var.x > 0\n      message: m\n",
		"variables:\n  x: 1\n", NULL),
		"stack.yaml:4:18: the validation condition of variable 'x' must be a bool, got string (write it as \"${...}\")");
}

static void test_config__missing_file(void)
{
	cairn_stack *s = NULL;

	T_EQ_INT(cairn_stack_load(&s, "/nonexistent/stack.yaml"), CAIRN_ENOTFOUND);
	T_EQ_STR(cairn_error_last()->message, "cannot read /nonexistent/stack.yaml: No such file or directory");
}

/* What `cairn validate -e dev -C DIR` does with config: load the stack,
 * the dev overlay, resolve the variables; the first error, formatted. */
static int validate_dir(const char *dir, char *msg, size_t n)
{
	cairn_stack *s = NULL;
	cairn_env_cfg *e = NULL;
	json_t *vars = NULL;
	char path[1400];
	int rc;

	snprintf(path, sizeof(path), "%s/stack.yaml", dir);
	if ((rc = cairn_stack_load(&s, path)) == 0 && (rc = cairn_env_load(&e, s, "dev")) == 0)
		rc = cairn_vars_resolve(&vars, s, e, NULL);
	if (rc)
		cairn_error_format(cairn_error_last(), msg, n);
	json_decref(vars);
	cairn_env_free(e);
	cairn_stack_free(s);
	return rc;
}

static void corpus_dir(char *out, size_t n)
{
	const char *mods = getenv("CAIRN_MODULES_PATH");
	const char *slash;

	if (mods && (slash = strrchr(mods, '/')) != NULL) {
		snprintf(out, n, "%.*s/tests/corpus/config", (int)(slash - mods), mods);
		return;
	}
	if (access("tests/corpus/config", F_OK) == 0) {
		snprintf(out, n, "tests/corpus/config");
		return;
	}
	slash = strrchr(__FILE__, '/');
	snprintf(out, n, "%.*s/../corpus/config", slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
}

/* Every case of tests/corpus/config fails with its expected message. */
static void test_config__corpus(void)
{
	char root[900], dir[1200], line[1400], expect[1024], msg[2048];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int ncases = 0;

	corpus_dir(root, sizeof(root));
	d = opendir(root);
	if (!d) {
		printf("#   no corpus at %s\n", root);
		T_CHECK(d != NULL);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, de->d_name);
		snprintf(line, sizeof(line), "%s/expect", dir);
		if (!(f = fopen(line, "r")))
			continue;
		expect[0] = 0;
		if (!fgets(line, sizeof(line), f) || strcmp(line, "exit 1\n") != 0 || !fgets(expect, sizeof(expect), f))
			printf("#   %s: malformed expect file\n", de->d_name);
		fclose(f);
		expect[strcspn(expect, "\n")] = 0;
		msg[0] = 0;
		if (validate_dir(dir, msg, sizeof(msg)) == 0 || !expect[0] || !strstr(msg, expect)) {
			printf("#   %s: got \"%s\", expected it to contain \"%s\"\n", de->d_name, msg, expect);
			t_failed_ = 1;
		}
		ncases++;
	}
	closedir(d);
	T_CHECK(ncases >= 15);
}

static const t_case cases[] = {
	T_CASE(test_config__full_stack),
	T_CASE(test_config__default_name_and_empty),
	T_CASE(test_config__core_schema),
	T_CASE(test_config__malformed_yaml),
	T_CASE(test_config__duplicates),
	T_CASE(test_config__aliases),
	T_CASE(test_config__billion_laughs),
	T_CASE(test_config__unknown_keys),
	T_CASE(test_config__names),
	T_CASE(test_config__state),
	T_CASE(test_config__resource_shape),
	T_CASE(test_config__expression_positions),
	T_CASE(test_config__load_time_checks),
	T_CASE(test_config__variables),
	T_CASE(test_config__type_valid),
	T_CASE(test_config__type_check),
	T_CASE(test_config__env_load),
	T_CASE(test_config__vars_resolve),
	T_CASE(test_config__validations),
	T_CASE(test_config__missing_file),
	T_CASE(test_config__corpus),
	{ 0 }
};

int main(int argc, char **argv)
{
	int rc = t_main(cases, argc, argv);

	cleanup_dir();
	return rc;
}
