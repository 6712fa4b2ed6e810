return {
  type = "bad.min_not_number",
  schema = { n = { type = "number", min = "1" }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
