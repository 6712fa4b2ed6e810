/*
 * sts.h - one STS AssumeRole call, for profiles that assume a role
 * (creds.c). Internal to aws/ and its tests. It uses keys.h and sign.h,
 * never the credential chain.
 *
 * The call is a synchronous libcurl request, made once when an engine
 * opens (before the event loop runs): AWS's Query protocol, a form POST
 * signed with SigV4 by libcurl, TLS peers always verified, and a few more
 * attempts after a throttling answer, a 5xx or a connection failure. The
 * answer is read with expat. Secrets never appear in a message, and the
 * buffers that held them are zeroed.
 */
#ifndef CAIRN_AWSSTS_H
#define CAIRN_AWSSTS_H

#include "keys.h"

/* What to ask STS for. Every string is borrowed. */
typedef struct cairn_sts_role {
	const char *profile;      /* the profile naming the role, for messages */
	const char *role_arn;
	const char *session_name; /* RoleSessionName */
	const char *external_id;  /* NULL: none */
	long duration;            /* DurationSeconds */
	const char *region;       /* signing region and regional endpoint; NULL: us-east-1, global endpoint */
	const char *endpoint;     /* NULL: AWS's STS endpoint (see cairn_sts_url) */
} cairn_sts_role;

/* The URL STS is called at: AWS_ENDPOINT_URL_STS, else endpoint (a
 * resolved AWS_ENDPOINT_URL or endpoint_url: every service at one place,
 * such as cairn sim), else https://sts.REGION.amazonaws.com/, or
 * https://sts.amazonaws.com/ when region is NULL. *out is malloc'd. */
int cairn_sts_url(char **out, const char *endpoint, const char *region);

/* Call AssumeRole for role, signed with source's keys (and its session
 * token, if any). On success out->access_key, secret_key and
 * session_token are set (the other members are left alone) and
 * *ret_expiration is the credentials' Expiration as STS wrote it
 * (malloc'd). On failure: CAIRN_EREMOTE when STS answered with an error
 * (the message names the profile, the role and STS's code and message),
 * CAIRN_EIO when it could not be reached or its answer not read. */
int cairn_sts_assume_role(cairn_aws_creds *out, char **ret_expiration, const cairn_aws_creds *source,
			  const cairn_sts_role *role);

/* Read an AssumeRole answer (HTTP status and body), as
 * cairn_sts_assume_role does; exposed for the unit tests. */
int cairn_sts_read_answer(cairn_aws_creds *out, char **ret_expiration, long status, const char *body,
			  size_t len, const cairn_sts_role *role);

#endif
