#!/usr/bin/env bash
# plan / apply / destroy against the sim with the state on PostgreSQL (a
# server of the test's own, tests/pg/lib.sh): by CAIRN_STATE_URL and by
# --state, one schema per stack; the URL's password never shows in output,
# errors, the history or the database; a database that cannot be reached,
# a foreign schema and a missing CAIRN_STATE_KEY are clear errors.
. "$(dirname "$0")/../aws/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
start_sim
export CAIRN_STATE_KEY=pg-test-key-not-secret
PW=hunter2-pg-password # trust auth ignores it: here to prove it is never shown
URL_A=$(pg_new_schema stack_a | sed "s|postgres://cairn@|postgres://cairn:$PW@|")
URL_B=$(pg_new_schema stack_b)
pg_rows() { pg_sql "SELECT count(*) FROM $1.resources WHERE env = 'dev'"; }
no_pw() { ! grep -qF "$PW" "$WORK/out" "$WORK/err"; }

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.60.0.0/16
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.60.1.0/24
YAML

export CAIRN_STATE_URL=$URL_A
run plan -C s -e dev
expect_rc 0 "plan on an empty PostgreSQL state"
out_has "Plan: 2 to add, 0 to change, 0 to destroy." "plan"
eq "$(pg_sql "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'stack_a'")" "0" "a plan writes nothing"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply with the state on PostgreSQL"
check "no password in apply's output" no_pw
eq "$(pg_rows stack_a)" "2" "two rows in PostgreSQL"
eq "$(pg_sql "SELECT count(*) FROM stack_a.intents")" "0" "no intents left"
check "no state file beside the stack" test ! -e s/.cairn/state.db
eq "$(sim_count_addr net)" "1" "the VPC exists once in the sim"
run state list -C s -e dev
expect_rc 0 "state list"
out_has "net	aws.vpc	vpc-" "state list shows the VPC"
out_has "sub	aws.subnet	subnet-" "state list shows the subnet"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"
run lock status -C s -e dev
out_has "is not locked" "lock released after apply"
hist_ok "history: one ok apply" 'len(H) == 1 and H[0]["status"] == "ok" and len(H[0]["changes"]) == 2'
check "no password in the database" test "$(pg_sql "SELECT count(*) FROM stack_a.revisions WHERE command LIKE '%$PW%'")" = 0

# drift is recorded in PostgreSQL too: a run, a finding, its resolution
VPC=$(pg_sql "SELECT id FROM stack_a.resources WHERE address = 'net'")
run drift -C s -e dev
expect_rc 0 "drift: clean"
sim_patch "$VPC" '{"tags":{"Team":"payments"}}'
run drift -C s -e dev
expect_rc 2 "drift: a tag changed"
"$CAIRN" drift history -C s -e dev --json >"$WORK/h.json" 2>"$WORK/h.err" </dev/null
eq "$(jq -r '.runs | map(.status) | join(",")' "$WORK/h.json")" "drift,clean" "drift history from PostgreSQL"
eq "$(jq -r '[.findings[] | select(.resolved_at == null)] | length' "$WORK/h.json")" "1" "one open finding"
eq "$(pg_sql "SELECT count(*) FROM stack_a.drift_runs")" "2" "two drift runs in PostgreSQL"
run apply -C s -e dev --refresh-only --auto-approve
expect_rc 0 "apply --refresh-only records the change (one batch on PostgreSQL)"
run drift -C s -e dev
out_has "resolved since the last run: 1 finding(s)" "the change is no longer drift (now: configuration not yet applied)"
eq "$(pg_sql "SELECT count(*) FROM stack_a.drift_findings WHERE resolved_at IS NOT NULL")" "1" "the finding is resolved"

# --state names another schema: another stack's state, untouched by the first
unset CAIRN_STATE_URL
run apply -C s -e dev --auto-approve --state "$URL_B"
expect_rc 0 "apply with --state URL"
eq "$(pg_rows stack_b)" "2" "stack_b has its own two rows"
eq "$(sim_count_addr net)" "2" "a second VPC, for the second state"
run destroy -C s -e dev --auto-approve --state "$URL_B"
expect_rc 0 "destroy with --state URL"
eq "$(pg_rows stack_b)" "0" "stack_b empty"

run destroy -C s -e dev --auto-approve --state "$URL_A"
expect_rc 0 "destroy"
check "no password in destroy's output" no_pw
eq "$(sim_count)" "0" "the sim is empty"
eq "$(pg_rows stack_a)" "0" "stack_a empty"
"$CAIRN" state history -C s -e dev --json --state "$URL_A" >"$WORK/out" 2>"$WORK/err" </dev/null
check "history has the destroy" grep -qF '"command": "destroy"' "$WORK/out"
check "no password in history" no_pw
check "no password anywhere in the state" test "$(pg_sql "SELECT count(*) FROM stack_a.revisions r WHERE r::text LIKE '%$PW%'")" = 0

# round trips: inside a group-commit batch a store call is one round trip
# (its statements pipelined behind one Sync, the intent's id by RETURNING):
# 12 VPCs, each an intent and a write (2 round trips; one statement at a
# time they took 9-10), plus a BEGIN and a COMMIT per batch and a fixed
# ~40 (opening, schema, lock, revision, reads). The serial recorded is the
# one the same apply records on a SQLite file (PostgreSQL adds a batch's
# bumps at its commit).
awsstack many <<'YAML'
resources:
  v:
    type: aws.vpc
    count: 12
    cidr_block: "${cidrsubnet(\"10.0.0.0/8\", 8, count.index)}"
YAML
URL_M=$(pg_new_schema many)
CAIRN_STATS=1 "$CAIRN" apply -C many -e dev --auto-approve --state "$URL_M" >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
expect_rc 0 "apply of 12 VPCs"
TRIPS=$(sed -n 's/.*state_round_trips=\([0-9]*\).*/\1/p' "$WORK/err" | head -1)
NCOMMITS=$(sed -n 's/.*apply_wall_s=[0-9.]* commits=\([0-9]*\).*/\1/p' "$WORK/err" | head -1)
check "CAIRN_STATS reports the round trips ($TRIPS) and commits ($NCOMMITS)" test -n "$TRIPS" -a -n "$NCOMMITS"
check "2 round trips per resource: $TRIPS <= 2 x 12 + 2 x $NCOMMITS commits + 50" \
  test "${TRIPS:-999}" -le $((24 + 2 * ${NCOMMITS:-0} + 50))
eq "$(pg_sql "SELECT count(*) FROM many.resources")" "12" "12 rows"
eq "$(pg_sql "SELECT count(*) FROM many.intents")" "0" "no intents left"
eq "$(pg_sql "SELECT count(*) FROM many.changes")" "12" "12 change rows"
PG_SERIAL=$(pg_sql "SELECT serial FROM many.envs WHERE name = 'dev'")
run destroy -C many -e dev --auto-approve --state "$URL_M"
expect_rc 0 "destroy the 12 VPCs"
run apply -C many -e dev --auto-approve --state "$WORK/many.db"
expect_rc 0 "the same apply on a SQLite file"
eq "$PG_SERIAL" "$(sqlite3 "$WORK/many.db" "SELECT serial FROM envs WHERE name = 'dev'")" "the same serial on both backends"
run destroy -C many -e dev --auto-approve --state "$WORK/many.db"
expect_rc 0 "destroy on the file"

# errors: no such database, a foreign schema, no key
run plan -C s -e dev --state "postgres://cairn:$PW@127.0.0.1:$PG_PORT/nosuchdb"
expect_rc 1 "unreachable database"
err_has "cannot connect to the state database postgres://cairn:***@127.0.0.1:$PG_PORT/nosuchdb" "names the redacted URL"
err_has 'database "nosuchdb" does not exist' "says why"
check "no password in the error" no_pw
pg_sql "CREATE SCHEMA other; CREATE TABLE other.orders (id int)" >/dev/null
run apply -C s -e dev --auto-approve --state "$PG_URL?options=-csearch_path%3Dother"
expect_rc 1 "a foreign schema"
err_has "is not a cairn state database (schema 'other' has 1 tables but no cairn meta row)" "refused"
eq "$(pg_sql "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'other'")" "1" "nothing written there"
eq "$(sim_count)" "0" "nothing created"
unset CAIRN_STATE_KEY
run apply -C s -e dev --auto-approve --state "$URL_A"
check "no key: fails" test "$RC" -ne 0
err_has "CAIRN_STATE_KEY" "no key: names the variable"
eq "$(sim_count)" "0" "no key: nothing created"
done_testing
