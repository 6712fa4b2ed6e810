-- host.package: a Debian package on a host (apt, dpkg): present (any
-- version, or the given `version`) or absent. The packages of one host go
-- in one apt-get call: the operations that start together on a host wait
-- a moment (50 ms) for one another and are installed and removed by one
-- `apt-get install -y -- a b=1.2 c-`. A package that is to be present in
-- any version and is installed already is left out of it (apt-get would
-- upgrade it): nothing runs when nothing is missing. A refresh asks dpkg-query once per
-- host for all of them. apt-get runs with DEBIAN_FRONTEND=noninteractive;
-- the host needs root for it (become: true, or logging in as root).
local H = require("host.common")

local WINDOW = 0.05

local function validate(p)
  if type(p.name) ~= "string" or not p.name:match("^[a-z0-9][a-z0-9+.-]+$") then
    error(("name must be a Debian package name, not %s"):format(tostring(p.name)), 0)
  end
  if p.state ~= "present" and p.state ~= "absent" then
    error(("state must be present or absent, not %s"):format(tostring(p.state)), 0)
  end
  if p.version ~= nil and not p.version:match("^[A-Za-z0-9.+:~-]+$") then
    error(("version %s is not a Debian version"):format(p.version), 0)
  end
end

-- name -> installed version (or nil), for many names, one command
local function installed(ctx, names)
  local q = {}
  for i, n in ipairs(names) do q[i] = H.q(n) end
  local r = H.run(ctx, "dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\t${Version}\\n' -- " ..
                  table.concat(q, " ") .. " 2>/dev/null; exit 0")
  local v = {}
  for name, status, version in r.stdout:gmatch("([^\t\n]+)\t([^\t\n]*)\t([^\t\n]*)") do
    if status:sub(1, 2) == "ii" then v[name] = version end
  end
  return v
end

-- One apt-get per host for the operations that start within WINDOW of
-- the first: it collects them, runs them, every one waits for the answer.
local batches = {}
local function apt(ctx, item)
  local key = H.host_name(ctx)
  local b = batches[key]
  if not b then
    b = { items = {}, done = false }
    batches[key] = b
    b.items[1] = item
    cairn.sleep(WINDOW)
    batches[key] = nil -- later ones start the next batch
    -- a name alone (present, any version) is left out when dpkg has it
    -- installed: apt-get install would upgrade it (and reach the network)
    local wanted, fixed = {}, {}
    for _, it in ipairs(b.items) do
      if it:find("[=-]$") or it:find("=", 1, true) then fixed[#fixed + 1] = H.q(it) else wanted[#wanted + 1] = H.q(it) end
    end
    local cmd = "set -- " .. table.concat(fixed, " ") .. "; for p in " .. table.concat(wanted, " ") .. "; do " ..
      "dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\n' -- \"$p\" 2>/dev/null | grep -q '\tii' || set -- \"$@\" \"$p\"; " ..
      "done; [ $# -eq 0 ] || exec apt-get install -y -q --no-install-recommends -- \"$@\""
    local ok, err = pcall(H.run, ctx, cmd,
                          { env = { DEBIAN_FRONTEND = "noninteractive" }, what = "apt-get install " .. table.concat(b.items, " ") })
    b.err = not ok and err or nil
    b.done = true
  else
    b.items[#b.items + 1] = item
    while not b.done do cairn.sleep(0.01) end
  end
  if b.err then error(b.err, 0) end
end

local function converge(ctx, p)
  validate(p)
  if p.state == "absent" then
    apt(ctx, p.name .. "-")
  else
    apt(ctx, p.version and (p.name .. "=" .. p.version) or p.name)
  end
  local v = installed(ctx, { p.name })[p.name]
  if p.state == "present" and not v then
    error(("%s: %s is not installed after apt-get"):format(H.host_name(ctx), p.name), 0)
  end
  return { id = p.name, installed_version = v or cairn.null }
end

local function read_many(ctx, list)
  local names = {}
  for i, o in ipairs(list) do names[i] = o.id end
  local v = installed(ctx, names)
  local out = {}
  for _, o in ipairs(list) do
    local old = o.attrs or {}
    local a = { id = o.id, state = v[o.id] and "present" or "absent", installed_version = v[o.id] or cairn.null }
    if old.version ~= nil then a.version = v[o.id] or cairn.null end
    out[o.id] = a
  end
  return out
end

return {
  type = "host.package",
  description = "A Debian package on a host (apt, dpkg): present, absent, a version.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    state = { type = "string", default = "present", description = "present or absent." },
    version = { type = "string", optional = true, computed = true, description = "A version to hold it at." },
    installed_version = { type = "string", computed = true },
    id = { type = "string", computed = true },
  },
  create = converge,
  read = function(ctx, id, old) return read_many(ctx, { { id = id, attrs = old } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed) return converge(ctx, new) end,
  delete = function(ctx, id, old)
    if old.state == "present" then apt(ctx, old.name .. "-") end
  end,
}
