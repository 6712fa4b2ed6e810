#!/usr/bin/env bash
# cairn state migrate: a file's state (two environments, history, a sealed
# password, outputs) to PostgreSQL and back, verified; the state reads the
# same from either (state list, history, output); refused while an
# environment is locked and into a destination that already holds a state.
. "$(dirname "$0")/../aws/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
start_sim
export CAIRN_STATE_KEY=pg-test-key-not-secret
URL=$(pg_new_schema moved)

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.70.0.0/16
  pw:
    type: random.password
    length: 24
  slow:
    type: local.thing
    count: "${var.slow}"
    name: "slow-${count.index}"
    delay: 0.5
variables:
  slow: {default: 0}
outputs:
  vpc: {value: "${net.id}"}
  secret: {value: "${pw.result}", sensitive: true}
YAML
cp s/dev.yaml s/prod.yaml

run apply -C s -e dev --auto-approve
expect_rc 0 "apply dev on the file"
run apply -C s -e prod --auto-approve
expect_rc 0 "apply prod on the file"
run output -C s -e dev secret --show-sensitive
SECRET=$(cat "$WORK/out")
check "a password was made" test "${#SECRET}" -ge 24
for e in dev prod; do
  "$CAIRN" state list -C s -e $e >"file-$e.list" 2>&1
  "$CAIRN" state history -C s -e $e --json >"file-$e.hist" 2>&1
done

# refused while an environment is locked: prod's apply holds its lock until
# the migrate has been refused (its creates wait while s/cloud/.hold exists)
mkdir -p s/cloud
touch s/cloud/.hold
"$CAIRN" apply -C s -e prod --auto-approve --var slow=4 >bg.out 2>bg.err </dev/null & A=$!
BG_PIDS+=("$A")
wait_until 60 "prod's apply holds its lock" env_locked s prod
run state migrate -C s --to "$URL"
expect_rc 3 "migrate while prod is locked"
err_has "environment 'prod' of" "names the environment"
err_has "refusing to migrate a state in use" "says why"
eq "$(pg_sql "SELECT count(*) FROM moved.envs")" "0" "nothing copied"
rm -f s/cloud/.hold
wait "$A"; eq "$?" "0" "the locked apply finished"
"$CAIRN" state list -C s -e prod >"file-prod.list" 2>&1
"$CAIRN" state history -C s -e prod --json >"file-prod.hist" 2>&1

run state migrate -C s --to "$URL"
expect_rc 0 "migrate the file to PostgreSQL"
out_has "Migrated the state from s/.cairn/state.db to $PG_URL" "names both"
out_has "2 environments, 8 resources, 3 revisions" "counts"
out_has "verified" "verified"
eq "$(pg_sql "SELECT count(*) FROM moved.resources")" "8" "eight rows in PostgreSQL"
check "the password is sealed in PostgreSQL" test "$(pg_sql "SELECT count(*) FROM moved.resources r WHERE r::text LIKE '%$SECRET%'")" = 0
check "the source is left as it was" test "$(state_sql s "select count(*) from resources")" = 8

export CAIRN_STATE_URL=$URL
for e in dev prod; do
  "$CAIRN" state list -C s -e $e >"pg-$e.list" 2>&1
  "$CAIRN" state history -C s -e $e --json >"pg-$e.hist" 2>&1
  check "$e: state list the same from PostgreSQL" cmp -s "file-$e.list" "pg-$e.list"
  check "$e: history the same from PostgreSQL" cmp -s "file-$e.hist" "pg-$e.hist"
done
run output -C s -e dev secret --show-sensitive
eq "$(cat "$WORK/out")" "$SECRET" "the sealed output unseals from PostgreSQL"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged, read from PostgreSQL"
run apply -C s -e dev --auto-approve --var slow=1
expect_rc 0 "apply on PostgreSQL after the migration"

# into a destination that already holds a state: refused
unset CAIRN_STATE_URL
run state migrate -C s --to "$URL"
expect_rc 1 "migrate into a non-empty state"
err_has "already holds a state" "refused"
eq "$(pg_sql "SELECT count(*) FROM moved.resources")" "9" "PostgreSQL untouched"

# and back to a new file
run state migrate -C s --state "$URL" --to "$WORK/back/state.db"
expect_rc 0 "migrate PostgreSQL to a file"
out_has "2 environments, 9 resources, 4 revisions" "counts"
for e in dev prod; do
  "$CAIRN" state history -C s -e $e --json --state "$URL" >"pg-$e.hist" 2>&1
  "$CAIRN" state history -C s -e $e --json --state "$WORK/back/state.db" >"back-$e.hist" 2>&1
  check "$e: history the same in the file" cmp -s "pg-$e.hist" "back-$e.hist"
done
run destroy -C s -e dev --auto-approve --state "$WORK/back/state.db"
expect_rc 0 "destroy from the migrated-back file"
eq "$(sim_count_addr net)" "1" "dev's VPC gone, prod's left"
done_testing
