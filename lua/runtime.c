/*
 * runtime.c - the Lua sandbox, module loading, schemas and operations.
 *
 * See runtime.h for the contract. This file owns the lua_State: a capped
 * allocator (the whole state's memory), a count hook (instructions per
 * operation, and per module load), the curated globals every module sees
 * through its own _ENV, require(), the schema parser, and the coroutines that
 * run operations. api.c builds the `cairn` table; json.c converts values.
 *
 * Sandbox: base (without dofile, loadfile, load, rawset, warn, the real _G;
 * setmetatable refuses __gc;
 * pcall/xpcall replaced by versions that cannot swallow the instruction
 * limit, a deadline or an interrupt, nor run a message handler once the
 * code is being stopped; collectgarbage reduced to "count" and "collect";
 * print goes to the log callback at level "info"), string (without dump;
 * find, match, gmatch, gsub and rep from patterns.c), table, math, utf8.
 * The libraries are reached through read-only proxies, the string metatable
 * is hidden (getmetatable("") is false), and each module's _ENV is a fresh
 * table whose hidden metatable reads through to the curated globals. So a
 * module's globals are its own, and nothing it does is seen by another.
 * Each module type's _ENV has its own require() (a cache of its own, and
 * the first directory it may search): libraries are not shared between
 * module types, and a trusted module's libraries come from trusted
 * directories only.
 *
 * Stopping running code: the count hook (every HOOK_STEP instructions),
 * the pattern matcher (cairn_lua_charge) and the allocator (every MiB an
 * operation allocates) check the instruction limit, the operation's
 * deadline and cairn_lua_interrupt(); once one is hit, rt->killed makes it
 * uncatchable (pcall re-raises, xpcall's handler is skipped, allocations
 * fail, every later hook raises again).
 */
#include "internal.h"

#include "base/buf.h"
#include "base/value.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lualib.h>

#define HOOK_STEP 1000
#define DEFAULT_MEM ((size_t)256 << 20)
#define DEFAULT_INSTRUCTIONS 200000000LL
#define MODULE_MAX_BYTES ((size_t)4 << 20)
#define ALLOC_CHECK_BYTES ((size_t)1 << 20)

const char *const cairn_timeout_names[CAIRN_TIMEOUT_N] = { "create", "read", "update", "delete" };
static const double default_timeouts[CAIRN_TIMEOUT_N] = { 3600, 600, 3600, 3600 };

cairn_timeout_kind cairn_lua_timeout_kind(const char *op)
{
	if (!strcmp(op, "create"))
		return CAIRN_TIMEOUT_CREATE;
	if (!strcmp(op, "update"))
		return CAIRN_TIMEOUT_UPDATE;
	if (!strcmp(op, "delete"))
		return CAIRN_TIMEOUT_DELETE;
	return CAIRN_TIMEOUT_READ; /* read, read_many, list, import, recover, status */
}

double cairn_lua_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -- stopping running code ---------------------------------------------------- */

int cairn_lua_should_stop(cairn_lua *rt)
{
	cairn_lua_op *op = rt->current;
	int why = KILL_NONE;

	if (op && op->kill)
		why = op->kill;
	else if (rt->interrupted)
		why = KILL_INTERRUPT;
	else if (op && op->deadline > 0 && cairn_lua_clock() >= op->deadline)
		why = KILL_DEADLINE;
	if (!why)
		return 0;
	rt->killed = true;
	if (op)
		op->kill = why;
	return why;
}

int cairn_lua_stop(lua_State *L)
{
	cairn_lua *rt = cairn_lua_rt(L);
	cairn_lua_op *op = rt->current;
	int why = op ? op->kill : rt->interrupted ? KILL_INTERRUPT : KILL_LIMIT;
	const char *name = op ? op->mod->schema.type : rt->loading ? rt->loading : "?";

	/* the text is for module loading; an operation's message is made by
	 * op_error from op->kill */
	if (why == KILL_INTERRUPT)
		lua_pushliteral(L, "interrupted");
	else if (why == KILL_DEADLINE)
		lua_pushliteral(L, "deadline exceeded");
	else
		lua_pushfstring(L, "module %s exceeded its instruction limit (%I instructions)",
				name, (lua_Integer)rt->instr_limit);
	return lua_error(L);
}

void cairn_lua_charge(lua_State *L, long long steps)
{
	cairn_lua *rt = cairn_lua_rt(L);
	cairn_lua_op *op = rt->current;
	long long *n = op ? &op->instr : &rt->load_instr;

	*n += steps;
	if (*n > rt->instr_limit) {
		rt->killed = true;
		if (op && !op->kill)
			op->kill = KILL_LIMIT;
	}
	if (rt->killed || cairn_lua_should_stop(rt))
		cairn_lua_stop(L);
}

/* -- allocator, hook ------------------------------------------------------ */

/* While an operation runs, every MiB it allocates looks at the clock: C
 * library calls whose work grows with what they allocate (string.rep,
 * table.concat, string.format, gsub's result...) cannot run long past the
 * deadline or an interrupt. A stopped operation gets no more memory, which
 * raises a memory error that nothing can catch (rt->killed). */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	cairn_lua *rt = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		rt->mem_used -= old;
		free(ptr);
		return NULL;
	}
	if (nsize > old && rt->current) {
		if (rt->killed)
			return NULL;
		rt->alloc_since_check += nsize - old;
		if (rt->alloc_since_check >= ALLOC_CHECK_BYTES) {
			rt->alloc_since_check = 0;
			if (cairn_lua_should_stop(rt))
				return NULL;
		}
	}
	if (nsize > old && rt->mem_used + (nsize - old) > rt->mem_limit)
		return NULL;
	p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	rt->mem_used = rt->mem_used - old + nsize;
	return p;
}

static int l_panic(lua_State *L)
{
	/* only reachable through a bug in this file: every call is protected */
	fprintf(stderr, "cairn: unprotected Lua error: %s\n",
		lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
	abort();
}

static void l_warn(void *ud, const char *msg, int tocont)
{
}

/* Every HOOK_STEP instructions: the instruction limit, the deadline, an
 * interrupt. Once the code is being stopped every hook raises again, so
 * whatever runs after the first error (a __close, a message handler that
 * somehow runs) stops at its next HOOK_STEP instructions. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	cairn_lua_charge(L, HOOK_STEP);
}

/* -- describing errors ------------------------------------------------------ */

/* "modules/x.lua:12" for the first Lua function at or above `level` that
 * belongs to a module (the prelude and C functions are skipped). */
static void find_position(lua_State *S, int level, char *out, size_t n)
{
	lua_Debug ar;

	out[0] = '\0';
	for (; lua_getstack(S, level, &ar); level++) {
		if (!lua_getinfo(S, "Sl", &ar))
			continue;
		if (ar.source[0] == '@' && ar.currentline > 0) {
			snprintf(out, n, "%s:%d", ar.short_src, ar.currentline);
			return;
		}
	}
}

static bool has_position(const char *msg)
{
	const char *p = msg;

	while (*p && *p != ':' && *p != ' ' && *p != '\n')
		p++;
	if (*p != ':' || p == msg || p[1] < '0' || p[1] > '9')
		return false;
	for (p++; *p >= '0' && *p <= '9'; p++)
		;
	return *p == ':';
}

/* The error object at idx as text; "code: message" for {code=, message=}. */
static void describe_error(lua_State *L, int idx, char *out, size_t n, char *code, size_t ncode)
{
	const char *c = NULL, *m = NULL;

	out[0] = '\0';
	if (code)
		code[0] = '\0';
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		snprintf(out, n, "%s", lua_tostring(L, idx));
		return;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(out, n, "%lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(out, n, "%.14g", (double)lua_tonumber(L, idx));
		return;
	case LUA_TTABLE:
		/* raw: an error object's metamethods would run outside any
		 * operation's limits */
		idx = lua_absindex(L, idx);
		lua_pushliteral(L, "code");
		if (lua_rawget(L, idx) == LUA_TSTRING)
			c = lua_tostring(L, -1);
		lua_pushliteral(L, "message");
		if (lua_rawget(L, idx) == LUA_TSTRING)
			m = lua_tostring(L, -1);
		if (c && m)
			snprintf(out, n, "%s: %s", c, m);
		else if (c || m)
			snprintf(out, n, "%s", c ? c : m);
		else
			snprintf(out, n, "(error object is a table without code or message)");
		if (c && code)
			snprintf(code, ncode, "%s", c);
		lua_pop(L, 2);
		return;
	default:
		snprintf(out, n, "(error object is a %s value)", luaL_typename(L, idx));
	}
}

static void prefix_position(char *msg, size_t n, const char *pos)
{
	char tmp[4096];
	size_t len;

	if (!pos[0] || has_position(msg))
		return;
	snprintf(tmp, sizeof(tmp), "%s: %s", pos, msg);
	len = strlen(tmp);
	if (len >= n)
		len = n - 1; /* truncate, as the cairn error would */
	memcpy(msg, tmp, len);
	msg[len] = '\0';
}

/* Message handler for protected calls on the main thread (module loading):
 * the error as a string that starts with the module's file:line. */
static int msgh(lua_State *L)
{
	char msg[2048], pos[512];

	describe_error(L, 1, msg, sizeof(msg), NULL, 0);
	find_position(L, 1, pos, sizeof(pos));
	prefix_position(msg, sizeof(msg), pos);
	lua_pushstring(L, msg);
	return 1;
}

/* -- sandboxed base functions ------------------------------------------------- */

static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
	if (status != LUA_OK && status != LUA_YIELD) {
		if (cairn_lua_rt(L)->killed)
			return lua_error(L); /* the limit is not the module's to catch */
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

static int l_pcall(lua_State *L)
{
	int status;

	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
	return finish_pcall(L, status, 0);
}

/* xpcall's message handler, around the module's: once the running code is
 * being stopped the module's handler is not called. Lua calls a message
 * handler from wherever the error was raised, the count hook included,
 * where hooks are off: a handler that loops there would never be stopped. */
static int xpcall_handler(lua_State *L)
{
	if (cairn_lua_rt(L)->killed)
		return 1; /* the error object, as it is */
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int l_xpcall(lua_State *L)
{
	int n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, xpcall_handler, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
	return finish_pcall(L, status, 2);
}

static int l_collectgarbage(lua_State *L)
{
	static const char *const opts[] = { "collect", "count", NULL };
	int o = luaL_checkoption(L, 1, "collect", opts);
	int kb, b;

	if (o == 0) {
		lua_gc(L, LUA_GCCOLLECT);
		lua_pushinteger(L, 0);
		return 1;
	}
	kb = lua_gc(L, LUA_GCCOUNT);
	b = lua_gc(L, LUA_GCCOUNTB);
	lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
	return 1;
}

/* setmetatable without __gc: a finalizer would run at a time and in an
 * operation that is not the module's own. Otherwise as in lbaselib.c. */
static int l_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not allowed in modules");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/* print(...) -> the log callback, level "info" */
static int l_print(lua_State *L)
{
	cairn_lua *rt = cairn_lua_rt(L);
	int n = lua_gettop(L), i;
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	if (rt->log_fn)
		rt->log_fn(rt->log_ud, "info", rt->current ? rt->current->address : NULL, lua_tostring(L, -1));
	return 0;
}

/* -- finding and loading module files -------------------------------------- */

/* "local.file" style names: segments of [A-Za-z0-9_-], separated by dots. */
static bool valid_name(const char *name, int min_segments)
{
	int segments = 1;
	size_t seglen = 0;
	const char *p;

	for (p = name; *p; p++) {
		if (*p == '.') {
			if (seglen == 0)
				return false;
			segments++;
			seglen = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || *p == '_' || *p == '-') {
			seglen++;
		} else {
			return false;
		}
	}
	return seglen > 0 && segments >= min_segments && p - name < 200;
}

static const char *dir_basename(const char *dir, size_t *len)
{
	size_t n = strlen(dir), start;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	start = n;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	*len = n - start;
	return dir + start;
}

/* Find name's file on the search path, from dirs[first] on: path (to open)
 * and display (for chunk names and messages: "<last dir component>/<ns>/
 * <name>.lua"); *where (if not NULL) gets the index of its directory. */
static int find_file(cairn_lua *rt, const char *name, size_t first, cairn_buf *path, cairn_buf *display,
		     size_t *where)
{
	struct stat st;
	const char *base, *p;
	size_t i, baselen;
	int rc;

	for (i = first; i < rt->ndirs; i++) {
		cairn_buf_clear(path);
		cairn_buf_clear(display);
		base = dir_basename(rt->dirs[i], &baselen);
		if ((rc = cairn_buf_printf(path, "%s/", rt->dirs[i])) < 0)
			return rc;
		if (baselen && !(baselen == 1 && base[0] == '.') &&
		    ((rc = cairn_buf_put(display, base, baselen)) < 0 || (rc = cairn_buf_putc(display, '/')) < 0))
			return rc;
		for (p = name; *p; p++) {
			char c = *p == '.' ? '/' : *p;
			if ((rc = cairn_buf_putc(path, c)) < 0 || (rc = cairn_buf_putc(display, c)) < 0)
				return rc;
		}
		if ((rc = cairn_buf_puts(path, ".lua")) < 0 || (rc = cairn_buf_puts(display, ".lua")) < 0)
			return rc;
		if (stat(path->ptr, &st) == 0 && S_ISREG(st.st_mode)) {
			if (where)
				*where = i;
			return 0;
		}
	}
	return CAIRN_ENOTFOUND;
}

static int l_require(lua_State *L);

/* Push a require() for a new module tree: its own cache, searching from
 * dirs[first] on. */
static void push_require(lua_State *L, size_t first)
{
	lua_newtable(L);
	lua_pushinteger(L, (lua_Integer)first);
	lua_pushcclosure(L, l_require, 2);
}

/* Keep the digest of a chunk about to be loaded (name and text), once. */
static void note_source(cairn_lua *rt, const char *name, const cairn_buf *src)
{
	unsigned char d[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t i;

	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, name, strlen(name) + 1) != 1 || EVP_DigestUpdate(md, src->ptr, src->len) != 1 ||
	    EVP_DigestFinal_ex(md, d, NULL) != 1) {
		EVP_MD_CTX_free(md);
		rt->srcs_lost = true;
		return;
	}
	EVP_MD_CTX_free(md);
	for (i = 0; i < rt->nsrcs; i++)
		if (!memcmp(rt->srcs[i], d, 32))
			return;
	if (rt->nsrcs == rt->asrcs) {
		size_t na = rt->asrcs ? rt->asrcs * 2 : 16;
		void *nv = realloc(rt->srcs, na * sizeof(*rt->srcs));

		if (!nv) {
			rt->srcs_lost = true;
			return;
		}
		rt->srcs = nv;
		rt->asrcs = na;
	}
	memcpy(rt->srcs[rt->nsrcs++], d, 32);
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int cairn_lua_sources_digest(cairn_lua *rt, unsigned char out[32])
{
	unsigned int n = 0;

	if (rt->srcs_lost || !rt->nsrcs)
		return cairn_error_set(CAIRN_EINVAL, "no module sources to digest");
	qsort(rt->srcs, rt->nsrcs, sizeof(*rt->srcs), cmp_digest);
	if (EVP_Digest(rt->srcs, rt->nsrcs * sizeof(*rt->srcs), out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return cairn_error_set(CAIRN_ENOMEM, "cannot digest the module sources");
	return 0;
}

/* Load the file as a text chunk into a fresh _ENV; pushes the function.
 * Raises (a string) on any failure. `caps`: CAPS_TRUSTED, the env's `cairn`
 * has ssh; CAPS_FS, ssh and fs. The env's `require` is the value at
 * require_idx. */
enum { CAPS_NONE, CAPS_TRUSTED, CAPS_FS };
static void load_chunk(lua_State *L, const char *path, const char *display, int caps, int require_idx)
{
	cairn_buf src = CAIRN_BUF_INIT, chunkname = CAIRN_BUF_INIT;
	char msg[sizeof(((cairn_error *)0)->message)];
	int status;

	require_idx = lua_absindex(L, require_idx);
	cairn_buf_init(&src, MODULE_MAX_BYTES);
	if (cairn_buf_read_file(&src, path) < 0 || cairn_buf_printf(&chunkname, "@%s", display) < 0) {
		snprintf(msg, sizeof(msg), "%s", cairn_error_last() ? cairn_error_last()->message : path);
		cairn_buf_release(&src);
		cairn_buf_release(&chunkname);
		luaL_error(L, "%s", msg);
	}
	note_source(cairn_lua_rt(L), chunkname.ptr, &src);
	status = cairn_lua__load_text(L, cairn_buf_cstr(&src), src.len, chunkname.ptr);
	cairn_buf_release(&src);
	cairn_buf_release(&chunkname);
	if (status != LUA_OK)
		lua_error(L);
	lua_newtable(L);
	luaL_getmetatable(L, CAIRN_REG_ENV_MT);
	lua_setmetatable(L, -2);
	if (caps != CAPS_NONE) {
		lua_getfield(L, LUA_REGISTRYINDEX, caps == CAPS_FS ? CAIRN_REG_API_LOCAL : CAIRN_REG_API_TRUSTED);
		lua_setfield(L, -2, "cairn");
	}
	lua_pushvalue(L, require_idx);
	lua_setfield(L, -2, "require");
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
}

static bool is_local_ns(const char *name)
{
	return strncmp(name, "local.", 6) == 0;
}

/* Protected part of require: load and run the file (path, display) with
 * the require at 3; 4: a trusted module's tree (the library gets ssh). */
static int require_run_cf(lua_State *L)
{
	load_chunk(L, lua_tostring(L, 1), lua_tostring(L, 2),
		   lua_toboolean(L, 4) ? CAPS_TRUSTED : CAPS_NONE, 3);
	lua_call(L, 0, 1);
	return 1;
}

/* require(name): another file on the module search path, run once per
 * module tree (upvalue 1: the tree's cache; 2: the first directory it may
 * search), so that no two module types share a library's table. */
static int l_require(lua_State *L)
{
	cairn_lua *rt = cairn_lua_rt(L);
	const char *name = luaL_checkstring(L, 1);
	size_t first = (size_t)lua_tointeger(L, lua_upvalueindex(2));
	cairn_buf path = CAIRN_BUF_INIT, display = CAIRN_BUF_INIT;
	int found;

	lua_settop(L, 1);
	lua_pushvalue(L, lua_upvalueindex(1)); /* 2 */
	lua_pushvalue(L, 1);
	if (lua_rawget(L, 2) != LUA_TNIL) {
		if (lua_type(L, -1) == LUA_TLIGHTUSERDATA)
			return luaL_error(L, "require cycle: '%s' is still loading", name);
		return 1;
	}
	lua_pop(L, 1);
	if (!valid_name(name, 1))
		return luaL_error(L, "require: invalid module name '%s' (use dots, like \"aws.common\")", name);
	found = find_file(rt, name, first, &path, &display, NULL);
	if (found < 0) {
		cairn_buf_release(&path);
		cairn_buf_release(&display);
		return luaL_error(L, "require: module '%s' not found on the module search path", name);
	}
	lua_pushvalue(L, 1);
	lua_pushlightuserdata(L, &cairn_lua_null_tag); /* loading */
	lua_rawset(L, 2);
	/* the strings are copied into Lua before anything else can raise */
	lua_pushstring(L, path.ptr);     /* 3 */
	lua_pushstring(L, display.ptr);  /* 4 */
	cairn_buf_release(&path);
	cairn_buf_release(&display);
	lua_pushcfunction(L, require_run_cf);
	lua_pushvalue(L, 3);
	lua_pushvalue(L, 4);
	lua_pushvalue(L, 2); /* the same tree: its cache and first directory */
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_pushcclosure(L, l_require, 2);
	lua_pushboolean(L, first >= rt->first_trusted);
	if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
		/* forget the "loading" mark, so a later require retries */
		lua_pushvalue(L, 1);
		lua_pushnil(L);
		lua_rawset(L, 2);
		return lua_error(L);
	}
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, -2);
	lua_rawset(L, 2);
	return 1;
}

/* -- the sandbox ---------------------------------------------------------- */

static const char *const kept_base[] = {
	"assert", "error", "getmetatable", "ipairs", "next", "pairs", "rawequal", "rawget",
	"rawlen", "select", "tonumber", "tostring", "type", "_VERSION", NULL,
};

static const luaL_Reg sandbox_base[] = {
	{ "pcall", l_pcall },
	{ "xpcall", l_xpcall },
	{ "collectgarbage", l_collectgarbage },
	{ "print", l_print },
	{ "setmetatable", l_setmetatable },
	{ NULL, NULL },
};

static void open_libs(lua_State *L)
{
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_pop(L, 5);
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	cairn_lua_open_patterns(L, -1);
	lua_pop(L, 1);
}

static int setup_cf(lua_State *L)
{
	static const char *const libs[] = {
		LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME, NULL,
	};
	cairn_lua *rt = cairn_lua_rt(L);
	int G, i;

	open_libs(L);
	/* JSON arrays; the metatable is hidden from getmetatable() */
	luaL_newmetatable(L, CAIRN_REG_ARRAY_MT);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	rt->array_mt = lua_topointer(L, -1);
	lua_pop(L, 1);
	/* the string metatable would lead to the real string table */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);

	lua_newtable(L);
	G = lua_gettop(L);
	for (i = 0; kept_base[i]; i++) {
		lua_getglobal(L, kept_base[i]);
		lua_setfield(L, G, kept_base[i]);
	}
	luaL_setfuncs(L, sandbox_base, 0);
	for (i = 0; libs[i]; i++) {
		lua_getglobal(L, libs[i]);
		cairn_lua_readonly(L);
		lua_setfield(L, G, libs[i]);
	}
	cairn_lua_open_api(L);
	lua_setfield(L, G, "cairn");
	lua_pushvalue(L, G);
	lua_setfield(L, LUA_REGISTRYINDEX, CAIRN_REG_GLOBALS);

	luaL_newmetatable(L, CAIRN_REG_ENV_MT);
	lua_pushvalue(L, G);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "cairn.modules");
	return 0;
}

int cairn_lua_new(cairn_lua **out, const char *const *dirs, size_t ndirs, const cairn_lua_limits *lim)
{
	cairn_lua *rt = NULL;
	size_t i;
	int rc = CAIRN_ENOMEM;

	rt = calloc(1, sizeof(*rt));
	if (!rt)
		goto fail;
	rt->mem_limit = lim && lim->mem_bytes ? lim->mem_bytes : DEFAULT_MEM;
	rt->instr_limit = lim && lim->instructions > 0 ? lim->instructions : DEFAULT_INSTRUCTIONS;
	rt->first_trusted = ndirs ? ndirs - 1 : 0;
	rt->dirs = calloc(ndirs ? ndirs : 1, sizeof(char *));
	if (!rt->dirs)
		goto fail;
	for (i = 0; i < ndirs; i++) {
		if (!(rt->dirs[i] = strdup(dirs[i])))
			goto fail;
		rt->ndirs++;
	}
	rt->L = lua_newstate(l_alloc, rt);
	if (!rt->L)
		goto fail;
	lua_atpanic(rt->L, l_panic);
	lua_setwarnf(rt->L, l_warn, NULL);
	lua_pushcfunction(rt->L, setup_cf);
	if (lua_pcall(rt->L, 0, 0, 0) != LUA_OK) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot set up the Lua sandbox: %s",
				     lua_type(rt->L, -1) == LUA_TSTRING ? lua_tostring(rt->L, -1) : "not enough memory");
		goto fail_set;
	}
	lua_sethook(rt->L, count_hook, LUA_MASKCOUNT, HOOK_STEP);
	*out = rt;
	return 0;
fail:
	cairn_error_set(rc, "cannot create the Lua runtime: out of memory");
fail_set:
	cairn_lua_free(rt);
	return rc;
}

static void schema_release(cairn_schema *s)
{
	size_t i;

	json_decref(s->read_many_keys);
	s->read_many_keys = NULL;
	for (i = 0; i < s->nattrs; i++) {
		free(s->attrs[i].name);
		free(s->attrs[i].description);
		json_decref(s->attrs[i].def);
		free(s->attrs[i].pattern);
		if (s->attrs[i].pattern_re)
			regfree(s->attrs[i].pattern_re);
		free(s->attrs[i].pattern_re);
		json_decref(s->attrs[i].enum_values);
	}
	free(s->attrs);
	free(s->type);
	free(s->file);
	free(s->description);
	free(s->id_attr);
	memset(s, 0, sizeof(*s));
}

static void module_free(cairn_lua_module *m)
{
	if (!m)
		return;
	schema_release(&m->schema);
	free(m->display);
	free(m);
}

void cairn_lua_free(cairn_lua *rt)
{
	size_t i;

	if (!rt)
		return;
	if (rt->L)
		lua_close(rt->L);
	for (i = 0; i < rt->nmods; i++)
		module_free(rt->mods[i]);
	free(rt->mods);
	for (i = 0; i < rt->ndirs; i++)
		free(rt->dirs[i]);
	free(rt->dirs);
	for (i = 0; i < rt->nprot; i++) {
		free(rt->prot[i].real);
		free(rt->prot[i].given);
		free(rt->prot[i].what);
	}
	free(rt->prot);
	free(rt->srcs);
	free(rt);
}

void cairn_lua_collect(cairn_lua *rt)
{
	lua_gc(rt->L, LUA_GCCOLLECT);
}

void cairn_lua_set_trusted(cairn_lua *rt, size_t first)
{
	rt->first_trusted = first;
}

void cairn_lua_interrupt(cairn_lua *rt)
{
	rt->interrupted = 1;
}

bool cairn_lua_interrupted(const cairn_lua *rt)
{
	return rt->interrupted != 0;
}

void cairn_lua_set_log(cairn_lua *rt, cairn_lua_log_fn fn, void *ud)
{
	rt->log_fn = fn;
	rt->log_ud = ud;
}

/* -- schemas ------------------------------------------------------------------ */

static const struct { const char *name; cairn_attr_type type; } type_names[] = {
	{ "any", CAIRN_T_ANY }, { "string", CAIRN_T_STRING }, { "number", CAIRN_T_NUMBER },
	{ "bool", CAIRN_T_BOOL }, { "list", CAIRN_T_LIST }, { "map", CAIRN_T_MAP }, { NULL, 0 },
};

static const char *const attr_keys[] = {
	"type", "required", "optional", "computed", "default", "force_new", "sensitive", "write_only", "description", "watch",
	"min", "max", "integer", "pattern", "enum", "local_path", NULL,
};

static const struct { const char *name; unsigned bit; bool must; } op_names[] = {
	{ "create", CAIRN_OPS_CREATE, true }, { "read", CAIRN_OPS_READ, true },
	{ "read_many", CAIRN_OPS_READ_MANY, false }, { "update", CAIRN_OPS_UPDATE, false },
	{ "delete", CAIRN_OPS_DELETE, true }, { "list", CAIRN_OPS_LIST, false },
	{ "import", CAIRN_OPS_IMPORT, false }, { "recover", CAIRN_OPS_RECOVER, false },
	{ "status", CAIRN_OPS_STATUS, false },
	{ NULL, 0, false },
};

static bool default_matches(cairn_attr_type t, json_t **def)
{
	switch (t) {
	case CAIRN_T_STRING: return json_is_string(*def);
	case CAIRN_T_NUMBER: return json_is_number(*def);
	case CAIRN_T_BOOL:   return json_is_boolean(*def);
	case CAIRN_T_MAP:    return json_is_object(*def);
	case CAIRN_T_LIST:
		if (json_is_object(*def) && json_object_size(*def) == 0) {
			json_decref(*def);
			*def = json_array();
			return *def != NULL;
		}
		return json_is_array(*def);
	default:             return true;
	}
}

static bool opt_bool(lua_State *L, int idx, const char *key, const char *file, const char *attr, bool *set)
{
	int t = lua_getfield(L, idx, key);
	bool v = lua_toboolean(L, -1);

	if (t != LUA_TNIL && t != LUA_TBOOLEAN)
		luaL_error(L, "%s: schema attribute '%s': '%s' must be a boolean", file, attr, key);
	lua_pop(L, 1);
	if (set)
		*set = t != LUA_TNIL;
	return v;
}

static bool opt_number(lua_State *L, int idx, const char *key, const char *file, const char *attr, double *out)
{
	int t = lua_getfield(L, idx, key);

	if (t != LUA_TNIL && t != LUA_TNUMBER)
		luaL_error(L, "%s: schema attribute '%s': '%s' must be a number", file, attr, key);
	if (t == LUA_TNUMBER)
		*out = lua_tonumber(L, -1);
	lua_pop(L, 1);
	return t == LUA_TNUMBER;
}

/* min, max, integer, pattern, enum, local_path: each only where it means
 * something (numbers, strings); raises naming the file. */
static void parse_constraints(lua_State *L, int idx, const char *file, cairn_attr_schema *a)
{
	bool is_num = a->type == CAIRN_T_NUMBER, is_str = a->type == CAIRN_T_STRING;
	char err[256];
	size_t i, n;
	int rc;

	a->has_min = opt_number(L, idx, "min", file, a->name, &a->min);
	a->has_max = opt_number(L, idx, "max", file, a->name, &a->max);
	a->integer = opt_bool(L, idx, "integer", file, a->name, NULL);
	a->local_path = opt_bool(L, idx, "local_path", file, a->name, NULL);
	if ((a->has_min || a->has_max || a->integer) && !is_num)
		luaL_error(L, "%s: schema attribute '%s': min, max and integer apply to numbers", file, a->name);
	if ((a->has_min && !isfinite(a->min)) || (a->has_max && !isfinite(a->max)) ||
	    (a->has_min && a->has_max && a->min > a->max))
		luaL_error(L, "%s: schema attribute '%s': min and max must be finite, min <= max", file, a->name);
	if (a->local_path && !is_str)
		luaL_error(L, "%s: schema attribute '%s': local_path applies to strings", file, a->name);
	switch (lua_getfield(L, idx, "pattern")) {
	case LUA_TNIL:
		break;
	case LUA_TSTRING:
		if (!is_str)
			luaL_error(L, "%s: schema attribute '%s': pattern applies to strings", file, a->name);
		if (!(a->pattern = strdup(lua_tostring(L, -1))) || !(a->pattern_re = calloc(1, sizeof(regex_t))))
			luaL_error(L, "not enough memory");
		lua_pushfstring(L, "^(%s)$", a->pattern);
		if ((rc = regcomp(a->pattern_re, lua_tostring(L, -1), REG_EXTENDED | REG_NOSUB)) != 0) {
			regerror(rc, a->pattern_re, err, sizeof(err));
			free(a->pattern_re);
			a->pattern_re = NULL;
			luaL_error(L, "%s: schema attribute '%s': pattern is not a POSIX extended regular expression: %s",
				   file, a->name, err);
		}
		lua_pop(L, 1);
		break;
	default:
		luaL_error(L, "%s: schema attribute '%s': 'pattern' must be a string", file, a->name);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "enum") != LUA_TNIL) {
		if (!is_num && !is_str)
			luaL_error(L, "%s: schema attribute '%s': enum applies to strings and numbers", file, a->name);
		if (!lua_istable(L, -1) || (n = (size_t)lua_rawlen(L, -1)) == 0)
			luaL_error(L, "%s: schema attribute '%s': 'enum' must be a non-empty list", file, a->name);
		if (!(a->enum_values = json_array()))
			luaL_error(L, "not enough memory");
		for (i = 1; i <= n; i++) {
			int t = lua_rawgeti(L, -1, (lua_Integer)i);

			if ((is_str && t != LUA_TSTRING) || (is_num && t != LUA_TNUMBER))
				luaL_error(L, "%s: schema attribute '%s': enum values must be %ss", file, a->name,
					   is_str ? "string" : "number");
			if (json_array_append_new(a->enum_values, is_str ? json_string(lua_tostring(L, -1)) :
						  lua_isinteger(L, -1) ? json_integer(lua_tointeger(L, -1)) :
						  json_real(lua_tonumber(L, -1))))
				luaL_error(L, "%s: schema attribute '%s': enum value %d is not valid", file, a->name, (int)i);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

/* Parse schema[name] (the table at idx) into a; raises naming the file. */
static void parse_attr(lua_State *L, int idx, const char *file, cairn_attr_schema *a)
{
	char err[512];
	const char *key;
	bool optional_set;
	size_t i;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		for (i = 0; key && attr_keys[i] && strcmp(attr_keys[i], key) != 0; i++)
			;
		if (!key || !attr_keys[i])
			luaL_error(L, "%s: schema attribute '%s': unknown key '%s'", file, a->name,
				   key ? key : luaL_typename(L, -1));
	}
	switch (lua_getfield(L, idx, "type")) {
	case LUA_TNIL:
		a->type = CAIRN_T_ANY;
		break;
	case LUA_TSTRING:
		key = lua_tostring(L, -1);
		for (i = 0; type_names[i].name && strcmp(type_names[i].name, key) != 0; i++)
			;
		if (!type_names[i].name)
			luaL_error(L, "%s: schema attribute '%s': unknown type '%s' (want string, number, bool, list, map or any)",
				   file, a->name, key);
		a->type = type_names[i].type;
		break;
	default:
		luaL_error(L, "%s: schema attribute '%s': 'type' must be a string", file, a->name);
	}
	lua_pop(L, 1);
	a->required = opt_bool(L, idx, "required", file, a->name, NULL);
	a->computed = opt_bool(L, idx, "computed", file, a->name, NULL);
	a->force_new = opt_bool(L, idx, "force_new", file, a->name, NULL);
	a->sensitive = opt_bool(L, idx, "sensitive", file, a->name, NULL);
	a->write_only = opt_bool(L, idx, "write_only", file, a->name, NULL);
	a->watch = opt_bool(L, idx, "watch", file, a->name, NULL);
	a->optional = opt_bool(L, idx, "optional", file, a->name, &optional_set);
	if (!optional_set)
		a->optional = !a->required && !a->computed;
	if (a->required && a->computed)
		luaL_error(L, "%s: schema attribute '%s': cannot be both required and computed", file, a->name);
	if (a->required && a->optional)
		luaL_error(L, "%s: schema attribute '%s': cannot be both required and optional", file, a->name);
	if (a->write_only && a->computed)
		luaL_error(L, "%s: schema attribute '%s': cannot be both write_only and computed", file, a->name);
	switch (lua_getfield(L, idx, "description")) {
	case LUA_TNIL:
		break;
	case LUA_TSTRING:
		if (!(a->description = strdup(lua_tostring(L, -1))))
			luaL_error(L, "not enough memory");
		break;
	default:
		luaL_error(L, "%s: schema attribute '%s': 'description' must be a string", file, a->name);
	}
	lua_pop(L, 1);
	parse_constraints(L, idx, file, a);
	if (lua_getfield(L, idx, "default") != LUA_TNIL) {
		if (a->required)
			luaL_error(L, "%s: schema attribute '%s': a required attribute cannot have a default", file, a->name);
		a->def = cairn_lua_to_json(L, -1, err, sizeof(err));
		if (!a->def)
			luaL_error(L, "%s: schema attribute '%s': bad default: %s", file, a->name, err);
		if (!default_matches(a->type, &a->def))
			luaL_error(L, "%s: schema attribute '%s': default is a %s, not a %s", file, a->name,
				   cairn_value_type_name(a->def), type_names[a->type == CAIRN_T_ANY ? 0 : (int)a->type].name);
		if (!json_is_null(a->def) && cairn_attr_check(a, a->def, false) != 0)
			luaL_error(L, "%s: schema attribute '%s': the default %s", file, a->name,
				   cairn_error_last()->message);
	}
	lua_pop(L, 1);
}

static int attr_cmp(const void *a, const void *b)
{
	return strcmp(((const cairn_attr_schema *)a)->name, ((const cairn_attr_schema *)b)->name);
}

static void parse_schema(lua_State *L, int mod, cairn_lua_module *m)
{
	cairn_schema *s = &m->schema;
	const char *file = m->display;
	size_t n = 0;
	int sch;

	if (lua_getfield(L, mod, "schema") != LUA_TTABLE)
		luaL_error(L, "%s: the module has no schema table", file);
	sch = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, sch)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s: schema keys must be attribute names (strings)", file);
		n++;
	}
	s->attrs = calloc(n ? n : 1, sizeof(*s->attrs));
	if (!s->attrs)
		luaL_error(L, "not enough memory");
	lua_pushnil(L);
	while (lua_next(L, sch)) {
		cairn_attr_schema *a = &s->attrs[s->nattrs++];

		if (!(a->name = strdup(lua_tostring(L, -2))))
			luaL_error(L, "not enough memory");
		if (!lua_istable(L, -1))
			luaL_error(L, "%s: schema attribute '%s' must be a table", file, a->name);
		parse_attr(L, lua_gettop(L), file, a);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	qsort(s->attrs, s->nattrs, sizeof(*s->attrs), attr_cmp);
}

static char *opt_string(lua_State *L, int mod, const char *key, const char *file, const char *def)
{
	char *s;

	switch (lua_getfield(L, mod, key)) {
	case LUA_TNIL:
		s = def ? strdup(def) : NULL;
		break;
	case LUA_TSTRING:
		s = strdup(lua_tostring(L, -1));
		break;
	default:
		return luaL_error(L, "%s: '%s' must be a string", file, key), NULL;
	}
	lua_pop(L, 1);
	if (def && !s)
		luaL_error(L, "not enough memory");
	return s;
}

typedef struct load_args {
	cairn_lua *rt;
	cairn_lua_module *m;
	const char *type;
	size_t where;      /* index of the directory the file is in */
} load_args;

/* The module's optional `timeouts` table into s->timeouts (defaults first). */
static void parse_timeouts(lua_State *L, int mod, cairn_schema *s, const char *file)
{
	const char *key;
	double secs;
	size_t k;

	for (k = 0; k < CAIRN_TIMEOUT_N; k++)
		s->timeouts[k] = default_timeouts[k];
	switch (lua_getfield(L, mod, "timeouts")) {
	case LUA_TNIL: lua_pop(L, 1); return;
	case LUA_TTABLE: break;
	default: luaL_error(L, "%s: 'timeouts' must be a table like { create = \"30m\" }", file);
	}
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		for (k = 0; k < CAIRN_TIMEOUT_N && strcmp(cairn_timeout_names[k], key) != 0; k++)
			;
		if (k == CAIRN_TIMEOUT_N)
			luaL_error(L, "%s: timeouts: unknown operation '%s' (create, read, update or delete)", file, key);
		if (lua_type(L, -1) == LUA_TNUMBER)
			secs = lua_tonumber(L, -1);
		else if (lua_type(L, -1) != LUA_TSTRING || cairn_duration_parse(lua_tostring(L, -1), &cairn_duration_timeouts, &secs) < 0)
			secs = -1;
		if (!(secs > 0) || secs > 7 * 86400)
			luaL_error(L, "%s: timeouts.%s must be a duration like \"30m\" or \"2h\" (at most 7 days)",
				   file, key);
		s->timeouts[k] = secs;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* Protected: load, run and validate a module file; fill a->m. */
static int load_module_cf(lua_State *L)
{
	load_args *a = lua_touserdata(L, 1);
	cairn_lua_module *m = a->m;
	const char *file = m->display;
	bool trusted = a->where >= a->rt->first_trusted;
	size_t i;
	int mod;

	/* what a module may do comes from where it was found, not its name */
	push_require(L, trusted ? a->rt->first_trusted : 0);
	load_chunk(L, m->schema.file, m->display,
		   !trusted ? CAPS_NONE : is_local_ns(a->type) ? CAPS_FS : CAPS_TRUSTED, -1);
	lua_remove(L, -2);
	lua_call(L, 0, 1);
	if (!lua_istable(L, -1))
		return luaL_error(L, "%s: the module must return a table (got %s)", file, luaL_typename(L, -1));
	mod = lua_gettop(L);
	if (lua_getfield(L, mod, "type") != LUA_TSTRING)
		return luaL_error(L, "%s: the module must declare its type (type = \"%s\")", file, a->type);
	if (strcmp(lua_tostring(L, -1), a->type) != 0)
		return luaL_error(L, "%s: the module declares type '%s' but was loaded as '%s'", file,
				  lua_tostring(L, -1), a->type);
	lua_pop(L, 1);
	m->schema.description = opt_string(L, mod, "description", file, NULL);
	m->schema.id_attr = opt_string(L, mod, "id_attr", file, "id");
	switch (lua_getfield(L, mod, "read_many_batch")) {
	case LUA_TNIL: m->schema.read_many_batch = 200; break;
	case LUA_TNUMBER:
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 100000)
			return luaL_error(L, "%s: 'read_many_batch' must be a whole number from 1 to 100000", file);
		m->schema.read_many_batch = (size_t)lua_tointeger(L, -1);
		break;
	default: return luaL_error(L, "%s: 'read_many_batch' must be a number", file);
	}
	lua_pop(L, 1);
	switch (lua_getfield(L, mod, "read_many_attrs")) {
	case LUA_TNIL: m->schema.read_many_attrs = true; break;
	case LUA_TBOOLEAN: m->schema.read_many_attrs = lua_toboolean(L, -1); break;
	case LUA_TTABLE: {
		lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);

		m->schema.read_many_attrs = true;
		if (!(m->schema.read_many_keys = json_array()))
			return luaL_error(L, "not enough memory");
		for (i = 1; i <= n; i++) {
			if (lua_rawgeti(L, -1, i) != LUA_TSTRING ||
			    json_array_append_new(m->schema.read_many_keys, json_string(lua_tostring(L, -1))) != 0)
				return luaL_error(L, "%s: 'read_many_attrs' must be a boolean or a list of attribute names", file);
			lua_pop(L, 1);
		}
		break;
	}
	default: return luaL_error(L, "%s: 'read_many_attrs' must be a boolean or a list of attribute names", file);
	}
	lua_pop(L, 1);
	switch (lua_getfield(L, mod, "read_marks")) {
	case LUA_TNIL: m->schema.read_marks = false; break;
	case LUA_TBOOLEAN: m->schema.read_marks = lua_toboolean(L, -1); break;
	default: return luaL_error(L, "%s: 'read_marks' must be a boolean", file);
	}
	lua_pop(L, 1);
	switch (lua_getfield(L, mod, "remote")) {
	case LUA_TNIL: m->schema.remote = true; break;
	case LUA_TBOOLEAN: m->schema.remote = lua_toboolean(L, -1); break;
	default: return luaL_error(L, "%s: 'remote' must be a boolean", file);
	}
	lua_pop(L, 1);
	for (i = 0; op_names[i].name; i++) {
		int t = lua_getfield(L, mod, op_names[i].name);

		if (t == LUA_TFUNCTION)
			m->schema.ops |= op_names[i].bit;
		else if (t != LUA_TNIL)
			return luaL_error(L, "%s: '%s' must be a function", file, op_names[i].name);
		else if (op_names[i].must)
			return luaL_error(L, "%s: the module has no '%s' function", file, op_names[i].name);
		lua_pop(L, 1);
	}
	parse_timeouts(L, mod, &m->schema, file);
	parse_schema(L, mod, m);
	if (!cairn_schema_attr(&m->schema, m->schema.id_attr))
		return luaL_error(L, "%s: id_attr '%s' is not in the schema", file, m->schema.id_attr);
	lua_getfield(L, LUA_REGISTRYINDEX, "cairn.modules");
	lua_pushvalue(L, mod);
	m->ref = luaL_ref(L, -2);
	return 0;
}

bool cairn_lua_saw_outside(const cairn_lua *rt)
{
	return rt->outside != 0;
}

json_t *cairn_lua_loaded_types(const cairn_lua *rt)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < rt->nmods; i++)
		if (json_array_append_new(a, json_string(rt->mods[i]->schema.type)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static cairn_lua_module *find_loaded(cairn_lua *rt, const char *type)
{
	size_t i;

	for (i = 0; i < rt->nmods; i++)
		if (strcmp(rt->mods[i]->schema.type, type) == 0)
			return rt->mods[i];
	return NULL;
}

/* "unknown resource type 'x.y': no x/y.lua in the module path (DIR, DIR:
 * no such directory)": a wrong module path shows as such. */
static void not_found(cairn_lua *rt, const char *type)
{
	cairn_buf b = CAIRN_BUF_INIT, rel = CAIRN_BUF_INIT;
	struct stat st;
	const char *p;
	size_t i;

	cairn_buf_init(&b, 4096);
	for (p = type; *p; p++)
		cairn_buf_putc(&rel, *p == '.' ? '/' : *p);
	cairn_buf_puts(&rel, ".lua");
	for (i = 0; i < rt->ndirs; i++) {
		cairn_buf_printf(&b, "%s%s", i ? ", " : "", rt->dirs[i]);
		if (stat(rt->dirs[i], &st) != 0)
			cairn_buf_printf(&b, ": %s", strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			cairn_buf_puts(&b, ": not a directory");
	}
	cairn_error_set(CAIRN_ENOTFOUND, "unknown resource type '%s': no %s in the module path (%s)", type,
			cairn_buf_cstr(&rel), cairn_buf_cstr(&b));
	cairn_buf_release(&b);
	cairn_buf_release(&rel);
}

static int load_module(cairn_lua *rt, const char *type, cairn_lua_module **out)
{
	cairn_buf path = CAIRN_BUF_INIT, display = CAIRN_BUF_INIT;
	cairn_lua_module *m = NULL;
	lua_State *L = rt->L;
	load_args a;
	int rc, status, base = lua_gettop(L);

	if (!valid_name(type, 2)) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "unknown resource type '%s' (types look like \"local.file\")", type);
		goto cleanup;
	}
	rc = find_file(rt, type, 0, &path, &display, &a.where);
	if (rc == CAIRN_ENOTFOUND) {
		not_found(rt, type);
		goto cleanup;
	}
	if (rc < 0)
		goto cleanup;
	rc = CAIRN_ENOMEM;
	if (!(m = calloc(1, sizeof(*m))) || !(m->schema.type = strdup(type)) ||
	    !(m->schema.file = cairn_buf_detach(&path)) || !(m->display = cairn_buf_detach(&display))) {
		cairn_error_set(rc, "out of memory");
		goto cleanup;
	}
	if (rt->nmods == rt->amods) {
		size_t na = rt->amods ? 2 * rt->amods : 16;
		cairn_lua_module **mods = realloc(rt->mods, na * sizeof(*mods));

		if (!mods) {
			cairn_error_set(rc, "out of memory");
			goto cleanup;
		}
		rt->mods = mods;
		rt->amods = na;
	}
	a.rt = rt;
	a.m = m;
	a.type = type;
	rt->load_instr = 0;
	rt->killed = false;
	rt->loading = type;
	lua_pushcfunction(L, msgh);
	lua_pushcfunction(L, load_module_cf);
	lua_pushlightuserdata(L, &a);
	status = lua_pcall(L, 1, 0, base + 1);
	rt->loading = NULL;
	if (status != LUA_OK) {
		rc = rt->interrupted ? CAIRN_ERROR : rt->killed || status == LUA_ERRMEM ? CAIRN_ELIMIT : CAIRN_EINVAL;
		cairn_error_set(rc, "cannot load module %s: %s", type,
				status == LUA_ERRMEM ? "not enough memory" :
				lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error in error handling");
		rt->killed = false;
		goto cleanup;
	}
	rt->mods[rt->nmods++] = m;
	*out = m;
	m = NULL;
	rc = 0;
cleanup:
	lua_settop(L, base);
	module_free(m);
	cairn_buf_release(&path);
	cairn_buf_release(&display);
	return rc;
}

int cairn_lua_schema(cairn_lua *rt, const char *type, const cairn_schema **out)
{
	cairn_lua_module *m = find_loaded(rt, type);
	int rc;

	if (!m && (rc = load_module(rt, type, &m)) < 0)
		return rc;
	*out = &m->schema;
	return 0;
}

const cairn_attr_schema *cairn_schema_attr(const cairn_schema *s, const char *name)
{
	cairn_attr_schema key;

	key.name = (char *)name;
	return bsearch(&key, s->attrs, s->nattrs, sizeof(*s->attrs), attr_cmp);
}

/* -- constraints and protected paths ----------------------------------------- */

static void put_number(cairn_buf *b, double d)
{
	if (d == floor(d) && fabs(d) < 1e15)
		cairn_buf_printf(b, "%.0f", d + 0.0);
	else
		cairn_buf_printf(b, "%.17g", d);
}

static void put_value(cairn_buf *b, const json_t *v, bool sensitive)
{
	char *s;

	if (sensitive)
		return;
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	cairn_buf_printf(b, ", got %s", s ? s : "?");
	free(s);
}

static bool enum_has(const json_t *vals, const json_t *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(vals, i, x)
		if (json_is_string(v) ? json_is_string(x) && !strcmp(json_string_value(x), json_string_value(v))
				      : json_is_number(x) && json_number_value(x) == json_number_value(v))
			return true;
	return false;
}

int cairn_attr_check(const cairn_attr_schema *a, const json_t *v, bool sensitive)
{
	cairn_buf b = CAIRN_BUF_INIT;
	bool bad = false;
	size_t i;
	json_t *x;
	int rc;

	sensitive = sensitive || a->sensitive;
	cairn_buf_init(&b, 4096);
	if (json_is_number(v) && (a->has_min || a->has_max || a->integer)) {
		double d = json_number_value(v);

		bad = (a->integer && d != floor(d)) || (a->has_min && d < a->min) || (a->has_max && d > a->max);
		cairn_buf_puts(&b, a->integer ? "must be a whole number" : "must be a number");
		if (a->has_min && a->has_max) {
			cairn_buf_puts(&b, " from ");
			put_number(&b, a->min);
			cairn_buf_puts(&b, " to ");
			put_number(&b, a->max);
		} else if (a->has_min || a->has_max) {
			cairn_buf_puts(&b, a->has_min ? " of at least " : " of at most ");
			put_number(&b, a->has_min ? a->min : a->max);
		}
		if (!a->has_min && !a->has_max && !a->integer)
			bad = false;
	}
	if (!bad && json_is_string(v) && a->pattern_re &&
	    regexec(a->pattern_re, json_string_value(v), 0, NULL, 0) != 0) {
		bad = true;
		cairn_buf_clear(&b);
		cairn_buf_printf(&b, "must match the pattern %s", a->pattern);
	}
	if (!bad && a->enum_values && (json_is_string(v) || json_is_number(v)) && !enum_has(a->enum_values, v)) {
		bad = true;
		cairn_buf_clear(&b);
		cairn_buf_puts(&b, "must be one of ");
		json_array_foreach(a->enum_values, i, x) {
			char *s = json_dumps(x, JSON_ENCODE_ANY);

			cairn_buf_printf(&b, "%s%s", i ? ", " : "", s ? s : "?");
			free(s);
		}
	}
	if (!bad) {
		cairn_buf_release(&b);
		return 0;
	}
	put_value(&b, v, sensitive);
	if (!sensitive && json_is_string(v) && a->enum_values) {
		json_array_foreach(a->enum_values, i, x)
			if (!strcasecmp(json_string_value(x), json_string_value(v))) {
				cairn_buf_printf(&b, " (did you mean \"%s\"?)", json_string_value(x));
				break;
			}
	}
	rc = cairn_error_set(CAIRN_EINVAL, "%s", cairn_buf_cstr(&b));
	cairn_buf_release(&b);
	return rc;
}

/* An absolute path for `path` with symlinks and '..' resolved for the part
 * that exists; the rest (which cannot hold symlinks) is normalised as
 * text. */
static int resolve_path(cairn_buf *out, const char *path)
{
	char cur[PATH_MAX], tmp[PATH_MAX];
	const char *p = path, *end;
	bool exists = true;
	size_t n;

	if (path[0] == '/')
		snprintf(cur, sizeof(cur), "/");
	else if (!realpath(".", cur))
		return cairn_error_set(CAIRN_EIO, "cannot resolve the working directory: %s", strerror(errno));
	while (*p) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p = end;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(cur, '/');

			if (slash == cur)
				cur[1] = '\0';
			else if (slash)
				*slash = '\0';
			p = end;
			continue;
		}
		if (snprintf(tmp, sizeof(tmp), "%s%s%.*s", cur, strcmp(cur, "/") ? "/" : "", (int)n, p) >= (int)sizeof(tmp))
			return cairn_error_set(CAIRN_EINVAL, "path too long: %s", path);
		if (exists && realpath(tmp, cur))
			;
		else {
			exists = false;
			memcpy(cur, tmp, strlen(tmp) + 1);
		}
		p = end;
	}
	cairn_buf_clear(out);
	return cairn_buf_puts(out, cur);
}

int cairn_lua_protect(cairn_lua *rt, const char *path, bool tree, const char *what)
{
	cairn_buf real = CAIRN_BUF_INIT;
	struct cairn_lua_protected *np;
	int rc;

	if ((rc = resolve_path(&real, path)) < 0)
		goto cleanup;
	if (!(np = realloc(rt->prot, (rt->nprot + 1) * sizeof(*np)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	rt->prot = np;
	np = &rt->prot[rt->nprot];
	np->tree = tree;
	np->given = strdup(path);
	np->what = strdup(what);
	np->real = cairn_buf_detach(&real);
	if (!np->given || !np->what || !np->real) {
		free(np->given);
		free(np->what);
		free(np->real);
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	rt->nprot++;
	rc = 0;
cleanup:
	cairn_buf_release(&real);
	return rc;
}

int cairn_lua__protected(const cairn_lua *rt, const char *path)
{
	cairn_buf real = CAIRN_BUF_INIT;
	size_t i, n;
	int rc;

	if (!rt->nprot)
		return -1;
	if (resolve_path(&real, path) < 0) {
		rc = -1;
		goto cleanup;
	}
	for (i = 0, rc = -1; i < rt->nprot && rc < 0; i++) {
		const struct cairn_lua_protected *pr = &rt->prot[i];
		char next;

		n = strlen(pr->real);
		if (strncmp(real.ptr, pr->real, n) != 0)
			continue;
		next = real.ptr[n];
		if (next == '\0' || (pr->tree && (next == '/' || n == 1)) || (!pr->tree && next == '-'))
			rc = (int)i;
	}
cleanup:
	cairn_buf_release(&real);
	return rc;
}

int cairn_lua_check_path(const cairn_lua *rt, const char *path)
{
	int i = cairn_lua__protected(rt, path);

	if (i < 0)
		return 0;
	return cairn_error_set(CAIRN_EINVAL, "points into %s (%s)", rt->prot[i].what, rt->prot[i].given);
}

/* -- operations ------------------------------------------------------------- */

typedef struct op_args {
	cairn_lua_op *op;
	const char *fn;
	json_t *ctx, *args;
} op_args;

/* Protected: a thread holding module[fn], ctx, args... ready to resume. */
static int op_setup_cf(lua_State *L)
{
	op_args *a = lua_touserdata(L, 1);
	cairn_lua_op *op = a->op;
	size_t nargs = a->args ? json_array_size(a->args) : 0, i;
	lua_State *co;

	luaL_checkstack(L, (int)nargs + 8, "too many arguments");
	co = lua_newthread(L); /* 2 */
	lua_getfield(L, LUA_REGISTRYINDEX, "cairn.modules");
	lua_rawgeti(L, -1, op->mod->ref);
	lua_getfield(L, -1, a->fn);
	lua_replace(L, 3);
	lua_settop(L, 3);
	if (a->ctx)
		cairn_lua_push_json(L, a->ctx);
	else
		lua_newtable(L);
	if (lua_istable(L, -1)) {
		lua_getfield(L, LUA_REGISTRYINDEX, CAIRN_REG_GLOBALS);
		lua_getfield(L, -1, "cairn");
		lua_getfield(L, -1, "log");
		lua_setfield(L, -4, "log");
		lua_pop(L, 2);
		if (a->ctx && json_is_object(json_object_get(a->ctx, "marks"))) {
			/* ctx.unchanged: read marks' hits (runtime.h) */
			lua_newtable(L);
			lua_pushvalue(L, -1);
			op->hits_ref = luaL_ref(L, LUA_REGISTRYINDEX);
			lua_setfield(L, -2, "unchanged");
		}
	}
	for (i = 0; i < nargs; i++)
		cairn_lua_push_json(L, json_array_get(a->args, i));
	if (!lua_checkstack(co, (int)nargs + 4))
		return luaL_error(L, "not enough memory");
	lua_xmove(L, co, (int)nargs + 2);
	lua_sethook(co, count_hook, LUA_MASKCOUNT, HOOK_STEP);
	op->co = co;
	op->nargs = (int)nargs + 1;
	op->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int cairn_lua_op_new(cairn_lua_op **out, cairn_lua *rt, const char *type, const char *opname,
		     json_t *ctx, json_t *args)
{
	const cairn_schema *s;
	cairn_lua_op *op = NULL;
	const char *fn = opname;
	json_t *addr;
	op_args a;
	size_t i;
	int rc, base = lua_gettop(rt->L);

	if (args && !json_is_array(args))
		return cairn_error_set(CAIRN_EINVAL, "operation arguments must be a JSON array");
	if ((rc = cairn_lua_schema(rt, type, &s)) < 0)
		return rc;
	for (i = 0; op_names[i].name && strcmp(op_names[i].name, opname) != 0; i++)
		;
	if (!op_names[i].name)
		return cairn_error_set(CAIRN_EINVAL, "unknown operation '%s'", opname);
	if (!(s->ops & op_names[i].bit)) {
		if (op_names[i].bit != CAIRN_OPS_IMPORT)
			return cairn_error_set(CAIRN_EINVAL, "module %s has no '%s' operation", type, opname);
		fn = "read";
	}
	rc = CAIRN_ENOMEM;
	op = calloc(1, sizeof(*op));
	if (!op || !(op->name = strdup(opname)))
		goto oom;
	op->rt = rt;
	op->mod = find_loaded(rt, type);
	op->co_ref = LUA_NOREF;
	op->hits_ref = LUA_NOREF;
	addr = ctx ? json_object_get(ctx, "address") : NULL;
	if (json_is_string(addr) && !(op->address = strdup(json_string_value(addr))))
		goto oom;
	a.op = op;
	a.fn = fn;
	a.ctx = ctx;
	a.args = args;
	lua_pushcfunction(rt->L, op_setup_cf);
	lua_pushlightuserdata(rt->L, &a);
	if (lua_pcall(rt->L, 1, 0, 0) != LUA_OK) {
		lua_settop(rt->L, base);
		rc = cairn_error_set(CAIRN_ELIMIT, "cannot start %s of %s: not enough memory in the Lua state",
				     opname, type);
		cairn_lua_op_free(op);
		return rc;
	}
	*out = op;
	return 0;
oom:
	cairn_lua_op_free(op);
	return cairn_error_set(rc, "out of memory");
}

typedef struct fail_desc {
	char msg[2048];
	char code[256];
} fail_desc;

static int describe_cf(lua_State *L)
{
	fail_desc *d = lua_touserdata(L, 2);

	describe_error(L, 1, d->msg, sizeof(d->msg), d->code, sizeof(d->code));
	return 0;
}

/* A traceback of the failed coroutine, written without allocating in Lua. */
static char *traceback(lua_State *co)
{
	cairn_buf b = CAIRN_BUF_INIT;
	lua_Debug ar;
	int level;

	cairn_buf_puts(&b, "stack traceback:");
	for (level = 0; level < 30 && lua_getstack(co, level, &ar); level++) {
		if (!lua_getinfo(co, "Sln", &ar))
			continue;
		if (ar.currentline > 0)
			cairn_buf_printf(&b, "\n\t%s:%d: in ", ar.short_src, ar.currentline);
		else
			cairn_buf_printf(&b, "\n\t%s: in ", ar.short_src);
		if (ar.name)
			cairn_buf_printf(&b, "function '%s'", ar.name);
		else if (*ar.what == 'm')
			cairn_buf_puts(&b, "main chunk");
		else
			cairn_buf_puts(&b, "function");
	}
	return cairn_buf_detach(&b);
}

static void release_thread(cairn_lua_op *op)
{
	if (op->co_ref != LUA_NOREF)
		luaL_unref(op->rt->L, LUA_REGISTRYINDEX, op->co_ref);
	if (op->hits_ref != LUA_NOREF)
		luaL_unref(op->rt->L, LUA_REGISTRYINDEX, op->hits_ref);
	op->hits_ref = LUA_NOREF;
	op->co_ref = LUA_NOREF;
	op->co = NULL;
}

static cairn_op_status op_failed(cairn_lua_op *op, int class, const char *msg, const char *code)
{
	free(op->errmsg);
	op->errmsg = strdup(msg);
	if (code && *code) {
		free(op->errcode);
		op->errcode = strdup(code);
	}
	op->errclass = class;
	op->status = CAIRN_OP_FAILED;
	cairn_error_set(class, "%s", msg);
	release_thread(op);
	return op->status;
}

/* Why the running code was stopped, as text; returns the error class. */
static int kill_message(const cairn_lua_op *op, int why, char *out, size_t n)
{
	cairn_timeout_kind k = cairn_lua_timeout_kind(op->name);
	char d[64];

	switch (why) {
	case KILL_DEADLINE:
		cairn_duration_format(op->timeout, d, sizeof(d));
		snprintf(out, n, "%s did not finish within its deadline of %s (timeouts.%s; abandoned, "
			 "its intent is kept for the next run)", op->name, d, cairn_timeout_names[k]);
		return CAIRN_ETIMEOUT;
	case KILL_INTERRUPT:
		snprintf(out, n, "interrupted: %s abandoned (its intent is kept for the next run)", op->name);
		return CAIRN_ERROR;
	default:
		snprintf(out, n, "module %s exceeded its instruction limit (%lld instructions)",
			 op->mod->schema.type, op->rt->instr_limit);
		return CAIRN_ELIMIT;
	}
}

/* The coroutine died with an error (on its top): describe it. */
static cairn_op_status op_error(cairn_lua_op *op, int status)
{
	lua_State *L = op->rt->L, *co = op->co;
	int base = lua_gettop(L), class = CAIRN_ERROR;
	char pos[512];
	fail_desc d;

	memset(&d, 0, sizeof(d));
	find_position(co, 0, pos, sizeof(pos));
	free(op->traceback);
	op->traceback = traceback(co);
	if (op->kill) {
		class = kill_message(op, op->kill, d.msg, sizeof(d.msg));
	} else if (status == LUA_ERRMEM) {
		class = CAIRN_ELIMIT;
		snprintf(d.msg, sizeof(d.msg), "not enough memory (the Lua state is limited to %zu bytes)",
			 op->rt->mem_limit);
	} else if (!lua_checkstack(L, 4)) {
		snprintf(d.msg, sizeof(d.msg), "not enough memory to describe the error");
	} else {
		lua_xmove(co, L, 1);
		lua_pushcfunction(L, describe_cf);
		lua_insert(L, -2);
		lua_pushlightuserdata(L, &d);
		if (lua_pcall(L, 2, 0, 0) != LUA_OK)
			snprintf(d.msg, sizeof(d.msg), "not enough memory to describe the error");
		if (d.code[0])
			class = CAIRN_EREMOTE;
	}
	lua_settop(L, base);
	prefix_position(d.msg, sizeof(d.msg), pos);
	op_failed(op, class, d.msg, d.code);
	if (status == LUA_ERRMEM)
		lua_gc(L, LUA_GCCOLLECT);
	return op->status;
}

/* ctx.unchanged as it ends: its string -> string pairs (the engine checks
 * each against the row's mark; anything else in it is ignored). */
static void take_hits(cairn_lua_op *op)
{
	lua_State *L = op->rt->L;
	int base = lua_gettop(L);
	json_t *out;

	json_decref(op->unchanged);
	op->unchanged = NULL;
	if (op->hits_ref == LUA_NOREF || !lua_checkstack(L, 4))
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, op->hits_ref);
	if (lua_istable(L, -1) && (out = json_object())) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
				json_object_set_new(out, lua_tostring(L, -2), json_string(lua_tostring(L, -1)));
			lua_pop(L, 1);
		}
		if (json_object_size(out))
			op->unchanged = out;
		else
			json_decref(out);
	}
	lua_settop(L, base);
}

static cairn_op_status op_finished(cairn_lua_op *op, int nres)
{
	char err[512], msg[1024];
	json_t *r;

	if (nres == 0)
		r = json_null();
	else
		r = cairn_lua_to_json(op->co, lua_gettop(op->co) - nres + 1, err, sizeof(err));
	if (!r) {
		snprintf(msg, sizeof(msg), "%s: %s returned a value that %s", op->mod->display, op->name, err);
		return op_failed(op, CAIRN_EINVAL, msg, NULL);
	}
	json_decref(op->result);
	op->result = r;
	op->status = CAIRN_OP_DONE;
	take_hits(op);
	release_thread(op);
	return op->status;
}

cairn_op_status cairn_lua_op_resume(cairn_lua_op *op, json_t *value)
{
	cairn_lua *rt = op->rt;
	lua_State *L = rt->L;
	int narg, nres = 0, status, base = lua_gettop(L);
	json_t *null = NULL;

	if ((!op->started || op->status == CAIRN_OP_YIELDED) &&
	    (rt->interrupted || (op->deadline > 0 && cairn_lua_clock() >= op->deadline)))
		return cairn_lua_op_abort(op, rt->interrupted ? CAIRN_ABORT_INTERRUPT : CAIRN_ABORT_DEADLINE);
	if (op->started && op->status != CAIRN_OP_YIELDED) {
		if (op->status == CAIRN_OP_FAILED)
			cairn_error_set(op->errclass, "%s", op->errmsg ? op->errmsg : "operation failed");
		return op->status;
	}
	if (!op->started) {
		narg = op->nargs;
		op->started = true;
	} else {
		if (!value)
			value = null = json_null();
		status = cairn_lua_push_json_safe(L, value);
		json_decref(null);
		if (status != LUA_OK) {
			lua_settop(L, base);
			return op_failed(op, CAIRN_ELIMIT, "not enough memory to pass the response to the module", NULL);
		}
		if (!lua_checkstack(op->co, 2)) {
			lua_settop(L, base);
			return op_failed(op, CAIRN_ELIMIT, "not enough memory to resume the module", NULL);
		}
		lua_xmove(L, op->co, 1);
		narg = 1;
	}
	json_decref(op->request);
	op->request = NULL;
	rt->current = op;
	rt->killed = op->kill != 0;
	rt->alloc_since_check = 0;
	status = lua_resume(op->co, L, narg, &nres);
	rt->current = NULL;
	rt->killed = false;
	switch (status) {
	case LUA_OK:
		return op_finished(op, nres);
	case LUA_YIELD:
		lua_pop(op->co, nres);
		if (!op->request)
			return op_failed(op, CAIRN_ERROR, "the module yielded without a request", NULL);
		op->status = CAIRN_OP_YIELDED;
		return op->status;
	default:
		return op_error(op, status);
	}
}

void cairn_lua_op_set_timeout(cairn_lua_op *op, double seconds)
{
	op->timeout = seconds > 0 ? seconds : 0;
	op->deadline = seconds > 0 ? cairn_lua_clock() + seconds : 0;
}

double cairn_lua_op_timeout(const cairn_lua_op *op)
{
	return op->timeout;
}

cairn_op_status cairn_lua_op_abort(cairn_lua_op *op, cairn_abort_why why)
{
	char msg[2048], pos[512];
	int class;

	if (op->started && op->status != CAIRN_OP_YIELDED) {
		if (op->status == CAIRN_OP_FAILED)
			cairn_error_set(op->errclass, "%s", op->errmsg ? op->errmsg : "operation failed");
		return op->status;
	}
	op->started = true;
	op->kill = why == CAIRN_ABORT_DEADLINE ? KILL_DEADLINE : KILL_INTERRUPT;
	class = kill_message(op, op->kill, msg, sizeof(msg));
	pos[0] = '\0';
	if (op->co) {
		/* where it waits: the module's line that called the wait */
		find_position(op->co, 0, pos, sizeof(pos));
		free(op->traceback);
		op->traceback = traceback(op->co);
	}
	prefix_position(msg, sizeof(msg), pos);
	json_decref(op->request);
	op->request = NULL;
	return op_failed(op, class, msg, NULL);
}

bool cairn_lua_op_abandoned(const cairn_lua_op *op)
{
	return op->status == CAIRN_OP_FAILED && (op->kill == KILL_DEADLINE || op->kill == KILL_INTERRUPT);
}

json_t *cairn_lua_op_request(cairn_lua_op *op)
{
	return op->status == CAIRN_OP_YIELDED ? op->request : NULL;
}

const json_t *cairn_lua_op_unchanged(const cairn_lua_op *op)
{
	return op ? op->unchanged : NULL;
}

json_t *cairn_lua_op_result(cairn_lua_op *op)
{
	return op->status == CAIRN_OP_DONE ? op->result : NULL;
}

const char *cairn_lua_op_error(const cairn_lua_op *op)
{
	return op->status == CAIRN_OP_FAILED ? op->errmsg : NULL;
}

const char *cairn_lua_op_error_code(const cairn_lua_op *op)
{
	return op->status == CAIRN_OP_FAILED ? op->errcode : NULL;
}

const char *cairn_lua_op_traceback(const cairn_lua_op *op)
{
	return op->traceback;
}

void cairn_lua_op_free(cairn_lua_op *op)
{
	if (!op)
		return;
	release_thread(op);
	json_decref(op->request);
	json_decref(op->result);
	json_decref(op->unchanged);
	free(op->name);
	free(op->address);
	free(op->errmsg);
	free(op->errcode);
	free(op->traceback);
	free(op);
}

/* -- listing types ------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_candidates(char ***names, size_t *n, size_t *alloc, const char *dir)
{
	cairn_buf sub = CAIRN_BUF_INIT, name = CAIRN_BUF_INIT;
	DIR *d = opendir(dir), *sd = NULL;
	struct dirent *e, *f;
	size_t len;
	int rc = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !valid_name(e->d_name, 1))
			continue;
		cairn_buf_clear(&sub);
		if ((rc = cairn_buf_printf(&sub, "%s/%s", dir, e->d_name)) < 0)
			goto cleanup;
		if (!(sd = opendir(sub.ptr)))
			continue;
		while ((f = readdir(sd))) {
			len = strlen(f->d_name);
			if (len <= 4 || strcmp(f->d_name + len - 4, ".lua") != 0)
				continue;
			cairn_buf_clear(&name);
			if ((rc = cairn_buf_printf(&name, "%s.%.*s", e->d_name, (int)(len - 4), f->d_name)) < 0)
				goto cleanup;
			if (!valid_name(name.ptr, 2))
				continue;
			if (*n == *alloc) {
				size_t na = *alloc ? 2 * *alloc : 16;
				char **p = realloc(*names, na * sizeof(*p));

				if (!p) {
					rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
					goto cleanup;
				}
				*names = p;
				*alloc = na;
			}
			(*names)[(*n)++] = cairn_buf_detach(&name);
		}
		closedir(sd);
		sd = NULL;
	}
cleanup:
	if (sd)
		closedir(sd);
	closedir(d);
	cairn_buf_release(&sub);
	cairn_buf_release(&name);
	return rc;
}

/* Every file <dir>/<ns>/<name>.lua that loads as a module of type ns.name
 * (helpers that require() uses, like aws/common.lua, are left out). */
int cairn_lua_types(cairn_lua *rt, char ***out, size_t *nout)
{
	char **names = NULL;
	size_t n = 0, alloc = 0, i, kept = 0;
	const cairn_schema *s;
	int rc = 0;

	for (i = 0; i < rt->ndirs && rc == 0; i++)
		rc = add_candidates(&names, &n, &alloc, rt->dirs[i]);
	if (rc < 0) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return rc;
	}
	if (n)
		qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++) {
		if ((kept && strcmp(names[kept - 1], names[i]) == 0) || cairn_lua_schema(rt, names[i], &s) < 0) {
			free(names[i]);
			continue;
		}
		names[kept++] = names[i];
	}
	cairn_error_clear();
	*out = names;
	*nout = kept;
	return 0;
}

/* -- policies (policy.c) --------------------------------------------------------- */

static int load_policy_cf(lua_State *L)
{
	load_args *a = lua_touserdata(L, 1);
	cairn_lua_module *m = a->m;

	/* no require, no capabilities: the curated globals and the bare `cairn` */
	lua_pushnil(L);
	load_chunk(L, m->schema.file, m->display, CAPS_NONE, -1);
	lua_remove(L, -2);
	lua_call(L, 0, 1);
	if (lua_istable(L, -1))
		lua_getfield(L, -1, "check");
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "%s: a policy must return a function (or a table with a 'check' function), got %s",
				  m->display, luaL_typename(L, -1));
	lua_newtable(L);
	lua_insert(L, -2);
	lua_setfield(L, -2, "read");
	lua_getfield(L, LUA_REGISTRYINDEX, "cairn.modules");
	lua_insert(L, -2);
	m->ref = luaL_ref(L, -2);
	return 0;
}

int cairn_lua__load_policy(cairn_lua *rt, const char *type, const char *path, const char *display)
{
	cairn_lua_module *m = NULL, **mods;
	lua_State *L = rt->L;
	load_args a;
	int rc = CAIRN_ENOMEM, status, base = lua_gettop(L);
	size_t k;

	if (!(m = calloc(1, sizeof(*m))) || !(m->schema.type = strdup(type)) || !(m->schema.file = strdup(path)) ||
	    !(m->display = strdup(display)) || !(m->schema.id_attr = strdup("id")) ||
	    !(mods = realloc(rt->mods, (rt->nmods + 1) * sizeof(*mods)))) {
		cairn_error_set(rc, "out of memory");
		goto cleanup;
	}
	rt->mods = mods;
	rt->amods = rt->nmods + 1;
	m->schema.ops = CAIRN_OPS_READ;
	m->schema.remote = false;
	for (k = 0; k < CAIRN_TIMEOUT_N; k++)
		m->schema.timeouts[k] = default_timeouts[k];
	a.rt = rt;
	a.m = m;
	a.type = type;
	a.where = 0;
	rt->load_instr = 0;
	rt->killed = false;
	rt->loading = type;
	lua_pushcfunction(L, msgh);
	lua_pushcfunction(L, load_policy_cf);
	lua_pushlightuserdata(L, &a);
	status = lua_pcall(L, 1, 0, base + 1);
	rt->loading = NULL;
	if (status != LUA_OK) {
		rc = rt->killed || status == LUA_ERRMEM ? CAIRN_ELIMIT : CAIRN_EINVAL;
		cairn_error_set(rc, "%s", status == LUA_ERRMEM ? "not enough memory" :
				lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error in error handling");
		rt->killed = false;
		goto cleanup;
	}
	rt->mods[rt->nmods++] = m;
	m = NULL;
	rc = 0;
cleanup:
	lua_settop(L, base);
	module_free(m);
	return rc;
}
