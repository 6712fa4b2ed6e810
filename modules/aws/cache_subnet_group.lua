-- aws.cache_subnet_group: an ElastiCache cache subnet group (Query API
-- 2015-02-02), through aws.subnet_group: CreateCacheSubnetGroup,
-- DescribeCacheSubnetGroups, ModifyCacheSubnetGroup, DeleteCacheSubnetGroup,
-- tags by ARN. The name is the id (ElastiCache lowercases it).
local aws = require("aws.common")

return require("aws.subnet_group").new({
  service = "elasticache", version = aws.ELASTICACHE_VERSION, group = "CacheSubnetGroup", arn = "ARN",
  not_found = "CacheSubnetGroupNotFoundFault", exists = "CacheSubnetGroupAlreadyExists",
  in_use = "CacheSubnetGroupInUse", what = "cache subnet group",
}, {
  type = "aws.cache_subnet_group",
  description = "An ElastiCache cache subnet group.",
  schema = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by cairn" },
    subnet_ids = { type = "list", required = true, description = "Changed in place." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
  },
})
