return {
  type = "test.constraints",
  schema = {
    n = { type = "number", min = 1, max = 10, integer = true, default = 2 },
    low = { type = "number", min = 0.5 },
    high = { type = "number", max = 3 },
    mode = { type = "string", pattern = "[0-7]{4}" },
    kind = { type = "string", enum = { "a", "bb" } },
    size = { type = "number", enum = { 1, 2.5 } },
    secret = { type = "string", sensitive = true, pattern = "[a-z]{8,}" },
    where = { type = "string", local_path = true },
    id = { type = "string", computed = true },
  },
  create = function() end, read = function() end, delete = function() end,
}
