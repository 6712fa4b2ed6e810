-- host.line: one line kept in a file on a host, as Ansible's lineinfile.
-- With a regexp (POSIX extended), the last line that matches is replaced
-- by `line`; when none matches and `line` is not already there, it is
-- appended. Without a regexp, the line itself is looked for. The file is
-- made when `create` is true (else a missing file is an error); state
-- "absent" removes every matching line instead. The file is rewritten
-- atomically, keeping its mode and owner; resources editing the same file
-- take turns. Destroying a present line removes it.
--
-- The plan shows the matched line changing ("line = old -> new"), a line
-- removed on the host as drift (to be added again), and "state = present
-- -> absent" for a line to remove.
local H = require("host.common")

local function validate(p)
  H.check_path("path", p.path)
  if type(p.line) ~= "string" or p.line:find("[\n\r]") then
    error("line must be one line of text", 0)
  end
  if p.regexp ~= nil then
    local ok, err = cairn.regex.check(p.regexp)
    if not ok then error(err, 0) end
  end
  if p.state ~= "present" and p.state ~= "absent" then
    error(("state must be present or absent, not %s"):format(tostring(p.state)), 0)
  end
end

-- the numbers of the lines that match (regexp, else the line itself)
local function matching(lines, text, p)
  local found = {}
  if p.regexp ~= nil then
    found = cairn.regex.lines(p.regexp, text)
  else
    for i, l in ipairs(lines) do
      if l == p.line then found[#found + 1] = i end
    end
  end
  return found
end

local function has_line(lines, line)
  for _, l in ipairs(lines) do
    if l == line then return true end
  end
  return false
end

-- What the file says about p: attributes, or nil when the line is missing.
local function observe(text, p, id)
  if p.state == "absent" then
    local lines = H.lines(text)
    return { id = id, state = (text and #matching(lines, text or "", p) > 0) and "present" or "absent" }
  end
  if text == nil then return nil end
  local lines = H.lines(text)
  local m = matching(lines, text, p)
  if #m > 0 then return { id = id, state = "present", line = lines[m[#m]] } end
  if p.regexp ~= nil and has_line(lines, p.line) then return { id = id, state = "present", line = p.line } end
  return nil
end

local function join(lines)
  if #lines == 0 then return "" end
  return table.concat(lines, "\n") .. "\n"
end

-- the new text of the file for p (present: replace or append; absent: drop)
local function edit(text, p, remove)
  local lines = H.lines(text or "")
  local m = matching(lines, text or "", p)
  if p.state == "absent" or remove then
    if #m == 0 then return text end
    local keep, drop = {}, {}
    for _, i in ipairs(m) do drop[i] = true end
    for i, l in ipairs(lines) do
      if not drop[i] then keep[#keep + 1] = l end
    end
    return join(keep)
  end
  if #m > 0 then
    lines[m[#m]] = p.line
  elseif not has_line(lines, p.line) then
    lines[#lines + 1] = p.line
  end
  return join(lines)
end

local function apply(ctx, p, remove)
  local key = H.host_name(ctx) .. "\0" .. p.path
  return H.exclusive(key, function()
    local st = not H.become(ctx) and cairn.ssh.stat(p.path, { follow = true }) or nil
    local text = H.read(ctx, p.path)
    if text == nil and (p.state == "absent" or remove) then return end
    if text == nil and not p.create then
      error(("%s: cannot keep a line in %s: it does not exist (set create: true to make it)")
        :format(H.host_name(ctx), p.path), 0)
    end
    local new = edit(text, p, remove)
    if new == text then return end
    local mode = (st and st.mode) or H.check_mode("mode", p.mode or "0644")
    if H.become(ctx) then
      -- keep mode and owner: write through a copy of the file's attributes
      H.run(ctx, "p=" .. H.q(p.path) .. "; t=$(mktemp -- \"$p.cairn-XXXXXX\") || exit 1; trap 'rm -f -- \"$t\"' EXIT; " ..
        "cat > \"$t\" && { [ -e \"$p\" ] && chmod --reference=\"$p\" \"$t\" && chown --reference=\"$p\" \"$t\" || chmod " ..
        mode .. " \"$t\"; } && mv -f -- \"$t\" \"$p\"", { stdin = new, what = "edit " .. p.path })
    else
      cairn.ssh.write(p.path, new, { mode = mode, uid = st and st.uid, gid = st and st.gid })
    end
  end)
end

local function id_of(p)
  return p.path .. ":" .. (p.regexp or p.line)
end

local function read_many(ctx, list)
  -- one read per file, whatever the number of lines kept in it
  local texts, out = {}, {}
  for _, o in ipairs(list) do
    local a = o.attrs or {}
    if texts[a.path] == nil then texts[a.path] = H.read(ctx, a.path) or false end
    out[o.id] = observe(texts[a.path] or nil, a, o.id)
  end
  return out
end

return {
  type = "host.line",
  description = "One line kept in a file on a host (matched by a regexp: replaced, else appended).",
  read_many_batch = 500,
  schema = {
    host = { type = "string", required = true, force_new = true },
    path = { type = "string", required = true, force_new = true },
    line = { type = "string", required = true },
    regexp = { type = "string", force_new = true, description = "POSIX extended regexp of the line to replace." },
    state = { type = "string", default = "present", description = "present or absent." },
    create = { type = "bool", default = false, description = "Make the file when it is missing." },
    mode = { type = "string", default = "0644", description = "Mode of a file it makes." },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    validate(p)
    apply(ctx, p)
    return { id = id_of(p) }
  end,
  read = function(ctx, id, old) return read_many(ctx, { { id = id, attrs = old } })[id] end,
  read_many = read_many,
  update = function(ctx, id, old, new, changed)
    validate(new)
    apply(ctx, new)
    return { id = id_of(new) }
  end,
  delete = function(ctx, id, old)
    if old.state == "present" then apply(ctx, old, true) end
  end,
}
