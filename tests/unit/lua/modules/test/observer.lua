return {
  type = "test.observer",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    return { polluted = polluted == nil and "no" or polluted, upper = string.upper("x"),
             log = type(cairn.log.info), fs = cairn.fs ~= nil }
  end,
  read = function() end,
  delete = function() end,
}
