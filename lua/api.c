/*
 * api.c - the `cairn` table that modules call.
 *
 * One luaL_Reg library per area: log, json (json.c), xml (xml.c), http,
 * random, hash, base64, time, fs (local.* modules only), plus cairn.sleep,
 * cairn.wait and cairn.paginate. The functions that wait (cairn.http.request,
 * cairn.sleep) build a JSON request, park it on the running operation and
 * yield; the scheduler answers with cairn_lua_op_resume and the answer is
 * what the function returns. Modules cannot yield any other way (there is no
 * coroutine library in the sandbox), so every yield the runtime sees carries
 * a request built here. The small Lua prelude at the bottom implements the
 * helpers that are easier in Lua (log formatting, wait, paginate).
 *
 * Tables handed to modules are read-only proxies (cairn_lua_readonly), so a
 * module cannot change the API that other modules see.
 *
 * The API as a module sees it:
 *   cairn.log.debug|info|warn|error(fmt, ...)  string.format'ed, to the log
 *       callback with the operation's address; ctx.log is the same table;
 *       print(...) logs at "info".
 *   cairn.http.request{method="GET", url=, headers={k=v}, body=, sigv4=,
 *       service=, action=, idempotent=(method ~= POST/PATCH), timeout=}
 *       -> {status=, headers={lower-case=v}, body=} or {error=, curl_code=}.
 *       Waits (yields). Unknown fields, non-http(s) URLs, non-string headers
 *       are errors.
 *   cairn.http.request_all{req1, req2, ...} (1 to 64 request tables as above)
 *       -> {resp1, resp2, ...} in the same order. The requests run at the
 *       same time; waits (yields) until every one has its answer.
 *   cairn.sleep(seconds)                        waits (yields); 0..86400.
 *   cairn.wait.poll(fn, {timeout=300, interval=1, max_interval=30, factor=2,
 *       what="the condition"}) -> first truthy fn() result; fn may return
 *       nil, status. Error "timed out after Ns waiting for <what> (last
 *       status: s)". Also cairn.wait["until"] (`until` is a Lua keyword).
 *   cairn.paginate(fn)    fn(token) -> items, next_token; -> array of all items.
 *   cairn.json.encode(v [, {pretty=true}]) / decode(s) -> v | nil, err;
 *       cairn.json.array([t]) marks t as an array; is_array(t);
 *       cairn.json.null (== cairn.null): JSON null inside arrays.
 *   cairn.xml.decode(s [, skip]) -> value, root_name | nil, err (mapping in
 *       xml.c; skip: a set of element names left out, with their content);
 *       cairn.xml.list(node, name) -> always an array; cairn.xml.escape(s).
 *   cairn.random.bytes(n), hex(n) (2n digits), int(lo, hi) (unbiased).
 *   cairn.hash.sha256(s) -> hex; hmac_sha256(key, s [, raw]) -> hex | bytes.
 *   cairn.base64.encode(s) / decode(s) -> bytes | nil, err.
 *   cairn.url.encode(s) (RFC 3986), decode(s) -> s | nil, err,
 *       query(t) -> "k=v&..." sorted by key.
 *   cairn.time.now() -> wall-clock seconds (float; for display only).
 *   cairn.version.
 *   cairn.ssh (ssh.c): exec, stat, read, write, mkdir, symlink, readlink,
 *       remove, setstat, hostkey on the resource's host (the engine's choice); only for
 *       modules from a trusted directory, like cairn.fs (ssh.c).
 *   cairn.regex (regex.c): match, lines, check (POSIX extended).
 *   cairn.fs (only for local.* modules from a trusted directory, see
 *       runtime.h: never for a stack's own modules): read(path) ->
 *       content | nil; write(path, content [, "0644"]) atomic (temp+rename,
 *       exact mode); remove(path) -> removed?; exists(path); stat(path) ->
 *       {size, mode="0644", type="file"|"dir"|"other", mtime} | nil;
 *       mkdir_p(path [, "0755"]). Paths are used as given, except that
 *       none may lead (symlinks followed) into cairn's state directory.
 */
#include "internal.h"
#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define MAX_RANDOM_BYTES (1 << 20)
#define MAX_FILE_BYTES ((size_t)64 << 20)

/* -- read-only proxies --------------------------------------------------- */

static int ro_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table (field '%s')",
			  lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* The iterator closes over the real table and ignores its state argument,
 * so pairs(proxy) never hands the real (writable) table to a module. */
static int ro_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int ro_pairs(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushcclosure(L, ro_next, 1);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static int ro_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
	return 1;
}

void cairn_lua_readonly(lua_State *L)
{
	int real;

	luaL_checkstack(L, 6, NULL);
	real = lua_gettop(L);
	/* proxy nested tables first (only plain tables: not arrays, not proxies) */
	lua_pushnil(L);
	while (lua_next(L, real)) {
		if (lua_type(L, -1) != LUA_TTABLE) {
			lua_pop(L, 1);
		} else if (lua_getmetatable(L, -1)) {
			lua_pop(L, 2);
		} else {
			cairn_lua_readonly(L);
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, real);
		}
	}
	lua_newtable(L);              /* proxy */
	lua_createtable(L, 0, 5);     /* its metatable */
	lua_pushvalue(L, real);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, real);
	lua_pushcclosure(L, ro_pairs, 1);
	lua_setfield(L, -2, "__pairs");
	lua_pushvalue(L, real);
	lua_pushcclosure(L, ro_len, 1);
	lua_setfield(L, -2, "__len");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_replace(L, real);
}

/* -- waiting: requests to the scheduler ---------------------------------- */

static cairn_lua_op *check_can_wait(lua_State *L, const char *what)
{
	cairn_lua_op *op = cairn_lua_rt(L)->current;

	if (!op || op->co != L)
		luaL_error(L, "%s can only be called while an operation runs", what);
	if (!lua_isyieldable(L))
		luaL_error(L, "%s cannot wait here (inside a metamethod, iterator or comparator)", what);
	return op;
}

static int park_and_yield(lua_State *L, cairn_lua_op *op, json_t *req)
{
	json_decref(op->request);
	op->request = req;
	return lua_yield(L, 0);
}

/* cairn.sleep(seconds) */
static int l_sleep(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	cairn_lua_op *op;
	json_t *req;

	luaL_argcheck(L, s >= 0 && s <= 86400 && !isnan(s), 1, "seconds must be between 0 and 86400");
	op = check_can_wait(L, "cairn.sleep");
	req = json_pack("{s:s, s:f}", "kind", "sleep", "seconds", (double)s);
	if (!req)
		return luaL_error(L, "not enough memory");
	return park_and_yield(L, op, req);
}

static const char *const http_fields[] = {
	"method", "url", "headers", "body", "sigv4", "service", "action", "idempotent", "timeout", NULL,
};

/* The fields of one request table, checked; the strings stay on the stack. */
typedef struct http_req {
	const char *method, *url, *body, *sigv4, *service, *action;
	size_t method_len, url_len, body_len, sigv4_len, service_len, action_len;
	int headers_idx, idempotent;
	lua_Number timeout;
} http_req;

static const char *opt_string_field(lua_State *L, int idx, const char *name, size_t *len)
{
	int t = lua_getfield(L, idx, name);

	if (t == LUA_TNIL)
		return NULL;
	if (t != LUA_TSTRING)
		luaL_error(L, "cairn.http.request: '%s' must be a string", name);
	return lua_tolstring(L, -1, len);
}

static void check_http_fields(lua_State *L, int idx)
{
	const char *key;
	size_t i;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "cairn.http.request: field names must be strings");
		key = lua_tostring(L, -1);
		for (i = 0; http_fields[i] && strcmp(http_fields[i], key) != 0; i++)
			;
		if (!http_fields[i])
			luaL_error(L, "cairn.http.request: unknown field '%s'", key);
	}
}

static int set_str(json_t *o, const char *k, const char *s, size_t n)
{
	json_t *v;

	if (!s)
		return 0;
	v = json_stringn(s, n);
	return v ? json_object_set_new(o, k, v) : -1;
}

/* Build the headers object from the table at idx; never raises. */
static json_t *http_headers(lua_State *L, int idx, const char **bad)
{
	json_t *h = json_object(), *v;

	if (!h)
		return NULL;
	if (idx == 0)
		return h;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
			*bad = "header names and values must be strings";
			lua_pop(L, 2);
			json_decref(h);
			return NULL;
		}
		v = json_stringn(lua_tostring(L, -1), lua_rawlen(L, -1));
		if (!v || json_object_set_new(h, lua_tostring(L, -2), v) < 0) {
			*bad = "header names and values must be UTF-8";
			lua_pop(L, 2);
			json_decref(h);
			return NULL;
		}
		lua_pop(L, 1);
	}
	return h;
}

/* Check the request table at idx (absolute) into *r; raises on bad fields.
 * Allocates nothing: the strings it points to stay on the stack. */
static void check_request(lua_State *L, int idx, http_req *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->method_len = 3;
	luaL_checkstack(L, 12, NULL);
	if (lua_type(L, idx) != LUA_TTABLE)
		luaL_error(L, "cairn.http.request: a request must be a table");
	check_http_fields(L, idx);
	r->method = opt_string_field(L, idx, "method", &r->method_len);
	if (!r->method)
		r->method = "GET";
	for (i = 0; i < r->method_len; i++)
		if (r->method[i] < 'A' || r->method[i] > 'Z')
			luaL_error(L, "cairn.http.request: bad method '%s'", r->method);
	r->url = opt_string_field(L, idx, "url", &r->url_len);
	if (!r->url || (strncmp(r->url, "http://", 7) != 0 && strncmp(r->url, "https://", 8) != 0))
		luaL_error(L, "cairn.http.request: 'url' must be an http:// or https:// URL");
	r->body = opt_string_field(L, idx, "body", &r->body_len);
	r->sigv4 = opt_string_field(L, idx, "sigv4", &r->sigv4_len);
	r->service = opt_string_field(L, idx, "service", &r->service_len);
	r->action = opt_string_field(L, idx, "action", &r->action_len);
	if (lua_getfield(L, idx, "headers") == LUA_TTABLE)
		r->headers_idx = lua_gettop(L);
	else if (!lua_isnil(L, -1))
		luaL_error(L, "cairn.http.request: 'headers' must be a table");
	switch (lua_getfield(L, idx, "idempotent")) {
	case LUA_TNIL:
		r->idempotent = strcmp(r->method, "POST") != 0 && strcmp(r->method, "PATCH") != 0;
		break;
	case LUA_TBOOLEAN:
		r->idempotent = lua_toboolean(L, -1);
		break;
	default:
		luaL_error(L, "cairn.http.request: 'idempotent' must be a boolean");
	}
	if (lua_getfield(L, idx, "timeout") != LUA_TNIL) {
		if (!lua_isnumber(L, -1) || (r->timeout = lua_tonumber(L, -1)) <= 0 || r->timeout > 3600)
			luaL_error(L, "cairn.http.request: 'timeout' must be a number of seconds (0, 3600]");
	}
}

/* The JSON request for a checked table; never raises (NULL and *bad). */
static json_t *build_request(lua_State *L, const http_req *r, const char **bad)
{
	json_t *req = json_object(), *h;

	*bad = "not enough memory";
	if (!req || json_object_set_new(req, "kind", json_string("http")) < 0 ||
	    set_str(req, "method", r->method, r->method_len) < 0 ||
	    set_str(req, "url", r->url, r->url_len) < 0 ||
	    set_str(req, "body", r->body, r->body_len) < 0 ||
	    set_str(req, "sigv4", r->sigv4, r->sigv4_len) < 0 ||
	    set_str(req, "service", r->service, r->service_len) < 0 ||
	    set_str(req, "action", r->action, r->action_len) < 0 ||
	    json_object_set_new(req, "idempotent", json_boolean(r->idempotent)) < 0 ||
	    (r->timeout > 0 && json_object_set_new(req, "timeout", json_real(r->timeout)) < 0)) {
		if (req)
			*bad = "strings must be UTF-8 (base64-encode binary bodies)";
		json_decref(req);
		return NULL;
	}
	h = http_headers(L, r->headers_idx, bad);
	if (!h || json_object_set_new(req, "headers", h) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* cairn.http.request{method=, url=, headers=, body=, sigv4=, service=,
 * action=, idempotent=, timeout=} -> response table */
static int l_http_request(lua_State *L)
{
	const char *bad;
	cairn_lua_op *op;
	http_req r;
	json_t *req;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	op = check_can_wait(L, "cairn.http.request");
	check_request(L, 1, &r);
	/* nothing below raises until the request is complete */
	if (!(req = build_request(L, &r, &bad)))
		return luaL_error(L, "cairn.http.request: %s", bad);
	return park_and_yield(L, op, req);
}

#define HTTP_ALL_MAX 64

/* cairn.http.request_all{req, req, ...} -> {response, response, ...}: the
 * requests run at the same time; waits until every one has its answer. */
static int l_http_request_all(lua_State *L)
{
	lua_Integer n, i;
	http_req *rs;
	const char *bad = "not enough memory";
	cairn_lua_op *op;
	json_t *all, *list, *req;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	op = check_can_wait(L, "cairn.http.request_all");
	n = (lua_Integer)lua_rawlen(L, 1);
	luaL_argcheck(L, n >= 1 && n <= HTTP_ALL_MAX, 1, "between 1 and 64 requests");
	rs = lua_newuserdatauv(L, (size_t)n * sizeof(*rs), 0);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);
		check_request(L, lua_gettop(L), &rs[i - 1]);
	}
	/* nothing below raises until the request is complete */
	all = json_object();
	list = json_array();
	if (!all || !list || json_object_set_new(all, "kind", json_string("all")) < 0) {
		json_decref(list);
		goto fail;
	}
	if (json_object_set_new(all, "requests", list) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (!(req = build_request(L, &rs[i], &bad)) || json_array_append_new(list, req) < 0)
			goto fail;
	return park_and_yield(L, op, all);
fail:
	json_decref(all);
	return luaL_error(L, "cairn.http.request_all: %s", bad);
}

static const luaL_Reg http_lib[] = {
	{ "request", l_http_request },
	{ "request_all", l_http_request_all },
	{ NULL, NULL },
};

/* -- log ------------------------------------------------------------------ */

/* emit(level, message): the prelude formats, this delivers. */
static int l_log_emit(lua_State *L)
{
	cairn_lua *rt = cairn_lua_rt(L);
	const char *level = luaL_checkstring(L, 1);
	const char *msg = luaL_checkstring(L, 2);

	if (rt->log_fn)
		rt->log_fn(rt->log_ud, level, rt->current ? rt->current->address : NULL, msg);
	return 0;
}

/* -- random ---------------------------------------------------------------- */

static void random_fill(lua_State *L, unsigned char *p, size_t n)
{
	if (n && RAND_bytes(p, (int)n) != 1)
		luaL_error(L, "cannot get random bytes from the system");
}

static size_t check_count(lua_State *L, int arg)
{
	lua_Integer n = luaL_checkinteger(L, arg);

	luaL_argcheck(L, n >= 0 && n <= MAX_RANDOM_BYTES, arg, "count out of range");
	return (size_t)n;
}

static int l_random_bytes(lua_State *L)
{
	size_t n = check_count(L, 1);
	luaL_Buffer b;

	cairn_lua_rt(L)->outside++;
	random_fill(L, (unsigned char *)luaL_buffinitsize(L, &b, n), n);
	luaL_pushresultsize(&b, n);
	return 1;
}

static void hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}

/* cairn.random.hex(n): n random bytes as 2n hex digits */
static int l_random_hex(lua_State *L)
{
	size_t n = check_count(L, 1);
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, 3 * n);

	cairn_lua_rt(L)->outside++;
	/* raw bytes at the end of the buffer, hex from the start: no overlap */
	random_fill(L, (unsigned char *)out + 2 * n, n);
	hex_encode(out, (unsigned char *)out + 2 * n, n);
	luaL_pushresultsize(&b, 2 * n);
	return 1;
}

/* cairn.random.int(lo, hi): uniform in [lo, hi], by rejection sampling */
static int l_random_int(lua_State *L)
{
	lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
	unsigned long long range, limit, r;

	cairn_lua_rt(L)->outside++;
	luaL_argcheck(L, lo <= hi, 2, "empty interval");
	range = (unsigned long long)hi - (unsigned long long)lo + 1ULL;
	limit = range ? ULLONG_MAX - (ULLONG_MAX % range + 1) % range : ULLONG_MAX;
	do
		random_fill(L, (unsigned char *)&r, sizeof(r));
	while (range && r > limit);
	lua_pushinteger(L, (lua_Integer)((unsigned long long)lo + (range ? r % range : r)));
	return 1;
}

static const luaL_Reg random_lib[] = {
	{ "bytes", l_random_bytes },
	{ "hex", l_random_hex },
	{ "int", l_random_int },
	{ NULL, NULL },
};

/* -- hash, base64, time ------------------------------------------------------- */

static int push_hex(lua_State *L, const unsigned char *md, size_t n)
{
	char out[2 * EVP_MAX_MD_SIZE];

	hex_encode(out, md, n);
	lua_pushlstring(L, out, 2 * n);
	return 1;
}

static int l_sha256(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return luaL_error(L, "sha256 failed");
	return push_hex(L, md, mdlen);
}

/* cairn.hash.hmac_sha256(key, data [, raw]) -> hex (or raw bytes) */
static int l_hmac_sha256(lua_State *L)
{
	size_t klen, dlen;
	const char *k = luaL_checklstring(L, 1, &klen);
	const char *d = luaL_checklstring(L, 2, &dlen);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)d, dlen, md, &mdlen))
		return luaL_error(L, "hmac_sha256 failed");
	if (lua_toboolean(L, 3)) {
		lua_pushlstring(L, (const char *)md, mdlen);
		return 1;
	}
	return push_hex(L, md, mdlen);
}

static const luaL_Reg hash_lib[] = {
	{ "sha256", l_sha256 },
	{ "hmac_sha256", l_hmac_sha256 },
	{ NULL, NULL },
};

static int l_b64_encode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	size_t cap;
	int n;

	luaL_argcheck(L, len < ((size_t)1 << 30), 1, "string too long");
	cap = 4 * ((len + 2) / 3) + 1;
	n = EVP_EncodeBlock((unsigned char *)luaL_buffinitsize(L, &b, cap), (const unsigned char *)s, (int)len);
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

/* cairn.base64.decode(s) -> bytes | nil, err. Whitespace is ignored. */
static int l_b64_decode(lua_State *L)
{
	size_t len, i, n = 0, pad = 0;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer clean, out;
	char *c, *o;
	int got;

	luaL_argcheck(L, len < ((size_t)1 << 30), 1, "string too long");
	c = luaL_buffinitsize(L, &clean, len + 1);
	for (i = 0; i < len; i++)
		if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
			c[n++] = s[i];
	if (n % 4 != 0)
		goto bad;
	if (n >= 1 && c[n - 1] == '=')
		pad++;
	if (n >= 2 && c[n - 2] == '=')
		pad++;
	o = luaL_buffinitsize(L, &out, 3 * (n / 4) + 1);
	got = EVP_DecodeBlock((unsigned char *)o, (unsigned char *)c, (int)n);
	if (got < 0 || (size_t)got < pad)
		goto bad;
	luaL_pushresultsize(&out, (size_t)got - pad);
	return 1;
bad:
	lua_pushnil(L);
	lua_pushliteral(L, "invalid base64");
	return 2;
}

static const luaL_Reg base64_lib[] = {
	{ "encode", l_b64_encode },
	{ "decode", l_b64_decode },
	{ NULL, NULL },
};

static int l_time_now(lua_State *L)
{
	struct timespec ts;

	cairn_lua_rt(L)->outside++;
	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

/* cairn.url.encode(s): percent-encoding of everything but RFC 3986's
 * unreserved characters (A-Z a-z 0-9 - _ . ~), as SigV4 and AWS Query want. */
static int l_url_encode(lua_State *L)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len, i;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	unsigned char c;

	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			luaL_addchar(&b, (char)c);
		} else {
			luaL_addchar(&b, '%');
			luaL_addchar(&b, digits[c >> 4]);
			luaL_addchar(&b, digits[c & 15]);
		}
	}
	luaL_pushresult(&b);
	return 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* cairn.url.decode(s): %XX and '+' (space) decoded; nil, err if malformed */
static int l_url_decode(lua_State *L)
{
	size_t len, i;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	int hi, lo;

	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			luaL_addchar(&b, ' ');
		} else if (s[i] != '%') {
			luaL_addchar(&b, s[i]);
		} else {
			if (i + 2 >= len)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			luaL_addchar(&b, (char)(hi * 16 + lo));
			i += 2;
		}
	}
	luaL_pushresult(&b);
	return 1;
bad:
	lua_pushnil(L);
	lua_pushliteral(L, "invalid percent-encoding");
	return 2;
}

static const luaL_Reg url_lib[] = {
	{ "encode", l_url_encode },
	{ "decode", l_url_decode },
	{ NULL, NULL },
};

static const luaL_Reg time_lib[] = {
	{ "now", l_time_now },
	{ NULL, NULL },
};

/* -- fs (trusted local.* modules only) ---------------------------------------- */

static int fs_fail(lua_State *L, const char *verb, const char *path, int err)
{
	return luaL_error(L, "cannot %s %s: %s", verb, path, strerror(err));
}

/* Refuse a path that leads (symlinks and '..' followed) into cairn's own
 * files: the state directory with its key, the state database wherever
 * --state put it, and the directory --state names (cairn_lua_protect). */
static void fs_guard(lua_State *L, const char *verb, const char *path)
{
	cairn_lua *rt = cairn_lua_rt(L);
	int p = cairn_lua__protected(rt, path);

	if (p >= 0)
		luaL_error(L, "refusing to %s %s: it is inside %s (%s), which modules cannot reach", verb, path,
			   rt->prot[p].what, rt->prot[p].given);
}

static int parse_mode(const char *s, mode_t *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 8);
	if (errno || end == s || *end != '\0' || v < 0 || v > 07777)
		return -1;
	*out = (mode_t)v;
	return 0;
}

/* fs.read(path) -> content | nil (missing) */
static int l_fs_read(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	cairn_buf b = CAIRN_BUF_INIT;
	struct stat st;
	size_t len;
	char msg[sizeof(((cairn_error *)0)->message)];

	cairn_lua_rt(L)->outside++;
	fs_guard(L, "read", path);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return lua_pushnil(L), 1;
		return fs_fail(L, "read", path, errno);
	}
	if (S_ISDIR(st.st_mode))
		return fs_fail(L, "read", path, EISDIR);
	cairn_buf_init(&b, MAX_FILE_BYTES);
	if (cairn_buf_read_file(&b, path) < 0) {
		snprintf(msg, sizeof(msg), "%s", cairn_error_last() ? cairn_error_last()->message : "cannot read file");
		cairn_buf_release(&b);
		return luaL_error(L, "%s", msg);
	}
	len = b.len;
	cairn_lua_push_owned(L, cairn_buf_detach(&b), len);
	return 1;
}

static int write_atomic(const char *path, const char *data, size_t len, mode_t mode, int *err)
{
	cairn_buf tmp = CAIRN_BUF_INIT;
	const char *p = data;
	size_t left = len;
	ssize_t n;
	int fd = -1, rc = -1;
	bool created = false;

	if (cairn_buf_printf(&tmp, "%s.cairn-tmp-XXXXXX", path) < 0) {
		*err = ENOMEM;
		goto cleanup;
	}
	fd = mkostemp(tmp.ptr, O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		goto cleanup;
	}
	created = true;
	while (left > 0) {
		n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = errno;
			goto cleanup;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0) {
		*err = errno;
		goto cleanup;
	}
	n = close(fd);
	fd = -1;
	if (n < 0) {
		*err = errno;
		goto cleanup;
	}
	if (rename(tmp.ptr, path) < 0) {
		*err = errno;
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && created)
		unlink(tmp.ptr);
	cairn_buf_release(&tmp);
	return rc;
}

/* fs.write(path, content [, mode_octal_string = "0644"]) -> true */
static int l_fs_write(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	const char *mode_s = luaL_optstring(L, 3, "0644");
	mode_t mode;
	int err = 0;

	fs_guard(L, "write", path);
	if (parse_mode(mode_s, &mode) < 0)
		return luaL_error(L, "cannot write %s: bad file mode '%s' (want octal, like \"0644\")", path, mode_s);
	if (write_atomic(path, data, len, mode, &err) < 0)
		return fs_fail(L, "write", path, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* fs.remove(path) -> true if removed, false if it was not there */
static int l_fs_remove(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	fs_guard(L, "remove", path);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return lua_pushboolean(L, 0), 1;
		return fs_fail(L, "remove", path, errno);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_fs_exists(lua_State *L)
{
	struct stat st;

	cairn_lua_rt(L)->outside++;
	fs_guard(L, "look at", luaL_checkstring(L, 1));
	lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
	return 1;
}

/* fs.stat(path) -> {size=, mode="0644", type="file"|"dir"|"other", mtime=} | nil */
static int l_fs_stat(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;
	char mode[8];

	cairn_lua_rt(L)->outside++;
	fs_guard(L, "stat", path);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return lua_pushnil(L), 1;
		return fs_fail(L, "stat", path, errno);
	}
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_setfield(L, -2, "size");
	lua_pushstring(L, mode);
	lua_setfield(L, -2, "mode");
	lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, (lua_Integer)st.st_mtime);
	lua_setfield(L, -2, "mtime");
	return 1;
}

/* fs.mkdir_p(path [, mode = "0755"]) -> true */
static int l_fs_mkdir_p(lua_State *L)
{
	size_t len, i;
	const char *path = luaL_checklstring(L, 1, &len);
	const char *mode_s = luaL_optstring(L, 2, "0755");
	char *p;
	mode_t mode;
	int err = 0;
	struct stat st;

	fs_guard(L, "create directory", path);
	if (parse_mode(mode_s, &mode) < 0)
		return luaL_error(L, "cannot create %s: bad mode '%s'", path, mode_s);
	p = strdup(path);
	if (!p)
		return luaL_error(L, "not enough memory");
	for (i = 1; i <= len && !err; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			err = errno;
		else if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			err = ENOTDIR;
		if (i < len)
			p[i] = '/';
	}
	free(p);
	if (err)
		return fs_fail(L, "create directory", path, err);
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg fs_lib[] = {
	{ "read", l_fs_read },
	{ "write", l_fs_write },
	{ "remove", l_fs_remove },
	{ "exists", l_fs_exists },
	{ "stat", l_fs_stat },
	{ "mkdir_p", l_fs_mkdir_p },
	{ NULL, NULL },
};

/* -- the prelude: helpers written in Lua ---------------------------------- */

static const char prelude[] =
"local cairn, emit, sleep = ...\n"
"local select, tostring, type, error, fmt = select, tostring, type, error, string.format\n"
"local log = {}\n"
"for _, level in ipairs({ 'debug', 'info', 'warn', 'error' }) do\n"
"  log[level] = function(f, ...)\n"
"    if select('#', ...) > 0 then emit(level, fmt(f, ...)) else emit(level, tostring(f)) end\n"
"  end\n"
"end\n"
"cairn.log = log\n"
"local wait = {}\n"
"-- poll fn until it returns a truthy value (returned), sleeping between tries\n"
"-- with exponential backoff; time is the sum of the sleeps, so it is the\n"
"-- scheduler's clock, not the wall clock.\n"
"function wait.poll(fn, opts)\n"
"  opts = opts or {}\n"
"  if type(fn) ~= 'function' then error('cairn.wait.poll: expected a function', 2) end\n"
"  local timeout = opts.timeout or 300\n"
"  local interval = opts.interval or 1\n"
"  local max_interval = opts.max_interval or 30\n"
"  local factor = opts.factor or 2\n"
"  local what = opts.what or 'the condition'\n"
"  local waited = 0\n"
"  while true do\n"
"    local v, status = fn()\n"
"    if v then return v end\n"
"    if waited >= timeout then\n"
"      local last = status ~= nil and (' (last status: ' .. tostring(status) .. ')') or ''\n"
"      error(fmt('timed out after %gs waiting for %s%s', timeout, what, last), 2)\n"
"    end\n"
"    local d = interval\n"
"    if d > timeout - waited then d = timeout - waited end\n"
"    sleep(d)\n"
"    waited = waited + d\n"
"    interval = interval * factor\n"
"    if interval > max_interval then interval = max_interval end\n"
"  end\n"
"end\n"
"wait['until'] = wait.poll\n"
"cairn.wait = wait\n"
"-- form/query encoding: keys sorted, both sides percent-encoded\n"
"function cairn.url.query(t)\n"
"  local keys, parts = {}, {}\n"
"  for k in pairs(t) do keys[#keys + 1] = tostring(k) end\n"
"  table.sort(keys)\n"
"  for _, k in ipairs(keys) do\n"
"    local v = t[k]\n"
"    if v == nil then v = t[tonumber(k)] end\n"
"    parts[#parts + 1] = cairn.url.encode(k) .. '=' .. cairn.url.encode(tostring(v))\n"
"  end\n"
"  return table.concat(parts, '&')\n"
"end\n"
"-- fn(token) -> items, next_token; collects every page's items in one array\n"
"function cairn.paginate(fn)\n"
"  local all, token, pages = cairn.json.array(), nil, 0\n"
"  repeat\n"
"    local items, nxt = fn(token)\n"
"    for _, it in ipairs(items or {}) do all[#all + 1] = it end\n"
"    pages = pages + 1\n"
"    if nxt ~= nil and nxt == token then error('cairn.paginate: the same page token came back twice', 2) end\n"
"    token = nxt\n"
"  until token == nil or token == '' or pages >= 10000\n"
"  return all\n"
"end\n";

static void run_prelude(lua_State *L, int cairn_idx)
{
	if (luaL_loadbufferx(L, prelude, sizeof(prelude) - 1, "=cairn", "t") != LUA_OK)
		lua_error(L);
	lua_pushvalue(L, cairn_idx);
	lua_pushcfunction(L, l_log_emit);
	lua_pushcfunction(L, l_sleep);
	lua_call(L, 3, 0);
}

static void add_lib(lua_State *L, const char *name, const luaL_Reg *lib)
{
	lua_newtable(L);
	luaL_setfuncs(L, lib, 0);
	lua_setfield(L, -2, name);
}

/* Push a shallow copy of the table at idx. */
static void copy_api(lua_State *L, int idx)
{
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
}

void cairn_lua_open_api(lua_State *L)
{
	int cairn;

	lua_newtable(L);
	cairn = lua_gettop(L);
	add_lib(L, "http", http_lib);
	add_lib(L, "random", random_lib);
	add_lib(L, "hash", hash_lib);
	add_lib(L, "base64", base64_lib);
	add_lib(L, "time", time_lib);
	add_lib(L, "url", url_lib);
	cairn_lua_open_json(L);
	lua_setfield(L, cairn, "json");
	cairn_lua_open_xml(L);
	lua_setfield(L, cairn, "xml");
	cairn_lua_open_regex(L);
	lua_setfield(L, cairn, "regex");
	cairn_lua_pushnull(L);
	lua_setfield(L, cairn, "null");
	lua_pushcfunction(L, l_sleep);
	lua_setfield(L, cairn, "sleep");
	lua_pushliteral(L, CAIRN_VERSION);
	lua_setfield(L, cairn, "version");
	run_prelude(L, cairn);

	/* the variants for modules from a trusted directory (and the
	 * libraries they require): the same plus ssh; local.* ones also fs */
	copy_api(L, cairn);
	cairn_lua_open_ssh(L);
	lua_setfield(L, -2, "ssh");
	cairn_lua_readonly(L);
	lua_setfield(L, LUA_REGISTRYINDEX, CAIRN_REG_API_TRUSTED);
	copy_api(L, cairn);
	cairn_lua_open_ssh(L);
	lua_setfield(L, -2, "ssh");
	add_lib(L, "fs", fs_lib);
	cairn_lua_readonly(L);
	lua_setfield(L, LUA_REGISTRYINDEX, CAIRN_REG_API_LOCAL);
	cairn_lua_readonly(L);
}
