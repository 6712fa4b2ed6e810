return {
  type = "bad.default_out_of_range",
  schema = { n = { type = "number", min = 1, max = 10, default = 11 }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
