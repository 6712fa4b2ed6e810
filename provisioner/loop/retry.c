/*
 * loop_retry.c - when to retry, how long to wait, how fast to send (see
 * loop_retry.h). Pure functions; the loop in loop.c applies them.
 */
#include "retry.h"
#include "base/buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The built-in token buckets, modelled on "Request throttling for the Amazon
 * EC2 API" (EC2 Developer Guide, section "Request token bucket sizes and
 * refill rates"): non-mutating actions (Describe*, List*, Search*, Get*)
 * have a bucket of 100 tokens refilled at 20 per second; mutating actions
 * a bucket of 50 refilled at 5 per second. EC2 also has smaller buckets for
 * unfiltered, unpaginated describes (50 / 10) and resource-intensive or
 * uncategorized actions; cairn batches its describes with filters and
 * stays with the two main classes. Other services (RDS, ElastiCache, EKS)
 * document no comparable table, so "*" applies the same numbers to each of
 * them, in a bucket of its own per service.
 */
const cairn_rate_class cairn_loop_default_rates[] = {
	{ "ec2", "describe", 20.0, 100.0 },
	{ "ec2", "mutate",    5.0,  50.0 },
	{ "*",   "describe", 20.0, 100.0 },
	{ "*",   "mutate",    5.0,  50.0 },
	{ NULL, NULL, 0, 0 },
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *cairn_loop_action_class(const char *action, const char *method)
{
	if (action && *action) {
		if (has_prefix(action, "Describe") || has_prefix(action, "List") ||
		    has_prefix(action, "Get") || has_prefix(action, "Search"))
			return "describe";
		return "mutate";
	}
	if (!method || strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0)
		return "describe";
	return "mutate";
}

static bool copy_code(const char *s, size_t len, char *out, size_t n)
{
	const char *hash, *colon;

	/* "aws.protocoltests#ThrottlingException" -> "ThrottlingException" */
	hash = memchr(s, '#', len);
	if (hash) {
		len -= (size_t)(hash + 1 - s);
		s = hash + 1;
	}
	/* "ThrottlingException:http://internal.amazon.com/..." -> before ':' */
	colon = memchr(s, ':', len);
	if (colon)
		len = (size_t)(colon - s);
	while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
		       s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (!len || len >= n)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

static bool xml_code(const char *body, size_t len, char *out, size_t n)
{
	static const char open[] = "<Code>", close[] = "</Code>";
	const char *start, *end;

	start = memmem(body, len, open, sizeof(open) - 1);
	if (!start)
		return false;
	start += sizeof(open) - 1;
	end = memmem(start, len - (size_t)(start - body), close, sizeof(close) - 1);
	if (!end)
		return false;
	return copy_code(start, (size_t)(end - start), out, n);
}

static bool json_code(const char *body, size_t len, char *out, size_t n)
{
	static const char *const keys[] = { "__type", "code", "Code" };
	json_t *root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, NULL);
	bool found = false;
	size_t i;

	if (!json_is_object(root))
		goto cleanup;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && !found; i++) {
		json_t *v = json_object_get(root, keys[i]);

		if (json_is_string(v))
			found = copy_code(json_string_value(v), json_string_length(v), out, n);
	}
cleanup:
	json_decref(root);
	return found;
}

bool cairn_loop_error_code(const char *body, size_t len, char *out, size_t n)
{
	size_t i = 0;

	if (!body || n == 0)
		return false;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
		i++;
	if (i < len && body[i] == '{')
		return json_code(body + i, len - i, out, n);
	if (i < len && body[i] == '<')
		return xml_code(body + i, len - i, out, n);
	return false;
}

bool cairn_loop_is_throttle_code(const char *code)
{
	static const char *const codes[] = {
		"Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "SlowDown",
		"ProvisionedThroughputExceededException", "EC2ThrottledException",
		"PriorRequestNotComplete", "BandwidthLimitExceeded",
	};
	size_t i;

	if (!code)
		return false;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

bool cairn_loop_is_throttle(long status, const char *body, size_t len)
{
	char code[128];

	if (status == 429)
		return true;
	if (status != 400 && status < 500)
		return false;
	return cairn_loop_error_code(body, len, code, sizeof(code)) &&
	       cairn_loop_is_throttle_code(code);
}

bool cairn_loop_status_retryable(long status)
{
	return status >= 500 && status <= 599 && status != 501 && status != 505;
}

/* A whole non-negative decimal number, nothing else but blanks around it. */
static bool parse_uint(const char *s, long long *out)
{
	char *end;
	long long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v < 0)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

static double clamp_wait(double s)
{
	if (s < 0)
		return 0;
	return s > CAIRN_LOOP_RETRY_AFTER_MAX ? CAIRN_LOOP_RETRY_AFTER_MAX : s;
}

double cairn_loop_retry_after(const char *retry_after, const char *amz_ms, time_t now)
{
	long long v;
	time_t when;

	if (amz_ms && parse_uint(amz_ms, &v))
		return clamp_wait(v > 1000000 ? CAIRN_LOOP_RETRY_AFTER_MAX : (double)v / 1000.0);
	if (!retry_after || !*retry_after)
		return -1;
	if (parse_uint(retry_after, &v))
		return clamp_wait(v > 1000000 ? CAIRN_LOOP_RETRY_AFTER_MAX : (double)v);
	when = curl_getdate(retry_after, NULL);
	if (when == (time_t)-1)
		return -1;
	return clamp_wait(difftime(when, now));
}

bool cairn_loop_curl_retryable(int curl_code)
{
	switch (curl_code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_HTTP2:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Only failures that happen before a byte of the request can leave: a
 * timeout, a reset or an empty reply may come after the server acted. (A
 * byte count of zero is no proof: curl does not count HTTP/2 requests the
 * same way.) A TLS handshake failure is before the request too. */
bool cairn_loop_curl_unsent(int curl_code)
{
	return curl_code == CURLE_COULDNT_RESOLVE_PROXY ||
	       curl_code == CURLE_COULDNT_RESOLVE_HOST ||
	       curl_code == CURLE_COULDNT_CONNECT ||
	       curl_code == CURLE_SSL_CONNECT_ERROR;
}

double cairn_loop_backoff(double base, double cap, int n, double u)
{
	double ceiling;

	if (n < 1)
		n = 1;
	ceiling = n > 60 ? cap : base * ldexp(1.0, n - 1);
	if (ceiling > cap)
		ceiling = cap;
	return u * ceiling;
}
