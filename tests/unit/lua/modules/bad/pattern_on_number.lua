return {
  type = "bad.pattern_on_number",
  schema = { n = { type = "number", pattern = "[0-9]+" }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
