/*
 * digest.c - see digest.h.
 */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
/* each thread's context, made once and reused: a context made and freed
 * per call cost more than hashing a short text */
static pthread_key_t ctx_key;

static void free_ctx(void *c)
{
	EVP_MD_CTX_free(c);
}

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&ctx_key, free_ctx) != 0)
		sha256 = NULL;
}

int cairn_sha256(const void *p, size_t n, unsigned char out[32])
{
	return cairn_sha256_2(p, n, NULL, 0, out);
}

int cairn_sha256_2(const void *p, size_t n, const void *q, size_t m, unsigned char out[32])
{
	unsigned int len = 0;
	EVP_MD_CTX *c;

	pthread_once(&sha256_once, fetch_sha256);
	if (sha256 && !(c = pthread_getspecific(ctx_key)) && (c = EVP_MD_CTX_new()) &&
	    pthread_setspecific(ctx_key, c) != 0) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	if (sha256 && c) {
		if (EVP_DigestInit_ex(c, sha256, NULL) == 1 && EVP_DigestUpdate(c, p, n) == 1 &&
		    (!m || EVP_DigestUpdate(c, q, m) == 1) && EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32)
			return 0;
	} else if (!m && EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32) {
		return 0;
	}
	memset(out, 0, 32);
	return -1;
}

void cairn_hex32(const unsigned char d[32], char out[65])
{
	static const char h[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = h[d[i] >> 4];
		out[2 * i + 1] = h[d[i] & 15];
	}
	out[64] = '\0';
}

int cairn_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char d[32];
	int rc = cairn_sha256(p, n, d);

	cairn_hex32(d, out);
	return rc;
}

int cairn_answer_digest(const char *s, size_t len, char out[65])
{
	size_t head = len < 512 ? len : 512, tail = head;
	const char *a, *b = NULL;
	unsigned char d[32];

	a = memmem(s, head, "<requestId>", 11);
	if (a)
		b = memmem(a, (size_t)(s + len - a) < 256 ? (size_t)(s + len - a) : 256, "</requestId>", 12);
	if (!a || !b) {
		a = memmem(s + len - tail, tail, "<RequestId>", 11);
		b = a ? memmem(a, (size_t)(s + len - a), "</RequestId>", 12) : NULL;
	}
	if (a && b && cairn_sha256_2(s, (size_t)(a - s), b + 12, (size_t)(s + len - (b + 12)), d) == 0) {
		cairn_hex32(d, out);
		return 0;
	}
	return cairn_sha256_hex(s, len, out);
}
