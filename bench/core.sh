#!/usr/bin/env bash
# Benchmark of the core (issue 2): a generated stack of N resources (default
# 10,000) of the no-op module with references between them. Measures wall
# time and peak RSS of validate, plan (no refresh) and apply, and the share
# of apply time spent writing state. Run by hand:  bash bench/core.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
B=${BUILD:-build-bench}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" >/dev/null
CAIRN=$(readlink -f "$B/cairn")
export CAIRN_MODULES_PATH=$PWD/modules
W=$(mktemp -d /tmp/cairn-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
python3 bench/gen_stack.py "$W/s" "$N"
echo "== $N resources, $(wc -l < "$W/s/stack.yaml") lines of YAML; machine: $(nproc) cores"
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; }
echo "-- peak RSS (KiB)"
echo "validate: $(rss "$CAIRN" validate -C "$W/s" -e dev)"
echo "plan:     $(rss "$CAIRN" plan -C "$W/s" -e dev --refresh=false)"
echo "-- wall time"
hyperfine -N --warmup 1 --runs 5 --export-markdown "$W/h.md" \
  "$CAIRN validate -C $W/s -e dev" \
  "$CAIRN plan -C $W/s -e dev --refresh=false" >/dev/null
cat "$W/h.md"
echo "-- apply (fresh state each run, parallelism 10 and 100)"
for par in 10 100; do
  for run in 1 2 3; do
    rm -rf "$W/s/.cairn"
    /usr/bin/time -f "rss_kib=%M wall_s=%e" env CAIRN_STATS=1 "$CAIRN" apply -C "$W/s" -e dev --auto-approve \
      --parallelism "$par" 2>"$W/err" >/dev/null || { cat "$W/err"; exit 1; }
    echo "parallelism $par run $run: $(grep -E '^cairn stats:|rss_kib' "$W/err" | tr '\n' ' ')"
  done
done
echo "-- plan with refresh of $N recorded resources (read per resource, null module)"
hyperfine -N --runs 3 "$CAIRN plan -C $W/s -e dev" 2>/dev/null | grep -E "Time|Range"
