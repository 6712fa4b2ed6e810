/*
 * ssh_run.c - the SSH transport (provisioner/ssh) driven from a test
 * script: reads a JSON array of {"host": {...}, "req": {...}, "after": N}
 * from the file named on the command line, submits every request at
 * once (or, with "after", when request N has answered) on one event
 * loop, and prints {"results": [answer, ...], "stats": {...}} with the
 * answers in input order. --accept-new accepts unknown host keys;
 * --keepalive S and --connect-timeout S set those options.
 * Exit 0 when every request was answered.
 */
#include "ssh/ssh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
	json_t *host, *req, *result;
	long after;
	bool sent;
} item;

static item *items;
static size_t nitems, answered;
static cairn_ssh *pool;

static void submit(size_t i);

static void on_answer(void *ud, json_t *result)
{
	size_t i = (size_t)(uintptr_t)ud, k;

	items[i].result = result;
	answered++;
	for (k = 0; k < nitems; k++)
		if (!items[k].sent && items[k].after == (long)i)
			submit(k);
}

static void submit(size_t i)
{
	items[i].sent = true;
	if (cairn_ssh_submit(pool, items[i].host, items[i].req, on_answer, (void *)(uintptr_t)i) != 0) {
		const cairn_error *e = cairn_error_last();

		items[i].result = json_pack("{s:s,s:s}", "error", e ? e->message : "?", "code", "submit");
		answered++;
	}
}

int main(int argc, char **argv)
{
	cairn_ssh_opts o = { 0 };
	cairn_loop *loop = NULL;
	cairn_ssh_stats st;
	json_error_t jerr;
	json_t *in, *out, *res;
	const char *file = NULL;
	size_t i;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--accept-new"))
			o.accept_new = true;
		else if (!strcmp(argv[a], "--keepalive") && a + 1 < argc)
			o.keepalive = strtod(argv[++a], NULL);
		else if (!strcmp(argv[a], "--connect-timeout") && a + 1 < argc)
			o.connect_timeout = strtod(argv[++a], NULL);
		else
			file = argv[a];
	}
	if (!file || !(in = json_load_file(file, 0, &jerr)) || !json_is_array(in)) {
		fprintf(stderr, "usage: ssh_run [--accept-new] REQUESTS.json\n");
		return 2;
	}
	nitems = json_array_size(in);
	items = calloc(nitems + 1, sizeof(*items));
	for (i = 0; i < nitems; i++) {
		json_t *x = json_array_get(in, i), *af = json_object_get(x, "after");

		items[i].host = json_object_get(x, "host");
		items[i].req = json_object_get(x, "req");
		items[i].after = json_is_integer(af) ? (long)json_integer_value(af) : -1;
	}
	if (cairn_loop_new(&loop, NULL) != 0 || cairn_ssh_new(&pool, loop, &o) != 0) {
		fprintf(stderr, "ssh_run: %s\n", cairn_error_last()->message);
		return 1;
	}
	for (i = 0; i < nitems; i++)
		if (items[i].after < 0)
			submit(i);
	while (answered < nitems) {
		int pending = 0;

		if (cairn_loop_run_once(loop, 1, &pending) != 0) {
			fprintf(stderr, "ssh_run: %s\n", cairn_error_last()->message);
			return 1;
		}
	}
	res = json_array();
	for (i = 0; i < nitems; i++)
		json_array_append_new(res, items[i].result ? items[i].result : json_null());
	cairn_ssh_get_stats(pool, &st);
	out = json_pack("{s:o,s:{s:I,s:I,s:I}}", "results", res, "stats", "sessions", (json_int_t)st.sessions,
			"channels", (json_int_t)st.channels, "sftp_ops", (json_int_t)st.sftp_ops);
	json_dumpf(out, stdout, JSON_INDENT(1));
	putchar('\n');
	json_decref(out);
	json_decref(in);
	cairn_ssh_free(pool);
	cairn_loop_free(loop);
	free(items);
	return 0;
}
