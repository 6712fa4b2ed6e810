#!/usr/bin/env bash
# The life of an ephemeral environment of the example stack (environments/)
# against cairn sim: env create pr-123 --from dev (--plan-only first, which
# records nothing), its names from ${env.name} in the sim, its outputs as
# JSON, every other command accepting it (plan, apply, output, state,
# lock, drift), env list (text and JSON), extend, expiry with a 2 s TTL,
# env gc, env destroy; and what is refused, with the state untouched.
. "$(dirname "$0")/lib.sh" "$@"

start_sim
cp -r "$TESTS_DIR/../../environments" ex
# no machines: this sim has no instance hosts (aws-example_hosts has them)
sed -i "s/^variables:/variables:\n  configure_hosts: false/" ex/{dev,staging,prod,dr}.yaml
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
sim_env_count() { sim_resources | jq --arg e "$1" '[.resources[] | select(.tags["cairn:env"] == $e)] | length'; }
sim_has_db() { sim_resources | jq --arg id "$1" '[.resources[] | select(.type == "rds:db-instance" and (tostring | contains($id)))] | length'; }

# --plan-only: the plan of the environment to be, and nothing written
run env create pr-123 --from dev --plan-only -C ex
expect_rc 0 "create --plan-only"
out_has "in environment 'pr-123'" "the plan names the new environment"
out_has "shop-pr-123-db" "names come from \${env.name}"
out_has "Plan: 16 to add, 0 to change, 0 to destroy." "the whole stack"
out_has "Plan only: environment 'pr-123' was not created." "says nothing was created"
check "--plan-only writes no state" no_state ex
eq "$(sim_count)" "0" "--plan-only creates nothing in the sim"

# without a terminal and without --auto-approve: refused before anything is written
run env create pr-123 --from dev -C ex
expect_rc 1 "create without confirmation"
err_has "env create needs confirmation, and there is no terminal to ask" "says why"
check "still no state" no_state ex

# create: recorded, planned and applied at once
run env create pr-123 --from dev --ttl 4h --var db_storage=25 --auto-approve -C ex
expect_rc 0 "create pr-123"
out_has "Apply complete! Resources: 16 added, 0 changed, 0 destroyed." "applied"
out_has "Environment 'pr-123' created from 'dev'; it expires" "reports the expiry"
eq "$(state_sql ex "select base || ' ' || (expires_at - created_at) from ephemeral_envs where name = 'pr-123'")" "dev 14400" "recorded: base and a 4 h TTL"
check "its --var values are sealed in the state" eval 'case $(state_sql ex "select vars from ephemeral_envs") in cairn:v1:*) true;; *) false;; esac'
eq "$(state_sql ex "select count(*) from resources where env = 'pr-123'")" "16" "16 resources in the state"
eq "$(sim_has_db shop-pr-123-db)" "1" "its database in the sim, named from \${env.name}"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:env"] == "pr-123") | .tags.Name // empty] | map(select(startswith("shop-pr-123"))) | length > 0')" "true" "sim objects named shop-pr-123-*"

# every other command takes it like an environment with an overlay file
run output -C ex -e pr-123 --json
expect_rc 0 "output --json"
check "outputs as JSON" python3 -c "import json; d=json.load(open('$WORK/out')); assert d['db_endpoint']['value'].startswith('shop-pr-123-db.'), d; assert d['db_password']['value'] == '(sensitive)'; assert d['cluster_endpoint']['value'].startswith('https://')"
run plan -C ex -e pr-123 --detailed-exitcode
expect_rc 0 "plan -e pr-123: no changes (its recorded --var is used)"
run plan -C ex -e pr-123 --detailed-exitcode --var db_storage=30
expect_rc 2 "a --var on the command line goes over the recorded one"
out_has "allocated_storage" "the change"
run validate -C ex -e pr-123
expect_rc 0 "validate -e pr-123"
out_has "The configuration of environment 'pr-123' is valid" "valid"
run graph -C ex -e pr-123
expect_rc 0 "graph -e pr-123"
run plan -C ex -e pr-123 --var db_storage=30 -out pr.plan
expect_rc 0 "plan -e pr-123 -out"
run apply pr.plan --auto-approve
expect_rc 0 "apply FILE of pr-123's plan"
out_has "0 added, 1 changed, 0 destroyed" "the saved change"
run apply -C ex -e pr-123 --auto-approve --var db_storage=30
expect_rc 0 "apply -e pr-123"
run state list -C ex -e pr-123
expect_rc 0 "state list -e pr-123"
out_has "aws.db_instance" "lists its resources"
run state show -C ex -e pr-123 db
expect_rc 0 "state show"
out_has "shop-pr-123-db" "its database"
run lock status -C ex -e pr-123
expect_rc 0 "lock status"
out_has "environment 'pr-123' is not locked" "unlocked"
run drift -C ex -e pr-123 --json out.json
check "drift -e pr-123 runs (exit 0 or 2)" test "$RC" -le 2
eq "$(jq -r '.environments[0].name' out.json)" "pr-123" "drift read pr-123"
check "drift read it" test "$(jq -r '.environments[0].status' out.json)" != error
run drift -C ex --all --no-unmanaged --json all.json
check "drift --all runs (exit 0 or 2)" test "$RC" -le 2
eq "$(jq -r '[.environments[].name] | join(",")' all.json)" "dev,dr,pr-123,prod,staging" "drift --all takes the ephemeral environment too"
run state history -C ex -e pr-123
expect_rc 0 "state history"
out_has "env create by" "the create is in its history"

# env list: both kinds, with resources, last run, lock, drift, expiry
run env list -C ex --json
expect_rc 0 "env list --json"
check "env list --json" python3 - "$WORK/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
envs = {e["name"]: e for e in d["environments"]}
assert sorted(envs) == ["dev", "dr", "pr-123", "prod", "staging"], sorted(envs)
p = envs["pr-123"]
assert p["kind"] == "ephemeral" and p["base"] == "dev", p
assert p["resources"] == 16, p
assert p["last_run"]["command"] == "apply" and p["last_run"]["status"] == "ok", p
assert p["last_drift"]["status"] in ("clean", "drift"), p
assert p["lock"] is None and p["expired"] is False, p
assert 14000 < p["expires_at"] - p["created_at"] <= 14400, p
assert envs["prod"]["protected"] is True and envs["dev"]["protected"] is False
assert envs["dev"]["kind"] == "overlay" and envs["dev"]["resources"] == 0 and envs["dev"]["last_run"] is None
PY
run env list -C ex
expect_rc 0 "env list"
out_has "ephemeral from dev" "text: the kind and base"
out_has "prod     overlay, protected" "text: protected"
out_has "last run: apply ok by" "text: the last run"
out_has "expires" "text: the expiry"

# extend: from the current expiry
before=$(state_sql ex "select expires_at from ephemeral_envs where name = 'pr-123'")
run env extend pr-123 --ttl 2h -C ex
expect_rc 0 "extend"
out_has "Environment 'pr-123' now expires" "says until when"
eq "$(( $(state_sql ex "select expires_at from ephemeral_envs where name = 'pr-123'") - before ))" "7200" "2 h later than before"

# refusals, each leaving the state as it was
serial=$(state_sql ex "select name || ':' || serial from envs order by name" | paste -sd,)
run env create pr-123 --from dev --auto-approve -C ex
expect_rc 1 "create an existing name"
err_has "environment 'pr-123' already exists" "says so"
run env create staging --from dev --auto-approve -C ex
expect_rc 1 "create over an overlay environment"
err_has "environment 'staging' already exists: it has an overlay file" "says so"
run env create pr-9 --from nope --auto-approve -C ex
expect_rc 1 "create from an unknown base"
err_has "--from nope: no such environment with an overlay file" "names the base"
err_has "dev, dr, prod, staging" "lists the bases"
run env create pr-9 --auto-approve -C ex
expect_rc 1 "create without --from"
err_has "needs --from BASE" "says so"
run env create PR_9 --from dev --auto-approve -C ex
expect_rc 1 "an invalid name"
err_has "invalid environment name 'PR_9'" "says so"
run env create pr-9 --from dev --ttl soon --auto-approve -C ex
expect_rc 1 "a bad --ttl"
err_has "--ttl expects a duration" "says so"
# refused after its lock recorded the name: the plan finds a bad value
run env create pr-9 --from dev --var db_storage=1 --auto-approve -C ex
expect_rc 1 "a value the module refuses"
err_has "environment 'pr-9' was not created: property 'allocated_storage' of aws.db_instance must be" "says so"
run env extend nope --ttl 1h -C ex
expect_rc 1 "extend an unknown environment"
err_has "unknown environment 'nope'" "says so"
run env extend dev --ttl 1h -C ex
expect_rc 1 "extend an overlay environment"
err_has "has an overlay file: it is not ephemeral" "says so"
run env destroy dev --auto-approve -C ex
expect_rc 1 "env destroy of an overlay environment"
err_has "'cairn env destroy' never touches it" "says so"
run env destroy nope --auto-approve -C ex
expect_rc 1 "env destroy of an unknown environment"
err_has "unknown environment 'nope'" "says so"
run env list --ttl 1h -C ex
expect_rc 1 "a flag of another subcommand"
err_has "flag --ttl does not apply to 'cairn env list'" "says so"
eq "$(state_sql ex "select name || ':' || serial from envs order by name" | paste -sd,)" "$serial" "the refusals changed nothing"
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "1" "one ephemeral environment"

# expiry: a second environment with a 2 s TTL; gc destroys it and only it
sim_before=$(sim_count)
run env create pr-124 --from staging --ttl 2s --auto-approve -C ex
expect_rc 0 "create pr-124 with a 2 s TTL"
eq "$(sim_has_db shop-pr-124-db)" "1" "pr-124's database is in the sim"
check "pr-124's objects are in the sim" test "$(sim_env_count pr-124)" -gt 10
sleep 3
run env list -C ex --json
eq "$(jq -r '.environments[] | select(.name == "pr-124") | .expired' out)" "true" "listed as expired"
run env gc -C ex
expect_rc 0 "gc"
out_has "env gc: pr-124: expired" "gc reports the expired one"
out_has "Environment 'pr-124' destroyed and forgotten." "destroys and forgets it"
out_has "env gc: 1 destroyed, 0 skipped, 0 failed." "the count"
out_lacks "pr-123" "pr-123 has not expired"
eq "$(state_sql ex "select count(*) from resources where env = 'pr-124'")" "0" "nothing of pr-124 in the state"
eq "$(state_sql ex "select count(*) from ephemeral_envs where name = 'pr-124'")" "0" "pr-124 forgotten"
eq "$(sim_env_count pr-124)" "0" "nothing of pr-124 in the sim"
eq "$(sim_count)" "$sim_before" "the sim holds what it held before pr-124"
eq "$(state_sql ex "select count(*) from resources where env = 'pr-123'")" "16" "pr-123 untouched"
run env gc -C ex
expect_rc 0 "gc with nothing expired"
out_has "env gc: 0 destroyed, 0 skipped, 0 failed." "nothing to do"
run plan -C ex -e pr-124
expect_rc 1 "a forgotten environment is unknown again"
err_has "unknown environment 'pr-124'" "says so"

# env destroy: destroy, then forget
run env destroy pr-123 -C ex
expect_rc 1 "env destroy without confirmation"
err_has "env destroy needs confirmation" "says so"
run env destroy pr-123 --auto-approve -C ex
expect_rc 0 "env destroy pr-123"
out_has "Destroy complete! Resources: 16 destroyed." "destroyed"
out_has "Environment 'pr-123' destroyed and forgotten." "forgotten"
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "0" "no ephemeral environment left"
eq "$(state_sql ex "select count(*) from resources")" "0" "nothing in the state"
eq "$(state_sql ex "select count(*) from outputs")" "0" "no outputs left"
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:stack"] == "shop")] | length')" "0" "no cairn object left in the sim"
run output -C ex -e pr-123
expect_rc 1 "its outputs are gone with it"
err_has "unknown environment 'pr-123'" "unknown"
run state history -C ex -e pr-123
expect_rc 1 "state commands no longer know it"
done_testing
