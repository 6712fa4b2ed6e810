-- aws.cache_subnet_group: an ElastiCache cache subnet group (Query API
-- 2015-02-02). The name is the id (ElastiCache lowercases it).
-- CreateCacheSubnetGroup takes no ClientToken: the group is tagged
-- cairn:token and, after an unknown outcome or
-- CacheSubnetGroupAlreadyExists, adopted only when that tag is ours.
-- Refresh: DescribeCacheSubnetGroups pages (100 per call) for all groups,
-- plus one ListTagsForResource per group (no batched tags API).
local aws = require("aws.common")

local NOTFOUND = { "CacheSubnetGroupNotFoundFault" }
local V = aws.ELASTICACHE_VERSION

local function ec(ctx, action, p, o) return aws.query(ctx, "elasticache", V, action, p, o) end

local function subnet_ids_of(it)
  local ids = {}
  for _, s in ipairs(aws.list(it.Subnets, "Subnet")) do
    if type(s.SubnetIdentifier) == "string" then ids[#ids + 1] = s.SubnetIdentifier end
  end
  return ids
end

local function attrs_of(it, user_tags, recorded)
  recorded = recorded or {}
  local name = aws.same_name(it.CacheSubnetGroupName, recorded.name)
  return {
    id = name,
    name = name,
    description = it.CacheSubnetGroupDescription,
    subnet_ids = aws.order_like(subnet_ids_of(it), recorded.subnet_ids, function(x) return x end),
    vpc_id = aws.str(it.VpcId),
    arn = aws.str(it.ARN),
    tags = user_tags or {},
  }
end

local function describe_one(ctx, name)
  local items = aws.try(NOTFOUND, aws.query_describe, ctx, "elasticache", V, "DescribeCacheSubnetGroups",
    "CacheSubnetGroups", "CacheSubnetGroup", { CacheSubnetGroupName = name })
  return items and items[1] or nil
end

local function tags_of(ctx, arn)
  return aws.list_tags(ctx, "elasticache", V, arn, NOTFOUND)
end

local function read(ctx, name, recorded)
  local it = describe_one(ctx, name)
  if not it then return nil end
  local _, user = tags_of(ctx, it.ARN)
  if not user then return nil end
  return attrs_of(it, user, recorded)
end

local function subnet_params(p, ids)
  return aws.add_list(p, "SubnetIds.SubnetIdentifier", ids)
end

return {
  type = "aws.cache_subnet_group",
  description = "An ElastiCache cache subnet group.",
  schema = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by cairn" },
    subnet_ids = { type = "list", required = true, description = "Changed in place." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = subnet_params({ CacheSubnetGroupName = p.name,
      CacheSubnetGroupDescription = p.description or "Managed by cairn" }, p.subnet_ids)
    aws.add_query_tags(params, aws.all_tags(ctx, p.tags, true))
    aws.create_by_name(ctx, function()
      return ec(ctx, "CreateCacheSubnetGroup", params).CreateCacheSubnetGroupResult
    end, function()
      local it = describe_one(ctx, p.name)
      if not it then return nil end
      return it, (tags_of(ctx, it.ARN))
    end, "CacheSubnetGroupAlreadyExists")
    return read(ctx, p.name, p) or error(("cache subnet group %s vanished right after it was created"):format(p.name))
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_many = function(ctx, list)
    local rec = aws.recorded_of(list)
    local want = {}
    for id in pairs(rec) do want[id:lower()] = id end
    local out = {}
    for _, it in ipairs(aws.query_describe(ctx, "elasticache", V, "DescribeCacheSubnetGroups",
        "CacheSubnetGroups", "CacheSubnetGroup", {})) do
      local id = want[(it.CacheSubnetGroupName or ""):lower()]
      if id then
        local _, user = tags_of(ctx, it.ARN)
        if user then out[id] = attrs_of(it, user, rec[id]) end
      end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("CacheSubnetGroupNotFoundFault", ("the cache subnet group '%s' does not exist"):format(id))) end
    local have, set = subnet_ids_of(it), {}
    local same = #have == #(new.subnet_ids or {})
    for _, s in ipairs(have) do set[s] = true end
    for _, s in ipairs(new.subnet_ids or {}) do if not set[s] then same = false end end
    if not same or it.CacheSubnetGroupDescription ~= new.description then
      ec(ctx, "ModifyCacheSubnetGroup", subnet_params({ CacheSubnetGroupName = id,
        CacheSubnetGroupDescription = new.description or "Managed by cairn" }, new.subnet_ids), { idempotent = true })
    end
    aws.query_sync_tags(ctx, "elasticache", V, it.ARN, (tags_of(ctx, it.ARN)), new.tags or {})
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    -- a replication group that is still being deleted keeps the group in use
    aws.retry_on({ "CacheSubnetGroupInUse" }, function()
      aws.try(NOTFOUND, ec, ctx, "DeleteCacheSubnetGroup", { CacheSubnetGroupName = id }, { idempotent = true })
    end, { timeout = 600, what = "cache subnet group " .. id .. " to be unused" })
  end,

  list = function(ctx)
    local out = aws.array()
    for _, it in ipairs(aws.query_describe(ctx, "elasticache", V, "DescribeCacheSubnetGroups",
        "CacheSubnetGroups", "CacheSubnetGroup", {})) do
      out[#out + 1] = attrs_of(it, select(2, tags_of(ctx, it.ARN)))
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = describe_one(ctx, props.name)
    if not it then return nil end
    local all = tags_of(ctx, it.ARN)
    if not all or all[aws.TAG_TOKEN] ~= token then return nil end
    return read(ctx, props.name, props)
  end,
}
