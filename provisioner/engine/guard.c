/*
 * guard.c - digests of saved plans, and the configuration an apply
 * applied (guard.h).
 *
 * The configuration is kept as the files themselves (base64, so a module
 * file is stored byte for byte) rather than as the loaded tree: planning
 * a revision again then goes through the same loader, checks and hash as
 * any plan. Modules cairn ships are recorded by path and SHA-256 only
 * (they belong to the binary's installation, not to the stack).
 */
#include "guard.h"
#include "base/buf.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

int cairn_guard_digest(const json_t *plan, char out[CAIRN_DIGEST_LEN])
{
	json_t *copy = json_deep_copy(plan);
	unsigned char dig[32];
	unsigned int n = 0, i;
	char *text = NULL;

	if (!copy || (json_object_del(copy, "mac"), !(text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT)))) {
		json_decref(copy);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	EVP_Digest(text, strlen(text), dig, &n, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", dig[i]);
	free(text);
	json_decref(copy);
	return 0;
}

static json_t *b64(const cairn_buf *b)
{
	size_t cap = 4 * ((b->len + 2) / 3) + 1;
	unsigned char *t = malloc(cap);
	json_t *s;

	if (!t)
		return NULL;
	EVP_EncodeBlock(t, (const unsigned char *)(b->ptr ? b->ptr : ""), (int)b->len);
	s = json_string((char *)t);
	free(t);
	return s;
}

static int add_file(json_t *files, const char *rel, const char *path)
{
	cairn_buf b = CAIRN_BUF_INIT;
	json_t *s;
	int rc;

	if ((rc = cairn_file_read(&b, path, "file")) != 0)
		return rc;
	s = b64(&b);
	cairn_buf_release(&b);
	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_object_set_new(files, rel, s);
	return 0;
}

/* Every regular file under dir/sub, as sub/... */
static int add_tree(json_t *files, const char *dir, const char *sub)
{
	cairn_buf path = CAIRN_BUF_INIT, rel = CAIRN_BUF_INIT;
	struct dirent *d;
	struct stat sb;
	DIR *dh;
	int rc = 0;

	cairn_buf_printf(&path, "%s/%s", dir, sub);
	if (!(dh = opendir(cairn_buf_cstr(&path)))) {
		cairn_buf_release(&path);
		return errno == ENOENT || errno == ENOTDIR ? 0 :
		       cairn_error_set(CAIRN_EIO, "cannot read %s: %s", sub, strerror(errno));
	}
	while (!rc && (d = readdir(dh)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		cairn_buf_clear(&rel);
		cairn_buf_printf(&rel, "%s/%s", sub, d->d_name);
		cairn_buf_clear(&path);
		cairn_buf_printf(&path, "%s/%s", dir, cairn_buf_cstr(&rel));
		if (stat(cairn_buf_cstr(&path), &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			rc = add_tree(files, dir, cairn_buf_cstr(&rel));
		else if (S_ISREG(sb.st_mode))
			rc = add_file(files, cairn_buf_cstr(&rel), cairn_buf_cstr(&path));
	}
	closedir(dh);
	cairn_buf_release(&path);
	cairn_buf_release(&rel);
	return rc;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int sha256_file(const char *path, char out[65])
{
	cairn_buf b = CAIRN_BUF_INIT;
	unsigned char dig[32];
	unsigned int n = 0, i;
	int rc;

	if ((rc = cairn_buf_read_file(&b, path)) != 0)
		return rc;
	EVP_Digest(b.ptr ? b.ptr : "", b.len, dig, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", dig[i]);
	cairn_buf_release(&b);
	return 0;
}

int cairn_guard_config_capture(cairn_engine *e, json_t **out)
{
	json_t *files = json_object(), *mods = json_object(), *vars = json_object(), *cfg = NULL;
	const char *dir = e->stack->dir, *k;
	size_t dl = strlen(dir), r;
	char *dcopy = strdup(dir);
	json_t *v;
	int rc;

	if (!dcopy) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = add_file(files, "stack.yaml", e->stack->path)) != 0 ||
	    (rc = add_file(files, base_name(e->env->path), e->env->path)) != 0 ||
	    (rc = add_tree(files, dir, "modules")) != 0 || (rc = add_tree(files, dir, "policies")) != 0)
		goto cleanup;
	/* the files file() read, where they are the stack's */
	json_object_foreach(e->inputs, k, v)
		if (!strncmp(k, dir, dl) && k[dl] == '/' && !strstr(k + dl, "/../") && json_is_string(v) &&
		    !strncmp(json_string_value(v), "sha256:", 7) && (rc = add_file(files, k + dl + 1, k)) != 0)
			goto cleanup;
	for (r = 0; r < e->stack->nresources; r++) {
		char sum[65];

		if (!e->schemas[r] || json_object_get(mods, e->schemas[r]->type))
			continue;
		if ((rc = sha256_file(e->schemas[r]->file, sum)) != 0)
			goto cleanup;
		json_object_set_new(mods, e->schemas[r]->type, json_pack("{s:s,s:s}", "file", e->schemas[r]->file,
									 "sha256", sum));
	}
	if (e->opts.var_overrides)
		json_object_update(vars, e->opts.var_overrides);
	cfg = json_pack("{s:{s:s,s:s,s:s},s:O,s:O,s:O}", "stack", "name", e->stack->name, "dir", basename(dcopy),
			"overlay", base_name(e->env->path), "files", files, "modules", mods, "variables", vars);
	if (!cfg) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = cfg;
cleanup:
	free(dcopy);
	json_decref(files);
	json_decref(mods);
	json_decref(vars);
	return rc;
}

static int mkdirs(const char *root, const char *rel)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *p;
	int rc = 0;

	cairn_buf_printf(&b, "%s/", root);
	for (p = rel; *p && !rc; p++) {
		if (*p == '/' && mkdir(cairn_buf_cstr(&b), 0700) != 0 && errno != EEXIST)
			rc = cairn_error_set(CAIRN_EIO, "cannot create %s: %s", cairn_buf_cstr(&b), strerror(errno));
		cairn_buf_putc(&b, *p);
	}
	cairn_buf_release(&b);
	return rc;
}

int cairn_guard_config_restore(const json_t *config, const char *dir, char **stack_file)
{
	const char *sdir = json_string_value(json_object_get(json_object_get(config, "stack"), "dir")), *k;
	json_t *files = json_object_get(config, "files"), *v;
	cairn_buf root = CAIRN_BUF_INIT, path = CAIRN_BUF_INIT;
	unsigned char *data = NULL;
	int rc = 0;

	if (!sdir || !*sdir || strchr(sdir, '/') || !strcmp(sdir, "..") || !json_is_object(files))
		return cairn_error_set(CAIRN_ECORRUPT, "the recorded configuration is malformed");
	cairn_buf_printf(&root, "%s/%s", dir, sdir);
	if (mkdir(cairn_buf_cstr(&root), 0700) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot create %s: %s", cairn_buf_cstr(&root), strerror(errno));
		goto cleanup;
	}
	json_object_foreach(files, k, v) {
		const char *t = json_string_value(v);
		size_t tl = t ? strlen(t) : 0;
		int n;

		if (!t || k[0] == '/' || !strcmp(k, "..") || !strncmp(k, "../", 3) || strstr(k, "/../") ||
		    (strlen(k) >= 3 && !strcmp(k + strlen(k) - 3, "/.."))) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "the recorded configuration names a file outside the stack: %s", k);
			goto cleanup;
		}
		free(data);
		if (!(data = malloc(tl / 4 * 3 + 3))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((n = EVP_DecodeBlock(data, (const unsigned char *)t, (int)tl)) < 0) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "the recorded file %s is not base64", k);
			goto cleanup;
		}
		/* EVP_DecodeBlock counts the padding's zero bytes */
		if (tl >= 1 && t[tl - 1] == '=')
			n--;
		if (tl >= 2 && t[tl - 2] == '=')
			n--;
		cairn_buf_clear(&path);
		cairn_buf_printf(&path, "%s/%s", cairn_buf_cstr(&root), k);
		if ((rc = mkdirs(cairn_buf_cstr(&root), k)) != 0 ||
		    (rc = cairn_file_write(cairn_buf_cstr(&path), data, (size_t)n, 0600)) != 0)
			goto cleanup;
	}
	cairn_buf_clear(&path);
	if (cairn_buf_printf(&path, "%s/stack.yaml", cairn_buf_cstr(&root)) != 0 || !(*stack_file = cairn_buf_detach(&path)))
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	free(data);
	cairn_buf_release(&root);
	cairn_buf_release(&path);
	return rc;
}
