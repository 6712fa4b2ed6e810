/*
 * loop.h - the event loop: one curl multi handle plus timers.
 *
 * Every module operation runs as a Lua coroutine; when it waits (HTTP, sleep)
 * the scheduler hands the wait to this loop and resumes the coroutine from
 * the loop's callback. One thread, N sockets, no thread pool.
 *
 * Folder provisioner/loop/: the loop, HTTP requests, retries and rate
 * buckets (http.c, retry.c). May use base/ only. It knows no cloud: signing
 * and credential renewal are a hook (cairn_loop_signer) set by a provider.
 *
 * HTTP requests and responses are JSON objects (the shapes in lua/runtime.h):
 *   request:  {"method","url","headers":{..},"body", "timeout": secs,
 *              "sigv4":"aws:amz:REGION:SERVICE",   -- signed by the signer (below)
 *              "service":"ec2","action":"DescribeVpcs", -- for rate classes and stats
 *              "idempotent": true|false,           -- may it be re-sent after an
 *                                                     ambiguous failure (5xx, dropped)?
 *              "attempts": N}                      -- at most N attempts (1: no retries;
 *                                                     default the loop's max_attempts)
 *   response: {"status":200,"headers":{"lower-case":"v"},"body":"...",
 *              "attempts":N}  or  {"error":"...","curl_code":N,"attempts":N}
 *
 * Retries are done here, once, for every module: exponential backoff with
 * full jitter (sleep = random(0, min(cap, base * 2^attempt))), honouring
 * Retry-After and x-amz-retry-after; on throttling answers (HTTP 429, or a
 * 400/503 whose body carries Throttling, ThrottlingException,
 * RequestLimitExceeded, TooManyRequestsException, RequestThrottled,
 * SlowDown, ProvisionedThroughputExceededException), on 5xx and on
 * connection errors. A request that is not `idempotent` is retried only when
 * the failure proves it was not processed (throttled, connection refused,
 * could not resolve / connect); otherwise its failure is returned to the
 * module, which recovers by token or tag. A retry budget per loop (per run)
 * stops retry storms: when spent, failures are returned at once. Client-side
 * token buckets per (service, action class) keep a big refresh under EC2's
 * documented request rates: class = "describe" (Describe*, List*, Get*),
 * "mutate" (everything else).
 *
 * Other protocols (SSH) bring their own sockets: the loop watches file
 * descriptors for them (cairn_loop_watch_fd) in the same poll.
 *
 * Signing is a hook (cairn_loop_signer): the loop knows no cloud and holds
 * no credentials. Secrets never appear in any error message or log line.
 *
 * Numbers: server-requested waits are honoured up to 60 s; response bodies
 * are capped at 32 MiB (cairn_loop_set_body_limit), headers at 1 MiB. The
 * built-in buckets (opts.rate_limits) follow EC2's documented request
 * token buckets: "describe" 100 tokens refilled at 20/s, "mutate" 50
 * refilled at 5/s, for "ec2" and, as "*", for every other service (one
 * bucket per service and class); opts.classes entries take precedence.
 */
#ifndef CAIRN_LOOP_H
#define CAIRN_LOOP_H

#include "base/error.h"
#include "base/value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

typedef struct cairn_loop cairn_loop;


typedef struct cairn_rate_class {
	const char *service; /* "ec2", or "*" for any */
	const char *klass;   /* "describe" | "mutate" */
	double rate;         /* tokens per second */
	double burst;        /* bucket size (>= 1) */
	/* rate <= 0 in an override: no client-side limit for that class */
} cairn_rate_class;

typedef struct cairn_loop_opts {
	int max_connections;     /* total in flight; 0 = 64 */
	int max_attempts;        /* per request, first try included; 0 = 8 */
	double backoff_base;     /* seconds; 0 = 0.1 */
	double backoff_cap;      /* seconds; 0 = 20 */
	int retry_budget;        /* retries per loop lifetime; 0 = 1000; <0 = none */
	double default_timeout;  /* seconds per attempt; 0 = 60 */
	bool rate_limits;        /* use the built-in EC2-like buckets (default true via cairn_loop_opts_default) */
	const cairn_rate_class *classes; /* overrides, NULL-terminated by service == NULL */
} cairn_loop_opts;

void cairn_loop_opts_default(cairn_loop_opts *o);
int cairn_loop_new(cairn_loop **out, const cairn_loop_opts *opts);
void cairn_loop_free(cairn_loop *loop); /* cancels everything pending without callbacks */

/*
 * Signing is not the loop's business: a provider that owns credentials
 * (aws/sign.c for SigV4) installs a signer, and the loop calls it for every
 * request that names a signing scope (the request's "sigv4" member, e.g.
 * "aws:amz:us-east-1:ec2"). A request with a scope and no signer is refused.
 */
typedef struct cairn_loop_signer {
	void *ud;
	/* Once, when such a request is made: accept it (0) or refuse it (<0,
	 * error set), and rewrite *url (malloc'd; replace it, freeing the old
	 * one) when the signature needs the URL in another form. */
	int (*prepare)(void *ud, const char *scope, char **url);
	/* Each attempt: make the easy handle e sign the request to url for
	 * scope (curl options, headers appended to *headers); *ret_gen says
	 * which credentials signed it. 0, or <0 with the error set. */
	int (*sign)(void *ud, CURL *e, struct curl_slist **headers, const char *scope, const char *url,
		    unsigned *ret_gen);
	/* An answer (status, body) to a request signed with credentials gen:
	 * true when it says they expired and they have been renewed (now or by
	 * an earlier answer), so that the loop sends the request again, once.
	 * May be NULL. */
	bool (*renew)(void *ud, unsigned gen, long status, const char *body, size_t len);
	/* Frees ud when the loop is freed or another signer is set; may be NULL. */
	void (*free)(void *ud);
} cairn_loop_signer;

/* Install signer (copied; NULL removes it). Requests already made keep
 * their scope and are signed by whatever signer is set at each attempt. */
void cairn_loop_set_signer(cairn_loop *loop, const cairn_loop_signer *signer);

/* The largest response body accepted (default 32 MiB); a larger answer
 * fails the request with {"error": "... exceeds the limit ...",
 * "curl_code": 23} and is not retried. */
void cairn_loop_set_body_limit(cairn_loop *loop, size_t max_bytes);


typedef void (*cairn_timer_fn)(void *ud);
/* Call fn(ud) once after `seconds`. */
int cairn_loop_timer(cairn_loop *loop, double seconds, cairn_timer_fn fn, void *ud, uint64_t *id_out);
void cairn_loop_timer_cancel(cairn_loop *loop, uint64_t id);

/*
 * File descriptors: a subsystem that speaks another protocol on its own
 * sockets (SSH) asks the loop to wake it when one is ready, so that its
 * waits share this loop with the HTTP requests and the timers. The loop
 * polls the watched descriptors together with curl's (curl_multi_poll's
 * extra descriptors) and calls fn(ud, fd, revents) from
 * cairn_loop_run_once, never from inside these calls. events and revents
 * are CAIRN_FD_IN | CAIRN_FD_OUT; revents may also carry CAIRN_FD_ERR
 * (error or hang-up: the owner reads or writes to learn what happened).
 * A watch with events 0 stays registered but is not polled. The
 * descriptor stays the caller's: close it only after unwatching it.
 * Watches count as pending work (cairn_loop_run_once's *pending) while
 * their events are not 0.
 */
enum { CAIRN_FD_IN = 1, CAIRN_FD_OUT = 2, CAIRN_FD_ERR = 4 };
typedef void (*cairn_fd_fn)(void *ud, int fd, int revents);
int cairn_loop_watch_fd(cairn_loop *loop, int fd, int events, cairn_fd_fn fn, void *ud, uint64_t *id_out);
/* Change what a watch waits for (0: nothing, for now). Unknown ids are ignored. */
void cairn_loop_watch_set(cairn_loop *loop, uint64_t id, int events);
/* Remove a watch; its callback is not called again, even in the current
 * round. Unknown ids (already removed) are ignored. */
void cairn_loop_unwatch_fd(cairn_loop *loop, uint64_t id);

/*
 * Names: host:port resolved (SOCK_STREAM) without blocking the loop
 * (resolve.c): an address at once, a name by getaddrinfo in a thread of
 * its own. fn(ud, ai, NULL) gets the addresses (the caller's: freeaddrinfo
 * them), or fn(ud, NULL, "cannot resolve HOST: why"); it runs from
 * cairn_loop_run_once, never from inside this call, and is not called
 * after cairn_resolve_cancel (which frees the handle; so does the call).
 * The request counts as pending work until then.
 */
typedef struct cairn_resolve cairn_resolve;
struct addrinfo;
typedef void (*cairn_resolve_fn)(void *ud, struct addrinfo *ai, const char *error);
int cairn_loop_resolve(cairn_loop *loop, const char *host, const char *port, cairn_resolve_fn fn, void *ud,
		       cairn_resolve **out);
void cairn_resolve_cancel(cairn_resolve *r);

/* The response reference passes to the callback (it must decref it). It is
 * NULL only when memory ran out while building it. */
typedef void (*cairn_http_fn)(void *ud, json_t *response);
/* Start an HTTP request (request is borrowed; copied as needed). The
 * callback runs from cairn_loop_run_once, never from inside this call.
 * A malformed request (no http(s) "url", bad header, bad "timeout", or
 * "sigv4" with no signer set, or one the signer refuses) returns CAIRN_EINVAL and is never called
 * back. Defaults: "method" GET; "timeout" opts.default_timeout;
 * "idempotent" true for GET, HEAD, PUT, DELETE, OPTIONS and for any
 * Describe*, List*, Get*, Search* "action", false otherwise. Requests with a
 * "service" take a token from the (service, class) bucket first (when
 * opts.rate_limits); so does every retry. Response headers are lower-cased;
 * a repeated header's values are joined with ", ". */
int cairn_loop_http(cairn_loop *loop, json_t *request, cairn_http_fn fn, void *ud);
/* Drop every request made with ud, wherever it is (waiting for a token, a
 * slot or a retry, in flight: its connection is closed, or answered and not
 * yet delivered); its callback is never called. For an operation that is
 * abandoned (its deadline, a signal). Not from inside a loop callback. */
void cairn_loop_http_cancel(cairn_loop *loop, void *ud);

/*
 * Capture (cairn drift's environment memo): while on, every request made
 * is kept, with its answer's digest: "STATUS:" and cairn_answer_digest of
 * the body (base/digest.h). The answer passed to the callback carries the
 * same text as "answer_digest". cairn_loop_captured returns a new array of
 * [request, digest] in the order answered, or NULL when the capture cannot
 * stand for what the loop did: a request failed without an answer or was
 * cancelled, or something other than HTTP went through the loop (a watched
 * descriptor: SSH; a name resolution). Turning capture on starts afresh.
 */
enum { CAIRN_CAPTURE_OFF, CAIRN_CAPTURE_ON, CAIRN_CAPTURE_DIGESTS };
/* CAIRN_CAPTURE_DIGESTS: the same, and answers come without their body
 * (a replay compares digests alone: the bodies are not copied). */
void cairn_loop_capture(cairn_loop *loop, int mode);
json_t *cairn_loop_captured(const cairn_loop *loop);

/* Wait for events for at most max_wait seconds (< 0: until something
 * happens), run every due callback, return. *pending (if non-NULL) receives
 * the number of timers + requests still outstanding. With nothing
 * outstanding it returns at once. A callback may start requests and timers
 * and cancel timers, but must not free the loop. */
int cairn_loop_run_once(cairn_loop *loop, double max_wait, int *pending);

/* Move the transfers along without waiting: send what new requests have
 * to send, take in what has arrived. Calls no callback (they run from
 * cairn_loop_run_once). For callers that work between waits, so that the
 * requests they start go out before the work is over. */
void cairn_loop_flush(cairn_loop *loop);

typedef struct cairn_loop_stats {
	uint64_t requests;      /* HTTP attempts sent */
	uint64_t retries;
	uint64_t throttled;
	uint64_t failures;      /* requests finally failed: no answer, or a 5xx /
	                           throttling answer after the last attempt */
	double wait_seconds;    /* time spent in backoff or bucket waits */
	uint64_t creds_renewed; /* requests sent again after the signer renewed expired credentials */
} cairn_loop_stats;
void cairn_loop_get_stats(const cairn_loop *loop, cairn_loop_stats *out);

/* The settings every request cairn sends has: http and https only, peers
 * and host names always verified, no signals, cairn's User-Agent, a
 * timeout (seconds) for the whole attempt, curl's message into errbuf
 * (CURL_ERROR_SIZE bytes, which must outlive the transfer). For the few
 * synchronous requests made outside the loop (aws/sts.c). */
CURLcode cairn_loop_easy_defaults(CURL *e, double timeout, char *errbuf);

/* Monotonic seconds. */
double cairn_now(void);

#endif
