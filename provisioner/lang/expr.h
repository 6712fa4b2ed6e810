/*
 * expr.h - compiled configuration values and the ${...} expression language.
 *
 * Every value in a stack or overlay file is compiled into a cairn_expr tree:
 * a YAML mapping becomes a MAP node, a sequence a LIST node, a plain scalar a
 * CONST (YAML 1.2 core schema: null, true/false, integers, floats, else
 * string), a quoted scalar a CONST string, and a string containing "${"
 * a TEMPLATE (or, when the whole string is one "${expr}", that expression,
 * which keeps its type: "${var.count}" is a number). "$${" escapes a literal
 * "${". Each node keeps the file:line:col of the text it came from.
 *
 * Expression syntax inside ${ }:
 *   literals      1  2.5  "str" (with \n \t \" \\ escapes)  true false null
 *   references    var.name  env.name  count.index  each.key  each.value
 *                 res.attr  res[0].attr  res["key"].attr  res[*].attr (splat)
 *                 path.stack (directory of the stack file)
 *                 any value can be indexed: x[0]  x["k"]  x.k
 *   lists / maps  [a, b]   { key = v, "k2" = v2 }  (also key: v)
 *   operators     ! -(unary)  * / %  + -  < <= > >=  == !=  &&  ||  c ? a : b
 *                 (usual precedence; + is numeric only, strings join via
 *                 templates or format/join)
 *   calls         name(arg, ...)  from the function library (funcs.c)
 *
 * Identifiers may contain '-' (resource names do): write `a - 1`, not `a-1`.
 * Integer arithmetic stays integer (overflow is an error); `/` of integers
 * gives an integer when exact, else a real. In a template, integral reals
 * print without ".0", bools as true/false; null, lists and maps cannot be
 * interpolated (an error), and an unknown part makes the whole string
 * unknown. Functions that would make plans non-deterministic (uuid,
 * timestamp) exist only to say so.
 *
 * Evaluation resolves references against a json object (`root` in
 * cairn_eval_ctx) whose top-level keys are "var", "env", "count", "each",
 * "path" and the resource names. Traversal into an unknown value yields
 * unknown; any operator or function with an unknown operand yields unknown
 * (except where the result cannot depend on it). A traversal that hits a
 * missing key or index is an error at the reference's position naming the
 * reference ("unknown reference var.nme", "resource web has no attribute
 * 'idd'", "index 3 out of range for web (3 instances)").
 */
#ifndef CAIRN_EXPR_H
#define CAIRN_EXPR_H

#include "base/error.h"
#include "base/value.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cairn_expr cairn_expr;

typedef enum {
	CAIRN_EXPR_CONST,    /* literal value */
	CAIRN_EXPR_TEMPLATE, /* "a ${b} c" */
	CAIRN_EXPR_LIST,     /* YAML sequence or [..] */
	CAIRN_EXPR_MAP,      /* YAML mapping or {..} */
	CAIRN_EXPR_OTHER,    /* a reference, call, operator, ... */
} cairn_expr_kind;

/* Parse a string scalar's text as a template (handles "${", "$${").
 * `pos` is where the scalar starts (positions inside are computed from it
 * for single-line scalars). Errors are CAIRN_EINVAL with the position of the
 * offending character. */
int cairn_expr_parse_template(cairn_expr **out, const char *text, const cairn_pos *pos);
/* Same, saying whether columns inside `text` are exact (the scalar's text
 * in the file is the value itself, on one line): when false, every node
 * gets `pos`. cairn_expr_parse_template is this with exact = true. */
int cairn_expr_parse_template_ex(cairn_expr **out, const char *text, const cairn_pos *pos, bool exact);
/* Parse a bare expression (no ${ }), e.g. for a CLI --var or a test. */
int cairn_expr_parse(cairn_expr **out, const char *text, const cairn_pos *pos);
/* A CONST node holding (a new reference to) v. */
int cairn_expr_new_const(cairn_expr **out, json_t *v, const cairn_pos *pos);
/* An empty LIST or MAP node to be filled by the YAML loader. */
int cairn_expr_new_list(cairn_expr **out, const cairn_pos *pos);
int cairn_expr_new_map(cairn_expr **out, const cairn_pos *pos);
/* Append to a LIST / MAP node; takes ownership of item. A duplicate map key
 * is an error at key_pos ("duplicate key 'x' (first at line N)"). */
int cairn_expr_list_append(cairn_expr *list, cairn_expr *item);
int cairn_expr_map_set(cairn_expr *map, const char *key, const cairn_pos *key_pos, cairn_expr *value);
void cairn_expr_free(cairn_expr *e);
/* A deep copy of e (positions included). */
int cairn_expr_copy(cairn_expr **out, const cairn_expr *e);

cairn_expr_kind cairn_expr_kind_of(const cairn_expr *e);
const cairn_pos *cairn_expr_pos(const cairn_expr *e);
/* Where e's text starts: for an operator or a traversal, the position of
 * its leftmost token (cairn_expr_pos gives the operator / attribute). */
const cairn_pos *cairn_expr_start(const cairn_expr *e);
/* For a CONST node: the value (borrowed); NULL for any other kind. */
const json_t *cairn_expr_const(const cairn_expr *e);
/* LIST / MAP access (borrowed pointers, valid while e lives). */
size_t cairn_expr_size(const cairn_expr *e);
const cairn_expr *cairn_expr_item(const cairn_expr *e, size_t i);
const char *cairn_expr_key(const cairn_expr *e, size_t i, const cairn_pos **key_pos);
const cairn_expr *cairn_expr_get(const cairn_expr *e, const char *key);
/* Remove and return a map entry (caller owns it), NULL if absent. */
cairn_expr *cairn_expr_take(cairn_expr *map, const char *key);

/* Evaluation. `root` is borrowed. `base_dir` is where file() resolves
 * relative paths (the stack's directory). */
typedef struct cairn_eval_ctx {
	json_t *root;
	const char *base_dir;
	json_t *inputs;  /* optional: file() and fileexists() record here the
			  * files they looked at: absolute path -> fingerprint */
} cairn_eval_ctx;

/* Is a file the configuration read still as a saved plan fingerprinted it
 * ("sha256:HEX" of its content for file(), "exists" or "absent" for
 * fileexists())? 1 yes, 0 no (*now gets what it is). */
int cairn_file_unchanged(const char *path, const char *fingerprint, char *now, size_t nowlen);

/* Evaluate e to a new json_t reference in *out (may be, or contain, the
 * unknown marker). On error *out is untouched and the error names the
 * position inside the expression. */
int cairn_expr_eval(json_t **out, const cairn_expr *e, const cairn_eval_ctx *ctx);

/* A reference found in an expression: root name ("var", "each", a resource
 * name, ...), the first attribute name after it (skipping one index or
 * splat: `web[0].id` -> root "web", attr "id"; NULL if none), and where it
 * stands. */
typedef struct cairn_ref {
	const char *root;
	const char *attr;
	bool indexed;    /* root was followed by [..] or [*] */
	cairn_pos pos;
} cairn_ref;

/* Call cb for every reference in e (depth-first, in source order). cb
 * returning non-zero stops the walk and that value is returned. */
int cairn_expr_refs(const cairn_expr *e, int (*cb)(void *ud, const cairn_ref *ref), void *ud);

/* Check that every function e calls exists ("unknown function 'x' (did you
 * mean y()?)" at the call), so that typos show up when a file is loaded. */
int cairn_expr_check_funcs(const cairn_expr *e);

/* The function library (funcs.c). name -> function; used by the evaluator.
 * args are borrowed, none is unknown (the evaluator short-circuits those).
 * Returns 0 and a new reference in *out, or an error (without position; the
 * evaluator adds the call's position). */
typedef int (*cairn_func_fn)(json_t **out, json_t *const *args, size_t nargs, const cairn_eval_ctx *ctx);
cairn_func_fn cairn_func_lookup(const char *name);
/* NULL-terminated list of function names, for docs and error hints. */
const char *const *cairn_func_names(void);

#endif
