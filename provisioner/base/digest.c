/*
 * digest.c - see digest.h.
 */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
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

/* cairn_answer_digest's places: the request id's element near the start
 * (its start in the first HEAD bytes, its end within NEAR of it), else
 * near the end (in the last TAIL bytes). */
#define ANSWER_HEAD 512
#define ANSWER_NEAR 256
#define ANSWER_TAIL 512

int cairn_answer_digest(const char *s, size_t len, char out[65])
{
	size_t head = len < ANSWER_HEAD ? len : ANSWER_HEAD, tail = len < ANSWER_TAIL ? len : ANSWER_TAIL;
	const char *a, *b = NULL;
	unsigned char d[32];

	a = memmem(s, head, "<requestId>", 11);
	if (a)
		b = memmem(a, (size_t)(s + len - a) < ANSWER_NEAR ? (size_t)(s + len - a) : ANSWER_NEAR,
			   "</requestId>", 12);
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

/*
 * The hasher. Until HEAD + NEAR bytes have come (or the end), they are
 * held: that is all cairn_answer_digest's first rule looks at. Then, when
 * that rule finds the element, the bytes before it and after it are
 * hashed and the rest as it comes (mode CUT); else everything is hashed as
 * it comes but the last TAIL bytes, held for the second rule at the end
 * (mode TAIL). An answer shorter than HEAD + NEAR is digested whole at the
 * end, by cairn_answer_digest itself.
 */
enum { H_HOLD, H_CUT, H_TAIL };

struct cairn_answer_hasher {
	EVP_MD_CTX *md;
	int mode;
	bool failed;
	size_t held;
	char buf[ANSWER_HEAD + ANSWER_NEAR]; /* H_HOLD: the first bytes; H_TAIL: the last */
};

cairn_answer_hasher *cairn_answer_hasher_new(void)
{
	cairn_answer_hasher *h = calloc(1, sizeof(*h));

	pthread_once(&sha256_once, fetch_sha256);
	if (!h || !(h->md = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(h->md, sha256 ? sha256 : EVP_sha256(), NULL) != 1) {
		cairn_answer_hasher_free(h);
		return NULL;
	}
	return h;
}

void cairn_answer_hasher_free(cairn_answer_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

static void put(cairn_answer_hasher *h, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(h->md, p, n) != 1)
		h->failed = true;
}

/* H_TAIL: p[0..n) after what is held; the last TAIL bytes stay held. */
static void put_tail(cairn_answer_hasher *h, const char *p, size_t n)
{
	if (n >= ANSWER_TAIL) {
		put(h, h->buf, h->held);
		put(h, p, n - ANSWER_TAIL);
		memmove(h->buf, p + n - ANSWER_TAIL, ANSWER_TAIL); /* p may be h->buf (decide) */
		h->held = ANSWER_TAIL;
	} else if (h->held + n <= ANSWER_TAIL) {
		memcpy(h->buf + h->held, p, n);
		h->held += n;
	} else {
		size_t out = h->held + n - ANSWER_TAIL;

		put(h, h->buf, out);
		memmove(h->buf, h->buf + out, h->held - out);
		memcpy(h->buf + h->held - out, p, n);
		h->held = ANSWER_TAIL;
	}
}

/* H_HOLD with HEAD + NEAR bytes held: which rule, from here on. */
static void decide(cairn_answer_hasher *h)
{
	const char *s = h->buf, *a = memmem(s, ANSWER_HEAD, "<requestId>", 11), *b = NULL;
	size_t n = h->held;

	if (a)
		b = memmem(a, (size_t)(s + n - a) < ANSWER_NEAR ? (size_t)(s + n - a) : ANSWER_NEAR, "</requestId>", 12);
	if (a && b) {
		put(h, s, (size_t)(a - s));
		put(h, b + 12, (size_t)(s + n - (b + 12)));
		h->held = 0;
		h->mode = H_CUT;
	} else {
		h->held = 0;
		h->mode = H_TAIL;
		put_tail(h, s, n);
	}
}

int cairn_answer_hasher_add(cairn_answer_hasher *h, const void *p, size_t n)
{
	const char *c = p;

	if (h->mode == H_HOLD) {
		size_t room = sizeof(h->buf) - h->held, k = n < room ? n : room;

		memcpy(h->buf + h->held, c, k);
		h->held += k;
		c += k;
		n -= k;
		if (h->held < sizeof(h->buf))
			return 0;
		decide(h);
	}
	if (h->mode == H_CUT)
		put(h, c, n);
	else
		put_tail(h, c, n);
	return h->failed ? -1 : 0;
}

int cairn_answer_hasher_end(cairn_answer_hasher *h, char out[65])
{
	unsigned char d[32];
	unsigned int len = 0;
	int rc = 0;

	if (h->mode == H_HOLD) {
		rc = cairn_answer_digest(h->buf, h->held, out);
		cairn_answer_hasher_free(h);
		return rc;
	}
	if (h->mode == H_TAIL) {
		const char *s = h->buf, *a = memmem(s, h->held, "<RequestId>", 11), *b;

		b = a ? memmem(a, (size_t)(s + h->held - a), "</RequestId>", 12) : NULL;
		if (a && b) {
			put(h, s, (size_t)(a - s));
			put(h, b + 12, (size_t)(s + h->held - (b + 12)));
		} else {
			put(h, s, h->held);
		}
	}
	if (h->failed || EVP_DigestFinal_ex(h->md, d, &len) != 1 || len != 32) {
		memset(d, 0, sizeof(d));
		rc = -1;
	}
	cairn_hex32(d, out);
	cairn_answer_hasher_free(h);
	return rc;
}
