#!/usr/bin/env bash
# Write-only attributes after `cairn import` (schema `write_only`): an RDS
# instance made by hand (a signed CreateDBInstance, curl --aws-sigv4) is
# imported. The cloud never returns its master password, so the state has
# none: the import and the plan say the apply will set it and how to keep
# the current one
# (text and --json), and `lifecycle.ignore_changes: [password]` keeps it: the
# plan is empty and an apply leaves the sim's password alone (the sim counts
# the times a password was set, attribute passwordSets; it keeps no
# password). Without the ignore rule the apply sets it, once, and the plan
# after it is empty. Neither password shows in output or state.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log --db "$WORK/sim.db"
HAND_PW='Hand-made-pw-5c1e9a'
STACK_PW='Stack-pw-7d2b4f08'

rds() { # ACTION [k=v...]: a signed RDS Query call, the XML on stdout
  local action=$1; shift
  local args=(--data-urlencode "Action=$action" --data-urlencode "Version=2014-10-31") kv
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  curl -s --aws-sigv4 "aws:amz:us-east-1:rds" --user "$SIM_KEY:$SIM_SECRET" "${args[@]}" "$(sim_url)/"
}
# has TEXT DESC: stdout has TEXT, with runs of spaces squeezed (alignment differs)
has() { tr -s ' ' <"$WORK/out" | grep -qF -- "$1" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -40; }; }
pw_sets() { sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:db:orders") | .attributes.passwordSets'; }
modifies() { grep -c ' ModifyDBInstance ' "$WORK/sim.log"; }
no_password() { # WHERE: neither password in what the last command printed, nor in the state as stored
  local f
  state_bytes s >"$WORK/state.bytes"
  for f in "$WORK/out" "$WORK/err" "$WORK/state.bytes"; do
    [ -e "$f" ] || continue
    if grep -aqF -e "$HAND_PW" -e "$STACK_PW" -- "$f"; then fail "$1: a password in $f"; else pass; fi
  done
}

ID=$(rds CreateDBInstance DBInstanceIdentifier=orders Engine=postgres DBInstanceClass=db.t3.micro \
  AllocatedStorage=20 MasterUsername=app MasterUserPassword="$HAND_PW" | xml_val DBInstanceIdentifier)
eq "$ID" "orders" "instance made by hand"
for i in $(seq 1 100); do
  [ "$(rds DescribeDBInstances DBInstanceIdentifier=orders | xml_val DBInstanceStatus)" = available ] && break
  sleep 0.1
done
eq "$(pw_sets)" "1" "the password was set once, at create"

write_stack() { # LIFECYCLE-LINE
  awsstack s <<YAML
variables:
  pw: { type: string, sensitive: true }
resources:
  db:
    type: aws.db_instance
    identifier: orders
    engine: postgres
    instance_class: db.t3.micro
    allocated_storage: 20
    username: app
    password: "\${var.pw}"
$1
YAML
  printf 'variables: {pw: "%s"}\n' "$STACK_PW" >>s/dev.yaml
}

# 1. with ignore_changes: the current password is kept, also when the
# instance is updated for another attribute (backup_retention_period: the
# hand-made instance has 1, the stack 7)
write_stack "    lifecycle: { ignore_changes: [password] }"
run import -C s -e dev db orders
expect_rc 0 "import"
out_has "Imported db (id orders)" "import"
out_lacks "write-only" "no note: the password is in ignore_changes"
no_password "import"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "an update for the other attribute"
has "~ backup_retention_period = 1 -> 7" "the other attribute changes"
out_lacks "password" "the ignored password is not in the plan"
BEFORE=$(modifies)
run apply -C s -e dev --auto-approve
expect_rc 0 "apply with the password ignored"
eq "$(modifies)" "$((BEFORE + 1))" "one ModifyDBInstance sent (the backup retention)"
eq "$(pw_sets)" "1" "the sim's password was not set again"
eq "$(sim_resources | jq -r '.resources[] | select(.id == "rds:us-east-1:db:orders") | .attributes.backupRetention')" \
  "7" "the other attribute was changed"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "ignore_changes: nothing to do after the apply"
out_has "No changes." "empty plan"
BEFORE=$(modifies)
run apply -C s -e dev --auto-approve
expect_rc 0 "apply again"
eq "$(modifies)" "$BEFORE" "nothing sent"
eq "$(pw_sets)" "1" "the password still the hand-made one"
no_password "ignored"

# 2. without it: the plan says what the apply does to the password and why
run state rm -C s -e dev db
expect_rc 0 "state rm"
write_stack ""
run import -C s -e dev db orders
expect_rc 0 "import again"
out_has "Note: password is write-only (the cloud never returns it): its value is unknown since this import, and the next apply sets it from the configuration; add password to lifecycle.ignore_changes to keep the current one." "the import says what the next apply does"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the password is a change"
out_has "# db will be updated in place" "an update, not a replacement"
has "~ password = (sensitive) # write-only: its value in the cloud is unknown since import; this apply sets it; add password to lifecycle.ignore_changes to keep the current one" "the plan explains the write-only change"
no_password "plan"
run plan -C s -e dev --json
expect_rc 0 "plan --json"
eq "$(jq -c 'select(.type == "planned_change" and .resource.address == "db") | .changes[] | select(.attribute == "password") | [.write_only, .after, .sensitive]' "$WORK/out")" \
  '[true,"(sensitive)",true]' "--json marks the change write_only"
eq "$(jq -c 'select(.type == "planned_change" and .resource.address == "db") | [.changes[] | .attribute]' "$WORK/out")" \
  '["password","skip_final_snapshot"]' "the password and the delete-time setting (not in the cloud either)"
no_password "plan --json"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply sets the password"
eq "$(pw_sets)" "2" "the sim's password was set, once"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged: the state now knows the password"
out_lacks "write-only" "no note once set"
no_password "after apply"
done_testing
