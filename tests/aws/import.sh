#!/usr/bin/env bash
# cairn import for each network type: objects made directly through the
# EC2 API (curl --aws-sigv4, no cairn tags), imported, then the plan is
# empty, an update goes through, and destroy leaves the sim empty.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

VPC=$(ec2 CreateVpc CidrBlock=10.20.0.0/16 TagSpecification.1.ResourceType=vpc \
  TagSpecification.1.Tag.1.Key=Name TagSpecification.1.Tag.1.Value=imported | xml_val vpcId)
check "vpc made by hand" test -n "$VPC"
sleep 2.2 # pending -> available
SUB=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.20.1.0/24 AvailabilityZone=us-east-1b | xml_val subnetId)
IGW=$(ec2 CreateInternetGateway | xml_val internetGatewayId)
ec2 AttachInternetGateway InternetGatewayId="$IGW" VpcId="$VPC" >/dev/null
RT=$(ec2 CreateRouteTable VpcId="$VPC" | xml_val routeTableId)
ec2 CreateRoute RouteTableId="$RT" DestinationCidrBlock=0.0.0.0/0 GatewayId="$IGW" >/dev/null
ec2 AssociateRouteTable RouteTableId="$RT" SubnetId="$SUB" >/dev/null
SG=$(ec2 CreateSecurityGroup GroupName=app GroupDescription="app servers" VpcId="$VPC" | xml_val groupId)
ec2 AuthorizeSecurityGroupIngress GroupId="$SG" IpPermissions.1.IpProtocol=tcp IpPermissions.1.FromPort=8080 \
  IpPermissions.1.ToPort=8080 IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8 >/dev/null
check "all made" test -n "$SUB" -a -n "$IGW" -a -n "$RT" -a -n "$SG"
eq "$(sim_count)" "7" "objects before import (with main route table and default group)"

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.20.0.0/16
    tags: { Name: imported }
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.20.1.0/24
    availability_zone: us-east-1b
  gw:
    type: aws.internet_gateway
    vpc_id: "${net.id}"
  rt:
    type: aws.route_table
    vpc_id: "${net.id}"
    routes: [{ cidr_block: 0.0.0.0/0, gateway_id: "${gw.id}" }]
    subnet_ids: ["${sub.id}"]
  app:
    type: aws.security_group
    name: app
    description: app servers
    vpc_id: "${net.id}"
    ingress: [{ protocol: tcp, from_port: 8080, to_port: 8080, cidr_blocks: [10.0.0.0/8] }]
    egress: [{ protocol: "-1", from_port: 0, to_port: 0, cidr_blocks: [0.0.0.0/0] }]
YAML

# ids that EC2 calls malformed (each kind has its own spelling of the code,
# InvalidRouteTableId.Malformed but InvalidVpcID.Malformed): no such object
for pair in "net vpc-zz" "sub subnet-zz" "gw igw-zz" "rt rtb-zz" "app sg-zz"; do
  set -- $pair
  run import -C s -e dev "$1" "$2"
  expect_rc 1 "import of the malformed id $2 fails"
  err_has "with id '$2' exists" "$2: no such object"
done

for pair in "net $VPC" "sub $SUB" "gw $IGW" "rt $RT" "app $SG"; do
  set -- $pair
  run import -C s -e dev "$1" "$2"
  expect_rc 0 "import $1"
done
run import -C s -e dev net vpc-0000000000000dead
expect_rc 1 "importing an id that does not exist fails"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "5" "five recorded"
run state show -C s -e dev rt
out_has "$SUB" "the association is read"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after import is empty"

# an update of imported objects: tags (cairn adds its own tags then)
sed -i 's/Name: imported/Name: adopted/' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "update an imported VPC"
out_has "1 changed" "one change"
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .tags.Name')" "adopted" "tag changed"
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .tags["cairn:address"]')" "net" "cairn tags added on update"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy imported objects"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
