#!/usr/bin/env bash
# cairn drift fetches each object once: the search for unmanaged objects
# lists the managed VPC's contents before the refresh, and the refresh
# takes the managed subnets, groups and route tables from that listing
# instead of describing them again by id (counted in the sim's request
# log). What drift reports does not change for it: an out-of-band change
# and a deletion are still found, a VPC deleted out of band still hides
# what is left inside it, and a VPC whose recorded attributes lack its id
# is still searched (after the refresh).
# Every run here is --no-env-memo: what is tested is a read, which a run
# whose answers are all the last run's would not make (drift_envmemo.sh).
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
stack: once
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.7.0.0/16
  sub:
    type: aws.subnet
    count: 3
    vpc_id: "${vpc.id}"
    cidr_block: "10.7.${count.index}.0/24"
  sg:
    type: aws.security_group
    name: once
    description: once
    vpc_id: "${vpc.id}"
    ingress: [{ protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: ["10.0.0.0/8"] }]
  rt:
    type: aws.route_table
    vpc_id: "${vpc.id}"
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
calls() { grep -c " $1 " "$WORK/sim.log"; }

# --- each object once ---
: >"$WORK/sim.log"
run drift --no-env-memo -C s -e dev --no-unmanaged
expect_rc 0 "no drift (refresh only)"
eq "$(calls DescribeSubnets)" "1" "without the search: the refresh's one DescribeSubnets (by id)"
: >"$WORK/sim.log"
run drift --no-env-memo -C s -e dev --json report.json
expect_rc 0 "no drift (with the search)"
out_has "coverage 6 managed / 6 seen (100.0%)" "every object seen, every one managed"
eq "$(calls DescribeSubnets)" "1" "with the search: one DescribeSubnets, the VPC's listing, read by the refresh too"
# groups: the VPC's listing, its default group (the search's and the VPC's
# own read); no DescribeSecurityGroups by id for the managed group
eq "$(calls DescribeSecurityGroups)" "3" "no second DescribeSecurityGroups for the managed group"
eq "$(calls DescribeRouteTables)" "3" "no second DescribeRouteTables for the managed route table"
eq "$(jq -r '.environments[0].status' report.json)" "clean" "JSON: clean"
# RDS and ElastiCache filter on nothing: a stack with none of their
# databases does not list every one of the region (their subnet groups are
# listed, as possible contents of the VPC)
for action in DescribeDBInstances DescribeReplicationGroups DescribeCacheClusters ListTagsForResource; do
  eq "$(calls $action)" "0" "no $action for a stack without RDS or ElastiCache"
done
for action in DescribeDBSubnetGroups DescribeCacheSubnetGroups; do
  eq "$(calls $action)" "1" "one $action: the groups in the VPC"
done

# --- what the refresh reads from the listing is what is out there ---
SUB0=$(state_id s 'sub[0]'); SUB2=$(state_id s 'sub[2]'); VPC=$(state_id s vpc)
sim_patch "$SUB0" '{"tags":{"Owner":"mallory"}}'
sim_delete "$SUB2"
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.7.9.0/24 | xml_val subnetId)
check "a subnet made by hand" test -n "$HAND"
: >"$WORK/sim.log"
run drift --no-env-memo -C s -e dev --json report.json
expect_rc 2 "drift"
out_has 'tags.Owner: recorded null, actual "mallory"' "a change made out of band, read from the listing"
out_has "sub[2] (aws.subnet $SUB2): deleted outside cairn" "a deleted subnet: not in the listing, then not found by id"
out_has "aws.subnet $HAND: unmanaged: inside aws.vpc vpc ($VPC), managed by nothing" "the subnet made by hand"
out_has "dev: drift: 1 changed, 1 deleted, 0 not applied, 1 unmanaged." "nothing else"
eq "$(calls DescribeSubnets)" "3" "the listing, the deleted one by id (gone), the made-by-hand one's tags"

# --- a VPC whose recorded id attribute is not the one the cloud has (a
# state written by another version): searched after the refresh, by the
# id the refresh read ---
state_set_attr s vpc .id '"vpc-0000000000000000f"'
run drift --no-env-memo -C s -e dev --json report.json
expect_rc 2 "drift"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "unmanaged") | .id] | join(" ")' report.json)" "$HAND" \
   "the subnet made by hand is still found in the VPC the refresh read"
state_set_attr s vpc .id "\"$VPC\""

# --- a VPC deleted out of band: what is left inside it is not listed as in a managed VPC ---
sim_delete "$VPC"
run drift --no-env-memo -C s -e dev --json report.json
expect_rc 2 "drift"
out_has "vpc (aws.vpc $VPC): deleted outside cairn" "the VPC is gone"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "unmanaged")] | length' report.json)" "0" \
   "nothing reported as inside a VPC that is gone"
done_testing
