-- test.nohost (fixture): a resource that is not a host's tries cairn.ssh
return {
  type = "test.nohost",
  remote = false,
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p) cairn.ssh.exec{ command = "touch /tmp/cairn-nohost-ran" } return { id = "x" } end,
  read = function(ctx, id, old) return old end,
  delete = function(ctx, id, old) end,
}
