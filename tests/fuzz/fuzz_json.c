/*
 * fuzz_json.c - cairn.json.decode (lua/json.c), as modules call it on a
 * REST-JSON answer, then what happens to the value afterwards: encoded
 * again (the conversion a module's return value goes through), decoded and
 * encoded once more. The two encodings must be equal: what a module
 * decodes and hands back must not change on the way (a null member is
 * dropped by the first decode, so only the second round is compared).
 *
 * Seeds: tests/fuzz/seeds/json/ (answers as the sim and AWS send them).
 */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L = fuzz_lua();
	size_t n1 = 0, n2 = 0;
	const char *e1, *e2;

	lua_pushlstring(L, (const char *)data, size);
	if (fuzz_call(L, "FJSON", "decode", 1, 2) != LUA_OK || lua_isnil(L, -2))
		goto done;
	lua_pop(L, 1);
	if (fuzz_call(L, "FJSON", "encode", 1, 1) != LUA_OK)
		goto done; /* e.g. a NaN cannot come from JSON, so this is a memory limit */
	e1 = lua_tolstring(L, -1, &n1);
	lua_pushvalue(L, -1);
	if (fuzz_call(L, "FJSON", "decode", 1, 1) != LUA_OK)
		abort();
	if (lua_isnil(L, -1)) {
		fprintf(stderr, "cairn.json.decode refused what cairn.json.encode wrote: %.*s\n", (int)n1, e1);
		abort();
	}
	if (fuzz_call(L, "FJSON", "encode", 1, 1) != LUA_OK)
		abort();
	e1 = lua_tolstring(L, -2, &n1);
	e2 = lua_tolstring(L, -1, &n2);
	if (n1 != n2 || memcmp(e1, e2, n1) != 0) {
		fprintf(stderr, "encode(decode(x)) changed:\n  %.*s\n  %.*s\n", (int)n1, e1, (int)n2, e2);
		abort();
	}
done:
	fuzz_lua_reset(L);
	return 0;
}
