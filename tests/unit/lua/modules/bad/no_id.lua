return {
  type = "bad.no_id",
  schema = { name = { type = "string" } },
  create = function() end, read = function() end, delete = function() end,
}
