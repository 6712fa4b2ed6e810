/*
 * fuzz_sigv4.c - the sim's SigV4 verification (sim/sigv4.c): the input is
 * a request in six parts split on FUZZ_SEP: the Authorization header, the
 * method, the path, the query string (empty part: none), the other headers
 * ("name: value" lines) and the body. The header is parsed; when it
 * parses, the request is verified with a fixed secret at the time of its
 * own x-amz-date (so that the fuzzer gets past the clock check into the
 * canonical request).
 *
 * Seeds: tests/fuzz/seeds/sigv4/ (requests signed by curl --aws-sigv4 and
 * by cairn).
 */
#include "fuzz.h"
#include "sim/sim_internal.h"

#include <ctype.h>
#include <time.h>

#define MAX_HEADERS 32

typedef struct headers {
	char *name[MAX_HEADERS];
	char *value[MAX_HEADERS];
	size_t n;
} headers;

static const char *lookup(void *ctx, const char *name)
{
	headers *h = ctx;
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* "name: value" lines, as libmicrohttpd hands them over: name up to ':',
 * the value without leading blanks. */
static void parse_headers(headers *h, char *text)
{
	char *line = text, *next;

	for (; line && *line && h->n < MAX_HEADERS; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!(colon = strchr(line, ':')))
			continue;
		*colon++ = '\0';
		while (*colon == ' ' || *colon == '\t')
			colon++;
		h->name[h->n] = line;
		h->value[h->n++] = colon;
	}
}

static time_t request_time(const char *amz_date)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!amz_date || !(end = strptime(amz_date, "%Y%m%dT%H%M%SZ", &tm)))
		return 0;
	return timegm(&tm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_part parts[6];
	char *auth, *method, *path, *query, *hdrs;
	headers h = { { 0 }, { 0 }, 0 };
	cairn_sim_sigv4 sig;
	const char *detail = NULL;
	int r;

	fuzz_split(parts, 6, data, size);
	auth = fuzz_strdup(&parts[0]);
	method = fuzz_strdup(&parts[1]);
	path = fuzz_strdup(&parts[2]);
	query = fuzz_strdup(&parts[3]);
	hdrs = fuzz_strdup(&parts[4]);
	parse_headers(&h, hdrs);
	if (cairn_sim_sigv4_parse(&sig, auth) == 0) {
		r = cairn_sim_sigv4_verify(&sig, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", method, path,
			parts[3].len ? query : NULL, lookup, &h, parts[5].ptr, parts[5].len,
			request_time(lookup(&h, "x-amz-date")), &detail);
		if ((r == CAIRN_SIM_AUTH_OK) != (detail == NULL))
			abort(); /* a refusal always says why */
	}
	cairn_error_clear();
	free(auth);
	free(method);
	free(path);
	free(query);
	free(hdrs);
	return 0;
}
