return {
  type = "bad.unknown_key",
  schema = { name = { type = "string", requird = true }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
