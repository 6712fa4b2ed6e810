#!/usr/bin/env bash
# bench/hosts.sh N [RUNS]: the host-configuration benchmark of issue 11.
#
# The workload of ../shared/bench/hosts/WORKLOAD.md (twenty steps per host),
# written as the stack bench/hosts/stack.yaml, on N sshd "hosts" on loopback
# started by the kit's hosts-up.sh. Per run: hosts up (fresh), the first
# apply, verify-hosts.sh, the second apply, a plan, hosts down. Every cairn
# command is a new process (cold connections). Prints, per step, the wall
# time, cairn's CPU time (user+sys) and the CPU time of the hosts' sshd
# (their listeners and everything they forked: sessions, shells,
# sftp-server; read from /proc as the listeners' own and reaped children's
# time), and the medians over RUNS runs (default 3).
#
# HOSTS_KIT: the kit (default ../shared/bench/hosts beside the repository);
# SSHPEER_DIR: where the hosts live (default /tmp/cairn-bench-hosts);
# PARALLELISM: cairn's --parallelism (default 10, its own default); CAIRN: the binary
# (default build-bench/cairn, a release build made here).
set -euo pipefail
N=${1:?usage: bench/hosts.sh N [RUNS]}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=$(cd "${HOSTS_KIT:-$ROOT/../shared/bench/hosts}" && pwd)
export SSHPEER_DIR=${SSHPEER_DIR:-/tmp/cairn-bench-hosts}
PAR=${PARALLELISM:-10}
if [ -z "${CAIRN:-}" ]; then
  B=$ROOT/build-bench
  [ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
  ninja -C "$B" >/dev/null
  CAIRN=$B/cairn
fi
export CAIRN_MODULES_PATH=$ROOT/modules
TCK=$(getconf CLK_TCK)
W=$(mktemp -d /tmp/cairn-hbench.XXXXXX)
trap '"$KIT/hosts-down.sh" --purge >/dev/null 2>&1 || true; rm -rf "$W"' EXIT

# CPU seconds of the hosts' sshd so far: the listeners' utime+stime and
# the cutime+cstime of the session processes they reaped
sshd_cpu() {
  local t=0 p f
  while read -r p; do
    [ -r "/proc/$p/stat" ] || continue
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    t=$((t + $(echo "$f" | awk '{print $12 + $13 + $14 + $15}')))
  done <"$SSHPEER_DIR/pids"
  echo "$t"
}

# the overlay: the inventory of hosts.tsv
overlay() {
  python3 - "$SSHPEER_DIR" "$KIT/files" >"$W/s/bench.yaml" <<'PY'
import json, sys
d, files = sys.argv[1], sys.argv[2]
rows = [l.rstrip("\n").split("\t") for l in open(d + "/hosts.tsv")][1:]
hosts, names, addrs, ports = {}, [], [], []
for name, addr, port, pid, root in rows:
    k = int(name[4:])
    hosts[name] = {"addr": addr, "port": int(port), "root": root, "index": k, "app_port": 8000 + k}
    names.append(name); addrs.append(addr); ports.append(8000 + k)
print("variables:")
for k, v in [("hosts", hosts), ("names", names), ("addrs", addrs), ("app_ports", ports),
             ("files", files), ("key", d + "/keys/id_ed25519"), ("known_hosts", d + "/known_hosts")]:
    print("  %s: %s" % (k, json.dumps(v)))
PY
}

# step LABEL CMD...: run, time it, print "LABEL wall cairn_cpu sshd_cpu rc"
step() {
  local label=$1 s0 s1 rc
  shift
  s0=$(sshd_cpu)
  set +e
  /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" >"$W/$label.out" 2>"$W/$label.err" </dev/null
  rc=$?
  set -e
  sleep 0.3 # the session processes end and are reaped
  s1=$(sshd_cpu)
  read -r wall u s <"$W/time"
  printf '%s %s %.2f %.2f %s\n' "$label" "$wall" "$(echo "$u + $s" | bc -l)" "$(echo "($s1 - $s0) / $TCK" | bc -l)" "$rc"
}

echo "# bench/hosts.sh N=$N runs=$RUNS parallelism=$PAR cpus=$(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
  "$KIT/hosts-down.sh" --purge >/dev/null 2>&1 || true
  "$KIT/hosts-up.sh" "$N" >/dev/null
  rm -rf "$W/s"
  cp -r "$ROOT/bench/hosts" "$W/s"
  overlay
  step apply1 "$CAIRN" apply -C "$W/s" -e bench --auto-approve --parallelism "$PAR"
  v=$("$KIT/verify-hosts.sh" 2>"$W/verify.err" || true)
  echo "# run $r: $v"
  [ -s "$W/verify.err" ] && sed 's/^/#   /' "$W/verify.err" | head -5
  step apply2 "$CAIRN" apply -C "$W/s" -e bench --auto-approve --parallelism "$PAR"
  grep -q "No changes" "$W/apply2.out" || echo "# run $r: the second apply changed something: $(grep -E '^Plan|Apply' "$W/apply2.out" | head -2)"
  step plan "$CAIRN" plan -C "$W/s" -e bench --detailed-exitcode --parallelism "$PAR"
done | tee "$W/results"
echo "# medians (wall s, cairn cpu s, sshd cpu s) over $RUNS runs, N=$N:"
for label in apply1 apply2 plan; do
  python3 - "$label" "$W/results" <<'PY'
import statistics, sys
label = sys.argv[1]
rows = [l.split() for l in open(sys.argv[2]) if l.startswith(label + " ")]
med = lambda i: statistics.median(float(r[i]) for r in rows)
rcs = sorted(set(r[4] for r in rows))
print("%-7s wall %.2f  cairn_cpu %.2f  sshd_cpu %.2f  (exit %s)" % (label, med(1), med(2), med(3), ",".join(rcs)))
PY
done
