#!/bin/bash
# ec2.sh - every EC2 action of `cairn sim` over signed Query requests:
# response documents, validation, dependency errors, filters, pagination.
. "$(dirname "$0")/lib.sh"
sim_start || exit 1

# -- VPCs
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=main%20%3Cvpc%3E&TagSpecification.1.Tag.2.Key=env&TagSpecification.1.Tag.2.Value=dev'
check_ok CreateVpc
VPC=$(first vpcId)
[[ $VPC =~ ^vpc-[0-9a-f]{17}$ ]] && ok "vpc id format ($VPC)" || fail "vpc id format ($VPC)"
check "CreateVpc namespace" 1 "$(grep -c '<CreateVpcResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>' "$BODY_FILE")"
check "CreateVpc state" pending "$(first state)"
check "CreateVpc cidr" 10.0.0.0/16 "$(first cidrBlock)"
check "CreateVpc tag escaped and returned" "main <vpc>" "$(xml value | head -n1)"
check "CreateVpc isDefault" false "$(first isDefault)"

ec2 'Action=DescribeVpcs'
check_ok DescribeVpcs
check "DescribeVpcs becomes available" available "$(first state)"
check "DescribeVpcs one vpc" "$VPC" "$(xml vpcId)"

ec2 'Action=CreateVpc&CidrBlock=10.1.0.0/16'; VPC2=$(first vpcId)
ec2 'Action=CreateVpc&CidrBlock=10.2.0.0/24'; VPC3=$(first vpcId)

ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/8'
check_err "CreateVpc /8" 400 InvalidVpc.Range
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/29'
check_err "CreateVpc /29" 400 InvalidVpc.Range
ec2 'Action=CreateVpc&CidrBlock=10.0.0.300/16'
check_err "CreateVpc bad cidr" 400 InvalidParameterValue
ec2 'Action=CreateVpc&CidrBlock=10.0.0.1/16'
check_err "CreateVpc host bits" 400 InvalidParameterValue
ec2 'Action=CreateVpc'
check_err "CreateVpc no cidr" 400 MissingParameter
ec2 'Action=CreateVpc&CidrBlock=10.9.0.0/16&TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=b'
check_err "CreateVpc wrong TagSpecification type" 400 InvalidParameterValue
ec2 'Action=CreateVpc&CidrBlock=10.9.0.0/16&DryRun=true'
check_err "CreateVpc DryRun" 412 DryRunOperation

ec2 "Action=DescribeVpcs&VpcId.1=$VPC2"
check "DescribeVpcs by id" "$VPC2" "$(xml vpcId)"
ec2 "Action=DescribeVpcs&VpcId.1=vpc-0123456789abcdef0"
check_err "DescribeVpcs unknown id" 400 InvalidVpcID.NotFound
ec2 "Action=DescribeVpcs&VpcId.1=vpc-zz"
check_err "DescribeVpcs malformed id" 400 InvalidVpcID.Malformed
# at most 200 filter values in a call, all filters together
F=$(for i in $(seq 200); do printf '&Filter.1.Value.%d=vpc-%017x' "$i" "$i"; done)
ec2 "Action=DescribeVpcs&Filter.1.Name=vpc-id$F"
check "200 filter values are taken" 200 "$STATUS"
ec2 "Action=DescribeVpcs&Filter.1.Name=vpc-id$F&Filter.2.Name=state&Filter.2.Value.1=available"
check_err "201 filter values" 400 FilterLimitExceeded
ec2 "Action=CreateVpc&CidrBlock=10.99.0.0/16&InstanceTenancy=host"
check_err "a VPC cannot have host tenancy" 400 InvalidParameterValue
ec2 'Action=DescribeVpcs&Filter.1.Name=tag:Name&Filter.1.Value.1=main*'
check "filter tag:Name wildcard" "$VPC" "$(xml vpcId)"
ec2 'Action=DescribeVpcs&Filter.1.Name=tag-key&Filter.1.Value.1=env'
check "filter tag-key" "$VPC" "$(xml vpcId)"
ec2 'Action=DescribeVpcs&Filter.1.Name=cidr&Filter.1.Value.1=10.1.0.0/16&Filter.1.Value.2=10.2.0.0/24'
check "filter cidr two values" "$VPC2 $VPC3" "$(xml vpcId | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC&Filter.2.Name=state&Filter.2.Value.1=available"
check "two filters AND" "$VPC" "$(xml vpcId)"
ec2 "Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC&Filter.2.Name=is-default&Filter.2.Value.1=true"
check "two filters AND, no match" 0 "$(xml_count vpcId)"
ec2 'Action=DescribeVpcs&Filter.1.Name=bogus&Filter.1.Value.1=x'
check_err "unknown filter" 400 InvalidParameterValue

# pagination: 7 vpcs, pages of 5
for c in 3 4 5 6; do ec2 "Action=CreateVpc&CidrBlock=10.$c.0.0/16"; done
LASTVPC=$(first vpcId)
ec2 'Action=DescribeVpcs&MaxResults=5'
check "page 1 size" 5 "$(xml_count vpcId)"
TOKEN=$(first nextToken)
[ -n "$TOKEN" ] && ok "page 1 has nextToken" || fail "page 1 has nextToken"
ec2 "Action=DescribeVpcs&MaxResults=5&NextToken=$TOKEN"
check "page 2 size" 2 "$(xml_count vpcId)"
check "page 2 has no nextToken" 0 "$(xml_count nextToken)"
check "page 2 ends with the last vpc" "$LASTVPC" "$(xml vpcId | tail -n1)"
ec2 'Action=DescribeVpcs&MaxResults=4'
check_err "MaxResults too small" 400 InvalidParameterValue
ec2 'Action=DescribeVpcs&MaxResults=3000'
check_err "MaxResults too large" 400 InvalidParameterValue
ec2 'Action=DescribeVpcs&NextToken=garbage'
check_err "bad NextToken" 400 InvalidPaginationToken

# attributes
ec2 "Action=DescribeVpcAttribute&VpcId=$VPC&Attribute=enableDnsSupport"
check_ok DescribeVpcAttribute
check "enableDnsSupport default" true "$(first value)"
ec2 "Action=ModifyVpcAttribute&VpcId=$VPC&EnableDnsHostnames.Value=true"
check_ok ModifyVpcAttribute
check "ModifyVpcAttribute return" true "$(first return)"
ec2 "Action=DescribeVpcAttribute&VpcId=$VPC&Attribute=enableDnsHostnames"
check "enableDnsHostnames modified" true "$(first value)"
check "DescribeVpcAttribute element" 1 "$(xml_count enableDnsHostnames)"
ec2 "Action=ModifyVpcAttribute&VpcId=$VPC&EnableDnsHostnames.Value=true&EnableDnsSupport.Value=true"
check_err "ModifyVpcAttribute two at once" 400 InvalidParameterCombination
ec2 "Action=ModifyVpcAttribute&VpcId=$VPC&EnableDnsSupport.Value=maybe"
check_err "ModifyVpcAttribute bad bool" 400 InvalidParameterValue
ec2 "Action=DescribeVpcAttribute&VpcId=$VPC&Attribute=nope"
check_err "DescribeVpcAttribute bad attribute" 400 InvalidParameterValue

# -- subnets
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1b&TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=tier&TagSpecification.1.Tag.1.Value=public"
check_ok CreateSubnet
SUB=$(first subnetId)
[[ $SUB =~ ^subnet-[0-9a-f]{17}$ ]] && ok "subnet id format" || fail "subnet id format"
check "subnet vpc" "$VPC" "$(first vpcId)"
check "subnet az" us-east-1b "$(first availabilityZone)"
check "subnet az id" use1-az2 "$(first availabilityZoneId)"
check "subnet free addresses" 251 "$(first availableIpAddressCount)"
check "subnet arn" "arn:aws:ec2:us-east-1:123456789012:subnet/$SUB" "$(first subnetArn)"
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.2.0/24"; SUB2=$(first subnetId)
check_ok "CreateSubnet second"
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.128/25"
check_err "CreateSubnet overlap" 400 InvalidSubnet.Conflict
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.0.0/16"
check_err "CreateSubnet covering an existing subnet" 400 InvalidSubnet.Conflict
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.5.0.0/24"
check_err "CreateSubnet outside vpc" 400 InvalidSubnet.Range
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.3.0/29"
check_err "CreateSubnet /29" 400 InvalidSubnet.Range
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.3.0/24&AvailabilityZone=eu-west-1a"
check_err "CreateSubnet wrong az" 400 InvalidParameterValue
ec2 "Action=CreateSubnet&VpcId=vpc-0123456789abcdef0&CidrBlock=10.0.3.0/24"
check_err "CreateSubnet unknown vpc" 400 InvalidVpcID.NotFound
ec2 "Action=CreateSubnet&CidrBlock=10.0.3.0/24"
check_err "CreateSubnet no vpc" 400 MissingParameter
ec2 "Action=DescribeSubnets&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC"
check "DescribeSubnets by vpc-id" 2 "$(xml_count subnetId)"
ec2 "Action=DescribeSubnets&Filter.1.Name=tag:tier&Filter.1.Value.1=public"
check "DescribeSubnets by tag" "$SUB" "$(xml subnetId)"
ec2 "Action=DescribeSubnets&SubnetId.1=$SUB2"
check "DescribeSubnets by id" "$SUB2" "$(xml subnetId)"
check "DescribeSubnets state" available "$(first state)"
ec2 "Action=DescribeSubnets&SubnetId.1=subnet-0123456789abcdef0"
check_err "DescribeSubnets unknown" 400 InvalidSubnetID.NotFound
ec2 "Action=ModifySubnetAttribute&SubnetId=$SUB&MapPublicIpOnLaunch.Value=true"
check_ok ModifySubnetAttribute
ec2 "Action=DescribeSubnets&SubnetId.1=$SUB"
check "mapPublicIpOnLaunch modified" true "$(first mapPublicIpOnLaunch)"
ec2 "Action=ModifySubnetAttribute&SubnetId=$SUB"
check_err "ModifySubnetAttribute nothing" 400 MissingParameter

ec2 "Action=DeleteVpc&VpcId=$VPC"
check_err "DeleteVpc with subnets" 400 DependencyViolation

# -- internet gateways
ec2 'Action=CreateInternetGateway&TagSpecification.1.ResourceType=internet-gateway&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=gw'
check_ok CreateInternetGateway
IGW=$(first internetGatewayId)
[[ $IGW =~ ^igw-[0-9a-f]{17}$ ]] && ok "igw id format" || fail "igw id format"
ec2 "Action=AttachInternetGateway&InternetGatewayId=$IGW&VpcId=$VPC"
check_ok AttachInternetGateway
ec2 "Action=AttachInternetGateway&InternetGatewayId=$IGW&VpcId=$VPC2"
check_err "Attach again" 400 Resource.AlreadyAssociated
ec2 "Action=DescribeInternetGateways&Filter.1.Name=attachment.vpc-id&Filter.1.Value.1=$VPC"
check "DescribeInternetGateways attachment filter" "$IGW" "$(xml internetGatewayId)"
check "igw attachment state" available "$(first state)"
ec2 "Action=DeleteInternetGateway&InternetGatewayId=$IGW"
check_err "Delete attached igw" 400 DependencyViolation
ec2 "Action=DetachInternetGateway&InternetGatewayId=$IGW&VpcId=$VPC2"
check_err "Detach from wrong vpc" 400 Gateway.NotAttached

# -- route tables
ec2 "Action=CreateRouteTable&VpcId=$VPC"
check_ok CreateRouteTable
RTB=$(first routeTableId)
check "local route" local "$(first gatewayId)"
check "local route destination" 10.0.0.0/16 "$(first destinationCidrBlock)"
ec2 "Action=CreateRoute&RouteTableId=$RTB&DestinationCidrBlock=0.0.0.0/0&GatewayId=$IGW"
check_ok CreateRoute
ec2 "Action=CreateRoute&RouteTableId=$RTB&DestinationCidrBlock=0.0.0.0/0&GatewayId=$IGW"
check_err "CreateRoute duplicate" 400 RouteAlreadyExists
ec2 "Action=CreateRoute&RouteTableId=$RTB&DestinationCidrBlock=1.2.3.0/24&GatewayId=igw-0123456789abcdef0"
check_err "CreateRoute unknown gateway" 400 InvalidGatewayID.NotFound
ec2 "Action=CreateRoute&RouteTableId=$RTB&DestinationCidrBlock=1.2.3.0/24"
check_err "CreateRoute no target" 400 MissingParameter
ec2 "Action=AssociateRouteTable&RouteTableId=$RTB&SubnetId=$SUB"
check_ok AssociateRouteTable
ASSOC=$(first associationId)
[[ $ASSOC =~ ^rtbassoc-[0-9a-f]{17}$ ]] && ok "association id format" || fail "association id format"
ec2 "Action=AssociateRouteTable&RouteTableId=$RTB&SubnetId=$SUB"
check_err "Associate twice" 400 Resource.AlreadyAssociated
ec2 "Action=DescribeRouteTables&RouteTableId.1=$RTB"
check "route count" 2 "$(xml_count destinationCidrBlock)"
check "association subnet" "$SUB" "$(first subnetId)"
ec2 "Action=DescribeRouteTables&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC&Filter.2.Name=association.main&Filter.2.Value.1=true"
check "main route table exists" 1 "$(xml routeTableId | sort -u | wc -l)"
MAIN_RTB=$(first routeTableId)
ec2 "Action=DescribeRouteTables&Filter.1.Name=route.gateway-id&Filter.1.Value.1=$IGW"
check "filter route.gateway-id" "$RTB" "$(xml routeTableId | sort -u)"
ec2 "Action=DeleteRouteTable&RouteTableId=$RTB"
check_err "DeleteRouteTable associated" 400 DependencyViolation
ec2 "Action=DeleteRouteTable&RouteTableId=$MAIN_RTB"
check_err "DeleteRouteTable main" 400 DependencyViolation
ec2 "Action=DeleteRoute&RouteTableId=$RTB&DestinationCidrBlock=10.0.0.0/16"
check_err "DeleteRoute local" 400 InvalidParameterValue
ec2 "Action=DeleteRoute&RouteTableId=$RTB&DestinationCidrBlock=9.9.9.0/24"
check_err "DeleteRoute missing" 400 InvalidRoute.NotFound
ec2 "Action=DeleteRoute&RouteTableId=$RTB&DestinationCidrBlock=0.0.0.0/0"
check_ok DeleteRoute
ec2 "Action=DisassociateRouteTable&AssociationId=$ASSOC"
check_ok DisassociateRouteTable
ec2 "Action=DisassociateRouteTable&AssociationId=$ASSOC"
check_err "Disassociate twice" 400 InvalidAssociationID.NotFound
ec2 "Action=DeleteRouteTable&RouteTableId=$RTB"
check_ok DeleteRouteTable
ec2 "Action=DescribeRouteTables&RouteTableId.1=$RTB"
check_err "DescribeRouteTables deleted" 400 InvalidRouteTableID.NotFound

# -- security groups
ec2 "Action=CreateSecurityGroup&GroupName=web&GroupDescription=web%20servers&VpcId=$VPC&TagSpecification.1.ResourceType=security-group&TagSpecification.1.Tag.1.Key=role&TagSpecification.1.Tag.1.Value=web"
check_ok CreateSecurityGroup
SG=$(first groupId)
[[ $SG =~ ^sg-[0-9a-f]{17}$ ]] && ok "sg id format" || fail "sg id format"
ec2 "Action=CreateSecurityGroup&GroupName=web&GroupDescription=again&VpcId=$VPC"
check_err "CreateSecurityGroup duplicate" 400 InvalidGroup.Duplicate
ec2 "Action=CreateSecurityGroup&GroupName=db&VpcId=$VPC"
check_err "CreateSecurityGroup no description" 400 MissingParameter
ec2 "Action=CreateSecurityGroup&GroupName=db&GroupDescription=db"
check_err "CreateSecurityGroup without default vpc" 400 VPCIdNotSpecified
ec2 "Action=CreateSecurityGroup&GroupName=db&GroupDescription=db&VpcId=$VPC"; SG2=$(first groupId)
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpPermissions.1.IpRanges.1.Description=https"
check_ok AuthorizeSecurityGroupIngress
check "authorize returns rule id" 1 "$(xml securityGroupRuleId | grep -c '^sgr-')"
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=443&IpPermissions.1.ToPort=443&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
check_err "Authorize duplicate" 400 InvalidPermission.Duplicate
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
check_err "Authorize tcp without ToPort" 400 InvalidParameterValue
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG2&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=5432&IpPermissions.1.ToPort=5432&IpPermissions.1.Groups.1.GroupId=$SG"
check_ok "Authorize from another group"
ec2 "Action=AuthorizeSecurityGroupEgress&GroupId=$SG&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=53&IpPermissions.1.ToPort=53&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.2/32"
check_ok AuthorizeSecurityGroupEgress
ec2 "Action=DescribeSecurityGroups&GroupId.1=$SG"
check_ok DescribeSecurityGroups
check "sg name" web "$(first groupName)"
check "sg description" "web servers" "$(first groupDescription)"
check "sg cidrs" "0.0.0.0/0 0.0.0.0/0 10.0.0.2/32" "$(xml cidrIp | tr '\n' ' ' | sed 's/ $//')"
check "sg ingress port" 443 "$(first fromPort)"
ec2 "Action=DescribeSecurityGroups&Filter.1.Name=ip-permission.group-id&Filter.1.Value.1=$SG"
check "filter ip-permission.group-id" "$SG2" "$(xml groupId | head -n1)"
ec2 "Action=DescribeSecurityGroups&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC&Filter.2.Name=group-name&Filter.2.Value.1=default"
check "default group exists" 1 "$(xml_count groupName)"
DEF_SG=$(xml groupId | head -n1)
ec2 "Action=DeleteSecurityGroup&GroupId=$DEF_SG"
check_err "Delete default group" 400 CannotDelete
ec2 "Action=DeleteSecurityGroup&GroupId=$SG"
check_err "Delete referenced group" 400 DependencyViolation
ec2 "Action=RevokeSecurityGroupIngress&GroupId=$SG2&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=5432&IpPermissions.1.ToPort=5432&IpPermissions.1.Groups.1.GroupId=$SG"
check_ok RevokeSecurityGroupIngress
ec2 "Action=RevokeSecurityGroupIngress&GroupId=$SG2&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=5432&IpPermissions.1.ToPort=5432&IpPermissions.1.Groups.1.GroupId=$SG"
check_err "Revoke missing rule" 400 InvalidPermission.NotFound
ec2 "Action=RevokeSecurityGroupEgress&GroupId=$SG&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=53&IpPermissions.1.ToPort=53&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.2/32"
check_ok RevokeSecurityGroupEgress
ec2 "Action=AuthorizeSecurityGroupIngress&GroupId=$SG2&IpPermissions.1.IpProtocol=icmp&IpPermissions.1.FromPort=-1&IpPermissions.1.ToPort=-1&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8"
RULE=$(first securityGroupRuleId)
ec2 "Action=RevokeSecurityGroupIngress&GroupId=$SG2&SecurityGroupRuleId.1=$RULE"
check_ok "Revoke by rule id"
ec2 "Action=RevokeSecurityGroupIngress&GroupId=$SG2&SecurityGroupRuleId.1=$RULE"
check_err "Revoke by rule id twice" 400 InvalidSecurityGroupRuleId.NotFound
ec2 "Action=DescribeSecurityGroups&GroupId.1=sg-0123456789abcdef0"
check_err "DescribeSecurityGroups unknown" 400 InvalidGroup.NotFound

# -- tags
ec2 "Action=CreateTags&ResourceId.1=$VPC2&ResourceId.2=$SUB2&Tag.1.Key=team&Tag.1.Value=core&Tag.2.Key=cost&Tag.2.Value="
check_ok CreateTags
ec2 "Action=DescribeTags&Filter.1.Name=key&Filter.1.Value.1=team"
check "DescribeTags by key" 2 "$(xml_count resourceId)"
check "DescribeTags resource types" "vpc subnet" "$(xml resourceType | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=$VPC2"
check "DescribeTags by resource" "team cost" "$(xml key | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=DescribeTags&MaxResults=5"
check "DescribeTags page" 5 "$(xml_count resourceId)"
T=$(first nextToken)
ec2 "Action=DescribeTags&MaxResults=5&NextToken=$T"
check_ok "DescribeTags page 2"
ec2 "Action=DeleteTags&ResourceId.1=$VPC2&Tag.1.Key=team&Tag.1.Value=other"
check_ok "DeleteTags value mismatch"
ec2 "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=$VPC2&Filter.2.Name=key&Filter.2.Value.1=team"
check "tag kept on value mismatch" 1 "$(xml_count key)"
ec2 "Action=DeleteTags&ResourceId.1=$VPC2&Tag.1.Key=team"
check_ok DeleteTags
ec2 "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=$VPC2"
check "tag deleted" cost "$(xml key)"
ec2 "Action=CreateTags&ResourceId.1=vpc-0123456789abcdef0&Tag.1.Key=a&Tag.1.Value=b"
check_err "CreateTags unknown resource" 400 InvalidVpcID.NotFound
ec2 "Action=CreateTags&ResourceId.1=xyz-123&Tag.1.Key=a&Tag.1.Value=b"
check_err "CreateTags bad id" 400 InvalidID
ec2 "Action=CreateTags&ResourceId.1=$VPC2&Tag.1.Key=aws:x&Tag.1.Value=b"
check_err "CreateTags reserved key" 400 InvalidParameterValue

# -- teardown in dependency order
ec2 "Action=DetachInternetGateway&InternetGatewayId=$IGW&VpcId=$VPC"
check_ok DetachInternetGateway
ec2 "Action=DeleteInternetGateway&InternetGatewayId=$IGW"
check_ok DeleteInternetGateway
ec2 "Action=DescribeInternetGateways&InternetGatewayId.1=$IGW"
check_err "DescribeInternetGateways deleted" 400 InvalidInternetGatewayID.NotFound
ec2 "Action=DeleteSecurityGroup&GroupId=$SG2"
check_ok "DeleteSecurityGroup db"
ec2 "Action=DeleteSecurityGroup&GroupId=$SG"
check_ok "DeleteSecurityGroup web"
ec2 "Action=DeleteSubnet&SubnetId=$SUB"
check_ok DeleteSubnet
ec2 "Action=DeleteSubnet&SubnetId=$SUB"
check_err "DeleteSubnet twice" 400 InvalidSubnetID.NotFound
ec2 "Action=DeleteSubnet&SubnetId=$SUB2"
ec2 "Action=DeleteVpc&VpcId=$VPC"
check_ok DeleteVpc
ec2 "Action=DescribeVpcs&VpcId.1=$VPC"
check_err "DescribeVpcs deleted" 400 InvalidVpcID.NotFound
ec2 "Action=DescribeRouteTables&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC"
check "main route table went with the vpc" 0 "$(xml_count routeTableId)"

# -- protocol errors
ec2 'Action=NoSuchThing'
check_err "unknown action" 400 InvalidAction
ec2 'Foo=bar'
check_err "missing action" 400 MissingAction
check "error document shape" 1 "$(grep -c '^<Response><Errors><Error><Code>MissingAction</Code><Message>.*</Message></Error></Errors><RequestID>[0-9a-f-]\{36\}</RequestID></Response>$' "$BODY_FILE")"

ec2 'Action=DescribeVpcs&VpcIds.1=vpc-0123456789abcdef0'
check_err "unknown parameter" 400 UnknownParameter
check "unknown parameter named" "The parameter VpcIds is not recognized" "$(first Message)"

# regions are separate
REGION=eu-west-1 ec2 'Action=DescribeVpcs'
check "other region is empty" 0 "$(xml_count vpcId)"

# an id that is not UTF-8 (the byte FF; found by tests/fuzz/fuzz_query) is
# quoted in the error as U+FFFD, so that the answer stays XML a client reads
ec2 'Action=DescribeVpcs&VpcId.1=vpc-%FFb%C3%A9%EF%BF%BF'
check_err "DescribeVpcs with an id that is not UTF-8" 400 InvalidVpcID.Malformed
check "the id quoted with U+FFFD" "Invalid id: \"vpc-"$'\xef\xbf\xbd'"b"$'\xc3\xa9\xef\xbf\xbd'"\"" "$(first Message)"

# a tag that is not UTF-8 (found by fuzzing: a 500 "out of memory", the
# store refusing the string): 400 InvalidParameterValue, nothing made or stored
N_VPCS=$(ec2 'Action=DescribeVpcs'; xml_count vpcId)
ec2 'Action=CreateVpc&CidrBlock=10.9.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=%FF%FEbad'
check_err "CreateVpc with a tag value that is not UTF-8" 400 InvalidParameterValue
check "the message names the key" "Tag value for key 'k' contains invalid characters (not UTF-8)" "$(first Message)"
check "no VPC made" "$N_VPCS" "$(ec2 'Action=DescribeVpcs'; xml_count vpcId)"
ec2 'Action=CreateVpc&CidrBlock=10.9.0.0/16'
check_ok "a VPC to tag"
TV=$(first vpcId)
ec2 "Action=CreateTags&ResourceId.1=$TV&Tag.1.Key=ok&Tag.1.Value=fine&Tag.2.Key=k%C0%AF&Tag.2.Value=v"
check_err "CreateTags with a key that is not UTF-8 (an overlong /)" 400 InvalidParameterValue
check "the key is not echoed" "Tag key contains invalid characters (not UTF-8)" "$(first Message)"
ec2 "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=$TV"
check "no tag stored (not even the valid one before it)" 0 "$(xml_count key)"
ec2 "Action=CreateTags&ResourceId.1=$TV&Tag.1.Key=k&Tag.1.Value=caf%C3%A9"
check_ok "a UTF-8 tag value"
ec2 "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=$TV"
check "kept as sent" "café" "$(first value)"

sim_stop
finish
