#!/bin/bash
# persist.sh - the sim's state survives a restart on the same --db file,
# and pending status changes still fall due afterwards.
. "$(dirname "$0")/lib.sh"
DB=$TMPD/sim.db

sim_start --db "$DB" || exit 1
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=kept'
check_ok CreateVpc
VPC=$(first vpcId)
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24"
SUB=$(first subnetId)
ec2 "Action=CreateSecurityGroup&GroupName=web&GroupDescription=web&VpcId=$VPC"
SG=$(first groupId)
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8"
check_ok Authorize
sim_stop
[ -s "$DB" ] && ok "database file written" || fail "database file written"

sim_start --db "$DB" || exit 1
ec2 "Action=DescribeVpcs&VpcId.1=$VPC"
check_ok "vpc after restart"
check "vpc tag after restart" kept "$(first value)"
ec2 "Action=DescribeSubnets&SubnetId.1=$SUB"
check "subnet after restart" "$VPC" "$(first vpcId)"
ec2 "Action=DescribeSecurityGroups&GroupId.1=$SG"
check "rule after restart" 10.0.0.0/8 "$(first cidrIp)"
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24"
check_err "validation sees restored state" 400 InvalidSubnet.Conflict
sim_stop

# a pending change recorded before the restart falls due after it
sim_start --db "$DB" --realistic-timings || exit 1
ec2 'Action=CreateVpc&CidrBlock=10.1.0.0/16'
VPC2=$(first vpcId)
ec2 "Action=DescribeVpcs&VpcId.1=$VPC2"
check "realistic timings: still pending" pending "$(first state)"
sim_stop
sleep 2.2
sim_start --db "$DB" || exit 1
ec2 "Action=DescribeVpcs&VpcId.1=$VPC2"
check "pending change applied after restart" available "$(first state)"
sim_stop
finish
