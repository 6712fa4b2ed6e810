return {
  type = "bad.empty_enum",
  schema = { name = { type = "string", enum = {} }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
