#!/bin/bash
# sts.sh - STS in `cairn sim`: AssumeRole's answer and its validation,
# temporary keys accepted by every service only with their session token
# and until they expire, GetCallerIdentity for long-term and temporary keys.
. "$(dirname "$0")/lib.sh"
sim_start || exit 1

sts() {
	local body=$1; shift
	req sts "$body&Version=2011-06-15" "$@"
}

sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy&RoleSessionName=ci-run.1'
check_ok "AssumeRole"
check "answer in STS's namespace" 1 "$(grep -c '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>' "$BODY_FILE")"
check "AssumedRoleUser Arn" "arn:aws:sts::111122223333:assumed-role/deploy/ci-run.1" "$(first Arn)"
case "$(first AssumedRoleId)" in AROA*:ci-run.1) ok "AssumedRoleId is the role's id and the session" ;; *) fail "AssumedRoleId" ;; esac
TAK=$(first AccessKeyId); TSK=$(first SecretAccessKey); TOK=$(first SessionToken); EXP=$(first Expiration)
case "$TAK" in ASIA????????????????) ok "AccessKeyId is ASIA + 16" ;; *) fail "AccessKeyId: $TAK" ;; esac
check "SecretAccessKey is 40 characters" 40 "${#TSK}"
[ "${#TOK}" -ge 100 ] && ok "SessionToken" || fail "SessionToken"
LEFT=$(( $(date -d "$EXP" +%s) - $(date +%s) ))
[ "$LEFT" -gt 3500 ] && [ "$LEFT" -le 3600 ] && ok "Expiration an hour away by default ($EXP)" || fail "Expiration $EXP"
check "RequestId" 1 "$(xml_count RequestId)"

sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/service-role/app&RoleSessionName=s2&DurationSeconds=900&ExternalId=partner-42'
check_ok "AssumeRole with a role path, a duration and an external id"
check "the name is the path's last segment" "arn:aws:sts::111122223333:assumed-role/app/s2" "$(first Arn)"
LEFT=$(( $(date -d "$(first Expiration)" +%s) - $(date +%s) ))
[ "$LEFT" -gt 800 ] && [ "$LEFT" -le 900 ] && ok "DurationSeconds=900" || fail "DurationSeconds=900: $LEFT s left"

# validation
for arn in 'arn:aws:iam::1111:role/deploy' 'arn:aws:iam::111122223333:user/deploy' 'arn:aws:iam::111122223333:role/' \
	'arn:aws:s3:::bucket' 'arn:aws:iam::111122223333:role/bad*name'; do
	sts "Action=AssumeRole&RoleArn=$arn&RoleSessionName=s1"
	check_err "bad RoleArn $arn" 400 ValidationError
done
first Message | grep -q "at 'roleArn'" && ok "the message names roleArn" || fail "the message names roleArn"
sts 'Action=AssumeRole&RoleSessionName=s1'
check_err "no RoleArn" 400 ValidationError
sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy'
check_err "no RoleSessionName" 400 ValidationError
for name in x 'has space' 'a/b' "$(printf 'n%.0s' $(seq 1 65))"; do
	sts "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy&RoleSessionName=$name"
	check_err "bad RoleSessionName '${name:0:10}'" 400 ValidationError
done
for d in 899 43201 abc; do
	sts "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy&RoleSessionName=s1&DurationSeconds=$d"
	check_err "DurationSeconds=$d" 400 ValidationError
done
sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy&RoleSessionName=s1&DurationSeconds=43200'
check_ok "DurationSeconds=43200"
sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/deploy&RoleSessionName=s1&Bogus=1'
check_err "unknown parameter" 400 UnknownParameter

# the temporary keys, with their token, in every service
AK=$TAK SK=$TSK ec2 'Action=DescribeVpcs' -H "X-Amz-Security-Token: $TOK"
check_ok "EC2 with the temporary keys and their token"
AK=$TAK SK=$TSK req rds 'Action=DescribeDBInstances&Version=2014-10-31' -H "X-Amz-Security-Token: $TOK"
check_ok "RDS with the temporary keys and their token"
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:eks" --user "$TAK:$TSK" \
	-H "X-Amz-Security-Token: $TOK" "$SIM_URL/clusters")
check_ok "EKS with the temporary keys and their token"
AK=$TAK SK=$TSK sts 'Action=GetCallerIdentity' -H "X-Amz-Security-Token: $TOK"
check_ok "GetCallerIdentity with the temporary keys"
check "caller Arn" "arn:aws:sts::111122223333:assumed-role/deploy/ci-run.1" "$(first Arn)"
check "caller Account" 111122223333 "$(first Account)"
case "$(first UserId)" in AROA*:ci-run.1) ok "caller UserId" ;; *) fail "caller UserId" ;; esac

AK=$TAK SK=$TSK ec2 'Action=DescribeVpcs'
check_err "EC2 with the temporary keys, no token" 401 AuthFailure
AK=$TAK SK=$TSK ec2 'Action=DescribeVpcs' -H "X-Amz-Security-Token: ${TOK}x"
check_err "EC2 with the temporary keys, a wrong token" 401 AuthFailure
AK=$TAK SK=$TSK sts 'Action=GetCallerIdentity'
check_err "STS with the temporary keys, no token" 403 InvalidClientTokenId
AK=$TAK SK=wrong-secret ec2 'Action=DescribeVpcs' -H "X-Amz-Security-Token: $TOK"
check_err "the temporary key with another secret" 403 SignatureDoesNotMatch
ec2 'Action=DescribeVpcs' -H "X-Amz-Security-Token: $TOK"
check_err "a long-term key with a session token" 401 AuthFailure

# role chaining: temporary keys assume another role, for an hour at most
AK=$TAK SK=$TSK sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/next&RoleSessionName=s3&DurationSeconds=7200' \
	-H "X-Amz-Security-Token: $TOK"
check_err "role chaining beyond an hour" 400 ValidationError
AK=$TAK SK=$TSK sts 'Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/next&RoleSessionName=s3' \
	-H "X-Amz-Security-Token: $TOK"
check_ok "role chaining"

# GetCallerIdentity with the long-term key: the account's root
sts 'Action=GetCallerIdentity'
check_ok "GetCallerIdentity"
check "long-term key: Arn" "arn:aws:iam::123456789012:root" "$(first Arn)"
check "long-term key: Account" 123456789012 "$(first Account)"

# after expiry: each protocol's answer for an expired token
STATUS=$(curl -s -o "$BODY_FILE" -w '%{http_code}' -X POST "$SIM_URL/_sim/sts/expire")
check_ok "POST /_sim/sts/expire"
check "every temporary credential expired" 4 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expired"])' "$BODY_FILE")"
AK=$TAK SK=$TSK sts 'Action=GetCallerIdentity' -H "X-Amz-Security-Token: $TOK"
check_err "STS after expiry" 403 ExpiredToken
AK=$TAK SK=$TSK req rds 'Action=DescribeDBInstances&Version=2014-10-31' -H "X-Amz-Security-Token: $TOK"
check_err "RDS after expiry" 403 ExpiredToken
AK=$TAK SK=$TSK ec2 'Action=DescribeVpcs' -H "X-Amz-Security-Token: $TOK"
check_err "EC2 after expiry" 400 RequestExpired
STATUS=$(curl -s -o "$BODY_FILE" -D "$HDR_FILE" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:eks" --user "$TAK:$TSK" \
	-H "X-Amz-Security-Token: $TOK" "$SIM_URL/clusters")
check "EKS after expiry: status" 403 "$STATUS"
grep -qi '^x-amzn-ErrorType: ExpiredTokenException' "$HDR_FILE" && ok "EKS after expiry: ExpiredTokenException" ||
	fail "EKS after expiry: ExpiredTokenException"
sim_stop
finish
