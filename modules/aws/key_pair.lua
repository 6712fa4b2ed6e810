-- aws.key_pair: an EC2 key pair imported from a public key (ImportKeyPair).
-- The id is the key name, what aws.instance's key_name takes; key_pair_id
-- is EC2's own id. ImportKeyPair takes no ClientToken and names are unique:
-- a re-sent import fails with InvalidKeyPair.Duplicate and the key pair is
-- adopted only when its cairn:token tag is ours; recover finds it by that tag.
-- EC2 computes the fingerprint of an imported key its own way (RSA: MD5 of
-- the DER public key; ED25519: base64 SHA-256): it is read, not computed.
-- Refresh asks with IncludePublicKey, so a key pair replaced behind cairn's
-- back (the same name, another key) shows as a change of public_key.
-- Keys are compared without their comments (EC2 answers with the key
-- pair's name as the comment). EC2 cannot change the key of a key pair: a
-- new public_key is imported again under the same name (DeleteKeyPair,
-- ImportKeyPair), which keeps the id; instances launched with the old key
-- keep it. After an import only the comment may differ: that update
-- records the stack's text and sends nothing.
-- Refresh is batched: DescribeKeyPairs with a key-name filter of up to 200
-- names per call (a filter: a name that is gone is left out, not an error).
local aws = require("aws.common")

local function ec2(ctx, action, p, o) return aws.ec2(ctx, action, p, o) end

-- "ssh-ed25519 AAAA... comment\n" -> "ssh-ed25519 AAAA...": the key itself
-- (EC2 answers with the key pair's name as the comment).
local function key_core(text)
  if type(text) ~= "string" then return nil end
  local kind, b64 = text:match("^%s*(%S+)%s+(%S+)")
  return kind and (kind .. " " .. b64) or nil
end

local function attrs_of(it, recorded)
  local _, user = aws.decode_tags(it.tagSet)
  local pub = aws.str(it.publicKey)
  -- the key as it was written when it is the same key
  if type(recorded) == "string" and key_core(recorded) == key_core(pub) then pub = recorded end
  return {
    id = it.keyName,
    key_name = it.keyName,
    key_pair_id = it.keyPairId,
    fingerprint = aws.str(it.keyFingerprint),
    key_type = aws.str(it.keyType),
    public_key = pub,
    tags = user,
  }
end

local function describe(ctx, filters)
  return aws.ec2_describe(ctx, "DescribeKeyPairs", "keySet",
    aws.add_filters({ IncludePublicKey = "true" }, filters))
end

local function describe_one(ctx, name)
  return describe(ctx, { ["key-name"] = name })[1]
end

local function read(ctx, name, recorded_key)
  local it = describe_one(ctx, name)
  return it and attrs_of(it, recorded_key) or nil
end

local function find_by_token(ctx, token)
  return describe(ctx, { ["tag:" .. aws.TAG_TOKEN] = token })[1]
end

local function import_params(ctx, p)
  local params = { KeyName = p.key_name, PublicKeyMaterial = cairn.base64.encode(p.public_key) }
  return aws.add_tag_spec(params, "key-pair", aws.all_tags(ctx, p.tags, true))
end

-- The key pair once DescribeKeyPairs shows it with this key.
local function wait_key(ctx, name, key)
  return aws.wait_visible(function()
    local it = describe_one(ctx, name)
    return it and key_core(aws.str(it.publicKey)) == key_core(key) and it or nil
  end, "key pair " .. name)
end

local function check_key(p)
  if not key_core(p.public_key) then
    error(aws.error("InvalidKeyPair.Format", "public_key must be an OpenSSH public key line (\"ssh-ed25519 AAAA...\")"))
  end
end

return {
  type = "aws.key_pair",
  description = "An EC2 key pair, imported from an OpenSSH public key (RSA or ED25519).",
  schema = {
    key_name = { type = "string", required = true, force_new = true, description = "Unique in the region." },
    public_key = { type = "string", required = true,
      description = "The OpenSSH public key line (\"ssh-ed25519 AAAA... comment\"); another key is imported again under the same name." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    key_pair_id = { type = "string", computed = true },
    fingerprint = { type = "string", computed = true, description = "As EC2 computes it for imported keys." },
    key_type = { type = "string", computed = true },
  },

  create = function(ctx, p)
    check_key(p)
    aws.create_by_name(ctx, function()
      return ec2(ctx, "ImportKeyPair", import_params(ctx, p))
    end, function()
      local it = describe_one(ctx, p.key_name)
      return it, it and aws.decode_tags(it.tagSet)
    end, "InvalidKeyPair.Duplicate")
    return attrs_of(wait_key(ctx, p.key_name, p.public_key), p.public_key)
  end,

  read = function(ctx, id, attrs) return read(ctx, id, attrs and attrs.public_key) end,

  read_many = function(ctx, list)
    local rec, names = {}, aws.ids_of(list)
    for _, e in ipairs(list) do rec[e.id] = e.attrs and e.attrs.public_key end
    local out = {}
    -- those cairn drift's listing just described are not asked for again
    local kept
    kept, names = aws.take_listed("DescribeKeyPairs", "keyName", names)
    for name, it in pairs(kept) do out[name] = attrs_of(it, rec[name]) end
    for i = 1, #names, 200 do
      local part = {}
      for j = i, math.min(i + 199, #names) do part[#part + 1] = names[j] end
      for _, it in ipairs(describe(ctx, { ["key-name"] = part })) do out[it.keyName] = attrs_of(it, rec[it.keyName]) end
    end
    return out
  end,

  update = function(ctx, id, old, new)
    local it = describe_one(ctx, id)
    if not it then error(aws.error("InvalidKeyPair.NotFound", ("the key pair '%s' does not exist"):format(id))) end
    if key_core(aws.str(it.publicKey)) ~= key_core(new.public_key) then
      -- another key: EC2 changes none in place, import it again under the name
      check_key(new)
      ec2(ctx, "DeleteKeyPair", { KeyName = id }, { idempotent = true })
      ec2(ctx, "ImportKeyPair", import_params(ctx, { key_name = id, public_key = new.public_key, tags = new.tags }))
      return attrs_of(wait_key(ctx, id, new.public_key), new.public_key)
    end
    aws.ec2_sync_tags(ctx, it.keyPairId, aws.decode_tags(it.tagSet), new.tags or {}, true)
    return read(ctx, id, new.public_key)
  end,

  -- DeleteKeyPair of a name that is not there succeeds
  delete = function(ctx, id)
    ec2(ctx, "DeleteKeyPair", { KeyName = id }, { idempotent = true })
  end,

  list = function(ctx, filter)
    local out = aws.array()
    for _, it in ipairs(describe(ctx, filter or {})) do out[#out + 1] = attrs_of(it) end
    return out
  end,

  import = function(ctx, id) return read(ctx, id) end,

  recover = function(ctx, token, props)
    local it = find_by_token(ctx, token)
    return it and attrs_of(it, props and props.public_key) or nil
  end,
}
