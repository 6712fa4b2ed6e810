-- aws.db_subnet_group: an RDS DB subnet group (Query API 2014-10-31).
-- The name is the id (RDS lowercases it). CreateDBSubnetGroup takes no
-- ClientToken: the group is tagged cairn:token and, after an unknown
-- outcome or DBSubnetGroupAlreadyExists, adopted only when that tag is ours.
-- Refresh: DescribeDBSubnetGroups pages (100 groups per call) for all the
-- groups, plus one ListTagsForResource per group (RDS has no batched tags).
local aws = require("aws.common")

local NOTFOUND = { "DBSubnetGroupNotFoundFault" }

local function rds(ctx, action, p, o) return aws.query(ctx, "rds", aws.RDS_VERSION, action, p, o) end

local function subnet_ids_of(it)
  local ids = {}
  for _, s in ipairs(aws.list(it.Subnets, "Subnet")) do
    if type(s.SubnetIdentifier) == "string" then ids[#ids + 1] = s.SubnetIdentifier end
  end
  return ids
end

local function attrs_of(it, user_tags, recorded)
  recorded = recorded or {}
  local name = aws.same_name(it.DBSubnetGroupName, recorded.name)
  return {
    id = name,
    name = name,
    description = it.DBSubnetGroupDescription,
    subnet_ids = aws.order_like(subnet_ids_of(it), recorded.subnet_ids, function(x) return x end),
    vpc_id = aws.str(it.VpcId),
    arn = aws.str(it.DBSubnetGroupArn),
    tags = user_tags or {},
  }
end

local function describe_one(ctx, name)
  local items = aws.try(NOTFOUND, aws.query_describe, ctx, "rds", aws.RDS_VERSION, "DescribeDBSubnetGroups",
    "DBSubnetGroups", "DBSubnetGroup", { DBSubnetGroupName = name })
  return items and items[1] or nil
end

local function tags_of(ctx, arn)
  return aws.list_tags(ctx, "rds", aws.RDS_VERSION, arn, NOTFOUND)
end

local function read(ctx, name, recorded)
  local it = describe_one(ctx, name)
  if not it then return nil end
  local _, user = tags_of(ctx, it.DBSubnetGroupArn)
  if not user then return nil end
  return attrs_of(it, user, recorded)
end

local function subnet_params(p, ids)
  return aws.add_list(p, "SubnetIds.SubnetIdentifier", ids)
end

return {
  type = "aws.db_subnet_group",
  description = "An RDS DB subnet group: the subnets (in at least two AZs) DB instances may use.",
  schema = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by cairn" },
    subnet_ids = { type = "list", required = true, description = "Subnets in at least two availability zones; changed in place." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = subnet_params({ DBSubnetGroupName = p.name, DBSubnetGroupDescription = p.description or "Managed by cairn" },
      p.subnet_ids)
    aws.add_query_tags(params, aws.all_tags(ctx, p.tags, true))
    aws.create_by_name(ctx, function()
      return rds(ctx, "CreateDBSubnetGroup", params).CreateDBSubnetGroupResult
    end, function()
      local it = describe_one(ctx, p.name)
      if not it then return nil end
      return it, (tags_of(ctx, it.DBSubnetGroupArn))
    end, "DBSubnetGroupAlreadyExists")
    return read(ctx, p.name, p) or error(("DB subnet group %s vanished right after it was created"):format(p.name))
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_many = function(ctx, list)
    local rec = aws.recorded_of(list)
    local want = {}
    for id in pairs(rec) do want[id:lower()] = id end
    local out = {}
    for _, it in ipairs(aws.query_describe(ctx, "rds", aws.RDS_VERSION, "DescribeDBSubnetGroups",
        "DBSubnetGroups", "DBSubnetGroup", {})) do
      local id = want[(it.DBSubnetGroupName or ""):lower()]
      if id then
        local _, user = tags_of(ctx, it.DBSubnetGroupArn)
        if user then out[id] = attrs_of(it, user, rec[id]) end
      end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("DBSubnetGroupNotFoundFault", ("the DB subnet group '%s' does not exist"):format(id))) end
    local have = subnet_ids_of(it)
    local same = #have == #(new.subnet_ids or {})
    local set = {}
    for _, s in ipairs(have) do set[s] = true end
    for _, s in ipairs(new.subnet_ids or {}) do if not set[s] then same = false end end
    if not same or it.DBSubnetGroupDescription ~= new.description then
      rds(ctx, "ModifyDBSubnetGroup", subnet_params({ DBSubnetGroupName = id,
        DBSubnetGroupDescription = new.description or "Managed by cairn" }, new.subnet_ids), { idempotent = true })
    end
    local all = tags_of(ctx, it.DBSubnetGroupArn)
    aws.query_sync_tags(ctx, "rds", aws.RDS_VERSION, it.DBSubnetGroupArn, all, new.tags or {})
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    -- an instance that is still being deleted keeps the group in use for a while
    aws.retry_on({ "InvalidDBSubnetGroupStateFault" }, function()
      aws.try(NOTFOUND, rds, ctx, "DeleteDBSubnetGroup", { DBSubnetGroupName = id }, { idempotent = true })
    end, { timeout = 600, what = "DB subnet group " .. id .. " to be unused" })
  end,

  list = function(ctx)
    local out = aws.array()
    for _, it in ipairs(aws.query_describe(ctx, "rds", aws.RDS_VERSION, "DescribeDBSubnetGroups",
        "DBSubnetGroups", "DBSubnetGroup", {})) do
      out[#out + 1] = attrs_of(it, select(2, tags_of(ctx, it.DBSubnetGroupArn)))
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = describe_one(ctx, props.name)
    if not it then return nil end
    local all = tags_of(ctx, it.DBSubnetGroupArn)
    if not all or all[aws.TAG_TOKEN] ~= token then return nil end
    return read(ctx, props.name, props)
  end,
}
