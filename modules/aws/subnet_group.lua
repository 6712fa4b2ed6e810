-- aws.subnet_group: the operations of a subnet group of RDS or ElastiCache
-- (require("aws.subnet_group")), which are the same against two APIs of
-- the same shape: aws.db_subnet_group and aws.cache_subnet_group each
-- declare their type, description and schema and get the rest from
-- new(api, module).
--
-- api names the service and the API's nouns:
--   service, version   "rds", aws.RDS_VERSION
--   group              "DBSubnetGroup": the actions are Create<group>,
--                      Describe<group>s, Modify<group> and Delete<group>, their
--                      parameters <group>Name and <group>Description, the
--                      Describe answer's list <group>s of <group> items
--   arn                the item's ARN field: "DBSubnetGroupArn"
--   not_found          error code of a group that does not exist
--   exists             error code of a create whose name is taken
--   in_use             error code of a delete refused while databases or
--                      caches still use the group (retried for 10 minutes:
--                      one that is being deleted keeps it in use a while)
--   what               "DB subnet group", for messages
--
-- The name is the id (both services lowercase it). Creates take no
-- ClientToken: the group is tagged cairn:token and, after an unknown
-- outcome or `exists`, adopted only when that tag is ours. Refresh: one
-- Describe pages (100 groups per call) for all the groups, plus one
-- ListTagsForResource per group (neither service has batched tags).
local aws = require("aws.common")

local M = {}

local function subnet_ids_of(it)
  return aws.strings_of(it.Subnets, "Subnet", "SubnetIdentifier")
end

-- The module table for api (see above), with module's type, description
-- and schema.
function M.new(api, module)
  local G = api.group
  local NAME, DESC = G .. "Name", G .. "Description"
  local NOTFOUND = { api.not_found }

  local function call(ctx, action, p, o) return aws.query(ctx, api.service, api.version, action, p, o) end

  local function describe(ctx, params)
    return aws.query_describe(ctx, api.service, api.version, "Describe" .. G .. "s", G .. "s", G, params)
  end

  local function describe_one(ctx, name)
    local items = aws.try(NOTFOUND, describe, ctx, { [NAME] = name })
    return items and items[1] or nil
  end

  -- (a listing keeps them on the item, for the refresh that takes it)
  local function tags_of(ctx, it)
    if it._tags then return it._tags[1], it._tags[2] end
    local all, user = aws.list_tags(ctx, api.service, api.version, it[api.arn], NOTFOUND)
    if ctx.keep_listed and all then it._tags = { all, user } end
    return all, user
  end

  local function attrs_of(it, user_tags, recorded)
    recorded = recorded or {}
    local name = aws.same_name(it[NAME], recorded.name)
    return {
      id = name,
      name = name,
      description = it[DESC],
      subnet_ids = aws.order_like(subnet_ids_of(it), recorded.subnet_ids, function(x) return x end),
      vpc_id = aws.str(it.VpcId),
      arn = aws.str(it[api.arn]),
      tags = user_tags or {},
    }
  end

  local function read(ctx, name, recorded)
    local it = describe_one(ctx, name)
    if not it then return nil end
    local _, user = tags_of(ctx, it)
    if not user then return nil end
    return attrs_of(it, user, recorded)
  end

  local function params_of(name, description, subnet_ids)
    return aws.add_list({ [NAME] = name, [DESC] = description or "Managed by cairn" },
      "SubnetIds.SubnetIdentifier", subnet_ids)
  end

  function module.create(ctx, p)
    local params = aws.add_query_tags(params_of(p.name, p.description, p.subnet_ids), aws.all_tags(ctx, p.tags, true))
    aws.create_by_name(ctx, function()
      return call(ctx, "Create" .. G, params)["Create" .. G .. "Result"]
    end, function()
      local it = describe_one(ctx, p.name)
      if not it then return nil end
      return it, (tags_of(ctx, it))
    end, api.exists)
    return read(ctx, p.name, p) or error(("%s %s vanished right after it was created"):format(api.what, p.name))
  end

  function module.read(ctx, id, recorded) return read(ctx, id, recorded) end

  function module.read_many(ctx, list)
    local rec = aws.recorded_of(list)
    local want, ids = {}, aws.ids_of(list)
    for id in pairs(rec) do want[id:lower()] = id end
    local out = {}
    local function take(it)
      local id = want[(it[NAME] or ""):lower()]
      if id then
        want[(it[NAME] or ""):lower()] = nil
        local _, user = tags_of(ctx, it)
        if user then out[id] = attrs_of(it, user, rec[id]) end
      end
    end
    -- cairn drift's listing of every group, when it just made one, serves
    -- the groups it has; the Describe is made for the others only
    local kept, rest = aws.take_listed("Describe" .. G .. "s", NAME, ids)
    for _, it in pairs(kept) do take(it) end
    if #rest > 0 then
      for _, it in ipairs(describe(ctx, {})) do take(it) end
    end
    return out
  end

  function module.update(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error(api.not_found, ("the %s '%s' does not exist"):format(api.what, id))) end
    if not aws.same_set(subnet_ids_of(it), new.subnet_ids) or it[DESC] ~= new.description then
      call(ctx, "Modify" .. G, params_of(id, new.description, new.subnet_ids), { idempotent = true })
    end
    aws.query_sync_tags(ctx, api.service, api.version, it[api.arn], (tags_of(ctx, it)), new.tags or {})
    return read(ctx, id, new)
  end

  function module.delete(ctx, id)
    aws.retry_on({ api.in_use }, function()
      aws.try(NOTFOUND, call, ctx, "Delete" .. G, { [NAME] = id }, { idempotent = true })
    end, { timeout = 600, what = api.what .. " " .. id .. " to be unused" })
  end

  -- filter: name, vpc-id, tag:KEY, applied here (neither service filters
  -- subnet groups); the tags (a call per group) are asked for only for the
  -- groups the other filters keep
  function module.list(ctx, filter)
    local attrs_ok, tags_ok = aws.local_filter(filter, { name = "name", ["vpc-id"] = "vpc_id" })
    local out = aws.array()
    for _, it in ipairs(describe(ctx, {})) do
      local a = attrs_of(it)
      if attrs_ok(a) then
        local all, user = tags_of(ctx, it)
        if all and (not tags_ok or tags_ok(all)) then
          a.tags = user
          out[#out + 1] = a
        end
      end
    end
    return out
  end

  function module.import(ctx, id) return read(ctx, id) end

  function module.recover(ctx, token, props)
    local it = describe_one(ctx, props.name)
    if not it then return nil end
    local all = tags_of(ctx, it)
    if not all or all[aws.TAG_TOKEN] ~= token then return nil end
    return read(ctx, props.name, props)
  end

  return module
end

return M
