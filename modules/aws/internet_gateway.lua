-- aws.internet_gateway: an EC2 internet gateway, attached to vpc_id (when
-- set). Changing vpc_id detaches and attaches in place. CreateInternetGateway
-- takes no ClientToken: tagged cairn:token, found again by that tag.
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

local function attached_vpc(it)
  for _, a in ipairs(aws.list(it.attachmentSet, "item")) do
    if aws.str(a.vpcId) and a.state ~= "detached" then return a.vpcId end
  end
  return nil
end

local function attrs_of(ctx, it)
  local _, user = aws.decode_tags(it.tagSet)
  return {
    id = it.internetGatewayId,
    arn = ("arn:aws:ec2:%s:%s:internet-gateway/%s"):format(ctx.provider.region, it.ownerId or "", it.internetGatewayId),
    owner_id = aws.str(it.ownerId),
    vpc_id = attached_vpc(it) or cairn.null,
    tags = user,
  }
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidInternetGatewayID.NotFound", "InvalidInternetGatewayId.Malformed" },
    aws.ec2_describe, ctx, "DescribeInternetGateways", "internetGatewaySet", { ["InternetGatewayId.1"] = id })
  return items and items[1] or nil
end

local function read(ctx, id)
  local it = describe_one(ctx, id)
  return it and attrs_of(ctx, it) or nil
end

local function find_by_token(ctx, token)
  return aws.ec2_describe(ctx, "DescribeInternetGateways", "internetGatewaySet",
    aws.add_filters({}, { ["tag:" .. aws.TAG_TOKEN] = token }))[1]
end

local function attach(ctx, id, vpc)
  local ok, err = aws.try({ "Resource.AlreadyAssociated" }, ec2, ctx, "AttachInternetGateway",
    { InternetGatewayId = id, VpcId = vpc }, { idempotent = true })
  if ok == nil and err then
    -- a re-sent attach that had worked is fine; anything else is not
    local it = describe_one(ctx, id)
    if not it or attached_vpc(it) ~= vpc then error(err, 0) end
  end
end

local function detach(ctx, id, vpc)
  aws.retry_on({ "DependencyViolation" }, function()
    aws.try({ "Gateway.NotAttached", "InvalidVpcID.NotFound" }, ec2, ctx, "DetachInternetGateway",
      { InternetGatewayId = id, VpcId = vpc }, { idempotent = true })
  end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "internet gateway " .. id .. " to detach" })
end

return {
  type = "aws.internet_gateway",
  description = "An internet gateway, optionally attached to a VPC.",
  schema = {
    vpc_id = { type = "string", description = "The VPC to attach to (changes detach/attach in place)." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    owner_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = aws.add_tag_spec({}, "internet-gateway", aws.all_tags(ctx, p.tags, true))
    local it = aws.create_recoverable(ctx, function()
      return ec2(ctx, "CreateInternetGateway", params).internetGateway
    end, find_by_token)
    local id = it.internetGatewayId
    if p.vpc_id then
      -- a gateway just made may be unknown to the attach for a moment
      aws.retry_on({ "InvalidInternetGatewayID.NotFound" }, function() attach(ctx, id, p.vpc_id) end,
        { timeout = aws.VISIBLE_WITHIN, what = "internet gateway " .. id .. " to be known to EC2" })
    end
    return aws.wait_visible(function() return read(ctx, id) end, "internet gateway " .. id)
  end,

  read = function(ctx, id) return read(ctx, id) end,

  read_many_attrs = false,
  read_many = function(ctx, list)
    local found = aws.ec2_describe_ids(ctx, "DescribeInternetGateways", "internetGatewaySet", "InternetGatewayId",
      "internetGatewayId", aws.ids_of(list), "InvalidInternetGatewayID.NotFound")
    local out = {}
    for id, it in pairs(found) do out[id] = attrs_of(ctx, it) end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("InvalidInternetGatewayID.NotFound", ("the internet gateway '%s' does not exist"):format(id))) end
    aws.ec2_sync_tags(ctx, id, (aws.decode_tags(it.tagSet)), new.tags or {}, true)
    local have = attached_vpc(it)
    if have ~= new.vpc_id then
      if have then detach(ctx, id, have) end
      if new.vpc_id then attach(ctx, id, new.vpc_id) end
    end
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local it = describe_one(ctx, id)
    if not it then return end
    local vpc = attached_vpc(it)
    if vpc then detach(ctx, id, vpc) end
    aws.retry_on({ "DependencyViolation" }, function()
      aws.try({ "InvalidInternetGatewayID.NotFound" }, ec2, ctx, "DeleteInternetGateway",
        { InternetGatewayId = id }, { idempotent = true })
    end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "internet gateway " .. id .. " to have no dependencies" })
  end,

  list = function(ctx, filter)
    local out = aws.array()
    for _, it in ipairs(aws.ec2_describe(ctx, "DescribeInternetGateways", "internetGatewaySet",
        aws.add_filters({}, filter or {}))) do
      out[#out + 1] = attrs_of(ctx, it)
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token)
    local it = find_by_token(ctx, token)
    return it and read(ctx, it.internetGatewayId) or nil
  end,
}
