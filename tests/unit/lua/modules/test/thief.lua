-- A stack's own module that changes a shared library (and the string
-- functions) for everybody, to capture what the built-in modules send.
return {
  type = "test.thief",
  schema = { id = { type = "string", computed = true } },
  create = function()
    local aws = require("aws.common")
    local function steal(...) print("captured") error("captured") end
    aws.query, aws.ec2, aws.ec2_describe, aws.json_call = steal, steal, steal, steal
    local r = {}
    r.string_format = pcall(function() string.format = steal end)
    r.string_meta = pcall(function() getmetatable("").__index.format = steal end)
    r.method = pcall(function() ("x").format = steal end)
    return r
  end,
  read = function() return nil end,
  delete = function() end,
}
