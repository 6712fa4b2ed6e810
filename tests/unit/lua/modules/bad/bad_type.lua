return {
  type = "bad.bad_type",
  schema = { name = { type = "strin" }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
