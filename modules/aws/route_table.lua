-- aws.route_table: an EC2 route table with its routes (to internet
-- gateways) and subnet associations, both diffed in place.
-- CreateRouteTable takes a ClientToken (ctx.token); the object is also
-- tagged cairn:token, so an interrupted create is found again (recover).
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

local function route_key(r)
  return tostring(r.cidr_block) .. "|" .. tostring(r.gateway_id)
end

local function attrs_of(ctx, it, recorded)
  recorded = recorded or {}
  local _, user = aws.decode_tags(it.tagSet)
  local routes, subnets, assoc = {}, {}, {}
  for _, r in ipairs(aws.list(it.routeSet, "item")) do
    local gw = aws.str(r.gatewayId)
    if r.origin ~= "CreateRouteTable" and gw ~= "local" and aws.str(r.destinationCidrBlock) then
      routes[#routes + 1] = { cidr_block = r.destinationCidrBlock, gateway_id = gw }
    end
  end
  for _, a in ipairs(aws.list(it.associationSet, "item")) do
    local sn = aws.str(a.subnetId)
    if sn and not aws.bool(a.main) then
      subnets[#subnets + 1] = sn
      assoc[sn] = a.routeTableAssociationId
    end
  end
  -- the order the user wrote (as recorded), so that an unchanged list is equal
  local rec_routes = {}
  for _, r in ipairs(recorded.routes or {}) do
    if type(r) == "table" then rec_routes[#rec_routes + 1] = r end
  end
  return {
    id = it.routeTableId,
    arn = ("arn:aws:ec2:%s:%s:route-table/%s"):format(ctx.provider.region, it.ownerId or "", it.routeTableId),
    owner_id = aws.str(it.ownerId),
    vpc_id = it.vpcId,
    routes = aws.order_like(routes, rec_routes, route_key),
    subnet_ids = aws.order_like(subnets, recorded.subnet_ids, function(s) return s end),
    association_ids = assoc,
    tags = user,
  }
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidRouteTableID.NotFound", "InvalidRouteTableId.Malformed" }, aws.ec2_describe,
    ctx, "DescribeRouteTables", "routeTableSet", { ["RouteTableId.1"] = id })
  return items and items[1] or nil
end

local function read(ctx, id, recorded)
  local it = describe_one(ctx, id)
  return it and attrs_of(ctx, it, recorded) or nil
end

local function find_by_token(ctx, token)
  return aws.ec2_describe(ctx, "DescribeRouteTables", "routeTableSet",
    aws.add_filters({}, { ["tag:" .. aws.TAG_TOKEN] = token }))[1]
end

local function check_route(r)
  if type(r) ~= "table" or type(r.cidr_block) ~= "string" or type(r.gateway_id) ~= "string" then
    error("each route needs cidr_block and gateway_id (strings)")
  end
end

local function add_route(ctx, id, r)
  check_route(r)
  local ok, err = aws.try({ "RouteAlreadyExists" }, ec2, ctx, "CreateRoute",
    { RouteTableId = id, DestinationCidrBlock = r.cidr_block, GatewayId = r.gateway_id }, { idempotent = true })
  if ok == nil and err then
    -- fine if it is this very route (a re-sent request); else replace it
    local it = describe_one(ctx, id)
    for _, x in ipairs(it and aws.list(it.routeSet, "item") or {}) do
      if x.destinationCidrBlock == r.cidr_block and x.gatewayId == r.gateway_id then return end
    end
    error(err, 0)
  end
end

local function del_route(ctx, id, r)
  aws.try({ "InvalidRoute.NotFound" }, ec2, ctx, "DeleteRoute",
    { RouteTableId = id, DestinationCidrBlock = r.cidr_block }, { idempotent = true })
end

-- A subnet moving from another table to this one in the same apply may
-- still be associated there for a moment (the other table's update runs
-- beside this one): AlreadyAssociated is waited out for a minute.
local function associate(ctx, id, subnet)
  aws.retry_on({ "Resource.AlreadyAssociated" }, function()
    local ok, err = aws.try({ "Resource.AlreadyAssociated" }, ec2, ctx, "AssociateRouteTable",
      { RouteTableId = id, SubnetId = subnet }, { idempotent = true })
    if ok == nil and err then
      local it = describe_one(ctx, id)
      for _, a in ipairs(it and aws.list(it.associationSet, "item") or {}) do
        if a.subnetId == subnet then return end -- a re-sent request that had worked
      end
      error(err, 0)
    end
  end, { timeout = 60, what = "subnet " .. subnet .. " to leave the route table it is associated with" })
end

local function disassociate(ctx, assoc_id)
  aws.try({ "InvalidAssociationID.NotFound" }, ec2, ctx, "DisassociateRouteTable",
    { AssociationId = assoc_id }, { idempotent = true })
end

local function converge(ctx, id, cur, want_routes, want_subnets)
  local have = {}
  for _, r in ipairs(cur.routes) do have[route_key(r)] = r end
  local want = {}
  for _, r in ipairs(want_routes or {}) do check_route(r); want[route_key(r)] = r end
  -- deletes first: a changed target for the same destination is delete + create
  for k, r in pairs(have) do if not want[k] then del_route(ctx, id, r) end end
  for _, r in ipairs(want_routes or {}) do if not have[route_key(r)] then add_route(ctx, id, r) end end
  local want_sn = {}
  for _, s in ipairs(want_subnets or {}) do want_sn[s] = true end
  for sn, assoc in pairs(cur.association_ids) do
    if not want_sn[sn] then disassociate(ctx, assoc) end
  end
  for _, s in ipairs(want_subnets or {}) do
    if not cur.association_ids[s] then associate(ctx, id, s) end
  end
end

return {
  type = "aws.route_table",
  description = "A VPC route table, its routes and its subnet associations.",
  schema = {
    vpc_id = { type = "string", required = true, force_new = true },
    routes = { type = "list", default = cairn.json.array(), description = "List of {cidr_block, gateway_id}." },
    subnet_ids = { type = "list", default = cairn.json.array(), description = "Subnets associated with this table." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    owner_id = { type = "string", computed = true },
    association_ids = { type = "map", computed = true, description = "subnet id -> association id" },
  },

  create = function(ctx, p)
    local params = { VpcId = p.vpc_id, ClientToken = ctx.token }
    aws.add_tag_spec(params, "route-table", aws.all_tags(ctx, p.tags, true))
    -- not re-sent by the C side: cairn sim ignores ClientToken, so recovery
    -- goes by the cairn:token tag (AWS would also honour the token)
    local it = aws.create_recoverable(ctx, function()
      return ec2(ctx, "CreateRouteTable", params).routeTable
    end, find_by_token)
    local id = it.routeTableId
    local cur = aws.wait_visible(function() return read(ctx, id) end, "route table " .. id)
    converge(ctx, id, cur, p.routes, p.subnet_ids)
    return read(ctx, id, p)
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_marks = true, -- attrs_of reads the item, ctx.provider and the recorded alone
  read_many_attrs = { "routes", "subnet_ids" }, -- what attrs_of reads of the recorded
  read_many = function(ctx, list)
    local rec = {}
    for _, e in ipairs(list) do if e.id then rec[e.id] = e.attrs end end
    local found = aws.ec2_describe_ids(ctx, "DescribeRouteTables", "routeTableSet", "RouteTableId", "routeTableId",
      aws.ids_of(list), "InvalidRouteTableID.NotFound", 100)
    local out = {}
    for id, it in pairs(found) do out[id] = aws.read_result(ctx, it, attrs_of, rec[id]) end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("InvalidRouteTableID.NotFound", ("the route table '%s' does not exist"):format(id))) end
    aws.ec2_sync_tags(ctx, id, (aws.decode_tags(it.tagSet)), new.tags or {}, true)
    converge(ctx, id, attrs_of(ctx, it, old), new.routes, new.subnet_ids)
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    local it = describe_one(ctx, id)
    if not it then return end
    for _, a in ipairs(aws.list(it.associationSet, "item")) do
      if not aws.bool(a.main) and aws.str(a.routeTableAssociationId) then disassociate(ctx, a.routeTableAssociationId) end
    end
    aws.retry_on({ "DependencyViolation" }, function()
      aws.try({ "InvalidRouteTableID.NotFound" }, ec2, ctx, "DeleteRouteTable", { RouteTableId = id }, { idempotent = true })
    end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "route table " .. id .. " to have no dependencies" })
  end,

  list = function(ctx, filter)
    local out, brief = aws.array(), aws.brief(ctx, { id = "routeTableId", vpc_id = "vpcId" })
    for _, it in ipairs(aws.ec2_describe(ctx, "DescribeRouteTables", "routeTableSet", aws.add_filters({}, filter or {}),
        { id = brief and "routeTableId" })) do
      out[#out + 1] = brief and brief(it) or attrs_of(ctx, it)
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = find_by_token(ctx, token)
    return it and read(ctx, it.routeTableId, props) or nil
  end,
}
