#!/usr/bin/env bash
# What cairn refuses, and that a refusal leaves everything as it was:
# prevent_destroy against a replacement as well as a destroy, state rm of an
# unknown address, import over a managed address, to an address the stack
# does not have, or of an object that does not exist.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  keep:
    type: local.thing
    name: keep
    zone: a
    lifecycle:
      prevent_destroy: true
  other:
    type: local.thing
    name: other
YAML
snapshot() { state_sql s "select address, id, attrs from resources order by address"; }

run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
keep_id=$(state_sql s "select id from resources where address='keep'")
before=$(snapshot)

# a change that forces a replacement of a protected resource
sed -i 's/zone: a/zone: b/' s/stack.yaml
run plan -C s -e dev
expect_rc 1 "plan of a replacement of a protected resource"
err_has "stack.yaml:7:24: keep has lifecycle.prevent_destroy set, but the plan would replace it" "names the rule, the resource and the replacement"
run apply -C s -e dev --auto-approve
expect_rc 1 "apply refused"
err_has "the plan would replace it" "apply says why"
eq "$(snapshot)" "$before" "state unchanged"
check "the protected object still exists" test -f "s/cloud/$keep_id"
eq "$(ls s/cloud | wc -l)" "2" "no new object"
sed -i 's/zone: b/zone: a/' s/stack.yaml

# state rm of an unknown address
run state rm -C s -e dev nothing
expect_rc 1 "state rm of an unknown address"
err_has "nothing" "names the address"
err_has "no resource nothing in the state of environment 'dev'" "says it is not recorded"
eq "$(snapshot)" "$before" "state unchanged"

# import over a managed address: the existing row is untouched
other_id=$(state_sql s "select id from resources where address='other'")
run import -C s -e dev keep "$other_id"
expect_rc 1 "import over a managed address"
err_has "keep" "names the address"
err_has "already" "says it is already managed"
eq "$(snapshot)" "$before" "existing rows untouched"

# import to an address the stack does not have
run import -C s -e dev nosuch "$other_id"
expect_rc 1 "import to an address not in the stack"
err_has "nosuch" "names the address"
eq "$(snapshot)" "$before" "nothing recorded"

# import of an object that does not exist
run state rm -C s -e dev other
expect_rc 0 "forget other"
after_rm=$(snapshot)
run import -C s -e dev other thing-doesnotexist
expect_rc 1 "import of an id that does not exist"
err_has "thing-doesnotexist" "names the id"
eq "$(snapshot)" "$after_rm" "nothing recorded"
run import -C s -e dev other "$other_id"
expect_rc 0 "import of the real object"
eq "$(state_sql s "select id from resources where address='other'")" "$other_id" "imported with its id"
check "the id is not empty" test -n "$other_id"

# destroy --target destroys what depends on the target too (a dependent
# cannot outlive it); destroy --exclude keeps what the excluded one needs
mkstack t <<'YAML'
resources:
  base:
    type: local.thing
    name: base
  user:
    type: local.thing
    name: "user-of-${base.id}"
  alone:
    type: local.thing
    name: alone
YAML
run apply -C t -e dev --auto-approve
expect_rc 0 "apply t"
run destroy -C t -e dev --auto-approve --exclude user
expect_rc 0 "destroy --exclude user"
eq "$(state_sql t "select address from resources order by address" | paste -sd,)" "base,user" \
  "user and base, which it needs, are kept; alone is destroyed"
run destroy -C t -e dev --auto-approve --target base
expect_rc 0 "destroy --target base"
out_has "2 destroyed" "base and its dependent"
eq "$(state_sql t "select count(*) from resources")" "0" "nothing left"
eq "$(ls t/cloud | wc -l)" "0" "no object left"
done_testing
