#!/usr/bin/env bash
# eks.sh - end-to-end test of the simulated EKS service: starts `cairn sim`,
# builds a VPC with EC2 Query calls, then drives every EKS operation over
# REST-JSON with curl --aws-sigv4 and checks what a client would see: status
# codes, x-amzn-ErrorType, JSON shapes, CREATING -> ACTIVE -> gone, client
# request token idempotency, tags, pagination, EC2 dependencies, node group
# versions (UpdateNodegroupVersion; a cluster upgrade refused while a node
# group lags), and state surviving a restart with --db.
#
# usage: eks.sh CAIRN
set -u

CAIRN=${1:?usage: eks.sh CAIRN}
KEY=AKIDCAIRNSIMEXAMPLE:cairn-sim-secret-key-do-not-use-in-prod
ACCOUNT=123456789012
ROLE="arn:aws:iam::$ACCOUNT:role/eks-cluster"
NODE_ROLE="arn:aws:iam::$ACCOUNT:role/eks-node"
TMP=$(mktemp -d)
DB=$TMP/sim.db
PID=
PORT=
FAILS=0
CHECKS=0

command -v curl >/dev/null && command -v python3 >/dev/null || { echo "curl and python3 needed"; exit 77; }

stop_sim() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		PID=
		# sanitizer builds report leaks and undefined behaviour on stderr
		if grep -qE 'Sanitizer|runtime error' "$TMP/err"; then
			echo "FAIL: the sim reported sanitizer errors:"
			cat "$TMP/err"
			FAILS=$((FAILS + 1))
		fi
	fi
}
trap 'stop_sim; rm -rf "$TMP"' EXIT

start_sim() {
	local i
	: >"$TMP/out"
	: >"$TMP/err"
	"$CAIRN" sim --listen 127.0.0.1:0 --db "$DB" "$@" >"$TMP/out" 2>"$TMP/err" &
	PID=$!
	for i in $(seq 1 100); do
		if grep -q '^listening on ' "$TMP/out"; then
			PORT=$(head -1 "$TMP/out" | sed 's/.*://')
			return 0
		fi
		sleep 0.05
	done
	echo "cairn sim did not start:"; cat "$TMP/err"
	exit 1
}

ok() { CHECKS=$((CHECKS + 1)); }
fail() {
	CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1))
	echo "FAIL: $*"
	echo "  last: $METHOD $URLPATH -> $STATUS ${ETYPE:-} $BODY" | cut -c1-600
}

# ec2 'Action=...&...': the XML answer on stdout.
ec2() {
	curl -s --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$KEY" "http://127.0.0.1:$PORT/" \
		-d "$1&Version=2016-11-15"
}
ec2_id() { ec2 "$1" | grep -o "<$2>[^<]*" | head -1 | sed 's/.*>//'; }

# eks METHOD PATH [JSON]: sets STATUS, ETYPE (x-amzn-ErrorType) and BODY.
# SigV4 signs each segment of a path encoded twice (an ARN in /tags/...:
# %3A is signed as %253A); curl 7.88 signs the path as it is in the URL, so
# it is given the URL with every '%' of the path encoded once more and the
# request line the path as it is (--request-target). SIGN_AS_SENT=1 signs
# the path as sent, which AWS refuses.
eks() {
	METHOD=$1 URLPATH=$2
	local path=${2%%\?*} query=""
	[ "$path" != "$2" ] && query="?${2#*\?}"
	[ -z "${SIGN_AS_SENT:-}" ] && path=${path//%/%25}
	local args=(-s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:eks"
		--user "$KEY" -X "$1" --request-target "$2" "http://127.0.0.1:$PORT$path$query")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	STATUS=$(curl "${args[@]}")
	ETYPE=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^[Xx]-[Aa]mzn-[Ee]rror[Tt]ype: *//p')
	BODY=$(cat "$TMP/body")
}

# py EXPR: EXPR evaluated with d = the JSON body, by one python3 kept
# running for the whole test (starting one per check is slow).
coproc PYC { python3 -u -c '
import json, sys, re, base64
for line in sys.stdin:
    path, expr = line.rstrip("\n").split(" ", 1)
    try:
        with open(path) as f:
            text = f.read()
        d = json.loads(text or "null")
        out = str(eval(expr))
    except Exception as e:
        out = "error: %s" % e
    print(out.replace("\n", " "))
'; }
py() {
	printf '%s' "$BODY" >"$TMP/pybody"
	printf '%s %s\n' "$TMP/pybody" "$1" >&"${PYC[1]}"
	local out
	IFS= read -r out <&"${PYC[0]}"
	printf '%s\n' "$out"
}

# check DESC EXPR: EXPR (python, d = body) must be True.
check() {
	if [ "$(py "$2")" = True ]; then ok; else fail "$1 [$2]"; fi
}

expect() {
	local desc=$1 status=$2 etype=${3:-}
	if [ "$STATUS" != "$status" ] || [ "$ETYPE" != "$etype" ]; then
		fail "$desc: expected $status ${etype:-(no error type)}"
	else
		ok
	fi
}

# poll PATH EXPR SECONDS: GET PATH until EXPR holds (or the status is 404 when EXPR is 404).
poll() {
	local path=$1 expr=$2 deadline=$((SECONDS + $3))
	while [ $SECONDS -le $deadline ]; do
		eks GET "$path"
		if [ "$expr" = 404 ]; then
			[ "$STATUS" = 404 ] && { ok; return 0; }
		elif [ "$STATUS" = 200 ] && [ "$(py "$expr")" = True ]; then
			ok; return 0
		fi
		sleep 0.2
	done
	fail "poll $path until $expr"
	return 1
}

urlenc() {
	local s=$1 i c out=
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s\n' "$out"
}

start_sim

# ---- the network, through EC2 -----------------------------------------------------------
VPC=$(ec2_id 'Action=CreateVpc&CidrBlock=10.0.0.0/16' vpcId)
S1=$(ec2_id "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a" subnetId)
S2=$(ec2_id "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.2.0/24&AvailabilityZone=us-east-1b" subnetId)
S3=$(ec2_id "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.3.0/24&AvailabilityZone=us-east-1a" subnetId)
SG=$(ec2_id "Action=CreateSecurityGroup&VpcId=$VPC&GroupName=ctl&GroupDescription=control" groupId)
VPC2=$(ec2_id 'Action=CreateVpc&CidrBlock=10.1.0.0/16' vpcId)
OTHER=$(ec2_id "Action=CreateSubnet&VpcId=$VPC2&CidrBlock=10.1.1.0/24&AvailabilityZone=us-east-1b" subnetId)
for v in VPC S1 S2 S3 SG VPC2 OTHER; do
	[ -n "${!v}" ] || { echo "cannot build the network ($v)"; exit 1; }
done

cluster_body() { # name token [extra json members]
	printf '{"name":"%s","roleArn":"%s","resourcesVpcConfig":{"subnetIds":["%s","%s"],"securityGroupIds":["%s"]}%s%s}' \
		"$1" "$ROLE" "$S1" "$S2" "$SG" "${2:+,\"clientRequestToken\":\"$2\"}" "${3:-}"
}

# ---- CreateCluster: validation -------------------------------------------------------------
eks GET /clusters/nope
expect "describe a missing cluster" 404 ResourceNotFoundException
check "error body has a message" '"nope" in d["message"]'
eks POST /clusters "{\"name\":\"c1\",\"resourcesVpcConfig\":{\"subnetIds\":[\"$S1\",\"$S2\"]}}"
expect "create without roleArn" 400 InvalidParameterException
eks POST /clusters "{\"name\":\"c1\",\"roleArn\":\"$ROLE\",\"resourcesVpcConfig\":{\"subnetIds\":[\"$S1\",\"$S3\"]}}"
expect "create with subnets in one AZ" 400 InvalidParameterException
check "one-AZ message" '"two different AZs" in d["message"]'
eks POST /clusters "{\"name\":\"c1\",\"roleArn\":\"$ROLE\",\"resourcesVpcConfig\":{\"subnetIds\":[\"$S1\",\"subnet-0123456789abcdef0\"]}}"
expect "create with a missing subnet" 400 InvalidParameterException
eks POST /clusters "{\"name\":\"c1\",\"roleArn\":\"$ROLE\",\"resourcesVpcConfig\":{\"subnetIds\":[\"$S1\",\"$OTHER\"]}}"
expect "create with subnets of two VPCs" 400 InvalidParameterException
eks POST /clusters "$(cluster_body c1 '' ',"version":"1.10"')"
expect "create with an unsupported version" 400 InvalidParameterException
eks POST /clusters "$(cluster_body 'bad name' '')"
expect "create with a bad name" 400 InvalidParameterException
eks POST /clusters '{"name": "c1", '
expect "create with a broken body" 400 SerializationException
eks POST /clusters "$(cluster_body c1 '' ',"logging":{"clusterLogging":[{"types":["kernel"],"enabled":true}]}')"
expect "create with an unknown log type" 400 InvalidParameterException

# ---- CreateCluster, idempotency, CREATING -> ACTIVE ---------------------------------------------
BODY1=$(cluster_body c1 tok-1 ',"tags":{"team":"infra","env":"test"},"logging":{"clusterLogging":[{"types":["api","audit"],"enabled":true}]}')
eks POST /clusters "$BODY1"
expect "create c1" 200
SAVED=$BODY
# right away, while the cluster is CREATING
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"early\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"]}"
expect "node group while CREATING" 400 InvalidRequestException
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPrivateAccess":true}}'
expect "update while CREATING" 400 InvalidRequestException
BODY=$SAVED
ARN="arn:aws:eks:us-east-1:$ACCOUNT:cluster/c1"
check "cluster arn" "d['cluster']['arn'] == '$ARN'"
check "cluster CREATING" "d['cluster']['status'] == 'CREATING'"
check "default version" "d['cluster']['version'] == '1.29'"
check "createdAt is epoch seconds" "isinstance(d['cluster']['createdAt'], (int, float)) and d['cluster']['createdAt'] > 1.6e9"
check "no endpoint while CREATING" "'endpoint' not in d['cluster']"
check "vpc config" "d['cluster']['resourcesVpcConfig']['vpcId'] == '$VPC' and d['cluster']['resourcesVpcConfig']['subnetIds'] == ['$S1', '$S2'] and d['cluster']['resourcesVpcConfig']['securityGroupIds'] == ['$SG']"
check "endpoint access defaults" "d['cluster']['resourcesVpcConfig']['endpointPublicAccess'] is True and d['cluster']['resourcesVpcConfig']['endpointPrivateAccess'] is False"
check "cluster security group" "d['cluster']['resourcesVpcConfig']['clusterSecurityGroupId'].startswith('sg-')"
check "tags" "d['cluster']['tags'] == {'team': 'infra', 'env': 'test'}"
check "logging" "{'types': ['api', 'audit'], 'enabled': True} in d['cluster']['logging']['clusterLogging']"
check "token echoed" "d['cluster']['clientRequestToken'] == 'tok-1'"
CSG=$(py "d['cluster']['resourcesVpcConfig']['clusterSecurityGroupId']")
CREATED=$(py "d['cluster']['createdAt']")

eks POST /clusters "$BODY1"
expect "retry with the same token" 200
check "the same cluster" "d['cluster']['createdAt'] == $CREATED and d['cluster']['resourcesVpcConfig']['clusterSecurityGroupId'] == '$CSG'"
eks POST /clusters "$(cluster_body c1 tok-1 ',"version":"1.28"')"
expect "same token, another request" 400 InvalidParameterException
eks POST /clusters "$(cluster_body c1 '')"
expect "create c1 twice" 409 ResourceInUseException

poll /clusters/c1 "d['cluster']['status'] == 'ACTIVE'" 20
check "endpoint" "re.match(r'^https://[0-9A-F]{32}\.gr7\.us-east-1\.eks\.amazonaws\.com$', d['cluster']['endpoint']) is not None"
check "certificate authority" "base64.b64decode(d['cluster']['certificateAuthority']['data']).startswith(b'-----BEGIN CERTIFICATE-----')"
check "platform version" "d['cluster']['platformVersion'].startswith('eks.')"
check "oidc issuer" "d['cluster']['identity']['oidc']['issuer'].startswith('https://oidc.eks.us-east-1.amazonaws.com/id/')"

# ---- EC2 sees the cluster ---------------------------------------------------------------------
ec2 "Action=DescribeSecurityGroups&GroupId.1=$CSG" | grep -q "eks-cluster-sg-c1-" && ok || fail "the cluster security group is in EC2"
ec2 "Action=DeleteSubnet&SubnetId=$S1" | grep -q DependencyViolation && ok || fail "a subnet of the cluster cannot be deleted"
ec2 "Action=DeleteSecurityGroup&GroupId=$SG" | grep -q DependencyViolation && ok || fail "a group of the cluster cannot be deleted"
ec2 "Action=DeleteSecurityGroup&GroupId=$CSG" | grep -q DependencyViolation && ok || fail "the cluster group cannot be deleted"
ec2 "Action=DeleteSubnet&SubnetId=$S3" | grep -q '<return>true' && ok || fail "an unused subnet can be deleted"

# ---- ListClusters and pagination ----------------------------------------------------------------
eks POST /clusters "$(cluster_body c2 '')"
expect "create c2" 200
eks POST /clusters "$(cluster_body c3 '')"
expect "create c3" 200
eks GET /clusters
expect "list clusters" 200
check "all clusters" "d['clusters'] == ['c1', 'c2', 'c3'] and 'nextToken' not in d"
eks GET '/clusters?maxResults=2'
check "first page" "d['clusters'] == ['c1', 'c2'] and bool(d['nextToken'])"
TOKEN=$(py "d['nextToken']")
eks GET "/clusters?maxResults=2&nextToken=$(urlenc "$TOKEN")"
check "second page" "d['clusters'] == ['c3'] and 'nextToken' not in d"
eks GET '/clusters?maxResults=0'
expect "maxResults out of range" 400 InvalidParameterException
eks GET '/clusters?nextToken=garbage'
expect "bad nextToken" 400 InvalidParameterException

# ---- UpdateClusterConfig / UpdateClusterVersion / DescribeUpdate ------------------------------------
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPublicAccess":true,"endpointPrivateAccess":false}}'
expect "update to the current config" 400 InvalidParameterException
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPrivateAccess":true},"logging":{"clusterLogging":[]}}'
expect "two kinds of update at once" 400 InvalidParameterException
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPublicAccess":false,"endpointPrivateAccess":false}}'
expect "no endpoint at all" 400 InvalidParameterException
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPrivateAccess":true},"clientRequestToken":"up-1"}'
expect "endpoint access update" 200
SAVED=$BODY
eks POST /clusters/c1/updates '{"version":"1.30"}'
expect "update during an update" 409 ResourceInUseException
eks GET /clusters/c1
check "cluster UPDATING" "d['cluster']['status'] == 'UPDATING'"
BODY=$SAVED
check "update shape" "d['update']['status'] == 'InProgress' and d['update']['type'] == 'EndpointAccessUpdate' and d['update']['errors'] == [] and isinstance(d['update']['createdAt'], (int, float))"
check "update params" "{'type': 'EndpointPrivateAccess', 'value': 'true'} in d['update']['params']"
U1=$(py "d['update']['id']")
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPrivateAccess":true},"clientRequestToken":"up-1"}'
check "update retry returns the same update" "d['update']['id'] == '$U1'"
poll "/clusters/c1/updates/$U1" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c1
check "cluster ACTIVE with private access" "d['cluster']['status'] == 'ACTIVE' and d['cluster']['resourcesVpcConfig']['endpointPrivateAccess'] is True"

eks POST /clusters/c1/update-config '{"logging":{"clusterLogging":[{"types":["scheduler"],"enabled":true}]}}'
expect "logging update" 200
check "logging update type" "d['update']['type'] == 'LoggingUpdate' and d['update']['params'][0]['type'] == 'ClusterLogging'"
U2=$(py "d['update']['id']")
poll "/clusters/c1/updates/$U2" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c1
check "scheduler logs enabled" "any('scheduler' in e['types'] and e['enabled'] for e in d['cluster']['logging']['clusterLogging'])"

eks POST /clusters/c1/updates '{"version":"1.31"}'
expect "skip a minor version" 400 InvalidParameterException
eks POST /clusters/c1/updates '{"version":"1.30"}'
expect "version update" 200
check "version update shape" "d['update']['type'] == 'VersionUpdate' and {'type': 'Version', 'value': '1.30'} in d['update']['params']"
U3=$(py "d['update']['id']")
poll "/clusters/c1/updates/$U3" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c1
check "cluster at 1.30" "d['cluster']['version'] == '1.30' and d['cluster']['status'] == 'ACTIVE'"
eks GET /clusters/c1/updates
check "list updates" "sorted(d['updateIds']) == sorted(['$U1', '$U2', '$U3'])"
eks GET /clusters/c1/updates/00000000-0000-4000-8000-000000000000
expect "unknown update" 404 ResourceNotFoundException
eks GET "/clusters/c2/updates/$U1"
expect "update of another cluster" 404 ResourceNotFoundException

# ---- node groups ----------------------------------------------------------------------------------
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"ng1\",\"subnets\":[\"$S1\"]}"
expect "node group without nodeRole" 400 InvalidParameterException
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"ng1\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"],\"scalingConfig\":{\"minSize\":3,\"maxSize\":5,\"desiredSize\":2}}"
expect "min > desired" 400 InvalidParameterException
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"ng1\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$OTHER\"]}"
expect "subnet outside the cluster VPC" 400 InvalidParameterException
eks POST /clusters/nope/node-groups "{\"nodegroupName\":\"ng1\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"]}"
expect "node group of a missing cluster" 404 ResourceNotFoundException
NG_BODY="{\"nodegroupName\":\"ng1\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\",\"$S2\"],\"scalingConfig\":{\"minSize\":1,\"maxSize\":4,\"desiredSize\":2},\"instanceTypes\":[\"m5.large\"],\"labels\":{\"role\":\"web\"},\"tags\":{\"team\":\"infra\"},\"capacityType\":\"SPOT\",\"clientRequestToken\":\"ng-tok\"}"
eks POST /clusters/c1/node-groups "$NG_BODY"
expect "create ng1" 200
check "node group CREATING" "d['nodegroup']['status'] == 'CREATING' and d['nodegroup']['nodegroupName'] == 'ng1' and d['nodegroup']['clusterName'] == 'c1'"
check "node group arn" "d['nodegroup']['nodegroupArn'].startswith('arn:aws:eks:us-east-1:$ACCOUNT:nodegroup/c1/ng1/')"
check "node group shape" "d['nodegroup']['scalingConfig'] == {'minSize': 1, 'maxSize': 4, 'desiredSize': 2} and d['nodegroup']['instanceTypes'] == ['m5.large'] and d['nodegroup']['capacityType'] == 'SPOT' and d['nodegroup']['amiType'] == 'AL2_x86_64' and d['nodegroup']['diskSize'] == 20 and d['nodegroup']['version'] == '1.30'"
check "node group resources" "d['nodegroup']['resources']['autoScalingGroups'][0]['name'].startswith('eks-ng1-') and d['nodegroup']['labels'] == {'role': 'web'} and d['nodegroup']['tags'] == {'team': 'infra'}"
NG_ARN=$(py "d['nodegroup']['nodegroupArn']")
eks POST /clusters/c1/node-groups "$NG_BODY"
expect "node group retry with the same token" 200
check "the same node group" "d['nodegroup']['nodegroupArn'] == '$NG_ARN'"
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"ng1\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"]}"
expect "node group twice" 409 ResourceInUseException
poll /clusters/c1/node-groups/ng1 "d['nodegroup']['status'] == 'ACTIVE'" 20
eks POST /clusters/c1/node-groups "{\"nodegroupName\":\"ng2\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S2\"]}"
expect "create ng2" 200
check "default scaling" "d['nodegroup']['scalingConfig'] == {'minSize': 1, 'maxSize': 2, 'desiredSize': 2} and d['nodegroup']['instanceTypes'] == ['t3.medium']"
eks GET /clusters/c1/node-groups
check "list node groups" "d['nodegroups'] == ['ng1', 'ng2']"
eks GET '/clusters/c1/node-groups?maxResults=1'
check "node groups first page" "d['nodegroups'] == ['ng1'] and bool(d['nextToken'])"
eks GET "/clusters/c1/node-groups?maxResults=1&nextToken=$(urlenc "$(py "d['nextToken']")")"
check "node groups second page" "d['nodegroups'] == ['ng2'] and 'nextToken' not in d"
eks GET /clusters/c1/node-groups/nope
expect "missing node group" 404 ResourceNotFoundException

eks POST /clusters/c1/node-groups/ng1/update-config '{"scalingConfig":{"desiredSize":9}}'
expect "desired > max" 400 InvalidParameterException
eks POST /clusters/c1/node-groups/ng1/update-config '{"scalingConfig":{"minSize":2,"maxSize":6,"desiredSize":3},"labels":{"addOrUpdateLabels":{"tier":"front"},"removeLabels":["role"]}}'
expect "node group update" 200
SAVED=$BODY
eks POST /clusters/c1/node-groups/ng1/update-config '{"scalingConfig":{"desiredSize":4}}'
expect "node group update during an update" 409 ResourceInUseException
eks GET /clusters/c1/node-groups/ng1
check "node group UPDATING" "d['nodegroup']['status'] == 'UPDATING'"
BODY=$SAVED
check "node group update shape" "d['update']['type'] == 'ConfigUpdate' and d['update']['status'] == 'InProgress' and {'type': 'DesiredSize', 'value': '3'} in d['update']['params']"
NU=$(py "d['update']['id']")
eks GET "/clusters/c1/updates/$NU"
expect "node group update needs nodegroupName" 404 ResourceNotFoundException
poll "/clusters/c1/updates/$NU?nodegroupName=ng1" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c1/node-groups/ng1
check "node group updated" "d['nodegroup']['status'] == 'ACTIVE' and d['nodegroup']['scalingConfig'] == {'minSize': 2, 'maxSize': 6, 'desiredSize': 3} and d['nodegroup']['labels'] == {'tier': 'front'}"

# ---- node group versions: UpdateNodegroupVersion; UpdateClusterVersion waits for node groups --------
eks POST /clusters/c2/node-groups "{\"nodegroupName\":\"ngv\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"],\"version\":\"1.30\"}"
expect "node group newer than its cluster" 400 InvalidParameterException
eks POST /clusters/c2/node-groups "{\"nodegroupName\":\"ngv\",\"nodeRole\":\"$NODE_ROLE\",\"subnets\":[\"$S1\"]}"
expect "create ngv" 200
check "a node group has its cluster's version" "d['nodegroup']['version'] == '1.29' and d['nodegroup']['releaseVersion'].startswith('1.29.')"
poll /clusters/c2/node-groups/ngv "d['nodegroup']['status'] == 'ACTIVE'" 20
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.30"}'
expect "node group version newer than its cluster's" 400 InvalidParameterException
check "newer-version message" "'newer than the cluster version 1.29' in d['message']"
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.28"}'
expect "node group version rolled back" 400 InvalidParameterException
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.10"}'
expect "unsupported node group version" 400 InvalidParameterException
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.29","releaseVersion":"1.28.0-20240514"}'
expect "release version of another Kubernetes version" 400 InvalidParameterException
eks POST /clusters/c2/node-groups/ngv/update-version '{"force":"yes"}'
expect "force is a boolean" 400 SerializationException
eks POST /clusters/c2/node-groups/nope/update-version '{"version":"1.29"}'
expect "version of a missing node group" 404 ResourceNotFoundException
eks POST /clusters/c2/updates '{"version":"1.30"}'
expect "cluster upgrade with node groups at its version" 200
CU=$(py "d['update']['id']")
poll "/clusters/c2/updates/$CU" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c2/node-groups/ngv
check "the node group stays at 1.29" "d['nodegroup']['version'] == '1.29'"
eks POST /clusters/c2/updates '{"version":"1.31"}'
expect "cluster upgrade while a node group lags" 400 InvalidRequestException
check "lagging node groups named (AWS's words)" "d['message'] == 'Nodegroups ngv must be updated to match cluster version 1.30 before updating cluster version'"
eks GET /clusters/c2
check "the refused upgrade changed nothing" "d['cluster']['version'] == '1.30' and d['cluster']['status'] == 'ACTIVE'"
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.30","clientRequestToken":"ngv-1.30"}'
expect "node group version update" 200
SAVED=$BODY
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.30"}'
expect "version update during an update" 409 ResourceInUseException
eks POST /clusters/c2/node-groups/ngv/update-config '{"scalingConfig":{"desiredSize":1}}'
expect "config update during a version update" 409 ResourceInUseException
eks GET /clusters/c2/node-groups/ngv
check "node group UPDATING to 1.30" "d['nodegroup']['status'] == 'UPDATING' and d['nodegroup']['version'] == '1.30' and d['nodegroup']['releaseVersion'].startswith('1.30.')"
BODY=$SAVED
check "version update shape" "d['update']['type'] == 'VersionUpdate' and d['update']['status'] == 'InProgress' and {'type': 'Version', 'value': '1.30'} in d['update']['params'] and any(p['type'] == 'ReleaseVersion' for p in d['update']['params'])"
VU=$(py "d['update']['id']")
eks POST /clusters/c2/node-groups/ngv/update-version '{"version":"1.30","clientRequestToken":"ngv-1.30"}'
check "version update retry returns the same update" "d['update']['id'] == '$VU'"
poll "/clusters/c2/updates/$VU?nodegroupName=ngv" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c2/node-groups/ngv
check "node group ACTIVE at 1.30" "d['nodegroup']['status'] == 'ACTIVE' and d['nodegroup']['version'] == '1.30'"
eks POST /clusters/c2/updates '{"version":"1.31"}'
expect "cluster upgrade once the node group caught up" 200
CU=$(py "d['update']['id']")
poll "/clusters/c2/updates/$CU" "d['update']['status'] == 'Successful'" 20
eks POST /clusters/c2/node-groups/ngv/update-version '{}'
expect "version update without a version" 200
check "without a version: the cluster's" "{'type': 'Version', 'value': '1.31'} in d['update']['params']"
VU=$(py "d['update']['id']")
poll "/clusters/c2/updates/$VU?nodegroupName=ngv" "d['update']['status'] == 'Successful'" 20
eks GET /clusters/c2/node-groups/ngv
check "node group at 1.31" "d['nodegroup']['version'] == '1.31' and d['nodegroup']['status'] == 'ACTIVE'"
eks DELETE /clusters/c2/node-groups/ngv
expect "delete ngv" 200
poll /clusters/c2/node-groups/ngv 404 20

eks DELETE /clusters/c1
expect "delete a cluster with node groups" 409 ResourceInUseException

# ---- tags -------------------------------------------------------------------------------------------
EARN=$(urlenc "$ARN")
SIGN_AS_SENT=1 eks POST "/tags/$EARN" '{"tags":{"owner":"me"}}'
expect "an ARN path signed as sent, not encoded twice, is refused (as AWS does)" 403 InvalidSignatureException
eks POST "/tags/$EARN" '{"tags":{"owner":"me","env":"prod"}}'
expect "tag a cluster" 200
eks GET "/tags/$EARN"
check "cluster tags" "d['tags'] == {'team': 'infra', 'env': 'prod', 'owner': 'me'}"
eks DELETE "/tags/$EARN?tagKeys=owner&tagKeys=team"
expect "untag a cluster" 200
eks GET "/tags/$EARN"
check "tags after untag" "d['tags'] == {'env': 'prod'}"
eks GET /clusters/c1
check "describe shows the tags" "d['cluster']['tags'] == {'env': 'prod'}"
eks POST "/tags/$(urlenc "$NG_ARN")" '{"tags":{"pool":"a"}}'
expect "tag a node group" 200
eks GET "/tags/$(urlenc "$NG_ARN")"
check "node group tags" "d['tags'] == {'team': 'infra', 'pool': 'a'}"
eks GET "/tags/$(urlenc "arn:aws:eks:us-east-1:$ACCOUNT:cluster/nope")"
expect "tags of a missing cluster" 404 NotFoundException
eks GET "/tags/not-an-arn"
expect "tags of a malformed ARN" 400 BadRequestException
eks POST "/tags/$EARN" '{"tags":{"aws:x":"y"}}'
expect "reserved tag key" 400 BadRequestException
eks DELETE "/tags/$EARN"
expect "untag without keys" 400 BadRequestException

# ---- persistence across a restart ----------------------------------------------------------------------
stop_sim
start_sim
eks GET /clusters/c1
expect "c1 after a restart" 200
check "c1 state after a restart" "d['cluster']['status'] == 'ACTIVE' and d['cluster']['version'] == '1.30' and d['cluster']['tags'] == {'env': 'prod'} and d['cluster']['resourcesVpcConfig']['clusterSecurityGroupId'] == '$CSG'"
eks GET /clusters/c1/node-groups/ng1
check "ng1 after a restart" "d['nodegroup']['nodegroupArn'] == '$NG_ARN' and d['nodegroup']['scalingConfig']['desiredSize'] == 3"
eks POST /clusters "$BODY1"
check "token remembered after a restart" "d['cluster']['createdAt'] == $CREATED"

# ---- deletion ------------------------------------------------------------------------------------------
eks DELETE /clusters/c1/node-groups/ng1
expect "delete ng1" 200
check "ng1 DELETING" "d['nodegroup']['status'] == 'DELETING'"
eks DELETE /clusters/c1/node-groups/ng2
expect "delete ng2" 200
poll /clusters/c1/node-groups/ng1 404 20
poll /clusters/c1/node-groups/ng2 404 20
eks GET /clusters/c1/node-groups
check "no node groups left" "d['nodegroups'] == []"
eks DELETE /clusters/c1
expect "delete c1" 200
SAVED=$BODY
eks POST /clusters/c1/update-config '{"resourcesVpcConfig":{"endpointPrivateAccess":false}}'
expect "update while DELETING" 400 InvalidRequestException
BODY=$SAVED
check "c1 DELETING" "d['cluster']['status'] == 'DELETING'"
poll /clusters/c1 404 20
eks GET /clusters
check "c1 not listed" "d['clusters'] == ['c2', 'c3']"
for c in c2 c3; do
	eks DELETE /clusters/$c
	expect "delete $c" 200
	poll /clusters/$c 404 20
done
ec2 "Action=DescribeSecurityGroups&GroupId.1=$CSG" | grep -q 'InvalidGroup.NotFound' && ok || fail "the cluster security group went with the cluster"
ec2 "Action=DeleteSecurityGroup&GroupId=$SG" | grep -q '<return>true' && ok || fail "the group is free after the clusters are gone"
ec2 "Action=DeleteSubnet&SubnetId=$S1" | grep -q '<return>true' && ok || fail "the subnet is free after the clusters are gone"

# ---- the wire --------------------------------------------------------------------------------------------
STATUS=$(curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "http://127.0.0.1:$PORT/clusters")
ETYPE=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^[Xx]-[Aa]mzn-[Ee]rror[Tt]ype: *//p'); BODY=$(cat "$TMP/body")
METHOD=GET URLPATH=/clusters
expect "unsigned request" 403 MissingAuthenticationTokenException
eks GET /no-such-path
expect "unknown operation" 404 UnknownOperationException

stop_sim
echo "eks: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
