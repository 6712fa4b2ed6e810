return {
  type = "test.timeouts",
  timeouts = { create = "1h30m", delete = 90 },
  schema = { id = { type = "string", computed = true } },
  create = function() return {} end,
  read = function() return nil end,
  delete = function() end,
}
