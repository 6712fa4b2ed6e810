#!/usr/bin/env bash
# Benchmark of refresh (issue 4): N recorded AWS resources (default 5,000
# subnets in 2 VPCs) refreshed against `cairn sim --latency 20`. Reports the
# number of API calls, the refresh wall time and the ideal
# (calls x latency / parallelism). Run by hand: bash bench/refresh.sh [N] [PAR]
# RUNS=K: how many timed plans (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
PAR=${2:-10}
LAT=20
B=${BUILD:-build-bench}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" >/dev/null
CAIRN=$(readlink -f "$B/cairn")
export CAIRN_MODULES_PATH=$PWD/modules
# REFRESH_BENCH_DIR=DIR keeps the created resources (sim database and state)
# in DIR, so that later runs with the same N skip the creation.
if [ -n "${REFRESH_BENCH_DIR:-}" ]; then
  W=$REFRESH_BENCH_DIR; mkdir -p "$W"; KEEP=1
else
  W=$(mktemp -d /tmp/cairn-rbench.XXXXXX); KEEP=0
fi
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; wait 2>/dev/null; [ "$KEEP" = 1 ] || rm -rf "$W"' EXIT
start_sim() {
  "$CAIRN" sim --listen 127.0.0.1:0 --db "$W/sim.db" "$@" >"$W/sim.out" 2>"$W/sim.log" &
  SIM_PID=$!
  for _ in $(seq 100); do grep -q listening "$W/sim.out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$W/sim.out")
}
stop_sim() { kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; }
if [ ! -f "$W/created-$N" ]; then
rm -rf "$W/s" "$W/sim.db"*
mkdir -p "$W/s"
python3 - "$W/s" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
per = 4000
nv = (n + per - 1) // per
with open(d + "/stack.yaml", "w") as f:
    f.write("resources:\n")
    for v in range(nv):
        f.write(f"  vpc{v}:\n    type: aws.vpc\n    cidr_block: 10.{v}.0.0/16\n")
    for i in range(n):
        v, k = divmod(i, per)
        f.write(f"  s{i}:\n    type: aws.subnet\n    vpc_id: \"${{vpc{v}.id}}\"\n"
                f"    cidr_block: 10.{v}.{k // 16}.{(k % 16) * 16}/28\n")
PY
start_sim
printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" > "$W/s/dev.yaml"
echo "== creating $N subnets (zero latency)"
# the client-side EC2 rate limits (5 mutating calls/s) would make this take ~1,000 s
CAIRN_RATE_LIMITS=0 /usr/bin/time -f "apply: %e s, %M KiB" "$CAIRN" apply -C "$W/s" -e dev --auto-approve --parallelism 50 >/dev/null 2>"$W/apply.err" || { tail "$W/apply.err"; exit 1; }
tail -1 "$W/apply.err"
stop_sim
touch "$W/created-$N"
fi
start_sim --latency "$LAT" --log
printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" > "$W/s/dev.yaml"
echo "== refresh of $N subnets + VPCs, sim latency ${LAT} ms, parallelism $PAR"
for run in $(seq "${RUNS:-5}"); do
  : > "$W/sim.log"
  CAIRN_STATS=1 "$CAIRN" plan -C "$W/s" -e dev --parallelism "$PAR" >"$W/plan.out" 2>"$W/plan.err"
  calls=$(grep -ac ' ec2 ' "$W/sim.log" || true)
  stats=$(grep 'refresh_wall_s' "$W/plan.err")
  wall=$(sed -n 's/.*refresh_wall_s=\([0-9.]*\).*/\1/p' <<<"$stats")
  cpu=$(sed -n 's/.*refresh_cpu_s=\([0-9.]*\).*/\1/p' <<<"$stats")
  ideal=$(python3 -c "print(f'{$calls * $LAT / 1000 / $PAR:.3f}')")
  ratio=$(python3 -c "print(f'{$wall / ($calls * $LAT / 1000 / $PAR):.2f}')")
  echo "run $run: $calls API calls for $N+ resources; refresh ${wall} s (cairn CPU ${cpu} s); ideal ${ideal} s; ratio ${ratio}; $(grep -c 'No changes' "$W/plan.out") no-change plan"
  grep -ao ' ec2 [a-z0-9-]* [A-Za-z]*' "$W/sim.log" | awk '{print $3}' | sort | uniq -c | tr '\n' ' '; echo
done
