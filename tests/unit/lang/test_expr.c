/*
 * test_expr.c - the ${...} language: parsing, positions, evaluation,
 * unknown propagation, references, and the function library.
 */
#include "t.h"
#include "base/buf.h"
#include "lang/expr.h"

#include <unistd.h>
#include <sys/stat.h>

static json_t *root_;
static char dir_[64];

static void setup(void)
{
	json_error_t err;

	if (root_)
		return;
	root_ = json_loads("{"
		"\"var\": {\"name\": \"web\", \"n\": 3, \"half\": 1.5, \"list\": [1, 2, 3], \"m\": {\"a\": 1, \"b\": 2},"
		"          \"s\": \"x\", \"nul\": null, \"t\": true, \"words\": [\"a\", \"b\"], \"cidr\": \"10.0.0.0/16\"},"
		"\"web\": [{\"id\": \"i-1\", \"tags\": {\"k\": \"v\"}}, {\"id\": \"i-2\", \"tags\": {}}],"
		"\"svc\": {\"a\": {\"id\": \"sa\"}, \"b\": {\"id\": \"sb\"}},"
		"\"each\": {\"key\": \"k\", \"value\": \"v\"},"
		"\"count\": {\"index\": 1},"
		"\"path\": {\"stack\": \"/tmp/s\"}"
		"}", 0, &err);
	json_object_set_new(root_, "db", json_object());
	json_object_set_new(json_object_get(root_, "db"), "id", cairn_unknown());
	json_object_set_new(json_object_get(root_, "db"), "port", json_integer(5432));
	json_object_set_new(root_, "pending", cairn_unknown());
}

/* Evaluate a template (pos t.yaml:1:1) and render the result or the error. */
static const char *ev(const char *text)
{
	static char bufs[8][2048];
	static int slot;
	char *b = bufs[slot++ % 8];
	cairn_pos pos = { "t.yaml", 1, 1 };
	cairn_eval_ctx ctx = { 0 };
	cairn_expr *e = NULL;
	json_t *v = NULL;
	int rc;

	setup();
	ctx.root = root_;
	ctx.base_dir = dir_[0] ? dir_ : ".";
	cairn_error_clear();
	if ((rc = cairn_expr_parse_template(&e, text, &pos)) == 0)
		rc = cairn_expr_eval(&v, e, &ctx);
	if (rc) {
		cairn_error_format(cairn_error_last(), b, 2048);
	} else {
		/* the old JSON rendering: compact, sorted keys, unknown spelled out at the top */
		char *s = cairn_is_unknown(v) ? strdup("(known after apply)")
					      : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);

		snprintf(b, 2048, "%s", s);
		free(s);
	}
	json_decref(v);
	cairn_expr_free(e);
	return b;
}

static void test_expr__literals(void)
{
	T_EQ_STR(ev("${1}"), "1");
	T_EQ_STR(ev("${2.5}"), "2.5");
	T_EQ_STR(ev("${\"a\\tb\\\"\"}"), "\"a\\tb\\\"\"");
	T_EQ_STR(ev("${true}"), "true");
	T_EQ_STR(ev("${null}"), "null");
	T_EQ_STR(ev("${[1, \"x\", [true]]}"), "[1,\"x\",[true]]");
	T_EQ_STR(ev("${{a = 1, \"b\" = 2, c: 3}}"), "{\"a\":1,\"b\":2,\"c\":3}");
	T_EQ_STR(ev("${-3}"), "-3");
	T_EQ_STR(ev("${\"\\u00e9\"}"), "\"é\"");
}

static void test_expr__plain_strings(void)
{
	T_EQ_STR(ev("hello"), "\"hello\"");
	T_EQ_STR(ev("a $${b} c"), "\"a ${b} c\"");
	T_EQ_STR(ev(""), "\"\"");
	T_EQ_STR(ev("cost $5"), "\"cost $5\"");
}

static void test_expr__template_types(void)
{
	T_EQ_STR(ev("${var.n}"), "3");
	T_EQ_STR(ev("${var.list}"), "[1,2,3]");
	T_EQ_STR(ev("n=${var.n} h=${var.half} t=${var.t} s=${var.s}"), "\"n=3 h=1.5 t=true s=x\"");
	T_EQ_STR(ev("${6 / 2}.0"), "\"3.0\"");
	T_EQ_STR(ev("x${4.0 * 1}"), "\"x4\"");
	T_EQ_STR(ev("a ${var.nul} b"), "t.yaml:1:5: cannot interpolate null");
	T_EQ_STR(ev("a ${var.list}"), "t.yaml:1:5: cannot interpolate a list");
	T_EQ_STR(ev("a ${var.m}"), "t.yaml:1:5: cannot interpolate a map");
	T_EQ_STR(ev(" ${ var.n } "), "\" 3 \"");
	T_EQ_STR(ev("${0.1 + 0.2}!"), "\"0.30000000000000004!\"");
	T_EQ_STR(ev("${-0.0}!${1/4}"), "\"0!0.25\"");
}

static void test_expr__arithmetic(void)
{
	T_EQ_STR(ev("${1 + 2 * 3}"), "7");
	T_EQ_STR(ev("${(1 + 2) * 3}"), "9");
	T_EQ_STR(ev("${7 / 2}"), "3.5");
	T_EQ_STR(ev("${6 / 3}"), "2");
	T_EQ_STR(ev("${7 % 3}"), "1");
	T_EQ_STR(ev("${1.5 + 1}"), "2.5");
	T_EQ_STR(ev("${var.n - 5}"), "-2");
	T_EQ_STR(ev("${-var.n}"), "-3");
	T_EQ_STR(ev("${1 / 0}"), "t.yaml:1:5: division by zero");
	T_EQ_STR(ev("${\"a\" + 1}"), "t.yaml:1:7: cannot add string and number");
	T_EQ_STR(ev("${var.n * var.s}"), "t.yaml:1:9: cannot multiply number and string");
	T_EQ_STR(ev("${9223372036854775807 + 1}"), "t.yaml:1:23: integer overflow in '+'");
	T_EQ_STR(ev("${-\"x\"}"), "t.yaml:1:3: cannot negate string");
}

static void test_expr__logic_and_compare(void)
{
	T_EQ_STR(ev("${1 < 2 && 2 <= 2}"), "true");
	T_EQ_STR(ev("${3 > 4 || 4 >= 5}"), "false");
	T_EQ_STR(ev("${1 == 1.0}"), "true");
	T_EQ_STR(ev("${\"a\" != \"b\"}"), "true");
	T_EQ_STR(ev("${[1, 2] == var.words}"), "false");
	T_EQ_STR(ev("${!var.t}"), "false");
	T_EQ_STR(ev("${var.n > 2 ? \"big\" : \"small\"}"), "\"big\"");
	T_EQ_STR(ev("${var.t ? 1 : var.missing}"), "1");
	T_EQ_STR(ev("${\"a\" < 1}"), "t.yaml:1:7: cannot compare string and number with '<'");
	T_EQ_STR(ev("${1 ? 2 : 3}"), "t.yaml:1:3: condition must be a bool, got number");
	T_EQ_STR(ev("${1 && true}"), "t.yaml:1:3: '&&' needs bool operands, got number");
	T_EQ_STR(ev("${!1}"), "t.yaml:1:3: '!' needs a bool, got number");
	/* short circuit: the right side is not evaluated */
	T_EQ_STR(ev("${false && var.nope}"), "false");
}

static void test_expr__references(void)
{
	T_EQ_STR(ev("${web[0].id}"), "\"i-1\"");
	T_EQ_STR(ev("${web[1][\"id\"]}"), "\"i-2\"");
	T_EQ_STR(ev("${web[*].id}"), "[\"i-1\",\"i-2\"]");
	T_EQ_STR(ev("${svc[\"b\"].id}"), "\"sb\"");
	T_EQ_STR(ev("${svc[*].id}"), "[\"sa\",\"sb\"]");
	T_EQ_STR(ev("${web[0].tags.k}"), "\"v\"");
	T_EQ_STR(ev("${var.list.1}"), "2");
	T_EQ_STR(ev("${each.key}-${count.index}"), "\"k-1\"");
	T_EQ_STR(ev("${path.stack}"), "\"/tmp/s\"");
	T_EQ_STR(ev("${var.m[\"a\"]}"), "1");
	T_EQ_STR(ev("${var.list[var.n - 2]}"), "2");
}

static void test_expr__reference_errors(void)
{
	T_EQ_STR(ev("${var.nme}"), "t.yaml:1:3: unknown reference 'var.nme' (did you mean 'var.name'?)");
	T_EQ_STR(ev("${var.zzzzzz}"), "t.yaml:1:3: unknown reference 'var.zzzzzz'");
	T_EQ_STR(ev("${foo.bar}"), "t.yaml:1:3: unknown reference 'foo.bar'");
	T_EQ_STR(ev("${wbe[0].id}"), "t.yaml:1:3: unknown reference 'wbe' (did you mean 'web'?)");
	T_EQ_STR(ev("${web[0].idd}"), "t.yaml:1:10: resource web has no attribute 'idd'");
	T_EQ_STR(ev("${web[*].idd}"), "t.yaml:1:10: resource web has no attribute 'idd'");
	T_EQ_STR(ev("${web[3].id}"), "t.yaml:1:7: index 3 out of range for web (2 instances)");
	T_EQ_STR(ev("${web.id}"), "t.yaml:1:7: cannot access attribute 'id' of resource web: it has 2 instances "
		"(use web[0].id or web[*].id)");
	T_EQ_STR(ev("${svc[\"c\"].id}"), "t.yaml:1:7: resource svc has no instance \"c\"");
	T_EQ_STR(ev("${var.list[5]}"), "t.yaml:1:12: index 5 out of range for var.list (3 elements)");
	T_EQ_STR(ev("${var.m.c}"), "t.yaml:1:9: var.m has no attribute 'c'");
	T_EQ_STR(ev("${var.m[\"c\"]}"), "t.yaml:1:9: key \"c\" not found in var.m");
	T_EQ_STR(ev("${var.n.x}"), "t.yaml:1:9: cannot access attribute 'x' of a number (var.n)");
	T_EQ_STR(ev("${var.list[\"a\"]}"), "t.yaml:1:12: cannot index var.list (a list) with a string");
	T_EQ_STR(ev("${each.kye}"), "t.yaml:1:3: unknown reference 'each.kye' (did you mean 'each.key'?)");
}

static void test_expr__unknown(void)
{
	T_EQ_STR(ev("${db.id}"), "(known after apply)");
	T_EQ_STR(ev("${db.id + 1}"), "(known after apply)");
	T_EQ_STR(ev("x-${db.id}-${db.port}"), "(known after apply)");
	T_EQ_STR(ev("${db.port}"), "5432");
	T_EQ_STR(ev("${pending.anything[3].x}"), "(known after apply)");
	T_EQ_STR(ev("${upper(db.id)}"), "(known after apply)");
	T_EQ_STR(ev("${length([db.id, 1])}"), "2");
	T_EQ_STR(ev("${db.id == 1}"), "(known after apply)");
	T_EQ_STR(ev("${db.id ? 1 : 2}"), "(known after apply)");
	T_EQ_STR(ev("${true || db.id}"), "true");
	T_EQ_STR(ev("${db.id && false}"), "false");
	T_EQ_STR(ev("${[db.id]}"), "[{\"\\u0001unknown\":true}]");
	/* an error elsewhere in the template is still reported */
	T_EQ_STR(ev("${db.id}${var.nope}"), "t.yaml:1:11: unknown reference 'var.nope' (did you mean 'var.name'?)");
}

static void test_expr__syntax_errors(void)
{
	T_EQ_STR(ev("${upper(\"a\"}"), "t.yaml:1:12: expected ')' after arguments, found '}'");
	T_EQ_STR(ev("abc ${var.x"), "t.yaml:1:5: unclosed '${' (expected '}' to close '${')");
	T_EQ_STR(ev("abc ${"), "t.yaml:1:5: unclosed '${' (expected an expression)");
	T_EQ_STR(ev("${}"), "t.yaml:1:1: empty '${}'");
	T_EQ_STR(ev("${1 +}"), "t.yaml:1:6: expected an expression, found '}'");
	T_EQ_STR(ev("${var.x y}"), "t.yaml:1:9: expected '}' to close '${', found 'y'");
	T_EQ_STR(ev("${[1, 2}"), "t.yaml:1:8: expected ',' or ']' in list, found '}'");
	T_EQ_STR(ev("${\"abc}"), "t.yaml:1:3: unterminated string");
	T_EQ_STR(ev("${1 @ 2}"), "t.yaml:1:5: unexpected character '@'");
	T_EQ_STR(ev("${var.}"), "t.yaml:1:7: expected an attribute name after '.', found '}'");
	T_EQ_STR(ev("${a ? b}"), "t.yaml:1:8: expected ':' in conditional, found '}'");
	T_EQ_STR(ev("${12abc}"), "t.yaml:1:5: invalid number");
	T_EQ_STR(ev("${\"\\q\"}"), "t.yaml:1:4: invalid escape sequence '\\q' in string");
	T_EQ_STR(ev("${{a = 1, a = 2}}"), "t.yaml:1:11: duplicate key 'a' (first at line 1)");
}

static void test_expr__positions_utf8(void)
{
	/* columns count characters, not bytes */
	T_EQ_STR(ev("é ${var.nope}"), "t.yaml:1:5: unknown reference 'var.nope' (did you mean 'var.name'?)");
}

static void test_expr__position_multiline(void)
{
	cairn_pos pos = { "t.yaml", 4, 7 };
	cairn_expr *e = NULL;

	T_CHECK(cairn_expr_parse_template(&e, "line one\n${var.x +}", &pos) == CAIRN_EINVAL);
	T_EQ_INT(cairn_error_last()->line, 4);
	T_EQ_INT(cairn_error_last()->col, 7);
	T_CHECK(cairn_expr_parse_template_ex(&e, "${var.x +}", &pos, false) == CAIRN_EINVAL);
	T_EQ_INT(cairn_error_last()->col, 7);
	T_CHECK(cairn_expr_parse_template_ex(&e, "${var.x +}", &pos, true) == CAIRN_EINVAL);
	T_EQ_INT(cairn_error_last()->col, 16);
}

static void test_expr__unknown_function(void)
{
	T_EQ_STR(ev("${lenght(var.list)}"), "t.yaml:1:3: unknown function 'lenght' (did you mean length()?)");
	T_EQ_STR(ev("${frobnicate(1)}"), "t.yaml:1:3: unknown function 'frobnicate'");
	T_EQ_STR(ev("${uuid()}"), "t.yaml:1:3: uuid() is not available: it would make plans non-deterministic");
	T_EQ_STR(ev("${timestamp()}"), "t.yaml:1:3: timestamp() is not available: it would make plans non-deterministic");
}

static void test_expr__func_errors(void)
{
	T_EQ_STR(ev("${join(\",\")}"), "t.yaml:1:3: wrong number of arguments to join(): expected 2, got 1");
	T_EQ_STR(ev("${join(\",\", \"x\")}"), "t.yaml:1:13: join(): argument 2 must be a list, got string");
	T_EQ_STR(ev("${lookup(var.m, \"z\")}"),
		"t.yaml:1:17: lookup(): key \"z\" not found in the map (and no default given)");
	T_EQ_STR(ev("${substr(\"abc\", 1)}"), "t.yaml:1:3: wrong number of arguments to substr(): expected 3, got 2");
	T_EQ_STR(ev("${range(1, 2, 3, 4)}"), "t.yaml:1:3: wrong number of arguments to range(): expected 1 to 3, got 4");
	T_EQ_STR(ev("${coalesce()}"), "t.yaml:1:3: wrong number of arguments to coalesce(): expected at least 1, got 0");
}

static void test_expr__func_strings(void)
{
	T_EQ_STR(ev("${format(\"%s-%d-%.2f-%v-%q-%%\", \"a\", 3, 1.5, [1], \"q\")}"),
		"\"a-3-1.50-[1]-\\\"q\\\"-%\"");
	T_EQ_STR(ev("${format(\"%05d|%-3s|\", 42, \"x\")}"), "\"00042|x  |\"");
	T_EQ_STR(ev("${format(\"%d\", \"x\")}"), "t.yaml:1:16: format(): %d needs a whole number, got string");
	T_EQ_STR(ev("${format(\"%s %s\", 1)}"),
		"t.yaml:1:10: format(): not enough arguments for the format (%s needs argument 3)");
	/* the longest specification: room for its conversion (ASan: one byte over before) */
	T_EQ_STR(ev("${format(\"%---------------------------d|\", 1)}"), "\"1|\"");
	T_EQ_STR(ev("${format(\"%----------------------------d\", 1)}"),
		"t.yaml:1:44: format(): format specification too long");
	/* a whole number beyond long long: its digits, not a cast's garbage */
	T_EQ_STR(ev("${format(\"%d|%5d\", 1e19, 2)}"), "\"10000000000000000000|    2\"");
	T_EQ_STR(ev("${format(\"%d\", -1e19)}"), "\"-10000000000000000000\"");
	/* printf would allocate what a stack asks for (a fuzzer's find) */
	T_EQ_STR(ev("${format(\"x%.547758072f\", 1.5)}"),
		"t.yaml:1:10: format(): precision too large in '%.547758072f' (at most 1024)");
	T_EQ_STR(ev("${format(\"%99999999999999999999999s\", \"a\")}"),
		"t.yaml:1:10: format(): width too large in '%99999999999999999999999s' (at most 1024)");
	T_EQ_STR(ev("${length(format(\"%1024s|%.1024f\", \"a\", 1))}"), "2051");
	T_EQ_STR(ev("${format(\"%s\", 1, 2)}"),
		"t.yaml:1:19: format(): too many arguments for the format (1 used, 2 given)");
	T_EQ_STR(ev("${join(\"-\", var.words)}"), "\"a-b\"");
	T_EQ_STR(ev("${join(\",\", [1, true])}"), "\"1,true\"");
	T_EQ_STR(ev("${split(\",\", \"a,,b\")}"), "[\"a\",\"\",\"b\"]");
	T_EQ_STR(ev("${upper(\"abc\")}${lower(\"ÀB\")}"), "\"ABCÀb\"");
	T_EQ_STR(ev("${title(\"hello big-world\")}"), "\"Hello Big-World\"");
	T_EQ_STR(ev("${trimspace(\"  a b \\n\")}"), "\"a b\"");
	T_EQ_STR(ev("${trim(\"--a-b--\", \"-\")}"), "\"a-b\"");
	T_EQ_STR(ev("${trimprefix(\"prod-db\", \"prod-\")}${trimsuffix(\"a.txt\", \".txt\")}"), "\"dba\"");
	T_EQ_STR(ev("${replace(\"a.b.c\", \".\", \"::\")}"), "\"a::b::c\"");
	T_EQ_STR(ev("${substr(\"héllo\", 1, 3)}"), "\"éll\"");
	T_EQ_STR(ev("${substr(\"hello\", -3, -1)}"), "\"llo\"");
	T_EQ_STR(ev("${substr(\"abc\", 5, 1)}"),
		"t.yaml:1:17: substr(): offset 5 is out of range for a string of length 3");
	T_EQ_STR(ev("${startswith(\"abc\", \"ab\")}"), "true");
	T_EQ_STR(ev("${endswith(\"abc\", \"ab\")}"), "false");
	T_EQ_STR(ev("${length(\"héllo\")}"), "5");
}

static void test_expr__func_collections(void)
{
	T_EQ_STR(ev("${lookup(var.m, \"z\", 0)}"), "0");
	T_EQ_STR(ev("${merge(var.m, {b = 3, c = 4})}"), "{\"a\":1,\"b\":3,\"c\":4}");
	T_EQ_STR(ev("${concat([1], [2, 3], [])}"), "[1,2,3]");
	T_EQ_STR(ev("${length(var.m)}${length(var.list)}"), "\"23\"");
	T_EQ_STR(ev("${keys({b = 1, a = 2})}"), "[\"a\",\"b\"]");
	T_EQ_STR(ev("${values({b = 1, a = 2})}"), "[2,1]");
	T_EQ_STR(ev("${element(var.list, 4)}"), "2");
	T_EQ_STR(ev("${contains(var.words, \"b\")}"), "true");
	T_EQ_STR(ev("${index(var.words, \"b\")}"), "1");
	T_EQ_STR(ev("${index(var.words, \"z\")}"), "t.yaml:1:20: index(): the value is not in the list");
	T_EQ_STR(ev("${range(3)}"), "[0,1,2]");
	T_EQ_STR(ev("${range(1, 10, 4)}"), "[1,5,9]");
	T_EQ_STR(ev("${range(3, 0)}"), "[3,2,1]");
	T_EQ_STR(ev("${slice(var.list, 1, 3)}"), "[2,3]");
	T_EQ_STR(ev("${slice(var.list, 2, 5)}"),
		"t.yaml:1:22: slice(): end index 5 out of range (start 2, list has 3 elements)");
	T_EQ_STR(ev("${reverse(var.list)}"), "[3,2,1]");
	T_EQ_STR(ev("${distinct([1, 2, 1, 2.0, 3])}"), "[1,2,3]");
	T_EQ_STR(ev("${flatten([1, [2, [3]], []])}"), "[1,2,3]");
	T_EQ_STR(ev("${coalesce(var.nul, \"\", \"x\")}"), "\"x\"");
	T_EQ_STR(ev("${compact([\"a\", \"\", null, \"b\"])}"), "[\"a\",\"b\"]");
	T_EQ_STR(ev("${zipmap([\"a\", \"b\"], [1, 2])}"), "{\"a\":1,\"b\":2}");
	T_EQ_STR(ev("${zipmap([\"a\"], [1, 2])}"),
		"t.yaml:1:17: zipmap(): the lists have different lengths (1 keys, 2 values)");
}

static void test_expr__func_conversions(void)
{
	T_EQ_STR(ev("${tostring(1.5)}${tostring(true)}"), "\"1.5true\"");
	T_EQ_STR(ev("${tonumber(\"42\")}"), "42");
	T_EQ_STR(ev("${tonumber(\"4.5\")}"), "4.5");
	T_EQ_STR(ev("${tonumber(\"4x\")}"), "t.yaml:1:12: tonumber(): cannot convert \"4x\" to a number");
	T_EQ_STR(ev("${tobool(\"true\")}"), "true");
	T_EQ_STR(ev("${tobool(\"yes\")}"), "t.yaml:1:10: tobool(): cannot convert \"yes\" to a bool");
	T_EQ_STR(ev("${tolist(var.list)}"), "[1,2,3]");
	T_EQ_STR(ev("${tomap(var.list)}"), "t.yaml:1:9: tomap(): argument 1 must be a map, got list");
	T_EQ_STR(ev("${jsonencode({b = [1, \"x\"], a = null})}"), "\"{\\\"a\\\":null,\\\"b\\\":[1,\\\"x\\\"]}\"");
	T_EQ_STR(ev("${jsondecode(\"{\\\"a\\\": [1, 2.5]}\")}"), "{\"a\":[1,2.5]}");
	T_EQ_STR(ev("${jsondecode(\"{\")}"), "t.yaml:1:14: jsondecode(): invalid JSON at line 1 column 1: "
		"string or '}' expected near end of file");
}

static void test_expr__func_numbers(void)
{
	T_EQ_STR(ev("${abs(-3)}${abs(-1.5)}"), "\"31.5\"");
	T_EQ_STR(ev("${ceil(1.2)}${floor(1.8)}${floor(-1.5)}"), "\"21-2\"");
	T_EQ_STR(ev("${max(1, 5, 3)}${min(4, 2.5)}"), "\"52.5\"");
	T_EQ_STR(ev("${max(var.list)}"), "3");
	T_EQ_STR(ev("${pow(2, 10)}${pow(2, -1)}"), "\"10240.5\"");
	T_EQ_STR(ev("${sum([1, 2, 3])}${sum([0.5, 1])}"), "\"61.5\"");
	T_EQ_STR(ev("${max(1, \"a\")}"), "t.yaml:1:10: max(): argument 2 must be a number, got string");
}

static void test_expr__func_hashes(void)
{
	T_EQ_STR(ev("${sha256(\"abc\")}"), "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
	T_EQ_STR(ev("${sha1(\"abc\")}"), "\"a9993e364706816aba3e25717850c26c9cd0d89d\"");
	T_EQ_STR(ev("${md5(\"abc\")}"), "\"900150983cd24fb0d6963f7d28e17f72\"");
	T_EQ_STR(ev("${base64encode(\"hello\")}"), "\"aGVsbG8=\"");
	T_EQ_STR(ev("${base64decode(\"aGVsbG8=\")}${base64decode(\"aGk=\")}${base64decode(\"\")}"), "\"hellohi\"");
	T_EQ_STR(ev("${base64decode(\"aGVsbG8\")}"),
		"t.yaml:1:16: base64decode(): invalid base64 (length 7 is not a multiple of 4)");
	T_EQ_STR(ev("${base64decode(\"/w==\")}"), "t.yaml:1:16: base64decode(): the decoded data is not valid UTF-8");
}

static void test_expr__func_cidr(void)
{
	T_EQ_STR(ev("${cidrsubnet(\"10.0.0.0/16\", 8, 2)}"), "\"10.0.2.0/24\"");
	T_EQ_STR(ev("${cidrsubnet(\"10.1.2.3/16\", 4, 15)}"), "\"10.1.240.0/20\"");
	T_EQ_STR(ev("${cidrsubnet(\"fd00:fd12:3456:7890::/56\", 16, 162)}"), "\"fd00:fd12:3456:7800:a200::/72\"");
	T_EQ_STR(ev("${cidrsubnet(\"2001:db8::/32\", 96, 1)}"), "\"2001:db8::1/128\"");
	T_EQ_STR(ev("${cidrsubnet(var.cidr, 8, 256)}"),
		"t.yaml:1:27: cidrsubnet(): netnum 256 does not fit in 8 bits (must be 0 to 255)");
	T_EQ_STR(ev("${cidrsubnet(var.cidr, 8, -1)}"),
		"t.yaml:1:27: cidrsubnet(): netnum -1 does not fit in 8 bits (must be 0 to 255)");
	T_EQ_STR(ev("${cidrsubnet(var.cidr, 17, 0)}"),
		"t.yaml:1:24: cidrsubnet(): insufficient address space to extend prefix of 16 by 17");
	/* no overflow in prefix + newbits (UBSan, a fuzzer's find) */
	T_EQ_STR(ev("${cidrsubnet(var.cidr, 9223372036854775807 - 8, 3)}"),
		"t.yaml:1:24: cidrsubnet(): insufficient address space to extend prefix of 16 by 9223372036854775799");
	T_EQ_STR(ev("${cidrsubnet(\"10.0.0/16\", 1, 0)}"), "t.yaml:1:14: cidrsubnet(): invalid IP address in \"10.0.0/16\"");
	T_EQ_STR(ev("${cidrhost(\"10.12.112.0/20\", 16)}"), "\"10.12.112.16\"");
	T_EQ_STR(ev("${cidrhost(\"10.12.112.0/20\", -1)}"), "\"10.12.127.255\"");
	T_EQ_STR(ev("${cidrhost(\"fd00:fd12:3456:7890::/56\", 16)}"), "\"fd00:fd12:3456:7800::10\"");
	T_EQ_STR(ev("${cidrhost(\"10.0.0.0/30\", 4)}"),
		"t.yaml:1:27: cidrhost(): host number 4 does not fit in prefix /30 (2 host bits)");
	T_EQ_STR(ev("${formatlist(\"%-5s|%d\", [\"a\", \"bb\"], [1, 2])}"), "[\"a    |1\",\"bb   |2\"]");
	T_EQ_STR(ev("${formatlist(\"%s=%s\", [\"a\", \"b\"], \"x\")}"), "[\"a=x\",\"b=x\"]");
	T_CONTAINS(ev("${formatlist(\"%s%s\", [\"a\"], [1, 2])}"), "formatlist(): the lists must have the same length (1 and 2)");
	T_EQ_STR(ev("${cidrnetmask(\"172.16.0.0/12\")}"), "\"255.240.0.0\"");
	T_EQ_STR(ev("${cidrnetmask(\"::/64\")}"), "t.yaml:1:15: cidrnetmask(): only IPv4 prefixes have a netmask");
}

static void test_expr__func_files(void)
{
	char path[128];
	FILE *f;

	snprintf(dir_, sizeof(dir_), "/tmp/cairn-expr-XXXXXX");
	T_CHECK(mkdtemp(dir_) != NULL);
	snprintf(path, sizeof(path), "%s/hello.txt", dir_);
	f = fopen(path, "w");
	fputs("hi there\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/big.bin", dir_);
	f = fopen(path, "w");
	fseek(f, (4 << 20) + 1, SEEK_SET);
	fputc('x', f);
	fclose(f);
	T_EQ_STR(ev("${file(\"hello.txt\")}"), "\"hi there\\n\"");
	T_EQ_STR(ev("${fileexists(\"hello.txt\")}${fileexists(\"nope.txt\")}"), "\"truefalse\"");
	T_CONTAINS(ev("${file(\"nope.txt\")}"), "t.yaml:1:8: file(): cannot read /tmp/cairn-expr-");
	T_CONTAINS(ev("${file(\"nope.txt\")}"), "/nope.txt: No such file or directory");
	T_CONTAINS(ev("${file(\"big.bin\")}"), "/big.bin is larger than 4 MiB");
	unlink(path);
	/* filebase64: any bytes; templatefile: the file's ${ } see the map given */
	snprintf(path, sizeof(path), "%s/bin", dir_);
	f = fopen(path, "w");
	fwrite("\0\xff\x01", 1, 3, f);
	fclose(f);
	T_EQ_STR(ev("${filebase64(\"bin\")}"), "\"AP8B\"");
	T_CONTAINS(ev("${file(\"bin\")}"), "is not valid UTF-8 text");
	T_CONTAINS(ev("${templatefile(\"bin\", {})}"), "templatefile(): ");
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.tpl", dir_);
	f = fopen(path, "w");
	fputs("name = ${name}\npeers = ${join(\",\", peers)} $${literal}\n", f);
	fclose(f);
	T_EQ_STR(ev("${templatefile(\"t.tpl\", {name = \"web\", peers = [\"a\", \"b\"]})}"),
		 "\"name = web\\npeers = a,b ${literal}\\n\"");
	T_CONTAINS(ev("${templatefile(\"t.tpl\", {nme = \"web\", peers = []})}"), "templatefile(): ");
	T_CONTAINS(ev("${templatefile(\"t.tpl\", {nme = \"web\", peers = []})}"), "/t.tpl:1:10: unknown reference 'name'");
	T_CONTAINS(ev("${templatefile(\"t.tpl\", {name = \"web\"})}"), "/t.tpl:2:21: unknown reference 'peers'");
	T_CONTAINS(ev("${templatefile(\"t.tpl\", \"x\")}"), "templatefile(): the variables must be a map, got string");
	unlink(path);
	snprintf(path, sizeof(path), "%s/hello.txt", dir_);
	unlink(path);
	rmdir(dir_);
	dir_[0] = 0;
}

/* cairn_expr_refs: roots, first attribute, indexing, source order. */
static int collect(void *ud, const cairn_ref *r)
{
	cairn_buf *b = ud;

	cairn_buf_printf(b, "%s%s%s%s@%d ", r->root, r->attr ? "." : "", r->attr ? r->attr : "",
		r->indexed ? "[]" : "", r->pos.col);
	return 0;
}

static void test_expr__refs(void)
{
	cairn_pos pos = { "t.yaml", 1, 1 };
	cairn_expr *e = NULL;
	cairn_buf b = CAIRN_BUF_INIT;

	cairn_buf_init(&b, 0);
	T_OK(cairn_expr_parse_template(&e,
		"${web[var.i].id} ${db.port + count.index} ${svc[*].id} ${lower(each.value)} ${web} ${x[0]}", &pos));
	T_OK(cairn_expr_refs(e, collect, &b));
	T_EQ_STR(cairn_buf_cstr(&b),
		"web.id[]@3 var.i@7 db.port@20 count.index@30 svc.id[]@45 each.value@64 web@79 x[]@86 ");
	cairn_expr_free(e);
	cairn_buf_release(&b);
}

static void test_expr__api(void)
{
	cairn_pos pos = { "t.yaml", 2, 3 };
	cairn_expr *m = NULL, *l = NULL, *c = NULL, *cp = NULL, *taken;
	json_t *v = json_integer(7), *out = NULL;
	const cairn_pos *kp;

	T_OK(cairn_expr_new_map(&m, &pos));
	T_OK(cairn_expr_new_list(&l, &pos));
	T_OK(cairn_expr_new_const(&c, v, &pos));
	T_OK(cairn_expr_list_append(l, c));
	T_OK(cairn_expr_map_set(m, "l", &pos, l));
	T_OK(cairn_expr_new_const(&c, v, &pos));
	T_OK(cairn_expr_map_set(m, "n", &pos, c));
	T_OK(cairn_expr_new_const(&c, v, &pos));
	pos.line = 5;
	T_EQ_INT(cairn_expr_map_set(m, "n", &pos, c), CAIRN_EINVAL);
	T_EQ_STR(cairn_error_last()->message, "duplicate key 'n' (first at line 2)");
	T_EQ_INT(cairn_error_last()->line, 5);
	T_EQ_INT(cairn_expr_size(m), 2);
	T_EQ_STR(cairn_expr_key(m, 1, &kp), "n");
	T_CHECK(cairn_expr_kind_of(cairn_expr_get(m, "l")) == CAIRN_EXPR_LIST);
	T_OK(cairn_expr_copy(&cp, m));
	taken = cairn_expr_take(m, "l");
	T_CHECK(taken != NULL);
	T_EQ_INT(cairn_expr_size(m), 1);
	T_CHECK(cairn_expr_get(m, "n") != NULL);
	T_CHECK(cairn_expr_get(m, "l") == NULL);
	T_OK(cairn_expr_eval(&out, cp, NULL));
	T_CHECK(json_integer_value(json_array_get(json_object_get(out, "l"), 0)) == 7);
	json_decref(out);
	json_decref(v);
	cairn_expr_free(taken);
	cairn_expr_free(cp);
	cairn_expr_free(m);
}

static void test_expr__bare_parse(void)
{
	cairn_pos pos = { "cli", 1, 1 };
	cairn_expr *e = NULL;
	json_t *v = NULL;

	T_OK(cairn_expr_parse(&e, "[1, 2][1] * 10", &pos));
	T_OK(cairn_expr_eval(&v, e, NULL));
	T_EQ_INT(json_integer_value(v), 20);
	json_decref(v);
	cairn_expr_free(e);
	T_EQ_INT(cairn_expr_parse(&e, "1 2", &pos), CAIRN_EINVAL);
	T_EQ_STR(cairn_error_last()->message, "expected end of expression, found a number");
	T_EQ_INT(cairn_error_last()->col, 3);
}

static void test_expr__deep_nesting(void)
{
	char buf[4096];
	size_t i;

	for (i = 0; i < 1000; i++)
		buf[i] = '(';
	snprintf(buf + 1000, sizeof(buf) - 1000, "1");
	T_CONTAINS(ev(buf), "1");
	memmove(buf + 2, buf, 1002);
	buf[0] = '$';
	buf[1] = '{';
	T_CONTAINS(ev(buf), "expression nested too deeply");
}

/* Results at scale (the time is bench/input_scale.sh's business): a flat
 * chain of 100,001 terms, an error column at its end, 50,000
 * interpolations, distinct over 80,000 numbers, a copy of the chain. */
static void test_expr__at_scale(void)
{
	cairn_buf b = CAIRN_BUF_INIT;
	cairn_pos pos = { "t.yaml", 1, 1 };
	cairn_eval_ctx ctx = { 0 };
	cairn_expr *e = NULL, *c = NULL;
	json_t *v = NULL;
	size_t i;

	setup();
	ctx.root = root_;
	cairn_buf_init(&b, 0);
	cairn_buf_puts(&b, "${var.n");
	for (i = 0; i < 100000; i++)
		cairn_buf_puts(&b, i % 2 ? " - 1" : " + 2");
	cairn_buf_puts(&b, "}");
	T_OK(cairn_expr_parse_template(&e, cairn_buf_cstr(&b), &pos));
	T_OK(cairn_expr_eval(&v, e, &ctx));
	T_EQ_INT(json_integer_value(v), 3 + 50000);
	json_decref(v);
	T_OK(cairn_expr_copy(&c, e));
	T_OK(cairn_expr_eval(&v, c, &ctx));
	T_EQ_INT(json_integer_value(v), 3 + 50000);
	json_decref(v);
	cairn_expr_free(c);
	cairn_expr_free(e);
	/* a bad operand at the end: its column counted exactly ("${" is 2, the 'é' one) */
	cairn_buf_clear(&b);
	cairn_buf_puts(&b, "${\"\\u00e9\" == \"é\" && var.n");
	for (i = 0; i < 50000; i++)
		cairn_buf_puts(&b, " + 1");
	cairn_buf_puts(&b, " + var.s}");
	T_CHECK(cairn_expr_parse_template(&e, cairn_buf_cstr(&b), &pos) == 0);
	T_CHECK(cairn_expr_eval(&v, e, &ctx) != 0);
	T_EQ_STR(cairn_error_last()->message, "cannot add number and string");
	T_EQ_INT(cairn_error_last()->col, 1 + (int)strlen("${\"\\u00e9\" == \"e\" && var.n") + 50000 * 4 + 1);
	cairn_expr_free(e);
	/* 50,000 interpolations in one string */
	cairn_buf_clear(&b);
	for (i = 0; i < 50000; i++)
		cairn_buf_puts(&b, "${var.s}-");
	T_OK(cairn_expr_parse_template(&e, cairn_buf_cstr(&b), &pos));
	T_OK(cairn_expr_eval(&v, e, &ctx));
	T_EQ_INT(json_string_length(v), 100000);
	json_decref(v);
	cairn_expr_free(e);
	T_EQ_STR(ev("${length(distinct(concat(range(40000), range(40000), [1.0, \"1\"])))}"), "40001");
	T_EQ_STR(ev("${distinct([{a = 1, b = [2]}, {b = [2.0], a = 1}, -0, 0, \"\", null, null])}"),
		 "[{\"a\":1,\"b\":[2]},0,\"\",null]");
	cairn_buf_release(&b);
}

static const t_case cases[] = {
	T_CASE(test_expr__literals),
	T_CASE(test_expr__plain_strings),
	T_CASE(test_expr__template_types),
	T_CASE(test_expr__arithmetic),
	T_CASE(test_expr__logic_and_compare),
	T_CASE(test_expr__references),
	T_CASE(test_expr__reference_errors),
	T_CASE(test_expr__unknown),
	T_CASE(test_expr__syntax_errors),
	T_CASE(test_expr__positions_utf8),
	T_CASE(test_expr__position_multiline),
	T_CASE(test_expr__unknown_function),
	T_CASE(test_expr__func_errors),
	T_CASE(test_expr__func_strings),
	T_CASE(test_expr__func_collections),
	T_CASE(test_expr__func_conversions),
	T_CASE(test_expr__func_numbers),
	T_CASE(test_expr__func_hashes),
	T_CASE(test_expr__func_cidr),
	T_CASE(test_expr__func_files),
	T_CASE(test_expr__refs),
	T_CASE(test_expr__api),
	T_CASE(test_expr__bare_parse),
	T_CASE(test_expr__deep_nesting),
	T_CASE(test_expr__at_scale),
	{ 0 }
};

int main(int argc, char **argv)
{
	int rc = t_main(cases, argc, argv);

	json_decref(root_);
	return rc;
}
