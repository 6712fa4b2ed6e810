#!/usr/bin/env bash
# kill -9 of `cairn destroy` right after a Delete* call was accepted, for
# every delete call of a stack, then the next run:
#   apply   must succeed and converge: the plan after it is empty, and the
#           state names exactly what exists in the sim (one live object per
#           address, none being deleted);
#   destroy must succeed and leave nothing in the sim and nothing in state.
# The stack has every type whose delete is asynchronous (an RDS instance,
# an ElastiCache replication group, an EKS cluster and node group: each is
# `deleting` a while after its delete was accepted) and the network under
# them: a VPC, two subnets, a security group, the two subnet groups (10
# resources, 10 delete calls). DESTROY_CRASH_STACK=example runs the same
# trials on environments/ (dev: 16 resources, 15 delete calls; slower).
#
# An object left deleting by the kill is frozen in that status (POST
# /_sim/resources/ID {"status": ...} drops its pending "gone"), so that the
# next run certainly finds it deleting; once that run has described it at
# least twice (it is waiting), the object is let go (DELETE
# /_sim/resources/ID, as its deletion finishing). Every cairn run is bounded
# in time: a recovery that hangs fails the test, not meson's timeout.
SELF=$(readlink -f "$0")
. "$(dirname "$0")/lib.sh" "$@"

RUN_LIMIT=90 # seconds, for any one cairn run
STACK=${DESTROY_CRASH_STACK:-small}
if [ "$STACK" = example ]; then
  STACK_NAME=shop
  KILL_POINTS="DeleteNodegroup DeleteCluster DeleteDBInstance DeleteReplicationGroup DeleteDBSubnetGroup
    DeleteCacheSubnetGroup DeleteSecurityGroup:1 DeleteSecurityGroup:2 DeleteRouteTable:1 DeleteRouteTable:2
    DeleteSubnet:1 DeleteSubnet:2 DeleteSubnet:3 DeleteInternetGateway DeleteVpc"
else
  STACK_NAME=crash
  KILL_POINTS="DeleteNodegroup DeleteCluster DeleteDBInstance DeleteReplicationGroup DeleteDBSubnetGroup
    DeleteCacheSubnetGroup DeleteSecurityGroup DeleteSubnet:1 DeleteSubnet:2 DeleteVpc"
fi
LAST_POINT=DeleteVpc # nothing follows it: cairn may be done before the kill

# The trials take 20 s per kill point, mostly waiting for the sim's
# asynchronous changes (a second or two each, polled by the modules):
# the kill points are shared among LANES runs of this script at the same
# time (--lane POINTS), each with a sim and a stack of its own.
if [ "${2:-}" != --lane ]; then
  LANES=${DESTROY_CRASH_LANES:-5}
  lane_points=()
  i=0
  for point in $KILL_POINTS; do
    lane_points[i % LANES]+="$point "
    i=$((i + 1))
  done
  pids=()
  for l in "${!lane_points[@]}"; do
    bash "$SELF" "$CAIRN" --lane "${lane_points[l]}" >"$WORK/lane$l.out" 2>&1 &
    pids[l]=$!
    BG_PIDS+=("${pids[l]}")
  done
  for l in "${!lane_points[@]}"; do
    wait "${pids[l]}"
    rc=$?
    sed "s/^not ok - /not ok - [lane $l] /; s/^# /# [lane $l] /" "$WORK/lane$l.out"
    summary=$(sed -n 's/^# \([0-9]*\) checks, \([0-9]*\) failed$/\1 \2/p' "$WORK/lane$l.out" | tail -1)
    if [ -z "$summary" ]; then
      fail "lane $l (${lane_points[l]}) ended without a summary (exit $rc)"
      continue
    fi
    CHECKS=$((CHECKS + ${summary% *}))
    FAILS=$((FAILS + ${summary#* }))
    [ "$rc" -eq 0 ] || [ "${summary#* }" -gt 0 ] || fail "lane $l exited $rc with no failed check"
  done
  done_testing
fi

# ---- one lane: the kill points in $3 ------------------------------------------
# every answer 60 ms after its request: a kill 20 ms after a delete's answer
# mostly lands before the destroy's next call is answered (a later one is a
# kill a call or two further on); the destroy cannot finish before the kill
# whatever the machine's speed: the VPC's delete, the last call, is refused
# (DependencyViolation, which the module waits out) until the kill is done
start_sim --log --latency 60
if [ "$STACK" = example ]; then
  cp -r "$TESTS_DIR/../../environments" s
  rm -rf s/.cairn s/out
  sed -i "s|http://127.0.0.1:4566|$(sim_url)|" s/*.yaml
  # no instance hosts here (tests/aws/example_hosts.sh has them): no machines
  sed -i "s/^variables:/variables:\n  configure_hosts: false/" s/{dev,staging,prod,dr}.yaml
else
  awsstack s <<'YAML'
stack: crash
resources:
  net:
    type: aws.vpc
    cidr_block: 10.44.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  sg:
    type: aws.security_group
    name: data
    vpc_id: "${net.id}"
  dbnet:
    type: aws.db_subnet_group
    name: dbnet
    subnet_ids: "${sub[*].id}"
  db:
    type: aws.db_instance
    identifier: orders
    engine: postgres
    instance_class: db.t3.micro
    username: app
    password: Pw-crash-5e7a1c
    db_subnet_group_name: "${dbnet.name}"
    vpc_security_group_ids: ["${sg.id}"]
  cachenet:
    type: aws.cache_subnet_group
    name: cachenet
    subnet_ids: "${sub[*].id}"
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: sessions
    node_type: cache.t3.micro
    subnet_group_name: "${cachenet.name}"
    security_group_ids: ["${sg.id}"]
  k8s:
    type: aws.eks_cluster
    name: main
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "${sub[*].id}"
  workers:
    type: aws.eks_nodegroup
    cluster_name: "${k8s.name}"
    name: workers
    node_role_arn: "arn:aws:iam::123456789012:role/nodes"
    subnet_ids: "${sub[*].id}"
    scaling: { min_size: 1, max_size: 2, desired_size: 1 }
YAML
fi

# the type in the sim of what an asynchronous delete action deletes
async_type() {
  case $1 in
    DeleteDBInstance) echo rds:db-instance ;;
    DeleteReplicationGroup) echo elasticache:replication-group ;;
    DeleteCluster) echo eks:cluster ;;
    DeleteNodegroup) echo eks:nodegroup ;;
  esac
}
describe_of() {
  case $1 in
    rds:db-instance) echo DescribeDBInstances ;;
    elasticache:replication-group) echo DescribeReplicationGroups ;;
    eks:cluster) echo DescribeCluster ;;
    eks:nodegroup) echo DescribeNodegroup ;;
  esac
}
answered() { grep -c " $1 200 " "$WORK/sim.log"; }            # ACTION: accepted so far
asked_since() { tail -n +"$(($1 + 1))" "$WORK/sim.log" | grep -c " $2 "; } # LINE ACTION
rows() { state_sql s "select count(*) from resources where env='dev'"; }
# what the stack has in the sim: "address status" lines, sorted
sim_objects() {
  sim_resources | jq -r --arg s "$STACK_NAME" \
    '.resources[] | select(.tags["cairn:stack"] == $s) | "\(.tags["cairn:address"]) \(.status)"' | sort
}
run_bounded() { timeout -k 5 "$RUN_LIMIT" "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?; }

# kill_destroy ACTION[:N]: start a destroy, kill -9 it once the Nth ACTION
# call of this run (default the first) has been accepted (stopped at once,
# killed once what it left deleting is frozen). An asynchronous delete's
# object must be caught deleting (1 to 1.5 s in the sim): on a machine so
# slow that it was gone first, the stack is applied again and the kill
# point tried again (at most 3 times).
accepted_enough() { [ "$(answered "$KILL_ACTION")" -ge "$KILL_AT" ]; }
kill_destroy() {
  local action=${1%%:*} nth=1 t addr what=$1 try
  case $1 in *:*) nth=${1##*:} ;; esac
  t=$(async_type "$action")
  for try in 1 2 3; do
    KILL_ACTION=$action KILL_AT=$(($(answered "$action") + nth))
    if [ "$action" != "$LAST_POINT" ]; then
      sim_fault '{"action": "DeleteVpc", "service": "ec2", "code": "DependencyViolation",
        "message": "held by the test until the destroy is killed"}' || fail "$what: the DeleteVpc hold was refused"
    fi
    stop_destroy_when accepted_enough -C s -e dev --auto-approve
    sim_faults_clear
    [ -z "$t" ] || echo "$FROZEN_TYPES" | grep -qx "$t" && break
    echo "# $what: the $t was gone before it could be frozen (try $try); again"
    # what the kill did leave deleting is frozen: let it go once the apply waits for it
    recover apply
    expect_rc 0 "$what: apply before trying again"
  done
  check "$what: accepted before the kill" accepted_enough
  if [ "$action" != "$LAST_POINT" ]; then
    check "$what: the kill landed before the destroy finished" sh -c "! grep -q 'Destroy complete' '$WORK/bg.out'"
  fi
  if [ -n "$t" ]; then
    # deleting in the sim, alive in the state: the window this test is about
    addr=$(sim_resources | jq -r --arg t "$t" '.resources[] | select(.type == $t) | .tags["cairn:address"]')
    check "$what: the kill left the $t deleting" sh -c "echo '$FROZEN_TYPES' | grep -qx '$t'"
    eq "$(state_sql s "select count(*) from resources where env='dev' and address='$addr'")" "1" \
      "$what: the kill left $addr in the state"
  fi
}

# recover CMD: run cairn CMD while objects are frozen deleting; let each
# go once it has described its kind twice (it is waiting; all of them after
# 10 s, or once it has stopped); kill it after RUN_LIMIT seconds
described_twice() { [ "$(asked_since "$RECOVER_START" "$(describe_of "${FROZEN_TYPE[$1]}")")" -ge 2 ]; }
recover() {
  RECOVER_START=$(wc -l <"$WORK/sim.log")
  run_letting_go 10 described_twice "$1" -C s -e dev --auto-approve
}

# the state names what exists: one live object per recorded address (its
# id in the sim's), no object of the stack that the state does not name
converged() { # WHAT
  local addr id
  eq "$(sim_objects | awk '{print $1}' | uniq -d)" "" "$1: one object per address"
  eq "$(sim_objects | awk '{print $1}')" \
     "$(state_sql s "select address from resources where env='dev' and type not like 'random.%' order by address" | sort)" \
     "$1: the state names exactly the stack's objects in the sim"
  eq "$(sim_objects | grep -ci ' deleting$')" "0" "$1: nothing is being deleted"
  while IFS='|' read -r addr id; do
    eq "$(sim_resources | jq --arg a "$addr" --arg i "$id" \
      '[.resources[] | select(.tags["cairn:address"] == $a and (.id | contains($i)))] | length')" "1" \
      "$1: $addr is $id in the sim"
  done < <(state_sql s "select address, id from resources where env='dev' and type not like 'random.%'")
  eq "$(state_sql s "select count(*) from intents")" "0" "$1: no intents left"
}

run_bounded apply -C s -e dev --auto-approve
expect_rc 0 "apply the stack"
TOTAL=$(rows)
converged "after the first apply"
started=$SECONDS
for point in $3; do
  # 1. the next run is an apply
  kill_destroy "$point"
  frozen_n=$(echo $FROZEN | wc -w)
  recover apply
  expect_rc 0 "$point, then apply"
  if [ "$frozen_n" -gt 0 ]; then
    err_has "is being deleted; waiting until it is gone" "$point, then apply: waits out what is being deleted"
  fi
  eq "$(rows)" "$TOTAL" "$point, then apply: every resource in the state"
  run_bounded plan -C s -e dev --detailed-exitcode
  expect_rc 0 "$point, then apply: the plan after it is empty"
  converged "$point, then apply"
  # 2. the next run is a destroy
  kill_destroy "$point"
  recover destroy
  expect_rc 0 "$point, then destroy"
  eq "$(rows)" "0" "$point, then destroy: nothing in the state"
  eq "$(state_sql s "select count(*) from intents")" "0" "$point, then destroy: no intents left"
  eq "$(sim_count)" "0" "$point, then destroy: nothing in the sim"
  echo "# $point: done at $((SECONDS - started)) s (frozen deleting: $frozen_n)"
  run_bounded apply -C s -e dev --auto-approve
  expect_rc 0 "$point: apply again"
done
run_bounded destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
