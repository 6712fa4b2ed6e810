-- host.common: what the host.* modules share. Everything runs on the
-- resource's host through cairn.ssh (the engine chose the host): files over
-- SFTP when the host logs in as the user that must own them, and through
-- commands (`sudo -n`, one process each) when the host has `become`.
-- Reads are batched: one command answers for every object of a host.
local H = {}

-- 'text' quoted for the shell
function H.q(s)
  return "'" .. (tostring(s):gsub("'", "'\\''")) .. "'"
end

function H.become(ctx)
  return ctx.host ~= nil and ctx.host.become == true
end

function H.host_name(ctx)
  return ctx.host and ctx.host.name or "?"
end

-- the last n characters of s, without trailing blank lines
function H.tail(s, n)
  s = (s or ""):gsub("%s+$", "")
  if #s > n then
    s = "..." .. s:sub(-n)
  end
  return s
end

function H.check_path(name, p)
  if type(p) ~= "string" or p:sub(1, 1) ~= "/" then
    error(("%s must be an absolute path, not %s"):format(name, tostring(p)), 0)
  end
  if p:find("[\n\r]") then
    error(("%s must not contain line breaks"):format(name), 0)
  end
  return p
end

function H.check_mode(name, m)
  if m == nil then return nil end
  if type(m) ~= "string" or not m:match("^0?[0-7][0-7][0-7][0-7]?$") then
    error(("%s must be octal digits like \"0644\", not %s"):format(name, tostring(m)), 0)
  end
  if #m == 3 then m = "0" .. m end
  return m
end

-- Run a command on the host; a failure (exit status not 0) is an error
-- naming the host, the exit status, the command and the end of its stderr.
function H.run(ctx, cmd, opts)
  opts = opts or {}
  local env
  if opts.env then
    env = {}
    for k, v in pairs(opts.env) do env[k] = tostring(v) end
  end
  local r = cairn.ssh.exec{ command = cmd, stdin = opts.stdin, env = env, timeout = opts.timeout,
                            lock = opts.lock, max_output = opts.max_output }
  if r.exit_code ~= 0 and not opts.may_fail then
    local what = opts.what or cmd
    if #what > 200 then what = what:sub(1, 200) .. "..." end
    local why = H.tail(r.stderr, 600)
    if why == "" then why = H.tail(r.stdout, 300) end
    if r.signal then
      error(("%s: command killed by signal %s: %s: %s"):format(H.host_name(ctx), r.signal, what, why), 0)
    end
    error(("%s: command failed (exit %d): %s: %s"):format(H.host_name(ctx), r.exit_code, what, why), 0)
  end
  return r
end

-- Lines of text, without their "\n" (a last line without one counts).
function H.lines(text)
  local out, start = {}, 1
  if text == nil then return out end
  while start <= #text do
    local nl = text:find("\n", start, true)
    if not nl then
      out[#out + 1] = text:sub(start)
      break
    end
    out[#out + 1] = text:sub(start, nl - 1)
    start = nl + 1
  end
  return out
end

-- Is s text that can be kept in the state as it is (UTF-8)?
function H.is_text(s)
  return utf8.len(s) ~= nil
end

-- The state of many paths in one command: path -> {type, mode, owner,
-- group, uid, gid, size, sha256 (with_sha, regular files)}; a missing
-- path is absent from the table. A path that cannot be looked at
-- (permission denied) is an error.
function H.stat_many(ctx, paths, with_sha)
  local out = {}
  if #paths == 0 then return out end
  local args = {}
  for i, p in ipairs(paths) do args[i] = H.q(p) end
  local list = table.concat(args, " ")
  local cmd = "stat -c '%F|%a|%U|%G|%u|%g|%s|%n' -- " .. list
  if with_sha then
    cmd = cmd .. "; echo @@sha; sha256sum -- " .. list .. " 2>/dev/null"
  end
  local r = cairn.ssh.exec{ command = cmd .. "; exit 0", max_output = 16 * 1024 * 1024 }
  local part = "stat"
  for line in r.stdout:gmatch("[^\n]+") do
    if line == "@@sha" then
      part = "sha"
    elseif part == "stat" then
      local f, mode, owner, group, uid, gid, size, path =
        line:match("^([^|]*)|(%d+)|([^|]*)|([^|]*)|(%d+)|(%d+)|(%d+)|(.*)$")
      if f then
        local t = (f == "regular file" or f == "regular empty file") and "file" or
                  f == "directory" and "dir" or f == "symbolic link" and "link" or "other"
        out[path] = { type = t, mode = ("%04o"):format(tonumber(mode, 8)), owner = owner, group = group,
                      uid = tonumber(uid), gid = tonumber(gid), size = tonumber(size) }
      end
    else
      local sum, path = line:match("^(%x+)  (.*)$")
      if sum and out[path] then out[path].sha256 = sum end
    end
  end
  for _, p in ipairs(paths) do
    if not out[p] and r.stderr:find("Permission denied", 1, true) then
      error(("%s: cannot look at %s: %s"):format(H.host_name(ctx), p, H.tail(r.stderr, 400)), 0)
    end
  end
  return out
end

-- uid and gid for owner and group names (numbers pass as they are),
-- asked of the host once per run.
local ids = {}
function H.ids(ctx, owner, group, path)
  if owner == nil and group == nil then return nil, nil end
  local key = H.host_name(ctx) .. "\0" .. tostring(owner) .. "\0" .. tostring(group)
  if not ids[key] then
    local uid, gid
    if owner and owner:match("^%d+$") then uid = tonumber(owner) end
    if group and group:match("^%d+$") then gid = tonumber(group) end
    local cmd = {}
    if owner and not uid then cmd[#cmd + 1] = "id -u -- " .. H.q(owner) else cmd[#cmd + 1] = "echo -" end
    if group and not gid then cmd[#cmd + 1] = "getent group -- " .. H.q(group) .. " | cut -d: -f3" else cmd[#cmd + 1] = "echo -" end
    local r = H.run(ctx, table.concat(cmd, "; "), { may_fail = true })
    local a, b = r.stdout:match("^([^\n]*)\n([^\n]*)")
    uid = uid or tonumber(a or "")
    gid = gid or tonumber(b or "")
    if owner and not uid then error(("%s: no user %s on the host"):format(H.host_name(ctx), owner), 0) end
    if group and not gid then error(("%s: no group %s on the host"):format(H.host_name(ctx), group), 0) end
    ids[key] = { uid, gid }
  end
  local uid, gid = ids[key][1], ids[key][2]
  if (uid == nil or gid == nil) and path then
    -- SFTP sets both: keep what the file has for the other
    local st = cairn.ssh.stat(path)
    uid = uid or (st and st.uid) or 0
    gid = gid or (st and st.gid) or 0
  end
  return uid, gid
end

-- Write content to path atomically (a temporary file beside it, renamed
-- over it), with mode and owner.
function H.write(ctx, path, content, mode, owner, group)
  if H.become(ctx) then
    local own = ""
    if owner or group then
      own = " && chown -- " .. H.q((owner or "") .. (group and (":" .. group) or "")) .. " \"$t\""
    end
    local d, base = path:match("^(.*)/([^/]*)$")
    if d == "" then d = "/" end
    H.run(ctx, "t=$(mktemp -- " .. H.q(d .. "/." .. base .. ".cairn-XXXXXX") .. ") || exit 1; " ..
      "trap 'rm -f -- \"$t\"' EXIT; cat > \"$t\" && chmod " .. (mode or "0644") .. " \"$t\"" .. own ..
      " && mv -f -- \"$t\" " .. H.q(path), { stdin = content, what = "write " .. path })
    return
  end
  local uid, gid = H.ids(ctx, owner, group, path)
  cairn.ssh.write(path, content, { mode = mode or "0644", uid = uid, gid = gid })
end

-- Set mode, owner and group of an existing path.
function H.chattr(ctx, path, mode, owner, group)
  if H.become(ctx) then
    local cmd = {}
    if mode then cmd[#cmd + 1] = "chmod " .. mode .. " -- " .. H.q(path) end
    if owner or group then
      cmd[#cmd + 1] = "chown -- " .. H.q((owner or "") .. (group and (":" .. group) or "")) .. " " .. H.q(path)
    end
    if #cmd > 0 then H.run(ctx, table.concat(cmd, " && ")) end
    return
  end
  local uid, gid = H.ids(ctx, owner, group, path)
  cairn.ssh.setstat(path, { mode = mode, uid = uid, gid = gid })
end

function H.read(ctx, path, max)
  if H.become(ctx) then
    local r = H.run(ctx, "if [ -e " .. H.q(path) .. " ]; then cat -- " .. H.q(path) .. "; else exit 3; fi",
                    { may_fail = true, max_output = max })
    if r.exit_code == 3 then return nil end
    if r.exit_code ~= 0 then error(("%s: cannot read %s: %s"):format(H.host_name(ctx), path, H.tail(r.stderr, 300)), 0) end
    return r.stdout
  end
  return cairn.ssh.read(path, max)
end

function H.remove(ctx, path, dir)
  if H.become(ctx) then
    H.run(ctx, (dir and "rmdir -- " or "rm -f -- ") .. H.q(path) .. (dir and " 2>/dev/null || [ ! -e " .. H.q(path) .. " ]" or ""),
          { what = "remove " .. path })
    return
  end
  cairn.ssh.remove(path, { dir = dir })
end

-- mkdir -p, the last directory with mode (others 0755).
function H.mkdir_p(ctx, path, mode)
  if H.become(ctx) then
    H.run(ctx, "mkdir -p -- " .. H.q(path) .. " && chmod " .. (mode or "0755") .. " -- " .. H.q(path))
    return
  end
  local st = cairn.ssh.stat(path, { follow = true })
  if st then
    if st.type ~= "dir" then error(("%s: %s exists and is not a directory"):format(H.host_name(ctx), path), 0) end
    return
  end
  local parent = path:match("^(.*)/[^/]+$")
  if parent and parent ~= "" then H.mkdir_p(ctx, parent, "0755") end
  local ok, err = pcall(cairn.ssh.mkdir, path, mode or "0755")
  if not ok then
    -- made meanwhile by another task (a sibling's parent): fine
    local st2 = cairn.ssh.stat(path, { follow = true })
    if not (st2 and st2.type == "dir") then error(err, 0) end
  end
end

-- One at a time per key on this run (read-modify-write of one file).
local busy = {}
function H.exclusive(key, fn)
  while busy[key] do cairn.sleep(0.005) end
  busy[key] = true
  local ok, res = pcall(fn)
  busy[key] = nil
  if not ok then error(res, 0) end
  return res
end

-- ids of a read_many list, for the module's answer
function H.by_id(list)
  local m = {}
  for _, o in ipairs(list) do m[o.id] = o end
  return m
end

return H
