return {
  type = "bad.min_gt_max",
  schema = { n = { type = "number", min = 5, max = 1 }, id = { type = "string", computed = true } },
  create = function() end, read = function() end, delete = function() end,
}
