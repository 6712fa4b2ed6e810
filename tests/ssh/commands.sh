#!/usr/bin/env bash
# host.command against a real sshd: creates / unless / only_if guards asked
# at refresh, "will run" in the plan exactly when a command will run (never
# "no changes" for one that will), a command without guards, triggers,
# read_only commands whose output others use (rerun_on), a failing command
# (its exit status and the end of its stderr in the message, the state
# without it, independent resources done), env and cwd, the right host.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
known a
R=$(hostdir a)
mkdir -p "$R/var" "$R/etc"
echo "one" >"$R/etc/conf"

mkdir -p s
write_stack() { # EXTRA (appended resources)
  cat >s/stack.yaml <<EOF
variables:
  word: { type: string, default: hello }
hosts:
$(host_yaml a)
resources:
  once:
    type: host.command
    host: a
    command: echo "\$\${CAIRN_TEST_HOST} \$GREETING" > var/once; echo ran >> var/log
    cwd: $R
    env: { GREETING: "\${var.word}" }
    creates: var/once
  check:
    type: host.command
    host: a
    command: echo ran-unless >> var/log; touch var/flag
    cwd: $R
    unless: test -e var/flag
  onlyif:
    type: host.command
    host: a
    command: echo ran-onlyif >> var/log; rm -f var/trigger
    cwd: $R
    only_if: test -e var/trigger
  digest:
    type: host.command
    host: a
    command: sha256sum etc/conf | cut -c1-16
    cwd: $R
    read_only: true
  record:
    type: host.command
    host: a
    command: echo "digest=\${trimspace(digest.stdout)}" > var/state; echo ran-record >> var/log
    cwd: $R
    unless: grep -qx "digest=\${trimspace(digest.stdout)}" var/state
${1:-}
EOF
  echo 'variables: {}' >s/dev.yaml
}
logged() { awk -v l="$1" '$0 == l { n++ } END { print n + 0 }' "$R/var/log" 2>/dev/null || echo 0; }

echo "# first apply: every command whose guard says so runs once"
write_stack
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(cat "$R/var/once")" "a hello" "ran on a, in cwd, with env"
eq "$(logged ran)$(logged ran-unless)$(logged ran-onlyif)$(logged ran-record)" "1101" "once, unless, not only_if, record"
eq "$(cat "$R/var/state")" "digest=$(sha256sum "$R/etc/conf" | cut -c1-16)" "the read-only command's output used by another"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing will run: the plan is empty"
run apply -C s -e dev --auto-approve
expect_rc 0 "second apply"
eq "$(logged ran)$(logged ran-unless)$(logged ran-onlyif)$(logged ran-record)" "1101" "nothing ran again"

echo "# guards change on the host: the plan says what will run, and why"
rm "$R/var/once" "$R/var/flag"
touch "$R/var/trigger"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan: commands will run"
out_has "# once will run (var/once does not exist)" "creates"
out_has "# check will run (its unless guard failed (exit 1): test -e var/flag)" "unless"
out_has "# onlyif will run (its only_if guard succeeded: test -e var/trigger)" "only_if"
out_lacks "# record" "record is not due"
out_has "Plan: 0 to add, 3 to change, 0 to destroy." "counted as changes"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(logged ran)$(logged ran-unless)$(logged ran-onlyif)" "221" "each ran once more (only_if for the first time)"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty again"

echo "# a change the read-only command sees: record runs again after it (rerun_on)"
write_stack "  digest2:
    type: host.command
    host: a
    command: sha256sum etc/conf2 | cut -c1-16
    cwd: $R
    read_only: true
    rerun_on: [conf]
  conf:
    type: host.file
    host: a
    path: $R/etc/conf2
    content: \"two\\n\"
  record2:
    type: host.command
    host: a
    command: echo \"digest=\${trimspace(digest2.stdout)}\" > var/state2
    cwd: $R
    unless: grep -qx \"digest=\${trimspace(digest2.stdout)}\" var/state2"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply with the file"
eq "$(cat "$R/var/state2")" "digest=$(printf 'two\n' | sha256sum | cut -c1-16)" "record2 saw the new file's digest"
echo "three" >"$R/etc/conf2"
run plan -C s -e dev
out_has "# digest2 will be updated in place" "the read-only command will run again"
out_has '~ rerun_on = (["conf"] change in this apply)' "because conf changes"
run apply -C s -e dev --auto-approve
expect_rc 0 "repair"
eq "$(cat "$R/var/state2")" "digest=$(printf 'two\n' | sha256sum | cut -c1-16)" "record2 matches the repaired file in the same apply"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty after one apply"

echo "# a command without a guard runs at every apply, and the plan says so"
write_stack "  always:
    type: host.command
    host: a
    command: echo ran-always >> var/log
    cwd: $R"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "never 'no changes'"
out_has "# always will run (it has no guard (creates, unless, only_if): it runs at every apply)" "why"
run apply -C s -e dev --auto-approve
eq "$(logged ran-always)" 2 "ran twice"

echo "# triggers: a change runs it again even when its guard is satisfied"
write_stack "  trig:
    type: host.command
    host: a
    command: echo ran-trig >> var/log
    cwd: $R
    creates: var/once
    triggers: { version: \"1\" }"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(logged ran-trig)" 0 "guard satisfied: did not run"
sed -i 's/version: "1"/version: "2"/' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the trigger"
eq "$(logged ran-trig)" 1 "ran for the trigger"

echo "# a failing command: its exit status and stderr tail; the state keeps the rest"
write_stack "  bad:
    type: host.command
    host: a
    command: echo starting; echo 'disk on fire' >&2; exit 3
  after_bad:
    type: host.command
    host: a
    command: echo never
    depends_on: [bad]
  indep:
    type: host.command
    host: a
    command: echo ran-indep >> $R/var/log
    creates: $R/var/indep
  "
run apply -C s -e dev --auto-approve
expect_rc 1 "apply with a failing command"
out_has "failed:  bad: " "bad failed"
out_has "a: command failed (exit 3): echo starting; echo 'disk on fire' >&2; exit 3: disk on fire" "exit status and stderr"
out_has "skipped: after_bad: dependency bad failed" "its dependent skipped"
eq "$(state_sql s "select count(*) from resources where address in ('bad', 'after_bad')")" 0 "neither recorded"
eq "$(state_sql s "select count(*) from resources where address='indep'")" 1 "the independent one recorded"
eq "$(logged ran-indep)" 1 "and ran"


echo "# a command past its deadline, and one stopped by SIGTERM: abandoned at once (the SSH request"
echo "# forgotten, no callback for the gone operation), the run ends, cairn does not crash"
mkdir -p dl dl2
D=dl
dl_stack() { # NAME MORE-LINES (in $D)
  cat >$D/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  $1:
    type: host.command
    host: a
    command: sleep 4; touch var/$1-late
    cwd: $R
$2
EOF
  printf 'variables: {}\n' >$D/dev.yaml
}
# slow's command answers at 4s, after its deadline, while other (6s) keeps
# the run going: the answer must not reach the abandoned operation
dl_stack slow "    timeouts: { create: 2s }
  other:
    type: host.command
    host: a
    command: sleep 6; echo other-done >> var/log
    cwd: $R"
start=$(date +%s)
run apply -C dl -e dev --auto-approve --accept-new-host-keys
took=$(( $(date +%s) - start ))
expect_rc 1 "apply past the deadline (not a crash)"
err_has "create did not finish within its deadline of 2s" "the deadline is named"
check "other ran to its end (took ${took}s)" test "$took" -ge 6
eq "$(state_sql dl "select count(*) from resources where env='dev' and address='slow'")" 0 "slow not recorded"
eq "$(state_sql dl "select count(*) from resources where env='dev' and address='other'")" 1 "other recorded"
D=dl2
dl_stack term ""
"$CAIRN" apply -C dl2 -e dev --auto-approve --accept-new-host-keys >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
for _ in $(seq 1 50); do grep -q "term: creating" "$WORK/err" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
start=$(date +%s)
kill -TERM "$pid"
wait "$pid"; RC=$?
took=$(( $(date +%s) - start ))
expect_rc 1 "apply stopped by SIGTERM"
err_has "interrupted by SIGTERM" "the signal is named"
check "ended at the signal, not after the command (took ${took}s)" test "$took" -lt 3

done_testing
