/*
 * json.c - values across the C/Lua boundary, and the cairn.json library.
 *
 * JSON -> Lua: objects become tables, arrays become sequence tables carrying
 * the shared array metatable (so they convert back as arrays even when
 * empty), integers stay integers, strings, booleans. null becomes nil as an
 * object member or a top-level value (a member that is null is simply
 * absent), and cairn.json.null (a unique light userdata) inside arrays, so
 * positions are kept.
 *
 * Lua -> JSON: a table marked as an array converts to an array; otherwise a
 * non-empty table whose keys are exactly 1..n converts to an array, a table
 * whose keys are all strings to an object, an empty table to an object.
 * Integers stay integers; NaN, infinities, functions, userdata, threads,
 * mixed or non-string keys, strings that are not UTF-8 and cycles (nesting
 * deeper than 200) are errors that name the path of the value.
 */
#include "internal.h"
#include "base/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200

char cairn_lua_null_tag;

void cairn_lua_mark_array(lua_State *L)
{
	luaL_getmetatable(L, CAIRN_REG_ARRAY_MT);
	lua_setmetatable(L, -2);
}

bool cairn_lua_is_marked_array(lua_State *L, int idx)
{
	bool is = false;

	if (lua_istable(L, idx) && lua_getmetatable(L, idx)) {
		is = lua_topointer(L, -1) == cairn_lua_rt(L)->array_mt;
		lua_pop(L, 1);
	}
	return is;
}

void cairn_lua_push_json(lua_State *L, json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	luaL_checkstack(L, 4, "JSON value too deeply nested");
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		lua_createtable(L, 0, (int)json_object_size(j));
		json_object_foreach(j, key, v) {
			if (json_is_null(v))
				continue;
			cairn_lua_push_json(L, v);
			lua_setfield(L, -2, key);
		}
		break;
	case JSON_ARRAY:
		lua_createtable(L, (int)json_array_size(j), 0);
		json_array_foreach(j, i, v) {
			if (json_is_null(v))
				cairn_lua_pushnull(L);
			else
				cairn_lua_push_json(L, v);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		cairn_lua_mark_array(L);
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
	default:
		lua_pushnil(L);
		break;
	}
}

static int push_json_cf(lua_State *L)
{
	json_t *j = lua_touserdata(L, 1);

	cairn_lua_push_json(L, j);
	return 1;
}

int cairn_lua_push_json_safe(lua_State *L, json_t *j)
{
	if (!lua_checkstack(L, 3)) {
		lua_pushliteral(L, "not enough memory");
		return LUA_ERRMEM;
	}
	lua_pushcfunction(L, push_json_cf);
	lua_pushlightuserdata(L, j);
	return lua_pcall(L, 1, 1, 0);
}

static int push_owned_cf(lua_State *L)
{
	const char *p = lua_touserdata(L, 1);
	size_t n = (size_t)lua_tointeger(L, 2);

	lua_pushlstring(L, p, n);
	return 1;
}

void cairn_lua_push_owned(lua_State *L, char *p, size_t n)
{
	int status;

	luaL_checkstack(L, 3, NULL);
	lua_pushcfunction(L, push_owned_cf);
	lua_pushlightuserdata(L, p);
	lua_pushinteger(L, (lua_Integer)n);
	status = lua_pcall(L, 2, 1, 0);
	free(p);
	if (status != LUA_OK)
		lua_error(L);
}

/* -- Lua -> JSON -------------------------------------------------------- */

/* The path of the value being converted is kept as the keys (borrowed from
 * the Lua stack, where lua_next holds them) and indices that lead to it, and
 * only written out as text when a conversion fails. */
typedef struct conv {
	lua_State *L;
	const void *array_mt;
	char *err;
	size_t errlen;
	struct { const char *key; lua_Integer idx; } seg[MAX_DEPTH + 2];
	size_t nseg;
} conv;

static json_t *conv_fail(conv *c, const char *what)
{
	char path[256];
	size_t len = 0, i;

	path[0] = '\0';
	for (i = 0; i < c->nseg && i < sizeof(c->seg) / sizeof(c->seg[0]) && len < sizeof(path) - 1; i++) {
		int n = c->seg[i].key ?
			snprintf(path + len, sizeof(path) - len, "%s%s", len ? "." : "", c->seg[i].key) :
			snprintf(path + len, sizeof(path) - len, "[%lld]", (long long)c->seg[i].idx);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len)
		snprintf(c->err, c->errlen, "cannot convert %s to JSON (at %s)", what, path);
	else
		snprintf(c->err, c->errlen, "cannot convert %s to JSON", what);
	return NULL;
}

static void path_push_key(conv *c, const char *key, lua_Integer idx)
{
	if (c->nseg < sizeof(c->seg) / sizeof(c->seg[0])) {
		c->seg[c->nseg].key = key;
		c->seg[c->nseg].idx = idx;
	}
	c->nseg++;
}

static void path_pop(conv *c)
{
	c->nseg--;
}

static json_t *conv_value(conv *c, int idx, int depth);

static bool is_marked_array(conv *c, int idx)
{
	bool marked = false;

	if (lua_getmetatable(c->L, idx)) {
		marked = lua_topointer(c->L, -1) == c->array_mt;
		lua_pop(c->L, 1);
	}
	return marked;
}

/* Classify the table: returns 1 array (n elements), 0 object, -1 mixed keys. */
static int table_shape(conv *c, int idx, lua_Integer *n)
{
	lua_Integer count = 0, maxkey = 0;
	bool strings = false, ints = false;

	lua_pushnil(c->L);
	while (lua_next(c->L, idx)) {
		lua_pop(c->L, 1);
		count++;
		if (lua_type(c->L, -1) == LUA_TSTRING) {
			strings = true;
		} else if (lua_isinteger(c->L, -1) && lua_tointeger(c->L, -1) > 0) {
			ints = true;
			if (lua_tointeger(c->L, -1) > maxkey)
				maxkey = lua_tointeger(c->L, -1);
		} else {
			lua_pop(c->L, 1);
			return -1;
		}
	}
	*n = count;
	if (strings && ints)
		return -1;
	if (ints)
		return maxkey == count ? 1 : -1;
	return 0;
}

static json_t *conv_array(conv *c, int idx, lua_Integer n, int depth)
{
	json_t *arr = json_array(), *v;
	lua_Integer i;

	if (!arr)
		return conv_fail(c, "a table (out of memory)");
	for (i = 1; i <= n; i++) {
		lua_rawgeti(c->L, idx, i);
		path_push_key(c, NULL, i);
		v = conv_value(c, lua_gettop(c->L), depth + 1);
		lua_pop(c->L, 1);
		if (!v || json_array_append_new(arr, v) < 0) {
			json_decref(arr);
			return v ? conv_fail(c, "a table (out of memory)") : NULL;
		}
		path_pop(c);
	}
	return arr;
}

static json_t *conv_object(conv *c, int idx, int depth)
{
	json_t *obj = json_object(), *v;
	const char *key;
	size_t keylen;

	if (!obj)
		return conv_fail(c, "a table (out of memory)");
	lua_pushnil(c->L);
	while (lua_next(c->L, idx)) {
		key = lua_tolstring(c->L, -2, &keylen);
		path_push_key(c, key, 0);
		if (strlen(key) != keylen) {
			lua_pop(c->L, 2);
			json_decref(obj);
			return conv_fail(c, "a key containing NUL");
		}
		v = conv_value(c, lua_gettop(c->L), depth + 1);
		lua_pop(c->L, 1);
		if (!v || (cairn_is_ascii(key, keylen) ? json_object_setn_new_nocheck(obj, key, keylen, v) :
			   json_object_set_new(obj, key, v)) < 0) {
			lua_pop(c->L, 1);
			json_decref(obj);
			return v ? conv_fail(c, "a key that is not UTF-8") : NULL;
		}
		path_pop(c);
	}
	return obj;
}

static json_t *conv_table(conv *c, int idx, int depth)
{
	lua_Integer n = 0;
	int shape;

	if (depth > MAX_DEPTH)
		return conv_fail(c, "a table nested too deeply (a cycle?)");
	if (!lua_checkstack(c->L, 6))
		return conv_fail(c, "a table (out of stack space)");
	shape = table_shape(c, idx, &n);
	if (is_marked_array(c, idx)) {
		if (shape == 0 && n > 0)
			return conv_fail(c, "an array with non-integer keys");
		if (shape < 0)
			return conv_fail(c, "an array that is not a sequence");
		return conv_array(c, idx, n, depth);
	}
	if (shape < 0)
		return conv_fail(c, "a table with mixed or non-string keys");
	if (shape == 1)
		return conv_array(c, idx, n, depth);
	return conv_object(c, idx, depth);
}

static json_t *conv_value(conv *c, int idx, int depth)
{
	const char *s;
	size_t len;
	json_t *j;
	double d;

	switch (lua_type(c->L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(c->L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(c->L, idx))
			return json_integer((json_int_t)lua_tointeger(c->L, idx));
		d = lua_tonumber(c->L, idx);
		if (isnan(d) || isinf(d))
			return conv_fail(c, "a NaN or infinite number");
		return json_real(d);
	case LUA_TSTRING:
		s = lua_tolstring(c->L, idx, &len);
		j = cairn_json_stringn(s, len);
		return j ? j : conv_fail(c, "a string that is not valid UTF-8");
	case LUA_TTABLE:
		return conv_table(c, idx, depth);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(c->L, idx) == &cairn_lua_null_tag)
			return json_null();
		return conv_fail(c, "a userdata");
	default:
		return conv_fail(c, lua_typename(c->L, lua_type(c->L, idx)));
	}
}

json_t *cairn_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
	conv c;

	memset(&c, 0, sizeof(c));
	c.L = L;
	c.array_mt = cairn_lua_rt(L)->array_mt;
	c.err = err;
	c.errlen = errlen;
	return conv_value(&c, lua_absindex(L, idx), 0);
}

/* -- cairn.json ---------------------------------------------------------- */

static int l_encode(lua_State *L)
{
	char err[512];
	size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS;
	json_t *j;
	char *s;

	luaL_checkany(L, 1);
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "pretty");
		if (lua_toboolean(L, -1))
			flags = JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_SORT_KEYS;
		lua_pop(L, 1);
	}
	j = cairn_lua_to_json(L, 1, err, sizeof(err));
	if (!j)
		return luaL_error(L, "%s", err);
	s = json_dumps(j, flags);
	json_decref(j);
	if (!s)
		return luaL_error(L, "cannot encode JSON");
	cairn_lua_push_owned(L, s, strlen(s));
	return 1;
}

static int l_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	json_error_t jerr;
	json_t *j;
	int status;

	j = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
	if (!j) {
		lua_pushnil(L);
		lua_pushfstring(L, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return 2;
	}
	status = cairn_lua_push_json_safe(L, j);
	json_decref(j);
	if (status != LUA_OK)
		return lua_error(L);
	return 1;
}

/* cairn.json.array([t]): mark t (or a new table) as an array; returns it. */
static int l_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	else
		luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_getmetatable(L, 1)) {
		/* never replace another metatable (a read-only proxy's, say) */
		if (lua_topointer(L, -1) != cairn_lua_rt(L)->array_mt)
			return luaL_argerror(L, 1, "table already has a metatable");
		lua_pop(L, 1);
	}
	cairn_lua_mark_array(L);
	return 1;
}

static int l_is_array(lua_State *L)
{
	lua_pushboolean(L, cairn_lua_is_marked_array(L, 1));
	return 1;
}

static const luaL_Reg json_lib[] = {
	{ "encode", l_encode },
	{ "decode", l_decode },
	{ "array", l_array },
	{ "is_array", l_is_array },
	{ NULL, NULL },
};

int cairn_lua_open_json(lua_State *L)
{
	luaL_newlib(L, json_lib);
	cairn_lua_pushnull(L);
	lua_setfield(L, -2, "null");
	return 1;
}
