-- aws.subnet: an EC2 subnet. CreateSubnet takes no ClientToken: the
-- object is tagged cairn:token and found again by that tag (recover).
-- Refresh is batched: DescribeSubnets with up to 200 SubnetId.N per call.
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

-- What attrs_of does not read, left out of a listing's answer (a third of
-- a subnet's elements; the listed items are what the refresh reads too).
local UNREAD = { ipv6CidrBlockAssociationSet = true, availableIpAddressCount = true, defaultForAz = true,
  mapCustomerOwnedIpOnLaunch = true, assignIpv6AddressOnCreation = true, enableDns64 = true, ipv6Native = true,
  privateDnsNameOptionsOnLaunch = true }

local function attrs_of(ctx, it)
  local _, user = aws.decode_tags(it.tagSet)
  return {
    id = it.subnetId,
    arn = aws.str(it.subnetArn) or ("arn:aws:ec2:%s:%s:subnet/%s"):format(ctx.provider.region, it.ownerId or "", it.subnetId),
    vpc_id = it.vpcId,
    cidr_block = it.cidrBlock,
    availability_zone = aws.str(it.availabilityZone),
    availability_zone_id = aws.str(it.availabilityZoneId),
    map_public_ip_on_launch = aws.bool(it.mapPublicIpOnLaunch),
    owner_id = aws.str(it.ownerId),
    tags = user,
  }
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed" }, aws.ec2_describe,
    ctx, "DescribeSubnets", "subnetSet", { ["SubnetId.1"] = id })
  return items and items[1] or nil
end

local function read(ctx, id)
  local it = describe_one(ctx, id)
  return it and attrs_of(ctx, it) or nil
end

local function find_by_token(ctx, token)
  return aws.ec2_describe(ctx, "DescribeSubnets", "subnetSet",
    aws.add_filters({}, { ["tag:" .. aws.TAG_TOKEN] = token }))[1]
end

local function wait_available(ctx, id)
  aws.wait_for(function()
    local it = describe_one(ctx, id)
    return it and it.state, it
  end, "available", { what = "subnet " .. id .. " to be available", timeout = 300, just_created = true })
end

local function set_public_ip(ctx, id, v)
  ec2(ctx, "ModifySubnetAttribute", { SubnetId = id, ["MapPublicIpOnLaunch.Value"] = v and "true" or "false" },
    { idempotent = true })
end

return {
  type = "aws.subnet",
  description = "A subnet of an Amazon VPC.",
  schema = {
    vpc_id = { type = "string", required = true, force_new = true },
    cidr_block = { type = "string", required = true, force_new = true,
      pattern = "([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])" },
    availability_zone = { type = "string", optional = true, computed = true, force_new = true },
    map_public_ip_on_launch = { type = "bool", default = false },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    availability_zone_id = { type = "string", computed = true },
    owner_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = { VpcId = p.vpc_id, CidrBlock = p.cidr_block, AvailabilityZone = p.availability_zone }
    aws.add_tag_spec(params, "subnet", aws.all_tags(ctx, p.tags, true))
    local it = aws.create_recoverable(ctx, function()
      return ec2(ctx, "CreateSubnet", params).subnet
    end, find_by_token)
    local id = it.subnetId
    wait_available(ctx, id)
    if p.map_public_ip_on_launch then set_public_ip(ctx, id, true) end
    return read(ctx, id) or error(("subnet %s vanished right after it was created"):format(id))
  end,

  read = function(ctx, id) return read(ctx, id) end,

  read_marks = true, -- attrs_of reads the item, ctx.provider and the recorded alone
  read_many_attrs = false,
  read_many = function(ctx, list)
    local found = aws.ec2_describe_ids(ctx, "DescribeSubnets", "subnetSet", "SubnetId", "subnetId",
      aws.ids_of(list), "InvalidSubnetID.NotFound")
    local out = {}
    for id, it in pairs(found) do out[id] = aws.read_result(ctx, it, attrs_of) end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("InvalidSubnetID.NotFound", ("the subnet '%s' does not exist"):format(id))) end
    local all = aws.decode_tags(it.tagSet)
    aws.ec2_sync_tags(ctx, id, all, new.tags or {}, true)
    if aws.bool(it.mapPublicIpOnLaunch) ~= (new.map_public_ip_on_launch == true) then
      set_public_ip(ctx, id, new.map_public_ip_on_launch == true)
    end
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    aws.retry_on({ "DependencyViolation" }, function()
      aws.try({ "InvalidSubnetID.NotFound" }, ec2, ctx, "DeleteSubnet", { SubnetId = id }, { idempotent = true })
    end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "subnet " .. id .. " to have no dependencies" })
  end,

  list = function(ctx, filter)
    local out, brief = aws.array(), aws.brief(ctx, { id = "subnetId", vpc_id = "vpcId" })
    for _, it in ipairs(aws.ec2_describe(ctx, "DescribeSubnets", "subnetSet", aws.add_filters({}, filter or {}),
        { skip = UNREAD, id = brief and "subnetId" })) do
      out[#out + 1] = brief and brief(it) or attrs_of(ctx, it)
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token)
    local it = find_by_token(ctx, token)
    if not it then return nil end
    wait_available(ctx, it.subnetId)
    return read(ctx, it.subnetId)
  end,
}
