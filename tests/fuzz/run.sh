#!/usr/bin/env bash
# Run the libFuzzer targets (tests/fuzz/fuzz_<name>.c), one at a time.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Sets up and builds the fuzz build directory (clang, -Dfuzz=true, ASan and
# UBSan; $FUZZ_BUILD, default build-fuzz), then runs each target for
# SECONDS with one job, starting from its seeds (tests/fuzz/seeds/<name>/;
# for config also the stack corpus tests/corpus/*/*/, joined into one input
# per case) and the corpus earlier runs grew ($FUZZ_BUILD/fuzz-corpus/<name>/),
# with the dictionary tests/fuzz/<name>.dict where there is one.
# Prints one line per target: executions, corpus size, and "ok" or the
# crash with the path of the input that caused it (kept in
# $FUZZ_BUILD/fuzz-crashes/<name>/). Exits 1 if any target crashed,
# leaked, hung or ran out of memory, 2 on a build or usage error.
# Replay a crash: $FUZZ_BUILD/tests/fuzz/fuzz_<name> FILE
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ALL=(config expr json xml plan query sigv4)
secs=${1:-}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: tests/fuzz/run.sh SECONDS [TARGET...] (targets: ${ALL[*]})" >&2; exit 2; }
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "unknown fuzz target '$t' (targets: ${ALL[*]})" >&2; exit 2; }
done
B=${FUZZ_BUILD:-build-fuzz}
[[ "$B" = /* ]] || B=$ROOT/$B

if [ ! -d "$B" ]; then
  CC=clang meson setup "$B" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null || { echo "meson setup $B failed" >&2; exit 2; }
fi
ninja -C "$B" "${targets[@]/#/tests/fuzz/fuzz_}" >"$B/fuzz-build.log" 2>&1 ||
  { tail -30 "$B/fuzz-build.log" >&2; echo "building the fuzz targets failed" >&2; exit 2; }

# the stack corpus as config inputs: stack.yaml, the separator, dev.yaml
config_seeds() {
  local out="$B/fuzz-seeds/config" c
  rm -rf "$out"; mkdir -p "$out"
  for c in tests/corpus/*/*/; do
    [ -f "$c/stack.yaml" ] || continue
    { cat "$c/stack.yaml"; printf '\n%%%%%%%%\n'; [ -f "$c/dev.yaml" ] && cat "$c/dev.yaml"; } \
      >"$out/$(basename "$(dirname "$c")")-$(basename "$c")"
  done
  { cat environments/stack.yaml; printf '\n%%%%%%%%\n'; cat environments/dev.yaml; } >"$out/environments-dev"
  echo "$out"
}

status=0
for t in "${targets[@]}"; do
  corpus="$B/fuzz-corpus/$t" crashes="$B/fuzz-crashes/$t" log="$B/fuzz-$t.log"
  mkdir -p "$corpus" "$crashes"
  dirs=("$corpus" "tests/fuzz/seeds/$t")
  [ "$t" = config ] && dirs+=("$(config_seeds)")
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  before=$(find "$crashes" -type f | wc -l)
  tmp="$B/fuzz-tmp/$t"   # the targets' scratch files; a crash leaves them
  rm -rf "$tmp"; mkdir -p "$tmp"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TMPDIR="$tmp" "$B/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  rm -rf "$tmp"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  new=$crashes/$(ls -t "$crashes" | head -1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$t: ok: ${execs:-0} executions in ${secs} s, ${cov:-cov: ?}, corpus $size"
  else
    status=1
    after=$(find "$crashes" -type f | wc -l)
    what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer): [a-z-]+[^(]*|runtime error: .*' "$log" | head -1)
    echo "fuzz_$t: FAILED (exit $rc): ${what:-see $log}; ${execs:-?} executions"
    [ "$after" -gt "$before" ] && echo "  input kept: $new (replay: $B/tests/fuzz/fuzz_$t $new)"
    grep -m1 -A12 -E '^==[0-9]+==ERROR|runtime error:' "$log" | sed 's/^/  /'
  fi
done
exit "$status"
