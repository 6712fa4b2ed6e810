#!/usr/bin/env bash
# EC2 is eventually consistent: an object just created may be unknown to
# Describe and to the next call naming it for a moment. The sim's fault
# rules (POST /_sim/faults) make that moment deterministic: the first
# Describe or Attach after a create answers NotFound, and the modules keep
# asking instead of calling the object gone. A subnet still associated with
# another route table (moving between two tables in one apply) is waited
# out the same way.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.70.0.0/16
YAML
check "rule" sim_fault '{"action": "DescribeVpcs", "code": "InvalidVpcID.NotFound", "count": 2}'
run apply -C s -e dev --auto-approve
expect_rc 0 "a new VPC unknown to the first two DescribeVpcs"
eq "$(sim_faults_left)" "0" "both NotFound answers were given"
eq "$(sim_count_addr net)" "1" "one VPC, not two"

cat >>s/stack.yaml <<'YAML'
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, 1)}"
    availability_zone: us-east-1a
  gw:
    type: aws.internet_gateway
    vpc_id: "${net.id}"
YAML
check "rule" sim_fault '{"action": "DescribeSubnets", "code": "InvalidSubnetID.NotFound", "count": 2}'
check "rule" sim_fault '{"action": "AttachInternetGateway", "code": "InvalidInternetGatewayID.NotFound", "count": 2}'
check "rule" sim_fault '{"action": "DescribeInternetGateways", "code": "InvalidInternetGatewayID.NotFound", "count": 1}'
run apply -C s -e dev --auto-approve
expect_rc 0 "a new subnet and gateway unknown for a moment"
eq "$(sim_faults_left)" "0" "every NotFound answer was given"
eq "$(sim_count_addr sub)" "1" "one subnet"
eq "$(sim_count_addr gw)" "1" "one gateway"
eq "$(sim_resources | jq -r --arg g "$(state_id s gw)" '.resources[] | select(.id == $g) | .attributes.vpcId // .parent_id')" \
  "$(state_id s net)" "the gateway is attached"

cat >>s/stack.yaml <<'YAML'
  rt:
    type: aws.route_table
    vpc_id: "${net.id}"
    routes: [{ cidr_block: 0.0.0.0/0, gateway_id: "${gw.id}" }]
    subnet_ids: ["${sub.id}"]
YAML
# (without refresh: refreshing the VPC asks DescribeRouteTables too)
check "rule" sim_fault '{"action": "DescribeRouteTables", "code": "InvalidRouteTableID.NotFound", "count": 1}'
check "rule" sim_fault '{"action": "AssociateRouteTable", "code": "Resource.AlreadyAssociated", "count": 2}'
run apply -C s -e dev --auto-approve --refresh=false
expect_rc 0 "a new route table unknown for a moment, its subnet still elsewhere for a moment"
eq "$(sim_faults_left)" "0" "every fault was given"
eq "$(sim_resources | jq -r --arg r "$(state_id s rt)" '.resources[] | select(.id == $r) | .attributes.associations | length')" \
  "1" "the subnet is associated"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
