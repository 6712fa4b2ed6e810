#!/usr/bin/env bash
# The state schema's version 2 (the drift tables) on a database written by
# a cairn that knew only version 1: reading commands (plan, state list)
# read it as it is and leave it at version 1; the first drift run (a
# writer) upgrades it (to the current version, 5: the ephemeral
# environments', applied configurations' and read marks' tables too) and records; drift
# history reads the record. A version 3 database whose applied_configs a
# cairn of then created on first use is upgraded with its rows kept.
# The same on PostgreSQL (pg-cli), where the version is meta.schema_version
# (state_version / state_set_version in lib.sh).
. "$(dirname "$0")/lib.sh" "$@"
mkstack s <<'YAML'
resources:
  r:
    type: random.id
    byte_length: 4
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(state_version s)" "5" "a new database is at version 5"
# what a version 1 database looks like
state_sql s "drop table drift_findings; drop table drift_runs; drop table ephemeral_envs; drop table applied_configs; drop table read_marks"
state_set_version s 1
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan reads a version 1 database"
out_has "No changes." "as usual"
run state list -C s -e dev
expect_rc 0 "state list too"
out_has "random.id" "the resource"
eq "$(state_version s)" "1" "reading leaves it at version 1"
run env list -C s
expect_rc 0 "env list reads it too (no ephemeral environment)"
out_has "dev" "the overlay environment"
eq "$(state_version s)" "1" "still version 1"
run drift -C s -e dev
expect_rc 0 "drift upgrades it and records"
eq "$(state_version s)" "5" "now version 5"
eq "$(state_sql s "select count(*) from ephemeral_envs")" "0" "with the ephemeral environments' table"
eq "$(state_sql s "select count(*) from applied_configs")" "0" "and the applied configurations'"
eq "$(state_sql s "select count(*) || ' ' || min(status) from drift_runs where env = 'dev'")" "1 clean" "the run is recorded"
eq "$(state_sql s "select count(*) from read_marks where address not like '#%'")" "0" \
  "and the read marks' table (random.id keeps no mark)"
eq "$(state_sql s "select count(*) from read_marks where address = '#plan'")" "1" "the run's plan is kept there"
run drift history -C s -e dev
expect_rc 0 "history"
out_has "clean" "shows the run"
# version 3 as main's cairn left it: applied_configs created by its first apply
printf '  r2:\n    type: random.id\n    byte_length: 4\n' >>s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "an apply records its configuration"
eq "$(state_sql s "select count(*) from applied_configs where env = 'dev'")" "1" "one configuration"
state_set_version s 3
run state list -C s -e dev
expect_rc 0 "a reader reads version 3 as it is"
eq "$(state_version s)" "3" "and leaves it"
printf '  r3:\n    type: random.id\n    byte_length: 4\n' >>s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "a writer upgrades it (the table exists already)"
eq "$(state_version s)" "5" "version 5"
eq "$(state_sql s "select count(*) from applied_configs where env = 'dev'")" "2" "the earlier configuration kept, the new one added"
done_testing
