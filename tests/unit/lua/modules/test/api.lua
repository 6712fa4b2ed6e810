-- exercises the small cairn API functions
return {
  type = "test.api",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local r = {}
    r.sha = cairn.hash.sha256("abc")
    r.hmac = cairn.hash.hmac_sha256("key", "The quick brown fox jumps over the lazy dog")
    r.b64 = cairn.base64.encode("hello, world")
    r.b64_back = cairn.base64.decode(r.b64)
    local bad, err = cairn.base64.decode("@@@")
    r.b64_err = err
    r.hex_len = #cairn.random.hex(5)
    r.bytes_len = #cairn.random.bytes(7)
    local lo, hi = 100, 0
    for _ = 1, 2000 do
      local v = cairn.random.int(1, 6)
      if v < lo then lo = v end
      if v > hi then hi = v end
    end
    r.int_lo, r.int_hi = lo, hi
    r.now_ok = cairn.time.now() > 1.6e9
    r.url = cairn.url.encode("a b/\u{fc}~")
    r.query = cairn.url.query({ Action = "DescribeVpcs", ["VpcId.1"] = "vpc-1", Version = "2016-11-15" })
    r.url_back = cairn.url.decode("a%20b+c")
    r.url_bad = cairn.url.decode("%2") == nil
    local ok1, e1 = pcall(require, "lib.broken")
    local ok2, e2 = pcall(require, "lib.broken")
    r.broken1, r.broken2 = tostring(e1), tostring(e2)
    local pages = { { "a", "b" }, { "c" } }
    local all = cairn.paginate(function(token)
      local i = token or 1
      return pages[i], (i < #pages) and (i + 1) or nil
    end)
    r.paged = table.concat(all, ",")
    print("printed", 42)
    cairn.log.warn("careful: %d", 7)
    ctx.log.debug("via ctx")
    r.version = cairn.version
    local ok3, e3 = pcall(cairn.sleep, -1)
    r.sleep_err = tostring(e3)
    return r
  end,
  read = function() end,
  delete = function() end,
}
