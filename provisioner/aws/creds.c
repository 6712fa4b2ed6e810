/*
 * creds.c - AWS credentials from the standard places (see creds.h,
 * cairn_aws_creds_resolve), and the small INI reader they need.
 *
 * The order is botocore's (create_credential_resolver in
 * botocore/credentials.py), less the providers cairn does not have:
 *
 *   1. environment variables, unless a profile was named by the caller;
 *   2. the profile's role, when it has role_arn (botocore's
 *      AssumeRoleProvider, which comes before every provider of the
 *      profile's own keys): STS AssumeRole (sts.c) signed with the
 *      credentials of source_profile or of credential_source = Environment;
 *   3. the profile's static keys in the shared credentials file;
 *   4. its credential_process (credentials file, then config file);
 *   5. its static keys in the config file ("[profile NAME]", but "[default]").
 *
 * A role's settings (role_arn, source_profile, credential_source,
 * external_id, role_session_name, duration_seconds) are read from the
 * credentials file's [NAME], else the config file's section, as botocore
 * merges the two. A source_profile gives its credentials through 3-5
 * (never the environment) when it has static keys or no role_arn, else
 * through its own role, assumed first: roles chain, at most ROLE_DEPTH_MAX
 * deep, and a loop is refused (a profile naming itself is fine when it has
 * static keys: botocore allows it to keep keys and role together).
 * mfa_serial, web_identity_token_file and credential_source
 * Ec2InstanceMetadata / EcsContainer are refused with a message pointing
 * at credential_process; SSO profiles yield ENOTFOUND.
 *
 * Region and endpoint come from the arguments, the environment, then the
 * (top) profile, and are those of the STS call too (sts.h says where
 * STS is called).
 *
 * credential_process is run as botocore runs it: the command split into
 * words (quotes as in a shell; no command substitution, pipes or
 * redirections), started without a shell, its standard error going to
 * ours (prompts reach the user), its standard output read as JSON
 * {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
 * "Expiration"?}. Nothing it prints ever goes into a message.
 *
 * The INI reader is deliberately strict and small: "[section]", "key =
 * value", full-line comments starting with '#' or ';', blank lines;
 * indented "key = value" lines under a key with an empty value (the
 * config file's nested "s3 =" settings) are skipped. Anything else is an
 * error naming file:line. No message ever quotes a line's content, so a
 * secret on a malformed line cannot leak into an error.
 */
#include "creds.h"
#include "sts.h"
#include "base/buf.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

#define INI_MAX ((size_t)1 << 20)
/* Roles chained through source_profile, at most (the top profile's included). */
#define ROLE_DEPTH_MAX 5

typedef struct ini_entry {
	char *section;
	char *key;
	char *value;
} ini_entry;

typedef struct ini {
	const char *path; /* borrowed */
	bool exists;
	ini_entry *e;
	size_t n, alloc;
} ini;

static void ini_release(ini *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->e[i].section);
		free(f->e[i].key);
		free(f->e[i].value);
	}
	free(f->e);
	f->e = NULL;
	f->n = f->alloc = 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

static int ini_add(ini *f, const char *section, const char *key, const char *value)
{
	ini_entry *e;

	if (f->n == f->alloc) {
		size_t n = f->alloc ? f->alloc * 2 : 16;

		if (!(e = realloc(f->e, n * sizeof(*e))))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		f->e = e;
		f->alloc = n;
	}
	e = &f->e[f->n];
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(value);
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		free(e->value);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	f->n++;
	return 0;
}

/* "[ profile   dev ]" -> "profile dev"; written into a fresh string. */
static char *section_name(char *inner)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char *s = trim(inner), *rest;

	cairn_buf_init(&b, 0);
	if (strncmp(s, "profile", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
		rest = trim(s + 7);
		if (cairn_buf_puts(&b, "profile ") || cairn_buf_puts(&b, rest))
			goto fail;
	} else if (cairn_buf_puts(&b, s)) {
		goto fail;
	}
	return cairn_buf_detach(&b);
fail:
	cairn_buf_release(&b);
	return NULL;
}

static int ini_parse_line(ini *f, char *raw, int lineno, char **section, bool *nested_ok)
{
	bool indented = raw[0] == ' ' || raw[0] == '\t';
	char *line = trim(raw), *eq, *key, *value, *end;

	if (!*line || *line == '#' || *line == ';')
		return 0;
	if (*line == '[') {
		end = line + strlen(line) - 1;
		if (*end != ']' || end == line + 1)
			return cairn_error_set(CAIRN_EINVAL, "cannot parse %s:%d: expected [section]",
						  f->path, lineno);
		*end = '\0';
		free(*section);
		if (!(*section = section_name(line + 1)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		if (!**section)
			return cairn_error_set(CAIRN_EINVAL, "cannot parse %s:%d: empty section name",
						  f->path, lineno);
		*nested_ok = false;
		return 0;
	}
	eq = strchr(line, '=');
	if (!eq)
		return cairn_error_set(CAIRN_EINVAL,
			"cannot parse %s:%d: expected 'key = value', '[section]' or a comment", f->path, lineno);
	if (!*section)
		return cairn_error_set(CAIRN_EINVAL,
			"cannot parse %s:%d: a setting before any [section]", f->path, lineno);
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (!*key)
		return cairn_error_set(CAIRN_EINVAL, "cannot parse %s:%d: empty key", f->path, lineno);
	if (indented && *nested_ok)
		return 0; /* "s3 =\n  max_concurrent_requests = 4": not ours */
	*nested_ok = *value == '\0';
	return ini_add(f, *section, key, value);
}

/* Load path; a missing file is not an error (f->exists stays false). */
static int ini_load(ini *f, const char *path)
{
	cairn_buf b = CAIRN_BUF_INIT;
	char *section = NULL, *line, *next;
	bool nested_ok = false;
	int rc = 0, lineno = 0;

	f->path = path;
	f->exists = false;
	if (!path)
		return 0;
	cairn_buf_init(&b, INI_MAX);
	if ((rc = cairn_buf_read_file(&b, path)) < 0) {
		if (rc == CAIRN_ENOTFOUND) {
			cairn_error_clear();
			rc = 0;
		}
		goto cleanup;
	}
	f->exists = true;
	for (line = b.ptr; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strlen(line) != (size_t)((next ? next - 1 : b.ptr + b.len) - line)) {
			rc = cairn_error_set(CAIRN_EINVAL, "cannot parse %s:%d: NUL byte", path, lineno);
			goto cleanup;
		}
		if ((rc = ini_parse_line(f, line, lineno, &section, &nested_ok)) < 0)
			goto cleanup;
	}
cleanup:
	free(section);
	cairn_buf_release(&b);
	return rc;
}

static bool ini_has(const ini *f, const char *section)
{
	size_t i;

	for (i = 0; section && i < f->n; i++)
		if (strcmp(f->e[i].section, section) == 0)
			return true;
	return false;
}

/* The last value of key in section (later lines win), or NULL. */
static const char *ini_get(const ini *f, const char *section, const char *key)
{
	size_t i;

	for (i = f->n; section && i > 0; i--)
		if (strcmp(f->e[i - 1].section, section) == 0 && strcmp(f->e[i - 1].key, key) == 0)
			return *f->e[i - 1].value ? f->e[i - 1].value : NULL;
	return NULL;
}

/* -- credentials -------------------------------------------------------- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* $override, else $HOME/.aws/leaf, else NULL. */
static char *aws_path(const char *override_var, const char *leaf)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *v = env(override_var), *home = env("HOME");

	if (v)
		return strdup(v);
	if (!home)
		return NULL;
	cairn_buf_init(&b, 0);
	if (cairn_buf_printf(&b, "%s/.aws/%s", home, leaf) < 0) {
		cairn_buf_release(&b);
		return NULL;
	}
	return cairn_buf_detach(&b);
}

static int dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* Static keys from one file's section: 1 found, 0 none, <0 error. */
static int keys_from(cairn_aws_creds *c, const ini *f, const char *section, const char *profile)
{
	const char *ak = ini_get(f, section, "aws_access_key_id");
	const char *sk = ini_get(f, section, "aws_secret_access_key");
	const char *tok = ini_get(f, section, "aws_session_token");
	cairn_buf src = CAIRN_BUF_INIT;
	int rc;

	if (!ak && !sk)
		return 0;
	if (!ak || !sk)
		return cairn_error_set(CAIRN_EINVAL, "profile '%s' in %s has %s but no %s", profile, f->path,
				       ak ? "aws_access_key_id" : "aws_secret_access_key",
				       ak ? "aws_secret_access_key" : "aws_access_key_id");
	if (!tok)
		tok = ini_get(f, section, "aws_security_token");
	cairn_buf_init(&src, 0);
	if ((rc = cairn_buf_printf(&src, "profile %s (%s)", profile, f->path)) < 0 ||
	    (rc = dup_opt(&c->access_key, ak)) < 0 || (rc = dup_opt(&c->secret_key, sk)) < 0 ||
	    (rc = dup_opt(&c->session_token, tok)) < 0) {
		cairn_buf_release(&src);
		return rc;
	}
	c->source = cairn_buf_detach(&src);
	return c->source ? 1 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
}

/* Run argv[0] with its standard output into b; its exit status in *status. */
static int run_capture(char **argv, cairn_buf *b, int *status)
{
	posix_spawn_file_actions_t fa;
	int fds[2], rc = 0, err;
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return cairn_error_set(CAIRN_EIO, "cannot make a pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (err) {
		rc = cairn_error_set(CAIRN_EIO, "cannot run %s: %s", argv[0], strerror(err));
		close(fds[0]);
		return rc;
	}
	while ((n = read(fds[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (rc = cairn_buf_put(b, chunk, (size_t)n)) < 0)
			break; /* closing the pipe ends a child that writes on (EPIPE) */
	}
	close(fds[0]);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR) {
			*status = -1;
			break;
		}
	return rc;
}

/* "2026-11-29T16:00:00Z" (or with fractions / "+00:00") in the past? */
static bool expired(const char *when)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!(end = strptime(when, "%Y-%m-%dT%H:%M:%S", &tm)))
		return false; /* a form we do not read: let AWS decide */
	return timegm(&tm) < time(NULL) && (*end == 'Z' || *end == '.' || *end == '+' || *end == '\0');
}

/* The credentials credential_process prints: 1 found, <0 error. */
static int keys_from_process(cairn_aws_creds *c, const char *cmd, const char *profile, const char *path)
{
	cairn_buf out = CAIRN_BUF_INIT, src = CAIRN_BUF_INIT;
	const char *ak, *sk, *tok, *exp;
	json_t *j = NULL;
	wordexp_t we;
	int rc, status = 0, w;

	cairn_buf_init(&out, 1 << 20);
	cairn_buf_init(&src, 0);
	if ((rc = cairn_buf_printf(&src, "credential_process of profile '%s' (%s)", profile, path)) < 0)
		goto done;
	if ((w = wordexp(cmd, &we, WRDE_NOCMD)) != 0 || we.we_wordc == 0) {
		if (w == 0)
			wordfree(&we);
		rc = cairn_error_set(CAIRN_EINVAL, "%s: cannot split the command into words (%s)", src.ptr,
				     w == WRDE_CMDSUB ? "command substitution is not run" :
				     w == WRDE_BADCHAR ? "unquoted |, &, ;, <, >, (, ), { or }" :
				     w == 0 ? "it is empty" : "unbalanced quotes");
		goto done;
	}
	rc = run_capture(we.we_wordv, &out, &status);
	wordfree(&we);
	if (rc < 0) {
		cairn_error_prefix("%s", src.ptr);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = WIFEXITED(status) ?
			cairn_error_set(CAIRN_EINVAL, "%s exited with status %d", src.ptr, WEXITSTATUS(status)) :
			cairn_error_set(CAIRN_EINVAL, "%s was killed (signal %d)", src.ptr,
					WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		goto done;
	}
	j = json_loadb(out.ptr ? out.ptr : "", out.len, 0, NULL);
	ak = json_string_value(json_object_get(j, "AccessKeyId"));
	sk = json_string_value(json_object_get(j, "SecretAccessKey"));
	tok = json_string_value(json_object_get(j, "SessionToken"));
	exp = json_string_value(json_object_get(j, "Expiration"));
	if (!json_is_object(j)) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s printed no JSON object", src.ptr);
	} else if (json_integer_value(json_object_get(j, "Version")) != 1) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s printed an unsupported \"Version\" (1 is)", src.ptr);
	} else if (!ak || !*ak || !sk || !*sk) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s printed no %s", src.ptr, !ak || !*ak ? "AccessKeyId" : "SecretAccessKey");
	} else if (exp && expired(exp)) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s printed credentials that expired at %s", src.ptr, exp);
	} else if ((rc = dup_opt(&c->access_key, ak)) == 0 && (rc = dup_opt(&c->secret_key, sk)) == 0 &&
		   (rc = dup_opt(&c->session_token, tok && *tok ? tok : NULL)) == 0) {
		c->source = cairn_buf_detach(&src);
		rc = c->source ? 1 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
done:
	json_decref(j);
	if (out.ptr)
		explicit_bzero(out.ptr, out.alloc);
	cairn_buf_release(&out);
	cairn_buf_release(&src);
	return rc;
}

static int keys_from_env(cairn_aws_creds *c)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	const char *tok = env("AWS_SESSION_TOKEN");
	int rc;

	if (!ak && !sk)
		return 0;
	if (!ak || !sk)
		return cairn_error_set(CAIRN_EINVAL, "%s is set but %s is not",
				       ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				       ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if (!tok)
		tok = env("AWS_SECURITY_TOKEN");
	if ((rc = dup_opt(&c->access_key, ak)) < 0 || (rc = dup_opt(&c->secret_key, sk)) < 0 ||
	    (rc = dup_opt(&c->session_token, tok)) < 0 || (rc = dup_opt(&c->source, "env")) < 0)
		return rc;
	return 1;
}

/* -- profiles ----------------------------------------------------------- */

/* Both files, read once, and what a role's STS call needs from the top
 * profile: its resolved region and endpoint. */
typedef struct chain {
	ini cred, conf;
	const char *region;   /* borrowed; NULL: none */
	const char *endpoint; /* borrowed; NULL: AWS's */
	const char *visited[ROLE_DEPTH_MAX + 2]; /* the profiles followed by source_profile, top first */
	int nvisited;
} chain;

typedef struct profile {
	const char *name; /* borrowed */
	char *sec;        /* its config file section: "profile NAME", or "default" */
} profile;

static int profile_init(profile *p, const chain *ch, const char *name)
{
	cairn_buf b = CAIRN_BUF_INIT;

	p->name = name;
	p->sec = NULL;
	/* "[default]" in the config file, though "[profile default]" is read too */
	if (strcmp(name, "default") == 0 && (ini_has(&ch->conf, "default") || !ini_has(&ch->conf, "profile default")))
		cairn_buf_puts(&b, "default");
	else
		cairn_buf_printf(&b, "profile %s", name);
	if (!(p->sec = cairn_buf_detach(&b)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

static void profile_release(profile *p)
{
	free(p->sec);
	p->sec = NULL;
}

static bool profile_exists(const chain *ch, const profile *p)
{
	return ini_has(&ch->cred, p->name) || ini_has(&ch->conf, p->sec);
}

/* A setting of the profile: the credentials file's, else the config
 * file's (botocore merges the two files so). */
static const char *setting(const chain *ch, const profile *p, const char *key)
{
	const char *v = ini_get(&ch->cred, p->name, key);

	return v ? v : ini_get(&ch->conf, p->sec, key);
}

static bool has_static_keys(const chain *ch, const profile *p)
{
	return setting(ch, p, "aws_access_key_id") || setting(ch, p, "aws_secret_access_key");
}

static bool is_role(const chain *ch, const profile *p)
{
	return setting(ch, p, "role_arn") != NULL;
}

/* The profile's own providers, in botocore's order: static keys in the
 * credentials file, credential_process (credentials file, then config
 * file), static keys in the config file. 1 found, 0 none, <0 error. */
static int keys_from_profile(cairn_aws_creds *c, const chain *ch, const profile *p)
{
	const char *proc;
	int rc;

	if ((rc = keys_from(c, &ch->cred, p->name, p->name)) != 0)
		return rc;
	if ((proc = ini_get(&ch->cred, p->name, "credential_process")))
		return keys_from_process(c, proc, p->name, ch->cred.path);
	if ((proc = ini_get(&ch->conf, p->sec, "credential_process")))
		return keys_from_process(c, proc, p->name, ch->conf.path);
	return keys_from(c, &ch->conf, p->sec, p->name);
}

/* -- role profiles ------------------------------------------------------ */

/* What a role profile asks for, checked before anything is called. */
typedef struct role_settings {
	const char *arn, *source_profile, *credential_source, *external_id, *session_name;
	long duration;
} role_settings;

static int role_settings_read(role_settings *r, const chain *ch, const profile *p)
{
	const char *dur = setting(ch, p, "duration_seconds");
	char *end = NULL;

	memset(r, 0, sizeof(*r));
	r->arn = setting(ch, p, "role_arn");
	r->source_profile = setting(ch, p, "source_profile");
	r->credential_source = setting(ch, p, "credential_source");
	r->external_id = setting(ch, p, "external_id");
	r->session_name = setting(ch, p, "role_session_name");
	r->duration = 3600;
	if (setting(ch, p, "web_identity_token_file"))
		return cairn_error_set(CAIRN_EINVAL, "profile '%s' assumes its role with a web identity token "
				       "(web_identity_token_file): cairn does not do that; get the role's "
				       "credentials with a credential_process instead", p->name);
	if (setting(ch, p, "mfa_serial"))
		return cairn_error_set(CAIRN_EINVAL, "profile '%s' needs an MFA code (mfa_serial) to assume its role: "
				       "cairn does not prompt for MFA codes; get the role's credentials with a "
				       "credential_process (aws-vault, granted, ...) instead", p->name);
	if (r->source_profile && r->credential_source)
		return cairn_error_set(CAIRN_EINVAL, "profile '%s' has both source_profile and credential_source: "
				       "keep one", p->name);
	if (!r->source_profile && !r->credential_source)
		return cairn_error_set(CAIRN_EINVAL, "profile '%s' has role_arn but neither source_profile nor "
				       "credential_source: cairn cannot tell whose credentials assume the role", p->name);
	if (dur) {
		errno = 0;
		r->duration = strtol(dur, &end, 10);
		if (errno || end == dur || *end || r->duration < 900 || r->duration > 43200)
			return cairn_error_set(CAIRN_EINVAL, "profile '%s': duration_seconds must be a number of "
					       "seconds from 900 to 43200", p->name);
	}
	return 0;
}

/* "a -> b -> c" */
static void describe_chain(cairn_buf *b, const chain *ch, const char *next)
{
	int i;

	for (i = 0; i < ch->nvisited; i++)
		cairn_buf_printf(b, "%s%s", i ? " -> " : "", ch->visited[i]);
	if (next)
		cairn_buf_printf(b, " -> %s", next);
}

static int chain_error(const chain *ch, const char *next, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int chain_error(const chain *ch, const char *next, const char *fmt, ...)
{
	cairn_buf msg = CAIRN_BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	cairn_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	cairn_buf_puts(&msg, " (");
	describe_chain(&msg, ch, next);
	cairn_buf_puts(&msg, ")");
	rc = cairn_error_set(CAIRN_EINVAL, "%s", cairn_buf_cstr(&msg));
	cairn_buf_release(&msg);
	return rc;
}

/* credential_source: Environment is the AWS_* keys; the others are not read. */
static int keys_from_credential_source(cairn_aws_creds *c, const profile *p, const char *source)
{
	int rc;

	if (strcmp(source, "Ec2InstanceMetadata") == 0 || strcmp(source, "EcsContainer") == 0)
		return cairn_error_set(CAIRN_EINVAL, "profile '%s': credential_source = %s is not supported by cairn "
				       "(Environment is); get the role's credentials with a credential_process instead",
				       p->name, source);
	if (strcmp(source, "Environment") != 0)
		return cairn_error_set(CAIRN_EINVAL, "profile '%s': credential_source '%s' is not one of Environment, "
				       "Ec2InstanceMetadata, EcsContainer", p->name, source);
	if ((rc = keys_from_env(c)) == 0)
		rc = cairn_error_set(CAIRN_EINVAL, "profile '%s' has credential_source = Environment but "
				     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set", p->name);
	return rc;
}

static int keys_from_role(cairn_aws_creds *c, chain *ch, const profile *p, int depth);

/* The credentials of p's source_profile, name: its own providers when it
 * has static keys or no role_arn (as botocore), else its role, assumed
 * first. 1 found, <0 error. */
static int keys_from_source_profile(cairn_aws_creds *c, chain *ch, const profile *p, const char *name, int depth)
{
	profile sp = { 0 };
	int i, rc;

	if ((rc = profile_init(&sp, ch, name)) < 0)
		return rc;
	if (!profile_exists(ch, &sp)) {
		rc = cairn_error_set(CAIRN_EINVAL, "profile '%s': its source_profile '%s' is not in %s or %s", p->name,
				     name, ch->cred.path ? ch->cred.path : "(no credentials file)",
				     ch->conf.path ? ch->conf.path : "(no config file)");
		goto cleanup;
	}
	for (i = 0; i < ch->nvisited; i++)
		if (strcmp(ch->visited[i], name) == 0)
			break;
	/* a profile may name itself, to keep its static keys and its role together */
	if (i < ch->nvisited && !(strcmp(name, p->name) == 0 && has_static_keys(ch, &sp))) {
		rc = chain_error(ch, name, "profile '%s': source_profile '%s' makes a loop", p->name, name);
		goto cleanup;
	}
	if (has_static_keys(ch, &sp) || !is_role(ch, &sp)) {
		if ((rc = keys_from_profile(c, ch, &sp)) == 0)
			rc = cairn_error_set(CAIRN_EINVAL, "profile '%s': its source_profile '%s' has no credentials "
					     "(static keys, credential_process or role_arn)", p->name, name);
		goto cleanup;
	}
	if (depth >= ROLE_DEPTH_MAX) {
		rc = chain_error(ch, name, "profile '%s': more than %d roles chained through source_profile",
				 ch->visited[0], ROLE_DEPTH_MAX);
		goto cleanup;
	}
	ch->visited[ch->nvisited++] = name;
	rc = keys_from_role(c, ch, &sp, depth + 1);
	ch->nvisited--;
cleanup:
	profile_release(&sp);
	return rc;
}

/* Assume p's role with the credentials its settings name: 1, or <0. */
static int keys_from_role(cairn_aws_creds *c, chain *ch, const profile *p, int depth)
{
	cairn_aws_creds src = { 0 };
	cairn_buf session = CAIRN_BUF_INIT, desc = CAIRN_BUF_INIT;
	char *expiration = NULL;
	role_settings r;
	cairn_sts_role call;
	int rc;

	if ((rc = role_settings_read(&r, ch, p)) < 0)
		goto cleanup;
	rc = r.credential_source ? keys_from_credential_source(&src, p, r.credential_source) :
				   keys_from_source_profile(&src, ch, p, r.source_profile, depth);
	if (rc < 0)
		goto cleanup;
	if (!r.session_name && (rc = cairn_buf_printf(&session, "cairn-%lld", (long long)time(NULL))) < 0)
		goto cleanup;
	call = (cairn_sts_role){ p->name, r.arn, r.session_name ? r.session_name : cairn_buf_cstr(&session),
				 r.external_id, r.duration, ch->region, ch->endpoint };
	if ((rc = cairn_sts_assume_role(c, &expiration, &src, &call)) < 0)
		goto cleanup;
	if (expired(expiration)) {
		rc = cairn_error_set(CAIRN_EINVAL, "cannot assume role %s for profile '%s': STS gave credentials "
				     "that expired at %s (is this machine's clock right?)", r.arn, p->name, expiration);
		goto cleanup;
	}
	if (r.credential_source)
		rc = cairn_buf_printf(&desc, "role %s of profile '%s' assumed with the environment's keys (until %s)",
				      r.arn, p->name, expiration);
	else
		rc = cairn_buf_printf(&desc, "role %s of profile '%s' assumed with profile '%s' (until %s)",
				      r.arn, p->name, r.source_profile, expiration);
	free(c->source);
	if (rc < 0 || !(c->source = cairn_buf_detach(&desc))) {
		rc = rc < 0 ? rc : cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = 1;
cleanup:
	cairn_aws_creds_release(&src);
	cairn_buf_release(&session);
	cairn_buf_release(&desc);
	free(expiration);
	return rc;
}

/* -- the chain ---------------------------------------------------------- */

static void describe_file(cairn_buf *b, const ini *f, const char *section)
{
	if (!f->path)
		cairn_buf_puts(b, ", no credentials or config file (HOME is not set)");
	else if (!f->exists)
		cairn_buf_printf(b, ", %s (missing)", f->path);
	else if (!ini_has(f, section))
		cairn_buf_printf(b, ", %s (no [%s])", f->path, section);
	else
		cairn_buf_printf(b, ", %s ([%s] has no aws_access_key_id, credential_process or role_arn)",
				 f->path, section);
}

static int not_found(const chain *ch, const profile *p)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	cairn_buf_init(&b, 0);
	cairn_buf_printf(&b, "no AWS credentials found for profile '%s': looked in the environment "
			 "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", p->name);
	describe_file(&b, &ch->cred, p->name);
	if (ch->cred.path || ch->conf.path)
		describe_file(&b, &ch->conf, p->sec);
	rc = cairn_error_set(CAIRN_ENOTFOUND, "%s", cairn_buf_cstr(&b));
	cairn_buf_release(&b);
	return rc;
}

static int profile_missing(const chain *ch, const profile *p)
{
	return cairn_error_set(CAIRN_EINVAL, "profile '%s' not found in %s%s%s", p->name,
			       ch->cred.path ? ch->cred.path : "(no credentials file)",
			       " or ", ch->conf.path ? ch->conf.path : "(no config file)");
}

/* The first non-NULL of the candidates, copied. */
static int pick(char **out, const char *a, const char *b, const char *c, const char *d, const char *e)
{
	const char *v = a ? a : b ? b : c ? c : d ? d : e;

	return dup_opt(out, v);
}

/* Region and endpoint: they do not depend on where the keys come from,
 * and a role's STS call needs them. */
static int place(cairn_aws_creds *c, const chain *ch, const profile *p, const char *region, const char *endpoint)
{
	int rc;

	if ((rc = pick(&c->region, region && *region ? region : NULL, env("AWS_REGION"), env("AWS_DEFAULT_REGION"),
		       ini_get(&ch->conf, p->sec, "region"), ini_get(&ch->cred, p->name, "region"))) < 0)
		return rc;
	return pick(&c->endpoint, endpoint && *endpoint ? endpoint : NULL, env("AWS_ENDPOINT_URL"),
		    ini_get(&ch->conf, p->sec, "endpoint_url"), ini_get(&ch->cred, p->name, "endpoint_url"), NULL);
}

int cairn_aws_creds_resolve(cairn_aws_creds *out, const char *profile_arg, const char *region,
			    const char *endpoint)
{
	cairn_aws_creds c = { 0 };
	chain ch;
	profile top = { 0 };
	char *cred_path = aws_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *conf_path = aws_path("AWS_CONFIG_FILE", "config");
	const char *name = profile_arg && *profile_arg ? profile_arg : env("AWS_PROFILE");
	bool named = name != NULL;
	int rc, found = 0;

	memset(&ch, 0, sizeof(ch));
	if ((rc = ini_load(&ch.cred, cred_path)) < 0 || (rc = ini_load(&ch.conf, conf_path)) < 0 ||
	    (rc = profile_init(&top, &ch, name ? name : "default")) < 0)
		goto cleanup;
	if (named && !profile_exists(&ch, &top)) {
		rc = profile_missing(&ch, &top);
		goto cleanup;
	}
	if ((rc = place(&c, &ch, &top, region, endpoint)) < 0)
		goto cleanup;
	ch.region = c.region;
	ch.endpoint = c.endpoint;
	ch.visited[ch.nvisited++] = top.name;
	/* a profile named by the caller beats keys in the environment */
	if (!(profile_arg && *profile_arg) && (rc = found = keys_from_env(&c)) < 0)
		goto cleanup;
	if (!found && is_role(&ch, &top))
		rc = found = keys_from_role(&c, &ch, &top, 1);
	else if (!found)
		rc = found = keys_from_profile(&c, &ch, &top);
	if (rc < 0)
		goto cleanup;
	if (!found) {
		rc = not_found(&ch, &top);
		goto cleanup;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
cleanup:
	cairn_aws_creds_release(&c);
	profile_release(&top);
	ini_release(&ch.cred);
	ini_release(&ch.conf);
	free(cred_path);
	free(conf_path);
	return rc;
}
