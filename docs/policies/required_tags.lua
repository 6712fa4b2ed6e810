-- required_tags: every taggable AWS object carries the tags the cost and
-- ownership reports group by. A missing tag is a deny in production
-- environments and a warning elsewhere (so a dev stack can start untagged).
local REQUIRED = { "team" }
local PRODUCTION = { prod = true, dr = true }
-- types whose objects cannot carry tags, or whose tags are not ours to set
local UNTAGGED = { ["aws.key_pair"] = false }

return function(plan)
  local findings = {}
  local level = PRODUCTION[plan.environment] and "deny" or "warn"
  for _, rc in ipairs(plan.changes) do
    local after = rc.after
    if rc.type:match("^aws%.") and UNTAGGED[rc.type] == nil and rc.action ~= "delete" and after then
      local tags = after.tags or {}
      for _, k in ipairs(REQUIRED) do
        if tags[k] == nil or tags[k] == "" then
          findings[#findings + 1] = { level = level, address = rc.address,
            message = ("missing tag '%s'"):format(k) }
        end
      end
    end
  end
  return findings
end
