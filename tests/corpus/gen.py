#!/usr/bin/env python3
"""Generate the systematic part of the bad-input corpus.

Each case below becomes a directory tests/corpus/<group>/<name>/ holding
stack.yaml, the overlay dev.yaml, `expect` (exit code, then the message and
any further substrings stderr must contain), and where needed `cmd`, `env`,
`setup` and other files; tests/cli/badinput.sh runs them. The directories
are committed: this script only saves typing them. It owns the groups named
in GROUPS (it deletes and rewrites those directories); the hand-written
cases in config/ and engine/ are not touched.

    python3 tests/corpus/gen.py            # rewrite the generated groups
    CAIRN=build/cairn python3 tests/corpus/gen.py --show
                                           # run each case, print stderr
                                           # (to write or review expectations)

A message names file:line:col where there is one; the case directory's path
is not part of an expectation (the runner copies the case somewhere else),
so a message like "cannot read DIR/stack.yaml: ..." is expected as two
substrings.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []
OVERLAY = "provider: {region: us-east-1}\n"


def case(group, name, stack, expect, overlay=OVERLAY, cmd=None, setup=None, env=None, files=None, rc=1):
    """expect: the message (str) or several substrings (list of str)."""
    CASES.append(dict(group=group, name=name, stack=stack, expect=expect, overlay=overlay, cmd=cmd,
                      setup=setup, env=env, files=files or {}, rc=rc))


def res(body, name="a", typ="null.resource"):
    """A stack with one resource: body is its indented property lines."""
    return "resources:\n  %s:\n    type: %s\n%s" % (name, typ, body)


def out(expr, extra=""):
    """A stack with one output whose value is expr (written as is)."""
    return "%soutputs:\n  o:\n    value: %s\n" % (extra, expr)


APPLY = '"$CAIRN" apply -C . -e dev --auto-approve >/dev/null\n'

# -- YAML --------------------------------------------------------------------
G = "yaml"
case(G, "unclosed-flow-map", "resources:\n  a: {type: null.resource\n", "stack.yaml:3:1: did not find expected ',' or '}'")
case(G, "unclosed-double-quote", 'resources:\n  a:\n    type: "null.resource\n', "stack.yaml:4:1: found unexpected end of stream")
case(G, "unclosed-single-quote", "resources:\n  a:\n    type: 'null.resource\n", "stack.yaml:4:1: found unexpected end of stream")
case(G, "bad-indentation", "resources:\n  a:\n    type: null.resource\n   count: 2\n", "stack.yaml:4:4: did not find expected key (while parsing a block mapping at line 2)")
case(G, "mapping-in-scalar", "resources:\n  a: b: c\n", "stack.yaml:2:7: mapping values are not allowed in this context")
case(G, "undefined-alias", "resources:\n  a: *nope\n", "stack.yaml:2:6: unknown anchor '*nope'")
case(G, "merge-key", "x: &base {type: null.resource}\nresources:\n  a:\n    <<: *base\n", "stack.yaml:4:5: merge keys ('<<') are not supported")
case(G, "invalid-escape", 'resources:\n  a:\n    type: "null\\qresource"\n', "stack.yaml:3:16: found unknown escape character (while parsing a quoted scalar at line 3)")
case(G, "stray-bracket", "resources: ]\n", "stack.yaml:1:12: did not find expected node content")
case(G, "control-character", "resources:\n  a:\n    type: null\x01resource\n", "stack.yaml:3:15: control characters are not allowed")
case(G, "invalid-utf8", "resources:\n  a:\n    type: null\udcffresource\n", "stack.yaml:3:15: invalid leading UTF-8 octet")
case(G, "top-level-list", "- resources\n- outputs\n", "stack.yaml:1:1: expected a mapping at the top of the file")
case(G, "top-level-scalar", "hello\n", "stack.yaml:1:1: expected a mapping at the top of the file")
case(G, "nan", "variables:\n  x:\n    default: .nan\n", "stack.yaml:3:14: infinite and NaN numbers are not supported")
case(G, "negative-infinity", "variables:\n  x:\n    default: -.inf\n", "stack.yaml:3:14: infinite and NaN numbers are not supported")
case(G, "complex-key", "resources:\n  ? [a, b]\n  : {type: null.resource}\n", "stack.yaml:2:5: mapping keys must be strings")
case(G, "empty-file", "", "stack.yaml:1:1: the stack file is empty: it would mean no resources, and apply would destroy everything; write 'resources: {}'")
case(G, "tilde-file", "~\n", "stack.yaml:1:1: the stack file is empty: it would mean no resources")
case(G, "comments-only", "# everything was here\n# once\n", "stack.yaml:1:1: the stack file is empty: it would mean no resources")
case(G, "resources-null", "variables: {}\nresources:\n", "stack.yaml:2:1: 'resources' is empty (null): it would mean no resources, and apply would destroy everything")
case(G, "resources-tilde", "resources: ~\n", "stack.yaml:1:1: 'resources' is empty (null)")
case(G, "empty-file-apply", "", "stack.yaml:1:1: the stack file is empty", cmd="apply -e dev --auto-approve",
     setup="printf 'resources:\\n  a:\\n    type: null.resource\\n' >stack.yaml\n" + APPLY + ": >stack.yaml\n")
case(G, "overlay-tab", "resources: {}\n", "dev.yaml:2:1: tab character where YAML expects spaces", overlay="provider:\n\tregion: x\n")
case(G, "overlay-duplicate", "variables:\n  a: {default: 1}\nresources: {}\n", "dev.yaml:3:3: duplicate key 'a' (first at line 2)",
     overlay="variables:\n  a: 2\n  a: 3\n")
case(G, "overlay-multi-document", "resources: {}\n", "dev.yaml:2:1: several YAML documents in one file are not supported",
     overlay="provider: {}\n---\nprovider: {}\n")

# -- the stack's shape ---------------------------------------------------------
G = "shape"
case(G, "resources-list", "resources:\n  - a\n  - b\n", "stack.yaml:2:3: 'resources' must be a mapping, got a list")
case(G, "variables-list", "variables: [a]\nresources: {}\n", "stack.yaml:1:12: 'variables' must be a mapping, got a list")
case(G, "outputs-list", "resources: {}\noutputs: [a]\n", "stack.yaml:2:10: 'outputs' must be a mapping, got a list")
case(G, "resource-scalar", "resources:\n  a: 5\n", "stack.yaml:2:6: a resource must be a mapping, got a single value")
case(G, "type-list", "resources:\n  a:\n    type: [null, resource]\n", "stack.yaml:3:11: the resource type must be a string")
case(G, "type-empty", "resources:\n  a:\n    type: ''\n", "stack.yaml:3:11: the resource type must not be empty")
case(G, "type-one-segment", "resources:\n  a:\n    type: file\n", "stack.yaml:3:11: unknown resource type 'file' (types look like \"local.file\")")
case(G, "name-digit", "resources:\n  1web:\n    type: null.resource\n", "stack.yaml:2:3: invalid resource name '1web'")
case(G, "name-space", "resources:\n  'my web':\n    type: null.resource\n", "stack.yaml:2:3: invalid resource name 'my web'")
for r in ["var", "count", "each", "self", "path", "null"]:
    case(G, "name-reserved-" + r, "resources:\n  %s:\n    type: null.resource\n" % r, "stack.yaml:2:3: resource name '%s' is reserved" % r)
case(G, "stack-name-space", "stack: my stack\nresources: {}\n", "stack.yaml:1:8: invalid stack name 'my stack'")
case(G, "stack-name-list", "stack: [a]\nresources: {}\n", "stack.yaml:1:8: the stack name must be a string")
case(G, "top-level-typo", "resources: {}\nouptuts: {}\n", "stack.yaml:2:1: unknown key 'ouptuts' in the stack file (did you mean 'outputs'?)")
case(G, "variable-name-invalid", "variables:\n  my-var!:\n    default: 1\nresources: {}\n", "stack.yaml:2:3: invalid variable name 'my-var!'")
case(G, "output-name-invalid", "resources: {}\noutputs:\n  'a b':\n    value: 1\n", "stack.yaml:3:3: invalid output name 'a b'")

# -- variables and overlays --------------------------------------------------
G = "vars"
V = "resources: {}\n"
case(G, "type-list-of-unknown", "variables:\n  x:\n    type: list(foo)\n" + V, "stack.yaml:3:11: invalid type 'list(foo)' for variable 'x'")
case(G, "type-map-unclosed", "variables:\n  x:\n    type: map(string\n" + V, "stack.yaml:3:11: invalid type 'map(string' for variable 'x'")
case(G, "default-list-element", "variables:\n  x:\n    type: list(number)\n    default: [1, two]\n" + V,
     "stack.yaml:4:14: the default of variable 'x' does not match its type: expected number at [1], got string")
case(G, "default-map-for-list", "variables:\n  x:\n    type: list\n    default: {a: 1}\n" + V,
     "stack.yaml:4:14: the default of variable 'x' does not match its type: expected list, got map")
case(G, "default-expression", "variables:\n  y: {default: 1}\n  x:\n    default: ${var.y}\n" + V, "stack.yaml:4:16: the default of variable 'x' must be a constant (it cannot refer to 'var')")
case(G, "unknown-key", "variables:\n  x:\n    defualt: 1\n" + V, "stack.yaml:3:5: unknown key 'defualt' in variable (did you mean 'default'?)")
case(G, "sensitive-not-bool", "variables:\n  x:\n    sensitive: maybe\n" + V, "stack.yaml:3:16: sensitive must be true or false")
case(G, "nullable-not-bool", "variables:\n  x:\n    nullable: 1\n" + V, "stack.yaml:3:15: nullable must be true or false")
case(G, "description-not-string", "variables:\n  x:\n    description: [a]\n" + V, "stack.yaml:3:18: description must be a string")
case(G, "validation-not-bool", "variables:\n  x:\n    default: 1\n    validation:\n      condition: ${var.x + 1}\n      message: no\n" + V,
     ["stack.yaml:5:20: the validation condition of variable 'x' must be a bool, got number\n"])
case(G, "validation-other-variable", "variables:\n  y: {default: 1}\n  x:\n    default: 1\n    validation:\n      condition: ${var.y > 0}\n      message: no\n" + V,
     "stack.yaml:6:20: the validation condition of variable 'x' can only refer to var.x")
case(G, "validation-no-message", "variables:\n  x:\n    default: 1\n    validation:\n      condition: ${var.x > 0}\n" + V,
     "stack.yaml:5:7: validation of variable 'x' has no 'message'")
case(G, "validation-no-condition", "variables:\n  x:\n    default: 1\n    validation:\n      message: hm\n" + V,
     "stack.yaml:5:7: validation of variable 'x' has no 'condition'")
case(G, "validation-unknown-function", "variables:\n  x:\n    default: 1\n    validation:\n      condition: ${isgood(var.x)}\n      message: no\n" + V,
     "stack.yaml:5:20: unknown function 'isgood'")
case(G, "validation-fails-default", "variables:\n  x:\n    default: 3\n    validation:\n      condition: ${var.x % 2 == 0}\n      message: x must be even\n" + V,
     "stack.yaml:5:20: invalid value for variable 'x': x must be even")
case(G, "validation-list", "variables:\n  x:\n    default: ab\n    validation:\n      - condition: ${length(var.x) > 1}\n        message: too short\n      - condition: ${upper(var.x) == var.x}\n        message: must be upper case\n" + V,
     "stack.yaml:7:22: invalid value for variable 'x': must be upper case")
case(G, "required-null-overlay", "variables:\n  x:\n    type: string\n" + V, "stack.yaml:2:3: variable 'x' is required but not set in",
     overlay="variables:\n  x: null\n")
case(G, "overlay-list-for-string", "variables:\n  x:\n    type: string\n" + V, "dev.yaml:2:6: invalid value for variable 'x': expected string, got list",
     overlay="variables:\n  x: [a]\n")
case(G, "overlay-variables-list", "variables:\n  x: {default: 1}\n" + V, "dev.yaml:1:12: 'variables' must be a mapping, got a list", overlay="variables: [x]\n")
case(G, "overlay-provider-list", V, "dev.yaml:1:11: 'provider' must be a mapping, got a list", overlay="provider: [a]\n")
case(G, "overlay-unknown-key", V, "dev.yaml:1:1: unknown key 'varables' in the environment file (did you mean 'variables'?)", overlay="varables: {}\n")
case(G, "overlay-reference", "variables:\n  x: {default: a}\n" + V, "dev.yaml:2:8: overlay values must be constants (no ${ } expressions)", overlay="variables:\n  x: ${var.x}\n")
case(G, "flag-unknown-variable", "variables:\n  name: {default: a}\n" + V, "unknown variable 'nmae' given with --var (did you mean 'name'?)",
     cmd="validate -e dev --var nmae=b")
case(G, "flag-wrong-type", "variables:\n  n: {type: number, default: 1}\n" + V, "invalid value for variable 'n' (from --var): expected number, got string (\"abc\")",
     cmd="validate -e dev --var n=abc")
case(G, "flag-validation", "variables:\n  n:\n    type: number\n    default: 1\n    validation:\n      condition: ${var.n < 10}\n      message: n must be below 10\n" + V,
     "stack.yaml:6:20: invalid value for variable 'n': n must be below 10", cmd="validate -e dev --var n=12")
case(G, "flag-list-element", "variables:\n  l: {type: list(number), default: []}\n" + V, "invalid value for variable 'l' (from --var): expected number at [1], got string",
     cmd="""validate -e dev --var 'l=[1, "x"]'""")

# -- expressions: syntax -------------------------------------------------------
G = "expr-syntax"
for name, expr, msg in [
    ("unclosed-paren", '"${(1 + 2}"', "stack.yaml:3:21: expected ')', found '}'"),
    ("missing-operand", '"${1 +}"', "stack.yaml:3:18: expected an expression, found '}'"),
    ("empty", '"${}"', "stack.yaml:3:13: empty '${}'"),
    ("double-operator", '"${1 * * 2}"', "stack.yaml:3:19: expected an expression, found '*'"),
    ("unterminated-string", '"${\\"abc}"', "stack.yaml:3:12: unterminated string"),
    ("invalid-escape", "'${\"a\\q\"}'", "stack.yaml:3:17: invalid escape sequence '\\q' in string"),
    ("short-unicode-escape", "'${\"\\u12\"}'", "stack.yaml:3:16: invalid \\u escape (expected 4 hex digits)"),
    ("surrogate-escape", "'${\"\\ud800\"}'", "stack.yaml:3:16: invalid \\u escape"),
    ("unexpected-character", '"${1 # 2}"', "stack.yaml:3:17: unexpected character '#'"),
    ("unexpected-at", '"${@}"', "stack.yaml:3:15: unexpected character '@'"),
    ("invalid-number", '"${12abc}"', "stack.yaml:3:17: invalid number"),
    ("integer-out-of-range", '"${99999999999999999999}"', "stack.yaml:3:15: integer out of range"),
    ("real-out-of-range", '"${1e999}"', "stack.yaml:3:15: number out of range"),
    ("nested-splat", '"${a[*].b[*].c}"', "stack.yaml:3:22: nested splat '[*]' is not supported"),
    ("attribute-missing", '"${var.}"', "stack.yaml:3:19: expected an attribute name after '.', found '}'"),
    ("unclosed-list", '"${[1, 2}"', "stack.yaml:3:20: expected ',' or ']' in list, found '}'"),
    ("unclosed-map", '"${{a = 1}"', "stack.yaml:3:13: unclosed '${' (expected '}' to close '${')"),
    ("map-key-number", '"${{1 = 2}}"', "stack.yaml:3:16: expected a key (a name or a string) in map, found a number"),
    ("map-missing-equals", '"${{a 1}}"', "stack.yaml:3:18: expected '=' or ':' after map key, found a number"),
    ("conditional-missing-colon", '"${true ? 1}"', "stack.yaml:3:23: expected ':' in conditional, found '}'"),
    ("trailing-tokens", '"${1 2}"', "stack.yaml:3:17: expected '}' to close '${', found a number"),
    ("unclosed-index", '"${[1][}"', "stack.yaml:3:19: expected an expression, found '}'"),
    ("splat-unclosed", '"${a[*}"', "stack.yaml:3:18: expected ']' after '[*', found '}'"),
    ("call-unclosed", '"${upper(\\"a\\", }"', "stack.yaml:3:12: expected an expression, found '}'"),
]:
    case(G, name, out(expr), msg)
case(G, "error-column", out('"${1 + (2 * }"'), "stack.yaml:3:24: expected an expression, found '}'")
case(G, "error-column-utf8", out('"é ${1 + }"'), "stack.yaml:3:21: expected an expression, found '}'")
case(G, "deep-nesting", out('"${' + "(" * 201 + "1" + ")" * 201 + '}"'), "stack.yaml:3:215: expression nested too deeply")
case(G, "deep-unary", out('"${' + "!" * 201 + "true}\""), "stack.yaml:3:214: expression nested too deeply")
case(G, "in-resource-property", res('    triggers:\n      k: "${1 +}"\n'), "stack.yaml:5:16: expected an expression, found '}'")
case(G, "in-overlay-provider", "resources: {}\n", "dev.yaml:2:13: provider settings must be constants (no ${ } expressions)", overlay="provider:\n  region: ${var.x}\n")

# -- expressions: functions ------------------------------------------------------
G = "expr-func"
for name, expr, msg in [
    ("unknown-hint", "${lenght([1])}", "stack.yaml:3:15: unknown function 'lenght' (did you mean length()?)"),
    ("unknown-no-hint", "${frobnicate(1)}", "stack.yaml:3:15: unknown function 'frobnicate'"),
    ("uuid", "${uuid()}", "stack.yaml:3:15: uuid() is not available: it would make plans non-deterministic"),
    ("timestamp", "${timestamp()}", "stack.yaml:3:15: timestamp() is not available: it would make plans non-deterministic"),
    # arity
    ("arity-upper-none", "${upper()}", "stack.yaml:3:15: wrong number of arguments to upper(): expected 1, got 0"),
    ("arity-upper-two", '${upper("a", "b")}', "stack.yaml:3:15: wrong number of arguments to upper(): expected 1, got 2"),
    ("arity-join", '${join(",")}', "stack.yaml:3:15: wrong number of arguments to join(): expected 2, got 1"),
    ("arity-format", "${format()}", "stack.yaml:3:15: wrong number of arguments to format(): expected at least 1, got 0"),
    ("arity-substr", '${substr("abc", 1)}', "stack.yaml:3:15: wrong number of arguments to substr(): expected 3, got 2"),
    ("arity-range-none", "${range()}", "stack.yaml:3:15: wrong number of arguments to range(): expected 1 to 3, got 0"),
    ("arity-range-four", "${range(1, 2, 3, 4)}", "stack.yaml:3:15: wrong number of arguments to range(): expected 1 to 3, got 4"),
    ("arity-lookup", "${lookup({})}", "stack.yaml:3:15: wrong number of arguments to lookup(): expected 2 to 3, got 1"),
    ("arity-element", "${element([1])}", "stack.yaml:3:15: wrong number of arguments to element(): expected 2, got 1"),
    ("arity-contains", "${contains([1])}", "stack.yaml:3:15: wrong number of arguments to contains(): expected 2, got 1"),
    ("arity-cidrsubnet", '${cidrsubnet("10.0.0.0/16", 8)}', "stack.yaml:3:15: wrong number of arguments to cidrsubnet(): expected 3, got 2"),
    ("arity-length", "${length()}", "stack.yaml:3:15: wrong number of arguments to length(): expected 1, got 0"),
    ("arity-keys", "${keys({}, {})}", "stack.yaml:3:15: wrong number of arguments to keys(): expected 1, got 2"),
    ("arity-tonumber", "${tonumber()}", "stack.yaml:3:15: wrong number of arguments to tonumber(): expected 1, got 0"),
    ("arity-zipmap", "${zipmap([1])}", "stack.yaml:3:15: wrong number of arguments to zipmap(): expected 2, got 1"),
    ("arity-replace", '${replace("a", "b")}', "stack.yaml:3:15: wrong number of arguments to replace(): expected 3, got 2"),
    ("arity-distinct", "${distinct()}", "stack.yaml:3:15: wrong number of arguments to distinct(): expected 1, got 0"),
    ("arity-pow", "${pow(2)}", "stack.yaml:3:15: wrong number of arguments to pow(): expected 2, got 1"),
    ("arity-file", "${file()}", "stack.yaml:3:15: wrong number of arguments to file(): expected 1, got 0"),
    ("arity-slice", "${slice([1], 0)}", "stack.yaml:3:15: wrong number of arguments to slice(): expected 3, got 2"),
    # argument types
    ("type-upper", "${upper(1)}", "stack.yaml:3:21: upper(): argument 1 must be a string, got number"),
    ("type-lower", "${lower([1])}", "stack.yaml:3:21: lower(): argument 1 must be a string, got list"),
    ("type-join-separator", '${join(1, ["a"])}', "stack.yaml:3:20: join(): argument 1 must be a string, got number"),
    ("type-join-list", '${join(",", "a")}', "stack.yaml:3:25: join(): argument 2 must be a list, got string"),
    ("type-join-element", '${join(",", ["a", [1]])}', "stack.yaml:3:25: join(): element 1 must be a string, got list"),
    ("type-length", "${length(1)}", "stack.yaml:3:22: length(): argument 1 must be a list, map or string, got number"),
    ("type-keys", "${keys([1])}", "stack.yaml:3:20: keys(): argument 1 must be a map, got list"),
    ("type-values", '${values("a")}', "stack.yaml:3:22: values(): argument 1 must be a map, got string"),
    ("type-lookup", '${lookup([1], "a")}', "stack.yaml:3:22: lookup(): argument 1 must be a map, got list"),
    ("type-element", '${element("a", 1)}', "stack.yaml:3:23: element(): argument 1 must be a list, got string"),
    ("type-element-index", '${element([1], "a")}', "stack.yaml:3:28: element(): argument 2 must be a number, got string"),
    ("type-contains", '${contains("a", 1)}', "stack.yaml:3:24: contains(): argument 1 must be a list, got string"),
    ("type-range", '${range("a")}', "stack.yaml:3:21: range(): argument 1 must be a number, got string"),
    ("type-slice", '${slice("a", 0, 1)}', "stack.yaml:3:21: slice(): argument 1 must be a list, got string"),
    ("type-slice-index", '${slice([1], "a", 1)}', "stack.yaml:3:26: slice(): argument 2 must be a number, got string"),
    ("type-reverse", "${reverse(1)}", "stack.yaml:3:23: reverse(): argument 1 must be a list, got number"),
    ("type-distinct", "${distinct(1)}", "stack.yaml:3:24: distinct(): argument 1 must be a list, got number"),
    ("type-flatten", '${flatten("a")}', "stack.yaml:3:23: flatten(): argument 1 must be a list, got string"),
    ("type-concat", "${concat([1], 2)}", "stack.yaml:3:27: concat(): argument 2 must be a list, got number"),
    ("type-merge", "${merge({}, [1])}", "stack.yaml:3:25: merge(): argument 2 must be a map, got list"),
    ("type-zipmap", "${zipmap(1, [1])}", "stack.yaml:3:22: zipmap(): argument 1 must be a list, got number"),
    ("type-min", '${min("a")}', "stack.yaml:3:19: min(): argument 1 must be a number, got string"),
    ("type-max", "${max(1, [2])}", "stack.yaml:3:22: max(): argument 2 must be a number, got list"),
    ("type-abs", '${abs("a")}', "stack.yaml:3:19: abs(): argument 1 must be a number, got string"),
    ("type-ceil", "${ceil(true)}", "stack.yaml:3:20: ceil(): argument 1 must be a number, got bool"),
    ("type-floor", "${floor(null)}", "stack.yaml:3:21: floor(): argument 1 must be a number, got null"),
    ("type-pow", '${pow("a", 2)}', "stack.yaml:3:19: pow(): argument 1 must be a number, got string"),
    ("type-sum", "${sum(1)}", "stack.yaml:3:19: sum(): argument 1 must be a list, got number"),
    ("type-sum-element", '${sum([1, "a"])}', "stack.yaml:3:19: sum(): element 1 must be a number, got string"),
    ("type-tostring", "${tostring([1])}", "stack.yaml:3:24: tostring(): argument 1 must be a string, number or bool, got list"),
    ("type-tonumber", '${tonumber("abc")}', "stack.yaml:3:24: tonumber(): cannot convert \"abc\" to a number"),
    ("type-tobool", '${tobool("maybe")}', "stack.yaml:3:22: tobool(): cannot convert \"maybe\" to a bool"),
    ("type-tolist", "${tolist(1)}", "stack.yaml:3:22: tolist(): argument 1 must be a list, got number"),
    ("type-tomap", "${tomap(1)}", "stack.yaml:3:21: tomap(): argument 1 must be a map, got number"),
    ("type-split", '${split(1, "a")}', "stack.yaml:3:21: split(): argument 1 must be a string, got number"),
    ("type-replace", '${replace(1, "a", "b")}', "stack.yaml:3:23: replace(): argument 1 must be a string, got number"),
    ("type-trimprefix", '${trimprefix(1, "a")}', "stack.yaml:3:26: trimprefix(): argument 1 must be a string, got number"),
    ("type-startswith", '${startswith(1, "a")}', "stack.yaml:3:26: startswith(): argument 1 must be a string, got number"),
    ("type-substr", "${substr(1, 0, 1)}", "stack.yaml:3:22: substr(): argument 1 must be a string, got number"),
    ("type-format", "${format(1)}", "stack.yaml:3:22: format(): argument 1 must be a string, got number"),
    ("format-verb-type", '${format("%d", "a")}', "stack.yaml:3:28: format(): %d needs a whole number, got string"),
    ("format-missing-argument", '${format("%s %s", "a")}', "stack.yaml:3:22: format(): not enough arguments for the format"),
    ("format-bad-verb", '${format("%y", 1)}', "stack.yaml:3:22: format(): invalid format verb at '%y'"),
    ("format-huge-precision", '${format("%.547758072f", 1.5)}',
     "stack.yaml:3:22: format(): precision too large in '%.547758072f' (at most 1024)"),
    ("type-title", "${title(1)}", "stack.yaml:3:21: title(): argument 1 must be a string, got number"),
    ("type-md5", "${md5(1)}", "stack.yaml:3:19: md5(): argument 1 must be a string, got number"),
    ("type-sha256", "${sha256([1])}", "stack.yaml:3:22: sha256(): argument 1 must be a string, got list"),
    ("type-base64encode", "${base64encode(1)}", "stack.yaml:3:28: base64encode(): argument 1 must be a string, got number"),
    ("base64decode-invalid", '${base64decode("!!!")}', "stack.yaml:3:28: base64decode(): invalid base64 (length 3 is not a multiple of 4)"),
    ("jsondecode-invalid", '${jsondecode("{bad")}', "stack.yaml:3:26: jsondecode(): invalid JSON"),
    ("type-fileexists", "${fileexists(1)}", "stack.yaml:3:26: fileexists(): argument 1 must be a string, got number"),
    ("file-missing", '${file("nosuch.txt")}', "stack.yaml:3:20: file(): cannot read"),
    ("cidrhost-invalid", '${cidrhost("bad", 1)}', "stack.yaml:3:24: cidrhost(): invalid CIDR prefix \"bad\" (expected ADDRESS/LENGTH)"),
    ("cidrhost-out-of-range", '${cidrhost("10.0.0.0/24", 300)}', "stack.yaml:3:39: cidrhost(): host number 300 does not fit in prefix /24 (8 host bits)"),
    ("cidrsubnet-too-long", '${cidrsubnet("10.0.0.0/16", 20, 0)}', "stack.yaml:3:41: cidrsubnet(): insufficient address space to extend prefix of 16 by 20"),
    ("cidrsubnet-number-too-big", '${cidrsubnet("10.0.0.0/16", 8, 256)}', "stack.yaml:3:44: cidrsubnet(): netnum 256 does not fit in 8 bits (must be 0 to 255)"),
    ("cidrnetmask-no-prefix", '${cidrnetmask("10.0.0.0")}', "stack.yaml:3:27: cidrnetmask(): invalid CIDR prefix \"10.0.0.0\" (expected ADDRESS/LENGTH)"),
    ("element-empty", "${element([], 0)}", "stack.yaml:3:23: element(): cannot take an element of an empty list"),
    ("element-negative", "${element([1], -1)}", "stack.yaml:3:28: element(): index must not be negative"),
    ("index-not-found", "${index([1, 2], 5)}", "stack.yaml:3:29: index(): the value is not in the list"),
    ("lookup-not-found", '${lookup({a = 1}, "b")}', "stack.yaml:3:31: lookup(): key \"b\" not found in the map (and no default given)"),
    ("substr-offset", '${substr("abc", 10, 1)}', "stack.yaml:3:29: substr(): offset 10 is out of range for a string of length 3"),
    ("substr-length", '${substr("abc", 0, -2)}', "stack.yaml:3:32: substr(): length must be -1 (the rest) or more"),
    ("slice-out-of-range", "${slice([1, 2], 1, 5)}", "stack.yaml:3:32: slice(): end index 5 out of range (start 1, list has 2 elements)"),
    ("range-zero-step", "${range(1, 5, 0)}", "stack.yaml:3:27: range(): step must not be zero"),
    ("range-away", "${range(5, 1, 1)}", "stack.yaml:3:27: range(): the step goes away from the end"),
    ("range-too-many", "${range(2000000)}", "stack.yaml:3:15: range(): more than 1048576 elements"),
    ("zipmap-lengths", '${zipmap(["a"], [1, 2])}', "stack.yaml:3:29: zipmap(): the lists have different lengths (1 keys, 2 values)"),
    ("pow-not-finite", "${pow(10, 400)}", "stack.yaml:3:15: pow(): the result is not a finite number"),
]:
    case(G, name, out("'%s'" % expr), msg)
case(G, "argument-position", out("'${upper(\"a\") == lower(5)}'"), "stack.yaml:3:35: lower(): argument 1 must be a string, got number")
case(G, "escaped-scalar-position", out('"${upper(\\"a\\") == lower(5)}"'), "stack.yaml:3:12: lower(): argument 1 must be a string, got number")

# -- expressions: operators and values ------------------------------------------
G = "expr-eval"
for name, expr, msg in [
    ("division-by-zero", "${10 / 0}", "stack.yaml:5:18: division by zero"),
    ("modulo-by-zero", "${10 % 0}", "stack.yaml:5:18: division by zero"),
    ("real-division-by-zero", "${1.5 / 0}", "stack.yaml:5:19: division by zero"),
    ("add-overflow", "${9223372036854775807 + 1}", "stack.yaml:5:35: integer overflow in '+'"),
    ("multiply-overflow", "${4611686018427387904 * 2}", "stack.yaml:5:35: integer overflow in '*'"),
    ("subtract-overflow", "${-9223372036854775807 - 2}", "stack.yaml:5:36: integer overflow in '-'"),
    ("add-string", '${\\"a\\" + 1}', "stack.yaml:5:12: cannot add string and number"),
    ("multiply-list", "${[1] * 2}", "stack.yaml:5:19: cannot multiply list and number"),
    ("compare-string", '${\\"a\\" < 1}', "stack.yaml:5:12: cannot compare string and number with '<'"),
    ("not-number", "${!1}", "stack.yaml:5:15: '!' needs a bool, got number"),
    ("negate-string", '${-\\"a\\"}', "stack.yaml:5:12: cannot negate string"),
    ("and-number", "${1 && true}", "stack.yaml:5:15: '&&' needs bool operands, got number"),
    ("or-string", '${false || \\"yes\\"}', "stack.yaml:5:12: '||' needs bool operands, got string"),
    ("condition-number", "${1 ? 2 : 3}", "stack.yaml:5:15: condition must be a bool, got number"),
    ("not-finite", "${1e308 * 10.0}", "stack.yaml:5:21: arithmetic result is not a finite number"),
    ("interpolate-null", "x${null}", "stack.yaml:5:16: cannot interpolate null"),
    ("interpolate-list", "x${[1]}", "stack.yaml:5:16: cannot interpolate a list"),
    ("interpolate-map", "x${{a = 1}}", "stack.yaml:5:16: cannot interpolate a map"),
    ("index-out-of-range", "${[1, 2][5]}", "stack.yaml:5:22: index 5 out of range for (expression) (2 elements)"),
    ("index-negative", "${[1][-1]}", "stack.yaml:5:19: index -1 out of range for (expression) (1 element)"),
    ("index-list-with-string", '${[1][\\"a\\"]}', "stack.yaml:5:12: cannot index (expression) (a list) with a string"),
    ("index-map-with-number", "${{a = 1}[0]}", "stack.yaml:5:23: cannot index (expression) (a map) with a number"),
    ("index-missing-key", '${{a = 1}[\\"b\\"]}', "stack.yaml:5:12: key \"b\" not found in (expression)"),
    ("index-number", "${5[0]}", "stack.yaml:5:16: cannot index a number ((expression))"),
    ("attribute-of-number", "${var.n.x}", "stack.yaml:5:21: cannot access attribute 'x' of a number (var.n)"),
    ("unknown-variable-no-hint", "${var.zzzzzz}", "stack.yaml:5:15: unknown reference 'var.zzzzzz'"),
    ("unknown-env-attribute", "${env.nmae}", "stack.yaml:5:15: unknown reference 'env.nmae' (did you mean 'env.name'?)"),
    ("unknown-path-attribute", "${path.module}", "stack.yaml:5:15: unknown reference 'path.module'"),
]:
    case(G, name, out('"%s"' % expr, "variables:\n  n: {default: 1}\n"), msg)
R2 = "resources:\n  web:\n    type: null.resource\n    count: 2\n  svc:\n    type: null.resource\n    for_each: [a, b]\n"
case(G, "instance-out-of-range", R2 + "outputs:\n  o:\n    value: ${web[5].id}\n", "stack.yaml:10:18: index 5 out of range for web (2 instances)")
case(G, "instance-key-missing", R2 + "outputs:\n  o:\n    value: ${svc[\"zz\"].id}\n", "stack.yaml:10:18: resource svc has no instance \"zz\"")
case(G, "counted-without-index", R2 + "outputs:\n  o:\n    value: ${web.id}\n", "stack.yaml:10:18: cannot access attribute 'id' of resource web: it has 2 instances (use web[0].id or web[*].id)")
case(G, "splat-unknown-attribute", R2 + "outputs:\n  o:\n    value: ${web[*].idd}\n", "stack.yaml:10:14: resource 'web' (null.resource) has no attribute 'idd'; did you mean 'id'?")
case(G, "resource-no-attribute-hint", R2 + "outputs:\n  o:\n    value: ${svc[\"a\"].trigers}\n", "stack.yaml:10:14: resource 'svc' (null.resource) has no attribute 'trigers'; did you mean 'triggers'?")
case(G, "unknown-resource-hint", R2 + "outputs:\n  o:\n    value: ${wbe[0].id}\n", "stack.yaml:10:14: unknown reference 'wbe'")
case(G, "self-reference", res('    triggers:\n      me: "${a.id}"\n'), "stack.yaml:2:3: dependency cycle: a -> a")
case(G, "cycle-three", "resources:\n  a:\n    type: null.resource\n    triggers: {x: \"${c.id}\"}\n  b:\n    type: null.resource\n    triggers: {x: \"${a.id}\"}\n  c:\n    type: null.resource\n    triggers: {x: \"${b.id}\"}\n",
     "stack.yaml:2:3: dependency cycle: a -> c -> b -> a")
case(G, "cycle-depends-on", "resources:\n  a:\n    type: null.resource\n    depends_on: [b]\n  b:\n    type: null.resource\n    triggers: {x: \"${a.id}\"}\n", "stack.yaml:2:3: dependency cycle: a -> b -> a")
case(G, "cycle-through-count", "resources:\n  a:\n    type: null.resource\n    count: \"${length(b)}\"\n  b:\n    type: null.resource\n    count: \"${length(a)}\"\n", "stack.yaml:2:3: dependency cycle: a -> b -> a")
case(G, "output-error-position", "variables:\n  n: {default: 0}\nresources: {}\noutputs:\n  ratio:\n    value: \"${10 / var.n}\"\n", "stack.yaml:6:18: division by zero")
case(G, "property-error-position", "variables:\n  n: {default: 0}\n" + res("    triggers:\n      x: \"${10 % var.n}\"\n"), "stack.yaml:7:16: division by zero")
case(G, "count-index-in-output", "resources: {}\noutputs:\n  o:\n    value: ${count.index}\n", "stack.yaml:4:14: 'count.index' used outside a resource with count")
case(G, "each-in-plain-resource", res("    triggers:\n      k: ${each.key}\n"), "stack.yaml:5:12: each.key can only be used in a resource with 'for_each' (resource 'a' has none)")
case(G, "count-index-in-count", res("    count: ${count.index}\n"), "stack.yaml:4:14: count.index cannot be used in count")
case(G, "each-in-for-each", res("    for_each: ${each.key}\n"), "stack.yaml:4:17: each.key cannot be used in for_each")

# -- schemas: types, required, unknown, computed -------------------------------
G = "schema"
F = "local.file"
for name, body, typ, msg in [
    ("path-list", "    path: [a]\n", F, "stack.yaml:4:11: property 'path' of local.file: expected string, got list"),
    ("path-map", "    path: {a: 1}\n", F, "stack.yaml:4:11: property 'path' of local.file: expected string, got map"),
    ("content-list", "    path: a\n    content: [1]\n", F, "stack.yaml:5:14: property 'content' of local.file: expected string, got list"),
    ("special-yes", "    special: yes\n", "random.password", "stack.yaml:4:14: property 'special' of random.password: expected bool, got string"),
    ("length-word", "    length: twelve\n", "random.password", "stack.yaml:4:13: property 'length' of random.password: expected number, got string"),
    ("keepers-string", "    keepers: x\n", "random.password", "stack.yaml:4:14: property 'keepers' of random.password: expected map, got string"),
    ("triggers-list", "    triggers: [1]\n", "null.resource", "stack.yaml:4:15: property 'triggers' of null.resource: expected map, got list"),
    ("byte-length-list", "    byte_length: [8]\n", "random.id", "stack.yaml:4:18: property 'byte_length' of random.id: expected number, got list"),
    ("prefix-map", "    prefix: {a: b}\n", "random.id", "stack.yaml:4:13: property 'prefix' of random.id: expected string, got map"),
    ("vpc-missing-cidr", "    enable_dns_support: true\n", "aws.vpc", "stack.yaml:2:3: resource 'a' (aws.vpc) is missing required property 'cidr_block'"),
    ("subnet-missing-vpc", "    cidr_block: 10.0.1.0/24\n", "aws.subnet", "stack.yaml:2:3: resource 'a' (aws.subnet) is missing required property 'vpc_id'"),
    ("db-missing-identifier", "    engine: postgres\n", "aws.db_instance", "stack.yaml:2:3: resource 'a' (aws.db_instance) is missing required property"),
    ("unknown-property-hint", "    trigers: {}\n", "null.resource", "stack.yaml:4:5: unknown property 'trigers' for resource type null.resource; did you mean 'triggers'?"),
    ("unknown-property-no-hint", "    path: a\n    colour: blue\n", F, "stack.yaml:5:5: unknown property 'colour' for resource type local.file"),
    ("computed-size", "    path: a\n    size: 3\n", F, "stack.yaml:5:5: property 'size' of local.file is computed and cannot be set"),
    ("computed-sha", "    path: a\n    content_sha256: abc\n", F, "stack.yaml:5:5: property 'content_sha256' of local.file is computed and cannot be set"),
    ("computed-result", "    result: hunter2\n", "random.password", "stack.yaml:4:5: property 'result' of random.password is computed and cannot be set"),
    ("computed-arn", "    cidr_block: 10.0.0.0/16\n    arn: x\n", "aws.vpc", "stack.yaml:5:5: property 'arn' of aws.vpc is computed and cannot be set"),
    ("null-required", "    path: null\n", F, "stack.yaml:2:3: resource 'a': required property 'path' is null"),
    ("required-from-null-variable", "    path: ${var.p}\n", F, "stack.yaml:4:3: resource 'a': required property 'path' is null"),
]:
    extra = "variables:\n  p: {default: null, nullable: true}\n" if "variable" in name else ""
    case(G, name, extra + res(body, typ=typ), msg)
case(G, "ignore-changes-unknown", res("    lifecycle:\n      ignore_changes: [trigers]\n"), "stack.yaml:5:24: ignore_changes names unknown property 'trigers' of null.resource")

# -- schemas: ranges, patterns, enums --------------------------------------------
G = "schema-range"
P = "random.password"
for name, body, typ, msg in [
    ("password-length-negative", "    length: -1\n", P, "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got -1"),
    ("password-length-zero", "    length: 0\n", P, "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got 0"),
    ("password-length-big", "    length: 1025\n", P, "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got 1025"),
    ("password-length-fraction", "    length: 2.5\n", P, "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got 2.5"),
    ("password-length-string", '    length: "-3"\n', P, "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got -3"),
    ("password-min-upper", "    min_upper: -1\n", P, "stack.yaml:4:16: property 'min_upper' of random.password must be a whole number from 0 to 1024, got -1"),
    ("password-min-special", "    min_special: 2000\n", P, "stack.yaml:4:18: property 'min_special' of random.password must be a whole number from 0 to 1024, got 2000"),
    ("id-byte-length-zero", "    byte_length: 0\n", "random.id", "stack.yaml:4:18: property 'byte_length' of random.id must be a whole number from 1 to 1024, got 0"),
    ("id-byte-length-big", "    byte_length: 4096\n", "random.id", "stack.yaml:4:18: property 'byte_length' of random.id must be a whole number from 1 to 1024, got 4096"),
    ("id-byte-length-fraction", "    byte_length: 1.5\n", "random.id", "stack.yaml:4:18: property 'byte_length' of random.id must be a whole number from 1 to 1024, got 1.5"),
    ("file-permission-word", "    path: a\n    file_permission: abc\n", F, "stack.yaml:5:22: property 'file_permission' of local.file must match the pattern [0-7]{4}, got \"abc\""),
    ("file-permission-three-digits", '    path: a\n    file_permission: "644"\n', F, "stack.yaml:5:22: property 'file_permission' of local.file must match the pattern [0-7]{4}, got \"644\""),
    ("file-permission-unquoted", "    path: a\n    file_permission: 0644\n", F, "stack.yaml:5:22: property 'file_permission' of local.file must match the pattern [0-7]{4}, got \"644\""),
    ("file-permission-eight", '    path: a\n    file_permission: "0800"\n', F, "stack.yaml:5:22: property 'file_permission' of local.file must match the pattern [0-7]{4}, got \"0800\""),
    ("directory-permission", '    path: a\n    directory_permission: rwxr-xr-x\n', F, "stack.yaml:5:27: property 'directory_permission' of local.file must match the pattern [0-7]{4}, got \"rwxr-xr-x\""),
]:
    case(G, name, res(body, typ=typ), msg)
DB = "    identifier: orders\n    engine: postgres\n    instance_class: db.t3.micro\n    username: app\n    password: not-a-real-secret-1\n"
def db(**over):
    lines = dict(identifier="orders", engine="postgres", instance_class="db.t3.micro", username="app", password="not-a-real-secret-1")
    extra = []
    for k, v in over.items():
        if k in lines:
            lines[k] = v
        else:
            extra.append((k, v))
    return "".join("    %s: %s\n" % kv for kv in list(lines.items()) + extra)
for name, body, msg in [
    ("db-engine-case", db(engine="Postgres"), "stack.yaml:5:13: property 'engine' of aws.db_instance must be one of"),
    ("db-engine-unknown", db(engine="oracle"), "stack.yaml:5:13: property 'engine' of aws.db_instance must be one of \"aurora-mysql\""),
    ("db-storage-small", db(allocated_storage="3"), "stack.yaml:9:24: property 'allocated_storage' of aws.db_instance must be a whole number from 5 to 65536, got 3"),
    ("db-storage-big", db(allocated_storage="70000"), "stack.yaml:9:24: property 'allocated_storage' of aws.db_instance must be a whole number from 5 to 65536, got 70000"),
    ("db-storage-fraction", db(allocated_storage="20.5"), "stack.yaml:9:24: property 'allocated_storage' of aws.db_instance must be a whole number from 5 to 65536, got 20.5"),
    ("db-retention", db(backup_retention_period="36"), "stack.yaml:9:30: property 'backup_retention_period' of aws.db_instance must be a whole number from 0 to 35, got 36"),
    ("db-storage-type", db(storage_type="ssd"), "stack.yaml:9:19: property 'storage_type' of aws.db_instance must be one of \"standard\", \"gp2\", \"gp3\", \"io1\", \"io2\", \"aurora\", \"aurora-iopt1\", got \"ssd\""),
    ("db-identifier-digit", db(identifier="1orders"), "stack.yaml:4:17: property 'identifier' of aws.db_instance must match the pattern [A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?, got \"1orders\""),
    ("db-identifier-hyphen-end", db(identifier="orders-"), "stack.yaml:4:17: property 'identifier' of aws.db_instance must match the pattern"),
    ("db-identifier-long", db(identifier="a" * 64), "stack.yaml:4:17: property 'identifier' of aws.db_instance must match the pattern"),
    ("db-instance-class", db(instance_class="t3.micro"), "stack.yaml:6:21: property 'instance_class' of aws.db_instance must match the pattern db\\.[a-z0-9.-]+, got \"t3.micro\""),
    ("db-username-digit", db(username="1app"), "stack.yaml:7:15: property 'username' of aws.db_instance must match the pattern [A-Za-z][A-Za-z0-9_]{0,62}, got \"1app\""),
    ("db-password-at", db(password="'p@ssword-long'"), "stack.yaml:8:15: property 'password' of aws.db_instance must match the pattern [ !#-.0-?A-~]{8,128}"),
]:
    case(G, name, res(body, typ="aws.db_instance"), msg)
case(G, "db-password-not-shown", "variables:\n  pw: {default: short, sensitive: true}\n" + res(db(password='"${var.pw}"'), typ="aws.db_instance"),
     "stack.yaml:10:18: property 'password' of aws.db_instance must match the pattern [ !#-.0-?A-~]{8,128}\n")
EC = "    replication_group_id: sessions\n    node_type: cache.t3.micro\n"
for name, body, msg in [
    ("cache-id-long", "    replication_group_id: %s\n    node_type: cache.t3.micro\n" % ("a" * 41), "stack.yaml:4:27: property 'replication_group_id' of aws.elasticache_replication_group must match the pattern"),
    ("cache-engine", EC + "    engine: memcached\n", "stack.yaml:6:13: property 'engine' of aws.elasticache_replication_group must be one of \"redis\", \"valkey\", got \"memcached\""),
    ("cache-clusters", EC + "    num_cache_clusters: 7\n", "stack.yaml:6:25: property 'num_cache_clusters' of aws.elasticache_replication_group must be a whole number from 1 to 6, got 7"),
    ("cache-port", EC + "    port: 70000\n", "stack.yaml:6:11: property 'port' of aws.elasticache_replication_group must be a whole number from 1 to 65535, got 70000"),
    ("cache-node-type", "    replication_group_id: sessions\n    node_type: t3.micro\n", "stack.yaml:5:16: property 'node_type' of aws.elasticache_replication_group must match the pattern cache\\.[a-z0-9.-]+, got \"t3.micro\""),
]:
    case(G, name, res(body, typ="aws.elasticache_replication_group"), msg)
for name, body, typ, msg in [
    ("vpc-cidr-8", "    cidr_block: 10.0.0.0/8\n", "aws.vpc", "stack.yaml:4:17: property 'cidr_block' of aws.vpc must match the pattern ([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-8]), got \"10.0.0.0/8\""),
    ("vpc-cidr-29", "    cidr_block: 10.0.0.0/29\n", "aws.vpc", "stack.yaml:4:17: property 'cidr_block' of aws.vpc must match the pattern"),
    ("vpc-cidr-word", "    cidr_block: my-network\n", "aws.vpc", "stack.yaml:4:17: property 'cidr_block' of aws.vpc must match the pattern"),
    ("vpc-tenancy-host", "    cidr_block: 10.0.0.0/16\n    instance_tenancy: host\n", "aws.vpc", "stack.yaml:5:23: property 'instance_tenancy' of aws.vpc must be one of \"default\", \"dedicated\", got \"host\""),
    ("subnet-cidr-no-prefix", "    vpc_id: vpc-1\n    cidr_block: 10.0.1.0\n", "aws.subnet", "stack.yaml:5:17: property 'cidr_block' of aws.subnet must match the pattern"),
    ("eks-name", "    name: -cluster\n    role_arn: arn\n    subnet_ids: [a]\n", "aws.eks_cluster", "stack.yaml:4:11: property 'name' of aws.eks_cluster must match the pattern [0-9A-Za-z][A-Za-z0-9_-]{0,99}, got \"-cluster\""),
    ("nodegroup-disk", "    cluster_name: c\n    name: n\n    node_role_arn: r\n    subnet_ids: [a]\n    scaling: {}\n    disk_size: 0\n", "aws.eks_nodegroup", "stack.yaml:9:16: property 'disk_size' of aws.eks_nodegroup must be a whole number of at least 1, got 0"),
]:
    case(G, name, res(body, typ=typ), msg)
case(G, "plan-time-value", "variables:\n  n: {type: number, default: -5}\n" + res("    length: \"${var.n * 2}\"\n", typ=P),
     "stack.yaml:6:16: property 'length' of random.password must be a whole number from 1 to 1024, got -10")
case(G, "plan-time-overlay", "variables:\n  mode: {default: \"0644\"}\n" + res("    path: a\n    file_permission: \"${var.mode}\"\n", typ=F),
     "stack.yaml:7:25: property 'file_permission' of local.file must match the pattern [0-7]{4}, got \"0755x\"", overlay="variables:\n  mode: 0755x\n")
case(G, "plan-time-var-flag", "variables:\n  n: {default: 8}\n" + res("    byte_length: \"${var.n}\"\n", typ="random.id"),
     "stack.yaml:6:21: property 'byte_length' of random.id must be a whole number from 1 to 1024, got 0", cmd="validate -e dev --var n=0")
case(G, "plan-time-count", res("    count: 2\n    length: \"${count.index}\"\n", typ=P),
     "stack.yaml:5:16: property 'length' of random.password must be a whole number from 1 to 1024, got 0")
case(G, "apply-refused-before-module", res("    length: -1\n", typ=P), "stack.yaml:4:13: property 'length' of random.password must be a whole number from 1 to 1024, got -1",
     cmd="apply -e dev --auto-approve")

# -- cairn's own files -------------------------------------------------------------
G = "state-path"
for name, path, msg in [
    ("state-db", ".cairn/state.db", ["stack.yaml:4:11: property 'path' of local.file: '.cairn/state.db' points into cairn's state directory (", "/.cairn); cairn keeps its state there"]),
    ("dot-slash", "./.cairn/state.db-wal", "stack.yaml:4:11: property 'path' of local.file: './.cairn/state.db-wal' points into cairn's state directory ("),
    ("dot-dot", "sub/../.cairn/key", "stack.yaml:4:11: property 'path' of local.file: 'sub/../.cairn/key' points into cairn's state directory"),
    ("the-directory", ".cairn", "stack.yaml:4:11: property 'path' of local.file: '.cairn' points into cairn's state directory"),
    ("new-file-inside", ".cairn/notes/todo.txt", "stack.yaml:4:11: property 'path' of local.file: '.cairn/notes/todo.txt' points into cairn's state directory ("),
]:
    case(G, name, res("    path: %s\n" % path, typ=F), msg)
case(G, "absolute", res('    path: "${path.stack}/.cairn/state.db"\n', typ=F),
     ["stack.yaml:4:12: property 'path' of local.file: '", "/.cairn/state.db' points into cairn's state directory ("])
case(G, "symlink", res("    path: link/state.db\n", typ=F), "stack.yaml:4:11: property 'path' of local.file: 'link/state.db' points into cairn's state directory",
     setup="mkdir -p .cairn && ln -s .cairn link\n")
case(G, "state-flag-file", res("    path: st/state.db\n", typ=F), ["stack.yaml:4:11: property 'path' of local.file: 'st/state.db' points into cairn's state database (", "/st/state.db); cairn keeps its state there"],
     cmd="plan -e dev --state @DIR@/st/state.db -C @DIR@")
case(G, "state-flag-wal", res("    path: st/state.db-wal\n", typ=F), "stack.yaml:4:11: property 'path' of local.file: 'st/state.db-wal' points into cairn's state database (",
     cmd="plan -e dev --state @DIR@/st/state.db -C @DIR@")
case(G, "state-flag-key", res("    path: st/key\n", typ=F), ["stack.yaml:4:11: property 'path' of local.file: 'st/key' points into cairn's state key (", "/st/key); cairn keeps its state there"],
     cmd="plan -e dev --state @DIR@/st/state.db -C @DIR@")
case(G, "for-each-paths", res("    for_each: [notes.txt, .cairn/state.db]\n    path: ${each.key}\n", typ=F),
     "stack.yaml:5:13: property 'path' of local.file: '.cairn/state.db' points into cairn's state directory (")
case(G, "apply-with-state", res("    path: ./.cairn/state.db\n", typ=F), "stack.yaml:4:11: property 'path' of local.file: './.cairn/state.db' points into cairn's state directory (",
     cmd="apply -e dev --auto-approve", setup="printf 'resources:\\n  keep:\\n    type: null.resource\\n' >ok.yaml\n"
     "mv stack.yaml bad.yaml && mv ok.yaml stack.yaml && " + APPLY + "mv bad.yaml stack.yaml\n")

# -- count and for_each ------------------------------------------------------------
G = "count"
for name, body, msg in [
    ("negative", "    count: -1\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got -1"),
    ("fraction", "    count: 1.5\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got 1.5"),
    ("too-many", "    count: 100001\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got 100001"),
    ("int64-max", "    count: 9223372036854775807\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got 9223372036854775807"),
    ("huge-real", "    count: 1e30\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got 1e30"),
    ("bool", "    count: true\n", "stack.yaml:4:12: count must be a whole number from 0 to 100000, got bool"),
    ("list", "    count: [1]\n", "stack.yaml:4:12: count of 'a' must be a whole number from 0 to 100000, got list"),
    ("expression-int64-max", '    count: "${9223372036854775806 + 1}"\n', "stack.yaml:4:35: count of 'a' must be a whole number from 0 to 100000, got 9223372036854775807"),
    ("expression-negative", '    count: "${2 - 3}"\n', "stack.yaml:4:17: count of 'a' must be a whole number from 0 to 100000, got -1"),
    ("expression-string", '    count: "${upper(\\"x\\")}"\n', "stack.yaml:4:12: count of 'a' must be a whole number from 0 to 100000, got string"),
    ("unknown-at-plan", '    count: "${length(b.id)}"\n  b:\n    type: null.resource\n', "stack.yaml:4:15: count of 'a' depends on values known only after apply"),
    ("for-each-string", "    for_each: abc\n", "stack.yaml:4:15: for_each must be a list of strings or a map, got string"),
    ("for-each-number", "    for_each: 3\n", "stack.yaml:4:15: for_each must be a list of strings or a map, got number"),
    ("for-each-duplicate", "    for_each: [a, b, a]\n", "stack.yaml:4:15: for_each of 'a' has the key \"a\" twice (at index 0 and 2): each instance needs its own key"),
    ("for-each-duplicate-expression", '    for_each: "${concat([\\"x\\"], [\\"x\\"])}"\n', "stack.yaml:4:15: for_each of 'a' has the key \"x\" twice (at index 0 and 1)"),
    ("for-each-number-element", "    for_each: [a, 1]\n", "stack.yaml:4:15: for_each of 'a' must be a map or a list of strings, got number at index 1"),
    ("for-each-nested-list", "    for_each: [[a]]\n", "stack.yaml:4:15: for_each of 'a' must be a map or a list of strings, got list at index 0"),
    ("for-each-expression-number", '    for_each: "${1 + 1}"\n', "stack.yaml:4:20: for_each of 'a' must be a map or a list of strings, got number"),
    ("for-each-unknown", '    for_each: "${[b.id]}"\n  b:\n    type: null.resource\n', "stack.yaml:4:18: for_each of 'a' depends on values known only after apply"),
    ("count-and-each-key", "    count: 2\n    triggers: {k: \"${each.key}\"}\n", "stack.yaml:5:22: each.key can only be used in a resource with 'for_each' (resource 'a' has none)"),
]:
    case(G, name, res(body), msg)
case(G, "for-each-duplicate-apply", res("    for_each: [a, a]\n"), "stack.yaml:4:15: for_each of 'a' has the key \"a\" twice", cmd="apply -e dev --auto-approve",
     setup="printf 'resources:\\n  a:\\n    type: null.resource\\n    for_each: [a]\\n' >ok.yaml\nmv stack.yaml bad.yaml && mv ok.yaml stack.yaml && " + APPLY + "mv bad.yaml stack.yaml\n")

# -- outputs, lifecycle, depends_on ------------------------------------------------
G = "blocks"
for name, stack, msg in [
    ("output-unknown-key", "resources: {}\noutputs:\n  o:\n    valeu: 1\n", "stack.yaml:4:5: unknown key 'valeu' in output (did you mean 'value'?)"),
    ("output-not-map", "resources: {}\noutputs:\n  o: 1\n", "stack.yaml:3:6: output 'o' must be a mapping with a 'value'"),
    ("output-sensitive-not-bool", "resources: {}\noutputs:\n  o:\n    value: 1\n    sensitive: maybe\n", "stack.yaml:5:16: sensitive must be true or false"),
    ("output-description-list", "resources: {}\noutputs:\n  o:\n    value: 1\n    description: [a]\n", "stack.yaml:5:18: description must be a string"),
    ("output-unknown-resource", "resources: {}\noutputs:\n  o:\n    value: ${web.id}\n", "stack.yaml:4:14: unknown reference 'web'"),
    ("output-unknown-function", "resources: {}\noutputs:\n  o:\n    value: ${frob()}\n", "stack.yaml:4:14: unknown function 'frob'"),
    ("lifecycle-not-map", res("    lifecycle: [prevent_destroy]\n"), "stack.yaml:4:16: lifecycle must be a mapping, got a list"),
    ("prevent-destroy-string", res("    lifecycle:\n      prevent_destroy: maybe\n"), "stack.yaml:5:24: prevent_destroy must be true or false"),
    ("ignore-changes-string", res("    lifecycle:\n      ignore_changes: triggers\n"), "stack.yaml:5:23: ignore_changes must be a list of property names or 'all'"),
    ("ignore-changes-number", res("    lifecycle:\n      ignore_changes: [1]\n"), "stack.yaml:5:24: ignore_changes must be a list of names (strings)"),
    ("create-before-destroy-string", res("    lifecycle:\n      create_before_destroy: yes\n"), "stack.yaml:5:30: create_before_destroy must be true or false"),
    ("depends-on-self", res("    depends_on: [a]\n"), "stack.yaml:2:3: dependency cycle: a -> a"),
    ("depends-on-number", res("    depends_on: [1]\n"), "stack.yaml:4:18: depends_on must be a list of names (strings)"),
    ("depends-on-map", res("    depends_on: {a: b}\n"), "stack.yaml:4:17: depends_on must be a list of names"),
    ("depends-on-reserved", res("    depends_on: [var]\n"), "stack.yaml:4:18: depends_on names unknown resource 'var'"),
    ("depends-on-typo", res("    depends_on: [bb]\n  b:\n    type: null.resource\n"), "stack.yaml:4:18: depends_on names unknown resource 'bb'"),
]:
    case(G, name, stack, msg)
PD = res("    lifecycle:\n      prevent_destroy: true\n")
PDM = "stack.yaml:5:24: a has lifecycle.prevent_destroy set, but the plan would destroy it; remove prevent_destroy (or make it false for environment 'dev') to allow this"
case(G, "prevent-destroy-destroy", PD, PDM, cmd="destroy -e dev --auto-approve", setup=APPLY)
case(G, "prevent-destroy-plan", PD, PDM, cmd="plan -e dev --destroy", setup=APPLY)
case(G, "prevent-destroy-replace", "variables:\n  v: {default: 1}\n" + res("    triggers: {v: \"${var.v}\"}\n    lifecycle:\n      prevent_destroy: true\n"),
     "stack.yaml:8:24: a has lifecycle.prevent_destroy set, but the plan would replace it", cmd="apply -e dev --auto-approve --var v=2", setup=APPLY)
case(G, "prevent-destroy-not-bool", "variables:\n  p: {default: maybe}\n" + res("    lifecycle:\n      prevent_destroy: ${var.p}\n"),
     "stack.yaml:7:30: prevent_destroy of 'a' must be a bool, got string", cmd="destroy -e dev --auto-approve", setup=APPLY)

# -- flags -------------------------------------------------------------------------
G = "flags"
OK = "resources:\n  a:\n    type: null.resource\n"
for name, cmd, msg, rc in [
    ("parallelism-zero", "plan -e dev --parallelism 0", "--parallelism expects a number from 1 to 10000, got '0'", 1),
    ("parallelism-big", "apply -e dev --parallelism 10001", "--parallelism expects a number from 1 to 10000, got '10001'", 1),
    ("lock-timeout-word", "apply -e dev --lock-timeout soon", "--lock-timeout expects a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d, got 'soon'", 1),
    ("lock-timeout-negative", "apply -e dev --lock-timeout -5s", "--lock-timeout expects a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d, got '-5s'", 1),
    ("lock-timeout-unit", "apply -e dev --lock-timeout 5w", "--lock-timeout expects a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d, got '5w'", 1),
    ("lease-zero", "apply -e dev --lease 0", "--lease expects seconds, got '0'", 1),
    ("refresh-maybe", "plan -e dev --refresh=maybe", "--refresh expects true or false, got 'maybe'", 1),
    ("limit-zero", "state history -e dev --limit 0", "--limit expects a positive number, got '0'", 1),
    ("var-no-value", "plan -C @DIR@ -e dev --var", "flag --var needs a value (--var NAME=VALUE)", 1),
    ("var-empty-name", "plan -e dev --var =x", "--var expects NAME=VALUE, got '=x'", 1),
    ("env-no-value", "plan -C @DIR@ -e", "flag -e needs a value (-e ENV)", 1),
    ("env-dash-value", "plan -e -dev", "invalid environment name '-dev' (environments: dev)", 1),
    ("env-upper-case", "plan -e Dev", "invalid environment name 'Dev'", 1),
    ("env-stack", "validate -e stack", "invalid environment name 'stack'", 1),
    ("target-no-value", "plan -C @DIR@ -e dev --target", "flag --target needs a value (--target ADDRESS)", 1),
    ("out-no-value", "plan -C @DIR@ -e dev -out", "flag --out needs a value (-out FILE)", 1),
    ("unknown-single-dash", "plan -e dev -frobnicate", "unknown flag '--frobnicate' for 'cairn plan'", 1),
    ("auto-approve-validate", "validate -e dev --auto-approve", "flag --auto-approve does not apply to 'cairn validate'", 1),
    ("json-validate", "validate -e dev --json", "flag --json does not apply to 'cairn validate'", 1),
    ("out-apply", "apply -e dev -out x.plan", "flag -out does not apply to 'cairn apply'", 1),
    ("destroy-apply", "apply -e dev --destroy", "flag --destroy does not apply to 'cairn apply'", 1),
    ("show-sensitive-plan", "plan -e dev --show-sensitive", "flag --show-sensitive does not apply to 'cairn plan'", 1),
    ("target-validate", "validate -e dev --target a", "flag --target does not apply to 'cairn validate'", 1),
    ("unexpected-argument", "validate -e dev extra", "unexpected argument 'extra' for 'cairn validate'", 1),
    ("unknown-command", "frobnicate -e dev", "unknown command 'frobnicate'", 1),
    ("state-no-subcommand", "state -C @DIR@ -e dev", "usage: cairn state list|show|rm|mv|history -e ENV", 1),
    ("state-unknown-subcommand", "state frob -e dev", "unknown state command 'frob' (list, show, rm, mv, history)", 1),
    ("lock-unknown-subcommand", "lock frob -e dev", "unknown lock command 'frob' (status, force-unlock)", 1),
    ("state-show-no-address", "state show -e dev", "usage: cairn state show -e ENV ADDRESS", 1),
    ("state-mv-one-address", "state mv -e dev a", "usage: cairn state mv -e ENV FROM TO", 1),
    ("state-rm-no-address", "state rm -e dev", "usage: cairn state rm -e ENV ADDRESS...", 1),
    ("import-one-argument", "import -e dev a", "usage: cairn import -e ENV ADDRESS ID", 1),
    ("output-two-names", "output -e dev a b", "usage: cairn output -e ENV [NAME]", 1),
    ("apply-no-terminal", "apply -e dev", "apply needs confirmation, and there is no terminal to ask: run with --auto-approve", 1),
    ("destroy-no-terminal", "destroy -e dev", "destroy needs confirmation, and there is no terminal to ask", 1),
    ("out-with-destroy", "plan -e dev --destroy -out x.plan", "-out with --destroy is not supported; run 'cairn destroy'", 1),
    ("stack-missing", "validate -e dev --stack @DIR@/nosuch.yaml", "nosuch.yaml: No such file or directory", 1),
    ("dir-missing", "validate -e dev -C @DIR@/nosuch", "nosuch/stack.yaml: No such file or directory", 1),
    ("state-is-directory", "plan -e dev --state @DIR@ -C @DIR@", " is not a cairn state database (not a file)", 1),
]:
    setup = APPLY if name == "destroy-no-terminal" else None
    case(G, name, OK, msg, cmd=cmd, rc=rc, setup=setup)
case(G, "lock-lease-env", OK, "CAIRN_LOCK_LEASE expects seconds from 1 to 86400, got 'soon'", cmd="plan -e dev", env="CAIRN_LOCK_LEASE=soon")
case(G, "modules-path-wrong", res("    path: a\n", typ=F), ["stack.yaml:3:11: unknown resource type 'local.file': no local/file.lua in the module path (", "/nosuch-modules: No such file or directory)"],
     env="CAIRN_MODULES_PATH=@DIR@/nosuch-modules")
case(G, "modules-path-file", res("    path: a\n", typ=F), ["stack.yaml:3:11: unknown resource type 'local.file': no local/file.lua in the module path (", "/stack.yaml: not a directory)"],
     env="CAIRN_MODULES_PATH=@DIR@/stack.yaml")
case(G, "modules-path-apply", res("    path: a\n", typ=F), "stack.yaml:3:11: unknown resource type 'local.file': no local/file.lua in the module path",
     cmd="apply -e dev --auto-approve", env="CAIRN_MODULES_PATH=@DIR@/nosuch-modules")
case(G, "env-variable-invalid", OK, "invalid environment name '../x'", cmd="plan", env="CAIRN_ENV=../x")

# -- addresses -------------------------------------------------------------------
G = "address"
ST = "resources:\n  keep:\n    type: null.resource\n  web:\n    type: null.resource\n    count: 2\n"
for name, cmd, msg, setup in [
    ("target-unknown", "plan -e dev --target nosuch", "--target nosuch: no resource nosuch in the stack or the state of environment 'dev'", None),
    ("target-unknown-apply", "apply -e dev --auto-approve --target nosuch", "--target nosuch: no resource nosuch in the stack", APPLY),
    ("target-unclosed", "plan -e dev --target 'x['", "--target: invalid address 'x[': unclosed '['", None),
    ("target-index-out-of-range", "plan -e dev --target 'web[5]'", "--target web[5]: no instance web[5] in the stack or the state of environment 'dev'", None),
    ("target-key-on-count", """plan -e dev --target 'web["a"]'""", "--target web[\"a\"]: no instance web[\"a\"] in the stack", None),
    ("target-empty", "plan -e dev --target ''", "--target: invalid address '': it is empty", None),
    ("target-path", "plan -e dev --target ../keep", "--target: invalid address '../keep': a name starts with a letter or '_'", None),
    ("target-negative-index", "plan -e dev --target 'web[-1]'", "--target: invalid address 'web[-1]': [...] holds a whole number or a quoted key", None),
    ("target-trailing", "plan -e dev --target 'web[0].id'", "--target: invalid address 'web[0].id': unexpected characters after the name", None),
    ("target-unquoted-key", "plan -e dev --target 'web[a]'", "--target: invalid address 'web[a]': [...] holds a whole number or a quoted key", None),
    ("exclude-unknown", "plan -e dev --exclude nosuch", "--exclude nosuch: no resource nosuch in the stack or the state of environment 'dev'", None),
    ("destroy-target-unknown", "destroy -e dev --auto-approve --target nosuch", "--target nosuch: no resource nosuch in the stack", APPLY),
    ("state-mv-bad-target", "state mv -e dev keep '../bad name'", "invalid address '../bad name': a name starts with a letter or '_'", APPLY),
    ("state-mv-space", "state mv -e dev keep 'bad name'", "invalid address 'bad name': unexpected characters after the name", APPLY),
    ("state-mv-unknown", "state mv -e dev nosuch other", "no resource nosuch in the state of environment 'dev'", APPLY),
    ("state-mv-onto-itself", "state mv -e dev keep keep", "cannot move 'keep' onto itself", APPLY),
    ("state-mv-existing", "state mv -e dev keep 'web[0]'", "cannot move 'keep' to 'web[0]' in environment 'dev': 'web[0]' exists", APPLY),
    ("state-rm-malformed", "state rm -e dev 'web['", "invalid address 'web[': unclosed '['", APPLY),
    ("state-rm-unknown", "state rm -e dev nosuch", "no resource nosuch in the state of environment 'dev'", APPLY),
    ("state-show-unknown", "state show -e dev 'web[7]'", "no resource web[7] in the state of environment 'dev'", APPLY),
    ("state-show-malformed", "state show -e dev 'web]'", "invalid address 'web]': unexpected characters after the name", APPLY),
    ("state-show-no-state", "state show -e dev keep", ["/.cairn/state.db: nothing has been applied yet", "no state at "], None),
    ("import-malformed", "import -e dev 'bad name' id-1", "invalid address 'bad name': unexpected characters after the name", None),
    ("import-not-in-stack", "import -e dev nosuch id-1", "cannot import to nosuch: no such resource instance in the configuration", None),
    ("import-managed", "import -e dev keep id-1", "cannot import to keep: it is already managed", APPLY),
]:
    case(G, name, ST, msg, cmd=cmd, setup=setup)

# -- saved plans --------------------------------------------------------------------
G = "plan-file"
SAVED = "apply @DIR@/p.plan"
MK = '"$CAIRN" plan --stack "$PWD/stack.yaml" -e dev -out p.plan >/dev/null\n'
def edit(py):
    return MK + "python3 - <<'EOF'\nimport json\nd = json.load(open('p.plan'))\n" + py + "\njson.dump(d, open('p.plan', 'w'))\nEOF\n"
for name, py, msg in [
    ("serial-huge", "d['state_serial'] = 1e30", "malformed plan file: 'state_serial' must be a whole number, 0 or more, got 1e30"),
    ("serial-string", "d['state_serial'] = '5'", "malformed plan file: 'state_serial' must be a whole number, 0 or more, got \"5\""),
    ("serial-negative", "d['state_serial'] = -1", "malformed plan file: 'state_serial' must be a whole number, 0 or more, got -1"),
    ("serial-missing", "del d['state_serial']", "malformed plan file: 'state_serial' must be a whole number, 0 or more, got nothing"),
    ("format-version-2", "d['format_version'] = '2'", "not a cairn plan file (format_version 1 expected)"),
    ("format-version-number", "d['format_version'] = 1", "not a cairn plan file (format_version 1 expected)"),
    ("config-hash-missing", "del d['config_hash']", "malformed plan file: 'config_hash' must be a string"),
    ("config-hash-other", "d['config_hash'] = '0' * 64", "was edited since it was made, or made with another state key: its MAC does not match its content"),
    ("changes-not-list", "d['resource_changes'] = {}", "/p.plan: not a cairn plan file"),
    ("change-without-address", "d['resource_changes'][0].pop('address')", "was edited since it was made, or made with another state key: its MAC does not match its content"),
    ("environment-missing", "del d['environment']", "/p.plan: not a cairn plan file"),
    ("input-not-string", "d['inputs'] = {'/etc/hostname': 5}", "was edited since it was made, or made with another state key: its MAC does not match its content"),
]:
    case(G, name, ST, msg, cmd=SAVED, setup=edit(py))
case(G, "not-an-object", ST, "/p.plan: not a cairn plan file", cmd=SAVED, setup="echo '[1, 2]' >p.plan\n")
case(G, "empty-file", ST, "/p.plan:1:0: not a cairn plan file: '[' or '{' expected near end of file", cmd=SAVED, setup=": >p.plan\n")
case(G, "wrong-environment", ST, "p.plan was made for environment 'dev', not 'prod'", cmd="apply -e prod @DIR@/p.plan", setup=MK + "cp dev.yaml prod.yaml\n")
case(G, "stale-config", ST, "the saved plan is stale: the configuration of environment 'dev' (stack, overlay, modules or --var values) changed since it was made",
     cmd=SAVED, setup=MK + "sed -i 's/count: 2/count: 3/' stack.yaml\n")
case(G, "stale-state", ST, "the saved plan is stale: the state of environment 'dev' changed since it was made (serial 0, now ",
     cmd=SAVED, setup=MK + APPLY)
case(G, "stale-input-file", "resources:\n  a:\n    type: null.resource\n    triggers: {v: \"${file(\\\"in.txt\\\")}\"}\n",
     ["/in.txt, which the configuration of environment 'dev' reads, changed since the plan was made (sha256:", "the saved plan is stale: "], cmd=SAVED, setup="echo one >in.txt\n" + MK + "echo two >in.txt\n")
case(G, "directory", ST, ["/p.plan: it is a directory, not a regular file"], cmd=SAVED, setup="mkdir p.plan\n")

# -- the state database and the environment ------------------------------------------
G = "state"
case(G, "newer-schema", ST, "/.cairn/state.db was written by a newer cairn (schema version 99, this cairn knows up to 5); upgrade cairn",
     cmd="plan -e dev", setup=APPLY + "sqlite3 .cairn/state.db 'PRAGMA user_version = 99'\n")
case(G, "other-application", ST, "is not a cairn state database (application_id 0x00000007, expected 0x6361726e); refusing to touch it",
     cmd="apply -e dev --auto-approve", setup="mkdir -p .cairn && sqlite3 .cairn/state.db 'PRAGMA application_id = 7; CREATE TABLE t(x)'\n")
case(G, "text-file", ST, "is not a cairn state database (file is not a database); refusing to touch it",
     cmd="state list -e dev", setup="mkdir -p .cairn && yes 'not sqlite' | head -c 5000 >.cairn/state.db\n")
case(G, "locked", ST, ["environment 'dev' is locked by alice (pid 1, apply) since ", "wait with --lock-timeout or run 'cairn lock force-unlock -e dev'"], rc=3, cmd="apply -e dev --auto-approve",
     setup=APPLY + "sqlite3 .cairn/state.db \"INSERT INTO locks VALUES('dev', 'x', 'alice', 'elsewhere', 1, 'apply', strftime('%s','now'), strftime('%s','now') + 3600, 3600)\"\n")
case(G, "locked-state-rm", ST, ["environment 'dev' is locked by alice (pid 1, apply) since ", "wait with --lock-timeout or run 'cairn lock force-unlock -e dev'"], rc=3, cmd="state rm -e dev keep",
     setup=APPLY + "sqlite3 .cairn/state.db \"INSERT INTO locks VALUES('dev', 'x', 'alice', 'elsewhere', 1, 'apply', strftime('%s','now'), strftime('%s','now') + 3600, 3600)\"\n")
case(G, "no-state-output", ST, ["/.cairn/state.db: nothing has been applied yet", "no state at "], cmd="output -e dev")
case(G, "no-output-name", ST + "outputs:\n  o: {value: 1}\n", "no output 'nope' in environment 'dev'", cmd="output -e dev nope", setup=APPLY)
case(G, "sensitive-output", "variables:\n  s: {default: x, sensitive: true}\n" + ST + "outputs:\n  o: {value: \"${var.s}\"}\n",
     "output 'o' is sensitive: add --show-sensitive to print it", cmd="output -e dev o", setup=APPLY)
case(G, "sim-on-state", ST, ["/.cairn/state.db is cairn's state database, not a sim database; refusing to touch it", "cairn sim: "], rc=2,
     cmd="sim --listen 127.0.0.1:0 --db @DIR@/.cairn/state.db", setup=APPLY)
case(G, "sim-on-other-sqlite", ST, "other.db is not a cairn sim database (it has tables of its own and no application_id); refusing to touch it", rc=2,
     cmd="sim --listen 127.0.0.1:0 --db @DIR@/other.db", setup="sqlite3 other.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1)'\n")
case(G, "sim-on-text", ST, "notes.db is not a cairn sim database (not an SQLite database); refusing to touch it", rc=2,
     cmd="sim --listen 127.0.0.1:0 --db @DIR@/notes.db", setup="yes 'some notes' | head -c 3000 >notes.db\n")
case(G, "sim-on-directory", ST, "is not a cairn sim database (not a file); refusing to touch it", rc=2,
     cmd="sim --listen 127.0.0.1:0 --db @DIR@")

GROUPS = sorted({c["group"] for c in CASES})


def write(base):
    for g in GROUPS:
        shutil.rmtree(os.path.join(base, g), ignore_errors=True)
    for c in CASES:
        d = os.path.join(base, c["group"], c["name"])
        os.makedirs(d)
        with open(os.path.join(d, "stack.yaml"), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(c["stack"])
        with open(os.path.join(d, "dev.yaml"), "w") as f:
            f.write(c["overlay"])
        exp = c["expect"] if isinstance(c["expect"], list) else [c["expect"]]
        exp = sorted(exp, key=len, reverse=True)  # the runner wants line 2 specific
        with open(os.path.join(d, "expect"), "w") as f:
            f.write("exit %d\n" % c["rc"] + "".join(e.rstrip("\n") + "\n" for e in exp))
        for fn, key in (("cmd", "cmd"), ("setup", "setup"), ("env", "env")):
            if c[key]:
                with open(os.path.join(d, fn), "w") as f:
                    f.write(c[key] if c[key].endswith("\n") else c[key] + "\n")
        for fn, text in c["files"].items():
            with open(os.path.join(d, fn), "w") as f:
                f.write(text)


def show():
    """Run every generated case as badinput.sh does and print its stderr."""
    cairn = os.path.abspath(os.environ["CAIRN"])
    os.environ.setdefault("CAIRN_MODULES_PATH", os.path.join(HERE, "..", "..", "modules"))
    os.environ["CAIRN"] = cairn
    tmp = tempfile.mkdtemp(prefix="cairn-corpus-")
    write(tmp)
    for c in CASES:
        d = os.path.join(tmp, c["group"], c["name"])
        if c["setup"]:
            subprocess.run(["bash", "./setup"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cmd = (c["cmd"] or "validate -e dev").replace("@DIR@", d)
        args = subprocess.run(["bash", "-c", 'for a in %s; do printf "%%s\\0" "$a"; done' % cmd],
                              capture_output=True).stdout.decode().split("\0")[:-1]
        if "@DIR@" not in (c["cmd"] or ""):
            args += ["-C", d]
        env = dict(os.environ)
        for l in (c["env"] or "").splitlines():
            k, v = l.split("=", 1)
            env[k] = v.replace("@DIR@", d)
        p = subprocess.run([cairn] + args, cwd=tmp, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        err = p.stderr.decode(errors="replace").replace(d, "DIR")
        exp = c["expect"] if isinstance(c["expect"], list) else [c["expect"]]
        ok = p.returncode == c["rc"] and all(e.rstrip("\n") in p.stderr.decode(errors="replace") for e in exp)
        print("%s %s/%s: exit %d\n    %s" % ("ok  " if ok else "FAIL", c["group"], c["name"], p.returncode,
                                              err.strip().replace("\n", "\n    ")))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    if "--show" in sys.argv:
        show()
    else:
        write(HERE)
        print("%d cases in %s" % (len(CASES), ", ".join(GROUPS)))
