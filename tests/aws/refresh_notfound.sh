#!/usr/bin/env bash
# Batched refresh (read_many of the EC2 types) when a Describe of several
# ids is refused with NotFound: the ids the message names are only a hint.
# A fault rule of the sim (POST /_sim/faults) answers the batched call with
# a NotFound whose message names every id asked for, as an implementation
# of the API may (AWS documents the code, not the wording); only the object
# that is really gone may be planned for creation, confirmed by a describe
# of its id alone.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    count: 2
    cidr_block: "10.7${count.index}.0.0/16"
  sub:
    type: aws.subnet
    count: 3
    vpc_id: "${net[0].id}"
    cidr_block: "${cidrsubnet(net[0].cidr_block, 8, count.index)}"
    availability_zone: us-east-1a
  sub1:
    type: aws.subnet
    vpc_id: "${net[1].id}"
    cidr_block: "${cidrsubnet(net[1].cidr_block, 8, 1)}"
    availability_zone: us-east-1a
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply two VPCs and four subnets"
V0=$(state_id s 'net[0]'); V1=$(state_id s 'net[1]')
S0=$(state_id s 'sub[0]'); S1=$(state_id s 'sub[1]'); S2=$(state_id s 'sub[2]'); S3=$(state_id s sub1)
rows_before=$(state_sql s "select address, id, attrs from resources where env='dev' order by address")
describes() { grep -c " $1 " "$WORK/sim.log"; }

# 1. one subnet of three deleted (outside cairn); the batched DescribeSubnets answered with
#    a NotFound that names all four subnets of the state
ec2 DeleteSubnet "SubnetId=$S1" >/dev/null
sim_fault '{"action": "DescribeSubnets", "code": "InvalidSubnetID.NotFound", "count": 1,
  "message": "The subnet IDs '"'$S0, $S1, $S2, $S3'"' do not exist"}'
check "fault rule accepted" test "$(sim_faults_left)" = 1
n=$(describes DescribeSubnets)
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan: changes"
eq "$(sim_faults_left)" "0" "the batched DescribeSubnets got the NotFound naming every id"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "only the deleted subnet is planned"
out_has "# sub[1] will be created" "sub[1] is gone"
for a in 'sub[0]' 'sub[2]' sub1 'net[0]' 'net[1]'; do out_lacks "# $a will" "$a is untouched"; done
eq "$(( $(describes DescribeSubnets) - n ))" "5" "one batched describe, then each named id alone"
eq "$(state_sql s "select address, id, attrs from resources where env='dev' order by address")" "$rows_before" \
  "plan leaves the state alone"

# 2. one VPC deleted (with its subnet): the batched DescribeVpcs names both
ec2 DeleteSubnet "SubnetId=$S3" >/dev/null
ec2 DeleteVpc "VpcId=$V1" >/dev/null
sim_fault '{"action": "DescribeVpcs", "code": "InvalidVpcID.NotFound", "count": 1,
  "message": "The vpc IDs '"'$V0, $V1'"' do not exist"}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan: changes"
eq "$(sim_faults_left)" "0" "the batched DescribeVpcs got the NotFound naming both VPCs"
out_has "Plan: 3 to add, 0 to change, 0 to destroy." "the deleted VPC, its subnet and sub[1]"
out_has "# net[1] will be created" "net[1] is gone"
out_has "# sub1 will be created" "its subnet too"
for a in 'net[0]' 'sub[0]' 'sub[2]'; do out_lacks "# $a will" "$a is untouched"; done

# 3. a message that names no id at all: each id alone, the same answer
sim_fault '{"action": "DescribeVpcs", "code": "InvalidVpcID.NotFound", "count": 1, "message": "Some VPCs do not exist"}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan: changes"
eq "$(sim_faults_left)" "0" "the fault was answered"
out_has "Plan: 3 to add, 0 to change, 0 to destroy." "the same plan"

run apply -C s -e dev --auto-approve
expect_rc 0 "apply recreates what is gone"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"
eq "$(state_id s 'net[0]')" "$V0" "net[0] kept"
eq "$(state_id s 'sub[0]')" "$S0" "sub[0] kept"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
