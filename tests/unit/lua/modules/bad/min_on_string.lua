return {
  type = "bad.min_on_string",
  schema = { name = { type = "string", min = 1 }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
