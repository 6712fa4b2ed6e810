#!/usr/bin/env bash
# cairn drift's search for unmanaged objects beyond the VPC family: EC2
# instances and key pairs, RDS DB subnet groups and instances, ElastiCache
# cache subnet groups and replication groups. Each kind of finding, made
# out of band with signed API calls: an object inside a managed container
# that nothing manages (an instance in the managed VPC, a DB or cache
# subnet group in it, a DB instance in the managed DB subnet group, a
# replication group in the managed cache subnet group), and objects tagged
# as this stack's that the state no longer holds (`state rm`), found
# wherever they are (RDS and ElastiCache filter on neither tags nor subnet
# groups: the modules filter what they list). The stack's own objects are
# never reported; an instance a managed EKS node group launched is its
# group's; the coverage figure counts every type.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

mkdir -p s
ssh-keygen -q -t ed25519 -N '' -C ops@cairn -f s/key || exit 1
ssh-keygen -q -t ed25519 -N '' -C hand@cairn -f "$WORK/hand" || exit 1
awsstack s <<'YAML'
stack: um
variables:
  pw: { type: string, sensitive: true, default: "Pw-unmanaged-7c1e" }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.8.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.8.${count.index}.0/24"
    availability_zone: "${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  key:
    type: aws.key_pair
    key_name: ops
    public_key: "${file(\"key.pub\")}"
  app:
    type: aws.instance
    ami: ami-0deb1a12c0ffee000
    subnet_id: "${sub[0].id}"
    key_name: "${key.key_name}"
  dbnet:
    type: aws.db_subnet_group
    name: dbnet
    subnet_ids: "${sub[*].id}"
  db:
    type: aws.db_instance
    identifier: appdb
    engine: postgres
    instance_class: db.t3.micro
    username: app
    password: "${var.pw}"
    db_subnet_group_name: "${dbnet.name}"
  cachenet:
    type: aws.cache_subnet_group
    name: cachenet
    subnet_ids: "${sub[*].id}"
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: sessions
    node_type: cache.t3.micro
    subnet_group_name: "${cachenet.name}"
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
out_has "Apply complete! Resources: 9 added" "every object made"

# query SERVICE VERSION ACTION [k=v...]: a signed Query call with curl
query() {
  local svc=$1 ver=$2 action=$3; shift 3
  local args=(--data-urlencode "Action=$action" --data-urlencode "Version=$ver") kv
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  curl -s --aws-sigv4 "aws:amz:us-east-1:$svc" --user "$SIM_KEY:$SIM_SECRET" "${args[@]}" "$(sim_url)/"
}
rds() { query rds 2014-10-31 "$@"; }
elasticache() { query elasticache 2015-02-02 "$@"; }
unmanaged() { # the report's unmanaged findings: "type id reason", sorted
  jq -r '[.environments[0].findings[] | select(.kind == "unmanaged") | .type + " " + .id + " " + .reason] | sort | .[]' report.json
}

# --- the stack's own objects: seen, managed, none reported ---
: >"$WORK/sim.log"
run drift -C s -e dev --json report.json
expect_rc 0 "no drift right after the apply"
# the refresh takes the managed objects from the search's listings: no
# Describe of its own for them (and no tags asked for again)
calls() { grep -c " $1 " "$WORK/sim.log"; }
eq "$(calls DescribeInstances)" "1" "DescribeInstances: the VPC's (no node groups: none of theirs to tell apart)"
eq "$(calls DescribeKeyPairs)" "1" "DescribeKeyPairs: the tagged ones"
for action in DescribeDBSubnetGroups DescribeDBInstances DescribeCacheSubnetGroups DescribeReplicationGroups DescribeCacheClusters; do
  eq "$(calls $action)" "2" "$action: all of them, for the tagged ones and for those in the managed containers"
done
eq "$(calls ListTagsForResource)" "6" "the tags of each subnet group and replication group, once per listing"
out_has "coverage 9 managed / 9 seen (100.0%)" "every object of every type seen and managed"
eq "$(jq -r '.environments[0].coverage | [.managed, .unmanaged, .seen] | join(" ")' report.json)" "9 0 9" "JSON: coverage"
eq "$(unmanaged)" "" "nothing unmanaged"
run drift -C s -e dev --no-unmanaged
expect_rc 0 "no drift without the search"
out_has "coverage 9 managed / 9 seen (100.0%)" "the managed objects counted without the search too"

VPC=$(state_id s vpc); SUB0=$(state_id s 'sub[0]'); SUB1=$(state_id s 'sub[1]')

# --- what the refresh takes from the listings is what is out there (a
# replication group's tags are left alone: a tag change keeps it modifying,
# when its tags cannot be read) ---
APP=$(state_id s app)
ec2 CreateTags ResourceId.1="$APP" Tag.1.Key=Owner Tag.1.Value=mallory >/dev/null
rds AddTagsToResource ResourceName="$(state_attr s db .arn)" \
  Tags.Tag.1.Key=Owner Tags.Tag.1.Value=mallory >/dev/null
rds AddTagsToResource ResourceName="$(state_attr s dbnet .arn)" \
  Tags.Tag.1.Key=Owner Tags.Tag.1.Value=mallory >/dev/null
run drift -C s -e dev --json report.json
expect_rc 2 "drift: tags added by hand"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "changed") | .address + " " + .attribute + " " + .actual] | sort | join(",")' report.json)" \
   "app tags.Owner mallory,db tags.Owner mallory,dbnet tags.Owner mallory" \
   "the instance's, DB instance's and DB subnet group's new tags, read from the listings"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply puts the tags back"

# --- made by hand inside the managed containers ---
HANDI=$(ec2 RunInstances ImageId=ami-0deb1a12c0ffee000 InstanceType=t3.micro MinCount=1 MaxCount=1 SubnetId="$SUB1" \
  TagSpecification.1.ResourceType=instance TagSpecification.1.Tag.1.Key=Owner TagSpecification.1.Tag.1.Value=mallory |
  xml_val instanceId)
check "an instance run by hand" test -n "$HANDI"
rds CreateDBSubnetGroup DBSubnetGroupName=handnet DBSubnetGroupDescription=hand \
  SubnetIds.SubnetIdentifier.1="$SUB0" SubnetIds.SubnetIdentifier.2="$SUB1" >"$WORK/q.xml"
check "a DB subnet group made by hand" grep -q "<DBSubnetGroupName>handnet</DBSubnetGroupName>" "$WORK/q.xml"
rds CreateDBInstance DBInstanceIdentifier=handdb Engine=postgres DBInstanceClass=db.t3.micro AllocatedStorage=20 \
  MasterUsername=app MasterUserPassword=Pw-hand-11223344 DBSubnetGroupName=dbnet >"$WORK/q.xml"
check "a DB instance made by hand in the managed subnet group" grep -q "<DBInstanceIdentifier>handdb</DBInstanceIdentifier>" "$WORK/q.xml"
elasticache CreateCacheSubnetGroup CacheSubnetGroupName=handcache CacheSubnetGroupDescription=hand \
  SubnetIds.SubnetIdentifier.1="$SUB0" >"$WORK/q.xml"
check "a cache subnet group made by hand" grep -qi "<CacheSubnetGroupName>handcache</CacheSubnetGroupName>" "$WORK/q.xml"
elasticache CreateReplicationGroup ReplicationGroupId=handrg ReplicationGroupDescription=hand \
  CacheNodeType=cache.t3.micro Engine=redis NumCacheClusters=1 CacheSubnetGroupName=cachenet >"$WORK/q.xml"
check "a replication group made by hand in the managed cache subnet group" grep -q "<ReplicationGroupId>handrg</ReplicationGroupId>" "$WORK/q.xml"

run drift -C s -e dev --json report.json
expect_rc 2 "drift: unmanaged objects"
eq "$(unmanaged)" "$(printf '%s\n' \
  "aws.cache_subnet_group handcache inside aws.vpc vpc ($VPC), managed by nothing" \
  "aws.db_instance handdb inside aws.db_subnet_group dbnet (dbnet), managed by nothing" \
  "aws.db_subnet_group handnet inside aws.vpc vpc ($VPC), managed by nothing" \
  "aws.elasticache_replication_group handrg inside aws.cache_subnet_group cachenet (cachenet), managed by nothing" \
  "aws.instance $HANDI inside aws.vpc vpc ($VPC), managed by nothing" | sort)" \
  "each object made by hand, in its container"
out_has "aws.instance $HANDI: unmanaged: inside aws.vpc vpc ($VPC), managed by nothing" "the text report"
out_has "coverage 9 managed / 14 seen (64.3%)" "coverage: managed / seen"
eq "$(jq -r '.environments[0].coverage | [.managed, .unmanaged, .seen] | join(" ")' report.json)" "9 5 14" "JSON: coverage"
eq "$(jq -r --arg i "$HANDI" '.environments[0].findings[] | select(.id == $i) | .tags.Owner' report.json)" "mallory" \
   "the instance's user tags are in its finding"
eq "$(jq -r '.environments[0].counts.unmanaged' report.json)" "5" "five unmanaged"

# --- tagged as this stack's, no longer in the state ---
KEY=$(state_id s key)
run state rm -C s -e dev key db cache
expect_rc 0 "state rm key db cache"
run drift -C s -e dev --json report.json
expect_rc 2 "drift"
TAGGED="tagged cairn:stack=um cairn:env=dev but not in the state"
eq "$(unmanaged | grep -c "$TAGGED")" "3" "three tagged leftovers"
eq "$(unmanaged | grep "$TAGGED")" "$(printf '%s\n' \
  "aws.db_instance appdb $TAGGED" \
  "aws.elasticache_replication_group sessions $TAGGED" \
  "aws.key_pair $KEY $TAGGED" | sort)" "the key pair, the DB instance and the replication group forgotten by state rm"
out_has "coverage 6 managed / 14 seen (42.9%)" "coverage counts them as seen, not managed"

# --- an EKS cluster's security group, which EKS makes in the cluster's
# VPC, is the cluster's: not unmanaged; a group made by hand there is ---
mkdir -p e
cat >e/stack.yaml <<'YAML'
stack: k
resources:
  net:
    type: aws.vpc
    cidr_block: 10.9.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${net.id}"
    cidr_block: "10.9.${count.index}.0/24"
    availability_zone: "${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  k8s:
    type: aws.eks_cluster
    name: main
    version: "1.30"
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "${sub[*].id}"
  workers:
    type: aws.eks_nodegroup
    cluster_name: "${k8s.name}"
    name: workers
    node_role_arn: "arn:aws:iam::123456789012:role/nodes"
    subnet_ids: "${sub[*].id}"
    scaling: { min_size: 1, max_size: 2, desired_size: 1 }
YAML
cp s/dev.yaml e/dev.yaml
run apply -C e -e dev --auto-approve
expect_rc 0 "apply the EKS stack"
EVPC=$(state_id e net)
ec2 DescribeSecurityGroups Filter.1.Name=vpc-id Filter.1.Value.1="$EVPC" >"$WORK/sg.xml"
check "EKS made its cluster security group in the VPC" grep -q "<groupName>eks-cluster-sg-main-" "$WORK/sg.xml"
ESUB=$(state_id e 'sub[0]')
NODE=$(ec2 RunInstances ImageId=ami-0deb1a12c0ffee000 InstanceType=t3.micro MinCount=1 MaxCount=1 SubnetId="$ESUB" \
  TagSpecification.1.ResourceType=instance TagSpecification.1.Tag.1.Key=eks:nodegroup-name \
  TagSpecification.1.Tag.1.Value=workers | xml_val instanceId)
check "an instance as the node group launches them" test -n "$NODE"
run drift -C e -e dev --json report.json
expect_rc 0 "no drift: the cluster's group and the node group's instance are not unmanaged"
out_has "coverage 5 managed / 5 seen (100.0%)" "coverage"
HANDSG=$(ec2 CreateSecurityGroup GroupName=hand GroupDescription=hand VpcId="$EVPC" | xml_val groupId)
run drift -C e -e dev --json report.json
expect_rc 2 "a group made by hand"
eq "$(unmanaged)" "aws.security_group $HANDSG inside aws.vpc net ($EVPC), managed by nothing" "only the group made by hand"
done_testing
