-- host.command: a command run on a host, with the guards of Ansible's
-- command module: `creates` (it runs while that path does not exist),
-- `unless` (while that command fails), `only_if` (while that command
-- succeeds). A refresh asks the guards (on the host), so the plan says
-- honestly whether the command will run ("will run (...)"); a command
-- with no guard runs at every apply, and every plan says so. `triggers`
-- (a map) make it run again when they change, and so does a change in
-- this apply of a resource it names in `rerun_on`. A read_only command
-- changes nothing: it runs at every refresh and apply, never shows in a
-- plan, and its stdout is an attribute others can use. A command that
-- fails (exit status not 0) fails its resource with the status and the
-- end of its stderr. Destroying it runs nothing.
local H = require("host.common")

local STDOUT_KEPT = 64 * 1024

local function validate(p)
  if type(p.command) ~= "string" or p.command == "" then error("command must be a command line", 0) end
  if p.cwd ~= nil then H.check_path("cwd", p.cwd) end
end

local function in_cwd(p, cmd)
  if p.cwd then return "cd -- " .. H.q(p.cwd) .. " && { " .. cmd .. "\n}" end
  return cmd
end

local function abs(p, path)
  if path:sub(1, 1) == "/" or not p.cwd then return path end
  return p.cwd .. "/" .. path
end

-- Why the command must run now, or nil when its guards say it need not.
local function due(ctx, p)
  if p.read_only then return nil end
  if p.creates == nil and p.unless == nil and p.only_if == nil then
    return "it has no guard (creates, unless, only_if): it runs at every apply"
  end
  if p.creates ~= nil then
    local path = abs(p, p.creates)
    local exists
    if H.become(ctx) then
      exists = H.run(ctx, "[ -e " .. H.q(path) .. " ]", { may_fail = true }).exit_code == 0
    else
      exists = cairn.ssh.stat(path) ~= nil
    end
    if exists then return nil end
    if p.unless == nil and p.only_if == nil then return ("%s does not exist"):format(p.creates) end
  end
  if p.unless ~= nil then
    local r = H.run(ctx, in_cwd(p, p.unless), { env = p.env, may_fail = true })
    if r.exit_code == 0 then return nil end
    if p.only_if == nil then return ("its unless guard failed (exit %d): %s"):format(r.exit_code, p.unless) end
  end
  if p.only_if ~= nil then
    local r = H.run(ctx, in_cwd(p, p.only_if), { env = p.env, may_fail = true })
    if r.exit_code ~= 0 then return nil end
    return ("its only_if guard succeeded: %s"):format(p.only_if)
  end
  return ("%s does not exist"):format(p.creates)
end

local function kept(out)
  if #out <= STDOUT_KEPT and H.is_text(out) then return out end
  return ("(%d bytes of output, not kept)"):format(#out)
end

local function run(ctx, p)
  local r = H.run(ctx, in_cwd(p, p.command), { env = p.env, timeout = p.timeout, what = p.command })
  return { exit_code = r.exit_code, stdout = kept(r.stdout) }
end

local function apply(ctx, p, forced)
  validate(p)
  local a = { id = ctx.address }
  if forced or p.read_only or due(ctx, p) then
    local r = run(ctx, p)
    a.exit_code, a.stdout = r.exit_code, r.stdout
  end
  return a
end

local function changed_has(changed, name)
  for _, c in ipairs(changed or {}) do
    if c == name then return true end
  end
  return false
end

return {
  type = "host.command",
  description = "A command run on a host, with creates / unless / only_if guards.",
  schema = {
    host = { type = "string", required = true, force_new = true },
    command = { type = "string", required = true, description = "Run by the login shell (sh -c with become)." },
    cwd = { type = "string", description = "Directory it runs in." },
    env = { type = "map", description = "Environment variables." },
    creates = { type = "string", description = "Runs only while this path (relative to cwd) does not exist." },
    unless = { type = "string", description = "Runs only while this command fails." },
    only_if = { type = "string", description = "Runs only while this command succeeds." },
    triggers = { type = "map", description = "Runs again when any of these values changes." },
    rerun_on = { type = "list", watch = true, description = "Runs again when one of these resources (names) changes in an apply." },
    read_only = { type = "bool", default = false, description = "Changes nothing: runs at every refresh; stdout for others." },
    timeout = { type = "number", description = "Seconds (default: the host's command_timeout)." },
    exit_code = { type = "number", computed = true },
    stdout = { type = "string", computed = true, description = "Its output (up to 64 KiB of text) when it last ran." },
    id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    return apply(ctx, p, false)
  end,

  read = function(ctx, id, old)
    if old.read_only then
      local r = run(ctx, old)
      return { stdout = r.stdout, exit_code = r.exit_code }
    end
    local why = due(ctx, old)
    if why then return { _run = why } end
    return {}
  end,

  update = function(ctx, id, old, new, changed)
    return apply(ctx, new, changed_has(changed, "triggers") or changed_has(changed, "rerun_on"))
  end,

  delete = function(ctx, id, old)
  end,
}
