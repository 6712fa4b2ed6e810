-- random.id: random bytes rendered as hex and base64, like Terraform's
-- random_id. Nothing lives in a cloud: read returns what was recorded.
-- id and hex carry the prefix ("web-1f2e..."), b64_url and b64_std too.
local function tohex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function fromhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local function attrs(p, bytes)
  local prefix = p.prefix or ""
  local std = cairn.base64.encode(bytes)
  local url = std:gsub("%+", "-"):gsub("/", "_"):gsub("=+$", "")
  return {
    byte_length = #bytes,
    prefix = p.prefix,
    keepers = p.keepers,
    id = prefix .. tohex(bytes),
    hex = prefix .. tohex(bytes),
    b64_url = prefix .. url,
    b64_std = prefix .. std,
  }
end

return {
  type = "random.id",
  remote = false, -- its objects live only in the state: no intents needed
  description = "Random bytes, as hex and base64 (for unique names).",
  schema = {
    byte_length = { type = "number", default = 8, min = 1, max = 1024, integer = true, force_new = true, description = "How many random bytes (1-1024)." },
    prefix = { type = "string", force_new = true, description = "Prepended to id, hex and the base64 forms." },
    keepers = { type = "map", force_new = true, description = "Arbitrary values; any change makes a new id." },
    id = { type = "string", computed = true },
    hex = { type = "string", computed = true },
    b64_url = { type = "string", computed = true },
    b64_std = { type = "string", computed = true },
  },

  create = function(ctx, p)
    local n = p.byte_length or 8
    if math.type(n) ~= "integer" and n ~= math.floor(n) or n < 1 or n > 1024 then
      error(("byte_length must be a whole number from 1 to 1024, not %s"):format(tostring(n)))
    end
    return attrs(p, cairn.random.bytes(math.tointeger(n)))
  end,

  read = function(ctx, id, old)
    return old
  end,

  delete = function(ctx, id, old) end,

  -- import "HEX" or "PREFIX,HEX"
  import = function(ctx, id)
    local prefix, h = id:match("^(.*),(%x+)$")
    if not h then h = id:match("^%x+$") end
    if not h or #h % 2 ~= 0 then
      error(("cannot import random.id '%s': want hex digits, optionally after 'prefix,'"):format(id))
    end
    return attrs({ prefix = prefix }, fromhex(h))
  end,
}
