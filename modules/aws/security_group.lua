-- aws.security_group: an EC2 security group and its rules.
-- ingress / egress are lists of rules {protocol, from_port, to_port,
-- cidr_blocks = [...], ipv6_cidr_blocks = [...], prefix_list_ids = [...],
-- source_security_group_id}; they are authoritative:
-- rules not listed are revoked (so an empty egress removes AWS's default
-- allow-all egress rule, as Terraform does). Rules are compared as their
-- atoms (one protocol, port range and peer each), so AWS's grouping of
-- rules by port range does not show as a change.
-- CreateSecurityGroup takes no ClientToken; a re-sent create fails with
-- InvalidGroup.Duplicate and the group is adopted when its cairn:token tag
-- is ours; recover finds it by that tag.
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

local PROTO = { tcp = "tcp", ["6"] = "tcp", udp = "udp", ["17"] = "udp", icmp = "icmp", ["1"] = "icmp",
  ["-1"] = "-1", all = "-1" }

local function norm_proto(p)
  p = tostring(p == nil and "-1" or p):lower()
  if math.tointeger(tonumber(p)) then p = tostring(math.tointeger(tonumber(p))) end
  return PROTO[p] or p
end

local function port(v, def)
  if v == nil or v == "" then return def end
  return math.tointeger(tonumber(v)) or def
end

-- The peers a rule can name: its field in a rule (a list, or one group id),
-- the set and item field in ipPermissions, the Authorize/Revoke parameter.
local PEERS = {
  { kind = "cidr", field = "cidr_blocks", set = "ipRanges", item = "cidrIp", param = "IpRanges.1.CidrIp" },
  { kind = "cidr6", field = "ipv6_cidr_blocks", set = "ipv6Ranges", item = "cidrIpv6", param = "Ipv6Ranges.1.CidrIpv6" },
  { kind = "pl", field = "prefix_list_ids", set = "prefixListIds", item = "prefixListId",
    param = "PrefixListIds.1.PrefixListId" },
  { kind = "group", field = "source_security_group_id", one = true, set = "groups", item = "groupId",
    param = "Groups.1.GroupId" },
}
local PEER = {}
for _, k in ipairs(PEERS) do PEER[k.kind] = k end

-- atoms of one user rule: {proto, from, to, kind = "cidr"|"cidr6"|"pl"|"group", peer}
local function atoms_of_rule(r, where)
  if type(r) ~= "table" then error(("%s: each rule must be a map"):format(where)) end
  local proto = norm_proto(r.protocol)
  local from, to = port(r.from_port, -1), port(r.to_port, -1)
  if proto == "-1" then from, to = -1, -1 end
  local out = {}
  for _, k in ipairs(PEERS) do
    local v = r[k.field]
    if k.one then v = (type(v) == "string" and v ~= "") and { v } or {} end
    for _, peer in ipairs(v or {}) do
      out[#out + 1] = { proto = proto, from = from, to = to, kind = k.kind, peer = peer }
    end
  end
  if #out == 0 then
    error(("%s: a rule needs cidr_blocks, ipv6_cidr_blocks, prefix_list_ids or source_security_group_id"):format(where))
  end
  return out
end

local function akey(a)
  return table.concat({ a.proto, a.from, a.to, a.kind, a.peer }, "|")
end

-- atoms of an ipPermissions set
local function atoms_of_perms(set)
  local out = {}
  for _, p in ipairs(aws.list(set, "item")) do
    local proto = norm_proto(p.ipProtocol)
    local from, to = port(p.fromPort, -1), port(p.toPort, -1)
    if proto == "-1" then from, to = -1, -1 end
    for _, k in ipairs(PEERS) do
      for _, r in ipairs(aws.list(p[k.set], "item")) do
        out[#out + 1] = { proto = proto, from = from, to = to, kind = k.kind, peer = r[k.item] }
      end
    end
  end
  return out
end

-- actual atoms -> rule list, reusing the recorded rules that are wholly present
local function rules_of(atoms, recorded)
  local present, used = {}, {}
  for _, a in ipairs(atoms) do present[akey(a)] = a end
  local out = cairn.json.array()
  for _, r in ipairs(recorded or {}) do
    local ok, ratoms = pcall(atoms_of_rule, r, "rule")
    if ok then
      local all = #ratoms > 0
      for _, a in ipairs(ratoms) do
        local k = akey(a)
        if not present[k] or used[k] then all = false end
      end
      if all then
        for _, a in ipairs(ratoms) do used[akey(a)] = true end
        out[#out + 1] = r
      end
    end
  end
  -- what is left, grouped: the CIDRs and prefix lists of one port range
  -- together, one rule per group peer
  local groups, order = {}, {}
  for _, a in ipairs(atoms) do
    local k = akey(a)
    if not used[k] then
      used[k] = true
      local function base()
        local from, to = a.from, a.to
        if a.proto == "-1" then from, to = 0, 0 end
        return { protocol = a.proto, from_port = from, to_port = to }
      end
      if not PEER[a.kind].one then
        local gk = a.proto .. "|" .. a.from .. "|" .. a.to
        if not groups[gk] then
          groups[gk] = base()
          order[#order + 1] = groups[gk]
        end
        local field = PEER[a.kind].field
        local list = groups[gk][field] or cairn.json.array()
        groups[gk][field] = list
        list[#list + 1] = a.peer
      else
        local r = base()
        r.source_security_group_id = a.peer
        order[#order + 1] = r
      end
    end
  end
  for _, r in ipairs(order) do out[#out + 1] = r end
  return out
end

local function attrs_of(ctx, it, recorded)
  recorded = recorded or {}
  local _, user = aws.decode_tags(it.tagSet)
  return {
    id = it.groupId,
    arn = aws.str(it.securityGroupArn) or ("arn:aws:ec2:%s:%s:security-group/%s"):format(ctx.provider.region, it.ownerId or "", it.groupId),
    owner_id = aws.str(it.ownerId),
    name = it.groupName,
    description = it.groupDescription,
    vpc_id = aws.str(it.vpcId),
    ingress = rules_of(atoms_of_perms(it.ipPermissions), recorded.ingress),
    egress = rules_of(atoms_of_perms(it.ipPermissionsEgress), recorded.egress),
    tags = user,
  }
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidGroup.NotFound", "InvalidGroupId.Malformed" }, aws.ec2_describe,
    ctx, "DescribeSecurityGroups", "securityGroupInfo", { ["GroupId.1"] = id })
  return items and items[1] or nil
end

local function read(ctx, id, recorded)
  local it = describe_one(ctx, id)
  return it and attrs_of(ctx, it, recorded) or nil
end

local function find_by_token(ctx, token)
  return aws.ec2_describe(ctx, "DescribeSecurityGroups", "securityGroupInfo",
    aws.add_filters({}, { ["tag:" .. aws.TAG_TOKEN] = token }))[1]
end

local function perm_params(atoms)
  local p = {}
  for i, a in ipairs(atoms) do
    local pre = "IpPermissions." .. i .. "."
    p[pre .. "IpProtocol"] = a.proto
    if a.proto ~= "-1" then
      p[pre .. "FromPort"] = a.from
      p[pre .. "ToPort"] = a.to
    end
    p[pre .. PEER[a.kind].param] = a.peer
  end
  return p
end

-- Authorize or revoke atoms: in one call, or one by one when the batch
-- trips over an atom that is already (or no longer) there.
local function change(ctx, id, dir, add, atoms)
  if #atoms == 0 then return end
  local action = (add and "Authorize" or "Revoke") .. "SecurityGroup" .. dir
  local benign = add and "InvalidPermission.Duplicate" or "InvalidPermission.NotFound"
  local function call(list)
    local p = perm_params(list)
    p.GroupId = id
    return ec2(ctx, action, p, { idempotent = true })
  end
  local ok, err = aws.try({ benign }, call, atoms)
  if ok == nil and err and #atoms > 1 then
    for _, a in ipairs(atoms) do aws.try({ benign }, call, { a }) end
  end
end

local function flatten_rules(rules, where)
  local out, seen = {}, {}
  for i, r in ipairs(rules or {}) do
    for _, a in ipairs(atoms_of_rule(r, where .. "[" .. (i - 1) .. "]")) do
      local k = akey(a)
      if not seen[k] then seen[k] = true; out[#out + 1] = a end
    end
  end
  return out
end

local function diff(have, want)
  local hk, wk, add, del = {}, {}, {}, {}
  for _, a in ipairs(have) do hk[akey(a)] = true end
  for _, a in ipairs(want) do wk[akey(a)] = true; if not hk[akey(a)] then add[#add + 1] = a end end
  for _, a in ipairs(have) do if not wk[akey(a)] then del[#del + 1] = a end end
  return add, del
end

local function converge(ctx, id, it, p)
  for _, d in ipairs({ { "Ingress", it.ipPermissions, p.ingress, "ingress" }, { "Egress", it.ipPermissionsEgress, p.egress, "egress" } }) do
    local add, del = diff(atoms_of_perms(d[2]), flatten_rules(d[3], d[4]))
    change(ctx, id, d[1], false, del)
    change(ctx, id, d[1], true, add)
  end
end

return {
  type = "aws.security_group",
  description = "A VPC security group with its ingress and egress rules.",
  schema = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by cairn", force_new = true },
    vpc_id = { type = "string", required = true, force_new = true },
    ingress = { type = "list", default = cairn.json.array(), description = "Rules {protocol, from_port, to_port, cidr_blocks, ipv6_cidr_blocks, prefix_list_ids, source_security_group_id}." },
    egress = { type = "list", default = cairn.json.array(), description = "Same shape as ingress; authoritative (empty: no egress)." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    owner_id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    -- check the rules before making anything
    flatten_rules(p.ingress, "ingress")
    flatten_rules(p.egress, "egress")
    local params = { GroupName = p.name, GroupDescription = p.description or "Managed by cairn", VpcId = p.vpc_id }
    aws.add_tag_spec(params, "security-group", aws.all_tags(ctx, p.tags, true))
    local id
    local r, err = aws.try({ "InvalidGroup.Duplicate" }, function()
      return aws.create_recoverable(ctx, function() return ec2(ctx, "CreateSecurityGroup", params) end, find_by_token)
    end)
    if r then
      id = r.groupId
    else
      -- a re-sent create that had worked: adopt the group only if it carries our token
      local mine = ctx.token and find_by_token(ctx, ctx.token)
      if not mine or mine.groupName ~= p.name then error(err, 0) end
      id = mine.groupId
    end
    local it = aws.wait_visible(function() return describe_one(ctx, id) end, "security group " .. id)
    converge(ctx, id, it, p)
    return read(ctx, id, p) or error(("security group %s vanished right after it was created"):format(id))
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_marks = true, -- attrs_of reads the item, ctx.provider and the recorded alone
  read_many_attrs = { "ingress", "egress" }, -- what attrs_of reads of the recorded
  read_many = function(ctx, list)
    local rec = {}
    for _, e in ipairs(list) do if e.id then rec[e.id] = e.attrs end end
    local found = aws.ec2_describe_ids(ctx, "DescribeSecurityGroups", "securityGroupInfo", "GroupId", "groupId",
      aws.ids_of(list), "InvalidGroup.NotFound")
    local out = {}
    for id, it in pairs(found) do out[id] = aws.read_result(ctx, it, attrs_of, rec[id]) end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("InvalidGroup.NotFound", ("the security group '%s' does not exist"):format(id))) end
    aws.ec2_sync_tags(ctx, id, (aws.decode_tags(it.tagSet)), new.tags or {}, true)
    converge(ctx, id, it, new)
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    aws.retry_on({ "DependencyViolation" }, function()
      aws.try({ "InvalidGroup.NotFound" }, ec2, ctx, "DeleteSecurityGroup", { GroupId = id }, { idempotent = true })
    end, { timeout = aws.DEPENDENTS_GO_WITHIN, what = "security group " .. id .. " to have no dependents" })
  end,

  list = function(ctx, filter)
    local out, brief = aws.array(), aws.brief(ctx, { id = "groupId", vpc_id = "vpcId", name = "groupName" })
    for _, it in ipairs(aws.ec2_describe(ctx, "DescribeSecurityGroups", "securityGroupInfo", aws.add_filters({}, filter or {}),
        { id = brief and "groupId" })) do
      out[#out + 1] = brief and brief(it) or attrs_of(ctx, it)
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = find_by_token(ctx, token)
    return it and read(ctx, it.groupId, props) or nil
  end,
}
