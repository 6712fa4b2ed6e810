/*
 * sign.c - SigV4 signing of AWS requests (sign.h): libcurl signs
 * (CURLOPT_AWS_SIGV4); this file gives it the keys, the session token
 * header, the URL forms curl 7.88 needs, and renews expired temporary
 * credentials for the loop.
 */
#include "sign.h"
#include "base/buf.h"
#include "loop/retry.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * SigV4 for every AWS service but S3 signs each segment of the path
 * URI-encoded twice: a path sent as /tags/arn%3Aaws%3Aeks... (an ARN in
 * EKS's tag calls) is signed as /tags/arn%253Aaws%253Aeks.... libcurl
 * before 8.9 signs the path exactly as it is in the URL. For such a
 * request curl is given the URL with every '%' of the path encoded once
 * more (what it signs) and the request line the path as it is
 * (CURLOPT_REQUEST_TARGET). Returns 1 when it did so.
 */
static int double_encode(const char *scope, const char *url_in, CURL *e, CURLcode *c)
{
	const char *svc = strrchr(scope, ':');
	char *path = NULL, *query = NULL, *url = NULL;
	cairn_buf doubled = CAIRN_BUF_INIT, target = CAIRN_BUF_INIT;
	CURLU *u;
	const char *p;
	int done = 0;

	if (!svc || !strchr(url_in, '%') || strcmp(svc + 1, "s3") == 0 ||
	    curl_version_info(CURLVERSION_NOW)->version_num >= 0x080900)
		return 0;
	if (!(u = curl_url()))
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url_in, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || !strchr(path, '%'))
		goto out;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	for (p = path; *p; p++)
		if ((*p == '%' ? cairn_buf_puts(&doubled, "%25") : cairn_buf_putc(&doubled, *p)) != 0)
			goto out;
	if (cairn_buf_puts(&target, path) != 0 ||
	    (query && cairn_buf_printf(&target, "?%s", query) != 0) ||
	    curl_url_set(u, CURLUPART_PATH, cairn_buf_cstr(&doubled), 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	*c = curl_easy_setopt(e, CURLOPT_URL, url);
	if (*c == CURLE_OK)
		*c = curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, cairn_buf_cstr(&target));
	done = 1;
out:
	curl_free(path);
	curl_free(query);
	curl_free(url);
	curl_url_cleanup(u);
	cairn_buf_release(&doubled);
	cairn_buf_release(&target);
	return done;
}

static CURLcode easy_sigv4(CURL *e, const char *scope, const cairn_aws_creds *creds)
{
	CURLcode c = curl_easy_setopt(e, CURLOPT_AWS_SIGV4, scope);

	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_USERNAME, creds->access_key);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_PASSWORD, creds->secret_key);
	return c;
}

static int token_header(struct curl_slist **headers, const cairn_aws_creds *creds)
{
	cairn_buf line = CAIRN_BUF_INIT;
	struct curl_slist *l;
	int rc;

	if (!creds->session_token)
		return 0;
	if ((rc = cairn_buf_printf(&line, "x-amz-security-token: %s", creds->session_token)) == 0) {
		if ((l = curl_slist_append(*headers, cairn_buf_cstr(&line))))
			*headers = l;
		else
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (line.ptr)
		explicit_bzero(line.ptr, line.alloc);
	cairn_buf_release(&line);
	return rc;
}

int cairn_aws_sign_easy(CURL *e, struct curl_slist **headers, const char *scope, const char *url,
			const cairn_aws_creds *creds)
{
	CURLcode c = CURLE_OK;
	int rc;

	if ((rc = token_header(headers, creds)) < 0)
		return rc;
	double_encode(scope, url, e, &c);
	if (c == CURLE_OK)
		c = easy_sigv4(e, scope, creds);
	if (c != CURLE_OK)
		return cairn_error_set(CAIRN_EIO, "cannot set up signing: %s", curl_easy_strerror(c));
	return 0;
}

typedef struct qparam {
	const char *s;
	size_t len;    /* whole "name=value" */
	size_t keylen; /* up to '=' (or len) */
} qparam;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : an < bn ? -1 : an > bn;
}

static int qparam_cmp(const void *pa, const void *pb)
{
	const qparam *a = pa, *b = pb;
	int c = cmp_bytes(a->s, a->keylen, b->s, b->keylen);
	size_t av = a->keylen < a->len ? a->keylen + 1 : a->len;
	size_t bv = b->keylen < b->len ? b->keylen + 1 : b->len;

	return c ? c : cmp_bytes(a->s + av, a->len - av, b->s + bv, b->len - bv);
}


int cairn_aws_sort_query(const char *url, char **out)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *q = strchr(url, '?'), *end, *p;
	qparam *params = NULL;
	size_t n = 0, i;
	int rc = 0;

	cairn_buf_init(&b, 0);
	if (!q) {
		rc = cairn_buf_puts(&b, url);
		goto done;
	}
	end = q + 1 + strcspn(q + 1, "#");
	if (!(params = calloc((size_t)(end - q) / 2 + 1, sizeof(*params)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto done;
	}
	for (p = q + 1; p < end;) {
		size_t len = strcspn(p, "&#");

		if (p + len > end)
			len = (size_t)(end - p);
		if (len) {
			const char *eq = memchr(p, '=', len);

			params[n].s = p;
			params[n].len = len;
			params[n].keylen = eq ? (size_t)(eq - p) : len;
			n++;
		}
		p += len + 1;
	}
	qsort(params, n, sizeof(*params), qparam_cmp);
	rc = cairn_buf_put(&b, url, (size_t)(q - url));
	for (i = 0; !rc && i < n; i++) {
		rc = cairn_buf_putc(&b, i ? '&' : '?');
		if (!rc)
			rc = cairn_buf_put(&b, params[i].s, params[i].len);
		if (!rc && params[i].keylen == params[i].len)
			rc = cairn_buf_putc(&b, '=');
	}
	if (!rc)
		rc = cairn_buf_puts(&b, end); /* the fragment, if any */
done:
	free(params);
	if (!rc && !(*out = cairn_buf_detach(&b)))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cairn_buf_release(&b);
	return rc;
}

/* -- the loop's signer ---------------------------------------------------- */

typedef struct signer {
	cairn_aws_creds creds;
	unsigned gen;      /* bumped each time creds change */
	bool renew_failed; /* renewal failed for these creds: not again */
	cairn_aws_renew_fn renew;
	void *renew_ud;
	char **endpoints;  /* the environment's endpoints (origins), or none: AWS's own */
	size_t nendpoints;
} signer;

/* "scheme://host:port" of url, lower-case, with the scheme's default port
 * made explicit (malloc'd), and its host in *host (malloc'd). */
static char *url_origin(const char *url, char **host)
{
	char *scheme = NULL, *h = NULL, *port = NULL, *out = NULL;
	cairn_buf b = CAIRN_BUF_INIT;
	CURLU *u = curl_url();
	char *p;

	*host = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	for (p = h; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (cairn_buf_printf(&b, "%s://%s:%s", scheme, h, port) == 0 && (*host = strdup(h)))
		out = cairn_buf_detach(&b);
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(port);
	curl_url_cleanup(u);
	cairn_buf_release(&b);
	if (!out) {
		free(*host);
		*host = NULL;
	}
	return out;
}

static bool ends_with_domain(const char *host, const char *domain)
{
	size_t hl = strlen(host), dl = strlen(domain);

	return hl > dl + 1 && strcmp(host + hl - dl, domain) == 0 && host[hl - dl - 1] == '.';
}

/* SigV4 credentials go only where the environment points: its endpoint(s)
 * when it names any, else AWS's own endpoints over https. A module that
 * asks to sign a request to any other host is refused, so that the
 * Authorization header and the session token never leave for it. */
static int check_host(const signer *s, const char *url)
{
	char *host = NULL, *origin = url_origin(url, &host);
	size_t i;
	int rc = 0;

	if (!origin) {
		rc = cairn_error_set(CAIRN_EINVAL, "refusing to sign a request to a URL that does not parse");
		goto out;
	}
	if (s->nendpoints) {
		for (i = 0; i < s->nendpoints; i++)
			if (strcmp(origin, s->endpoints[i]) == 0)
				goto out;
		rc = cairn_error_set(CAIRN_EINVAL, "refusing to sign a request to %s: AWS credentials are only sent "
				     "to the environment's endpoint (%s)", origin, s->endpoints[0]);
		goto out;
	}
	if (strncmp(origin, "https://", 8) == 0 &&
	    (ends_with_domain(host, "amazonaws.com") || ends_with_domain(host, "amazonaws.com.cn") ||
	     ends_with_domain(host, "api.aws")))
		goto out;
	rc = cairn_error_set(CAIRN_EINVAL, "refusing to sign a request to %s: AWS credentials are only sent to "
			     "AWS endpoints (https://*.amazonaws.com, *.amazonaws.com.cn, *.api.aws) or to the "
			     "environment's provider.endpoint", origin);
out:
	free(origin);
	free(host);
	return rc;
}

static int signer_prepare(void *ud, const char *scope, char **url)
{
	signer *s = ud;
	char *sorted = NULL;
	int rc;

	(void)scope;
	if ((rc = check_host(s, *url)) < 0)
		return rc;
	if ((rc = cairn_aws_sort_query(*url, &sorted)) < 0)
		return rc;
	free(*url);
	*url = sorted;
	return 0;
}

static int signer_sign(void *ud, CURL *e, struct curl_slist **headers, const char *scope, const char *url,
		       unsigned *ret_gen)
{
	signer *s = ud;

	*ret_gen = s->gen;
	return cairn_aws_sign_easy(e, headers, scope, url, &s->creds);
}

static int set_creds(signer *s, const cairn_aws_creds *creds)
{
	cairn_aws_creds copy = { 0 };
	int rc;

	if (!creds->access_key || !*creds->access_key || !creds->secret_key || !*creds->secret_key)
		return cairn_error_set(CAIRN_EINVAL, "invalid AWS credentials: access key and secret key are required");
	if ((rc = cairn_aws_creds_copy(&copy, creds)) < 0)
		return rc;
	cairn_aws_creds_release(&s->creds);
	s->creds = copy;
	s->gen++;
	s->renew_failed = false;
	return 0;
}

static bool signer_renew(void *ud, unsigned gen, long status, const char *body, size_t len)
{
	signer *s = ud;
	cairn_aws_creds fresh = { 0 };
	char code[64];

	if (!s->renew || !s->creds.session_token || (status != 400 && status != 403) ||
	    !cairn_loop_error_code(body, len, code, sizeof(code)) ||
	    (strcmp(code, "ExpiredToken") && strcmp(code, "ExpiredTokenException") && strcmp(code, "RequestExpired")))
		return false;
	if (gen != s->gen)
		return true; /* renewed already, after another request's answer */
	if (s->renew_failed)
		return false;
	if (s->renew(s->renew_ud, &fresh) != 0 || set_creds(s, &fresh) != 0) {
		cairn_aws_creds_release(&fresh);
		s->renew_failed = true;
		return false; /* the answer stands; the error is the module's to show */
	}
	cairn_aws_creds_release(&fresh);
	return true;
}

static void signer_free(void *ud)
{
	signer *s = ud;
	size_t i;

	if (!s)
		return;
	cairn_aws_creds_release(&s->creds);
	for (i = 0; i < s->nendpoints; i++)
		free(s->endpoints[i]);
	free(s->endpoints);
	free(s);
}

static int add_endpoint(signer *s, const char *url)
{
	char *host = NULL, *origin;
	char **e;

	if (!url || !*url)
		return 0;
	if (!(origin = url_origin(url, &host)))
		return cairn_error_set(CAIRN_EINVAL, "invalid endpoint URL '%s'", url);
	free(host);
	if (!(e = realloc(s->endpoints, (s->nendpoints + 1) * sizeof(*e)))) {
		free(origin);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	s->endpoints = e;
	s->endpoints[s->nendpoints++] = origin;
	return 0;
}

int cairn_aws_signer_install(cairn_loop *loop, const cairn_aws_creds *creds, const char *const *endpoints,
			     cairn_aws_renew_fn renew, void *ud)
{
	cairn_loop_signer hook = { 0 };
	signer *s;
	size_t i;
	int rc;

	if (!(s = calloc(1, sizeof(*s))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = set_creds(s, creds)) < 0 || (rc = add_endpoint(s, creds->endpoint)) < 0) {
		signer_free(s);
		return rc;
	}
	for (i = 0; endpoints && endpoints[i]; i++)
		if ((rc = add_endpoint(s, endpoints[i])) < 0) {
			signer_free(s);
			return rc;
		}
	s->renew = renew;
	s->renew_ud = ud;
	hook.ud = s;
	hook.prepare = signer_prepare;
	hook.sign = signer_sign;
	hook.renew = signer_renew;
	hook.free = signer_free;
	cairn_loop_set_signer(loop, &hook);
	return 0;
}
