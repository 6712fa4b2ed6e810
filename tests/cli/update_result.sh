#!/usr/bin/env bash
# A module's update that returns nothing (local.noreturn, a fixture in
# tests/cli/modules) fails the operation, as a create that returns nothing
# does: the message names the module and the address, the state keeps the
# previous attributes, and the next plan shows the change again.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  item:
    type: local.noreturn
    name: first
    size: 1
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "create"
before=$(state_sql s "select attrs from resources where env='dev' and address='item'")
eq "$(echo "$before" | jq -r .name)" "first" "created with its name"

sed -i 's/name: first/name: second/; s/size: 1/size: 2/' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 1 "an update that returns nothing fails"
out_has "Apply failed: 0 done, 1 failed, 0 skipped." "summary"
out_has "module local.noreturn returned null from update of item, expected a table" "names the module and the address"
out_has "the state keeps the previous attributes" "says what the state holds"
eq "$(state_sql s "select attrs from resources where env='dev' and address='item'")" "$before" \
  "the state keeps the previous attributes"
run state show -C s -e dev item
expect_rc 0 "state show"
out_has "first" "state show: the old name"
out_lacks "second" "state show: not the name the module never set"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the change is still planned"
out_has '"first" -> "second"' "plan: the name still to change"
done_testing
