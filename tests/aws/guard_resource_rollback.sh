#!/usr/bin/env bash
# A resource's own check that fails outside a rollout or a blue-green
# replacement (docs/guardrails.md): the apply stops (what depends on the
# instance is skipped, nothing new starts) and the environment is rolled
# back on its own to the last revision whose checks passed, as the stack's
# checks do: the sim and the state at that revision again, the history
# says `automatic rollback from revision A to revision B (checks failed:
# CHECK of ADDRESS)`, the metrics count it, exit 6. A first apply has no
# such revision: nothing rolled back, and said so. A module check (an
# instance impaired in the sim) the same way; the automatic rollback's own
# failing check is not rolled back in turn. The HTTP check asks a small
# HTTP server the test runs (stopped by PID) for /VERSION: a file of that
# name in its directory makes the check pass.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --latency 50   # every request 50 ms: the chain below takes a while

mkdir -p "$WORK/www"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/http.out" 2>"$WORK/http.err" &
HTTP_PID=$!
BG_PIDS+=("$HTTP_PID")
for i in $(seq 1 100); do
  HP=$(sed -n 's/^Serving HTTP on [0-9.]* port \([0-9]*\).*/\1/p' "$WORK/http.out" | head -1)
  [ -n "$HP" ] && break
  sleep 0.05
done
[ -n "$HP" ] || { echo "Bail out! http.server did not start"; cat "$WORK/http.err"; exit 1; }
healthy() { local n; for n in "$@"; do : >"$WORK/www/$n"; done; }

sg_tag() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)][0].tags.ver // empty'; }
sg_count() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }

write_stack() { # DIR VERSION
  awsstack "$1" <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: "web-$1"
    vpc_id: "\${net.id}"
    tags: { ver: "$2" }
    checks:
      - { name: up, http: { url: "http://127.0.0.1:$HP/\${self.tags.ver}" }, retries: 0, deadline: 5s }
  after:
    type: aws.security_group
    name: "after-$1-\${web.tags.ver}"
    vpc_id: "\${net.id}"
  # independent of web: a chain of updates, one after the other, still
  # going when web's check fails
  c1: { type: aws.security_group, name: "c1-$1", vpc_id: "\${net.id}", tags: { ver: "$2" } }
YAML
  for i in 2 3 4 5 6 7 8; do
    printf '  c%s: { type: aws.security_group, name: "c%s-%s", vpc_id: "${net.id}", tags: { ver: "%s", prev: "${c%s.id}" } }\n' \
      "$i" "$i" "$1" "$2" "$((i - 1))" >>"$1/stack.yaml"
  done
}

# --- revision 1: its check passes --------------------------------------------
healthy v1
write_stack s v1
run apply -C s -e dev --auto-approve
expect_rc 0 "revision 1 applied, its check passed"
out_has "  ok    web: up (http http://127.0.0.1:$HP/v1, 1 attempt," "the check ran"
hist_ok "revision 1 passed its checks" "H[0]['rev'] == 1 and H[0]['summary']['checks_passed'] is True"

# --- revision 2: an in-place update whose check fails -> back to revision 1 ----
write_stack s v2
run apply -C s -e dev --auto-approve --metrics "$WORK/deploy.prom"
expect_rc 6 "a failing resource check exits 6"
err_has "cairn: error: health check up of web failed: status 404, expected 200; the apply stopped" "what failed, and that the apply stopped"
out_has "skipped: after (old): dependency web: checks failed" "its dependent is skipped"
out_has "skipped: c8: the apply stopped: health check up of web failed" "the apply stopped: the rest of the chain never started"
eq "$(sg_tag c8-s)" v1 "c8 is at v1"
out_has "Health checks failed: rolling environment 'dev' back to revision 1, the last whose checks passed." "what it does"
out_has "Rolling environment 'dev' back to the configuration of revision 1 (the latest applied is revision 2)." "from where to where"
out_has '~ tags = {"ver" = "v2"} -> {"ver" = "v1"}' "the rollback's plan is shown"
err_has "cairn: error: revision 2 failed its health checks (up of web); environment 'dev' was rolled back to revision 1" "the summary"
eq "$(sg_tag web-s)" v1 "the sim has revision 1's tag again"
eq "$(state_attr s web .tags.ver)" v1 "so has the state"
eq "$(sg_count after-s-v1)" 1 "the dependent was never touched"
eq "$(sg_count after-s-v2)" 0 "and never made at v2"
for i in 1 4 8; do eq "$(sg_tag c$i-s)" v1 "c$i at v1"; done
hist_ok "the history: the failed revision and the automatic rollback" \
  "H[0]['command'] == 'automatic rollback from revision 2 to revision 1 (checks failed: up of web)' and H[0]['summary']['checks_passed'] is True and H[1]['rev'] == 2 and H[1]['summary']['checks_passed'] is False and H[1]['summary']['rollback_environment'] == ['up of web']"
run state history -C s -e dev --limit 2
out_has "automatic rollback from revision 2 to revision 1 (checks failed: up of web) by" "state history shows the rollback"
out_has "    resource checks failed (web: up)" "and the failed check"
M=$WORK/deploy.prom
check "metrics: not a success" grep -qx 'cairn_deploy_success{env="dev",command="apply"} 0' "$M"
check "metrics: one automatic rollback" grep -qx 'cairn_deploy_rollbacks{env="dev",kind="automatic"} 1' "$M"
check "metrics: the resource's failed check" grep -qx 'cairn_resource_check_success{env="dev",resource="web",check="up"} 0' "$M"
check "metrics: its attempts" grep -qx 'cairn_resource_check_attempts{env="dev",resource="web",check="up"} 1' "$M"
check "metrics: its latency" grep -q '^cairn_resource_check_latency_seconds{env="dev",resource="web",check="up"} [0-9.]*$' "$M"
check "metrics: no stack check" bash -c "! grep -q '^cairn_check_' '$M'"
run plan -C s -e dev
out_has '~ tags = {"ver" = "v1"} -> {"ver" = "v2"}' "the next plan shows the way forward again"

# --- the new version made healthy: it goes through ------------------------------
healthy v2
run apply -C s -e dev --auto-approve
expect_rc 0 "revision 4 passes"
eq "$(sg_tag web-s)" v2 "the sim at v2"
eq "$(sg_count after-s-v2)" 1 "the dependent follows"
eq "$(sg_tag c8-s)" v2 "and so does the chain"

# --- a first apply: no earlier revision passed ----------------------------------
write_stack t v9
run apply -C t -e dev --auto-approve
expect_rc 6 "a first apply whose resource check fails"
out_has "No revision before 1 passed its health checks: nothing was rolled back." "says so"
err_has "cairn: error: health check up of web failed: status 404, expected 200; the apply stopped" "what failed"
eq "$(sg_tag web-t)" v9 "what was applied stays"
eq "$(sg_count after-t-v9)" 0 "its dependent was not made"
hist_ok "no rollback in the history" "len(H) == 1 and H[0]['summary']['checks_passed'] is False" t

# --- a module check: the instance's status checks (the sim's admin endpoint) --------
write_inst() { # VERSION
  awsstack m <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.61.0.0/16 }
  sub: { type: aws.subnet, vpc_id: "\${net.id}", cidr_block: 10.61.1.0/24, availability_zone: us-east-1a }
  app:
    type: aws.instance
    ami: ami-0deb1a12c0ffee000
    subnet_id: "\${sub.id}"
    tags: { v: "$1" }
    checks:
      - { name: healthy, module: { expect: ok }, retries: 0, deadline: 5s }
YAML
}
inst_tag() { sim_resources | jq -r --arg i "$1" '.resources[] | select(.id == $i) | .tags.v'; }
write_inst v1
run apply -C m -e dev --auto-approve
expect_rc 0 "the instance passes its module check"
IID=$(state_id m app)
sim_patch "$IID" '{"attributes":{"instanceStatus":"impaired"}}'
write_inst v2
run apply -C m -e dev --auto-approve
expect_rc 6 "impaired after the update: exit 6"
err_has "health check healthy of app failed: status impaired, expected ok: system status ok, instance status impaired; the apply stopped" "what failed"
out_has "Health checks failed: rolling environment 'dev' back to revision 1, the last whose checks passed." "rolled back"
# still impaired: the rollback's own check fails; it is not rolled back in turn
err_has "cairn: error: revision 2 failed its health checks (healthy of app), and the rollback to revision 1 failed too (see above)" "the rollback's check failed too"
eq "$(inst_tag "$IID")" v1 "the instance has revision 1's tags again"
eq "$(state_attr m app .tags.v)" v1 "and so has the state"
hist_ok "revision 3 is the automatic rollback, not rolled back in turn" \
  "len(H) == 3 and H[0]['command'] == 'automatic rollback from revision 2 to revision 1 (checks failed: healthy of app)' and H[0]['summary']['resource_checks_passed'] is False" m
sim_patch "$IID" '{"attributes":{"instanceStatus":null}}'

kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null
done_testing
