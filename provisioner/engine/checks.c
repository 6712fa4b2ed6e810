/*
 * checks.c - health checks after an apply, run in the event loop (checks.h).
 *
 * A run is a list of checks, each a small state machine driven by the
 * step function of the task that runs it: START (evaluate the target),
 * NEXT (start an attempt, or give up at the deadline), ATTEMPT (its answer
 * is awaited), PAUSE (the interval's timer is awaited). The HTTP, TCP and
 * SSH checks of a run go on at the same time: each has its own attempt in
 * the loop, whose callback keeps the answer with the check and wakes the
 * task (one native wait, cairn_sched_wait_native, for all of them); the
 * step then moves every check that has an answer on. Module checks are
 * module operations of the task ("status"), one at a time, after the
 * others.
 */
#include "checks.h"
#include "ssh/ssh.h"

#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ATTEMPT_MAX_S 10.0

static const char *const kind_name[] = { "http", "tcp", "ssh", "module" };

typedef enum { ST_START, ST_NEXT, ST_ATTEMPT, ST_PAUSE, ST_DONE } check_state;

typedef struct check_item {
	struct cairn_check_run *cr;
	const cairn_check_cfg *c;
	const cairn_inst *in;   /* a resource's check: its instance, else NULL */
	json_t *self;           /* its attributes */
	check_state st;
	json_t *target;         /* the evaluated map (or null: module: with nothing) */
	json_t *result;         /* when ST_DONE */
	double start, t0, lat;
	int attempts;
	bool ok;
	char why[3072];
	char *status;           /* a module check's last status */

	/* its attempt or pause in flight (HTTP, TCP, SSH) */
	json_t *answer;         /* what ended it (from a callback), or NULL */
	uint64_t timer;         /* its timeout or the pause, or 0 */
	uint64_t watch;         /* a connect's watch, or 0 */
	int fd;                 /* a connect's socket, or -1 */
	struct addrinfo *ai0, *ai; /* a connect's addresses, the one tried */
	cairn_resolve *resolving;  /* a connect's name being resolved, or NULL */
	char tcp_target[600];
	bool http_out, ssh_out;
	json_t *ssh_spec, *ssh_req;
} check_item;

struct cairn_check_run {
	cairn_engine *e;
	check_item **items;
	size_t n;
	json_t *results;        /* when all are done, in the order of items */
	bool passed;
	cairn_sched *s;
	cairn_task *t;
	check_item *mod;        /* the module check whose operation runs, or NULL */
	json_t *host;           /* a module operation's host connection (hosts.c) */
	const double *saved_timeouts;
	double tmo[CAIRN_TIMEOUT_N];
};

int cairn_check_run_new(cairn_check_run **out, cairn_engine *e)
{
	cairn_check_run *cr = calloc(1, sizeof(*cr));

	if (!cr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cr->e = e;
	cr->passed = true;
	*out = cr;
	return 0;
}

static int add(cairn_check_run *cr, const cairn_check_cfg *c, const cairn_inst *in, json_t *self)
{
	check_item **n = realloc(cr->items, (cr->n + 1) * sizeof(*n)), *it;

	if (!n)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cr->items = n;
	if (!(it = calloc(1, sizeof(*it))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	it->cr = cr;
	it->c = c;
	it->in = in;
	it->self = json_incref(self);
	it->fd = -1;
	n[cr->n++] = it;
	return 0;
}

int cairn_check_run_add(cairn_check_run *cr, const cairn_check_cfg *c)
{
	return add(cr, c, NULL, NULL);
}

int cairn_check_run_add_res(cairn_check_run *cr, const cairn_inst *in, json_t *self)
{
	const cairn_res_cfg *res = &cr->e->stack->resources[in->res];
	size_t i;
	int rc;

	for (i = 0; i < res->nchecks; i++)
		if ((rc = add(cr, &res->checks[i], in, self)) != 0)
			return rc;
	return 0;
}

/* ---------- an attempt in flight ---------- */

/* The answer that ends it (stolen; the first one counts), and the task
 * woken to look at it. From loop callbacks. */
static void answer(check_item *it, json_t *a)
{
	if (it->answer || !a) {
		json_decref(a);
		return;
	}
	it->answer = a;
	cairn_sched_wake(it->cr->s, it->cr->t, NULL);
}

/* Stop whatever the attempt or pause still has in the loop. Never from a
 * loop callback. */
static void item_end(check_item *it)
{
	cairn_engine *e = it->cr->e;

	if (it->timer)
		cairn_loop_timer_cancel(e->loop, it->timer);
	it->timer = 0;
	if (it->watch)
		cairn_loop_unwatch_fd(e->loop, it->watch);
	it->watch = 0;
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	cairn_resolve_cancel(it->resolving);
	it->resolving = NULL;
	if (it->ai0)
		freeaddrinfo(it->ai0);
	it->ai0 = it->ai = NULL;
	if (it->http_out)
		cairn_loop_http_cancel(e->loop, it);
	it->http_out = false;
#ifdef HAVE_LIBSSH2
	if (it->ssh_out && e->ssh)
		cairn_ssh_cancel(e->ssh, it);
#endif
	it->ssh_out = false;
	json_decref(it->ssh_spec);
	json_decref(it->ssh_req);
	it->ssh_spec = it->ssh_req = NULL;
	json_decref(it->answer);
	it->answer = NULL;
}

/* The native wait's cancel: every check's attempt or pause. */
static void end_all(void *ud)
{
	cairn_check_run *cr = ud;
	size_t i;

	for (i = 0; i < cr->n; i++)
		item_end(cr->items[i]);
}

static void on_timer(void *ud)
{
	check_item *it = ud;

	it->timer = 0;
	answer(it, json_pack("{s:b}", "timeout", 1));
}

static void on_http(void *ud, json_t *response)
{
	check_item *it = ud;

	it->http_out = false;
	answer(it, response ? response : json_pack("{s:s}", "error", "out of memory"));
}

static void on_ssh(void *ud, json_t *result)
{
	check_item *it = ud;

	it->ssh_out = false;
	answer(it, result ? result : json_pack("{s:s}", "error", "out of memory"));
}

/* Start connecting to it->ai or the addresses after it: 0 and a socket,
 * 1 connected at once, <0 none left (why set). */
static int tcp_next(check_item *it)
{
	for (; it->ai; it->ai = it->ai->ai_next) {
		struct addrinfo *a = it->ai;
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);

		if (fd < 0) {
			snprintf(it->why, sizeof(it->why), "cannot connect to %s: %s", it->tcp_target, strerror(errno));
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			close(fd);
			return 1;
		}
		if (errno != EINPROGRESS) {
			snprintf(it->why, sizeof(it->why), "cannot connect to %s: %s", it->tcp_target, strerror(errno));
			close(fd);
			continue;
		}
		it->fd = fd;
		return 0;
	}
	return -1;
}

static void on_connect(void *ud, int fd, int revents)
{
	check_item *it = ud;
	int err = 0;
	socklen_t el = sizeof(err);

	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err == EINPROGRESS)
		return;
	cairn_loop_watch_set(it->cr->e->loop, it->watch, 0);
	answer(it, err ? json_pack("{s:i}", "errno", err) : json_pack("{s:b}", "connected", 1));
}

/* A connect that failed with more addresses to try: the next one, in the
 * same attempt (true: its answer is awaited again). */
static bool tcp_again(check_item *it)
{
	cairn_loop *loop = it->cr->e->loop;

	if (!json_object_get(it->answer, "errno") || !it->ai || !it->ai->ai_next)
		return false;
	cairn_loop_unwatch_fd(loop, it->watch);
	it->watch = 0;
	close(it->fd);
	it->fd = -1;
	it->ai = it->ai->ai_next;
	if (tcp_next(it) != 0 || cairn_loop_watch_fd(loop, it->fd, CAIRN_FD_OUT, on_connect, it, &it->watch) != 0)
		return false;
	json_decref(it->answer);
	it->answer = NULL;
	return true;
}

/* ---------- starting an attempt ---------- */

typedef enum { GO_WAIT, GO_NOW_OK, GO_NOW_FAILED } go_rc;

static go_rc start_http(check_item *it, double tmo)
{
	json_t *req = json_pack("{s:s,s:O,s:f,s:i,s:b}", "method", "GET", "url", json_object_get(it->target, "url"),
				"timeout", tmo, "attempts", 1, "idempotent", 1);
	int rc;

	if (!req) {
		snprintf(it->why, sizeof(it->why), "out of memory");
		return GO_NOW_FAILED;
	}
	rc = cairn_loop_http(it->cr->e->loop, req, on_http, it);
	json_decref(req);
	if (rc) {
		snprintf(it->why, sizeof(it->why), "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	it->http_out = true;
	return GO_WAIT;
}

/* The name resolved (a loop callback): connect to its first address that
 * takes a connection, or end the attempt. */
static void on_resolved(void *ud, struct addrinfo *ai, const char *error)
{
	check_item *it = ud;

	it->resolving = NULL;
	if (!ai) {
		answer(it, json_pack("{s:s}", "why", error));
		return;
	}
	it->ai0 = it->ai = ai;
	snprintf(it->why, sizeof(it->why), "no address");
	switch (tcp_next(it)) {
	case 1:
		answer(it, json_pack("{s:b}", "connected", 1));
		return;
	case 0:
		break;
	default:
		answer(it, json_pack("{s:s}", "why", it->why));
		return;
	}
	if (cairn_loop_watch_fd(it->cr->e->loop, it->fd, CAIRN_FD_OUT, on_connect, it, &it->watch) != 0)
		answer(it, json_pack("{s:s}", "why", cairn_error_last()->message));
}

static go_rc start_tcp(check_item *it, double tmo)
{
	cairn_loop *loop = it->cr->e->loop;
	const char *host = json_string_value(json_object_get(it->target, "host"));
	json_t *pv = json_object_get(it->target, "port");
	char port[32];

	if (json_is_integer(pv))
		snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(pv));
	else
		snprintf(port, sizeof(port), "%s", json_string_value(pv) ? json_string_value(pv) : "");
	snprintf(it->tcp_target, sizeof(it->tcp_target), "%s:%s", host, port);
	/* the name is resolved beside the loop: the attempt's timeout (and a
	 * signal) bound the wait for a name server too */
	if (cairn_loop_resolve(loop, host, port, on_resolved, it, &it->resolving) != 0 ||
	    cairn_loop_timer(loop, tmo, on_timer, it, &it->timer) != 0) {
		snprintf(it->why, sizeof(it->why), "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	return GO_WAIT;
}

static go_rc start_ssh(check_item *it, double tmo)
{
	cairn_engine *e = it->cr->e;
	const char *host = json_string_value(json_object_get(it->target, "host"));

	if (!e->ssh) {
		snprintf(it->why, sizeof(it->why), "this cairn was built without SSH");
		return GO_NOW_FAILED;
	}
	if (cairn_engine_host_spec(e, host, &it->ssh_spec) != 0) {
		it->ssh_spec = NULL;
		snprintf(it->why, sizeof(it->why), "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	it->ssh_req = json_pack("{s:s,s:O,s:f}", "op", "exec", "command", json_object_get(it->target, "command"),
				"timeout", tmo);
#ifdef HAVE_LIBSSH2
	if (it->ssh_req && cairn_ssh_submit(e->ssh, it->ssh_spec, it->ssh_req, on_ssh, it) == 0) {
		it->ssh_out = true;
		/* the session's own timeouts end the command; this ends a host that never answers */
		if (cairn_loop_timer(e->loop, tmo + 5, on_timer, it, &it->timer) != 0) {
			snprintf(it->why, sizeof(it->why), "%s", cairn_error_last()->message);
			return GO_NOW_FAILED;
		}
		return GO_WAIT;
	}
#else
	(void)on_ssh;
#endif
	snprintf(it->why, sizeof(it->why), "%s", it->ssh_req ? cairn_error_last()->message : "out of memory");
	return GO_NOW_FAILED;
}

/* The module's status(ctx, id, attrs) as a module operation of the task,
 * bounded by tmo (the task's read timeout for the time of the attempt). */
static go_rc start_module(check_item *it, double tmo)
{
	cairn_check_run *cr = it->cr;
	cairn_engine *e = cr->e;
	const cairn_inst *in = it->in;
	const char *ida = in->schema && in->schema->id_attr ? in->schema->id_attr : "id";
	json_t *ctx = cairn_engine_op_ctx(e, in->address, in->prior ? in->prior->token : NULL);
	json_t *args = json_pack("[O?,O]", json_object_get(it->self, ida), it->self);
	int rc = ctx && args ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory"), k;

	cr->saved_timeouts = cr->t->timeouts;
	for (k = 0; k < CAIRN_TIMEOUT_N; k++)
		cr->tmo[k] = cr->saved_timeouts ? cr->saved_timeouts[k] : 0;
	cr->tmo[CAIRN_TIMEOUT_READ] = tmo;
	cr->t->timeouts = cr->tmo;
	if (!rc)
		rc = cairn_engine_task_host(e, cr->t, &cr->host, ctx, in->type, in->address, it->self);
	if (!rc)
		rc = cairn_sched_start_op(cr->s, cr->t, in->type, "status", ctx, args);
	json_decref(ctx);
	json_decref(args);
	if (rc) {
		cr->t->timeouts = cr->saved_timeouts;
		snprintf(it->why, sizeof(it->why), "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	cr->mod = it;
	return GO_WAIT;
}

/* ---------- reading an answer ---------- */

static bool read_http(check_item *it, const json_t *r)
{
	const json_t *t = it->target;
	const char *want_body = json_string_value(json_object_get(t, "body"));
	json_int_t want = json_is_integer(json_object_get(t, "status")) ? json_integer_value(json_object_get(t, "status")) : 200;
	json_int_t status = json_integer_value(json_object_get(r, "status"));
	const char *body = json_string_value(json_object_get(r, "body"));
	char *why = it->why;
	size_t n = sizeof(it->why);

	if (json_object_get(r, "timeout"))
		snprintf(why, n, "no answer in time");
	else if (json_is_integer(json_object_get(r, "curl_code")) && json_integer_value(json_object_get(r, "curl_code")))
		snprintf(why, n, "%s", curl_easy_strerror((CURLcode)json_integer_value(json_object_get(r, "curl_code"))));
	else if (json_is_string(json_object_get(r, "error")))
		snprintf(why, n, "%s", json_string_value(json_object_get(r, "error")));
	else if (status != want)
		snprintf(why, n, "status %lld, expected %lld", (long long)status, (long long)want);
	else if (want_body && (!body || !strstr(body, want_body)))
		snprintf(why, n, "the body does not contain \"%s\"", want_body);
	else
		return true;
	return false;
}

static bool read_tcp(check_item *it, const json_t *r)
{
	if (json_is_true(json_object_get(r, "connected")))
		return true;
	if (json_is_string(json_object_get(r, "why")))
		snprintf(it->why, sizeof(it->why), "%s", json_string_value(json_object_get(r, "why")));
	else if (json_object_get(r, "timeout") && it->resolving)
		snprintf(it->why, sizeof(it->why), "cannot resolve %s: timed out",
			 json_string_value(json_object_get(it->target, "host")));
	else if (json_object_get(r, "timeout"))
		snprintf(it->why, sizeof(it->why), "cannot connect to %s: timed out", it->tcp_target);
	else
		snprintf(it->why, sizeof(it->why), "cannot connect to %s: %s", it->tcp_target,
			 strerror((int)json_integer_value(json_object_get(r, "errno"))));
	return false;
}

static bool read_ssh(check_item *it, const json_t *r, double tmo)
{
	char *why = it->why;
	size_t n = sizeof(it->why);

	if (json_object_get(r, "timeout"))
		snprintf(why, n, "no answer from %s within %gs", json_string_value(json_object_get(it->target, "host")), tmo);
	else if (json_object_get(r, "error"))
		snprintf(why, n, "%s", json_string_value(json_object_get(r, "error")));
	else if (json_integer_value(json_object_get(r, "exit_code")) != 0 || json_object_get(r, "signal"))
		snprintf(why, n, "the command exited with %lld", (long long)json_integer_value(json_object_get(r, "exit_code")));
	else
		return true;
	return false;
}

/* status() returns a status ("available") or {ok, status, message}: with
 * module.expect, the status must be expect (or one of its list); without
 * it, ok must be true (a bare status string is never ok by itself). */
static bool read_module(check_item *it, const json_t *r)
{
	const json_t *expect = json_object_get(it->target, "expect");
	const char *st = json_is_string(r) ? json_string_value(r) : json_string_value(json_object_get(r, "status"));
	const char *msg = json_string_value(json_object_get(r, "message"));
	char *why = it->why;
	size_t n = sizeof(it->why), i;
	bool ok = false;

	free(it->status);
	it->status = st ? strdup(st) : NULL;
	if (!json_is_string(r) && !json_is_object(r)) {
		snprintf(why, n, "the module's status function returned neither a status nor {ok, status, message}");
		return false;
	}
	if (json_is_string(expect)) {
		ok = st && !strcmp(st, json_string_value(expect));
	} else if (json_is_array(expect)) {
		for (i = 0; i < json_array_size(expect) && !ok; i++)
			ok = st && json_is_string(json_array_get(expect, i)) &&
			     !strcmp(st, json_string_value(json_array_get(expect, i)));
	} else {
		ok = json_is_true(json_object_get(r, "ok"));
	}
	if (ok)
		return true;
	if (expect && json_is_string(expect))
		snprintf(why, n, "status %s, expected %s%s%s", st ? st : "(none)", json_string_value(expect),
			 msg ? ": " : "", msg ? msg : "");
	else if (expect)
		snprintf(why, n, "status %s, not one of the expected ones%s%s", st ? st : "(none)", msg ? ": " : "",
			 msg ? msg : "");
	else
		snprintf(why, n, "status %s%s%s", st ? st : "(none)", msg ? ": " : "", msg ? msg : "");
	return false;
}

/* ---------- one check ---------- */

static int finish(check_item *it)
{
	cairn_engine *e = it->cr->e;
	const char *ida = it->in && it->in->schema && it->in->schema->id_attr ? it->in->schema->id_attr : "id";
	/* a module check's target: the object's id */
	const char *target = it->c->kind == CAIRN_CHECK_HTTP ? json_string_value(json_object_get(it->target, "url")) :
			     it->c->kind == CAIRN_CHECK_MODULE ? json_string_value(json_object_get(it->self, ida)) :
			     json_string_value(json_object_get(it->target, "host"));
	char *tgt = NULL, *w = NULL;
	json_t *r;

	item_end(it);
	if (!it->ok && !it->attempts && !it->why[0])
		snprintf(it->why, sizeof(it->why), "the deadline passed before the first attempt");
	tgt = cairn_engine_clean(e, target ? target : "");
	w = it->ok ? NULL : cairn_engine_clean(e, it->why);
	r = json_pack("{s:s,s:s,s:s,s:b,s:i,s:f}", "name", it->c->name, "kind", kind_name[it->c->kind], "target",
		      tgt ? tgt : "", "ok", it->ok, "attempts", it->attempts, "seconds", it->lat);
	free(tgt);
	if (r && !it->ok)
		json_object_set_new(r, "error", json_string(w ? w : it->why));
	free(w);
	if (r && it->status)
		json_object_set_new(r, "status", json_string(it->status));
	if (r && it->in)
		json_object_set_new(r, "address", json_string(it->in->address));
	if (!r)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	it->result = r;
	if (!it->ok)
		it->cr->passed = false;
	it->st = ST_DONE;
	return 0;
}

/* Evaluate the target; false: it cannot be (the check failed). */
static bool evaluate(check_item *it)
{
	cairn_engine *e = it->cr->e;
	const cairn_check_cfg *c = it->c;
	int erc;

	if (it->self)
		json_object_set(e->root, "self", it->self);
	erc = cairn_engine_eval(e, c->target, it->in, &it->target);
	if (it->self)
		json_object_del(e->root, "self");
	if (erc != 0 || !(json_is_object(it->target) || (c->kind == CAIRN_CHECK_MODULE && json_is_null(it->target))) ||
	    cairn_has_unknown(it->target)) {
		snprintf(it->why, sizeof(it->why), "%s", erc ? cairn_error_last()->message :
			 "the check's target is not known after the apply");
		return false;
	}
	if (c->kind == CAIRN_CHECK_MODULE) {
		if (!it->in) {
			snprintf(it->why, sizeof(it->why), "a module check needs a resource");
			return false;
		}
		return true;
	}
	if (!json_is_string(json_object_get(it->target, c->kind == CAIRN_CHECK_HTTP ? "url" : "host")) ||
	    (c->kind == CAIRN_CHECK_SSH && !json_is_string(json_object_get(it->target, "command")))) {
		snprintf(it->why, sizeof(it->why), "%s", c->kind == CAIRN_CHECK_HTTP ? "http.url is not a string" :
			 c->kind == CAIRN_CHECK_TCP ? "tcp.host is not a string" : "ssh.host and ssh.command must be strings");
		return false;
	}
	return true;
}

static double attempt_timeout(const check_item *it)
{
	double left = it->c->deadline - (cairn_now() - it->start);

	return left < ATTEMPT_MAX_S ? left : ATTEMPT_MAX_S;
}

/* After an attempt: done, or a pause before the next one. 0, or out of memory. */
static int after_attempt(check_item *it)
{
	const cairn_check_cfg *c = it->c;

	it->lat = cairn_now() - it->t0;
	item_end(it);
	if (it->ok || it->attempts > c->retries || c->interval >= c->deadline - (cairn_now() - it->start) ||
	    cairn_loop_timer(it->cr->e->loop, c->interval, on_timer, it, &it->timer) != 0)
		return finish(it);
	it->st = ST_PAUSE;
	return 0;
}

/* Move one check on as far as it goes without waiting. 0, or out of memory. */
static int advance(check_item *it)
{
	for (;;) {
		switch (it->st) {
		case ST_START:
			it->start = cairn_now();
			if (!evaluate(it))
				return finish(it);
			it->st = ST_NEXT;
			continue;
		case ST_NEXT: {
			double tmo = attempt_timeout(it);
			go_rc g;

			if (tmo <= 0)
				return finish(it);
			it->attempts++;
			it->t0 = cairn_now();
			it->why[0] = '\0';
			switch (it->c->kind) {
			case CAIRN_CHECK_HTTP: g = start_http(it, tmo); break;
			case CAIRN_CHECK_TCP: g = start_tcp(it, tmo); break;
			case CAIRN_CHECK_SSH: g = start_ssh(it, tmo); break;
			default: g = start_module(it, tmo); break;
			}
			if (g == GO_WAIT) {
				it->st = ST_ATTEMPT;
				return 0;
			}
			it->ok = g == GO_NOW_OK;
			return after_attempt(it);
		}
		case ST_ATTEMPT:
			if (!it->answer || (it->c->kind == CAIRN_CHECK_TCP && tcp_again(it)))
				return 0;
			switch (it->c->kind) {
			case CAIRN_CHECK_HTTP: it->ok = read_http(it, it->answer); break;
			case CAIRN_CHECK_TCP: it->ok = read_tcp(it, it->answer); break;
			default: it->ok = read_ssh(it, it->answer, attempt_timeout(it)); break;
			}
			return after_attempt(it);
		case ST_PAUSE:
			if (!it->answer)
				return 0;
			item_end(it);
			it->st = ST_NEXT;
			continue;
		case ST_DONE:
			return 0;
		}
	}
}

/* The answer of the module check's operation, which just finished. */
static int module_answer(cairn_check_run *cr)
{
	check_item *it = cr->mod;
	cairn_task *t = cr->t;

	cr->mod = NULL;
	t->timeouts = cr->saved_timeouts;
	if (t->op_failed && t->op_abandoned) {
		/* past the attempt's time: a failed attempt (the runtime's message
		 * speaks of timeouts.read and intents, which a check has not) */
		snprintf(it->why, sizeof(it->why), "the module's status function did not answer within %.3gs (an "
			 "attempt's time: at most 10 s, and what is left of the deadline)", cr->tmo[CAIRN_TIMEOUT_READ]);
		it->ok = false;
	} else if (t->op_failed) {
		snprintf(it->why, sizeof(it->why), "%s", t->error ? t->error : "the module's status function failed");
		it->ok = false;
	} else {
		it->ok = read_module(it, t->op_result);
	}
	return after_attempt(it);
}

cairn_step_rc cairn_check_run_step(cairn_check_run *cr, cairn_sched *s, cairn_task *t)
{
	bool waiting = false, native_left = false;
	size_t i;

	cr->s = s;
	cr->t = t;
	/* abandoned: the run is interrupted (a module operation past its
	 * attempt's time is abandoned too, but that is a failed attempt) */
	if (t->op_abandoned && (!cr->mod || cairn_engine_signal(cr->e))) {
		if (cr->mod)
			t->timeouts = cr->saved_timeouts;
		cr->mod = NULL;
		end_all(cr);
		return cairn_task_fail(t, "interrupted during the health checks");
	}
	if (cr->mod && module_answer(cr) != 0)
		return cairn_task_fail(t, "out of memory");
	/* the run stopped (the lock lost): no more attempts */
	if (cairn_sched_stopped(s)) {
		end_all(cr);
		return cairn_task_fail(t, "health checks stopped: %s", cairn_sched_stopped(s));
	}
	/* the HTTP, TCP and SSH checks, all at the same time */
	for (i = 0; i < cr->n; i++) {
		check_item *it = cr->items[i];

		if (it->c->kind == CAIRN_CHECK_MODULE)
			continue;
		if (advance(it) != 0)
			return cairn_task_fail(t, "out of memory");
		if (it->st != ST_DONE)
			native_left = true;
	}
	if (native_left) {
		cairn_sched_wait_native(s, t, end_all, cr);
		return CAIRN_STEP_WAIT;
	}
	/* then the module checks, one operation at a time */
	for (i = 0; i < cr->n && !waiting; i++) {
		check_item *it = cr->items[i];

		if (it->c->kind != CAIRN_CHECK_MODULE)
			continue;
		if (advance(it) != 0)
			return cairn_task_fail(t, "out of memory");
		if (cr->mod) {
			waiting = true;
		} else if (it->st == ST_PAUSE) {
			cairn_sched_wait_native(s, t, end_all, cr);
			waiting = true;
		}
	}
	if (waiting)
		return CAIRN_STEP_WAIT;
	if (!cr->results) {
		if (!(cr->results = json_array()))
			return cairn_task_fail(t, "out of memory");
		for (i = 0; i < cr->n; i++)
			json_array_append(cr->results, cr->items[i]->result);
	}
	return CAIRN_STEP_DONE;
}

json_t *cairn_check_run_results(const cairn_check_run *cr, bool *passed)
{
	*passed = cr->passed;
	return cr->results;
}

void cairn_check_run_free(cairn_check_run *cr)
{
	size_t i;

	if (!cr)
		return;
	for (i = 0; i < cr->n; i++) {
		check_item *it = cr->items[i];

		item_end(it);
		json_decref(it->self);
		json_decref(it->target);
		json_decref(it->result);
		free(it->status);
		free(it);
	}
	free(cr->items);
	json_decref(cr->results);
	json_decref(cr->host);
	free(cr);
}

/* ---------- the stack's checks ---------- */

typedef struct beat_ctx {
	cairn_engine *e;
	int (*beat)(void *);
	double every, next;
} beat_ctx;

/* a long check keeps the environment's lease, as an apply does */
static int idle_beat(void *ud)
{
	beat_ctx *b = ud;

	if (!b->beat || cairn_now() < b->next)
		return 0;
	b->next = cairn_now() + b->every;
	if (b->beat(b->e) != 0)
		return cairn_error_set(CAIRN_ELOCKED, "lost the lock of environment '%s' during the health checks",
				       b->e->opts.env);
	return 0;
}

static cairn_step_rc stack_step(cairn_sched *s, cairn_task *t)
{
	return cairn_check_run_step(t->ud, s, t);
}

int cairn_checks_run(cairn_engine *e, json_t **out, bool *passed)
{
	size_t n = e->stack->nchecks, i;
	cairn_check_run **runs = calloc(n ? n : 1, sizeof(*runs));
	cairn_task *tasks = calloc(n ? n : 1, sizeof(*tasks));
	cairn_sched *s = NULL;
	beat_ctx b = { e, NULL, 0, 0 };
	json_t *arr = json_array();
	int rc = 0;

	*passed = true;
	if (!runs || !tasks || !arr) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if ((rc = cairn_check_run_new(&runs[i], e)) != 0 ||
		    (rc = cairn_check_run_add(runs[i], &e->stack->checks[i])) != 0)
			goto cleanup;
		tasks[i].label = e->stack->checks[i].name;
		tasks[i].step = stack_step;
		tasks[i].ud = runs[i];
	}
	if (!cairn_engine_heartbeat_every(e, &b.every, &b.beat))
		b.beat = NULL;
	b.next = cairn_now() + b.every;
	if ((rc = cairn_sched_new(&s, e->loop, e->lua, NULL, tasks, n, (int)n)) != 0)
		goto cleanup;
	cairn_sched_set_idle(s, idle_beat, &b, 0.2);
	rc = cairn_engine_run_sched(e, s);
	if (cairn_engine_signal(e)) {
		rc = cairn_engine_interrupted_error(e);
		goto cleanup;
	}
	rc = 0;
	for (i = 0; i < n; i++) {
		bool ok = false;
		json_t *r = cairn_check_run_results(runs[i], &ok);

		if (tasks[i].state != CAIRN_TASK_DONE) {
			/* stopped (the lock lost) or out of memory */
			const char *why = tasks[i].error ? tasks[i].error : "not run";

			rc = cairn_error_set(CAIRN_ERROR, "%s", why);
			goto cleanup;
		}
		json_array_extend(arr, r);
		if (!ok)
			*passed = false;
	}
	*out = arr;
	arr = NULL;
cleanup:
	cairn_sched_free(s);
	for (i = 0; runs && i < n; i++)
		cairn_check_run_free(runs[i]);
	for (i = 0; tasks && i < n; i++)
		free(tasks[i].error);
	free(runs);
	free(tasks);
	json_decref(arr);
	return rc;
}

/* ---------- the configuration ---------- */

int cairn_checks_validate(cairn_engine *e)
{
	size_t r, i;
	int rc;

	for (r = 0; r < e->stack->nresources; r++) {
		const cairn_res_cfg *res = &e->stack->resources[r];
		const cairn_schema *sch = NULL;

		for (i = 0; i < res->nchecks; i++) {
			if (res->checks[i].kind != CAIRN_CHECK_MODULE)
				continue;
			if (!sch && (rc = cairn_lua_schema(e->lua, res->type, &sch)) != 0)
				return rc;
			if (!(sch->ops & CAIRN_OPS_STATUS))
				return cairn_error_set_at(CAIRN_EINVAL, &res->checks[i].pos, "check '%s' of %s asks its "
					"module for the object's status, but the module %s has no status function",
					res->checks[i].name, res->name, res->type);
		}
	}
	return 0;
}
