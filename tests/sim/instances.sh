#!/bin/bash
# instances.sh - EC2 instances, AMIs and key pairs of `cairn sim` over
# signed Query requests: RunInstances' reservation document, private and
# public addresses, ClientToken idempotency, the asynchronous states and
# the transitions EC2 refuses, Modify/DescribeInstanceAttribute,
# DescribeInstanceStatus (status checks set by the admin endpoint), filters
# and pagination, terminated instances visible for a while, dependencies
# on subnets and security groups, key pair fingerprints as EC2 computes
# them, and an injected InsufficientInstanceCapacity.
. "$(dirname "$0")/lib.sh"
sim_start --terminated-retention 3 || exit 1

urlenc() { printf %s "$1" | jq -sRr @uri; }
b64() { printf %s "$1" | base64 -w0; }
# wait_state ID STATE: DescribeInstances until the instance is in STATE (5 s at most)
wait_state() {
	local i
	for i in $(seq 1 50); do
		ec2 "Action=DescribeInstances&InstanceId.1=$1"
		[ "$(xml name | head -n1)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
state_of() { ec2 "Action=DescribeInstances&InstanceId.1=$1"; xml name | head -n1; }

# -- network to launch into
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16'; VPC=$(first vpcId)
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"; SUB=$(first subnetId)
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1b"; PUBSUB=$(first subnetId)
ec2 "Action=ModifySubnetAttribute&SubnetId=$PUBSUB&MapPublicIpOnLaunch.Value=true"
check_ok "ModifySubnetAttribute MapPublicIpOnLaunch"
ec2 "Action=CreateSecurityGroup&GroupName=web&GroupDescription=web&VpcId=$VPC"; SG=$(first groupId)
ec2 "Action=DescribeSecurityGroups&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC&Filter.2.Name=group-name&Filter.2.Value.1=default"
DEF_SG=$(first groupId)
ec2 'Action=CreateVpc&CidrBlock=10.9.0.0/16'; OTHER_VPC=$(first vpcId)
ec2 "Action=CreateSecurityGroup&GroupName=elsewhere&GroupDescription=x&VpcId=$OTHER_VPC"; OTHER_SG=$(first groupId)

# -- AMIs
ec2 'Action=DescribeImages'
check_ok DescribeImages
check "four AMIs" 4 "$(xml_count imageId)"
ec2 'Action=DescribeImages&Filter.1.Name=name&Filter.1.Value.1=debian-12-*&Filter.2.Name=architecture&Filter.2.Value.1=x86_64'
check "DescribeImages by name and architecture" ami-0deb1a12c0ffee000 "$(xml imageId)"
ec2 'Action=DescribeImages&Owner.1=amazon'
check "DescribeImages by owner alias" 2 "$(xml_count imageId)"
ec2 'Action=DescribeImages&ImageId.1=ami-0123456789abcdef1'
check_err "DescribeImages unknown" 400 InvalidAMIID.NotFound
AMI=ami-0deb1a12c0ffee000

# -- key pairs
ssh-keygen -q -t ed25519 -N '' -C me@laptop -f "$TMPD/ed" || exit 1
ssh-keygen -q -t rsa -b 2048 -N '' -f "$TMPD/rsa" || exit 1
ssh-keygen -q -t ecdsa -N '' -f "$TMPD/ec" || exit 1
ED_PUB=$(cat "$TMPD/ed.pub")
ec2 "Action=ImportKeyPair&KeyName=deploy&PublicKeyMaterial=$(urlenc "$(b64 "$ED_PUB")")&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=ops"
check_ok "ImportKeyPair ed25519"
check "ImportKeyPair namespace" 1 "$(grep -c '<ImportKeyPairResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>' "$BODY_FILE")"
KEY_ID=$(first keyPairId)
[[ $KEY_ID =~ ^key-[0-9a-f]{17}$ ]] && ok "key pair id format ($KEY_ID)" || fail "key pair id format ($KEY_ID)"
# EC2: base64 SHA-256 of the key blob, with its padding (ssh-keygen drops it)
want=$(ssh-keygen -lf "$TMPD/ed.pub" | awk '{print $2}' | sed 's/^SHA256://')=
check "ed25519 fingerprint as EC2 computes it" "$want" "$(first keyFingerprint)"
ec2 "Action=ImportKeyPair&KeyName=legacy&PublicKeyMaterial=$(urlenc "$(b64 "$(cat "$TMPD/rsa.pub")")")"
check_ok "ImportKeyPair rsa"
# EC2 for imported RSA keys: MD5 of the DER public key
want=$(ssh-keygen -e -m PKCS8 -f "$TMPD/rsa.pub" | openssl pkey -pubin -outform DER | openssl md5 -c | awk '{print $NF}')
check "rsa fingerprint as EC2 computes it" "$want" "$(first keyFingerprint)"
ec2 "Action=ImportKeyPair&KeyName=deploy&PublicKeyMaterial=$(urlenc "$(b64 "$ED_PUB")")"
check_err "ImportKeyPair same name" 400 InvalidKeyPair.Duplicate
ec2 "Action=ImportKeyPair&KeyName=ec&PublicKeyMaterial=$(urlenc "$(b64 "$(cat "$TMPD/ec.pub")")")"
check_err "ImportKeyPair ecdsa" 400 InvalidKeyPair.Format
ec2 "Action=ImportKeyPair&KeyName=junk&PublicKeyMaterial=$(urlenc "$(b64 'ssh-ed25519 AAAAnotakey')")"
check_err "ImportKeyPair garbage" 400 InvalidKeyPair.Format
ec2 "Action=ImportKeyPair&KeyName=junk"
check_err "ImportKeyPair without key" 400 MissingParameter
ec2 'Action=DescribeKeyPairs'
check "DescribeKeyPairs all" "deploy legacy" "$(xml keyName | tr '\n' ' ' | sed 's/ $//')"
check "DescribeKeyPairs without public keys" 0 "$(xml_count publicKey)"
check "key types" "ed25519 rsa" "$(xml keyType | tr '\n' ' ' | sed 's/ $//')"
ec2 'Action=DescribeKeyPairs&KeyName.1=deploy&IncludePublicKey=true'
check "DescribeKeyPairs by name" "$KEY_ID" "$(xml keyPairId)"
check "IncludePublicKey: the key, named by the key pair" "$(awk '{print $1" "$2}' "$TMPD/ed.pub") deploy" "$(first publicKey)"
check "key pair tag" ops "$(xml value)"
ec2 "Action=DescribeKeyPairs&KeyPairId.1=$KEY_ID"
check "DescribeKeyPairs by id" deploy "$(xml keyName)"
ec2 'Action=DescribeKeyPairs&Filter.1.Name=key-type&Filter.1.Value.1=rsa'
check "DescribeKeyPairs filter key-type" legacy "$(xml keyName)"
ec2 'Action=DescribeKeyPairs&Filter.1.Name=tag:team&Filter.1.Value.1=ops'
check "DescribeKeyPairs filter tag" deploy "$(xml keyName)"
ec2 'Action=DescribeKeyPairs&KeyName.1=nope'
check_err "DescribeKeyPairs unknown name" 400 InvalidKeyPair.NotFound
ec2 'Action=DeleteKeyPair&KeyName=legacy'
check_ok DeleteKeyPair
ec2 'Action=DeleteKeyPair&KeyName=legacy'
check_ok "DeleteKeyPair of a name that is not there (EC2: no error)"
ec2 'Action=DescribeKeyPairs&KeyName.1=legacy'
check_err "deleted key pair" 400 InvalidKeyPair.NotFound

# -- RunInstances: the document
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t3.micro&MinCount=1&MaxCount=1&SubnetId=$SUB&KeyName=deploy&SecurityGroupId.1=$SG&ClientToken=tok-1&UserData=$(urlenc "$(b64 '#!/bin/sh
echo hi')")&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web-1&TagSpecification.2.ResourceType=volume&TagSpecification.2.Tag.1.Key=Name&TagSpecification.2.Tag.1.Value=disk"
check_ok RunInstances
check "RunInstances namespace" 1 "$(grep -c '<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>' "$BODY_FILE")"
RES=$(first reservationId)
[[ $RES =~ ^r-[0-9a-f]{17}$ ]] && ok "reservation id format" || fail "reservation id format ($RES)"
I1=$(first instanceId)
[[ $I1 =~ ^i-[0-9a-f]{17}$ ]] && ok "instance id format" || fail "instance id format ($I1)"
check "one instance in instancesSet" 1 "$(xml_count instanceId)"
check "state code pending" 0 "$(first code)"
check "state name pending" pending "$(xml name | head -n1)"
check "first free address of the subnet (.0-.3 reserved)" 10.0.1.4 "$(first privateIpAddress)"
check "private DNS name" ip-10-0-1-4.ec2.internal "$(first privateDnsName)"
check "no public address in a private subnet" 0 "$(xml_count ipAddress)"
check "instance type" t3.micro "$(first instanceType)"
check "key name" deploy "$(first keyName)"
check "group" "$SG" "$(first groupId)"
check "client token" tok-1 "$(first clientToken)"
check "instance tag only (volume tags are the volume's)" "web-1" "$(xml value | tr '\n' ' ' | sed 's/ $//')"
check "availability zone of the subnet" us-east-1a "$(first availabilityZone)"
check "root volume" 1 "$(xml volumeId | grep -c '^vol-')"
check "network interface" 1 "$(xml networkInterfaceId | sort -u | grep -c '^eni-')"

# idempotency: the same token and parameters, the same reservation
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t3.micro&MinCount=1&MaxCount=1&SubnetId=$SUB&KeyName=deploy&SecurityGroupId.1=$SG&ClientToken=tok-1&UserData=$(urlenc "$(b64 '#!/bin/sh
echo hi')")&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web-1&TagSpecification.2.ResourceType=volume&TagSpecification.2.Tag.1.Key=Name&TagSpecification.2.Tag.1.Value=disk"
check_ok "RunInstances again with the token"
check "same reservation" "$RES" "$(first reservationId)"
check "same instance" "$I1" "$(first instanceId)"
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t3.large&MinCount=1&MaxCount=1&SubnetId=$SUB&ClientToken=tok-1"
check_err "same token, other parameters" 400 IdempotentParameterMismatch
ec2 "Action=DescribeInstances&Filter.1.Name=client-token&Filter.1.Value.1=tok-1"
check "one instance for the token" 1 "$(xml_count instanceId)"

# -- RunInstances: what EC2 refuses
ec2 "Action=RunInstances&ImageId=ami-zz&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_err "malformed AMI id" 400 InvalidAMIID.Malformed
ec2 "Action=RunInstances&ImageId=ami-0123456789abcdef9&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_err "unknown AMI" 400 InvalidAMIID.NotFound
check "unknown AMI message" "The image id '[ami-0123456789abcdef9]' does not exist" "$(first Message)"
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t9.huge&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_err "unknown instance type" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t4g.micro&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_err "arm64 type with an x86_64 AMI" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=2&MaxCount=1&SubnetId=$SUB"
check_err "MinCount > MaxCount" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MaxCount=1&SubnetId=$SUB"
check_err "no MinCount" 400 MissingParameter
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&KeyName=nope"
check_err "unknown key pair" 400 InvalidKeyPair.NotFound
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&SecurityGroupId.1=$OTHER_SG"
check_err "a group of another VPC" 400 InvalidParameter
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&UserData=not%20base64!"
check_err "user data not base64" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&UserData=$(head -c 17000 /dev/zero | base64 -w0 | jq -sRr @uri)"
check_err "user data over 16 KB" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&PrivateIpAddress=10.0.1.4"
check_err "address in use" 400 InvalidIPAddress.InUse
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&PrivateIpAddress=10.0.1.2"
check_err "reserved address" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&PrivateIpAddress=10.0.7.9"
check_err "address outside the subnet" 400 InvalidParameterValue
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&NetworkInterface.1.DeviceIndex=0&NetworkInterface.1.AssociatePublicIpAddress=true"
check_err "network interface and instance-level subnet" 400 InvalidParameterCombination
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1"
check_err "no subnet and no default VPC" 400 VPCIdNotSpecified
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&DryRun=true"
check_err "DryRun" 412 DryRunOperation
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&Bogus=1"
check_err "unknown parameter" 400 UnknownParameter

# -- addresses: explicit, public by the subnet, public by the interface
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB&PrivateIpAddress=10.0.1.50"
check "explicit private address" 10.0.1.50 "$(first privateIpAddress)"
check "default security group" "$DEF_SG" "$(first groupId)"
I_FIXED=$(first instanceId)
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$PUBSUB"
I_PUB=$(first instanceId)
PUB_IP=$(first ipAddress)
[[ $PUB_IP =~ ^198\.1[89]\.[0-9]+\.[0-9]+$ ]] && ok "public address from the subnet's mapping ($PUB_IP)" || fail "public address ($PUB_IP)"
check "public DNS name" "ec2-${PUB_IP//./-}.compute-1.amazonaws.com" "$(first dnsName)"
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&NetworkInterface.1.DeviceIndex=0&NetworkInterface.1.SubnetId=$SUB&NetworkInterface.1.AssociatePublicIpAddress=true&NetworkInterface.1.SecurityGroupId.1=$SG"
check_ok "RunInstances with NetworkInterface.1"
check "public address asked for" 1 "$(xml_count ipAddress)"
check "interface's group" "$SG" "$(first groupId)"
I_NI=$(first instanceId)
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&NetworkInterface.1.DeviceIndex=0&NetworkInterface.1.SubnetId=$PUBSUB&NetworkInterface.1.AssociatePublicIpAddress=false"
check "no public address when the interface says no" 0 "$(xml_count ipAddress)"
I_NOPUB=$(first instanceId)

# -- several in one reservation
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=3&MaxCount=3&SubnetId=$SUB"
check "three instances" 3 "$(xml_count instanceId)"
check "launch indexes" "0 1 2" "$(xml amiLaunchIndex | tr '\n' ' ' | sed 's/ $//')"
MANY_RES=$(first reservationId)
ec2 "Action=DescribeInstances&Filter.1.Name=reservation-id&Filter.1.Value.1=$MANY_RES"
check "one reservation item" 1 "$(xml_count reservationId)"
check "holding three instances" 3 "$(xml_count instanceId)"

# -- states: pending -> running
wait_state "$I1" running && ok "pending -> running" || fail "pending -> running"
check "running code" 16 "$(first code)"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I1&InstanceType.Value=t3.small"
check_err "instance type while running" 400 IncorrectInstanceState
ec2 "Action=RunInstances&ImageId=$AMI&MinCount=1&MaxCount=1&SubnetId=$SUB"; I_NEW=$(first instanceId)
ec2 "Action=StopInstances&InstanceId.1=$I_NEW"
check_err "stop while pending" 400 IncorrectInstanceState

# stop: stopping -> stopped, public address released
wait_state "$I_PUB" running
ec2 "Action=StopInstances&InstanceId.1=$I_PUB"
check_ok StopInstances
check "StopInstances namespace" 1 "$(grep -c '<StopInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>' "$BODY_FILE")"
check "current state stopping" "64 stopping" "$(xml code | head -n1) $(xml name | head -n1)"
check "previous state running" "16 running" "$(xml code | sed -n 2p) $(xml name | sed -n 2p)"
# stopping for 3 s more from here (on a loaded machine the sim's own second
# could be over before the next request): a start meanwhile is refused
check "held stopping" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"status":"stopping","then":"stopped","after":3}' "$SIM_URL/_sim/resources/$I_PUB")"
ec2 "Action=StartInstances&InstanceId.1=$I_PUB"
check_err "start while stopping" 400 IncorrectInstanceState
wait_state "$I_PUB" stopped && ok "stopping -> stopped" || fail "stopping -> stopped"
check "stopped code" 80 "$(first code)"
check "a stopped instance has no public address" 0 "$(xml_count ipAddress)"
check "state reason" Client.UserInitiatedShutdown "$(xml code | sed -n 2p)"
ec2 "Action=StopInstances&InstanceId.1=$I_PUB"
check "stop a stopped one: no change" "stopped stopped" "$(xml name | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I_PUB&InstanceType.Value=t3.small"
check_ok "instance type while stopped"
ec2 "Action=DescribeInstanceStatus&InstanceId.1=$I_PUB"
check "a stopped instance is not listed by DescribeInstanceStatus" 0 "$(xml_count instanceId)"
ec2 "Action=DescribeInstanceStatus&InstanceId.1=$I_PUB&IncludeAllInstances=true"
check "unless IncludeAllInstances: its checks not-applicable" "not-applicable not-applicable" "$(xml status | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I_PUB&Attribute=instanceType&Value=t3.medium"
check_ok "instance type through Attribute and Value"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I_PUB&InstanceType.Value=t3.small&DisableApiTermination.Value=true"
check_err "two attributes at once" 400 InvalidParameterCombination
ec2 "Action=DescribeInstanceAttribute&InstanceId=$I_PUB&Attribute=instanceType"
check "DescribeInstanceAttribute instanceType" t3.medium "$(first value)"
ec2 "Action=StartInstances&InstanceId.1=$I_PUB"
check "start: pending" "pending stopped" "$(xml name | tr '\n' ' ' | sed 's/ $//')"
wait_state "$I_PUB" running && ok "stopped -> pending -> running" || fail "start"
NEW_IP=$(first ipAddress)
[ -n "$NEW_IP" ] && [ "$NEW_IP" != "$PUB_IP" ] && ok "a start gets a new public address ($NEW_IP)" || fail "new public address ($NEW_IP, was $PUB_IP)"
check "type after the start" t3.medium "$(first instanceType)"

# -- DescribeInstanceStatus: the state and the two status checks
ec2 "Action=DescribeInstanceStatus&InstanceId.1=$I_PUB"
check_ok "DescribeInstanceStatus"
check "a running instance: both checks ok" "ok ok" "$(xml status | tr '\n' ' ' | sed 's/ $//')"
check "its state" running "$(first name)"
check "set by the admin endpoint" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"attributes":{"instanceStatus":"impaired"}}' "$SIM_URL/_sim/resources/$I_PUB")"
ec2 "Action=DescribeInstanceStatus&InstanceId.1=$I_PUB"
check "the instance check impaired" "ok impaired" "$(xml status | tr '\n' ' ' | sed 's/ $//')"
curl -s -o /dev/null -X POST -d '{"attributes":{"instanceStatus":null}}' "$SIM_URL/_sim/resources/$I_PUB"
ec2 "Action=DescribeInstanceStatus&InstanceId.1=i-0000000000000dead"
check_err "an unknown instance" 400 InvalidInstanceID.NotFound
ec2 "Action=DescribeInstanceStatus&InstanceId.1=$I_PUB&Filter.1.Name=x&Filter.1.Value.1=y"
check "an unsupported parameter is refused, not ignored" 400 "$STATUS"

# -- attributes
ec2 "Action=DescribeInstanceAttribute&InstanceId=$I1&Attribute=userData"
check "user data back as base64" "$(b64 '#!/bin/sh
echo hi')" "$(first value)"
ec2 "Action=DescribeInstanceAttribute&InstanceId=$I_FIXED&Attribute=userData"
check "no user data" 0 "$(xml_count value)"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I1&GroupId.1=$SG&GroupId.2=$DEF_SG"
check_ok "ModifyInstanceAttribute groups"
ec2 "Action=DescribeInstanceAttribute&InstanceId=$I1&Attribute=groupSet"
check "groupSet" "$SG $DEF_SG" "$(xml groupId | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I1&GroupId.1=$OTHER_SG"
check_err "a group of another VPC" 400 InvalidParameter
ec2 "Action=DescribeInstanceAttribute&InstanceId=$I1&Attribute=kernelTea"
check_err "unknown attribute" 400 InvalidParameterValue
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I_FIXED&DisableApiTermination.Value=true"
check_ok "disableApiTermination on"
ec2 "Action=TerminateInstances&InstanceId.1=$I_FIXED"
check_err "terminate a protected instance" 400 OperationNotPermitted
ec2 "Action=ModifyInstanceAttribute&InstanceId=$I_FIXED&DisableApiTermination.Value=false"

# -- tags
ec2 "Action=CreateTags&ResourceId.1=$I1&ResourceId.2=$KEY_ID&Tag.1.Key=env&Tag.1.Value=test"
check_ok "CreateTags on an instance and a key pair"
ec2 "Action=DescribeTags&Filter.1.Name=resource-type&Filter.1.Value.1=instance&Filter.2.Name=key&Filter.2.Value.1=env"
check "DescribeTags resource-type instance" "$I1" "$(xml resourceId)"
ec2 "Action=DeleteTags&ResourceId.1=$I1&Tag.1.Key=env"
check_ok "DeleteTags on an instance"

# -- DescribeInstances: ids, filters, pagination
ec2 "Action=DescribeInstances&Filter.1.Name=tag:Name&Filter.1.Value.1=web-*"
check "filter tag:Name" "$I1" "$(xml instanceId)"
ec2 "Action=DescribeInstances&Filter.1.Name=subnet-id&Filter.1.Value.1=$PUBSUB"
check "filter subnet-id" 2 "$(xml_count instanceId)"
ec2 "Action=DescribeInstances&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC"
check "filter vpc-id: every instance" 9 "$(xml_count instanceId)"
ec2 "Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=pending&Filter.1.Value.2=running"
check "filter instance-state-name" 9 "$(xml_count instanceId)"
ec2 "Action=DescribeInstances&Filter.1.Name=instance-id&Filter.1.Value.1=$I1&Filter.1.Value.2=$I_PUB"
check "filter instance-id" "$I1 $I_PUB" "$(xml instanceId | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=DescribeInstances&Filter.1.Name=instance.group-id&Filter.1.Value.1=$SG"
check "filter instance.group-id" 2 "$(xml_count instanceId)"
ec2 "Action=DescribeInstances&Filter.1.Name=nope&Filter.1.Value.1=x"
check_err "unknown filter" 400 InvalidParameterValue
ec2 "Action=DescribeInstances&MaxResults=5"
check "page 1" 5 "$(xml_count instanceId)"
TOKEN=$(first nextToken)
[ -n "$TOKEN" ] && ok "page 1 has nextToken" || fail "page 1 has nextToken"
ec2 "Action=DescribeInstances&MaxResults=5&NextToken=$TOKEN"
check "page 2" 4 "$(xml_count instanceId)"
check "page 2 is the last" 0 "$(xml_count nextToken)"
ec2 "Action=DescribeInstances&MaxResults=5&InstanceId.1=$I1"
check_err "MaxResults with ids" 400 InvalidParameterCombination
ec2 "Action=DescribeInstances&InstanceId.1=i-0123456789abcdef0"
check_err "unknown id" 400 InvalidInstanceID.NotFound
ec2 "Action=DescribeInstances&InstanceId.1=i-0123456789abcdef0&InstanceId.2=i-0123456789abcdef1"
check "two unknown ids in the message" "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist" "$(first Message)"
ec2 "Action=DescribeInstances&InstanceId.1=i-zz"
check_err "malformed id" 400 InvalidInstanceID.Malformed

# -- dependencies: a subnet or a group in use cannot go
ec2 "Action=DeleteSubnet&SubnetId=$PUBSUB"
check_err "delete a subnet with instances" 400 DependencyViolation
ec2 "Action=DeleteSecurityGroup&GroupId=$SG"
check_err "delete a group in use" 400 DependencyViolation

# -- termination: shutting-down -> terminated -> gone after the retention (3 s here)
ec2 "Action=TerminateInstances&InstanceId.1=$I_PUB&InstanceId.2=$I_NOPUB"
check_ok TerminateInstances
check "TerminateInstances namespace" 1 "$(grep -c '<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>' "$BODY_FILE")"
check "shutting-down" "32 shutting-down" "$(xml code | head -n1) $(xml name | head -n1)"
ec2 "Action=TerminateInstances&InstanceId.1=$I_PUB&InstanceId.2=i-0123456789abcdef0"
check_err "terminate with an unknown id: nothing changes" 400 InvalidInstanceID.NotFound
wait_state "$I_PUB" terminated && ok "shutting-down -> terminated" || fail "terminated"
check "terminated code" 48 "$(first code)"
ec2 "Action=StartInstances&InstanceId.1=$I_PUB"
check_err "start a terminated instance" 400 IncorrectInstanceState
ec2 "Action=TerminateInstances&InstanceId.1=$I_PUB"
check "terminate again: no change" "terminated terminated" "$(xml name | tr '\n' ' ' | sed 's/ $//')"
ec2 "Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=terminated"
check "terminated instances are still listed" 2 "$(xml_count instanceId)"
wait_state "$I_NOPUB" terminated
ec2 "Action=DeleteSubnet&SubnetId=$PUBSUB"
check_ok "the subnet can go once its instances are terminated"
sleep 3.2
ec2 "Action=DescribeInstances&InstanceId.1=$I_PUB"
check_err "gone after the retention" 400 InvalidInstanceID.NotFound

# -- an injected capacity error, in EC2's words
curl -s -o /dev/null -X POST -d '{"action":"RunInstances","code":"InsufficientInstanceCapacity","status":500,"message":"We currently do not have sufficient t3.micro capacity in the Availability Zone you requested (us-east-1a).","count":1}' "$SIM_URL/_sim/faults"
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t3.micro&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_err "injected capacity error" 500 InsufficientInstanceCapacity
ec2 "Action=RunInstances&ImageId=$AMI&InstanceType=t3.micro&MinCount=1&MaxCount=1&SubnetId=$SUB"
check_ok "the next launch works"

sim_stop
finish
