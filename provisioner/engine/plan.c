/*
 * plan.c - a plan as a JSON document, and checking a saved plan against
 * the current config and state (the text people read is cli/render.c).
 *
 * Sensitive values are written as "(sensitive)", values known only after
 * apply as null. The JSON document is described in docs/plan-json.md; a
 * saved plan (plan -out FILE) is that document plus a MAC: HMAC-SHA256,
 * keyed by a key derived from the state key (state/secret.h), over the
 * document's canonical form (jansson's compact dump with sorted keys, the
 * "mac" member left out). Whoever cannot read the state key cannot make a
 * plan that `apply FILE` accepts, nor change one (an action, a value, a
 * serial); reformatting it or re-ordering its keys changes nothing.
 */
#include "engine.h"
#include "state/approvals.h"
#include "state/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAC_PREFIX "hmac-sha256:"
#define MAC_PREFIX_LEN (sizeof(MAC_PREFIX) - 1)
#define MAC_LEN 32
/* what the state key is stretched with, so the plan key is not the sealing key */
#define MAC_KEY_LABEL "cairn saved plan mac v1"

bool cairn_inst_is_sensitive(const cairn_inst *in, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach(in->sensitive, i, x)
		if (!strcmp(json_string_value(x), name))
			return true;
	return false;
}

static json_t *safe_value(const json_t *v, bool sensitive)
{
	if (sensitive && v && !json_is_null(v))
		return json_string("(sensitive)");
	if (cairn_has_unknown(v))
		return json_null();
	return v ? json_incref((json_t *)v) : json_null();
}

/* Every attribute of attrs, sensitive ones as "(sensitive)", unknown ones
 * null: the whole object before and after, for policies. */
static json_t *safe_object(const cairn_inst *in, const json_t *attrs)
{
	json_t *o;
	const char *k;
	json_t *v;

	if (!json_is_object(attrs))
		return json_null();
	o = json_object();
	json_object_foreach((json_t *)attrs, k, v)
		json_object_set_new(o, k, safe_value(v, cairn_inst_is_sensitive(in, k)));
	return o;
}

static json_t *inst_json(const cairn_inst *in)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "address", in->address, "type", in->type, "name", in->name,
			      "action", cairn_action_name(in->action));
	json_t *changes = json_array(), *after_unknown = json_array();
	size_t i;
	json_t *c;

	if (in->key)
		json_object_set(o, "index", in->key);
	if (in->reason)
		json_object_set_new(o, "reason", json_string(in->reason));
	if (in->action == CAIRN_ACT_REPLACE)
		json_object_set_new(o, "create_before_destroy", json_boolean(in->cbd));
	if (in->action == CAIRN_ACT_CREATE) {
		const char *k;
		json_t *v;

		json_object_foreach(in->planned, k, v) {
			if (json_is_null(v))
				continue;
			if (cairn_has_unknown(v))
				json_array_append_new(after_unknown, json_string(k));
			else
				json_array_append_new(changes, json_pack("{s:s,s:n,s:o,s:b,s:b}", "attribute", k, "before",
					"after", safe_value(v, cairn_inst_is_sensitive(in, k)), "force_new", 0, "sensitive", cairn_inst_is_sensitive(in, k)));
		}
	} else {
		json_array_foreach(in->changes, i, c) {
			bool sens = json_is_true(json_object_get(c, "sensitive"));
			json_t *after = json_object_get(c, "after");

			json_t *jc = json_pack("{s:O,s:o,s:o,s:O,s:b}", "attribute", json_object_get(c, "attribute"),
				"before", safe_value(json_object_get(c, "before"), sens), "after", safe_value(after, sens),
				"force_new", json_object_get(c, "force_new"), "sensitive", sens);

			if (jc && json_is_true(json_object_get(c, "write_only")))
				json_object_set_new(jc, "write_only", json_true());
			json_array_append_new(changes, jc);
			if (cairn_has_unknown(after))
				json_array_append(after_unknown, json_object_get(c, "attribute"));
		}
	}
	json_object_set_new(o, "changes", changes);
	json_object_set_new(o, "after_unknown", after_unknown);
	json_object_set_new(o, "before", safe_object(in, in->gone ? NULL : in->current));
	json_object_set_new(o, "after", in->action == CAIRN_ACT_DELETE ? json_null() : safe_object(in, in->planned));
	return o;
}

int cairn_plan_json(cairn_engine *e, json_t **out)
{
	json_t *doc, *rc = json_array(), *outs = json_object(), *ov = json_object();
	int add, change, destroy;
	size_t i;
	const char *k;
	json_t *v;

	cairn_engine_counts(e, &add, &change, &destroy);
	for (i = 0; i < e->ninsts; i++)
		if (e->insts[i].targeted)
			json_array_append_new(rc, inst_json(&e->insts[i]));
	json_object_foreach(e->outputs, k, v) {
		bool sens = false;
		size_t j;
		json_t *x;

		json_array_foreach(e->output_sensitive, j, x)
			if (!strcmp(json_string_value(x), k))
				sens = true;
		json_object_set_new(outs, k, json_pack("{s:o,s:b,s:b}", "value", safe_value(v, sens), "sensitive", sens,
						       "unknown", cairn_has_unknown(v)));
	}
	/* non-sensitive --var values, so that `apply FILE` sees the same config */
	if (e->opts.var_overrides)
		json_object_foreach(e->opts.var_overrides, k, v)
			if (!json_object_get(e->sensitive_vars, k))
				json_object_set(ov, k, v);
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:o,s:o,s:{s:i,s:i,s:i},s:o,s:o}",
		"format_version", "1", "cairn_version", CAIRN_VERSION, "stack", e->stack->name,
		"stack_file", e->stack->path, "environment", e->opts.env, "config_hash", e->config_hash,
		"state_serial", (json_int_t)e->serial, "refresh", e->opts.refresh, "resource_changes", rc,
		"outputs", outs, "summary", "add", add, "change", change, "destroy", destroy, "variables", ov,
		"inputs", e->inputs ? json_incref(e->inputs) : json_object());
	if (!doc)
		return cairn_error_set(CAIRN_ENOMEM, "cannot build the JSON plan");
	*out = doc;
	return 0;
}

/* ---------- the MAC of a saved plan ---------- */

/* mkdir -p for the directory of the state key, private like the state. */
static int make_key_dir(const char *dir)
{
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i;
	int rc = 0;

	if ((rc = cairn_buf_puts(&b, dir)) != 0)
		return rc;
	for (i = 1; i <= b.len && !rc; i++) {
		if (i < b.len && b.ptr[i] != '/')
			continue;
		b.ptr[i] = '\0';
		if (mkdir(b.ptr, 0700) != 0 && errno != EEXIST)
			rc = cairn_error_set(CAIRN_EIO, "cannot create directory %s for the state key: %s",
					     b.ptr, strerror(errno));
		if (i < b.len)
			b.ptr[i] = '/';
	}
	cairn_buf_release(&b);
	return rc;
}

/* The key plans are MACed with: HMAC-SHA256(state key, MAC_KEY_LABEL). The
 * state key is the store's (store.h): $CAIRN_STATE_KEY, or the file `key`
 * beside the state database, which `create` makes if it is missing. */
static int plan_mac_key(const char *state_path, bool create, unsigned char out[MAC_LEN])
{
	const char *slash = strrchr(state_path, '/');
	cairn_buf dir = CAIRN_BUF_INIT, file = CAIRN_BUF_INIT;
	cairn_secret_key k;
	unsigned int n = 0;
	int rc;

	if (cairn_store_is_url(state_path))
		rc = 0; /* a shared state: the key comes from CAIRN_STATE_KEY only */
	else if (!slash)
		rc = cairn_buf_puts(&dir, ".");
	else if (slash == state_path)
		rc = cairn_buf_puts(&dir, "/");
	else
		rc = cairn_buf_put(&dir, state_path, (size_t)(slash - state_path));
	if (rc || (dir.len && (rc = cairn_buf_printf(&file, "%s/key", dir.ptr)) != 0))
		goto cleanup;
	if (dir.len && create && !(getenv("CAIRN_STATE_KEY") && *getenv("CAIRN_STATE_KEY")) &&
	    (rc = make_key_dir(dir.ptr)) != 0)
		goto cleanup;
	if ((rc = cairn_secret_key_load(&k, dir.len ? file.ptr : NULL, create)) != 0)
		goto cleanup;
	if (!HMAC(EVP_sha256(), k.k, sizeof(k.k), (const unsigned char *)MAC_KEY_LABEL, strlen(MAC_KEY_LABEL), out, &n) ||
	    n != MAC_LEN)
		rc = cairn_error_set(CAIRN_ERROR, "cannot derive the key of saved plans (HMAC-SHA256 failed)");
	OPENSSL_cleanse(&k, sizeof(k));

cleanup:
	cairn_buf_release(&dir);
	cairn_buf_release(&file);
	return rc;
}

/* "hmac-sha256:HEX" of doc's canonical form without its "mac" member. */
static int plan_mac(const unsigned char key[MAC_LEN], json_t *doc, char out[MAC_PREFIX_LEN + 2 * MAC_LEN + 1])
{
	json_t *body = json_copy(doc); /* shallow: the members are shared, not changed */
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char *text = NULL;
	int rc = 0;

	if (body)
		json_object_del(body, "mac");
	if (!body || !(text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot serialise the plan for its MAC");
		goto cleanup;
	}
	if (!HMAC(EVP_sha256(), key, MAC_LEN, (const unsigned char *)text, strlen(text), mac, &n) || n != MAC_LEN) {
		rc = cairn_error_set(CAIRN_ERROR, "cannot compute the MAC of the plan (HMAC-SHA256 failed)");
		goto cleanup;
	}
	memcpy(out, MAC_PREFIX, MAC_PREFIX_LEN);
	for (i = 0; i < n; i++) {
		out[MAC_PREFIX_LEN + 2 * i] = "0123456789abcdef"[mac[i] >> 4];
		out[MAC_PREFIX_LEN + 2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
	}
	out[MAC_PREFIX_LEN + 2 * n] = '\0';

cleanup:
	free(text);
	json_decref(body);
	return rc;
}

int cairn_plan_save(cairn_engine *e, const json_t *extra, char **out)
{
	unsigned char key[MAC_LEN];
	char mac[MAC_PREFIX_LEN + 2 * MAC_LEN + 1];
	json_t *doc = NULL;
	char *text;
	int rc;

	if ((rc = cairn_plan_json(e, &doc)) != 0)
		return rc;
	json_object_set_new(doc, "destroy", json_boolean(false));
	if (extra && json_object_update(doc, (json_t *)extra) != 0) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot build the saved plan");
		goto cleanup;
	}
	{
		/* who made the plan: an approval by the same person may not count (approvals.h) */
		char who[128];

		cairn_store_whoami(who, sizeof(who));
		json_object_set_new(doc, "author", json_string(who));
	}
	if ((rc = plan_mac_key(e->state_path, true, key)) != 0) {
		cairn_error_prefix("cannot sign the saved plan");
		goto cleanup;
	}
	if ((rc = plan_mac(key, doc, mac)) != 0)
		goto cleanup;
	json_object_set_new(doc, "mac", json_string(mac));
	if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot serialise the plan");
		goto cleanup;
	}
	*out = text;

cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(doc);
	return rc;
}

/* Is doc the plan as `plan -out` wrote it, under this state's key? */
static int check_mac(const char *state_path, json_t *doc, const char *path)
{
	const char *have = json_string_value(json_object_get(doc, "mac"));
	char want[MAC_PREFIX_LEN + 2 * MAC_LEN + 1];
	unsigned char key[MAC_LEN];
	int rc;

	if (!have)
		return cairn_error_set(CAIRN_EINVAL, "the saved plan %s has no \"mac\": it was edited, or not written "
			"by 'cairn plan -out'; it is refused (run plan -out again)", path);
	if ((rc = plan_mac_key(state_path, false, key)) != 0) {
		cairn_error_prefix("cannot check the saved plan %s", path);
		return rc;
	}
	rc = plan_mac(key, doc, want);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc)
		return rc;
	if (strlen(have) != strlen(want) || CRYPTO_memcmp(have, want, strlen(want)) != 0)
		return cairn_error_set(CAIRN_EINVAL, "the saved plan %s was edited since it was made, or made with "
			"another state key: its MAC does not match its content; it is refused (run plan -out again)", path);
	return 0;
}

/* ---------- applying a saved plan ---------- */

/* "malformed plan file: 'state_serial' must be a whole number, got 1e+30" */
static int malformed_member(const char *name, const char *want, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc;

	if (s && strlen(s) > 64)
		memcpy(s + 60, "...", 4);
	rc = cairn_error_set(CAIRN_EINVAL, "malformed plan file: '%s' must be %s, got %s", name, want,
			     s ? s : "nothing");
	free(s);
	return rc;
}

int cairn_plan_load_saved(cairn_engine *e, json_t *doc, const char *path, json_t **forced)
{
	const char *fv = json_string_value(json_object_get(doc, "format_version"));
	const char *hash = json_string_value(json_object_get(doc, "config_hash"));
	json_t *serial = json_object_get(doc, "state_serial"), *list = json_object_get(doc, "resource_changes");
	json_t *f, *x;
	size_t i;
	int rc;

	if (!fv || strcmp(fv, "1") != 0)
		return cairn_error_set(CAIRN_EINVAL, "not a cairn plan file (format_version 1 expected)");
	if (!hash)
		return cairn_error_set(CAIRN_EINVAL, "malformed plan file: 'config_hash' must be a string");
	if (!json_is_integer(serial) || json_integer_value(serial) < 0)
		return malformed_member("state_serial", "a whole number, 0 or more", serial);
	if (!json_is_array(list))
		return malformed_member("resource_changes", "a list", list);
	if ((rc = check_mac(e->state_path, doc, path)) != 0)
		return rc;
	if (e->nintents)
		return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: an interrupted run left %zu pending "
			"operation(s) in environment '%s'; recover them with 'cairn apply -e %s' (it asks before "
			"changing anything more), then run plan again", e->nintents, e->opts.env, e->opts.env);
	if (strcmp(hash, e->config_hash) != 0)
		return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: the configuration of environment '%s' "
			"(stack, overlay, modules or --var values) changed since it was made; run plan again", e->opts.env);
	{
		json_t *inputs = json_object_get(doc, "inputs"), *fp;
		const char *path;

		/* the files that file() and fileexists() read when the plan was made */
		json_object_foreach(inputs, path, fp) {
			char now[96];

			if (!json_is_string(fp))
				return cairn_error_set(CAIRN_EINVAL, "malformed plan file: input %s", path);
			if (!cairn_file_unchanged(path, json_string_value(fp), now, sizeof(now)))
				return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: %s, which the configuration "
					"of environment '%s' reads, changed since the plan was made (%s, now %s); "
					"run plan again", path, e->opts.env, json_string_value(fp), now);
		}
	}
	if (json_integer_value(serial) != e->serial)
		return cairn_error_set(CAIRN_ESTALE, "the saved plan is stale: the state of environment '%s' changed "
			"since it was made (serial %lld, now %lld); run plan again", e->opts.env,
			(long long)json_integer_value(serial), (long long)e->serial);
	f = json_object();
	json_array_foreach(list, i, x) {
		const char *addr = json_string_value(json_object_get(x, "address"));
		const char *act = json_string_value(json_object_get(x, "action"));
		json_t *attrs = json_array(), *c;
		size_t j;

		if (!addr || !act) {
			json_decref(attrs);
			json_decref(f);
			return cairn_error_set(CAIRN_EINVAL, "malformed plan file: resource change %zu", i);
		}
		if (!strcmp(act, "no-op")) {
			json_decref(attrs);
			continue;
		}
		json_array_foreach(json_object_get(x, "changes"), j, c)
			json_array_append(attrs, json_object_get(c, "attribute"));
		json_object_set_new(f, addr, json_pack("{s:s,s:o}", "action", act, "attributes", attrs));
	}
	*forced = f;
	return 0;
}

int cairn_plan_check_mac(const char *state_path, json_t *doc, const char *path)
{
	return check_mac(state_path, doc, path);
}

int cairn_plan_verify_saved(cairn_engine *e, json_t *forced)
{
	size_t i;
	const char *k;
	json_t *v;

	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		json_t *fx = json_object_get(forced, in->address);
		const char *want = fx ? json_string_value(json_object_get(fx, "action")) : "no-op";

		if (!in->targeted)
			continue;
		if (strcmp(want, cairn_action_name(in->action)) != 0)
			return cairn_error_set(CAIRN_ESTALE, "the saved plan no longer matches: %s would now %s instead of %s; "
				"run plan again", in->address, cairn_action_name(in->action), want);
	}
	json_object_foreach(forced, k, v)
		if (!cairn_engine_inst(e, k))
			return cairn_error_set(CAIRN_ESTALE, "the saved plan no longer matches: %s is gone; run plan again", k);
	return 0;
}
