return {
  type = "test.limits",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    while true do end
  end,
  update = function(ctx)
    -- the limit cannot be caught
    while true do pcall(function() while true do end end) end
  end,
  read = function(ctx, id)
    local t = {}
    local i = 0
    while true do i = i + 1; t[i] = ("x"):rep(64) .. i end
  end,
  delete = function(ctx) end,
  -- the limit reached while expat calls back (the decoder unwinds)
  import = function(ctx, id)
    local text = "<r>" .. ("<i><a>x</a><b>y</b></i>"):rep(100000) .. "</r>"
    cairn.log.info("xml text built")
    local doc = cairn.xml.decode(text)
    return { n = #doc.i }
  end,
  list = function(ctx)
    local t = {}
    for i = 1, 1000 do t[i] = i end
    return { n = #t }
  end,
}
