-- reports what the sandbox lets a module see
local function probe(ctx, p)
  local r = {}
  for _, name in ipairs({ "io", "os", "package", "debug", "load", "loadfile", "dofile",
                          "rawset", "coroutine", "_G", "warn", "loadstring" }) do
    r[name] = _ENV[name] ~= nil
  end
  r.string_dump = string.dump ~= nil
  r.string_meta = getmetatable("")
  r.env_meta = getmetatable(_ENV)
  local ok, err = pcall(collectgarbage, "stop")
  r.gc_stop = ok
  r.gc_count = type(collectgarbage("count")) == "number"
  r.cairn_fs = cairn.fs ~= nil
  ok = pcall(function() string.upper = nil end)
  r.string_writable = ok
  ok = pcall(function() cairn.log = nil end)
  r.cairn_writable = ok
  ok = pcall(function() cairn.json.encode = nil end)
  r.cairn_json_writable = ok
  ok = pcall(setmetatable, string, {})
  r.string_setmeta = ok
  ok = pcall(function() getmetatable("").__index = {} end)
  r.strmeta_writable = ok
  local _, state = pairs(string)
  r.pairs_leak = type(state) == "table" and rawget(state, "upper") ~= nil
  ok = pcall(cairn.json.array, string)
  r.array_proxy = ok
  ok = pcall(cairn.json.array, cairn)
  r.array_cairn = ok
  ok = pcall(setmetatable, {}, { __gc = function() end })
  r.gc_meta = ok
  r.setmeta_works = getmetatable(setmetatable({}, { __index = { a = 1 } })).__index.a == 1
  polluted = "yes"            -- a global: lands in this module's own _ENV
  r.upper_works = ("abc"):upper() == "ABC"
  local n = 0
  for _ in pairs(math) do n = n + 1 end
  r.math_pairs = n > 10
  return r
end
return {
  type = "test.sandbox",
  schema = { id = { type = "string", computed = true } },
  create = probe,
  read = function(ctx, id) return { polluted = polluted } end,
  delete = function() end,
}
