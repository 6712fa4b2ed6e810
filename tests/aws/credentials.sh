#!/usr/bin/env bash
# Credentials as AWS tools find them, end to end: an environment's profile
# whose credential_process prints the keys; the sim accepts only those keys
# (--credentials), so a request signed with anything else would fail. The
# helper's standard error reaches the user, its output never does; a stack
# without aws.* resources never runs it.
. "$(dirname "$0")/lib.sh" "$@"

export HOME="$WORK/home"
mkdir -p "$HOME/.aws"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION \
  AWS_ENDPOINT_URL AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
# the only key pair the sim takes
printf '[team]\naws_access_key_id = AKIDPROCESSTEST\naws_secret_access_key = process-secret-do-not-print\n' \
  >"$WORK/sim-keys"
start_sim --credentials "$WORK/sim-keys"

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
done_testing
