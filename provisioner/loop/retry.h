/*
 * loop_retry.h - the retry and rate policy of the event loop, as pure
 * functions (internal to provisioner/loop*.c, awssts.c's retries and their
 * tests).
 *
 * The loop (loop.c) owns the mechanics: handles, timers, queues. This half
 * owns the decisions that are worth testing on their own: is this answer a
 * throttling answer, how long does the server ask us to wait, is this curl
 * failure worth another attempt, could the request have been processed, and
 * what the URL of a request to be signed must look like.
 * Nothing here allocates beyond its return values or touches a loop.
 */
#ifndef CAIRN_LOOP_RETRY_H
#define CAIRN_LOOP_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "loop.h"

/* Server-requested waits above this are clamped to it (seconds). */
#define CAIRN_LOOP_RETRY_AFTER_MAX 60.0

/* The built-in rate table (see loop_retry.c for its source), terminated by
 * an entry whose service is NULL. */
extern const cairn_rate_class cairn_loop_default_rates[];

/* "describe" for Describe*, List*, Get*, Search* actions; for a request with
 * no action, "describe" for GET/HEAD and "mutate" otherwise. */
const char *cairn_loop_action_class(const char *action, const char *method);

/* The AWS error code carried by an error body: the first <Code>X</Code> of
 * an XML answer, or "__type" / "code" / "Code" of a JSON answer (with any
 * "prefix#" and ":suffix" removed). Writes at most n-1 bytes to out and
 * returns true when a code was found. */
bool cairn_loop_error_code(const char *body, size_t len, char *out, size_t n);

/* Is `code` one of the codes AWS services use for throttling? */
bool cairn_loop_is_throttle_code(const char *code);

/* Is an HTTP answer (status, body) a throttling answer: a 429, or a 400 or
 * 5xx whose body carries a throttling error code. */
bool cairn_loop_is_throttle(long status, const char *body, size_t len);

/* Is an HTTP status worth another attempt when the request is idempotent
 * (5xx except 501 and 505)? */
bool cairn_loop_status_retryable(long status);

/* The wait a server asks for, in seconds, clamped to
 * CAIRN_LOOP_RETRY_AFTER_MAX; -1 when it asks for none. `retry_after` is a
 * Retry-After value (delta-seconds or an HTTP-date, read against `now`),
 * `amz_ms` an x-amz-retry-after value (milliseconds); either may be NULL.
 * x-amz-retry-after wins when both are valid. */
double cairn_loop_retry_after(const char *retry_after, const char *amz_ms, time_t now);

/* Is a curl failure (a CURLcode) transient, worth another attempt? */
bool cairn_loop_curl_retryable(int curl_code);

/* Does a curl failure prove the server never saw the request (could not
 * resolve, could not connect, connection refused, TLS handshake failed)? */
bool cairn_loop_curl_unsent(int curl_code);

/* Full-jitter backoff before attempt n+1 after n failed attempts (n >= 1):
 * u * min(cap, base * 2^(n-1)) with u uniform in [0, 1). */
double cairn_loop_backoff(double base, double cap, int n, double u);


#endif
