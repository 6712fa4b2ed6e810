-- host.user: a user account on a host (useradd, usermod, userdel; getent
-- to read). uid, primary group, home and shell are the system's unless
-- set; groups lists supplementary groups exactly. Destroying it removes
-- the account (userdel), not its home directory. Needs root on the host.
local H = require("host.common")

local function validate(p)
  if type(p.name) ~= "string" or not p.name:match("^[a-z_][a-z0-9_-]*%$?$") or #p.name > 32 then
    error(("name must be a user name, not %s"):format(tostring(p.name)), 0)
  end
end

local function read_many(ctx, list)
  local q = {}
  for i, o in ipairs(list) do q[i] = H.q(o.id) end
  local r = H.run(ctx, "for u in " .. table.concat(q, " ") .. "; do " ..
    "p=$(getent passwd -- \"$u\") || continue; printf '%s|%s\\n' \"$p\" \"$(id -Gn -- \"$u\" | tr ' ' ',')\"; " ..
    "g=$(id -gn -- \"$u\"); printf '@%s|%s\\n' \"$u\" \"$g\"; done")
  local out, primary = {}, {}
  for line in r.stdout:gmatch("[^\n]+") do
    local u, g = line:match("^@([^|]*)|(.*)$")
    if u then
      primary[u] = g
    else
      local name, _, uid, gid, _, home, shell, groups = line:match("^([^:]*):([^:]*):(%d+):(%d+):([^:]*):([^:]*):([^|]*)|(.*)$")
      if name then
        out[name] = { id = name, uid = tonumber(uid), home = home, shell = shell, groups_all = groups }
      end
    end
  end
  for _, o in ipairs(list) do
    local a, old = out[o.id], o.attrs or {}
    if a then
      a.group = primary[o.id]
      -- supplementary groups: every group but the primary one
      local sup = cairn.json.array()
      for g in (a.groups_all or ""):gmatch("[^,]+") do
        if g ~= a.group then sup[#sup + 1] = g end
      end
      table.sort(sup)
      a.groups_all = nil
      if old.groups ~= nil then a.groups = sup end
    end
  end
  return out
end

local function flags(p, creating)
  local f = {}
  if p.uid ~= nil then f[#f + 1] = "-u " .. math.tointeger(p.uid) end
  if p.group ~= nil then f[#f + 1] = "-g " .. H.q(p.group) end
  if p.groups ~= nil then
    local g = {}
    for i, x in ipairs(p.groups) do g[i] = x end
    table.sort(g)
    f[#f + 1] = "-G " .. H.q(table.concat(g, ","))
  end
  if p.home ~= nil then f[#f + 1] = "-d " .. H.q(p.home) .. (creating and " -m" or "") end
  if p.shell ~= nil then f[#f + 1] = "-s " .. H.q(p.shell) end
  if creating and p.system then f[#f + 1] = "-r" end
  return table.concat(f, " ")
end

local function sorted(list)
  if list == nil then return nil end
  local s = cairn.json.array()
  for i, x in ipairs(list) do s[i] = x end
  table.sort(s)
  return s
end

return {
  type = "host.user",
  description = "A user account on a host.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    uid = { type = "number", optional = true, computed = true },
    group = { type = "string", optional = true, computed = true, description = "Primary group." },
    groups = { type = "list", description = "Supplementary groups (exactly these)." },
    home = { type = "string", optional = true, computed = true },
    shell = { type = "string", optional = true, computed = true },
    system = { type = "bool", default = false, force_new = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    validate(p)
    H.run(ctx, "useradd " .. flags(p, true) .. " -- " .. H.q(p.name))
    local a = read_many(ctx, { { id = p.name, attrs = p } })[p.name] or {}
    a.groups = sorted(p.groups)
    return a
  end,
  read = function(ctx, id, old) return read_many(ctx, { { id = id, attrs = old } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed)
    validate(new)
    local f = flags(new, false)
    if f ~= "" then H.run(ctx, "usermod " .. f .. " -- " .. H.q(new.name)) end
    return { groups = sorted(new.groups) }
  end,
  delete = function(ctx, id, old)
    H.run(ctx, "getent passwd -- " .. H.q(id) .. " >/dev/null || exit 0; userdel -- " .. H.q(id))
  end,
  import = function(ctx, id)
    local a = read_many(ctx, { { id = id, attrs = { groups = {} } } })[id]
    if a then a.name = id end
    return a
  end,
}
