-- Ways a module might try to run past the instruction limit, its deadline
-- or an interrupt: each case must end with the operation failed.
local function spin() while true do end end
local function fail() error("boom") end

local cases = {
  -- the message handler loops: Lua calls it where the error was raised
  xpcall_handler = function() xpcall(fail, spin) end,
  -- the body hits the limit, the handler loops
  xpcall_limit = function() xpcall(spin, spin) end,
  xpcall_nested = function() xpcall(function() xpcall(spin, spin) end, spin) end,
  -- the handler catches and retries for ever
  xpcall_retry = function() while true do xpcall(spin, function(m) return m end) end end,
  pcall_loop = function() while true do pcall(spin) end end,
  -- a to-be-closed variable whose __close loops, run while unwinding
  close_unwind = function()
    local guard <close> = setmetatable({}, { __close = spin })
    spin()
  end,
  close_error = function()
    pcall(function()
      local guard <close> = setmetatable({}, { __close = spin })
      error("boom")
    end)
  end,
  gsub_callback = function() string.gsub("abc", ".", spin) end,
  sort_comparator = function() table.sort({ 3, 2, 1, 5, 4 }, function() spin() end) end,
  tostring_meta = function() print(setmetatable({}, { __tostring = spin })) end,
  index_meta = function() return setmetatable({}, { __index = spin }).x end,
  -- an error object whose fields loop: the runtime reads them raw
  error_object = function() error(setmetatable({}, { __index = spin })) end,
  -- C library calls that the hook does not see
  pattern = function() return string.find(("a"):rep(2000), ".-.-.-.-.-b") end,
  pattern_method = function() return (("a"):rep(3000)):match("^(.-)(.-)(.-)(.-)x") end,
  gmatch = function() for _ in (("a"):rep(2000)):gmatch(".-.-.-.-b") do end end,
  gsub_pattern = function() return (("a"):rep(2000)):gsub(".-.-.-.-b", "") end,
  rep_empty = function() return { n = #string.rep("", 2^53) } end,
  rep_huge = function() return string.rep("x", 2^40) end,
  rep_loop = function() local n = 0 for i = 1, 1e9 do n = n + #("x"):rep(1 << 20) end end,
  sleep_long = function() cairn.sleep(86400) end,
}

return {
  type = "test.escape",
  schema = { case = { type = "string" }, id = { type = "string", computed = true } },
  create = function(ctx, p) return cases[p.case]() or {} end,
  read = function() return nil end,
  delete = function() end,
}
