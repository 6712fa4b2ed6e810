-- aws.eks_cluster: an EKS cluster (REST-JSON, 2017-11-01). The name is
-- the id. CreateCluster carries clientRequestToken = the operation's
-- idempotency token, so a re-sent create returns the cluster it made;
-- a ResourceInUseException is adopted only when the cluster carries our
-- cairn:token tag. Create waits ACTIVE; a version change
-- (UpdateClusterVersion) or endpoint access change (UpdateClusterConfig)
-- waits for its update to succeed; delete waits until the cluster is gone.
-- Refresh: one DescribeCluster per cluster (EKS has no batched describe).
-- A cluster found DELETING (a run killed after DeleteCluster was accepted)
-- is waited out and taken as gone by refresh, recovery and import; a
-- create refused because a DELETING cluster holds the name waits it out
-- and creates again; a delete refused while it is DELETING
-- (ResourceInUseException) is asked again until it is gone.
--
-- Upgrades: EKS takes one minor version per UpdateClusterVersion and none
-- back, so an upgrade steps through the minors (each its own update and
-- token, waited on) and a downgrade is refused before anything is sent.
-- EKS also refuses to upgrade a cluster while a managed node group is not
-- at the cluster's version, and a node group cannot pass its cluster; the
-- node groups are resources of their own that depend on the cluster, so
-- they follow it only after its update. Hence, for a cluster with node
-- groups: one minor version per apply (the node groups, with
-- `version: "${<cluster>.version}"`, follow in the same apply), and a jump
-- of more, or an upgrade while a node group lags, is refused up front with
-- a message saying what to set.
local aws = require("aws.common")

local url = cairn.url

local function eks(ctx, method, path, body, opts) return aws.json_call(ctx, "eks", method, path, body, opts) end

local function attrs_of(c, recorded)
  recorded = recorded or {}
  local vpc = c.resourcesVpcConfig or {}
  local user = {}
  for k, v in pairs(c.tags or {}) do if not aws.is_cairn_tag(k) then user[k] = v end end
  local same = function(x) return x end
  return {
    id = c.name,
    name = c.name,
    version = c.version,
    role_arn = c.roleArn,
    subnet_ids = aws.order_like(vpc.subnetIds or {}, recorded.subnet_ids, same),
    security_group_ids = aws.order_like(vpc.securityGroupIds or {}, recorded.security_group_ids, same),
    endpoint_public_access = vpc.endpointPublicAccess == true,
    endpoint_private_access = vpc.endpointPrivateAccess == true,
    tags = user,
    arn = c.arn,
    endpoint = c.endpoint,
    certificate_authority = c.certificateAuthority and c.certificateAuthority.data or nil,
    cluster_security_group_id = vpc.clusterSecurityGroupId,
    vpc_id = vpc.vpcId,
    platform_version = c.platformVersion,
    status = c.status,
  }
end

local function describe(ctx, name)
  local r = aws.try({ "ResourceNotFoundException" }, eks, ctx, "GET", "/clusters/" .. url.encode(name))
  return r and r.cluster or nil
end

local function wait_gone(ctx, name)
  aws.wait_for(function()
    local c = describe(ctx, name)
    return c and c.status, c
  end, "gone", { what = "EKS cluster " .. name .. " to be deleted", timeout = 3600, max_interval = 30 })
end

-- The cluster, or nil when it does not exist or was being deleted (waited
-- out: see aws.gone_once_deleted).
local function describe_alive(ctx, name)
  local c = describe(ctx, name)
  if c and c.status == "DELETING" then
    return aws.gone_once_deleted(ctx, "EKS cluster " .. name, function() wait_gone(ctx, name) end)
  end
  return c
end

local function wait_active(ctx, name)
  return aws.wait_for(function()
    local c = describe(ctx, name)
    return c and c.status, c
  end, "ACTIVE", { what = "EKS cluster " .. name .. " to be ACTIVE", failed = { "FAILED" }, timeout = 3600, max_interval = 30 })
end

local function wait_update(ctx, name, update)
  local id = update and update.id
  if not id then return wait_active(ctx, name) end
  aws.wait_for(function()
    local r = eks(ctx, "GET", "/clusters/" .. url.encode(name) .. "/updates/" .. url.encode(id))
    return r.update and r.update.status, r.update
  end, "Successful", { what = "EKS update " .. id .. " of " .. name, failed = { "Failed", "Cancelled" }, timeout = 3600, max_interval = 30 })
  return wait_active(ctx, name)
end

-- Refuses (before anything changes) an upgrade from cur through steps that
-- EKS would refuse, or that would leave the node groups unable to follow:
-- see the top of the file.
local function check_nodegroups(ctx, name, cur, steps)
  local lagging, names = {}, {}
  for _, g in ipairs(require("aws.eks_nodegroup").list(ctx, { cluster_name = name })) do
    names[#names + 1] = g.name
    if g.version ~= cur then lagging[#lagging + 1] = ("%s (at %s)"):format(g.name, tostring(g.version)) end
  end
  local target = steps[#steps]
  if #lagging > 0 then
    error(aws.error("InvalidRequest", ("cannot upgrade EKS cluster %s from %s to %s: its node groups %s must first be "
      .. "upgraded to %s, the cluster's version: keep the cluster's version at %s and set theirs to %s (or to the "
      .. "cluster's version), apply, then upgrade the cluster"):format(name, cur, target, table.concat(lagging, ", "),
      cur, cur, cur)), 0)
  end
  if #names > 0 and #steps > 1 then
    error(aws.error("InvalidRequest", ("cannot upgrade EKS cluster %s from %s to %s in one apply: it has managed node "
      .. "groups (%s), which must reach each minor version before the cluster takes the next; set its version to %s "
      .. "(and theirs to the cluster's version), apply, and repeat up to %s"):format(name, cur, target,
      table.concat(names, ", "), steps[1], target)), 0)
  end
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

return {
  type = "aws.eks_cluster",
  -- deadlines: its waits take up to an hour each, and an update may take several
  timeouts = { create = "2h", update = "6h", delete = "2h" },
  description = "An EKS cluster (control plane).",
  schema = {
    name = { type = "string", required = true, force_new = true, pattern = "[0-9A-Za-z][A-Za-z0-9_-]{0,99}" },
    version = { type = "string", optional = true, computed = true,
                description = "Kubernetes version; upgraded in place, one minor version at a time, never back (with node "
                  .. "groups: one minor version per apply)." },
    role_arn = { type = "string", required = true, force_new = true },
    subnet_ids = { type = "list", required = true, force_new = true },
    security_group_ids = { type = "list", default = cairn.json.array(), force_new = true },
    endpoint_public_access = { type = "bool", default = true },
    endpoint_private_access = { type = "bool", default = false },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    endpoint = { type = "string", computed = true },
    certificate_authority = { type = "string", computed = true },
    cluster_security_group_id = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
    platform_version = { type = "string", computed = true },
    status = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local body = {
      name = p.name, version = p.version, roleArn = p.role_arn,
      resourcesVpcConfig = {
        subnetIds = aws.array(p.subnet_ids), securityGroupIds = aws.array(p.security_group_ids),
        endpointPublicAccess = p.endpoint_public_access ~= false, endpointPrivateAccess = p.endpoint_private_access == true,
      },
      tags = aws.all_tags(ctx, p.tags, true),
      clientRequestToken = ctx.token,
    }
    local function post()
      return aws.try({ "ResourceInUseException" }, eks, ctx, "POST", "/clusters", body, { idempotent = ctx.token ~= nil })
    end
    local _, err = post()
    if err then
      local c = describe(ctx, p.name)
      if c and c.status == "DELETING" and (c.tags or {})[aws.TAG_TOKEN] ~= ctx.token then
        -- the name is held by a cluster on its way out: once it is gone, the name is free
        describe_alive(ctx, p.name)
        _, err = post()
        c = err and describe(ctx, p.name)
      end
      if err and (not c or not ctx.token or (c.tags or {})[aws.TAG_TOKEN] ~= ctx.token) then error(err, 0) end
    end
    return attrs_of(wait_active(ctx, p.name), p)
  end,

  -- for checks of kind module: the cluster's status, ok when ACTIVE
  status = function(ctx, id)
    local c = describe(ctx, id)
    if not c then return { ok = false, status = "gone", message = ("cluster %s does not exist"):format(id) } end
    return { ok = c.status == "ACTIVE", status = c.status or "unknown" }
  end,

  read = function(ctx, id, recorded)
    local c = describe(ctx, id)
    if c and c.status == "DELETING" then
      local deleting = aws.being_deleted(ctx, true)
      if deleting then return deleting end
      c = describe_alive(ctx, id) -- waits it out
    end
    return c and attrs_of(c, recorded) or nil
  end,

  update = function(ctx, id, old, new)
    local c = wait_active(ctx, id)
    local base = "/clusters/" .. url.encode(id)
    if new.version and new.version ~= c.version then
      local steps = aws.k8s_steps(c.version, new.version)
        or error(aws.k8s_downgrade("EKS cluster " .. id, c.version, new.version), 0)
      check_nodegroups(ctx, id, c.version, steps)
      for _, v in ipairs(steps) do
        local r = eks(ctx, "POST", base .. "/updates", { version = v,
          -- one token per target version: a retried upgrade is idempotent, a later one is new
          clientRequestToken = ctx.token and (ctx.token .. "-v" .. v) or nil },
          { idempotent = ctx.token ~= nil })
        c = wait_update(ctx, id, r.update)
      end
    end
    local vpc = c.resourcesVpcConfig or {}
    if (new.endpoint_public_access ~= false) ~= (vpc.endpointPublicAccess == true)
      or (new.endpoint_private_access == true) ~= (vpc.endpointPrivateAccess == true) then
      local r = eks(ctx, "POST", base .. "/update-config", { resourcesVpcConfig = {
        endpointPublicAccess = new.endpoint_public_access ~= false, endpointPrivateAccess = new.endpoint_private_access == true } })
      c = wait_update(ctx, id, r.update)
    end
    sync_tags(ctx, c.arn, c.tags or {}, new.tags or {})
    return attrs_of(describe(ctx, id) or c, new)
  end,

  delete = function(ctx, id)
    -- node groups still there, an update in progress, already deleting: asked again until gone
    aws.retry_on({ "ResourceInUseException" }, function()
      aws.try({ "ResourceNotFoundException" }, eks, ctx, "DELETE", "/clusters/" .. url.encode(id))
    end, { timeout = 3600, what = "EKS cluster " .. id .. " to be deletable" })
    wait_gone(ctx, id)
  end,

  import = function(ctx, id)
    local c = describe_alive(ctx, id)
    return c and attrs_of(c) or nil
  end,

  recover = function(ctx, token, props)
    local c = describe(ctx, props.name)
    if not c or (c.tags or {})[aws.TAG_TOKEN] ~= token or not describe_alive(ctx, props.name) then return nil end
    return attrs_of(wait_active(ctx, props.name), props)
  end,
}
