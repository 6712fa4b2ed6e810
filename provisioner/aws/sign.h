/*
 * sign.h - SigV4 for AWS requests: the signer the engine installs on the
 * event loop (cairn_loop_signer), and the same signing for the one
 * synchronous request STS needs.
 *
 * Signing uses libcurl's CURLOPT_AWS_SIGV4 with CURLOPT_USERNAME /
 * CURLOPT_PASSWORD = access key / secret key (no ':' escaping issues) and
 * an x-amz-security-token header for session tokens; the body is passed as
 * POSTFIELDS so that curl hashes it into the signature, and the query of a
 * signed URL is sorted first (curl 7.88 signs it as written). https always
 * verifies peers. Secrets never appear in any error message or log line.
 *
 */
#ifndef CAIRN_AWS_SIGN_H
#define CAIRN_AWS_SIGN_H

#include "keys.h"
#include "loop/loop.h"

#include <curl/curl.h>

/* Make e sign its request to url with SigV4 for scope
 * ("aws:amz:REGION:SERVICE") with creds' key pair (borrowed: it must
 * outlive the transfer); a session token is appended to *headers. Call it
 * after CURLOPT_URL is set: for a path that SigV4 encodes twice it sets the
 * URL and the request target again. 0, or <0 with the error set. */
int cairn_aws_sign_easy(CURL *e, struct curl_slist **headers, const char *scope, const char *url,
			const cairn_aws_creds *creds);

/* One SigV4 detail to fix before signing: AWS signs the query
 * with its parameters sorted (by name, then value; "a" counts as "a="),
 * but curl 7.88 signs the query exactly as written (curl issue #9717, fixed
 * in later releases). This returns in *out (malloc'd) the URL with its
 * query in that order; the values stay as the caller encoded them, which
 * must be RFC 3986 (unreserved characters bare, others %XX upper-case). */
int cairn_aws_sort_query(const char *url, char **out);

/* Expired temporary credentials: fill *out with fresh ones (0), or fail
 * (<0, error set). */
typedef int (*cairn_aws_renew_fn)(void *ud, cairn_aws_creds *out);

/* Install on loop a signer that signs with a copy of creds (access and
 * secret key required). When a request signed with a session token is
 * answered ExpiredToken, ExpiredTokenException or RequestExpired, renew
 * (if not NULL) is called once for every request signed with the same
 * credentials, and what it gives signs from then on; after a failed
 * renewal the answers stand without asking again.
 *
 * It signs only for the environment's own endpoints: creds->endpoint and
 * `endpoints` (NULL-terminated URLs, e.g. a per-service provider.endpoint
 * map; may be NULL), compared by scheme, host and port; when there are
 * none, only AWS's (https, a host under amazonaws.com, amazonaws.com.cn
 * or api.aws). A request to any other host is refused when it is made
 * (CAIRN_EINVAL, "refusing to sign a request to ..."; the message names
 * the origin only, never a secret). */
int cairn_aws_signer_install(cairn_loop *loop, const cairn_aws_creds *creds, const char *const *endpoints,
			     cairn_aws_renew_fn renew, void *ud);

#endif
