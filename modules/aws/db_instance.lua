-- aws.db_instance: an RDS DB instance (Query API 2014-10-31).
-- The identifier is the id and the unique name: CreateDBInstance takes no
-- ClientToken, so after an unknown outcome (or DBInstanceAlreadyExists from
-- a re-sent create) the instance is described by identifier and adopted
-- only when it carries our cairn:token tag. Create waits until available;
-- modifications use ApplyImmediately=true and wait until available again
-- (or storage-optimization, where a storage change leaves the instance for
-- hours, usable); delete waits until the instance is gone. A new major
-- engine version is sent with AllowMajorVersionUpgrade (the configuration
-- asks for it). An engine_version given as a prefix ("16") is kept while
-- the instance's version starts with it ("16.3"): nothing to change. The
-- password is write-only: it is sent on create and when it changes
-- (ModifyDBInstance MasterUserPassword) and never read back: the recorded
-- value is kept.
-- Refresh: DescribeDBInstances with a db-instance-id filter of up to 100
-- identifiers, MaxRecords 100, paged by Marker (tags come in the answer).
-- An instance found deleting (a run killed after DeleteDBInstance was
-- accepted) is waited out and taken as gone by refresh, recovery, import
-- and the search after a refused create; a delete finding it deleting
-- (InvalidDBInstanceState) waits until it is gone.
local aws = require("aws.common")

local NOTFOUND = { "DBInstanceNotFound", "DBInstanceNotFoundFault" }

-- the filters list takes (applied here): filter name -> attribute
local LIST_FILTERS = { ["db-instance-id"] = "identifier", ["db-subnet-group-name"] = "db_subnet_group_name" }

local function rds(ctx, action, p, o) return aws.query(ctx, "rds", aws.RDS_VERSION, action, p, o) end

local function attrs_of(it, recorded)
  recorded = recorded or {}
  local _, user = aws.decode_tag_list(it.TagList)
  local ep = type(it.Endpoint) == "table" and it.Endpoint or {}
  local sg = type(it.DBSubnetGroup) == "table" and it.DBSubnetGroup or {}
  -- a group being removed (after a change, for a while) is not one of them
  local sgs = {}
  for _, m in ipairs(aws.list(it.VpcSecurityGroups, "VpcSecurityGroupMembership")) do
    if type(m.VpcSecurityGroupId) == "string" and m.Status ~= "removing" then sgs[#sgs + 1] = m.VpcSecurityGroupId end
  end
  local ident = aws.same_name(it.DBInstanceIdentifier, recorded.identifier)
  return {
    id = ident,
    identifier = ident,
    engine = it.Engine,
    engine_version = aws.same_version(aws.str(it.EngineVersion), recorded.engine_version),
    instance_class = it.DBInstanceClass,
    allocated_storage = aws.num(it.AllocatedStorage),
    username = aws.str(it.MasterUsername),
    db_subnet_group_name = aws.same_name(aws.str(sg.DBSubnetGroupName), recorded.db_subnet_group_name),
    vpc_security_group_ids = aws.order_like(sgs, recorded.vpc_security_group_ids, function(x) return x end),
    multi_az = aws.bool(it.MultiAZ),
    storage_encrypted = aws.bool(it.StorageEncrypted),
    publicly_accessible = aws.bool(it.PubliclyAccessible),
    storage_type = aws.str(it.StorageType),
    backup_retention_period = aws.num(it.BackupRetentionPeriod),
    tags = user,
    arn = aws.str(it.DBInstanceArn),
    endpoint = aws.str(ep.Address),
    port = aws.num(ep.Port),
    resource_id = aws.str(it.DbiResourceId),
    status = aws.str(it.DBInstanceStatus),
  }
end

local function describe_one(ctx, ident)
  local items = aws.try(NOTFOUND, aws.query_describe, ctx, "rds", aws.RDS_VERSION, "DescribeDBInstances",
    "DBInstances", "DBInstance", { DBInstanceIdentifier = ident })
  return items and items[1] or nil
end

-- available; storage-optimization (after a storage change, for up to
-- hours) is as good: the instance is usable and takes further
-- modifications, but for its storage. With nothing pending as well unless
-- pending_ok: changes someone scheduled for the maintenance window stay
-- pending for days, so a modify or delete does not wait for them (a modify
-- with ApplyImmediately applies them too); only after cairn's own modify
-- is "nothing pending" the sign that it is done.
local function settled(it, pending_ok)
  if it.DBInstanceStatus ~= "available" and it.DBInstanceStatus ~= "storage-optimization" then return false end
  local p = it.PendingModifiedValues
  return pending_ok or p == nil or p == "" or (type(p) == "table" and next(p) == nil)
end

local function wait_available(ctx, ident, pending_ok)
  return aws.wait_for(function()
    local it = describe_one(ctx, ident)
    if not it then return nil end
    return settled(it, pending_ok) and "settled" or it.DBInstanceStatus, it
  end, "settled", { what = "DB instance " .. ident .. " to be available",
    failed = { "failed", "incompatible-parameters", "incompatible-network", "storage-full", "inaccessible-encryption-credentials" },
    timeout = 3600, max_interval = 30 })
end

local function wait_gone(ctx, ident)
  aws.wait_for(function()
    local it = describe_one(ctx, ident)
    return it and it.DBInstanceStatus, it
  end, "gone", { what = "DB instance " .. ident .. " to be deleted", timeout = 3600, max_interval = 30 })
end

-- false, once it is gone, for an instance being deleted (see
-- aws.gone_once_deleted); true for any other
local function alive(ctx, it)
  if it.DBInstanceStatus ~= "deleting" then return true end
  local ident = it.DBInstanceIdentifier
  aws.gone_once_deleted(ctx, "DB instance " .. ident, function() wait_gone(ctx, ident) end)
  return false
end

local function read(ctx, ident, recorded)
  local it = describe_one(ctx, ident)
  local deleting = it and aws.being_deleted(ctx, it.DBInstanceStatus == "deleting")
  if deleting then return deleting end
  return it and alive(ctx, it) and attrs_of(it, recorded) or nil
end

-- The major version of an engine's version: postgres 10 and later the
-- first component ("16" of "16.3"), Oracle too ("19"); postgres 9.x, MySQL,
-- MariaDB, SQL Server the first two ("9.6", "8.0", "10.11", "15.00").
local function major_of(engine, v)
  local one = (engine:find("postgres", 1, true) and not v:find("^9%.")) or engine:find("^oracle")
  return v:match(one and "^[^.]*" or "^[^.]*%.?[^.]*")
end

local function storage_check(old, new)
  local from, to = old.allocated_storage, new.allocated_storage
  if not from or not to or to == from then return end
  if to < from then
    error(("allocated_storage cannot be decreased (%s GiB -> %s GiB): RDS refuses to shrink storage; "
      .. "create a new instance (a new identifier) and move the data"):format(tostring(from), tostring(to)), 0)
  end
  -- RDS grows storage by at least 10% at a time
  local least = math.ceil(from * 1.1)
  if to < least then
    error(("allocated_storage must grow by at least 10%% (%s GiB -> %s GiB): ask for %d GiB or more"):format(
      tostring(from), tostring(to), least), 0)
  end
end

return {
  type = "aws.db_instance",
  -- deadlines: its waits take up to an hour each, and an update may take several
  timeouts = { create = "2h", update = "3h", delete = "2h" },
  description = "An RDS DB instance.",
  schema = {
    identifier = { type = "string", required = true, force_new = true,
      -- RDS: 1-63 letters, digits, hyphens; a letter first; no hyphen last
      pattern = "[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?" },
    engine = { type = "string", required = true, force_new = true, description = "postgres, mysql, mariadb, ...",
      -- the values CreateDBInstance documents for Engine
      enum = { "aurora-mysql", "aurora-postgresql", "custom-oracle-ee", "custom-oracle-ee-cdb",
               "custom-oracle-se2", "custom-oracle-se2-cdb", "custom-sqlserver-ee", "custom-sqlserver-se",
               "custom-sqlserver-web", "custom-sqlserver-dev", "db2-ae", "db2-se", "mariadb", "mysql",
               "oracle-ee", "oracle-ee-cdb", "oracle-se2", "oracle-se2-cdb", "postgres", "sqlserver-dev-ee",
               "sqlserver-ee", "sqlserver-se", "sqlserver-ex", "sqlserver-web" } },
    engine_version = { type = "string", optional = true, computed = true, description = "Changed in place (ApplyImmediately)." },
    instance_class = { type = "string", required = true, pattern = "db\\.[a-z0-9.-]+", description = "db.t3.micro...; changed in place." },
    allocated_storage = { type = "number", default = 20, integer = true, min = 5, max = 65536,
      -- the widest of the engines' documented ranges (magnetic from 5 GiB; at most 64 TiB)
      description = "GiB; grows in place; RDS cannot shrink it (an error)." },
    username = { type = "string", required = true, force_new = true,
      -- 1-63 (PostgreSQL; fewer for others): a letter first, then letters, digits, _
      pattern = "[A-Za-z][A-Za-z0-9_]{0,62}" },
    password = { type = "string", required = true, sensitive = true, write_only = true,
      description = "Write-only: never read back. After an import the plan sets it (and says so); "
        .. "lifecycle.ignore_changes: [password] keeps the instance's own.",
      -- 8-128 printable ASCII characters, not / " @ (fewer for some engines)
      pattern = "[ !#-.0-?A-~]{8,128}" },
    db_subnet_group_name = { type = "string", optional = true, force_new = true },
    vpc_security_group_ids = { type = "list", optional = true, computed = true },
    multi_az = { type = "bool", default = false },
    storage_encrypted = { type = "bool", default = false, force_new = true,
      description = "Encryption at rest (the account's default KMS key); set at creation only." },
    publicly_accessible = { type = "bool", default = false },
    storage_type = { type = "string", default = "gp2",
      enum = { "standard", "gp2", "gp3", "io1", "io2", "aurora", "aurora-iopt1" } },
    backup_retention_period = { type = "number", default = 7, integer = true, min = 0, max = 35 },
    skip_final_snapshot = { type = "bool", default = true,
      description = "On delete: true skips the final snapshot, false takes one named <identifier>-final-<unix time>." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    endpoint = { type = "string", computed = true },
    port = { type = "number", computed = true },
    resource_id = { type = "string", computed = true },
    status = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local params = {
      DBInstanceIdentifier = p.identifier,
      Engine = p.engine,
      EngineVersion = p.engine_version,
      DBInstanceClass = p.instance_class,
      AllocatedStorage = p.allocated_storage,
      MasterUsername = p.username,
      MasterUserPassword = p.password,
      DBSubnetGroupName = p.db_subnet_group_name,
      MultiAZ = p.multi_az == true,
      StorageEncrypted = p.storage_encrypted == true,
      PubliclyAccessible = p.publicly_accessible == true,
      StorageType = p.storage_type,
      BackupRetentionPeriod = p.backup_retention_period,
    }
    aws.add_list(params, "VpcSecurityGroupIds.VpcSecurityGroupId", p.vpc_security_group_ids)
    aws.add_query_tags(params, aws.all_tags(ctx, p.tags, true))
    aws.create_by_name(ctx, function()
      return rds(ctx, "CreateDBInstance", params).CreateDBInstanceResult
    end, function()
      local it = describe_one(ctx, p.identifier)
      if not it or not alive(ctx, it) then return nil end
      return it, (aws.decode_tag_list(it.TagList))
    end, "DBInstanceAlreadyExists")
    return attrs_of(wait_available(ctx, p.identifier), p)
  end,

  -- for checks of kind module: DBInstanceStatus, ok when "available"
  status = function(ctx, id)
    local it = describe_one(ctx, id)
    if not it then return { ok = false, status = "gone", message = ("DB instance %s does not exist"):format(id) } end
    local st = aws.str(it.DBInstanceStatus) or "unknown"
    return { ok = st == "available", status = st }
  end,

  read = function(ctx, id, recorded) return read(ctx, id, recorded) end,

  read_many = function(ctx, list)
    local rec = aws.recorded_of(list)
    local ids, want = aws.ids_of(list), {}
    for _, id in ipairs(ids) do want[id:lower()] = id end
    local out = {}
    local function take(it)
      local id = want[(it.DBInstanceIdentifier or ""):lower()]
      if not id then return end
      local deleting = aws.being_deleted(ctx, it.DBInstanceStatus == "deleting")
      if deleting then out[id] = deleting elseif alive(ctx, it) then out[id] = attrs_of(it, rec[id]) end
    end
    -- those cairn drift's listing just described are not asked for again
    local kept
    kept, ids = aws.take_listed("DescribeDBInstances", "DBInstanceIdentifier", ids)
    for _, it in pairs(kept) do take(it) end
    for i = 1, #ids, 100 do
      local part = {}
      for j = i, math.min(i + 99, #ids) do part[#part + 1] = ids[j] end
      for _, it in ipairs(aws.query_describe(ctx, "rds", aws.RDS_VERSION, "DescribeDBInstances", "DBInstances",
          "DBInstance", aws.add_query_filters({}, { ["db-instance-id"] = part }))) do
        take(it)
      end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    storage_check(old, new)
    local it = wait_available(ctx, id, true)
    local cur = attrs_of(it, old)
    local p, n = { DBInstanceIdentifier = id, ApplyImmediately = true }, 0
    local function set(k, v) p[k] = v; n = n + 1 end
    if new.instance_class ~= cur.instance_class then set("DBInstanceClass", new.instance_class) end
    local ver = aws.str(it.EngineVersion)
    if new.engine_version and aws.same_version(ver, new.engine_version) ~= new.engine_version then
      if ver and aws.version_less(new.engine_version, ver) then
        error(aws.version_downgrade("DB instance " .. id, ver, new.engine_version), 0)
      end
      set("EngineVersion", new.engine_version)
      local engine = aws.str(it.Engine) or new.engine
      if not ver or major_of(engine, ver) ~= major_of(engine, new.engine_version) then
        p.AllowMajorVersionUpgrade = true
      end
    end
    if new.allocated_storage and new.allocated_storage ~= cur.allocated_storage then
      storage_check(cur, new)
      set("AllocatedStorage", new.allocated_storage)
    end
    if new.password ~= old.password then set("MasterUserPassword", new.password) end
    if (new.multi_az == true) ~= cur.multi_az then set("MultiAZ", new.multi_az == true) end
    if (new.publicly_accessible == true) ~= cur.publicly_accessible then set("PubliclyAccessible", new.publicly_accessible == true) end
    if new.storage_type and new.storage_type ~= cur.storage_type then set("StorageType", new.storage_type) end
    if new.backup_retention_period and new.backup_retention_period ~= cur.backup_retention_period then
      set("BackupRetentionPeriod", new.backup_retention_period)
    end
    if new.vpc_security_group_ids and not aws.same_set(cur.vpc_security_group_ids, new.vpc_security_group_ids) then
      aws.add_list(p, "VpcSecurityGroupIds.VpcSecurityGroupId", new.vpc_security_group_ids)
      n = n + 1
    end
    if n > 0 then
      -- a repeated modification to the same values is harmless
      rds(ctx, "ModifyDBInstance", p, { idempotent = true })
      it = wait_available(ctx, id)
      -- public access and security groups are not in PendingModifiedValues:
      -- wait until the instance shows them (groups neither adding nor removing)
      it = aws.wait_for(function()
        local x = describe_one(ctx, id)
        if not x then return nil end
        local done = p.PubliclyAccessible == nil or aws.bool(x.PubliclyAccessible) == p.PubliclyAccessible
        for _, m in ipairs(aws.list(x.VpcSecurityGroups, "VpcSecurityGroupMembership")) do
          if m.Status == "adding" or m.Status == "removing" then done = false end
        end
        return done and "applied" or "applying", x
      end, "applied", { what = "DB instance " .. id .. " to show its new settings", timeout = 600, max_interval = 15 })
    end
    aws.query_sync_tags(ctx, "rds", aws.RDS_VERSION, it.DBInstanceArn, (aws.decode_tag_list(it.TagList)), new.tags or {})
    return read(ctx, id, new)
  end,

  delete = function(ctx, id, attrs)
    local p = { DBInstanceIdentifier = id }
    if attrs and attrs.skip_final_snapshot == false then
      -- a name of its own: the same identifier deleted again later (after a
      -- replacement) would find "<id>-final" taken (DBSnapshotAlreadyExists)
      p.FinalDBSnapshotIdentifier = ("%s-final-%d"):format(id, math.floor(cairn.time.now()))
      -- a final snapshot needs an available instance
      if not aws.try({ "NotFound" }, wait_available, ctx, id, true) then return end
    else
      p.SkipFinalSnapshot = true
    end
    local ok, err = aws.try({ "DBInstanceNotFound", "DBInstanceNotFoundFault", "InvalidDBInstanceState" },
      rds, ctx, "DeleteDBInstance", p, { idempotent = true })
    if not ok and aws.is(err, "InvalidDBInstanceState") then
      local it = describe_one(ctx, id)
      if it and it.DBInstanceStatus ~= "deleting" then error(err, 0) end
    end
    wait_gone(ctx, id)
  end,

  -- filter: db-instance-id, db-subnet-group-name, tag:KEY (RDS filters on
  -- none of the last two: every instance is described, its tags come in
  -- the answer, and the filter is applied here); one being deleted is left out
  list = function(ctx, filter)
    local attrs_ok, tags_ok = aws.local_filter(filter, LIST_FILTERS)
    local out = aws.array()
    for _, it in ipairs(aws.query_describe(ctx, "rds", aws.RDS_VERSION, "DescribeDBInstances", "DBInstances",
        "DBInstance", {})) do
      local a = attrs_of(it)
      local keep = it.DBInstanceStatus ~= "deleting" and attrs_ok(a)
      if keep and (not tags_ok or tags_ok((aws.decode_tag_list(it.TagList)))) then out[#out + 1] = a end
    end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = describe_one(ctx, props.identifier)
    if not it or aws.decode_tag_list(it.TagList)[aws.TAG_TOKEN] ~= token or not alive(ctx, it) then return nil end
    return attrs_of(wait_available(ctx, props.identifier), props)
  end,
}
