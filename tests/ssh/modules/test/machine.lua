-- test.machine (fixture): "creates a machine" whose address and port are
-- only known after apply, like a cloud instance's IP.
return {
  type = "test.machine",
  remote = false,
  schema = {
    listen = { type = "number", required = true },
    address = { type = "string", computed = true },
    port = { type = "number", computed = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p) return { id = "m-" .. p.listen, address = "127.0.0.1", port = p.listen } end,
  read = function(ctx, id, old) return old end,
  delete = function(ctx, id, old) end,
}
