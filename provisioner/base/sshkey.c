/*
 * sshkey.c - Ed25519 keys in OpenSSH's formats (sshkey.h).
 *
 * OpenSSH's framing, as PROTOCOL.key and RFC 4253 section 6.6 describe it:
 * a public key blob is string "ssh-ed25519", string PUB (32 bytes); a
 * private key file is the base64 between the BEGIN and END lines of
 *   "openssh-key-v1\0" string ciphername string kdfname string kdfoptions
 *   uint32 nkeys (1) string publickey string private-section
 * where the private section (not encrypted: ciphername "none") is
 *   uint32 check uint32 check (equal) string "ssh-ed25519" string PUB
 *   string SEED||PUB (64 bytes) string comment padding.
 * A string is a uint32 big-endian length and that many bytes.
 */
#include "sshkey.h"
#include "buf.h"
#include "error.h"
#include "file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_TYPE "ssh-ed25519"
#define PEM_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PEM_END "-----END OPENSSH PRIVATE KEY-----"
#define MAGIC "openssh-key-v1"

char *cairn_base64_encode(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int cairn_base64_decode(const char *text, size_t textlen, unsigned char **out, size_t *outlen)
{
	unsigned char *b;
	int n;
	size_t pad = 0;

	if (textlen % 4 != 0 || textlen > (size_t)1 << 24)
		return cairn_error_set(CAIRN_EINVAL, "not base64 (its length is not a multiple of 4)");
	if (!(b = malloc(textlen / 4 * 3 + 1)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((n = EVP_DecodeBlock(b, (const unsigned char *)text, (int)textlen)) < 0) {
		free(b);
		return cairn_error_set(CAIRN_EINVAL, "not base64");
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (textlen >= 1 && text[textlen - 1] == '=')
		pad++;
	if (textlen >= 2 && text[textlen - 2] == '=')
		pad++;
	*out = b;
	*outlen = (size_t)n - pad;
	return 0;
}

/* A reader of OpenSSH's length-prefixed strings. */
typedef struct {
	const unsigned char *p;
	size_t left;
} reader;

static bool get_u32(reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool get_string(reader *r, const unsigned char **s, size_t *len)
{
	uint32_t n;

	if (!get_u32(r, &n) || n > r->left)
		return false;
	*s = r->p;
	*len = n;
	r->p += n;
	r->left -= n;
	return true;
}

static bool string_is(const unsigned char *s, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(s, want, len);
}

/* The key of a public key blob; false when it is not an Ed25519 one. */
static bool blob_key(const unsigned char *blob, size_t len, unsigned char pub[CAIRN_ED25519_LEN])
{
	reader r = { blob, len };
	const unsigned char *s, *k;
	size_t sl, kl;

	if (!get_string(&r, &s, &sl) || !string_is(s, sl, KEY_TYPE) || !get_string(&r, &k, &kl) ||
	    kl != CAIRN_ED25519_LEN || r.left != 0)
		return false;
	memcpy(pub, k, CAIRN_ED25519_LEN);
	return true;
}

/* The public key blob of pub (51 bytes). */
static size_t make_blob(const unsigned char pub[CAIRN_ED25519_LEN], unsigned char out[64])
{
	size_t n = strlen(KEY_TYPE);

	out[0] = out[1] = out[2] = 0;
	out[3] = (unsigned char)n;
	memcpy(out + 4, KEY_TYPE, n);
	out[4 + n] = out[5 + n] = out[6 + n] = 0;
	out[7 + n] = CAIRN_ED25519_LEN;
	memcpy(out + 8 + n, pub, CAIRN_ED25519_LEN);
	return 8 + n + CAIRN_ED25519_LEN;
}

int cairn_sshkey_parse_public(const char *line, unsigned char pub[CAIRN_ED25519_LEN])
{
	size_t tl = strlen(KEY_TYPE), bl;
	const char *b64;
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc;

	if (strncmp(line, KEY_TYPE, tl) != 0 || (line[tl] != ' ' && line[tl] != '\t')) {
		size_t n = strcspn(line, " \t");

		return cairn_error_set(CAIRN_EINVAL, "not an Ed25519 public key: it starts with '%.*s', not "
				       "'ssh-ed25519' (only Ed25519 keys sign approvals)", (int)(n > 40 ? 40 : n), line);
	}
	b64 = line + tl + strspn(line + tl, " \t");
	bl = strcspn(b64, " \t\r\n");
	if ((rc = cairn_base64_decode(b64, bl, &blob, &len)) != 0) {
		cairn_error_prefix("not an OpenSSH public key (ssh-ed25519 BASE64)");
		return rc;
	}
	rc = blob_key(blob, len, pub) ? 0 : cairn_error_set(CAIRN_EINVAL, "not an OpenSSH public key: its "
				"base64 does not hold an Ed25519 key");
	free(blob);
	return rc;
}

/* The base64 between the armour lines of an OpenSSH private key file. */
static int pem_body(const cairn_buf *text, cairn_buf *b64)
{
	const char *s = cairn_buf_cstr(text), *begin = strstr(s, PEM_BEGIN), *end;

	if (!begin || !(end = strstr(begin, PEM_END)))
		return CAIRN_EINVAL;
	for (s = begin + strlen(PEM_BEGIN); s < end; s++)
		if (*s != '\n' && *s != '\r' && *s != ' ' && *s != '\t' && cairn_buf_putc(b64, *s) != 0)
			return CAIRN_ENOMEM;
	return 0;
}

int cairn_sshkey_load_private(const char *path, unsigned char seed[CAIRN_ED25519_LEN],
			      unsigned char pub[CAIRN_ED25519_LEN])
{
	cairn_buf text = CAIRN_BUF_INIT, b64 = CAIRN_BUF_INIT;
	unsigned char *raw = NULL, blobpub[CAIRN_ED25519_LEN];
	size_t rawlen = 0, sl, kl, pl;
	const unsigned char *s, *k, *priv;
	uint32_t nkeys, c1, c2;
	reader r, sec;
	int rc;

	if ((rc = cairn_file_read(&text, path, "key file")) != 0)
		goto cleanup;
	if ((rc = pem_body(&text, &b64)) != 0 ||
	    (rc = cairn_base64_decode(cairn_buf_cstr(&b64), b64.len, &raw, &rawlen)) != 0) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE "
				     "KEY-----, as ssh-keygen -t ed25519 writes it)", path);
		goto cleanup;
	}
	r = (reader){ raw, rawlen };
	if (rawlen < sizeof(MAGIC) || memcmp(raw, MAGIC, sizeof(MAGIC)) != 0) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s is not an OpenSSH private key (no openssh-key-v1 header)", path);
		goto cleanup;
	}
	r.p += sizeof(MAGIC);
	r.left -= sizeof(MAGIC);
	if (!get_string(&r, &s, &sl)) /* ciphername */
		goto malformed;
	if (!string_is(s, sl, "none")) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s is encrypted (it has a passphrase), which cairn cannot read: "
				     "sign with a key without one (ssh-keygen -t ed25519 -N '')", path);
		goto cleanup;
	}
	if (!get_string(&r, &s, &sl) || !get_string(&r, &s, &sl) || !get_u32(&r, &nkeys) || nkeys != 1 ||
	    !get_string(&r, &k, &kl)) /* kdfname, kdfoptions, nkeys, public key */
		goto malformed;
	if (!blob_key(k, kl, blobpub)) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s is not an Ed25519 key (only Ed25519 keys sign approvals: "
				     "ssh-keygen -t ed25519)", path);
		goto cleanup;
	}
	if (!get_string(&r, &s, &sl))
		goto malformed;
	sec = (reader){ s, sl };
	if (!get_u32(&sec, &c1) || !get_u32(&sec, &c2) || c1 != c2 || !get_string(&sec, &s, &sl) ||
	    !string_is(s, sl, KEY_TYPE) || !get_string(&sec, &k, &kl) || kl != CAIRN_ED25519_LEN ||
	    !get_string(&sec, &priv, &pl) || pl != 2 * CAIRN_ED25519_LEN ||
	    memcmp(k, blobpub, CAIRN_ED25519_LEN) != 0 || memcmp(priv + CAIRN_ED25519_LEN, k, CAIRN_ED25519_LEN) != 0)
		goto malformed;
	{
		/* the seed must give the public key the file names */
		EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, CAIRN_ED25519_LEN);
		unsigned char derived[CAIRN_ED25519_LEN];
		size_t dl = sizeof(derived);

		if (!pk || EVP_PKEY_get_raw_public_key(pk, derived, &dl) != 1 || dl != CAIRN_ED25519_LEN ||
		    memcmp(derived, k, CAIRN_ED25519_LEN) != 0) {
			EVP_PKEY_free(pk);
			goto malformed;
		}
		EVP_PKEY_free(pk);
	}
	memcpy(seed, priv, CAIRN_ED25519_LEN);
	memcpy(pub, k, CAIRN_ED25519_LEN);
	rc = 0;
	goto cleanup;
malformed:
	rc = cairn_error_set(CAIRN_EINVAL, "%s is not a well-formed OpenSSH Ed25519 private key", path);
cleanup:
	if (raw)
		OPENSSL_cleanse(raw, rawlen);
	free(raw);
	if (text.ptr)
		OPENSSL_cleanse(text.ptr, text.len);
	if (b64.ptr)
		OPENSSL_cleanse(b64.ptr, b64.len);
	cairn_buf_release(&text);
	cairn_buf_release(&b64);
	return rc;
}

int cairn_sshkey_sign(const unsigned char seed[CAIRN_ED25519_LEN], const void *msg, size_t len,
		      unsigned char sig[CAIRN_ED25519_SIGLEN])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CAIRN_ED25519_LEN);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t sl = CAIRN_ED25519_SIGLEN;
	int rc = 0;

	if (!pk || !md || EVP_DigestSignInit(md, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(md, sig, &sl, msg, len) != 1 || sl != CAIRN_ED25519_SIGLEN)
		rc = cairn_error_set(CAIRN_ERROR, "cannot sign with the Ed25519 key (libcrypto failed)");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return rc;
}

bool cairn_sshkey_verify(const unsigned char pub[CAIRN_ED25519_LEN], const void *msg, size_t len,
			 const unsigned char sig[CAIRN_ED25519_SIGLEN])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, CAIRN_ED25519_LEN);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
		  EVP_DigestVerify(md, sig, CAIRN_ED25519_SIGLEN, msg, len) == 1;

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return ok;
}

void cairn_sshkey_fingerprint(const unsigned char pub[CAIRN_ED25519_LEN], char out[CAIRN_SSHKEY_FP_LEN])
{
	unsigned char blob[64], dig[32];
	unsigned int n = 0;
	char b64[48];
	size_t len = make_blob(pub, blob), i;

	EVP_Digest(blob, len, dig, &n, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, dig, 32);
	for (i = strlen(b64); i > 0 && b64[i - 1] == '='; i--)
		b64[i - 1] = '\0';
	snprintf(out, CAIRN_SSHKEY_FP_LEN, "SHA256:%s", b64);
}

char *cairn_sshkey_public_line(const unsigned char pub[CAIRN_ED25519_LEN])
{
	unsigned char blob[64];
	char *b64 = cairn_base64_encode(blob, make_blob(pub, blob)), *line = NULL;

	if (b64 && asprintf(&line, "%s %s", KEY_TYPE, b64) < 0)
		line = NULL;
	free(b64);
	return line;
}
