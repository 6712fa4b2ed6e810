return {
  type = "bad.path_on_list",
  schema = { where = { type = "list", local_path = true }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
