#!/usr/bin/env bash
# kill -9 of cairn right after CreateVpc / CreateSubnet reached the cloud and
# before the state recorded them: the next apply recovers the objects by
# their cairn:token tag (the module's recover) instead of making them again.
# After each kill the test checks where it landed: what the cloud has, what
# the state recorded, and the pending intent, whose token is the one the
# object carries. Every wait is bounded: a recovery that hangs fails the
# test within a minute, with a message.
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

answered() { grep -q " $1 200 " "$WORK/sim.log"; }
kill_after() { # ACTION: start apply, kill -9 it once ACTION has been answered
  "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
  local pid=$!
  BG_PIDS+=("$pid")
  wait_until 30 "$1 answered while the apply runs" answered "$1"
  check "the apply was still running at $1 (killed, not finished)" kill -0 "$pid"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
cloud_id() { sim_resources | jq -r --arg a "$1" '[.resources[] | select(.tags["cairn:address"] == $a)] | .[0].id // empty'; }
cloud_token() { sim_resources | jq -r --arg a "$1" '[.resources[] | select(.tags["cairn:address"] == $a)] | .[0].tags["cairn:token"] // empty'; }
intents() { state_sql s "select address || ' ' || op from intents where env='dev' order by address"; }
intent_token() { state_sql s "select token from intents where env='dev' and address='$1'"; }

# 1. killed after CreateVpc: the VPC is in the cloud, not in the state
kill_after CreateVpc
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:vpc")] | length')" "1" "kill 1: the VPC exists in the cloud"
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:subnet")] | length')" "0" "kill 1: no subnet yet"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "0" "kill 1: nothing in the state"
eq "$(intents)" "net create" "kill 1: one intent pending, the VPC's create"
VPC_TOKEN=$(cloud_token net)
check "kill 1: the VPC carries a token" test -n "$VPC_TOKEN"
eq "$(intent_token net)" "$VPC_TOKEN" "kill 1: the intent's token is the one the VPC carries"
VPC=$(cloud_id net)
check "kill 1: the VPC's id ($VPC)" test -n "$VPC"

# 2. killed after CreateSubnet: this apply first recovered the VPC (recorded
# with the id made before kill 1, its intent gone), then made the subnet
kill_after CreateSubnet
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:vpc")] | length')" "1" "kill 2: still one VPC"
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:subnet")] | length')" "1" "kill 2: the subnet exists in the cloud"
eq "$(state_sql s "select address || ' ' || id from resources where env='dev'")" "net $VPC" \
  "kill 2: the state has the recovered VPC with its id, and no subnet"
eq "$(intents)" "sub create" "kill 2: one intent pending, the subnet's create (the VPC's was cleared)"
SUB=$(cloud_id sub)
check "kill 2: the subnet's id ($SUB)" test -n "$SUB"
eq "$(intent_token sub)" "$(cloud_token sub)" "kill 2: the intent's token is the one the subnet carries"
check "kill 2: the subnet is in the recovered VPC" \
  test "$(sim_resources | jq -r --arg i "$SUB" '.resources[] | select(.id == $i) | .parent_id')" = "$VPC"

run_within 60 apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crashes"
eq "$(sim_count_addr net)" "1" "one VPC, recovered"
eq "$(sim_count_addr sub)" "1" "one subnet, recovered"
eq "$(state_sql s "select address || ' ' || id from resources where env='dev' order by address")" "net $VPC
sub $SUB" "both recorded with the objects made before the kills"
eq "$(state_sql s "select count(*) from intents")" "0" "no intents left"
# newest first: the recovery of the subnet (this apply; it changed nothing
# else), kill 2's interrupted apply, the recovery of the VPC it made first,
# kill 1's interrupted apply
hist_ok "the revisions: kill 1, the VPC recovered, kill 2, the subnet recovered" \
  "[(r['command'], r['status']) for r in H] == [('recover', 'ok'), ('apply', 'interrupted'), ('recover', 'ok'), ('apply', 'interrupted')]"
hist_ok "the subnet recovered with its id by the apply after kill 2" \
  "[(c['action'], c['address'], c['id']) for c in H[0]['changes']] == [('recover', 'sub', '$SUB')]"
hist_ok "the VPC recovered with its id by the apply of kill 2" \
  "[(c['action'], c['address'], c['id']) for c in H[2]['changes']] == [('recover', 'net', '$VPC')]"
run_within 60 plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"
run_within 60 destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
