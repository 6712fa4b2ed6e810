/*
 * awscreds.c - AWS credentials from the standard places (see loop.h,
 * cairn_aws_creds_resolve), and the small INI reader they need.
 *
 * The order is the one botocore and the AWS CLI use for static keys:
 * environment variables (unless a profile was named by the caller), then
 * the profile's static keys in the shared credentials file, then the
 * profile's credential_process (credentials file, then config file), then
 * static keys in the config file ("[profile NAME]", but "[default]").
 * Region and endpoint come from the arguments, the environment, then the
 * profile. Roles and SSO are not supported: such a profile yields ENOTFOUND.
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
#include "loop.h"
#include "buf.h"

#include <errno.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

#define INI_MAX ((size_t)1 << 20)

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
	int fds[2], rc = 0;
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return cairn_error_set(CAIRN_EIO, "cannot make a pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	errno = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (errno) {
		rc = cairn_error_set(CAIRN_EIO, "cannot run %s: %s", argv[0], strerror(errno));
		close(fds[0]);
		return rc;
	}
	while ((n = read(fds[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (rc == 0 && (rc = cairn_buf_put(b, chunk, (size_t)n)) < 0))
			break; /* keep reading after a full buffer: the child must not block */
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

static void describe_file(cairn_buf *b, const ini *f, const char *section)
{
	if (!f->path)
		cairn_buf_puts(b, ", no credentials or config file (HOME is not set)");
	else if (!f->exists)
		cairn_buf_printf(b, ", %s (missing)", f->path);
	else if (!ini_has(f, section))
		cairn_buf_printf(b, ", %s (no [%s])", f->path, section);
	else
		cairn_buf_printf(b, ", %s ([%s] has no aws_access_key_id or credential_process)", f->path, section);
}

static int not_found(const char *profile, const ini *cred, const ini *conf, const char *conf_sec)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc;

	cairn_buf_init(&b, 0);
	cairn_buf_printf(&b, "no AWS credentials found for profile '%s': looked in the environment "
			 "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", profile);
	describe_file(&b, cred, profile);
	if (cred->path || conf->path)
		describe_file(&b, conf, conf_sec);
	rc = cairn_error_set(CAIRN_ENOTFOUND, "%s", cairn_buf_cstr(&b));
	cairn_buf_release(&b);
	return rc;
}

static int profile_missing(const char *profile, const ini *cred, const ini *conf)
{
	return cairn_error_set(CAIRN_EINVAL, "profile '%s' not found in %s%s%s", profile,
			       cred->path ? cred->path : "(no credentials file)",
			       " or ", conf->path ? conf->path : "(no config file)");
}

/* The first non-NULL of the candidates, copied. */
static int pick(char **out, const char *a, const char *b, const char *c, const char *d, const char *e)
{
	const char *v = a ? a : b ? b : c ? c : d ? d : e;

	return dup_opt(out, v);
}

int cairn_aws_creds_resolve(cairn_aws_creds *out, const char *profile, const char *region,
			    const char *endpoint)
{
	cairn_aws_creds c = { 0 };
	ini cred = { 0 }, conf = { 0 };
	char *cred_path = aws_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *conf_path = aws_path("AWS_CONFIG_FILE", "config");
	char *conf_sec = NULL;
	cairn_buf sec = CAIRN_BUF_INIT;
	const char *name = profile && *profile ? profile : env("AWS_PROFILE"), *proc;
	bool named = name != NULL;
	int rc, found = 0;

	if (!name)
		name = "default";
	cairn_buf_init(&sec, 0);
	if ((rc = cairn_buf_printf(&sec, strcmp(name, "default") == 0 ? "%s" : "profile %s", name)) < 0)
		goto cleanup;
	conf_sec = cairn_buf_detach(&sec);
	if ((rc = ini_load(&cred, cred_path)) < 0 || (rc = ini_load(&conf, conf_path)) < 0)
		goto cleanup;
	if (named && !ini_has(&cred, name) && !ini_has(&conf, conf_sec) &&
	    !(strcmp(name, "default") == 0 && ini_has(&conf, "profile default"))) {
		rc = profile_missing(name, &cred, &conf);
		goto cleanup;
	}
	if (strcmp(name, "default") == 0 && !ini_has(&conf, "default") && ini_has(&conf, "profile default")) {
		free(conf_sec);
		if (!(conf_sec = strdup("profile default"))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	/* a profile named by the caller beats keys in the environment */
	if (!(profile && *profile) && (rc = found = keys_from_env(&c)) < 0)
		goto cleanup;
	if (!found && (rc = found = keys_from(&c, &cred, name, name)) < 0)
		goto cleanup;
	if (!found && (proc = ini_get(&cred, name, "credential_process")) &&
	    (rc = found = keys_from_process(&c, proc, name, cred.path)) < 0)
		goto cleanup;
	if (!found && (proc = ini_get(&conf, conf_sec, "credential_process")) &&
	    (rc = found = keys_from_process(&c, proc, name, conf.path)) < 0)
		goto cleanup;
	if (!found && (rc = found = keys_from(&c, &conf, conf_sec, name)) < 0)
		goto cleanup;
	if (!found) {
		rc = not_found(name, &cred, &conf, conf_sec);
		goto cleanup;
	}
	if ((rc = pick(&c.region, region && *region ? region : NULL, env("AWS_REGION"),
		       env("AWS_DEFAULT_REGION"), ini_get(&conf, conf_sec, "region"),
		       ini_get(&cred, name, "region"))) < 0 ||
	    (rc = pick(&c.endpoint, endpoint && *endpoint ? endpoint : NULL, env("AWS_ENDPOINT_URL"),
		       ini_get(&conf, conf_sec, "endpoint_url"), ini_get(&cred, name, "endpoint_url"), NULL)) < 0)
		goto cleanup;
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
cleanup:
	cairn_aws_creds_release(&c);
	ini_release(&cred);
	ini_release(&conf);
	cairn_buf_release(&sec);
	free(conf_sec);
	free(cred_path);
	free(conf_path);
	return rc;
}
