-- ssh.host: a machine reached over SSH, one entry of the stack's hosts:
-- section (the section gives every entry this type). Its properties say
-- how to reach it; the engine connects with them (provisioner/ssh), and
-- every resource of a host.* type that names it runs on it. Creating it
-- connects once, checks the host key (known_hosts, or accepted with
-- --accept-new-host-keys) and records the key, so that a later change is
-- caught even without a known_hosts file. Deleting it forgets it; nothing
-- on the machine changes.
local function observe(ctx)
  local k = cairn.ssh.hostkey()
  return {
    id = ctx.address,
    name = ctx.address,
    host_key = k.key_type .. " " .. k.key,
    host_key_fingerprint = k.fingerprint,
  }
end

return {
  type = "ssh.host",
  description = "A machine reached over SSH (an entry of hosts:).",
  remote = false, -- nothing to recover: it is made by no one
  schema = {
    address = { type = "string", required = true, description = "Name or IP address." },
    port = { type = "number", default = 22 },
    user = { type = "string", description = "Login user; default: the local user." },
    key_file = { type = "string", description = "Private key file (relative to the stack); default: the agent, then ~/.ssh/id_ed25519, id_ecdsa." },
    agent = { type = "bool", description = "Log in with ssh-agent ($SSH_AUTH_SOCK)." },
    bastion = { type = "string", description = "Another host to connect through (its name: bastion: jump)." },
    become = { type = "bool", default = false, description = "Run commands with sudo -n." },
    become_user = { type = "string", default = "root" },
    known_hosts = { type = "string", description = "known_hosts file; default ~/.ssh/known_hosts; \"\" for none." },
    connect_timeout = { type = "number", description = "Seconds to connect and log in (default 15)." },
    command_timeout = { type = "number", description = "Seconds a command may run (default 600)." },
    id = { type = "string", computed = true },
    name = { type = "string", computed = true, description = "The host's address in the stack (web[0])." },
    host_key = { type = "string", computed = true, description = "The key accepted for it (type and base64)." },
    host_key_fingerprint = { type = "string", computed = true },
  },

  create = function(ctx, p)
    return observe(ctx)
  end,

  read = function(ctx, id, old)
    local now = observe(ctx)
    if old.host_key and now.host_key ~= old.host_key then
      -- the session accepted it: known_hosts holds the new key (a key the
      -- state recorded and known_hosts does not hold is refused)
      now._run = ("its key changed to %s, which known_hosts holds: the new key will be recorded")
        :format(now.host_key_fingerprint)
    end
    return now
  end,

  update = function(ctx, id, old, new, changed)
    return observe(ctx)
  end,

  delete = function(ctx, id, old)
  end,
}
