/*
 * checks.c - health checks after an apply (checks.h).
 */
#include "checks.h"
#include "base/buf.h"
#include "ssh/ssh.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX ((size_t)1 << 20)
#define ATTEMPT_MAX_S 10.0

static const char *const kind_name[] = { "http", "tcp", "ssh" };

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	cairn_buf *b = ud;

	/* past the cap the body is cut, not an error: the check reads the start */
	if (b->len < BODY_MAX)
		cairn_buf_put(b, p, size * n > BODY_MAX - b->len ? BODY_MAX - b->len : size * n);
	return size * n;
}

/* One HTTP attempt; 0 passed, else *why. */
static int try_http(const json_t *t, double timeout, char *why, size_t n)
{
	const char *url = json_string_value(json_object_get(t, "url"));
	const char *want_body = json_string_value(json_object_get(t, "body"));
	json_int_t want = json_is_integer(json_object_get(t, "status")) ? json_integer_value(json_object_get(t, "status")) : 200;
	cairn_buf body = CAIRN_BUF_INIT;
	CURL *h = curl_easy_init();
	long status = 0;
	CURLcode cc;
	int rc = -1;

	if (!h) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	cairn_buf_init(&body, BODY_MAX + 1);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	if ((cc = curl_easy_perform(h)) != CURLE_OK)
		snprintf(why, n, "%s", curl_easy_strerror(cc));
	else if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status), status != (long)want)
		snprintf(why, n, "status %ld, expected %lld", status, (long long)want);
	else if (want_body && !strstr(cairn_buf_cstr(&body), want_body))
		snprintf(why, n, "the body does not contain \"%s\"", want_body);
	else
		rc = 0;
	curl_easy_cleanup(h);
	cairn_buf_release(&body);
	return rc;
}

/* One TCP attempt: a connect within timeout. */
static int try_tcp(const json_t *t, double timeout, char *why, size_t n)
{
	const char *host = json_string_value(json_object_get(t, "host"));
	json_t *pv = json_object_get(t, "port");
	struct addrinfo hints, *res = NULL, *ai;
	char port[32];
	int rc = -1, g;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (json_is_integer(pv))
		snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(pv));
	else
		snprintf(port, sizeof(port), "%s", json_string_value(pv) ? json_string_value(pv) : "");
	if ((g = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, n, "cannot resolve %s: %s", host, gai_strerror(g));
		return -1;
	}
	snprintf(why, n, "no address");
	for (ai = res; ai && rc; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol), err = 0;
		socklen_t el = sizeof(err);
		struct pollfd p;

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = 0;
		} else if (errno == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, (int)(timeout * 1000)) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
			    err == 0)
				rc = 0;
			else
				snprintf(why, n, "cannot connect to %s:%s: %s", host, port, err ? strerror(err) : "timed out");
		} else {
			snprintf(why, n, "cannot connect to %s:%s: %s", host, port, strerror(errno));
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

typedef struct ssh_wait {
	bool done;
	json_t *res;
} ssh_wait;

static void on_ssh(void *ud, json_t *result)
{
	ssh_wait *w = ud;

	w->done = true;
	w->res = result;
}

/* One SSH attempt: the command on a host of the stack's hosts:, through
 * the run's session to it, passing on exit status 0. */
static int try_ssh(cairn_engine *e, const json_t *t, double timeout, char *why, size_t n)
{
	const char *host = json_string_value(json_object_get(t, "host"));
	json_t *spec = NULL, *req = NULL;
	ssh_wait w = { false, NULL };
	double until = cairn_now() + timeout + 5;
	int rc = -1;

	if (!e->ssh) {
		snprintf(why, n, "this cairn was built without SSH");
		return -1;
	}
	if (cairn_engine_host_spec(e, host, &spec) != 0) {
		snprintf(why, n, "%s", cairn_error_last()->message);
		return -1;
	}
	req = json_pack("{s:s,s:O,s:f}", "op", "exec", "command", json_object_get(t, "command"), "timeout", timeout);
	if (!req || cairn_ssh_submit(e->ssh, spec, req, on_ssh, &w) != 0) {
		snprintf(why, n, "%s", req ? cairn_error_last()->message : "out of memory");
		goto cleanup;
	}
	while (!w.done && cairn_now() < until && !cairn_engine_signal(e))
		cairn_loop_run_once(e->loop, 0.25, NULL);
	if (!w.done) {
		cairn_ssh_cancel(e->ssh, &w);
		snprintf(why, n, "no answer from %s within %gs", host, timeout);
	} else if (json_object_get(w.res, "error")) {
		snprintf(why, n, "%s", json_string_value(json_object_get(w.res, "error")));
	} else if (json_integer_value(json_object_get(w.res, "exit_code")) != 0 || json_object_get(w.res, "signal")) {
		snprintf(why, n, "the command exited with %lld", (long long)json_integer_value(json_object_get(w.res, "exit_code")));
	} else {
		rc = 0;
	}
cleanup:
	json_decref(w.res);
	json_decref(req);
	json_decref(spec);
	return rc;
}

static void pause_for(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static json_t *run_one(cairn_engine *e, const cairn_check_cfg *c, const cairn_inst *in, json_t *self)
{
	json_t *t = NULL, *r;
	char why[3072] = "";
	double start = cairn_now(), t0 = start, lat = 0;
	int attempts = 0, ok = 0;
	const char *target;
	int erc, (*beat)(void *) = NULL;
	double every = 0, next_beat;

	/* a resource's check reads its instance as self */
	if (self)
		json_object_set(e->root, "self", self);
	erc = cairn_engine_eval(e, c->target, in, &t);
	if (self)
		json_object_del(e->root, "self");
	if (erc != 0 || !json_is_object(t) || cairn_has_unknown(t)) {
		char *m = cairn_engine_clean(e, t ? "the check's target is not known after the apply" :
					       cairn_error_last()->message);

		r = json_pack("{s:s,s:s,s:b,s:i,s:f,s:s}", "name", c->name, "kind", kind_name[c->kind], "ok", 0,
			      "attempts", 0, "seconds", 0.0, "error", m ? m : "cannot evaluate the check");
		free(m);
		json_decref(t);
		return r;
	}
	target = json_string_value(json_object_get(t, c->kind == CAIRN_CHECK_HTTP ? "url" : "host"));
	if (!target || (c->kind == CAIRN_CHECK_SSH && !json_is_string(json_object_get(t, "command")))) {
		json_decref(t);
		return json_pack("{s:s,s:s,s:b,s:i,s:f,s:s}", "name", c->name, "kind", kind_name[c->kind], "ok", 0,
				 "attempts", 0, "seconds", 0.0, "error", c->kind == CAIRN_CHECK_HTTP ? "http.url is not a string" :
				 c->kind == CAIRN_CHECK_TCP ? "tcp.host is not a string" : "ssh.host and ssh.command must be strings");
	}
	if (!cairn_engine_heartbeat_every(e, &every, &beat))
		beat = NULL;
	next_beat = cairn_now() + every;
	for (;;) {
		double left = c->deadline - (cairn_now() - start);

		if (left <= 0 || cairn_engine_signal(e))
			break;
		/* a long check keeps the environment's lease, as the scheduler does */
		if (beat && cairn_now() >= next_beat) {
			next_beat = cairn_now() + every;
			if (beat(e) != 0) {
				snprintf(why, sizeof(why), "lost the lock of the environment during the check");
				break;
			}
		}
		attempts++;
		t0 = cairn_now();
		{
			double tmo = left < ATTEMPT_MAX_S ? left : ATTEMPT_MAX_S;

			ok = (c->kind == CAIRN_CHECK_HTTP ? try_http(t, tmo, why, sizeof(why)) :
			      c->kind == CAIRN_CHECK_TCP ? try_tcp(t, tmo, why, sizeof(why)) :
			      try_ssh(e, t, tmo, why, sizeof(why))) == 0;
		}
		lat = cairn_now() - t0;
		if (ok || attempts > c->retries)
			break;
		/* the next attempt would start after the deadline */
		if (c->interval >= c->deadline - (cairn_now() - start))
			break;
		pause_for(c->interval);
	}
	if (!ok && !attempts)
		snprintf(why, sizeof(why), "the deadline passed before the first attempt");
	{
		char *tgt = cairn_engine_clean(e, target), *w = cairn_engine_clean(e, why);

		r = json_pack("{s:s,s:s,s:s,s:b,s:i,s:f}", "name", c->name, "kind", kind_name[c->kind], "target",
			      tgt ? tgt : "", "ok", ok, "attempts", attempts, "seconds", lat);
		if (!ok)
			json_object_set_new(r, "error", json_string(w ? w : why));
		free(tgt);
		free(w);
	}
	json_decref(t);
	return r;
}

int cairn_checks_run(cairn_engine *e, json_t **out, bool *passed)
{
	json_t *arr = json_array();
	size_t i;

	*passed = true;
	for (i = 0; i < e->stack->nchecks; i++) {
		json_t *r = run_one(e, &e->stack->checks[i], NULL, NULL);

		if (!r) {
			json_decref(arr);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		if (!json_is_true(json_object_get(r, "ok")))
			*passed = false;
		json_array_append_new(arr, r);
	}
	*out = arr;
	return 0;
}

int cairn_checks_run_res(cairn_engine *e, const cairn_inst *in, json_t *self, json_t **out, bool *passed)
{
	const cairn_res_cfg *res = &e->stack->resources[in->res];
	json_t *arr = json_array();
	size_t i;

	*passed = true;
	for (i = 0; i < res->nchecks; i++) {
		json_t *r = run_one(e, &res->checks[i], in, self);

		if (!r || !arr) {
			json_decref(r);
			json_decref(arr);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		json_object_set_new(r, "address", json_string(in->address));
		if (!json_is_true(json_object_get(r, "ok")))
			*passed = false;
		json_array_append_new(arr, r);
	}
	*out = arr;
	return 0;
}
