return {
  type = "bad.other",
  schema = { id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
