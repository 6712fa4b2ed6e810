#!/usr/bin/env bash
# Refresh is batched: a plan over 1 VPC and 50 subnets makes a handful of
# Describe calls (DescribeSubnets with up to 200 ids per call), not 50,
# counted in the sim's request log. A subnet deleted behind cairn's back is
# missing from the batch answer and shows as gone.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.40.0.0/16
  sub:
    type: aws.subnet
    count: 50
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: us-east-1c
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply 51 objects"
: >"$WORK/sim.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan is empty"
subnet_calls=$(grep -c ' DescribeSubnets ' "$WORK/sim.log")
all_calls=$(grep -c ' ec2 ' "$WORK/sim.log")
echo "# plan of 1 VPC + 50 subnets: $subnet_calls DescribeSubnets, $all_calls EC2 requests in all"
eq "$subnet_calls" "1" "one DescribeSubnets call for 50 subnets"
check "few calls in all ($all_calls)" test "$all_calls" -le 6

# one subnet gone: the batch call names it as missing; the rest are found
sim_delete "$(state_id s 'sub[17]')"
: >"$WORK/sim.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the deleted subnet shows"
out_has "# sub[17] will be created" "only the deleted one"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "nothing else changes"
subnet_calls=$(grep -c ' DescribeSubnets ' "$WORK/sim.log")
echo "# with one subnet missing: $subnet_calls DescribeSubnets calls"
check "still batched ($subnet_calls calls)" test "$subnet_calls" -le 3

# a recorded id that EC2 calls malformed (a hand-edited state): that row
# reads as gone, the other 49 of its batch are read as usual
SUB3=$(state_id s 'sub[3]')
state_sql s "update resources set id='subnet-zz' where env='dev' and address='sub[3]'"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan with a malformed id in state"
out_has "# sub[3] will be created" "that subnet shows as gone"
out_has "Plan: 2 to add, 0 to change, 0 to destroy." "with the deleted one, nothing else"
state_sql s "update resources set id='$SUB3' where env='dev' and address='sub[3]'"

# two addresses managing one subnet (imported twice): each gets its own
# copy of the one read result, and drift on it shows under both
cat >>s/stack.yaml <<'YAML'
  twin:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, 0)}"
    availability_zone: us-east-1c
YAML
run import -C s -e dev twin "$(state_id s 'sub[0]')"
expect_rc 0 "import sub[0]'s subnet again as twin"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the deleted subnet still shows"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "the twin reads like sub[0]"
sim_patch "$(state_id s 'sub[0]')" '{"tags":{"team":"x"}}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift on the shared subnet"
out_has "# sub[0] will be updated in place" "shows under sub[0]"
out_has "# twin will be updated in place" "and under twin"
out_has "Plan: 1 to add, 2 to change, 0 to destroy." "nothing else"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
