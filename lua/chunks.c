/*
 * chunks.c - module files compiled once per process.
 *
 * Every runtime compiles the modules it loads, and every module type's
 * require compiles its libraries again (aws/common.lua once per AWS type):
 * a `cairn drift --all` over four environments compiled the same fifteen
 * files sixty times, ~40 M instructions per environment (bench/RESULTS.md).
 * The first compilation of a text is kept as its bytecode (lua_dump, debug
 * information kept: messages and tracebacks name the same file and line);
 * a later load of the same text under the same chunk name loads that
 * bytecode instead of parsing the text again.
 *
 * This does not open the sandbox to binary chunks: a text is still loaded
 * in text mode the first time, and only bytecode this process made from
 * that very text (compared byte for byte, not by hash alone) is ever
 * loaded in binary mode. The cache is shared by the threads of a process
 * (drift reads environments in threads), under a mutex; entries are never
 * changed or freed once published, and the whole cache is bounded
 * (CHUNKS_MAX_BYTES: past it, texts are compiled each time as before).
 */
#include "internal.h"

#include <lauxlib.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNKS_MAX_BYTES ((size_t)16 << 20)

typedef struct chunk {
	struct chunk *next;
	uint64_t hash;
	char *name;      /* the chunk name it was compiled under */
	char *src;       /* the text */
	size_t src_len;
	char *code;      /* its bytecode */
	size_t code_len;
} chunk;

static pthread_mutex_t chunks_mu = PTHREAD_MUTEX_INITIALIZER;
static chunk *chunks;
static size_t chunks_bytes;
static size_t chunks_compiled; /* texts compiled (not taken from bytecode) */

static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static const chunk *find(uint64_t h, const char *src, size_t n, const char *name)
{
	const chunk *c;

	for (c = chunks; c; c = c->next)
		if (c->hash == h && c->src_len == n && !strcmp(c->name, name) && !memcmp(c->src, src, n))
			return c;
	return NULL;
}

typedef struct dump_buf {
	char *p;
	size_t len, cap;
	bool failed;
} dump_buf;

static int dump_write(lua_State *L, const void *p, size_t n, void *ud)
{
	dump_buf *b = ud;

	(void)L;
	if (b->failed)
		return 1;
	if (n > CHUNKS_MAX_BYTES || b->len + n > CHUNKS_MAX_BYTES) {
		b->failed = true;
		return 1;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->len + n)
			cap *= 2;
		if (!(q = realloc(b->p, cap))) {
			b->failed = true;
			return 1;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* Keep the bytecode of the function on top of the stack (compiled from
 * src under name). Nothing is kept if memory runs short or the cache is
 * full: the next load compiles the text again. */
static void publish(lua_State *L, uint64_t h, const char *src, size_t n, const char *name)
{
	dump_buf b = { NULL, 0, 0, false };
	chunk *c = NULL;

	if (lua_dump(L, dump_write, &b, 0) != 0 || b.failed)
		goto cleanup;
	if (!(c = calloc(1, sizeof(*c))) || !(c->name = strdup(name)) || !(c->src = malloc(n ? n : 1)))
		goto cleanup;
	memcpy(c->src, src, n);
	c->hash = h;
	c->src_len = n;
	c->code = b.p;
	c->code_len = b.len;
	pthread_mutex_lock(&chunks_mu);
	if (!find(h, src, n, name) && chunks_bytes + n + b.len <= CHUNKS_MAX_BYTES) {
		c->next = chunks;
		chunks = c;
		chunks_bytes += n + b.len;
		c = NULL;
		b.p = NULL;
	}
	pthread_mutex_unlock(&chunks_mu);
cleanup:
	if (c) {
		free(c->name);
		free(c->src);
		free(c);
	}
	free(b.p);
}

int cairn_lua__load_text(lua_State *L, const char *src, size_t n, const char *name)
{
	uint64_t h = text_hash(src, n);
	const chunk *c;
	int status;

	pthread_mutex_lock(&chunks_mu);
	c = find(h, src, n, name);
	pthread_mutex_unlock(&chunks_mu);
	/* a published entry never changes: read without the lock */
	if (c)
		return luaL_loadbufferx(L, c->code, c->code_len, name, "b");
	status = luaL_loadbufferx(L, src, n, name, "t");
	pthread_mutex_lock(&chunks_mu);
	chunks_compiled++;
	pthread_mutex_unlock(&chunks_mu);
	if (status == LUA_OK)
		publish(L, h, src, n, name);
	return status;
}

size_t cairn_lua__chunks_compiled(void)
{
	size_t n;

	pthread_mutex_lock(&chunks_mu);
	n = chunks_compiled;
	pthread_mutex_unlock(&chunks_mu);
	return n;
}
