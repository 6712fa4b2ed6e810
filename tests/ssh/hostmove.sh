#!/usr/bin/env bash
# Hosts whose machine changes, and hosts the state forgot, with the real
# cairn binary and real sshd hosts:
#  - a host's address comes from a machine (test.machine) that an apply
#    replaces: its resources are planned "will be created (its host box
#    moves to a new machine)", made on the new machine in the same apply
#    (of the plan saved with -out), after the machine and the host, and the
#    next plan is empty. The two
#    machines are two sshds, each with a disk of its own (a tmpfs in its own
#    mount namespace: a file written on one is not on the other), as two
#    cloud instances would be; a resource removed from the stack meanwhile
#    is forgotten with the old machine, not deleted on the new one;
#  - the same with the old machine already gone when the apply runs;
#  - an ssh.host forgotten (`state rm`), or a bastion: plans work (the
#    host is planned to be created, its resources keep what the state
#    recorded), an apply that cannot make the host again fails on it alone,
#    and the next plan and apply work and leave the resources alone.
. "$(dirname "$0")/lib.sh" "$1"

attr() { state_sql "$1" "select json_extract(attrs, '\$.$3') from resources where env='dev' and address='$2'"; }
count_of() { state_sql "$1" "select count(*) from resources where env='dev' and address='$2'"; }
# line_of PATTERN: the first line of $WORK/err with PATTERN (0 when none)
line_of() { grep -nF -- "$1" "$WORK/err" | head -n1 | cut -d: -f1 | grep . || echo 0; }
before() { # A B DESCRIPTION: A is logged before B
  local a b
  a=$(line_of "$1")
  b=$(line_of "$2")
  if [ "$a" -gt 0 ] && [ "$b" -gt "$a" ]; then pass; else fail "$3: '$1' at line $a, '$2' at line $b"; sed 's/^/#   err: /' "$WORK/err" | head -30; fi
}

DISK=$WORK/disk
if has_private_disks; then
  PRIVATE=1
  HOST_DISK=$DISK start_host a
  HOST_DISK=$DISK start_host b
else
  PRIVATE=0
  echo "# no mount namespaces here (root and unshare -m): the machines share this one's disk"
  start_host a
  start_host b
fi
start_host jump
known a
known b
known jump
mkdir -p "$DISK"

# movestack DIR PORT [EXTRA RESOURCES]: box's address and port come from
# the machine m, which listens on PORT (a new PORT replaces m)
movestack() {
  hoststack "$1" <<EOF
resources:
  m:
    type: test.machine
    listen: $2
  conf:
    type: host.file
    host: box
    path: $DISK/app.conf
    content: "made by cairn\n"
  p:
    type: host.probe
    host: box
    text: probe
${3:-}
hosts:
  box:
    address: "\${m.address}"
    port: "\${m.port}"
    user: root
    key_file: $K/id_ed25519
    known_hosts: $KNOWN
EOF
}
EXTRA="  extra:
    type: host.file
    host: box
    path: $DISK/extra
    content: extra"

echo "# the machine behind a host is replaced: what is on the host is made again on the new one"
movestack s "${SSHD_PORT[a]}" "$EXTRA"
run apply -C s -e dev --auto-approve
expect_rc 0 "first apply on machine a"
eq "$(attr s p ran_on)" "probe a" "the probe ran on a"
check "app.conf on a's disk" on_disk a test -f "$DISK/app.conf"
if [ "$PRIVATE" = 1 ]; then
  check "not on b's disk" on_disk b test ! -e "$DISK/app.conf"
  check "nor on this machine's" test ! -e "$DISK/app.conf"
fi
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "a second plan is empty"

movestack s "${SSHD_PORT[b]}"
run plan -C s -e dev --detailed-exitcode -out "$WORK/move.plan"
expect_rc 2 "the plan with m replaced (saved)"
out_has "# m must be replaced" "the machine is replaced"
out_has "# box will be updated in place" "the host gets the new machine's address"
out_has "~ address = \"127.0.0.1\" -> (known after apply)" "known after apply"
out_has "# conf will be created (its host box moves to a new machine)" "the file will be made on the new machine"
out_has "# p will be created (its host box moves to a new machine)" "the probe too"
out_lacks "conf was deleted outside cairn" "not claimed deleted"
out_lacks "extra will be destroyed" "the resource left out is not deleted on the new machine"
out_has "Plan: 3 to add, 1 to change, 1 to destroy." "counts: m, conf, p added; box changed; the old m"
run apply -C s --auto-approve "$WORK/move.plan"
expect_rc 0 "the saved plan moving to b, applied"
out_has "Apply complete! Resources: 3 added, 1 changed, 1 destroyed." "in one apply"
before "m: creation complete" "box: modifying..." "the host after the machine"
before "box: modifications complete" "conf: creating..." "the file after the host"
before "box: modifications complete" "p: creating..." "the probe after the host"
eq "$(attr s box port)" "${SSHD_PORT[b]}" "the host's new port recorded"
eq "$(attr s p ran_on)" "probe b" "the probe ran again, on b"
check "app.conf on b's disk" on_disk b test -f "$DISK/app.conf"
eq "$(on_disk b cat "$DISK/app.conf")" "made by cairn" "with its content"
check "b's sshd served the file (SFTP)" grep -q "subsystem 'sftp'" "$WORK/sshd_b.log"
eq "$(count_of s extra)" "0" "the resource left out is forgotten"
check "and its file stays on the old machine" on_disk a test -f "$DISK/extra"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "the next plan is empty (before: 'conf was deleted outside cairn')"
out_lacks "deleted outside cairn" "nothing missing on the new machine"

echo "# the old machine is gone already when the apply runs"
movestack s "${SSHD_PORT[a]}"
stop_host a
if [ "$PRIVATE" = 1 ]; then HOST_DISK=$DISK RESTART=1 start_host a; else RESTART=1 start_host a; fi
check "a is a fresh machine" on_disk a test ! -e "$DISK/app.conf"
stop_host b
run apply -C s -e dev --auto-approve
expect_rc 0 "apply moving back to a while b is down"
err_has "cannot refresh" "the old machine could not be refreshed"
out_has "# conf will be created (its host box moves to a new machine)" "the file moves"
eq "$(attr s p ran_on)" "probe a" "the probe ran on a"
check "app.conf on a's (new) disk" on_disk a test -f "$DISK/app.conf"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing more to do"
if [ "$PRIVATE" = 1 ]; then HOST_DISK=$DISK RESTART=1 start_host b; else RESTART=1 start_host b; fi

echo "# a host forgotten (state rm) whose creation then fails: plans and applies still work"
hoststack f <<EOF
hosts:
$(host_yaml b)
resources:
  q:
    type: host.probe
    host: b
    text: kept
EOF
run apply -C f -e dev --auto-approve
expect_rc 0 "first apply"
eq "$(attr f q ran_on)" "kept b" "q ran on b"
run state rm -C f -e dev b
expect_rc 0 "the host forgotten"
: >"$KNOWN.saved"
cp "$KNOWN" "$KNOWN.saved"
: >"$KNOWN"
run plan -C f -e dev --detailed-exitcode
expect_rc 2 "a plan (before: 'host b is not in the hosts: of the stack nor in the state')"
out_has "# b will be created" "the host is made again"
out_lacks "# q will" "q keeps what the state recorded"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "only the host"
run apply -C f -e dev --auto-approve
expect_rc 1 "the host's key is not known: making it fails"
out_has "failed:  b: " "the host failed"
out_has "host key verification failed: the host is not known" "why"
out_has "skipped: q: dependency b failed" "q waits for it"
err_has "cairn: warning: cannot refresh q: host b is not in the state (forgotten, or not made again yet); it keeps what the state recorded" "q was not refreshed, and the apply says why"
eq "$(count_of f b)" "0" "the host is still not in the state"
eq "$(count_of f q)" "1" "q is still recorded"
run plan -C f -e dev
expect_rc 0 "the next plan works (before: every plan failed until state rm)"
err_lacks "is not in the hosts: of the stack" "no such error"
out_has "# b will be created" "the host is planned normally"
cp "$KNOWN.saved" "$KNOWN"
run apply -C f -e dev --auto-approve
expect_rc 0 "with the key known, the host is made again"
eq "$(count_of f b)" "1" "the host is recorded"
eq "$(attr f b host_key_fingerprint)" "$(fp "$K/host_ed25519.pub")" "with its key"
eq "$(attr f q ran_on)" "kept b" "q left as it was"
run plan -C f -e dev --detailed-exitcode
expect_rc 0 "and the next plan (refreshing q through b) is empty"

echo "# a bastion forgotten: the hosts behind it keep their record until it is made again"
hoststack g <<EOF
hosts:
$(host_yaml jump)
$(host_yaml b "    bastion: jump
")
resources:
  r:
    type: host.probe
    host: b
    text: via
EOF
run apply -C g -e dev --auto-approve
expect_rc 0 "apply through the bastion"
run state rm -C g -e dev jump
expect_rc 0 "the bastion forgotten"
run plan -C g -e dev --detailed-exitcode
expect_rc 2 "a plan"
out_has "# jump will be created" "the bastion is made again"
out_lacks "# b will" "b keeps its record"
run apply -C g -e dev --auto-approve
expect_rc 0 "apply"
run plan -C g -e dev --detailed-exitcode
expect_rc 0 "then nothing to do"
eq "$(attr g r ran_on)" "via b" "r as it was"

done_testing
