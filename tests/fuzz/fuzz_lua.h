/*
 * fuzz_lua.h - a real module runtime (lua/runtime.c) for the decoder
 * targets: its lua_State, with the sandbox's allocator and limits, and the
 * cairn.json / cairn.xml libraries as modules see them.
 */
#ifndef CAIRN_FUZZ_LUA_H
#define CAIRN_FUZZ_LUA_H

#include "fuzz.h"
#include "lua/internal.h"

static cairn_lua *fuzz_rt;

/* The runtime's state with cairn.json at global FJSON and cairn.xml at
 * global FXML (raw globals of the main state, not a module's _ENV). */
static inline lua_State *fuzz_lua(void)
{
	if (!fuzz_rt) {
		const char *dirs[1] = { CAIRN_MODULES_DIR };
		cairn_lua_limits lim = { 64u << 20, 0 };
		lua_State *L;

		if (cairn_lua_new(&fuzz_rt, dirs, 1, &lim) != 0)
			abort();
		L = fuzz_rt->L;
		cairn_lua_open_json(L);
		lua_setglobal(L, "FJSON");
		cairn_lua_open_xml(L);
		lua_setglobal(L, "FXML");
	}
	return fuzz_rt->L;
}

/* Call lib.fn with the values on the stack above base (protected): the
 * results replace them; returns the lua_pcall status. */
static inline int fuzz_call(lua_State *L, const char *lib, const char *fn, int nargs, int nres)
{
	lua_getglobal(L, lib);
	lua_getfield(L, -1, fn);
	lua_remove(L, -2);
	lua_insert(L, -1 - nargs);
	return lua_pcall(L, nargs, nres, 0);
}

/* Between inputs: an empty stack and a full collection, so that every
 * input starts from the same state and __gc runs are attributed to it. */
static inline void fuzz_lua_reset(lua_State *L)
{
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
}

#endif
