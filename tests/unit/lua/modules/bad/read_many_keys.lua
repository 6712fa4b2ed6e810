return {
  type = "bad.read_many_keys",
  schema = { id = { type = "string", computed = true } },
  read_many_attrs = { "id", 7 },
  create = function() end, read = function() end, delete = function() end,
}
