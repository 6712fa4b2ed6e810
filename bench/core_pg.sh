#!/usr/bin/env bash
# bench/core.sh's 10,000-resource apply and plan with the state on
# PostgreSQL (a server of its own on loopback, tests/pg/lib.sh, with fsync
# on), beside the same runs on the SQLite file. Reports the share of apply
# time in state COMMITs and in all state writes (CAIRN_STATS; on PostgreSQL
# also state_round_trips, the waits for the server), and plan with refresh
# on each backend. Run by hand:  bash bench/core_pg.sh [N]
#   PARS="10 100"  the --parallelism values;  RUNS=3  applies per case
#   BASELINE=/path/to/other/cairn  alternate each apply with that binary's
#     (an A/B on the same loaded machine: "base" rows beside "this" rows)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
B=${BUILD:-build-bench}
PARS=${PARS:-10 100}
RUNS=${RUNS:-3}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" >/dev/null
CAIRN=$(readlink -f "$B/cairn")
export CAIRN_MODULES_PATH=$PWD/modules
export CAIRN_STATE_KEY=bench-key-not-secret
W=$(mktemp -d /tmp/cairn-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
. tests/pg/lib.sh
PG_FSYNC=on pg_start
python3 bench/gen_stack.py "$W/s" "$N"
echo "== $N resources; machine: $(nproc) cores; $("$PG_BIN/postgres" --version), fsync on, loopback TCP; load: $(cut -d' ' -f1-3 /proc/loadavg)"
bins="this=$CAIRN"
[ -n "${BASELINE:-}" ] && bins="base=$(readlink -f "$BASELINE") $bins"
n=0
for backend in sqlite postgres; do
  for par in $PARS; do
    for run in $(seq "$RUNS"); do
      for nb in $bins; do
        n=$((n + 1))
        rm -rf "$W/s/.cairn"
        if [ $backend = postgres ]; then export CAIRN_STATE_URL=$(pg_new_schema "b$n"); else unset CAIRN_STATE_URL; fi
        /usr/bin/time -f "rss_kib=%M wall_s=%e" env CAIRN_STATS=1 "${nb#*=}" apply -C "$W/s" -e dev --auto-approve \
          --parallelism "$par" 2>"$W/err" >/dev/null || { cat "$W/err"; exit 1; }
        echo "${nb%%=*} $backend apply parallelism $par run $run: $(grep -E '^cairn stats:|rss_kib' "$W/err" | tr '\n' ' ')"
      done
    done
  done
  echo "-- $backend: plan with refresh of $N recorded resources (this build)"
  hyperfine -N --runs 5 "$CAIRN plan -C $W/s -e dev" 2>/dev/null | grep -E "Time|Range"
done
