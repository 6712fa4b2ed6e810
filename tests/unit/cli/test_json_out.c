/*
 * test_json_out.c - the --json stream's writer (cli/json_out.c) and the
 * progress of an apply (cli/progress.c): every line one JSON object with
 * the common fields, diagnostics with their range, durations as people
 * read them, progress lines once per interval for an operation still
 * running, and CAIRN_PROGRESS_INTERVAL checked.
 */
#include "t.h"
#include "cli/json_out.h"
#include "cli/progress.h"

#include <time.h>

/* The lines written to a memory stream, parsed: an array of objects. */
static json_t *lines_of(char *text)
{
	json_t *arr = json_array();
	char *save = NULL, *line;
	json_error_t jerr;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, &jerr);

		if (!o || !json_is_object(o)) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_json_out__lines(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cairn_jout *j = NULL;
	json_t *l = NULL, *d;
	cairn_pos pos = { "stack.yaml", 4, 9 };
	size_t i;

	T_CHECK(f != NULL);
	T_OK(cairn_jout_new(&j, f, "apply"));
	T_OK(cairn_jout_emit(j, "outputs", "info", json_pack("{s:{}}", "outputs"), "Outputs: %d", 0));
	cairn_error_set_at(CAIRN_EINVAL, &pos, "unknown reference 'x'");
	T_OK(cairn_jout_diagnostic(j, "error", cairn_error_last(), "unknown reference 'x'"));
	cairn_error_set(CAIRN_ERROR, "some operations failed");
	T_OK(cairn_jout_diagnostic(j, "error", cairn_error_last(), NULL));
	/* a message that is not UTF-8 cannot be a JSON string: refused, nothing written */
	T_CHECK(cairn_jout_emit(j, "diagnostic", "error", NULL, "bad \xff byte") != 0);
	cairn_jout_free(j);
	fclose(f);
	l = lines_of(text);
	T_CHECK(l != NULL);
	T_EQ_INT(json_array_size(l), 4);
	for (i = 0; i < json_array_size(l); i++) {
		json_t *o = json_array_get(l, i);

		T_CHECK(str(o, "@level") && str(o, "@message") && str(o, "type"));
		T_EQ_INT(strlen(str(o, "@timestamp")), strlen("2026-12-02T13:55:07.249585Z"));
	}
	T_EQ_STR(str(json_array_get(l, 0), "type"), "version");
	T_EQ_STR(str(json_array_get(l, 0), "stream"), CAIRN_JOUT_VERSION);
	T_EQ_STR(str(json_array_get(l, 0), "command"), "apply");
	T_EQ_STR(str(json_array_get(l, 1), "type"), "outputs");
	T_EQ_STR(str(json_array_get(l, 1), "@message"), "Outputs: 0");
	d = json_object_get(json_array_get(l, 2), "diagnostic");
	T_EQ_STR(str(json_array_get(l, 2), "@message"), "error: stack.yaml:4:9: unknown reference 'x'");
	T_EQ_STR(str(json_array_get(l, 2), "@level"), "error");
	T_EQ_STR(str(d, "summary"), "unknown reference 'x'");
	T_EQ_STR(str(json_object_get(d, "range"), "filename"), "stack.yaml");
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(d, "range"), "line")), 4);
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(d, "range"), "column")), 9);
	d = json_object_get(json_array_get(l, 3), "diagnostic");
	T_EQ_STR(str(d, "summary"), "some operations failed");
	T_CHECK(json_object_get(d, "range") == NULL);
	json_decref(l);
	free(text);
}

static void test_json_out__duration(void)
{
	char b[32];

	cairn_jout_duration(b, sizeof(b), 0);
	T_EQ_STR(b, "0s");
	cairn_jout_duration(b, sizeof(b), 59.9);
	T_EQ_STR(b, "59s");
	cairn_jout_duration(b, sizeof(b), 90);
	T_EQ_STR(b, "1m30s");
	cairn_jout_duration(b, sizeof(b), 3723);
	T_EQ_STR(b, "1h2m3s");
}

static void test_json_out__interval(void)
{
	cairn_progress p;
	static const char *const bad[] = { "soon", "0", "-1", "1m", "", NULL };
	size_t i;

	unsetenv("CAIRN_PROGRESS_INTERVAL");
	T_OK(cairn_progress_init(&p, NULL, NULL));
	T_CHECK(p.interval == 30);
	setenv("CAIRN_PROGRESS_INTERVAL", "0.5", 1);
	T_OK(cairn_progress_init(&p, NULL, NULL));
	T_CHECK(p.interval == 0.5);
	for (i = 0; bad[i]; i++) {
		setenv("CAIRN_PROGRESS_INTERVAL", bad[i], 1);
		if (!*bad[i]) {
			T_OK(cairn_progress_init(&p, NULL, NULL)); /* empty: the default */
			continue;
		}
		T_CHECK(cairn_progress_init(&p, NULL, NULL) == CAIRN_EINVAL);
		T_CONTAINS(cairn_error_last()->message, "CAIRN_PROGRESS_INTERVAL expects seconds");
	}
	unsetenv("CAIRN_PROGRESS_INTERVAL");
}

static void nap(double s)
{
	struct timespec ts = { 0, (long)(s * 1e9) };

	nanosleep(&ts, NULL);
}

/* An operation still running after each interval gets one progress line
 * per interval, none before; the line of its end has its elapsed time. */
static void test_json_out__progress(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cairn_jout *j = NULL;
	cairn_progress p;
	cairn_event start = { CAIRN_EV_START, "db", "db", "aws.db_instance", "create", NULL };
	cairn_event tick = { CAIRN_EV_TICK, NULL, NULL, NULL, NULL, NULL };
	cairn_event done = { CAIRN_EV_DONE, "db", "db", "aws.db_instance", "create", NULL };
	json_t *l = NULL, *o;

	setenv("CAIRN_PROGRESS_INTERVAL", "0.1", 1);
	T_OK(cairn_jout_new(&j, f, "apply"));
	T_OK(cairn_progress_init(&p, j, NULL));
	cairn_progress_event(&p, &start);
	cairn_progress_event(&p, &tick);     /* too early: nothing */
	nap(0.15);
	cairn_progress_event(&p, &tick);     /* one line */
	cairn_progress_event(&p, &tick);     /* the same interval: nothing */
	nap(0.15);
	cairn_progress_event(&p, &tick);     /* another */
	cairn_progress_event(&p, &done);
	cairn_progress_event(&p, &tick);     /* it ended: nothing */
	cairn_progress_release(&p);
	cairn_jout_free(j);
	fclose(f);
	unsetenv("CAIRN_PROGRESS_INTERVAL");
	T_CHECK((l = lines_of(text)) != NULL);
	T_EQ_INT(json_array_size(l), 5);
	T_EQ_STR(str(json_array_get(l, 1), "type"), "apply_start");
	T_EQ_STR(str(json_array_get(l, 2), "type"), "apply_progress");
	T_EQ_STR(str(json_array_get(l, 3), "type"), "apply_progress");
	o = json_array_get(l, 2);
	T_EQ_STR(str(o, "@message"), "db: still creating... (0s elapsed)");
	T_EQ_STR(str(json_object_get(o, "resource"), "type"), "aws.db_instance");
	T_CHECK(json_real_value(json_object_get(o, "elapsed_seconds")) >= 0.15);
	o = json_array_get(l, 4);
	T_EQ_STR(str(o, "type"), "apply_complete");
	T_EQ_STR(str(o, "@message"), "db: creation complete after 0s");
	T_CHECK(json_real_value(json_object_get(o, "elapsed_seconds")) >= 0.3);
	json_decref(l);
	free(text);
}

static const t_case cases[] = {
	T_CASE(test_json_out__lines),
	T_CASE(test_json_out__duration),
	T_CASE(test_json_out__interval),
	T_CASE(test_json_out__progress),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
