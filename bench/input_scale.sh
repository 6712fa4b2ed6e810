#!/usr/bin/env bash
# Benchmark of the expression language at scale (issue 10, item 6): three
# stacks that were quadratic, each timed with `cairn validate`:
#   terms     one output whose value is one expression of N terms
#             (default 64,000): ${var.n + 1 + var.n + 1 + ...}
#   interp    one string holding N interpolations (default 50,000):
#             "${var.v}-${var.v}-..."
#   distinct  ${length(distinct(concat(range(N), range(N))))} (default
#             40,000 numbers, each twice)
#   mapkeys   a resource whose property is a map of N keys (default 40,000)
#             made in reverse order, shown by `cairn plan` (the others by
#             `cairn validate`): the plan's rendering sorts the keys
# Prints whether each validate succeeds, then the median of RUNS runs
# (default 5) from hyperfine (failures are timed too). Run by hand: bash bench/input_scale.sh [SCALE]
# SCALE multiplies the three sizes (default 1). BUILD=DIR picks the build
# (default build-bench, a release build made on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1}
RUNS=${RUNS:-5}
B=${BUILD:-build-bench}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" >/dev/null
CAIRN=$(readlink -f "$B/cairn")
export CAIRN_MODULES_PATH=$PWD/modules
W=$(mktemp -d /tmp/cairn-ibench.XXXXXX)
trap 'rm -rf "$W"' EXIT
python3 - "$W" "$SCALE" <<'EOF'
import os, sys
w, scale = sys.argv[1], float(sys.argv[2])
def stack(name, text):
    os.makedirs(os.path.join(w, name))
    with open(os.path.join(w, name, "stack.yaml"), "w") as f:
        f.write(text)
    with open(os.path.join(w, name, "dev.yaml"), "w") as f:
        f.write("variables: {}\n")
n = int(64000 * scale)
terms = " + ".join("var.n" if i % 2 == 0 else "1" for i in range(n))
stack("terms", "variables:\n  n: { type: number, default: 2 }\n"
      "outputs:\n  sum:\n    value: ${" + terms + "}\n")
n = int(50000 * scale)
stack("interp", "variables:\n  v: { default: x }\n"
      "outputs:\n  s:\n    value: \"" + "-".join(["${var.v}"] * n) + "\"\n")
n = int(40000 * scale)
stack("distinct", "outputs:\n  d:\n    value: ${length(distinct(concat(range(%d), range(%d))))}\n" % (n, n))
stack("mapkeys", "resources:\n  a:\n    type: null.resource\n    triggers: "
      "\"${zipmap(reverse(formatlist(\\\"k%%06d\\\", range(%d))), formatlist(\\\"v%%d\\\", range(%d)))}\"\n" % (n, n))
EOF
echo "== machine: $(nproc) cores; $(wc -c < "$W/terms/stack.yaml") bytes (terms)," \
     "$(wc -c < "$W/interp/stack.yaml") bytes (interp); build $B"
for t in terms interp distinct mapkeys; do
  cmd=validate; [ $t = mapkeys ] && cmd=plan
  if "$CAIRN" $cmd -C "$W/$t" -e dev >/dev/null 2>"$W/err"; then echo "$t: $cmd ok"
  else echo "$t: $cmd failed: $(cut -c1-200 "$W/err")"; fi
done
hyperfine -N -i --warmup 1 --runs "$RUNS" --export-json "$W/h.json" \
  -n terms "$CAIRN validate -C $W/terms -e dev" \
  -n interp "$CAIRN validate -C $W/interp -e dev" \
  -n distinct "$CAIRN validate -C $W/distinct -e dev" \
  -n mapkeys "$CAIRN plan -C $W/mapkeys -e dev" >/dev/null
python3 - "$W/h.json" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%-9s median %.3f s  (min %.3f, max %.3f, %d runs)" %
          (r["command"], r["median"], r["min"], r["max"], len(r["times"])))
EOF
