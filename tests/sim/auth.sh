#!/bin/bash
# auth.sh - SigV4 checking in `cairn sim`: good and bad signatures, unknown
# keys, stale dates, missing authentication, a credentials file, --no-auth,
# routing by the credential scope, and the Query error shape of RDS scope.
. "$(dirname "$0")/lib.sh"
sim_start || exit 1

ec2 'Action=DescribeVpcs'
check_ok "signed request"

SK=wrong-secret ec2 'Action=DescribeVpcs'
check_err "bad signature" 403 SignatureDoesNotMatch

AK=AKIDUNKNOWN ec2 'Action=DescribeVpcs'
check_err "unknown access key" 401 AuthFailure

# a signature over a date 20 minutes old (curl signs the X-Amz-Date it is given)
OLD=$(date -u -d '-20 minutes' +%Y%m%dT%H%M%SZ)
ec2 'Action=DescribeVpcs' -H "X-Amz-Date: $OLD"
check_err "stale date" 400 RequestExpired
FUTURE=$(date -u -d '+20 minutes' +%Y%m%dT%H%M%SZ)
ec2 'Action=DescribeVpcs' -H "X-Amz-Date: $FUTURE"
check_err "date in the future" 400 RequestExpired
NEAR=$(date -u -d '-5 minutes' +%Y%m%dT%H%M%SZ)
ec2 'Action=DescribeVpcs' -H "X-Amz-Date: $NEAR"
check_ok "date within 15 minutes"

# body changed after signing: sign one body, send another via a proxy-less trick:
# same signature header replayed with a different body
curl -s -o /dev/null -D "$HDR_FILE" -v --aws-sigv4 "aws:amz:$REGION:ec2" --user "$AK:$SK" \
	-d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/" 2> "$TMPD/trace"
AUTH=$(sed -n 's/^> Authorization: //p' "$TMPD/trace" | tr -d '\r')
DATE=$(sed -n 's/^> X-Amz-Date: //p' "$TMPD/trace" | tr -d '\r')
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: $AUTH" -H "X-Amz-Date: $DATE" \
	-d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/")
check_ok "replayed signature, same body"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H "Authorization: $AUTH" -H "X-Amz-Date: $DATE" \
	-d 'Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16' "$SIM_URL/")
check_err "replayed signature, tampered body" 403 SignatureDoesNotMatch

# a signed payload hash must match the body it came with
ec2 'Action=DescribeVpcs' -H "x-amz-content-sha256: $(printf 'Action=DescribeVpcs&Version=2016-11-15' | sha256sum | cut -d' ' -f1)"
check_ok "x-amz-content-sha256 matching the body"
ec2 'Action=DescribeVpcs' -H "x-amz-content-sha256: $(printf 'something else' | sha256sum | cut -d' ' -f1)"
check_err "x-amz-content-sha256 not matching the body" 403 SignatureDoesNotMatch

STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/")
check_err "no Authorization" 401 AuthFailure
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -H 'Authorization: AWS4-HMAC-SHA256 Credential=x' \
	-d 'Action=DescribeVpcs&Version=2016-11-15' "$SIM_URL/")
check_err "malformed Authorization" 400 IncompleteSignature

# the scope picks the service: RDS scope answers in RDS's Query shape, and a
# service the sim does not serve gets the Query error shape
req rds 'Action=DescribeDBInstances&Version=2014-10-31'
check "rds scope: status" 200 "$STATUS"
check "rds scope: RDS answer" 1 "$(grep -c '<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"' "$BODY_FILE")"
req sqs 'Action=ListQueues&Version=2012-11-05'
check "unserved service: status" 400 "$STATUS"
check "unserved service: ErrorResponse" 1 "$(grep -c '<ErrorResponse' "$BODY_FILE")"
check "unserved service: Type" Sender "$(first Type)"
SK=wrong req rds 'Action=DescribeDBInstances&Version=2014-10-31'
check_err "RDS scope bad signature" 403 SignatureDoesNotMatch
check "RDS scope has RequestId" 1 "$(xml_count RequestId)"
grep -qi '^x-amzn-RequestId:' "$HDR_FILE" && ok "x-amzn-RequestId header" || fail "x-amzn-RequestId header"
sim_stop

# a credentials file replaces the default pair
cat > "$TMPD/credentials" <<CREDS
[default]
aws_access_key_id = AKIDFROMFILE
aws_secret_access_key = secret-from-file

[other]
aws_access_key_id=AKIDOTHER
aws_secret_access_key=other-secret
CREDS
sim_start --credentials "$TMPD/credentials" || exit 1
AK=AKIDFROMFILE SK=secret-from-file ec2 'Action=DescribeVpcs'
check_ok "credentials file, default profile"
AK=AKIDOTHER SK=other-secret ec2 'Action=DescribeVpcs'
check_ok "credentials file, other profile"
ec2 'Action=DescribeVpcs'
check_err "default pair not accepted with a credentials file" 401 AuthFailure
sim_stop

sim_start --no-auth --region eu-central-1 || exit 1
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -d 'Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16' "$SIM_URL/")
check_ok "--no-auth unsigned request"
SK=wrong REGION=eu-central-1 ec2 'Action=DescribeVpcs'
check_ok "--no-auth ignores a bad signature"
check "--no-auth unsigned request went to --region" 1 "$(xml_count vpcId)"
sim_stop

# option errors
"$SIM_BIN" sim --latency abc > /dev/null 2> "$TMPD/err"; rc=$?
check "bad option value exit code" 2 "$rc"
grep -q "invalid value 'abc' for --latency" "$TMPD/err" && ok "bad option message" || fail "bad option message"
"$SIM_BIN" sim --bogus > /dev/null 2> "$TMPD/err"; rc=$?
check "unknown option exit code" 2 "$rc"
"$SIM_BIN" sim --help > "$TMPD/help" 2>&1; rc=$?
check "--help exit code" 0 "$rc"
grep -q -- '--throttle-rate' "$TMPD/help" && ok "--help lists options" || fail "--help lists options"
finish
