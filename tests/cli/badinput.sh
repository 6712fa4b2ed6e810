#!/usr/bin/env bash
# Walk the bad-input corpus: every case exits 1 with a message naming the
# place (file:line:col where there is one), and changes no file.
#   tests/corpus/<group>/<case>/  stack.yaml, overlays, ...
#     expect   line 1: "exit N"; line 2: a substring of stderr
#     cmd      optional: the cairn arguments (default: validate -e dev); the
#              case directory is passed as -C DIR unless cmd contains @DIR@
#     setup    optional: a shell script run in the copied case directory
. "$(dirname "$0")/lib.sh" "$@"
CORPUS="$TESTS_DIR/../corpus"
n=0
for case in "$CORPUS"/*/*/; do
  name=$(basename "$case"); group=$(basename "$(dirname "$case")")
  d="$WORK/$group-$name"
  cp -r "$case" "$d"
  ( cd "$d" && [ -f setup ] && bash ./setup ) >/dev/null 2>&1
  before=$(cd "$d" && find . -type f ! -name expect -print0 | sort -z | xargs -0 sha256sum; find . | sort)
  want_rc=$(sed -n '1s/^exit //p' "$d/expect")
  want_msg=$(sed -n '2p' "$d/expect")
  args="validate -e dev"
  [ -f "$d/cmd" ] && args=$(cat "$d/cmd")
  if grep -q '@DIR@' <<<"$args"; then args=${args//@DIR@/$d}; else args="$args -C $d"; fi
  # shellcheck disable=SC2086
  ( cd "$WORK" && "$CAIRN" $args ) >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  if [ "$RC" -ne "$want_rc" ]; then
    fail "$group/$name: exit $RC, expected $want_rc"; sed 's/^/#   err: /' "$WORK/err" | head -5
  elif ! grep -qF -- "$want_msg" "$WORK/err"; then
    fail "$group/$name: stderr lacks '$want_msg'"; sed 's/^/#   err: /' "$WORK/err" | head -5
  else
    pass
  fi
  after=$(cd "$d" && find . -type f ! -name expect -print0 | sort -z | xargs -0 sha256sum; find . | sort)
  [ "$before" = "$after" ] && pass || fail "$group/$name: files changed"
  n=$((n + 1))
done
[ "$n" -ge 25 ] && pass || fail "corpus has only $n cases"
echo "# $n corpus cases"
done_testing
