#!/usr/bin/env bash
# Logging in and becoming root: ssh-agent (started here, killed on exit)
# with an encrypted key that only the agent can use; an encrypted key file
# alone refused with the way out; an RSA key refused by OpenSSH (libssh2
# 1.10 signs with SHA-1); become (sudo -n) for a test user allowed to sudo,
# and for one that is not. Test users are made with useradd and removed on
# exit, with their sudoers file.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
known a
R=$(hostdir a)
mkdir -p s
echo 'variables: {}' >s/dev.yaml
# sshd reads authorized_keys as the user: let test users through to it
chmod o+x "$WORK" "$K" && chmod o+r "$K/authorized_keys"

ssh-keygen -q -t ed25519 -N 'correct horse battery' -C cairn-test-enc -f "$K/id_enc"
ssh-keygen -q -t rsa -b 2048 -N '' -C cairn-test-rsa -f "$K/id_rsa"
ssh-keygen -q -t ecdsa -N '' -C cairn-test-ecdsa -f "$K/id_ecdsa"
cat "$K/id_enc.pub" "$K/id_rsa.pub" "$K/id_ecdsa.pub" >>"$K/authorized_keys"

one_file() { # HOSTLINES: a stack writing one file on host a
  cat >s/stack.yaml <<EOF
hosts:
  a:
    address: 127.0.0.1
    port: ${SSHD_PORT[a]}
    known_hosts: $KNOWN
$1
resources:
  f:
    type: host.file
    host: a
    path: $R/f
    content: "x\n"
EOF
}

echo "# an encrypted key file without the agent: refused, with the way out"
one_file "    user: root
    key_file: $K/id_enc"
run apply -C s -e dev --auto-approve
expect_rc 1 "apply"
out_has "cannot log in as root: cannot use key file $K/id_enc" "the key is named"
out_has "an encrypted key must be loaded into ssh-agent" "the way out"

echo "# an ECDSA key file: logged in with it, the file written"
one_file "    user: root
    key_file: $K/id_ecdsa"
# (under ASan: libssh2 1.10's own ECDSA leak suppressed, for this case only)
ecdsa_env=(ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0"
  LSAN_OPTIONS="${LSAN_OPTIONS:-}:suppressions=$TESTS_DIR/../ssh/lsan-libssh2.supp")
ecdsa_run() { env "${ecdsa_env[@]}" "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?; }
ecdsa_run apply -C s -e dev --auto-approve
expect_rc 0 "apply with an ECDSA key"
eq "$(cat "$R/f")" "x" "the file is on the host"
check "sshd accepted the ECDSA key" grep -q "Accepted publickey for root .* ECDSA" "$WORK/sshd_a.log"
ecdsa_run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
check "the file is gone" test ! -e "$R/f"

echo "# an RSA key: OpenSSH refuses libssh2 1.10's SHA-1 signature"
one_file "    user: root
    key_file: $K/id_rsa"
run apply -C s -e dev --auto-approve
expect_rc 1 "apply"
out_has "the server refused key file $K/id_rsa" "refused"
check "sshd says why" grep -q "signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms" "$WORK/sshd_a.log"

echo "# ssh-agent holding the encrypted key: logged in, the passphrase nowhere"
eval "$(ssh-agent -s)" >/dev/null
AGENT_PID=$SSH_AGENT_PID
printf '#!/bin/sh\necho "correct horse battery"\n' >"$WORK/askpass" && chmod 700 "$WORK/askpass"
SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh-add "$K/id_enc" </dev/null 2>/dev/null
check "the agent holds the key" bash -c "ssh-add -l | grep -q cairn-test-enc"
one_file "    user: root
    agent: true"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply through the agent"
check "written" test -f "$R/f"
check "sshd accepted the agent's key" grep -q "Accepted publickey for root .* ED25519 $(fp "$K/id_enc.pub")" "$WORK/sshd_a.log"
check "no passphrase in the state" bash -c "! sqlite3 s/.cairn/state.db .dump | grep -q 'horse'"
check "no passphrase in the output" bash -c "! grep -q horse '$WORK/out' '$WORK/err'"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "second plan through the agent"
kill "$AGENT_PID" 2>/dev/null
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=
run plan -C s -e dev
expect_rc 1 "the agent gone: refused"
err_has "ssh-agent: cannot use it" "the agent named"
unset SSH_AUTH_SOCK SSH_AGENT_PID
run state rm -C s -e dev f a
rm -f "$R/f"

echo "# become: commands and files through sudo -n"
if ! command -v sudo >/dev/null; then
  echo "# SKIP become: sudo is not installed (bash .ci/deps installs it)"
  done_testing
fi
U="cb$((RANDOM % 90000 + 10000))"
N="cn$((RANDOM % 90000 + 10000))"
trap 'userdel -r "$U" 2>/dev/null; userdel -r "$N" 2>/dev/null; rm -f "/etc/sudoers.d/cairn-test-$U"; stop_all_hosts; cleanup' EXIT
useradd -m -s /bin/sh -p '*' "$U" && useradd -m -s /bin/sh -p '*' "$N" || { fail "useradd"; done_testing; }
echo "$U ALL=(ALL) NOPASSWD: ALL" >"/etc/sudoers.d/cairn-test-$U"
chmod 0440 "/etc/sudoers.d/cairn-test-$U"
mkdir -p "$R/root-only" && chmod 0700 "$R/root-only"
echo "keep = 1" >"$R/root-only/conf" && chmod 0600 "$R/root-only/conf"
cat >s/stack.yaml <<EOF
hosts:
  a:
    address: 127.0.0.1
    port: ${SSHD_PORT[a]}
    user: $U
    key_file: $K/id_ed25519
    known_hosts: $KNOWN
    become: true
resources:
  who:
    type: host.command
    host: a
    command: id -un > $R/root-only/who
    creates: $R/root-only/who
  conf:
    type: host.file
    host: a
    path: $R/root-only/app.conf
    content: "secret setting\n"
    mode: "0640"
    owner: root
    group: root
  line:
    type: host.line
    host: a
    path: $R/root-only/conf
    regexp: '^keep\s*='
    line: keep = 2
  dir:
    type: host.directory
    host: a
    path: $R/root-only/sub
    mode: "0700"
  ln:
    type: host.symlink
    host: a
    path: $R/root-only/link
    target: $R/root-only/app.conf
EOF
run apply -C s -e dev --auto-approve
expect_rc 0 "apply with become"
eq "$(cat "$R/root-only/who")" root "the command ran as root"
eq "$(stat -c '%U %a' "$R/root-only/app.conf") $(cat "$R/root-only/app.conf")" "root 640 secret setting" "a file root owns"
eq "$(cat "$R/root-only/conf") $(stat -c '%U %a' "$R/root-only/conf")" "keep = 2 root 600" "the line, mode and owner kept"
eq "$(stat -c '%a' "$R/root-only/sub")" 700 "directory"
eq "$(readlink "$R/root-only/link")" "$R/root-only/app.conf" "link"
check "sshd saw the login user, not root" grep -q "Accepted publickey for $U " "$WORK/sshd_a.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "second plan with become is empty"
echo "changed" >>"$R/root-only/app.conf"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift seen through sudo"
out_has "- changed" "the edit"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy with become"
check "removed" test ! -e "$R/root-only/app.conf" -a ! -e "$R/root-only/sub" -a ! -L "$R/root-only/link"
eq "$(cat "$R/root-only/conf")" "" "the line removed"

echo "# become for a user sudo does not allow: sudo's refusal in the message"
sed -i "s/user: $U/user: $N/" s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 1 "apply"
out_has "sudo: a password is required" "sudo's words"

done_testing
