/*
 * sts.c - STS AssumeRole for role profiles (see sts.h): the form,
 * one synchronous libcurl request with the loop's easy-handle settings
 * (loop/http.c), and an expat reader that keeps the few elements needed:
 *
 *   AssumeRoleResponse/AssumeRoleResult/Credentials/
 *       AccessKeyId, SecretAccessKey, SessionToken, Expiration
 *   ErrorResponse/Error/Code, Message
 *
 * Namespaces are ignored (elements are matched by local name); a DOCTYPE
 * is refused. Every buffer that held a secret (the answer, the text of the
 * credentials) is zeroed before it is freed.
 */
#include "sts.h"
#include "base/buf.h"
#include "sign.h"
#include "loop/retry.h"

#include <expat.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STS_BODY_MAX ((size_t)1 << 20)
#define STS_FIELD_MAX ((size_t)64 << 10)
#define STS_TIMEOUT 30.0
#define STS_ATTEMPTS 3

/* -- reading the answer ------------------------------------------------- */

enum sts_field { F_AK, F_SK, F_TOKEN, F_EXPIRATION, F_CODE, F_MESSAGE, F_COUNT };

#define DEPTH_MAX 8

typedef struct sts_doc {
	XML_Parser parser;
	int depth;
	char path[DEPTH_MAX][32]; /* local names of the open elements ("" when too long) */
	int field;                /* the wanted element open at `depth`, or -1 */
	cairn_buf text;
	cairn_buf fields[F_COUNT];
	bool seen[F_COUNT];
	const char *why;          /* set when the reader stopped the parser */
} sts_doc;

static void wipe(cairn_buf *b)
{
	if (b->ptr)
		explicit_bzero(b->ptr, b->alloc);
	cairn_buf_release(b);
}

static const char *local_name(const XML_Char *name)
{
	const char *bar = strrchr(name, '|');

	return bar ? bar + 1 : name;
}

static bool at(const sts_doc *d, const char *a, const char *b, const char *c)
{
	return strcmp(d->path[0], a) == 0 && strcmp(d->path[1], b) == 0 && (!c || strcmp(d->path[2], c) == 0);
}

/* Which field the element just opened at d->depth is, or -1. */
static int wanted(const sts_doc *d, const char *name)
{
	static const char *const cred_names[] = { "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration" };
	int i;

	if (d->depth == 4 && at(d, "AssumeRoleResponse", "AssumeRoleResult", "Credentials")) {
		for (i = 0; i < 4; i++)
			if (strcmp(name, cred_names[i]) == 0)
				return F_AK + i;
	} else if (d->depth == 3 && at(d, "ErrorResponse", "Error", NULL)) {
		if (strcmp(name, "Code") == 0)
			return F_CODE;
		if (strcmp(name, "Message") == 0)
			return F_MESSAGE;
	}
	return -1;
}

static void doc_stop(sts_doc *d, const char *why)
{
	d->why = why;
	XML_StopParser(d->parser, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	sts_doc *d = ud;
	const char *local = local_name(name);

	(void)attrs;
	if (d->depth < DEPTH_MAX) {
		if (strlen(local) < sizeof(d->path[0]))
			memcpy(d->path[d->depth], local, strlen(local) + 1);
		else
			d->path[d->depth][0] = '\0';
	}
	d->depth++;
	d->field = wanted(d, local);
	if (d->text.ptr)
		explicit_bzero(d->text.ptr, d->text.alloc);
	cairn_buf_clear(&d->text);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	sts_doc *d = ud;

	if (d->field >= 0 && cairn_buf_put(&d->text, s, (size_t)len) != 0)
		doc_stop(d, "an element of the answer is too large");
}

static void on_end(void *ud, const XML_Char *name)
{
	sts_doc *d = ud;
	cairn_buf *f;

	(void)name;
	if (d->field >= 0) {
		f = &d->fields[d->field];
		if (!d->seen[d->field] && cairn_buf_put(f, d->text.ptr ? d->text.ptr : "", d->text.len) != 0) {
			doc_stop(d, "out of memory");
			return;
		}
		d->seen[d->field] = true;
		d->field = -1;
	}
	d->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	doc_stop(ud, "the answer has a DOCTYPE");
}

static void doc_release(sts_doc *d)
{
	int i;

	if (d->parser)
		XML_ParserFree(d->parser);
	wipe(&d->text);
	for (i = 0; i < F_COUNT; i++)
		wipe(&d->fields[i]);
}

/* Parse body into d; false (and *why) when it is not a well-formed document. */
static bool doc_parse(sts_doc *d, const char *body, size_t len, const char **why)
{
	int i;

	memset(d, 0, sizeof(*d));
	d->field = -1;
	cairn_buf_init(&d->text, STS_FIELD_MAX);
	for (i = 0; i < F_COUNT; i++)
		cairn_buf_init(&d->fields[i], STS_FIELD_MAX);
	if (len > (size_t)INT32_MAX || !(d->parser = XML_ParserCreateNS("UTF-8", '|'))) {
		*why = "out of memory";
		return false;
	}
	XML_SetUserData(d->parser, d);
	XML_SetElementHandler(d->parser, on_start, on_end);
	XML_SetCharacterDataHandler(d->parser, on_text);
	XML_SetStartDoctypeDeclHandler(d->parser, on_doctype);
	if (XML_Parse(d->parser, body, (int)len, XML_TRUE) != XML_STATUS_OK) {
		*why = d->why ? d->why : XML_ErrorString(XML_GetErrorCode(d->parser));
		return false;
	}
	return true;
}

static const char *field(const sts_doc *d, enum sts_field f)
{
	return d->seen[f] && d->fields[f].len ? d->fields[f].ptr : NULL;
}

static int set_creds(cairn_aws_creds *out, char **ret_expiration, const sts_doc *d)
{
	cairn_aws_creds c = { 0 };
	char *exp = NULL;

	if (!(c.access_key = strdup(field(d, F_AK))) || !(c.secret_key = strdup(field(d, F_SK))) ||
	    !(c.session_token = strdup(field(d, F_TOKEN))) || !(exp = strdup(field(d, F_EXPIRATION)))) {
		cairn_aws_creds_release(&c);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	out->access_key = c.access_key;
	out->secret_key = c.secret_key;
	out->session_token = c.session_token;
	*ret_expiration = exp;
	return 0;
}

int cairn_sts_read_answer(cairn_aws_creds *out, char **ret_expiration, long status, const char *body,
			  size_t len, const cairn_sts_role *role)
{
	const char *why = NULL, *code, *message;
	sts_doc d;
	int rc;

	if (!doc_parse(&d, body ? body : "", len, &why)) {
		rc = cairn_error_set(status == 200 ? CAIRN_EIO : CAIRN_EREMOTE,
				     "STS answered HTTP %ld with a document that cannot be read (%s)", status, why);
		goto cleanup;
	}
	code = field(&d, F_CODE);
	message = field(&d, F_MESSAGE);
	if (status != 200 || code) {
		rc = code ? cairn_error_set(CAIRN_EREMOTE, "STS answered %.128s: %.512s (HTTP %ld)", code,
					    message ? message : "no message", status) :
			    cairn_error_set(CAIRN_EREMOTE, "STS answered HTTP %ld without an error code", status);
		goto cleanup;
	}
	if (!field(&d, F_AK) || !field(&d, F_SK) || !field(&d, F_TOKEN) || !field(&d, F_EXPIRATION)) {
		rc = cairn_error_set(CAIRN_EIO, "STS answered without %s",
				     !field(&d, F_AK) ? "an AccessKeyId" : !field(&d, F_SK) ? "a SecretAccessKey" :
				     !field(&d, F_TOKEN) ? "a SessionToken" : "an Expiration");
		goto cleanup;
	}
	rc = set_creds(out, ret_expiration, &d);
cleanup:
	if (rc && rc != CAIRN_ENOMEM)
		cairn_error_prefix("cannot assume role %s for profile '%s'", role->role_arn, role->profile);
	doc_release(&d);
	return rc;
}

/* -- the request -------------------------------------------------------- */

int cairn_sts_url(char **out, const char *endpoint, const char *region)
{
	const char *env = getenv("AWS_ENDPOINT_URL_STS");
	cairn_buf b = CAIRN_BUF_INIT;
	CURLU *u = NULL;
	char *url = NULL;
	int rc = 0;

	if (env && *env)
		endpoint = env;
	if (!endpoint || !*endpoint) {
		if (region ? cairn_buf_printf(&b, "https://sts.%s.amazonaws.com/", region) :
			     cairn_buf_puts(&b, "https://sts.amazonaws.com/"))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		endpoint = cairn_buf_cstr(&b);
	}
	/* curl's parser checks the URL and writes "/" for an empty path */
	if (!(u = curl_url()) || curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		rc = cairn_error_set(CAIRN_EINVAL, "the STS endpoint (%s) is not an http:// or https:// URL",
				     env && *env ? "AWS_ENDPOINT_URL_STS" : "the profile's or the environment's");
		goto cleanup;
	}
	if (!(*out = strdup(url)))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	curl_free(url);
	curl_url_cleanup(u);
	cairn_buf_release(&b);
	return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	return cairn_buf_put(ud, data, size * n) == 0 ? size * n : 0;
}

/* "&Name=value", value percent-encoded (RFC 3986). */
static int form_add(cairn_buf *form, CURL *e, const char *name, const char *value)
{
	char *enc = curl_easy_escape(e, value, 0);
	int rc;

	if (!enc)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_buf_printf(form, "&%s=%s", name, enc);
	curl_free(enc);
	return rc;
}

static int build_form(cairn_buf *form, CURL *e, const cairn_sts_role *role)
{
	int rc;

	if ((rc = cairn_buf_printf(form, "Action=AssumeRole&Version=2011-06-15&DurationSeconds=%ld",
				   role->duration)) < 0 ||
	    (rc = form_add(form, e, "RoleArn", role->role_arn)) < 0 ||
	    (rc = form_add(form, e, "RoleSessionName", role->session_name)) < 0 ||
	    (role->external_id && (rc = form_add(form, e, "ExternalId", role->external_id)) < 0))
		return rc;
	return 0;
}

typedef struct sts_call {
	CURL *easy;
	struct curl_slist *headers;
	char scope[128];
	char *url;
	cairn_buf form, body;
	char errbuf[CURL_ERROR_SIZE];
	long status;
} sts_call;

static int call_setup(sts_call *s, const cairn_aws_creds *source, const cairn_sts_role *role)
{
	CURLcode c = CURLE_OK;
	int rc;

	snprintf(s->scope, sizeof(s->scope), "aws:amz:%s:sts", role->region ? role->region : "us-east-1");
	if ((rc = cairn_sts_url(&s->url, role->endpoint, role->region)) < 0)
		return rc;
	if (!(s->easy = curl_easy_init()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = build_form(&s->form, s->easy, role)) < 0)
		return rc;
	if (!(s->headers = curl_slist_append(s->headers, "Expect:")))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(s->easy, opt, val); } while (0)
	c = cairn_loop_easy_defaults(s->easy, STS_TIMEOUT, s->errbuf);
	SET(CURLOPT_URL, s->url);
	if (c == CURLE_OK && (rc = cairn_aws_sign_easy(s->easy, &s->headers, s->scope, s->url, source)) < 0)
		return rc;
	SET(CURLOPT_HTTPHEADER, s->headers);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->form.len);
	SET(CURLOPT_POSTFIELDS, cairn_buf_cstr(&s->form));
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)&s->body);
#undef SET
	if (c != CURLE_OK)
		return cairn_error_set(CAIRN_EIO, "cannot set up the request: %s", curl_easy_strerror(c));
	return 0;
}

static void call_release(sts_call *s)
{
	curl_easy_cleanup(s->easy);
	curl_slist_free_all(s->headers);
	free(s->url);
	cairn_buf_release(&s->form);
	wipe(&s->body);
}

static double jitter(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0.5;
	return (double)r / 4294967296.0;
}

static void pause_for(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Send the request, again after a failure worth another attempt; 0 with
 * s->status and s->body set once STS answered something final. */
static int call_perform(sts_call *s)
{
	CURLcode cc = CURLE_OK;
	int attempt;

	for (attempt = 1; attempt <= STS_ATTEMPTS; attempt++) {
		if (attempt > 1)
			pause_for(cairn_loop_backoff(0.2, 5.0, attempt - 1, jitter()));
		wipe(&s->body);
		cairn_buf_init(&s->body, STS_BODY_MAX);
		s->errbuf[0] = '\0';
		s->status = 0;
		cc = curl_easy_perform(s->easy);
		if (cc == CURLE_OK) {
			curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
			if (!cairn_loop_is_throttle(s->status, cairn_buf_cstr(&s->body), s->body.len) &&
			    !cairn_loop_status_retryable(s->status))
				return 0;
		} else if (!cairn_loop_curl_retryable((int)cc)) {
			break;
		}
	}
	if (cc == CURLE_OK)
		return 0; /* the last answer, throttled or 5xx, is reported as such */
	return cairn_error_set(CAIRN_EIO, "POST %s: %s", s->url, s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
}

int cairn_sts_assume_role(cairn_aws_creds *out, char **ret_expiration, const cairn_aws_creds *source,
			  const cairn_sts_role *role)
{
	sts_call s;
	int rc;

	memset(&s, 0, sizeof(s));
	cairn_buf_init(&s.form, 0);
	cairn_buf_init(&s.body, STS_BODY_MAX);
	if ((rc = call_setup(&s, source, role)) < 0 || (rc = call_perform(&s)) < 0) {
		if (rc != CAIRN_ENOMEM)
			cairn_error_prefix("cannot assume role %s for profile '%s'", role->role_arn, role->profile);
		goto cleanup;
	}
	rc = cairn_sts_read_answer(out, ret_expiration, s.status, s.body.ptr, s.body.len, role);
cleanup:
	call_release(&s);
	return rc;
}
