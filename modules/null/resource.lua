-- null.resource: a resource that does nothing. Its id is fresh random hex,
-- and changing `triggers` replaces it (like Terraform's null_resource), so it
-- can pin ordering or force re-runs. Every operation returns at once.
local hex = cairn.random.hex

return {
  type = "null.resource",
  remote = false, -- its objects live only in the state: no intents needed
  description = "Does nothing; replaced whenever its triggers change.",
  schema = {
    triggers = { type = "map", force_new = true, description = "Arbitrary values; any change replaces the resource." },
    id = { type = "string", computed = true },
  },

  create = function(ctx, p)
    return { id = hex(8), triggers = p.triggers }
  end,

  read = function(ctx, id, attrs)
    return attrs or { id = id }
  end,

  delete = function(ctx, id, attrs) end,

  import = function(ctx, id)
    return { id = id }
  end,
}
