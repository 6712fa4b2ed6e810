#!/usr/bin/env bash
# RDS against cairn sim: aws.db_subnet_group and aws.db_instance. Create
# (with engine_version "16", a prefix of the version RDS picks), plan again
# is empty, in-place updates (class, storage, password, subnets, tags); a
# storage change leaves the instance in storage-optimization, which the
# apply does not wait out and which takes other changes (drift repair, a
# minor and a major engine upgrade); a storage decrease refused with a
# clear message, replacement, drift made through the admin endpoint,
# import, destroy. The password never shows where a leak would reach:
# cairn's stdout and stderr (plans, apply, `state show`), the state as
# stored (state_bytes: the files state.db, -wal, -shm as bytes; on
# PostgreSQL a dump of every table of the stack's schema), the sim's
# database (its store of what it was sent, which keeps no password) and its
# request log.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log --db "$WORK/sim.db"
PW1='Pw-one-9f3a7c1e'
PW2='Pw-two-4b8d2e6f'
VER=16 # engine_version in write_stack

write_stack() { # IDENT CLASS STORAGE PW NSUB TAG  (env: VER, SKIP_FINAL, STYPE, PUBLIC, SECOND_SG)
  local extra="" sgs='"${dbsg.id}"'
  if [ -n "${SECOND_SG:-}" ]; then
    extra=$(printf '  dbsg2:\n    type: aws.security_group\n    name: db2\n    vpc_id: "${net.id}"')
    sgs='"${dbsg2.id}"'
  fi
  awsstack s <<YAML
variables:
  pw: { type: string, sensitive: true }
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
  sub:
    type: aws.subnet
    count: $5
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\", \"us-east-1c\"], count.index)}"
  dbsg:
    type: aws.security_group
    name: db
    vpc_id: "\${net.id}"
$extra
  dbnet:
    type: aws.db_subnet_group
    name: dbnet
    subnet_ids: "\${sub[*].id}"
    tags: { team: $6 }
  db:
    type: aws.db_instance
    identifier: $1
    engine: postgres
    engine_version: "$VER"
    instance_class: $2
    allocated_storage: $3
    username: app
    password: "\${var.pw}"
    db_subnet_group_name: "\${dbnet.name}"
    vpc_security_group_ids: [$sgs]
    tags: { team: $6 }
    skip_final_snapshot: ${SKIP_FINAL:-true}
    storage_type: ${STYPE:-gp2}
    publicly_accessible: ${PUBLIC:-false}
YAML
  printf 'variables: {pw: "%s"}\n' "$4" >>s/dev.yaml
}
db_status() { sim_resources | jq -r --arg i "rds:us-east-1:db:$1" '.resources[] | select(.id == $i) | .status'; }
db_attr() { sim_resources | jq -r --arg i "rds:us-east-1:db:$1" ".resources[] | select(.id == \$i) | .attributes.$2"; }
# has TEXT DESC: stdout has TEXT, with runs of spaces squeezed (alignment differs by resource)
has() { tr -s ' ' <"$WORK/out" | grep -qF -- "$1" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; }; }
no_password() { # WHERE: neither password in what the last command printed, the state, the sim's database, its log
  local f n=0
  state_bytes s >"$WORK/state.bytes"
  for f in "$WORK/out" "$WORK/err" "$WORK/state.bytes" "$WORK"/sim.db* "$WORK/sim.log"; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if grep -aqF -e "$PW1" -e "$PW2" -- "$f"; then fail "$1: a password in $f"; else pass; fi
  done
  # the sim's database and the state are where they are looked for
  [ "$n" -ge 5 ] && pass || fail "$1: only $n files to look in"
}

write_stack orders db.t3.micro 20 "$PW1" 2 data
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "first plan has changes"
out_has "Plan: 6 to add, 0 to change, 0 to destroy." "six objects"
has "password = (sensitive)" "password hidden in the plan"
no_password "first plan"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the database"
out_has "Apply complete! Resources: 6 added" "apply summary"
no_password "apply"
eq "$(db_status orders)" "available" "instance available"
eq "$(db_attr orders class)" "db.t3.micro" "class"
eq "$(db_attr orders engineVersion)" "16.3" "RDS picked 16.3 for engine_version 16"
eq "$(sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:db:orders") | .tags["cairn:address"]')" "db" "cairn:address tag"
eq "$(sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:subgrp:dbnet") | .attributes.subnets | length')" "2" "two subnets in the group"
run state show -C s -e dev db
expect_rc 0 "state show"
has 'password = (sensitive)' "state show hides the password"
has 'tags = {"team" = "data"}' "cairn:* tags stripped"
has 'endpoint = "orders.' "endpoint recorded"
has 'port = 5432' "port recorded"
has 'engine_version = "16"' "the configured engine_version prefix is kept"
no_password "state show"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"
no_password "second plan"

# in place: class, storage, password on the instance; a third subnet and a tag on the group
write_stack orders db.t3.small 30 "$PW2" 3 platform
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan shows the updates"
out_has "# db will be updated in place" "instance in place"
has '~ instance_class = "db.t3.micro" -> "db.t3.small"' "class change"
has "~ allocated_storage = 20 -> 30" "storage change"
has "~ password = (sensitive) -> (sensitive)" "password change, hidden"
out_has "# dbnet will be updated in place" "subnet group in place"
out_has "Plan: 1 to add, 2 to change, 0 to destroy." "one subnet more, two updates"
out_lacks "must be replaced" "nothing replaced"
no_password "update plan"
# the storage growth leaves the instance in storage-optimization for a long
# time (10 minutes in the sim, hours on AWS): the apply does not wait for it
START=$SECONDS
timeout -k 5 120 "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
expect_rc 0 "apply the updates (within 2 minutes)"
[ "$RC" -eq 0 ] || done_testing # what follows would wait out the storage-optimization
echo "# the update apply took $((SECONDS - START)) s"
no_password "update apply"
eq "$(db_status orders)" "storage-optimization" "the instance is in storage-optimization"
eq "$(db_attr orders class)" "db.t3.small" "class changed in the sim"
eq "$(db_attr orders allocatedStorage)" "30" "storage grown in the sim"
eq "$(sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:subgrp:dbnet") | .attributes.subnets | length')" "3" "three subnets in the group"
eq "$(sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:subgrp:dbnet") | .tags.team')" "platform" "group tag changed"
check "ModifyDBInstance was called" grep -q ModifyDBInstance "$WORK/sim.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after updates"

# refused WHAT MESSAGE ATTR VALUE: applying the stack just written fails
# with MESSAGE and leaves the sim's ATTR at VALUE; back to 30 GiB, converged
refused() {
  run apply -C s -e dev --auto-approve
  expect_rc 1 "$1 fails"
  err_has "$2" "$1: the reason"
  eq "$(db_attr orders "$3")" "$4" "$1: $3 unchanged"
  write_stack orders db.t3.small 30 "$PW2" 3 platform
  run plan -C s -e dev --detailed-exitcode
  expect_rc 0 "$1: back to converged"
}
storage_refused() { # GIB WHAT MESSAGE: an apply of GIB fails with MESSAGE
  write_stack orders db.t3.small "$1" "$PW2" 3 platform
  refused "$2" "$3" allocatedStorage 30
}
# shrinking storage is refused by the module, clearly, and so is growing
# it by less than the 10% RDS grows it by at least
storage_refused 25 "storage decrease" "allocated_storage cannot be decreased (30 GiB -> 25 GiB)"
storage_refused 32 "storage growth under 10%" "must grow by at least 10% (30 GiB -> 32 GiB): ask for 33 GiB or more"
# growing it again while it is optimized: AWS's refusal, as it is
storage_refused 40 "storage growth during storage-optimization" "previous storage change is being optimized"

# drift through the admin endpoint: class changed, a tag removed on the group
sim_patch "rds:us-east-1:db:orders" '{"attributes":{"class":"db.m5.large"}}'
sim_patch "rds:us-east-1:subgrp:dbnet" '{"tags":{"team":null}}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift detected"
has '~ instance_class = "db.m5.large" -> "db.t3.small"' "class drift"
out_has "# dbnet will be updated in place" "tag drift"
out_has "Plan: 0 to add, 2 to change, 0 to destroy." "two repairs"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply repairs drift"
eq "$(db_attr orders class)" "db.t3.small" "class repaired"
eq "$(db_status orders)" "storage-optimization" "repaired during storage-optimization"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after drift repair"

# a change someone scheduled for the maintenance window stays pending for
# days: an update does not wait for it (its ApplyImmediately applies it too)
sim_patch "rds:us-east-1:db:orders" '{"attributes":{"pending":{"backupRetention":9}}}'
limited_apply() { # WHAT: an apply that must not wait for the pending change
  timeout -k 5 120 "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  expect_rc 0 "$1 (within 2 minutes)"
  [ "$RC" -eq 0 ] || done_testing
}
write_stack orders db.t3.small 30 "$PW2" 3 data
limited_apply "a tag update while a change is pending for the maintenance window"
eq "$(db_attr orders 'pending | length')" "1" "the scheduled change is left for its window"
write_stack orders db.t3.medium 30 "$PW2" 3 data
limited_apply "a class change while a change is pending"
eq "$(db_attr orders class)" "db.t3.medium" "class changed"
eq "$(db_attr orders 'pending | length')" "0" "the pending change was applied with it (ApplyImmediately)"
eq "$(db_attr orders backupRetention)" "9" "(it was someone else's)"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "which shows as drift"
has "~ backup_retention_period = 9 -> 7" "the retention someone scheduled"
write_stack orders db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "repaired"

# engine upgrades: a minor one, then a major one (AllowMajorVersionUpgrade)
upgrade() { # VERSION KIND: apply engine_version VERSION; the sim has it; converged
  VER=$1
  write_stack orders db.t3.small 30 "$PW2" 3 platform
  run apply -C s -e dev --auto-approve
  expect_rc 0 "apply the $2 upgrade"
  eq "$(db_attr orders engineVersion)" "$1" "$2 upgrade in the sim"
  run plan -C s -e dev --detailed-exitcode
  expect_rc 0 "converged after the $2 upgrade"
}
VER=16.4
write_stack orders db.t3.small 30 "$PW2" 3 platform
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "minor upgrade planned"
has '~ engine_version = "16" -> "16.4"' "minor upgrade"
upgrade 16.4 minor
upgrade 17.2 major
# a downgrade is refused before anything is sent
VER=16.4 write_stack orders db.t3.small 30 "$PW2" 3 platform
refused "an engine downgrade" "cannot downgrade DB instance orders from engine version 17.2 to 16.4" engineVersion 17.2

# storage type and public access in place (AWS applies the latter at once,
# ApplyImmediately or not)
STYPE=gp3 PUBLIC=true write_stack orders db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "apply storage type and public access"
eq "$(db_attr orders storageType)" "gp3" "storage type in the sim"
eq "$(db_attr orders publiclyAccessible)" "true" "public access in the sim"
STYPE=gp3 PUBLIC=true run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after storage type and public access"
write_stack orders db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "and back"

# another security group: AWS shows the new one "adding" and the old one
# "removing" for a while after the modify; the apply records the groups
# once the change is done, so the next plan is empty
SECOND_SG=1 write_stack orders db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "apply another security group"
eq "$(db_attr orders 'vpcSecurityGroups | length')" "1" "one group in the sim"
eq "$(db_attr orders 'vpcSecurityGroups[0]')" "$(state_id s dbsg2)" "the new one"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the security group change"
write_stack orders db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "and back"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after going back"

# replacement: a new identifier
write_stack orders2 db.t3.small 30 "$PW2" 3 platform
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "identifier change"
out_has "# db must be replaced" "instance replaced"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the replacement"
eq "$(sim_resources | jq '[.resources[] | select(.type == "rds:db-instance")] | map(.id) | join(",")')" '"rds:us-east-1:db:orders2"' "only the new instance"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after replacement"
no_password "replacement"

# import: forget both, import them again by name
run state rm -C s -e dev db dbnet
expect_rc 0 "state rm"
run import -C s -e dev dbnet dbnet
expect_rc 0 "import the subnet group"
run import -C s -e dev db orders2
expect_rc 0 "import the instance"
run state show -C s -e dev db
has 'instance_class = "db.t3.small"' "imported attributes"
has 'endpoint = "orders2.' "imported endpoint"
run plan -C s -e dev --detailed-exitcode
# the password cannot be read back: the import does not know it
out_has "# db will be updated in place" "password set after import"
out_lacks "# dbnet" "subnet group imported as is"
out_lacks "must be replaced" "nothing replaced after import"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after import"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after import"
no_password "import"

# with final snapshots: each delete of the same identifier gets a snapshot
# of its own (a fixed name would be taken the second time)
snapshots() { sim_resources | jq -r '[.resources[] | select(.type == "rds:db-snapshot") | .attributes.identifier] | sort | join(" ")'; }
SKIP_FINAL=false write_stack orders2 db.t3.small 30 "$PW2" 3 platform
run apply -C s -e dev --auto-approve
expect_rc 0 "keep a final snapshot"
for round in 1 2; do
  run destroy -C s -e dev --auto-approve
  expect_rc 0 "destroy $round with a final snapshot"
  eq "$(snapshots | wc -w)" "$round" "snapshots after destroy $round"
  check "named after the instance ($(snapshots))" test -z "$(snapshots | tr ' ' '\n' | grep -v '^orders2-final-[0-9]*$')"
  [ "$round" = 1 ] && { run apply -C s -e dev --auto-approve; expect_rc 0 "the same identifier again"; sleep 1; }
done
no_password "destroy"
eq "$(sim_resources | jq '[.resources[] | select(.type != "rds:db-snapshot")] | length')" "0" \
  "nothing but the snapshots is left"
done_testing
