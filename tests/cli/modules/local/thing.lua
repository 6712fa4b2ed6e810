-- local.thing: an object in a fake cloud on the local file system, with the
-- properties a cloud API has that matter to the engine: creates take time,
-- are idempotent by token (like EC2's ClientToken), and can be found again
-- by token after a crash (recover).
--   cloud dir: ctx.base_dir .. "/cloud"; object file: <cloud>/<token>
local function cloud(ctx) return ctx.base_dir .. "/cloud" end

-- Held on demand while <cloud>/.hold exists (a test lets go by removing
-- it), at most 60 s: a lock held exactly as long as a test needs. Creates
-- and updates wait (after their delay).
local function hold(ctx)
  local held = 0
  while held < 60 and cairn.fs.exists(cloud(ctx) .. "/.hold") do
    cairn.sleep(0.05)
    held = held + 0.05
  end
end

local function encode(p)
  return cairn.json.encode(p)
end

local function load(ctx, id)
  local text = cairn.fs.read(cloud(ctx) .. "/" .. id)
  if not text then return nil end
  local obj = cairn.json.decode(text)
  obj.id = id
  return obj
end

return {
  type = "local.thing",
  description = "an object in a file-system cloud, for engine tests",
  schema = {
    name  = { type = "string", required = true },
    size  = { type = "number", default = 1 },
    zone  = { type = "string", force_new = true, default = "a" },
    delay = { type = "number", default = 0 },
    settle = { type = "number", default = 0 },  -- seconds between making the object and answering
    fail  = { type = "bool", default = false },
    tags  = { type = "map" },
    id    = { type = "string", computed = true },
    arn   = { type = "string", computed = true },
  },
  create = function(ctx, p)
    if p.fail then error({ code = "InvalidParameterValue", message = "refusing to create " .. p.name }) end
    if p.delay > 0 then cairn.sleep(p.delay) end
    hold(ctx)
    cairn.fs.mkdir_p(cloud(ctx))
    local id = "thing-" .. ctx.token
    if not cairn.fs.exists(cloud(ctx) .. "/" .. id) then
      cairn.fs.write(cloud(ctx) .. "/" .. id, encode({ name = p.name, size = p.size, zone = p.zone, tags = p.tags, address = ctx.address }), "0644")
    end
    if p.settle > 0 then cairn.sleep(p.settle) end
    local o = load(ctx, id)
    o.arn = "arn:test:" .. id
    return o
  end,
  read = function(ctx, id)
    -- a slow cloud on demand: <cloud>/.read-delay holds seconds per read
    local d = cairn.fs.read(cloud(ctx) .. "/.read-delay")
    if d and tonumber(d) then cairn.sleep(tonumber(d)) end
    local o = load(ctx, id)
    if o then o.arn = "arn:test:" .. id end
    return o
  end,
  update = function(ctx, id, old, new)
    if new.fail then error("update of " .. id .. " refused") end
    if new.delay > 0 then cairn.sleep(new.delay) end
    hold(ctx)
    cairn.fs.write(cloud(ctx) .. "/" .. id, encode({ name = new.name, size = new.size, zone = new.zone, tags = new.tags, address = ctx.address }), "0644")
    local o = load(ctx, id)
    o.arn = "arn:test:" .. id
    return o
  end,
  delete = function(ctx, id)
    local o = load(ctx, id)
    if o and o.delay and o.delay > 0 then cairn.sleep(o.delay) end
    cairn.fs.remove(cloud(ctx) .. "/" .. id)
  end,
  recover = function(ctx, token)
    local o = load(ctx, "thing-" .. token)
    if o then o.arn = "arn:test:thing-" .. token end
    return o
  end,
}
