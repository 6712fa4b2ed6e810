#!/usr/bin/env bash
# `cairn env` for pipelines (docs/json-output.md, docs/environments.md):
# env create / extend / destroy / gc --json against cairn sim, every line of
# stdout parsed with python3 and checked (types, order, the environment
# record, gc's line per environment: destroyed, skipped because a real
# `cairn apply` waiting at its prompt holds the lock, failed on a sim
# fault); progress lines of env create (CAIRN_PROGRESS_INTERVAL); CI mode
# on a real terminal (no colours, no prompt); the warning of `plan` on a
# protected environment whose plan destroys or replaces something.
. "$(dirname "$0")/lib.sh" "$@"

start_sim
cp -r "$TESTS_DIR/../../environments" ex
# no machines: this sim has no instance hosts (aws-example_hosts has them)
sed -i "s/^variables:/variables:\n  configure_hosts: false/" ex/{dev,staging,prod,dr}.yaml
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
sim_env_count() { sim_resources | jq --arg e "$1" '[.resources[] | select(.tags["cairn:env"] == $e)] | length'; }


# --- the command line is checked before the stream starts
run env create pr-1 --from dev --json -C ex
expect_rc 1 "env create --json without --auto-approve"
err_has "env create --json needs --auto-approve (or --plan-only): with --json cairn never asks" "says why"
eq "$(wc -c <"$WORK/out")" "0" "stdout stays empty"
run env destroy pr-1 --json -C ex
expect_rc 1 "env destroy --json without --auto-approve"
err_has "env destroy --json needs --auto-approve: with --json cairn never asks" "says why"
eq "$(wc -c <"$WORK/out")" "0" "stdout stays empty"
check "nothing written" no_state ex

# --- env create --plan-only --json: the plan, the record to be, nothing written
run env create pr-1 --from dev --ttl 1h --plan-only --json -C ex
expect_rc 0 "env create --plan-only --json"
stream_ok "plan-only: planned changes, change_summary, the planned record, summary" "
assert L[0]['command'] == 'env create', L[0]
assert types == ['version'] + ['planned_change'] * 16 + ['change_summary', 'environment', 'summary'], types
assert all(o['action'] == 'create' for o in T['planned_change'])
assert T['change_summary'][0]['changes'] == {'add': 16, 'change': 0, 'remove': 0, 'operation': 'plan'}
e = env_line(T['environment'][0], 'pr-1', 'dev', 'planned')
assert 3500 < e['expires_at'] - int(__import__('time').time()) <= 3600, e
assert L[-1]['exit_code'] == 0 and L[-1]['planned'] == {'add': 16, 'change': 0, 'remove': 0}, L[-1]
"
check "--plan-only --json writes no state" no_state ex

# --- env create --json: its plan and apply as apply --json, the record, the summary
CAIRN_PROGRESS_INTERVAL=0.3 run env create pr-1 --from dev --ttl 3s --json --auto-approve -C ex
expect_rc 0 "env create --json"
state_sql ex "select expires_at from ephemeral_envs where name = 'pr-1'" >"$WORK/pr1.exp"
eq "$(state_sql ex "select expires_at - created_at from ephemeral_envs where name = 'pr-1'")" "3" "recorded with its 3 s TTL"
stream_ok "create: plan, apply, outputs, record, summary, in that order" "
assert L[0]['command'] == 'env create'
pc = T['planned_change']
assert len(pc) == 16 and all(o['action'] == 'create' and o['before'] is None for o in pc), pc
assert T['change_summary'][0]['changes'] == {'add': 16, 'change': 0, 'remove': 0, 'operation': 'apply'}
starts = {o['resource']['address'] for o in T['apply_start']}
dones = {o['resource']['address'] for o in T['apply_complete']}
assert starts == dones == {o['resource']['address'] for o in pc}, (starts, dones)
assert 'apply_errored' not in T and 'diagnostic' not in T
# progress lines for the long creates (the database): CAIRN_PROGRESS_INTERVAL=0.3
pr = T.get('apply_progress', [])
assert pr and all(o['elapsed_seconds'] > 0 for o in pr), pr
assert max(types.index('planned_change'), types.index('change_summary')) < types.index('apply_start')
assert types[-3:] == ['outputs', 'environment', 'summary'], types[-3:]
out = T['outputs'][0]['outputs']
assert out['db_endpoint']['value'].startswith('shop-pr-1-db.') and out['db_password'] == {'value': '(sensitive)', 'sensitive': True}, out
e = env_line(T['environment'][0], 'pr-1', 'dev', 'created')
assert e['expires_at'] == int(open('$WORK/pr1.exp').read()), e
assert \"Environment 'pr-1' created from 'dev'; it expires\" in T['environment'][0]['@message']
s = L[-1]
assert s['exit_code'] == 0 and s['status'] == 'ok' and s['applied'] == {'add': 16, 'change': 0, 'remove': 0}, s
assert s['failed'] == [] and s['skipped'] == [], s
"
eq "$(state_sql ex "select base from ephemeral_envs where name = 'pr-1'")" "dev" "pr-1 recorded"
eq "$(state_sql ex "select count(*) from resources where env = 'pr-1'")" "16" "its 16 resources in the state"

# --- without --json: the same run in text, progress lines on stderr
CAIRN_PROGRESS_INTERVAL=0.3 run env create pr-2 --from dev --ttl 3s --auto-approve -C ex
expect_rc 0 "env create pr-2 (text)"
check "stderr says what is being created" grep -q '^vpc: creating\.\.\.$' "$WORK/err"
check "stderr says the database is still being created" grep -Eq '^db: still creating\.\.\. \([0-9]+s elapsed\)$' "$WORK/err"
out_has "Environment 'pr-2' created from 'dev'" "created"
no_escape "env create to a file" "$WORK/out"

# --- env extend --json
run env create pr-3 --from staging --ttl 10m --auto-approve -C ex
expect_rc 0 "env create pr-3"
before=$(state_sql ex "select expires_at from ephemeral_envs where name = 'pr-3'")
run env extend pr-3 --ttl 1h --json -C ex
expect_rc 0 "env extend --json"
stream_ok "extend: version, the record with its new expiry, summary" "
assert types == ['version', 'environment', 'summary'], types
assert L[0]['command'] == 'env extend'
e = env_line(L[1], 'pr-3', 'staging', 'extended')
assert e['expires_at'] == $before + 3600, e
assert L[-1] == {**L[-1], 'command': 'env extend', 'exit_code': 0, 'status': 'ok'}, L[-1]
"
run env extend nope --ttl 1h --json -C ex
expect_rc 1 "env extend --json of an unknown environment"
stream_ok "the error as a diagnostic, then the summary" "
assert types == ['version', 'diagnostic', 'summary'], types
d = L[1]['diagnostic']
assert d['severity'] == 'error' and d['summary'].startswith(\"unknown environment 'nope'\"), d
assert L[-1]['exit_code'] == 1 and L[-1]['status'] == 'error', L[-1]
"

# --- env gc --json while a real apply of pr-2 holds pr-2's lock (waiting at its prompt, on a pty)
PTY_GATE=$WORK/holder PTY_OUT=$WORK/holder.out pty_run "" no apply -C ex -e pr-2 --var db_storage=30 &
HOLDER=$!
BG_PIDS+=("$HOLDER")
wait_until 60 "the apply of pr-2 waits at its prompt, holding the lock" test -e "$WORK/holder.ready"
sleep 3 # pr-1 and pr-2 expire
run env gc --json -C ex
expect_rc 0 "env gc --json: one destroyed, one skipped"
stream_ok "gc: one environment line each, the skipped one with its lock holder" "
assert L[0]['command'] == 'env gc'
assert types == ['version', 'environment', 'environment', 'summary'], types
e = env_line(L[1], 'pr-1', 'dev', 'destroyed')
assert L[1]['resources'] == 16 and L[1]['@level'] == 'info', L[1]
assert \"Environment 'pr-1' destroyed and forgotten.\" == L[1]['@message'], L[1]
e = env_line(L[2], 'pr-2', 'dev', 'skipped')
assert L[2]['@level'] == 'warn', L[2]
lk = L[2]['lock']
assert lk['operation'] == 'apply' and lk['pid'] > 0 and isinstance(lk['since'], int) and '@' in lk['holder'], lk
assert \"environment 'pr-2' is locked by \" + lk['holder'] in L[2]['reason'], L[2]
assert L[-1]['environments'] == {'destroyed': 1, 'skipped': 1, 'failed': 0} and L[-1]['exit_code'] == 0, L[-1]
"
eq "$(state_sql ex "select name from ephemeral_envs order by name" | paste -sd,)" "pr-2,pr-3" "pr-1 forgotten; pr-2 (locked) and pr-3 (extended) kept"
eq "$(sim_env_count pr-1)" "0" "nothing of pr-1 in the sim"
eq "$(state_sql ex "select count(*) from resources where env = 'pr-2'")" "16" "pr-2 untouched"
touch "$WORK/holder.go"
wait "$HOLDER"
eq "$?" "1" "the holding apply, answered 'no', ends with exit 1"
check "the holding apply was cancelled" grep -q "apply cancelled" "$WORK/holder.out"

# --- a gc that fails on one environment: its line has the error, exit 1; the next gc destroys it
check "fault rule on DeleteVpc" sim_fault '{"action":"DeleteVpc","code":"InvalidParameterValue","message":"vpc stuck","count":1}'
run env gc --json -C ex
expect_rc 1 "env gc --json with a failing destroy"
stream_ok "gc: the failed environment's line, a diagnostic, the summary" "
assert types == ['version', 'environment', 'diagnostic', 'summary'], types
e = env_line(L[1], 'pr-2', 'dev', 'failed')
assert L[1]['@level'] == 'error' and L[1]['error'].startswith('some operations failed: vpc: '), L[1]
assert 'InvalidParameterValue: vpc stuck' in L[1]['error'], L[1]
assert L[2]['diagnostic']['severity'] == 'error' and 'the next gc tries again' in L[2]['diagnostic']['summary'], L[2]
assert L[-1]['environments'] == {'destroyed': 0, 'skipped': 0, 'failed': 1}, L[-1]
assert L[-1]['exit_code'] == 1 and L[-1]['status'] == 'error', L[-1]
"
err_has "vpc stuck" "the error on stderr too"
eq "$(state_sql ex "select count(*) from ephemeral_envs where name = 'pr-2'")" "1" "pr-2 still recorded"
run env gc --json -C ex
expect_rc 0 "the next gc"
stream_ok "the next gc destroys pr-2" "
assert types == ['version', 'environment', 'summary'], types
env_line(L[1], 'pr-2', 'dev', 'destroyed')
assert L[-1]['environments'] == {'destroyed': 1, 'skipped': 0, 'failed': 0}, L[-1]
"
eq "$(sim_env_count pr-2)" "0" "nothing of pr-2 in the sim"

# --- env destroy --json: its destroy as destroy --json, the record, the summary
N3=$(state_sql ex "select count(*) from resources where env = 'pr-3'")
check "pr-3 (from staging) has resources" test "$N3" -gt 16
run env destroy pr-3 --json --auto-approve -C ex
expect_rc 0 "env destroy --json"
stream_ok "destroy: planned deletes, their completion, the record, summary" "
assert L[0]['command'] == 'env destroy'
pc = T['planned_change']
assert len(pc) == $N3 and all(o['action'] == 'delete' and o['after'] is None for o in pc), pc
assert T['change_summary'][0]['changes']['remove'] == $N3 and T['change_summary'][0]['changes']['operation'] == 'destroy'
assert len(T['apply_complete']) == $N3 and all(o['action'] == 'delete' for o in T['apply_complete'])
assert 'outputs' not in T
assert types[-2:] == ['environment', 'summary'], types
env_line(L[-2], 'pr-3', 'staging', 'destroyed')
assert L[-2]['resources'] == $N3, L[-2]
assert L[-1]['applied'] == {'add': 0, 'change': 0, 'remove': $N3} and L[-1]['exit_code'] == 0, L[-1]
"
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "0" "no ephemeral environment left"
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:stack"] == "shop")] | length')" "0" "no cairn object left in the sim"
run env destroy prod --json --auto-approve -C ex
expect_rc 1 "env destroy --json of an overlay environment"
stream_ok "the refusal as a diagnostic" "
assert types == ['version', 'diagnostic', 'summary'], types
d = L[1]['diagnostic']
assert d['summary'].startswith(\"environment 'prod' has an overlay file: it is not ephemeral\"), d
assert L[-1]['exit_code'] == 1 and L[-1]['applied'] == {'add': 0, 'change': 0, 'remove': 0}, L[-1]
"

# --- CI mode on a real terminal (stdin and stdout a pty)
pty_run "" no env create pr-9 --from dev --plan-only -C ex
eq "$RC" 0 "env create --plan-only on a terminal"
check "on a terminal without CI the plan is coloured" grep -q $'\033\\[' "$WORK/pty"
pty_run true no env create pr-9 --from dev --plan-only -C ex
eq "$RC" 0 "env create --plan-only with CI=true on a terminal"
no_escape "env create --plan-only with CI=true" "$WORK/pty"
pty_run "" no env create pr-9 --from dev -C ex
eq "$RC" 1 "env create on a terminal, answered 'no'"
check "on a terminal without CI env create asks" grep -q "Enter a value" "$WORK/pty"
check "and 'no' cancels it" grep -q "env create cancelled" "$WORK/pty"
pty_run true yes env create pr-9 --from dev -C ex
eq "$RC" 1 "env create with CI=true on a terminal, without --auto-approve"
check "CI=true: no prompt" bash -c "! grep -q 'Enter a value' '$WORK/pty'"
check "CI=true: the message of apply" grep -q "cairn: error: env create needs confirmation, and this is a CI run (CI is set), where cairn asks nothing: run with --auto-approve" "$WORK/pty"
no_escape "env create with CI=true" "$WORK/pty"
eq "$(state_sql ex "select count(*) from ephemeral_envs")" "0" "nothing recorded"
eq "$(sim_env_count pr-9)" "0" "nothing created"
run env create pr-9 --from dev -C ex
expect_rc 1 "env create without a terminal"
err_has "env create needs confirmation, and there is no terminal to ask: run with --auto-approve" "the message of apply"
run env create pr-9 --from dev --auto-approve -C ex
expect_rc 0 "env create pr-9 --auto-approve"
pty_run true yes env destroy pr-9 -C ex
eq "$RC" 1 "env destroy with CI=true on a terminal, without --auto-approve"
check "CI=true: env destroy does not ask" bash -c "! grep -q 'Enter a value' '$WORK/pty'"
check "CI=true: env destroy says to pass --auto-approve" grep -q "cairn: error: env destroy needs confirmation, and this is a CI run (CI is set), where cairn asks nothing: run with --auto-approve" "$WORK/pty"
eq "$(state_sql ex "select count(*) from resources where env = 'pr-9'")" "16" "CI=true: nothing destroyed"
run env destroy pr-9 --auto-approve -C ex
expect_rc 0 "env destroy pr-9 --auto-approve"

# --- plan -e ENV on a protected environment: a warning when apply would refuse the plan
awsstack p <<'YAML'
environments:
  dev: { protected: true }
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: main }
YAML
run apply -C p -e dev --auto-approve
expect_rc 0 "apply to the protected dev (creates only)"
run plan -C p -e dev
expect_rc 0 "plan with nothing to destroy"
out_lacks "Warning" "no warning"
sed -i 's|10.0.0.0/16|10.1.0.0/16|' p/stack.yaml
POS="p/stack.yaml:$(grep -n '^  dev:' p/stack.yaml | cut -d: -f1):3"
run plan -C p -e dev
expect_rc 0 "plan of a replacement in the protected dev"
out_has "Plan: 1 to add, 0 to change, 1 to destroy." "the replacement"
out_has "Warning: $POS: environment 'dev' is protected and this plan would replace net: 'cairn apply -e dev' will refuse it; it is applied only as a saved plan: 'cairn plan -e dev -out FILE', review it, then 'cairn apply FILE'" "the warning, at the protection's position"
run plan -C p -e dev --json
expect_rc 0 "plan --json of the replacement"
stream_ok "a diagnostic warning before the planned changes" "
assert types[:3] == ['version', 'diagnostic', 'planned_change'], types
d = L[1]['diagnostic']
assert L[1]['@level'] == 'warn' and d['severity'] == 'warning', L[1]
assert d['summary'].startswith(\"environment 'dev' is protected and this plan would replace net: 'cairn apply -e dev' will refuse it\"), d
assert d['range'] == {'filename': 'p/stack.yaml', 'line': int('$POS'.split(':')[1]), 'column': 3}, d
assert L[-1]['exit_code'] == 0 and L[-1]['planned'] == {'add': 1, 'change': 0, 'remove': 1}, L[-1]
"
run apply -C p -e dev --auto-approve
expect_rc 1 "apply refuses it, as the warning said"
err_has "environment 'dev' is protected: this plan would replace net" "the refusal"
run plan -C p -e dev -out "$WORK/p.plan"
expect_rc 0 "plan -out"
out_has "Warning: $POS: environment 'dev' is protected" "the warning with -out too"
run apply "$WORK/p.plan"
expect_rc 0 "the saved plan is applied"
sed -i 's|10.1.0.0/16|10.2.0.0/16|' p/stack.yaml
run plan -C p -e dev --destroy
expect_rc 0 "plan --destroy of the protected dev"
out_has "environment 'dev' is protected (environments: dev: protected: true): 'cairn destroy' refuses it" "the warning of a destroy plan"
done_testing
