#!/usr/bin/env bash
# Two applies racing on one environment: exactly one wins, the other fails
# at once with exit 3 naming the holder; --lock-timeout waits; lock status
# and force-unlock; an expired or dead holder's lock is taken over.
. "$(dirname "$0")/lib.sh" "$@"

# until_locked WHAT: the background run WHAT holds dev's lock (60 s at most)
until_locked() { wait_until 60 "$1 holds the lock" env_locked s dev; }

mkstack s <<'YAML'
resources:
  slow:
    type: local.thing
    count: 4
    name: "slow-${count.index}"
    delay: 0.5
YAML

"$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >b.out 2>b.err </dev/null & B=$!
BG_PIDS+=("$A" "$B")
wait "$A"; RA=$?
wait "$B"; RB=$?
if { [ "$RA" -eq 0 ] && [ "$RB" -eq 3 ]; } || { [ "$RA" -eq 3 ] && [ "$RB" -eq 0 ]; }; then pass; else fail "race: exits $RA and $RB, expected 0 and 3"; cat a.err b.err; fi
check "loser names the holder" grep -q "is locked by" a.err b.err
check "loser says how to wait" grep -q -- "--lock-timeout" a.err b.err
eq "$(ls s/cloud | wc -l)" "4" "each object created once"
eq "$(state_sql s "select count(*) from resources")" "4" "four rows"

# a waiting apply gets the lock when the holder finishes (the holder's first
# create waits on s/cloud/.hold: it holds the lock until the file goes)
sed -i 's/count: 4/count: 6/' s/stack.yaml
touch s/cloud/.hold
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
until_locked "the first apply"
run lock status -C s -e dev
out_has "is locked" "status while applying"
out_has "operation: apply" "status shows the operation"
"$CAIRN" apply -C s -e dev --auto-approve --lock-timeout 60s >"$WORK/out" 2>"$WORK/err" </dev/null & B=$!
BG_PIDS+=("$B")
# let the waiting apply find the lock held (were it slower to get there than
# this, it would find the lock free and the test prove less, not fail)
sleep 2
check "the waiting apply waits while the lock is held" kill -0 "$B"
rm -f s/cloud/.hold
wait "$B"; RC=$?
expect_rc 0 "waiting apply succeeds"
wait "$A"; eq "$?" "0" "first apply"
eq "$(ls s/cloud | wc -l)" "6" "six objects"
run lock status -C s -e dev
out_has "is not locked" "released"

# a killed holder: its lock is taken over at once (same host, dead pid)
sed -i 's/count: 6/count: 8/' s/stack.yaml
touch s/cloud/.hold
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
until_locked "the apply to kill"
kill -9 "$A"; wait "$A" 2>/dev/null
rm -f s/cloud/.hold
run lock status -C s -e dev
out_has "is locked" "the dead holder's row remains"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after a killed holder takes the lock over"
eq "$(ls s/cloud | wc -l)" "8" "eight objects, none twice"

# a refresh longer than the lease: the lease is renewed while it reads, so
# an apply started meanwhile is refused (exit 3), not given the lock
echo 8 >s/cloud/.read-delay
CAIRN_LOCK_LEASE=2 "$CAIRN" apply -C s -e dev --auto-approve >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
# 3 s after it locked: past the 2 s lease, well within the 8 s reads (the
# other run may take seconds to start on a loaded machine)
until_locked "the apply with a long refresh"
sleep 3
run apply -C s -e dev --auto-approve
expect_rc 3 "an apply during a long refresh finds the lock held"
err_has "is locked by" "names the holder"
wait "$A"; eq "$?" "0" "the slow apply finishes"
rm -f s/cloud/.read-delay
eq "$(ls s/cloud | wc -l)" "8" "eight objects, none twice"

# the lease runs out while the plan waits for 'yes' and another run takes
# the lock: the confirmed apply finds out before writing anything
sed -i 's/count: 8/count: 9/' s/stack.yaml
# (its answer comes through a FIFO, written only once the other run is done:
# the prompt shown, 2 s for the 1 s lease to run out, the other run, then 'yes')
mkfifo "$WORK/answer"
exec 7<>"$WORK/answer" # open both ends here: the reader's open does not wait for a writer
CAIRN_LOCK_LEASE=1 script -qec "'$CAIRN' apply -C s -e dev" /dev/null <"$WORK/answer" >a.out 2>&1 & A=$!
BG_PIDS+=("$A")
for _ in $(seq 1 1200); do grep -q "Enter a value" a.out && break; kill -0 "$A" 2>/dev/null || break; sleep 0.05; done
check "the apply asks for 'yes'" grep -q "Enter a value" a.out
sleep 2
run apply -C s -e dev --auto-approve --target 'slow[0]'
expect_rc 0 "another run takes the expired lock meanwhile"
echo yes >&7
exec 7>&-
wait "$A"; RA=$?
[ "$RA" -ne 0 ] && pass || fail "the confirmed apply should stop: its lock was taken meanwhile"
check "it says it lost the lock" grep -q "lost the lock of environment 'dev'" a.out
eq "$(ls s/cloud | wc -l)" "8" "nothing created by the run that lost its lock"
run apply -C s -e dev --auto-approve
expect_rc 0 "the next apply"
eq "$(ls s/cloud | wc -l)" "9" "nine objects"
sed -i 's/count: 9/count: 8/' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "back to eight"

# a bad lease setting is a clear error, not a silent default
CAIRN_LOCK_LEASE=soon "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?
expect_rc 1 "bad CAIRN_LOCK_LEASE"
err_has "CAIRN_LOCK_LEASE expects seconds" "names the variable"

# force-unlock takes the lock from a live holder, which notices at its
# next heartbeat and stops writing
run lock force-unlock -C s -e dev
expect_rc 0 "force-unlock on an unlocked env"
out_has "was not locked" "says so"
sed -i 's/count: 8/count: 14/' s/stack.yaml
touch s/cloud/.hold
CAIRN_LOCK_LEASE=3 "$CAIRN" apply -C s -e dev --auto-approve --parallelism 1 >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
until_locked "the apply to unlock"
run lock force-unlock -C s -e dev
expect_rc 0 "force-unlock"
out_has "unlocked environment 'dev'" "says so"
rm -f s/cloud/.hold
wait "$A"; RA=$?
[ "$RA" -ne 0 ] && pass || fail "the unlocked apply should stop with an error"
check "it says it lost the lock" grep -q "lost the lock" a.err
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after force-unlock"
eq "$(ls s/cloud | wc -l)" "14" "fourteen objects, none twice"
done_testing
