-- host.probe (test fixture): runs `echo $CAIRN_TEST_HOST` on its host, so
-- a test sees which machine the engine chose; text goes through stdin.
return {
  type = "host.probe",
  schema = {
    host = { type = "string", required = true, force_new = true },
    text = { type = "string", default = "" },
    ran_on = { type = "string", computed = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    local r = cairn.ssh.exec{ command = "cat; echo \" $CAIRN_TEST_HOST\"", stdin = p.text }
    return { id = ctx.address, ran_on = r.stdout:gsub("\n$", "") }
  end,
  read = function(ctx, id, old)
    local r = cairn.ssh.exec{ command = "echo \"$CAIRN_TEST_HOST\"" }
    return { ran_on = old.text .. " " .. r.stdout:gsub("\n$", "") }
  end,
  update = function(ctx, id, old, new)
    local r = cairn.ssh.exec{ command = "cat; echo \" $CAIRN_TEST_HOST\"", stdin = new.text }
    return { ran_on = r.stdout:gsub("\n$", "") }
  end,
  delete = function(ctx, id, old) end,
}
