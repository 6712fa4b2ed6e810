/*
 * policy.c - the stack's policies on a plan (policy.h).
 *
 * Finds the files, builds what they see from the plan document, runs each
 * one in its own sandbox (lua/policy.c) and checks what it returned. The
 * rule that matters: whatever goes wrong in a policy becomes a deny
 * finding naming the policy and why, so a broken policy stops an apply
 * instead of letting it through.
 */
#include "policy.h"
#include "lua/policy.h"
#include "base/buf.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cairn_policy_input(const json_t *plan, json_t **out)
{
	json_t *changes = json_object_get(plan, "resource_changes"), *arr, *rc, *x;
	const char *env = json_string_value(json_object_get(plan, "environment"));
	static const char *const keys[] = { "address", "type", "name", "index", "action", "reason", "before",
					    "after", "after_unknown", NULL };
	size_t i, k;

	if (!env || !json_is_array(changes))
		return cairn_error_set(CAIRN_EINVAL, "not a cairn plan (no environment, no resource_changes)");
	arr = json_array();
	json_array_foreach(changes, i, rc) {
		x = json_object();
		for (k = 0; keys[k]; k++)
			if (json_object_get(rc, keys[k]))
				json_object_set(x, keys[k], json_object_get(rc, keys[k]));
		json_array_append_new(arr, x);
	}
	*out = json_pack("{s:s,s:O?,s:o}", "environment", env, "stack", json_object_get(plan, "stack"), "changes", arr);
	return *out ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
}

static void add_finding(json_t *out, const char *policy, const char *level, const char *message, const char *address)
{
	json_t *f = json_pack("{s:s,s:s,s:s}", "policy", policy, "level", level, "message", message);

	if (f && address)
		json_object_set_new(f, "address", json_string(address));
	if (f)
		json_array_append_new(out, f);
}

/* What a policy returned: nothing, or a list of {level, message, address}. */
static void take_findings(json_t *out, const char *policy, const json_t *res)
{
	static const char shape[] = "a policy returns a list of findings {level = \"deny\" or \"warn\", "
				    "message = \"...\", address = \"...\" (optional)}";
	cairn_buf why = CAIRN_BUF_INIT;
	json_t *f;
	size_t i;

	if (json_is_null(res) || (json_is_object(res) && json_object_size(res) == 0))
		return;
	if (!json_is_array(res)) {
		cairn_buf_printf(&why, "it returned a %s: %s", json_is_object(res) ? "table that is not a list" :
				 "value that is not a list", shape);
		goto invalid;
	}
	json_array_foreach(res, i, f) {
		const char *level = json_string_value(json_object_get(f, "level"));
		const char *msg = json_string_value(json_object_get(f, "message"));
		json_t *addr = json_object_get(f, "address");

		if (!json_is_object(f) || !level || (strcmp(level, "deny") && strcmp(level, "warn")) || !msg ||
		    (addr && !json_is_string(addr))) {
			cairn_buf_printf(&why, "finding %zu is malformed: %s", i + 1, shape);
			goto invalid;
		}
	}
	json_array_foreach(res, i, f)
		add_finding(out, policy, json_string_value(json_object_get(f, "level")),
			    json_string_value(json_object_get(f, "message")),
			    json_string_value(json_object_get(f, "address")));
	return;
invalid:
	add_finding(out, policy, "deny", cairn_buf_cstr(&why), NULL);
	cairn_buf_release(&why);
}

static int lua_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".lua");
}

int cairn_policy_run_dir(const char *dir, const char *shown, const json_t *input, json_t **out)
{
	struct dirent **names = NULL;
	json_t *findings = json_array();
	int n, i, rc = 0;

	n = scandir(dir, &names, lua_file, alphasort);
	if (n < 0) {
		if (errno != ENOENT) {
			rc = cairn_error_set(CAIRN_EIO, "cannot read the policies in %s: %s", dir, strerror(errno));
			json_decref(findings);
			return rc;
		}
		n = 0;
	}
	for (i = 0; i < n; i++) {
		cairn_buf path = CAIRN_BUF_INIT, display = CAIRN_BUF_INIT;
		json_t *res = NULL;

		cairn_buf_printf(&path, "%s/%s", dir, names[i]->d_name);
		cairn_buf_printf(&display, "%s/%s", shown, names[i]->d_name);
		if (cairn_lua_policy_run(cairn_buf_cstr(&path), cairn_buf_cstr(&display), input, NULL, &res) != 0) {
			/* an error is a deny, never a pass; the finding names the policy already */
			const char *m = cairn_error_last()->message;

			if (!strncmp(m, cairn_buf_cstr(&display), display.len) && !strncmp(m + display.len, ": ", 2))
				m += display.len + 2;
			add_finding(findings, cairn_buf_cstr(&display), "deny", m, NULL);
		} else {
			take_findings(findings, cairn_buf_cstr(&display), res);
		}
		json_decref(res);
		cairn_buf_release(&path);
		cairn_buf_release(&display);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	*out = findings;
	return 0;
}

int cairn_policy_check(cairn_engine *e, const char *pdir, json_t **out)
{
	cairn_buf dir = CAIRN_BUF_INIT;
	json_t *doc = NULL, *input = NULL;
	struct stat sb;
	int rc;

	if ((rc = pdir ? cairn_buf_puts(&dir, pdir) : cairn_buf_printf(&dir, "%s/policies", e->stack->dir)) != 0)
		goto cleanup;
	if (stat(cairn_buf_cstr(&dir), &sb) != 0 && errno == ENOENT) {
		/* no policies: no plan document to build (a big stack's costs time) */
		*out = json_array();
		goto cleanup;
	}
	if ((rc = cairn_plan_json(e, &doc)) != 0 || (rc = cairn_policy_input(doc, &input)) != 0)
		goto cleanup;
	rc = cairn_policy_run_dir(cairn_buf_cstr(&dir), "policies", input, out);
cleanup:
	cairn_buf_release(&dir);
	json_decref(doc);
	json_decref(input);
	return rc;
}

size_t cairn_policy_denies(const json_t *findings)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(findings, i, f)
		if (!strcmp(json_string_value(json_object_get(f, "level")), "deny"))
			n++;
	return n;
}
