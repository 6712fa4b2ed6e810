/*
 * ssh.c - `cairn.ssh`: what a module does on its resource's host.
 *
 * The host is never named here: the engine chose it from the resource's
 * `host` and gave it to the task, and the scheduler sends every request
 * this library yields to that host's session (provisioner/ssh). A module
 * of a resource without a host gets an error, not another machine.
 *
 * Each function builds a JSON request ({"kind":"ssh","op":...}, see
 * provisioner/ssh/ssh.h), parks it on the running operation and yields;
 * its continuation turns the answer back into Lua values: base64 members
 * into strings (binary-safe), transport failures (connection lost,
 * refused host key, permission denied...) into errors whose message names
 * the host. As a module sees it:
 *
 *   cairn.ssh.exec{command=, stdin=, env={K=v}, timeout=, max_output=,
 *                  lock=, become=}
 *       -> {exit_code=, stdout=, stderr=, signal=?, stdout_truncated=,
 *           stderr_truncated=}   (a command that fails is not an error)
 *   cairn.ssh.stat(path [, {follow=true}]) -> {type=, mode="0644", uid=,
 *                  gid=, size=, mtime=} | nil
 *   cairn.ssh.read(path [, max_bytes]) -> content | nil
 *   cairn.ssh.write(path, content [, {mode="0644", uid=, gid=}]) -> true
 *       (a temporary file beside it, renamed over it: atomic)
 *   cairn.ssh.mkdir(path [, mode]) -> true
 *   cairn.ssh.symlink(target, path) -> true      (path -> target)
 *   cairn.ssh.readlink(path) -> target | nil
 *   cairn.ssh.remove(path [, {dir=true}]) -> removed?
 *   cairn.ssh.setstat(path, {mode=, uid=, gid=}) -> true
 *   cairn.ssh.hostkey() -> {key_type=, key=, fingerprint=, source=}
 * File functions work over SFTP as the login user; paths are absolute.
 */
#include "internal.h"
#include "base/buf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define SSH_MAX_BYTES ((lua_Integer)64 << 20)

/* -- yielding -------------------------------------------------------------- */

static cairn_lua_op *ssh_op(lua_State *L, const char *what)
{
	cairn_lua_op *op = cairn_lua_rt(L)->current;

	if (!op || op->co != L)
		luaL_error(L, "cairn.ssh.%s can only be called while an operation runs", what);
	if (!lua_isyieldable(L))
		luaL_error(L, "cairn.ssh.%s cannot wait here (inside a metamethod, iterator or comparator)", what);
	return op;
}

static int park(lua_State *L, cairn_lua_op *op, json_t *req, lua_KFunction k)
{
	json_decref(op->request);
	op->request = req;
	return lua_yieldk(L, 0, 0, k);
}

static json_t *new_req(lua_State *L, const char *op)
{
	json_t *r = json_pack("{s:s,s:s}", "kind", "ssh", "op", op);

	if (!r)
		luaL_error(L, "not enough memory");
	return r;
}

/* Set o[k] = s (length n); false when s is not UTF-8 (or memory ran out). */
static bool set_string(json_t *o, const char *k, const char *s, size_t n)
{
	json_t *v = cairn_json_stringn(s, n);

	return v && json_object_set_new(o, k, v) == 0;
}

static bool set_b64(json_t *o, const char *k, const char *s, size_t n)
{
	char *b = malloc(4 * ((n + 2) / 3) + 1);
	bool ok;

	if (!b)
		return false;
	EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)s, (int)n);
	ok = json_object_set_new(o, k, json_string(b)) == 0;
	free(b);
	return ok;
}

/* The request is complete: hand it over (it is freed if the yield raises). */
static void fail_req(lua_State *L, json_t *req, const char *what, const char *why)
{
	json_decref(req);
	luaL_error(L, "cairn.ssh.%s: %s", what, why);
}

/* -- answers ---------------------------------------------------------------- */

/* The answer at the top of the stack: raise its error, if it has one. */
static void check_answer(lua_State *L, const char *what)
{
	if (!lua_istable(L, -1))
		luaL_error(L, "cairn.ssh.%s: no answer", what);
	if (lua_getfield(L, -1, "error") == LUA_TSTRING)
		lua_error(L); /* the message names the host */
	lua_pop(L, 1);
}

/* Replace t[b64key] by t[key] = the decoded string. */
static void decode_member(lua_State *L, int t, const char *b64key, const char *key)
{
	size_t len, pad = 0;
	const char *s;
	luaL_Buffer b;
	char *out;
	int got;

	if (lua_getfield(L, t, b64key) != LUA_TSTRING) {
		lua_pop(L, 1);
		return;
	}
	s = lua_tolstring(L, -1, &len);
	if (len % 4)
		luaL_error(L, "cairn.ssh: a malformed answer (%s)", b64key);
	if (len && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	out = luaL_buffinitsize(L, &b, 3 * (len / 4) + 1);
	got = len ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len) : 0;
	if (got < 0 || (size_t)got < pad)
		luaL_error(L, "cairn.ssh: a malformed answer (%s)", b64key);
	luaL_pushresultsize(&b, (size_t)got - pad);
	lua_setfield(L, t, key);
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_setfield(L, t, b64key);
}

static int k_exec(lua_State *L, int status, lua_KContext ctx)
{
	int t = lua_gettop(L);

	check_answer(L, "exec");
	decode_member(L, t, "stdout_b64", "stdout");
	decode_member(L, t, "stderr_b64", "stderr");
	return 1;
}

/* {exists=false} -> nil; else the table without `exists`. */
static int k_stat(lua_State *L, int status, lua_KContext ctx)
{
	int t = lua_gettop(L);

	check_answer(L, "stat");
	lua_getfield(L, t, "exists");
	if (!lua_toboolean(L, -1)) {
		lua_pushnil(L);
		return 1;
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_setfield(L, t, "exists");
	return 1;
}

static int k_read(lua_State *L, int status, lua_KContext ctx)
{
	int t = lua_gettop(L);

	check_answer(L, "read");
	lua_getfield(L, t, "exists");
	if (!lua_toboolean(L, -1)) {
		lua_pushnil(L);
		return 1;
	}
	decode_member(L, t, "content_b64", "content");
	lua_getfield(L, t, "content");
	return 1;
}

static int k_readlink(lua_State *L, int status, lua_KContext ctx)
{
	int t = lua_gettop(L);

	check_answer(L, "readlink");
	lua_getfield(L, t, "exists");
	if (!lua_toboolean(L, -1)) {
		lua_pushnil(L);
		return 1;
	}
	lua_getfield(L, t, "target");
	return 1;
}

static int k_true(lua_State *L, int status, lua_KContext ctx)
{
	check_answer(L, "call");
	lua_pushboolean(L, 1);
	return 1;
}

static int k_remove(lua_State *L, int status, lua_KContext ctx)
{
	check_answer(L, "remove");
	lua_getfield(L, -1, "removed");
	return 1;
}

static int k_table(lua_State *L, int status, lua_KContext ctx)
{
	check_answer(L, "hostkey");
	return 1;
}

/* -- requests ------------------------------------------------------------------ */

static const char *const exec_fields[] = {
	"command", "stdin", "env", "timeout", "max_output", "lock", "become", NULL,
};

static void check_fields(lua_State *L, int idx, const char *const *fields, const char *what)
{
	size_t i;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k;

		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "cairn.ssh.%s: field names must be strings", what);
		k = lua_tostring(L, -1);
		for (i = 0; fields[i] && strcmp(fields[i], k) != 0; i++)
			;
		if (!fields[i])
			luaL_error(L, "cairn.ssh.%s: unknown field '%s'", what, k);
	}
}

/* The optional string field k of the table at idx (left on the stack). */
static const char *opt_field(lua_State *L, int idx, const char *k, size_t *len, const char *what)
{
	int t = lua_getfield(L, idx, k);

	if (t == LUA_TNIL)
		return NULL;
	if (t != LUA_TSTRING)
		luaL_error(L, "cairn.ssh.%s: '%s' must be a string", what, k);
	return lua_tolstring(L, -1, len);
}

static lua_Number opt_number(lua_State *L, int idx, const char *k, lua_Number lo, lua_Number hi, const char *what)
{
	lua_Number v = 0;

	if (lua_getfield(L, idx, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return -1;
	}
	if (!lua_isnumber(L, -1) || (v = lua_tonumber(L, -1)) < lo || v > hi || isnan(v))
		luaL_error(L, "cairn.ssh.%s: '%s' must be a number from %g to %g", what, k, lo, hi);
	lua_pop(L, 1);
	return v;
}

/* cairn.ssh.exec{command=, stdin=, env=, timeout=, max_output=, lock=, become=} */
static int l_exec(lua_State *L)
{
	const char *cmd, *in, *lock;
	size_t cmdlen = 0, inlen = 0, locklen = 0;
	lua_Number timeout, maxout;
	cairn_lua_op *op;
	json_t *req, *env;
	int envidx = 0, become = -1;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	op = ssh_op(L, "exec");
	check_fields(L, 1, exec_fields, "exec");
	cmd = opt_field(L, 1, "command", &cmdlen, "exec");
	if (!cmd)
		luaL_error(L, "cairn.ssh.exec: 'command' is required");
	in = opt_field(L, 1, "stdin", &inlen, "exec");
	lock = opt_field(L, 1, "lock", &locklen, "exec");
	timeout = opt_number(L, 1, "timeout", 0.001, 86400, "exec");
	maxout = opt_number(L, 1, "max_output", 0, (lua_Number)SSH_MAX_BYTES, "exec");
	switch (lua_getfield(L, 1, "become")) {
	case LUA_TNIL: break;
	case LUA_TBOOLEAN: become = lua_toboolean(L, -1); break;
	default: luaL_error(L, "cairn.ssh.exec: 'become' must be a boolean");
	}
	if (lua_getfield(L, 1, "env") == LUA_TTABLE) {
		envidx = lua_gettop(L);
		lua_pushnil(L);
		while (lua_next(L, envidx)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "cairn.ssh.exec: env names and values must be strings");
			lua_pop(L, 1);
		}
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "cairn.ssh.exec: 'env' must be a table");
	}
	/* nothing below raises before the request is parked, except fail_req */
	req = new_req(L, "exec");
	if (!set_string(req, "command", cmd, cmdlen))
		fail_req(L, req, "exec", "the command must be UTF-8 text");
	if (in && !set_b64(req, "stdin_b64", in, inlen))
		fail_req(L, req, "exec", "not enough memory");
	if (lock && !set_string(req, "lock", lock, locklen))
		fail_req(L, req, "exec", "'lock' must be UTF-8 text");
	if (timeout > 0)
		json_object_set_new(req, "timeout", json_real(timeout));
	if (maxout >= 0)
		json_object_set_new(req, "max_output", json_integer((json_int_t)maxout));
	if (become >= 0)
		json_object_set_new(req, "become", json_boolean(become));
	if (envidx) {
		json_t *e = json_object();

		json_object_set_new(req, "env", e);
		lua_pushnil(L);
		while (lua_next(L, envidx)) {
			size_t vl;
			const char *v = lua_tolstring(L, -1, &vl);

			if (!(env = cairn_json_stringn(v, vl)) || json_object_set_new(e, lua_tostring(L, -2), env) < 0)
				fail_req(L, req, "exec", "env values must be UTF-8 text");
			lua_pop(L, 1);
		}
	}
	return park(L, op, req, k_exec);
}

static json_t *path_req(lua_State *L, const char *opname, int idx)
{
	size_t len;
	const char *path = luaL_checklstring(L, idx, &len);
	json_t *req;

	req = new_req(L, opname);
	if (!set_string(req, "path", path, len))
		fail_req(L, req, opname, "the path must be UTF-8 text");
	return req;
}

/* {mode=, uid=, gid=} of the table at idx into req */
static void attrs_into(lua_State *L, int idx, json_t *req, const char *what)
{
	size_t len;
	const char *mode;

	if (lua_isnoneornil(L, idx))
		return;
	if (!lua_istable(L, idx)) {
		json_decref(req);
		luaL_error(L, "cairn.ssh.%s: the options must be a table", what);
	}
	if (lua_getfield(L, idx, "mode") == LUA_TSTRING) {
		mode = lua_tolstring(L, -1, &len);
		set_string(req, "mode", mode, len);
	} else if (!lua_isnil(L, -1)) {
		json_decref(req);
		luaL_error(L, "cairn.ssh.%s: 'mode' must be an octal string like \"0644\"", what);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "uid") != LUA_TNIL) {
		if (!lua_isinteger(L, -1)) {
			json_decref(req);
			luaL_error(L, "cairn.ssh.%s: 'uid' must be a number", what);
		}
		json_object_set_new(req, "uid", json_integer((json_int_t)lua_tointeger(L, -1)));
	}
	lua_pop(L, 1);
	if (lua_getfield(L, idx, "gid") != LUA_TNIL) {
		if (!lua_isinteger(L, -1)) {
			json_decref(req);
			luaL_error(L, "cairn.ssh.%s: 'gid' must be a number", what);
		}
		json_object_set_new(req, "gid", json_integer((json_int_t)lua_tointeger(L, -1)));
	}
	lua_pop(L, 1);
}

/* cairn.ssh.stat(path [, {follow=bool}]) */
static int l_stat(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "stat");
	bool follow = false;
	json_t *req;

	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "follow");
		follow = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	req = path_req(L, "stat", 1);
	json_object_set_new(req, "follow", json_boolean(follow));
	return park(L, op, req, k_stat);
}

/* cairn.ssh.read(path [, max_bytes]) */
static int l_read(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "read");
	lua_Integer max = luaL_optinteger(L, 2, 0);
	json_t *req;

	luaL_argcheck(L, max >= 0 && max <= SSH_MAX_BYTES, 2, "at most 64 MiB");
	req = path_req(L, "read", 1);
	if (max > 0)
		json_object_set_new(req, "max", json_integer((json_int_t)max));
	return park(L, op, req, k_read);
}

/* cairn.ssh.write(path, content [, {mode=, uid=, gid=}]) */
static int l_write(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "write");
	size_t len;
	const char *content = luaL_checklstring(L, 2, &len);
	json_t *req;

	luaL_argcheck(L, (lua_Integer)len <= SSH_MAX_BYTES, 2, "at most 64 MiB");
	req = path_req(L, "write", 1);
	attrs_into(L, 3, req, "write");
	if (!set_b64(req, "content_b64", content, len))
		fail_req(L, req, "write", "not enough memory");
	return park(L, op, req, k_true);
}

/* cairn.ssh.mkdir(path [, mode]) */
static int l_mkdir(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "mkdir");
	const char *mode = luaL_optstring(L, 2, NULL);
	json_t *req = path_req(L, "mkdir", 1);

	if (mode)
		json_object_set_new(req, "mode", json_string(mode));
	return park(L, op, req, k_true);
}

/* cairn.ssh.symlink(target, path): path becomes a link to target */
static int l_symlink(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "symlink");
	size_t len;
	const char *target = luaL_checklstring(L, 1, &len);
	json_t *req = path_req(L, "symlink", 2);

	if (!set_string(req, "target", target, len))
		fail_req(L, req, "symlink", "the target must be UTF-8 text");
	return park(L, op, req, k_true);
}

static int l_readlink(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "readlink");

	return park(L, op, path_req(L, "readlink", 1), k_readlink);
}

/* cairn.ssh.remove(path [, {dir=true}]) */
static int l_remove(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "remove");
	bool dir = false;
	json_t *req;

	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "dir");
		dir = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	req = path_req(L, "remove", 1);
	json_object_set_new(req, "dir", json_boolean(dir));
	return park(L, op, req, k_remove);
}

/* cairn.ssh.setstat(path, {mode=, uid=, gid=}) */
static int l_setstat(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "setstat");
	json_t *req;

	luaL_checktype(L, 2, LUA_TTABLE);
	req = path_req(L, "setstat", 1);
	attrs_into(L, 2, req, "setstat");
	return park(L, op, req, k_true);
}

static int l_hostkey(lua_State *L)
{
	cairn_lua_op *op = ssh_op(L, "hostkey");

	return park(L, op, new_req(L, "hostkey"), k_table);
}

static const luaL_Reg ssh_lib[] = {
	{ "exec", l_exec },
	{ "stat", l_stat },
	{ "read", l_read },
	{ "write", l_write },
	{ "mkdir", l_mkdir },
	{ "symlink", l_symlink },
	{ "readlink", l_readlink },
	{ "remove", l_remove },
	{ "setstat", l_setstat },
	{ "hostkey", l_hostkey },
	{ NULL, NULL },
};

int cairn_lua_open_ssh(lua_State *L)
{
	lua_newtable(L);
	luaL_setfuncs(L, ssh_lib, 0);
	return 1;
}
