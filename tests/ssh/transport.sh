#!/usr/bin/env bash
# The SSH transport on its own (provisioner/ssh through tests/ssh/ssh_run.c)
# against real sshd processes: host keys (unknown, known plain and hashed,
# changed, recorded, accepted), commands (output, exit codes, stdin, env,
# timeouts, many at once on one session), SFTP (write over an existing
# file, read, stat, mkdir, symlinks, remove), a bastion, an unreachable
# host, a host that never answers, and a host killed during a command.
SSH_RUN=$(readlink -f "$2")
. "$(dirname "$0")/lib.sh" "$1"

start_host a
start_host b "$K/host_ecdsa"
A=$(hostdir a)

# host JSON for NAME, with extra members (jq object syntax) merged in
host() { jq -n --arg p "${SSHD_PORT[$1]}" --arg k "$K/id_ed25519" --arg kh "$KNOWN" --arg n "$1" \
  "{name: \$n, address: \"127.0.0.1\", port: (\$p|tonumber), user: \"root\", key_file: \$k, known_hosts: \$kh} + (${2:-{\}})"; }
# sshrun [flags] JSON-ARRAY: results in $WORK/out, exit code in $RC
sshrun() {
  local flags=()
  while [ "${1#--}" != "$1" ]; do
    flags+=("$1")
    case $1 in --connect-timeout | --keepalive) flags+=("$2"); shift ;; esac
    shift
  done
  printf '%s' "$1" >"$WORK/req.json"
  "$SSH_RUN" "${flags[@]}" "$WORK/req.json" >"$WORK/out" 2>"$WORK/err"
  RC=$?
}
r() { jq -r ".results[$1]$2" "$WORK/out"; }
b64() { printf '%s' "$1" | base64 -w0; }
unb64() { r "$1" "$2" | base64 -d; }

HA=$(host a)
echo "# an unknown host is refused, naming its key"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"true\"}}]"
expect_rc 0 "ssh_run"
eq "$(r 0 .code)" hostkey "unknown host: code"
check "unknown host: message" grep -qF "the host is not known (it offers ssh-ed25519 key $(fp "$K/host_ed25519.pub"))" "$WORK/out"
check "unknown host: message names it" grep -qF "a (127.0.0.1:${SSHD_PORT[a]}): host key verification failed" "$WORK/out"

echo "# accepted with --accept-new, and reported as accepted"
sshrun --accept-new "[{\"host\": $HA, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .source)" accepted "accept-new: source"
eq "$(r 0 .fingerprint)" "$(fp "$K/host_ed25519.pub")" "accept-new: fingerprint as ssh-keygen prints it"
eq "$(r 0 .key)" "$(cut -d' ' -f2 "$K/host_ed25519.pub")" "accept-new: the key"
eq "$(r 0 .key_type)" ssh-ed25519 "accept-new: type"

echo "# recorded key: accepted without known_hosts; another recorded key is refused with both fingerprints"
HREC=$(host a "{host_key: \"ssh-ed25519 $(cut -d' ' -f2 "$K/host_ed25519.pub")\"}")
sshrun "[{\"host\": $HREC, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .source)" recorded "recorded key: source"
HBADREC=$(host a "{host_key: \"ssh-ed25519 $(cut -d' ' -f2 "$K/id_ed25519.pub")\"}")
sshrun --accept-new "[{\"host\": $HBADREC, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .code)" hostkey "changed recorded key: code (even with --accept-new)"
check "changed recorded key: both fingerprints" grep -qF "recorded when it was first accepted is $(fp "$K/id_ed25519.pub"), the host now offers $(fp "$K/host_ed25519.pub")" "$WORK/out"

echo "# known_hosts: a plain entry matches; a hashed one too; a changed one is refused with both fingerprints"
known a
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .source)" known_hosts "known plain entry"
cp "$KNOWN" "$WORK/known_hashed"
ssh-keygen -q -H -f "$WORK/known_hashed" >/dev/null 2>&1
check "the hashed file is hashed" grep -q '^|1|' "$WORK/known_hashed"
HH=$(host a "{known_hosts: \"$WORK/known_hashed\"}")
sshrun "[{\"host\": $HH, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .source)" known_hosts "known hashed entry"
echo "[127.0.0.1]:${SSHD_PORT[a]} ssh-ed25519 $(cut -d' ' -f2 "$K/id_ed25519.pub")" >"$WORK/known_changed"
HC=$(host a "{known_hosts: \"$WORK/known_changed\"}")
sshrun --accept-new "[{\"host\": $HC, \"req\": {\"op\": \"exec\", \"command\": \"touch $A/should-not-run\"}}]"
eq "$(r 0 .code)" hostkey "changed known key: code"
check "changed known key: both fingerprints" grep -qF "$WORK/known_changed has $(fp "$K/id_ed25519.pub"), the host now offers $(fp "$K/host_ed25519.pub") (ssh-ed25519)" "$WORK/out"
check "changed known key: nothing ran" test ! -e "$A/should-not-run"

echo "# commands: output, exit code, stderr, stdin, env, a signal"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"echo out; echo err >&2; exit 3\"}},
         {\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"cat; printf %s \\\"\$GREETING\\\"\", \"stdin_b64\": \"$(b64 'line one
')\", \"env\": {\"GREETING\": \"it's \\\"quoted\\\" \$HOME\"}}},
         {\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"kill -KILL \$\$\"}},
         {\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"echo \$CAIRN_TEST_HOST\"}}]"
expect_rc 0 "ssh_run commands"
eq "$(r 0 .exit_code)" 3 "exit code"
eq "$(unb64 0 .stdout_b64)" out "stdout"
eq "$(unb64 0 .stderr_b64)" err "stderr"
eq "$(unb64 1 .stdout_b64)" "line one
it's \"quoted\" \$HOME" "stdin and env, quoted as given"
eq "$(r 2 .signal)" KILL "signal"
eq "$(unb64 3 .stdout_b64)" a "the command ran on host a"
eq "$(jq .stats.sessions "$WORK/out")" 1 "one session for four commands"

echo "# output is capped"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"head -c 5000 /dev/zero\", \"max_output\": 100}}]"
eq "$(r 0 .stdout_truncated)" true "truncated"
eq "$(unb64 0 .stdout_b64 | wc -c)" 100 "100 bytes kept"

echo "# 40 commands at once share one session (8 channels at a time)"
reqs=$(for i in $(seq 1 40); do printf '{"host": %s, "req": {"op": "exec", "command": "echo %s"}},' "$HA" "$i"; done)
sshrun "[${reqs%,}]"
ok=$(jq '[.results[] | select(.exit_code == 0)] | length' "$WORK/out")
eq "$ok" 40 "40 commands answered"
eq "$(unb64 39 .stdout_b64)" 40 "in their own order"
eq "$(jq .stats.sessions "$WORK/out")" 1 "one session"
eq "$(jq .stats.channels "$WORK/out")" 40 "40 channels"

echo "# a lock makes commands with the same key run one at a time"
reqs=$(for i in $(seq 1 6); do printf '{"host": %s, "req": {"op": "exec", "lock": "f", "command": "echo start >>%s/lock.log; sleep 0.1; echo end >>%s/lock.log"}},' "$HA" "$A" "$A"; done)
sshrun "[${reqs%,}]"
eq "$(tr '\n' ' ' <"$A/lock.log")" "$(for i in $(seq 1 6); do printf 'start end '; done)" "never two at once"

echo "# SFTP: write (new, then over an existing file), read, stat, mode, owner"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"mkdir\", \"path\": \"$A/d\", \"mode\": \"0750\"}},
         {\"host\": $HA, \"req\": {\"op\": \"write\", \"path\": \"$A/d/f\", \"content_b64\": \"$(b64 'first')\", \"mode\": \"0640\"}, \"after\": 0},
         {\"host\": $HA, \"req\": {\"op\": \"write\", \"path\": \"$A/d/f\", \"content_b64\": \"$(b64 'second')\", \"mode\": \"0600\", \"uid\": 1, \"gid\": 2}, \"after\": 1},
         {\"host\": $HA, \"req\": {\"op\": \"read\", \"path\": \"$A/d/f\"}, \"after\": 2},
         {\"host\": $HA, \"req\": {\"op\": \"stat\", \"path\": \"$A/d/f\"}, \"after\": 2},
         {\"host\": $HA, \"req\": {\"op\": \"stat\", \"path\": \"$A/d/none\"}, \"after\": 2},
         {\"host\": $HA, \"req\": {\"op\": \"read\", \"path\": \"$A/d/none\"}, \"after\": 2},
         {\"host\": $HA, \"req\": {\"op\": \"stat\", \"path\": \"$A/d\"}, \"after\": 0}]"
eq "$(r 0 .ok)$(r 1 .ok)$(r 2 .ok)" truetruetrue "mkdir and two writes"
eq "$(cat "$A/d/f")" second "the second write replaced the first"
eq "$(stat -c '%a %u %g' "$A/d/f")" "600 1 2" "mode and owner of the replaced file"
eq "$(stat -c '%a' "$A/d")" 750 "directory mode"
eq "$(unb64 3 .content_b64)" second "read"
eq "$(r 4 '| [.exists, .type, .mode, .uid, .size] | @csv')" 'true,"file","0600",1,6' "stat"
eq "$(r 5 .exists)$(r 6 .exists)" falsefalse "missing file"
eq "$(r 7 .type)$(r 7 .mode)" dir0750 "stat of a directory"
check "no temporary file left" test "$(ls -A "$A/d")" = f

echo "# SFTP: binary content, symlinks, setstat, remove"
head -c 70000 /dev/urandom >"$WORK/bin"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"write\", \"path\": \"$A/bin\", \"content_b64\": \"$(base64 -w0 "$WORK/bin")\"}},
         {\"host\": $HA, \"req\": {\"op\": \"symlink\", \"path\": \"$A/link\", \"target\": \"$A/d\"}},
         {\"host\": $HA, \"req\": {\"op\": \"readlink\", \"path\": \"$A/link\"}, \"after\": 1},
         {\"host\": $HA, \"req\": {\"op\": \"stat\", \"path\": \"$A/link\"}, \"after\": 1},
         {\"host\": $HA, \"req\": {\"op\": \"setstat\", \"path\": \"$A/bin\", \"mode\": \"0400\"}, \"after\": 0},
         {\"host\": $HA, \"req\": {\"op\": \"remove\", \"path\": \"$A/link\"}, \"after\": 3},
         {\"host\": $HA, \"req\": {\"op\": \"remove\", \"path\": \"$A/nothing\"}},
         {\"host\": $HA, \"req\": {\"op\": \"read\", \"path\": \"$A/bin\"}, \"after\": 0}]"
check "binary content intact" cmp -s "$WORK/bin" "$A/bin"
eq "$(r 2 .target)" "$A/d" "readlink"
eq "$(r 3 .type)" link "lstat of a link"
eq "$(stat -c %a "$A/bin")" 400 "setstat"
eq "$(r 5 .removed)$(r 6 .removed)" truefalse "remove"
check "link removed" test ! -L "$A/link"
check "binary read back" cmp -s "$WORK/bin" <(unb64 7 .content_b64)

echo "# SFTP: several symlinks in one session (libssh2 1.10 misreads the status of all but the first)"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"symlink\", \"path\": \"$A/l1\", \"target\": \"$A/nowhere\"}},
         {\"host\": $HA, \"req\": {\"op\": \"symlink\", \"path\": \"$A/l2\", \"target\": \"$A\"}, \"after\": 0},
         {\"host\": $HA, \"req\": {\"op\": \"symlink\", \"path\": \"$A/l3\", \"target\": \"$A/d\"}, \"after\": 1},
         {\"host\": $HA, \"req\": {\"op\": \"symlink\", \"path\": \"$A/d\", \"target\": \"$A\"}, \"after\": 2},
         {\"host\": $HA, \"req\": {\"op\": \"readlink\", \"path\": \"$A/d\"}, \"after\": 3},
         {\"host\": $HA, \"req\": {\"op\": \"readlink\", \"path\": \"$A/none\"}, \"after\": 3}]"
eq "$(r 0 .ok)$(r 1 .ok)$(r 2 .ok)" truetruetrue "three links made"
eq "$(readlink "$A/l1") $(readlink "$A/l2") $(readlink "$A/l3")" "$A/nowhere $A $A/d" "each pointing where asked"
eq "$(r 3 .code)" failure "a link over a directory is refused"
check "the message says what" grep -qF "cannot create symbolic link $A/d -> $A (is something in the way" "$WORK/out"
eq "$(r 4 .exists)$(r 5 .exists)" falsefalse "readlink of a directory and of nothing"

echo "# bad requests are refused before anything is sent"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"write\", \"path\": \"relative\", \"content_b64\": \"\"}},
         {\"host\": $HA, \"req\": {\"op\": \"frobnicate\"}},
         {\"host\": {\"port\": 22}, \"req\": {\"op\": \"hostkey\"}}]"
eq "$(r 0 .code)$(r 1 .code)$(r 2 .code)" submitsubmitsubmit "refused"
check "message: absolute" grep -qF "'path' must be an absolute path" "$WORK/out"
check "message: unknown op" grep -qF "unknown SSH operation 'frobnicate'" "$WORK/out"
check "message: address" grep -qF "an SSH host needs an address" "$WORK/out"

echo "# a command that outlives its timeout"
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"sleep 5\", \"timeout\": 0.5}}]"
eq "$(r 0 .code)" timeout "timeout code"
check "timeout message" grep -qF "the command timed out after 0.5s: sleep 5" "$WORK/out"

echo "# a bastion: host b reached through host jump's session (direct-tcpip)"
start_host jump "" "LogLevel DEBUG1"
known jump
known b "$K/host_ecdsa.pub"
HJ=$(host jump)
HB=$(host b "{bastion: $HJ}")
sshrun "[{\"host\": $HB, \"req\": {\"op\": \"exec\", \"command\": \"echo \$CAIRN_TEST_HOST\"}},
         {\"host\": $HB, \"req\": {\"op\": \"hostkey\"}},
         {\"host\": $HB, \"req\": {\"op\": \"write\", \"path\": \"$(hostdir b)/via\", \"content_b64\": \"$(b64 via)\"}},
         {\"host\": $HJ, \"req\": {\"op\": \"exec\", \"command\": \"echo \$CAIRN_TEST_HOST\"}}]"
eq "$(unb64 0 .stdout_b64)" b "the command ran on b"
eq "$(r 1 .key_type)" ecdsa-sha2-nistp256 "b's own key was checked"
eq "$(cat "$(hostdir b)/via")" via "SFTP through the bastion"
eq "$(unb64 3 .stdout_b64)" jump "the bastion's own session still serves it"
eq "$(jq .stats.sessions "$WORK/out")" 2 "two sessions: the bastion's and b's through it"
check "jump's sshd opened the tunnel to b" grep -q "server_request_direct_tcpip: .*target 127.0.0.1 port ${SSHD_PORT[b]}" "$WORK/sshd_jump.log"
check "b saw one connection (the tunnelled one)" test "$(grep -c 'Accepted publickey' "$WORK/sshd_b.log")" = 1

echo "# keepalives while a command runs"
sshrun --keepalive 1 "[{\"host\": $HJ, \"req\": {\"op\": \"exec\", \"command\": \"sleep 2.5\"}}]"
eq "$(r 0 .exit_code)" 0 "the long command"
check "jump's sshd received keepalives" grep -q "rtype keepalive@libssh2.org" "$WORK/sshd_jump.log"

echo "# unreachable: nothing listens"
# hold_port NAME LISTEN: a process holds a loopback port of the kernel's
# choosing for 60 s (bound; listening when LISTEN is 1, never answering) and
# writes it to $WORK/NAME.port; HELD_PID, HELD_PORT. A port picked free
# beforehand could be taken by another test before it is bound.
hold_port() {
  python3 -c "import os,socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1', 0))
if sys.argv[2] == '1': s.listen(5)
open(sys.argv[1] + '.t', 'w').write(str(s.getsockname()[1])); os.rename(sys.argv[1] + '.t', sys.argv[1]); time.sleep(60)" \
    "$WORK/$1.port" "$2" &
  HELD_PID=$!
  BG_PIDS+=("$HELD_PID")
  wait_until 60 "port $1 is held" test -s "$WORK/$1.port"
  HELD_PORT=$(cat "$WORK/$1.port")
}
# (a port bound and never listened on: refused, and no other test can take it)
hold_port dead 0
DEAD=$HELD_PORT DEAD_PID=$HELD_PID
HD=$(jq -n --arg p "$DEAD" --arg k "$K/id_ed25519" '{name: "dead", address: "127.0.0.1", port: ($p|tonumber), user: "root", key_file: $k}')
sshrun "[{\"host\": $HD, \"req\": {\"op\": \"exec\", \"command\": \"true\"}}, {\"host\": $HD, \"req\": {\"op\": \"stat\", \"path\": \"/\"}}]"
eq "$(r 0 .code)$(r 1 .code)" connectconnect "refused connection"
check "refused: message" grep -qF "dead (127.0.0.1:$DEAD): cannot connect: Connection refused" "$WORK/out"
kill "$DEAD_PID" 2>/dev/null

echo "# a listener that never speaks SSH: the connect timeout"
hold_port silent 1
SILENT=$HELD_PORT SILENT_PID=$HELD_PID
HS=$(jq -n --arg p "$SILENT" '{name: "silent", address: "127.0.0.1", port: ($p|tonumber), user: "root"}')
t0=$(date +%s.%N)
sshrun --connect-timeout 1 "[{\"host\": $HS, \"req\": {\"op\": \"exec\", \"command\": \"true\"}}]"
t1=$(date +%s.%N)
eq "$(r 0 .code)" timeout "silent host: timeout"
[ "$(r 0 .code)" = timeout ] || sed 's/^/#   /' "$WORK/out"
check "silent host: message" grep -qF "timed out after 1s in the SSH handshake" "$WORK/out"
check "silent host: about 1 s" python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)"
kill "$SILENT_PID" 2>/dev/null

echo "# the host dies during a command: the connection is lost, the answer says so"
# The long command is sent once the quick one has answered ("after": 1), and
# the host is killed once that command runs on it (its shell, found by its
# marker): the quick answer is in hand and the long one is under way when
# the connection goes, however slow the machine.
( end=$((SECONDS + 60)) seen=0
  while [ "$SECONDS" -lt "$end" ]; do running "sleep 30; : tk-$$" && { seen=1; break; }; sleep 0.05; done
  stop_host a KILL
  [ "$seen" = 1 ] ) &
killer=$!
sshrun "[{\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"sleep 30; : tk-$$\"}, \"after\": 1},
         {\"host\": $HA, \"req\": {\"op\": \"exec\", \"command\": \"echo quick\"}}]"
wait "$killer" || fail "the long command did not start on host a within 60 s"
eq "$(unb64 1 .stdout_b64)" quick "the quick command finished before"
eq "$(r 0 .code)" closed "lost connection: code"
check "lost connection: message" grep -qF "the connection was lost" "$WORK/out"

done_testing
