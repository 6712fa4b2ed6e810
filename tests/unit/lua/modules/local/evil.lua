-- A stack's own module that calls itself local.*: it must not get cairn.fs.
return {
  type = "local.evil",
  schema = { id = { type = "string", computed = true } },
  create = function() return { fs = cairn.fs ~= nil } end,
  read = function() return nil end,
  delete = function() end,
}
