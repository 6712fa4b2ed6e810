#!/bin/bash
# faults.sh - injected faults (throttling with Retry-After, internal errors,
# dropped connections, latency, token-bucket rate limits), the admin
# endpoint with its fault rules, the default VPC and the request log of
# `cairn sim`.
. "$(dirname "$0")/lib.sh"

sim_start --throttle-rate 1 --retry-after 3 || exit 1
ec2 'Action=DescribeVpcs'
check_err "throttled" 503 RequestLimitExceeded
grep -qi '^Retry-After: 3' "$HDR_FILE" && ok "Retry-After header" || fail "Retry-After header"
sim_stop

sim_start --throttle-rate 1 --retry-after-share 0 || exit 1
ec2 'Action=DescribeVpcs'
check_err "throttled without Retry-After" 503 RequestLimitExceeded
grep -qi '^Retry-After:' "$HDR_FILE" && fail "no Retry-After header" || ok "no Retry-After header"
sim_stop

sim_start --error-rate 1 || exit 1
ec2 'Action=DescribeVpcs'
case "$STATUS" in 500|503) ok "injected error status $STATUS" ;; *) fail "injected error status" ;; esac
case "$(first Code)" in InternalError|Unavailable) ok "injected error code" ;; *) fail "injected error code" ;; esac
sim_stop

sim_start --drop-rate 1 || exit 1
curl -s -o /dev/null --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" -d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/"
check "dropped connection (curl: empty reply)" 52 "$?"
sim_stop

sim_start --latency 300 || exit 1
start=$(date +%s%N)
ec2 'Action=DescribeVpcs'
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_ok "with latency"
[ "$ms" -ge 300 ] && ok "latency applied (${ms}ms)" || fail "latency applied (${ms}ms)"
sim_stop

# token buckets: mutating actions have 50 tokens, scaled down to 5 here
sim_start --rate-limit --rate-limit-scale 0.1 || exit 1
codes=""
for i in $(seq 1 8); do ec2 "Action=CreateVpc&CidrBlock=10.$i.0.0/16"; codes="$codes $STATUS"; done
case "$codes" in *503*) ok "rate limit throttles a burst ($codes)" ;; *) fail "rate limit throttles a burst ($codes)" ;; esac
ec2 'Action=DescribeVpcs'
check_ok "other bucket unaffected"
sim_stop

# fault rules (POST /_sim/faults): errors for named actions, in each
# protocol's error format
admin() { # METHOD PATH [BODY]: sets STATUS, body in $BODY_FILE
	STATUS=$(curl -s -o "$BODY_FILE" -D "$HDR_FILE" -w '%{http_code}' -X "$1" ${3:+-d "$3"} "$SIM_URL$2")
}
sim_start || exit 1
admin POST /_sim/faults '{"action":"DescribeVpcs","code":"InvalidVpcID.NotFound","message":"gone","count":2}'
check_ok "add a rule"
ec2 'Action=DescribeVpcs'
check_err "rule answers" 400 InvalidVpcID.NotFound
check "rule message" gone "$(first Message)"
ec2 'Action=DescribeVpcs'
check_err "rule answers twice" 400 InvalidVpcID.NotFound
ec2 'Action=DescribeVpcs'
check_ok "then the rule is used up"
admin GET /_sim/faults
check "used-up rule gone" '{"rules":[]}' "$(body)"
admin POST /_sim/faults '{"action":"DescribeDBInstances","service":"rds","code":"InternalFailure","status":503}'
req rds 'Action=DescribeDBInstances&Version=2014-10-31'
check_err "rule in the Query error format" 503 InternalFailure
check "Receiver type for 5xx" Receiver "$(first Type)"
admin POST /_sim/faults '{"action":"ListClusters","service":"eks","code":"ResourceNotFoundException","status":404}'
STATUS=$(curl -s -o "$BODY_FILE" -D "$HDR_FILE" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:eks" \
	--user "$AK:$SK" "$SIM_URL/clusters")
check "rule in the REST-JSON format: status" 404 "$STATUS"
grep -qi '^x-amzn-ErrorType: ResourceNotFoundException' "$HDR_FILE" && ok "x-amzn-ErrorType of the rule" \
	|| fail "x-amzn-ErrorType of the rule"
ec2 'Action=DescribeVpcs'
check_ok "rules of other actions leave EC2 alone"
admin GET /_sim/faults
check "rules listed" "ListClusters eks" "$(python3 -c "import json; r=json.load(open('$BODY_FILE'))['rules']; \
print(len(r) == 2 and r[1]['action'] + ' ' + r[1]['service'])")"
admin POST /_sim/reset
admin GET /_sim/faults
check "a reset keeps the rules" 2 "$(python3 -c "import json; print(len(json.load(open('$BODY_FILE'))['rules']))")"
admin POST /_sim/faults '{"action":"DescribeVpcs","code":"X","count":"1"}'
check "bad rule refused" 400 "$STATUS"
check "bad rule message" '{"message":"\"count\" must be an integer from 1 to 1000000000"}' "$(body)"
admin DELETE /_sim/faults
check "delete clears" '{"rules":[]}' "$(body)"
admin POST /_sim/faults '{"action":"CreateVpc","code":"VpcLimitExceeded"}'
check_ok "a rule left in force at exit (freed on stop)"
sim_stop

# admin endpoint and request log
sim_start --log --default-vpc || exit 1
ec2 'Action=DescribeVpcs&Filter.1.Name=is-default&Filter.1.Value.1=true'
check "default vpc" 172.31.0.0/16 "$(first cidrBlock)"
DVPC=$(first vpcId)
ec2 "Action=DescribeSubnets&Filter.1.Name=default-for-az&Filter.1.Value.1=true"
check "default subnets" 3 "$(xml_count subnetId)"
ec2 "Action=DescribeInternetGateways&Filter.1.Name=attachment.vpc-id&Filter.1.Value.1=$DVPC"
check "default igw" 1 "$(xml_count internetGatewayId)"
ec2 'Action=CreateSecurityGroup&GroupName=app&GroupDescription=app'
check_ok "CreateSecurityGroup in the default vpc"
ec2 'Action=DescribeSecurityGroups&GroupName.1=app'
check "DescribeSecurityGroups by name" app "$(first groupName)"

ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16'
VPC=$(first vpcId)
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "$SIM_URL/_sim/resources")
check "admin list status" 200 "$STATUS"
python3 -c "import json,sys; d=json.load(open('$BODY_FILE')); ids=[r['id'] for r in d['resources']]; sys.exit(0 if '$VPC' in ids else 1)" \
	&& ok "admin list has the vpc" || fail "admin list has the vpc"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -X POST -d '{"tags":{"Name":"changed-in-console","env":null},"attributes":{"enableDnsHostnames":true}}' "$SIM_URL/_sim/resources/$VPC")
check "admin patch status" 200 "$STATUS"
ec2 "Action=DescribeVpcs&VpcId.1=$VPC"
check "admin patch visible through the API" changed-in-console "$(first value)"
ec2 "Action=DescribeVpcAttribute&VpcId=$VPC&Attribute=enableDnsHostnames"
check "admin attribute patch visible" true "$(first value)"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -X POST -d '[1,2]' "$SIM_URL/_sim/resources/$VPC")
check "admin bad patch" 400 "$STATUS"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -X DELETE "$SIM_URL/_sim/resources/$VPC")
check "admin delete" 200 "$STATUS"
ec2 "Action=DescribeVpcs&VpcId.1=$VPC"
check_err "deleted out of band" 400 InvalidVpcID.NotFound
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "$SIM_URL/_sim/resources/$VPC")
check "admin get missing" 404 "$STATUS"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -X POST "$SIM_URL/_sim/reset")
check "admin reset" 200 "$STATUS"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "$SIM_URL/_sim/resources")
check "reset empties the cloud" '{"resources":[]}' "$(body)"
ec2 'Action=DescribeVpcs'
check "default vpc is made again after reset" 1 "$(xml_count vpcId)"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' "$SIM_URL/_sim/health")
check "admin health" 200 "$STATUS"
sim_stop
grep -q ' POST / ec2 us-east-1 DescribeVpcs 200 ' "$TMPD/sim.err" && ok "request log line" || fail "request log line"
finish
