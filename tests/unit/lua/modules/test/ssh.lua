-- test.ssh: cairn.ssh's requests and answers, against test_lua.c's fake host
return {
  type = "test.ssh",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local r = cairn.ssh.exec{ command = "uname", stdin = "\0bin\255", env = { A = "1" }, timeout = 5, lock = "k" }
    local st = cairn.ssh.stat("/etc/x")
    local missing = cairn.ssh.stat("/missing")
    local content = cairn.ssh.read("/bin/file")
    local ok = cairn.ssh.write("/etc/y", "\1\2\3", { mode = "0600", uid = 0, gid = 0 })
    return {
      id = "x", exit = r.exit_code, stdout_ok = r.stdout == "\0bin\255", stderr = r.stderr, stdout_b64 = r.stdout_b64 or "gone",
      mode = st.mode, missing = missing == nil, len = #content, byte = content:byte(1),
      wrote = ok, link = cairn.ssh.readlink("/l"), removed = cairn.ssh.remove("/gone"),
    }
  end,
  read = function(ctx, id)
    return { denied = cairn.ssh.read("/denied") }
  end,
  update = function(ctx, id, old, new)
    return cairn.ssh.exec{ command = "x", stdinn = "typo" }
  end,
  delete = function(ctx, id)
    cairn.ssh.exec{ stdin = "no command" }
  end,
}
