#!/usr/bin/env bash
# The example stack in environments/ against cairn sim, in all four
# environments (dev, staging, prod in us-east-1; dr in us-west-2, all in one
# sim): apply, plan again is empty, outputs, destroy (prod and dr are
# protected environments in the stack: destroy refuses them until the stack
# no longer marks them; then their database's prevent_destroy refuses until
# it is lifted), and the sim is empty after.
. "$(dirname "$0")/lib.sh" "$@"

start_sim
cp -r "$TESTS_DIR/../../environments" ex
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
# no instance hosts here (tests/aws/example_hosts.sh has them): no machines
sed -i "s/^variables:/variables:\n  configure_hosts: false/" ex/{dev,staging,prod,dr}.yaml
for env in dev staging prod dr; do
  run apply -C ex -e "$env" --auto-approve
  expect_rc 0 "$env: apply"
  out_has "Apply complete!" "$env: applied"
  run plan -C ex -e "$env" --detailed-exitcode
  expect_rc 0 "$env: plan after apply is empty"
  run output -C ex -e "$env" --json
  check "$env: outputs" python3 -c "import json; d=json.load(open('$WORK/out')); assert d['db_endpoint']['value'].endswith('.rds.amazonaws.com'); assert d['db_password']['value'] == '(sensitive)'; assert d['cluster_endpoint']['value'].startswith('https://')"
done
eq "$(state_sql ex "select count(*) from resources where env='dev'")" "16" "dev: 16 resources"
eq "$(state_sql ex "select count(*) from resources where env='prod'")" "19" "prod: 19 resources"
eq "$(sim_resources | jq '[.resources[] | select(.region == "us-west-2" and .tags["cairn:env"] == "dr")] | length > 0')" "true" "dr lives in us-west-2"
check "environments are separate namespaces" test "$(state_sql ex "select count(distinct env) from resources")" = 4

for env in dev staging; do
  run destroy -C ex -e "$env" --auto-approve
  expect_rc 0 "$env: destroy"
done
for env in prod dr; do
  run destroy -C ex -e "$env" --auto-approve
  expect_rc 1 "$env: destroy refused (protected environment)"
  err_has "ex/stack.yaml:" "$env: names where the stack protects it"
  err_has "environment '$env' is protected" "$env: says why"
  eq "$(state_sql ex "select count(*) from resources where env='$env'")" "19" "$env: nothing destroyed"
done
# tearing down a protected environment takes a change to the stack
sed -i '/^  prod: { protected: true }$/d; /^  dr: { protected: true }$/d' ex/stack.yaml
for env in prod dr; do
  run destroy -C ex -e "$env" --auto-approve
  expect_rc 1 "$env: destroy refused"
  err_has "prevent_destroy" "$env: names the protection"
  eq "$(state_sql ex "select count(*) from resources where env='$env'")" "19" "$env: nothing destroyed"
  run destroy -C ex -e "$env" --auto-approve --var protect=false
  expect_rc 0 "$env: destroy with protection lifted"
done
eq "$(state_sql ex "select count(*) from resources")" "0" "state empty"
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:stack"] == "shop")] | length')" "0" "no cairn object left in the sim"
done_testing
