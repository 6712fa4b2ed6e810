#!/usr/bin/env bash
# Ephemeral environments and guardrails with the state on PostgreSQL (a
# server of the test's own, tests/pg/lib.sh), against the sim:
# env create --from dev --auto-approve records the environment (its --var
# sealed) in PostgreSQL and applies it; env list shows it; plan uses its
# recorded --var; env extend and env destroy (the sim's object gone, the
# record and its rows forgotten); env gc destroys only the expired one.
# An environment with
# `approvals: {required: 1}` refuses an unapproved saved plan (exit 5) and
# applies it once `cairn approve` recorded an approval (a revision whose
# summary holds the digest); each apply's configuration is kept sealed;
# rollback reads a recorded configuration back; `state migrate` to a file
# carries the ephemeral record and the applied configurations. A state of
# schema 2 (wt-pg's) is read as it is (no ephemeral environment, no
# recorded configuration) and upgraded to 4 by the first writer. No state file is ever written beside the stack.
. "$(dirname "$0")/../aws/lib.sh" "$@"
. "$TESTS_DIR/../pg/lib.sh"
pg_start || exit $?
start_sim
export CAIRN_STATE_KEY=pg-test-key-not-secret
export CAIRN_STATE_URL=$(pg_new_schema guards)
SECRET=team-secret-9f3e1a
q() { pg_sql "SELECT $1 FROM guards.$2"; }

awsstack s <<'YAML'
variables:
  team: { type: string, default: core }
resources:
  net: { type: aws.vpc, cidr_block: 10.70.0.0/16, tags: { env: "${env.name}", team: "${var.team}" } }
environments:
  prod: { approvals: { required: 1 } }
YAML
cp s/dev.yaml s/prod.yaml
vpcs_of() { sim_resources | jq --arg e "$1" '[.resources[] | select(.type == "ec2:vpc" and .tags.env == $e)] | length'; }

# --- an ephemeral environment --------------------------------------------------
run env create pr-7 --from dev --ttl 4h --var team=$SECRET --auto-approve -C s
expect_rc 0 "env create pr-7 with the state on PostgreSQL"
out_has "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." "applied"
out_has "Environment 'pr-7' created from 'dev'; it expires" "created"
eq "$(q "base || ' ' || (expires_at - created_at)" "ephemeral_envs WHERE name = 'pr-7'")" "dev 14400" "recorded in PostgreSQL: base and a 4 h TTL"
eq "$(q "left(vars, 9)" "ephemeral_envs WHERE name = 'pr-7'")" "cairn:v1:" "its --var values sealed"
eq "$(q "count(*)" "resources WHERE env = 'pr-7'")" "1" "its resource in PostgreSQL"
eq "$(vpcs_of pr-7)" "1" "its VPC in the sim, tagged with its name"
run env list -C s
expect_rc 0 "env list"
out_has "pr-7" "lists pr-7"
out_has "ephemeral from dev" "as ephemeral, from dev"
out_has "last run: env create ok by" "with its last run"
run plan -C s -e pr-7 --detailed-exitcode
expect_rc 0 "plan -e pr-7: converged (the recorded --var, read from PostgreSQL)"
OLD=$(q "expires_at" "ephemeral_envs WHERE name = 'pr-7'")
run env extend pr-7 --ttl 2h -C s
expect_rc 0 "env extend"
eq "$(q "expires_at - $OLD" "ephemeral_envs WHERE name = 'pr-7'")" "7200" "the expiry pushed 2 h"
run env destroy pr-7 --auto-approve -C s
expect_rc 0 "env destroy pr-7"
eq "$(vpcs_of pr-7)" "0" "its VPC gone from the sim"
eq "$(q "count(*)" "ephemeral_envs")" "0" "its record forgotten"
eq "$(q "count(*)" "resources WHERE env = 'pr-7'")" "0" "no resource left"
run env list -C s
expect_rc 0 "env list after destroy"
out_lacks "pr-7" "pr-7 no longer listed"
# gc: one past its expiry is destroyed and forgotten, one not yet is kept
run env create pr-9 --from dev --ttl 1s --auto-approve -C s
expect_rc 0 "pr-9 with a 1 s TTL"
run env create pr-10 --from dev --ttl 1h --auto-approve -C s
expect_rc 0 "pr-10 with a 1 h TTL"
sleep 2
run env gc -C s
expect_rc 0 "env gc"
out_has "env gc: 1 destroyed, 0 skipped, 0 failed." "destroys the expired one only"
eq "$(q "string_agg(name, ',')" "ephemeral_envs")" "pr-10" "pr-9 forgotten, pr-10 kept"
eq "$(vpcs_of pr-9)/$(vpcs_of pr-10)" "0/1" "pr-9's VPC gone, pr-10's there"
run env destroy pr-10 --auto-approve -C s
expect_rc 0 "env destroy pr-10"

# --- approvals -------------------------------------------------------------------
export CAIRN_USER=alice
run plan -C s -e prod -out p.json
expect_rc 0 "alice saves a plan for prod"
D=sha256:$(jq -cS 'del(.mac)' p.json | tr -d '\n' | sha256sum | cut -d' ' -f1)
run apply p.json
expect_rc 5 "no approval yet: refused"
err_has "the plan ($D) has 0 of the 1 approval environment 'prod' needs" "says how many"
eq "$(vpcs_of prod)" "0" "nothing created"
CAIRN_USER=bob run approve p.json
expect_rc 0 "bob approves"
out_has "Approved the plan p.json ($D, made by alice) for environment 'prod' as bob" "who, which plan"
eq "$(q "who" "revisions WHERE env = 'prod' AND command = 'approve'")" "bob" "the approval is a revision in PostgreSQL"
check "its summary holds the digest" test "$(q "summary::json->'approval'->>'digest'" "revisions WHERE command = 'approve'")" = "$D"
run apply p.json
expect_rc 0 "approved: applies"
eq "$(vpcs_of prod)" "1" "prod's VPC exists"
eq "$(q "count(*)" "applied_configs WHERE env = 'prod'")" "1" "the applied configuration kept"
eq "$(q "count(*)" "applied_configs WHERE config LIKE '%$SECRET%' OR config LIKE '%alice%'")" "0" "sealed"
"$CAIRN" state history -C s -e prod --json >"$WORK/h.json" 2>"$WORK/h.err" </dev/null
check "history: the approval by bob, then the apply" python3 -c "
import json; H = json.load(open('$WORK/h.json'))
assert [h['command'] for h in H] == ['apply', 'approve'] and H[1]['who'].startswith('bob'), H"

# --- rollback reads a recorded configuration back (dev, no approvals) ---------------
run apply -C s -e dev --auto-approve --var team=blue
expect_rc 0 "dev revision with team=blue"
REV1=$(q "max(id)" "revisions WHERE env = 'dev' AND command = 'apply'")
run apply -C s -e dev --auto-approve --var team=green
expect_rc 0 "dev revision with team=green"
run rollback -C s -e dev --to "$REV1" --auto-approve
expect_rc 0 "rollback to the team=blue revision"
eq "$(sim_resources | jq -r '[.resources[] | select(.type == "ec2:vpc" and .tags.env == "dev")][0].tags.team')" "blue" "the sim's VPC back to team=blue"

# --- state migrate carries them to a file ----------------------------------------
run env create pr-8 --from dev --auto-approve -C s
expect_rc 0 "another ephemeral environment"
run state migrate -C s --to "$WORK/copy.db"
expect_rc 0 "state migrate to a file"
eq "$(sqlite3 "$WORK/copy.db" "select base from ephemeral_envs where name = 'pr-8'")" "dev" "the ephemeral record copied"
eq "$(sqlite3 "$WORK/copy.db" "select count(*) from applied_configs")" "$(q "count(*)" "applied_configs")" "every applied configuration copied"

# --- a PostgreSQL state of schema 2 (cairn before ephemeral environments) -----------
U2=$(pg_new_schema old2)
cp -r s s2 && rm -f s2/*.json
run apply -C s2 -e dev --auto-approve --state "$U2"
expect_rc 0 "a state in schema old2"
pg_sql "DROP TABLE old2.ephemeral_envs; DROP TABLE old2.applied_configs; DROP TABLE old2.read_marks; UPDATE old2.meta SET value = '2' WHERE key = 'schema_version'" >/dev/null
run env list -C s2 --state "$U2"
expect_rc 0 "env list reads a schema 2 state (no ephemeral environment)"
out_has "dev   overlay" "the overlay environment"
run rollback -C s2 -e dev --to 1 --auto-approve --state "$U2"
expect_rc 1 "rollback: no configuration recorded there"
err_has "revision 1 of environment 'dev' has no recorded configuration" "says so"
eq "$(pg_sql "SELECT value FROM old2.meta WHERE key = 'schema_version'")" "2" "readers leave it at 2"
run env create pr-1 --from dev --auto-approve -C s2 --state "$U2"
expect_rc 0 "a writer upgrades it and records"
eq "$(pg_sql "SELECT value FROM old2.meta WHERE key = 'schema_version'")" "5" "now at 5"
eq "$(pg_sql "SELECT count(*) FROM old2.ephemeral_envs")" "1" "the ephemeral environments' table"
run apply -C s2 -e dev --auto-approve --var team=red --state "$U2"
expect_rc 0 "an apply on the upgraded state"
eq "$(pg_sql "SELECT count(*) FROM old2.applied_configs WHERE env = 'dev'")" "1" "records its configuration"
eq "$(pg_sql "SELECT count(*) FROM old2.applied_configs WHERE env = 'pr-1'")" "1" "env create recorded pr-1's configuration too"
check "no state file beside either stack" test ! -e s/.cairn/state.db -a ! -e s2/.cairn/state.db
done_testing
