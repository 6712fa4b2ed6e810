/*
 * fuzz_xml.c - cairn.xml.decode (lua/xml.c), as modules call it on a
 * Query-protocol answer, then what modules do with the result: read lists
 * with cairn.xml.list and return values (converted to JSON through
 * cairn.json.encode, the conversion a module's return value goes through).
 *
 * Then cairn drift's read marks: decoded again with marks for every child
 * of the root that holds items (each item hashed), and once more with the
 * digests of every other item known (those are stubs; the rest are decoded
 * from their own bytes, a parse inside the parse): the items must come out
 * equal to the plain decoding's, stub or not. And with marks.hits: the
 * stubs left out and named in hits, the other items as they were. A page
 * mark made then serves the same text: the same answer, the same hits.
 *
 * Seeds: tests/fuzz/seeds/xml/ (EC2 / RDS answers and errors as the sim
 * sends them).
 */
#include "fuzz_lua.h"

#include <lauxlib.h>

/* marks(text, doc): the check described above; raises on a difference */
static const char marks_check[] =
	"local xml, text, doc = FXML, ...\n"
	"local function same(a, b)\n"
	"  if type(a) ~= type(b) then return false end\n"
	"  if type(a) ~= 'table' then return a == b end\n"
	"  for k, v in pairs(a) do if k ~= '#digest' and not same(v, b[k]) then return false end end\n"
	"  for k in pairs(b) do if k ~= '#digest' and a[k] == nil then return false end end\n"
	"  return true\n"
	"end\n"
	"if type(doc) ~= 'table' then return end\n"
	"for set, node in pairs(doc) do\n"
	"  if type(set) == 'string' and type(node) == 'table' and node.item ~= nil then\n"
	"    local d1 = xml.decode(text, nil, { set = set, id = 'id' })\n"
	"    local items, known, plain = xml.list(d1[set], 'item'), {}, xml.list(node, 'item')\n"
	"    if #items ~= #plain then error('marks: another number of items') end\n"
	"    for i, it in ipairs(items) do\n"
	"      if type(it) == 'table' then\n"
	"        if type(it['#digest']) ~= 'string' or #it['#digest'] ~= 64 then error('marks: no digest') end\n"
	"        if not same(it, plain[i]) then error('marks: another item') end\n"
	"        if i % 2 == 0 then known[it['#digest']] = 'id-' .. i end\n"
	"      end\n"
	"    end\n"
	"    local d2 = xml.decode(text, nil, { set = set, id = 'id', known = known })\n"
	"    local hits = {}\n"
	"    local d3 = xml.decode(text, nil, { set = set, id = 'id', known = known, hits = hits })\n"
	"    local rest, n = xml.list(d3[set], 'item'), 0\n"
	"    for i, it in ipairs(xml.list(d2[set], 'item')) do\n"
	"      if type(it) == 'table' and it['#unchanged'] then\n"
	"        if known[it['#digest']] ~= it.id then error('marks: a stub of another id') end\n"
	"        if hits[it.id] ~= it['#digest'] then error('marks: a stub not in hits') end\n"
	"      else\n"
	"        if not same(it, plain[i]) then error('marks: another item, deferred') end\n"
	"        n = n + 1\n"
	"        if not same(rest[n], it) then error('marks: another item beside hits') end\n"
	"      end\n"
	"    end\n"
	"    if #rest ~= n then error('marks: hits left items in') end\n"
	"    for k, rec in pairs(hits) do\n"
	"      if k:sub(1, 6) == '#page:' then\n"
	"        local k2, h4 = {}, {}\n"
	"        for d, id in pairs(known) do k2[d] = id end\n"
	"        k2['#' .. k:sub(7)] = rec\n"
	"        local d4 = xml.decode(text, nil, { set = set, id = 'id', known = k2, hits = h4 })\n"
	"        if h4[k] ~= '' then error('pages: the kept page not served') end\n"
	"        if not same(d4, d3) then error('pages: another answer from the page') end\n"
	"        for id, d in pairs(hits) do if id:sub(1, 1) ~= '#' and h4[id] ~= d then error('pages: another hit') end end\n"
	"        for id in pairs(h4) do if id:sub(1, 1) ~= '#' and hits[id] == nil then error('pages: a hit more') end end\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"end\n";

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
	if (luaL_loadbuffer(L, marks_check, sizeof(marks_check) - 1, "=marks") != LUA_OK)
		abort();
	lua_pushlstring(L, (const char *)data, size);
	lua_pushvalue(L, value);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		const char *m = lua_tostring(L, -1);

		/* the sandbox's memory limit may stop it; a difference may not */
		if (m && strstr(m, "marks: "))
			abort();
	}
done:
	fuzz_lua_reset(L);
	return 0;
}
