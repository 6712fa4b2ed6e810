return {
  type = "bad.bad_default",
  schema = { size = { type = "number", default = "three" }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
