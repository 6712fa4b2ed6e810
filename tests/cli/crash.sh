#!/usr/bin/env bash
# An apply killed with SIGKILL in the middle, then apply again: nothing
# lost, nothing duplicated, the database intact.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  a:
    type: test.thing
    count: 12
    name: "a-${count.index}"
    delay: 0.15
  b:
    type: test.thing
    count: 12
    name: "b-${count.index}-${a[count.index].id}"
    delay: 0.1
YAML

for attempt in 1 2 3; do
  "$CAIRN" apply -C s -e dev --auto-approve --parallelism 3 >a.out 2>a.err </dev/null & A=$!
  sleep 0.$((3 + attempt * 2))
  kill -9 "$A"; wait "$A" 2>/dev/null
done
rows=$(state_sql s "select count(*) from resources")
objs=$(ls s/cloud 2>/dev/null | wc -l)
echo "# after kills: $rows rows, $objs objects, $(state_sql s 'select count(*) from intents') intents"
eq "$(state_sql s 'pragma integrity_check')" "ok" "integrity after kills"
# every object in the cloud is either recorded or has a pending intent
for f in $(ls s/cloud 2>/dev/null); do
  tok=${f#thing-}
  n=$(state_sql s "select (select count(*) from resources where id='$f') + (select count(*) from intents where token='$tok')")
  [ "$n" -ge 1 ] && pass || fail "object $f is neither recorded nor pending"
done
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crash"
eq "$(state_sql s "select count(*) from resources")" "24" "24 resources recorded"
eq "$(ls s/cloud | wc -l)" "24" "24 objects, none twice"
eq "$(state_sql s "select count(distinct id) from resources")" "24" "distinct ids"
eq "$(state_sql s "select count(*) from intents")" "0" "no pending intents"
eq "$(state_sql s 'pragma integrity_check')" "ok" "integrity"
for f in $(ls s/cloud); do
  n=$(state_sql s "select count(*) from resources where id='$f'")
  [ "$n" = 1 ] && pass || fail "object $f recorded $n times"
done
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"
done_testing
