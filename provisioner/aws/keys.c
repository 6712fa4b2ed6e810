/*
 * keys.c - an AWS key pair as a value (keys.h): copied, and released with
 * its secrets zeroed first.
 */
#include "keys.h"

#include <stdlib.h>
#include <string.h>

static int dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

void cairn_aws_creds_release(cairn_aws_creds *c)
{
	if (!c)
		return;
	if (c->secret_key)
		memset(c->secret_key, 0, strlen(c->secret_key));
	if (c->session_token)
		memset(c->session_token, 0, strlen(c->session_token));
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	free(c->region);
	free(c->endpoint);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

int cairn_aws_creds_copy(cairn_aws_creds *out, const cairn_aws_creds *src)
{
	cairn_aws_creds c = { 0 };
	int rc;

	if ((rc = dup_opt(&c.access_key, src->access_key)) < 0 ||
	    (rc = dup_opt(&c.secret_key, src->secret_key)) < 0 ||
	    (rc = dup_opt(&c.session_token, src->session_token)) < 0 ||
	    (rc = dup_opt(&c.region, src->region)) < 0 ||
	    (rc = dup_opt(&c.endpoint, src->endpoint)) < 0 ||
	    (rc = dup_opt(&c.source, src->source)) < 0) {
		cairn_aws_creds_release(&c);
		return rc;
	}
	*out = c;
	return 0;
}

