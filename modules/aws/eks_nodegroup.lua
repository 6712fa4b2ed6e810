-- aws.eks_nodegroup: an EKS managed node group (REST-JSON, 2017-11-01).
-- The id is "cluster/name". CreateNodegroup carries clientRequestToken =
-- the operation's idempotency token, so a re-sent create returns the node
-- group it made; a ResourceInUseException is adopted only when the node
-- group carries our cairn:token tag. Create waits ACTIVE; a scaling or
-- labels change is one UpdateNodegroupConfig whose update is waited on
-- (then ACTIVE; sent without a clientRequestToken, see update); a version
-- change is one UpdateNodegroupVersion, waited on the same way (EKS takes
-- a node group up to its cluster's version, never past it and never back:
-- a downgrade is refused before anything is sent; `version: "${k8s.version}"`
-- makes the node group follow its cluster, after it, in the same apply);
-- tags go by ARN (TagResource / UntagResource); delete
-- waits until the node group is gone. Everything else replaces.
-- Refresh: one DescribeNodegroup per node group (no batched describe).
-- A node group found DELETING (a run killed after DeleteNodegroup was
-- accepted) is waited out and taken as gone by refresh, recovery and
-- import; a create refused because a DELETING node group holds the name
-- waits it out and creates again; a delete refused while it is DELETING
-- (ResourceInUseException) is asked again until it is gone.
local aws = require("aws.common")

local url = cairn.url

local function eks(ctx, method, path, body, opts) return aws.json_call(ctx, "eks", method, path, body, opts) end

local function split_id(id)
  local cluster, name = tostring(id or ""):match("^([^/]+)/([^/]+)$")
  if not cluster then
    error(aws.error("InvalidId", ("an EKS node group id is \"cluster/name\", got %q"):format(tostring(id))), 0)
  end
  return cluster, name
end

local function ng_path(cluster, name)
  return "/clusters/" .. url.encode(cluster) .. "/node-groups/" .. url.encode(name)
end

local function int(v) return math.tointeger(tonumber(v)) or tonumber(v) end

local function attrs_of(g, recorded)
  recorded = recorded or {}
  local user = {}
  for k, v in pairs(g.tags or {}) do if not aws.is_cairn_tag(k) then user[k] = v end end
  local labels = {}
  for k, v in pairs(g.labels or {}) do labels[k] = v end
  local sc = g.scalingConfig or {}
  local same = function(x) return x end
  return {
    id = g.clusterName .. "/" .. g.nodegroupName,
    cluster_name = g.clusterName,
    name = g.nodegroupName,
    version = g.version,
    node_role_arn = g.nodeRole,
    subnet_ids = aws.order_like(g.subnets or {}, recorded.subnet_ids, same),
    instance_types = aws.array(g.instanceTypes or {}),
    ami_type = g.amiType,
    capacity_type = g.capacityType,
    disk_size = int(g.diskSize),
    scaling = { min_size = int(sc.minSize), max_size = int(sc.maxSize), desired_size = int(sc.desiredSize) },
    labels = labels,
    tags = user,
    arn = g.nodegroupArn,
    status = g.status,
  }
end

-- the node group, or nil when it (or its cluster) does not exist
local function describe(ctx, cluster, name)
  local r = aws.try({ "ResourceNotFoundException" }, eks, ctx, "GET", ng_path(cluster, name))
  return r and r.nodegroup or nil
end

local function wait_gone(ctx, cluster, name)
  aws.wait_for(function()
    local g = describe(ctx, cluster, name)
    return g and g.status, g
  end, "gone", { what = "EKS node group " .. cluster .. "/" .. name .. " to be deleted", failed = { "DELETE_FAILED" },
                 timeout = 3600, max_interval = 30 })
end

-- The node group, or nil when it does not exist or was being deleted
-- (waited out: see aws.gone_once_deleted).
local function describe_alive(ctx, cluster, name)
  local g = describe(ctx, cluster, name)
  if g and g.status == "DELETING" then
    return aws.gone_once_deleted(ctx, "EKS node group " .. cluster .. "/" .. name,
      function() wait_gone(ctx, cluster, name) end)
  end
  return g
end

-- Waits until the node group is ACTIVE. A DEGRADED one (running, with
-- health issues) fails a create, but is settled enough for an update (a
-- scaling change may be what mends it) when degraded_ok is set.
local function wait_active(ctx, cluster, name, degraded_ok)
  return aws.wait_for(function()
    local g = describe(ctx, cluster, name)
    return g and g.status, g
  end, degraded_ok and { "ACTIVE", "DEGRADED" } or "ACTIVE",
    { what = "EKS node group " .. cluster .. "/" .. name .. " to be ACTIVE",
      failed = { "CREATE_FAILED", "DELETE_FAILED", "DEGRADED" }, timeout = 3600, max_interval = 30 })
end

-- (after an update: a node group that was DEGRADED before may still be)
local function wait_update(ctx, cluster, name, update)
  local id = update and update.id
  if id then
    local path = "/clusters/" .. url.encode(cluster) .. "/updates/" .. url.encode(id) .. "?nodegroupName=" .. url.encode(name)
    aws.wait_for(function()
      local r = eks(ctx, "GET", path)
      return r.update and r.update.status, r.update
    end, "Successful", { what = "EKS update " .. id .. " of node group " .. cluster .. "/" .. name,
                         failed = { "Failed", "Cancelled" }, timeout = 3600, max_interval = 30 })
  end
  return wait_active(ctx, cluster, name, true)
end

local function sync_tags(ctx, arn, have, want)
  local set, del = {}, {}
  for k, v in pairs(want or {}) do if not aws.is_cairn_tag(k) and have[k] ~= tostring(v) then set[k] = tostring(v) end end
  for k in pairs(have or {}) do if not aws.is_cairn_tag(k) and (want or {})[k] == nil then del[#del + 1] = k end end
  for k, v in pairs(aws.cairn_tags(ctx, false)) do if have[k] ~= v then set[k] = v end end
  local path = "/tags/" .. url.encode(arn)
  if next(set) then eks(ctx, "POST", path, { tags = set }, { idempotent = true }) end
  if #del > 0 then
    table.sort(del)
    local q = {}
    for _, k in ipairs(del) do q[#q + 1] = "tagKeys=" .. url.encode(k) end
    eks(ctx, "DELETE", path .. "?" .. table.concat(q, "&"))
  end
end

local function scaling_config(s)
  s = s or {}
  return { minSize = int(s.min_size), maxSize = int(s.max_size), desiredSize = int(s.desired_size) }
end

local function check_scaling(s)
  for _, k in ipairs({ "min_size", "max_size", "desired_size" }) do
    if type(s) ~= "table" or int(s[k]) == nil then
      error(aws.error("InvalidParameter", "scaling needs min_size, max_size and desired_size (numbers)"), 0)
    end
  end
end

local function str_map(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = tostring(v) end
  return out
end

local function read(ctx, id, recorded)
  local cluster, name = split_id(id)
  local g = describe(ctx, cluster, name)
  if g and g.status == "DELETING" then
    local deleting = aws.being_deleted(ctx, true)
    if deleting then return deleting end
    g = describe_alive(ctx, cluster, name) -- waits it out
  end
  return g and attrs_of(g, recorded) or nil
end

return {
  type = "aws.eks_nodegroup",
  -- deadlines: its waits take up to an hour each, and an update may take several
  timeouts = { create = "2h", update = "3h", delete = "2h" },
  description = "An EKS managed node group.",
  schema = {
    cluster_name = { type = "string", required = true, force_new = true },
    name = { type = "string", required = true, force_new = true },
    version = { type = "string", optional = true, computed = true,
                description = "Kubernetes version (the cluster's when unset); upgraded in place (UpdateNodegroupVersion), "
                  .. "up to the cluster's, never back." },
    node_role_arn = { type = "string", required = true, force_new = true },
    subnet_ids = { type = "list", required = true, force_new = true },
    instance_types = { type = "list", default = cairn.json.array({ "t3.medium" }), force_new = true },
    ami_type = { type = "string", default = "AL2_x86_64", force_new = true },
    capacity_type = { type = "string", default = "ON_DEMAND", force_new = true },
    disk_size = { type = "number", default = 20, integer = true, min = 1, force_new = true },
    scaling = { type = "map", required = true,
                description = "{min_size, max_size, desired_size}; changed in place (UpdateNodegroupConfig)." },
    labels = { type = "map", default = {}, description = "Kubernetes node labels; changed in place." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true, description = "cluster_name/name" },
    arn = { type = "string", computed = true },
    status = { type = "string", computed = true },
  },

  create = function(ctx, p)
    check_scaling(p.scaling)
    local body = {
      nodegroupName = p.name, nodeRole = p.node_role_arn, version = p.version,
      subnets = aws.array(p.subnet_ids), instanceTypes = aws.array(p.instance_types),
      amiType = p.ami_type, capacityType = p.capacity_type, diskSize = int(p.disk_size),
      scalingConfig = scaling_config(p.scaling),
      labels = str_map(p.labels),
      tags = aws.all_tags(ctx, p.tags, true),
      clientRequestToken = ctx.token,
    }
    local path = "/clusters/" .. url.encode(p.cluster_name) .. "/node-groups"
    local function post()
      return aws.try({ "ResourceInUseException" }, eks, ctx, "POST", path, body, { idempotent = ctx.token ~= nil })
    end
    local _, err = post()
    if err then
      local g = describe(ctx, p.cluster_name, p.name)
      if g and g.status == "DELETING" and (g.tags or {})[aws.TAG_TOKEN] ~= ctx.token then
        -- the name is held by a node group on its way out: once it is gone, the name is free
        describe_alive(ctx, p.cluster_name, p.name)
        _, err = post()
        g = err and describe(ctx, p.cluster_name, p.name)
      end
      if err and (not g or not ctx.token or (g.tags or {})[aws.TAG_TOKEN] ~= ctx.token) then error(err, 0) end
    end
    return attrs_of(wait_active(ctx, p.cluster_name, p.name), p)
  end,

  read = read,

  update = function(ctx, id, old, new)
    local cluster, name = split_id(id)
    local g = wait_active(ctx, cluster, name, true)
    local version = new.version ~= nil and new.version ~= g.version and new.version or nil
    if version and not aws.k8s_steps(g.version, version) then -- before anything changes
      error(aws.k8s_downgrade("EKS node group " .. id, g.version, version), 0)
    end
    local body = {}
    local sc, want = g.scalingConfig or {}, scaling_config(new.scaling)
    check_scaling(new.scaling)
    if int(sc.minSize) ~= want.minSize or int(sc.maxSize) ~= want.maxSize or int(sc.desiredSize) ~= want.desiredSize then
      body.scalingConfig = want
    end
    local have, wl = g.labels or {}, str_map(new.labels)
    local add, remove = {}, {}
    for k, v in pairs(wl) do if have[k] ~= v then add[k] = v end end
    for k in pairs(have) do if wl[k] == nil then remove[#remove + 1] = k end end
    table.sort(remove)
    if next(add) or #remove > 0 then
      body.labels = {}
      if next(add) then body.labels.addOrUpdateLabels = add end
      if #remove > 0 then body.labels.removeLabels = aws.array(remove) end
    end
    if next(body) then
      -- no clientRequestToken: an update's ctx.token is the resource's
      -- creation token, the same for every later update, and EKS would
      -- answer a second update with the first one
      local r = eks(ctx, "POST", ng_path(cluster, name) .. "/update-config", body)
      g = wait_update(ctx, cluster, name, r.update)
    end
    if version then
      -- one token per target version: a retried upgrade is idempotent, a
      -- later one is new (a node group never goes back to a version)
      local r = eks(ctx, "POST", ng_path(cluster, name) .. "/update-version", { version = version,
        clientRequestToken = ctx.token and (ctx.token .. "-v" .. version) or nil }, { idempotent = ctx.token ~= nil })
      g = wait_update(ctx, cluster, name, r.update)
    end
    sync_tags(ctx, g.nodegroupArn, g.tags or {}, new.tags or {})
    return attrs_of(describe(ctx, cluster, name) or g, new)
  end,

  delete = function(ctx, id)
    local cluster, name = split_id(id)
    -- an update in progress, already deleting: asked again until gone
    aws.retry_on({ "ResourceInUseException" }, function()
      aws.try({ "ResourceNotFoundException" }, eks, ctx, "DELETE", ng_path(cluster, name))
    end, { timeout = 3600, what = "EKS node group " .. id .. " to be deletable" })
    wait_gone(ctx, cluster, name)
  end,

  import = function(ctx, id) return read(ctx, id) end,

  -- filter.cluster_name: a cluster name or a list of them (required: node
  -- groups live under a cluster)
  list = function(ctx, filter)
    local clusters = (filter or {}).cluster_name
    if type(clusters) ~= "table" then clusters = { clusters } end
    local out = aws.array()
    for _, cluster in ipairs(clusters) do
      local base = "/clusters/" .. url.encode(tostring(cluster)) .. "/node-groups"
      local names = aws.try({ "ResourceNotFoundException" }, cairn.paginate, function(token)
        local r = eks(ctx, "GET", base .. (token and ("?nextToken=" .. url.encode(token)) or ""))
        return r.nodegroups or {}, aws.str(r.nextToken)
      end) or {}
      for _, name in ipairs(names) do
        local g = describe(ctx, tostring(cluster), name)
        if g then out[#out + 1] = attrs_of(g) end
      end
    end
    return out
  end,

  recover = function(ctx, token, props)
    local g = describe(ctx, props.cluster_name, props.name)
    if not g or (g.tags or {})[aws.TAG_TOKEN] ~= token or not describe_alive(ctx, props.cluster_name, props.name) then
      return nil
    end
    return attrs_of(wait_active(ctx, props.cluster_name, props.name), props)
  end,
}
