/*
 * report_html.c - a drift run as one self-contained HTML page: no script,
 * no font, no image, nothing fetched from the network; the styles are
 * inline. An environment x resource matrix whose cells open (<details>)
 * on what was found, a legend that says what each kind of finding means
 * for someone who never ran cairn, and the parity comparisons.
 */
#include "drift_int.h"

#include <string.h>
#include <time.h>

static const char *s_of(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static void esc(cairn_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': cairn_buf_puts(b, "&amp;"); break;
		case '<': cairn_buf_puts(b, "&lt;"); break;
		case '>': cairn_buf_puts(b, "&gt;"); break;
		case '"': cairn_buf_puts(b, "&quot;"); break;
		default: cairn_buf_putc(b, *s);
		}
	}
}

static const char style[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;background:#fff}"
	"h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}"
	".meta{color:#555;margin:0 0 16px}code{font:12.5px ui-monospace,Menlo,Consolas,monospace}"
	"table{border-collapse:collapse;margin:4px 0 12px}th,td{border:1px solid #d5d9e0;padding:4px 8px;"
	"text-align:left;vertical-align:top}thead th{background:#eef1f5;position:sticky;top:0}"
	"tbody th{font-weight:600;white-space:nowrap}"
	".b{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600;color:#fff}"
	".ok{background:#e7f6ea}.ok .b{background:#2e8540}"
	".changed{background:#fff1e0}.changed .b{background:#c76a00}"
	".deleted{background:#fde5e5}.deleted .b{background:#b3261e}"
	".unapplied{background:#e6eefc}.unapplied .b{background:#2f5fb3}"
	".unmanaged{background:#f3e8fb}.unmanaged .b{background:#7b3fa6}"
	".ignored{background:#f1f1f1}.ignored .b{background:#777}"
	".absent{color:#999}.notread{background:#fafafa;color:#777}"
	".parity .b{background:#a8327d}.parity{background:#fbe8f4}"
	".clean{color:#2e8540;font-weight:600}.drift{color:#c76a00;font-weight:600}"
	".error{color:#b3261e;font-weight:600}.applying{color:#2f5fb3;font-weight:600}"
	"details summary{cursor:pointer}details ul{margin:4px 0 0;padding-left:18px}"
	"li{margin:2px 0}.legend td:first-child{white-space:nowrap}";

static void badge(cairn_buf *b, const char *kind, const char *text)
{
	cairn_buf_printf(b, "<span class=\"b\">%s</span>", text ? text : kind);
}

/* The worst kind in a list of findings (ignored ones last). */
static const char *cell_class(const json_t *list)
{
	static const char *const order[] = { "deleted", "changed", "parity", "unapplied", "unmanaged" };
	size_t i, k;
	json_t *f;

	for (k = 0; k < 5; k++)
		json_array_foreach(list, i, f)
			if (!json_object_get(f, "ignored") && !strcmp(s_of(f, "kind"), order[k]))
				return order[k];
	return "ignored";
}

static void cell(cairn_buf *b, const json_t *list)
{
	const char *cls = cell_class(list);
	cairn_buf kinds = CAIRN_BUF_INIT;
	size_t i;
	json_t *f;

	json_array_foreach(list, i, f) {
		const char *k = json_object_get(f, "ignored") ? "ignored" : s_of(f, "kind");

		if (!strstr(cairn_buf_cstr(&kinds), k))
			cairn_buf_printf(&kinds, "%s%s", kinds.len ? ", " : "", k);
	}
	cairn_buf_printf(b, "<td class=\"%s\"><details><summary>", cls);
	badge(b, cls, cairn_buf_cstr(&kinds));
	cairn_buf_printf(b, " %zu</summary><ul>", json_array_size(list));
	json_array_foreach(list, i, f) {
		cairn_buf d = CAIRN_BUF_INIT;

		cairn_drift_describe(f, &d);
		cairn_buf_puts(b, "<li>");
		esc(b, cairn_buf_cstr(&d));
		if (json_object_get(f, "first_seen")) {
			time_t t = (time_t)json_integer_value(json_object_get(f, "first_seen"));
			struct tm tm;
			char when[40];

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
			cairn_buf_printf(b, " <small>(first seen %s)</small>", when);
		}
		cairn_buf_puts(b, "</li>");
		cairn_buf_release(&d);
	}
	cairn_buf_puts(b, "</ul></details></td>");
	cairn_buf_release(&kinds);
}

static void env_table(cairn_buf *b, const json_t *envs)
{
	size_t i;
	json_t *x;

	cairn_buf_puts(b, "<h2>Environments</h2><table><thead><tr><th>environment</th><th>status</th>"
			  "<th>changed</th><th>deleted</th><th>not applied</th><th>unmanaged</th><th>ignored</th>"
			  "<th>coverage (managed / seen)</th><th>read in</th></tr></thead><tbody>");
	json_array_foreach(envs, i, x) {
		json_t *c = json_object_get(x, "counts"), *cov = json_object_get(x, "coverage");
		const char *st = s_of(x, "status");

		cairn_buf_puts(b, "<tr><th>");
		esc(b, s_of(x, "name"));
		cairn_buf_printf(b, "</th><td class=\"%s\">", st);
		esc(b, st);
		if (!strcmp(st, "error")) {
			cairn_buf_puts(b, ": ");
			esc(b, s_of(x, "error"));
		} else if (!strcmp(st, "applying")) {
			json_t *l = json_object_get(x, "lock");

			cairn_buf_puts(b, ": not read, ");
			esc(b, s_of(l, "operation"));
			cairn_buf_puts(b, " in progress by ");
			esc(b, s_of(l, "holder"));
		}
		cairn_buf_printf(b, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>",
			(long long)json_integer_value(json_object_get(c, "changed")),
			(long long)json_integer_value(json_object_get(c, "deleted")),
			(long long)json_integer_value(json_object_get(c, "unapplied")),
			(long long)json_integer_value(json_object_get(c, "unmanaged")),
			(long long)json_integer_value(json_object_get(c, "ignored")));
		if (cov)
			cairn_buf_printf(b, "<td>%lld / %lld (%.1f%%)</td>",
				(long long)json_integer_value(json_object_get(cov, "managed")),
				(long long)json_integer_value(json_object_get(cov, "seen")),
				100 * json_number_value(json_object_get(cov, "ratio")));
		else
			cairn_buf_puts(b, "<td>-</td>");
		cairn_buf_printf(b, "<td>%.2f s</td></tr>", json_number_value(json_object_get(x, "duration_s")));
	}
	cairn_buf_puts(b, "</tbody></table>");
}

static const char legend[] =
	"<h2>What the cells mean</h2><table class=\"legend\"><tbody>"
	"<tr><td class=\"ok\"><span class=\"b\">in sync</span></td><td>The object in the cloud is as cairn recorded it, "
	"and the record is what the configuration asks for.</td></tr>"
	"<tr><td class=\"changed\"><span class=\"b\">changed</span></td><td>Someone changed the object outside cairn "
	"(a console, a script): the cloud's value differs from the one cairn recorded.</td></tr>"
	"<tr><td class=\"deleted\"><span class=\"b\">deleted</span></td><td>cairn recorded the object, but it is gone "
	"from the cloud.</td></tr>"
	"<tr><td class=\"unapplied\"><span class=\"b\">unapplied</span></td><td>The configuration was changed and the "
	"change was never applied: it wants another value than the recorded one, or an object that was never "
	"created, or no longer wants one that still exists.</td></tr>"
	"<tr><td class=\"unmanaged\"><span class=\"b\">unmanaged</span></td><td>An object exists that no resource of "
	"the stack manages: it carries this stack's tags but is not in cairn's record (left by a crash or a "
	"<code>state rm</code>), or it sits inside a managed network or cluster.</td></tr>"
	"<tr><td class=\"parity\"><span class=\"b\">parity</span></td><td>Two environments differ where their "
	"configuration says they should be the same.</td></tr>"
	"<tr><td class=\"ignored\"><span class=\"b\">ignored</span></td><td>A finding that a rule in the stack "
	"(<code>drift: ignore:</code>) accepts, with its reason; counted, not drift.</td></tr>"
	"<tr><td class=\"absent\">&mdash;</td><td>Not in this environment.</td></tr>"
	"<tr><td class=\"notread\">not read</td><td>The environment could not be read (an error, or an apply "
	"was running).</td></tr></tbody></table>";

/* subject -> env name -> [findings]; and the subjects' types */
static void collect(const json_t *envs, json_t *rows, json_t *types)
{
	cairn_buf subj = CAIRN_BUF_INIT;
	size_t i, j;
	json_t *x, *f, *a;

	json_array_foreach(envs, i, x) {
		const char *env = s_of(x, "name");

		json_array_foreach(json_object_get(x, "addresses"), j, a)
			if (!json_object_get(rows, json_string_value(a)))
				json_object_set_new(rows, json_string_value(a), json_object());
		json_array_foreach(json_object_get(x, "findings"), j, f) {
			json_t *row, *list;

			cairn_buf_clear(&subj);
			cairn_drift__subject(f, &subj);
			if (!(row = json_object_get(rows, cairn_buf_cstr(&subj)))) {
				row = json_object();
				json_object_set_new(rows, cairn_buf_cstr(&subj), row);
			}
			if (!(list = json_object_get(row, env))) {
				list = json_array();
				json_object_set_new(row, env, list);
			}
			json_array_append(list, f);
			if (json_object_get(f, "type"))
				json_object_set(types, cairn_buf_cstr(&subj), json_object_get(f, "type"));
		}
	}
	cairn_buf_release(&subj);
}

static int row_cmp(const void *a, const void *b)
{
	const json_t *const *x = a, *const *y = b;
	int dx = json_integer_value(json_array_get(*x, 1)) > 0, dy = json_integer_value(json_array_get(*y, 1)) > 0;

	if (dx != dy)
		return dy - dx;
	return strcmp(json_string_value(json_array_get(*x, 0)), json_string_value(json_array_get(*y, 0)));
}

static void matrix(cairn_buf *b, const json_t *envs)
{
	json_t *rows = json_object(), *types = json_object(), *row, *x, **order;
	size_t n, i, k;
	const char *subj;

	collect(envs, rows, types);
	n = json_object_size(rows);
	order = calloc(n + 1, sizeof(*order));
	i = 0;
	json_object_foreach(rows, subj, row)
		if (order)
			order[i++] = json_pack("[s,i]", subj, (int)json_object_size(row));
	if (order)
		qsort(order, n, sizeof(*order), row_cmp);
	cairn_buf_printf(b, "<h2>Resources</h2><p>%zu resources and objects; the ones with findings first. "
			    "Open a cell for the details.</p><table class=\"matrix\"><thead><tr><th>resource</th>", n);
	json_array_foreach(envs, k, x) {
		cairn_buf_puts(b, "<th>");
		esc(b, s_of(x, "name"));
		cairn_buf_puts(b, "</th>");
	}
	cairn_buf_puts(b, "</tr></thead><tbody>");
	for (i = 0; order && i < n; i++) {
		const char *name = json_string_value(json_array_get(order[i], 0));

		row = json_object_get(rows, name);
		cairn_buf_puts(b, "<tr><th>");
		esc(b, name);
		if (json_object_get(types, name) && strncmp(name, "unmanaged ", 10) != 0) {
			cairn_buf_puts(b, " <small>");
			esc(b, json_string_value(json_object_get(types, name)));
			cairn_buf_puts(b, "</small>");
		}
		cairn_buf_puts(b, "</th>");
		json_array_foreach(envs, k, x) {
			const char *st = s_of(x, "status");
			json_t *list = json_object_get(row, s_of(x, "name")), *a;
			bool here = false;
			size_t j;

			if (list) {
				cell(b, list);
				continue;
			}
			if (!strcmp(st, "applying") || (!strcmp(st, "error") && !json_array_size(json_object_get(x, "addresses")))) {
				cairn_buf_puts(b, "<td class=\"notread\">not read</td>");
				continue;
			}
			json_array_foreach(json_object_get(x, "addresses"), j, a)
				if (!strcmp(json_string_value(a), name)) {
					here = true;
					break;
				}
			cairn_buf_puts(b, here ? "<td class=\"ok\"><span class=\"b\">in sync</span></td>"
					       : "<td class=\"absent\">&mdash;</td>");
		}
		cairn_buf_puts(b, "</tr>");
		json_decref(order[i]);
	}
	cairn_buf_puts(b, "</tbody></table>");
	free(order);
	json_decref(rows);
	json_decref(types);
}

static void parity(cairn_buf *b, const json_t *par)
{
	size_t i, j;
	json_t *p, *f;

	if (!json_array_size(par))
		return;
	cairn_buf_puts(b, "<h2>Parity between environments</h2>");
	json_array_foreach(par, i, p) {
		json_t *c = json_object_get(p, "counts");

		cairn_buf_puts(b, "<h3>");
		esc(b, s_of(p, "pair"));
		cairn_buf_printf(b, ": <span class=\"%s\">", !strcmp(s_of(p, "status"), "differ") ? "drift" :
				 !strcmp(s_of(p, "status"), "error") ? "error" : "clean");
		esc(b, s_of(p, "status"));
		cairn_buf_puts(b, "</span></h3>");
		if (!strcmp(s_of(p, "status"), "error") || !strcmp(s_of(p, "status"), "applying")) {
			cairn_buf_puts(b, "<p>");
			esc(b, s_of(p, "error"));
			cairn_buf_puts(b, "</p>");
			continue;
		}
		cairn_buf_printf(b, "<p>%lld attributes compared; %lld differences explained by the configuration; "
				    "%lld findings, %lld ignored.</p>",
			(long long)json_integer_value(json_object_get(c, "compared")),
			(long long)json_integer_value(json_object_get(c, "explained")),
			(long long)json_integer_value(json_object_get(c, "findings")),
			(long long)json_integer_value(json_object_get(c, "ignored")));
		if (!json_array_size(json_object_get(p, "findings")))
			continue;
		cairn_buf_puts(b, "<table><thead><tr><th>resource</th><th>finding</th></tr></thead><tbody>");
		json_array_foreach(json_object_get(p, "findings"), j, f) {
			cairn_buf d = CAIRN_BUF_INIT;

			cairn_drift_describe(f, &d);
			cairn_buf_printf(b, "<tr class=\"%s\"><th>", json_object_get(f, "ignored") ? "ignored" : "parity");
			esc(b, s_of(f, "address"));
			cairn_buf_puts(b, "</th><td>");
			esc(b, cairn_buf_cstr(&d));
			cairn_buf_puts(b, "</td></tr>");
			cairn_buf_release(&d);
		}
		cairn_buf_puts(b, "</tbody></table>");
	}
}

int cairn_drift_report_html(const json_t *doc, cairn_buf *out)
{
	json_t *envs = json_object_get(doc, "environments");
	time_t t = (time_t)json_integer_value(json_object_get(doc, "started_at"));
	int code = cairn_drift_exit_code(doc);
	struct tm tm;
	char when[40];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	cairn_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width\"><title>cairn drift: ");
	esc(out, s_of(doc, "stack"));
	cairn_buf_printf(out, "</title><style>%s</style></head><body><h1>Drift report of stack <code>", style);
	esc(out, s_of(doc, "stack"));
	cairn_buf_printf(out, "</code></h1><p class=\"meta\">Run started %s and took %.2f s. Result: <span class=\"%s\">%s</span> "
			      "(exit code %d).</p>", when, json_number_value(json_object_get(doc, "duration_s")),
			 code == 0 ? "clean" : code == 2 ? "drift" : "error",
			 code == 0 ? "no drift" : code == 2 ? "drift found" : "an environment could not be read", code);
	if (json_array_size(envs)) {
		env_table(out, envs);
		matrix(out, envs);
	}
	parity(out, json_object_get(doc, "parity"));
	cairn_buf_puts(out, legend);
	return cairn_buf_puts(out, "<p class=\"meta\">Made by cairn " CAIRN_VERSION
				   " (<code>cairn drift</code>). This page is self-contained: it loads nothing.</p></body></html>\n");
}
