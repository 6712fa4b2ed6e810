/*
 * config_yaml.c - YAML text to a cairn_expr tree, with positions.
 *
 * Driven by libyaml's event parser. Every node keeps the 1-based line and
 * column of its first character (libyaml marks count characters). Plain
 * scalars are resolved with the YAML 1.2 core schema; quoted scalars are
 * strings; strings containing "${" are compiled as templates, with exact
 * columns inside when the scalar is on one line and its text in the file is
 * the value itself. Aliases are expanded by copying the anchored node (with
 * a bound on the total size, against "billion laughs"); merge keys,
 * non-string keys and several documents in one file are errors.
 */
#include "config_int.h"
#include "base/buf.h"
#include "base/file.h"
#include "expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_NESTING 200
#define MAX_NODES 1000000
#define MAX_FILE ((size_t)16 << 20)

typedef struct {
	char *name;
	cairn_expr *node;   /* owned by the tree */
	size_t size;        /* nodes in it */
} anchor;

typedef struct {
	yaml_parser_t parser;
	const char *file;
	const char *data;
	size_t len;
	size_t *lines;      /* byte offset of each line start */
	size_t nlines;
	anchor *anchors;
	size_t nanchors;
	size_t nodes;
	int depth;
} loader;

static void mark_pos(cairn_pos *pos, const loader *L, const yaml_mark_t *m)
{
	pos->file = L->file;
	pos->line = (int)m->line + 1;
	pos->col = (int)m->column + 1;
}

static int next_event(loader *L, yaml_event_t *ev)
{
	yaml_parser_t *p = &L->parser;
	cairn_pos pos;
	size_t off;

	if (yaml_parser_parse(p, ev))
		return 0;
	mark_pos(&pos, L, &p->problem_mark);
	if (p->error == YAML_MEMORY_ERROR)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (p->error == YAML_READER_ERROR) {
		/* the reader reports a byte offset: find its line and column */
		size_t line = 0, o = p->problem_offset;

		while (line + 1 < L->nlines && L->lines[line + 1] <= o)
			line++;
		pos.line = (int)line + 1;
		pos.col = (int)cairn_expr__utf8_len(L->data + L->lines[line], o - L->lines[line]) + 1;
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "%s", p->problem ? p->problem : "cannot read the file");
	}
	if (p->problem_mark.line < L->nlines) {
		off = L->lines[p->problem_mark.line];
		/* find the problem character: columns are in characters */
		for (size_t c = 0; c < p->problem_mark.column && off < L->len && L->data[off] != '\n'; c++) {
			off++;
			while (off < L->len && ((unsigned char)L->data[off] & 0xC0) == 0x80)
				off++;
		}
		if (off < L->len && L->data[off] == '\t')
			return cairn_error_set_at(CAIRN_EINVAL, &pos,
				"tab character where YAML expects spaces (indent with spaces, not tabs)");
	}
	if (p->context)
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "%s (%s at line %d)", p->problem ? p->problem : "syntax error",
			p->context, (int)p->context_mark.line + 1);
	return cairn_error_set_at(CAIRN_EINVAL, &pos, "%s", p->problem ? p->problem : "syntax error");
}

static size_t count_nodes(const cairn_expr *e)
{
	size_t n = 1, i;

	for (i = 0; i < cairn_expr_size(e); i++)
		n += count_nodes(cairn_expr_item(e, i));
	return n;
}

/* Is [value, value+len) exactly the text at mark (after an opening quote)? */
static bool text_exact(const loader *L, const yaml_event_t *ev)
{
	const yaml_mark_t *s = &ev->start_mark, *e = &ev->end_mark;
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length, off, c, q = 0;
	yaml_scalar_style_t st = ev->data.scalar.style;

	if (s->line != e->line || s->line >= L->nlines || memchr(v, '\n', len))
		return false;
	if (st == YAML_DOUBLE_QUOTED_SCALAR_STYLE || st == YAML_SINGLE_QUOTED_SCALAR_STYLE)
		q = 1;
	else if (st != YAML_PLAIN_SCALAR_STYLE)
		return false;
	off = L->lines[s->line];
	for (c = 0; c < s->column && off < L->len; c++) {
		off++;
		while (off < L->len && ((unsigned char)L->data[off] & 0xC0) == 0x80)
			off++;
	}
	if (off + q + len > L->len || memcmp(L->data + off + q, v, len) != 0)
		return false;
	return e->column - s->column == cairn_expr__utf8_len(v, len) + 2 * q;
}

static int resolve_plain(json_t **out, const char *s, size_t len, const cairn_pos *pos)
{
	const char *p = s;
	char *end;
	int base = 10;
	bool digits = false, real = false;

	if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) {
		*out = json_null();
		return 0;
	}
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		*out = json_true();
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		*out = json_false();
		return 0;
	}
	{
		const char *t = (*p == '-' || *p == '+') ? p + 1 : p;

		if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF") ||
		    !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
			return cairn_error_set_at(CAIRN_EINVAL, pos, "infinite and NaN numbers are not supported "
				"(quote '%s' to make it a string)", s);
	}
	if (s[0] == '0' && s[1] == 'o') {
		p = s + 2;
		base = 8;
		for (const char *q = p; *q; q++)
			if (*q < '0' || *q > '7')
				goto string;
	} else if (s[0] == '0' && s[1] == 'x') {
		p = s + 2;
		base = 16;
		for (const char *q = p; *q; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
				goto string;
	} else {
		/* [-+]? ( \.[0-9]+ | [0-9]+(\.[0-9]*)? ) ([eE][-+]?[0-9]+)? */
		const char *q = s;

		if (*q == '-' || *q == '+')
			q++;
		while (*q >= '0' && *q <= '9')
			q++, digits = true;
		if (*q == '.') {
			real = true;
			q++;
			while (*q >= '0' && *q <= '9')
				q++, digits = true;
		}
		if (!digits)
			goto string;
		if (*q == 'e' || *q == 'E') {
			real = true;
			q++;
			if (*q == '-' || *q == '+')
				q++;
			if (!(*q >= '0' && *q <= '9'))
				goto string;
			while (*q >= '0' && *q <= '9')
				q++;
		}
		if (*q)
			goto string;
	}
	if (!*p)
		goto string;
	errno = 0;
	if (real) {
		double d = strtod(s, &end);

		if (errno == ERANGE || !isfinite(d))
			return cairn_error_set_at(CAIRN_EINVAL, pos, "number %s is out of range", s);
		*out = json_real(d);
	} else {
		long long v = strtoll(p, &end, base);

		if (errno == ERANGE || *end)
			return cairn_error_set_at(CAIRN_EINVAL, pos, "integer %s is out of range", s);
		*out = json_integer(v);
	}
	return *out ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
string:
	*out = NULL;
	return 0;
}

static int scalar_node(cairn_expr **out, loader *L, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	json_t *val = NULL;
	cairn_pos pos;
	int rc;

	mark_pos(&pos, L, &ev->start_mark);
	if (strlen(v) != len)
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "NUL character in a string");
	if (tag && strcmp(tag, YAML_STR_TAG) != 0 && strcmp(tag, "!") != 0)
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "unsupported YAML tag '%s'", tag);
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag) {
		if ((rc = resolve_plain(&val, v, len, &pos)) != 0)
			return rc;
		if (val) {
			rc = cairn_expr_new_const(out, val, &pos);
			json_decref(val);
			return rc;
		}
	}
	if (strstr(v, "${")) {
		bool exact = text_exact(L, ev);
		cairn_pos ipos = pos;

		if (exact && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			ipos.col++;
		return cairn_expr_parse_template_ex(out, v, &ipos, exact);
	}
	if (!(val = json_stringn(v, len)))
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "string is not valid UTF-8");
	rc = cairn_expr_new_const(out, val, &pos);
	json_decref(val);
	return rc;
}

static int add_anchor(loader *L, const char *name, cairn_expr *node)
{
	anchor *na;
	char *n;

	if (!(n = strdup(name)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (!(na = realloc(L->anchors, (L->nanchors + 1) * sizeof(*na)))) {
		free(n);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	L->anchors = na;
	na[L->nanchors].name = n;
	na[L->nanchors].node = node;
	na[L->nanchors].size = count_nodes(node);
	L->nanchors++;
	return 0;
}

static int alias_node(cairn_expr **out, loader *L, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	cairn_pos pos;
	size_t i;

	mark_pos(&pos, L, &ev->start_mark);
	/* the latest definition of a name wins */
	for (i = L->nanchors; i > 0; i--) {
		anchor *a = &L->anchors[i - 1];

		if (strcmp(a->name, name) != 0)
			continue;
		L->nodes += a->size;
		if (L->nodes > MAX_NODES)
			return cairn_error_set_at(CAIRN_EINVAL, &pos, "too many nodes after expanding aliases (limit %d)",
				MAX_NODES);
		return cairn_expr_copy(out, a->node);
	}
	return cairn_error_set_at(CAIRN_EINVAL, &pos, "unknown anchor '*%s'", name);
}

static int load_node(cairn_expr **out, loader *L, yaml_event_t *ev);

static int load_seq(cairn_expr **out, loader *L, const cairn_pos *pos)
{
	cairn_expr *list = NULL, *item = NULL;
	yaml_event_t ev;
	int rc;

	if ((rc = cairn_expr_new_list(&list, pos)) != 0)
		return rc;
	for (;;) {
		if ((rc = next_event(L, &ev)) != 0)
			goto cleanup;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		rc = load_node(&item, L, &ev);
		yaml_event_delete(&ev);
		if (rc || (rc = cairn_expr_list_append(list, item)) != 0)
			goto cleanup;
	}
	*out = list;
	list = NULL;
cleanup:
	cairn_expr_free(list);
	return rc;
}

static int load_map(cairn_expr **out, loader *L, const cairn_pos *pos)
{
	cairn_expr *map = NULL, *val = NULL;
	yaml_event_t ev;
	cairn_pos kpos;
	char *key = NULL;
	int rc;

	if ((rc = cairn_expr_new_map(&map, pos)) != 0)
		return rc;
	for (;;) {
		if ((rc = next_event(L, &ev)) != 0)
			goto cleanup;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		mark_pos(&kpos, L, &ev.start_mark);
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			rc = cairn_error_set_at(CAIRN_EINVAL, &kpos, "mapping keys must be strings");
			goto cleanup;
		}
		if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp((char *)ev.data.scalar.value, "<<")) {
			yaml_event_delete(&ev);
			rc = cairn_error_set_at(CAIRN_EINVAL, &kpos, "merge keys ('<<') are not supported");
			goto cleanup;
		}
		if (strlen((char *)ev.data.scalar.value) != ev.data.scalar.length ||
		    !(key = strdup((char *)ev.data.scalar.value))) {
			yaml_event_delete(&ev);
			rc = cairn_error_set_at(CAIRN_EINVAL, &kpos, "invalid mapping key");
			goto cleanup;
		}
		yaml_event_delete(&ev);
		if ((rc = next_event(L, &ev)) != 0)
			goto cleanup;
		rc = load_node(&val, L, &ev);
		yaml_event_delete(&ev);
		if (rc || (rc = cairn_expr_map_set(map, key, &kpos, val)) != 0)
			goto cleanup;
		free(key);
		key = NULL;
	}
	*out = map;
	map = NULL;
cleanup:
	free(key);
	cairn_expr_free(map);
	return rc;
}

/* Build the node that starts with ev (not consumed by this function). */
static int load_node(cairn_expr **out, loader *L, yaml_event_t *ev)
{
	const char *anchor_name = NULL;
	cairn_expr *e = NULL;
	cairn_pos pos;
	int rc;

	mark_pos(&pos, L, &ev->start_mark);
	if (++L->nodes > MAX_NODES)
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "too many nodes (limit %d)", MAX_NODES);
	if (++L->depth > MAX_NESTING) {
		L->depth--;
		return cairn_error_set_at(CAIRN_EINVAL, &pos, "nesting deeper than %d levels", MAX_NESTING);
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor_name = (const char *)ev->data.scalar.anchor;
		rc = scalar_node(&e, L, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor_name = (const char *)ev->data.sequence_start.anchor;
		rc = load_seq(&e, L, &pos);
		break;
	case YAML_MAPPING_START_EVENT:
		anchor_name = (const char *)ev->data.mapping_start.anchor;
		rc = load_map(&e, L, &pos);
		break;
	case YAML_ALIAS_EVENT:
		rc = alias_node(&e, L, ev);
		break;
	default:
		rc = cairn_error_set_at(CAIRN_EINVAL, &pos, "unexpected YAML event");
	}
	L->depth--;
	if (!rc && anchor_name && (rc = add_anchor(L, anchor_name, e)) != 0) {
		cairn_expr_free(e);
		return rc;
	}
	if (!rc)
		*out = e;
	return rc;
}

static int index_lines(loader *L)
{
	size_t i, n = 1;

	for (i = 0; i < L->len; i++)
		if (L->data[i] == '\n')
			n++;
	if (!(L->lines = malloc(n * sizeof(*L->lines))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	L->lines[0] = 0;
	for (i = 0, n = 1; i < L->len; i++)
		if (L->data[i] == '\n')
			L->lines[n++] = i + 1;
	L->nlines = n;
	return 0;
}

int cairn_config__parse_yaml(cairn_expr **out, const char *data, size_t len, const char *file)
{
	loader L;
	yaml_event_t ev;
	cairn_expr *root = NULL;
	cairn_pos pos = { file, 1, 1 };
	bool have_ev = false;
	size_t i;
	int rc;

	memset(&L, 0, sizeof(L));
	L.file = file;
	L.data = data;
	L.len = len;
	if (!yaml_parser_initialize(&L.parser))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&L.parser, (const unsigned char *)data, len);
	if ((rc = index_lines(&L)) != 0)
		goto cleanup;
	/* STREAM-START, then DOCUMENT-START or STREAM-END */
	if ((rc = next_event(&L, &ev)) != 0)
		goto cleanup;
	yaml_event_delete(&ev);
	if ((rc = next_event(&L, &ev)) != 0)
		goto cleanup;
	have_ev = true;
	if (ev.type == YAML_STREAM_END_EVENT) {
		rc = cairn_expr_new_map(&root, &pos);
		goto done;
	}
	yaml_event_delete(&ev);
	have_ev = false;
	if ((rc = next_event(&L, &ev)) != 0)
		goto cleanup;
	have_ev = true;
	if ((rc = load_node(&root, &L, &ev)) != 0)
		goto cleanup;
	yaml_event_delete(&ev);
	have_ev = false;
	/* DOCUMENT-END, then STREAM-END (a second document is an error) */
	if ((rc = next_event(&L, &ev)) != 0)
		goto cleanup;
	yaml_event_delete(&ev);
	if ((rc = next_event(&L, &ev)) != 0)
		goto cleanup;
	have_ev = true;
	if (ev.type == YAML_DOCUMENT_START_EVENT) {
		mark_pos(&pos, &L, &ev.start_mark);
		rc = cairn_error_set_at(CAIRN_EINVAL, &pos,
			"several YAML documents in one file are not supported (found a second '---')");
		goto cleanup;
	}
	if (cairn_expr_kind_of(root) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(root))) {
		cairn_expr_free(root);
		root = NULL;
		rc = cairn_expr_new_map(&root, &pos);
	} else if (cairn_expr_kind_of(root) != CAIRN_EXPR_MAP) {
		rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(root), "expected a mapping at the top of the file");
	}
done:
	if (!rc) {
		*out = root;
		root = NULL;
	}
cleanup:
	if (have_ev)
		yaml_event_delete(&ev);
	cairn_expr_free(root);
	yaml_parser_delete(&L.parser);
	for (i = 0; i < L.nanchors; i++)
		free(L.anchors[i].name);
	free(L.anchors);
	free(L.lines);
	return rc;
}

int cairn_config__load_yaml(cairn_expr **out, const char *path, const char *file)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	cairn_buf_init(&b, MAX_FILE);
	if ((rc = cairn_file_read(&b, path, NULL)) == 0)
		rc = cairn_config__parse_yaml(out, cairn_buf_cstr(&b), b.len, file);
	cairn_buf_release(&b);
	return rc;
}
