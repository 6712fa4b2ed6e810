return {
  type = "bad.syntax",
  schema = { id = { type = "string", computed = true } }
  create = function() end,
}
