/*
 * regex.c - `cairn.regex`: POSIX extended regular expressions (libc's
 * regcomp/regexec, with glibc's \s \S \w \W \b), for modules that match
 * text they read (host.line keeps a line matched by a regexp).
 *
 *   cairn.regex.match(pattern, s) -> true | false
 *   cairn.regex.lines(pattern, text) -> {n1, n2, ...}: the numbers (from 1)
 *       of the lines of text that match (lines end at "\n"; a last line
 *       without one counts)
 *   cairn.regex.check(pattern) -> true | nil, message
 * A malformed pattern is an error naming it ("bad regular expression
 * '(': Unmatched ( or \(").
 */
#include "internal.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef struct compiled {
	regex_t re;
	bool ok;
} compiled;

static int compiled_gc(lua_State *L)
{
	compiled *c = lua_touserdata(L, 1);

	if (c->ok)
		regfree(&c->re);
	c->ok = false;
	return 0;
}

/* Compile into a userdata left on the stack (freed by its __gc); raises
 * with the pattern and regerror's words, unless msg is given: then false. */
static compiled *compile(lua_State *L, const char *pattern, char *msg, size_t msglen)
{
	compiled *c = lua_newuserdatauv(L, sizeof(*c), 0);
	char err[256];
	int rc;

	c->ok = false;
	if (luaL_newmetatable(L, "cairn.regex")) {
		lua_pushcfunction(L, compiled_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	rc = regcomp(&c->re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
	if (rc == 0) {
		c->ok = true;
		return c;
	}
	regerror(rc, NULL, err, sizeof(err));
	if (msg) {
		snprintf(msg, msglen, "bad regular expression '%s': %s", pattern, err);
		return NULL;
	}
	luaL_error(L, "bad regular expression '%s': %s", pattern, err);
	return NULL;
}

static int l_match(lua_State *L)
{
	const char *pattern = luaL_checkstring(L, 1);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	compiled *c = compile(L, pattern, NULL, 0);
	regmatch_t m[1];

	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)len;
	lua_pushboolean(L, regexec(&c->re, s, 0, m, REG_STARTEND) == 0);
	return 1;
}

static int l_lines(lua_State *L)
{
	const char *pattern = luaL_checkstring(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	compiled *c = compile(L, pattern, NULL, 0);
	const char *p = text, *end = text + len, *nl;
	lua_Integer line = 0, found = 0;
	regmatch_t m[1];

	lua_newtable(L);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line++;
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)((nl ? nl : end) - p);
		if (regexec(&c->re, p, 0, m, REG_STARTEND) == 0) {
			lua_pushinteger(L, line);
			lua_rawseti(L, -2, ++found);
		}
		p = nl ? nl + 1 : end;
	}
	cairn_lua_mark_array(L);
	return 1;
}

static int l_check(lua_State *L)
{
	const char *pattern = luaL_checkstring(L, 1);
	char msg[512];

	if (compile(L, pattern, msg, sizeof(msg))) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushstring(L, msg);
	return 2;
}

static const luaL_Reg regex_lib[] = {
	{ "match", l_match },
	{ "lines", l_lines },
	{ "check", l_check },
	{ NULL, NULL },
};

int cairn_lua_open_regex(lua_State *L)
{
	lua_newtable(L);
	luaL_setfuncs(L, regex_lib, 0);
	return 1;
}
