-- host.group: a group on a host (groupadd, groupmod, groupdel; getent to
-- read). Needs root on the host.
local H = require("host.common")

local function validate(p)
  if type(p.name) ~= "string" or not p.name:match("^[a-z_][a-z0-9_-]*%$?$") or #p.name > 32 then
    error(("name must be a group name, not %s"):format(tostring(p.name)), 0)
  end
end

local function read_many(ctx, list)
  local q = {}
  for i, o in ipairs(list) do q[i] = H.q(o.id) end
  local r = H.run(ctx, "getent group -- " .. table.concat(q, " ") .. "; exit 0")
  local out = {}
  for name, gid in r.stdout:gmatch("([^:\n]*):[^:\n]*:(%d+):[^\n]*") do
    out[name] = { id = name, gid = tonumber(gid) }
  end
  return out
end

return {
  type = "host.group",
  description = "A group on a host.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    gid = { type = "number", optional = true, computed = true },
    system = { type = "bool", default = false, force_new = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    validate(p)
    local f = p.gid and ("-g " .. math.tointeger(p.gid) .. " ") or ""
    if p.system then f = f .. "-r " end
    H.run(ctx, "groupadd " .. f .. "-- " .. H.q(p.name))
    return read_many(ctx, { { id = p.name } })[p.name] or { id = p.name }
  end,
  read = function(ctx, id, old) return read_many(ctx, { { id = id } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed)
    if new.gid ~= nil then H.run(ctx, "groupmod -g " .. math.tointeger(new.gid) .. " -- " .. H.q(new.name)) end
    return { gid = new.gid }
  end,
  delete = function(ctx, id, old)
    H.run(ctx, "getent group -- " .. H.q(id) .. " >/dev/null || exit 0; groupdel -- " .. H.q(id))
  end,
  import = function(ctx, id) return read_many(ctx, { { id = id } })[id] end,
}
