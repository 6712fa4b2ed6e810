/*
 * expr.c - the cairn_expr tree: construction, the ${...} parser (a
 * recursive-descent parser producing an AST), and the evaluator over json_t.
 *
 * Every node keeps the file:line:col of its text. Parsing works on one
 * scalar's text; when the scalar is a single line whose text in the file is
 * exactly the value (plain, or quoted without escapes), columns inside it
 * are exact, otherwise every node gets the scalar's start. See expr.h for
 * the language.
 */
#include "expr.h"
#include "expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200

typedef enum {
	N_CONST, N_TEMPLATE, N_LIST, N_MAP,
	N_REF,    /* name */
	N_ATTR,   /* items[0].name */
	N_INDEX,  /* items[0][items[1]] */
	N_SPLAT,  /* items[0][*] then items[1] applied to each (rooted at N_SELF) */
	N_SELF,   /* the element inside a splat */
	N_CALL,   /* name(items...) */
	N_UNARY,  /* oper items[0] */
	N_BINARY, /* items[0] ops[1] items[1] ops[2] items[2] ...: a chain of one
		   * precedence level, left-associative, kept flat so that a long
		   * sum is not a tree as deep as it is long (oper = ops[1]) */
	N_COND,   /* items[0] ? items[1] : items[2] */
} node_type;

enum {
	OP_LE = 256, OP_GE, OP_EQ, OP_NE, OP_AND, OP_OR, OP_TMPL_OPEN,
};

struct cairn_expr {
	node_type type;
	int oper;
	cairn_pos pos;
	json_t *value;       /* N_CONST */
	char *name;          /* N_REF, N_ATTR, N_CALL */
	cairn_expr **items;
	size_t n, alloc;
	char **keys;         /* N_MAP */
	cairn_pos *key_pos;
	json_t *index;       /* N_MAP: key -> position in items */
	int *ops;            /* N_BINARY: ops[i] joins items[i] to what precedes (i >= 1) */
	cairn_pos *ops_pos;  /* N_BINARY: where ops[i] stands */
};

/* ---- construction ---------------------------------------------------- */

static int node_new(cairn_expr **out, node_type type, const cairn_pos *pos)
{
	cairn_expr *e = calloc(1, sizeof(*e));

	if (!e)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	e->type = type;
	if (pos)
		e->pos = *pos;
	*out = e;
	return 0;
}

static int node_push(cairn_expr *e, cairn_expr *item)
{
	if (e->n == e->alloc) {
		size_t na = e->alloc ? e->alloc * 2 : 4;
		cairn_expr **ni = realloc(e->items, na * sizeof(*ni));

		if (!ni)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		e->items = ni;
		if (e->type == N_MAP) {
			char **nk = realloc(e->keys, na * sizeof(*nk));
			cairn_pos *np;

			if (!nk)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			e->keys = nk;
			np = realloc(e->key_pos, na * sizeof(*np));
			if (!np)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			e->key_pos = np;
		}
		if (e->type == N_BINARY) {
			int *no = realloc(e->ops, na * sizeof(*no));
			cairn_pos *np;

			if (!no)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			e->ops = no;
			np = realloc(e->ops_pos, na * sizeof(*np));
			if (!np)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			e->ops_pos = np;
		}
		e->alloc = na;
	}
	e->items[e->n++] = item;
	return 0;
}

void cairn_expr_free(cairn_expr *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++) {
		cairn_expr_free(e->items[i]);
		if (e->keys)
			free(e->keys[i]);
	}
	free(e->items);
	free(e->keys);
	free(e->key_pos);
	free(e->ops);
	free(e->ops_pos);
	json_decref(e->index);
	json_decref(e->value);
	free(e->name);
	free(e);
}

int cairn_expr_new_const(cairn_expr **out, json_t *v, const cairn_pos *pos)
{
	cairn_expr *e = NULL;
	int rc;

	if ((rc = node_new(&e, N_CONST, pos)) != 0)
		return rc;
	e->value = json_incref(v ? v : json_null());
	*out = e;
	return 0;
}

int cairn_expr_new_list(cairn_expr **out, const cairn_pos *pos)
{
	return node_new(out, N_LIST, pos);
}

int cairn_expr_new_map(cairn_expr **out, const cairn_pos *pos)
{
	cairn_expr *e = NULL;
	int rc;

	if ((rc = node_new(&e, N_MAP, pos)) != 0)
		return rc;
	if (!(e->index = json_object())) {
		free(e);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	*out = e;
	return 0;
}

int cairn_expr_list_append(cairn_expr *list, cairn_expr *item)
{
	int rc;

	if (!list || list->type != N_LIST) {
		cairn_expr_free(item);
		return cairn_error_set(CAIRN_ERROR, "not a list node");
	}
	if ((rc = node_push(list, item)) != 0)
		cairn_expr_free(item);
	return rc;
}

int cairn_expr_map_set(cairn_expr *map, const char *key, const cairn_pos *key_pos, cairn_expr *value)
{
	json_t *prev, *idx = NULL;
	char *k = NULL;
	int rc;

	if (!map || map->type != N_MAP) {
		cairn_expr_free(value);
		return cairn_error_set(CAIRN_ERROR, "not a map node");
	}
	if ((prev = json_object_get(map->index, key)) != NULL) {
		const cairn_pos *fp = &map->key_pos[json_integer_value(prev)];

		cairn_expr_free(value);
		return cairn_error_set_at(CAIRN_EINVAL, key_pos, "duplicate key '%s' (first at line %d)",
			key, fp->line);
	}
	if (!(k = strdup(key)) || !(idx = json_integer((json_int_t)map->n)) ||
	    json_object_set_new(map->index, key, idx) != 0) {
		free(k);
		cairn_expr_free(value);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if ((rc = node_push(map, value)) != 0) {
		json_object_del(map->index, key);
		free(k);
		cairn_expr_free(value);
		return rc;
	}
	map->keys[map->n - 1] = k;
	map->key_pos[map->n - 1] = key_pos ? *key_pos : value->pos;
	return 0;
}

int cairn_expr_copy(cairn_expr **out, const cairn_expr *e)
{
	cairn_expr *c = NULL, *item = NULL;
	size_t i;
	int rc;

	if ((rc = node_new(&c, e->type, &e->pos)) != 0)
		return rc;
	c->oper = e->oper;
	c->value = json_incref(e->value);
	if (e->name && !(c->name = strdup(e->name))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (e->type == N_MAP && !(c->index = json_object())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < e->n; i++) {
		if ((rc = cairn_expr_copy(&item, e->items[i])) != 0)
			goto cleanup;
		if (e->type == N_MAP)
			rc = cairn_expr_map_set(c, e->keys[i], &e->key_pos[i], item);
		else if ((rc = node_push(c, item)) != 0)
			cairn_expr_free(item);
		else if (e->type == N_BINARY) {
			c->ops[i] = e->ops[i];
			c->ops_pos[i] = e->ops_pos[i];
		}
		item = NULL;
		if (rc)
			goto cleanup;
	}
	*out = c;
	c = NULL;
cleanup:
	cairn_expr_free(c);
	return rc;
}

cairn_expr_kind cairn_expr_kind_of(const cairn_expr *e)
{
	switch (e->type) {
	case N_CONST: return CAIRN_EXPR_CONST;
	case N_TEMPLATE: return CAIRN_EXPR_TEMPLATE;
	case N_LIST: return CAIRN_EXPR_LIST;
	case N_MAP: return CAIRN_EXPR_MAP;
	default: return CAIRN_EXPR_OTHER;
	}
}

const cairn_pos *cairn_expr_pos(const cairn_expr *e)
{
	return &e->pos;
}

const json_t *cairn_expr_const(const cairn_expr *e)
{
	return e && e->type == N_CONST ? e->value : NULL;
}

size_t cairn_expr_size(const cairn_expr *e)
{
	return e && (e->type == N_LIST || e->type == N_MAP) ? e->n : 0;
}

const cairn_expr *cairn_expr_item(const cairn_expr *e, size_t i)
{
	return e && (e->type == N_LIST || e->type == N_MAP) && i < e->n ? e->items[i] : NULL;
}

const char *cairn_expr_key(const cairn_expr *e, size_t i, const cairn_pos **key_pos)
{
	if (!e || e->type != N_MAP || i >= e->n)
		return NULL;
	if (key_pos)
		*key_pos = &e->key_pos[i];
	return e->keys[i];
}

const cairn_expr *cairn_expr_get(const cairn_expr *e, const char *key)
{
	json_t *idx;

	if (!e || e->type != N_MAP || !(idx = json_object_get(e->index, key)))
		return NULL;
	return e->items[json_integer_value(idx)];
}

cairn_expr *cairn_expr_take(cairn_expr *map, const char *key)
{
	json_t *idx;
	cairn_expr *v;
	size_t i, at;

	if (!map || map->type != N_MAP || !(idx = json_object_get(map->index, key)))
		return NULL;
	at = (size_t)json_integer_value(idx);
	v = map->items[at];
	free(map->keys[at]);
	json_object_del(map->index, key);
	for (i = at; i + 1 < map->n; i++) {
		map->items[i] = map->items[i + 1];
		map->keys[i] = map->keys[i + 1];
		map->key_pos[i] = map->key_pos[i + 1];
		json_object_set_new(map->index, map->keys[i], json_integer((json_int_t)i));
	}
	map->n--;
	return v;
}

/* ---- small helpers --------------------------------------------------- */

size_t cairn_expr__utf8_len(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

size_t cairn_expr__distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[65][65];

	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	/* optimal string alignment: edits plus adjacent transpositions */
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb] > cap ? cap + 1 : d[la][lb];
}

static size_t close_cap(const char *word)
{
	size_t l = strlen(word);

	return l <= 3 ? 1 : (l <= 6 ? 2 : 3);
}

const char *cairn_expr__closest_key(const json_t *obj, const char *word)
{
	const char *k, *best = NULL;
	size_t bd = (size_t)-1, d, cap = close_cap(word);
	json_t *x;

	if (!obj || !json_is_object(obj))
		return NULL;
	json_object_foreach((json_t *)obj, k, x) {
		if (!strcmp(k, word) || (d = cairn_expr__distance(word, k, cap)) > cap)
			continue;
		if (d < bd) {
			bd = d;
			best = k;
		}
	}
	return best;
}

bool cairn_expr__close(const char *word, const char *cand)
{
	size_t cap = close_cap(word);

	return strcmp(word, cand) != 0 && cairn_expr__distance(word, cand, cap) <= cap;
}

int cairn_expr__append_number(cairn_buf *b, const json_t *v)
{
	double d, back;
	char tmp[64];

	if (json_is_integer(v))
		return cairn_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	d = json_real_value(v);
	if (d == floor(d) && fabs(d) < 1e15)
		return cairn_buf_printf(b, "%.0f", d == 0 ? 0.0 : d);
	snprintf(tmp, sizeof(tmp), "%.15g", d);
	back = strtod(tmp, NULL);
	if (back != d)
		snprintf(tmp, sizeof(tmp), "%.17g", d);
	return cairn_buf_puts(b, tmp);
}

int cairn_expr__append_str(cairn_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return cairn_buf_put(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
	case JSON_REAL:
		return cairn_expr__append_number(b, v);
	case JSON_TRUE:
		return cairn_buf_puts(b, "true");
	case JSON_FALSE:
		return cairn_buf_puts(b, "false");
	case JSON_NULL:
		return cairn_error_set(CAIRN_EINVAL, "cannot interpolate null");
	case JSON_ARRAY:
		return cairn_error_set(CAIRN_EINVAL, "cannot interpolate a list");
	default:
		return cairn_error_set(CAIRN_EINVAL, "cannot interpolate a map");
	}
}

/* ---- tokenizer ------------------------------------------------------- */

typedef enum { T_EOF, T_NUM, T_STR, T_IDENT, T_PUNCT } tok_kind;

typedef struct {
	tok_kind kind;
	int op;          /* T_PUNCT */
	size_t start;    /* offset in text */
	json_t *val;     /* T_NUM, T_STR */
	char *ident;     /* T_IDENT */
} token;

typedef struct {
	const char *text;
	size_t len;
	size_t off;          /* scan offset (after the current token) */
	cairn_pos base;
	bool exact;
	token tok;
	int depth;
	bool in_template;
	size_t tmpl_open;    /* offset of the "${" being parsed */
	size_t col_off;      /* the last offset pos_at converted ... */
	size_t col_chars;    /* ... and the code points before it */
} parser;

/* The position of text[off]. Columns count code points; they are counted
 * from the offset asked for last (forwards or backwards), not from the
 * start, so that a long scalar is not counted again for every node: the
 * offsets asked for move through the text with the parser, and a step back
 * (an operator's position, asked for after its right operand is parsed) is
 * the length of that operand. */
static void pos_at(cairn_pos *out, parser *p, size_t off)
{
	*out = p->base;
	if (!p->exact || p->base.col <= 0)
		return;
	if (off >= p->col_off)
		p->col_chars += cairn_expr__utf8_len(p->text + p->col_off, off - p->col_off);
	else
		p->col_chars -= cairn_expr__utf8_len(p->text + off, p->col_off - off);
	p->col_off = off;
	out->col = p->base.col + (int)p->col_chars;
}

static int perr(parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(parser *p, size_t off, const char *fmt, ...)
{
	cairn_pos pos;
	va_list ap;

	pos_at(&pos, p, off);
	va_start(ap, fmt);
	cairn_error_vset_at(CAIRN_EINVAL, &pos, fmt, ap);
	va_end(ap);
	return CAIRN_EINVAL;
}

static void tok_clear(token *t)
{
	json_decref(t->val);
	free(t->ident);
	t->val = NULL;
	t->ident = NULL;
}

static int is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static int lex_number(parser *p, token *t)
{
	const char *s = p->text + p->off, *q = s;
	bool real = false;
	char *end;

	while (*q >= '0' && *q <= '9')
		q++;
	if (*q == '.' && q[1] >= '0' && q[1] <= '9') {
		real = true;
		q++;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if ((*q == 'e' || *q == 'E') &&
	    ((q[1] >= '0' && q[1] <= '9') || ((q[1] == '+' || q[1] == '-') && q[2] >= '0' && q[2] <= '9'))) {
		real = true;
		q += 2;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (is_ident_start(*q))
		return perr(p, (size_t)(q - p->text), "invalid number");
	errno = 0;
	if (real) {
		double d = strtod(s, &end);

		if (errno || !isfinite(d))
			return perr(p, p->off, "number out of range");
		t->val = json_real(d);
	} else {
		long long v = strtoll(s, &end, 10);

		if (errno == ERANGE)
			return perr(p, p->off, "integer out of range");
		t->val = json_integer(v);
	}
	if (!t->val)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	t->kind = T_NUM;
	p->off = (size_t)(q - p->text);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int lex_string(parser *p, token *t)
{
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i = p->off + 1;
	int rc = 0;

	cairn_buf_init(&b, 0);
	for (;;) {
		char c = i < p->len ? p->text[i] : '\0';

		if (c == '\0' || c == '\n') {
			rc = perr(p, p->off, "unterminated string");
			goto cleanup;
		}
		if (c == '"')
			break;
		if (c == '\\') {
			char e = i + 1 < p->len ? p->text[i + 1] : '\0';
			char out = 0;

			switch (e) {
			case 'n': out = '\n'; break;
			case 't': out = '\t'; break;
			case 'r': out = '\r'; break;
			case '"': out = '"'; break;
			case '\\': out = '\\'; break;
			case 'u': {
				unsigned cp = 0;
				int k, h;
				char u[4];
				size_t ul;

				for (k = 0; k < 4; k++) {
					if (i + 2 + k >= p->len || (h = hexval(p->text[i + 2 + k])) < 0) {
						rc = perr(p, i, "invalid \\u escape (expected 4 hex digits)");
						goto cleanup;
					}
					cp = cp * 16 + (unsigned)h;
				}
				if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
					rc = perr(p, i, "invalid \\u escape");
					goto cleanup;
				}
				if (cp < 0x80) { u[0] = (char)cp; ul = 1; }
				else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); ul = 2; }
				else { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
				       u[2] = (char)(0x80 | (cp & 0x3F)); ul = 3; }
				if ((rc = cairn_buf_put(&b, u, ul)) != 0)
					goto cleanup;
				i += 6;
				continue;
			}
			default:
				rc = perr(p, i, "invalid escape sequence '\\%c' in string", e ? e : ' ');
				goto cleanup;
			}
			if ((rc = cairn_buf_putc(&b, out)) != 0)
				goto cleanup;
			i += 2;
			continue;
		}
		if ((rc = cairn_buf_putc(&b, c)) != 0)
			goto cleanup;
		i++;
	}
	t->val = json_stringn(cairn_buf_cstr(&b), b.len);
	if (!t->val) {
		rc = perr(p, p->off, "string is not valid UTF-8");
		goto cleanup;
	}
	t->kind = T_STR;
	p->off = i + 1;
cleanup:
	cairn_buf_release(&b);
	return rc;
}

/* Read the next token into p->tok. */
static int lex(parser *p)
{
	token *t = &p->tok;
	const char *s;
	char c;

	tok_clear(t);
	while (p->off < p->len && (p->text[p->off] == ' ' || p->text[p->off] == '\t' ||
	       p->text[p->off] == '\n' || p->text[p->off] == '\r'))
		p->off++;
	t->start = p->off;
	if (p->off >= p->len) {
		t->kind = T_EOF;
		return 0;
	}
	s = p->text + p->off;
	c = *s;
	if (c >= '0' && c <= '9')
		return lex_number(p, t);
	if (c == '"')
		return lex_string(p, t);
	if (is_ident_start((unsigned char)c)) {
		size_t n = 1;

		while (p->off + n < p->len && is_ident_char((unsigned char)s[n]))
			n++;
		/* a trailing '-' belongs to the next token (a-1 is not an identifier) */
		while (n > 1 && s[n - 1] == '-')
			n--;
		if (!(t->ident = strndup(s, n)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		t->kind = T_IDENT;
		p->off += n;
		return 0;
	}
	t->kind = T_PUNCT;
	p->off++;
#define TWO(a, b, code) if (c == (a) && p->off < p->len && p->text[p->off] == (b)) { p->off++; t->op = (code); return 0; }
	TWO('<', '=', OP_LE)
	TWO('>', '=', OP_GE)
	TWO('=', '=', OP_EQ)
	TWO('!', '=', OP_NE)
	TWO('&', '&', OP_AND)
	TWO('|', '|', OP_OR)
#undef TWO
	if (strchr("+-*/%!<>?:()[]{},.=", c)) {
		t->op = c;
		return 0;
	}
	p->off--;
	if ((unsigned char)c >= 0x80)
		return perr(p, p->off, "unexpected character");
	return perr(p, p->off, "unexpected character '%c'", c);
}

static const char *op_text(int op)
{
	static char one[2];

	switch (op) {
	case OP_LE: return "<=";
	case OP_GE: return ">=";
	case OP_EQ: return "==";
	case OP_NE: return "!=";
	case OP_AND: return "&&";
	case OP_OR: return "||";
	default: one[0] = (char)op; one[1] = 0; return one;
	}
}

static bool is_op(const parser *p, int op)
{
	return p->tok.kind == T_PUNCT && p->tok.op == op;
}

/* An error about the current token: "expected X" plus what was found, or
 * the unclosed "${" when the text ran out inside a template. */
static int expected(parser *p, const char *what)
{
	const token *t = &p->tok;

	if (t->kind == T_EOF && p->in_template)
		return perr(p, p->tmpl_open, "unclosed '${' (%s)", what);
	if (t->kind == T_EOF)
		return perr(p, t->start, "%s, found end of expression", what);
	if (t->kind == T_PUNCT)
		return perr(p, t->start, "%s, found '%s'", what, op_text(t->op));
	if (t->kind == T_IDENT)
		return perr(p, t->start, "%s, found '%s'", what, t->ident);
	if (t->kind == T_STR)
		return perr(p, t->start, "%s, found a string", what);
	return perr(p, t->start, "%s, found a number", what);
}

static int expect_op(parser *p, int op, const char *what)
{
	if (!is_op(p, op))
		return expected(p, what);
	return lex(p);
}

static int parse_expr(cairn_expr **out, parser *p);

static int mk(cairn_expr **out, node_type type, parser *p, size_t off)
{
	cairn_pos pos;

	pos_at(&pos, p, off);
	return node_new(out, type, &pos);
}

static int mk_op(cairn_expr **out, node_type type, int oper, size_t off, parser *p,
	cairn_expr *a, cairn_expr *b)
{
	cairn_expr *e = NULL;
	int rc;

	if ((rc = mk(&e, type, p, off)) != 0 || (rc = node_push(e, a)) != 0) {
		cairn_expr_free(a);
		cairn_expr_free(b);
		free(e);
		return rc;
	}
	e->oper = oper;
	if (b && (rc = node_push(e, b)) != 0) {
		cairn_expr_free(b);
		cairn_expr_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static int parse_list(cairn_expr **out, parser *p)
{
	cairn_expr *list = NULL, *item = NULL;
	int rc;

	if ((rc = mk(&list, N_LIST, p, p->tok.start)) != 0 || (rc = lex(p)) != 0)
		goto cleanup;
	while (!is_op(p, ']')) {
		if ((rc = parse_expr(&item, p)) != 0)
			goto cleanup;
		if ((rc = node_push(list, item)) != 0) {
			cairn_expr_free(item);
			goto cleanup;
		}
		if (is_op(p, ','))
			rc = lex(p);
		else if (!is_op(p, ']'))
			rc = expected(p, "expected ',' or ']' in list");
		if (rc)
			goto cleanup;
	}
	if ((rc = lex(p)) != 0)
		goto cleanup;
	*out = list;
	list = NULL;
cleanup:
	cairn_expr_free(list);
	return rc;
}

static int parse_map(cairn_expr **out, parser *p)
{
	cairn_expr *map = NULL, *val = NULL;
	cairn_pos kpos, mpos;
	char *key = NULL;
	int rc;

	pos_at(&mpos, p, p->tok.start);
	if ((rc = cairn_expr_new_map(&map, &mpos)) != 0 || (rc = lex(p)) != 0)
		goto cleanup;
	while (!is_op(p, '}')) {
		pos_at(&kpos, p, p->tok.start);
		if (p->tok.kind == T_IDENT) {
			key = p->tok.ident;
			p->tok.ident = NULL;
		} else if (p->tok.kind == T_STR) {
			if (!(key = strdup(json_string_value(p->tok.val)))) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
		} else {
			rc = expected(p, "expected a key (a name or a string) in map");
			goto cleanup;
		}
		if ((rc = lex(p)) != 0)
			goto cleanup;
		if (!is_op(p, '=') && !is_op(p, ':')) {
			rc = expected(p, "expected '=' or ':' after map key");
			goto cleanup;
		}
		if ((rc = lex(p)) != 0 || (rc = parse_expr(&val, p)) != 0)
			goto cleanup;
		rc = cairn_expr_map_set(map, key, &kpos, val);
		val = NULL;
		free(key);
		key = NULL;
		if (rc)
			goto cleanup;
		if (is_op(p, ','))
			rc = lex(p);
		else if (!is_op(p, '}'))
			rc = expected(p, "expected ',' or '}' in map");
		if (rc)
			goto cleanup;
	}
	if ((rc = lex(p)) != 0)
		goto cleanup;
	*out = map;
	map = NULL;
cleanup:
	free(key);
	cairn_expr_free(map);
	return rc;
}

static int parse_call(cairn_expr **out, parser *p, char *name, size_t start)
{
	cairn_expr *call = NULL, *arg = NULL;
	int rc;

	if ((rc = mk(&call, N_CALL, p, start)) != 0) {
		free(name);
		return rc;
	}
	call->name = name;
	if ((rc = lex(p)) != 0)
		goto cleanup;
	while (!is_op(p, ')')) {
		if ((rc = parse_expr(&arg, p)) != 0)
			goto cleanup;
		if ((rc = node_push(call, arg)) != 0) {
			cairn_expr_free(arg);
			goto cleanup;
		}
		if (is_op(p, ','))
			rc = lex(p);
		else if (!is_op(p, ')'))
			rc = expected(p, "expected ')' after arguments");
		if (rc)
			goto cleanup;
	}
	if ((rc = lex(p)) != 0)
		goto cleanup;
	*out = call;
	call = NULL;
cleanup:
	cairn_expr_free(call);
	return rc;
}

static int parse_primary(cairn_expr **out, parser *p)
{
	token *t = &p->tok;
	size_t start = t->start;
	cairn_pos pos;
	int rc;

	pos_at(&pos, p, start);
	if (t->kind == T_NUM || t->kind == T_STR) {
		if ((rc = cairn_expr_new_const(out, t->val, &pos)) != 0)
			return rc;
		goto next;
	}
	if (t->kind == T_IDENT) {
		char *name = t->ident;

		if (!strcmp(name, "true") || !strcmp(name, "false") || !strcmp(name, "null")) {
			json_t *v = name[0] == 't' ? json_true() : name[0] == 'f' ? json_false() : json_null();

			rc = cairn_expr_new_const(out, v, &pos);
			json_decref(v);
			if (rc)
				return rc;
			goto next;
		}
		t->ident = NULL;
		if ((rc = lex(p)) != 0) {
			free(name);
			return rc;
		}
		if (is_op(p, '('))
			return parse_call(out, p, name, start);
		if ((rc = node_new(out, N_REF, &pos)) != 0) {
			free(name);
			return rc;
		}
		(*out)->name = name;
		return 0;
	}
	if (is_op(p, '(')) {
		if ((rc = lex(p)) != 0 || (rc = parse_expr(out, p)) != 0)
			return rc;
		if ((rc = expect_op(p, ')', "expected ')'")) != 0) {
			cairn_expr_free(*out);
			return rc;
		}
		return 0;
	}
	if (is_op(p, '['))
		return parse_list(out, p);
	if (is_op(p, '{'))
		return parse_map(out, p);
	return expected(p, "expected an expression");
next:
	if ((rc = lex(p)) != 0) {
		cairn_expr_free(*out);
		*out = NULL;
	}
	return rc;
}

/* One traversal step after `obj` (.name, [expr], [*]); *done when none. */
static int parse_step(cairn_expr **obj, parser *p, bool in_splat, bool *done)
{
	cairn_expr *e = NULL, *idx = NULL;
	size_t start = p->tok.start;
	int rc;

	*done = false;
	if (is_op(p, '.')) {
		if ((rc = lex(p)) != 0)
			return rc;
		if (p->tok.kind == T_NUM && json_is_integer(p->tok.val)) {
			cairn_pos ipos;

			pos_at(&ipos, p, p->tok.start);
			if ((rc = cairn_expr_new_const(&idx, p->tok.val, &ipos)) != 0)
				return rc;
			if ((rc = lex(p)) != 0) {
				cairn_expr_free(idx);
				return rc;
			}
			rc = mk_op(&e, N_INDEX, 0, start, p, *obj, idx);
			*obj = rc ? NULL : e;
			return rc;
		}
		if (p->tok.kind != T_IDENT)
			return expected(p, "expected an attribute name after '.'");
		if ((rc = mk_op(&e, N_ATTR, 0, p->tok.start, p, *obj, NULL)) != 0) {
			*obj = NULL;
			return rc;
		}
		*obj = e;
		e->name = p->tok.ident;
		p->tok.ident = NULL;
		return lex(p);
	}
	if (is_op(p, '[')) {
		if ((rc = lex(p)) != 0)
			return rc;
		if (is_op(p, '*')) {
			cairn_expr *self = NULL, *chain;
			bool d = false;

			if (in_splat)
				return perr(p, p->tok.start, "nested splat '[*]' is not supported");
			if ((rc = lex(p)) != 0 || (rc = expect_op(p, ']', "expected ']' after '[*'")) != 0)
				return rc;
			if ((rc = mk(&self, N_SELF, p, start)) != 0)
				return rc;
			chain = self;
			while (!d) {
				if ((rc = parse_step(&chain, p, true, &d)) != 0) {
					cairn_expr_free(chain);
					return rc;
				}
			}
			rc = mk_op(&e, N_SPLAT, 0, start, p, *obj, chain);
			*obj = rc ? NULL : e;
			return rc;
		}
		if ((rc = parse_expr(&idx, p)) != 0)
			return rc;
		if ((rc = expect_op(p, ']', "expected ']' after index")) != 0) {
			cairn_expr_free(idx);
			return rc;
		}
		rc = mk_op(&e, N_INDEX, 0, start, p, *obj, idx);
		*obj = rc ? NULL : e;
		return rc;
	}
	*done = true;
	return 0;
}

static int parse_postfix(cairn_expr **out, parser *p)
{
	cairn_expr *e = NULL;
	bool done = false;
	int rc;

	if ((rc = parse_primary(&e, p)) != 0)
		return rc;
	while (!done) {
		if ((rc = parse_step(&e, p, false, &done)) != 0) {
			cairn_expr_free(e);
			return rc;
		}
	}
	*out = e;
	return 0;
}

static int parse_unary(cairn_expr **out, parser *p)
{
	cairn_expr *a = NULL;
	size_t start = p->tok.start;
	int op, rc;

	if (is_op(p, '!') || is_op(p, '-')) {
		op = p->tok.op;
		if (++p->depth > MAX_DEPTH)
			return perr(p, start, "expression nested too deeply");
		if ((rc = lex(p)) != 0 || (rc = parse_unary(&a, p)) != 0)
			return rc;
		p->depth--;
		/* fold -<number literal> */
		if (op == '-' && a->type == N_CONST && json_is_number(a->value)) {
			json_t *v = json_is_integer(a->value) && json_integer_value(a->value) != INT64_MIN ?
				json_integer(-json_integer_value(a->value)) : json_real(-json_number_value(a->value));

			json_decref(a->value);
			a->value = v;
			pos_at(&a->pos, p, start);
			*out = a;
			return v ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		return mk_op(out, N_UNARY, op, start, p, a, NULL);
	}
	return parse_postfix(out, p);
}

/* Binary levels, lowest precedence first. */
static const int levels[][5] = {
	{ OP_OR, 0 },
	{ OP_AND, 0 },
	{ OP_EQ, OP_NE, 0 },
	{ '<', OP_LE, '>', OP_GE, 0 },
	{ '+', '-', 0 },
	{ '*', '/', '%', 0 },
};
#define NLEVELS (sizeof(levels) / sizeof(levels[0]))

static int level_op(const parser *p, size_t level)
{
	const int *ops = levels[level];

	if (p->tok.kind != T_PUNCT)
		return 0;
	for (; *ops; ops++)
		if (p->tok.op == *ops)
			return *ops;
	return 0;
}

static int parse_binary(cairn_expr **out, parser *p, size_t level)
{
	cairn_expr *a = NULL, *b = NULL, *chain = NULL;
	int op, rc;

	if (level == NLEVELS)
		return parse_unary(out, p);
	if ((rc = parse_binary(&a, p, level + 1)) != 0)
		return rc;
	while ((op = level_op(p, level)) != 0) {
		size_t at = p->tok.start;
		cairn_pos opos;

		pos_at(&opos, p, at);
		if (!chain) {
			if ((rc = node_new(&chain, N_BINARY, &opos)) != 0 || (rc = node_push(chain, a)) != 0)
				goto fail;
			a = NULL;
			chain->oper = op;
			chain->ops[0] = 0;
			chain->ops_pos[0] = opos;
		}
		if ((rc = lex(p)) != 0 || (rc = parse_binary(&b, p, level + 1)) != 0)
			goto fail;
		if ((rc = node_push(chain, b)) != 0)
			goto fail;
		b = NULL;
		chain->ops[chain->n - 1] = op;
		chain->ops_pos[chain->n - 1] = opos;
	}
	*out = chain ? chain : a;
	return 0;
fail:
	cairn_expr_free(a);
	cairn_expr_free(b);
	cairn_expr_free(chain);
	return rc;
}

static int parse_expr(cairn_expr **out, parser *p)
{
	cairn_expr *c = NULL, *a = NULL, *b = NULL, *e = NULL;
	size_t at;
	int rc;

	if (++p->depth > MAX_DEPTH)
		return perr(p, p->tok.start, "expression nested too deeply");
	if ((rc = parse_binary(&c, p, 0)) != 0)
		return rc;
	if (is_op(p, '?')) {
		at = p->tok.start;
		if ((rc = lex(p)) != 0 || (rc = parse_expr(&a, p)) != 0)
			goto fail;
		if ((rc = expect_op(p, ':', "expected ':' in conditional")) != 0 ||
		    (rc = parse_expr(&b, p)) != 0)
			goto fail;
		if ((rc = mk_op(&e, N_COND, 0, at, p, c, a)) != 0) {
			c = a = NULL;
			goto fail;
		}
		c = a = NULL;
		if ((rc = node_push(e, b)) != 0)
			goto fail;
		b = NULL;
		e->pos = e->items[0]->pos;
		c = e;
		e = NULL;
	}
	p->depth--;
	*out = c;
	return 0;
fail:
	cairn_expr_free(c);
	cairn_expr_free(a);
	cairn_expr_free(b);
	cairn_expr_free(e);
	return rc;
}

static void parser_init(parser *p, const char *text, const cairn_pos *pos, bool exact)
{
	memset(p, 0, sizeof(*p));
	p->text = text;
	p->len = strlen(text);
	if (pos)
		p->base = *pos;
	p->exact = exact;
}

int cairn_expr_parse(cairn_expr **out, const char *text, const cairn_pos *pos)
{
	parser p;
	cairn_expr *e = NULL;
	int rc;

	parser_init(&p, text, pos, strchr(text, '\n') == NULL);
	if ((rc = lex(&p)) != 0 || (rc = parse_expr(&e, &p)) != 0)
		goto cleanup;
	if (p.tok.kind != T_EOF) {
		rc = expected(&p, "expected end of expression");
		goto cleanup;
	}
	*out = e;
	e = NULL;
cleanup:
	tok_clear(&p.tok);
	cairn_expr_free(e);
	return rc;
}

/* Append literal text [from, to) to the template's pending literal. */
static int tmpl_literal(cairn_buf *lit, const char *s, size_t n)
{
	return cairn_buf_put(lit, s, n);
}

static int tmpl_flush(cairn_expr *t, cairn_buf *lit, parser *p, size_t lit_start)
{
	cairn_expr *c = NULL;
	json_t *s;
	cairn_pos pos;
	int rc;

	if (lit->len == 0)
		return 0;
	if (!(s = json_stringn(cairn_buf_cstr(lit), lit->len)))
		return perr(p, lit_start, "text is not valid UTF-8");
	pos_at(&pos, p, lit_start);
	rc = cairn_expr_new_const(&c, s, &pos);
	json_decref(s);
	if (rc)
		return rc;
	cairn_buf_clear(lit);
	if ((rc = node_push(t, c)) != 0)
		cairn_expr_free(c);
	return rc;
}

int cairn_expr_parse_template_ex(cairn_expr **out, const char *text, const cairn_pos *pos, bool exact)
{
	parser p;
	cairn_expr *t = NULL, *e = NULL;
	cairn_buf lit = CAIRN_BUF_INIT;
	size_t i = 0, lit_start = 0, len;
	int rc;

	parser_init(&p, text, pos, exact && strchr(text, '\n') == NULL);
	len = p.len;
	cairn_buf_init(&lit, 0);
	if ((rc = node_new(&t, N_TEMPLATE, pos)) != 0)
		goto cleanup;
	while (i < len) {
		if (text[i] == '$' && text[i + 1] == '$' && text[i + 2] == '{') {
			if (lit.len == 0)
				lit_start = i;
			if ((rc = tmpl_literal(&lit, "${", 2)) != 0)
				goto cleanup;
			i += 3;
			continue;
		}
		if (text[i] == '$' && text[i + 1] == '{') {
			if ((rc = tmpl_flush(t, &lit, &p, lit_start)) != 0)
				goto cleanup;
			p.in_template = true;
			p.tmpl_open = i;
			p.off = i + 2;
			p.depth = 0;
			if ((rc = lex(&p)) != 0)
				goto cleanup;
			if (is_op(&p, '}')) {
				rc = perr(&p, i, "empty '${}'");
				goto cleanup;
			}
			if ((rc = parse_expr(&e, &p)) != 0)
				goto cleanup;
			if (!is_op(&p, '}')) {
				rc = expected(&p, "expected '}' to close '${'");
				goto cleanup;
			}
			if ((rc = node_push(t, e)) != 0)
				goto cleanup;
			e = NULL;
			i = p.off;
			tok_clear(&p.tok);
			p.in_template = false;
			continue;
		}
		if (lit.len == 0)
			lit_start = i;
		if ((rc = tmpl_literal(&lit, text + i, 1)) != 0)
			goto cleanup;
		i++;
	}
	if ((rc = tmpl_flush(t, &lit, &p, lit_start)) != 0)
		goto cleanup;
	if (t->n == 1) {
		/* "${x}" alone keeps x's type; a lone literal is a string */
		*out = t->items[0];
		t->n = 0;
	} else if (t->n == 0) {
		json_t *s = json_string("");

		rc = cairn_expr_new_const(out, s, pos);
		json_decref(s);
	} else {
		*out = t;
		t = NULL;
	}
cleanup:
	tok_clear(&p.tok);
	cairn_buf_release(&lit);
	cairn_expr_free(e);
	cairn_expr_free(t);
	return rc;
}

int cairn_expr_parse_template(cairn_expr **out, const char *text, const cairn_pos *pos)
{
	return cairn_expr_parse_template_ex(out, text, pos, true);
}

/* ---- references ------------------------------------------------------ */

static bool is_trav(const cairn_expr *e)
{
	return e->type == N_ATTR || e->type == N_INDEX || e->type == N_SPLAT;
}

/* The N_REF at the bottom of a traversal chain, or NULL. */
static const cairn_expr *chain_root(const cairn_expr *e, const cairn_expr **first)
{
	*first = NULL;
	while (is_trav(e)) {
		*first = e;
		e = e->items[0];
	}
	return e->type == N_REF ? e : NULL;
}

/* The node directly above `child` in the chain that ends at `top`. */
static const cairn_expr *chain_parent(const cairn_expr *top, const cairn_expr *child)
{
	while (is_trav(top) && top->items[0] != child)
		top = top->items[0];
	return is_trav(top) ? top : NULL;
}

static int walk_refs(const cairn_expr *e, bool in_chain, int (*cb)(void *, const cairn_ref *), void *ud)
{
	size_t i;
	int rc;

	if (is_trav(e) && !in_chain) {
		const cairn_expr *first, *root = chain_root(e, &first);

		if (root) {
			cairn_ref r = { root->name, NULL, false, root->pos };

			if (first->type == N_ATTR) {
				r.attr = first->name;
			} else {
				const cairn_expr *next;

				r.indexed = true;
				if (first->type == N_SPLAT) {
					const cairn_expr *f2;

					if (chain_root(first->items[1], &f2) == NULL && f2 && f2->type == N_ATTR &&
					    f2->items[0]->type == N_SELF)
						r.attr = f2->name;
				} else if ((next = chain_parent(e, first)) != NULL && next->type == N_ATTR) {
					r.attr = next->name;
				}
			}
			if ((rc = cb(ud, &r)) != 0)
				return rc;
		}
	}
	if (e->type == N_REF && !in_chain) {
		cairn_ref r = { e->name, NULL, false, e->pos };

		return cb(ud, &r);
	}
	for (i = 0; i < e->n; i++) {
		bool chained = is_trav(e) && i == 0;

		if ((rc = walk_refs(e->items[i], chained, cb, ud)) != 0)
			return rc;
	}
	return 0;
}

static int unknown_function(const cairn_expr *e);

int cairn_expr_check_funcs(const cairn_expr *e)
{
	size_t i;
	int rc;

	if (!e)
		return 0;
	if (e->type == N_CALL && !cairn_func_lookup(e->name))
		return unknown_function(e);
	for (i = 0; i < e->n; i++)
		if ((rc = cairn_expr_check_funcs(e->items[i])) != 0)
			return rc;
	return 0;
}

int cairn_expr_refs(const cairn_expr *e, int (*cb)(void *ud, const cairn_ref *ref), void *ud)
{
	return e ? walk_refs(e, false, cb, ud) : 0;
}

/* ---- evaluation ------------------------------------------------------ */

/* Where an expression's text starts (operators and traversals keep the
 * position of their operator / attribute for their own errors). */
const cairn_pos *cairn_expr_start(const cairn_expr *e)
{
	while ((is_trav(e) || e->type == N_BINARY || e->type == N_COND) && e->items[0]->type != N_SELF)
		e = e->items[0];
	return &e->pos;
}

#define start_pos cairn_expr_start

typedef struct {
	const cairn_eval_ctx *ctx;
	json_t *self;  /* the current splat element */
	const cairn_expr *splat_src; /* what the current splat walks */
	int depth;
} evalst;

static int eval(json_t **out, const cairn_expr *e, evalst *st);

static bool special_root(const char *name)
{
	return !strcmp(name, "var") || !strcmp(name, "env") || !strcmp(name, "count") ||
	       !strcmp(name, "each") || !strcmp(name, "path");
}

/* Render a traversal for messages: var.x, web[0].id, web[*].id. */
static void render(cairn_buf *b, const cairn_expr *e)
{
	switch (e->type) {
	case N_REF:
		cairn_buf_puts(b, e->name);
		break;
	case N_SELF:
		break;
	case N_ATTR:
		render(b, e->items[0]);
		cairn_buf_printf(b, ".%s", e->name);
		break;
	case N_INDEX:
		render(b, e->items[0]);
		if (e->items[1]->type == N_CONST) {
			char *s = json_dumps(e->items[1]->value, JSON_ENCODE_ANY);

			cairn_buf_printf(b, "[%s]", s ? s : "?");
			free(s);
		} else {
			cairn_buf_puts(b, "[...]");
		}
		break;
	case N_SPLAT:
		render(b, e->items[0]);
		cairn_buf_puts(b, "[*]");
		render(b, e->items[1]);
		break;
	default:
		cairn_buf_puts(b, "(expression)");
	}
}

static const char *a_type(const json_t *v)
{
	const char *t = cairn_value_type_name(v);

	if (!strcmp(t, "null"))
		return "null";
	if (!strcmp(t, "list") || !strcmp(t, "map") || !strcmp(t, "bool") || !strcmp(t, "number") ||
	    !strcmp(t, "string"))
		return !strcmp(t, "list") ? "a list" : !strcmp(t, "map") ? "a map" :
		       !strcmp(t, "bool") ? "a bool" : !strcmp(t, "number") ? "a number" : "a string";
	return t;
}

/* Resolve a root name, with the first attribute for messages. */
static int eval_ref(json_t **out, const cairn_expr *ref, const char *attr, evalst *st)
{
	json_t *root = st->ctx ? st->ctx->root : NULL;
	json_t *v = root && json_is_object(root) ? json_object_get(root, ref->name) : NULL;
	const char *hint;

	if (v) {
		*out = json_incref(v);
		return 0;
	}
	hint = cairn_expr__closest_key(root, ref->name);
	if (attr && hint)
		return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference '%s.%s' (did you mean '%s'?)",
			ref->name, attr, hint);
	if (attr)
		return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference '%s.%s'", ref->name, attr);
	if (hint)
		return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference '%s' (did you mean '%s'?)",
			ref->name, hint);
	return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference '%s'", ref->name);
}

static int eval_attr(json_t **out, const cairn_expr *e, evalst *st)
{
	const cairn_expr *obj = e->items[0], *first, *root;
	json_t *o = NULL, *v;
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	if (obj->type == N_REF)
		rc = eval_ref(&o, obj, e->name, st);
	else
		rc = eval(&o, obj, st);
	if (rc)
		return rc;
	if (cairn_is_unknown(o)) {
		*out = o;
		return 0;
	}
	cairn_buf_init(&b, 4096);
	render(&b, obj);
	root = chain_root(e, &first);
	if (obj->type == N_SELF && st->splat_src) {
		root = chain_root(st->splat_src, &first);
		cairn_buf_clear(&b);
		render(&b, st->splat_src);
		cairn_buf_puts(&b, "[*]");
	}
	if (json_is_object(o)) {
		if ((v = json_object_get(o, e->name)) != NULL) {
			*out = json_incref(v);
			rc = 0;
			goto cleanup;
		}
		if (obj->type == N_REF && special_root(obj->name)) {
			const char *hint = cairn_expr__closest_key(o, e->name);

			if (hint)
				rc = cairn_error_set_at(CAIRN_EINVAL, &obj->pos,
					"unknown reference '%s.%s' (did you mean '%s.%s'?)", obj->name, e->name, obj->name, hint);
			else
				rc = cairn_error_set_at(CAIRN_EINVAL, &obj->pos, "unknown reference '%s.%s'",
					obj->name, e->name);
		} else if (root && !special_root(root->name) &&
		           (obj->type == N_REF || (obj->type == N_INDEX && obj->items[0]->type == N_REF) ||
		            obj->type == N_SELF)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "resource %s has no attribute '%s'",
				root->name, e->name);
		} else {
			rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "%s has no attribute '%s'",
				cairn_buf_cstr(&b), e->name);
		}
	} else if (json_is_array(o) && root && !special_root(root->name) && obj->type == N_REF) {
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos,
			"cannot access attribute '%s' of resource %s: it has %zu instances (use %s[0].%s or %s[*].%s)",
			e->name, root->name, json_array_size(o), root->name, e->name, root->name, e->name);
	} else {
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "cannot access attribute '%s' of %s (%s)",
			e->name, a_type(o), cairn_buf_cstr(&b));
	}
cleanup:
	cairn_buf_release(&b);
	json_decref(o);
	return rc;
}

static int eval_index(json_t **out, const cairn_expr *e, evalst *st)
{
	const cairn_expr *obj = e->items[0], *first, *root;
	json_t *o = NULL, *k = NULL, *v;
	cairn_buf b = CAIRN_BUF_INIT;
	bool is_res;
	int rc;

	if (obj->type == N_REF)
		rc = eval_ref(&o, obj, NULL, st);
	else
		rc = eval(&o, obj, st);
	if (rc || (rc = eval(&k, e->items[1], st)) != 0)
		goto cleanup;
	if (cairn_is_unknown(o) || cairn_is_unknown(k)) {
		*out = cairn_unknown();
		goto cleanup;
	}
	cairn_buf_init(&b, 4096);
	render(&b, obj);
	root = chain_root(e, &first);
	is_res = root && !special_root(root->name) && obj->type == N_REF;
	if (json_is_array(o)) {
		json_int_t i;
		size_t n = json_array_size(o);

		if (json_is_real(k) && json_real_value(k) == floor(json_real_value(k)) && fabs(json_real_value(k)) < 1e15)
			i = (json_int_t)json_real_value(k);
		else if (json_is_integer(k))
			i = json_integer_value(k);
		else {
			rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos, "cannot index %s (a list) with %s",
				cairn_buf_cstr(&b), a_type(k));
			goto cleanup;
		}
		if (i < 0 || (size_t)i >= n) {
			if (is_res)
				rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos,
					"index %" JSON_INTEGER_FORMAT " out of range for %s (%zu instance%s)",
					i, root->name, n, n == 1 ? "" : "s");
			else
				rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos,
					"index %" JSON_INTEGER_FORMAT " out of range for %s (%zu element%s)",
					i, cairn_buf_cstr(&b), n, n == 1 ? "" : "s");
			goto cleanup;
		}
		*out = json_incref(json_array_get(o, (size_t)i));
	} else if (json_is_object(o)) {
		if (!json_is_string(k)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos, "cannot index %s (a map) with %s",
				cairn_buf_cstr(&b), a_type(k));
			goto cleanup;
		}
		if (!(v = json_object_get(o, json_string_value(k)))) {
			if (is_res)
				rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos, "resource %s has no instance \"%s\"",
					root->name, json_string_value(k));
			else
				rc = cairn_error_set_at(CAIRN_EINVAL, &e->items[1]->pos, "key \"%s\" not found in %s",
					json_string_value(k), cairn_buf_cstr(&b));
			goto cleanup;
		}
		*out = json_incref(v);
	} else {
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "cannot index %s (%s)", a_type(o), cairn_buf_cstr(&b));
	}
cleanup:
	cairn_buf_release(&b);
	json_decref(o);
	json_decref(k);
	return rc;
}

static int eval_splat(json_t **out, const cairn_expr *e, evalst *st)
{
	json_t *src = NULL, *res = NULL, *item = NULL, *saved = st->self, *x;
	const cairn_expr *saved_src = st->splat_src;
	const char *k;
	size_t i;
	int rc;

	if ((rc = eval(&src, e->items[0], st)) != 0)
		return rc;
	if (cairn_is_unknown(src)) {
		*out = src;
		return 0;
	}
	if (!(res = json_array())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	st->splat_src = e->items[0];
	if (json_is_array(src)) {
		json_array_foreach(src, i, x) {
			st->self = x;
			rc = eval(&item, e->items[1], st);
			st->self = saved;
			if (rc || (rc = json_array_append_new(res, item)) != 0)
				goto cleanup;
		}
	} else if (json_is_object(src) && e->items[0]->type == N_REF && !special_root(e->items[0]->name)) {
		/* for_each resources: splat over the instances in key order */
		json_object_foreach(src, k, x) {
			st->self = x;
			rc = eval(&item, e->items[1], st);
			st->self = saved;
			if (rc || (rc = json_array_append_new(res, item)) != 0)
				goto cleanup;
		}
	} else if (!json_is_null(src)) {
		st->self = src;
		rc = eval(&item, e->items[1], st);
		st->self = saved;
		if (rc || (rc = json_array_append_new(res, item)) != 0)
			goto cleanup;
	}
	*out = res;
	res = NULL;
cleanup:
	st->self = saved;
	st->splat_src = saved_src;
	json_decref(src);
	json_decref(res);
	return rc ? (rc < 0 ? rc : CAIRN_ENOMEM) : 0;
}

static int num_result(json_t **out, json_t *v)
{
	if (!v)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*out = v;
	return 0;
}

static int eval_arith(json_t **out, int op, const cairn_pos *pos, json_t *a, json_t *b)
{
	static const char *verbs[] = { ['+'] = "add", ['-'] = "subtract", ['*'] = "multiply",
		['/'] = "divide", ['%'] = "compute the remainder of" };

	if (!json_is_number(a) || !json_is_number(b))
		return cairn_error_set_at(CAIRN_EINVAL, pos, "cannot %s %s and %s", verbs[op],
			cairn_value_type_name(a), cairn_value_type_name(b));
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		long long r;

		switch (op) {
		case '+':
			if (__builtin_add_overflow(x, y, &r))
				goto overflow;
			return num_result(out, json_integer(r));
		case '-':
			if (__builtin_sub_overflow(x, y, &r))
				goto overflow;
			return num_result(out, json_integer(r));
		case '*':
			if (__builtin_mul_overflow(x, y, &r))
				goto overflow;
			return num_result(out, json_integer(r));
		case '/':
			if (y == 0)
				return cairn_error_set_at(CAIRN_EINVAL, pos, "division by zero");
			if (!(x == INT64_MIN && y == -1) && x % y == 0)
				return num_result(out, json_integer(x / y));
			return num_result(out, json_real((double)x / (double)y));
		default:
			if (y == 0)
				return cairn_error_set_at(CAIRN_EINVAL, pos, "division by zero");
			if (y == -1)
				return num_result(out, json_integer(0));
			return num_result(out, json_integer(x % y));
		}
	} else {
		double x = json_number_value(a), y = json_number_value(b), r;

		switch (op) {
		case '+': r = x + y; break;
		case '-': r = x - y; break;
		case '*': r = x * y; break;
		case '/':
			if (y == 0)
				return cairn_error_set_at(CAIRN_EINVAL, pos, "division by zero");
			r = x / y;
			break;
		default:
			if (y == 0)
				return cairn_error_set_at(CAIRN_EINVAL, pos, "division by zero");
			r = fmod(x, y);
		}
		if (!isfinite(r))
			return cairn_error_set_at(CAIRN_EINVAL, pos, "arithmetic result is not a finite number");
		return num_result(out, json_real(r));
	}
overflow:
	return cairn_error_set_at(CAIRN_EINVAL, pos, "integer overflow in '%s'", op_text(op));
}

/* One step of a chain: *out = a OP rhs, where a is the value of the chain
 * so far (borrowed; its text starts at lhs's) and rhs is evaluated here
 * unless && or || can do without it. */
static int eval_step(json_t **out, int op, const cairn_pos *pos, json_t *a, const cairn_expr *lhs,
		     const cairn_expr *rhs, evalst *st)
{
	json_t *b = NULL;
	int rc = 0;

	if (op == OP_AND || op == OP_OR) {
		bool unk_a = cairn_is_unknown(a);

		if (!unk_a && !json_is_boolean(a)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, start_pos(lhs), "'%s' needs bool operands, got %s",
				op_text(op), cairn_value_type_name(a));
			goto cleanup;
		}
		if (!unk_a && json_is_true(a) == (op == OP_OR)) {
			*out = json_incref(a);
			goto cleanup;
		}
		if ((rc = eval(&b, rhs, st)) != 0)
			goto cleanup;
		if (!cairn_is_unknown(b) && !json_is_boolean(b)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, start_pos(rhs), "'%s' needs bool operands, got %s",
				op_text(op), cairn_value_type_name(b));
			goto cleanup;
		}
		if (cairn_is_unknown(b))
			*out = cairn_unknown();
		else if (unk_a)
			*out = json_is_true(b) == (op == OP_OR) ? json_incref(b) : cairn_unknown();
		else
			*out = json_incref(b);
		goto cleanup;
	}
	if ((rc = eval(&b, rhs, st)) != 0)
		goto cleanup;
	if (op == OP_EQ || op == OP_NE) {
		if (cairn_has_unknown(a) || cairn_has_unknown(b))
			*out = cairn_unknown();
		else
			*out = json_boolean(cairn_value_equal(a, b) == (op == OP_EQ));
		goto cleanup;
	}
	if (cairn_is_unknown(a) || cairn_is_unknown(b)) {
		*out = cairn_unknown();
		goto cleanup;
	}
	if (op == '<' || op == '>' || op == OP_LE || op == OP_GE) {
		double x, y;

		if (!json_is_number(a) || !json_is_number(b)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, pos, "cannot compare %s and %s with '%s'",
				cairn_value_type_name(a), cairn_value_type_name(b), op_text(op));
			goto cleanup;
		}
		if (json_is_integer(a) && json_is_integer(b)) {
			json_int_t i = json_integer_value(a), j = json_integer_value(b);

			*out = json_boolean(op == '<' ? i < j : op == '>' ? i > j : op == OP_LE ? i <= j : i >= j);
		} else {
			x = json_number_value(a);
			y = json_number_value(b);
			*out = json_boolean(op == '<' ? x < y : op == '>' ? x > y : op == OP_LE ? x <= y : x >= y);
		}
		goto cleanup;
	}
	rc = eval_arith(out, op, pos, a, b);
cleanup:
	json_decref(b);
	return rc;
}

/* A chain of one precedence level, left to right, without recursion. */
static int eval_binary(json_t **out, const cairn_expr *e, evalst *st)
{
	json_t *acc = NULL, *next = NULL;
	size_t i;
	int rc;

	if ((rc = eval(&acc, e->items[0], st)) != 0)
		return rc;
	for (i = 1; i < e->n; i++) {
		if ((rc = eval_step(&next, e->ops[i], &e->ops_pos[i], acc, e->items[0], e->items[i], st)) != 0)
			break;
		if (!next) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		json_decref(acc);
		acc = next;
		next = NULL;
	}
	if (!rc)
		*out = acc;
	else
		json_decref(acc);
	return rc;
}

static int eval_unary(json_t **out, const cairn_expr *e, evalst *st)
{
	json_t *a = NULL;
	int rc;

	if ((rc = eval(&a, e->items[0], st)) != 0)
		return rc;
	if (cairn_is_unknown(a)) {
		*out = a;
		return 0;
	}
	if (e->oper == '!') {
		if (!json_is_boolean(a))
			rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "'!' needs a bool, got %s", cairn_value_type_name(a));
		else
			*out = json_boolean(!json_is_true(a));
	} else if (!json_is_number(a)) {
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "cannot negate %s", cairn_value_type_name(a));
	} else if (json_is_integer(a) && json_integer_value(a) != INT64_MIN) {
		*out = json_integer(-json_integer_value(a));
	} else {
		*out = json_real(-json_number_value(a));
	}
	json_decref(a);
	return rc;
}

static int eval_cond(json_t **out, const cairn_expr *e, evalst *st)
{
	json_t *c = NULL;
	int rc;

	if ((rc = eval(&c, e->items[0], st)) != 0)
		return rc;
	if (cairn_is_unknown(c)) {
		*out = c;
		return 0;
	}
	if (!json_is_boolean(c)) {
		rc = cairn_error_set_at(CAIRN_EINVAL, start_pos(e->items[0]), "condition must be a bool, got %s",
			cairn_value_type_name(c));
		json_decref(c);
		return rc;
	}
	rc = eval(out, e->items[json_is_true(c) ? 1 : 2], st);
	json_decref(c);
	return rc;
}

static int unknown_function(const cairn_expr *e)
{
	const char *const *names = cairn_func_names(), *const *nm;
	cairn_buf b = CAIRN_BUF_INIT;
	size_t best = (size_t)-1, d;
	int n = 0, rc;

	/* list the closest names only */
	for (nm = names; *nm; nm++)
		if (cairn_expr__close(e->name, *nm) && (d = cairn_expr__distance(e->name, *nm, 8)) < best)
			best = d;
	cairn_buf_init(&b, 4096);
	for (nm = names; *nm && n < 3; nm++) {
		if (!cairn_expr__close(e->name, *nm) || cairn_expr__distance(e->name, *nm, 8) != best)
			continue;
		cairn_buf_printf(&b, "%s%s()", n ? ", " : "", *nm);
		n++;
	}
	if (n)
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "unknown function '%s' (did you mean %s?)",
			e->name, cairn_buf_cstr(&b));
	else
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "unknown function '%s'", e->name);
	cairn_buf_release(&b);
	return rc;
}

static int eval_call(json_t **out, const cairn_expr *e, evalst *st)
{
	cairn_func_fn fn = cairn_func_lookup(e->name);
	json_t **args = NULL;
	bool unknown = false, structural;
	size_t i, n = 0;
	int rc = 0;

	if (!fn)
		return unknown_function(e);
	structural = cairn_func__structural(e->name);
	if (e->n && !(args = calloc(e->n, sizeof(*args))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (n = 0; n < e->n; n++) {
		if ((rc = eval(&args[n], e->items[n], st)) != 0)
			goto cleanup;
		if (structural ? cairn_is_unknown(args[n]) : cairn_has_unknown(args[n]))
			unknown = true;
	}
	if (unknown) {
		*out = cairn_unknown();
		goto cleanup;
	}
	cairn_func__clear_error_arg();
	if ((rc = fn(out, args, n, st->ctx)) != 0) {
		const cairn_error *err = cairn_error_last();
		char msg[sizeof(err->message)];
		int arg = cairn_func__error_arg();

		snprintf(msg, sizeof(msg), "%s", err ? err->message : "function failed");
		cairn_error_set_at(rc, arg >= 0 && (size_t)arg < n ? start_pos(e->items[arg]) : &e->pos, "%s", msg);
	}
cleanup:
	for (i = 0; i < n; i++)
		json_decref(args[i]);
	free(args);
	return rc;
}

static int eval_template(json_t **out, const cairn_expr *e, evalst *st)
{
	cairn_buf b = CAIRN_BUF_INIT;
	json_t *v = NULL;
	bool unknown = false;
	size_t i;
	int rc = 0;

	cairn_buf_init(&b, 0);
	for (i = 0; i < e->n; i++) {
		if ((rc = eval(&v, e->items[i], st)) != 0)
			goto cleanup;
		if (cairn_is_unknown(v))
			unknown = true;
		else if (cairn_has_unknown(v) && (json_is_array(v) || json_is_object(v)))
			rc = cairn_error_set_at(CAIRN_EINVAL, start_pos(e->items[i]), "cannot interpolate %s", a_type(v));
		else if ((rc = cairn_expr__append_str(&b, v)) != 0 && rc == CAIRN_EINVAL)
			cairn_error_set_at(rc, start_pos(e->items[i]), "cannot interpolate %s", a_type(v));
		json_decref(v);
		v = NULL;
		if (rc)
			goto cleanup;
	}
	*out = unknown ? cairn_unknown() : json_stringn(cairn_buf_cstr(&b), b.len);
	if (!*out)
		rc = cairn_error_set_at(CAIRN_EINVAL, &e->pos, "result is not valid UTF-8");
cleanup:
	cairn_buf_release(&b);
	return rc;
}

static int eval_collection(json_t **out, const cairn_expr *e, evalst *st)
{
	json_t *c = e->type == N_LIST ? json_array() : json_object(), *v = NULL;
	size_t i;
	int rc = 0;

	if (!c)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < e->n; i++) {
		if ((rc = eval(&v, e->items[i], st)) != 0)
			goto cleanup;
		if (e->type == N_LIST)
			rc = json_array_append_new(c, v);
		else
			rc = json_object_set_new(c, e->keys[i], v);
		if (rc) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = c;
	c = NULL;
cleanup:
	json_decref(c);
	return rc;
}

static int eval(json_t **out, const cairn_expr *e, evalst *st)
{
	int rc;

	if (++st->depth > MAX_DEPTH * 4) {
		st->depth--;
		return cairn_error_set_at(CAIRN_EINVAL, &e->pos, "expression nested too deeply");
	}
	switch (e->type) {
	case N_CONST:
		*out = json_incref(e->value);
		rc = 0;
		break;
	case N_TEMPLATE:
		rc = eval_template(out, e, st);
		break;
	case N_LIST:
	case N_MAP:
		rc = eval_collection(out, e, st);
		break;
	case N_REF:
		rc = eval_ref(out, e, NULL, st);
		break;
	case N_SELF:
		*out = json_incref(st->self ? st->self : json_null());
		rc = 0;
		break;
	case N_ATTR:
		rc = eval_attr(out, e, st);
		break;
	case N_INDEX:
		rc = eval_index(out, e, st);
		break;
	case N_SPLAT:
		rc = eval_splat(out, e, st);
		break;
	case N_CALL:
		rc = eval_call(out, e, st);
		break;
	case N_UNARY:
		rc = eval_unary(out, e, st);
		break;
	case N_BINARY:
		rc = eval_binary(out, e, st);
		break;
	default:
		rc = eval_cond(out, e, st);
		break;
	}
	st->depth--;
	if (!rc && !*out)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return rc;
}

int cairn_expr_eval(json_t **out, const cairn_expr *e, const cairn_eval_ctx *ctx)
{
	evalst st = { ctx, NULL, NULL, 0 };
	json_t *v = NULL;
	int rc;

	if ((rc = eval(&v, e, &st)) != 0)
		return rc;
	*out = v;
	return 0;
}
