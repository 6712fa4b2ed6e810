# lib.sh - helpers for CLI tests: each test runs the real cairn binary in a
# fresh temporary stack directory and asserts what a user would see.
# Usage in a test: . "$(dirname "$0")/lib.sh" "$@"   (first argument: cairn)
set -u
# CI mode (CI=true: no prompt, no colour) is tested by setting CI per
# command; a CI runner's own CI=true must not turn every prompt test into one
unset CI
CAIRN=$(readlink -f "$1")
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd -P) # the test's own directory
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
  if [ "$STATE_BACKEND" = pg ]; then pg_stop; fi
  if [ "$FAILS" -eq 0 ]; then rm -rf "$WORK"; else echo "# work dir kept: $WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

# CAIRN_TEST_STATE=pg (the pg-cli and pg-aws suites): the same tests with
# the state on a PostgreSQL server of the test's own (tests/pg/lib.sh),
# one schema per stack directory. $CAIRN is then a small wrapper
# ($PG_DIR/bin/cairn) that finds the command's stack (-C DIR, --stack FILE,
# a saved plan's stack_file, or for a saved rollback plan, whose
# stack_file is a temporary copy, its rollback.stack; else the working
# directory), makes its schema
# on first use and runs the real cairn with CAIRN_STATE_URL naming it
# (unless the test set CAIRN_STATE_URL itself) and CAIRN_STATE_KEY set (a
# shared state has no key file) unless the test set one. The state
# helpers below (state_sql, state_attr, state_set_attr, state_check,
# state_version, state_set_version, no_state, state_bytes, state_lacks)
# read the same state on either backend; parts of a test that are about the SQLite file itself run under
# sqlite_only, which prints a TAP skip line on PG. The tests in tests/pg
# start their own server and ignore CAIRN_TEST_STATE.
STATE_BACKEND=sqlite
if [ "${CAIRN_TEST_STATE:-}" = pg ] && [ "$(basename "$SCRIPT_DIR")" != pg ]; then
  STATE_BACKEND=pg
  . "$TESTS_DIR/../pg/lib.sh"
  pg_start
  case $? in 0) ;; 77) exit 77 ;; *) echo "Bail out! PostgreSQL did not start"; exit 1 ;; esac
  trap cleanup EXIT # pg_start put pg_stop before it; cleanup stops the server itself
  mkdir -p "$PG_DIR/bin" "$PG_DIR/schemas"
  cat >"$PG_DIR/bin/cairn" <<WRAP
#!/usr/bin/env bash
# cairn with the state of its stack in a PostgreSQL schema (tests/cli/lib.sh)
if [ -z "\${CAIRN_STATE_URL:-}" ]; then
  dir=. prev=
  for a in "\$@"; do
    case \$prev in -C|--dir) dir=\$a ;; --stack) dir=\$(dirname -- "\$a") ;; esac
    case \$a in
      -C?*) dir=\${a#-C} ;;
      --dir=*) dir=\${a#--dir=} ;;
      --stack=*) dir=\$(dirname -- "\${a#--stack=}") ;;
      -*) ;;
      *) case \$prev in -C|--dir|--stack|-out|--out|-o|--output|-e|--env|--var|--var-file) ;;
         *) if [ -f "\$a" ] && s=\$(jq -er '.rollback.stack // .stack_file' "\$a" 2>/dev/null); then dir=\$(dirname -- "\$s"); fi ;; esac ;;
    esac
    prev=\$a
  done
  schema=st_\$( (cd "\$dir" 2>/dev/null && pwd -P) || printf '%s' "\$dir")
  schema=st_\$(printf '%s' "\${schema#st_}" | md5sum | cut -c1-16)
  if [ ! -e "$PG_DIR/schemas/\$schema" ]; then
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p $PG_PORT -U cairn -d cairn -c "CREATE SCHEMA IF NOT EXISTS \$schema" >/dev/null 2>&1 &&
      : >"$PG_DIR/schemas/\$schema"
  fi
  export CAIRN_STATE_URL="$PG_URL?options=-csearch_path%3D\$schema"
fi
export CAIRN_STATE_KEY=\${CAIRN_STATE_KEY:-cairn-test-shared-state-key}
exec "$CAIRN" "\$@"
WRAP
  chmod 0755 "$PG_DIR/bin/cairn"
  CAIRN_BIN=$CAIRN
  CAIRN=$PG_DIR/bin/cairn
fi

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
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); } # T0 (date +%s%N): milliseconds since
# wait_until SECS DESCRIPTION CMD...: poll CMD (every 0.05 s) until it
# succeeds; after SECS seconds the test fails with DESCRIPTION. Status 0/1.
wait_until() {
  local secs=$1 d=$2 end
  shift 2
  end=$(($(date +%s%N) + secs * 1000000000))
  until "$@"; do
    if [ "$(date +%s%N)" -ge "$end" ]; then fail "$d: not within $secs s"; return 1; fi
    sleep 0.05
  done
  pass
}
# env_locked DIR ENV: the environment's lock is held (as lock status says)
env_locked() { "$CAIRN" lock status -C "$1" -e "$2" 2>/dev/null | grep -q "is locked"; }
# stop_once COND SECONDS SIGNAL CMD...: run cairn in the background and send
# the signal SECONDS after the shell command COND (eval'd, polled every
# 0.05 s) first succeeds: when the run is where the test needs it, however
# slowly a loaded machine gets it there. COND not met within 60 s, or the
# run ending first, is a failure (the signal is sent anyway). RC and
# ELAPSED_MS (from the signal to the exit).
stop_once() {
  local cond=$1 secs=$2 sig=$3 reached=0; shift 3
  "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null & local pid=$!
  BG_PIDS+=("$pid")
  for _ in $(seq 1 1200); do
    kill -0 "$pid" 2>/dev/null || break
    if eval "$cond"; then reached=1; break; fi
    sleep 0.05
  done
  [ "$reached" = 1 ] || fail "cairn $* never got where the SIG$sig is due ($cond) within 60 s, or ended before"
  sleep "$secs"
  local t0; t0=$(date +%s%N)
  kill -"$sig" "$pid"
  wait "$pid"; RC=$?
  ELAPSED_MS=$(ms_since "$t0")
}
# stop_when DIR SQL SECONDS SIGNAL CMD...: stop_once, the condition being
# state_has DIR SQL, e.g. an intent of the run's operation has been written
stop_when() {
  local dir=$1 sql=$2; shift 2
  stop_once "state_has $(printf %q "$dir") $(printf %q "$sql")" "$@"
}
# state_has DIR SQL: the count SQL selects from DIR's state is above 0 (false
# while there is no state: on SQLite, sqlite3 must not make the file first)
state_has() {
  local n
  no_state "$1" && return 1
  n=$(state_sql "$1" "$2" 2>/dev/null) || return 1
  [ -n "$n" ] && [ "$n" -gt 0 ] 2>/dev/null
}

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
# The state of the stack in DIR, on either backend (see CAIRN_TEST_STATE above).
state_schema() { # DIR: the PostgreSQL schema of the stack in DIR (the wrapper's name for it)
  local d
  d=$( (cd "$1" 2>/dev/null && pwd -P) || printf '%s' "$1")
  echo "st_$(printf '%s' "$d" | md5sum | cut -c1-16)"
}
state_sql() { # DIR SQL: rows as `sqlite3 DB SQL` prints them (columns joined by |)
  if [ "$STATE_BACKEND" = pg ]; then
    PGOPTIONS="-csearch_path=$(state_schema "$1")" "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 \
      -h 127.0.0.1 -p "$PG_PORT" -U cairn -d cairn -c "$2"
  else
    sqlite3 "$1/.cairn/state.db" "$2"
  fi
}
state_attr() { # DIR ADDRESS JQ-PATH [ENV]: an attribute of a recorded resource (env dev), as SQLite's json_extract prints it
  state_sql "$1" "select attrs from resources where env='${4:-dev}' and address='$2'" |
    jq -rc "$3 | if . == null then empty else . end"
}
state_set_attr() { # DIR ADDRESS JQ-PATH JSON-VALUE [ENV]: rewrite one attribute of a recorded resource
  local a
  a=$(state_sql "$1" "select attrs from resources where env='${5:-dev}' and address='$2'" | jq -c "$3 = $4") &&
    state_sql "$1" "update resources set attrs='${a//\'/\'\'}' where env='${5:-dev}' and address='$2'"
}
state_check() { # DIR: "ok" when the state is sound (SQLite's integrity_check; on PG, its tables answer)
  if [ "$STATE_BACKEND" = pg ]; then
    state_sql "$1" "SELECT 'ok' FROM meta WHERE key = 'application' AND value = 'cairn'"
  else
    sqlite3 "$1/.cairn/state.db" 'pragma integrity_check'
  fi
}
state_version() { # DIR: the state's schema version (SQLite's user_version; on PG, meta.schema_version)
  if [ "$STATE_BACKEND" = pg ]; then state_sql "$1" "SELECT value FROM meta WHERE key = 'schema_version'"
  else state_sql "$1" 'pragma user_version'; fi
}
state_set_version() { # DIR N: make the state claim schema version N (to pose as one an older cairn wrote)
  if [ "$STATE_BACKEND" = pg ]; then state_sql "$1" "UPDATE meta SET value = '$2' WHERE key = 'schema_version'"
  else state_sql "$1" "pragma user_version = $2"; fi
}
no_state() { # DIR: true when no state was created for the stack (no file; on PG, no table in its schema)
  if [ "$STATE_BACKEND" = pg ]; then
    [ "$(PGOPTIONS= "$PG_BIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U cairn -d cairn \
      -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$(state_schema "$1")'")" = 0 ]
  else
    [ ! -e "$1/.cairn/state.db" ]
  fi
}
state_bytes() { # DIR: everything the state holds, as stored (the files; on PG, a dump of its schema)
  if [ "$STATE_BACKEND" = pg ]; then
    "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U cairn -n "$(state_schema "$1")" cairn 2>/dev/null
  else
    cat "$1"/.cairn/state.db* 2>/dev/null
  fi
  return 0
}
state_lacks() { # DIR TEXT DESCRIPTION: the state holds no TEXT as stored (and holds something)
  local b
  b=$(state_bytes "$1" | LC_ALL=C tr -d '\000')
  if [ -z "$b" ]; then fail "$3: no state to look in"
  elif printf '%s' "$b" | grep -aqF -- "$2"; then fail "$3: the state holds it"
  else pass; fi
}
# sqlite_only REASON && { ...checks about the SQLite file... }: true on
# SQLite; on PostgreSQL prints a TAP skip line with the reason, false.
sqlite_only() {
  [ "$STATE_BACKEND" = sqlite ] && return 0
  echo "ok - # SKIP on PostgreSQL: $1"
  return 1
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
  # on PostgreSQL no command may have fallen back to a state file
  if [ "$STATE_BACKEND" = pg ]; then
    local f
    for f in $(find "$WORK" -name state.db -path '*/.cairn/*' 2>/dev/null); do fail "a state file was made on the PostgreSQL run: $f"; done
  fi
  echo "# $CHECKS checks, $FAILS failed"
  [ "$FAILS" -eq 0 ] || exit 1
  exit 0
}
