#!/usr/bin/env bash
# kill -9 of cairn right after CreateVpc / CreateSubnet reached the cloud and
# before the state recorded them: the next apply recovers the objects by
# their cairn:token tag (the module's recover) instead of making them again.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log --latency 700

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.50.0.0/16
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.50.1.0/24
YAML

kill_after() { # ACTION: start apply, kill -9 it once ACTION has been answered
  "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
  local pid=$! i
  for i in $(seq 1 200); do
    grep -q " $1 200 " "$WORK/sim.log" && break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

kill_after CreateVpc
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:vpc")] | length')" "1" "the VPC exists in the cloud"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "0" "but not in the state"
check "an intent is pending" test "$(state_sql s "select count(*) from intents")" -ge 1

kill_after CreateSubnet
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crashes"
eq "$(sim_count_addr net)" "1" "one VPC, recovered"
eq "$(sim_count_addr sub)" "1" "one subnet, recovered"
eq "$(state_sql s "select count(*) from intents")" "0" "no intents left"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
