#!/usr/bin/env bash
# Leased locks across machines on PostgreSQL: 20 applies claiming 20 host
# names (CAIRN_HOSTNAME) race for one environment: exactly one holds the
# lock, the 19 others fail at once with exit 3 naming the holder's host.
# A holder killed on one "machine" is not taken over from another before
# its lease runs out (no pid check across hosts: the lease decides), is
# taken over at once from its own host (its pid is gone), and lock status /
# force-unlock work from any host.
. "$(dirname "$0")/../cli/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
export CAIRN_STATE_KEY=pg-test-key-not-secret
export CAIRN_STATE_URL=$(pg_new_schema race)
cloud() { ls s/cloud 2>/dev/null | wc -l; }

mkstack s <<'YAML'
resources:
  slow:
    type: local.thing
    count: 2
    name: "slow-${count.index}"
    delay: 0.5
YAML
# the environment exists before the race (its row is no queue to wait in)
run apply -C s -e dev --auto-approve
expect_rc 0 "first apply"
sed -i 's/count: 2/count: 4/' s/stack.yaml

locked() { [ "$(pg_sql "SELECT count(*) FROM race.locks")" = 1 ]; }
intent() { [ "$(pg_sql "SELECT count(*) FROM race.intents")" -ge 1 ]; }
# at most one racer still running (the winner, held by s/cloud/.hold)
one_left() {
  local p n=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
  [ "$n" -le 1 ]
}

N=20
pids=()
# the winner's creates wait while s/cloud/.hold exists: it holds the lock
# until every loser has exited, however late a loaded machine starts one
# (a racer that came after the winner let go would find nothing to do, exit 0)
mkdir -p s/cloud
touch s/cloud/.hold
for i in $(seq 1 $N); do
  CAIRN_HOSTNAME=host-$i "$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >"r$i.out" 2>"r$i.err" </dev/null &
  pids+=($!)
done
BG_PIDS+=("${pids[@]}")
wait_until 60 "all racers but one exited while the winner held the lock" one_left
rm -f s/cloud/.hold
won=0 lost=0 winner=
for i in $(seq 1 $N); do
  wait "${pids[$((i - 1))]}"; rc=$?
  if [ "$rc" -eq 0 ]; then won=$((won + 1)); winner=$i;
  elif [ "$rc" -eq 3 ]; then lost=$((lost + 1));
  else echo "# racer $i exited $rc:"; sed 's/^/#   /' "r$i.err"; fi
done
eq "$won" "1" "exactly one racer held the lock"
eq "$lost" "$((N - 1))" "the 19 others exited 3"
eq "$(grep -l "is locked by .*@host-$winner " r*.err | wc -l)" "$((N - 1))" "every loser names the holder's host"
eq "$(cloud)" "4" "each object created once"
eq "$(pg_sql "SELECT count(*) FROM race.resources")" "4" "four rows"
eq "$(pg_sql "SELECT host FROM race.revisions WHERE status = 'ok' ORDER BY id DESC LIMIT 1")" "host-$winner" "the history names the winner's host"

# a holder killed on host-a: from host-b the lease decides
sed -i 's/count: 4/count: 8/' s/stack.yaml
# (a 60 s lease: still live however slowly what follows runs; host-a's
# takeover below must then come from the pid check, not from its expiry)
touch s/cloud/.hold # host-a is killed in the middle of a create (its intent written)
CAIRN_LOCK_LEASE=60 CAIRN_HOSTNAME=host-a "$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "host-a holds the lock, a create under way" intent
kill -9 "$A"; wait "$A" 2>/dev/null
rm -f s/cloud/.hold
CAIRN_HOSTNAME=host-b run lock status -C s -e dev
out_has "is locked" "the dead holder's lease is still there"
out_has "@host-a" "lock status names the holder's host"
CAIRN_HOSTNAME=host-b run apply -C s -e dev --auto-approve
expect_rc 3 "another host cannot take a live lease (it cannot see the pid)"
err_has "is locked by" "names the holder"
err_has "@host-a" "names host-a"
# on its own host the dead pid is seen: taken over at once
CAIRN_HOSTNAME=host-a run apply -C s -e dev --auto-approve
expect_rc 0 "host-a takes over its dead holder's lock at once"
eq "$(cloud)" "8" "eight objects, none twice"

# killed again; host-b waits for the lease to run out, then takes it
sed -i 's/count: 8/count: 12/' s/stack.yaml
touch s/cloud/.hold
CAIRN_LOCK_LEASE=3 CAIRN_HOSTNAME=host-a "$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "host-a holds the lock again, a create under way" intent
kill -9 "$A"; wait "$A" 2>/dev/null
rm -f s/cloud/.hold
t0=$(date +%s)
CAIRN_HOSTNAME=host-b run apply -C s -e dev --auto-approve --lock-timeout 20s
expect_rc 0 "host-b gets the lock once the lease has expired"
check "it waited for the lease (>= 1 s)" test $(( $(date +%s) - t0 )) -ge 1
eq "$(cloud)" "12" "twelve objects, none twice"

# force-unlock from another host
sed -i 's/count: 12/count: 16/' s/stack.yaml
# host-c's first create is held (s/cloud/.hold) until the unlock has landed,
# so it cannot finish before; let go then, it still has at least three
# creates of 0.5 s to make one after the other (1.5 s, which a loaded
# machine only makes longer), and its lease (3 s) is renewed, and checked,
# every second: it notices before it is done
touch s/cloud/.hold
CAIRN_LOCK_LEASE=3 CAIRN_HOSTNAME=host-c "$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >c.out 2>c.err </dev/null & C=$!
BG_PIDS+=("$C")
wait_until 60 "host-c holds the lock" locked
CAIRN_HOSTNAME=host-d run lock force-unlock -C s -e dev
expect_rc 0 "force-unlock from host-d"
out_has "unlocked environment 'dev'" "says so"
rm -f s/cloud/.hold
wait "$C"; RC=$?
check "host-c's apply stops" test "$RC" -ne 0
check "it says it lost the lock" grep -q "lost the lock" c.err
CAIRN_HOSTNAME=host-d run apply -C s -e dev --auto-approve
expect_rc 0 "apply after force-unlock"
eq "$(cloud)" "16" "sixteen objects, none twice"
done_testing
