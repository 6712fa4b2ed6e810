#!/usr/bin/env bash
# Ten pipelines at once on one stack and one state file: ten `env create`
# of the example stack, then ten `env destroy`, all started together
# against one sim. Every one succeeds; each environment has its own lock
# (each run's revision was running while the others were: no run waited
# for another's apply); the state and the sim hold exactly what they should.
. "$(dirname "$0")/lib.sh" "$@"

start_sim
cp -r "$TESTS_DIR/../../environments" ex
# no machines: this sim has no instance hosts (aws-example_hosts has them)
sed -i "s/^variables:/variables:\n  configure_hosts: false/" ex/{dev,staging,prod,dr}.yaml
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
# the state exists already, as it does in a pipeline's stack: dev applied
run apply -C ex -e dev --auto-approve
expect_rc 0 "apply dev"

# all_overlap COMMAND: the revisions of COMMAND (one per environment) were
# all running at one moment: the latest start is before the earliest end
all_overlap() {
  state_sql ex "select case when (select max(started_at) from revisions where command = '$1') <=
                       (select min(finished_at) from revisions where command = '$1') then 1 else 0 end"
}

# hold_all WHAT: every run is held in the cloud (by the fault rule set
# before they start) until all ten hold their environment's lock at the same
# moment, seen in the state's locks; none has ended by then; then let go. A
# run that waited for another's would never let the count reach ten (the
# test fails after 60 s). With all ten running at one moment, all_overlap's
# second-resolution check cannot miss however late a run starts.
all_locked() { [ "$(state_sql ex "select count(*) from locks where env like 'pr-%'")" = 10 ]; }
hold_all() {
  local p alive=0
  wait_until 60 "the ten ${1}s hold their locks at once" all_locked
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
  eq "$alive" 10 "no $1 ended before all ten held their locks"
  sim_faults_clear
}

# the creates: held at their internet gateway's attach (refused as not yet
# known, which the module waits out for up to 120 s)
sim_fault '{"action": "AttachInternetGateway", "service": "ec2", "code": "InvalidInternetGatewayID.NotFound",
  "message": "held by the test until all ten runs hold their locks"}' || fail "the attach's hold was refused"
pids=()
for i in $(seq 1 10); do
  "$CAIRN" env create "pr-$i" --from dev --ttl 1h --auto-approve -C ex >"create-$i.out" 2>"create-$i.err" </dev/null &
  pids+=($!)
done
BG_PIDS+=("${pids[@]}")
hold_all create
for i in $(seq 1 10); do
  wait "${pids[$((i - 1))]}"
  r=$?
  eq "$r" "0" "env create pr-$i"
  [ "$r" -eq 0 ] || sed 's/^/#   err: /' "create-$i.err" | head -5
  check "pr-$i applied" grep -q "Apply complete! Resources: 16 added" "create-$i.out"
done
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "10" "ten environments recorded"
eq "$(state_sql ex "select count(distinct env) || ' ' || count(*) from resources where env like 'pr-%'")" "10 160" "16 resources each"
eq "$(state_sql ex "select count(*) from revisions where command = 'env create' and status = 'ok'")" "10" "ten revisions, all ok"
eq "$(all_overlap 'env create')" "1" "the ten creates ran at the same time (none waited for another)"
eq "$(sim_resources | jq '[.resources[] | select(.type == "rds:db-instance")] | length')" "11" "a database each, and dev's"
eq "$(state_sql ex "select count(*) from locks")" "0" "every lock released"

# the destroys: held at their VPC's delete, the last (DependencyViolation,
# waited out for up to 20 minutes)
sim_fault '{"action": "DeleteVpc", "service": "ec2", "code": "DependencyViolation",
  "message": "held by the test until all ten runs hold their locks"}' || fail "the VPC delete's hold was refused"
pids=()
for i in $(seq 1 10); do
  "$CAIRN" env destroy "pr-$i" --auto-approve -C ex >"destroy-$i.out" 2>"destroy-$i.err" </dev/null &
  pids+=($!)
done
BG_PIDS+=("${pids[@]}")
hold_all destroy
for i in $(seq 1 10); do
  wait "${pids[$((i - 1))]}"
  r=$?
  eq "$r" "0" "env destroy pr-$i"
  [ "$r" -eq 0 ] || sed 's/^/#   err: /' "destroy-$i.err" | head -5
  check "pr-$i forgotten" grep -q "Environment 'pr-$i' destroyed and forgotten." "destroy-$i.out"
done
eq "$(all_overlap 'env destroy')" "1" "the ten destroys ran at the same time"
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "0" "none recorded"
eq "$(state_sql ex "select count(*) from resources where env like 'pr-%'")" "0" "none of their resources in the state"
eq "$(state_sql ex "select count(*) from resources where env = 'dev'")" "16" "dev untouched"
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:env"] != null and .tags["cairn:env"] != "dev")] | length')" "0" "nothing of theirs left in the sim"
eq "$(sim_resources | jq '[.resources[] | select(.type == "rds:db-instance")] | length')" "1" "dev's database alone"
done_testing
