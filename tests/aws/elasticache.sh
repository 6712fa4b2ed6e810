#!/usr/bin/env bash
# ElastiCache against cairn sim: aws.cache_subnet_group and
# aws.elasticache_replication_group. Create (engine_version "7.1", which
# ElastiCache reports as 7.1.0), plan again is empty, in-place updates
# (node type, failover, security groups, subnets, tags: each tag call makes
# the group modifying a while, and its tags cannot be read until it is
# available again), drift made through the admin endpoint, replacement
# (num_cache_clusters), import, destroy.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

write_stack() { # NODE_TYPE FAILOVER SGS NSUB TAG NCC
  awsstack s <<YAML
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
  sub:
    type: aws.subnet
    count: $4
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\", \"us-east-1c\"], count.index)}"
  sg:
    type: aws.security_group
    count: 2
    name: "cache-\${count.index}"
    vpc_id: "\${net.id}"
  cachenet:
    type: aws.cache_subnet_group
    name: cachenet
    subnet_ids: "\${sub[*].id}"
    tags: { team: $5 }
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: sessions
    engine_version: "${ENGINE:-7.1}"
    node_type: $1
    num_cache_clusters: $6
    automatic_failover: $2
    subnet_group_name: "\${cachenet.name}"
    security_group_ids: $3
    tags: { team: $5 }
YAML
}
has() { tr -s ' ' <"$WORK/out" | grep -qF -- "$1" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; }; }
RG=elasticache:us-east-1:replicationgroup:sessions
SUBGRP=elasticache:us-east-1:subnetgroup:cachenet
rg() { sim_resources | jq -r --arg i "$1" ".resources[] | select(.id == \$i) | $2"; }
ONE_SG='["${sg[0].id}"]'
TWO_SG='"${sg[*].id}"'

write_stack cache.t3.micro false "$ONE_SG" 2 data 2
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "first plan has changes"
out_has "Plan: 7 to add, 0 to change, 0 to destroy." "seven objects"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the cache"
out_has "Apply complete! Resources: 7 added" "apply summary"
eq "$(rg $RG .status)" "available" "group available"
eq "$(rg $RG .attributes.nodeType)" "cache.t3.micro" "node type"
eq "$(rg $RG '.attributes.members | length')" "2" "two member clusters"
eq "$(rg $RG '.tags["cairn:address"]')" "cache" "cairn:address tag"
eq "$(rg $SUBGRP '.attributes.subnets | length')" "2" "two subnets in the group"
run state show -C s -e dev cache
has 'primary_endpoint = "sessions.' "primary endpoint"
has 'reader_endpoint = "sessions-ro.' "reader endpoint"
has 'member_clusters = ["sessions-001", "sessions-002"]' "member clusters"
has 'tags = {"team" = "data"}' "cairn:* tags stripped"
has 'engine_version = "7.1"' "the configured engine_version prefix is kept"
eq "$(rg $RG .attributes.engineVersion)" "7.1.0" "ElastiCache's full version"
has 'port = 6379' "port"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

# in place: node type, failover, a second security group, a third subnet, tags
write_stack cache.t3.small true "$TWO_SG" 3 platform 2
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan shows the updates"
out_has "# cache will be updated in place" "group in place"
has '~ node_type = "cache.t3.micro" -> "cache.t3.small"' "node type change"
has "~ automatic_failover = false -> true" "failover change"
out_has "# cachenet will be updated in place" "subnet group in place"
out_has "Plan: 1 to add, 2 to change, 0 to destroy." "one subnet more, two updates"
out_lacks "must be replaced" "nothing replaced"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the updates"
eq "$(rg $RG .attributes.nodeType)" "cache.t3.small" "node type changed in the sim"
eq "$(rg $RG .attributes.automaticFailover)" "true" "failover on in the sim"
eq "$(rg $RG '.attributes.securityGroups | length')" "2" "two security groups in the sim"
eq "$(rg $SUBGRP '.attributes.subnets | length')" "3" "three subnets in the group"
eq "$(rg $RG .tags.team)" "platform" "group tag changed"
check "ModifyReplicationGroup was called" grep -q ModifyReplicationGroup "$WORK/sim.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after updates"

# a group that is not available answers no tags (InvalidReplicationGroupState):
# the refresh keeps the recorded ones
sim_patch "$RG" '{"status":"modifying"}'
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan while the group is modifying keeps the recorded tags"
check "ElastiCache refused the tags of a modifying group" grep -q "ListTagsForResource 400" "$WORK/sim.log"
sim_patch "$RG" '{"status":"available"}'

# drift through the admin endpoint
sim_patch "$RG" '{"attributes":{"nodeType":"cache.m5.large"}}'
sim_patch "$SUBGRP" '{"tags":{"team":"hacked"}}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift detected"
has '~ node_type = "cache.m5.large" -> "cache.t3.small"' "node type drift"
out_has '"hacked"' "tag drift"
out_has "Plan: 0 to add, 2 to change, 0 to destroy." "two repairs"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply repairs drift"
eq "$(rg $RG .attributes.nodeType)" "cache.t3.small" "node type repaired"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after drift repair"

# a downgrade is refused before anything is sent: ElastiCache only upgrades in place
: >"$WORK/sim.log"
ENGINE=6.2 write_stack cache.t3.small true "$TWO_SG" 3 platform 2
run apply -C s -e dev --auto-approve
expect_rc 1 "an engine downgrade fails"
err_has "cannot downgrade replication group sessions from engine version 7.1.0 to 6.2" "said plainly"
check "no ModifyReplicationGroup was sent" bash -c "! grep -q ModifyReplicationGroup '$WORK/sim.log'"
eq "$(rg $RG .attributes.engineVersion)" "7.1.0" "the version is unchanged"
write_stack cache.t3.small true "$TWO_SG" 3 platform 2
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged again"

# replacement: num_cache_clusters
write_stack cache.t3.small true "$TWO_SG" 3 platform 3
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "replica count change"
out_has "# cache must be replaced" "group replaced"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the replacement"
eq "$(rg $RG '.attributes.members | length')" "3" "three member clusters"
eq "$(sim_resources | jq '[.resources[] | select(.type == "elasticache:replication-group")] | length')" "1" "one group"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after replacement"

# import: forget both, import them again by name
run state rm -C s -e dev cache cachenet
expect_rc 0 "state rm"
run import -C s -e dev cachenet cachenet
expect_rc 0 "import the subnet group"
run import -C s -e dev cache sessions
expect_rc 0 "import the group"
run state show -C s -e dev cache
has 'node_type = "cache.t3.small"' "imported attributes"
run plan -C s -e dev --detailed-exitcode
# an import knows no configuration: it records 7.1.0, and the next apply
# records the configured prefix without calling ElastiCache
expect_rc 2 "only the engine_version prefix to record after import"
has '~ engine_version = "7.1.0" -> "7.1"' "engine_version prefix"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "one record-only update"
mods=$(grep -c ModifyReplicationGroup "$WORK/sim.log")
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after import"
eq "$(grep -c ModifyReplicationGroup "$WORK/sim.log")" "$mods" "no ModifyReplicationGroup for a prefix"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing to do after import"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
