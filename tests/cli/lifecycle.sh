#!/usr/bin/env bash
# plan, apply, plan again is empty, change one property, plan shows exactly
# that change, apply, drift, destroy.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s 'provider: {region: eu-west-1}
variables:
  size: 2' <<'YAML'
variables:
  size: { type: number, default: 1 }
  greeting: { type: string, default: hello }
resources:
  net:
    type: local.thing
    name: "net-${env.name}"
    size: "${var.size}"
  app:
    type: local.thing
    count: 2
    name: "app-${count.index}-${net.id}"
    tags: { env: "${env.name}", region: "${env.region}" }
  file:
    type: local.file
    path: "out/${env.name}.txt"
    content: "${var.greeting} from ${net.name}\n"
outputs:
  net_id: { value: "${net.id}" }
  apps: { value: "${app[*].id}" }
YAML

run plan -C s -e dev --detailed-exitcode
expect_rc 2 "first plan has changes"
out_has "# net will be created" "plan lists net"
out_has "# app[1] will be created" "plan lists count instances"
out_has "Plan: 4 to add, 0 to change, 0 to destroy." "plan summary"
out_has "(known after apply)" "computed values are unknown"
check "plan writes no state" no_state s

run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
out_has "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." "apply summary"
out_has "net_id = \"thing-" "outputs printed"
eq "$(cat s/out/dev.txt)" "hello from net-dev" "file content"
eq "$(ls s/cloud | wc -l)" "3" "three objects in the cloud"
eq "$(state_sql s "select count(*) from resources where env='dev'")" "4" "four state rows"
sqlite_only "the state file's mode" && eq "$(stat -c %a s/.cairn/state.db)" "600" "state file mode"
eq "$(state_check s)" "ok" "integrity"

run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"
out_has "No changes." "no changes message"

# change exactly one property
sed -i 's/size: 2/size: 5/' s/dev.yaml
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan after change"
out_has "# net will be updated in place" "net updated"
out_has "~ size = 2 -> 5" "the one attribute"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "only one change"
out_lacks "app[0]" "dependents unchanged"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the change"
out_has "1 changed" "one changed"
check "cloud object updated" grep -rEq '"size": ?5' s/cloud
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged again"

# force replacement
run plan -C s -e dev --var greeting=bye
expect_rc 0 "plan with --var"
out_has "~ content = \"hello from net-dev\\n\" -> \"bye from net-dev\\n\"" "content diff"
out_has "# file will be updated in place" "content changes in place"

# drift: someone edits and deletes things outside cairn
echo tampered > s/out/dev.txt
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift detected"
out_has "tampered" "the edited content is shown"
rm s/cloud/$(state_sql s "select id from resources where address='net'")
run plan -C s -e dev
out_has "# net was deleted outside cairn" "deleted object noticed"
out_has "# net will be created" "and recreated"
run plan -C s -e dev --refresh=false --detailed-exitcode
expect_rc 0 "--refresh=false does not look"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply repairs drift"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after repair"

# history records every revision
run state history -C s -e dev
expect_rc 0 "history"
out_has "revision 1 " "revisions listed"
hist_ok "revision 1 is the first apply: the four resources created" \
  "H[-1]['rev'] == 1 and H[-1]['command'] == 'apply' and H[-1]['status'] == 'ok' and sorted((c['action'], c['address']) for c in H[-1]['changes']) == [('create', 'app[0]'), ('create', 'app[1]'), ('create', 'file'), ('create', 'net')]"
hist_ok "revision 2 is the one-property change: net updated, nothing else" \
  "[(c['action'], c['address']) for c in H[-2]['changes']] == [('update', 'net')]"
hist_ok "the newest revision is the repair: net created again, file updated" \
  "H[0]['command'] == 'apply' and H[0]['status'] == 'ok' and ('create', 'net') in [(c['action'], c['address']) for c in H[0]['changes']] and ('update', 'file') in [(c['action'], c['address']) for c in H[0]['changes']]"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
out_has "Destroy complete! Resources: 4 destroyed." "destroy summary"
eq "$(ls s/cloud | wc -l)" "0" "cloud empty"
check "file removed" test ! -e s/out/dev.txt
eq "$(state_sql s "select count(*) from resources where env='dev'")" "0" "state empty"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "after destroy everything is to create"
done_testing
