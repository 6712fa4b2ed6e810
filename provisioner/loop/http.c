/*
 * http.c - the loop's HTTP requests (see loop.h, cairn_loop_http):
 * parsing a request, rate tokens, connection slots, one curl easy handle per
 * attempt, retries, and the response JSON.
 *
 * A request (an "xfer") moves through named states, always through
 * xfer_set_state():
 *   new      parsed, not yet scheduled
 *   bucket   waiting on a timer for a rate token
 *   slot     waiting for a free connection slot (max_connections)
 *   running  its easy handle is in the multi handle
 *   backoff  waiting on a timer before the next attempt
 *   done     its response built, queued for delivery by run_once
 * Every wait is a timer in the loop's heap; nothing busy-loops.
 */
#include "loop_int.h"
#include "retry.h"
#include "base/digest.h"
#include "base/value.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADERS_MAX ((size_t)1 << 20)

enum xfer_state { XS_NEW, XS_BUCKET, XS_SLOT, XS_RUNNING, XS_BACKOFF, XS_DONE };

typedef struct xfer xfer;
struct xfer {
	cairn_loop *loop;
	xfer *prev, *next; /* loop->xfers: every live request */
	xfer *qnext;       /* link in loop->slot_q or loop->ready_q */
	enum xfer_state state;

	/* the request */
	char *method, *url, *body;
	size_t body_len;
	bool has_body;
	json_t *req_headers; /* validated {"name": "value"} */
	char *sigv4;
	bucket *bucket;
	double timeout;
	bool idempotent;
	int max_attempts;    /* the request's "attempts", else the loop's */
	cairn_http_fn fn;
	void *ud;
	json_t *captured;    /* the request as made, when the loop captures */
	cairn_answer_hasher *hasher; /* CAIRN_CAPTURE_DIGESTS, a 2xx answer: hashed as it comes, not kept */
	bool hasher_off;     /* this attempt's answer is kept (not 2xx, or no memory) */
	size_t hashed;       /* bytes the hasher took */

	/* the attempt in flight */
	int attempts;
	unsigned creds_gen;  /* the signer's credentials the attempt was signed with */
	bool creds_renewed;  /* sent again once with renewed credentials */
	CURL *easy;
	struct curl_slist *slist;
	cairn_buf body_buf;
	json_t *resp_headers;
	size_t header_bytes;
	int limit_hit; /* 0, or CAIRN_ELIMIT / CAIRN_ENOMEM from a callback */
	char errbuf[CURL_ERROR_SIZE];

	json_t *response;
};


static const char *const xfer_state_names[] = {
	"new", "bucket", "slot", "running", "backoff", "done",
};

static void xfer_next_attempt(xfer *x);
static void xfer_want_slot(xfer *x);

/* -- token buckets ------------------------------------------------------ */

static const rule *rule_in(const rule *rules, size_t n, const char *service, const char *klass)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(rules[i].service, service) == 0 && strcmp(rules[i].klass, klass) == 0)
			return &rules[i];
	return NULL;
}

static bool rate_for(const cairn_loop *loop, const char *service, const char *klass,
		     double *rate, double *burst)
{
	const cairn_rate_class *c;
	const rule *r;

	if ((r = rule_in(loop->rules, loop->nrules, service, klass)) ||
	    (r = rule_in(loop->rules, loop->nrules, "*", klass))) {
		*rate = r->rate;
		*burst = r->burst;
		return r->rate > 0;
	}
	for (c = cairn_loop_default_rates; c->service; c++)
		if (strcmp(c->service, service) == 0 && strcmp(c->klass, klass) == 0)
			goto found;
	for (c = cairn_loop_default_rates; c->service; c++)
		if (strcmp(c->service, "*") == 0 && strcmp(c->klass, klass) == 0)
			goto found;
	return false;
found:
	*rate = c->rate;
	*burst = c->burst;
	return true;
}

/* The bucket of (service, class), created on first use; NULL when that
 * class is not limited. Sets *out; returns <0 only when out of memory. */
static int bucket_for(cairn_loop *loop, const char *service, const char *klass, bucket **out)
{
	bucket *b = NULL, **arr;
	double rate, burst;
	size_t i;

	*out = NULL;
	for (i = 0; i < loop->nbuckets; i++)
		if (strcmp(loop->buckets[i]->service, service) == 0 && loop->buckets[i]->klass == klass) {
			*out = loop->buckets[i];
			return 0;
		}
	if (!rate_for(loop, service, klass, &rate, &burst))
		return 0;
	arr = realloc(loop->buckets, (loop->nbuckets + 1) * sizeof(*arr));
	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	loop->buckets = arr;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->service = strdup(service))) {
		free(b);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	b->klass = klass;
	b->rate = rate;
	b->burst = burst < 1 ? 1 : burst;
	b->tokens = b->burst;
	b->last = cairn_now();
	loop->buckets[loop->nbuckets++] = b;
	*out = b;
	return 0;
}

/* Take a token, reserving one in the future when the bucket is empty;
 * returns how long to wait for it (0: go now). Waiters are served in the
 * order they asked, and none of them polls. */
static double bucket_take(bucket *b, double now)
{
	b->tokens += (now - b->last) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last = now;
	b->tokens -= 1;
	return b->tokens >= 0 ? 0 : -b->tokens / b->rate;
}

/* -- small helpers ------------------------------------------------------ */

static void queue_push(queue *q, xfer *x)
{
	x->qnext = NULL;
	if (q->tail)
		q->tail->qnext = x;
	else
		q->head = x;
	q->tail = x;
}

static xfer *queue_pop(queue *q)
{
	xfer *x = q->head;

	if (x) {
		q->head = x->qnext;
		if (!q->head)
			q->tail = NULL;
		x->qnext = NULL;
	}
	return x;
}

static void queue_remove(queue *q, xfer *x)
{
	xfer **pp, *prev = NULL;

	for (pp = &q->head; *pp; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp != x)
			continue;
		*pp = x->qnext;
		if (q->tail == x)
			q->tail = prev;
		x->qnext = NULL;
		return;
	}
}

/* Length of the valid UTF-8 sequence at s (0: invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* A JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD. */
static json_t *json_bytes(const char *s, size_t len)
{
	cairn_buf b = CAIRN_BUF_INIT;
	json_t *v;
	size_t i = 0;

	v = cairn_json_stringn(s, len);
	if (v)
		return v;
	cairn_buf_init(&b, len * 3 + 1);
	while (i < len) {
		size_t n = utf8_seq((const unsigned char *)s + i, len - i);

		if (n && cairn_buf_put(&b, s + i, n) == 0)
			i += n;
		else if (!n && cairn_buf_puts(&b, "\xEF\xBF\xBD") == 0)
			i++;
		else
			break;
	}
	v = json_stringn(cairn_buf_cstr(&b), b.len);
	cairn_buf_release(&b);
	return v;
}

static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* The URL for messages: no user:password@, no query string. */
static void url_for_message(cairn_buf *out, const char *url)
{
	const char *rest = strstr(url, "://"), *at, *slash, *q;

	if (rest) {
		rest += 3;
		cairn_buf_put(out, url, (size_t)(rest - url));
		slash = strchr(rest, '/');
		at = strchr(rest, '@');
		if (at && (!slash || at < slash))
			rest = at + 1;
	} else {
		rest = url;
	}
	q = strchr(rest, '?');
	cairn_buf_put(out, rest, q ? (size_t)(q - rest) : strlen(rest));
}

/* -- one request -------------------------------------------------------- */

static void xfer_set_state(xfer *x, enum xfer_state s)
{
	/* The one place a request changes state; a breakpoint here shows
	 * every move (xfer_state_names gives the name). */
	(void)xfer_state_names;
	x->state = s;
}

static void xfer_free(xfer *x)
{
	if (!x)
		return;
	free(x->method);
	free(x->url);
	free(x->body);
	free(x->sigv4);
	json_decref(x->req_headers);
	json_decref(x->resp_headers);
	json_decref(x->response);
	json_decref(x->captured);
	cairn_answer_hasher_free(x->hasher);
	curl_slist_free_all(x->slist);
	cairn_buf_release(&x->body_buf);
	free(x);
}

static void xfer_unlink(xfer *x)
{
	cairn_loop *loop = x->loop;

	if (x->prev)
		x->prev->next = x->next;
	else
		loop->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	loop->nxfers--;
}

/* Queue the final answer for delivery from run_once. */
static void xfer_finish(xfer *x, json_t *response)
{
	if (response)
		json_object_set_new(response, "attempts", json_integer(x->attempts));
	x->response = response;
	xfer_set_state(x, XS_DONE);
	queue_push(&x->loop->ready_q, x);
}

static void xfer_fail(xfer *x, int curl_code, const char *fmt, const char *detail)
{
	cairn_buf msg = CAIRN_BUF_INIT;

	cairn_buf_printf(&msg, "%s ", x->method);
	url_for_message(&msg, x->url);
	cairn_buf_puts(&msg, ": ");
	cairn_buf_printf(&msg, fmt, detail);
	x->loop->stats.failures++;
	if (x->captured)
		x->loop->capture_broken = true;
	xfer_finish(x, json_pack("{s:o, s:i}", "error", json_bytes(cairn_buf_cstr(&msg), msg.len),
				 "curl_code", curl_code));
	cairn_buf_release(&msg);
}

/* A replay's successful answer is hashed as it arrives and not kept: the
 * digest is all it is for, and its bytes (megabytes of listings) would be
 * copied and faulted in for nothing. Any other answer is kept as always
 * (a throttling or an expired credentials answer is read). */
static bool body_hashed(xfer *x, const char *data, size_t n)
{
	long code = 0;

	if (!x->captured || !x->loop->capture_digests || x->hasher_off)
		return false;
	if (!x->hasher) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code < 200 || code > 299 || !(x->hasher = cairn_answer_hasher_new())) {
			x->hasher_off = true;
			return false;
		}
	}
	x->hashed += n;
	if (x->hashed > x->loop->body_max)
		x->limit_hit = CAIRN_ELIMIT;
	else if (cairn_answer_hasher_add(x->hasher, data, n) < 0)
		x->limit_hit = CAIRN_ENOMEM;
	return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	int rc;

	if (body_hashed(x, data, size * n))
		return x->limit_hit ? 0 : size * n;
	rc = cairn_buf_put(&x->body_buf, data, size * n);

	if (rc) {
		x->limit_hit = rc;
		return 0;
	}
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n, nlen, vlen, i;
	const char *colon, *v;
	char *name = NULL;
	json_t *old, *val = NULL;
	cairn_buf joined = CAIRN_BUF_INIT;

	x->header_bytes += len;
	if (x->header_bytes > HEADERS_MAX) {
		x->limit_hit = CAIRN_ELIMIT;
		return 0;
	}
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue): forget the last one's */
		json_object_clear(x->resp_headers);
		return len;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	nlen = (size_t)(colon - data);
	while (nlen && (data[nlen - 1] == ' ' || data[nlen - 1] == '\t'))
		nlen--;
	if (!nlen)
		return len;
	v = colon + 1;
	vlen = len - (size_t)(v - data);
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (!(name = memdup0(data, nlen)))
		goto oom;
	for (i = 0; i < nlen; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	old = json_object_get(x->resp_headers, name);
	if (json_is_string(old)) {
		/* repeated header: join the values, as RFC 9110 5.3 allows */
		cairn_buf_init(&joined, 0);
		if (cairn_buf_put(&joined, json_string_value(old), json_string_length(old)) ||
		    cairn_buf_puts(&joined, ", ") || cairn_buf_put(&joined, v, vlen))
			goto oom;
		val = json_bytes(cairn_buf_cstr(&joined), joined.len);
	} else {
		val = json_bytes(v, vlen);
	}
	if (!val)
		goto oom;
	/* fails (and frees val) only for a name that is not UTF-8: dropped */
	json_object_set_new(x->resp_headers, name, val);
	free(name);
	cairn_buf_release(&joined);
	return len;
oom:
	free(name);
	cairn_buf_release(&joined);
	x->limit_hit = CAIRN_ENOMEM;
	return 0;
}

static int build_headers(xfer *x, const cairn_loop *loop)
{
	cairn_buf line = CAIRN_BUF_INIT;
	struct curl_slist *l;
	const char *k;
	json_t *v;
	int rc = 0;

	json_object_foreach(x->req_headers, k, v) {
		const char *s = json_string_value(v);

		cairn_buf_clear(&line);
		/* "Name;" sends a header with an empty value */
		if ((rc = cairn_buf_printf(&line, *s ? "%s: %s" : "%s;", k, s)) != 0)
			goto cleanup;
		if (!(l = curl_slist_append(x->slist, cairn_buf_cstr(&line))))
			goto oom;
		x->slist = l;
	}
	if (x->has_body) {
		if (!(l = curl_slist_append(x->slist, "Expect:")))
			goto oom;
		x->slist = l;
	}
	goto cleanup;
oom:
	rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	cairn_buf_release(&line);
	return rc;
}

CURLcode cairn_loop_easy_defaults(CURL *e, double timeout, char *errbuf)
{
	CURLcode c = CURLE_OK;

#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000));
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
#undef SET
	return c;
}

static CURLcode xfer_setup(xfer *x, CURL *e)
{
	const cairn_loop *loop = x->loop;
	CURLcode c = CURLE_OK;

#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, x->url);
	if (c == CURLE_OK)
		c = cairn_loop_easy_defaults(e, x->timeout, x->errbuf);
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, (void *)x);
	if (strcmp(x->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (x->has_body || strcmp(x->method, "POST") == 0) {
		/* POSTFIELDS (not a read callback) so that SigV4 hashes the body */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
		SET(CURLOPT_POSTFIELDS, x->has_body ? x->body : "");
		if (strcmp(x->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, x->method);
	} else if (strcmp(x->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		SET(CURLOPT_CUSTOMREQUEST, x->method);
	}
	/* last: the signer may set the URL again and add headers */
	if (x->sigv4 && c == CURLE_OK &&
	    loop->signer.sign(loop->signer.ud, e, &x->slist, x->sigv4, x->url, &x->creds_gen) < 0)
		c = CURLE_FAILED_INIT;
	SET(CURLOPT_HTTPHEADER, x->slist);
#undef SET
	return c;
}

static CURL *pool_get(cairn_loop *loop)
{
	return loop->npool ? loop->pool[--loop->npool] : curl_easy_init();
}

static void pool_put(cairn_loop *loop, CURL *e)
{
	if (!e)
		return;
	if (loop->npool < CAIRN_LOOP_POOL_MAX) {
		curl_easy_reset(e); /* keeps the DNS and TLS session caches */
		loop->pool[loop->npool++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

static void attempt_reset(xfer *x)
{
	curl_slist_free_all(x->slist);
	x->slist = NULL;
	cairn_buf_release(&x->body_buf);
	cairn_buf_init(&x->body_buf, x->loop->body_max);
	cairn_answer_hasher_free(x->hasher);
	x->hasher = NULL;
	x->hasher_off = false;
	x->hashed = 0;
	json_object_clear(x->resp_headers);
	x->header_bytes = 0;
	x->limit_hit = 0;
	x->errbuf[0] = '\0';
}

static void xfer_start(xfer *x)
{
	cairn_loop *loop = x->loop;
	CURL *e = NULL;
	CURLcode c;
	CURLMcode mc;

	attempt_reset(x);
	if (x->sigv4 && !loop->signer.sign) {
		xfer_fail(x, 0, "%s", "the request is to be signed (sigv4) but no signer is set");
		return;
	}
	if (build_headers(x, loop) < 0 || !(e = pool_get(loop))) {
		xfer_fail(x, 0, "%s", "out of memory");
		return;
	}
	if ((c = xfer_setup(x, e)) != CURLE_OK) {
		pool_put(loop, e);
		if (c == CURLE_FAILED_INIT && x->sigv4) {
			const cairn_error *err = cairn_error_last();

			xfer_fail(x, 0, "cannot sign the request: %s", err ? err->message : "unknown error");
		} else {
			xfer_fail(x, (int)c, "cannot set up the request: %s", curl_easy_strerror(c));
		}
		return;
	}
	if ((mc = curl_multi_add_handle(loop->multi, e)) != CURLM_OK) {
		pool_put(loop, e);
		xfer_fail(x, 0, "cannot start the request: %s", curl_multi_strerror(mc));
		return;
	}
	x->easy = e;
	x->attempts++;
	loop->running++;
	loop->stats.requests++;
	xfer_set_state(x, XS_RUNNING);
}

static void xfer_on_timer(void *ud)
{
	xfer *x = ud;

	if (x->state == XS_BACKOFF)
		xfer_next_attempt(x);
	else
		xfer_want_slot(x);
}

static void xfer_want_slot(xfer *x)
{
	cairn_loop *loop = x->loop;

	if (loop->running < loop->opts.max_connections) {
		xfer_start(x);
	} else {
		xfer_set_state(x, XS_SLOT);
		queue_push(&loop->slot_q, x);
	}
}

/* Take a rate token (or wait for one on a timer), then a connection slot. */
static void xfer_next_attempt(xfer *x)
{
	cairn_loop *loop = x->loop;
	double wait = x->bucket ? bucket_take(x->bucket, cairn_now()) : 0;

	if (wait <= 0) {
		xfer_want_slot(x);
		return;
	}
	if (cairn_loop_wait(loop, wait, xfer_on_timer, x) < 0) {
		xfer_fail(x, 0, "%s", "out of memory");
		return;
	}
	loop->stats.wait_seconds += wait;
	xfer_set_state(x, XS_BUCKET);
}

/* Schedule another attempt if the policy allows one; false: give up. */
static bool xfer_retry(xfer *x, bool retryable, bool unsent, double retry_after)
{
	cairn_loop *loop = x->loop;
	double delay;

	if (!retryable || !(x->idempotent || unsent))
		return false;
	if (x->attempts >= (x->max_attempts > 0 ? x->max_attempts : loop->opts.max_attempts) || loop->retry_left <= 0)
		return false;
	delay = retry_after >= 0 ? retry_after :
		cairn_loop_backoff(loop->opts.backoff_base, loop->opts.backoff_cap,
				   x->attempts, cairn_loop_random(loop));
	if (cairn_loop_wait(loop, delay, xfer_on_timer, x) < 0)
		return false;
	loop->retry_left--;
	loop->stats.retries++;
	loop->stats.wait_seconds += delay;
	xfer_set_state(x, XS_BACKOFF);
	return true;
}

static const char *header_value(const xfer *x, const char *name)
{
	return json_string_value(json_object_get(x->resp_headers, name));
}

/* An answer saying the (temporary) credentials expired: the signer renews
 * them once for all the requests signed with them, and this one is sent
 * again, once. An authentication failure proves it was not processed. */
static bool xfer_renew_creds(xfer *x, long status, const char *body)
{
	cairn_loop *loop = x->loop;

	if (!x->sigv4 || x->creds_renewed || !loop->signer.renew ||
	    !loop->signer.renew(loop->signer.ud, x->creds_gen, status, body, x->body_buf.len))
		return false;
	loop->stats.creds_renewed++;
	x->creds_renewed = true;
	xfer_next_attempt(x);
	return true;
}

/* The answer's digest, kept with the request and given with the answer. */
static void capture_answer(xfer *x, json_t *resp, long status)
{
	char d[65], text[96];
	json_t *pair;
	int rc = x->hasher ? cairn_answer_hasher_end(x->hasher, d) :
			     cairn_answer_digest(cairn_buf_cstr(&x->body_buf), x->body_buf.len, d);

	x->hasher = NULL;
	if (!resp || rc < 0) {
		x->loop->capture_broken = true;
		return;
	}
	snprintf(text, sizeof(text), "%ld:%s", status, d);
	pair = json_pack("[O,s]", x->captured, text);
	if (!pair || json_array_append_new(x->loop->capture, pair) < 0 ||
	    json_object_set_new(resp, "answer_digest", json_string(text)) < 0)
		x->loop->capture_broken = true;
}

void cairn_loop_capture(cairn_loop *loop, int mode)
{
	json_decref(loop->capture);
	loop->capture = mode != CAIRN_CAPTURE_OFF ? json_array() : NULL;
	loop->capture_broken = mode != CAIRN_CAPTURE_OFF && !loop->capture;
	loop->capture_digests = mode == CAIRN_CAPTURE_DIGESTS;
}

json_t *cairn_loop_captured(const cairn_loop *loop)
{
	if (!loop->capture || loop->capture_broken)
		return NULL;
	return json_deep_copy(loop->capture);
}

static void xfer_answered(xfer *x, long status)
{
	cairn_loop *loop = x->loop;
	const char *body = cairn_buf_cstr(&x->body_buf);
	bool throttled = cairn_loop_is_throttle(status, body, x->body_buf.len);
	json_t *resp;

	if (xfer_renew_creds(x, status, body))
		return;

	if (throttled)
		loop->stats.throttled++;
	if (throttled || cairn_loop_status_retryable(status)) {
		double ra = cairn_loop_retry_after(header_value(x, "retry-after"),
						   header_value(x, "x-amz-retry-after"), time(NULL));

		/* a throttling answer proves the request was not processed */
		if (xfer_retry(x, true, throttled, ra))
			return;
		loop->stats.failures++;
	}
	resp = json_pack("{s:i, s:O, s:o}", "status", (json_int_t)status,
			 "headers", x->resp_headers, "body",
			 x->captured && loop->capture_digests ? json_string("") : json_bytes(body, x->body_buf.len));
	if (x->captured && loop->capture)
		capture_answer(x, resp, status);
	xfer_finish(x, resp);
}

static void xfer_attempt_done(xfer *x, CURLcode cc)
{
	cairn_loop *loop = x->loop;
	long status = 0;
	char max[32];

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	pool_put(loop, x->easy);
	x->easy = NULL;
	loop->running--;

	if (cc == CURLE_OK) {
		xfer_answered(x, status);
		return;
	}
	if (x->limit_hit == CAIRN_ENOMEM) {
		xfer_fail(x, (int)cc, "%s", "out of memory");
		return;
	}
	if (x->limit_hit) {
		snprintf(max, sizeof(max), "%zu", x->header_bytes > HEADERS_MAX ? HEADERS_MAX : loop->body_max);
		xfer_fail(x, (int)cc, x->header_bytes > HEADERS_MAX ?
			  "response headers exceed the limit of %s bytes" :
			  "response body exceeds the limit of %s bytes", max);
		return;
	}
	if (xfer_retry(x, cairn_loop_curl_retryable(cc), cairn_loop_curl_unsent(cc), -1))
		return;
	xfer_fail(x, (int)cc, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
}

/* -- parsing a request -------------------------------------------------- */

static bool is_token(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

static int parse_headers(xfer *x, json_t *headers)
{
	const char *k;
	json_t *v;

	if (!headers || json_is_null(headers))
		return 0;
	if (!json_is_object(headers))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: \"headers\" must be a map");
	json_object_foreach(headers, k, v) {
		json_t *s;

		if (!is_token(k))
			return cairn_error_set(CAIRN_EINVAL, "invalid request: bad header name '%s'", k);
		if (json_is_string(v))
			s = json_incref(v);
		else if (json_is_integer(v))
			s = json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_boolean(v))
			s = json_string(json_is_true(v) ? "true" : "false");
		else
			return cairn_error_set(CAIRN_EINVAL, "invalid request: header '%s' must be a string", k);
		if (!s || json_object_set_new(x->req_headers, k, s))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		if (strpbrk(json_string_value(s), "\r\n") ||
		    strlen(json_string_value(s)) != json_string_length(s))
			return cairn_error_set(CAIRN_EINVAL, "invalid request: header '%s' has a line break or NUL", k);
	}
	return 0;
}

static bool default_idempotent(const char *method, const char *action, const char *klass)
{
	static const char *const safe[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS" };
	size_t i;

	/* Describe/List/Get actions are reads even when sent as POST */
	if (action && strcmp(klass, "describe") == 0)
		return true;
	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (strcmp(method, safe[i]) == 0)
			return true;
	return false;
}

static int parse_request(xfer *x, cairn_loop *loop, json_t *req)
{
	json_t *method = json_object_get(req, "method"), *url = json_object_get(req, "url");
	json_t *body = json_object_get(req, "body"), *timeout = json_object_get(req, "timeout");
	json_t *sigv4 = json_object_get(req, "sigv4"), *idem = json_object_get(req, "idempotent");
	const char *service = json_string_value(json_object_get(req, "service"));
	const char *action = json_string_value(json_object_get(req, "action"));
	const char *klass;
	size_t i;
	int rc;

	if (method && !json_is_string(method))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: \"method\" must be a string");
	if (!(x->method = strdup(method ? json_string_value(method) : "GET")))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; x->method[i]; i++)
		if (x->method[i] >= 'a' && x->method[i] <= 'z')
			x->method[i] = (char)(x->method[i] - 'a' + 'A');
	if (!is_token(x->method))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: bad method '%s'", x->method);
	if (!json_is_string(url) || (strncasecmp(json_string_value(url), "http://", 7) != 0 &&
				     strncasecmp(json_string_value(url), "https://", 8) != 0))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: \"url\" must be an http:// or https:// URL");
	if (!(x->url = strdup(json_string_value(url))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (body && !json_is_null(body)) {
		if (!json_is_string(body))
			return cairn_error_set(CAIRN_EINVAL, "invalid request: \"body\" must be a string");
		x->body_len = json_string_length(body);
		if (!(x->body = memdup0(json_string_value(body), x->body_len)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		x->has_body = true;
	}
	x->timeout = loop->opts.default_timeout;
	if (timeout && !json_is_null(timeout)) {
		double t = json_number_value(timeout);

		if (!json_is_number(timeout) || !(t > 0) || t > 86400)
			return cairn_error_set(CAIRN_EINVAL, "invalid request: \"timeout\" must be seconds in (0, 86400]");
		x->timeout = t;
	}
	if (sigv4 && !json_is_null(sigv4)) {
		if (!json_is_string(sigv4) || !*json_string_value(sigv4))
			return cairn_error_set(CAIRN_EINVAL, "invalid request: \"sigv4\" must be a string like aws:amz:REGION:SERVICE");
		if (!loop->signer.sign)
			return cairn_error_set(CAIRN_EINVAL, "cannot sign a request to %s: no credentials are set", x->url);
		if (!(x->sigv4 = strdup(json_string_value(sigv4))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		if (loop->signer.prepare && (rc = loop->signer.prepare(loop->signer.ud, x->sigv4, &x->url)) < 0)
			return rc;
	}
	if ((rc = parse_headers(x, json_object_get(req, "headers"))) < 0)
		return rc;
	klass = cairn_loop_action_class(action, x->method);
	if (service && *service && loop->opts.rate_limits &&
	    (rc = bucket_for(loop, service, klass, &x->bucket)) < 0)
		return rc;
	if (idem && !json_is_null(idem) && !json_is_boolean(idem))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: \"idempotent\" must be true or false");
	x->idempotent = json_is_boolean(idem) ? json_is_true(idem) :
			default_idempotent(x->method, action, klass);
	if ((idem = json_object_get(req, "attempts")) != NULL) {
		if (!json_is_integer(idem) || json_integer_value(idem) < 1 || json_integer_value(idem) > 100)
			return cairn_error_set(CAIRN_EINVAL, "invalid request: \"attempts\" must be a whole number from 1 to 100");
		x->max_attempts = (int)json_integer_value(idem);
	}
	return 0;
}

int cairn_loop_http(cairn_loop *loop, json_t *request, cairn_http_fn fn, void *ud)
{
	xfer *x = NULL;
	int rc;

	if (!loop || !fn || !json_is_object(request))
		return cairn_error_set(CAIRN_EINVAL, "invalid request: expected a map");
	if (!(x = calloc(1, sizeof(*x))) || !(x->req_headers = json_object()) ||
	    !(x->resp_headers = json_object())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	x->loop = loop;
	x->fn = fn;
	x->ud = ud;
	cairn_buf_init(&x->body_buf, loop->body_max);
	if ((rc = parse_request(x, loop, request)) < 0)
		goto cleanup;
	if (loop->capture && !(x->captured = json_deep_copy(request)))
		loop->capture_broken = true;
	x->next = loop->xfers;
	if (loop->xfers)
		loop->xfers->prev = x;
	loop->xfers = x;
	loop->nxfers++;
	xfer_next_attempt(x);
	x = NULL;
cleanup:
	xfer_free(x);
	return rc;
}

void cairn_loop_http_deliver(cairn_loop *loop)
{
	queue q = loop->ready_q;
	xfer *x;

	/* only what is ready now: answers queued by these callbacks wait */
	loop->ready_q.head = loop->ready_q.tail = NULL;
	while ((x = queue_pop(&q))) {
		cairn_http_fn fn = x->fn;
		void *ud = x->ud;
		json_t *resp = x->response;

		x->response = NULL;
		xfer_unlink(x);
		xfer_free(x);
		fn(ud, resp);
	}
}

void cairn_loop_http_done(cairn_loop *loop, CURL *easy, CURLcode result)
{
	char *priv = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	xfer_attempt_done((xfer *)priv, result);
}

void cairn_loop_http_pump(cairn_loop *loop)
{
	while (loop->running < loop->opts.max_connections && loop->slot_q.head)
		xfer_start(queue_pop(&loop->slot_q));
}

void cairn_loop_http_cancel(cairn_loop *loop, void *ud)
{
	xfer *x, *next;

	for (x = loop->xfers; x; x = next) {
		next = x->next;
		if (x->ud != ud)
			continue;
		if (x->captured)
			loop->capture_broken = true;
		switch (x->state) {
		case XS_BUCKET:
		case XS_BACKOFF:
			cairn_loop_wait_cancel(loop, xfer_on_timer, x);
			break;
		case XS_SLOT:
			queue_remove(&loop->slot_q, x);
			break;
		case XS_RUNNING:
			curl_multi_remove_handle(loop->multi, x->easy); /* closes its connection */
			pool_put(loop, x->easy);
			x->easy = NULL;
			loop->running--;
			break;
		case XS_DONE:
			queue_remove(&loop->ready_q, x);
			break;
		default:
			break;
		}
		xfer_unlink(x);
		xfer_free(x);
	}
	cairn_loop_http_pump(loop);
}

void cairn_loop_http_free_all(cairn_loop *loop)
{
	size_t i;
	int j;

	while (loop->xfers) {
		xfer *x = loop->xfers;

		if (x->easy) {
			curl_multi_remove_handle(loop->multi, x->easy);
			curl_easy_cleanup(x->easy);
			x->easy = NULL;
		}
		xfer_unlink(x);
		xfer_free(x);
	}
	for (j = 0; j < loop->npool; j++)
		curl_easy_cleanup(loop->pool[j]);
	loop->npool = 0;
	for (i = 0; i < loop->nbuckets; i++) {
		free(loop->buckets[i]->service);
		free(loop->buckets[i]);
	}
	free(loop->buckets);
	loop->buckets = NULL;
	loop->nbuckets = 0;
}
