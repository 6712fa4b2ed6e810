-- aws.vpc: an EC2 VPC (Query API 2016-11-15).
-- CreateVpc takes no ClientToken: the object is tagged cairn:token=<token>
-- and an interrupted create is found again by that tag (recover).
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end
local detach_own_gateways

local function arn(ctx, owner, id)
  return ("arn:aws:ec2:%s:%s:vpc/%s"):format(ctx.provider.region, owner or "", id)
end

-- item (a vpcSet item) + extras -> attributes
local function attrs_of(ctx, it, extra)
  local _, user = aws.decode_tags(it.tagSet)
  local a = {
    id = it.vpcId,
    arn = arn(ctx, it.ownerId, it.vpcId),
    owner_id = aws.str(it.ownerId),
    cidr_block = it.cidrBlock,
    instance_tenancy = aws.str(it.instanceTenancy) or "default",
    dhcp_options_id = aws.str(it.dhcpOptionsId),
    tags = user,
  }
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

-- DescribeVpcAttribute's name -> our attribute
local DNS_ATTRS = { { "enableDnsSupport", "enable_dns_support" }, { "enableDnsHostnames", "enable_dns_hostnames" } }

-- The main route tables, default security groups and DNS attributes of
-- VPCs. EC2 has no batched DescribeVpcAttribute (two calls per VPC); every
-- call goes out at the same time, with the describes for 100 VPCs each (EC2
-- takes at most 200 filter values in a call, all filters together).
-- A VPC deleted since it was described (DescribeVpcAttribute answers
-- InvalidVpcID.NotFound) is left out of the result: it is gone.
local function vpc_extras(ctx, ids)
  local out, calls, sets, dns = {}, {}, {}, {}
  for _, id in ipairs(ids) do out[id] = {} end
  for i = 1, #ids, 100 do
    local part = {}
    for j = i, math.min(i + 99, #ids) do part[#part + 1] = ids[j] end
    calls[#calls + 1] = { "DescribeRouteTables",
      aws.add_filters({}, { ["vpc-id"] = part, ["association.main"] = "true" }) }
    sets[#calls] = "routeTableSet"
    calls[#calls + 1] = { "DescribeSecurityGroups",
      aws.add_filters({}, { ["vpc-id"] = part, ["group-name"] = "default" }) }
    sets[#calls] = "securityGroupInfo"
  end
  for _, id in ipairs(ids) do
    for _, d in ipairs(DNS_ATTRS) do
      calls[#calls + 1] = { "DescribeVpcAttribute", { VpcId = id, Attribute = d[1] } }
      dns[#calls] = d
    end
  end
  local answers, errs = aws.ec2_all(ctx, calls, { "InvalidVpcID.NotFound" })
  for i, c in ipairs(calls) do
    local action, p, r = c[1], c[2], answers[i]
    if errs[i] and sets[i] then
      error(errs[i], 0) -- a describe by filter: no one VPC that went away
    elseif errs[i] then
      out[p.VpcId] = nil
    elseif sets[i] then
      for _, it in ipairs(aws.ec2_items(ctx, action, sets[i], p, r)) do
        local e = out[it.vpcId]
        if e and it.routeTableId then e.main_route_table_id = it.routeTableId end
        if e and it.groupId then e.default_security_group_id = it.groupId end
      end
    elseif out[p.VpcId] then
      local d = dns[i]
      out[p.VpcId][d[2]] = aws.bool(type(r[d[1]]) == "table" and r[d[1]].value)
    end
  end
  return out
end

-- The attributes of one described VPC; nil when it went away meanwhile.
local function full_attrs(ctx, it)
  local extra = vpc_extras(ctx, { it.vpcId })[it.vpcId]
  return extra and attrs_of(ctx, it, extra)
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidVpcID.NotFound", "InvalidVpcID.Malformed" }, aws.ec2_describe,
    ctx, "DescribeVpcs", "vpcSet", { ["VpcId.1"] = id })
  return items and items[1] or nil
end

local function read(ctx, id)
  local it = describe_one(ctx, id)
  if not it then return nil end
  return full_attrs(ctx, it)
end

local function find_by_token(ctx, token)
  local items = aws.ec2_describe(ctx, "DescribeVpcs", "vpcSet",
    aws.add_filters({}, { ["tag:" .. aws.TAG_TOKEN] = token }))
  return items[1]
end

local function wait_available(ctx, id)
  aws.wait_for(function()
    local it = describe_one(ctx, id)
    return it and it.state, it
  end, "available", { what = "VPC " .. id .. " to be available", timeout = 300, just_created = true })
end

local function set_dns(ctx, id, which, value)
  local key = which == "support" and "EnableDnsSupport.Value" or "EnableDnsHostnames.Value"
  ec2(ctx, "ModifyVpcAttribute", { VpcId = id, [key] = value and "true" or "false" }, { idempotent = true })
end

-- apply the DNS attributes in a valid order (support before hostnames on;
-- hostnames before support off)
local function apply_dns(ctx, id, have_support, have_hostnames, want_support, want_hostnames)
  if want_support and not have_support then set_dns(ctx, id, "support", true) end
  if want_hostnames ~= have_hostnames then set_dns(ctx, id, "hostnames", want_hostnames) end
  if not want_support and have_support then set_dns(ctx, id, "support", false) end
end

-- detach the internet gateways of this stack and environment from the VPC
detach_own_gateways = function(ctx, id)
  local igws = aws.ec2_describe(ctx, "DescribeInternetGateways", "internetGatewaySet",
    aws.add_filters({}, { ["attachment.vpc-id"] = id, ["tag:" .. aws.TAG_STACK] = ctx.stack,
      ["tag:" .. aws.TAG_ENV] = ctx.env }))
  for _, g in ipairs(igws) do
    aws.try({ "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound" }, ec2, ctx, "DetachInternetGateway",
      { InternetGatewayId = g.internetGatewayId, VpcId = id }, { idempotent = true })
  end
end

local function want_bool(v, def)
  if v == nil then return def end
  return v == true
end

return {
  type = "aws.vpc",
  description = "An Amazon VPC.",
  schema = {
    cidr_block = { type = "string", required = true, force_new = true,
      pattern = "([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])", description = "IPv4 CIDR block (/16 to /28)." },
    enable_dns_hostnames = { type = "bool", default = false },
    enable_dns_support = { type = "bool", default = true },
    instance_tenancy = { type = "string", default = "default", force_new = true, enum = { "default", "dedicated" }, description = "default or dedicated (EC2 refuses host for a VPC)." },
    tags = { type = "map", default = {}, description = "Your tags (cairn adds its own cairn:* tags, not shown here)." },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    owner_id = { type = "string", computed = true },
    dhcp_options_id = { type = "string", computed = true },
    main_route_table_id = { type = "string", computed = true },
    default_security_group_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = { CidrBlock = p.cidr_block, InstanceTenancy = p.instance_tenancy or "default" }
    aws.add_tag_spec(params, "vpc", aws.all_tags(ctx, p.tags, true))
    local it = aws.create_recoverable(ctx, function()
      return ec2(ctx, "CreateVpc", params).vpc
    end, find_by_token)
    local id = it.vpcId
    wait_available(ctx, id)
    apply_dns(ctx, id, true, false, want_bool(p.enable_dns_support, true), want_bool(p.enable_dns_hostnames, false))
    return read(ctx, id) or error(("VPC %s vanished right after it was created"):format(id))
  end,

  read = function(ctx, id) return read(ctx, id) end,

  read_many_attrs = false,
  read_many = function(ctx, list)
    local ids = aws.ids_of(list)
    local found = aws.ec2_describe_ids(ctx, "DescribeVpcs", "vpcSet", "VpcId", "vpcId", ids, "InvalidVpcID.NotFound")
    local present = {}
    for id in pairs(found) do present[#present + 1] = id end
    table.sort(present)
    local extras = vpc_extras(ctx, present)
    local out = {}
    for _, id in ipairs(present) do
      if extras[id] then out[id] = attrs_of(ctx, found[id], extras[id]) end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    local cur = read(ctx, id)
    if not cur then error(aws.error("InvalidVpcID.NotFound", ("the VPC '%s' does not exist"):format(id))) end
    local it = describe_one(ctx, id)
    local all = aws.decode_tags(it and it.tagSet)
    aws.ec2_sync_tags(ctx, id, all, new.tags or {}, true)
    apply_dns(ctx, id, cur.enable_dns_support, cur.enable_dns_hostnames,
      want_bool(new.enable_dns_support, true), want_bool(new.enable_dns_hostnames, false))
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local detached = false
    aws.retry_on({ "DependencyViolation" }, function()
      local ok, err = pcall(aws.try, { "InvalidVpcID.NotFound" }, ec2, ctx, "DeleteVpc", { VpcId = id }, { idempotent = true })
      if ok then return end
      if aws.is(err, "DependencyViolation") and not detached then
        -- When the VPC is replaced, the internet gateway of this stack and
        -- environment is still attached: its update (attach to the new VPC)
        -- runs after this delete. Detach it now; the update attaches it.
        detached = true
        detach_own_gateways(ctx, id)
      end
      error(err, 0)
    end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "VPC " .. id .. " to have no dependencies" })
  end,

  list = function(ctx, filter)
    local out, brief = aws.array(), aws.brief(ctx, { id = "vpcId" })
    for _, it in ipairs(aws.ec2_describe(ctx, "DescribeVpcs", "vpcSet", aws.add_filters({}, filter or {}))) do
      out[#out + 1] = brief and brief(it) or attrs_of(ctx, it)
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = find_by_token(ctx, token)
    if not it then return nil end
    wait_available(ctx, it.vpcId)
    return read(ctx, it.vpcId)
  end,
}
