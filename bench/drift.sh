#!/usr/bin/env bash
# Benchmark of cairn drift (issue 13): four environments x N resources
# (default 2,500: one VPC, 60% subnets, 20% security groups, 20% route
# tables; each environment in a region of its own, SAME_REGION=1 for all in
# one) against `cairn sim --latency 20`, read by one `cairn drift --all`
# at the default parallelism. Reports the wall time, cairn's CPU time (user +
# system) per resource, and the API calls by action. Run by hand:
#   bash bench/drift.sh [N]        RUNS=K timed runs (default 5)
# DRIFT_BENCH_DIR=DIR keeps the created resources (sim database and state) in
# DIR, so that later runs with the same N skip the creation (~1-2 min).
# PROFILE=perf|callgrind: one more run under perf record / callgrind.
# WARMUP=K: untimed runs first (default 2: the read marks and the
# environment memo, then the memo taken; WARMUP=0: run 1 keeps every read
# mark and the memo anew). DRIFT_FLAGS=--no-env-memo: every run reads
# (read marks and page marks: the cost of a run where something changed).
# DRIFT_FLAGS: more flags for cairn drift (e.g. --no-unmanaged).
# BASELINE=BIN (with BASELINE_MODULES=DIR, its modules): then hyperfine, in
# one session, BIN's and this build's `cairn drift --all` (RUNS runs each,
# alternating builds is up to hyperfine: compare the ratio, not the times,
# on a shared machine), e.g. a release build of main:
#   BASELINE=/tmp/main/build-bench/cairn BASELINE_MODULES=/tmp/main/modules bash bench/drift.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2500}
LAT=20
B=${BUILD:-build-bench}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" >/dev/null
CAIRN=$(readlink -f "$B/cairn")
export CAIRN_MODULES_PATH=$PWD/modules
if [ -n "${DRIFT_BENCH_DIR:-}" ]; then
  W=$DRIFT_BENCH_DIR; mkdir -p "$W"; KEEP=1
else
  W=$(mktemp -d /tmp/cairn-dbench.XXXXXX); KEEP=0
fi
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; wait 2>/dev/null; [ "$KEEP" = 1 ] || rm -rf "$W"' EXIT
start_sim() {
  "$CAIRN" sim --listen 127.0.0.1:0 --db "$W/sim.db" "$@" >"$W/sim.out" 2>"$W/sim.log" &
  SIM_PID=$!
  for _ in $(seq 100); do grep -q listening "$W/sim.out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$W/sim.out")
  # one region per environment (DR apart, as in environments/); SAME_REGION=1: all in us-east-1
  for env in dev staging prod dr; do
    case $env in dev) n=0 r=us-east-1;; staging) n=1 r=us-east-2;; prod) n=2 r=eu-west-1;; dr) n=3 r=us-west-2;; esac
    [ -n "${SAME_REGION:-}" ] && r=us-east-1
    printf 'provider: {region: %s, endpoint: "http://127.0.0.1:%s"}\nvariables: {cidr: "10.%s.0.0/16"}\n' "$r" "$PORT" \
      "$n" >"$W/s/$env.yaml"
  done
}
stop_sim() { kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; }
SUBNETS=$((N * 3 / 5)); SGS=$((N / 5)); RTS=$((N - 1 - SUBNETS - SGS))
if [ ! -f "$W/created-$N${SAME_REGION:+-same}" ]; then
  rm -rf "$W/s" "$W/sim.db"* "$W/created-"*
  mkdir -p "$W/s"
  cat >"$W/s/stack.yaml" <<YAML
stack: bench
variables:
  cidr: { type: string }
resources:
  vpc:
    type: aws.vpc
    cidr_block: "\${var.cidr}"
    tags: { Name: "bench-\${env.name}" }
  subnet:
    type: aws.subnet
    count: $SUBNETS
    vpc_id: "\${vpc.id}"
    cidr_block: "\${cidrsubnet(var.cidr, 12, count.index)}"
    tags: { Name: "bench-\${env.name}-\${count.index}" }
  sg:
    type: aws.security_group
    count: $SGS
    name: "bench-\${env.name}-\${count.index}"
    description: bench
    vpc_id: "\${vpc.id}"
    ingress: [{ protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: ["10.0.0.0/8"] }]
  rt:
    type: aws.route_table
    count: $RTS
    vpc_id: "\${vpc.id}"
    tags: { Name: "bench-\${env.name}-\${count.index}" }
YAML
  start_sim
  echo "== creating 4 x $N resources (zero latency, client-side rate limits off)"
  for env in dev staging prod dr; do
    CAIRN_RATE_LIMITS=0 /usr/bin/time -f "$env: apply %e s, %M KiB" "$CAIRN" apply -C "$W/s" -e "$env" \
      --auto-approve --parallelism 50 >/dev/null 2>"$W/apply.err" || { tail "$W/apply.err"; exit 1; }
    tail -1 "$W/apply.err"
  done
  stop_sim
  touch "$W/created-$N${SAME_REGION:+-same}"
fi
start_sim --latency "$LAT" --log
echo "== cairn drift --all: 4 environments x $N resources, sim latency ${LAT} ms, default parallelism"
if [ "${WARMUP:-2}" -gt 0 ]; then
  # a read mark's key holds the provider settings, the sim's endpoint (a new
  # port each time) too: untimed runs first keep the marks a scheduled job
  # finds in place: the first the read marks, the second the page marks
  # (made from answers whose items were found by their read marks)
  # (WARMUP=0: the timed runs 1 and 2 build them)
  for _ in $(seq "${WARMUP:-2}"); do
    "$CAIRN" drift -C "$W/s" --all ${DRIFT_FLAGS:-} --json "$W/drift.json" >/dev/null 2>&1 || true
  done
  echo "(${WARMUP:-2} untimed runs first: read marks, then page marks or the environment memo, for this endpoint)"
fi
for run in $(seq "${RUNS:-5}"); do
  : >"$W/sim.log"
    sim0=$(awk '{print $14 + $15}' /proc/$SIM_PID/stat)
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$CAIRN" drift -C "$W/s" --all ${DRIFT_FLAGS:-} --json "$W/drift.json" \
    >"$W/drift.out" 2>"$W/drift.err" && rc=0 || rc=$?
  read -r wall user sys rss <"$W/time"
  simcpu=$(( $(awk '{print $14 + $15}' /proc/$SIM_PID/stat) - sim0 ))
  calls=$(grep -acE ' (ec2|rds|elasticache|eks) ' "$W/sim.log" || true)
  res=$(jq '[.environments[].resources] | add' "$W/drift.json")
  status=$(jq -r '[.environments[] | .name + "=" + .status] | join(" ")' "$W/drift.json")
  python3 -c "print(f'run $run: exit $rc; wall {$wall:.3f} s; cpu {$user + $sys:.3f} s (user $user, sys $sys) = {($user + $sys) / $res * 1e6:.1f} us per resource; $res resources; $calls API calls; peak RSS {$rss / 1024:.0f} MiB; the sim used {$simcpu / 100:.2f} s CPU; $status')"
  grep -aoE ' (ec2|rds|elasticache|eks) [a-z0-9-]* [A-Za-z]*' "$W/sim.log" | awk '{print $3}' | sort | uniq -c | tr '\n' ' '; echo
done
if [ -n "${BASELINE:-}" ]; then
  hyperfine -N --runs "${RUNS:-5}" --warmup 1 --export-json "$W/hyperfine.json" \
    -n baseline "env CAIRN_MODULES_PATH=${BASELINE_MODULES:?BASELINE_MODULES: the modules directory of the baseline} $BASELINE drift -C $W/s --all ${DRIFT_FLAGS:-} --json $W/drift-baseline.json" \
    -n this "env CAIRN_MODULES_PATH=$CAIRN_MODULES_PATH $CAIRN drift -C $W/s --all ${DRIFT_FLAGS:-} --json $W/drift.json"
  jq -r '.results[] | "\(.command): median \(.median * 1000 | round) ms, min \(.min * 1000 | round) ms, cpu (user + sys, mean) \((.user + .system) * 1000 | round) ms"' "$W/hyperfine.json"
fi
case "${PROFILE:-}" in
perf)
  # DWARF call graphs (the libraries have no frame pointers): what each
  # function costs with what it calls
  perf record --call-graph dwarf,16384 -F 2000 -o "$W/perf.data" "$CAIRN" drift -C "$W/s" --all --no-record \
    >/dev/null 2>&1 || true
  perf report -i "$W/perf.data" --children --percent-limit 2.5 --stdio -g none 2>/dev/null |
    grep -v -e '^$' -e '^#' -e '0x0000' | head -60 ;;
callgrind)
  valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$CAIRN" drift -C "$W/s" --all --no-record \
    >/dev/null 2>&1 || true
  callgrind_annotate --inclusive=yes "$W/cg.out" 2>/dev/null | head -60 ;;
esac
