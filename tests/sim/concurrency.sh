#!/bin/bash
# concurrency.sh - 20 clients at once against `cairn sim`: every create
# succeeds exactly once, subnets do not overlap, the count adds up, and a
# fault rule's count is taken exactly once per request.
. "$(dirname "$0")/lib.sh"
sim_start --db "$TMPD/sim.db" || exit 1
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16'
VPC=$(first vpcId)

client() { # client N: one subnet, one tagged vpc, ten describes
	local n=$1 out=$TMPD/client.$1 i s
	: > "$out"
	s=$(curl -s -o "$TMPD/c$n.body" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
		-d "Action=CreateSubnet&Version=2016-11-15&VpcId=$VPC&CidrBlock=10.0.$n.0/24" "$SIM_URL/")
	echo "subnet $s" >> "$out"
	s=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
		-d "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.$((100 + n)).0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=client&TagSpecification.1.Tag.1.Value=$n" "$SIM_URL/")
	echo "vpc $s" >> "$out"
	for i in $(seq 1 10); do
		s=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
			-d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/")
		echo "describe $s" >> "$out"
	done
}
PIDS=()
for n in $(seq 1 20); do client "$n" & PIDS+=($!); done
wait "${PIDS[@]}"
check "all 240 requests answered 200" 240 "$(cat "$TMPD"/client.* | grep -c ' 200$')"
ec2 "Action=DescribeSubnets&Filter.1.Name=vpc-id&Filter.1.Value.1=$VPC"
check "20 subnets" 20 "$(xml_count subnetId)"
check "distinct subnet cidrs" 20 "$(xml cidrBlock | sort -u | wc -l | tr -d ' ')"
ec2 'Action=DescribeVpcs&Filter.1.Name=tag-key&Filter.1.Value.1=client'
check "20 tagged vpcs" 20 "$(xml_count vpcId)"

# race NAME BODY: the same EC2 request 20 times at once; the status codes
# in $TMPD/NAME.1..20
race() {
	local n PIDS=()
	for n in $(seq 1 20); do
		( curl -s -o /dev/null -w '%{http_code}\n' --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
			-d "$2&Version=2016-11-15" "$SIM_URL/" > "$TMPD/$1.$n" ) &
		PIDS+=($!)
	done
	wait "${PIDS[@]}"
}

# racing creates of the same CIDR: exactly one wins, the rest conflict
race race "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.200.0/24"
check "one racing create wins" 1 "$(cat "$TMPD"/race.* | grep -c '^200$')"
check "the others conflict" 19 "$(cat "$TMPD"/race.* | grep -c '^400$')"

# a fault rule with a count answers exactly that many of 20 racing requests
curl -s -o /dev/null -X POST -d '{"action":"DescribeVpcs","code":"RequestLimitExceeded","status":503,"count":5}' \
	"$SIM_URL/_sim/faults"
race fault 'Action=DescribeVpcs'
check "5 racing requests get the rule's error" 5 "$(cat "$TMPD"/fault.* | grep -c '^503$')"
check "the rest are served" 15 "$(cat "$TMPD"/fault.* | grep -c '^200$')"
sim_stop
finish
