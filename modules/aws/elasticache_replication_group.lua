-- aws.elasticache_replication_group: an ElastiCache (Redis OSS / Valkey)
-- replication group, cluster mode disabled (Query API 2015-02-02).
-- replication_group_id is the id and the unique name:
-- CreateReplicationGroup takes no ClientToken, so after an unknown outcome
-- (or ReplicationGroupAlreadyExists from a re-sent create) the group is
-- described by id and adopted only when it carries our cairn:token tag.
-- Create waits until available; modifications use ApplyImmediately=true and
-- wait until available again; delete waits until the group is gone.
-- Engine version, subnet group and security groups live on the member
-- clusters: a read also asks DescribeCacheClusters for the first member.
-- An engine_version given as a prefix ("7.1") is kept while the group's
-- version starts with it ("7.1.0"): nothing to change.
-- Refresh: DescribeReplicationGroups pages and DescribeCacheClusters pages
-- (100 per call) for all the groups, plus one ListTagsForResource per group
-- (ElastiCache has no batched tags API).
-- Tags: ElastiCache answers the tag calls only for an available group
-- (InvalidReplicationGroupState otherwise), and a tag change makes the
-- group modifying for a while. A read of a group that is not available
-- keeps the recorded tags; adoption and recovery wait until it is
-- available to read its cairn:token tag; update waits after each tag call.
-- A group found deleting (a run killed after DeleteReplicationGroup was
-- accepted) is waited out and taken as gone by refresh, recovery, import
-- and the search after a refused create; a delete finding it deleting
-- (InvalidReplicationGroupState) waits until it is gone.
local aws = require("aws.common")

local NOTFOUND = { "ReplicationGroupNotFoundFault" }
local V = aws.ELASTICACHE_VERSION

local function ec(ctx, action, p, o) return aws.query(ctx, "elasticache", V, action, p, o) end

local function members_of(it)
  local m = {}
  for _, c in ipairs(aws.list(it.MemberClusters, "ClusterId")) do
    if type(c) == "string" then m[#m + 1] = c end
  end
  return m
end

local function attrs_of(it, cluster, user_tags, recorded)
  recorded, cluster = recorded or {}, cluster or {}
  local ng = aws.list(it.NodeGroups, "NodeGroup")[1] or {}
  local pe = type(ng.PrimaryEndpoint) == "table" and ng.PrimaryEndpoint or {}
  local re = type(ng.ReaderEndpoint) == "table" and ng.ReaderEndpoint or {}
  local sgs = aws.strings_of(cluster.SecurityGroups, "member", "SecurityGroupId")
  local members = members_of(it)
  local id = aws.same_name(it.ReplicationGroupId, recorded.replication_group_id)
  return {
    id = id,
    replication_group_id = id,
    description = it.Description,
    engine = aws.str(it.Engine) or aws.str(cluster.Engine),
    engine_version = aws.same_version(aws.str(cluster.EngineVersion), recorded.engine_version),
    node_type = aws.str(it.CacheNodeType),
    num_cache_clusters = #members,
    automatic_failover = it.AutomaticFailover == "enabled" or it.AutomaticFailover == "enabling",
    multi_az = it.MultiAZ == "enabled",
    subnet_group_name = aws.same_name(aws.str(cluster.CacheSubnetGroupName), recorded.subnet_group_name),
    security_group_ids = aws.order_like(sgs, recorded.security_group_ids, function(x) return x end),
    port = aws.num(pe.Port) or recorded.port,
    at_rest_encryption = aws.bool(it.AtRestEncryptionEnabled),
    transit_encryption = aws.bool(it.TransitEncryptionEnabled),
    tags = user_tags or {},
    arn = aws.str(it.ARN),
    primary_endpoint = aws.str(pe.Address),
    reader_endpoint = aws.str(re.Address),
    member_clusters = aws.array(members),
    status = aws.str(it.Status),
  }
end

local function describe_one(ctx, id)
  local items = aws.try(NOTFOUND, aws.query_describe, ctx, "elasticache", V, "DescribeReplicationGroups",
    "ReplicationGroups", "ReplicationGroup", { ReplicationGroupId = id })
  return items and items[1] or nil
end

local function first_cluster(ctx, it)
  local m = members_of(it)[1]
  if not m then return nil end
  local items = aws.try({ "CacheClusterNotFound" }, aws.query_describe, ctx, "elasticache", V, "DescribeCacheClusters",
    "CacheClusters", "CacheCluster", { CacheClusterId = m })
  return items and items[1] or nil
end

local function tags_of(ctx, arn)
  return aws.list_tags(ctx, "elasticache", V, arn, NOTFOUND)
end

-- The tags of group `it` as tags_of; a listing keeps them on the item,
-- for the refresh that takes it.
local function item_tags(ctx, it)
  if it._tags then return it._tags[1], it._tags[2] end
  local all, user = tags_of(ctx, it.ARN)
  if ctx.keep_listed and all then it._tags = { all, user } end
  return all, user
end

-- The user tags of group `it`, nil when it is gone. A group that is not
-- available cannot tell (InvalidReplicationGroupState): its recorded tags
-- are kept, or, with nothing recorded (list), the tags are null (unknown).
local function user_tags(ctx, it, recorded)
  local all, user = aws.try({ "InvalidReplicationGroupState" }, item_tags, ctx, it)
  if all ~= nil or user == nil then return user end
  if recorded then return recorded.tags or {} end
  return cairn.null
end

local function wait_gone(ctx, id)
  aws.wait_for(function()
    local it = describe_one(ctx, id)
    return it and it.Status, it
  end, "gone", { what = "replication group " .. id .. " to be deleted", timeout = 3600, max_interval = 30 })
end

-- false, once it is gone, for a group being deleted (see
-- aws.gone_once_deleted); true for any other
local function alive(ctx, it)
  if it.Status ~= "deleting" then return true end
  local id = it.ReplicationGroupId
  aws.gone_once_deleted(ctx, "replication group " .. id, function() wait_gone(ctx, id) end)
  return false
end

local function read(ctx, id, recorded)
  local it = describe_one(ctx, id)
  local deleting = it and aws.being_deleted(ctx, it.Status == "deleting")
  if deleting then return deleting end
  if not it or not alive(ctx, it) then return nil end
  local user = user_tags(ctx, it, recorded or {})
  if not user then return nil end
  return attrs_of(it, first_cluster(ctx, it), user, recorded)
end

local function settled(it)
  if it.Status ~= "available" then return false end
  local p = it.PendingModifiedValues
  return p == nil or p == "" or (type(p) == "table" and next(p) == nil)
end

local function wait_available(ctx, id)
  return aws.wait_for(function()
    local it = describe_one(ctx, id)
    if not it then return nil end
    return settled(it) and "settled" or it.Status, it
  end, "settled", { what = "replication group " .. id .. " to be available", failed = { "create-failed" },
    timeout = 3600, max_interval = 30 })
end

-- The group once available, with its tags (all, user): nil when it is
-- gone or goes while waiting (one being deleted is waited out).
local function available_with_tags(ctx, id)
  local cur = describe_one(ctx, id)
  if not cur or not alive(ctx, cur) then return nil end
  local it = aws.try({ "NotFound" }, wait_available, ctx, id)
  if not it then return nil end
  return it, tags_of(ctx, it.ARN)
end

return {
  type = "aws.elasticache_replication_group",
  -- deadlines: its waits take up to an hour each, and an update may take several
  timeouts = { create = "2h", update = "3h", delete = "2h" },
  description = "An ElastiCache replication group (Redis OSS / Valkey, cluster mode disabled).",
  schema = {
    replication_group_id = { type = "string", required = true, force_new = true,
      -- 1-40 letters, digits, hyphens; a letter first; no hyphen last
      pattern = "[A-Za-z]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?" },
    description = { type = "string", default = "Managed by cairn" },
    engine = { type = "string", default = "redis", force_new = true, enum = { "redis", "valkey" } },
    engine_version = { type = "string", optional = true, computed = true, description = "Changed in place." },
    node_type = { type = "string", required = true, pattern = "cache\\.[a-z0-9.-]+", description = "cache.t3.micro...; changed in place." },
    num_cache_clusters = { type = "number", default = 1, integer = true, min = 1, max = 6,
      description = "Primary plus replicas. Changing it replaces the group for now (no IncreaseReplicaCount/DecreaseReplicaCount yet).",
      force_new = true },
    automatic_failover = { type = "bool", default = false, description = "Needs num_cache_clusters >= 2; in place." },
    multi_az = { type = "bool", default = false, description = "Needs automatic_failover; in place." },
    subnet_group_name = { type = "string", optional = true, force_new = true },
    security_group_ids = { type = "list", optional = true, computed = true, description = "Changed in place." },
    port = { type = "number", default = 6379, integer = true, min = 1, max = 65535, force_new = true },
    at_rest_encryption = { type = "bool", default = false, force_new = true },
    transit_encryption = { type = "bool", default = false, force_new = true },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    primary_endpoint = { type = "string", computed = true },
    reader_endpoint = { type = "string", computed = true },
    member_clusters = { type = "list", computed = true },
    status = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = {
      ReplicationGroupId = p.replication_group_id,
      ReplicationGroupDescription = p.description or "Managed by cairn",
      Engine = p.engine,
      EngineVersion = p.engine_version,
      CacheNodeType = p.node_type,
      NumCacheClusters = p.num_cache_clusters,
      AutomaticFailoverEnabled = p.automatic_failover == true,
      MultiAZEnabled = p.multi_az == true,
      CacheSubnetGroupName = p.subnet_group_name,
      Port = p.port,
      AtRestEncryptionEnabled = p.at_rest_encryption == true,
      TransitEncryptionEnabled = p.transit_encryption == true,
    }
    aws.add_list(params, "SecurityGroupIds.SecurityGroupId", p.security_group_ids)
    aws.add_query_tags(params, aws.all_tags(ctx, p.tags, true))
    aws.create_by_name(ctx, function()
      return ec(ctx, "CreateReplicationGroup", params).CreateReplicationGroupResult
    end, function()
      return available_with_tags(ctx, p.replication_group_id)
    end, "ReplicationGroupAlreadyExists")
    wait_available(ctx, p.replication_group_id)
    return read(ctx, p.replication_group_id, p)
      or error(("replication group %s vanished right after it was created"):format(p.replication_group_id))
  end,

  -- for checks of kind module: the group's Status, ok when "available"
  status = function(ctx, id)
    local it = describe_one(ctx, id)
    if not it then return { ok = false, status = "gone", message = ("replication group %s does not exist"):format(id) } end
    local st = aws.str(it.Status) or "unknown"
    return { ok = st == "available", status = st }
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_many = function(ctx, list)
    local rec = aws.recorded_of(list)
    local want = {}
    for id in pairs(rec) do want[id:lower()] = id end
    local found, out = {}, {}
    local function take(it)
      local id = want[(it.ReplicationGroupId or ""):lower()]
      if not id or found[id] or out[id] then return end
      local deleting = aws.being_deleted(ctx, it.Status == "deleting")
      if deleting then out[id] = deleting elseif alive(ctx, it) then found[id] = it end
    end
    -- cairn drift's listing of every group and cluster, when it just made
    -- one, serves those it has; the Describe calls are made for the others
    local kept, rest = aws.take_listed("DescribeReplicationGroups", "ReplicationGroupId", aws.ids_of(list))
    for _, it in pairs(kept) do take(it) end
    if #rest > 0 then
      for _, it in ipairs(aws.query_describe(ctx, "elasticache", V, "DescribeReplicationGroups",
          "ReplicationGroups", "ReplicationGroup", {})) do
        take(it)
      end
    end
    if next(found) == nil then return out end
    local firsts = {}
    for _, it in pairs(found) do firsts[#firsts + 1] = members_of(it)[1] end
    local clusters
    clusters, rest = aws.take_listed("DescribeCacheClusters", "CacheClusterId", firsts)
    if #rest > 0 then
      for _, c in ipairs(aws.query_describe(ctx, "elasticache", V, "DescribeCacheClusters",
          "CacheClusters", "CacheCluster", {})) do
        if type(c.CacheClusterId) == "string" then clusters[c.CacheClusterId] = c end
      end
    end
    for id, it in pairs(found) do
      local user = user_tags(ctx, it, rec[id])
      if user then out[id] = attrs_of(it, clusters[members_of(it)[1] or ""], user, rec[id]) end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = wait_available(ctx, id)
    local cluster = first_cluster(ctx, it)
    local cur = attrs_of(it, cluster, {}, old)
    local p, n = { ReplicationGroupId = id, ApplyImmediately = true }, 0
    local function set(k, v) p[k] = v; n = n + 1 end
    if new.node_type ~= cur.node_type then set("CacheNodeType", new.node_type) end
    local ver = aws.str((cluster or {}).EngineVersion)
    if new.engine_version and aws.same_version(ver, new.engine_version) ~= new.engine_version then
      if ver and aws.version_less(new.engine_version, ver) then
        error(aws.version_downgrade("replication group " .. id, ver, new.engine_version), 0)
      end
      set("EngineVersion", new.engine_version)
    end
    if (new.description or "Managed by cairn") ~= cur.description then set("ReplicationGroupDescription", new.description or "Managed by cairn") end
    if (new.automatic_failover == true) ~= cur.automatic_failover then set("AutomaticFailoverEnabled", new.automatic_failover == true) end
    if (new.multi_az == true) ~= cur.multi_az then set("MultiAZEnabled", new.multi_az == true) end
    if new.security_group_ids and not aws.same_set(new.security_group_ids, cur.security_group_ids) then
      aws.add_list(p, "SecurityGroupIds.SecurityGroupId", new.security_group_ids)
      n = n + 1
    end
    if n > 0 then
      ec(ctx, "ModifyReplicationGroup", p, { idempotent = true })
      it = wait_available(ctx, id)
    end
    -- each tag call makes the group modifying a while: wait before the next call and the read
    aws.query_sync_tags(ctx, "elasticache", V, it.ARN, (tags_of(ctx, it.ARN)), new.tags or {},
      function() wait_available(ctx, id) end)
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    -- creating or modifying groups cannot be deleted yet; a deleting one is on its way
    aws.retry_on({ "InvalidReplicationGroupState" }, function()
      local ok, err = aws.try({ "ReplicationGroupNotFoundFault", "InvalidReplicationGroupState" },
        ec, ctx, "DeleteReplicationGroup", { ReplicationGroupId = id }, { idempotent = true })
      if not ok and aws.is(err, "InvalidReplicationGroupState") then
        local it = describe_one(ctx, id)
        if it and it.Status ~= "deleting" then error(err, 0) end
      end
    end, { timeout = 3600, what = "replication group " .. id .. " to be deletable" })
    wait_gone(ctx, id)
  end,

  -- filter: replication-group-id, cache-subnet-group-name, tag:KEY,
  -- applied here (ElastiCache filters on none): the groups and their
  -- clusters are described once each, and the tags (a call per group) are
  -- asked for only for the groups the other filters keep. A group whose
  -- tags cannot be read (not available) passes no tag filter; without
  -- one, its tags are null (unknown). One being deleted is left out.
  list = function(ctx, filter)
    local attrs_ok, tags_ok = aws.local_filter(filter, { ["replication-group-id"] = "replication_group_id",
      ["cache-subnet-group-name"] = "subnet_group_name" })
    local groups = aws.query_describe(ctx, "elasticache", V, "DescribeReplicationGroups",
      "ReplicationGroups", "ReplicationGroup", {})
    local out = aws.array()
    if #groups == 0 then return out end
    local clusters = {}
    for _, c in ipairs(aws.query_describe(ctx, "elasticache", V, "DescribeCacheClusters",
        "CacheClusters", "CacheCluster", {})) do
      if type(c.CacheClusterId) == "string" then clusters[c.CacheClusterId] = c end
    end
    for _, it in ipairs(groups) do
      local a = attrs_of(it, clusters[members_of(it)[1] or ""], nil)
      if it.Status ~= "deleting" and attrs_ok(a) then
        -- all nil: gone (user nil) or not available (user: the error)
        local all, user = aws.try({ "InvalidReplicationGroupState" }, item_tags, ctx, it)
        if all and (not tags_ok or tags_ok(all)) then
          a.tags = user
          out[#out + 1] = a
        elseif not all and user ~= nil and not tags_ok then
          a.tags = cairn.null
          out[#out + 1] = a
        end
      end
    end
    return out
  end,

  -- nothing is recorded to fall back on for the tags: wait until they can be read
  import = function(ctx, id)
    if not available_with_tags(ctx, id) then return nil end
    return read(ctx, id)
  end,

  recover = function(ctx, token, props)
    -- an interrupted create is still creating: its tags can be read once it is available
    local it, all = available_with_tags(ctx, props.replication_group_id)
    if not it or not all or all[aws.TAG_TOKEN] ~= token then return nil end
    return read(ctx, props.replication_group_id, props)
  end,
}
