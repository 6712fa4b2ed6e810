#!/usr/bin/env bash
# tests/sim/rds.sh - the simulated RDS over signed Query requests, against
# the real `cairn sim` binary: subnet groups over EC2 subnets, DB instances
# and their lifecycle, every error the service documents here, tags by
# ARN, pagination, DependencyViolation on EC2, persistence across restarts.
# usage: rds.sh /path/to/cairn
set -u
CAIRN=${1:?usage: rds.sh CAIRN}
SVC=rds
V=2014-10-31
. "$(dirname "$0")/query_helpers.sh"
rds() { call rds "Action=$1&Version=$V${2:+&$2}"; }

start

# ---- EC2 network: a VPC, three subnets in two AZs, one in another VPC, a group
ec2 CreateVpc "CidrBlock=10.0.0.0/16"; VPC=$(xq vpc/vpcId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"; SA=$(xq subnet/subnetId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1b"; SB=$(xq subnet/subnetId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.3.0/24&AvailabilityZone=us-east-1a"; SC=$(xq subnet/subnetId)
ec2 CreateVpc "CidrBlock=10.1.0.0/16"; VPC2=$(xq vpc/vpcId)
ec2 CreateSubnet "VpcId=$VPC2&CidrBlock=10.1.1.0/24&AvailabilityZone=us-east-1b"; SX=$(xq subnet/subnetId)
ec2 CreateSecurityGroup "GroupName=db&GroupDescription=db&VpcId=$VPC"; SG=$(xq groupId)
ec2 CreateSecurityGroup "GroupName=other&GroupDescription=x&VpcId=$VPC2"; SG2=$(xq groupId)
[ -n "$SA" ] && [ -n "$SB" ] && [ -n "$SX" ] && [ -n "$SG" ] || { echo "FAIL: EC2 setup"; cat "$T/body"; exit 1; }

# ---- DB subnet groups
rds CreateDBSubnetGroup "DBSubnetGroupName=Main&DBSubnetGroupDescription=main+group&SubnetIds.SubnetIdentifier.1=$SA&SubnetIds.SubnetIdentifier.2=$SB&Tags.Tag.1.Key=team&Tags.Tag.1.Value=data"
want_status 200 "CreateDBSubnetGroup"
want_eq "$(xq CreateDBSubnetGroupResult/DBSubnetGroup/DBSubnetGroupName)" main "subnet group name lowercased"
want_eq "$(xq DBSubnetGroup/VpcId)" "$VPC" "subnet group VPC"
want_eq "$(xq -c Subnets/Subnet)" 2 "subnet count"
want_eq "$(xq -a SubnetAvailabilityZone/Name | sort | tr '\n' ' ')" "us-east-1a us-east-1b " "subnet AZs"
want_eq "$(xq DBSubnetGroupArn)" "arn:aws:rds:us-east-1:123456789012:subgrp:main" "subnet group ARN"
want_eq "$(xq SubnetGroupStatus)" Complete "subnet group status"
want_eq "$(xq RequestId | wc -c)" 37 "RequestId in ResponseMetadata"

rds CreateDBSubnetGroup "DBSubnetGroupName=main&DBSubnetGroupDescription=x&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB"
want_error 400 DBSubnetGroupAlreadyExists "duplicate subnet group"
rds CreateDBSubnetGroup "DBSubnetGroupName=one-az&DBSubnetGroupDescription=x&SubnetIds.member.1=$SA&SubnetIds.member.2=$SC"
want_error 400 DBSubnetGroupDoesNotCoverEnoughAZs "one AZ"
rds CreateDBSubnetGroup "DBSubnetGroupName=mixed&DBSubnetGroupDescription=x&SubnetIds.member.1=$SA&SubnetIds.member.2=$SX"
want_error 400 InvalidSubnet "two VPCs"
rds CreateDBSubnetGroup "DBSubnetGroupName=ghost&DBSubnetGroupDescription=x&SubnetIds.member.1=subnet-0123456789abcdef0&SubnetIds.member.2=$SB"
want_error 400 InvalidSubnet "unknown subnet"
rds CreateDBSubnetGroup "DBSubnetGroupName=nodesc&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB"
want_error 400 MissingParameter "no description"
rds CreateDBSubnetGroup "DBSubnetGroupName=nosubnets&DBSubnetGroupDescription=x"
want_error 400 MissingParameter "no subnets"

rds DescribeDBSubnetGroups "DBSubnetGroupName=main"
want_status 200 "DescribeDBSubnetGroups"
want_eq "$(xq -c DBSubnetGroups/DBSubnetGroup)" 1 "one subnet group"
rds DescribeDBSubnetGroups "DBSubnetGroupName=nope"
want_error 404 DBSubnetGroupNotFoundFault "describe missing subnet group"
rds ModifyDBSubnetGroup "DBSubnetGroupName=main&DBSubnetGroupDescription=changed&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB&SubnetIds.member.3=$SC"
want_status 200 "ModifyDBSubnetGroup"
want_eq "$(xq DBSubnetGroupDescription)" changed "modified description"
want_eq "$(xq -c Subnets/Subnet)" 3 "modified subnets"
rds ModifyDBSubnetGroup "DBSubnetGroupName=nope&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB"
want_error 404 DBSubnetGroupNotFoundFault "modify missing subnet group"
rds ModifyDBSubnetGroup "DBSubnetGroupName=main&SubnetIds.member.1=$SA"
want_error 400 DBSubnetGroupDoesNotCoverEnoughAZs "modify to one AZ"

# ---- DB instances: create and the async transition
PARAMS="DBInstanceClass=db.t3.micro&Engine=postgres&AllocatedStorage=20&MasterUsername=admin&MasterUserPassword=s3cretpassw0rd"
rds CreateDBInstance "DBInstanceIdentifier=App-DB&$PARAMS&EngineVersion=16.3&DBSubnetGroupName=main&VpcSecurityGroupIds.VpcSecurityGroupId.1=$SG&MultiAZ=true&PubliclyAccessible=false&StorageType=gp3&BackupRetentionPeriod=7&Tags.Tag.1.Key=env&Tags.Tag.1.Value=test"
want_status 200 "CreateDBInstance"
want_eq "$(xq CreateDBInstanceResult/DBInstance/DBInstanceIdentifier)" app-db "identifier lowercased"
want_eq "$(xq DBInstanceStatus)" creating "status after create"
want_eq "$(xq Engine)" postgres "engine"
want_eq "$(xq DBInstance/EngineVersion)" 16.3 "engine version"
want_eq "$(xq DBInstance/DBInstanceClass)" db.t3.micro "class"
want_eq "$(xq DBInstance/AllocatedStorage)" 20 "storage"
want_eq "$(xq DBInstance/MultiAZ)" true "MultiAZ"
want_eq "$(xq DBInstance/StorageType)" gp3 "storage type"
want_eq "$(xq DBInstance/BackupRetentionPeriod)" 7 "backup retention"
want_eq "$(xq VpcSecurityGroupMembership/VpcSecurityGroupId)" "$SG" "security group"
want_eq "$(xq DBInstance/DBSubnetGroup/DBSubnetGroupName)" main "instance subnet group"
want_eq "$(xq DBInstanceArn)" "arn:aws:rds:us-east-1:123456789012:db:app-db" "instance ARN"
want_eq "$(xq DbiResourceId | grep -cE '^db-[A-Z0-9]{26}$')" 1 "DbiResourceId"
want_eq "$(xq -c DBInstance/Endpoint)" 0 "no endpoint while creating"
want_eq "$(xq DBInstance/TagList/Tag/Key)" env "tags on create"
if grep -q s3cretpassw0rd "$T/body"; then fail "password echoed"; else ok; fi
want_eq "$(xq DBInstance/MasterUsername)" admin "master username"

rds ModifyDBInstance "DBInstanceIdentifier=app-db&DBInstanceClass=db.t3.small&ApplyImmediately=true"
want_error 400 InvalidDBInstanceState "modify while creating"
rds CreateDBInstance "DBInstanceIdentifier=app-db&$PARAMS&DBSubnetGroupName=main"
want_error 400 DBInstanceAlreadyExists "duplicate instance"

wait_for DescribeDBInstances "DBInstanceIdentifier=app-db" DBInstanceStatus available
want_eq "$(xq Endpoint/Port)" 5432 "postgres port"
want_eq "$(xq Endpoint/Address | grep -cE '^app-db\.[a-z0-9]{12}\.us-east-1\.rds\.amazonaws\.com$')" 1 "endpoint address"
want_eq "$(xq -c InstanceCreateTime)" 1 "InstanceCreateTime once available"
want_eq "$(xq AvailabilityZone)" us-east-1a "primary AZ"
want_eq "$(xq SecondaryAvailabilityZone)" us-east-1b "standby AZ"
if grep -q s3cretpassw0rd "$T/body"; then fail "password echoed by describe"; else ok; fi

rds CreateDBInstance "DBInstanceIdentifier=my-sql&DBInstanceClass=db.t3.micro&Engine=mysql&AllocatedStorage=20&MasterUsername=admin&MasterUserPassword=s3cretpassw0rd&DBSubnetGroupName=main"
want_status 200 "CreateDBInstance mysql"
want_eq "$(xq -c VpcSecurityGroupMembership)" 1 "default security group when none given"
wait_for DescribeDBInstances "DBInstanceIdentifier=my-sql" Endpoint/Port 3306

# ---- create errors
rds CreateDBInstance "DBInstanceIdentifier=x1&DBInstanceClass=db.t3.micro&Engine=postgres&AllocatedStorage=20&MasterUsername=admin"
want_error 400 MissingParameter "no password"
rds CreateDBInstance "DBInstanceIdentifier=x1&Engine=postgres&AllocatedStorage=20&MasterUsername=admin&MasterUserPassword=s3cretpassw0rd"
want_error 400 MissingParameter "no class"
rds CreateDBInstance "$PARAMS"
want_error 400 MissingParameter "no identifier"
rds CreateDBInstance "DBInstanceIdentifier=1bad&$PARAMS"
want_error 400 InvalidParameterValue "bad identifier"
rds CreateDBInstance "DBInstanceIdentifier=bad--id&$PARAMS"
want_error 400 InvalidParameterValue "double hyphen"
rds CreateDBInstance "DBInstanceIdentifier=x1&DBInstanceClass=db.t3.micro&Engine=nosuchdb&AllocatedStorage=20&MasterUsername=a&MasterUserPassword=s3cretpassw0rd"
want_error 400 InvalidParameterValue "bad engine"
rds CreateDBInstance "DBInstanceIdentifier=x1&DBInstanceClass=db.t3.micro&Engine=postgres&AllocatedStorage=5&MasterUsername=a&MasterUserPassword=s3cretpassw0rd"
want_error 400 InvalidParameterValue "storage too small"
rds CreateDBInstance "DBInstanceIdentifier=x1&DBInstanceClass=db.t3.micro&Engine=postgres&AllocatedStorage=20&MasterUsername=a&MasterUserPassword=short"
want_error 400 InvalidParameterValue "short password"
rds CreateDBInstance "DBInstanceIdentifier=x1&$PARAMS&MultiAZ=maybe"
want_error 400 InvalidParameterValue "bad boolean"
rds CreateDBInstance "DBInstanceIdentifier=x1&$PARAMS&DBSubnetGroupName=nope"
want_error 404 DBSubnetGroupNotFoundFault "unknown subnet group"
rds CreateDBInstance "DBInstanceIdentifier=x1&$PARAMS&DBSubnetGroupName=main&VpcSecurityGroupIds.member.1=$SG2"
want_error 400 InvalidParameterValue "security group of another VPC"
rds DescribeDBInstances "DBInstanceIdentifier=x1"
want_error 404 DBInstanceNotFound "failed creates leave nothing"

# ---- modify: pending values, then apply immediately
rds ModifyDBInstance "DBInstanceIdentifier=app-db&DBInstanceClass=db.t3.large&AllocatedStorage=50"
want_status 200 "ModifyDBInstance (pending)"
want_eq "$(xq PendingModifiedValues/DBInstanceClass)" db.t3.large "pending class"
want_eq "$(xq PendingModifiedValues/AllocatedStorage)" 50 "pending storage"
want_eq "$(xq DBInstance/DBInstanceClass)" db.t3.micro "class unchanged until applied"
want_eq "$(xq DBInstanceStatus)" available "status unchanged without ApplyImmediately"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&EngineVersion=16.4&MultiAZ=false&ApplyImmediately=true"
want_status 200 "ModifyDBInstance (immediately)"
want_eq "$(xq DBInstanceStatus)" storage-optimization "status storage-optimization after a storage change"
want_eq "$(xq DBInstance/DBInstanceClass)" db.t3.large "pending class applied with the next immediate change"
want_eq "$(xq DBInstance/EngineVersion)" 16.4 "minor engine version applied without AllowMajorVersionUpgrade"
want_eq "$(xq -c PendingModifiedValues/*)" 0 "nothing pending"
want_eq "$(xq DBInstance/MultiAZ)" false "MultiAZ off"
want_eq "$(xq DBInstance/AllocatedStorage)" 50 "storage applied"
rds DescribeDBInstances "DBInstanceIdentifier=app-db"
want_eq "$(xq DBInstanceStatus)" storage-optimization "storage-optimization lasts (10 minutes, 6 hours with --realistic-timings)"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&AllocatedStorage=30&ApplyImmediately=true"
want_error 400 InvalidParameterValue "shrinking storage"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&AllocatedStorage=60&ApplyImmediately=true"
want_error 400 InvalidParameterCombination "growing storage again while it is optimized"
want_eq "$(xq Message)" "You can't currently modify the storage of this DB instance because the previous storage change is being optimized." "storage-optimization message"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&AllocatedStorage=50&BackupRetentionPeriod=3&ApplyImmediately=true"
want_status 200 "other changes during storage-optimization (the same storage is no change)"
want_eq "$(xq DBInstance/BackupRetentionPeriod)" 3 "backup retention changed during storage-optimization"
want_eq "$(xq DBInstanceStatus)" storage-optimization "still storage-optimization"

# ---- engine versions: a new major version needs AllowMajorVersionUpgrade
rds ModifyDBInstance "DBInstanceIdentifier=app-db&EngineVersion=17.2&ApplyImmediately=true"
want_error 400 InvalidParameterCombination "major upgrade without AllowMajorVersionUpgrade"
want_eq "$(xq Message)" "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version." "major upgrade message"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&EngineVersion=17.2&AllowMajorVersionUpgrade=true&ApplyImmediately=true"
want_status 200 "major upgrade with AllowMajorVersionUpgrade"
want_eq "$(xq DBInstance/EngineVersion)" 17.2 "major version applied"
want_eq "$(xq DBParameterGroupName)" default.postgres17 "parameter group family of the new major version"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&EngineVersion=17&ApplyImmediately=true"
want_status 200 "a prefix of the current version"
want_eq "$(xq DBInstance/EngineVersion)" 17.2 "a prefix of the current version changes nothing"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&PubliclyAccessible=true&StorageType=io1"
want_eq "$(xq DBInstance/PubliclyAccessible)" true "public access applied at once without ApplyImmediately"
want_eq "$(xq DBInstance/PendingModifiedValues/StorageType)" io1 "storage type pending without ApplyImmediately"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&StorageType=io1&ApplyImmediately=true"
want_eq "$(xq DBInstance/StorageType)" io1 "storage type applied"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&StorageType=ssd"
want_error 400 InvalidParameterValue "unknown storage type"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&EngineVersion=16.4&AllowMajorVersionUpgrade=true&ApplyImmediately=true"
want_error 400 InvalidParameterCombination "no downgrade"
want_eq "$(xq Message)" "Cannot upgrade postgres from 17.2 to 16.4" "downgrade message"
rds ModifyDBInstance "DBInstanceIdentifier=my-sql&EngineVersion=8.4.3&ApplyImmediately=true"
want_error 400 InvalidParameterCombination "mysql 8.0 -> 8.4 is a major upgrade"
rds ModifyDBInstance "DBInstanceIdentifier=nope&DBInstanceClass=db.t3.small"
want_error 404 DBInstanceNotFound "modify missing instance"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&MasterUserPassword=an0therpassword&ApplyImmediately=true"
want_status 200 "password change"
if grep -q an0therpassword "$T/body"; then fail "new password echoed"; else ok; fi

# ---- tags by ARN
ARN=arn:aws:rds:us-east-1:123456789012:db:app-db
rds AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=owner&Tags.Tag.1.Value=me&Tags.member.2.Key=tier&Tags.member.2.Value=gold"
want_status 200 "AddTagsToResource"
want_eq "$(xq -c TagList)" 0 "AddTagsToResource answers no TagList"
rds ListTagsForResource "ResourceName=$ARN"
want_status 200 "ListTagsForResource"
want_eq "$(xq -a TagList/Tag/Key | sort | tr '\n' ' ')" "env owner tier " "tags after add"
want_eq "$(xq "TagList/Tag[Key='owner']/Value")" me "tag value"
# a tag that is not UTF-8 (the bytes FF FE; found by fuzzing: it was a 500
# "out of memory", the store refusing the string): a 400 naming the key,
# nothing stored, the answer still XML a client reads
rds AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=bad&Tags.Tag.1.Value=%FF%FEx"
want_error 400 InvalidParameterValue "a tag value that is not UTF-8"
want_eq "$(xq Message)" "Tag value for key 'bad' contains invalid characters (not UTF-8)." "the message names the key"
rds AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=b%C3%28d&Tags.Tag.1.Value=x"
want_error 400 InvalidParameterValue "a tag key that is not UTF-8"
want_eq "$(xq Message)" "Tag key contains invalid characters (not UTF-8)." "the key is not echoed"
rds AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=fine&Tags.Tag.1.Value=caf%C3%A9+%E2%9C%93"
want_status 200 "a UTF-8 tag value (e acute, a check mark) is fine"
rds ListTagsForResource "ResourceName=$ARN"
want_eq "$(xq -a TagList/Tag/Key | sort | tr '\n' ' ')" "env fine owner tier " "the refused tags were not stored"
want_eq "$(xq "TagList/Tag[Key='fine']/Value")" "café ✓" "the UTF-8 value kept as sent"
rds RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=fine"
want_status 200 "RemoveTagsFromResource fine"
rds RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=env&TagKeys.member.2=tier"
want_status 200 "RemoveTagsFromResource"
rds ListTagsForResource "ResourceName=$ARN"
want_eq "$(xq -a TagList/Tag/Key | tr '\n' ' ')" "owner " "tags after remove"
rds RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=absent"
want_status 200 "removing an absent tag key is no error"
want_eq "$(xq -c TagList)" 0 "RemoveTagsFromResource answers no TagList"
rds ListTagsForResource "ResourceName=arn:aws:rds:us-east-1:123456789012:subgrp:main"
want_eq "$(xq TagList/Tag/Key)" team "subnet group tags"
rds ListTagsForResource "ResourceName=arn:aws:rds:us-east-1:123456789012:db:nope"
want_error 404 DBInstanceNotFound "tags of missing instance"
rds ListTagsForResource "ResourceName=arn:aws:rds:us-east-1:123456789012:subgrp:nope"
want_error 404 DBSubnetGroupNotFoundFault "tags of missing subnet group"
rds ListTagsForResource "ResourceName=not-an-arn"
want_error 400 InvalidParameterValue "malformed ARN"
rds ListTagsForResource ""
want_error 400 MissingParameter "no ResourceName"

# ---- filters and pagination
rds DescribeDBInstances "Filters.Filter.1.Name=engine&Filters.Filter.1.Values.Value.1=mysql"
want_eq "$(xq -a DBInstanceIdentifier | tr '\n' ' ')" "my-sql " "engine filter"
rds DescribeDBInstances "Filters.Filter.1.Name=db-instance-id&Filters.Filter.1.Values.Value.1=$ARN"
want_eq "$(xq -a DBInstanceIdentifier | tr '\n' ' ')" "app-db " "db-instance-id filter by ARN"
rds DescribeDBInstances "Filters.Filter.1.Name=bogus&Filters.Filter.1.Values.Value.1=x"
want_error 400 InvalidParameterValue "unknown filter"
for i in $(seq 1 21); do
	rds CreateDBInstance "DBInstanceIdentifier=page-$i&$PARAMS"
	[ "$STATUS" = 200 ] || fail "create page-$i"
done
rds DescribeDBInstances "MaxRecords=20"
want_status 200 "page 1"
want_eq "$(xq -c DBInstances/DBInstance)" 20 "page 1 size"
MARKER=$(xq DescribeDBInstancesResult/Marker)
[ -n "$MARKER" ] && ok || fail "no Marker on a full page"
rds DescribeDBInstances "MaxRecords=20&Marker=$MARKER"
want_eq "$(xq -c DBInstances/DBInstance)" 3 "page 2 size"
want_eq "$(xq -c DescribeDBInstancesResult/Marker)" 0 "no Marker on the last page"
rds DescribeDBInstances "MaxRecords=5"
want_error 400 InvalidParameterValue "MaxRecords below 20"
rds DescribeDBInstances "Marker=garbage"
want_error 400 InvalidParameterValue "bad Marker"

# ---- engine versions given as a prefix at create
rds CreateDBInstance "DBInstanceIdentifier=pfx-pg&$PARAMS&EngineVersion=16"
want_eq "$(xq DBInstance/EngineVersion)" 16.3 "postgres 16: the engine's default 16.x"
want_eq "$(xq DBParameterGroupName)" default.postgres16 "postgres 16 family"
rds CreateDBInstance "DBInstanceIdentifier=pfx-my&DBInstanceClass=db.t3.micro&Engine=mysql&AllocatedStorage=20&MasterUsername=admin&MasterUserPassword=s3cretpassw0rd&EngineVersion=8.0"
want_eq "$(xq DBInstance/EngineVersion)" 8.0.35 "mysql 8.0: the engine's default 8.0.x"
rds CreateDBInstance "DBInstanceIdentifier=pfx-old&$PARAMS&EngineVersion=9.6"
want_eq "$(xq DBInstance/EngineVersion)" 9.6.0 "postgres 9.6: another major version gets .0"
want_eq "$(xq DBParameterGroupName)" default.postgres9.6 "postgres 9.x family has two components"
for i in pg my old; do rds DeleteDBInstance "DBInstanceIdentifier=pfx-$i&SkipFinalSnapshot=true"; done

# ---- dependencies: EC2 refuses, subnet groups refuse
ec2 DeleteSubnet "SubnetId=$SA"
want_eq "$STATUS" 400 "delete subnet in use status"
want_eq "$(xq Code)" DependencyViolation "delete subnet in use"
ec2 DeleteSecurityGroup "GroupId=$SG"
want_eq "$(xq Code)" DependencyViolation "delete security group in use"
rds DeleteDBSubnetGroup "DBSubnetGroupName=main"
want_error 400 InvalidDBSubnetGroupStateFault "delete subnet group in use"
rds ModifyDBSubnetGroup "DBSubnetGroupName=main&SubnetIds.member.1=$SB&SubnetIds.member.2=$SC"
want_error 400 SubnetAlreadyInUse "drop a subnet in use"

# ---- delete
rds DeleteDBInstance "DBInstanceIdentifier=app-db"
want_error 400 InvalidParameterCombination "delete without snapshot choice"
rds DeleteDBInstance "DBInstanceIdentifier=app-db&SkipFinalSnapshot=true&FinalDBSnapshotIdentifier=snap"
want_error 400 InvalidParameterCombination "delete with both snapshot choices"
rds DeleteDBInstance "DBInstanceIdentifier=nope&SkipFinalSnapshot=true"
want_error 404 DBInstanceNotFound "delete missing instance"
rds DescribeDBInstances "DBInstanceIdentifier=app-db"
want_eq "$(xq DBInstanceStatus)" storage-optimization "still storage-optimization before the delete"
rds DeleteDBInstance "DBInstanceIdentifier=app-db&FinalDBSnapshotIdentifier=app-db-final"
want_status 200 "DeleteDBInstance with a final snapshot during storage-optimization"
want_eq "$(xq DBInstanceStatus)" deleting "status deleting"
rds DeleteDBInstance "DBInstanceIdentifier=app-db&SkipFinalSnapshot=true"
want_error 400 InvalidDBInstanceState "delete twice"
rds ModifyDBInstance "DBInstanceIdentifier=app-db&DBInstanceClass=db.t3.small&ApplyImmediately=true"
want_error 400 InvalidDBInstanceState "modify while deleting"
rds DeleteDBInstance "DBInstanceIdentifier=my-sql&SkipFinalSnapshot=true"
want_status 200 "delete my-sql"
for i in $(seq 1 21); do rds DeleteDBInstance "DBInstanceIdentifier=page-$i&SkipFinalSnapshot=true"; done
wait_for DescribeDBInstances "DBInstanceIdentifier=app-db" DBInstanceStatus gone
wait_for DescribeDBInstances "DBInstanceIdentifier=my-sql" DBInstanceStatus gone

# once the instances are gone, EC2 and the subnet group let go
ec2 DeleteSecurityGroup "GroupId=$SG"
want_eq "$STATUS" 200 "delete security group after the instance"
ec2 CreateSecurityGroup "GroupName=db2&GroupDescription=db&VpcId=$VPC"; SG=$(xq groupId)

# ---- persistence across a restart
rds CreateDBInstance "DBInstanceIdentifier=keeper&$PARAMS&DBSubnetGroupName=main&VpcSecurityGroupIds.member.1=$SG"
want_status 200 "create keeper"
wait_for DescribeDBInstances "DBInstanceIdentifier=keeper" DBInstanceStatus available
stop
start
rds DescribeDBInstances "DBInstanceIdentifier=keeper"
want_status 200 "keeper after restart"
want_eq "$(xq DBInstanceStatus)" available "keeper status after restart"
want_eq "$(xq DBInstance/DBSubnetGroup/DBSubnetGroupName)" main "keeper subnet group after restart"
rds DescribeDBSubnetGroups ""
want_eq "$(xq -a DBSubnetGroupName | tr '\n' ' ')" "main " "subnet groups after restart"
ec2 DeleteSubnet "SubnetId=$SA"
want_eq "$(xq Code)" DependencyViolation "links survive a restart"
rds DeleteDBInstance "DBInstanceIdentifier=keeper&SkipFinalSnapshot=true"
wait_for DescribeDBInstances "DBInstanceIdentifier=keeper" DBInstanceStatus gone
rds DeleteDBSubnetGroup "DBSubnetGroupName=main"
want_status 200 "DeleteDBSubnetGroup"
rds DescribeDBSubnetGroups "DBSubnetGroupName=main"
want_error 404 DBSubnetGroupNotFoundFault "subnet group gone"
ec2 DeleteSubnet "SubnetId=$SA"
want_eq "$STATUS" 200 "delete subnet after everything"

# ---- throttling answers in RDS's shape
stop
start --throttle-rate 1 --retry-after-share 0
rds DescribeDBInstances ""
want_error 400 Throttling "throttled"
stop

echo "rds: $CHECKS checks passed, $FAILS failed"
[ "$FAILS" = 0 ]
