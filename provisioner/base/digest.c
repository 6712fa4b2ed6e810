/*
 * digest.c - see digest.h.
 */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int cairn_sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 0;

	pthread_once(&sha256_once, fetch_sha256);
	if (EVP_Digest(p, n, out, &len, sha256 ? sha256 : EVP_sha256(), NULL) != 1 || len != 32) {
		memset(out, 0, 32);
		return -1;
	}
	return 0;
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
