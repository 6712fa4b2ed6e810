# lib.sh - helpers for CLI tests: each test runs the real cairn binary in a
# fresh temporary stack directory and asserts what a user would see.
# Usage in a test: . "$(dirname "$0")/lib.sh" "$@"   (first argument: cairn)
set -u
# CI mode (CI=true: no prompt, no colour) is tested by setting CI per
# command; a CI runner's own CI=true must not turn every prompt test into one
unset CI
CAIRN=$(readlink -f "$1")
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/cairn-test.XXXXXX)
# the built-in modules, and the test modules (local.thing uses cairn.fs, which
# only modules on this trusted path get: a stack's own modules never do)
export CAIRN_MODULES_PATH="$TESTS_DIR/../../modules:$TESTS_DIR/modules"
export NO_COLOR=1
unset CAIRN_ENV CAIRN_STATE_KEY CAIRN_STATE_URL CAIRN_HOSTNAME
FAILS=0
CHECKS=0
BG_PIDS=()
cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ "$FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "# work dir kept: $WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

fail() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
pass() { CHECKS=$((CHECKS + 1)); }

# run CMD...: runs cairn with the args, stdout in $WORK/out, stderr in $WORK/err, exit code in $RC
run() {
  "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
}
expect_rc() { # N DESCRIPTION
  if [ "$RC" -eq "$1" ]; then pass; else fail "$2: exit $RC, expected $1"; sed 's/^/#   out: /' "$WORK/out" | head -40; sed 's/^/#   err: /' "$WORK/err" | head -20; fi
}
out_has() { grep -qF -- "$1" "$WORK/out" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; sed 's/^/#   err: /' "$WORK/err" | head -20; }; }
out_lacks() { grep -qF -- "$1" "$WORK/out" && { fail "stdout has '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; } || pass; }
err_has() { grep -qF -- "$1" "$WORK/err" && pass || { fail "stderr lacks '$1' ($2)"; sed 's/^/#   err: /' "$WORK/err" | head -20; }; }
err_lacks() { grep -qF -- "$1" "$WORK/err" && { fail "stderr has '$1' ($2)"; sed 's/^/#   err: /' "$WORK/err" | head -20; } || pass; }
check() { # DESCRIPTION CMD...: passes when CMD succeeds
  local d="$1"; shift
  if "$@"; then pass; else fail "$d"; fi
}
eq() { [ "$1" = "$2" ] && pass || fail "$3: got '$1', expected '$2'"; }

# A stack directory: stack.yaml from stdin, an overlay dev.yaml (empty
# unless given as $2), and an empty modules/ for the stack's own modules
# (the test modules are on CAIRN_MODULES_PATH).
mkstack() { # DIR [OVERLAY-TEXT]
  mkdir -p "$1/modules"
  cat >"$1/stack.yaml"
  local overlay='provider: {region: us-east-1}'
  [ $# -ge 2 ] && overlay=$2
  printf '%s\n' "$overlay" >"$1/dev.yaml"
}
state_sql() { # DIR SQL
  sqlite3 "$1/.cairn/state.db" "$2"
}
# hist_ok DESCRIPTION PYTHON-EXPR [DIR]: `state history --json` of DIR (default
# s) read as H, the list of revisions, newest first; passes when the
# expression is true. Ties a history check to the revision it is about.
hist_ok() {
  local d=$1 expr=$2 dir=${3:-s}
  "$CAIRN" state history -C "$dir" -e dev --json >"$WORK/hist.json" 2>"$WORK/hist.err" </dev/null
  if python3 - "$WORK/hist.json" "$expr" <<'PY'
import json, sys
H = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
  then pass; else fail "$d (history: $expr)"; head -c 3000 "$WORK/hist.json" | sed 's/^/#   /'; echo; fi
}
done_testing() {
  echo "# $CHECKS checks, $FAILS failed"
  [ "$FAILS" -eq 0 ] || exit 1
  exit 0
}
