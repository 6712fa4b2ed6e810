/*
 * sigv4.c - AWS Signature Version 4 verification for `cairn sim`.
 *
 * Rebuilds the canonical request the way AWS documents it (method,
 * canonical URI, sorted canonical query string, the SignedHeaders with
 * trimmed values, the payload hash), the string to sign and the derived
 * signing key (HMAC-SHA256 chain over date, region, service, aws4_request),
 * and compares signatures in constant time. The canonical URI is the path
 * as received URI-encoded once more (each segment encoded twice, as every
 * AWS service but S3 wants it): a client that signs a path holding %XX as
 * it is sent is refused, as AWS refuses it. Clients that sign the query
 * string exactly as sent (curl before 8.x does not sort the query) are
 * accepted: the raw form is tried when the canonical one fails.
 */
#include "sim_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SKEW_SECONDS (15 * 60)

static void hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cairn_sim_sha256_hex(char out[65], const void *data, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	hex_encode(out, md, sizeof(md));
}

static void hmac(unsigned char out[32], const void *key, size_t klen, const char *msg)
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* Copy the part of s up to a stop character into out; returns the end. */
static const char *copy_until(char *out, size_t size, const char *s, const char *stops)
{
	size_t n = strcspn(s, stops);

	if (n >= size)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return s + n;
}

int cairn_sim_sigv4_parse(cairn_sim_sigv4 *out, const char *auth)
{
	static const char algo[] = "AWS4-HMAC-SHA256";
	cairn_sim_sigv4 sig;
	const char *p;
	int have_cred = 0, have_sh = 0, have_sig = 0;

	memset(&sig, 0, sizeof(sig));
	if (!auth || strncmp(auth, algo, sizeof(algo) - 1) != 0 || auth[sizeof(algo) - 1] != ' ')
		return cairn_error_set(CAIRN_EINVAL, "Authorization header requires the AWS4-HMAC-SHA256 algorithm");
	p = auth + sizeof(algo);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		if (strncmp(p, "Credential=", 11) == 0) {
			char cred[512], *parts[5], *save = cred;
			size_t i;

			if (!(p = copy_until(cred, sizeof(cred), p + 11, ", ")))
				return cairn_error_set(CAIRN_EINVAL, "credential too long");
			for (i = 0; i < 5; i++) {
				parts[i] = save;
				save = strchr(save, '/');
				if (i < 4) {
					if (!save)
						return cairn_error_set(CAIRN_EINVAL, "credential should be scoped to a valid region");
					*save++ = '\0';
				}
			}
			if (save || strcmp(parts[4], "aws4_request") != 0 || strlen(parts[1]) != 8 ||
			    !*parts[0] || !*parts[2] || !*parts[3])
				return cairn_error_set(CAIRN_EINVAL, "credential should be scoped correctly");
			if (strlen(parts[0]) >= sizeof(sig.access_key) || strlen(parts[2]) >= sizeof(sig.region) ||
			    strlen(parts[3]) >= sizeof(sig.service))
				return cairn_error_set(CAIRN_EINVAL, "credential too long");
			memcpy(sig.access_key, parts[0], strlen(parts[0]) + 1);
			memcpy(sig.date, parts[1], 9);
			memcpy(sig.region, parts[2], strlen(parts[2]) + 1);
			memcpy(sig.service, parts[3], strlen(parts[3]) + 1);
			have_cred = 1;
		} else if (strncmp(p, "SignedHeaders=", 14) == 0) {
			if (!(p = copy_until(sig.signed_headers, sizeof(sig.signed_headers), p + 14, ", ")))
				return cairn_error_set(CAIRN_EINVAL, "SignedHeaders too long");
			have_sh = sig.signed_headers[0] != '\0';
		} else if (strncmp(p, "Signature=", 10) == 0) {
			if (!(p = copy_until(sig.signature, sizeof(sig.signature), p + 10, ", ")))
				return cairn_error_set(CAIRN_EINVAL, "Signature too long");
			have_sig = strlen(sig.signature) == 64;
		} else {
			p += strcspn(p, ", ");
		}
	}
	if (!have_cred)
		return cairn_error_set(CAIRN_EINVAL, "Authorization header requires 'Credential' parameter");
	if (!have_sh)
		return cairn_error_set(CAIRN_EINVAL, "Authorization header requires 'SignedHeaders' parameter");
	if (!have_sig)
		return cairn_error_set(CAIRN_EINVAL, "Authorization header requires 'Signature' parameter");
	*out = sig;
	return 0;
}

static int is_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

/* AWS's UriEncode: everything but unreserved characters as %XX (uppercase). */
static int uri_encode(cairn_buf *b, const char *s, size_t n, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			rc = cairn_buf_putc(b, (char)c);
		} else {
			char e[3] = { '%', digits[c >> 4], digits[c & 15] };

			rc = cairn_buf_put(b, e, 3);
		}
	}
	return rc;
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into b ('+' stays '+': a query, not a form). */
static int uri_decode(cairn_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    hexv((unsigned char)s[i + 1]) >= 0 && hexv((unsigned char)s[i + 2]) >= 0) {
			rc = cairn_buf_putc(b, (char)(hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2])));
			i += 2;
		} else {
			rc = cairn_buf_putc(b, s[i]);
		}
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name=value pairs re-encoded, sorted, joined by '&'. */
static int canonical_query(cairn_buf *out, const char *q)
{
	char **items = NULL;
	size_t n = 0, alloc = 0, i;
	int rc = 0;

	while (q && *q) {
		size_t len = strcspn(q, "&"), klen;
		cairn_buf dec = CAIRN_BUF_INIT, item = CAIRN_BUF_INIT;

		if (len == 0) {
			q++;
			continue;
		}
		klen = strcspn(q, "=");
		if (klen > len)
			klen = len;
		if (n == alloc) {
			char **ni;

			alloc = alloc ? alloc * 2 : 8;
			if (!(ni = realloc(items, alloc * sizeof(*ni)))) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			items = ni;
		}
		if (!(rc = uri_decode(&dec, q, klen)))
			rc = uri_encode(&item, dec.ptr ? dec.ptr : "", dec.len, 0);
		cairn_buf_clear(&dec);
		if (!rc)
			rc = cairn_buf_putc(&item, '=');
		if (!rc && klen < len)
			rc = uri_decode(&dec, q + klen + 1, len - klen - 1);
		if (!rc)
			rc = uri_encode(&item, dec.ptr ? dec.ptr : "", dec.len, 0);
		cairn_buf_release(&dec);
		if (rc) {
			cairn_buf_release(&item);
			goto cleanup;
		}
		items[n++] = cairn_buf_detach(&item);
		q += len;
	}
	if (n)
		qsort(items, n, sizeof(*items), cmp_str);
	for (i = 0; i < n && !rc; i++) {
		if (i)
			rc = cairn_buf_putc(out, '&');
		if (!rc)
			rc = cairn_buf_puts(out, items[i]);
	}
cleanup:
	for (i = 0; i < n; i++)
		free(items[i]);
	free(items);
	return rc;
}

/* "name:value\n" for every signed header, values trimmed and with runs of
 * spaces collapsed. */
static int canonical_headers(cairn_buf *out, const char *signed_headers,
	cairn_sim_header_fn header, void *ctx)
{
	const char *p = signed_headers;
	int rc = 0;

	while (*p && !rc) {
		char name[256];
		size_t n = strcspn(p, ";");
		const char *v;

		if (n == 0 || n >= sizeof(name))
			return cairn_error_set(CAIRN_EINVAL, "bad SignedHeaders");
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (*p == ';')
			p++;
		v = header(ctx, name);
		if (!v)
			v = "";
		if ((rc = cairn_buf_printf(out, "%s:", name)) != 0)
			break;
		while (*v == ' ' || *v == '\t')
			v++;
		while (*v && !rc) {
			if (*v == ' ' || *v == '\t') {
				const char *q = v;

				while (*q == ' ' || *q == '\t')
					q++;
				if (*q)
					rc = cairn_buf_putc(out, ' ');
				v = q;
			} else {
				rc = cairn_buf_putc(out, *v++);
			}
		}
		if (!rc)
			rc = cairn_buf_putc(out, '\n');
	}
	return rc;
}

static int parse_amz_date(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!s || strlen(s) != 16 || !(end = strptime(s, "%Y%m%dT%H%M%SZ", &tm)) || *end)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* Compute the signature over one variant of the canonical request. */
static int sign_variant(char out[65], const cairn_sim_sigv4 *sig, const unsigned char key[32],
	const char *amz_date, const char *method, const char *uri, const char *query,
	const char *headers, const char *payload_hash)
{
	cairn_buf creq = CAIRN_BUF_INIT, sts = CAIRN_BUF_INIT;
	char creq_hash[65];
	unsigned char mac[32];
	int rc;

	if ((rc = cairn_buf_printf(&creq, "%s\n%s\n%s\n%s\n%s\n%s", method, uri, query,
			headers, sig->signed_headers, payload_hash)) != 0)
		goto cleanup;
	cairn_sim_sha256_hex(creq_hash, creq.ptr, creq.len);
	if ((rc = cairn_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
			amz_date, sig->date, sig->region, sig->service, creq_hash)) != 0)
		goto cleanup;
	hmac(mac, key, 32, sts.ptr);
	hex_encode(out, mac, 32);
cleanup:
	cairn_buf_release(&creq);
	cairn_buf_release(&sts);
	return rc;
}

int cairn_sim_sigv4_verify(const cairn_sim_sigv4 *sig, const char *secret,
	const char *method, const char *raw_path, const char *raw_query,
	cairn_sim_header_fn header, void *ctx, const char *body, size_t body_len,
	time_t now, const char **detail)
{
	cairn_buf kbuf = CAIRN_BUF_INIT, uri = CAIRN_BUF_INIT, query = CAIRN_BUF_INIT,
		hdrs = CAIRN_BUF_INIT;
	const char *amz_date = header(ctx, "x-amz-date"), *payload = header(ctx, "x-amz-content-sha256");
	const char *queries[2];
	char body_hash[65], computed[65];
	unsigned char k1[32], k2[32], k3[32], key[32];
	time_t t;
	int result = CAIRN_SIM_AUTH_BAD_SIGNATURE, j;

	*detail = "The request signature we calculated does not match the signature you provided. "
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
	if (parse_amz_date(amz_date, &t) != 0) {
		*detail = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";
		result = CAIRN_SIM_AUTH_MALFORMED;
		goto cleanup;
	}
	if (strncmp(amz_date, sig->date, 8) != 0) {
		*detail = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.";
		goto cleanup;
	}
	if (t > now + MAX_SKEW_SECONDS || t < now - MAX_SKEW_SECONDS) {
		*detail = "Request has expired.";
		result = CAIRN_SIM_AUTH_EXPIRED;
		goto cleanup;
	}
	cairn_sim_sha256_hex(body_hash, body ? body : "", body_len);
	if (!payload) {
		payload = body_hash;
	} else if (strcmp(payload, "UNSIGNED-PAYLOAD") != 0 && strcmp(payload, body_hash) != 0) {
		/* the signature covers the header, so the body must match it */
		*detail = "The provided 'x-amz-content-sha256' header does not match what was computed.";
		goto cleanup;
	}
	if (cairn_buf_printf(&kbuf, "AWS4%s", secret) != 0)
		goto cleanup;
	hmac(k1, kbuf.ptr, kbuf.len, sig->date);
	hmac(k2, k1, 32, sig->region);
	hmac(k3, k2, 32, sig->service);
	hmac(key, k3, 32, "aws4_request");

	if (uri_encode(&uri, raw_path, strlen(raw_path), 1) != 0 ||
	    canonical_query(&query, raw_query) != 0 ||
	    canonical_headers(&hdrs, sig->signed_headers, header, ctx) != 0)
		goto cleanup;
	queries[0] = cairn_buf_cstr(&query);
	queries[1] = raw_query ? raw_query : "";
	for (j = 0; j < 2; j++) {
		if (j == 1 && strcmp(queries[0], queries[1]) == 0)
			break;
		if (sign_variant(computed, sig, key, amz_date, method, cairn_buf_cstr(&uri), queries[j],
				cairn_buf_cstr(&hdrs), payload) != 0)
			goto cleanup;
		if (CRYPTO_memcmp(computed, sig->signature, 64) == 0) {
			result = CAIRN_SIM_AUTH_OK;
			*detail = NULL;
			goto cleanup;
		}
	}
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	if (kbuf.ptr)
		OPENSSL_cleanse(kbuf.ptr, kbuf.len);
	cairn_buf_release(&kbuf);
	cairn_buf_release(&uri);
	cairn_buf_release(&query);
	cairn_buf_release(&hdrs);
	return result;
}
