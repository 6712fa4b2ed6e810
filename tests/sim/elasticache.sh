#!/usr/bin/env bash
# tests/sim/elasticache.sh - the simulated ElastiCache over signed Query
# requests, against the real `cairn sim` binary: cache subnet groups over
# EC2 subnets, replication groups (cluster mode disabled and enabled) with
# member clusters, node groups and endpoints, their lifecycle, the errors,
# tags by ARN, pagination, DependencyViolation on EC2, persistence.
# usage: elasticache.sh /path/to/cairn
set -u
CAIRN=${1:?usage: elasticache.sh CAIRN}
SVC=ec
V=2015-02-02
. "$(dirname "$0")/query_helpers.sh"
ec() { call elasticache "Action=$1&Version=$V${2:+&$2}"; }

start

# ---- EC2 network
ec2 CreateVpc "CidrBlock=10.0.0.0/16"; VPC=$(xq vpc/vpcId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"; SA=$(xq subnet/subnetId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1b"; SB=$(xq subnet/subnetId)
ec2 CreateSubnet "VpcId=$VPC&CidrBlock=10.0.3.0/24&AvailabilityZone=us-east-1c"; SC=$(xq subnet/subnetId)
ec2 CreateVpc "CidrBlock=10.1.0.0/16"; VPC2=$(xq vpc/vpcId)
ec2 CreateSubnet "VpcId=$VPC2&CidrBlock=10.1.1.0/24&AvailabilityZone=us-east-1b"; SX=$(xq subnet/subnetId)
ec2 CreateSecurityGroup "GroupName=cache&GroupDescription=cache&VpcId=$VPC"; SG=$(xq groupId)
ec2 CreateSecurityGroup "GroupName=other&GroupDescription=x&VpcId=$VPC2"; SG2=$(xq groupId)
[ -n "$SA" ] && [ -n "$SB" ] && [ -n "$SX" ] && [ -n "$SG" ] || { echo "FAIL: EC2 setup"; cat "$T/body"; exit 1; }

# ---- cache subnet groups
ec CreateCacheSubnetGroup "CacheSubnetGroupName=Cache-Net&CacheSubnetGroupDescription=cache+net&SubnetIds.SubnetIdentifier.1=$SA&SubnetIds.SubnetIdentifier.2=$SB&Tags.Tag.1.Key=team&Tags.Tag.1.Value=web"
want_status 200 "CreateCacheSubnetGroup"
want_eq "$(xq CreateCacheSubnetGroupResult/CacheSubnetGroup/CacheSubnetGroupName)" cache-net "name lowercased"
want_eq "$(xq CacheSubnetGroup/VpcId)" "$VPC" "VPC"
want_eq "$(xq -c Subnets/Subnet)" 2 "subnets"
want_eq "$(xq CacheSubnetGroup/ARN)" "arn:aws:elasticache:us-east-1:123456789012:subnetgroup:cache-net" "subnet group ARN"
want_eq "$(xq RequestId | wc -c)" 37 "RequestId"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=cache-net&CacheSubnetGroupDescription=x&SubnetIds.member.1=$SA"
want_error 400 CacheSubnetGroupAlreadyExists "duplicate subnet group"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=one&CacheSubnetGroupDescription=x&SubnetIds.member.1=$SA"
want_status 200 "one subnet is enough for ElastiCache"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=mixed&CacheSubnetGroupDescription=x&SubnetIds.member.1=$SA&SubnetIds.member.2=$SX"
want_error 400 InvalidSubnet "two VPCs"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=ghost&CacheSubnetGroupDescription=x&SubnetIds.member.1=subnet-0123456789abcdef0"
want_error 400 InvalidSubnet "unknown subnet"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=nodesc&SubnetIds.member.1=$SA"
want_error 400 MissingParameter "no description"
ec CreateCacheSubnetGroup "CacheSubnetGroupName=nosub&CacheSubnetGroupDescription=x"
want_error 400 MissingParameter "no subnets"
ec DescribeCacheSubnetGroups "CacheSubnetGroupName=cache-net"
want_eq "$(xq -c CacheSubnetGroups/CacheSubnetGroup)" 1 "describe one subnet group"
ec DescribeCacheSubnetGroups ""
want_eq "$(xq -c CacheSubnetGroups/CacheSubnetGroup)" 2 "describe all subnet groups"
ec DescribeCacheSubnetGroups "CacheSubnetGroupName=nope"
want_error 400 CacheSubnetGroupNotFoundFault "describe missing subnet group"
ec ModifyCacheSubnetGroup "CacheSubnetGroupName=cache-net&CacheSubnetGroupDescription=changed&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB&SubnetIds.member.3=$SC"
want_status 200 "ModifyCacheSubnetGroup"
want_eq "$(xq CacheSubnetGroupDescription)" changed "modified description"
want_eq "$(xq -c Subnets/Subnet)" 3 "modified subnets"
ec ModifyCacheSubnetGroup "CacheSubnetGroupName=nope&CacheSubnetGroupDescription=x"
want_error 400 CacheSubnetGroupNotFoundFault "modify missing subnet group"
ec DeleteCacheSubnetGroup "CacheSubnetGroupName=one"
want_status 200 "DeleteCacheSubnetGroup"
ec DeleteCacheSubnetGroup "CacheSubnetGroupName=one"
want_error 400 CacheSubnetGroupNotFoundFault "delete twice"

# ---- a replication group, cluster mode disabled
ec CreateReplicationGroup "ReplicationGroupId=Sessions&ReplicationGroupDescription=sessions&Engine=redis&EngineVersion=7.1&CacheNodeType=cache.t3.micro&NumCacheClusters=3&AutomaticFailoverEnabled=true&MultiAZEnabled=true&CacheSubnetGroupName=cache-net&SecurityGroupIds.SecurityGroupId.1=$SG&Port=6380&AtRestEncryptionEnabled=true&TransitEncryptionEnabled=true&Tags.Tag.1.Key=env&Tags.Tag.1.Value=test"
want_status 200 "CreateReplicationGroup"
want_eq "$(xq ReplicationGroup/ReplicationGroupId)" sessions "id lowercased"
want_eq "$(xq ReplicationGroup/Status)" creating "status creating"
want_eq "$(xq -a MemberClusters/ClusterId | tr '\n' ' ')" "sessions-001 sessions-002 sessions-003 " "member clusters"
want_eq "$(xq ReplicationGroup/ARN)" "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions" "ARN"
want_eq "$(xq ReplicationGroup/AutomaticFailover)" enabled "failover"
want_eq "$(xq ReplicationGroup/MultiAZ)" enabled "MultiAZ"
want_eq "$(xq ReplicationGroup/ClusterEnabled)" false "cluster mode disabled"
want_eq "$(xq ReplicationGroup/AtRestEncryptionEnabled)" true "at rest"
want_eq "$(xq ReplicationGroup/TransitEncryptionEnabled)" true "transit"
want_eq "$(xq ReplicationGroup/CacheNodeType)" cache.t3.micro "node type"
want_eq "$(xq -c NodeGroup/PrimaryEndpoint)" 0 "no endpoint while creating"
ARN=arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions
ec ListTagsForResource "ResourceName=$ARN"
want_error 400 InvalidReplicationGroupState "tags of a group that is creating"
ec AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=owner&Tags.Tag.1.Value=me"
want_error 400 InvalidReplicationGroupState "tagging a group that is creating"

ec ModifyReplicationGroup "ReplicationGroupId=sessions&CacheNodeType=cache.t3.small&ApplyImmediately=true"
want_error 400 InvalidReplicationGroupState "modify while creating"
ec DeleteReplicationGroup "ReplicationGroupId=sessions"
want_error 400 InvalidReplicationGroupState "delete while creating"
ec CreateReplicationGroup "ReplicationGroupId=sessions&ReplicationGroupDescription=x&CacheNodeType=cache.t3.micro"
want_error 400 ReplicationGroupAlreadyExists "duplicate replication group"

wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" ReplicationGroup/Status available
want_eq "$(xq NodeGroup/NodeGroupId)" 0001 "node group id"
want_eq "$(xq NodeGroup/Status)" available "node group status"
want_eq "$(xq NodeGroup/PrimaryEndpoint/Port)" 6380 "primary port"
want_eq "$(xq NodeGroup/PrimaryEndpoint/Address | grep -cE '^sessions\.[a-z0-9]{6}\.ng\.0001\.use1\.cache\.amazonaws\.com$')" 1 "primary address"
want_eq "$(xq NodeGroup/ReaderEndpoint/Address | grep -cE '^sessions-ro\.[a-z0-9]{6}\.ng\.0001\.use1\.cache\.amazonaws\.com$')" 1 "reader address"
want_eq "$(xq -a NodeGroupMember/CurrentRole | tr '\n' ' ')" "primary replica replica " "roles"
want_eq "$(xq -a NodeGroupMember/PreferredAvailabilityZone | tr '\n' ' ')" "us-east-1a us-east-1b us-east-1c " "AZs spread"
want_eq "$(xq -c NodeGroupMember/ReadEndpoint)" 3 "member read endpoints"

ec DescribeCacheClusters "CacheClusterId=sessions-002"
want_status 200 "DescribeCacheClusters"
want_eq "$(xq CacheCluster/ReplicationGroupId)" sessions "member's replication group"
want_eq "$(xq CacheCluster/CacheClusterStatus)" available "member status"
want_eq "$(xq CacheCluster/EngineVersion)" 7.1.0 "member engine version: 7.1 completed"
want_eq "$(xq CacheCluster/SecurityGroups/member/SecurityGroupId)" "$SG" "member security group"
ec DescribeCacheClusters "CacheClusterId=nope-001"
want_error 404 CacheClusterNotFound "missing cache cluster"

# ---- cluster mode enabled
ec CreateReplicationGroup "ReplicationGroupId=shards&ReplicationGroupDescription=sharded&CacheNodeType=cache.r6g.large&NumNodeGroups=2&ReplicasPerNodeGroup=1&AutomaticFailoverEnabled=true&CacheSubnetGroupName=cache-net"
want_status 200 "create cluster mode enabled"
want_eq "$(xq -a MemberClusters/ClusterId | tr '\n' ' ')" "shards-0001-001 shards-0001-002 shards-0002-001 shards-0002-002 " "sharded members"
want_eq "$(xq -c NodeGroups/NodeGroup)" 2 "two node groups"
want_eq "$(xq -a NodeGroup/Slots | tr '\n' ' ')" "0-8191 8192-16383 " "slots"
want_eq "$(xq ReplicationGroup/ClusterEnabled)" true "cluster enabled"
wait_for DescribeReplicationGroups "ReplicationGroupId=shards" ReplicationGroup/Status available
want_eq "$(xq ConfigurationEndpoint/Address | grep -cE '^clustercfg\.shards\.[a-z0-9]{6}\.use1\.cache\.amazonaws\.com$')" 1 "configuration endpoint"
want_eq "$(xq ConfigurationEndpoint/Port)" 6379 "default port"

# ---- create errors
BASE="ReplicationGroupDescription=x&CacheNodeType=cache.t3.micro"
ec CreateReplicationGroup "ReplicationGroupDescription=x&CacheNodeType=cache.t3.micro"
want_error 400 MissingParameter "no id"
ec CreateReplicationGroup "ReplicationGroupId=x1&CacheNodeType=cache.t3.micro"
want_error 400 MissingParameter "no description"
ec CreateReplicationGroup "ReplicationGroupId=1bad&$BASE"
want_error 400 InvalidParameterValue "bad id"
ec CreateReplicationGroup "ReplicationGroupId=a-very-long-replication-group-identifier-x&$BASE"
want_error 400 InvalidParameterValue "id too long"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&Engine=memcached"
want_error 400 InvalidParameterValue "memcached"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&NumCacheClusters=9"
want_error 400 InvalidParameterValue "too many clusters"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&NumCacheClusters=2&NumNodeGroups=2"
want_error 400 InvalidParameterCombination "both shapes"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&NumCacheClusters=1&AutomaticFailoverEnabled=true"
want_error 400 InvalidParameterCombination "failover with one node"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&NumCacheClusters=2&MultiAZEnabled=true"
want_error 400 InvalidParameterCombination "MultiAZ without failover"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&NumCacheClusters=2&AutomaticFailoverEnabled=yes"
want_error 400 InvalidParameterValue "bad boolean"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&CacheSubnetGroupName=nope"
want_error 400 CacheSubnetGroupNotFoundFault "unknown subnet group"
ec CreateReplicationGroup "ReplicationGroupId=x1&$BASE&CacheSubnetGroupName=cache-net&SecurityGroupIds.member.1=$SG2"
want_error 400 InvalidParameterValue "security group of another VPC"
ec DescribeReplicationGroups "ReplicationGroupId=x1"
want_error 404 ReplicationGroupNotFoundFault "failed creates leave nothing"

# ---- modify
ec ModifyReplicationGroup "ReplicationGroupId=sessions&CacheNodeType=cache.t3.medium&EngineVersion=7.2"
want_status 200 "modify without ApplyImmediately"
want_eq "$(xq ReplicationGroup/CacheNodeType)" cache.t3.micro "node type unchanged until applied"
want_eq "$(xq ReplicationGroup/Status)" available "no modifying without ApplyImmediately"
ec DescribeCacheClusters "CacheClusterId=sessions-001"
want_eq "$(xq PendingModifiedValues/CacheNodeType)" cache.t3.medium "pending node type on members"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&AutomaticFailoverEnabled=false"
want_error 400 InvalidParameterCombination "failover off with MultiAZ on"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&CacheNodeType=cache.t3.large&ApplyImmediately=true&ReplicationGroupDescription=bigger"
want_status 200 "modify immediately"
want_eq "$(xq ReplicationGroup/Status)" modifying "status modifying"
want_eq "$(xq ReplicationGroup/CacheNodeType)" cache.t3.large "node type applied"
want_eq "$(xq ReplicationGroup/Description)" bigger "description"
wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" ReplicationGroup/Status available
ec DescribeCacheClusters "CacheClusterId=sessions-001"
want_eq "$(xq CacheCluster/EngineVersion)" 7.2.0 "earlier pending engine version applied"
want_eq "$(xq -c PendingModifiedValues/*)" 0 "nothing pending"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&EngineVersion=7.2&ApplyImmediately=true"
want_eq "$(xq ReplicationGroup/Status)" available "a prefix of the current version changes nothing"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&EngineVersion=6.2&ApplyImmediately=true"
want_error 400 InvalidParameterCombination "no downgrade"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&MultiAZEnabled=false&AutomaticFailoverEnabled=false&ApplyImmediately=true"
want_eq "$(xq ReplicationGroup/AutomaticFailover)" disabled "failover disabled"
wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" ReplicationGroup/Status available
ec ModifyReplicationGroup "ReplicationGroupId=nope&CacheNodeType=cache.t3.large"
want_error 404 ReplicationGroupNotFoundFault "modify missing group"

# ---- tags (only while available; a change makes the group modifying a moment)
ec AddTagsToResource "ResourceName=$ARN&Tags.Tag.1.Key=owner&Tags.Tag.1.Value=me&Tags.Tag.2.Key=tier&Tags.Tag.2.Value=gold"
want_status 200 "AddTagsToResource"
want_eq "$(xq -a TagList/Tag/Key | sort | tr '\n' ' ')" "env owner tier " "tags returned by add"
ec DescribeReplicationGroups "ReplicationGroupId=sessions"
want_eq "$(xq ReplicationGroup/Status)" modifying "tagging makes the group modifying"
ec ListTagsForResource "ResourceName=$ARN"
want_error 400 InvalidReplicationGroupState "tags of a modifying group"
want_eq "$(xq Message)" "Cluster not in available state to perform tagging operations." "not available message"
ec RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=env"
want_error 400 InvalidReplicationGroupState "untagging a modifying group"
wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" ReplicationGroup/Status available
ec RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=env"
want_status 200 "RemoveTagsFromResource"
want_eq "$(xq -a TagList/Tag/Key | sort | tr '\n' ' ')" "owner tier " "tags returned by remove"
wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" ReplicationGroup/Status available
ec RemoveTagsFromResource "ResourceName=$ARN&TagKeys.member.1=owner&TagKeys.member.2=absent"
want_error 404 TagNotFound "removing an absent tag key"
ec DescribeReplicationGroups "ReplicationGroupId=sessions"
want_eq "$(xq ReplicationGroup/Status)" available "a refused change changes no status"
ec ListTagsForResource "ResourceName=$ARN"
want_eq "$(xq "TagList/Tag[Key='tier']/Value")" gold "tag value"
want_eq "$(xq -a TagList/Tag/Key | sort | tr '\n' ' ')" "owner tier " "a failed remove removes nothing"
ec ListTagsForResource "ResourceName=arn:aws:elasticache:us-east-1:123456789012:subnetgroup:cache-net"
want_eq "$(xq TagList/Tag/Key)" team "subnet group tags"
ec ListTagsForResource "ResourceName=arn:aws:elasticache:us-east-1:123456789012:replicationgroup:nope"
want_error 404 ReplicationGroupNotFoundFault "tags of missing group"
ec ListTagsForResource "ResourceName=arn:aws:elasticache:us-east-1:123456789012:subnetgroup:nope"
want_error 400 CacheSubnetGroupNotFoundFault "tags of missing subnet group"
ec ListTagsForResource "ResourceName=arn:aws:elasticache:us-east-1:123456789012:cluster:sessions-001"
want_error 400 InvalidARN "tags of a member cluster"
ec ListTagsForResource "ResourceName=garbage"
want_error 400 InvalidARN "malformed ARN"
ec ListTagsForResource ""
want_error 400 MissingParameter "no ResourceName"

# ---- pagination
for i in $(seq 1 20); do
	ec CreateReplicationGroup "ReplicationGroupId=page-$i&$BASE"
	[ "$STATUS" = 200 ] || fail "create page-$i"
done
ec DescribeReplicationGroups "MaxRecords=20"
want_eq "$(xq -c ReplicationGroups/ReplicationGroup)" 20 "page 1"
MARKER=$(xq DescribeReplicationGroupsResult/Marker)
[ -n "$MARKER" ] && ok || fail "no Marker"
ec DescribeReplicationGroups "MaxRecords=20&Marker=$MARKER"
want_eq "$(xq -c ReplicationGroups/ReplicationGroup)" 2 "page 2"
want_eq "$(xq -c DescribeReplicationGroupsResult/Marker)" 0 "no Marker on the last page"
ec DescribeCacheClusters "MaxRecords=20"
want_eq "$(xq -c CacheClusters/CacheCluster)" 20 "cache clusters page 1"
MARKER=$(xq DescribeCacheClustersResult/Marker)
ec DescribeCacheClusters "MaxRecords=20&Marker=$MARKER"
want_eq "$(xq -c CacheClusters/CacheCluster)" 7 "cache clusters page 2"
ec DescribeReplicationGroups "MaxRecords=101"
want_error 400 InvalidParameterValue "MaxRecords above 100"

# ---- dependencies
ec2 DeleteSubnet "SubnetId=$SC"
want_eq "$(xq Code)" DependencyViolation "delete subnet in use"
ec2 DeleteSecurityGroup "GroupId=$SG"
want_eq "$(xq Code)" DependencyViolation "delete security group in use"
ec DeleteCacheSubnetGroup "CacheSubnetGroupName=cache-net"
want_error 400 CacheSubnetGroupInUse "delete subnet group in use"
ec ModifyCacheSubnetGroup "CacheSubnetGroupName=cache-net&SubnetIds.member.1=$SA&SubnetIds.member.2=$SB"
want_error 400 SubnetInUse "drop a subnet in use"

# ---- delete
ec DeleteReplicationGroup "ReplicationGroupId=nope"
want_error 404 ReplicationGroupNotFoundFault "delete missing group"
ec DeleteReplicationGroup "ReplicationGroupId=sessions"
want_status 200 "DeleteReplicationGroup"
want_eq "$(xq ReplicationGroup/Status)" deleting "status deleting"
ec DeleteReplicationGroup "ReplicationGroupId=sessions"
want_error 400 InvalidReplicationGroupState "delete twice"
ec ModifyReplicationGroup "ReplicationGroupId=sessions&CacheNodeType=cache.t3.small&ApplyImmediately=true"
want_error 400 InvalidReplicationGroupState "modify while deleting"
for i in $(seq 1 20); do ec DeleteReplicationGroup "ReplicationGroupId=page-$i"; done
wait_for DescribeReplicationGroups "ReplicationGroupId=sessions" Status gone
ec DescribeCacheClusters "CacheClusterId=sessions-001"
want_error 404 CacheClusterNotFound "members gone with their group"
ec2 DeleteSecurityGroup "GroupId=$SG"
want_eq "$STATUS" 200 "delete security group after the group"

# ---- persistence across a restart
stop
start
ec DescribeReplicationGroups "ReplicationGroupId=shards"
want_status 200 "shards after restart"
want_eq "$(xq ReplicationGroup/Status)" available "status after restart"
want_eq "$(xq -c MemberClusters/ClusterId)" 4 "members after restart"
ec DescribeCacheSubnetGroups "CacheSubnetGroupName=cache-net"
want_status 200 "subnet group after restart"
ec2 DeleteSubnet "SubnetId=$SA"
want_eq "$(xq Code)" DependencyViolation "links survive a restart"
ec DeleteReplicationGroup "ReplicationGroupId=shards"
wait_for DescribeReplicationGroups "ReplicationGroupId=shards" Status gone
ec DeleteCacheSubnetGroup "CacheSubnetGroupName=cache-net"
want_status 200 "delete subnet group when unused"
ec2 DeleteSubnet "SubnetId=$SA"
want_eq "$STATUS" 200 "delete subnet after everything"

# ---- throttling in ElastiCache's shape
stop
start --throttle-rate 1 --retry-after-share 0
ec DescribeReplicationGroups ""
want_error 400 Throttling "throttled"
stop

echo "elasticache: $CHECKS checks passed, $FAILS failed"
[ "$FAILS" = 0 ]
