/*
 * resources.c - what the store records about an environment: its resources
 * (with sealed sensitive attributes), the intents written before a cloud
 * call, and its outputs. See store.h for the contract.
 *
 * A put is on the engine's hot path (one per finished operation, 10,000 in
 * a large apply): it runs cached statements only, encodes JSON once, and
 * touches the key only when the resource has sensitive attributes.
 */
#include "store_int.h"
#include "base/digest.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ---- JSON columns ---- */

static int dump(char **out, const json_t *v, const char *dflt)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup(dflt);

	if (!s)
		return cairn_error_set(v ? CAIRN_EINVAL : CAIRN_ENOMEM,
				       "cannot encode a value as JSON");
	*out = s;
	return 0;
}

/* ["a","b"]: an array of strings without escapes or control characters
 * (a dependency list as the store writes it), built without the parser,
 * which costs more to set up than such a list to read; anything else
 * (spaces, escapes, other values): NULL, and the parser reads it. */
static json_t *plain_strings(const char *t, size_t n)
{
	json_t *a, *v;
	size_t i = 1, j;

	if (n < 2 || t[0] != '[' || t[n - 1] != ']' || !(a = json_array()))
		return NULL;
	while (i < n - 1) {
		if (t[i] != '"')
			goto no;
		for (j = i + 1; j < n - 1 && t[j] != '"'; j++)
			if (t[j] == '\\' || (unsigned char)t[j] < 0x20)
				goto no;
		/* json_stringn refuses invalid UTF-8, as the parser does */
		if (j >= n - 1 || !(v = json_stringn(t + i + 1, j - i - 1)) || json_array_append_new(a, v) != 0)
			goto no;
		i = j + 1;
		if (i < n - 1 && (t[i] != ',' || ++i == n - 1))
			goto no;
	}
	return a;
no:
	json_decref(a);
	return NULL;
}

static int load_col(json_t **out, cairn_dbstmt *s, int i, const char *what, const char *addr)
{
	const char *t = cairn_db_col_text(s, i);
	int n = cairn_db_col_bytes(s, i);
	json_error_t je;
	json_t *v;

	if (!t)
		return cairn_error_set(CAIRN_ECORRUPT, "%s of '%s' is missing", what, addr);
	/* the common empty cases without the parser (list is on the hot path) */
	if (n == 2 && (strcmp(t, "[]") == 0 || strcmp(t, "{}") == 0)) {
		if (!(v = t[0] == '[' ? json_array() : json_object()))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		*out = v;
		return 0;
	}
	if (n > 2 && t[0] == '[' && (v = plain_strings(t, (size_t)n))) {
		*out = v;
		return 0;
	}
	v = json_loadb(t, (size_t)n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!v)
		return cairn_error_set(CAIRN_ECORRUPT, "%s of '%s' is not valid JSON: %s",
				       what, addr, je.text);
	*out = v;
	return 0;
}

/* A copy of attrs with every attribute named in `sensitive` sealed. */
static int seal_attrs(cairn_store *st, json_t **out, const json_t *attrs, const json_t *sensitive)
{
	const cairn_secret_key *key = NULL;
	json_t *copy = NULL, *name, *sealed = NULL;
	size_t i;
	int rc = 0;

	if (!(copy = attrs ? json_copy((json_t *)attrs) : json_object()))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_array_foreach(sensitive, i, name) {
		const char *k = json_string_value(name);
		json_t *v = k ? json_object_get(copy, k) : NULL;

		if (!v)
			continue;
		if (!key && (rc = cairn_store__key(st, &key)) < 0)
			goto cleanup;
		if ((rc = cairn_secret_seal(&sealed, key, v)) < 0)
			goto cleanup;
		if (json_object_set_new(copy, k, sealed) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = copy;
	copy = NULL;

cleanup:
	json_decref(copy);
	return rc;
}

static int unseal_attrs(cairn_store *st, json_t *attrs, const json_t *sensitive,
			const char *env, const char *address)
{
	const cairn_secret_key *key = NULL;
	json_t *name, *plain = NULL;
	size_t i;
	int rc;

	json_array_foreach(sensitive, i, name) {
		const char *k = json_string_value(name);
		const char *v = k ? json_string_value(json_object_get(attrs, k)) : NULL;

		if (!cairn_secret_is_sealed(v))
			continue;
		if (!key && (rc = cairn_store__key(st, &key)) < 0)
			goto fail;
		if ((rc = cairn_secret_unseal(&plain, key, v)) < 0)
			goto fail;
		if (json_object_set_new(attrs, k, plain) != 0)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		continue;
fail:
		cairn_error_prefix("cannot read attribute '%s' of '%s' in environment '%s' of %s",
				   k, address, env, st->path);
		return rc;
	}
	return 0;
}

/* ---- resources ---- */

void cairn_state_res_release(cairn_state_res *r)
{
	if (!r)
		return;
	free(r->address);
	free(r->name);
	free(r->type);
	free(r->id);
	json_decref(r->attrs);
	free(r->attrs_text);
	json_decref(r->sensitive);
	json_decref(r->deps);
	free(r->token);
	memset(r, 0, sizeof(*r));
}

json_t *cairn_state_res_attrs(const cairn_state_res *row)
{
	cairn_state_res *r = (cairn_state_res *)row; /* the parse is a cache of the row's */
	json_error_t je;

	if (!r || r->attrs || !r->attrs_text)
		return r ? r->attrs : NULL;
	r->attrs = json_loads(r->attrs_text, JSON_ALLOW_NUL, &je);
	if (!json_is_object(r->attrs)) {
		json_decref(r->attrs);
		r->attrs = json_object();
		r->damaged = true;
	}
	free(r->attrs_text);
	r->attrs_text = NULL;
	return r->attrs;
}

void cairn_state_res_free_array(cairn_state_res *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		cairn_state_res_release(&v[i]);
	free(v);
}

/* Fill r from a row of RES_COLS (lazy: attributes without sensitive ones
 * kept as text). */
static int read_res(cairn_store *st, const char *env, cairn_dbstmt *s, cairn_state_res *r, bool lazy)
{
	cairn_state_res t;
	int rc = 0;

	memset(&t, 0, sizeof(t));
	t.address = cairn_store__col_strdup(s, 0, &rc);
	t.name = cairn_store__col_strdup(s, 1, &rc);
	t.type = cairn_store__col_strdup(s, 2, &rc);
	t.id = cairn_store__col_strdup(s, 3, &rc);
	t.token = cairn_store__col_strdup(s, 7, &rc);
	if (rc < 0)
		goto cleanup;
	if (!t.address || !t.name || !t.type) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "a resource row of environment '%s' in %s is incomplete",
				     env, st->path);
		goto cleanup;
	}
	if (cairn_db_col_text(s, 4))
		cairn_sha256(cairn_db_col_text(s, 4), (size_t)cairn_db_col_bytes(s, 4), t.text_sha);
	if ((rc = load_col(&t.sensitive, s, 5, "sensitive list", t.address)) < 0 ||
	    (rc = load_col(&t.deps, s, 6, "dependencies", t.address)) < 0)
		goto cleanup;
	if (lazy && json_array_size(t.sensitive) == 0 && cairn_db_col_text(s, 4) &&
	    cairn_db_col_text(s, 4)[0] == '{') {
		if (!(t.attrs_text = strndup(cairn_db_col_text(s, 4), (size_t)cairn_db_col_bytes(s, 4)))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	} else if ((rc = load_col(&t.attrs, s, 4, "attributes", t.address)) < 0) {
		goto cleanup;
	}
	if ((!t.attrs_text && !json_is_object(t.attrs)) || !json_is_array(t.sensitive) || !json_is_array(t.deps)) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "resource '%s' of environment '%s' in %s has a damaged row",
				     t.address, env, st->path);
		goto cleanup;
	}
	if (json_array_size(t.sensitive) > 0 &&
	    (rc = unseal_attrs(st, t.attrs, t.sensitive, env, t.address)) < 0)
		goto cleanup;
	t.created_at = cairn_db_col_int64(s, 8);
	t.updated_at = cairn_db_col_int64(s, 9);
	t.rev = cairn_db_col_int64(s, 10);
	*r = t;
	return 0;

cleanup:
	cairn_state_res_release(&t);
	return rc;
}

static int list_rows(cairn_store *st, const char *env, cairn_state_res **out, size_t *n, bool lazy);

int cairn_store_list(cairn_store *st, const char *env, cairn_state_res **out, size_t *n)
{
	return list_rows(st, env, out, n, false);
}

int cairn_store_list_lazy(cairn_store *st, const char *env, cairn_state_res **out, size_t *n)
{
	return list_rows(st, env, out, n, true);
}

static int list_rows(cairn_store *st, const char *env, cairn_state_res **out, size_t *n, bool lazy)
{
	cairn_dbstmt *s = NULL;
	cairn_state_res *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, step;

	if ((rc = cairn_store__stmt(st, STMT_RES_LIST, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			v = nv;
		}
		if ((rc = read_res(st, env, s, &v[len], lazy)) < 0)
			goto cleanup;
		len++;
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "list resources");
		goto cleanup;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;

cleanup:
	cairn_store__done(s);
	cairn_state_res_free_array(v, len);
	return rc;
}

int cairn_store_get(cairn_store *st, const char *env, const char *address, cairn_state_res *out)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, STMT_RES_GET, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, address);
	rc = cairn_db_step(s);
	if (rc == CAIRN_DB_ROW)
		rc = read_res(st, env, s, out, false);
	else if (rc == CAIRN_DB_DONE)
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no resource '%s' in environment '%s'", address, env);
	else
		rc = cairn_store__sqlerr(st, rc, "read a resource");
	cairn_store__done(s);
	return rc;
}

static int add_change(cairn_store *st, int64_t rev, const char *env, const char *address,
		      const char *prev, const char *type, const char *action, const char *id)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if (rev <= 0)
		return 0; /* no revision: nothing to record it in */
	if ((rc = cairn_store__stmt(st, STMT_CHANGE_ADD, &s)) < 0)
		return rc;
	cairn_db_bind_int64(s, 1, rev);
	cairn_store__bind_text(s, 2, env);
	cairn_store__bind_text(s, 3, address);
	cairn_store__bind_text(s, 4, prev);
	cairn_store__bind_text(s, 5, type);
	cairn_store__bind_text(s, 6, action);
	cairn_store__bind_text(s, 7, id);
	cairn_db_bind_int64(s, 8, cairn_store__now());
	rc = cairn_db_defer(s, "record a change");
	if (rc == CAIRN_DB_DONE)
		rc = 0;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = cairn_error_set(CAIRN_EINVAL, "cannot record a change of '%s': there is no revision %lld in %s",
				     address, (long long)rev, st->path);
	else
		rc = cairn_store__sqlerr(st, rc, "record a change");
	cairn_store__done(s);
	return rc;
}

static int clear_intent(cairn_store *st, int64_t intent_id)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if (intent_id <= 0)
		return 0;
	if ((rc = cairn_store__stmt(st, STMT_INTENT_CLEAR, &s)) < 0)
		return rc;
	cairn_db_bind_int64(s, 1, intent_id);
	rc = cairn_db_defer(s, "clear an intent");
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "clear an intent");
	cairn_store__done(s);
	return rc;
}

/* The config name of an address: "web[0]" -> "web". */
static char *name_of(const char *address)
{
	const char *b = strchr(address, '[');

	return b ? strndup(address, (size_t)(b - address)) : strdup(address);
}

static int upsert_res(cairn_store *st, const char *env, int64_t rev, const cairn_state_res *r,
		      const char *name)
{
	cairn_dbstmt *s = NULL;
	json_t *sealed = NULL;
	char *attrs = NULL, *sens = NULL, *deps = NULL;
	int rc;

	if (r->sensitive && json_array_size(r->sensitive) > 0) {
		if ((rc = seal_attrs(st, &sealed, r->attrs, r->sensitive)) < 0)
			goto cleanup;
	}
	if ((rc = dump(&attrs, sealed ? sealed : r->attrs, "{}")) < 0 ||
	    (rc = dump(&sens, r->sensitive, "[]")) < 0 ||
	    (rc = dump(&deps, r->deps, "[]")) < 0 ||
	    (rc = cairn_store__stmt(st, STMT_RES_UPSERT, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, r->address);
	cairn_store__bind_text(s, 3, name);
	cairn_store__bind_text(s, 4, r->type);
	cairn_store__bind_text(s, 5, r->id);
	cairn_store__bind_text(s, 6, attrs);
	cairn_store__bind_text(s, 7, sens);
	cairn_store__bind_text(s, 8, deps);
	cairn_store__bind_text(s, 9, r->token);
	cairn_db_bind_int64(s, 10, r->created_at);
	cairn_db_bind_int64(s, 11, cairn_store__now());
	cairn_db_bind_int64(s, 12, rev);
	rc = cairn_db_defer(s, "write a resource");
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "write a resource");

cleanup:
	cairn_store__done(s);
	json_decref(sealed);
	free(attrs);
	free(sens);
	free(deps);
	return rc;
}

int cairn_store_put(cairn_store *st, const char *env, int64_t rev, const char *action,
		    const cairn_state_res *r, int64_t intent_id)
{
	char *name = NULL;
	int rc;

	if (!env || !*env || !r || !r->address || !*r->address || !r->type || !action)
		return cairn_error_set(CAIRN_EINVAL, "cannot write a resource without environment, address, type and action");
	if (r->attrs && !json_is_object(r->attrs))
		return cairn_error_set(CAIRN_EINVAL, "attributes of '%s' must be an object", r->address);
	if ((r->sensitive && !json_is_array(r->sensitive)) || (r->deps && !json_is_array(r->deps)))
		return cairn_error_set(CAIRN_EINVAL, "sensitive and deps of '%s' must be arrays", r->address);
	if (!(name = r->name ? strdup(r->name) : name_of(r->address)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto cleanup;
	if ((rc = cairn_store__bump_serial(st, env)) == 0 &&
	    (rc = upsert_res(st, env, rev, r, name)) == 0 &&
	    (rc = add_change(st, rev, env, r->address, NULL, r->type, action, r->id)) == 0)
		rc = clear_intent(st, intent_id);
	rc = cairn_store__tx_end(st, rc);

cleanup:
	free(name);
	return rc;
}

static int delete_res(cairn_store *st, const char *env, int64_t rev, const char *action,
		      const char *address)
{
	cairn_dbstmt *s = NULL;
	char *type = NULL, *id = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, STMT_RES_DELETE, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, address);
	rc = cairn_db_step(s);
	if (rc == CAIRN_DB_DONE) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no resource '%s' in environment '%s'", address, env);
		goto cleanup;
	}
	if (rc != CAIRN_DB_ROW) {
		rc = cairn_store__sqlerr(st, rc, "remove a resource");
		goto cleanup;
	}
	rc = 0;
	type = cairn_store__col_strdup(s, 0, &rc);
	id = cairn_store__col_strdup(s, 1, &rc);
	if (rc < 0)
		goto cleanup;
	/* finish the DELETE before the next statement */
	while ((rc = cairn_db_step(s)) == CAIRN_DB_ROW)
		;
	if (rc != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, rc, "remove a resource");
		goto cleanup;
	}
	cairn_store__done(s);
	s = NULL;
	rc = add_change(st, rev, env, address, NULL, type ? type : "", action, id);

cleanup:
	cairn_store__done(s);
	free(type);
	free(id);
	return rc;
}

int cairn_store_remove(cairn_store *st, const char *env, int64_t rev, const char *action,
		       const char *address, int64_t intent_id)
{
	int rc;

	if (!env || !address || !action)
		return cairn_error_set(CAIRN_EINVAL, "cannot remove a resource without environment, address and action");
	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	if ((rc = delete_res(st, env, rev, action, address)) == 0 &&
	    (rc = cairn_store__bump_serial(st, env)) == 0)
		rc = clear_intent(st, intent_id);
	return cairn_store__tx_end(st, rc);
}

/* Look up address: 1 if present (type copied out), 0 if absent. */
static int res_lookup(cairn_store *st, const char *env, const char *address,
		      char **name, char **type, char **id)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, STMT_RES_EXISTS, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, address);
	rc = cairn_db_step(s);
	if (rc == CAIRN_DB_ROW) {
		rc = 0;
		if (name)
			*name = cairn_store__col_strdup(s, 0, &rc);
		if (type)
			*type = cairn_store__col_strdup(s, 1, &rc);
		if (id)
			*id = cairn_store__col_strdup(s, 2, &rc);
		if (rc == 0)
			rc = 1;
	} else if (rc == CAIRN_DB_DONE) {
		rc = 0;
	} else {
		rc = cairn_store__sqlerr(st, rc, "look up a resource");
	}
	cairn_store__done(s);
	return rc;
}

static int rename_res(cairn_store *st, const char *env, int64_t rev, const char *from, const char *to)
{
	cairn_dbstmt *s = NULL;
	char *old_name = NULL, *type = NULL, *id = NULL, *from_name = NULL, *new_name = NULL;
	int rc;

	if ((rc = res_lookup(st, env, to, NULL, NULL, NULL)) < 0)
		goto cleanup;
	if (rc == 1) {
		rc = cairn_error_set(CAIRN_EINVAL, "cannot move '%s' to '%s' in environment '%s': '%s' exists",
				     from, to, env, to);
		goto cleanup;
	}
	if ((rc = res_lookup(st, env, from, &old_name, &type, &id)) < 0)
		goto cleanup;
	if (rc == 0) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no resource '%s' in environment '%s'", from, env);
		goto cleanup;
	}
	if (!(from_name = name_of(from)) || !(new_name = name_of(to))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cairn_store__stmt(st, STMT_RES_RENAME, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, from);
	cairn_store__bind_text(s, 3, to);
	/* keep a name that was not derived from the address */
	cairn_store__bind_text(s, 4, old_name && strcmp(old_name, from_name) != 0 ? old_name : new_name);
	cairn_db_bind_int64(s, 5, rev);
	cairn_db_bind_int64(s, 6, cairn_store__now());
	rc = cairn_db_step(s);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "move a resource");
	cairn_store__done(s);
	if (rc == 0)
		rc = add_change(st, rev, env, to, from, type, "mv", id);

cleanup:
	free(old_name);
	free(type);
	free(id);
	free(from_name);
	free(new_name);
	return rc;
}

int cairn_store_move(cairn_store *st, const char *env, int64_t rev, const char *from, const char *to)
{
	int rc;

	if (!env || !from || !to || !*to)
		return cairn_error_set(CAIRN_EINVAL, "cannot move a resource without environment and addresses");
	if (strcmp(from, to) == 0)
		return cairn_error_set(CAIRN_EINVAL, "cannot move '%s' onto itself", from);
	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	if ((rc = rename_res(st, env, rev, from, to)) == 0)
		rc = cairn_store__bump_serial(st, env);
	return cairn_store__tx_end(st, rc);
}

/* ---- intents ---- */

int cairn_store_intent_add(cairn_store *st, const char *env, int64_t rev, const char *address,
			   const char *type, const char *op, const char *token,
			   json_t *payload, int64_t *id_out)
{
	const cairn_secret_key *key = NULL;
	cairn_dbstmt *s = NULL;
	json_t *sealed = NULL;
	json_t *null = json_null();
	int64_t id = 0;
	int rc, step;

	if (!env || !address || !type || !op)
		return cairn_error_set(CAIRN_EINVAL, "cannot record an intent without environment, address, type and operation");
	/* the payload may carry secret properties: it is sealed whole */
	if ((rc = cairn_store__writable(st)) < 0 ||
	    (rc = cairn_store__key(st, &key)) < 0 ||
	    (rc = cairn_secret_seal(&sealed, key, payload ? payload : null)) < 0)
		goto cleanup;
	if ((rc = cairn_store__tx_begin(st)) < 0)
		goto cleanup;
	if ((rc = cairn_store__stmt(st, STMT_INTENT_ADD, &s)) == 0) {
		cairn_store__bind_text(s, 1, env);
		cairn_db_bind_int64(s, 2, rev);
		cairn_store__bind_text(s, 3, address);
		cairn_store__bind_text(s, 4, type);
		cairn_store__bind_text(s, 5, op);
		cairn_store__bind_text(s, 6, token);
		cairn_store__bind_text(s, 7, json_string_value(sealed));
		cairn_db_bind_int64(s, 8, cairn_store__now());
		step = cairn_db_defer(s, "record an intent");
		if (st->is_pg && step == CAIRN_DB_ROW) {
			/* PostgreSQL, run at once: the id came back (RETURNING id) */
			id = cairn_db_col_int64(s, 0);
			rc = 0;
		} else if (st->is_pg && step == CAIRN_DB_DONE) {
			/* PostgreSQL, pipelined: the id is read after tx_end */
			id = -1;
			rc = 0;
		} else {
			rc = step == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, step, "record an intent");
			if (rc == 0)
				id = cairn_db_last_id(st->db);
		}
		if (id >= 0) {
			cairn_store__done(s);
			s = NULL;
		}
	}
	rc = cairn_store__tx_end(st, rc);
	if (s) {
		if (rc == 0 && (step = cairn_db_step(s)) != CAIRN_DB_ROW)
			rc = cairn_store__sqlerr(st, step == CAIRN_DB_DONE ? SQLITE_ERROR : step, "record an intent");
		else if (rc == 0)
			id = cairn_db_col_int64(s, 0);
		cairn_store__done(s);
	}
	if (rc == 0 && id_out)
		*id_out = id;

cleanup:
	json_decref(sealed);
	return rc;
}

int cairn_store_intent_clear(cairn_store *st, int64_t id)
{
	int rc;

	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	rc = clear_intent(st, id);
	return cairn_store__tx_end(st, rc);
}

void cairn_intent_free_array(cairn_intent *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].address);
		free(v[i].type);
		free(v[i].op);
		free(v[i].token);
		json_decref(v[i].payload);
	}
	free(v);
}

static int read_intent(cairn_store *st, cairn_dbstmt *s, cairn_intent *it)
{
	const cairn_secret_key *key = NULL;
	const char *sealed;
	int rc = 0;

	memset(it, 0, sizeof(*it));
	it->id = cairn_db_col_int64(s, 0);
	it->address = cairn_store__col_strdup(s, 1, &rc);
	it->type = cairn_store__col_strdup(s, 2, &rc);
	it->op = cairn_store__col_strdup(s, 3, &rc);
	it->token = cairn_store__col_strdup(s, 4, &rc);
	it->rev = cairn_db_col_int64(s, 6);
	it->started_at = cairn_db_col_int64(s, 7);
	if (rc < 0)
		return rc;
	sealed = cairn_db_col_text(s, 5);
	if ((rc = cairn_store__key(st, &key)) < 0 ||
	    (rc = cairn_secret_unseal(&it->payload, key, sealed ? sealed : "")) < 0)
		cairn_error_prefix("cannot read the intent for '%s' in %s",
				   it->address ? it->address : "?", st->path);
	return rc;
}

int cairn_store_intents(cairn_store *st, const char *env, cairn_intent **out, size_t *n)
{
	cairn_dbstmt *s = NULL;
	cairn_intent *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, step;

	if ((rc = cairn_store__stmt(st, STMT_INTENT_LIST, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			v = nv;
		}
		rc = read_intent(st, s, &v[len]);
		len++; /* even when failed: its fields are freed below */
		if (rc < 0)
			goto cleanup;
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "list intents");
		goto cleanup;
	}
	*out = v;
	*n = len;
	v = NULL;
	len = 0;

cleanup:
	cairn_store__done(s);
	cairn_intent_free_array(v, len);
	return rc;
}

/* ---- outputs ---- */

static int is_listed(const json_t *names, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(names, i, e) {
		if (json_is_string(e) && strcmp(json_string_value(e), name) == 0)
			return 1;
	}
	return 0;
}

static int add_output(cairn_store *st, const char *env, int64_t rev, const char *name,
		      json_t *value, int sensitive)
{
	const cairn_secret_key *key = NULL;
	cairn_dbstmt *s = NULL;
	json_t *sealed = NULL;
	char *text = NULL;
	int rc;

	if (sensitive) {
		if ((rc = cairn_store__key(st, &key)) < 0 ||
		    (rc = cairn_secret_seal(&sealed, key, value)) < 0)
			goto cleanup;
		if (!(text = strdup(json_string_value(sealed)))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	} else if ((rc = dump(&text, value, "null")) < 0) {
		goto cleanup;
	}
	if ((rc = cairn_store__stmt(st, STMT_OUT_ADD, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, name);
	cairn_store__bind_text(s, 3, text);
	cairn_db_bind_int64(s, 4, sensitive);
	cairn_db_bind_int64(s, 5, rev);
	rc = cairn_db_step(s);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "write an output");

cleanup:
	cairn_store__done(s);
	json_decref(sealed);
	free(text);
	return rc;
}

int cairn_store_outputs_set(cairn_store *st, const char *env, int64_t rev, json_t *values, json_t *sensitive)
{
	cairn_dbstmt *s = NULL;
	const char *name;
	json_t *v;
	int rc;

	if (!env || (values && !json_is_object(values)) || (sensitive && !json_is_array(sensitive)))
		return cairn_error_set(CAIRN_EINVAL, "outputs must be an object and their sensitive names an array");
	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	if ((rc = cairn_store__bump_serial(st, env)) < 0 ||
	    (rc = cairn_store__stmt(st, STMT_OUT_CLEAR, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	rc = cairn_db_step(s);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "clear outputs");
	cairn_store__done(s);
	if (rc < 0)
		goto cleanup;
	json_object_foreach(values, name, v) {
		if ((rc = add_output(st, env, rev, name, v, is_listed(sensitive, name))) < 0)
			goto cleanup;
	}

cleanup:
	return cairn_store__tx_end(st, rc);
}

static int read_output(cairn_store *st, cairn_dbstmt *s, const char *env, json_t *values, json_t *sens)
{
	const cairn_secret_key *key = NULL;
	const char *name = cairn_db_col_text(s, 0);
	const char *text = cairn_db_col_text(s, 1);
	json_t *v = NULL;
	int rc;

	if (!name || !text)
		return cairn_error_set(CAIRN_ECORRUPT, "an output row of environment '%s' in %s is incomplete",
				       env, st->path);
	if (cairn_db_col_int64(s, 2)) {
		if ((rc = cairn_store__key(st, &key)) < 0 ||
		    (rc = cairn_secret_unseal(&v, key, text)) < 0) {
			cairn_error_prefix("cannot read output '%s' of environment '%s' in %s",
					   name, env, st->path);
			return rc;
		}
		if (json_array_append_new(sens, json_string(name)) != 0) {
			json_decref(v);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
	} else if ((rc = load_col(&v, s, 1, "output", name)) < 0) {
		return rc;
	}
	if (json_object_set_new(values, name, v) != 0)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

int cairn_store_outputs_get(cairn_store *st, const char *env, json_t **values, json_t **sensitive)
{
	cairn_dbstmt *s = NULL;
	json_t *vals = json_object(), *sens = json_array();
	int rc, step;

	if (!vals || !sens) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cairn_store__stmt(st, STMT_OUT_LIST, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	while ((step = cairn_db_step(s)) == CAIRN_DB_ROW) {
		if ((rc = read_output(st, s, env, vals, sens)) < 0)
			goto cleanup;
	}
	if (step != CAIRN_DB_DONE) {
		rc = cairn_store__sqlerr(st, step, "read outputs");
		goto cleanup;
	}
	*values = vals;
	vals = NULL;
	if (sensitive) {
		*sensitive = sens;
		sens = NULL;
	}

cleanup:
	cairn_store__done(s);
	json_decref(vals);
	json_decref(sens);
	return rc;
}
