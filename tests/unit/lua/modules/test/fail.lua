return {
  type = "test.fail",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    error("boom: something broke")
  end,
  read = function(ctx, id)
    local t = nil
    return t.x
  end,
  update = function(ctx)
    error({ code = "InvalidVpcID.NotFound", message = "the vpc 'vpc-1' does not exist" })
  end,
  delete = function(ctx)
    return cairn.random.hex("lots")
  end,
  list = function(ctx)
    return { f = function() end }
  end,
  import = function(ctx)
    return { x = { list = { 1, { y = 0/0 } } } }
  end,
}
