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
} by_addr;

static int row_cmp(const void *a, const void *b)
{
	return strcmp((*(const cairn_state_res *const *)a)->address, (*(const cairn_state_res *const *)b)->address);
}

static int addr_cmp(const void *key, const void *row)
{
	return strcmp(key, (*(const cairn_state_res *const *)row)->address);
}

/* A stored mark: valid when its key is the one its row has now. */
static int take_mark(void *ud, const char *address, const char *key, const char *digest)
{
	by_addr *b = ud;
	cairn_engine *e = b->e;
	const cairn_state_res *const *rp, *r;
	const char *want = json_string_value(json_object_get(e->mark_keys, address));
	json_t *offered;

	if (!want || strcmp(want, key) || strlen(digest) != 64 ||
	    !(rp = bsearch(address, b->rows, e->nstate, sizeof(*b->rows), addr_cmp)))
		return 0;
	r = *rp;
	json_object_set_new(e->mark_valid, address, json_string(digest));
	if (!(offered = json_object_get(e->mark_offered, r->type))) {
		offered = json_object();
		json_object_set_new(e->mark_offered, r->type, offered);
	}
	json_object_set_new(offered, digest, json_string(r->id));
	return 0;
}

int cairn_engine_read_marks(cairn_engine *e, bool keep)
{
	const cairn_schema *sch = NULL;
	const char *sch_type = NULL;
	unsigned char base[32];
	size_t i;

	if (e->mark_keys)
		return 0;
	e->mark_keep = keep;
	e->mark_keys = json_object();
	e->mark_valid = json_object();
	e->mark_offered = json_object();
	e->mark_new = json_object();
	if (!e->mark_keys || !e->mark_valid || !e->mark_offered || !e->mark_new)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (env_digest(e, base) < 0)
		return 0; /* no marks this run */
	for (i = 0; i < e->nstate; i++) {
		cairn_state_res *r = &e->state[i];
		/* base, type, the row's text digest */
		unsigned char in[32 + 64 + 32], k[32];
		size_t tl = strlen(r->type);
		char key[65];

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
		cairn_hex32(k, key);
		json_object_set_new(e->mark_keys, r->address, json_string(key));
	}
	/* an older state (no table yet: the run's writer migrates it) or a
	 * failing read: no marks (or those read so far), nothing else changes */
	if (e->store && json_object_size(e->mark_keys)) {
		by_addr b = { e, malloc(e->nstate * sizeof(*b.rows)) };
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

const json_t *cairn_engine_marks_offered(const cairn_engine *e, const char *type)
{
	return e->mark_offered ? json_object_get(e->mark_offered, type) : NULL;
}
