/*
 * secret.c - sealing sensitive values at rest (see secret.h).
 *
 * AES-256-GCM through libcrypto's EVP interface: a fresh 96-bit nonce from
 * RAND_bytes for every seal, the 128-bit tag appended. The sealed form is
 * text ("cairn:v1:" + base64(nonce || ciphertext || tag)) so it can sit in a
 * JSON attribute where the plain value was. No message set here ever quotes
 * the value being sealed or unsealed.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/buf.h"

#define SEAL_PREFIX "cairn:v1:"
#define SEAL_PREFIX_LEN (sizeof(SEAL_PREFIX) - 1)
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits (optionally followed by whitespace) -> 32 bytes. */
static int parse_hex_key(unsigned char *k, const char *s, size_t len)
{
	size_t i;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
			   s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len != 2 * KEY_LEN)
		return -1;
	for (i = 0; i < KEY_LEN; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		k[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int key_from_env(cairn_secret_key *out, const char *text)
{
	cairn_secret_key k;

	if (parse_hex_key(k.k, text, strlen(text)) != 0)
		SHA256((const unsigned char *)text, strlen(text), k.k);
	*out = k;
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

static int read_key_file(cairn_secret_key *out, const char *key_file)
{
	cairn_buf b = CAIRN_BUF_INIT;
	cairn_secret_key k;
	int rc;

	cairn_buf_init(&b, 4096);
	if ((rc = cairn_buf_read_file(&b, key_file)) < 0)
		goto cleanup;
	if (b.len == KEY_LEN) {
		memcpy(k.k, b.ptr, KEY_LEN);
	} else if (parse_hex_key(k.k, b.ptr, b.len) != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
			"key file %s is damaged (expected 32 bytes or 64 hex digits, found %zu bytes)",
			key_file, b.len);
		goto cleanup;
	}
	*out = k;
	rc = 0;

cleanup:
	OPENSSL_cleanse(&k, sizeof(k));
	if (b.ptr)
		OPENSSL_cleanse(b.ptr, b.alloc);
	cairn_buf_release(&b);
	return rc;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Create key_file with 32 random bytes, atomically: the key is written and
 * synced to a private temporary file which is then link()ed into place, so
 * two processes creating it at once agree on one key and nobody ever reads a
 * half-written file. Returns 1 if someone else's key won (caller re-reads).
 */
static int create_key_file(cairn_secret_key *out, const char *key_file)
{
	cairn_buf tmp = CAIRN_BUF_INIT;
	cairn_secret_key k;
	unsigned char rnd[8];
	int fd = -1, rc, lost = 0;

	if (RAND_bytes(k.k, KEY_LEN) != 1 || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		rc = cairn_error_set(CAIRN_ERROR, "cannot create key file %s: no random bytes", key_file);
		goto cleanup;
	}
	if ((rc = cairn_buf_printf(&tmp, "%s.tmp.%ld.%02x%02x%02x%02x", key_file, (long)getpid(),
				   rnd[0], rnd[1], rnd[2], rnd[3])) < 0)
		goto cleanup;
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot create key file %s: %s", key_file, strerror(errno));
		goto cleanup;
	}
	if (write_all(fd, k.k, KEY_LEN) != 0 || fsync(fd) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot write key file %s: %s", key_file, strerror(errno));
		goto cleanup;
	}
	close(fd);
	fd = -1;
	if (link(tmp.ptr, key_file) != 0) {
		if (errno != EEXIST) {
			rc = cairn_error_set(CAIRN_EIO, "cannot create key file %s: %s",
					     key_file, strerror(errno));
			goto cleanup;
		}
		lost = 1;
	} else {
		*out = k;
	}
	rc = lost;

cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp.ptr)
		unlink(tmp.ptr);
	cairn_buf_release(&tmp);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int cairn_secret_key_load(cairn_secret_key *out, const char *key_file, int create)
{
	const char *env = getenv("CAIRN_STATE_KEY");
	struct stat sb;
	int rc;

	if (env && *env)
		return key_from_env(out, env);
	if (!key_file)
		return cairn_error_set(CAIRN_ENOTFOUND, "no state key: CAIRN_STATE_KEY is not set");
	if (stat(key_file, &sb) == 0)
		return read_key_file(out, key_file);
	if (errno != ENOENT)
		return cairn_error_set(CAIRN_EIO, "cannot read key file %s: %s", key_file, strerror(errno));
	if (!create)
		return cairn_error_set(CAIRN_ENOTFOUND,
			"no state key: %s does not exist and CAIRN_STATE_KEY is not set", key_file);
	rc = create_key_file(out, key_file);
	if (rc == 1)
		return read_key_file(out, key_file);
	return rc;
}

int cairn_secret_is_sealed(const char *s)
{
	return s && strncmp(s, SEAL_PREFIX, SEAL_PREFIX_LEN) == 0;
}

static int gcm(int enc, const cairn_secret_key *key, const unsigned char *nonce,
	       const unsigned char *in, size_t inlen, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok = 0;

	if (!c || inlen > INT32_MAX)
		goto cleanup;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key->k, nonce, enc) != 1)
		goto cleanup;
	if (inlen > 0 && EVP_CipherUpdate(c, out, &len, in, (int)inlen) != 1)
		goto cleanup;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto cleanup;
	if (EVP_CipherFinal_ex(c, out + len, &len) != 1)
		goto cleanup;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto cleanup;
	ok = 1;

cleanup:
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int cairn_secret_seal(json_t **out, const cairn_secret_key *key, const json_t *v)
{
	char *plain = NULL, *text = NULL;
	unsigned char *blob = NULL;
	size_t plen = 0, blen, tlen;
	json_t *s = NULL;
	int rc = CAIRN_ENOMEM;

	plain = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!plain) {
		rc = cairn_error_set(CAIRN_EINVAL, "cannot seal a value that has no JSON form");
		goto cleanup;
	}
	plen = strlen(plain);
	blen = NONCE_LEN + plen + TAG_LEN;
	tlen = SEAL_PREFIX_LEN + 4 * ((blen + 2) / 3) + 1;
	if (!(blob = malloc(blen)) || !(text = malloc(tlen))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (RAND_bytes(blob, NONCE_LEN) != 1 ||
	    gcm(1, key, blob, (unsigned char *)plain, plen, blob + NONCE_LEN, blob + NONCE_LEN + plen) != 0) {
		rc = cairn_error_set(CAIRN_ERROR, "cannot seal a sensitive value: cipher failure");
		goto cleanup;
	}
	memcpy(text, SEAL_PREFIX, SEAL_PREFIX_LEN);
	EVP_EncodeBlock((unsigned char *)text + SEAL_PREFIX_LEN, blob, (int)blen);
	if (!(s = json_string(text))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = s;
	rc = 0;

cleanup:
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(blob);
	free(text);
	return rc;
}

int cairn_secret_unseal(json_t **out, const cairn_secret_key *key, const char *sealed)
{
	const char *b64;
	unsigned char *blob = NULL, *plain = NULL;
	size_t b64len, blen, plen = 0;
	json_t *v = NULL;
	int dec, rc;

	if (!cairn_secret_is_sealed(sealed))
		return cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value: not a sealed value");
	b64 = sealed + SEAL_PREFIX_LEN;
	b64len = strlen(b64);
	if (b64len % 4 != 0 || b64len > INT32_MAX) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value: damaged encoding");
		goto cleanup;
	}
	if (!(blob = malloc(b64len / 4 * 3 + 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	dec = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)b64len);
	if (dec < 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value: damaged encoding");
		goto cleanup;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	blen = (size_t)dec;
	if (b64len >= 1 && b64[b64len - 1] == '=')
		blen--;
	if (b64len >= 2 && b64[b64len - 2] == '=')
		blen--;
	if (blen < NONCE_LEN + TAG_LEN) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value: too short");
		goto cleanup;
	}
	plen = blen - NONCE_LEN - TAG_LEN;
	if (!(plain = malloc(plen + 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (gcm(0, key, blob, blob + NONCE_LEN, plen, plain, blob + NONCE_LEN + plen) != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value (wrong CAIRN_STATE_KEY?)");
		goto cleanup;
	}
	plain[plen] = '\0';
	if (!(v = json_loadb((const char *)plain, plen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL))) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot unseal value: not JSON inside");
		goto cleanup;
	}
	*out = v;
	rc = 0;

cleanup:
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(blob);
	return rc;
}
