-- prod_databases: in production environments, databases survive the loss
-- of an availability zone and are encrypted at rest. RDS instances need
-- multi_az and storage_encrypted; ElastiCache replication groups need
-- multi_az (with automatic_failover) and at_rest_encryption.
local PRODUCTION = { prod = true, dr = true }

local CHECKS = {
  ["aws.db_instance"] = { "multi_az", "storage_encrypted" },
  ["aws.elasticache_replication_group"] = { "multi_az", "automatic_failover", "at_rest_encryption" },
}

return function(plan)
  local findings = {}
  if not PRODUCTION[plan.environment] then return findings end
  for _, rc in ipairs(plan.changes) do
    local attrs = CHECKS[rc.type]
    if attrs and rc.action ~= "delete" and rc.after then
      for _, a in ipairs(attrs) do
        if rc.after[a] ~= true then
          findings[#findings + 1] = { level = "deny", address = rc.address,
            message = ("%s must be true in %s (is %s)"):format(a, plan.environment, tostring(rc.after[a])) }
        end
      end
    end
  end
  return findings
end
