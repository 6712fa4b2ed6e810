return {
  type = "bad.timeouts",
  timeouts = { delete = "soon" },
  schema = { id = { type = "string", computed = true } },
  create = function() return {} end,
  read = function() return nil end,
  delete = function() end,
}
