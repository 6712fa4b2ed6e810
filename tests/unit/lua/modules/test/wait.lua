-- an op that sleeps, calls HTTP, and polls
return {
  type = "test.wait",
  schema = { id = { type = "string", computed = true }, url = { type = "string" } },
  create = function(ctx, p)
    cairn.log.info("creating %s in %s", ctx.address, ctx.env)
    cairn.sleep(1.5)
    local resp = cairn.http.request{
      method = "POST", url = p.url, headers = { ["content-type"] = "application/x-www-form-urlencoded" },
      body = "Action=CreateVpc", sigv4 = "aws:amz:us-east-1:ec2", service = "ec2",
      action = "CreateVpc", timeout = 30,
    }
    local tries = 0
    local state = cairn.wait.poll(function()
      tries = tries + 1
      if tries >= 3 then return "available" end
      return nil, "pending"
    end, { timeout = 60, interval = 2, what = "the VPC" })
    return { id = "vpc-" .. resp.status, body = resp.body, state = state, tries = tries,
             hdr = resp.headers["x-amzn-requestid"], token = ctx.token,
             provider_region = ctx.provider.region, has_log = type(ctx.log.info) == "function" }
  end,
  read = function(ctx, id)
    -- times out: never true
    local v = cairn.wait["until"](function() return false end, { timeout = 5, interval = 1, what = "nothing" })
    return v
  end,
  update = function(ctx)
    -- a yield from inside pcall works too
    local ok, r = pcall(cairn.http.request, { url = "http://127.0.0.1/x" })
    return { ok = ok, status = r.status }
  end,
  delete = function(ctx)
    return cairn.http.request{ url = "ftp://nope" }
  end,
  list = function(ctx)
    return cairn.http.request{ url = "http://x/", bogus = 1 }
  end,
}
