#!/usr/bin/env bash
# An ssh: health check against a real sshd (docs/guardrails.md): a command
# run on a host of the stack's hosts: after the apply, through the run's
# session, passing on exit 0. A release that breaks the host's file fails
# the check; the environment is rolled back on its own to the revision
# whose check passed, and the file on the host is the old one again.
# A check on a host that is not in hosts: fails with the reason. SSH
# checks run in the event loop: two 2-second commands take about 2 s, and a
# SIGTERM during a long one ends cairn at once with the lock released.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
known a
R=$(hostdir a)

stack() { # CONTENT [CHECK-HOST]
  mkdir -p s
  cat >s/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  conf:
    type: host.file
    host: a
    path: $R/app.conf
    content: "$1"
checks:
  - name: app
    ssh: { host: ${2:-a}, command: "grep -q '^status=healthy' $R/app.conf" }
    retries: 1
    interval: 0.2
    deadline: 20s
EOF
  printf 'provider: {region: us-east-1}\n' >s/dev.yaml
}

stack "status=healthy\\nversion=1\\n"
run apply -C s -e dev --auto-approve
expect_rc 0 "revision 1: the check passes"
out_has "  ok    app (ssh a, 1 attempt," "the command ran on host a and exited 0"

stack "status=broken\\nversion=2\\n"
run apply -C s -e dev --auto-approve
expect_rc 6 "revision 2 fails its check"
out_has "  FAIL  app (ssh a): after 2 attempts: the command exited with 1" "what failed"
out_has "Health checks failed: rolling environment 'dev' back to revision 1, the last whose checks passed." "the rollback"
err_has "revision 2 failed its health checks (app); environment 'dev' was rolled back to revision 1" "the summary"
check "the host has revision 1's file again" grep -qx 'version=1' "$R/app.conf"
hist_ok "the history" "H[0]['command'] == 'automatic rollback from revision 2 to revision 1 (checks failed: app)' and H[0]['summary']['checks_passed'] is True"

# a check naming a host that is not in hosts:
stack "status=healthy\\nversion=3\\n" nosuch
run apply -C s -e dev --auto-approve
expect_rc 6 "a check on an unknown host fails"
out_has "  FAIL  app (ssh nosuch): after 2 attempts: host nosuch is not in the hosts: of the stack nor in the state of environment 'dev'" "with the reason"
# two checks whose commands take 2 s each run at the same time
cat >s/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  conf: { type: host.file, host: a, path: $R/app.conf, content: "v4" }
checks:
  - { name: one, ssh: { host: a, command: "sleep 2" }, retries: 0, deadline: 20s }
  - { name: two, ssh: { host: a, command: "sleep 2" }, retries: 0, deadline: 20s }
EOF
T0=$(date +%s%N)
run apply -C s -e dev --auto-approve
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
expect_rc 0 "two slow ssh checks pass"
out_has "  ok    two (ssh a, 1 attempt," "the second one too"
[ "$MS" -lt 3800 ] && pass || fail "two 2-second ssh checks took ${MS} ms: not at the same time"

# SIGTERM while a check's command runs
sed -i 's/content: "v4"/content: "v5"/; s/sleep 2/sleep 60/' s/stack.yaml
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null & PID=$!
BG_PIDS+=("$PID")
sleep 2
T0=$(date +%s%N)
kill -TERM "$PID"
wait "$PID"; RC=$?
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
[ "$MS" -lt 1000 ] && pass || fail "SIGTERM during an ssh check: cairn took ${MS} ms to stop"
expect_rc 1 "an interrupted ssh check"
err_has "interrupted by SIGTERM" "says why"
run lock status -C s -e dev
out_has "is not locked" "the lock is released"
done_testing
