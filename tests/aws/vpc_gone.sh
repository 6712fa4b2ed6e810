#!/usr/bin/env bash
# A VPC deleted between DescribeVpcs and its DescribeVpcAttribute calls is
# gone, not an error: plan shows it will be created and touches no state.
# The race is made deterministic with a fault rule of the sim's admin
# endpoint (POST /_sim/faults), which also gets its own checks here.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

faults() { # METHOD [BODY]: the admin fault endpoint; body in $WORK/faults, status in $STATUS
  STATUS=$(curl -s -o "$WORK/faults" -w '%{http_code}' -X "$1" ${2:+-d "$2"} "$(sim_url)/_sim/faults")
}

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.60.0.0/16
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, 1)}"
    availability_zone: us-east-1a
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply a VPC and a subnet"
VPC=$(state_id s net)
rows_before=$(state_sql s "select address, id from resources where env='dev' order by address")

# the VPC "is deleted" right after DescribeVpcs found it
faults POST '{"action": "DescribeVpcAttribute", "code": "InvalidVpcID.NotFound", "message": "The vpc ID '"'$VPC'"' does not exist"}'
eq "$STATUS" "200" "fault rule accepted"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan with the VPC gone has changes"
out_has "# net will be created" "the VPC is gone"
err_lacks "InvalidVpcID.NotFound" "no error"
eq "$(state_sql s "select address, id from resources where env='dev' order by address")" "$rows_before" \
  "plan leaves the state alone"
run state show -e dev -C s net
out_has "$VPC" "the VPC row is still there"

# the single-object read (import reads the VPC by id) sees it gone too
awsstack imp <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.60.0.0/16
YAML
run import -C imp -e dev net "$VPC"
expect_rc 1 "importing the VPC that went away fails"
err_has "no aws.vpc with id '$VPC' exists" "read found it gone"
err_lacks "InvalidVpcID.NotFound" "not the attribute call's error"

faults GET
eq "$(jq -r '.rules[0].action + " " + .rules[0].code + " " + (.rules[0].status | tostring)' "$WORK/faults")" \
  "DescribeVpcAttribute InvalidVpcID.NotFound 400" "GET lists the rule"
eq "$(jq '.rules[0] | has("count")' "$WORK/faults")" "false" "no count: until cleared"

faults DELETE
eq "$STATUS" "200" "DELETE clears"
eq "$(jq '.rules | length' "$WORK/faults")" "0" "no rules left"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "without the rule the plan is empty"

# a rule with a count answers that many requests, then goes
faults POST '{"action": "DescribeVpcAttribute", "service": "ec2", "code": "InvalidVpcID.NotFound", "count": 1}'
eq "$(jq '.rules[0].count' "$WORK/faults")" "1" "count listed"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "one attribute call answering NotFound is enough"
out_has "# net will be created" "gone with count 1"
faults GET
eq "$(jq '.rules | length' "$WORK/faults")" "0" "a used-up rule goes"

# other errors still fail the plan
faults POST '{"action": "DescribeVpcAttribute", "code": "UnauthorizedOperation", "status": 403, "message": "You are not authorized to perform this operation."}'
run plan -C s -e dev --detailed-exitcode
expect_rc 1 "plan fails on another error"
err_has "UnauthorizedOperation" "the error's code is shown"
faults DELETE

# bad rules are refused with a JSON message
for body in 'not json' '[1]' '{"action": "DescribeVpcAttribute"}' \
  '{"action": "NoSuchAction", "code": "X"}' '{"action": "DescribeVpcAttribute", "code": "X", "status": 200}' \
  '{"action": "DescribeVpcAttribute", "code": "X", "count": 0}' '{"action": "DescribeVpcAttribute", "code": "X", "colour": 1}' \
  '{"action": "DescribeVpcAttribute", "code": "X", "service": "rds"}' '{"action": "DescribeVpcAttribute", "code": "a b"}'; do
  faults POST "$body"
  eq "$STATUS" "400" "refused: $body"
  check "a JSON message for: $body" jq -e '.message | type == "string"' "$WORK/faults" >/dev/null
done
faults GET
eq "$(jq '.rules | length' "$WORK/faults")" "0" "refused rules are not added"
faults PUT
eq "$STATUS" "405" "other methods"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
