#!/usr/bin/env bash
# A health check's host name is resolved beside the event loop
# (loop/resolve.c), not by a getaddrinfo that holds it: with a name server
# that never answers, a TCP check ends at its attempt's timeout ("cannot
# resolve NAME: timed out", not the resolver's 10 s and more), a SIGTERM
# during it (or during an SSH host's, ssh/session.c) ends cairn at once
# with the lock released, and a name the resolver answers (localhost, from
# /etc/hosts) still connects.
# The test runs in a network and mount namespace of its own (unshare, as
# root): its loopback carries a UDP "name server" on 127.0.0.1:53 that
# reads and never answers (it logs a line per query to $WORK/dns.log), and
# /etc/resolv.conf is bind-mounted to point at it, for this namespace only.
if [ -z "${CAIRN_DNS_NS:-}" ]; then
  # the namespace must allow what the test does in it (a container may not)
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
     ! unshare -mn sh -c 'ip link set lo up && mount --bind /etc/resolv.conf /etc/resolv.conf' 2>/dev/null; then
    echo "1..0 # SKIP needs root, ip and unshare with a network and mount namespace of its own"
    exit 77
  fi
  CAIRN_DNS_NS=1 exec unshare -mn bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh" "$@"

ip link set lo up || { echo "Bail out! cannot bring up the namespace's loopback"; exit 1; }
cat >"$WORK/blackhole.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recvfrom(4096)
    with open(sys.argv[1], "a") as f:
        f.write("query\n")
PY
: >"$WORK/dns.log"
python3 -u "$WORK/blackhole.py" "$WORK/dns.log" >"$WORK/dns.out" 2>"$WORK/dns.err" &
BG_PIDS+=("$!")
for i in $(seq 1 100); do grep -q ready "$WORK/dns.out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$WORK/dns.out" || { echo "Bail out! the silent name server did not start"; cat "$WORK/dns.err"; exit 1; }
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:2\n' >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf || { echo "Bail out! cannot bind-mount resolv.conf"; exit 1; }
NAME=api.cairn-dns-test.example

# --- a name that never resolves: the attempt's timeout ends it ----------------
mkstack s <<YAML
resources:
  a: { type: null.resource }
checks:
  - { name: api, tcp: { host: $NAME, port: 80 }, retries: 0, deadline: 2s }
YAML
T0=$(date +%s%N)
run apply -C s -e dev --auto-approve
MS=$(ms_since "$T0")
expect_rc 6 "a check whose name never resolves fails"
out_has "api (tcp $NAME): after 1 attempt: cannot resolve $NAME: timed out" "says the name did not resolve in time"
echo "# the check took ${MS} ms"
[ "$MS" -lt 5000 ] && pass || fail "the check held the apply ${MS} ms (its deadline is 2 s)"

# --- SIGTERM while the name is being resolved ----------------------------------
mkstack s <<YAML
resources:
  n:
    type: null.resource
    triggers: { v: "2" }
    checks:
      - { name: slow, tcp: { host: $NAME, port: 80 }, retries: 100, interval: 1s, deadline: 10m }
YAML
term_during() { # DIR WHAT: SIGTERM to an apply of DIR while WHAT's name is being resolved:
  # half a second after the silent name server got the run's first query
  # (the resolver then waits 5 s for an answer)
  local q; q=$(wc -l <"$WORK/dns.log")
  stop_once "[ \$(wc -l <'$WORK/dns.log') -gt $q ]" 0.5 TERM apply -C "$1" -e dev --auto-approve
  echo "# SIGTERM during $2: out after ${ELAPSED_MS} ms"
  # not the resolver's 5 s; 2 s leaves room for a sanitizer build's exit
  [ "$ELAPSED_MS" -lt 2000 ] && pass || fail "SIGTERM during $2: cairn took ${ELAPSED_MS} ms to stop"
  expect_rc 1 "interrupted ($2)"
  err_has "interrupted by SIGTERM" "says why ($2)"
  run lock status -C "$1" -e dev
  out_has "is not locked" "the lock is released ($2)"
}
term_during s "a TCP check's name resolution"

# --- an SSH host by that name: SIGTERM while its name is being resolved ------
: >"$WORK/key"
: >"$WORK/known_hosts"
mkstack h <<YAML
hosts:
  web: { address: $NAME, user: root, key_file: $WORK/key, known_hosts: $WORK/known_hosts }
resources:
  conf: { type: host.file, host: web, path: /tmp/cairn-dns-test.conf, content: "x" }
YAML
term_during h "an SSH host's name resolution"

# --- a name the resolver answers (/etc/hosts) still connects -------------------
python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(600)' >"$WORK/port" &
BG_PIDS+=("$!")
for i in $(seq 1 100); do P=$(head -1 "$WORK/port" 2>/dev/null); [ -n "$P" ] && break; sleep 0.05; done
mkstack s <<YAML
resources:
  a: { type: null.resource }
checks:
  - { name: local, tcp: { host: localhost, port: $P }, retries: 0, deadline: 5s }
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "a check on localhost:$P passes"
out_has "ok    local (tcp localhost" "it connected"

done_testing
