#!/usr/bin/env bash
# An apply killed with SIGKILL in the middle, then apply again: nothing
# lost, nothing duplicated, the database intact. The first kill lands
# exactly between a cloud call and its commit (an object exists that the
# state does not record yet); the others at arbitrary moments.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  a:
    type: local.thing
    count: 20
    name: "a-${count.index}"
    delay: 0.1
    settle: 0.4
  b:
    type: local.thing
    count: 20
    name: "b-${count.index}-${a[count.index].id}"
    delay: 0.2
YAML

objects() { ls s/cloud 2>/dev/null | wc -l; }
rows() { no_state s && echo 0 || state_sql s "select count(*) from resources" 2>/dev/null || echo 0; }

# 1: kill inside the window
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 2 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
hit=0
for _ in $(seq 300); do
  o=$(objects); r=$(rows)
  if [ "$o" -gt "$r" ] && [ "$r" -gt 0 ]; then kill -9 "$A"; hit=1; break; fi
  sleep 0.02
done
wait "$A" 2>/dev/null
eq "$hit" "1" "killed while an object was made but not recorded"
echo "# after kill 1: $(rows) rows, $(objects) objects, $(state_sql s 'select count(*) from intents') intents"
check "an unrecorded object exists" test "$(objects)" -gt "$(rows)"
check "its intent is pending" test "$(state_sql s 'select count(*) from intents')" -gt 0
# the address of an object made but not recorded (its file names it)
lost=""
for f in $(ls s/cloud); do
  if [ "$(state_sql s "select count(*) from resources where id='$f'")" = 0 ]; then
    lost=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['address'])" "s/cloud/$f"); lostid=$f; break
  fi
done
check "found the unrecorded object ($lost)" test -n "$lost"

# 2, 3: kills at arbitrary moments, recovering each time: 0.4 and 0.6 s after
# the run opened its revision (an apply revision newer than any before),
# so that each killed run is an interrupted revision in the history
for attempt in 2 3; do
  R=$(state_sql s "select max(id) from revisions")
  "$CAIRN" apply -C s -e dev --auto-approve --parallelism 2 >a.out 2>a.err </dev/null & A=$!
  BG_PIDS+=("$A")
  wait_until 60 "the apply got to its revision (kill $attempt)" \
    state_has s "select count(*) from revisions where command='apply' and id > $R"
  sleep 0.$((attempt * 2))
  kill -9 "$A" 2>/dev/null; wait "$A" 2>/dev/null
done
echo "# after kills: $(rows) rows, $(objects) objects, $(state_sql s 'select count(*) from intents') intents"
eq "$(state_check s)" "ok" "integrity after kills"
# every object in the cloud is either recorded or has a pending intent
for f in $(ls s/cloud 2>/dev/null); do
  tok=${f#thing-}
  n=$(state_sql s "select (select count(*) from resources where id='$f') + (select count(*) from intents where token='$tok')")
  [ "$n" -ge 1 ] && pass || fail "object $f is neither recorded nor pending"
done
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crashes"
eq "$(state_sql s "select count(*) from resources")" "40" "40 resources recorded"
eq "$(objects)" "40" "40 objects, none twice"
eq "$(state_sql s "select count(distinct id) from resources")" "40" "distinct ids"
eq "$(state_sql s "select count(*) from intents")" "0" "no pending intents"
eq "$(state_check s)" "ok" "integrity"
for f in $(ls s/cloud); do
  n=$(state_sql s "select count(*) from resources where id='$f'")
  [ "$n" = 1 ] && pass || fail "object $f recorded $n times"
done
run state history -C s -e dev
out_has "interrupted" "killed runs show as interrupted"
hist_ok "the killed runs are revisions marked interrupted" \
  "sum(1 for r in H if r['command'] == 'apply' and r['status'] == 'interrupted') >= 3"
hist_ok "a recover revision recorded $lost, the object kill 1 left unrecorded, with its id" \
  "any(r['command'] == 'recover' and any(c['action'] == 'recover' and c['address'] == '$lost' and c['id'] == '$lostid' for c in r['changes']) for r in H)"
eq "$(state_sql s "select id from resources where address='$lost'")" "$lostid" "$lost recorded with the object made before the kill"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"

# Ctrl-C: nothing new starts, and what runs is abandoned at once (its waits
# end), with its intent kept: the next apply recovers what it made
sed -i 's/count: 20/count: 30/' s/stack.yaml
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 2 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
# once it has finished something (a resource beyond the 40) and has a create
# in flight (its intent): from then on one or two are, until nothing is left
# to start
wait_until 60 "the apply got to a finished create and one in flight" \
  state_has s "select case when (select count(*) from resources) > 40 and (select count(*) from intents) > 0 then 1 else 0 end"
kill -INT "$A"; T0=$(date +%s%N)
wait "$A"; RA=$?
[ $(( ($(date +%s%N) - T0) / 1000000 )) -lt 2000 ] && pass || fail "the interrupted apply took more than 2 s to stop"
[ "$RA" -eq 1 ] && pass || fail "interrupted apply exits 1, got $RA"
check "it says interrupted" grep -q "interrupted by SIGINT" a.err
check "the summary lists skipped work" grep -q "skipped:" a.out
n=$(state_sql s "select count(*) from intents")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] && pass || fail "the abandoned operations keep their intents: $n"
for f in $(ls s/cloud); do
  tok=${f#thing-}
  n=$(state_sql s "select (select count(*) from resources where id='$f') + (select count(*) from intents where token='$tok')")
  [ "$n" -ge 1 ] && pass || fail "object $f is neither recorded nor pending after the interrupt"
done
run lock status -C s -e dev
out_has "not locked" "the lock is released"
hist_ok "the newest revision is the interrupted apply, and it lists what it finished" \
  "H[0]['command'] == 'apply' and H[0]['status'] == 'interrupted' and len(H[0]['changes']) == $(rows) - 40"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the interrupt"
eq "$(objects)" "60" "60 objects"
eq "$(state_sql s "select count(*) from intents")" "0" "the intents are recovered"
done_testing
