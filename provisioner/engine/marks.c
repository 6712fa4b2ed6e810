/*
 * marks.c - cairn drift's read marks (see lua/runtime.h and engine.h).
 *
 * A mark says: the object of this row was last read from bytes with this
 * digest, and what the module made of them equalled the row. It holds
 * while its key does: the module sources the runtime loaded, the
 * environment's provider settings (and stack, environment, directory),
 * the type and the SHA-256 of the row's attributes as stored. The refresh
 * then takes an object whose bytes have the digest as the row says,
 * unread. A mark whose key does not hold is ignored (and made again when
 * the run reads the object in full and finds it equal).
 */
#include "engine.h"
#include "state/drift.h"
#include "base/digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The digest of what, besides the row, an object's attributes depend on. */
static int env_digest(cairn_engine *e, unsigned char out[32])
{
	unsigned char src[32];
	char *prov;
	EVP_MD_CTX *md;
	int ok;

	if (cairn_lua_sources_digest(e->lua, src) < 0)
		return -1;
	if (!(prov = json_dumps(e->env->provider, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)))
		return -1;
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, src, 32) == 1 &&
	     EVP_DigestUpdate(md, prov, strlen(prov) + 1) == 1 &&
	     EVP_DigestUpdate(md, e->opts.env, strlen(e->opts.env) + 1) == 1 &&
	     EVP_DigestUpdate(md, e->stack->name, strlen(e->stack->name) + 1) == 1 &&
	     EVP_DigestUpdate(md, e->stack->dir, strlen(e->stack->dir) + 1) == 1 &&
	     EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	free(prov);
	return ok ? 0 : -1;
}

/* the rows by address, in strcmp order (a PostgreSQL state lists them in
 * its collation's) */
typedef struct by_addr {
	cairn_engine *e;
	const cairn_state_res **rows;
	json_t *offered;          /* the last type's offered marks */
	const char *offered_type;
	size_t next;              /* the row after the last one found */
} by_addr;

static int row_cmp(const void *a, const void *b)
{
	return strcmp((*(const cairn_state_res *const *)a)->address, (*(const cairn_state_res *const *)b)->address);
}

static int addr_cmp(const void *key, const void *row)
{
	return strcmp(key, (*(const cairn_state_res *const *)row)->address);
}

/* The key of type's page marks: the base and the type. */
static int page_key(const cairn_engine *e, const char *type, char out[65])
{
	unsigned char k[32];

	if (!e->mark_base_ok || cairn_sha256_2(e->mark_base, 32, type, strlen(type) + 1, k) < 0)
		return -1;
	cairn_hex32(k, out);
	return 0;
}

static json_t *offered_of(cairn_engine *e, const char *type)
{
	json_t *offered = json_object_get(e->mark_offered, type);

	if (!offered) {
		offered = json_object();
		json_object_set_new(e->mark_offered, type, offered);
	}
	return offered;
}

/* A stored page mark, "#page:TYPE:P": offered to TYPE's listings as
 * "#P" when its key holds (read, not used yet: dropped unless used). */
static void take_page(cairn_engine *e, const char *address, const char *key, const char *rec)
{
	const char *type = address + strlen(CAIRN_PAGE_MARK), *p = strrchr(type, ':');
	char want[65], *t, hp[66];

	json_object_set_new(e->mark_pages, address, json_false());
	if (!p || strlen(p + 1) != 64 || !(t = strndup(type, (size_t)(p - type))))
		return;
	if (page_key(e, t, want) == 0 && !strcmp(want, key)) {
		snprintf(hp, sizeof(hp), "#%s", p + 1);
		json_object_set_new(offered_of(e, t), hp, json_string(rec));
	}
	free(t);
}

/* A stored mark: valid when its key is the one its row has now. */
static int take_mark(void *ud, const char *address, const char *key, const char *digest)
{
	by_addr *b = ud;
	cairn_engine *e = b->e;
	const cairn_state_res *const *rp, *r;
	const char *want;

	if (!strncmp(address, CAIRN_PAGE_MARK, strlen(CAIRN_PAGE_MARK))) {
		take_page(e, address, key, digest);
		return 0;
	}

	if (!strcmp(address, CAIRN_PLAN_MEMO)) {
		json_t *v = json_loads(digest, 0, NULL);

		if (json_is_object(v) && strlen(key) == 64) {
			json_object_set_new(v, "key", json_string(key));
			json_decref(e->plan_memo);
			e->plan_memo = v;
		} else {
			json_decref(v);
		}
		return 0;
	}
	if (strlen(digest) != 64)
		return 0;
	/* the marks come in the order of their index, which is the rows'
	 * (both by strcmp): the next row first, else a search */
	if (b->next < e->nstate && !strcmp(b->rows[b->next]->address, address))
		rp = &b->rows[b->next];
	else if (!(rp = bsearch(address, b->rows, e->nstate, sizeof(*b->rows), addr_cmp)))
		return 0;
	b->next = (size_t)(rp - b->rows) + 1;
	r = *rp;
	if (!(want = cairn_engine_mark_key(e, r)) || strcmp(want, key))
		return 0;
	memcpy(e->mark_rows[r - e->state].digest, digest, 65);
	if (!b->offered || strcmp(b->offered_type, r->type)) {
		b->offered = offered_of(e, r->type);
		b->offered_type = r->type;
	}
	json_object_set_new(b->offered, digest, json_string(r->id));
	return 0;
}

int cairn_engine_read_marks(cairn_engine *e, bool keep)
{
	const cairn_schema *sch = NULL;
	const char *sch_type = NULL;
	unsigned char base[32];
	size_t i;

	if (e->marks_on)
		return 0;
	e->marks_on = true;
	e->mark_keep = keep;
	e->mark_offered = json_object();
	e->mark_new = json_object();
	e->mark_pages = json_object();
	e->mark_rows = calloc(e->nstate + 1, sizeof(*e->mark_rows));
	e->mark_nrows = e->nstate;
	e->mark_state = e->state;
	if (!e->mark_offered || !e->mark_new || !e->mark_pages || !e->mark_rows)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	/* the base as cairn_engine_mark_base fixed it, else now */
	if (!e->mark_base_ok) {
		if (env_digest(e, base) < 0)
			return 0; /* no marks this run */
		memcpy(e->mark_base, base, 32);
		e->mark_base_ok = true;
	}
	memcpy(base, e->mark_base, 32);
	for (i = 0; i < e->nstate; i++) {
		cairn_state_res *r = &e->state[i];
		/* base, type, the row's text digest */
		unsigned char in[32 + 64 + 32], k[32];
		size_t tl = strlen(r->type);

		if (!sch_type || strcmp(sch_type, r->type)) {
			sch_type = r->type;
			if (cairn_lua_schema(e->lua, r->type, &sch) != 0)
				sch = NULL;
		}
		if (!r->id || !sch || !sch->read_marks)
			continue;
		if (tl > 64)
			tl = 64;
		memset(in, 0, sizeof(in));
		memcpy(in, base, 32);
		memcpy(in + 32, r->type, tl);
		memcpy(in + 96, r->text_sha, 32);
		if (cairn_sha256(in, sizeof(in), k) < 0)
			continue;
		cairn_hex32(k, e->mark_rows[i].key);
	}
	/* an older state (no table yet: the run's writer migrates it) or a
	 * failing read: no marks (or those read so far), nothing else changes */
	if (e->store) {
		by_addr b = { e, malloc((e->nstate + 1) * sizeof(*b.rows)), NULL, NULL, 0 };
		bool sorted = true;

		if (!b.rows)
			return 0;
		for (i = 0; i < e->nstate; i++) {
			b.rows[i] = &e->state[i];
			if (i && sorted && strcmp(b.rows[i - 1]->address, b.rows[i]->address) > 0)
				sorted = false;
		}
		if (!sorted)
			qsort(b.rows, e->nstate, sizeof(*b.rows), row_cmp);
		cairn_store_read_marks(e->store, e->opts.env, take_mark, &b);
		free(b.rows);
	}
	cairn_error_clear();
	return 0;
}

static const struct cairn_row_mark *row_mark(const cairn_engine *e, const cairn_state_res *r)
{
	size_t i;

	if (!e->mark_rows || !r || e->state != e->mark_state || r < e->state)
		return NULL;
	i = (size_t)(r - e->state);
	return i < e->mark_nrows && i < e->nstate ? &e->mark_rows[i] : NULL;
}

const char *cairn_engine_mark_key(const cairn_engine *e, const cairn_state_res *r)
{
	const struct cairn_row_mark *m = row_mark(e, r);

	return m && m->key[0] ? m->key : NULL;
}

const char *cairn_engine_mark_digest(const cairn_engine *e, const cairn_state_res *r)
{
	const struct cairn_row_mark *m = row_mark(e, r);

	return m && m->digest[0] ? m->digest : NULL;
}

const json_t *cairn_engine_marks_offered(const cairn_engine *e, const char *type)
{
	return e->mark_offered ? json_object_get(e->mark_offered, type) : NULL;
}

/* A new page record is kept only when every digest it names is one this
 * run offered for type (what the decoder's page hits check again). */
static bool page_record_ok(const json_t *offered, const char *rec)
{
	static const char magic[] = CAIRN_PAGE_RECORD_MAGIC;
	const char *d = rec + sizeof(magic) - 1, *nl;
	char dg[65];

	if (strncmp(rec, magic, sizeof(magic) - 1) || !(nl = strchr(d, '\n')) || nl == d || (nl - d) % 64)
		return false;
	for (; d < nl; d += 64) {
		memcpy(dg, d, 64);
		dg[64] = '\0';
		if (!json_is_string(json_object_get(offered, dg)))
			return false;
	}
	return true;
}

void cairn_engine_take_pages(cairn_engine *e, const char *type, json_t *hits)
{
	size_t pl = strlen(CAIRN_PAGE_MARK);
	const json_t *offered;
	const char *k;
	json_t *v, *tmp;
	char key[65];

	json_object_foreach_safe(hits, tmp, k, v) {
		if (strncmp(k, CAIRN_PAGE_MARK, pl))
			continue;
		if (e->mark_pages && e->mark_new && strlen(k + pl) == 64 && json_is_string(v)) {
			char *addr = NULL;

			if (asprintf(&addr, "%s%s:%s", CAIRN_PAGE_MARK, type, k + pl) >= 0) {
				if (!*json_string_value(v)) {
					json_object_set_new(e->mark_pages, addr, json_true());
					e->pages_used++;
				} else if ((offered = cairn_engine_marks_offered(e, type)) &&
					 page_record_ok(offered, json_string_value(v)) && page_key(e, type, key) == 0)
					json_object_set_new(e->mark_new, addr, json_pack("[s,O]", key, v));
				free(addr);
			}
		}
		json_object_del(hits, k);
	}
}

void cairn_engine_pages_done(cairn_engine *e)
{
	const char *a;
	json_t *used;

	if (!e->mark_pages || !e->mark_new)
		return;
	json_object_foreach(e->mark_pages, a, used)
		if (!json_is_true(used) && !json_object_get(e->mark_new, a))
			json_object_set_new(e->mark_new, a, json_null());
}

/* ---- drift's plan, kept ---- */

static unsigned char exe_digest[32];
static bool exe_known;
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

/* The running executable's SHA-256: another build may plan otherwise. */
static void digest_exe(void)
{
	FILE *f = fopen("/proc/self/exe", "rb");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536];
	size_t n;
	bool ok;

	ok = f && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = EVP_DigestUpdate(md, buf, n) == 1;
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, exe_digest, NULL) == 1;
	exe_known = ok;
	EVP_MD_CTX_free(md);
	if (f)
		fclose(f);
}

static int put_str(EVP_MD_CTX *md, const char *s)
{
	return EVP_DigestUpdate(md, s ? s : "", (s ? strlen(s) : 0) + 1) == 1 ? 0 : -1;
}

static int put_json(EVP_MD_CTX *md, const json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	int rc = t ? put_str(md, t) : -1;

	free(t);
	return rc;
}

int cairn_engine_plan_key(cairn_engine *e, char out[65])
{
	unsigned char src[32], d[32];
	char serial[32];
	json_t *vars;
	EVP_MD_CTX *md;
	size_t i;
	int rc;

	pthread_once(&exe_once, digest_exe);
	if (!exe_known || e->nintents || cairn_lua_sources_digest(e->lua, src) < 0)
		return -1;
	/* the variables, but a sensitive one's value (a plan may be kept only
	 * when no sensitive value reaches the configuration: memo_allowed) */
	if (!(vars = json_deep_copy(e->vars)))
		return -1;
	for (i = 0; i < e->stack->nvars; i++)
		if (e->stack->vars[i].sensitive && json_object_get(vars, e->stack->vars[i].name))
			json_object_set_new(vars, e->stack->vars[i].name, json_string("(sensitive)"));
	snprintf(serial, sizeof(serial), "%lld", (long long)e->serial);
	md = EVP_MD_CTX_new();
	rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     put_str(md, "cairn drift plan 1") == 0 && EVP_DigestUpdate(md, exe_digest, 32) == 1 &&
	     put_str(md, e->config_hash) == 0 && EVP_DigestUpdate(md, src, 32) == 1 &&
	     put_json(md, vars) == 0 && put_json(md, json_object_get(e->root, "env")) == 0 &&
	     put_str(md, e->opts.env) == 0 && put_str(md, e->stack->name) == 0 &&
	     put_str(md, e->stack->dir) == 0 && put_str(md, serial) == 0 ? 0 : -1;
	for (i = 0; !rc && i < e->nstate; i++) {
		const cairn_state_res *r = &e->state[i];

		if (put_str(md, r->address) || put_str(md, r->type) || put_str(md, r->id) ||
		    EVP_DigestUpdate(md, r->text_sha, 32) != 1 ||
		    (json_array_size(r->sensitive) ? put_json(md, r->sensitive) : put_str(md, "[]")))
			rc = -1;
	}
	if (!rc && EVP_DigestFinal_ex(md, d, NULL) != 1)
		rc = -1;
	EVP_MD_CTX_free(md);
	json_decref(vars);
	if (!rc)
		cairn_hex32(d, out);
	return rc;
}

void cairn_engine_mark_base(cairn_engine *e)
{
	if (!e->mark_base_ok && env_digest(e, e->mark_base) == 0)
		e->mark_base_ok = true;
}

int cairn_engine_env_key(cairn_engine *e, const char *what, char out[65])
{
	unsigned char base[32], d[32];
	char plan[65], text[256];
	int n;

	if (cairn_engine_plan_key(e, plan) != 0 || env_digest(e, base) < 0)
		return -1;
	n = snprintf(text, sizeof(text), "cairn drift env 1\n%s\n", plan);
	if (n < 0 || (size_t)n + 32 > sizeof(text))
		return -1;
	memcpy(text + n, base, 32);
	if (cairn_sha256_2(text, (size_t)n + 32, what, strlen(what) + 1, d) < 0)
		return -1;
	cairn_hex32(d, out);
	return 0;
}

bool cairn_engine_plan_memo_allowed(const cairn_engine *e)
{
	size_t r, i;

	for (r = 0; r < e->stack->nresources; r++) {
		const cairn_res_cfg *res = &e->stack->resources[r];
		json_t *names = cairn_engine_sensitive_names(e, e->schemas[r], res->name), *n;
		bool set = false;

		json_array_foreach(names, i, n)
			if (cairn_expr_get(res->props, json_string_value(n)))
				set = true;
		json_decref(names);
		if (set)
			return false;
	}
	return true;
}
