#!/usr/bin/env bash
# run.sh - mutation testing: does the suite notice when behaviour breaks?
#
#   bash tests/mutation/run.sh [-l LIST] [-j JOBS] [ID...]
#
# Each mutation in LIST (default tests/mutation/mutations.txt) is a one-line
# break of the code: a file, an anchor (text that must occur exactly once in
# that file) and its replacement, plus the tests that should notice. The
# script copies the committed tree once into a scratch directory, builds it
# there, then for each mutation: applies it, rebuilds (incrementally), runs
# the named tests, and puts the file back. A mutation is "caught" when at
# least one of its tests fails, "survived" when all pass, "broken" when the
# anchor is not found exactly once or the mutant does not build (the list is
# then out of date: fix the anchor).
#
# Entries marked "uncatchable: REASON" are listed with their reason and not
# run. The report ends with "mutations: N caught, N survived, N broken,
# N uncatchable" and the script exits 1 when any survived or broke.
#
# List format (blank lines and lines starting with '#' between entries are
# ignored):
#   [ID] what the mutation breaks
#   file: path/from/the/source/root
#   find: exact text (tabs written as \t, line breaks as \n)
#   replace: the text put in its place (\t, \n likewise)
#   tests: meson test names (space separated), or suite:NAME
#   uncatchable: why no test can see it   (optional; then tests may be omitted)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
list="$root/tests/mutation/mutations.txt"
jobs=2
while getopts "l:j:" o; do
	case "$o" in
	l) list=$(readlink -f "$OPTARG") ;;
	j) jobs=$OPTARG ;;
	*) echo "usage: run.sh [-l LIST] [-j JOBS] [ID...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
only=" $* "
[ -f "$list" ] || { echo "mutation: no list $list" >&2; exit 2; }

scratch=${MUTATION_DIR:-/tmp/cairn-mutation}
mkdir -p "$scratch"
src="$scratch/src"
rm -rf "$src"
mkdir -p "$src"
# the committed tree (what the suite runs on), not the work tree's edits
git -C "$root" archive HEAD | tar -x -C "$src"
build="$scratch/build"
if [ ! -d "$build" ] || ! meson setup --reconfigure "$build" "$src" >/dev/null 2>&1; then
	rm -rf "$build"
	meson setup "$build" "$src" >/dev/null || { echo "mutation: meson setup failed" >&2; exit 2; }
fi
ninja -C "$build" >/dev/null || { echo "mutation: the unmutated tree does not build" >&2; exit 2; }

caught=0 survived=0 broken=0 skipped=0
results=()

# mutate FILE FIND REPLACE: 0 done, 1 anchor not exactly once
mutate() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
def unescape(s):
    return s.replace("\\t", "\t").replace("\\n", "\n")
path, find, repl = sys.argv[1], unescape(sys.argv[2]), unescape(sys.argv[3])
text = open(path, encoding="utf-8").read()
if text.count(find) != 1:
    print(f"anchor found {text.count(find)} times", file=sys.stderr)
    sys.exit(1)
open(path, "w", encoding="utf-8").write(text.replace(find, repl, 1))
PY
}

run_one() { # ID DESC FILE FIND REPLACE TESTS UNCATCHABLE
	local id=$1 desc=$2 file=$3 find=$4 repl=$5 tests=$6 why=$7 args=() t start rc
	case "$only" in "  ") ;; *" $id "*) ;; *) return ;; esac
	if [ -n "$why" ]; then
		skipped=$((skipped + 1))
		results+=("uncatchable $id  $desc  ($why)")
		return
	fi
	cp "$src/$file" "$scratch/orig"
	if ! mutate "$src/$file" "$find" "$repl" 2>"$scratch/why"; then
		broken=$((broken + 1))
		results+=("BROKEN   $id  $desc  ($file: $(cat "$scratch/why"))")
		return
	fi
	start=$(date +%s)
	if ! ninja -C "$build" >"$scratch/build.log" 2>&1; then
		broken=$((broken + 1))
		results+=("BROKEN   $id  $desc  (the mutant does not build)")
	else
		for t in $tests; do
			case "$t" in suite:*) args+=(--suite "${t#suite:}") ;; *) args+=("$t") ;; esac
		done
		meson test -C "$build" --no-rebuild --num-processes "$jobs" "${args[@]}" >"$scratch/$id.log" 2>&1
		rc=$?
		if [ "$rc" -ne 0 ]; then
			caught=$((caught + 1))
			results+=("caught   $id  $desc  ($(grep -E ' (FAIL|TIMEOUT|ERROR) ' "$scratch/$id.log" | awk '{print $4}' | sort -u | tr '\n' ' ')$(($(date +%s) - start)) s)")
		else
			survived=$((survived + 1))
			results+=("SURVIVED $id  $desc  (tests: $tests)")
		fi
	fi
	cp "$scratch/orig" "$src/$file"
	echo "${results[-1]}"
}

id="" desc="" file="" find="" repl="" tests="" why=""
flush() {
	[ -n "$id" ] && run_one "$id" "$desc" "$file" "$find" "$repl" "$tests" "$why"
	id="" desc="" file="" find="" repl="" tests="" why=""
}
while IFS= read -r line || [ -n "$line" ]; do
	case "$line" in
	"["*"]"*) flush; id=${line%%]*}; id=${id#[}; desc=${line#*] } ;;
	"file: "*) file=${line#file: } ;;
	"find: "*) find=${line#find: } ;;
	"replace: "*) repl=${line#replace: } ;;
	"replace:") repl="" ;;
	"tests: "*) tests=${line#tests: } ;;
	"uncatchable: "*) why=${line#uncatchable: } ;;
	esac
done <"$list"
flush
ninja -C "$build" >/dev/null 2>&1

echo
printf '%s\n' "${results[@]}"
echo "mutations: $caught caught, $survived survived, $broken broken, $skipped uncatchable"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
