/*
 * render.c - a plan as people read it (Terraform's layout): one block per
 * resource that changes, attribute by attribute, and the closing count.
 *
 * Sensitive values are printed as "(sensitive)", values known only after
 * apply as "(known after apply)".
 */
#include "render.h"

#include <stdlib.h>
#include <string.h>

#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

static const char *col(bool color, const char *c)
{
	return color ? c : "";
}

#define LONG_STRING 200      /* longer one-line strings (base64 content) are abbreviated */
#define TEXT_LINES_SHOWN 200  /* lines of a created text shown */
#define DIFF_CONTEXT 3
#define DIFF_MAX_CELLS 4000000 /* lines x lines compared at most */

/* A text of more than one line (a file's content): shown line by line,
 * its changes as a unified diff. One line stays "before" -> "after". */
static bool is_text(const json_t *v)
{
	const char *s = json_string_value(v), *nl;
	size_t n = json_string_length(v);

	return s && (nl = memchr(s, '\n', n)) != NULL && (size_t)(nl - s) + 1 < n;
}

static void render_value(cairn_buf *out, const json_t *v, bool sensitive)
{
	char *s;

	if (sensitive && v && !json_is_null(v)) {
		cairn_buf_puts(out, "(sensitive)");
		return;
	}
	if (json_is_string(v) && json_string_length(v) > LONG_STRING && !is_text(v)) {
		cairn_buf_printf(out, "\"%.40s...\" (%zu characters)", json_string_value(v), json_string_length(v));
		return;
	}
	s = cairn_value_render(v);
	cairn_buf_puts(out, s ? s : "?");
	free(s);
}

/* -- texts: file contents shown by line, changes as a unified diff ---------- */

typedef struct lines {
	const char **p;
	size_t *len;
	size_t n;
} lines;

static int split_lines(lines *l, const char *s, size_t len)
{
	size_t i, n = 0, start = 0;

	for (i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	n++;
	l->p = malloc(n * sizeof(*l->p));
	l->len = malloc(n * sizeof(*l->len));
	l->n = 0;
	if (!l->p || !l->len)
		return -1;
	for (i = 0; i <= len; i++)
		if (i == len || s[i] == '\n') {
			if (i == len && start == len)
				break; /* a final newline ends the last line */
			l->p[l->n] = s + start;
			l->len[l->n++] = i - start;
			start = i + 1;
		}
	return 0;
}

static void lines_free(lines *l)
{
	free(l->p);
	free(l->len);
}

static bool line_eq(const lines *a, size_t i, const lines *b, size_t j)
{
	return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

static void text_line(cairn_buf *out, char sign, const char *p, size_t n, bool color)
{
	const char *c = sign == '+' ? "\033[32m" : sign == '-' ? "\033[31m" : "";

	cairn_buf_printf(out, "          %s%c %.*s%s\n", color && *c ? c : "", sign, (int)n, p,
			 color && *c ? "\033[0m" : "");
}

/* A created (or destroyed: sign '-') text, line by line. */
static void render_text(cairn_buf *out, const json_t *v, char sign, bool color)
{
	lines l = { 0 };
	size_t i;

	if (split_lines(&l, json_string_value(v), json_string_length(v)) == 0) {
		cairn_buf_puts(out, "<<EOT\n");
		for (i = 0; i < l.n && i < TEXT_LINES_SHOWN; i++)
			text_line(out, sign, l.p[i], l.len[i], color);
		if (l.n > TEXT_LINES_SHOWN)
			cairn_buf_printf(out, "          (%zu more lines)\n", l.n - TEXT_LINES_SHOWN);
		cairn_buf_puts(out, "        EOT");
	}
	lines_free(&l);
}

/* before -> after as a unified diff (3 lines of context), by the longest
 * common subsequence of their lines after the common head and tail. */
static void render_diff(cairn_buf *out, const json_t *before, const json_t *after, bool color)
{
	lines a = { 0 }, b = { 0 };
	size_t head = 0, ta, tb, n, m, i, j, k, *dp = NULL, nops = 0;
	char *ops = NULL; /* ' ', '-', '+' in order; with indexes */
	size_t *ia = NULL, *ib = NULL;

	if (split_lines(&a, json_is_string(before) ? json_string_value(before) : "",
			json_is_string(before) ? json_string_length(before) : 0) < 0 ||
	    split_lines(&b, json_is_string(after) ? json_string_value(after) : "",
			json_is_string(after) ? json_string_length(after) : 0) < 0)
		goto cleanup;
	while (head < a.n && head < b.n && line_eq(&a, head, &b, head))
		head++;
	ta = a.n;
	tb = b.n;
	while (ta > head && tb > head && line_eq(&a, ta - 1, &b, tb - 1)) {
		ta--;
		tb--;
	}
	n = ta - head;
	m = tb - head;
	if ((n + 1) * (m + 1) > DIFF_MAX_CELLS) {
		cairn_buf_printf(out, "(%zu lines -> %zu lines; too long to compare here)", a.n, b.n);
		goto cleanup;
	}
	dp = calloc((n + 1) * (m + 1), sizeof(*dp));
	ops = malloc(a.n + b.n + 1);
	ia = malloc((a.n + b.n + 1) * sizeof(*ia));
	ib = malloc((a.n + b.n + 1) * sizeof(*ib));
	if (!dp || !ops || !ia || !ib)
		goto cleanup;
	/* dp[i][j]: LCS of a[head+i..ta) and b[head+j..tb) */
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			dp[i * (m + 1) + j] = line_eq(&a, head + i, &b, head + j) ? dp[(i + 1) * (m + 1) + j + 1] + 1 :
					      dp[(i + 1) * (m + 1) + j] > dp[i * (m + 1) + j + 1] ?
					      dp[(i + 1) * (m + 1) + j] : dp[i * (m + 1) + j + 1];
	for (k = 0; k < head; k++, nops++) {
		ops[nops] = ' ';
		ia[nops] = k;
		ib[nops] = k;
	}
	for (i = 0, j = 0; i < n || j < m; nops++) {
		if (i < n && j < m && line_eq(&a, head + i, &b, head + j)) {
			ops[nops] = ' '; ia[nops] = head + i++; ib[nops] = head + j++;
		} else if (i < n && (j == m || dp[(i + 1) * (m + 1) + j] >= dp[i * (m + 1) + j + 1])) {
			ops[nops] = '-'; ia[nops] = head + i++; ib[nops] = head + j; /* removals first */
		} else {
			ops[nops] = '+'; ia[nops] = head + i; ib[nops] = head + j++;
		}
	}
	for (k = 0; k < a.n - ta; k++, nops++) {
		ops[nops] = ' ';
		ia[nops] = ta + k;
		ib[nops] = tb + k;
	}
	/* hunks: changes with DIFF_CONTEXT lines around them */
	for (k = 0; k < nops;) {
		size_t start, end, last, x, ca = 0, cb = 0;

		while (k < nops && ops[k] == ' ')
			k++;
		if (k == nops)
			break;
		start = k > DIFF_CONTEXT ? k - DIFF_CONTEXT : 0;
		last = k;
		for (end = k; end < nops; end++) {
			if (ops[end] != ' ')
				last = end;
			else if (end - last > 2 * DIFF_CONTEXT)
				break;
		}
		end = last + DIFF_CONTEXT + 1 < nops ? last + DIFF_CONTEXT + 1 : nops;
		for (x = start; x < end; x++) {
			ca += ops[x] != '+';
			cb += ops[x] != '-';
		}
		cairn_buf_printf(out, "\n          @@ -%zu,%zu +%zu,%zu @@", ia[start] + 1, ca, ib[start] + 1, cb);
		cairn_buf_putc(out, '\n');
		for (x = start; x < end; x++) {
			if (ops[x] == '+')
				text_line(out, '+', b.p[ib[x]], b.len[ib[x]], color);
			else
				text_line(out, ops[x], a.p[ia[x]], a.len[ia[x]], color);
		}
		out->len--; /* the caller ends the line */
		k = end;
	}
cleanup:
	free(dp);
	free(ops);
	free(ia);
	free(ib);
	lines_free(&a);
	lines_free(&b);
}

static size_t name_width(const json_t *obj)
{
	const char *k;
	json_t *v;
	size_t w = 0;

	json_object_foreach((json_t *)obj, k, v)
		if (strlen(k) > w && !json_is_null(v))
			w = strlen(k);
	return w;
}

static void render_attrs(cairn_buf *out, const cairn_inst *in, const json_t *attrs, const char *sign)
{
	size_t n, i, w = name_width(attrs);
	const char **keys = cairn_json_sorted_keys(attrs, &n); /* sorted for stable output */
	json_t *v;

	if (!keys)
		return;
	for (i = 0; i < n; i++) {
		v = json_object_get(attrs, keys[i]);
		if (json_is_null(v))
			continue;
		cairn_buf_printf(out, "      %s %-*s = ", sign, (int)w, keys[i]);
		if (is_text(v) && !cairn_inst_is_sensitive(in, keys[i]))
			render_text(out, v, sign[0], false);
		else
			render_value(out, v, cairn_inst_is_sensitive(in, keys[i]));
		cairn_buf_putc(out, '\n');
	}
	free(keys);
}

static void render_changes(cairn_buf *out, const cairn_inst *in, bool color)
{
	size_t i, w = 0;
	json_t *c;

	json_array_foreach(in->changes, i, c) {
		size_t l = strlen(json_string_value(json_object_get(c, "attribute")));

		if (l > w)
			w = l;
	}
	json_array_foreach(in->changes, i, c) {
		const char *name = json_string_value(json_object_get(c, "attribute"));
		json_t *before = json_object_get(c, "before"), *after = json_object_get(c, "after");
		bool sens = json_is_true(json_object_get(c, "sensitive"));
		bool wo = json_is_true(json_object_get(c, "write_only"));
		const char *sign = wo ? "~" : json_is_null(before) ? "+" : json_is_null(after) ? "-" : "~";

		cairn_buf_printf(out, "      %s%s%s %-*s = ", col(color, C_YELLOW), sign, col(color, C_RESET), (int)w, name);
		if (json_object_get(c, "triggered_by") && cairn_value_equal(before, after)) {
			char *by = json_dumps(json_object_get(c, "triggered_by"), JSON_COMPACT);

			cairn_buf_printf(out, "(%s change in this apply)", by ? by : "?");
			free(by);
		} else if (!sens && (is_text(before) || is_text(after)) &&
			   (json_is_string(before) || json_is_null(before)) && (json_is_string(after) || json_is_null(after))) {
			out->len--; /* "name =" then the hunks */
			out->ptr[out->len] = '\0';
			render_diff(out, before, after, color);
		} else if (!json_is_null(before) && !json_is_null(after)) {
			render_value(out, before, sens);
			cairn_buf_puts(out, " -> ");
			render_value(out, after, sens);
		} else {
			render_value(out, json_is_null(before) ? after : before, sens);
			if (json_is_null(after))
				cairn_buf_puts(out, " -> null");
		}
		if (json_is_true(json_object_get(c, "force_new")) && in->action == CAIRN_ACT_REPLACE)
			cairn_buf_printf(out, " %s# forces replacement%s", col(color, C_RED), col(color, C_RESET));
		if (wo)
			cairn_buf_printf(out, " # write-only: its value in the cloud is unknown since import; "
					      "this apply sets it; add %s to lifecycle.ignore_changes to keep the current one",
					 name);
		cairn_buf_putc(out, '\n');
	}
}

int cairn_render_plan(cairn_engine *e, cairn_buf *out, bool color)
{
	int add, change, destroy;
	size_t i;
	bool any = false;

	cairn_engine_counts(e, &add, &change, &destroy);
	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		const char *head, *sign, *c;

		if (in->gone && in->deleting && in->action != CAIRN_ACT_NOOP && in->targeted)
			cairn_buf_printf(out, "  # %s is being deleted: it will be created once the deletion finishes\n",
					 in->address);
		else if (in->gone && in->action != CAIRN_ACT_NOOP && in->targeted)
			cairn_buf_printf(out, "  # %s was deleted outside cairn\n", in->address);
		if (!in->targeted || in->action == CAIRN_ACT_NOOP)
			continue;
		if (!any)
			cairn_buf_printf(out, "cairn will perform the following actions in environment '%s':\n\n", e->opts.env);
		any = true;
		switch (in->action) {
		case CAIRN_ACT_CREATE: head = "will be created"; sign = "  +"; c = C_GREEN; break;
		case CAIRN_ACT_UPDATE:
			head = in->run_pending && json_array_size(in->changes) == 0 ? "will run" : "will be updated in place";
			sign = "  ~";
			c = C_YELLOW;
			break;
		case CAIRN_ACT_REPLACE:
			head = "must be replaced";
			sign = in->cbd ? "+/-" : "-/+";
			c = C_RED;
			break;
		default: head = "will be destroyed"; sign = "  -"; c = C_RED; break;
		}
		cairn_buf_printf(out, "  %s# %s%s %s", col(color, C_BOLD), in->address, col(color, C_RESET), head);
		if (in->reason && (in->action != CAIRN_ACT_CREATE || !in->gone))
			cairn_buf_printf(out, " (%s)", in->reason);
		cairn_buf_printf(out, "\n%s%s%s %s (%s) {\n", col(color, c), sign, col(color, C_RESET), in->address, in->type);
		if (in->action == CAIRN_ACT_CREATE)
			render_attrs(out, in, in->planned, "+");
		else if (in->action == CAIRN_ACT_DELETE)
			render_attrs(out, in, in->current ? in->current : cairn_state_res_attrs(in->prior), "-");
		else
			render_changes(out, in, color);
		cairn_buf_puts(out, "    }\n\n");
	}
	if (!any) {
		cairn_buf_printf(out, "No changes. The resources of environment '%s' match the configuration.\n", e->opts.env);
		return 0;
	}
	return cairn_buf_printf(out, "%sPlan:%s %d to add, %d to change, %d to destroy.\n", col(color, C_BOLD),
				col(color, C_RESET), add, change, destroy);
}

void cairn_render_import_notes(const cairn_engine *e, const char *address, cairn_buf *out)
{
	size_t i, j, k;

	for (i = 0; i < e->ninsts; i++) {
		const cairn_inst *in = &e->insts[i];
		const cairn_res_cfg *res;

		if (strcmp(in->address, address) != 0 || in->res == SIZE_MAX || !in->schema)
			continue;
		res = &e->stack->resources[in->res];
		for (j = 0; j < in->schema->nattrs && !res->ignore_all_changes; j++) {
			const cairn_attr_schema *a = &in->schema->attrs[j];
			bool ignored = false;

			if (!a->write_only || !json_object_get(in->desired, a->name))
				continue;
			for (k = 0; k < res->nignore_changes && !ignored; k++)
				ignored = strcmp(res->ignore_changes[k], a->name) == 0;
			if (!ignored)
				cairn_buf_printf(out, "Note: %s is write-only (the cloud never returns it): its value is unknown "
						      "since this import, and the next apply sets it from the configuration; "
						      "add %s to lifecycle.ignore_changes to keep the current one.\n",
						 a->name, a->name);
		}
	}
}
