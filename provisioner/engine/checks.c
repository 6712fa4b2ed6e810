/*
 * checks.c - health checks after an apply, run in the event loop (checks.h).
 *
 * A run is a list of checks, each a small state machine driven by the
 * step function of the task that runs it: START (evaluate the target),
 * NEXT (start an attempt, or give up at the deadline), ATTEMPT (the task
 * waits for its answer), PAUSE (the task waits for the interval's timer).
 * An attempt is a native wait of the task (cairn_sched_wait_native) for
 * HTTP, TCP and SSH, or a module operation ("status") for module checks.
 */
#include "checks.h"
#include "base/buf.h"
#include "ssh/ssh.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
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
} check_item;

struct cairn_check_run {
	cairn_engine *e;
	check_item *items;
	size_t n, cursor;
	json_t *results;
	bool passed;

	/* the attempt or pause in flight (one at a time per run) */
	cairn_sched *s;
	cairn_task *t;
	bool woken;             /* the task was woken for it: later callbacks are ignored */
	uint64_t timer;         /* its timeout or the pause, or 0 */
	uint64_t watch;         /* a connect's watch, or 0 */
	int fd;                 /* a connect's socket, or -1 */
	struct addrinfo *ai0, *ai; /* a connect's addresses, the one tried */
	char tcp_target[600];
	bool http_out, ssh_out;
	json_t *ssh_spec, *ssh_req;
	json_t *host;           /* a module operation's host connection (hosts.c) */
	const double *saved_timeouts;
	double tmo[CAIRN_TIMEOUT_N];
};

int cairn_check_run_new(cairn_check_run **out, cairn_engine *e)
{
	cairn_check_run *cr = calloc(1, sizeof(*cr));

	if (!cr || !(cr->results = json_array())) {
		free(cr);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	cr->e = e;
	cr->fd = -1;
	cr->passed = true;
	*out = cr;
	return 0;
}

static int add(cairn_check_run *cr, const cairn_check_cfg *c, const cairn_inst *in, json_t *self)
{
	check_item *n = realloc(cr->items, (cr->n + 1) * sizeof(*n));

	if (!n)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cr->items = n;
	memset(&n[cr->n], 0, sizeof(*n));
	n[cr->n].c = c;
	n[cr->n].in = in;
	n[cr->n].self = json_incref(self);
	cr->n++;
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

/* ---------- the attempt in flight ---------- */

/* Wake the task once for this attempt (result stolen). */
static void wake(cairn_check_run *cr, json_t *result)
{
	if (cr->woken) {
		json_decref(result);
		return;
	}
	cr->woken = true;
	cairn_sched_wake(cr->s, cr->t, result);
}

/* Stop whatever the attempt or pause still has in the loop. Never from a
 * loop callback. */
static void attempt_end(void *ud)
{
	cairn_check_run *cr = ud;

	if (cr->timer)
		cairn_loop_timer_cancel(cr->e->loop, cr->timer);
	cr->timer = 0;
	if (cr->watch)
		cairn_loop_unwatch_fd(cr->e->loop, cr->watch);
	cr->watch = 0;
	if (cr->fd >= 0)
		close(cr->fd);
	cr->fd = -1;
	if (cr->ai0)
		freeaddrinfo(cr->ai0);
	cr->ai0 = cr->ai = NULL;
	if (cr->http_out)
		cairn_loop_http_cancel(cr->e->loop, cr);
	cr->http_out = false;
#ifdef HAVE_LIBSSH2
	if (cr->ssh_out && cr->e->ssh)
		cairn_ssh_cancel(cr->e->ssh, cr);
#endif
	cr->ssh_out = false;
	json_decref(cr->ssh_spec);
	json_decref(cr->ssh_req);
	cr->ssh_spec = cr->ssh_req = NULL;
}

static void on_timer(void *ud)
{
	cairn_check_run *cr = ud;

	cr->timer = 0;
	wake(cr, json_pack("{s:b}", "timeout", 1));
}

static void on_http(void *ud, json_t *response)
{
	cairn_check_run *cr = ud;

	cr->http_out = false;
	wake(cr, response);
}

static void on_ssh(void *ud, json_t *result)
{
	cairn_check_run *cr = ud;

	cr->ssh_out = false;
	wake(cr, result);
}

/* Start connecting to cr->ai or the addresses after it: 0 and a watch,
 * 1 connected at once, <0 none left (why set). */
static int tcp_next(cairn_check_run *cr, char *why, size_t n)
{
	for (; cr->ai; cr->ai = cr->ai->ai_next) {
		struct addrinfo *a = cr->ai;
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);

		if (fd < 0) {
			snprintf(why, n, "cannot connect to %s: %s", cr->tcp_target, strerror(errno));
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			close(fd);
			return 1;
		}
		if (errno != EINPROGRESS) {
			snprintf(why, n, "cannot connect to %s: %s", cr->tcp_target, strerror(errno));
			close(fd);
			continue;
		}
		cr->fd = fd;
		return 0;
	}
	return -1;
}

static void on_connect(void *ud, int fd, int revents)
{
	cairn_check_run *cr = ud;
	int err = 0;
	socklen_t el = sizeof(err);

	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err == EINPROGRESS)
		return;
	cairn_loop_watch_set(cr->e->loop, cr->watch, 0);
	wake(cr, err ? json_pack("{s:i}", "errno", err) : json_pack("{s:b}", "connected", 1));
}

/* A connect that failed with more addresses to try: the next one, in
 * the same attempt (true: the task waits again). */
static bool tcp_again(cairn_check_run *cr, check_item *it)
{
	const json_t *r = cr->t->op_result;

	if (!json_object_get(r, "errno") || !cr->ai || !cr->ai->ai_next)
		return false;
	cairn_loop_unwatch_fd(cr->e->loop, cr->watch);
	cr->watch = 0;
	close(cr->fd);
	cr->fd = -1;
	cr->ai = cr->ai->ai_next;
	cr->woken = false;
	if (tcp_next(cr, it->why, sizeof(it->why)) != 0 ||
	    cairn_loop_watch_fd(cr->e->loop, cr->fd, CAIRN_FD_OUT, on_connect, cr, &cr->watch) != 0)
		return false;
	cairn_sched_wait_native(cr->s, cr->t, attempt_end, cr);
	return true;
}

/* ---------- starting an attempt ---------- */

typedef enum { GO_WAIT, GO_NOW_OK, GO_NOW_FAILED } go_rc;

static go_rc start_http(cairn_check_run *cr, const json_t *t, double tmo, char *why, size_t n)
{
	json_t *req = json_pack("{s:s,s:O,s:f,s:i,s:b}", "method", "GET", "url", json_object_get(t, "url"),
				"timeout", tmo, "attempts", 1, "idempotent", 1);
	int rc;

	if (!req) {
		snprintf(why, n, "out of memory");
		return GO_NOW_FAILED;
	}
	rc = cairn_loop_http(cr->e->loop, req, on_http, cr);
	json_decref(req);
	if (rc) {
		snprintf(why, n, "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	cr->http_out = true;
	return GO_WAIT;
}

static go_rc start_tcp(cairn_check_run *cr, const json_t *t, double tmo, char *why, size_t n)
{
	const char *host = json_string_value(json_object_get(t, "host"));
	json_t *pv = json_object_get(t, "port");
	struct addrinfo hints;
	char port[32];
	int g;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (json_is_integer(pv))
		snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(pv));
	else
		snprintf(port, sizeof(port), "%s", json_string_value(pv) ? json_string_value(pv) : "");
	snprintf(cr->tcp_target, sizeof(cr->tcp_target), "%s:%s", host, port);
	/* name resolution blocks (getaddrinfo): a check's host is usually an
	 * address or a name the resolver answers at once */
	if ((g = getaddrinfo(host, port, &hints, &cr->ai0)) != 0) {
		cr->ai0 = NULL;
		snprintf(why, n, "cannot resolve %s: %s", host, gai_strerror(g));
		return GO_NOW_FAILED;
	}
	cr->ai = cr->ai0;
	snprintf(why, n, "no address");
	switch (tcp_next(cr, why, n)) {
	case 1: return GO_NOW_OK;
	case 0: break;
	default: return GO_NOW_FAILED;
	}
	if (cairn_loop_watch_fd(cr->e->loop, cr->fd, CAIRN_FD_OUT, on_connect, cr, &cr->watch) != 0 ||
	    cairn_loop_timer(cr->e->loop, tmo, on_timer, cr, &cr->timer) != 0) {
		snprintf(why, n, "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	return GO_WAIT;
}

static go_rc start_ssh(cairn_check_run *cr, const json_t *t, double tmo, char *why, size_t n)
{
	const char *host = json_string_value(json_object_get(t, "host"));

	if (!cr->e->ssh) {
		snprintf(why, n, "this cairn was built without SSH");
		return GO_NOW_FAILED;
	}
	if (cairn_engine_host_spec(cr->e, host, &cr->ssh_spec) != 0) {
		cr->ssh_spec = NULL;
		snprintf(why, n, "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	cr->ssh_req = json_pack("{s:s,s:O,s:f}", "op", "exec", "command", json_object_get(t, "command"), "timeout", tmo);
#ifdef HAVE_LIBSSH2
	if (cr->ssh_req && cairn_ssh_submit(cr->e->ssh, cr->ssh_spec, cr->ssh_req, on_ssh, cr) == 0) {
		cr->ssh_out = true;
		/* the session's own timeouts end the command; this ends a host that never answers */
		if (cairn_loop_timer(cr->e->loop, tmo + 5, on_timer, cr, &cr->timer) != 0) {
			snprintf(why, n, "%s", cairn_error_last()->message);
			return GO_NOW_FAILED;
		}
		return GO_WAIT;
	}
#else
	(void)on_ssh;
#endif
	snprintf(why, n, "%s", cr->ssh_req ? cairn_error_last()->message : "out of memory");
	return GO_NOW_FAILED;
}

/* The module's status(ctx, id, attrs) as a module operation of the task,
 * bounded by tmo (the task's read timeout for the time of the attempt). */
static go_rc start_module(cairn_check_run *cr, check_item *it, double tmo, char *why, size_t n)
{
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
		snprintf(why, n, "%s", cairn_error_last()->message);
		return GO_NOW_FAILED;
	}
	return GO_WAIT;
}

/* ---------- reading an answer ---------- */

static bool read_http(const json_t *t, const json_t *r, char *why, size_t n)
{
	const char *want_body = json_string_value(json_object_get(t, "body"));
	json_int_t want = json_is_integer(json_object_get(t, "status")) ? json_integer_value(json_object_get(t, "status")) : 200;
	json_int_t status = json_integer_value(json_object_get(r, "status"));
	const char *body = json_string_value(json_object_get(r, "body"));

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

static bool read_tcp(cairn_check_run *cr, const json_t *r, char *why, size_t n)
{
	if (json_is_true(json_object_get(r, "connected")))
		return true;
	if (json_object_get(r, "timeout"))
		snprintf(why, n, "cannot connect to %s: timed out", cr->tcp_target);
	else
		snprintf(why, n, "cannot connect to %s: %s", cr->tcp_target,
			 strerror((int)json_integer_value(json_object_get(r, "errno"))));
	return false;
}

static bool read_ssh(const json_t *t, const json_t *r, double tmo, char *why, size_t n)
{
	if (json_object_get(r, "timeout"))
		snprintf(why, n, "no answer from %s within %gs", json_string_value(json_object_get(t, "host")), tmo);
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
static bool read_module(check_item *it, const json_t *r, char *why, size_t n)
{
	const json_t *expect = json_object_get(it->target, "expect");
	const char *st = json_is_string(r) ? json_string_value(r) : json_string_value(json_object_get(r, "status"));
	const char *msg = json_string_value(json_object_get(r, "message"));
	bool ok = false;
	size_t i;

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

static int finish(cairn_check_run *cr, check_item *it)
{
	cairn_engine *e = cr->e;
	const char *ida = it->in && it->in->schema && it->in->schema->id_attr ? it->in->schema->id_attr : "id";
	/* a module check's target: the object's id */
	const char *target = it->c->kind == CAIRN_CHECK_HTTP ? json_string_value(json_object_get(it->target, "url")) :
			     it->c->kind == CAIRN_CHECK_MODULE ? json_string_value(json_object_get(it->self, ida)) :
			     json_string_value(json_object_get(it->target, "host"));
	char *tgt = NULL, *w = NULL;
	json_t *r;

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
	json_array_append(cr->results, r);
	if (!it->ok)
		cr->passed = false;
	it->st = ST_DONE;
	return 0;
}

/* Evaluate the target; false: it cannot be (the check failed). */
static bool evaluate(cairn_check_run *cr, check_item *it)
{
	cairn_engine *e = cr->e;
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

/* The answer to the attempt that the task was woken (or stepped) for. */
static bool read_answer(cairn_check_run *cr, check_item *it)
{
	cairn_task *t = cr->t;
	const json_t *r = t->op_result;
	char *why = it->why;
	size_t n = sizeof(it->why);

	switch (it->c->kind) {
	case CAIRN_CHECK_HTTP: return read_http(it->target, r, why, n);
	case CAIRN_CHECK_TCP: return read_tcp(cr, r, why, n);
	case CAIRN_CHECK_SSH: return read_ssh(it->target, r, attempt_timeout(it), why, n);
	default:
		t->timeouts = cr->saved_timeouts;
		if (t->op_failed) {
			snprintf(why, n, "%s", t->error ? t->error : "the module's status function failed");
			return false;
		}
		return read_module(it, r, why, n);
	}
}

/* Start an attempt (ST_ATTEMPT, CAIRN_STEP_WAIT), or say it ended at once
 * (*ok; the caller reads it as an attempt's outcome). */
static bool go(cairn_check_run *cr, check_item *it, bool *ok)
{
	double tmo = attempt_timeout(it);
	go_rc g;

	cr->woken = false;
	it->why[0] = '\0';
	switch (it->c->kind) {
	case CAIRN_CHECK_HTTP: g = start_http(cr, it->target, tmo, it->why, sizeof(it->why)); break;
	case CAIRN_CHECK_TCP: g = start_tcp(cr, it->target, tmo, it->why, sizeof(it->why)); break;
	case CAIRN_CHECK_SSH: g = start_ssh(cr, it->target, tmo, it->why, sizeof(it->why)); break;
	default: g = start_module(cr, it, tmo, it->why, sizeof(it->why)); break;
	}
	if (g == GO_WAIT) {
		if (it->c->kind != CAIRN_CHECK_MODULE)
			cairn_sched_wait_native(cr->s, cr->t, attempt_end, cr);
		it->st = ST_ATTEMPT;
		return true;
	}
	attempt_end(cr);
	*ok = g == GO_NOW_OK;
	return false;
}

/* After an attempt: done, or a pause before the next one (true: wait). */
static bool after_attempt(cairn_check_run *cr, check_item *it)
{
	const cairn_check_cfg *c = it->c;

	it->lat = cairn_now() - it->t0;
	if (it->ok || it->attempts > c->retries || c->interval >= c->deadline - (cairn_now() - it->start))
		return false;
	cr->woken = false;
	if (cairn_loop_timer(cr->e->loop, c->interval, on_timer, cr, &cr->timer) != 0)
		return false;
	cairn_sched_wait_native(cr->s, cr->t, attempt_end, cr);
	it->st = ST_PAUSE;
	return true;
}

cairn_step_rc cairn_check_run_step(cairn_check_run *cr, cairn_sched *s, cairn_task *t)
{
	cr->s = s;
	cr->t = t;
	while (cr->cursor < cr->n) {
		check_item *it = &cr->items[cr->cursor];
		bool ok = false;

		switch (it->st) {
		case ST_START:
			it->start = cairn_now();
			if (!evaluate(cr, it)) {
				if (finish(cr, it) != 0)
					return cairn_task_fail(t, "out of memory");
				break;
			}
			it->st = ST_NEXT;
			continue;
		case ST_NEXT:
			/* the run stopped (the lock lost): no more attempts */
			if (cairn_sched_stopped(s))
				return cairn_task_fail(t, "health check %s stopped: %s", it->c->name, cairn_sched_stopped(s));
			if (it->c->deadline - (cairn_now() - it->start) <= 0) {
				if (finish(cr, it) != 0)
					return cairn_task_fail(t, "out of memory");
				break;
			}
			it->attempts++;
			it->t0 = cairn_now();
			if (go(cr, it, &ok))
				return CAIRN_STEP_WAIT;
			it->ok = ok;
			if (after_attempt(cr, it))
				return CAIRN_STEP_WAIT;
			if (finish(cr, it) != 0)
				return cairn_task_fail(t, "out of memory");
			break;
		case ST_ATTEMPT:
		case ST_PAUSE:
			/* a module's status past the attempt's time is a failed attempt;
			 * everything else abandoned is the run being interrupted */
			if (t->op_abandoned && (it->c->kind != CAIRN_CHECK_MODULE || it->st == ST_PAUSE ||
						cairn_engine_signal(cr->e))) {
				if (it->c->kind == CAIRN_CHECK_MODULE && it->st == ST_ATTEMPT)
					t->timeouts = cr->saved_timeouts;
				attempt_end(cr);
				return cairn_task_fail(t, "interrupted during health check %s", it->c->name);
			}
			if (it->st == ST_ATTEMPT && it->c->kind == CAIRN_CHECK_TCP && tcp_again(cr, it))
				return CAIRN_STEP_WAIT;
			if (it->st == ST_PAUSE) {
				attempt_end(cr);
				it->st = ST_NEXT;
				continue;
			}
			it->ok = read_answer(cr, it);
			attempt_end(cr);
			if (after_attempt(cr, it))
				return CAIRN_STEP_WAIT;
			if (finish(cr, it) != 0)
				return cairn_task_fail(t, "out of memory");
			break;
		case ST_DONE:
			break;
		}
		cr->cursor++;
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
	attempt_end(cr);
	for (i = 0; i < cr->n; i++) {
		json_decref(cr->items[i].self);
		json_decref(cr->items[i].target);
		json_decref(cr->items[i].result);
		free(cr->items[i].status);
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
