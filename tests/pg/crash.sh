#!/usr/bin/env bash
# kill -9 of cairn during an apply with the state on PostgreSQL, right
# after CreateVpc / CreateSubnet reached the cloud and before the state
# recorded them: the intents are committed in PostgreSQL, and the next
# apply recovers the objects by their token instead of making them again.
# Then the connection itself is killed (pg_terminate_backend) during an
# apply: cairn connects again at its next transaction and finishes; and the
# server is restarted during an apply: the apply stops with the intent
# committed, and the next one recovers with nothing created twice.
. "$(dirname "$0")/../aws/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
start_sim --log --latency 700
export CAIRN_STATE_KEY=pg-test-key-not-secret
export CAIRN_STATE_URL=$(pg_new_schema crash)

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
  local pid=$!
  BG_PIDS+=("$pid")
  wait_until 60 "$1 answered" grep -q " $1 200 " "$WORK/sim.log"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

kill_after CreateVpc
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:vpc")] | length')" "1" "the VPC exists in the cloud"
eq "$(pg_sql "SELECT count(*) FROM crash.resources WHERE env = 'dev'")" "0" "but not in the state"
check "an intent is pending in PostgreSQL" test "$(pg_sql "SELECT count(*) FROM crash.intents")" -ge 1
check "the intent's payload is sealed" test "$(pg_sql "SELECT count(*) FROM crash.intents WHERE payload NOT LIKE 'cairn:v1:%'")" = 0

kill_after CreateSubnet
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crashes"
eq "$(sim_count_addr net)" "1" "one VPC, recovered"
eq "$(sim_count_addr sub)" "1" "one subnet, recovered"
eq "$(pg_sql "SELECT count(*) FROM crash.intents")" "0" "no intents left"
hist_ok "the two killed applies show as interrupted, each followed by a recovery" '[(h["command"], h["status"]) for h in H] == [("recover", "ok"), ("apply", "interrupted")] * 2'
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"

# the server kills cairn's connection while an apply is in flight: the next
# transaction finds the connection gone, connects again and goes on
cat >>s/stack.yaml <<'YAML'
  sub2:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.50.2.0/24
YAML
# intent_of ADDR: ADDR's intent is committed
intent_of() { [ "$(pg_sql "SELECT count(*) FROM crash.intents WHERE address = '$1'")" = 1 ]; }
before=$(grep -c " CreateSubnet " "$WORK/sim.log")
# the sim is stopped (SIGSTOP) until the connection has been killed, so the
# CreateSubnet that follows sub2's intent waits for it however slowly this
# runs; --refresh=false: that CreateSubnet is the apply's first request
kill -STOP "$SIM_PID"
"$CAIRN" apply -C s -e dev --auto-approve --refresh=false >"$WORK/bg.out" 2>"$WORK/bg.err" </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "sub2's intent committed" intent_of sub2
eq "$(grep -c " CreateSubnet " "$WORK/sim.log")" "$before" "CreateSubnet of sub2 not answered yet"
eq "$(pg_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cairn'")" "1" "cairn's connection killed"
kill -CONT "$SIM_PID"
wait "$A"; RA=$?
sed 's/^/#   killed connection: /' "$WORK/bg.err"
eq "$RA" "0" "the apply reconnected and finished"
eq "$(sim_count_addr sub2)" "1" "sub2 exists once"
eq "$(pg_sql "SELECT count(*) FROM crash.resources WHERE address = 'sub2'")" "1" "and is recorded"
eq "$(pg_sql "SELECT count(*) FROM crash.intents")" "0" "no intents left"

# PostgreSQL restarted during an apply: down when the result is to be
# recorded, so the apply stops with the intent committed; once the server
# is back, the next apply recovers the subnet instead of making another
cat >>s/stack.yaml <<'YAML'
  sub3:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.50.3.0/24
YAML
before=$(grep -c " CreateSubnet " "$WORK/sim.log")
kill -STOP "$SIM_PID" # as for sub2: the sim answers once the server is down
"$CAIRN" apply -C s -e dev --auto-approve --refresh=false >"$WORK/bg.out" 2>"$WORK/bg.err" </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "sub3's intent committed" intent_of sub3
eq "$(grep -c " CreateSubnet " "$WORK/sim.log")" "$before" "CreateSubnet of sub3 not answered yet"
pg_halt
kill -CONT "$SIM_PID"
wait "$A"; RA=$?
sed 's/^/#   server down: /' "$WORK/bg.err"
check "the apply fails while the server is down (exit $RA)" test "$RA" -ne 0
check "it says it cannot record the result" grep -qF "sub3: failed: cannot record in state" "$WORK/bg.err"
eq "$(sim_count_addr sub3)" "1" "the subnet was made in the cloud"
pg_run || exit 1
eq "$(pg_sql "SELECT count(*) FROM crash.intents WHERE address = 'sub3'")" "1" "its intent survived the restart"
run apply -C s -e dev --auto-approve
expect_rc 0 "the next apply, server back"
eq "$(sim_count_addr sub3)" "1" "sub3 recovered, not made twice"
eq "$(pg_sql "SELECT count(*) FROM crash.intents")" "0" "no intents left"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the restart"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
