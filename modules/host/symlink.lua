-- host.symlink: a symbolic link on a host, path -> target. A link that
-- points elsewhere (or another kind of file in its place) shows in the
-- plan as a change of target; applying it replaces what is there.
local H = require("host.common")

local function observe(ctx, id)
  local st = cairn.ssh.stat(id)
  if not st then return nil end
  if st.type ~= "link" then
    return { id = id, path = id, target = ("(not a symbolic link: a %s is there)"):format(st.type == "dir" and "directory" or st.type) }
  end
  return { id = id, path = id, target = cairn.ssh.readlink(id) }
end

local function link(ctx, p, replace)
  H.check_path("path", p.path)
  if type(p.target) ~= "string" or p.target == "" or p.target:find("[\n\r]") then
    error("target must be a path on the host", 0)
  end
  if H.become(ctx) then
    H.run(ctx, "ln -sfn -- " .. H.q(p.target) .. " " .. H.q(p.path))
  else
    if replace then
      local st = cairn.ssh.stat(p.path)
      if st and st.type == "dir" then
        error(("%s: %s is a directory; cairn does not replace a directory with a link"):format(H.host_name(ctx), p.path), 0)
      end
      if st then cairn.ssh.remove(p.path) end
    end
    cairn.ssh.symlink(p.target, p.path)
  end
  return { id = p.path }
end

return {
  type = "host.symlink",
  description = "A symbolic link on a host.",
  schema = {
    host = { type = "string", required = true, force_new = true },
    path = { type = "string", required = true, force_new = true },
    target = { type = "string", required = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p) return link(ctx, p, true) end,
  read = function(ctx, id, old)
    if H.become(ctx) then
      local r = H.run(ctx, "if [ -L " .. H.q(id) .. " ]; then readlink -- " .. H.q(id) ..
        "; elif [ -e " .. H.q(id) .. " ]; then echo @@other; else echo @@missing; fi")
      local out = r.stdout:gsub("\n$", "")
      if out == "@@missing" then return nil end
      if out == "@@other" then return { id = id, path = id, target = "(not a symbolic link)" } end
      return { id = id, path = id, target = out }
    end
    return observe(ctx, id)
  end,
  update = function(ctx, id, old, new, changed) return link(ctx, new, true) end,
  delete = function(ctx, id, old)
    local st = not H.become(ctx) and cairn.ssh.stat(id) or nil
    if st and st.type ~= "link" then return end -- not ours any more
    H.remove(ctx, id, false)
  end,
  import = function(ctx, id)
    H.check_path("id", id)
    local a = observe(ctx, id)
    if not a or a.target:sub(1, 1) == "(" then return nil end
    return a
  end,
}
