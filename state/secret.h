/*
 * secret.h - sealing sensitive values at rest (AES-256-GCM, libcrypto).
 *
 * A sealed value is the string "cairn:v1:" + base64(nonce || ciphertext ||
 * tag) of the JSON encoding of the value. The key is 32 bytes: from
 * $CAIRN_STATE_KEY (64 hex digits, or any other text hashed with SHA-256),
 * or from a key file created 0600 with random bytes.
 */
#ifndef CAIRN_SECRET_H
#define CAIRN_SECRET_H

#include "base/error.h"
#include "base/value.h"

typedef struct cairn_secret_key {
	unsigned char k[32];
} cairn_secret_key;

/* Load the key: $CAIRN_STATE_KEY if set, else key_file (created if missing
 * and `create` is true). */
int cairn_secret_key_load(cairn_secret_key *out, const char *key_file, int create);
/* Seal v into a new string reference. */
int cairn_secret_seal(json_t **out, const cairn_secret_key *key, const json_t *v);
/* Unseal; CAIRN_ECORRUPT if the tag does not verify (wrong key). */
int cairn_secret_unseal(json_t **out, const cairn_secret_key *key, const char *sealed);
int cairn_secret_is_sealed(const char *s);

#endif
