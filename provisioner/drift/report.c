/*
 * report.c - the machine reports of a drift run, made from its document
 * (drift.h; every format documented in docs/drift.md): JSON (the document
 * itself), JUnit XML (one test suite per environment and per parity pair,
 * one failing test case per drifted resource), and a Prometheus textfile
 * for node_exporter's textfile collector.
 */
#include "drift_int.h"

#include <string.h>
#include <time.h>

static const char *s_of(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static json_int_t i_of(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

int cairn_drift_report_json(const json_t *doc, cairn_buf *out)
{
	char *s = json_dumps(doc, JSON_INDENT(2));
	int rc;

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_buf_puts(out, s);
	if (!rc)
		rc = cairn_buf_putc(out, '\n');
	free(s);
	return rc;
}

/* ---- JUnit ---- */

static void xml_text(cairn_buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&': cairn_buf_puts(b, "&amp;"); break;
		case '<': cairn_buf_puts(b, "&lt;"); break;
		case '>': cairn_buf_puts(b, "&gt;"); break;
		case '"': cairn_buf_puts(b, "&quot;"); break;
		case '\'': cairn_buf_puts(b, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\n' && c != '\t')
				cairn_buf_putc(b, ' '); /* not allowed in XML 1.0 */
			else
				cairn_buf_putc(b, (char)c);
		}
	}
}

static char *render(const json_t *v)
{
	return cairn_value_render(v ? v : json_null());
}

void cairn_drift_describe(const json_t *f, cairn_buf *b)
{
	const char *kind = s_of(f, "kind"), *attr = json_string_value(json_object_get(f, "attribute"));
	char *x = NULL, *y = NULL;

	if (!strcmp(kind, "changed")) {
		x = render(json_object_get(f, "recorded"));
		y = render(json_object_get(f, "actual"));
		cairn_buf_printf(b, "changed outside cairn: %s: recorded %s, actual %s", attr ? attr : "?", x, y);
	} else if (!strcmp(kind, "deleted")) {
		cairn_buf_puts(b, "deleted outside cairn (recorded in the state, gone from the cloud)");
	} else if (!strcmp(kind, "unapplied")) {
		if (attr) {
			x = render(json_object_get(f, "recorded"));
			y = render(json_object_get(f, "desired"));
			cairn_buf_printf(b, "configuration not yet applied (%s): %s: recorded %s, desired %s", s_of(f, "action"),
					 attr, x, y);
		} else {
			cairn_buf_printf(b, "configuration not yet applied (%s): %s", s_of(f, "action"), s_of(f, "reason"));
		}
	} else if (!strcmp(kind, "unmanaged")) {
		cairn_buf_printf(b, "unmanaged %s %s: %s", s_of(f, "type"), s_of(f, "id"), s_of(f, "reason"));
	} else if (!strcmp(kind, "parity")) {
		json_t *vals = json_object_get(f, "values");
		const char *k;
		json_t *v;
		bool first = true;

		cairn_buf_printf(b, "parity: %s", attr ? attr : "the resource");
		json_object_foreach(vals, k, v) {
			char *r = json_is_string(v) && !attr ? strdup(json_string_value(v)) : render(v);

			cairn_buf_printf(b, "%s %s %s", first ? ":" : ",", k, r ? r : "?");
			free(r);
			first = false;
		}
		if (json_object_get(f, "reason"))
			cairn_buf_printf(b, " (%s)", s_of(f, "reason"));
	} else {
		cairn_buf_puts(b, kind);
	}
	if (json_object_get(f, "ignored")) {
		json_t *ig = json_object_get(f, "ignored");

		cairn_buf_printf(b, " [ignored: %s, %s]", s_of(ig, "reason"), s_of(ig, "rule"));
	} else if (json_object_get(f, "ignore_expired")) {
		json_t *ig = json_object_get(f, "ignore_expired");

		cairn_buf_printf(b, " [an ignore rule expired on %s: %s, %s]", s_of(ig, "expires"), s_of(ig, "reason"),
				 s_of(ig, "rule"));
	}
	free(x);
	free(y);
}

void cairn_drift__subject(const json_t *f, cairn_buf *b)
{
	if (json_object_get(f, "address"))
		cairn_buf_puts(b, s_of(f, "address"));
	else
		cairn_buf_printf(b, "unmanaged %s %s", s_of(f, "type"), s_of(f, "id"));
}

/* findings grouped by subject, in first-seen order: subject -> [finding] */
static json_t *by_subject(const json_t *findings)
{
	json_t *g = json_object(), *f;
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i;

	json_array_foreach(findings, i, f) {
		json_t *list;

		cairn_buf_clear(&b);
		cairn_drift__subject(f, &b);
		if (!(list = json_object_get(g, cairn_buf_cstr(&b)))) {
			list = json_array();
			json_object_set_new(g, cairn_buf_cstr(&b), list);
		}
		json_array_append(list, f);
	}
	cairn_buf_release(&b);
	return g;
}

static void junit_case(cairn_buf *b, const char *suite, const char *name, const json_t *list)
{
	cairn_buf msg = CAIRN_BUF_INIT, kinds = CAIRN_BUF_INIT, text = CAIRN_BUF_INIT;
	size_t i, active = 0;
	json_t *f;

	json_array_foreach(list, i, f) {
		cairn_drift_describe(f, &text);
		cairn_buf_putc(&text, '\n');
		if (json_object_get(f, "ignored"))
			continue;
		if (active++ == 0 || !strstr(cairn_buf_cstr(&kinds), s_of(f, "kind")))
			cairn_buf_printf(&kinds, "%s%s", kinds.len ? "," : "", s_of(f, "kind"));
		if (active <= 3) {
			if (msg.len)
				cairn_buf_puts(&msg, "; ");
			cairn_drift_describe(f, &msg);
		}
	}
	if (active > 3)
		cairn_buf_printf(&msg, "; and %zu more", active - 3);
	cairn_buf_puts(b, "    <testcase classname=\"");
	xml_text(b, suite);
	cairn_buf_puts(b, "\" name=\"");
	xml_text(b, name);
	cairn_buf_puts(b, "\" time=\"0\">\n");
	if (active) {
		cairn_buf_puts(b, "      <failure type=\"");
		xml_text(b, cairn_buf_cstr(&kinds));
		cairn_buf_puts(b, "\" message=\"");
		xml_text(b, cairn_buf_cstr(&msg));
		cairn_buf_puts(b, "\">");
		xml_text(b, cairn_buf_cstr(&text));
		cairn_buf_puts(b, "</failure>\n");
	} else if (text.len) {
		cairn_buf_puts(b, "      <system-out>");
		xml_text(b, cairn_buf_cstr(&text));
		cairn_buf_puts(b, "</system-out>\n");
	}
	cairn_buf_puts(b, "    </testcase>\n");
	cairn_buf_release(&msg);
	cairn_buf_release(&kinds);
	cairn_buf_release(&text);
}

static void iso_time(char *out, size_t n, json_int_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void junit_suite(cairn_buf *b, const char *name, const json_t *res, const json_t *findings, const json_t *addresses,
			const char *when, size_t *tests, size_t *failures, size_t *errors, size_t *skipped)
{
	const char *status = s_of(res, "status");
	json_t *groups = by_subject(findings), *list;
	cairn_buf body = CAIRN_BUF_INIT;
	size_t nt = 0, nf = 0, ne = 0, ns = 0, i, j;
	const char *subj;
	json_t *a;

	if (!strcmp(status, "error")) {
		cairn_buf_printf(&body, "    <testcase classname=\"");
		xml_text(&body, name);
		cairn_buf_puts(&body, "\" name=\"(environment)\" time=\"0\">\n      <error type=\"error\" message=\"");
		xml_text(&body, s_of(res, "error"));
		cairn_buf_puts(&body, "\"/>\n    </testcase>\n");
		nt++;
		ne++;
	} else if (!strcmp(status, "applying")) {
		json_t *lock = json_object_get(res, "lock");

		cairn_buf_printf(&body, "    <testcase classname=\"");
		xml_text(&body, name);
		cairn_buf_puts(&body, "\" name=\"(environment)\" time=\"0\">\n      <skipped message=\"");
		if (lock)
			cairn_buf_printf(&body, "not read: an %s by %s (pid %lld) holds the lock", s_of(lock, "operation"),
					 s_of(lock, "holder"), (long long)i_of(lock, "pid"));
		else
			xml_text(&body, s_of(res, "error"));
		cairn_buf_puts(&body, "\"/>\n    </testcase>\n");
		nt++;
		ns++;
	}
	/* resources without findings pass */
	json_array_foreach(addresses, i, a)
		if (!json_object_get(groups, json_string_value(a))) {
			cairn_buf_puts(&body, "    <testcase classname=\"");
			xml_text(&body, name);
			cairn_buf_puts(&body, "\" name=\"");
			xml_text(&body, json_string_value(a));
			cairn_buf_puts(&body, "\" time=\"0\"/>\n");
			nt++;
		}
	json_object_foreach(groups, subj, list) {
		bool active = false;

		json_array_foreach(list, j, a)
			if (!json_object_get(a, "ignored"))
				active = true;
		junit_case(&body, name, subj, list);
		nt++;
		if (active)
			nf++;
	}
	cairn_buf_puts(b, "  <testsuite name=\"");
	xml_text(b, name);
	cairn_buf_printf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\">\n",
			 nt, nf, ne, ns, json_number_value(json_object_get(res, "duration_s")), when);
	cairn_buf_puts(b, cairn_buf_cstr(&body));
	cairn_buf_puts(b, "  </testsuite>\n");
	*tests += nt;
	*failures += nf;
	*errors += ne;
	*skipped += ns;
	cairn_buf_release(&body);
	json_decref(groups);
}

int cairn_drift_report_junit(const json_t *doc, cairn_buf *out)
{
	cairn_buf suites = CAIRN_BUF_INIT;
	size_t tests = 0, failures = 0, errors = 0, skipped = 0, i;
	char when[32];
	json_t *x;

	iso_time(when, sizeof(when), i_of(doc, "started_at"));
	json_array_foreach(json_object_get(doc, "environments"), i, x) {
		cairn_buf name = CAIRN_BUF_INIT;

		cairn_buf_printf(&name, "drift.%s", s_of(x, "name"));
		junit_suite(&suites, cairn_buf_cstr(&name), x, json_object_get(x, "findings"), json_object_get(x, "addresses"),
			    when, &tests, &failures, &errors, &skipped);
		cairn_buf_release(&name);
	}
	json_array_foreach(json_object_get(doc, "parity"), i, x) {
		cairn_buf name = CAIRN_BUF_INIT;

		cairn_buf_printf(&name, "parity.%s", s_of(x, "pair"));
		junit_suite(&suites, cairn_buf_cstr(&name), x, json_object_get(x, "findings"), NULL, when, &tests,
			    &failures, &errors, &skipped);
		cairn_buf_release(&name);
	}
	cairn_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cairn drift ");
	xml_text(out, s_of(doc, "stack"));
	cairn_buf_printf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n", tests,
			 failures, errors, skipped, json_number_value(json_object_get(doc, "duration_s")));
	cairn_buf_puts(out, cairn_buf_cstr(&suites));
	cairn_buf_release(&suites);
	return cairn_buf_puts(out, "</testsuites>\n");
}

/* ---- Prometheus textfile ---- */

static void metric_head(cairn_buf *b, const char *name, const char *help)
{
	cairn_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void sample(cairn_buf *b, const char *name, const char *stack, const char *lname, const char *lval,
		   const char *extra_name, const char *extra_val, double v)
{
	cairn_buf_printf(b, "%s{stack=\"", name);
	cairn_buf_put_label(b, stack);
	cairn_buf_printf(b, "\",%s=\"", lname);
	cairn_buf_put_label(b, lval);
	if (extra_name) {
		cairn_buf_printf(b, "\",%s=\"", extra_name);
		cairn_buf_put_label(b, extra_val);
	}
	cairn_buf_printf(b, "\"} %.17g\n", v);
}

int cairn_drift_report_metrics(const json_t *doc, cairn_buf *out)
{
	static const char *const kinds[] = { "changed", "deleted", "unapplied", "unmanaged" };
	static const char *const statuses[] = { "clean", "drift", "applying", "error" };
	const char *stack = s_of(doc, "stack");
	json_t *envs = json_object_get(doc, "environments"), *par = json_object_get(doc, "parity"), *x;
	size_t i, k;

	metric_head(out, "cairn_drift_resources", "Resources with drift of each kind (findings an ignore rule hides not counted).");
	json_array_foreach(envs, i, x)
		for (k = 0; k < 4; k++)
			sample(out, "cairn_drift_resources", stack, "environment", s_of(x, "name"), "kind", kinds[k],
			       (double)i_of(json_object_get(x, "counts"), kinds[k]));
	metric_head(out, "cairn_drift_unmanaged_objects", "Objects found in the cloud that no resource of the stack manages.");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_unmanaged_objects", stack, "environment", s_of(x, "name"), NULL, NULL,
		       (double)i_of(json_object_get(x, "coverage"), "unmanaged"));
	metric_head(out, "cairn_drift_ignored_findings", "Findings the stack's drift ignore rules hide.");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_ignored_findings", stack, "environment", s_of(x, "name"), NULL, NULL,
		       (double)i_of(json_object_get(x, "counts"), "ignored"));
	metric_head(out, "cairn_drift_coverage_ratio", "Managed objects over objects seen (managed and unmanaged).");
	json_array_foreach(envs, i, x)
		if (json_object_get(x, "coverage"))
			sample(out, "cairn_drift_coverage_ratio", stack, "environment", s_of(x, "name"), NULL, NULL,
			       json_number_value(json_object_get(json_object_get(x, "coverage"), "ratio")));
	metric_head(out, "cairn_drift_managed_objects", "Objects the state holds that still exist.");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_managed_objects", stack, "environment", s_of(x, "name"), NULL, NULL,
		       (double)i_of(json_object_get(x, "coverage"), "managed"));
	metric_head(out, "cairn_drift_status", "1 for the environment's status in the last run: clean, drift, applying (not read: its lock is held) or error.");
	json_array_foreach(envs, i, x)
		for (k = 0; k < 4; k++)
			sample(out, "cairn_drift_status", stack, "environment", s_of(x, "name"), "status", statuses[k],
			       !strcmp(s_of(x, "status"), statuses[k]) ? 1 : 0);
	metric_head(out, "cairn_drift_errors", "1 when the environment could not be read in the last run.");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_errors", stack, "environment", s_of(x, "name"), NULL, NULL,
		       !strcmp(s_of(x, "status"), "error") ? 1 : 0);
	metric_head(out, "cairn_drift_last_run_timestamp_seconds", "When the last drift run started (unix time).");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_last_run_timestamp_seconds", stack, "environment", s_of(x, "name"), NULL, NULL,
		       (double)i_of(doc, "started_at"));
	metric_head(out, "cairn_drift_run_duration_seconds", "How long reading the environment took in the last run.");
	json_array_foreach(envs, i, x)
		sample(out, "cairn_drift_run_duration_seconds", stack, "environment", s_of(x, "name"), NULL, NULL,
		       json_number_value(json_object_get(x, "duration_s")));
	if (json_array_size(par)) {
		metric_head(out, "cairn_drift_parity_findings", "Differences between two environments that their configuration does not explain.");
		json_array_foreach(par, i, x)
			sample(out, "cairn_drift_parity_findings", stack, "pair", s_of(x, "pair"), NULL, NULL,
			       (double)i_of(json_object_get(x, "counts"), "findings"));
		metric_head(out, "cairn_drift_parity_errors", "1 when a pair could not be compared.");
		json_array_foreach(par, i, x)
			sample(out, "cairn_drift_parity_errors", stack, "pair", s_of(x, "pair"), NULL, NULL,
			       !strcmp(s_of(x, "status"), "error") ? 1 : 0);
	}
	metric_head(out, "cairn_drift_run_wall_seconds", "Wall time of the whole drift run.");
	cairn_buf_puts(out, "cairn_drift_run_wall_seconds{stack=\"");
	cairn_buf_put_label(out, stack);
	return cairn_buf_printf(out, "\"} %.17g\n", json_number_value(json_object_get(doc, "duration_s")));
}
