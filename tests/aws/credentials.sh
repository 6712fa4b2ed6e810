#!/usr/bin/env bash
# Credentials as AWS tools find them, end to end: an environment's profile
# whose credential_process prints the keys; the sim accepts only those keys
# (--credentials), so a request signed with anything else would fail. The
# helper's standard error reaches the user, its output never does; a stack
# without aws.* resources never runs it. Then a profile that assumes a role
# (role_arn + source_profile): one STS AssumeRole signed with the source
# profile's keys, the EC2 calls signed with the role's temporary keys, and
# STS's error named when the role ARN is wrong.
. "$(dirname "$0")/lib.sh" "$@"

export HOME="$WORK/home"
mkdir -p "$HOME/.aws"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION \
  AWS_ENDPOINT_URL AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
# the only key pair the sim takes
printf '[team]\naws_access_key_id = AKIDPROCESSTEST\naws_secret_access_key = process-secret-do-not-print\n' \
  >"$WORK/sim-keys"
printf '[base]\naws_access_key_id = AKIDBASETEST\naws_secret_access_key = base-secret-do-not-print\n' \
  >>"$WORK/sim-keys"
start_sim --credentials "$WORK/sim-keys" --log

cat >"$WORK/helper.sh" <<'SH'
#!/bin/sh
echo "$(date +%s) $*" >>"$HOME/helper.calls"
case "${HELPER_MODE:-ok}" in
  ok) printf '{"Version": 1, "AccessKeyId": "AKIDPROCESSTEST", "SecretAccessKey": "process-secret-do-not-print"}\n' ;;
  fail) echo "helper: your SSO session has expired, run login" >&2; exit 2 ;;
  junk) echo "process-secret-do-not-print is not JSON" ;;
esac
SH
chmod +x "$WORK/helper.sh"
printf '[profile team]\nregion = us-east-1\ncredential_process = %s/helper.sh --role "ops admin"\n' "$WORK" \
  >"$HOME/.aws/config"

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.60.0.0/16
YAML
printf 'provider: {profile: team, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >s/dev.yaml

run apply -C s -e dev --auto-approve
expect_rc 0 "apply with the keys credential_process prints"
eq "$(sim_count_addr net)" "1" "the VPC exists in the sim"
eq "$(wc -l <"$HOME/helper.calls")" "1" "the helper ran once for the command"
check "with its arguments split as a shell would" grep -q -- '--role ops admin$' "$HOME/helper.calls"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan is empty"
out_lacks "process-secret" "the secret is not printed"
err_lacks "process-secret" "nor in the log"

# the helper fails: its own message reaches the user, cairn names the profile
HELPER_MODE=fail run plan -C s -e dev
expect_rc 1 "a failing helper fails the plan"
err_has "helper: your SSO session has expired" "the helper's message"
err_has "credential_process of profile 'team'" "the profile"
err_has "exited with status 2" "its exit status"
HELPER_MODE=junk run plan -C s -e dev
expect_rc 1 "a helper printing no JSON"
err_has "printed no JSON object" "said plainly"
err_lacks "process-secret" "without quoting what it printed"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "1" "state untouched"

# the helper prints keys the sim does not know: the requests are signed
# with what it printed (not a fallback), and refused
sed -i 's/AKIDPROCESSTEST/AKIDSOMEONEELSE/' "$WORK/helper.sh"
run plan -C s -e dev
expect_rc 1 "keys the sim does not know"
err_has "AuthFailure" "the sim checks the key"
sed -i 's/AKIDSOMEONEELSE/AKIDPROCESSTEST/' "$WORK/helper.sh"

# a stack without aws.* resources never runs the helper, even a failing one
mkdir -p n
cat >n/stack.yaml <<'YAML'
resources:
  x:
    type: null.resource
YAML
printf 'provider: {profile: team}\n' >n/dev.yaml
: >"$HOME/helper.calls"
HELPER_MODE=fail run apply -C n -e dev --auto-approve
expect_rc 0 "no AWS resources: no credentials needed"
eq "$(wc -l <"$HOME/helper.calls")" "0" "the helper did not run"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"

# a profile that assumes a role with another profile's static keys
cat >"$HOME/.aws/config" <<'INI'
[profile base]
aws_access_key_id = AKIDBASETEST
aws_secret_access_key = base-secret-do-not-print

[profile deploy]
region = us-east-1
role_arn = arn:aws:iam::123456789012:role/deploy
source_profile = base
role_session_name = cairn-test
INI
awsstack r <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.61.0.0/16
YAML
printf 'provider: {profile: deploy, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >r/dev.yaml
# calls: the sim's request log since the mark, AWS calls only (not /_sim/):
# time client method path service region action status duration id
mark() { MARK=$(wc -l <"$WORK/sim.log"); }
calls() { tail -n "+$((MARK + 1))" "$WORK/sim.log" | awk '$5 != "_sim"'; }
mark
run apply -C r -e dev --auto-approve
expect_rc 0 "apply with the role of profile deploy"
eq "$(sim_count_addr net)" "1" "the VPC exists in the sim"
eq "$(calls | awk 'NR == 1 {print $5, $7, $8}')" "sts AssumeRole 200" "first one AssumeRole"
eq "$(calls | awk '$5 == "sts"' | wc -l)" "1" "only one"
check "then the EC2 calls" sh -c "tail -n +$((MARK + 1)) '$WORK/sim.log' | grep -q ' ec2 us-east-1 CreateVpc 200 '"
eq "$(calls | awk '$5 != "sts" && ($5 != "ec2" || $8 != "200")' | wc -l)" "0" "all of them accepted, nothing else"
out_lacks "base-secret" "the source profile's secret is not printed"
err_lacks "base-secret" "nor in the log"
run plan -C r -e dev --detailed-exitcode
expect_rc 0 "plan with the role is empty"

# the role's credentials expire during a run (answer: ExpiredToken): they
# are renewed once, by assuming the role again, and the request sent again
check "rule" sim_fault '{"action": "DescribeVpcs", "code": "ExpiredToken", "status": 400, "count": 1}'
mark
run plan -C r -e dev --detailed-exitcode --verbose
expect_rc 0 "a plan whose credentials expire on the way"
err_has "AWS credentials expired; renewed (role arn:aws:iam::123456789012:role/deploy" "renewed, said"
eq "$(calls | awk '$5 == "sts"' | wc -l)" "2" "the role assumed again"
# answered ExpiredToken again right after: renewed once, then the error stands
check "rule" sim_fault '{"action": "DescribeVpcs", "code": "ExpiredToken", "status": 400, "count": 2}'
run plan -C r -e dev
expect_rc 1 "credentials that expire again at once"
err_has "ExpiredToken" "the error stands"
eq "$(sim_faults_left)" "0" "both answers given: one renewal, no more"

# a wrong role ARN: STS's error, naming the profile and the role; nothing changes
sed -i 's|^role_arn = .*|role_arn = arn:aws:iam::123:role/deploy|' "$HOME/.aws/config"
sed -i 's/10.61.0.0/10.62.0.0/' r/stack.yaml
mark
run plan -C r -e dev
expect_rc 1 "a wrong role ARN fails the plan"
err_has "cannot assume role arn:aws:iam::123:role/deploy for profile 'deploy'" "the role and the profile"
err_has "STS answered ValidationError" "STS's error code"
err_has "at 'roleArn'" "and its message"
err_lacks "base-secret" "without the secret"
eq "$(calls | awk '{print $5, $7, $8}')" "sts AssumeRole 400" "one refused AssumeRole, no EC2 call"
eq "$(state_sql r "select count(*) from resources where env='dev'")" "1" "state untouched"
eq "$(sim_count_addr net)" "1" "the VPC untouched"

# a source_profile whose keys the sim does not know: STS refuses them
sed -i 's|^role_arn = .*|role_arn = arn:aws:iam::123456789012:role/deploy|; s/AKIDBASETEST/AKIDNOTKNOWN/' \
  "$HOME/.aws/config"
run plan -C r -e dev
expect_rc 1 "unknown source keys"
err_has "STS answered InvalidClientTokenId" "STS's error"
sed -i 's/AKIDNOTKNOWN/AKIDBASETEST/' "$HOME/.aws/config"
sed -i 's/10.62.0.0/10.61.0.0/' r/stack.yaml

# credential_source = Environment: the role is assumed with the AWS_* keys
# (the environment's profile is named, so those keys do not sign by themselves)
cat >>"$HOME/.aws/config" <<'INI'

[profile fromenv]
region = us-east-1
role_arn = arn:aws:iam::123456789012:role/deploy
credential_source = Environment
INI
printf 'provider: {profile: fromenv, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >r/dev.yaml
mark
AWS_ACCESS_KEY_ID=AKIDBASETEST AWS_SECRET_ACCESS_KEY=base-secret-do-not-print run plan -C r -e dev --detailed-exitcode
expect_rc 0 "plan with a role assumed with the environment's keys"
eq "$(calls | awk 'NR == 1 {print $5, $7, $8}')" "sts AssumeRole 200" "an AssumeRole first"
run plan -C r -e dev
expect_rc 1 "no keys in the environment"
err_has "profile 'fromenv' has credential_source = Environment but AWS_ACCESS_KEY_ID" "said plainly"

printf 'provider: {profile: deploy, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >r/dev.yaml
run destroy -C r -e dev --auto-approve
expect_rc 0 "destroy with the role"
eq "$(sim_count)" "0" "the sim is empty again"
done_testing
