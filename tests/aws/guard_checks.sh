#!/usr/bin/env bash
# Health checks and the automatic rollback (docs/guardrails.md) against
# cairn sim: the stack's checks: run after every apply and are kept with
# the revision; when one fails, the environment goes back on its own to
# the last revision whose checks passed, across a replacement, with the
# sim back in its old shape, and the command exits 6 saying what failed
# and what was rolled back; with no such revision nothing is rolled back.
# Retries, interval and deadline bound the attempts. --metrics writes the
# deployment as a Prometheus textfile. checks: is checked with
# file:line:col.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

write_stack() { # SG_NAME [EXTRA-CHECK-YAML]
  awsstack s <<YAML
variables:
  health: { type: string }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: $1
    vpc_id: "\${net.id}"
checks:
  - name: api
    http: { url: "\${var.health}", status: 200, body: "\${web.id}" }
    retries: 2
    interval: 0.2
    deadline: 10s
  - name: cloud
    tcp: { host: 127.0.0.1, port: $PORT }
${2:-}
YAML
}
sg_of() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }
GOOD="http://127.0.0.1:$PORT/_sim/resources"
BAD="http://127.0.0.1:1/health"

# --- the format -------------------------------------------------------------
write_stack hc-v1 '  - { name: both, http: { url: "http://x" }, tcp: { host: x, port: 1 } }'
run validate -C s -e dev --var health=x
expect_rc 1 "http and tcp at once"
err_has "s/stack.yaml:17:5: check 'both' needs exactly one of http: {url, status, body}, tcp: {host, port}, ssh: {host, command} and module: {expect}" "file:line:col"
write_stack hc-v1 '  - { name: api, tcp: { host: x, port: 1 } }'
run validate -C s -e dev --var health=x
expect_rc 1 "two checks of one name"
err_has "s/stack.yaml:17:13: two checks are named 'api'" "file:line:col"
write_stack hc-v1 '  - { name: x, tcp: { host: x, port: 1 }, interval: soon }'
run validate -C s -e dev --var health=x
expect_rc 1 "a bad interval"
err_has "s/stack.yaml:17:53: interval must be a duration like 2s or 1m" "file:line:col"
write_stack hc-v1 '  - { name: x, tcp: { host: x, prot: 1 } }'
run validate -C s -e dev --var health=x
expect_rc 1 "an unknown key"
err_has "unknown key 'prot' in check 'x' (host, port)" "names it"

# --- revision 1: checks pass --------------------------------------------------
write_stack hc-v1
run apply -C s -e dev --auto-approve --var health=$GOOD
expect_rc 0 "revision 1 applied and checked"
out_has "Running 2 health checks..." "the checks run after the apply"
out_has "  ok    api (http $GOOD, 1 attempt," "the HTTP check passed (the group's id is in the cloud's list)"
out_has "  ok    cloud (tcp 127.0.0.1, 1 attempt," "the TCP check passed"
hist_ok "the checks are kept with the revision" "H[0]['summary']['checks_passed'] is True and [c['name'] for c in H[0]['summary']['checks']] == ['api', 'cloud']"
ID1=$(state_id s web)

# --- revision 2: the new version fails its check -> back to revision 1 ---------
write_stack hc-v2
start=$(date +%s)
run apply -C s -e dev --auto-approve --var health=$BAD --metrics "$WORK/deploy.prom"
expect_rc 6 "failed checks exit 6"
out_has "  FAIL  api (http $BAD): after 3 attempts: Couldn't connect to server" "what failed, after how many attempts"
out_has "Health checks failed: rolling environment 'dev' back to revision 1, the last whose checks passed." "what it does"
out_has "Rolling environment 'dev' back to the configuration of revision 1 (the latest applied is revision 2)." "from where to where"
out_has '~ name = "hc-v2" -> "hc-v1" # forces replacement' "the rollback's plan is shown"
err_has "cairn: error: revision 2 failed its health checks (api); environment 'dev' was rolled back to revision 1" "the summary"
eq "$(sg_of hc-v1)" 1 "the sim has revision 1's group again"
eq "$(sg_of hc-v2)" 0 "revision 2's group is gone"
check "a new object" test "$(state_id s web)" != "$ID1"
hist_ok "the history: the failed revision and the automatic rollback" \
  "H[0]['command'] == 'automatic rollback from revision 2 to revision 1 (checks failed: api)' and H[0]['summary']['checks_passed'] is True and H[1]['summary']['checks_passed'] is False"
run state history -C s -e dev --limit 2
out_has "automatic rollback from revision 2 to revision 1 (checks failed: api) by" "state history shows the rollback"
out_has "    checks   failed (api)" "and the failed checks"
out_has "    checks   passed" "and the passing ones"
M=$WORK/deploy.prom
check "metrics: not a success" grep -qx 'cairn_deploy_success{env="dev",command="apply"} 0' "$M"
check "metrics: one automatic rollback" grep -qx 'cairn_deploy_rollbacks{env="dev",kind="automatic"} 1' "$M"
check "metrics: the failed check" grep -qx 'cairn_check_success{env="dev",check="api"} 0' "$M"
check "metrics: its attempts" grep -qx 'cairn_check_attempts{env="dev",check="api"} 3' "$M"
check "metrics: the passing check" grep -qx 'cairn_check_success{env="dev",check="cloud"} 1' "$M"
check "metrics: the replacement" grep -qx 'cairn_deploy_changes{env="dev",action="replace"} 1' "$M"
check "metrics: latencies" grep -q '^cairn_check_latency_seconds{env="dev",check="api"} [0-9.]*$' "$M"

# a successful apply's metrics
run apply -C s -e dev --auto-approve --var health=$GOOD --metrics "$M"
expect_rc 0 "nothing to change"
write_stack hc-v3
run apply -C s -e dev --auto-approve --var health=$GOOD --metrics "$M"
expect_rc 0 "revision with passing checks"
check "metrics: a success" grep -qx 'cairn_deploy_success{env="dev",command="apply"} 1' "$M"
check "metrics: no rollback" grep -qx 'cairn_deploy_rollbacks{env="dev",kind="requested"} 0' "$M"

# --- no revision passed: nothing to roll back to --------------------------------
mkdir -p t
cp s/stack.yaml s/dev.yaml t/
sed -i 's/hc-v3/hc-t/' t/stack.yaml
run apply -C t -e dev --auto-approve --var health=$BAD
expect_rc 6 "a first apply whose checks fail"
out_has "No revision before 1 passed its health checks: nothing was rolled back." "says so"
eq "$(sg_of hc-t)" 1 "what was applied stays"

# --- the deadline bounds the retries ---------------------------------------------
# After an attempt ending at T (seconds since the check began), the next one
# comes only when the interval fits in what is left: T + interval < deadline.
# With interval 2 and deadline 5 that is exactly three attempts whatever the
# machine's speed: the first at 0, the second at 2 (+ its delay), the third
# only when the second ended before 3 (a second of slack), and never a
# fourth, since the third cannot end before 4 (the pauses are 2 s each).
# Without the deadline, retries: 100 would make 101 attempts (200 s).
cat >u.yaml <<YAML
  - { name: slow, tcp: { host: 127.0.0.1, port: 1 }, retries: 100, interval: 2, deadline: 5s }
YAML
write_stack hc-v4 "$(cat u.yaml)"
start=$(date +%s.%N)
run apply -C s -e dev --auto-approve --var health=$GOOD
end=$(date +%s.%N)
expect_rc 6 "the slow check fails"
out_has "  FAIL  slow (tcp 127.0.0.1): after 3 attempts: cannot connect to 127.0.0.1:1: Connection refused" "three attempts fit in 5s at 2s apart, not the 101 retries allow"
check "the deadline held (the whole apply and its rollback in under 60 s, against 200 s of retries)" python3 -c "import sys; sys.exit(0 if $end - $start < 60 else 1)"
done_testing
