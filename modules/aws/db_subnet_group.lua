-- aws.db_subnet_group: an RDS DB subnet group (Query API 2014-10-31),
-- through aws.subnet_group: CreateDBSubnetGroup, DescribeDBSubnetGroups,
-- ModifyDBSubnetGroup, DeleteDBSubnetGroup, tags by DBSubnetGroupArn. The
-- name is the id (RDS lowercases it); a group must cover two AZs.
local aws = require("aws.common")

return require("aws.subnet_group").new({
  service = "rds", version = aws.RDS_VERSION, group = "DBSubnetGroup", arn = "DBSubnetGroupArn",
  not_found = "DBSubnetGroupNotFoundFault", exists = "DBSubnetGroupAlreadyExists",
  in_use = "InvalidDBSubnetGroupStateFault", what = "DB subnet group",
}, {
  type = "aws.db_subnet_group",
  description = "An RDS DB subnet group: the subnets (in at least two AZs) DB instances may use.",
  schema = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string", default = "Managed by cairn" },
    subnet_ids = { type = "list", required = true, description = "Subnets in at least two availability zones; changed in place." },
    tags = { type = "map", default = {} },
    id = { type = "string", computed = true },
    arn = { type = "string", computed = true },
    vpc_id = { type = "string", computed = true },
  },
})
