#!/usr/bin/env bash
# cairn env gc: destroys every ephemeral environment past its expiry and
# forgets it; one whose lock is held (an apply under way) is skipped and
# reported, and the apply finishes undisturbed; two gc runners at once
# destroy each environment once, with no failure; an environment that has
# an overlay file is never touched, even if recorded as ephemeral.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
variables:
  delay: { type: number, default: 0 }
resources:
  thing:
    type: local.thing
    name: "${env.name}-thing"
    delay: "${var.delay}"
outputs:
  name: { value: "${thing.name}" }
YAML
objects() { ls s/cloud 2>/dev/null | wc -l; }
recorded() { state_sql s "select name from ephemeral_envs order by name" | paste -sd' '; }

for e in pr-1 pr-2 pr-3; do
  run env create "$e" --from dev --ttl 2s --auto-approve -C s
  expect_rc 0 "create $e"
done
eq "$(objects)" "3" "three objects"

# an apply on pr-1 holds pr-1's lock until the test lets it go (its update
# waits while s/cloud/.hold exists)
touch s/cloud/.hold
"$CAIRN" apply -C s -e pr-1 --auto-approve --var delay=0.01 >apply.out 2>apply.err </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "the apply holds pr-1's lock" env_locked s pr-1
run lock status -C s -e pr-1
out_has "operation: apply" "the apply holds pr-1's lock"
sleep 2.2 # all three have expired
run env gc -C s
expect_rc 0 "gc while pr-1 is being applied"
out_has "env gc: pr-1: skipped: environment 'pr-1' is locked by" "pr-1 skipped, naming the holder"
out_has "Environment 'pr-2' destroyed and forgotten." "pr-2 destroyed"
out_has "Environment 'pr-3' destroyed and forgotten." "pr-3 destroyed"
out_has "env gc: 2 destroyed, 1 skipped, 0 failed." "the count"
eq "$(recorded)" "pr-1" "pr-1 is still recorded"
eq "$(state_sql s "select count(*) from resources where env = 'pr-1'")" "1" "with its resource"
rm s/cloud/.hold
wait "$A"; RA=$?
eq "$RA" "0" "the apply on pr-1 finished undisturbed"
check "it applied the update" grep -q "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." apply.out
eq "$(objects)" "1" "pr-2's and pr-3's objects are gone"

# once the lock is free, the next gc takes it
run env gc -C s
expect_rc 0 "gc again"
out_has "Environment 'pr-1' destroyed and forgotten." "pr-1 destroyed now"
out_has "env gc: 1 destroyed, 0 skipped, 0 failed." "the count"
eq "$(recorded)" "" "nothing recorded"
eq "$(objects)" "0" "no object left"
eq "$(state_sql s "select count(*) from resources")" "0" "nothing in the state"
eq "$(state_sql s "select count(*) from locks")" "0" "no lock left behind"

# an environment extended before gc takes its lock is left alone
run env create pr-x --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "create pr-x"
sleep 1.2
run env extend pr-x --ttl 1h -C s
expect_rc 0 "extend an expired environment"
run env gc -C s
expect_rc 0 "gc"
out_has "env gc: 0 destroyed, 0 skipped, 0 failed." "pr-x is no longer expired"
eq "$(recorded)" "pr-x" "pr-x kept"
run env destroy pr-x --auto-approve -C s
expect_rc 0 "env destroy pr-x"

# two gc runners at once (cron on two machines): each environment destroyed once
for i in 4 5 6 7 8 9; do
  run env create "pr-$i" --from dev --ttl 1s --auto-approve -C s
  expect_rc 0 "create pr-$i"
done
sleep 1.2
"$CAIRN" env gc -C s >gc1.out 2>gc1.err </dev/null & G1=$!
"$CAIRN" env gc -C s >gc2.out 2>gc2.err </dev/null & G2=$!
BG_PIDS+=("$G1" "$G2")
wait "$G1"; R1=$?
wait "$G2"; R2=$?
eq "$R1 $R2" "0 0" "both gc runners succeed"
eq "$(cat gc1.out gc2.out | grep -c "destroyed and forgotten")" "6" "six environments destroyed in all"
for i in 4 5 6 7 8 9; do
  eq "$(cat gc1.out gc2.out | grep -c "Environment 'pr-$i' destroyed and forgotten.")" "1" "pr-$i destroyed once"
done
check "no failure reported" sh -c "! grep -h 'failed (see' gc1.out gc2.out"
check "no error printed" sh -c "! grep -h 'cairn: error' gc1.err gc2.err"
eq "$(recorded)" "" "nothing recorded"
eq "$(objects)" "0" "no object left"

# ten pipelines at once on a stack that has no state yet: the first ones
# create the state file together, and every one succeeds
mkstack f <<'YAML'
resources:
  thing:
    type: local.thing
    name: "${env.name}-thing"
    delay: 0.5
YAML
pids=()
for i in $(seq 1 10); do
  "$CAIRN" env create "f$i" --from dev --ttl 1s --auto-approve -C f >"f$i.out" 2>"f$i.err" </dev/null &
  pids+=($!)
done
BG_PIDS+=("${pids[@]}")
codes=""
for p in "${pids[@]}"; do wait "$p"; codes="$codes$? "; done
eq "$codes" "0 0 0 0 0 0 0 0 0 0 " "ten creates on a fresh state all succeed"
eq "$(state_sql f "select count(*) from ephemeral_envs") $(state_sql f "select count(*) from resources")" "10 10" "ten recorded, ten resources"
eq "$(ls f/cloud | wc -l)" "10" "ten objects"
sleep 1.2
run env gc -C f
expect_rc 0 "gc of the ten"
out_has "env gc: 10 destroyed, 0 skipped, 0 failed." "all ten destroyed"
eq "$(ls f/cloud | wc -l)" "0" "no object left"

# gc never touches an environment with an overlay file, even one recorded as ephemeral
run env create pr-o --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "create pr-o"
cp s/dev.yaml s/pr-o.yaml # someone commits an overlay for it
sleep 1.2
run env gc -C s
expect_rc 0 "gc"
out_has "env gc: pr-o: skipped: environment 'pr-o' has an overlay file" "skipped and reported"
eq "$(state_sql s "select count(*) from resources where env = 'pr-o'")" "1" "its resource kept"
eq "$(objects)" "1" "its object kept"
done_testing
