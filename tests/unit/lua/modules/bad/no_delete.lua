return {
  type = "bad.no_delete",
  schema = { id = { type = "string", computed = true } },
  create = function() end, read = function() end,
}
