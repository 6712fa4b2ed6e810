return {
  type = "bad.enum_wrong_type",
  schema = { name = { type = "string", enum = { "a", 2 } }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
