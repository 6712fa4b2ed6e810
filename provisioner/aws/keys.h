/*
 * keys.h - an AWS key pair and where it points: the value the credential
 * chain (creds.h) produces, STS (sts.h) returns and the signer (sign.h)
 * signs with. Nothing here reads files or calls anything.
 */
#ifndef CAIRN_AWS_KEYS_H
#define CAIRN_AWS_KEYS_H

#include "base/error.h"

/* The documented test key pair that `cairn sim` accepts by default. */
#define CAIRN_SIM_ACCESS_KEY "AKIDCAIRNSIMEXAMPLE"
#define CAIRN_SIM_SECRET_KEY "cairn-sim-secret-key-do-not-use-in-prod"

typedef struct cairn_aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* may be NULL */
	char *region;        /* may be NULL */
	char *endpoint;      /* may be NULL: AWS's own endpoints */
	char *source;        /* where they came from: "env", "profile NAME", ... (never the secret) */
} cairn_aws_creds;

/* Zero the secrets, free every member, leave *c all NULL (NULL is fine). */
void cairn_aws_creds_release(cairn_aws_creds *c);
/* Deep copy of src into out (released first by the caller if needed). */
int cairn_aws_creds_copy(cairn_aws_creds *out, const cairn_aws_creds *src);

#endif
