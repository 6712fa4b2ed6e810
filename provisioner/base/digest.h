/*
 * digest.h - SHA-256 of a byte range, with libcrypto's implementation
 * fetched once (EVP_MD_fetch) rather than at each call: cairn drift hashes
 * every object it reads and every state row (read marks).
 */
#ifndef CAIRN_DIGEST_H
#define CAIRN_DIGEST_H

#include <stddef.h>

/* out: 32 bytes. 0, or -1 when libcrypto fails (out is then zeroed). */
int cairn_sha256(const void *p, size_t n, unsigned char out[32]);
/* Of p[0..n) followed by q[0..m) (m may be 0). */
int cairn_sha256_2(const void *p, size_t n, const void *q, size_t m, unsigned char out[32]);
/* The same, as 64 lowercase hex digits and a NUL. */
int cairn_sha256_hex(const void *p, size_t n, char out[65]);
/* An answer's digest: of its bytes less its request id's element
 * (<requestId> near the start for EC2, <RequestId> near the end for RDS and
 * ElastiCache), which is the only part of an answer that differs between
 * two reads of the same objects. 64 hex digits and a NUL. */
int cairn_answer_digest(const char *s, size_t len, char out[65]);
/* The same digest of an answer that arrives in pieces, without keeping
 * it: the first bytes are held until the request id's place is known, and
 * then (when it is not near the start) the last 512, where RDS puts it.
 * new: NULL when out of memory; end writes the digest and frees (0, or -1
 * when libcrypto fails); free alone abandons it. */
typedef struct cairn_answer_hasher cairn_answer_hasher;
cairn_answer_hasher *cairn_answer_hasher_new(void);
int cairn_answer_hasher_add(cairn_answer_hasher *h, const void *p, size_t n);
int cairn_answer_hasher_end(cairn_answer_hasher *h, char out[65]);
void cairn_answer_hasher_free(cairn_answer_hasher *h);
/* 32 bytes as 64 hex digits and a NUL. */
void cairn_hex32(const unsigned char d[32], char out[65]);

#endif
