#!/bin/bash
# concurrency.sh - 20 clients at once against `cairn sim`: every create
# succeeds exactly once, subnets do not overlap, and the count adds up.
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

# racing creates of the same CIDR: exactly one wins, the rest conflict
PIDS=()
for n in $(seq 1 20); do
	( curl -s -o /dev/null -w '%{http_code}\n' --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
		-d "Action=CreateSubnet&Version=2016-11-15&VpcId=$VPC&CidrBlock=10.0.200.0/24" "$SIM_URL/" > "$TMPD/race.$n" ) &
	PIDS+=($!)
done
wait "${PIDS[@]}"
check "one racing create wins" 1 "$(cat "$TMPD"/race.* | grep -c '^200$')"
check "the others conflict" 19 "$(cat "$TMPD"/race.* | grep -c '^400$')"
sim_stop
finish
