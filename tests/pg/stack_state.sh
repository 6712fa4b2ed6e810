#!/usr/bin/env bash
# The state named in stack.yaml (state:, docs/stack-format.md): a
# postgres:// URL (a server of the test's own, tests/pg/lib.sh) or a path
# relative to the stack; --state and CAIRN_STATE_URL come before it. A URL
# with a password in the file, another scheme, a value that is not a
# string: an error at its file:line:col, the password never repeated,
# nothing written.
. "$(dirname "$0")/../cli/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
export CAIRN_STATE_KEY=pg-test-key-not-secret
URL_A=$(pg_new_schema stack_a)
URL_B=$(pg_new_schema stack_b)
pg_rows() { pg_sql "SELECT count(*) FROM $1.resources WHERE env = 'dev'"; }
pg_tables() { pg_sql "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$1'"; }
objects() { ls "$1/cloud" 2>/dev/null | wc -l; }
body='resources:
  a:
    type: local.thing
    name: one
  b:
    type: local.thing
    name: "two-${a.id}"'

# --- the stack names a PostgreSQL state: apply lands there
mkstack s <<YAML
state: "$URL_A"
$body
YAML
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan of a new stack"
eq "$(pg_tables stack_a)" 0 "plan writes nothing to the stack's schema"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(pg_rows stack_a)" 2 "the resources are recorded in the schema stack.yaml names"
check "no state file beside the stack" test ! -e s/.cairn/state.db
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "the next plan reads it: no changes"
run state list -C s -e dev
expect_rc 0 "state list (a command on the state alone) reads it too"
out_has "b" "lists the resources"
eq "$(wc -l <"$WORK/out")" 2 "both of them"
run lock status -C s -e dev
expect_rc 0 "lock status"
hist_ok "the history is there" "len(H) == 1 and H[0]['command'] == 'apply'"
run env create pr-1 --from dev --ttl 1h --auto-approve -C s
expect_rc 0 "env create"
eq "$(pg_sql "SELECT name FROM stack_a.ephemeral_envs")" pr-1 "the ephemeral environment is recorded there"
eq "$(pg_sql "SELECT count(*) FROM stack_a.resources WHERE env = 'pr-1'")" 2 "with its resources"
run env list -C s
expect_rc 0 "env list"
out_has "pr-1" "lists it from the stack's state"
run drift -C s -e dev
expect_rc 0 "drift (nothing changed)"
eq "$(pg_sql "SELECT count(*) FROM stack_a.drift_runs WHERE env = 'dev'")" 1 "drift's run is recorded there"
run drift history -C s -e dev
expect_rc 0 "drift history"
out_has "Runs (newest first)" "reads it"

# --- precedence: --state, then CAIRN_STATE_URL, then stack.yaml
CAIRN_STATE_URL=$URL_B run plan -C s -e dev --detailed-exitcode
expect_rc 2 "CAIRN_STATE_URL comes before stack.yaml (an empty state: everything to create)"
CAIRN_STATE_URL=$URL_B run state list -C s -e dev --state "$URL_A"
expect_rc 0 "--state comes before CAIRN_STATE_URL"
eq "$(wc -l <"$WORK/out")" 2 "--state's state listed"
run plan -C s -e dev --state "$WORK/other.db" --detailed-exitcode
expect_rc 2 "--state FILE comes before stack.yaml"
eq "$(pg_tables stack_b)" 0 "nothing written to the other schema"

# --- a path relative to the stack
mkstack r <<YAML
state: ../shared/r.db
$body
YAML
run apply -C r -e dev --auto-approve
expect_rc 0 "apply with state: a relative path"
check "the state file is where stack.yaml says, relative to the stack" test -s shared/r.db
check "none in the stack's .cairn" test ! -e r/.cairn/state.db
eq "$(sqlite3 shared/r.db "select count(*) from resources where env='dev'")" 2 "both recorded in it"
run state list -C r -e dev
expect_rc 0 "state list reads the same file"
eq "$(wc -l <"$WORK/out")" 2 "both listed"
mkdir -p elsewhere
(cd elsewhere && "$CAIRN" plan -C ../r -e dev --detailed-exitcode >"$WORK/out" 2>"$WORK/err" </dev/null)
RC=$?
expect_rc 0 "from another directory: the same state (relative to the stack, not the working directory)"

# --- refused: a password in the file, another scheme, not a string
PW=hunter2-in-the-file
PORT_=$(echo "$URL_A" | sed -E 's|.*@127\.0\.0\.1:([0-9]+)/.*|\1|')
refused() { # DIR DESCRIPTION
  expect_rc 1 "$2"
  check "$2: no state file" test ! -e "$1/.cairn/state.db"
  err_lacks "$PW" "$2: the password is not repeated"
  out_lacks "$PW" "$2: nor on stdout"
}
mkstack p <<YAML
resources:
  a: {type: local.thing, name: one}
state: "postgres://cairn:$PW@127.0.0.1:$PORT_/cairn?options=-csearch_path%3Dstack_p"
YAML
pg_sql "CREATE SCHEMA stack_p" >/dev/null
run apply -C p -e dev --auto-approve
refused p "apply: a password in the stack file"
err_has "p/stack.yaml:3:8: the state's URL holds a password: a stack file is shared, so keep the password out of it (PGPASSWORD, ~/.pgpass, or the whole URL in CAIRN_STATE_URL)" "says where and why"
eq "$(pg_tables stack_p)" 0 "nothing written to the schema"
eq "$(objects p)" 0 "nothing created"
run state list -C p -e dev
refused p "state list: a password in the stack file"
err_has "p/stack.yaml:3:8: the state's URL holds a password" "the same error"
run plan -C p -e dev --state "$URL_A"
refused p "plan with --state: the stack file is still checked"
err_has "p/stack.yaml:3:8: the state's URL holds a password" "the stack file is wrong whatever the flag"

mkstack q <<YAML
state: "postgresql://cairn@127.0.0.1:$PORT_/cairn?sslmode=disable&password=$PW"
resources: {}
YAML
run plan -C q -e dev
refused q "a password= in the URL's query"
err_has "q/stack.yaml:1:8: the state's URL holds a password" "says where"

mkstack m <<'YAML'
resources: {}
state: mysql://cairn@db/cairn
YAML
run plan -C m -e dev
refused m "another URL scheme"
err_has "m/stack.yaml:2:8: the state's URL scheme 'mysql' is not supported: name a file (relative to the stack) or a postgres:// URL" "says where and what"

mkstack l <<'YAML'
state: [a, b]
resources: {}
YAML
run drift history -C l -e dev
refused l "a list, not a string"
err_has "l/stack.yaml:1:8: the state must be a string" "says where"

mkstack u <<'YAML'
state: postgres://cairn@127.0.0.1:1/cairn
resources:
  a: {type: local.thing, name: one}
YAML
run apply -C u -e dev --auto-approve
refused u "a server that cannot be reached"
err_has "cannot connect to the state database postgres://cairn@127.0.0.1:1/cairn" "says which state"
eq "$(objects u)" 0 "nothing created"

done_testing
