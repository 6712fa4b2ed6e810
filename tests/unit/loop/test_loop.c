/*
 * test_loop.c - the event loop and HTTP client, against a libmicrohttpd
 * server started in this process on 127.0.0.1 (an ephemeral port).
 *
 * The server answers per path:
 *   /ok              200 "hello", with two X-Twice headers
 *   /throttle-N      503 <Code>RequestLimitExceeded</Code> for the first N
 *                    hits (Retry-After: ?retry-after=S), then 200
 *   /429-after       429 + x-amz-retry-after: 50 once, then 200
 *   /500             always 500
 *   /drop            closes the connection without an answer
 *   /slow            answers after 1 s
 *   /echo            the request's method, path, headers and body as JSON
 *   /big             2 MiB body
 */
#include "t.h"
#include "base/buf.h"
#include "base/digest.h"
#include "base/error.h"
#include "loop/loop.h"
#include "loop/retry.h"
#include "aws/sign.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

/* -- the server --------------------------------------------------------- */

typedef struct srv {
	struct MHD_Daemon *d;
	int port;
	char base[64];
	pthread_mutex_t mu;
	struct { char path[64]; int n; } hits[16];
	atomic_int stopping;
} srv;

typedef struct conn_state {
	cairn_buf body;
	char *uri; /* as received, query included */
	int started;
} conn_state;

static void *log_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	conn_state *st = calloc(1, sizeof(*st));

	cairn_buf_init(&st->body, 0);
	st->uri = strdup(uri);
	return st;
}

static int count_hit(srv *s, const char *path)
{
	int i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < 16; i++) {
		if (!s->hits[i].path[0])
			snprintf(s->hits[i].path, sizeof(s->hits[i].path), "%s", path);
		if (strcmp(s->hits[i].path, path) == 0) {
			n = ++s->hits[i].n;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *body,
				 const char *h1, const char *v1)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (h1)
		MHD_add_response_header(r, h1, v1);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	char name[128];
	size_t i;

	for (i = 0; k[i] && i < sizeof(name) - 1; i++)
		name[i] = (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] - 'A' + 'a' : k[i]);
	name[i] = '\0';
	json_object_set_new(cls, name, json_string(v ? v : ""));
	return MHD_YES;
}

static enum MHD_Result answer_echo(struct MHD_Connection *c, const char *method, const char *url,
				   conn_state *st)
{
	json_t *h = json_object(), *o;
	char *text;
	enum MHD_Result ret;
	struct MHD_Response *r;

	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, h);
	o = json_pack("{s:s, s:s, s:s, s:o, s:s%}", "method", method, "path", url, "uri", st->uri,
		      "headers", h, "body", cairn_buf_cstr(&st->body), st->body.len);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static const char throttle_body[] =
	"<?xml version=\"1.0\"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>"
	"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r1</RequestID></Response>";

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	srv *s = cls;
	conn_state *st = *con_cls;
	int hit, i;

	if (!st->started) { /* the first call only announces the request */
		st->started = 1;
		return MHD_YES;
	}
	if (*upload_size) {
		cairn_buf_put(&st->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	hit = count_hit(s, url);
	if (strcmp(url, "/ok") == 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(5, "hello", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		MHD_add_response_header(r, "X-Twice", "a");
		MHD_add_response_header(r, "X-Twice", "b");
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strncmp(url, "/throttle-", 10) == 0) {
		const char *ra = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "retry-after");

		if (hit <= (int)strtol(url + 10, NULL, 10))
			return send_text(c, 503, throttle_body, ra ? "Retry-After" : NULL, ra);
		return send_text(c, 200, "ok", NULL, NULL);
	}
	if (strcmp(url, "/429-after") == 0) {
		if (hit == 1)
			return send_text(c, 429, "{\"__type\":\"com.amazon#TooManyRequestsException\"}",
					 "x-amz-retry-after", "50");
		return send_text(c, 200, "ok", NULL, NULL);
	}
	if (strcmp(url, "/500") == 0)
		return send_text(c, 500, "<Error><Code>InternalError</Code></Error>", NULL, NULL);
	if (strcmp(url, "/drop") == 0)
		return MHD_NO;
	if (strcmp(url, "/slow") == 0) {
		for (i = 0; i < 100 && !atomic_load(&s->stopping); i++)
			usleep(10000);
		return send_text(c, 200, "slow", NULL, NULL);
	}
	if (strcmp(url, "/echo") == 0)
		return answer_echo(c, method, url, st);
	if (strcmp(url, "/big") == 0) {
		size_t n = (size_t)2 << 20;
		char *big = malloc(n);
		struct MHD_Response *r;
		enum MHD_Result ret;

		memset(big, 'a', n);
		r = MHD_create_response_from_buffer(n, big, MHD_RESPMEM_MUST_FREE);
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	return send_text(c, 404, "not found", NULL, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	conn_state *st = *con_cls;

	if (st) {
		cairn_buf_release(&st->body);
		free(st->uri);
		free(st);
		*con_cls = NULL;
	}
}

static int srv_start(srv *s)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, handler, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, log_uri, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_END);
	if (!s->d)
		return -1;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	return s->port ? 0 : -1;
}

static void srv_stop(srv *s)
{
	atomic_store(&s->stopping, 1);
	if (s->d)
		MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->mu);
}

/* -- helpers ------------------------------------------------------------ */

typedef struct result {
	json_t *resp;
	int done;
} result;

static void on_resp(void *ud, json_t *resp)
{
	result *r = ud;

	r->resp = resp;
	r->done++;
}

static json_t *req(const srv *s, const char *method, const char *path)
{
	char url[256];

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	return json_pack("{s:s, s:s}", "method", method, "url", url);
}

/* Run the loop until nothing is pending or `limit` seconds have passed;
 * returns what is still pending. */
static int drain(cairn_loop *l, double limit)
{
	double end = cairn_now() + limit;
	int pending = 1;

	while (pending && cairn_now() < end)
		if (cairn_loop_run_once(l, 0.5, &pending) < 0)
			return -1;
	return pending;
}

/* One request, run to completion: the response (caller decrefs). */
static json_t *fetch(cairn_loop *l, json_t *request)
{
	result r = { 0 };
	int rc = cairn_loop_http(l, request, on_resp, &r);

	json_decref(request);
	if (rc < 0 || drain(l, 8) != 0 || r.done != 1)
		return NULL;
	return r.resp;
}

static cairn_loop *quick_loop(int max_attempts, int budget)
{
	cairn_loop_opts o;
	cairn_loop *l = NULL;

	cairn_loop_opts_default(&o);
	o.backoff_base = 0.005;
	o.backoff_cap = 0.02;
	o.max_attempts = max_attempts;
	o.retry_budget = budget;
	if (cairn_loop_new(&l, &o) < 0)
		return NULL;
	return l;
}

static long long jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* -- timers ------------------------------------------------------------- */

typedef struct order {
	char seen[16];
	int n;
} order;

typedef struct tick {
	order *o;
	char c;
} tick;

static void on_tick(void *ud)
{
	tick *t = ud;

	t->o->seen[t->o->n++] = t->c;
}

/* ---- names resolved beside the loop (resolve.c) ---- */

typedef struct resolved {
	int calls;
	int family;
	char error[256];
} resolved;

static void on_resolved(void *ud, struct addrinfo *ai, const char *error)
{
	resolved *r = ud;

	r->calls++;
	if (ai) {
		r->family = ai->ai_family;
		freeaddrinfo(ai);
	}
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
}

static void test_loop__resolve(void)
{
	cairn_loop *l = NULL;
	resolved a = { 0 }, n = { 0 }, bad = { 0 }, gone = { 0 };
	cairn_resolve *h = NULL, *hc = NULL;
	int pending = -1, i;

	T_OK(cairn_loop_new(&l, NULL));
	/* an address: answered at once, delivered by the loop only */
	T_OK(cairn_loop_resolve(l, "127.0.0.1", "22", on_resolved, &a, &h));
	T_CHECK(h != NULL);
	T_EQ_INT(a.calls, 0);
	/* a name (/etc/hosts), in a thread of its own */
	T_OK(cairn_loop_resolve(l, "localhost", "22", on_resolved, &n, &h));
	/* a service nobody knows (/etc/services: no name server asked) */
	T_OK(cairn_loop_resolve(l, "localhost", "no-such-service", on_resolved, &bad, &h));
	/* cancelled before its answer: never called back, nothing leaks */
	T_OK(cairn_loop_resolve(l, "localhost", "22", on_resolved, &gone, &hc));
	cairn_resolve_cancel(hc);
	for (i = 0; i < 500 && (a.calls + n.calls + bad.calls) < 3; i++)
		T_OK(cairn_loop_run_once(l, 0.01, &pending));
	T_EQ_INT(a.calls, 1);
	T_EQ_INT(a.family, AF_INET);
	T_EQ_STR(a.error, "");
	T_EQ_INT(n.calls, 1);
	T_EQ_STR(n.error, "");
	T_EQ_INT(bad.calls, 1);
	T_CHECK(strncmp(bad.error, "cannot resolve localhost: ", 26) == 0);
	T_OK(cairn_loop_run_once(l, 0, &pending));
	T_EQ_INT(pending, 0);
	T_EQ_INT(gone.calls, 0);
	cairn_loop_free(l);
	usleep(200 * 1000); /* the cancelled request's thread lets go of it */
}

static void test_loop__timers_in_order(void)
{
	cairn_loop *l = NULL;
	order o = { { 0 }, 0 };
	tick a = { &o, 'A' }, b = { &o, 'B' }, c = { &o, 'C' }, d = { &o, 'D' }, e = { &o, 'E' }, f = { &o, 'F' };
	uint64_t fid = 0;
	int pending = -1;

	T_OK(cairn_loop_new(&l, NULL));
	T_OK(cairn_loop_timer(l, 0.03, on_tick, &a, NULL));
	T_OK(cairn_loop_timer(l, 0.01, on_tick, &b, NULL));
	T_OK(cairn_loop_timer(l, 0.02, on_tick, &c, NULL));
	T_OK(cairn_loop_timer(l, 0, on_tick, &d, NULL));
	T_OK(cairn_loop_timer(l, 0.015, on_tick, &f, &fid));
	T_OK(cairn_loop_timer(l, 0.01, on_tick, &e, NULL));
	T_EQ_INT(o.n, 0); /* nothing fires outside run_once */
	cairn_loop_timer_cancel(l, fid);
	cairn_loop_timer_cancel(l, 999); /* unknown: no-op */
	T_OK(cairn_loop_run_once(l, 0, &pending));
	T_EQ_INT(pending, 4);
	T_EQ_INT(drain(l, 2), 0);
	T_EQ_STR(o.seen, "DBECA");
	/* nothing outstanding: run_once returns at once */
	T_OK(cairn_loop_run_once(l, -1, &pending));
	T_EQ_INT(pending, 0);
	cairn_loop_free(l);
}

static void test_loop__timer_waits(void)
{
	cairn_loop *l = NULL;
	order o = { { 0 }, 0 };
	tick a = { &o, 'A' };
	double t0 = cairn_now();
	int pending = 1;

	T_OK(cairn_loop_new(&l, NULL));
	T_OK(cairn_loop_timer(l, 0.05, on_tick, &a, NULL));
	while (pending)
		T_OK(cairn_loop_run_once(l, -1, &pending));
	T_CHECK(cairn_now() - t0 >= 0.05);
	T_EQ_INT(o.n, 1);
	cairn_loop_free(l);
}

/* -- HTTP --------------------------------------------------------------- */

static void test_loop__get_ok(void)
{
	srv s;
	cairn_loop *l = NULL;
	result r = { 0 };
	json_t *rq;
	cairn_loop_stats st;

	T_CHECK(srv_start(&s) == 0);
	T_OK(cairn_loop_new(&l, NULL));
	rq = req(&s, "GET", "/ok");
	T_OK(cairn_loop_http(l, rq, on_resp, &r));
	json_decref(rq);
	T_EQ_INT(r.done, 0); /* never called back from inside cairn_loop_http */
	T_EQ_INT(drain(l, 5), 0);
	T_EQ_INT(r.done, 1);
	T_EQ_INT(jint(r.resp, "status"), 200);
	T_EQ_STR(jstr(r.resp, "body"), "hello");
	T_EQ_INT(jint(r.resp, "attempts"), 1);
	T_EQ_STR(jstr(json_object_get(r.resp, "headers"), "x-twice"), "a, b");
	T_EQ_STR(jstr(json_object_get(r.resp, "headers"), "content-length"), "5");
	cairn_loop_get_stats(l, &st);
	T_EQ_INT(st.requests, 1);
	T_EQ_INT(st.retries, 0);
	T_EQ_INT(st.failures, 0);
	json_decref(r.resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__many_concurrent(void)
{
	enum { N = 200 };
	srv s;
	cairn_loop *l = NULL;
	cairn_loop_opts o;
	static result r[N];
	cairn_loop_stats st;
	int i, ok = 0;

	T_CHECK(srv_start(&s) == 0);
	cairn_loop_opts_default(&o);
	o.max_connections = 16;
	T_OK(cairn_loop_new(&l, &o));
	memset(r, 0, sizeof(r));
	for (i = 0; i < N; i++) {
		json_t *rq = req(&s, "GET", "/ok");

		T_OK(cairn_loop_http(l, rq, on_resp, &r[i]));
		json_decref(rq);
	}
	T_EQ_INT(drain(l, 8), 0);
	for (i = 0; i < N; i++) {
		ok += r[i].done == 1 && jint(r[i].resp, "status") == 200;
		json_decref(r[i].resp);
	}
	T_EQ_INT(ok, N);
	cairn_loop_get_stats(l, &st);
	T_EQ_INT(st.requests, N);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__retry_throttle(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp;
	cairn_loop_stats st;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(5, 0)) != NULL);
	/* a POST (not idempotent): throttling proves it was not processed */
	resp = fetch(l, req(&s, "POST", "/throttle-2"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 200);
	T_EQ_INT(jint(resp, "attempts"), 3);
	cairn_loop_get_stats(l, &st);
	T_EQ_INT(st.requests, 3);
	T_EQ_INT(st.retries, 2);
	T_EQ_INT(st.throttled, 2);
	T_EQ_INT(st.failures, 0);
	T_CHECK(st.wait_seconds > 0);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__retry_after(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp;
	double t0;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(3, 0)) != NULL);
	t0 = cairn_now();
	resp = fetch(l, req(&s, "GET", "/throttle-1?retry-after=1"));
	T_CHECK(resp != NULL);
	T_CHECK(cairn_now() - t0 >= 1.0);
	T_EQ_INT(jint(resp, "status"), 200);
	T_EQ_INT(jint(resp, "attempts"), 2);
	json_decref(resp);

	t0 = cairn_now();
	resp = fetch(l, req(&s, "GET", "/429-after"));
	T_CHECK(resp != NULL);
	T_CHECK(cairn_now() - t0 >= 0.05);
	T_EQ_INT(jint(resp, "status"), 200);
	T_EQ_INT(jint(resp, "attempts"), 2);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__5xx_idempotent_only(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp, *rq;
	cairn_loop_stats st;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(3, 0)) != NULL);
	resp = fetch(l, req(&s, "POST", "/500"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 500);
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);

	resp = fetch(l, req(&s, "GET", "/500"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 500);
	T_EQ_INT(jint(resp, "attempts"), 3);
	json_decref(resp);

	/* a POST declared idempotent is retried too */
	rq = req(&s, "POST", "/500");
	json_object_set_new(rq, "idempotent", json_true());
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 3);
	json_decref(resp);

	/* and a Describe sent as POST is idempotent by default */
	rq = req(&s, "POST", "/500");
	json_object_set_new(rq, "action", json_string("DescribeVpcs"));
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 3);
	json_decref(resp);

	/* "attempts": 1 (a health check's attempt): no retry of a 5xx */
	rq = req(&s, "GET", "/500");
	json_object_set_new(rq, "attempts", json_integer(1));
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 500);
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);

	cairn_loop_get_stats(l, &st);
	T_EQ_INT(st.requests, 11);
	T_EQ_INT(st.retries, 6);
	T_EQ_INT(st.failures, 5);
	cairn_loop_free(l);
	srv_stop(&s);
}

static int closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		port = 0;
	else
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void test_loop__refused_retried_even_post(void)
{
	cairn_loop *l;
	json_t *resp;
	char url[64];
	int port = closed_port();

	T_CHECK(port > 0);
	T_CHECK((l = quick_loop(3, 0)) != NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	resp = fetch(l, json_pack("{s:s, s:s}", "method", "POST", "url", url));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "curl_code"), 7);
	T_EQ_INT(jint(resp, "attempts"), 3);
	T_CONTAINS(jstr(resp, "error"), "POST http://127.0.0.1:");
	T_CHECK(json_object_get(resp, "status") == NULL);
	json_decref(resp);
	cairn_loop_free(l);
}

static void test_loop__drop(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp;
	cairn_loop_stats st;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(3, 0)) != NULL);
	resp = fetch(l, req(&s, "GET", "/drop"));
	T_CHECK(resp != NULL);
	T_CHECK(jstr(resp, "error") != NULL);
	T_EQ_INT(jint(resp, "curl_code"), 52);
	T_EQ_INT(jint(resp, "attempts"), 3);
	json_decref(resp);
	/* a dropped POST may have been processed: not re-sent */
	resp = fetch(l, req(&s, "POST", "/drop"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);
	cairn_loop_get_stats(l, &st);
	T_EQ_INT(st.failures, 2);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__timeout(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp, *rq;
	double t0;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(1, 0)) != NULL);
	rq = req(&s, "GET", "/slow");
	json_object_set_new(rq, "timeout", json_real(0.2));
	t0 = cairn_now();
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	T_CHECK(cairn_now() - t0 < 0.9);
	T_EQ_INT(jint(resp, "curl_code"), 28);
	T_CONTAINS(jstr(resp, "error"), "GET http://127.0.0.1:");
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__retry_budget(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(5, 2)) != NULL);
	resp = fetch(l, req(&s, "GET", "/500"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 3);
	json_decref(resp);
	resp = fetch(l, req(&s, "GET", "/500"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 1); /* budget spent: fails fast */
	json_decref(resp);
	cairn_loop_free(l);

	T_CHECK((l = quick_loop(5, -1)) != NULL); /* no retries at all */
	resp = fetch(l, req(&s, "GET", "/500"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__token_bucket(void)
{
	static const cairn_rate_class classes[] = {
		{ "ec2", "describe", 20, 1 },
		{ NULL, NULL, 0, 0 },
	};
	srv s;
	cairn_loop *l = NULL;
	cairn_loop_opts o;
	result r[5];
	cairn_loop_stats st;
	double t0, elapsed;
	int i;

	T_CHECK(srv_start(&s) == 0);
	cairn_loop_opts_default(&o);
	o.classes = classes;
	T_OK(cairn_loop_new(&l, &o));
	memset(r, 0, sizeof(r));
	t0 = cairn_now();
	for (i = 0; i < 5; i++) {
		json_t *rq = req(&s, "POST", "/ok");

		json_object_set_new(rq, "service", json_string("ec2"));
		json_object_set_new(rq, "action", json_string("DescribeVpcs"));
		T_OK(cairn_loop_http(l, rq, on_resp, &r[i]));
		json_decref(rq);
	}
	T_EQ_INT(drain(l, 5), 0);
	elapsed = cairn_now() - t0;
	for (i = 0; i < 5; i++) {
		T_EQ_INT(jint(r[i].resp, "status"), 200);
		json_decref(r[i].resp);
	}
	T_CHECK(elapsed >= 0.19);
	cairn_loop_get_stats(l, &st);
	/* waits of 0.05 + 0.10 + 0.15 + 0.20 were reserved */
	T_CHECK(st.wait_seconds >= 0.45 && st.wait_seconds < 0.55);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void send_n(cairn_loop *l, const srv *s, const char *service, const char *action, int n, result *r)
{
	int i;

	for (i = 0; i < n; i++) {
		json_t *rq = req(s, "POST", "/ok");

		json_object_set_new(rq, "service", json_string(service));
		json_object_set_new(rq, "action", json_string(action));
		cairn_loop_http(l, rq, on_resp, &r[i]);
		json_decref(rq);
	}
}

static void test_loop__buckets_per_service(void)
{
	static const cairn_rate_class classes[] = {
		{ "*", "mutate", 10, 1 },
		{ "ec2", "describe", 0, 0 }, /* rate 0: unlimited */
		{ NULL, NULL, 0, 0 },
	};
	srv s;
	cairn_loop *l = NULL;
	cairn_loop_opts o;
	result r[16];
	cairn_loop_stats st;
	int i;

	T_CHECK(srv_start(&s) == 0);
	cairn_loop_opts_default(&o);
	o.classes = classes;
	T_OK(cairn_loop_new(&l, &o));
	memset(r, 0, sizeof(r));
	send_n(l, &s, "rds", "CreateDBInstance", 2, r);
	send_n(l, &s, "ec2", "CreateVpc", 2, r + 2);
	send_n(l, &s, "ec2", "DescribeVpcs", 4, r + 4);
	send_n(l, &s, "eks", "ListClusters", 4, r + 8); /* built-in: burst 100 */
	T_EQ_INT(drain(l, 5), 0);
	for (i = 0; i < 12; i++) {
		T_EQ_INT(jint(r[i].resp, "status"), 200);
		json_decref(r[i].resp);
	}
	cairn_loop_get_stats(l, &st);
	/* one 0.1 s wait in rds's mutate bucket, one in ec2's */
	T_CHECK(st.wait_seconds >= 0.19 && st.wait_seconds < 0.25);
	cairn_loop_free(l);

	/* rate_limits off: no bucket at all */
	o.rate_limits = false;
	T_OK(cairn_loop_new(&l, &o));
	memset(r, 0, sizeof(r));
	send_n(l, &s, "rds", "CreateDBInstance", 3, r);
	T_EQ_INT(drain(l, 5), 0);
	for (i = 0; i < 3; i++)
		json_decref(r[i].resp);
	cairn_loop_get_stats(l, &st);
	T_CHECK(st.wait_seconds == 0);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__default_rates(void)
{
	const cairn_rate_class *c;
	int seen = 0;

	for (c = cairn_loop_default_rates; c->service; c++) {
		if (strcmp(c->service, "ec2") == 0 && strcmp(c->klass, "describe") == 0) {
			T_CHECK(c->burst == 100 && c->rate == 20);
			seen++;
		}
		if (strcmp(c->service, "ec2") == 0 && strcmp(c->klass, "mutate") == 0) {
			T_CHECK(c->burst == 50 && c->rate == 5);
			seen++;
		}
	}
	T_EQ_INT(seen, 2);
}

/* -- SigV4 -------------------------------------------------------------- */

static void hexify(const unsigned char *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* The query as AWS canonicalizes it: sorted by name, then value. */
static void canonical_query(cairn_buf *b, const char *uri)
{
	const char *qs = strchr(uri, '?');
	char *q = qs ? strdup(qs + 1) : NULL, *parts[32], *p = q, *t;
	int n = 0, i, j;

	while (p && *p && n < 32) {
		char *amp = strchr(p, '&');

		if (amp)
			*amp = '\0';
		if (*p)
			parts[n++] = p;
		p = amp ? amp + 1 : NULL;
	}
	for (i = 1; i < n; i++) /* insertion sort by (name, value) */
		for (j = i; j > 0; j--) {
			size_t ka = strcspn(parts[j - 1], "="), kb = strcspn(parts[j], "=");
			int c = strncmp(parts[j - 1], parts[j], ka < kb ? ka : kb);

			if (!c)
				c = ka == kb ? strcmp(parts[j - 1] + ka, parts[j] + kb) : (ka < kb ? -1 : 1);
			if (c <= 0)
				break;
			t = parts[j];
			parts[j] = parts[j - 1];
			parts[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		cairn_buf_printf(b, "%s%s%s", i ? "&" : "", parts[i], strchr(parts[i], '=') ? "" : "=");
	free(q);
}

/* Recompute the signature of the echoed request, as AWS would. */
static int sigv4_check(const json_t *echo, const char *secret, char *why, size_t whylen)
{
	const json_t *h = json_object_get(echo, "headers");
	const char *auth = jstr(h, "authorization"), *date = jstr(h, "x-amz-date");
	const char *body = jstr(echo, "body"), *sh, *sig, *p;
	char signed_headers[256], scope[128], hash[65], mine[65], key[128];
	unsigned char md[32], k[32];
	cairn_buf canon = CAIRN_BUF_INIT, sts = CAIRN_BUF_INIT;
	int rc = -1;

	if (!auth || !date || !body || !(sh = strstr(auth, "SignedHeaders=")) || !(sig = strstr(auth, "Signature="))) {
		snprintf(why, whylen, "missing parts");
		return -1;
	}
	sh += 14;
	snprintf(signed_headers, sizeof(signed_headers), "%.*s", (int)strcspn(sh, ","), sh);
	p = strstr(auth, "Credential=") + 11;
	p = strchr(p, '/') + 1;
	snprintf(scope, sizeof(scope), "%.*s", (int)strcspn(p, ","), p);
	cairn_buf_init(&canon, 0);
	cairn_buf_init(&sts, 0);
	cairn_buf_printf(&canon, "%s\n%s\n", jstr(echo, "method"), jstr(echo, "path"));
	canonical_query(&canon, jstr(echo, "uri"));
	cairn_buf_putc(&canon, '\n');
	for (p = signed_headers; *p;) {
		size_t n = strcspn(p, ";");
		char name[64];

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		cairn_buf_printf(&canon, "%s:%s\n", name, jstr(h, name) ? jstr(h, name) : "");
		p += n + (p[n] == ';');
	}
	SHA256((const unsigned char *)body, strlen(body), md);
	hexify(md, 32, hash);
	cairn_buf_printf(&canon, "\n%s\n%s", signed_headers, hash);
	SHA256((const unsigned char *)canon.ptr, canon.len, md);
	hexify(md, 32, hash);
	cairn_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, hash);
	snprintf(key, sizeof(key), "AWS4%s", secret);
	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
	{
		char part[32];
		const char *q = scope;
		unsigned char prev[32];
		int i;

		for (i = 0; i < 4; i++) {
			size_t n = strcspn(q, "/");

			snprintf(part, sizeof(part), "%.*s", (int)n, q);
			if (i == 0) {
				hmac(key, strlen(key), part, k);
			} else {
				memcpy(prev, k, 32);
				hmac(prev, 32, part, k);
			}
			q += n + (q[n] == '/');
		}
	}
	hmac(k, 32, sts.ptr, md);
	hexify(md, 32, mine);
	if (strncmp(sig + 10, mine, 64) == 0)
		rc = 0;
	else
		snprintf(why, whylen, "signature mismatch; canonical request:\n%s", canon.ptr);
	cairn_buf_release(&canon);
	cairn_buf_release(&sts);
	return rc;
}

/* A signed request goes only to the environment's endpoint, or, with none,
 * to AWS's own: elsewhere it is refused before anything is sent, and the
 * message holds no secret. */
static int try_signed(cairn_loop *l, const char *url)
{
	json_t *rq = json_pack("{s:s, s:s, s:s}", "method", "GET", "url", url, "sigv4", "aws:amz:us-east-1:ec2");
	result r = { 0 };
	int rc = cairn_loop_http(l, rq, on_resp, &r);

	json_decref(rq);
	return rc;
}

static void test_loop__sigv4_hosts(void)
{
	static const char *const refused[] = {
		"https://evil.example/?host=ec2.us-east-1.amazonaws.com", "https://amazonaws.com.evil.net/",
		"http://ec2.us-east-1.amazonaws.com/", "https://notamazonaws.com/", "http://127.0.0.1:4566/", NULL,
	};
	cairn_aws_creds creds = { "AKID", "SECRETKEY", "SESSIONTOKEN", "us-east-1", "http://127.0.0.1:4566", "test" };
	cairn_loop *l = NULL;
	const char *msg;
	int i;

	T_OK(cairn_loop_new(&l, NULL));
	T_OK(cairn_aws_signer_install(l, &creds, NULL, NULL, NULL));
	T_EQ_INT(try_signed(l, "http://127.0.0.1:9/steal"), CAIRN_EINVAL);
	msg = cairn_error_last()->message;
	T_CONTAINS(msg, "refusing to sign a request to http://127.0.0.1:9: AWS credentials are only sent to the "
		   "environment's endpoint (http://127.0.0.1:4566)");
	T_CHECK(!strstr(msg, "SECRETKEY") && !strstr(msg, "SESSIONTOKEN") && !strstr(msg, "steal"));
	T_EQ_INT(try_signed(l, "https://ec2.us-east-1.amazonaws.com/"), CAIRN_EINVAL);
	T_EQ_INT(try_signed(l, "http://LOCALHOST:4566/"), CAIRN_EINVAL);
	T_OK(try_signed(l, "http://127.0.0.1:4566/some/path?x=1"));
	cairn_loop_free(l);

	/* no endpoint: AWS's own, over https */
	creds.endpoint = NULL;
	T_OK(cairn_loop_new(&l, NULL));
	T_OK(cairn_aws_signer_install(l, &creds, NULL, NULL, NULL));
	T_OK(try_signed(l, "https://ec2.us-east-1.amazonaws.com/"));
	T_OK(try_signed(l, "https://rds.cn-north-1.amazonaws.com.cn/"));
	T_OK(try_signed(l, "https://eks.us-east-1.api.aws/clusters"));
	for (i = 0; refused[i]; i++) {
		T_EQ_INT(try_signed(l, refused[i]), CAIRN_EINVAL);
		T_CONTAINS(cairn_error_last()->message, "refusing to sign a request to");
	}
	cairn_loop_free(l);

	/* a per-service endpoint map: each of them */
	{
		const char *const eps[] = { "http://127.0.0.1:5001", "http://127.0.0.1:5002/", NULL };

		T_OK(cairn_loop_new(&l, NULL));
		T_OK(cairn_aws_signer_install(l, &creds, eps, NULL, NULL));
		T_OK(try_signed(l, "http://127.0.0.1:5002/x"));
		T_EQ_INT(try_signed(l, "http://127.0.0.1:5003/x"), CAIRN_EINVAL);
		cairn_loop_free(l);
	}
}

static void test_loop__sigv4(void)
{
	cairn_aws_creds creds = { "AKID", "SECRETKEY", "TOKEN", "us-east-1", NULL, "test" };
	srv s;
	cairn_loop *l = NULL;
	json_t *resp, *echo, *rq, *h;
	char expect[128], why[2048];
	const char *auth, *date;
	char *dump;

	T_CHECK(srv_start(&s) == 0);
	T_OK(cairn_loop_new(&l, NULL));
	/* no credentials: a signed request is refused up front */
	rq = req(&s, "POST", "/echo");
	json_object_set_new(rq, "sigv4", json_string("aws:amz:us-east-1:ec2"));
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, NULL), CAIRN_EINVAL);
	creds.endpoint = s.base; /* the credentials go only there */
	T_OK(cairn_aws_signer_install(l, &creds, NULL, NULL, NULL));
	json_object_set_new(rq, "body", json_string("Action=DescribeVpcs&Version=2016-11-15"));
	json_object_set_new(rq, "headers", json_pack("{s:s}", "Content-Type",
		"application/x-www-form-urlencoded; charset=utf-8"));
	json_object_set_new(rq, "service", json_string("ec2"));
	json_object_set_new(rq, "action", json_string("DescribeVpcs"));
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 200);
	dump = json_dumps(resp, 0);
	T_CHECK(strstr(dump, "SECRETKEY") == NULL);
	free(dump);
	echo = json_loads(jstr(resp, "body"), 0, NULL);
	json_decref(resp);
	T_CHECK(echo != NULL);
	h = json_object_get(echo, "headers");
	auth = jstr(h, "authorization");
	date = jstr(h, "x-amz-date");
	T_CHECK(auth && date && strlen(date) == 16);
	snprintf(expect, sizeof(expect), "AWS4-HMAC-SHA256 Credential=AKID/%.8s/us-east-1/ec2/aws4_request", date);
	T_CONTAINS(auth, expect);
	T_CONTAINS(auth, "x-amz-security-token");
	T_EQ_STR(jstr(h, "x-amz-security-token"), "TOKEN");
	T_EQ_STR(jstr(echo, "body"), "Action=DescribeVpcs&Version=2016-11-15");
	if (sigv4_check(echo, "SECRETKEY", why, sizeof(why)) != 0) {
		json_decref(echo);
		T_FAIL_("%s", why);
	}
	json_decref(echo);

	/* curl's own Content-Type for a form body, and a PUT: still valid */
	rq = req(&s, "PUT", "/echo");
	json_object_set_new(rq, "sigv4", json_string("aws:amz:eu-west-1:eks"));
	json_object_set_new(rq, "body", json_string("{\"name\":\"c1\"}"));
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	echo = json_loads(jstr(resp, "body"), 0, NULL);
	json_decref(resp);
	T_CHECK(echo != NULL);
	T_EQ_STR(jstr(echo, "method"), "PUT");
	T_CONTAINS(jstr(json_object_get(echo, "headers"), "authorization"), "/eu-west-1/eks/aws4_request");
	if (sigv4_check(echo, "SECRETKEY", why, sizeof(why)) != 0) {
		json_decref(echo);
		T_FAIL_("%s", why);
	}
	json_decref(echo);

	/* a query out of order: signed (and sent) in AWS's canonical order */
	rq = req(&s, "GET", "/echo?nextToken=abc%2Fd&maxResults=10&include=b&include=a&flag");
	json_object_set_new(rq, "sigv4", json_string("aws:amz:eu-west-1:eks"));
	resp = fetch(l, rq);
	T_CHECK(resp != NULL);
	echo = json_loads(jstr(resp, "body"), 0, NULL);
	json_decref(resp);
	T_CHECK(echo != NULL);
	T_EQ_STR(jstr(echo, "uri"), "/echo?flag=&include=a&include=b&maxResults=10&nextToken=abc%2Fd");
	if (sigv4_check(echo, "SECRETKEY", why, sizeof(why)) != 0) {
		json_decref(echo);
		T_FAIL_("%s", why);
	}
	json_decref(echo);

	/* without "sigv4" nothing is signed */
	resp = fetch(l, req(&s, "GET", "/echo"));
	T_CHECK(resp != NULL);
	echo = json_loads(jstr(resp, "body"), 0, NULL);
	T_CHECK(jstr(json_object_get(echo, "headers"), "authorization") == NULL);
	T_CHECK(jstr(json_object_get(echo, "headers"), "x-amz-security-token") == NULL);
	json_decref(echo);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

/* -- limits and lifecycle ----------------------------------------------- */

static void test_loop__body_cap(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp;

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(3, 0)) != NULL);
	cairn_loop_set_body_limit(l, (size_t)1 << 20);
	resp = fetch(l, req(&s, "GET", "/big"));
	T_CHECK(resp != NULL);
	T_CONTAINS(jstr(resp, "error"), "exceeds the limit of 1048576 bytes");
	T_EQ_INT(jint(resp, "curl_code"), 23);
	T_EQ_INT(jint(resp, "attempts"), 1);
	json_decref(resp);
	cairn_loop_set_body_limit(l, 0); /* back to 32 MiB */
	resp = fetch(l, req(&s, "GET", "/big"));
	T_CHECK(resp != NULL);
	T_EQ_INT(jint(resp, "status"), 200);
	T_EQ_INT(json_string_length(json_object_get(resp, "body")), 2 << 20);
	json_decref(resp);
	cairn_loop_free(l);
	srv_stop(&s);
}

static void test_loop__bad_requests(void)
{
	cairn_loop *l = NULL;
	result r = { 0 };
	json_t *rq;

	T_OK(cairn_loop_new(&l, NULL));
	rq = json_pack("{s:s}", "method", "GET");
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, &r), CAIRN_EINVAL);
	json_decref(rq);
	rq = json_pack("{s:s}", "url", "file:///etc/passwd");
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, &r), CAIRN_EINVAL);
	json_decref(rq);
	rq = json_pack("{s:s, s:{s:s}}", "url", "http://127.0.0.1:1/", "headers", "X-A", "b\r\nX-Evil: 1");
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, &r), CAIRN_EINVAL);
	json_decref(rq);
	rq = json_pack("{s:s, s:i}", "url", "http://127.0.0.1:1/", "timeout", -1);
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, &r), CAIRN_EINVAL);
	json_decref(rq);
	rq = json_pack("{s:s, s:i}", "url", "http://127.0.0.1:1/", "attempts", 0);
	T_EQ_INT(cairn_loop_http(l, rq, on_resp, &r), CAIRN_EINVAL);
	json_decref(rq);
	T_EQ_INT(r.done, 0);
	cairn_loop_free(l);
}

static void test_loop__free_cancels(void)
{
	srv s;
	cairn_loop *l = NULL;
	result r = { 0 };
	order o = { { 0 }, 0 };
	tick a = { &o, 'A' };
	json_t *rq;
	int pending = 0;

	T_CHECK(srv_start(&s) == 0);
	T_OK(cairn_loop_new(&l, NULL));
	rq = req(&s, "GET", "/slow");
	T_OK(cairn_loop_http(l, rq, on_resp, &r));
	json_decref(rq);
	rq = req(&s, "GET", "/throttle-9");
	T_OK(cairn_loop_http(l, rq, on_resp, &r));
	json_decref(rq);
	T_OK(cairn_loop_timer(l, 10, on_tick, &a, NULL));
	T_OK(cairn_loop_run_once(l, 0.05, &pending));
	T_OK(cairn_loop_run_once(l, 0.05, &pending));
	T_EQ_INT(pending, 3);
	cairn_loop_free(l);
	T_EQ_INT(r.done, 0);
	T_EQ_INT(o.n, 0);
	srv_stop(&s);
}

/* -- the retry policy on its own ---------------------------------------- */

static void test_loop__policy(void)
{
	char code[64];
	const char *xml = "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
	const char *js = "{\"__type\":\"com.amazonaws.eks#ThrottlingException\",\"message\":\"x\"}";
	const char *js2 = "{\"code\":\"ThrottlingException:http://internal\"}";
	time_t now = 1700000000;
	int i;

	T_CHECK(cairn_loop_error_code(xml, strlen(xml), code, sizeof(code)));
	T_EQ_STR(code, "RequestLimitExceeded");
	T_CHECK(cairn_loop_error_code(js, strlen(js), code, sizeof(code)));
	T_EQ_STR(code, "ThrottlingException");
	T_CHECK(cairn_loop_error_code(js2, strlen(js2), code, sizeof(code)));
	T_EQ_STR(code, "ThrottlingException");
	T_CHECK(!cairn_loop_error_code("oops", 4, code, sizeof(code)));
	T_CHECK(cairn_loop_is_throttle(503, xml, strlen(xml)));
	T_CHECK(cairn_loop_is_throttle(400, js, strlen(js)));
	T_CHECK(cairn_loop_is_throttle(429, "", 0));
	T_CHECK(!cairn_loop_is_throttle(404, xml, strlen(xml)));
	T_CHECK(!cairn_loop_is_throttle(500, "<Code>InternalError</Code>", 26));
	T_CHECK(cairn_loop_status_retryable(500) && cairn_loop_status_retryable(503));
	T_CHECK(!cairn_loop_status_retryable(501) && !cairn_loop_status_retryable(404));

	T_CHECK(cairn_loop_retry_after("3", NULL, now) == 3.0);
	T_CHECK(cairn_loop_retry_after("3", "250", now) == 0.25);
	T_CHECK(cairn_loop_retry_after(NULL, "250", now) == 0.25);
	T_CHECK(cairn_loop_retry_after("100000", NULL, now) == CAIRN_LOOP_RETRY_AFTER_MAX);
	T_CHECK(cairn_loop_retry_after("-4", NULL, now) == -1);
	T_CHECK(cairn_loop_retry_after("soon", NULL, now) == -1);
	T_CHECK(cairn_loop_retry_after(NULL, NULL, now) == -1);
	/* 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT */
	T_CHECK(cairn_loop_retry_after("Tue, 14 Nov 2023 22:13:27 GMT", NULL, now) == 7.0);
	T_CHECK(cairn_loop_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", NULL, now) == 0.0);

	for (i = 1; i < 70; i++) {
		double b = cairn_loop_backoff(0.1, 20, i, 0.999999);

		T_CHECK(b >= 0 && b <= 20);
	}
	T_CHECK(cairn_loop_backoff(0.1, 20, 1, 0.5) == 0.05);
	T_CHECK(cairn_loop_backoff(0.1, 20, 3, 0.5) == 0.2);
	T_CHECK(cairn_loop_backoff(0.1, 20, 30, 0.5) == 10);

	T_EQ_STR(cairn_loop_action_class("DescribeVpcs", "POST"), "describe");
	T_EQ_STR(cairn_loop_action_class("ListClusters", "GET"), "describe");
	T_EQ_STR(cairn_loop_action_class("CreateVpc", "POST"), "mutate");
	T_EQ_STR(cairn_loop_action_class(NULL, "GET"), "describe");
	T_EQ_STR(cairn_loop_action_class(NULL, "DELETE"), "mutate");

	{
		static const char *const cases[][2] = {
			{ "http://h/p", "http://h/p" },
			{ "http://h/p?", "http://h/p" },
			{ "http://h/p?b=1&a=2", "http://h/p?a=2&b=1" },
			{ "http://h/p?a=2&a=1&a-b=0&a&&", "http://h/p?a=&a=1&a=2&a-b=0" },
			{ "http://h/p?z=1#frag", "http://h/p?z=1#frag" },
		};
		size_t k;

		for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			char *u = NULL;

			T_OK(cairn_aws_sort_query(cases[k][0], &u));
			T_EQ_STR(u, cases[k][1]);
			free(u);
		}
	}

	T_CHECK(cairn_loop_curl_unsent(7) && cairn_loop_curl_unsent(6));
	T_CHECK(!cairn_loop_curl_unsent(52) && cairn_loop_curl_retryable(52));
	T_CHECK(!cairn_loop_curl_retryable(60)); /* bad certificate: never */
}

/* -- watched file descriptors ------------------------------------------- */

typedef struct fd_seen {
	cairn_loop *loop;
	uint64_t id, other;
	int calls, revents;
	bool unwatch_other;
} fd_seen;

static void on_fd(void *ud, int fd, int revents)
{
	fd_seen *f = ud;
	char c;

	f->calls++;
	f->revents |= revents;
	if (revents & CAIRN_FD_IN)
		(void)!read(fd, &c, 1);
	if (f->unwatch_other)
		cairn_loop_unwatch_fd(f->loop, f->other);
}

static void test_loop__watch_fd(void)
{
	cairn_loop *loop = NULL;
	fd_seen a = { 0 }, b = { 0 };
	int p[2] = { -1, -1 }, q[2] = { -1, -1 }, pending = 0;
	double t0;

	T_CHECK(pipe(p) == 0 && pipe(q) == 0);
	T_OK(cairn_loop_new(&loop, NULL));
	a.loop = b.loop = loop;
	T_OK(cairn_loop_watch_fd(loop, p[0], CAIRN_FD_IN, on_fd, &a, &a.id));
	T_OK(cairn_loop_watch_fd(loop, q[0], CAIRN_FD_IN, on_fd, &b, &b.id));
	/* nothing to read: the loop waits (here at most 0.2 s) and calls nobody */
	t0 = cairn_now();
	T_OK(cairn_loop_run_once(loop, 0.2, &pending));
	T_CHECK(cairn_now() - t0 >= 0.15);
	T_EQ_INT(a.calls + b.calls, 0);
	T_EQ_INT(pending, 2);
	/* a byte on p wakes the loop at once and calls p's owner only */
	T_CHECK(write(p[1], "x", 1) == 1);
	t0 = cairn_now();
	T_OK(cairn_loop_run_once(loop, 5, NULL));
	T_CHECK(cairn_now() - t0 < 1);
	T_EQ_INT(a.calls, 1);
	T_CHECK(a.revents & CAIRN_FD_IN);
	T_EQ_INT(b.calls, 0);
	/* paused: not polled, not pending */
	cairn_loop_watch_set(loop, a.id, 0);
	T_CHECK(write(p[1], "y", 1) == 1);
	T_OK(cairn_loop_run_once(loop, 0.05, &pending));
	T_EQ_INT(a.calls, 1);
	T_EQ_INT(pending, 1);
	/* both ready; a's callback removes b's watch: b is not called */
	cairn_loop_watch_set(loop, a.id, CAIRN_FD_IN);
	T_CHECK(write(q[1], "z", 1) == 1);
	a.other = b.id;
	a.unwatch_other = true;
	T_OK(cairn_loop_run_once(loop, 1, &pending));
	T_EQ_INT(a.calls, 2);
	T_EQ_INT(b.calls, 0);
	T_EQ_INT(pending, 1);
	/* a closed writer is a hang-up: the owner hears of it */
	a.unwatch_other = false;
	close(p[1]);
	p[1] = -1;
	T_OK(cairn_loop_run_once(loop, 1, NULL));
	T_EQ_INT(a.calls, 3);
	T_CHECK(a.revents & CAIRN_FD_ERR);
	cairn_loop_unwatch_fd(loop, a.id);
	cairn_loop_unwatch_fd(loop, a.id); /* twice: ignored */
	T_OK(cairn_loop_run_once(loop, 0.05, &pending));
	T_EQ_INT(pending, 0);
	T_CHECK(cairn_loop_watch_fd(loop, -1, CAIRN_FD_IN, on_fd, &a, NULL) == CAIRN_EINVAL);
	cairn_loop_free(loop);
	close(p[0]);
	close(q[0]);
	close(q[1]);
}

/* Capture: each request with its answer's digest; the digests-only mode
 * drops the bodies; a request without an answer spoils the capture. */
static void test_loop__capture(void)
{
	srv s;
	cairn_loop *l;
	json_t *resp, *cap, *rq;
	char want[80], d[65];

	T_CHECK(srv_start(&s) == 0);
	T_CHECK((l = quick_loop(1, 0)) != NULL);
	T_CHECK(cairn_loop_captured(l) == NULL); /* not capturing */
	cairn_loop_capture(l, CAIRN_CAPTURE_ON);
	rq = req(&s, "GET", "/ok");
	resp = fetch(l, json_incref(rq));
	T_CHECK(resp != NULL);
	T_EQ_STR(jstr(resp, "body"), "hello");
	T_OK(cairn_answer_digest("hello", 5, d));
	snprintf(want, sizeof(want), "200:%s", d);
	T_EQ_STR(jstr(resp, "answer_digest"), want);
	json_decref(resp);
	T_CHECK((cap = cairn_loop_captured(l)) != NULL);
	T_EQ_INT(json_array_size(cap), 1);
	T_CHECK(json_equal(json_array_get(json_array_get(cap, 0), 0), rq));
	T_EQ_STR(json_string_value(json_array_get(json_array_get(cap, 0), 1)), want);
	json_decref(cap);
	/* the same again, digests only: no body, the same digest */
	cairn_loop_capture(l, CAIRN_CAPTURE_DIGESTS);
	resp = fetch(l, json_incref(rq));
	T_CHECK(resp != NULL);
	T_EQ_STR(jstr(resp, "body"), "");
	T_EQ_STR(jstr(resp, "answer_digest"), want);
	json_decref(resp);
	/* a big answer (2 MiB), hashed as it arrives in digests mode: the
	 * digest of the kept body; the body limit still holds */
	cairn_loop_capture(l, CAIRN_CAPTURE_ON);
	resp = fetch(l, req(&s, "GET", "/big"));
	T_CHECK(resp != NULL);
	T_EQ_INT(json_string_length(json_object_get(resp, "body")), 2 << 20);
	T_OK(cairn_answer_digest(jstr(resp, "body"), 2 << 20, d));
	snprintf(want, sizeof(want), "200:%s", d);
	T_EQ_STR(jstr(resp, "answer_digest"), want);
	json_decref(resp);
	cairn_loop_capture(l, CAIRN_CAPTURE_DIGESTS);
	resp = fetch(l, req(&s, "GET", "/big"));
	T_CHECK(resp != NULL);
	T_EQ_STR(jstr(resp, "answer_digest"), want);
	T_EQ_STR(jstr(resp, "body"), "");
	json_decref(resp);
	cairn_loop_set_body_limit(l, (size_t)1 << 20);
	resp = fetch(l, req(&s, "GET", "/big"));
	T_CHECK(resp != NULL);
	T_CONTAINS(jstr(resp, "error"), "exceeds the limit of 1048576 bytes");
	json_decref(resp);
	cairn_loop_set_body_limit(l, 0);
	cairn_loop_capture(l, CAIRN_CAPTURE_DIGESTS);
	/* a request with no answer: nothing the capture can stand for */
	resp = fetch(l, req(&s, "GET", "/drop"));
	T_CHECK(resp != NULL && jstr(resp, "error") != NULL);
	json_decref(resp);
	T_CHECK(cairn_loop_captured(l) == NULL);
	cairn_loop_capture(l, CAIRN_CAPTURE_ON); /* afresh */
	T_CHECK((cap = cairn_loop_captured(l)) != NULL);
	T_EQ_INT(json_array_size(cap), 0);
	json_decref(cap);
	cairn_loop_capture(l, CAIRN_CAPTURE_OFF);
	T_CHECK(cairn_loop_captured(l) == NULL);
	json_decref(rq);
	cairn_loop_free(l);
	srv_stop(&s);
}

static const t_case cases[] = {
	T_CASE(test_loop__timers_in_order),
	T_CASE(test_loop__resolve),
	T_CASE(test_loop__timer_waits),
	T_CASE(test_loop__get_ok),
	T_CASE(test_loop__many_concurrent),
	T_CASE(test_loop__retry_throttle),
	T_CASE(test_loop__retry_after),
	T_CASE(test_loop__5xx_idempotent_only),
	T_CASE(test_loop__refused_retried_even_post),
	T_CASE(test_loop__drop),
	T_CASE(test_loop__timeout),
	T_CASE(test_loop__retry_budget),
	T_CASE(test_loop__token_bucket),
	T_CASE(test_loop__buckets_per_service),
	T_CASE(test_loop__default_rates),
	T_CASE(test_loop__sigv4),
	T_CASE(test_loop__sigv4_hosts),
	T_CASE(test_loop__body_cap),
	T_CASE(test_loop__bad_requests),
	T_CASE(test_loop__free_cancels),
	T_CASE(test_loop__policy),
	T_CASE(test_loop__watch_fd),
	T_CASE(test_loop__capture),
	{ 0 },
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
