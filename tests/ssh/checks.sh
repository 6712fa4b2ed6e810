#!/usr/bin/env bash
# An ssh: health check against a real sshd (docs/guardrails.md): a command
# run on a host of the stack's hosts: after the apply, through the run's
# session, passing on exit 0. A release that breaks the host's file fails
# the check; the environment is rolled back on its own to the revision
# whose check passed, and the file on the host is the old one again.
# A check on a host that is not in hosts: fails with the reason. SSH
# checks run in the event loop: two checks run at the same time (each
# command waits for the other's to begin), and a SIGTERM during a long one
# ends cairn at once with the lock released.
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
# two checks run at the same time: each command marks that it began, then
# waits (15 s at most) for the other's mark and passes only if it came.
# Checks run one after the other would have the first fail (the second's
# mark comes only after it has ended); how long the run takes does not matter.
rm -f "$R/one.up" "$R/two.up"
cat >s/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  conf: { type: host.file, host: a, path: $R/app.conf, content: "v4" }
checks:
  - { name: one, ssh: { host: a, command: "touch $R/one.up; i=0; while [ ! -e $R/two.up ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done; test -e $R/two.up" }, retries: 0, deadline: 20s }
  - { name: two, ssh: { host: a, command: "touch $R/two.up; i=0; while [ ! -e $R/one.up ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done; test -e $R/one.up" }, retries: 0, deadline: 20s }
EOF
run apply -C s -e dev --auto-approve
expect_rc 0 "two ssh checks that each wait for the other pass"
out_has "  ok    one (ssh a, 1 attempt," "the first: the second began while it ran"
out_has "  ok    two (ssh a, 1 attempt," "the second: the first began while it ran"

# SIGTERM while a check's command runs: sent once the command runs on the
# host (its shell, found by its marker); cairn must not wait for it (60 s,
# or the check's 20 s deadline); 2 s leave room for an ASan/LSan exit.
cat >s/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  conf: { type: host.file, host: a, path: $R/app.conf, content: "v5" }
checks:
  - { name: one, ssh: { host: a, command: "sleep 60; : ck-$$" }, retries: 0, deadline: 20s }
  - { name: two, ssh: { host: a, command: "sleep 60; : ck-$$" }, retries: 0, deadline: 20s }
EOF
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null & PID=$!
BG_PIDS+=("$PID")
wait_until 60 "the check's command runs on host a" running "sleep 60; : ck-$$"
T0=$(date +%s%N)
kill -TERM "$PID"
wait "$PID"; RC=$?
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
echo "# cairn stopped ${MS} ms after the SIGTERM"
[ "$MS" -lt 2000 ] && pass || fail "SIGTERM during an ssh check: cairn took ${MS} ms to stop"
expect_rc 1 "an interrupted ssh check"
err_has "interrupted by SIGTERM" "says why"
run lock status -C s -e dev
out_has "is not locked" "the lock is released"
done_testing
