/*
 * sshkey.h - Ed25519 keys in OpenSSH's formats, for signed approvals
 * (docs/guardrails.md): a public key line ("ssh-ed25519 AAAA... comment",
 * as in authorized_keys), an unencrypted private key file ("-----BEGIN
 * OPENSSH PRIVATE KEY-----", openssh-key-v1, as ssh-keygen writes it),
 * signing a message and checking a signature, and the key's fingerprint
 * as `ssh-keygen -l` prints it.
 *
 * libcrypto signs and verifies (EVP, Ed25519) and decodes base64; the
 * OpenSSH framing (length-prefixed strings) is read here: libcrypto does
 * not read OpenSSH's private key format, and libssh2 1.10 has no call
 * that signs arbitrary data with a key file. Only Ed25519 keys.
 */
#ifndef CAIRN_SSHKEY_H
#define CAIRN_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

#define CAIRN_ED25519_LEN 32
#define CAIRN_ED25519_SIGLEN 64
#define CAIRN_SSHKEY_FP_LEN 64 /* "SHA256:" + 43 base64 characters + NUL, rounded up */

/* The key of an OpenSSH public key line ("ssh-ed25519 BASE64 [comment]").
 * CAIRN_EINVAL with a message saying what is wrong (another key type,
 * bad base64, a blob that is not an Ed25519 key). */
int cairn_sshkey_parse_public(const char *line, unsigned char pub[CAIRN_ED25519_LEN]);

/* The Ed25519 key of the OpenSSH private key file at path: its 32-byte
 * seed (secret: the caller wipes it with OPENSSL_cleanse) and public key.
 * An encrypted key (a passphrase), another key type, or a file that is
 * not an OpenSSH private key is CAIRN_EINVAL naming path. */
int cairn_sshkey_load_private(const char *path, unsigned char seed[CAIRN_ED25519_LEN],
			      unsigned char pub[CAIRN_ED25519_LEN]);

/* sig: the Ed25519 signature of msg by the key with this seed. */
int cairn_sshkey_sign(const unsigned char seed[CAIRN_ED25519_LEN], const void *msg, size_t len,
		      unsigned char sig[CAIRN_ED25519_SIGLEN]);

/* Is sig a valid Ed25519 signature of msg by pub? */
bool cairn_sshkey_verify(const unsigned char pub[CAIRN_ED25519_LEN], const void *msg, size_t len,
			 const unsigned char sig[CAIRN_ED25519_SIGLEN]);

/* "SHA256:..." (unpadded base64 of the SHA-256 of the public key blob). */
void cairn_sshkey_fingerprint(const unsigned char pub[CAIRN_ED25519_LEN], char out[CAIRN_SSHKEY_FP_LEN]);

/* The public key line "ssh-ed25519 BASE64" (malloc'd), or NULL. */
char *cairn_sshkey_public_line(const unsigned char pub[CAIRN_ED25519_LEN]);

/* Base64 (standard alphabet, padded) of data, malloc'd; and its inverse:
 * *out malloc'd, *outlen its length; CAIRN_EINVAL when text is not base64. */
char *cairn_base64_encode(const void *data, size_t len);
int cairn_base64_decode(const char *text, size_t textlen, unsigned char **out, size_t *outlen);

#endif
