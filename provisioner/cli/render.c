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

static void render_value(cairn_buf *out, const json_t *v, bool sensitive)
{
	char *s;

	if (sensitive && v && !json_is_null(v)) {
		cairn_buf_puts(out, "(sensitive)");
		return;
	}
	s = cairn_value_render(v);
	cairn_buf_puts(out, s ? s : "?");
	free(s);
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
	const char **keys;
	size_t n = json_object_size(attrs), i = 0, j, w = name_width(attrs);
	const char *k;
	json_t *v;

	keys = malloc((n + 1) * sizeof(char *));
	if (!keys)
		return;
	json_object_foreach((json_t *)attrs, k, v)
		keys[i++] = k;
	/* sorted for stable output */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		v = json_object_get(attrs, keys[i]);
		if (json_is_null(v))
			continue;
		cairn_buf_printf(out, "      %s %-*s = ", sign, (int)w, keys[i]);
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
		const char *sign = json_is_null(before) ? "+" : json_is_null(after) ? "-" : "~";

		cairn_buf_printf(out, "      %s%s%s %-*s = ", col(color, C_YELLOW), sign, col(color, C_RESET), (int)w, name);
		if (!json_is_null(before) && !json_is_null(after)) {
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

		if (in->gone && in->action != CAIRN_ACT_NOOP && in->targeted)
			cairn_buf_printf(out, "  # %s was deleted outside cairn\n", in->address);
		if (!in->targeted || in->action == CAIRN_ACT_NOOP)
			continue;
		if (!any)
			cairn_buf_printf(out, "cairn will perform the following actions in environment '%s':\n\n", e->opts.env);
		any = true;
		switch (in->action) {
		case CAIRN_ACT_CREATE: head = "will be created"; sign = "  +"; c = C_GREEN; break;
		case CAIRN_ACT_UPDATE: head = "will be updated in place"; sign = "  ~"; c = C_YELLOW; break;
		case CAIRN_ACT_REPLACE:
			head = "must be replaced";
			sign = in->cbd ? "+/-" : "-/+";
			c = C_RED;
			break;
		default: head = "will be destroyed"; sign = "  -"; c = C_RED; break;
		}
		cairn_buf_printf(out, "  %s# %s%s %s", col(color, C_BOLD), in->address, col(color, C_RESET), head);
		if (in->reason && in->action != CAIRN_ACT_CREATE)
			cairn_buf_printf(out, " (%s)", in->reason);
		cairn_buf_printf(out, "\n%s%s%s %s (%s) {\n", col(color, c), sign, col(color, C_RESET), in->address, in->type);
		if (in->action == CAIRN_ACT_CREATE)
			render_attrs(out, in, in->planned, "+");
		else if (in->action == CAIRN_ACT_DELETE)
			render_attrs(out, in, in->current ? in->current : in->prior->attrs, "-");
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

