-- The pattern functions on a set of cases, as one string: the test runs the
-- same file in a plain Lua state and compares (the sandbox's matcher must
-- behave as Lua's own).
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = type(t[i]) == "string" and ("%q"):format(t[i]) or tostring(t[i]) end
  return table.concat(t, ",", 1, t.n)
end

local function gm(s, p, init)
  local out = {}
  for a, b in string.gmatch(s, p, init) do out[#out + 1] = show(a, b) end
  return table.concat(out, ";")
end

local cases = {
  { string.find, "hello world", "o w" }, { string.find, "hello", "l+" }, { string.find, "hello", "^h" },
  { string.find, "hello", "o$" }, { string.find, "a+b", "+", 1, true }, { string.find, "abc", "", 10 },
  { string.find, "abc", "", 4 }, { string.find, "abc", "b", -1 }, { string.find, "abc", "b", -10 },
  { string.find, "", "" }, { string.find, "a.b", "." , 1, true }, { string.find, "abc", "(b)(c)" },
  { string.find, "x$y", "$y" }, { string.find, "a\0b", "\0" }, { string.find, "a\0b", "%z" },
  { string.match, "key = value", "(%w+)%s*=%s*(%w+)" }, { string.match, "  trim me  ", "^%s*(.-)%s*$" },
  { string.match, "f(a(b)c)d", "%b()" }, { string.match, "f(a(b c", "%b()" },
  { string.match, "THE (quick) fox", "%f[%a]%a+" }, { string.match, "hello", "()ll()" },
  { string.match, "abcabc", "(abc)%1" }, { string.match, "x_1=2", "[%a_][%w_]*" }, { string.match, "]]", "[]]+" },
  { string.match, "a-b", "[a%-]+" }, { string.match, "^x^", "[%^x]+" },
  { string.match, "2024-01-05", "(%d+)-(%d+)-(%d+)" }, { string.match, "aaa", "a-b" },
  { string.match, "aaab", "a-b" }, { string.match, "abc", "[^a]+" }, { string.match, "abc", "[b-c]+" },
  { string.match, "ABC def", "%u+" }, { string.match, "ABC def", "%U+" }, { string.match, "a1 b2", "%w%d" },
  { string.match, "  x", "%S" }, { string.match, "\t\n x", "%c+" }, { string.match, "a,b;c", "%p" },
  { string.match, "0xFF", "%x+", 3 }, { string.match, "hello", ".?.?h" }, { string.match, "hello", "h?e?l*o" },
  { string.match, "hello", "x*" }, { string.match, "hello", "(h)(e)(l)(l)(o)" }, { string.match, "aXb", "%f[%u]." },
  { string.match, "end", "d$" }, { string.match, "a$", "a$$" }, { string.match, "abc", "(a(b)c)" },
  { string.match, "abc", "()" }, { string.match, "[x]", "%[(.)%]" }, { string.match, "a.b", "%.b" },
  { string.match, "a", "%" }, { string.match, "a", "[a" }, { string.match, "a", "(a" }, { string.match, "a", "a)" },
  { string.match, "a", "%1" }, { string.match, "a", "%b" }, { string.match, "a", "%fa" }, { string.match, "aa", "(a)%2" },
  { string.match, "a", "[%" }, { string.match, "a", "[^]" },
  { gm, "one two three", "%a+" }, { gm, "a,b,,c", "([^,]*)" }, { gm, "abc", "" }, { gm, "k1=v1, k2=v2", "(%w+)=(%w+)" },
  { gm, "abcabc", "a", 2 }, { gm, "abc", "a", 10 }, { gm, "^a^a", "^a" }, { gm, "hello", "()l" },
  { string.gsub, "hello world", "o", "0" }, { string.gsub, "hello", "", "-" }, { string.gsub, "abc", "%w", "%0%0" },
  { string.gsub, "abc", "(%w)", "%1-" }, { string.gsub, "hello world", "%w+", { hello = "HI" } },
  { string.gsub, "hello world", "%w+", function(w) return w:upper() end },
  { string.gsub, "hello world", "%w+", function(w) return w == "world" and false end },
  { string.gsub, "abc", "b", "%%" }, { string.gsub, "abc", "b", "%2" }, { string.gsub, "abc", ".", "x", 2 },
  { string.gsub, "abc", "^a", "x" }, { string.gsub, "aaa", "^a", "x" }, { string.gsub, "abc", "b", "%x" },
  { string.gsub, "abc", "b", function() return {} end }, { string.gsub, "abc", "b", 5 },
  { string.gsub, "abc", "(b)", "[%1%0]" }, { string.gsub, "abc", "()b", "%1" }, { string.gsub, "a b", " ", "", 0 },
  { string.gsub, "x = 1; y = 2", "(%w+) = (%w+)", "%2 = %1" }, { string.gsub, "abc", "", "" },
  { string.rep, "ab", 3 }, { string.rep, "ab", 3, "," }, { string.rep, "", 5 }, { string.rep, "x", 0 },
  { string.rep, "x", -1 }, { string.rep, "", 5, "" }, { string.rep, "a", 1, "," },
}

local function run()
  local out = {}
  for i, c in ipairs(cases) do
    local r = table.pack(pcall(c[1], table.unpack(c, 2)))
    if not r[1] then r[2] = tostring(r[2]):gsub("^[^:]*:%d+: ", "") end
    out[i] = i .. ": " .. show(table.unpack(r, 1, r.n))
  end
  return table.concat(out, "\n")
end

return {
  type = "test.patterns",
  schema = { id = { type = "string", computed = true }, out = { type = "string", computed = true } },
  create = function() return { out = run() } end,
  read = function() return nil end,
  delete = function() end,
}
