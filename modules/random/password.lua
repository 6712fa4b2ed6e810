-- random.password: a random password, like Terraform's random_password.
-- Every argument forces a new password (as in Terraform). Characters are
-- drawn with cairn.random.int (rejection sampling, so no modulo bias): first
-- the minimum of each class, then the rest from every enabled class, then a
-- Fisher-Yates shuffle. The result is sensitive; id is "none".
local UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
local LOWER = "abcdefghijklmnopqrstuvwxyz"
local NUMERIC = "0123456789"
local SPECIAL = "!@#$%&*()-_=+[]{}<>:?"

local rand = cairn.random.int

local function pick(set, n, out)
  for _ = 1, n do
    local i = rand(1, #set)
    out[#out + 1] = set:sub(i, i)
  end
end

local function whole(name, v, lo, hi)
  local n = v
  if math.type(n) == "float" and n == math.floor(n) then n = math.tointeger(n) end
  if math.type(n) ~= "integer" or n < lo or n > hi then
    error(("%s must be a whole number from %d to %d, not %s"):format(name, lo, hi, tostring(v)))
  end
  return n
end

local function opt(p, name, default)
  if p[name] == nil then return default end
  return p[name]
end

local function generate(p)
  local length = whole("length", opt(p, "length", 16), 1, 1024)
  local classes = {
    { name = "upper", on = opt(p, "upper", true), set = UPPER },
    { name = "lower", on = opt(p, "lower", true), set = LOWER },
    { name = "numeric", on = opt(p, "numeric", true), set = NUMERIC },
    { name = "special", on = opt(p, "special", true), set = p.override_special or SPECIAL },
  }
  local all, out, need = "", {}, 0
  for _, c in ipairs(classes) do
    local min = whole("min_" .. c.name, opt(p, "min_" .. c.name, 0), 0, 1024)
    if min > 0 and not c.on then
      error(("min_%s is %d but %s is false"):format(c.name, min, c.name))
    end
    if c.on and #c.set > 0 then
      all = all .. c.set
      pick(c.set, min, out)
    elseif min > 0 then
      error(("min_%s is %d but override_special is empty"):format(c.name, min))
    end
    need = need + min
  end
  if need > length then
    error(("the minimums add up to %d characters, more than length %d"):format(need, length))
  end
  if #all == 0 then
    error("no characters to choose from: enable upper, lower, numeric or special")
  end
  pick(all, length - #out, out)
  for i = #out, 2, -1 do
    local j = rand(1, i)
    out[i], out[j] = out[j], out[i]
  end
  return table.concat(out)
end

local function attrs(p, result)
  return {
    length = opt(p, "length", 16),
    special = opt(p, "special", true), upper = opt(p, "upper", true),
    lower = opt(p, "lower", true), numeric = opt(p, "numeric", true),
    override_special = p.override_special,
    min_upper = opt(p, "min_upper", 0), min_lower = opt(p, "min_lower", 0),
    min_numeric = opt(p, "min_numeric", 0), min_special = opt(p, "min_special", 0),
    keepers = p.keepers,
    result = result,
    id = "none",
  }
end

return {
  type = "random.password",
  remote = false, -- its objects live only in the state: no intents needed
  description = "A random password (the result is sensitive).",
  schema = {
    length = { type = "number", default = 16, min = 1, max = 1024, integer = true, force_new = true },
    special = { type = "bool", default = true, force_new = true },
    upper = { type = "bool", default = true, force_new = true },
    lower = { type = "bool", default = true, force_new = true },
    numeric = { type = "bool", default = true, force_new = true },
    override_special = { type = "string", force_new = true, description = "Special characters to use instead of the default set." },
    min_upper = { type = "number", default = 0, min = 0, max = 1024, integer = true, force_new = true },
    min_lower = { type = "number", default = 0, min = 0, max = 1024, integer = true, force_new = true },
    min_numeric = { type = "number", default = 0, min = 0, max = 1024, integer = true, force_new = true },
    min_special = { type = "number", default = 0, min = 0, max = 1024, integer = true, force_new = true },
    keepers = { type = "map", force_new = true, description = "Arbitrary values; any change makes a new password." },
    result = { type = "string", computed = true, sensitive = true },
    id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    return attrs(p, generate(p))
  end,

  read = function(ctx, id, old)
    return old
  end,

  delete = function(ctx, id, old) end,

  -- import with the password itself as the id
  import = function(ctx, id)
    return attrs({ length = #id }, id)
  end,
}
