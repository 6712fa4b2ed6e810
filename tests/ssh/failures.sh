#!/usr/bin/env bash
# When hosts fail: an unreachable host, a host whose sshd is killed in the
# middle of an apply, a path the login user may not write. That host's
# resources fail (the host named in the message), independent ones
# finish, the summary says which, the state records only what was done,
# and the next apply does the rest. A killed cairn leaves no half-written
# file.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
start_host b
known a
known b
RA=$(hostdir a)
RB=$(hostdir b)

# stack: N files on a and on b, one slow command on a
stack() {
  {
    echo "hosts:"
    host_yaml a
    host_yaml b
    echo "resources:"
    for h in a b; do
      for i in 1 2 3; do
        cat <<EOF
  f$h$i:
    type: host.file
    host: $h
    path: $(hostdir $h)/file$i
    content: "file $i on $h\n"
EOF
      done
    done
    cat <<EOF
  slow:
    type: host.command
    host: a
    command: sleep ${1:-0}; touch $RA/slow-done
    creates: $RA/slow-done
  after_slow:
    type: host.file
    host: a
    path: $RA/after
    content: "after\n"
    depends_on: [slow]
EOF
  } >s/stack.yaml
  echo 'variables: {}' >s/dev.yaml
}
mkdir -p s
recorded() { state_sql s "select group_concat(address, ' ') from (select address from resources where env='dev' order by address)"; }

echo "# an unreachable host: its resources fail, the other host's are done"
stack 0
stop_host b
run apply -C s -e dev --auto-approve
expect_rc 1 "apply with b down"
out_has "Apply failed:" "summary"
out_has "failed:  b: " "the host b failed"
out_has "b (127.0.0.1:${SSHD_PORT[b]}): cannot connect: Connection refused" "why, naming the host"
out_has "skipped: fb1: dependency b failed" "b's files skipped"
eq "$(recorded)" "a after_slow fa1 fa2 fa3 slow" "only a and its resources recorded"
check "a's files written" test -f "$RA/file1" -a -f "$RA/file3"
check "nothing on b" test ! -e "$RB/file1"
RESTART=1 start_host b
run apply -C s -e dev --auto-approve
expect_rc 0 "the next apply does the rest"
out_has "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." "b and its 3 files"
check "b's files written" test -f "$RB/file1" -a -f "$RB/file3"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing left"

echo "# a host with recorded resources down at the next apply: the others' changes are done"
sed -i 's/content: "file 1 on \(.\)\\n"/content: "file 1 again on \1\\n"/' s/stack.yaml
check "both hosts' file1 change in the stack" grep -q 'file 1 again on b' s/stack.yaml
stop_host b
run apply -C s -e dev --auto-approve
expect_rc 1 "apply with b down"
err_has "cairn: warning: cannot refresh" "the refresh of b's objects is a warning"
err_has "b (127.0.0.1:${SSHD_PORT[b]}): cannot connect: Connection refused; the other hosts go on" "naming b"
out_has "failed:  b: " "host b failed"
out_has "b (127.0.0.1:${SSHD_PORT[b]}): cannot connect: Connection refused" "why"
out_has "skipped: fb1: dependency b failed" "b's change skipped"
out_has "skipped: fb2: dependency b failed" "b's unchanged files too: nothing on b was checked"
eq "$(cat "$RA/file1")" "file 1 again on a" "a's change is done"
eq "$(state_sql s "select json_extract(attrs, '\$.content') from resources where address='fa1'")" "file 1 again on a" "and recorded"
eq "$(state_sql s "select json_extract(attrs, '\$.content') from resources where address='fb1'")" "file 1 on b" "b's record unchanged"
run plan -C s -e dev
expect_rc 1 "a plan (a drift check) with b down fails"
err_has "cannot refresh" "and says why"
RESTART=1 start_host b
run apply -C s -e dev --auto-approve
expect_rc 0 "b back: the rest is done"
eq "$(cat "$RB/file1")" "file 1 again on b" "b's change"

echo "# sshd killed during an apply: a's work fails, b's finishes; the next apply finishes"
run destroy -C s -e dev --auto-approve
expect_rc 0 "clean slate"
rm -f "$RA/slow-done"
# the slow command sleeps 30 s: the host is killed as soon as it is seen
# running (its shell, by its command line), long before it could finish
stack 30
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null &
APPLY=$!
wait_until 60 "the slow command runs on host a" running "sleep 30; touch $RA/slow-done"
stop_host a KILL
wait "$APPLY"
RC=$?
expect_rc 1 "apply with a killed in the middle"
out_has "failed:  slow: " "the running command failed"
out_has "the connection was lost" "because the connection was lost"
out_has "skipped: after_slow: dependency slow failed" "its dependent skipped"
check "b's files written" test -f "$RB/file1" -a -f "$RB/file2" -a -f "$RB/file3"
eq "$(state_sql s "select count(*) from resources where address in ('slow', 'after_slow')")" 0 "neither recorded"
eq "$(state_sql s "select count(*) from resources where address like 'fb%'")" 3 "b's files recorded"
RESTART=1 start_host a
stack 0
run apply -C s -e dev --auto-approve
expect_rc 0 "the next apply finishes"
check "after written" test -f "$RA/after"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing left"

echo "# a killed cairn leaves no half-written file"
head -c 3000000 /dev/urandom >"$WORK/big"
{
  echo "hosts:"
  host_yaml a
  echo "resources:"
  for i in $(seq 1 12); do
    cat <<EOF
  big$i:
    type: host.file
    host: a
    path: $RA/big$i
    content_base64: '\${filebase64("$WORK/big")}'
EOF
  done
} >s/stack.yaml
"$CAIRN" apply -C s -e dev --auto-approve --parallelism 3 >"$WORK/out" 2>"$WORK/err" </dev/null &
APPLY=$!
for _ in $(seq 1 200); do [ -n "$(find "$RA" -name '.big*.cairn-*' 2>/dev/null)" ] && break; sleep 0.02; done
kill -9 "$APPLY"
wait "$APPLY" 2>/dev/null
n=0 bad=0
for f in "$RA"/big*; do
  [ -e "$f" ] || continue
  n=$((n + 1))
  cmp -s "$f" "$WORK/big" || bad=$((bad + 1))
done
eq "$bad" 0 "every file there is whole ($n of 12 written before the kill)"
run apply -C s -e dev --auto-approve
expect_rc 0 "the next apply writes the rest"
for i in $(seq 1 12); do cmp -s "$RA/big$i" "$WORK/big" || fail "big$i incomplete"; done
pass

echo "# a path the login user may not write: permission denied, named"
U="cp$((RANDOM % 90000 + 10000))"
trap 'userdel -r "$U" 2>/dev/null; stop_all_hosts; cleanup' EXIT
# ('*': no password, but not locked, which sshd refuses even for keys)
if useradd -m -s /bin/sh -p '*' "$U" 2>/dev/null; then
  mkdir -p "$RA/rootonly" s2 && chmod 0755 "$RA/rootonly"
  # sshd reads authorized_keys as the user: let it through to that file
  chmod o+x "$WORK" "$K" && chmod o+r "$K/authorized_keys"
  echo 'variables: {}' >s2/dev.yaml
  cat >s2/stack.yaml <<EOF
hosts:
$(host_yaml a | sed "s/user: root/user: $U/")
resources:
  mine:
    type: host.file
    host: a
    path: /tmp/$U-mine
    content: "mine\n"
  theirs:
    type: host.file
    host: a
    path: $RA/rootonly/theirs
    content: "no\n"
EOF
  run apply -C s2 -e dev --auto-approve
  expect_rc 1 "apply"
  out_has "failed:  theirs: " "the root-owned path failed"
  out_has "a (127.0.0.1:${SSHD_PORT[a]}): cannot write $RA/rootonly/theirs: Permission denied" "why"
  eq "$(state_sql s2 "select count(*) from resources where address='mine'")" 1 "the other file recorded"
  eq "$(stat -c %U /tmp/$U-mine)" "$U" "written as the login user"
  rm -f "/tmp/$U-mine"
else
  echo "# SKIP permission denied: cannot add a test user (not root?)"
fi

done_testing
