/*
 * sts.c - the simulated AWS STS (Query API version 2011-06-15):
 * AssumeRole, which hands out temporary credentials, and
 * GetCallerIdentity, which says whose key signed a request.
 *
 * It also owns the temporary credentials (the sessions): an in-memory
 * table with its own lock, because the server looks keys up there for
 * every request of every service (server.c, check_auth) outside the store
 * lock, on several threads. A temporary key is accepted only with its
 * X-Amz-Security-Token, and until its expiry; after that it is answered
 * as AWS answers an expired token. Sessions do not survive a restart and
 * are not part of the cloud's state (POST /_sim/reset keeps them); POST
 * /_sim/sts/expire makes every one of them expire at once, for tests.
 *
 * The sim has no IAM: any well-formed role ARN can be assumed, by any
 * caller, in any account; long-term keys belong to the account's root.
 */
#include "sim_internal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sessions kept at most; past that, expired ones go first, then the oldest. */
#define SESSIONS_MAX 10000

typedef struct session {
	char access_key[24];   /* "ASIA" + 16 */
	char secret_key[48];
	char token[200];
	char account[16];
	char arn[512];         /* arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION */
	char user_id[128];     /* AROA...:SESSION */
	double expires;
} session;

struct cairn_sim_sessions {
	pthread_mutex_t lock;  /* guards v */
	session *v;
	size_t n, alloc;
};

/* ---- the session table ------------------------------------------------------ */

int cairn_sim_sessions_new(cairn_sim_sessions **out)
{
	cairn_sim_sessions *s = calloc(1, sizeof(*s));

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void cairn_sim_sessions_free(cairn_sim_sessions *s)
{
	if (!s)
		return;
	if (s->v)
		OPENSSL_cleanse(s->v, s->alloc * sizeof(*s->v));
	free(s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* With the lock held: drop one session to make room. */
static void make_room(cairn_sim_sessions *s, double now)
{
	size_t i, victim = 0;

	for (i = 0; i < s->n; i++)
		if (s->v[i].expires < now) {
			victim = i;
			break;
		}
	OPENSSL_cleanse(&s->v[victim], sizeof(s->v[victim]));
	memmove(&s->v[victim], &s->v[victim + 1], (s->n - victim - 1) * sizeof(*s->v));
	s->n--;
}

static int sessions_add(cairn_sim_sessions *s, const session *one, double now)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->n == SESSIONS_MAX)
		make_room(s, now);
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 16;
		session *v = malloc(alloc * sizeof(*v));

		if (!v) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto unlock;
		}
		if (s->n) {
			memcpy(v, s->v, s->n * sizeof(*v));
			OPENSSL_cleanse(s->v, s->alloc * sizeof(*s->v));
		}
		free(s->v);
		s->v = v;
		s->alloc = alloc;
	}
	s->v[s->n++] = *one;
unlock:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static session *find(cairn_sim_sessions *s, const char *access_key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].access_key, access_key) == 0)
			return &s->v[i];
	return NULL;
}

int cairn_sim_sessions_check(cairn_sim_sessions *s, const char *access_key, const char *token, double now,
	char *secret, size_t size)
{
	const session *one;
	int result;

	if (!s)
		return CAIRN_SIM_AUTH_UNKNOWN_KEY;
	pthread_mutex_lock(&s->lock);
	one = find(s, access_key);
	if (!one || !token || strcmp(one->token, token) != 0) {
		result = CAIRN_SIM_AUTH_UNKNOWN_KEY;
	} else if (one->expires <= now) {
		result = CAIRN_SIM_AUTH_TOKEN_EXPIRED;
	} else {
		snprintf(secret, size, "%s", one->secret_key);
		result = CAIRN_SIM_AUTH_OK;
	}
	pthread_mutex_unlock(&s->lock);
	return result;
}

size_t cairn_sim_sessions_expire_all(cairn_sim_sessions *s)
{
	double now = cairn_sim_now();
	size_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++)
		if (s->v[i].expires > now) {
			s->v[i].expires = now;
			n++;
		}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* The identity of a temporary key into out (0), or CAIRN_ENOTFOUND. */
static int session_identity(cairn_sim_sessions *s, const char *access_key, session *out)
{
	const session *one;

	pthread_mutex_lock(&s->lock);
	one = find(s, access_key);
	if (one) {
		*out = *one;
		OPENSSL_cleanse(out->secret_key, sizeof(out->secret_key));
		OPENSSL_cleanse(out->token, sizeof(out->token));
	}
	pthread_mutex_unlock(&s->lock);
	return one ? 0 : CAIRN_ENOTFOUND;
}

/* Was req signed with temporary credentials? */
static int is_session(cairn_sim_req *req)
{
	session one;
	int found = req->access_key && req->sim->sessions &&
		session_identity(req->sim->sessions, req->access_key, &one) == 0;

	OPENSSL_cleanse(&one, sizeof(one));
	return found;
}

/* ---- new credentials --------------------------------------------------------- */

/* n random characters of alphabet into out (n + 1 bytes). */
static int random_chars(char *out, size_t n, const char *alphabet)
{
	unsigned char raw[128];
	size_t i, k = strlen(alphabet);

	if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
		return cairn_error_set(CAIRN_ERROR, "cannot get random bytes");
	for (i = 0; i < n; i++)
		out[i] = alphabet[raw[i] % k];
	out[n] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* Base64 of n random bytes into out. */
static int random_base64(char *out, size_t size, size_t n)
{
	unsigned char raw[128];

	if (n > sizeof(raw) || (n + 2) / 3 * 4 + 1 > size || RAND_bytes(raw, (int)n) != 1)
		return cairn_error_set(CAIRN_ERROR, "cannot get random bytes");
	EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* "AROA" and 17 characters, the same for the same role ARN (AWS's role ids
 * are stable). */
static void role_id(char out[24], const char *role_arn)
{
	char hex[65];
	size_t i;

	cairn_sim_sha256_hex(hex, role_arn, strlen(role_arn));
	memcpy(out, "AROA", 4);
	for (i = 0; i < 17; i++)
		out[4 + i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	out[21] = '\0';
}

/* ---- parameters --------------------------------------------------------------- */

static int name_chars(const char *s, size_t n, const char *extra)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      strchr(extra, c)))
			return 0;
	}
	return 1;
}

static int validation(cairn_sim_req *req, const char *value, const char *member, const char *constraint)
{
	if (!value)
		return cairn_sim_fail(req, 400, "ValidationError", "1 validation error detected: Value null at '%s' "
			"failed to satisfy constraint: Member must not be null", member);
	return cairn_sim_fail(req, 400, "ValidationError", "1 validation error detected: Value '%.256s' at '%s' "
		"failed to satisfy constraint: %s", value, member, constraint);
}

/* arn:aws:iam::<12 digits>:role/<path/>*<name>: the account and the name
 * (the last segment) into out. */
static int role_arn(cairn_sim_req *req, const char *arn, char account[16], char name[72])
{
	static const char prefix[] = "arn:aws:iam::";
	const char *p, *seg, *last = NULL;
	size_t n;

	if (!arn || strncmp(arn, prefix, sizeof(prefix) - 1) != 0)
		goto bad;
	p = arn + sizeof(prefix) - 1;
	if (strspn(p, "0123456789") != 12 || strncmp(p + 12, ":role/", 6) != 0)
		goto bad;
	memcpy(account, p, 12);
	account[12] = '\0';
	for (seg = p + 18; *seg; seg += n + (seg[n] == '/')) {
		n = strcspn(seg, "/");
		if (n == 0 || n > 64 || !name_chars(seg, n, "+=,.@-"))
			goto bad;
		last = seg;
	}
	if (!last || arn[strlen(arn) - 1] == '/')
		goto bad;
	snprintf(name, 72, "%s", last);
	return 0;
bad:
	return validation(req, arn, "roleArn", "Member must be the ARN of an IAM role: "
		"arn:aws:iam::<12-digit account>:role/<name>");
}

static int duration(cairn_sim_req *req, long *out)
{
	const char *v = cairn_sim_form_get(req->form, "DurationSeconds");
	long long n;

	*out = 3600;
	if (!v)
		return 0;
	if (cairn_sim_parse_integer(v, &n) != 0)
		return validation(req, v, "durationSeconds", "Member must be a whole number of seconds");
	if (n < 900)
		return validation(req, v, "durationSeconds", "Member must have value greater than or equal to 900");
	if (n > 43200)
		return validation(req, v, "durationSeconds", "Member must have value less than or equal to 43200");
	*out = (long)n;
	return 0;
}

/* ---- actions -------------------------------------------------------------------- */

static int check_assume_role(cairn_sim_req *req, char account[16], char name[72], long *secs)
{
	const char *arn = cairn_sim_form_get(req->form, "RoleArn");
	const char *sname = cairn_sim_form_get(req->form, "RoleSessionName");
	const char *ext = cairn_sim_form_get(req->form, "ExternalId");
	size_t n;
	int rc;

	if ((rc = role_arn(req, arn, account, name)) != 0)
		return rc;
	if (!sname)
		return validation(req, NULL, "roleSessionName", NULL);
	n = strlen(sname);
	if (n < 2 || n > 64 || !name_chars(sname, n, "+=,.@-"))
		return validation(req, sname, "roleSessionName", "Member must have length from 2 to 64 and "
			"satisfy regular expression pattern: [\\w+=,.@-]*");
	if (ext && (strlen(ext) < 2 || strlen(ext) > 1224 || !name_chars(ext, strlen(ext), "+=,.@:/-")))
		return validation(req, ext, "externalId", "Member must have length from 2 to 1224 and "
			"satisfy regular expression pattern: [\\w+=,.@:\\/-]*");
	if ((rc = duration(req, secs)) != 0)
		return rc;
	/* role chaining: a role assumed with temporary credentials lasts an hour at most */
	if (*secs > 3600 && is_session(req))
		return cairn_sim_fail(req, 400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour "
			"session limit for roles assumed by role chaining.");
	return 0;
}

static int assume_role(cairn_sim_req *req)
{
	const char *sname = cairn_sim_form_get(req->form, "RoleSessionName");
	char account[16], name[72], rid[24], when[32];
	session one;
	double now = cairn_sim_now();
	long secs = 3600;
	int rc;

	memset(&one, 0, sizeof(one));
	if ((rc = check_assume_role(req, account, name, &secs)) != 0)
		return rc;
	memcpy(one.access_key, "ASIA", 4);
	role_id(rid, cairn_sim_form_get(req->form, "RoleArn"));
	if ((rc = random_chars(one.access_key + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")) != 0 ||
	    (rc = random_base64(one.secret_key, sizeof(one.secret_key), 30)) != 0 ||
	    (rc = random_base64(one.token, sizeof(one.token), 120)) != 0)
		goto cleanup;
	snprintf(one.account, sizeof(one.account), "%s", account);
	snprintf(one.arn, sizeof(one.arn), "arn:aws:sts::%s:assumed-role/%s/%s", account, name, sname);
	snprintf(one.user_id, sizeof(one.user_id), "%s:%s", rid, sname);
	one.expires = now + (double)secs;
	if ((rc = sessions_add(req->sim->sessions, &one, now)) != 0)
		goto cleanup;
	cairn_sim_iso_time(when, one.expires);
	cairn_sim_xml_open(&req->xml, "AssumedRoleUser");
	cairn_sim_xml_elem(&req->xml, "Arn", one.arn);
	cairn_sim_xml_elem(&req->xml, "AssumedRoleId", one.user_id);
	cairn_sim_xml_close(&req->xml, "AssumedRoleUser");
	cairn_sim_xml_open(&req->xml, "Credentials");
	cairn_sim_xml_elem(&req->xml, "AccessKeyId", one.access_key);
	cairn_sim_xml_elem(&req->xml, "SecretAccessKey", one.secret_key);
	cairn_sim_xml_elem(&req->xml, "SessionToken", one.token);
	cairn_sim_xml_elem(&req->xml, "Expiration", when);
	cairn_sim_xml_close(&req->xml, "Credentials");
cleanup:
	OPENSSL_cleanse(&one, sizeof(one));
	return rc;
}

static int get_caller_identity(cairn_sim_req *req)
{
	const char *account = req->sim->opt.account_id;
	session one;
	char arn[64];

	memset(&one, 0, sizeof(one));
	if (req->access_key && req->sim->sessions &&
	    session_identity(req->sim->sessions, req->access_key, &one) == 0) {
		cairn_sim_xml_elem(&req->xml, "Arn", one.arn);
		cairn_sim_xml_elem(&req->xml, "UserId", one.user_id);
		cairn_sim_xml_elem(&req->xml, "Account", one.account);
		return 0;
	}
	/* the sim's long-term keys are the account's root keys */
	snprintf(arn, sizeof(arn), "arn:aws:iam::%s:root", account);
	cairn_sim_xml_elem(&req->xml, "Arn", arn);
	cairn_sim_xml_elem(&req->xml, "UserId", account);
	cairn_sim_xml_elem(&req->xml, "Account", account);
	return 0;
}

static const char *const assume_role_params[] = {
	"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId", "Policy", "PolicyArns", "Tags",
	"TransitiveTagKeys", "SerialNumber", "TokenCode", "SourceIdentity", "ProvidedContexts", NULL,
};
static const char *const no_params[] = { NULL };

static const cairn_sim_action actions[] = {
	{ "AssumeRole", NULL, NULL, assume_role, CAIRN_SIM_READ, assume_role_params },
	{ "GetCallerIdentity", NULL, NULL, get_caller_identity, CAIRN_SIM_READ, no_params },
};

const cairn_sim_service cairn_sim_sts_service = {
	.name = "sts", .protocol = CAIRN_SIM_PROTO_QUERY,
	.version = "2011-06-15", .xmlns = "https://sts.amazonaws.com/doc/2011-06-15/",
	.actions = actions, .n_actions = sizeof(actions) / sizeof(actions[0]),
	.throttle_code = "Throttling", .throttle_status = 400,
	.throttle_message = "Rate exceeded",
	.internal_code = "InternalFailure",
};
