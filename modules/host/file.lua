-- host.file: a file on a host, with its content (text, or binary as
-- base64), mode, owner and group. Written atomically: a temporary file
-- beside it, renamed over it. A refresh compares the SHA-256 the host
-- computes (sha256sum, one command for every file of the host) with the
-- one recorded; only a file that changed on the host is read back, so the
-- plan can show what changed. Without content nor content_base64 it
-- manages the mode and owner of a file that something else writes (made
-- empty if it is missing).
local H = require("host.common")

local MAX_SHOWN = 1024 * 1024 -- a drifted file larger than this is not read back

local function validate(p)
  H.check_path("path", p.path)
  if p.content ~= nil and p.content_base64 ~= nil then
    error("set content or content_base64, not both", 0)
  end
  return H.check_mode("mode", p.mode or "0644")
end

local function bytes_of(p)
  if p.content_base64 ~= nil then
    local b, err = cairn.base64.decode(p.content_base64)
    if not b then error("content_base64: " .. err, 0) end
    return b
  end
  return p.content
end

-- What the host has now, next to what was recorded (attributes read does
-- not return stay as recorded: content that did not change).
local function observe(ctx, id, old, st)
  if not st then return nil end
  local a = { id = id, path = id, mode = st.mode }
  if old.owner ~= nil then a.owner = st.owner end
  if old.group ~= nil then a.group = st.group end
  local managed = old.content ~= nil or old.content_base64 ~= nil
  if st.type ~= "file" then
    a.sha256 = cairn.null
    if managed then
      local what = ("(not a regular file: a %s is there)"):format(st.type == "dir" and "directory" or st.type)
      if old.content_base64 ~= nil then a.content_base64 = what else a.content = what end
    end
    return a
  end
  a.sha256 = st.sha256
  if not managed or st.sha256 == old.sha256 then
    return a
  end
  -- changed on the host: show what is there
  local now = st.size <= MAX_SHOWN and H.read(ctx, id, MAX_SHOWN) or nil
  if now == nil then
    local what = ("(%d bytes with sha256 %s, changed on the host)"):format(st.size, st.sha256)
    if old.content_base64 ~= nil then a.content_base64 = what else a.content = what end
  elseif old.content_base64 ~= nil then
    a.content_base64 = cairn.base64.encode(now)
  elseif H.is_text(now) then
    a.content = now
  else
    a.content = ("(%d bytes of binary content with sha256 %s)"):format(#now, st.sha256)
  end
  return a
end

local function write(ctx, p, mode)
  local bytes = bytes_of(p)
  if bytes == nil then
    -- attributes only
    local st = cairn.ssh.stat(p.path)
    if H.become(ctx) or st then
      if not st and H.become(ctx) then
        H.run(ctx, "[ -e " .. H.q(p.path) .. " ] || : > " .. H.q(p.path))
      end
      H.chattr(ctx, p.path, mode, p.owner, p.group)
    else
      H.write(ctx, p.path, "", mode, p.owner, p.group)
    end
    return { id = p.path, mode = mode }
  end
  H.write(ctx, p.path, bytes, mode, p.owner, p.group)
  return { id = p.path, mode = mode, sha256 = cairn.hash.sha256(bytes) }
end

local function read_many(ctx, list)
  local paths = {}
  for i, o in ipairs(list) do paths[i] = o.id end
  local st = H.stat_many(ctx, paths, true)
  local out = {}
  for _, o in ipairs(list) do
    out[o.id] = observe(ctx, o.id, o.attrs or {}, st[o.id])
  end
  return out
end

local function changed_has(changed, ...)
  for _, c in ipairs(changed or {}) do
    for _, n in ipairs({ ... }) do
      if c == n then return true end
    end
  end
  return false
end

return {
  type = "host.file",
  description = "A file on a host: content, mode, owner, group; written atomically.",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true, description = "The host (host: web[0])." },
    path = { type = "string", required = true, force_new = true, description = "Absolute path on the host." },
    content = { type = "string", description = "Text content (may come from file() or templatefile())." },
    content_base64 = { type = "string", description = "Binary content, base64 (filebase64())." },
    mode = { type = "string", default = "0644" },
    owner = { type = "string", optional = true, computed = true },
    group = { type = "string", optional = true, computed = true },
    sha256 = { type = "string", computed = true, description = "SHA-256 of the content on the host." },
    id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    return write(ctx, p, validate(p))
  end,

  read = function(ctx, id, old)
    return read_many(ctx, { { id = id, attrs = old } })[id]
  end,

  read_many = read_many,

  update = function(ctx, id, old, new, changed)
    local mode = validate(new)
    if changed_has(changed, "content", "content_base64") or (new.content == nil and new.content_base64 == nil) then
      return write(ctx, new, mode)
    end
    H.chattr(ctx, new.path, mode, changed_has(changed, "owner") and new.owner or nil,
             changed_has(changed, "group") and new.group or nil)
    return { mode = mode }
  end,

  delete = function(ctx, id, old)
    H.remove(ctx, id, false)
  end,

  import = function(ctx, id)
    H.check_path("id", id)
    local st = H.stat_many(ctx, { id }, true)[id]
    if not st or st.type ~= "file" then return nil end
    local now = H.read(ctx, id)
    local a = { id = id, path = id, mode = st.mode, owner = st.owner, group = st.group, sha256 = st.sha256 }
    if H.is_text(now) then a.content = now else a.content_base64 = cairn.base64.encode(now) end
    return a
  end,
}
