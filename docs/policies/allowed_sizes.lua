-- allowed_sizes: the instance and node types each environment may use.
-- Small sizes in dev and staging keep their cost down; production gets
-- the sizes capacity planning agreed on. An environment not listed here
-- may use the "default" list.
local ALLOWED = {
  default = { "t3.*", "db.t3.*", "cache.t3.*", "t4g.*", "db.t4g.*", "cache.t4g.*" },
  staging = { "t3.*", "m5.large", "db.t3.*", "cache.t3.*" },
  prod = { "m5.*", "m6i.*", "r6g.*", "db.r6g.*", "db.m6i.*", "cache.r6g.*", "cache.m6g.*" },
  dr = { "m5.*", "m6i.*", "r6g.*", "db.r6g.*", "db.m6i.*", "cache.r6g.*", "cache.m6g.*" },
}

-- the size attributes of each type (a list attribute holds several)
local SIZES = {
  ["aws.instance"] = "instance_type",
  ["aws.eks_nodegroup"] = "instance_types",
  ["aws.db_instance"] = "instance_class",
  ["aws.elasticache_replication_group"] = "node_type",
}

local function glob_match(pattern, s)
  local lua = "^" .. pattern:gsub("[%.%-%+%[%]%(%)%^%$%%]", "%%%0"):gsub("%*", ".*") .. "$"
  return s:match(lua) ~= nil
end

local function allowed(list, size)
  for _, p in ipairs(list) do
    if glob_match(p, size) then return true end
  end
  return false
end

return function(plan)
  local findings = {}
  local list = ALLOWED[plan.environment] or ALLOWED.default
  for _, rc in ipairs(plan.changes) do
    local attr = SIZES[rc.type]
    if attr and rc.action ~= "delete" and rc.after and rc.after[attr] ~= nil then
      local v = rc.after[attr]
      local sizes = type(v) == "table" and v or { v }
      for _, size in ipairs(sizes) do
        if type(size) == "string" and not allowed(list, size) then
          findings[#findings + 1] = { level = "deny", address = rc.address,
            message = ("%s %s is not allowed in %s (allowed: %s)"):format(attr, size, plan.environment,
              table.concat(list, ", ")) }
        end
      end
    end
  end
  return findings
end
