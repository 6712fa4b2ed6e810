return {
  type = "bad.write_only_computed",
  schema = { secret = { type = "string", computed = true, write_only = true }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
