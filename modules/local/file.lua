-- local.file: a file on the machine running cairn, like Terraform's
-- local_file. The id is the path as written in the stack; relative paths
-- resolve against ctx.base_dir (the stack directory). Writes are atomic
-- (temporary file + rename). read returns what is on disk now, so an edit
-- made outside cairn shows up as drift, and a deleted file as gone.
local fs = cairn.fs

local function resolve(ctx, path)
  if path:sub(1, 1) == "/" or not ctx.base_dir or ctx.base_dir == "" then
    return path
  end
  return ctx.base_dir .. "/" .. path
end

local function check_mode(name, v)
  if type(v) ~= "string" or not v:match("^[0-7][0-7][0-7][0-7]$") then
    error(("%s must be four octal digits like \"0644\", not %s"):format(name, tostring(v)))
  end
  return v
end

local function attrs(path, content, mode, dir_mode)
  return {
    id = path,
    path = path,
    content = content,
    file_permission = mode,
    directory_permission = dir_mode,
    content_sha256 = cairn.hash.sha256(content),
    size = #content,
  }
end

local function write(ctx, p)
  local content = p.content or ""
  local mode = check_mode("file_permission", p.file_permission or "0644")
  local dir_mode = check_mode("directory_permission", p.directory_permission or "0755")
  local full = resolve(ctx, p.path)
  local dir = full:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and not fs.exists(dir) then
    fs.mkdir_p(dir, dir_mode)
  end
  fs.write(full, content, mode)
  return attrs(p.path, content, mode, dir_mode)
end

local function read(ctx, id, old)
  local full = resolve(ctx, id)
  local content = fs.read(full)
  if content == nil then
    return nil
  end
  local st = fs.stat(full)
  return attrs(id, content, st and st.mode or "0644",
               old and old.directory_permission or "0755")
end

return {
  type = "local.file",
  description = "A local file with the given content and permissions.",
  schema = {
    path = { type = "string", required = true, force_new = true, local_path = true, description = "Where the file goes; relative to the stack directory unless absolute." },
    content = { type = "string", default = "", description = "What the file contains." },
    file_permission = { type = "string", default = "0644", pattern = "[0-7]{4}", description = "Octal mode of the file." },
    directory_permission = { type = "string", default = "0755", pattern = "[0-7]{4}", description = "Octal mode of directories created for it." },
    id = { type = "string", computed = true },
    content_sha256 = { type = "string", computed = true },
    size = { type = "number", computed = true },
  },

  create = function(ctx, p)
    return write(ctx, p)
  end,

  read = read,

  update = function(ctx, id, old, new, changed)
    return write(ctx, new)
  end,

  delete = function(ctx, id, old)
    fs.remove(resolve(ctx, id))
  end,

  import = function(ctx, id)
    return read(ctx, id, nil)
  end,
}
