-- host.directory: a directory on a host (and its parents, as mkdir -p),
-- with mode, owner and group. Destroying it removes it only when it is
-- empty: a directory holding files cairn does not manage is left, and the
-- error says so.
local H = require("host.common")

local function read_many(ctx, list)
  local paths = {}
  for i, o in ipairs(list) do paths[i] = o.id end
  local st = H.stat_many(ctx, paths, false)
  local out = {}
  for _, o in ipairs(list) do
    local s, old = st[o.id], o.attrs or {}
    if s then
      local a = { id = o.id, path = o.id, mode = s.mode }
      if s.type ~= "dir" then a.mode = ("(not a directory: a %s is there)"):format(s.type) end
      if old.owner ~= nil then a.owner = s.owner end
      if old.group ~= nil then a.group = s.group end
      out[o.id] = a
    end
  end
  return out
end

local function make(ctx, p)
  H.check_path("path", p.path)
  local mode = H.check_mode("mode", p.mode or "0755")
  H.mkdir_p(ctx, p.path, mode)
  H.chattr(ctx, p.path, mode, p.owner, p.group)
  return { id = p.path, mode = mode }
end

return {
  type = "host.directory",
  description = "A directory on a host (parents made as needed), with mode, owner, group.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    path = { type = "string", required = true, force_new = true },
    mode = { type = "string", default = "0755" },
    owner = { type = "string", optional = true, computed = true },
    group = { type = "string", optional = true, computed = true },
    id = { type = "string", computed = true },
  },
  create = make,
  read = function(ctx, id, old) return read_many(ctx, { { id = id, attrs = old } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed) return make(ctx, new) end,
  delete = function(ctx, id, old)
    local ok = pcall(H.remove, ctx, id, true)
    if not ok then
      error(("%s: cannot remove directory %s: it is not empty, or cannot be removed (cairn removes "
        .. "only empty directories, after the resources in them)"):format(H.host_name(ctx), id), 0)
    end
  end,
  import = function(ctx, id)
    H.check_path("id", id)
    local s = H.stat_many(ctx, { id }, false)[id]
    if not s or s.type ~= "dir" then return nil end
    return { id = id, path = id, mode = s.mode, owner = s.owner, group = s.group }
  end,
}
