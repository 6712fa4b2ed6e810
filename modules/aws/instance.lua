-- aws.instance: an EC2 instance (one RunInstances each).
-- RunInstances carries ClientToken = the operation's token: a launch sent
-- again after an unknown outcome, or the next apply after a crash between
-- RunInstances and the state's commit, gets the same instance back instead
-- of a second one (recover finds it by its client token).
-- In place: tags; security groups (ModifyInstanceAttribute GroupId.N, at
-- any time); instance_type, which EC2 changes only while the instance is
-- stopped (stop, modify, start, waiting for each); state (running or
-- stopped). Anything else replaces the instance.
-- EC2 takes AssociatePublicIpAddress only on a network interface: with
-- associate_public_ip_address set, NetworkInterface.1 carries the subnet,
-- groups and private IP as well (EC2 refuses them twice).
-- Refresh is batched: DescribeInstances with an instance-id filter of up to
-- 200 ids per call (a terminated instance counts as gone), and the user data
-- of each, all at the same time (DescribeInstanceAttribute has no batch).
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

local GONE = { ["shutting-down"] = true, terminated = true }
-- the tag `cairn sim --instance-hosts` puts on an instance: where its sshd listens
local SIM_SSH_TAG = "cairn-sim:ssh-address"

-- tags that belong to the cloud, not the user: AWS's aws:* and the sim's
local function cloud_tag(k)
  return k:find("^aws:") ~= nil or k:find("^cairn%-sim:") ~= nil
end

-- DescribeInstances answers reservations; their instances, each with the
-- reservation's owner.
-- (cairn drift's listings keep the instances for the refresh: "instances")
local function describe(ctx, params)
  local out = {}
  for _, r in ipairs(aws.ec2_items(ctx, "DescribeInstances", "reservationSet", params)) do
    for _, it in ipairs(aws.list(r.instancesSet, "item")) do
      it.ownerId = r.ownerId
      out[#out + 1] = it
    end
  end
  aws.keep_listed(ctx, "instances", out)
  return out
end

local function state_of(it)
  return type(it.instanceState) == "table" and it.instanceState.name or nil
end

local function describe_one(ctx, id)
  local items = aws.try({ "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed" }, describe,
    ctx, { ["InstanceId.1"] = id })
  return items and items[1] or nil
end

-- id -> user data (text; false when none) of the instances still there,
-- one DescribeInstanceAttribute each, all at the same time.
local function user_data_of(ctx, ids)
  local calls, out = {}, {}
  for i, id in ipairs(ids) do calls[i] = { "DescribeInstanceAttribute", { InstanceId = id, Attribute = "userData" } } end
  local answers = aws.ec2_all(ctx, calls, { "InvalidInstanceID.NotFound" })
  for i = 1, #calls do
    local r = answers[i]
    if r then
      local v = type(r.userData) == "table" and aws.str(r.userData.value) or nil
      out[ids[i]] = v and cairn.base64.decode(v) or false
    end
  end
  return out
end

local function attrs_of(ctx, it, user_data, recorded)
  recorded = recorded or {}
  local all, user = aws.decode_tags(it.tagSet)
  for k in pairs(user) do if cloud_tag(k) then user[k] = nil end end
  local groups = {}
  for _, g in ipairs(aws.list(it.groupSet, "item")) do groups[#groups + 1] = g.groupId end
  local state, public = state_of(it), aws.str(it.ipAddress)
  -- a stopped instance has no public IP (EC2 gives it a new one at the
  -- start): whether it gets one is then only known from what was recorded
  local associate = public ~= nil
  if state ~= "running" and state ~= "pending" then associate = recorded.associate_public_ip_address end
  local private = aws.str(it.privateIpAddress)
  return {
    id = it.instanceId,
    arn = ("arn:aws:ec2:%s:%s:instance/%s"):format(ctx.provider.region, it.ownerId or "", it.instanceId),
    ami = it.imageId,
    instance_type = it.instanceType,
    subnet_id = aws.str(it.subnetId),
    vpc_id = aws.str(it.vpcId),
    vpc_security_group_ids = aws.order_like(groups, recorded.vpc_security_group_ids, function(s) return s end),
    key_name = aws.str(it.keyName),
    private_ip = private,
    public_ip = public,
    associate_public_ip_address = associate,
    private_dns = aws.str(it.privateDnsName),
    public_dns = aws.str(it.dnsName),
    availability_zone = type(it.placement) == "table" and aws.str(it.placement.availabilityZone) or nil,
    user_data = user_data or nil,
    state = state,
    ssh_address = all[SIM_SSH_TAG] or public or private,
    tags = user,
  }
end

local function read(ctx, id, recorded)
  local it = describe_one(ctx, id)
  if not it or GONE[state_of(it)] then return nil end
  local ud = user_data_of(ctx, { id })[id]
  if ud == nil then return nil end
  return attrs_of(ctx, it, ud, recorded)
end

-- Wait until the instance is in state `want` (a transition EC2 makes on its own).
local function wait_state(ctx, id, want, just_created)
  aws.wait_for(function()
    local it = describe_one(ctx, id)
    return it and state_of(it), it
  end, want, { what = ("instance %s to be %s"):format(id, want), timeout = 900, just_created = just_created,
    failed = { "shutting-down", "terminated" } })
end

-- Stop or start it and wait (both are no change when already so).
local function stop(ctx, id)
  ec2(ctx, "StopInstances", { ["InstanceId.1"] = id }, { idempotent = true })
  wait_state(ctx, id, "stopped")
end

local function start(ctx, id)
  ec2(ctx, "StartInstances", { ["InstanceId.1"] = id }, { idempotent = true })
  wait_state(ctx, id, "running")
end

-- Let a change EC2 is making finish: pending ends running, stopping stopped.
local function settled(ctx, id, it)
  local st = state_of(it)
  if st == "pending" then wait_state(ctx, id, "running"); return "running" end
  if st == "stopping" then wait_state(ctx, id, "stopped"); return "stopped" end
  return st
end

local function check_state(want)
  if want ~= nil and want ~= "running" and want ~= "stopped" then
    error(aws.error("InvalidParameterValue", ("state must be running or stopped, not %q"):format(tostring(want))))
  end
end

local function run_params(ctx, p)
  local params = { ImageId = p.ami, InstanceType = p.instance_type, MinCount = 1, MaxCount = 1,
    ClientToken = ctx.token, KeyName = p.key_name }
  if p.user_data and p.user_data ~= "" then params.UserData = cairn.base64.encode(p.user_data) end
  if p.associate_public_ip_address ~= nil then
    params["NetworkInterface.1.DeviceIndex"] = 0
    params["NetworkInterface.1.AssociatePublicIpAddress"] = p.associate_public_ip_address == true
    params["NetworkInterface.1.SubnetId"] = p.subnet_id
    params["NetworkInterface.1.PrivateIpAddress"] = p.private_ip
    aws.add_list(params, "NetworkInterface.1.SecurityGroupId", p.vpc_security_group_ids)
  else
    params.SubnetId, params.PrivateIpAddress = p.subnet_id, p.private_ip
    aws.add_list(params, "SecurityGroupId", p.vpc_security_group_ids)
  end
  aws.add_tag_spec(params, "instance", aws.all_tags(ctx, p.tags, true))
  return params
end

-- The instance made by this token's RunInstances, unless it is gone.
local function find_by_token(ctx, token)
  for _, it in ipairs(describe(ctx, aws.add_filters({}, { ["client-token"] = token }))) do
    if not GONE[state_of(it)] then return it end
  end
  return nil
end

return {
  type = "aws.instance",
  description = "An EC2 instance.",
  schema = {
    ami = { type = "string", required = true, force_new = true, description = "The image (ami-...)." },
    instance_type = { type = "string", default = "t3.micro",
      description = "Changed in place: the instance is stopped, changed and started again." },
    subnet_id = { type = "string", optional = true, computed = true, force_new = true,
      description = "Default: the default VPC's default subnet." },
    vpc_security_group_ids = { type = "list", optional = true, computed = true,
      description = "Default: the VPC's default group. Changed in place." },
    key_name = { type = "string", optional = true, force_new = true, description = "An aws.key_pair's key_name." },
    private_ip = { type = "string", optional = true, computed = true, force_new = true },
    associate_public_ip_address = { type = "bool", optional = true, computed = true, force_new = true,
      description = "Default: as the subnet maps public IPs." },
    user_data = { type = "string", optional = true, force_new = true, description = "Text run at the first boot." },
    state = { type = "string", default = "running", description = "running or stopped." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
    public_ip = { type = "string", computed = true, description = "Changes at each start, as on EC2." },
    private_dns = { type = "string", computed = true },
    public_dns = { type = "string", computed = true },
    availability_zone = { type = "string", computed = true },
    ssh_address = { type = "string", computed = true,
      description = "Where SSH reaches it: under cairn sim --instance-hosts its loopback address, else its public IP, else its private IP." },
  },

  create = function(ctx, p)
    check_state(p.state)
    -- the ClientToken makes the launch safe to send again
    local r = ec2(ctx, "RunInstances", run_params(ctx, p), { idempotent = ctx.token ~= nil })
    local it = aws.list(r.instancesSet, "item")[1]
    if not it or not it.instanceId then error(aws.error("InvalidResponse", "RunInstances answered no instance")) end
    local id = it.instanceId
    wait_state(ctx, id, "running", true)
    if p.state == "stopped" then stop(ctx, id) end
    return read(ctx, id, p) or error(("instance %s vanished right after it was launched"):format(id))
  end,

  -- for checks of kind module: the instance's state and EC2's two status
  -- checks (DescribeInstanceStatus); status "ok" when it runs and both pass,
  -- else the state, or the first check that is not ok (system, then instance)
  status = function(ctx, id)
    local r = aws.try({ "InvalidInstanceID.NotFound" }, ec2, ctx, "DescribeInstanceStatus",
      { ["InstanceId.1"] = id, IncludeAllInstances = "true" })
    local it = r and aws.list(r.instanceStatusSet, "item")[1]
    if not it then return { ok = false, status = "gone", message = ("instance %s does not exist"):format(id) } end
    local state = type(it.instanceState) == "table" and it.instanceState.name or "unknown"
    if state ~= "running" then return { ok = false, status = state, message = ("instance %s is %s"):format(id, state) } end
    local sys = type(it.systemStatus) == "table" and aws.str(it.systemStatus.status) or "unknown"
    local inst = type(it.instanceStatus) == "table" and aws.str(it.instanceStatus.status) or "unknown"
    if sys == "ok" and inst == "ok" then return { ok = true, status = "ok" } end
    return { ok = false, status = sys ~= "ok" and sys or inst,
      message = ("system status %s, instance status %s"):format(sys, inst) }
  end,

  read = function(ctx, id, attrs) return read(ctx, id, attrs) end,

  read_many = function(ctx, list)
    local ids, rec, found, present = aws.ids_of(list), aws.recorded_of(list), {}, {}
    -- those cairn drift's listing just described are not asked for again
    local kept
    kept, ids = aws.take_listed("instances", "instanceId", ids)
    for id, it in pairs(kept) do
      if not GONE[state_of(it)] then found[id] = it end
    end
    for i = 1, #ids, 200 do
      local part = {}
      for j = i, math.min(i + 199, #ids) do part[#part + 1] = ids[j] end
      for _, it in ipairs(describe(ctx, aws.add_filters({}, { ["instance-id"] = part }))) do
        if not GONE[state_of(it)] then found[it.instanceId] = it end
      end
    end
    for id in pairs(found) do present[#present + 1] = id end
    table.sort(present)
    local uds, out = user_data_of(ctx, present), {}
    for _, id in ipairs(present) do
      if uds[id] ~= nil then out[id] = attrs_of(ctx, found[id], uds[id], rec[id]) end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    check_state(new.state)
    local it = describe_one(ctx, id)
    if not it or GONE[state_of(it)] then
      error(aws.error("InvalidInstanceID.NotFound", ("the instance '%s' does not exist"):format(id)))
    end
    local st = settled(ctx, id, it)
    local all = aws.decode_tags(it.tagSet)
    for k in pairs(all) do if cloud_tag(k) then all[k] = nil end end
    aws.ec2_sync_tags(ctx, id, all, new.tags or {}, true)
    local groups = {}
    for _, g in ipairs(aws.list(it.groupSet, "item")) do groups[#groups + 1] = g.groupId end
    if new.vpc_security_group_ids ~= nil and not aws.same_set(groups, new.vpc_security_group_ids) then
      ec2(ctx, "ModifyInstanceAttribute", aws.add_list({ InstanceId = id }, "GroupId", new.vpc_security_group_ids),
        { idempotent = true })
    end
    -- EC2 changes the type of a stopped instance only
    if new.instance_type and new.instance_type ~= it.instanceType then
      if st ~= "stopped" then stop(ctx, id); st = "stopped" end
      ec2(ctx, "ModifyInstanceAttribute", { InstanceId = id, ["InstanceType.Value"] = new.instance_type },
        { idempotent = true })
    end
    local want = new.state or "running"
    if want == "running" and st ~= "running" then start(ctx, id) end
    if want == "stopped" and st ~= "stopped" then stop(ctx, id) end
    return read(ctx, id, new)
  end,

  delete = function(ctx, id)
    local done = aws.try({ "InvalidInstanceID.NotFound" }, ec2, ctx, "TerminateInstances", { ["InstanceId.1"] = id },
      { idempotent = true })
    if not done then return end
    -- its subnet and security groups are in use until it is terminated
    aws.wait_for(function()
      local it = describe_one(ctx, id)
      return it and state_of(it), it
    end, { "terminated", "gone" }, { what = ("instance %s to be terminated"):format(id), timeout = 1200 })
  end,

  list = function(ctx, filter)
    local out = aws.array()
    for _, it in ipairs(describe(ctx, aws.add_filters({}, filter or {}))) do
      if not GONE[state_of(it)] then out[#out + 1] = attrs_of(ctx, it, nil) end
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  -- what the interrupted create launched; the next plan compares the rest
  recover = function(ctx, token, props)
    local it = find_by_token(ctx, token)
    if not it then return nil end
    settled(ctx, it.instanceId, it)
    return read(ctx, it.instanceId, props)
  end,
}
