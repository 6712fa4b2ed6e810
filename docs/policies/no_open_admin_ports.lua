-- no_open_admin_ports: no security group may let the whole internet
-- (0.0.0.0/0 or ::/0) reach SSH (22) or RDP (3389), in any environment.
local ADMIN_PORTS = { 22, 3389 }
local WORLD = { ["0.0.0.0/0"] = true, ["::/0"] = true }

-- does the rule's port range (protocol "-1" or "all": every port) cover port?
local function covers(rule, port)
  local proto = tostring(rule.protocol or "")
  if proto == "-1" or proto == "all" then return true end
  if proto ~= "tcp" and proto ~= "6" then return false end
  local from, to = tonumber(rule.from_port), tonumber(rule.to_port)
  return from ~= nil and to ~= nil and from <= port and port <= to
end

local function open_to_world(rule)
  for _, field in ipairs({ "cidr_blocks", "ipv6_cidr_blocks" }) do
    for _, cidr in ipairs(rule[field] or {}) do
      if WORLD[cidr] then return cidr end
    end
  end
  return nil
end

return function(plan)
  local findings = {}
  for _, rc in ipairs(plan.changes) do
    if rc.type == "aws.security_group" and rc.action ~= "delete" and rc.after then
      for i, rule in ipairs(rc.after.ingress or {}) do
        local cidr = open_to_world(rule)
        if cidr then
          for _, port in ipairs(ADMIN_PORTS) do
            if covers(rule, port) then
              findings[#findings + 1] = { level = "deny", address = rc.address,
                message = ("ingress rule %d lets %s reach port %d"):format(i, cidr, port) }
            end
          end
        end
      end
    end
  end
  return findings
end
