-- cairn.http.request_all: several requests in one wait
return {
  type = "test.all",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local rs = cairn.http.request_all {
      { url = "http://h/1" },
      { method = "POST", url = "http://h/2", body = "x=1", service = "ec2", action = "DescribeVpcs" },
      { url = "http://h/3", timeout = 5 },
    }
    return { n = #rs, b1 = rs[1].body, b2 = rs[2].body, b3 = rs[3].body, s2 = rs[2].status }
  end,
  read = function(ctx, id)
    return cairn.http.request_all {}
  end,
  update = function(ctx)
    return cairn.http.request_all { { url = "http://h/1" }, { url = "ftp://h/2" } }
  end,
  delete = function(ctx)
    local t = {}
    for i = 1, 65 do t[i] = { url = "http://h/" .. i } end
    return cairn.http.request_all(t)
  end,
  list = function(ctx)
    return cairn.http.request_all { { url = "http://h/1" }, "nope" }
  end,
}
