#!/usr/bin/env bash
# The data services (aws.db_instance, aws.elasticache_replication_group,
# aws.eks_cluster, with the network they need) under injected faults and
# across kill -9: apply under throttling / 5xx / dropped connections
# converges with exactly one object per cairn address; an apply killed right
# after CreateDBInstance / CreateReplicationGroup / CreateCluster reached the
# cloud is recovered by the modules' recover (cairn:token tag), not repeated.
. "$(dirname "$0")/lib.sh" "$@"

write_stack() { # CIDR_PREFIX [PARTS: db cache k8s, default all]
  local parts=${2:-db cache k8s}
  awsstack s <<YAML
variables:
  pw: { type: string, sensitive: true }
resources:
  net:
    type: aws.vpc
    cidr_block: $1.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  sg:
    type: aws.security_group
    name: data
    vpc_id: "\${net.id}"
  dbnet:
    type: aws.db_subnet_group
    name: dbnet
    subnet_ids: "\${sub[*].id}"
  db:
    type: aws.db_instance
    identifier: orders
    engine: postgres
    instance_class: db.t3.micro
    allocated_storage: 20
    username: app
    password: "\${var.pw}"
    db_subnet_group_name: "\${dbnet.name}"
    vpc_security_group_ids: ["\${sg.id}"]
YAML
  case " $parts " in *" cache "*) cat >>s/stack.yaml <<YAML
  cachenet:
    type: aws.cache_subnet_group
    name: cachenet
    subnet_ids: "\${sub[*].id}"
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: sessions
    node_type: cache.t3.micro
    num_cache_clusters: 2
    automatic_failover: false
    subnet_group_name: "\${cachenet.name}"
    security_group_ids: ["\${sg.id}"]
YAML
  esac
  case " $parts " in *" k8s "*) cat >>s/stack.yaml <<YAML
  k8s:
    type: aws.eks_cluster
    name: main
    version: "1.29"
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "\${sub[*].id}"
YAML
  esac
  printf 'variables: {pw: "Pw-data-7c1e9f3a"}\n' >>s/dev.yaml
}
# one object per address in the state, and no cairn-tagged orphan
one_each() { # WHEN
  local addr
  for addr in $(state_sql s "select address from resources where env='dev'"); do
    eq "$(sim_count_addr "$addr")" "1" "$1: one object for $addr"
  done
  eq "$(state_sql s "select count(*) from resources where env='dev'")" "9" "$1: every address in the state"
  eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:address"] != null)] | length')" \
     "$(state_sql s "select count(*) from resources where env='dev'")" "$1: no orphaned objects"
}

# Every wait is bounded: each cairn run (run_within), the retries under
# faults (a deadline for all of them) and the wait for a create to reach
# the cloud (wait_until); a recovery that hangs fails the test with a
# message instead of running into meson's timeout.
# retry SECS CMD...: run_within CMD until it exits 0 (for plan: not 1), at
# most 7 times and for at most SECS seconds in all
retry() {
  local secs=$1 end tries=0 left
  shift
  end=$(($(date +%s) + secs))
  while :; do
    left=$((end - $(date +%s)))
    [ "$left" -gt 0 ] || { fail "cairn $* did not succeed within $secs s ($tries tries)"; return; }
    run_within "$left" "$@"
    [ "$RC" -eq 0 ] || { [ "$1" = plan ] && [ "$RC" -ne 1 ]; } || [ "$RC" -eq 124 ] && return
    tries=$((tries + 1))
    [ "$tries" -lt 7 ] || return
    echo "# $1 attempt $tries failed: $(grep -m1 failed: "$WORK/out")"
  done
}

# --- 1. faults --------------------------------------------------------------
start_sim --throttle-rate 0.3 --error-rate 0.05 --drop-rate 0.02 --log
write_stack 10.31
retry 240 apply -C s -e dev --auto-approve
expect_rc 0 "apply converges under faults"
retry 60 plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply under faults is empty"
check "faults were injected" grep -q -E " (503|500|dropped) " "$WORK/sim.log"
echo "# sim answered $(grep -c -E ' (503|500|dropped) ' "$WORK/sim.log") of $(wc -l <"$WORK/sim.log") requests with a fault"
one_each "faults"
for t in rds:db-instance elasticache:replication-group eks:cluster; do
  eq "$(sim_resources | jq --arg t "$t" '[.resources[] | select(.type == $t)] | length')" "1" "faults: one $t"
done
retry 180 destroy -C s -e dev --auto-approve
expect_rc 0 "destroy converges under faults"
eq "$(sim_count)" "0" "faults: the sim is empty"

# --- 2. kill -9 right after the create reached the cloud ----------------------
start_sim --log --latency 300
rm -rf s
creates() { grep -c " $1 200 " "$WORK/sim.log"; }
# kill_after ACTION: start an apply, kill -9 it once ACTION has been answered
# (each round adds one data resource to the stack, so the rounds are ordered:
# the next round's apply recovers the previous one's object)
kill_after() {
  local n i pid
  n=$(creates "$1")
  "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
  pid=$!
  BG_PIDS+=("$pid")
  reached() { [ "$(creates "$1")" -gt "$n" ] || ! kill -0 "$pid" 2>/dev/null; }
  wait_until 60 "$1 answered (or the apply ended)" reached "$1"
  check "the apply was still running at $1 (killed, not finished)" kill -0 "$pid"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  check "$1 reached the cloud before the kill" test "$(creates "$1")" -gt "$n"
  check "an intent is pending after the kill in $1" test "$(state_sql s "select count(*) from intents")" -ge 1
}
write_stack 10.32 db
kill_after CreateDBInstance
write_stack 10.32 "db cache"
kill_after CreateReplicationGroup
write_stack 10.32 "db cache k8s"
kill_after CreateCluster
run_within 180 apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crashes"
eq "$(state_sql s "select count(*) from intents")" "0" "no intents left"
one_each "crash"
for a in CreateDBInstance CreateReplicationGroup CreateCluster; do
  eq "$(creates $a)" "1" "one $a: recovered, not made again"
done
run_within 60 plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the crashes"
# each object recovered (not made again) with the id the state has: a
# change of action 'recover' in a recover revision, tied to the address
for a in db cache k8s; do
  hist_ok "history: $a recovered with its id" \
    "any(r['command'] == 'recover' and r['status'] == 'ok' and any(c['action'] == 'recover' and c['address'] == '$a' and c['id'] == '$(state_id s $a)' for c in r['changes']) for r in H)"
done
run_within 180 destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
