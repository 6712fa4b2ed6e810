/*
 * hostkey.c - is this the host we mean? The key a host offers in the
 * handshake, checked against OpenSSH's known_hosts (libssh2_knownhost_*:
 * plain and hashed entries, "[host]:port") and against the key recorded
 * when it was first accepted. Strict, as OpenSSH's StrictHostKeyChecking:
 * a changed key is always refused, naming both fingerprints; an unknown
 * one is refused unless the run accepts new keys (see ssh.h).
 */
#include "ssh_int.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

void cairn_ssh_fingerprint(const unsigned char *blob, size_t len, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char b64[64];
	int n;

	snprintf(out, outlen, "SHA256:?");
	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	n = EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	snprintf(out, outlen, "SHA256:%s", b64);
}

/* The algorithm name a key blob starts with ("ssh-ed25519"). */
static void blob_type(const unsigned char *blob, size_t len, char *out, size_t n)
{
	uint32_t l;

	snprintf(out, n, "unknown");
	if (len < 4)
		return;
	l = ((uint32_t)blob[0] << 24) | ((uint32_t)blob[1] << 16) | ((uint32_t)blob[2] << 8) | blob[3];
	if (l == 0 || l > len - 4 || l >= n)
		return;
	memcpy(out, blob + 4, l);
	out[l] = '\0';
}

static int knownhost_type(const char *t)
{
	if (!strcmp(t, "ssh-rsa"))
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	if (!strcmp(t, "ssh-dss"))
		return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	if (!strcmp(t, "ecdsa-sha2-nistp256"))
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	if (!strcmp(t, "ecdsa-sha2-nistp384"))
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	if (!strcmp(t, "ecdsa-sha2-nistp521"))
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	if (!strcmp(t, "ssh-ed25519"))
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
}

/* The fingerprint of a base64 key (a known_hosts or recorded entry). */
static void b64_fingerprint(const char *b64, char *out, size_t n)
{
	cairn_buf raw = CAIRN_BUF_INIT;

	if (cairn_ssh__unb64(&raw, b64, strlen(b64)) == 0)
		cairn_ssh_fingerprint((const unsigned char *)raw.ptr, raw.len, out, n);
	else
		snprintf(out, n, "(unreadable key)");
	cairn_buf_release(&raw);
}

/* The known_hosts file of the host: "known_hosts" (a path, "" for none),
 * else ~/.ssh/known_hosts. Writes the path into buf; NULL when none. */
static const char *known_hosts_path(const sess *s, char *buf, size_t n)
{
	json_t *k = json_object_get(s->host, "known_hosts");
	const char *home;

	if (json_is_string(k)) {
		if (!*json_string_value(k))
			return NULL;
		snprintf(buf, n, "%s", json_string_value(k));
		return buf;
	}
	home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return NULL;
	snprintf(buf, n, "%s/.ssh/known_hosts", home);
	return buf;
}

const char *cairn_ssh__hostkey_prefs(const sess *s, char *buf, size_t n)
{
	/* OpenSSH's order, so that the key offered is the one its users keep */
	static const char order[] = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
				    "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
	const char *rec = json_string_value(json_object_get(s->host, "host_key"));
	size_t len = 0;

	if (rec) {
		while (rec[len] && rec[len] != ' ')
			len++;
		if (len && len < 64 && knownhost_type(rec) != LIBSSH2_KNOWNHOST_KEY_UNKNOWN) {
			/* the recorded key's algorithm first: the host offers what we know */
			snprintf(buf, n, "%.*s,%s", (int)len, rec, order);
			return buf;
		}
	}
	return order;
}

static int refuse(char **msg, const char **code, const char *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char **msg, const char **code, const char *c, const char *fmt, ...)
{
	cairn_buf b = CAIRN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cairn_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	*msg = cairn_buf_detach(&b);
	*code = c;
	return -1;
}

static void remember(sess *s, const char *type, const char *b64, const char *fp, const char *source)
{
	free(s->key_type);
	free(s->key_b64);
	free(s->fingerprint);
	free(s->key_source);
	s->key_type = strdup(type);
	s->key_b64 = strdup(b64);
	s->fingerprint = strdup(fp);
	s->key_source = strdup(source);
}

/* known_hosts: 1 match, 0 not found, -1 refused (msg set). */
static int check_known_hosts(sess *s, const char *path, const unsigned char *blob, size_t len, const char *type,
			     const char *fp, char **msg, const char **code)
{
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *found = NULL;
	struct stat st;
	char oldfp[80], target[300];
	int r, rc = 0;

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return refuse(msg, code, "hostkey", "host key verification failed: cannot read %s: %s", path,
			      strerror(errno));
	}
	if (!(kh = libssh2_knownhost_init(s->ssh)))
		return refuse(msg, code, "failure", "host key verification failed: out of memory");
	if (libssh2_knownhost_readfile(kh, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		rc = refuse(msg, code, "hostkey", "host key verification failed: cannot read %s: %s", path,
			    cairn_ssh__lasterr(s));
		goto cleanup;
	}
	r = libssh2_knownhost_checkp(kh, s->address, s->port, (const char *)blob, len,
				     LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_type(type),
				     &found);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = 1;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		rc = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		b64_fingerprint(found && found->key ? found->key : "", oldfp, sizeof(oldfp));
		if (s->port == SSH_DEFAULT_PORT)
			snprintf(target, sizeof(target), "%s", s->address);
		else
			snprintf(target, sizeof(target), "[%s]:%d", s->address, s->port);
		rc = refuse(msg, code, "hostkey", "host key verification failed: the host key has CHANGED (this may be "
			    "an attack): %s has %s, the host now offers %s (%s); if the change is expected, remove "
			    "the old key (ssh-keygen -R '%s' -f %s) and run again", path, oldfp, fp, type, target, path);
		break;
	default:
		rc = refuse(msg, code, "hostkey", "host key verification failed: cannot check %s: %s", path,
			    cairn_ssh__lasterr(s));
	}
cleanup:
	libssh2_knownhost_free(kh);
	return rc;
}

int cairn_ssh__check_hostkey(sess *s, char **msg, const char **code)
{
	const char *rec = json_string_value(json_object_get(s->host, "host_key"));
	const unsigned char *blob;
	char type[64], fp[80], recfp[80], pathbuf[4096];
	const char *path;
	char *b64 = NULL;
	size_t len = 0;
	int ktype = 0, rc;

	*msg = NULL;
	blob = (const unsigned char *)libssh2_session_hostkey(s->ssh, &len, &ktype);
	if (!blob || !len)
		return refuse(msg, code, "hostkey", "host key verification failed: the host offered no key");
	blob_type(blob, len, type, sizeof(type));
	cairn_ssh_fingerprint(blob, len, fp, sizeof(fp));
	if (!(b64 = cairn_ssh__b64(blob, len)))
		return refuse(msg, code, "failure", "out of memory");
	path = known_hosts_path(s, pathbuf, sizeof(pathbuf));
	rc = path ? check_known_hosts(s, path, blob, len, type, fp, msg, code) : 0;
	if (rc < 0)
		goto cleanup;
	if (rc == 1) {
		remember(s, type, b64, fp, "known_hosts");
		rc = 0;
		goto cleanup;
	}
	if (rec && *rec) {
		const char *sp = strchr(rec, ' ');
		const char *rb64 = sp ? sp + 1 : rec;
		size_t rlen = strcspn(rb64, " \n");

		if (strlen(b64) == rlen && !strncmp(rb64, b64, rlen)) {
			remember(s, type, b64, fp, "recorded");
			rc = 0;
			goto cleanup;
		}
		{
			char *k = strndup(rb64, rlen);

			b64_fingerprint(k ? k : "", recfp, sizeof(recfp));
			free(k);
		}
		rc = refuse(msg, code, "hostkey", "host key verification failed: the host key has CHANGED (this may be "
			    "an attack): the key recorded when it was first accepted is %s, the host now offers %s (%s); "
			    "if the change is expected, add the new key to %s (known_hosts is trusted before the "
			    "recorded key, which the next apply replaces)", recfp, fp, type,
			    path ? path : "a known_hosts file");
		goto cleanup;
	}
	if (s->pool->opts.accept_new) {
		remember(s, type, b64, fp, "accepted");
		rc = 0;
		goto cleanup;
	}
	rc = refuse(msg, code, "hostkey", "host key verification failed: the host is not known (it offers %s key %s); "
		    "add its key to %s (after checking it), or run with --accept-new-host-keys to accept and record it",
		    type, fp, path ? path : "a known_hosts file");
cleanup:
	free(b64);
	return rc;
}
