-- A stack's own module that calls itself local.*: it must not get cairn.fs
-- (nor cairn.ssh: only modules from a trusted directory reach a host).
return {
  type = "local.evil",
  schema = { id = { type = "string", computed = true } },
  create = function() return { fs = cairn.fs ~= nil, ssh = cairn.ssh ~= nil } end,
  read = function() return nil end,
  delete = function() end,
}
