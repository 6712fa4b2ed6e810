/*
 * creds.h - the AWS credential chain: where every AWS tool looks for keys,
 * in botocore's order (creds.c). It may call STS (sts.h) to assume a role;
 * STS never calls back into the chain.
 *
 * Folder provisioner/aws/: the AWS provider's own C: keys (keys.h), the
 * credential chain (creds.h), STS (sts.h) and the SigV4 signer installed on
 * the loop (sign.h). May use loop/ and base/. The chain calls STS and the
 * signer; STS uses the signer and keys, never the chain.
 */
#ifndef CAIRN_AWS_CREDS_H
#define CAIRN_AWS_CREDS_H

#include "keys.h"

/* Resolve AWS credentials the way every AWS tool does: AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; else profile (argument, else
 * AWS_PROFILE, else "default") from AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials, and AWS_CONFIG_FILE or ~/.aws/config ([profile NAME]
 * sections; role_arn with source_profile or credential_source (an STS
 * AssumeRole call, made here, synchronously), static keys,
 * credential_process, region, endpoint_url; see creds.c for the
 * order). Region: argument, else AWS_REGION,
 * AWS_DEFAULT_REGION, profile's region. Endpoint: argument, else
 * AWS_ENDPOINT_URL, profile's endpoint_url. Any argument may be NULL. */
int cairn_aws_creds_resolve(cairn_aws_creds *out, const char *profile, const char *region, const char *endpoint);

#endif
