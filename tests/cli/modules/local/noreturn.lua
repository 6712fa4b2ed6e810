-- local.noreturn: a fixture for the engine's check of what update returns:
-- an object in the same file-system cloud as local.thing (<cloud>/<id>),
-- whose update changes nothing and returns nothing, as a module that
-- forgot its `return` (or whose object vanished) would.
local function cloud(ctx) return ctx.base_dir .. "/cloud" end

local function load(ctx, id)
  local text = cairn.fs.read(cloud(ctx) .. "/" .. id)
  if not text then return nil end
  local obj = cairn.json.decode(text)
  obj.id = id
  return obj
end

return {
  type = "local.noreturn",
  description = "an object whose update returns nothing, for engine tests",
  schema = {
    name = { type = "string", required = true },
    size = { type = "number", default = 1 },
    id   = { type = "string", computed = true },
  },
  create = function(ctx, p)
    cairn.fs.mkdir_p(cloud(ctx))
    local id = "noreturn-" .. ctx.token
    cairn.fs.write(cloud(ctx) .. "/" .. id, cairn.json.encode({ name = p.name, size = p.size }), "0644")
    return load(ctx, id)
  end,
  read = function(ctx, id) return load(ctx, id) end,
  update = function(ctx, id, old, new)
    -- nothing changes, nothing is returned
  end,
  delete = function(ctx, id) cairn.fs.remove(cloud(ctx) .. "/" .. id) end,
}
