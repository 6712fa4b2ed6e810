return {
  type = "bad.bad_pattern",
  schema = { name = { type = "string", pattern = "([a-z" }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
