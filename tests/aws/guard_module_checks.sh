#!/usr/bin/env bash
# Checks of kind module (docs/guardrails.md): a resource's check that asks
# its module's status function for the object's health, in the module
# sandbox, with retries, interval and deadline. Against cairn sim, whose
# admin endpoint sets an instance's status checks (its instanceStatus
# attribute) and a DB instance's status: aws.instance is healthy when it
# runs with both EC2 status checks ok, aws.db_instance when "available",
# aws.eks_cluster when ACTIVE, aws.elasticache_replication_group when
# "available".
# A passing check (after a few attempts while the instance initializes);
# a failing one in a rollout: the batch is rolled back (its previous tags
# applied again), the next batch untouched, exit 6; a DB instance whose
# status is not the expected one fails its check; a module check on a type
# without a status function, or in the stack's checks:, is refused with
# file:line:col before anything is written.
. "$(dirname "$0")/lib.sh" "$@"
start_sim
DEBIAN=ami-0deb1a12c0ffee000

write_stack() { # TAG [DB_EXPECT]
  awsstack s <<YAML
variables:
  want: { type: string, default: "${2:-available}" }
resources:
  net: { type: aws.vpc, cidr_block: 10.61.0.0/16 }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  app:
    type: aws.instance
    count: 2
    ami: $DEBIAN
    subnet_id: "\${sub[0].id}"
    tags: { v: "$1" }
    rollout: { batch: 1 }
    checks:
      - name: healthy
        module: { expect: ok }
        retries: 20
        interval: 0.2
        deadline: 8s
  dbnet:
    type: aws.db_subnet_group
    name: dbnet
    subnet_ids: "\${sub[*].id}"
  db:
    type: aws.db_instance
    identifier: mc-db
    engine: postgres
    engine_version: "16"
    instance_class: db.t3.micro
    allocated_storage: 20
    username: app
    password: Pw-mc-4b8d2e6f
    db_subnet_group_name: "\${dbnet.name}"
    skip_final_snapshot: true
    tags: { v: "$1" }
    checks:
      - name: db-up
        module: { expect: "\${var.want}" }
        retries: 2
        interval: 0.2
        deadline: 5s
YAML
}
inst_id() { state_id s "app[$1]"; }
inst_tag() { sim_resources | jq -r --arg i "$1" '.resources[] | select(.id == $i) | .tags.v'; }

# --- the format ---------------------------------------------------------------
awsstack s <<YAML
resources:
  net:
    type: aws.vpc
    cidr_block: 10.61.0.0/16
    checks:
      - { name: up, module: {} }
YAML
run validate -C s -e dev
expect_rc 1 "a module check on a type without a status function"
err_has "s/stack.yaml:6:9: check 'up' of net asks its module for the object's status, but the module aws.vpc has no status function" "file:line:col"
run apply -C s -e dev --auto-approve
expect_rc 1 "apply refuses it too"
eq "$(sim_count)" 0 "nothing was created"
awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.61.0.0/16 }
checks:
  - { name: up, module: { expect: ok } }
YAML
run validate -C s -e dev
expect_rc 1 "a module check in the stack's checks"
err_has "s/stack.yaml:4:25: check 'up': a module check asks a resource's module for its object's status: it belongs in that resource's checks:" "file:line:col"

# --- passing: the instances run with their status checks ok, the DB is available
write_stack v1
run apply -C s -e dev --auto-approve
expect_rc 0 "revision 1 applied and checked"
err_has "app[0]: check healthy ok" "the instance's check"
err_has "db: check db-up ok" "the DB instance's check"

# --- passing after a few attempts: app[0] initializes for about a second
# after its update (its tag v2 in the sim), when its check has begun; timed
# from the update, not from the start of the apply, which may take longer
# than that on a loaded machine (under ASan).
sim_patch "$(inst_id 0)" '{"attributes":{"instanceStatus":"initializing"}}'
( i0=$(inst_id 0) n=0
  until [ "$(inst_tag "$i0")" = v2 ] || [ $n -ge 1200 ]; do sleep 0.025; n=$((n + 1)); done
  sleep 1
  sim_patch "$i0" '{"attributes":{"instanceStatus":null}}' ) &
PATCH_PID=$!
write_stack v2
run apply -C s -e dev --auto-approve
wait "$PATCH_PID"
expect_rc 0 "revision 2: the check waited for the status checks"
grep -E "ok +app\[0\]: healthy \(module i-[0-9a-f]+, ([3-9]|[1-9][0-9]) attempts" "$WORK/out" >/dev/null && pass ||
  { fail "app[0]'s check passed after several attempts"; grep -h "check\|healthy" "$WORK/out" "$WORK/err" | sed 's/^/#   out: /' | head -40; }
eq "$(inst_tag "$(inst_id 0)")" v2 "app[0] updated"
eq "$(inst_tag "$(inst_id 1)")" v2 "app[1] updated"

# --- failing: app[0] impaired; its batch is rolled back, app[1] untouched -------
sim_patch "$(inst_id 0)" '{"attributes":{"instanceStatus":"impaired"}}'
write_stack v3
run apply -C s -e dev --auto-approve
expect_rc 6 "a failing module check exits 6"
err_has "health check healthy of app[0] failed: status impaired, expected ok: system status ok, instance status impaired" "what failed, with the module's message"
err_has "rolled back: app[0]: the previous attributes were applied again" "what was rolled back"
err_has "app[0]: check healthy FAILED after" "the attempts"
eq "$(inst_tag "$(inst_id 0)")" v2 "app[0] has its previous tags again in the cloud"
eq "$(inst_tag "$(inst_id 1)")" v2 "app[1], the next batch, was not touched"
eq "$(state_attr s 'app[0]' .tags.v)" v2 \
  "the state records the previous tags"
sim_patch "$(inst_id 0)" '{"attributes":{"instanceStatus":null}}'

# --- a DB instance whose status is not the one expected ---------------------------
write_stack v2 backing-up
run apply -C s -e dev --auto-approve
expect_rc 6 "the DB's module check fails"
err_has "health check db-up of db failed: status available, expected backing-up" "the status it saw"
err_has "db: check db-up FAILED after 3 attempts" "its retries were used"

# --- EKS and ElastiCache: ACTIVE, available ----------------------------------------
awsstack s2 <<YAML
variables:
  want: { type: string, default: ACTIVE }
resources:
  net: { type: aws.vpc, cidr_block: 10.62.0.0/16 }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  eks:
    type: aws.eks_cluster
    name: mc
    version: "1.29"
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "\${sub[*].id}"
    checks:
      - { name: active, module: { expect: "\${var.want}" }, retries: 1, interval: 0.2, deadline: 5s }
  cachenet:
    type: aws.cache_subnet_group
    name: mc-cache
    subnet_ids: "\${sub[*].id}"
  cache:
    type: aws.elasticache_replication_group
    replication_group_id: mc-cache
    engine_version: "7.1"
    node_type: cache.t3.micro
    num_cache_clusters: 1
    subnet_group_name: "\${cachenet.name}"
    checks:
      - { name: available, module: {}, retries: 1, interval: 0.2, deadline: 5s }
YAML
run apply -C s2 -e dev --auto-approve
expect_rc 0 "an EKS cluster and a replication group checked"
out_has "ok    eks: active (module mc, 1 attempt" "the cluster is ACTIVE"
out_has "ok    cache: available (module mc-cache, 1 attempt" "the group is available"
printf 'variables: {want: UPDATING}\n' >>s2/dev.yaml
sed -i 's/version: "1.29"/version: "1.30"/' s2/stack.yaml
run apply -C s2 -e dev --auto-approve
expect_rc 6 "the cluster's status is not the one expected"
err_has "health check active of eks failed: status ACTIVE, expected UPDATING" "the status it saw"

done_testing
