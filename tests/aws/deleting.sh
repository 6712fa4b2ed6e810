#!/usr/bin/env bash
# Objects being deleted (an RDS instance, an ElastiCache replication group,
# an EKS cluster, an EKS node group) met by a create or a delete, besides
# refresh (tests/aws/destroy_crash.sh):
# 1. A create whose name is held by an object being deleted is refused by
# the cloud while the deletion lasts (DBInstanceAlreadyExists,
# ReplicationGroupAlreadyExists, ResourceInUseException): the module waits
# until the old object is gone and creates again; apply succeeds with one
# new object per address, made by this run. The old objects are cairn's
# own: a destroy of them is stopped once their deletes were accepted, their
# deleting status made to last until the test lets them go (freeze, then
# run_letting_go once each create has been refused: tests/aws/lib.sh), and
# their rows forgotten (`state rm`).
# 2. A plan meeting an object left deleting (and recorded) by a killed
# destroy does not wait: it plans a create and writes nothing; the apply
# after it waits the deletion out and creates it.
# 3. A destroy that does not refresh (--refresh=false: the deletes meet
# the objects as they are) after someone else started their deletes: a
# delete refused because the object is already being deleted
# (InvalidDBInstanceState, InvalidReplicationGroupState, and for the node
# group a ResourceInUseException from a fault rule: the sim accepts a
# second DeleteNodegroup) waits until it is gone; nothing is left.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.45.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
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
    password: Pw-create-2b8d4f
    db_subnet_group_name: "${dbnet.name}"
  cachenet:
    type: aws.cache_subnet_group
    name: cachenet
    subnet_ids: "${sub[*].id}"
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: sessions
    node_type: cache.t3.micro
    subnet_group_name: "${cachenet.name}"
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
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"

# what holds the name, by address: its sim id and cairn:token
sim_of() { sim_resources | jq -r --arg a "$1" '.resources[] | select(.tags["cairn:address"] == $a) | .id'; }
token_of() { sim_resources | jq -r --arg a "$1" '.resources[] | select(.tags["cairn:address"] == $a) | .tags["cairn:token"]'; }
answered() { grep -c " $1 $2 " "$WORK/sim.log"; } # ACTION STATUS-REGEX
declare -A delete=([db]=DeleteDBInstance [cache]=DeleteReplicationGroup [k8s]=DeleteCluster [workers]=DeleteNodegroup)
declare -A create=([db]=CreateDBInstance [cache]=CreateReplicationGroup [k8s]=CreateCluster [workers]=CreateNodegroup)

# the node group and the cluster are two rounds: a node group's create
# needs its cluster ACTIVE, so the cluster cannot be held at the same time
# (its round deletes the node group first, and makes both again)
for round in "db cache workers" "k8s"; do
  # a destroy of these, stopped once their deletes were accepted; what it
  # left deleting stays so (each held as soon as its delete is accepted,
  # then freeze); their rows are forgotten. An object gone before it was
  # held (a machine so slow that the sim's 1 to 1.5 s passed): everything
  # applied again and the round tried again, at most 3 times.
  deletes_held() { # READY: each delete accepted and its object held (or gone: missed)
    local a rc=0
    for a in $round; do
      [ -n "${held[$a]:-}" ] && continue
      if [ "$(answered "${delete[$a]}" 200)" -le "${before[$a]}" ]; then rc=1; continue; fi
      hold_deleting "${old_id[$a]}"
      case $? in 0) held[$a]=held ;; 2) held[$a]=gone ;; *) rc=1 ;; esac
    done
    return $rc
  }
  for try in 1 2 3; do
    declare -A old_id=() old_token=() before=() held=()
    targets=()
    [ "$round" = k8s ] && targets+=(--target workers) # a destroy --target leaves out the dependents
    for a in $round; do
      old_id[$a]=$(sim_of "$a")
      old_token[$a]=$(token_of "$a")
      before[$a]=$(answered "${delete[$a]}" 200)
      targets+=(--target "$a")
    done
    stop_destroy_when deletes_held -C s -e dev --auto-approve "${targets[@]}"
    missed=
    for a in $round; do [[ " $FROZEN " == *" ${old_id[$a]} "* ]] || missed+="$a "; done
    [ -z "$missed" ] && break
    echo "# round $round: ${missed% } not held deleting (try $try); again"
    for id in $FROZEN; do sim_delete "$id"; done
    run apply -C s -e dev --auto-approve
    expect_rc 0 "round $round: apply before trying again"
  done
  declare -A addr_of=()
  for a in $round; do
    eq "$(sim_status "${old_id[$a]}")" "deleting" "the old $a is being deleted"
    addr_of[${old_id[$a]}]=$a
  done
  run state rm -C s -e dev $round
  expect_rc 0 "forget $round"
  for a in $round workers; do
    eq "$(state_sql s "select count(*) from resources where env='dev' and address='$a'")" "0" "$a is not in the state"
  done
  for a in $round; do before[$a]=$(answered "${create[$a]}" "\(400\|409\)"); done
  # let each old object go once its name has refused the new create
  create_refused() { [ "$(answered "${create[${addr_of[$1]}]}" "\(400\|409\)")" -gt "${before[${addr_of[$1]}]}" ]; }
  run_letting_go 30 create_refused apply -C s -e dev --auto-approve
  expect_rc 0 "apply: creates $round"
  eq "$UNREADY" "" "each create was refused while the old object held the name"
  for a in $round; do
    err_has "is being deleted; waiting until it is gone" "$a: the create waits the old one out"
    eq "$(sim_count_addr "$a")" "1" "$a: one object"
    check "$a: a new object" test "$(token_of "$a")" != "${old_token[$a]}"
    eq "$(state_sql s "select token from resources where env='dev' and address='$a'")" "$(token_of "$a")" \
      "$a: the state's object is the one this run made"
  done
  eq "$(sim_count_addr workers)" "1" "one node group"
  run plan -C s -e dev --detailed-exitcode
  expect_rc 0 "converged after creating $round"
  unset old_id old_token before addr_of held
done

# ---- 2. a plan meets an object being deleted ------------------------------------
# A destroy killed once the instance's delete was accepted leaves it deleting
# in the cloud and recorded in the state. A plan does not wait on the cloud's
# deletion: it says so, plans the instance as a create (exit 2 with
# --detailed-exitcode) and writes nothing; the apply after it waits the
# deletion out and creates the instance again.
# (held deleting as soon as the delete is accepted; tried again, at most 3
# times, when it was gone first)
db_delete_held() {
  [ "$(answered DeleteDBInstance 200)" -gt "$n" ] || return 1
  hold_deleting "$old"
  [ $? -ne 1 ]
}
for try in 1 2 3; do
  old=$(sim_of db)
  old_token=$(token_of db)
  n=$(answered DeleteDBInstance 200)
  stop_destroy_when db_delete_held -C s -e dev --auto-approve --target db
  [[ " $FROZEN " == *" $old "* ]] && break
  echo "# the instance was not held deleting (try $try); again"
  for id in $FROZEN; do sim_delete "$id"; done
  run apply -C s -e dev --auto-approve
  expect_rc 0 "apply before trying again"
done
eq "$(sim_status "$old")" "deleting" "the instance is being deleted"
eq "$FROZEN" "$old " "only the instance is held deleting"
rows() { state_sql s "select address, id, token, attrs from resources where env='dev' order by address"; }
rows_before=$(rows)
intents_before=$(state_sql s "select count(*) from intents")
check "the instance is still in the state" test "$(state_sql s "select count(*) from resources where env='dev' and address='db'")" = 1
t0=$(date +%s%N)
run_within 30 plan -C s -e dev --detailed-exitcode
took=$((($(date +%s%N) - t0) / 1000000))
expect_rc 2 "plan while the instance is being deleted: changes"
check "the plan did not wait for the deletion (took $took ms)" test "$took" -lt 10000
out_has "# db is being deleted: it will be created once the deletion finishes" "the plan says so"
out_lacks "deleted outside cairn" "not as deleted outside cairn"
out_has "+ db (aws.db_instance) {" "the plan creates the instance"
err_lacks "waiting until it is gone" "the plan does not wait"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "and nothing else"
run_within 30 plan -C s -e dev --json
expect_rc 0 "plan --json while the instance is being deleted"
stream_ok "plan --json: the create of db says why" "
c = [o for o in T['planned_change'] if o['resource']['address'] == 'db']
assert len(c) == 1 and c[0]['action'] == 'create', T['planned_change']
assert c[0]['reason'] == 'it is being deleted; it will be created once the deletion finishes', c[0]
"
eq "$(rows)" "$rows_before" "the plan wrote nothing to the resources"
eq "$(state_sql s "select count(*) from intents")" "$intents_before" "nor any intent"
eq "$(sim_status "$old")" "deleting" "the instance is still being deleted"
# the apply waits (describes it at least twice) before the deletion ends
start=$(wc -l <"$WORK/sim.log")
described_twice() { [ "$(tail -n +"$((start + 1))" "$WORK/sim.log" | grep -c " DescribeDBInstances ")" -ge 2 ]; }
run_letting_go 30 described_twice apply -C s -e dev --auto-approve
expect_rc 0 "apply after the plan"
eq "$UNREADY" "" "the apply waited for the instance being deleted"
err_has "DB instance orders is being deleted; waiting until it is gone" "the apply says it waits"
eq "$(sim_count_addr db)" "1" "one instance"
check "a new instance" test "$(token_of db)" != "$old_token"
eq "$(state_sql s "select token from resources where env='dev' and address='db'")" "$(token_of db)" \
  "the state's instance is the one the apply made"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the apply"

# ---- 3. deletes of objects already being deleted --------------------------------
# query SERVICE VERSION ACTION [k=v...]: a signed Query call; eks_delete PATH
query() {
  local service=$1 version=$2 action=$3; shift 3
  local args=(--data-urlencode "Action=$action" --data-urlencode "Version=$version") kv
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  curl -s --aws-sigv4 "aws:amz:us-east-1:$service" --user "$SIM_KEY:$SIM_SECRET" "${args[@]}" "$(sim_url)/" >/dev/null
}
eks_delete() {
  curl -s -X DELETE --aws-sigv4 "aws:amz:us-east-1:eks" --user "$SIM_KEY:$SIM_SECRET" "$(sim_url)$1" >/dev/null
}
declare -A old_id=()
for a in db cache workers; do old_id[$a]=$(sim_of "$a"); done
query rds 2014-10-31 DeleteDBInstance DBInstanceIdentifier=orders SkipFinalSnapshot=true
query elasticache 2015-02-02 DeleteReplicationGroup ReplicationGroupId=sessions
eks_delete /clusters/main/node-groups/workers
freeze
declare -A addr_of=()
for a in db cache workers; do
  eq "$(sim_status "${old_id[$a]}")" "deleting" "$a: someone else is deleting it"
  addr_of[${old_id[$a]}]=$a
done
sim_fault '{"action": "DeleteNodegroup", "code": "ResourceInUseException", "status": 409, "count": 1,
  "message": "Nodegroup workers is already being deleted"}'
declare -A before=() refusal=([db]="DeleteDBInstance 400" [cache]="DeleteReplicationGroup 400" [workers]="DeleteNodegroup 409")
for a in db cache workers; do before[$a]=$(grep -c " ${refusal[$a]} " "$WORK/sim.log"); done
# let each go once its delete has been refused
delete_refused() { [ "$(grep -c " ${refusal[${addr_of[$1]}]} " "$WORK/sim.log")" -gt "${before[${addr_of[$1]}]}" ]; }
run_letting_go 30 delete_refused destroy -C s -e dev --auto-approve --refresh=false
expect_rc 0 "destroy (without refresh) succeeds"
eq "$UNREADY" "" "each delete was refused: already being deleted"
eq "$(sim_faults_left)" "0" "the node group's refusal came from the fault rule"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "0" "nothing in the state"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
