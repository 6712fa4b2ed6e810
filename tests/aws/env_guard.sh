#!/usr/bin/env bash
# The guardrails of apply and destroy hold for the env commands too
# (docs/environments.md, docs/guardrails.md), against cairn sim, with the
# example policies of docs/policies: `env create` runs the stack's
# policies on its plan: a deny (SSH open to the world, through a --var)
# refuses it with exit 4 and nothing written (no record, no state rows,
# nothing in the sim), text and --json (a policy_findings line); a
# warning is shown, the environment created and the warning kept with
# its revision; --plan-only shows the findings as plan does. `env
# destroy` and `env gc` run them as destroy does: a deny keeps the
# environment (exit 4; gc reports it failed and goes on). A name the
# stack gives approvals: env create and env destroy exit 5 (they apply
# no saved plan), gc skips it. The checks after env create as after an
# apply: kept with the revision; a failing stack or resource check is
# exit 6, the environment stays as created (nothing to roll back to).
# --lock-timeout is one rule for apply and env (ms to d, 0 to 10 years).
. "$(dirname "$0")/lib.sh" "$@"
start_sim
SRC=$(cd "$TESTS_DIR/../.." && pwd)

awsstack s <<'YAML'
variables:
  ssh_cidr: { type: string, default: 10.0.0.0/8 }
  team: { type: string, default: web }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: "${var.team}" } }
  web:
    type: aws.security_group
    name: "web-${env.name}"
    vpc_id: "${net.id}"
    ingress:
      - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: ["${var.ssh_cidr}"] }
    tags: { team: "${var.team}" }
YAML
mkdir -p s/policies
cp "$SRC"/docs/policies/no_open_admin_ports.lua "$SRC"/docs/policies/required_tags.lua s/policies/
jqs() { jq -e -s "$1" "$WORK/out" >/dev/null; } # the --json stream of the last run, read as a list
sim_env_count() { sim_resources | jq --arg e "$1" '[.resources[] | select(.tags["cairn:env"] == $e)] | length'; }
# nothing_of ENV DESCRIPTION: no trace of ENV: not listed, no row in the state, nothing in the sim
nothing_of() {
  local t n=0
  "$CAIRN" env list -C s --json >"$WORK/list.json" 2>/dev/null
  eq "$(jq --arg e "$1" '[.environments[] | select(.name == $e)] | length' "$WORK/list.json")" 0 "$2: env list lacks $1"
  eq "$(state_sql s "select count(*) from ephemeral_envs where name = '$1'")" 0 "$2: no record of $1"
  for t in resources revisions outputs intents changes applied_configs locks; do
    n=$((n + $(state_sql s "select count(*) from $t where env = '$1'")))
  done
  eq "$n" 0 "$2: no state rows of $1 (resources, revisions, outputs, intents, changes, applied_configs, locks)"
  # (taking the lock names the environment in envs, serial 0, as for any refused apply: no state of it)
  eq "$(state_sql s "select coalesce(max(serial), 0) from envs where name = '$1'")" 0 "$2: serial 0: nothing written for $1"
  eq "$(sim_env_count "$1")" 0 "$2: nothing of $1 in the sim"
}

# --- env create: a deny refuses it, nothing written ---------------------------
run apply -C s -e dev --auto-approve
expect_rc 0 "the base environment applies (its policies pass)"
out_lacks "Policies:" "no findings in dev"
run env create pr-1 --from dev --var ssh_cidr=0.0.0.0/0 --auto-approve -C s
expect_rc 4 "env create of what a policy denies: exit 4"
out_has "Policies: 1 deny, 0 warnings" "the findings after the plan"
out_has "  deny  policies/no_open_admin_ports.lua: web: ingress rule 1 lets 0.0.0.0/0 reach port 22" "the deny"
err_has "environment 'pr-1' was not created: env create refused: 1 policy finding denies it (see above); nothing was changed" "says why"
out_lacks "Apply complete" "nothing applied"
nothing_of pr-1 "a denied env create"

run env create pr-1 --from dev --var ssh_cidr=0.0.0.0/0 --auto-approve --json -C s
expect_rc 4 "env create --json of what a policy denies: exit 4"
check "--json: a policy_findings line with the deny" jqs \
  'map(select(.type == "policy_findings"))[0] | .["@level"] == "error" and .findings[0].level == "deny" and .findings[0].policy == "policies/no_open_admin_ports.lua" and .findings[0].address == "web"'
check "--json: the summary says exit 4" jqs 'last | .type == "summary" and .exit_code == 4'
check "--json: no environment line (nothing created)" jqs 'map(select(.type == "environment")) | length == 0'
nothing_of pr-1 "a denied env create --json"

# --plan-only shows the findings as plan does (its exit code unchanged)
run env create pr-1 --from dev --var ssh_cidr=0.0.0.0/0 --plan-only -C s
expect_rc 0 "--plan-only: the plan, with the deny shown"
out_has "  deny  policies/no_open_admin_ports.lua: web: ingress rule 1 lets 0.0.0.0/0 reach port 22" "--plan-only shows the deny"
run env create pr-1 --from dev --var ssh_cidr=0.0.0.0/0 --plan-only --json -C s
expect_rc 0 "--plan-only --json"
check "--plan-only --json: a policy_findings line" jqs 'map(select(.type == "policy_findings")) | length == 1'
nothing_of pr-1 "--plan-only"

# --- a warning: shown, created, kept with the revision ------------------------
run env create pr-2 --from dev --var team= --auto-approve -C s
expect_rc 0 "env create with a warning: created"
out_has "Policies: 0 deny, 2 warnings" "the warnings are counted"
out_has "  warn  policies/required_tags.lua: net: missing tag 'team'" "the warning is shown"
out_has "Environment 'pr-2' created from 'dev'" "created"
eq "$(sim_env_count pr-2)" 2 "pr-2's objects in the sim"
"$CAIRN" state history -C s -e pr-2 --json >"$WORK/hist.json"
eq "$(jq -r '.[0].command + " " + (.[0].summary.policy_warnings | length | tostring)' "$WORK/hist.json")" "env create 2" \
  "the warnings are kept with the creation's revision"
run env create pr-3 --from dev --var team= --auto-approve --json -C s
expect_rc 0 "env create --json with a warning: created"
check "--json: a policy_findings line of level warn" jqs \
  'map(select(.type == "policy_findings"))[0] | .["@level"] == "warn" and (.findings | length) == 2 and .findings[0].level == "warn"'
check "--json: created" jqs 'map(select(.type == "environment"))[0].action == "created"'

# --- env destroy and env gc run them as destroy does --------------------------
cat >s/policies/keep.lua <<'LUA'
-- environments named keep-* are never torn down
return function(plan)
  local f = {}
  for _, rc in ipairs(plan.changes) do
    if rc.action == "delete" and plan.environment:match("^keep%-") then
      f[#f + 1] = { level = "deny", address = rc.address, message = "keep-* environments are kept" }
    end
  end
  return f
end
LUA
run env create keep-1 --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "keep-1 created (a policy on deletes does not stop a create)"
run destroy -C s -e keep-1 --auto-approve
expect_rc 4 "cairn destroy -e keep-1: denied"
run env destroy keep-1 --auto-approve -C s
expect_rc 4 "env destroy of what a policy denies: exit 4"
out_has "  deny  policies/keep.lua: net: keep-* environments are kept" "the deny"
err_has "env destroy refused: 2 policy findings deny it (see above); nothing was changed" "says why"
eq "$(sim_env_count keep-1)" 2 "keep-1's objects are still in the sim"
eq "$(state_sql s "select count(*) from ephemeral_envs where name = 'keep-1'")" 1 "keep-1 still recorded"
run env destroy keep-1 --auto-approve --json -C s
expect_rc 4 "env destroy --json: exit 4"
check "env destroy --json: a policy_findings line" jqs \
  'map(select(.type == "policy_findings"))[0].findings[0].level == "deny" and (last | .exit_code == 4)'
run env create gone-1 --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "gone-1 created"
sleep 1.2
run env gc -C s
expect_rc 1 "env gc: one environment a policy keeps: exit 1"
err_has "env gc refused: 2 policy findings deny it (see above); nothing was changed" "gc says why"
out_has "env gc: keep-1: failed (see the error above); the next gc tries again" "keep-1 failed"
out_has "Environment 'gone-1' destroyed and forgotten." "gc goes on with the others"
out_has "env gc: 1 destroyed, 0 skipped, 1 failed." "the counts"
eq "$(sim_env_count keep-1)" 2 "keep-1's objects are still in the sim after gc"
eq "$(sim_env_count gone-1)" 0 "gone-1 is gone"
rm s/policies/keep.lua
run env gc -C s --json
expect_rc 0 "without the policy, gc destroys keep-1"
eq "$(sim_env_count keep-1)" 0 "keep-1 is gone"

# --- approvals: the env commands apply no saved plan ---------------------------
run env create appr-1 --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "appr-1 created while the stack asks no approvals of it"
cp s/stack.yaml s/stack.yaml.orig
cat >>s/stack.yaml <<'YAML'
environments:
  appr-1: { approvals: { required: 1 } }
  appr-2: { approvals: { required: 2 } }
YAML
run env create appr-2 --from dev --auto-approve -C s
expect_rc 5 "env create of a name that needs approvals: exit 5"
err_has "s/stack.yaml:15:3: environment 'appr-2' needs 2 approvals (environments.appr-2.approvals in the stack), and 'cairn env create' applies no saved plan" "says why, where"
nothing_of appr-2 "env create refused for approvals"
run env create appr-2 --from dev --plan-only -C s
expect_rc 0 "--plan-only shows the plan of a name that needs approvals"
out_has "Plan only: environment 'appr-2' was not created." "as before"
err_has "cairn: warning: environment 'appr-2' needs 2 approvals (environments.appr-2.approvals in the stack): 'cairn env create' will refuse it" "and warns that the create will be refused"
run env destroy appr-1 --auto-approve -C s
expect_rc 5 "env destroy of an environment that needs approvals: exit 5"
err_has "environment 'appr-1' needs 1 approval (environments.appr-1.approvals in the stack), and 'cairn env destroy' applies no saved plan" "says why"
sleep 1.2
run env gc -C s
expect_rc 0 "env gc skips an environment that needs approvals"
out_has "env gc: appr-1: skipped: s/stack.yaml:14:3: environment 'appr-1' needs 1 approval" "gc says why"
eq "$(sim_env_count appr-1)" 2 "appr-1's objects are still in the sim"
mv s/stack.yaml.orig s/stack.yaml
run env destroy appr-1 --auto-approve -C s
expect_rc 0 "without the approvals, env destroy goes on"

# --- checks after env create, as after apply -----------------------------------
GOOD="http://127.0.0.1:$PORT/_sim/resources"
BAD="http://127.0.0.1:1/health"
awsstack c <<'YAML'
variables:
  health: { type: string }
  rhealth: { type: string }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: "web-${env.name}"
    vpc_id: "${net.id}"
    checks:
      - { name: up, http: { url: "${var.rhealth}" }, retries: 0 }
checks:
  - name: api
    http: { url: "${var.health}", status: 200 }
    retries: 0
    deadline: 5s
YAML
run env create ok-1 --from dev --var health=$GOOD --var rhealth=$GOOD --auto-approve -C c
expect_rc 0 "env create whose checks pass"
out_has "Running 1 health check..." "the stack's checks run after the create"
out_has "  ok    api (http $GOOD, 1 attempt," "and pass"
out_has "Resource health checks:" "the resource's checks are shown"
"$CAIRN" state history -C c -e ok-1 --json >"$WORK/hist.json"
eq "$(jq -r '.[0].command + " " + (.[0].summary.checks_passed | tostring)' "$WORK/hist.json")" "env create true" "kept with the creation's revision"
run env create bad-1 --from dev --var health=$BAD --var rhealth=$GOOD --auto-approve -C c
expect_rc 6 "env create whose stack check fails: exit 6"
out_has "  FAIL  api (http $BAD" "the failed check"
err_has "health checks failed after revision" "the error names it"
out_has "Environment 'bad-1' was created and failed its health checks; a new environment has no earlier revision to roll back to: it stays as created." "says what became of it"
eq "$(state_sql c "select count(*) from ephemeral_envs where name = 'bad-1'")" 1 "bad-1 stays recorded"
eq "$(sim_env_count bad-1)" 2 "with its objects"
"$CAIRN" state history -C c -e bad-1 --json >"$WORK/hist.json"
eq "$(jq -r '.[0].summary.checks_passed' "$WORK/hist.json")" false "its revision's checks failed"
run env create bad-2 --from dev --var health=$BAD --var rhealth=$GOOD --auto-approve --json -C c
expect_rc 6 "env create --json whose check fails: exit 6"
check "--json: a health_checks line, failed" jqs 'map(select(.type == "health_checks"))[0].passed == false'
check "--json: the environment is unhealthy" jqs 'map(select(.type == "environment"))[0].action == "unhealthy"'
check "--json: exit 6 in the summary" jqs 'last | .exit_code == 6'
run env create bad-3 --from dev --var health=$GOOD --var rhealth=$BAD --auto-approve -C c
expect_rc 6 "env create whose resource check fails: exit 6"
out_has "Resource health checks:" "the resource's checks are shown"
out_lacks "Running 1 health check" "the stack's checks do not run after a failed apply"
for e in bad-1 bad-2 bad-3; do
  run env destroy $e --auto-approve -C c
  expect_rc 0 "an unhealthy $e is destroyed"
done

# --- --lock-timeout: one rule for apply and env ---------------------------------
for d in 500ms 1d 0; do
  run apply -C s -e dev --auto-approve --lock-timeout $d
  expect_rc 0 "apply --lock-timeout $d"
  run env create lt-1 --from dev --auto-approve --lock-timeout $d -C s
  expect_rc 0 "env create --lock-timeout $d"
  run env destroy lt-1 --auto-approve --lock-timeout $d -C s
  expect_rc 0 "env destroy --lock-timeout $d"
done
for d in 11y -1s 3651d 1.5w; do
  run apply -C s -e dev --auto-approve --lock-timeout=$d
  expect_rc 1 "apply --lock-timeout $d refused"
  err_has "--lock-timeout expects a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d, got '$d'" "apply: says what it takes"
  run env create lt-2 --from dev --auto-approve --lock-timeout=$d -C s
  expect_rc 1 "env create --lock-timeout $d refused"
  err_has "--lock-timeout expects a duration from 0 to 10 years in ms, s, m, h or d, like 500ms, 30s, 2m or 1d, got '$d'" "env: says what it takes"
  nothing_of lt-2 "env create --lock-timeout $d"
done
done_testing
