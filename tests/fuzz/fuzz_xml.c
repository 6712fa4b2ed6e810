/*
 * fuzz_xml.c - cairn.xml.decode (lua/xml.c), as modules call it on a
 * Query-protocol answer, then what modules do with the result: read lists
 * with cairn.xml.list and return values (converted to JSON through
 * cairn.json.encode, the conversion a module's return value goes through).
 *
 * Seeds: tests/fuzz/seeds/xml/ (EC2 / RDS answers and errors as the sim
 * sends them).
 */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_State *L = fuzz_lua();
	int value;

	lua_pushlstring(L, (const char *)data, size);
	if (fuzz_call(L, "FXML", "decode", 1, 2) != LUA_OK)
		goto done;
	if (lua_isnil(L, -2)) {
		if (!lua_isstring(L, -1))
			abort(); /* a failure always says why */
		goto done;
	}
	if (!lua_isstring(L, -1))
		abort(); /* the root's name */
	value = lua_gettop(L) - 1;
	lua_pushvalue(L, value);
	lua_pushstring(L, "item");
	fuzz_call(L, "FXML", "list", 2, 1);
	lua_pushvalue(L, value);
	fuzz_call(L, "FJSON", "encode", 1, 1);
	lua_pushvalue(L, value);
	lua_pushvalue(L, value + 1);
	fuzz_call(L, "FXML", "list", 2, 1);
done:
	fuzz_lua_reset(L);
	return 0;
}
