-- host.service: a systemd unit on a host, enabled or not, running or not.
-- restart_on lists resources (by name): when one of them is created,
-- updated or replaced in an apply, the plan says the service changes with
-- them and the apply restarts it (after them: they are its dependencies).
-- A refresh asks systemctl about every unit of a host in one command.
-- Destroying it leaves the unit as it is.
local H = require("host.common")

local function validate(p)
  if type(p.name) ~= "string" or not p.name:match("^[%w@:._\\-]+$") then
    error(("name must be a systemd unit name, not %s"):format(tostring(p.name)), 0)
  end
end

local function read_many(ctx, list)
  local q = {}
  for i, o in ipairs(list) do q[i] = H.q(o.id) end
  local r = H.run(ctx, "for u in " .. table.concat(q, " ") .. "; do " ..
    "e=$(systemctl is-enabled -- \"$u\" 2>/dev/null); a=$(systemctl is-active -- \"$u\" 2>/dev/null); " ..
    "printf '%s|%s|%s\\n' \"$u\" \"$e\" \"$a\"; done")
  local out = {}
  for u, e, a in r.stdout:gmatch("([^|\n]*)|([^|\n]*)|([^|\n]*)") do
    if e ~= "" and e ~= "not-found" then
      out[u] = { id = u, enabled = (e == "enabled" or e == "enabled-runtime" or e == "static" or e == "alias"),
                 running = (a == "active" or a == "activating" or a == "reloading") }
    end
  end
  return out
end

-- Make the unit as p says: everything on create; on update only what
-- changed (changed: a set), and a restart when a watched resource did.
local function converge(ctx, p, changed)
  validate(p)
  local u = H.q(p.name)
  local all = changed == nil
  changed = changed or {}
  local cmd = { "systemctl cat -- " .. u .. " >/dev/null 2>&1 || { echo \"no unit " .. p.name .. " on the host\" >&2; exit 5; }" }
  if (all or changed.enabled) and p.enabled == true then cmd[#cmd + 1] = "systemctl enable -- " .. u .. " >/dev/null" end
  if (all or changed.enabled) and p.enabled == false then cmd[#cmd + 1] = "systemctl disable -- " .. u .. " >/dev/null" end
  if (all or changed.running) and p.running == false then
    cmd[#cmd + 1] = "systemctl stop -- " .. u
  elseif changed.restart_on and p.running ~= false then
    cmd[#cmd + 1] = "systemctl restart -- " .. u
  elseif (all or changed.running) and p.running == true then
    cmd[#cmd + 1] = "systemctl start -- " .. u
  end
  H.run(ctx, table.concat(cmd, " && "), { what = "systemctl for " .. p.name })
  return { id = p.name }
end

return {
  type = "host.service",
  description = "A systemd unit on a host: enabled, running, restarted when resources it names change.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    enabled = { type = "bool", optional = true, computed = true },
    running = { type = "bool", optional = true, computed = true },
    restart_on = { type = "list", watch = true, description = "Resources whose changes restart it (names)." },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p) return converge(ctx, p, nil) end,
  read = function(ctx, id, old) return read_many(ctx, { { id = id, attrs = old } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed)
    local set = {}
    for _, c in ipairs(changed or {}) do set[c] = true end
    return converge(ctx, new, set)
  end,
  delete = function(ctx, id, old) end,
}
