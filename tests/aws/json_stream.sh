#!/usr/bin/env bash
# Machine-readable runs (docs/json-output.md): plan, apply and destroy
# --json against cairn sim, every line of stdout parsed and checked (types,
# order, counts, a sensitive value never in clear, an error diagnostic with
# its file:line:col, apply_errored); progress lines for a create slowed by
# the sim's --latency (CAIRN_PROGRESS_INTERVAL makes them come every 0.3 s);
# CI mode: no colours and no prompt with CI=true, on a real terminal (pty).
. "$(dirname "$0")/lib.sh" "$@"
start_sim --latency 400
SECRET=s3cr3t-t0ken-value

write_stack() { # SUBNETS
  awsstack s <<YAML
variables:
  token: { type: string, sensitive: true, default: "$SECRET" }
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: main, secret: "\${var.token}" }
  sub:
    type: aws.subnet
    count: $1
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: us-east-1a
outputs:
  vpc: { value: "\${net.id}" }
  tok: { value: "\${var.token}", sensitive: true }
YAML
}


write_stack 2

# --- plan --json
run plan -C s -e dev --json
expect_rc 0 "plan --json"
stream_ok "plan: version, 3 planned creates, the change summary, the summary" "
assert [o['type'] for o in L] == ['version'] + ['planned_change'] * 3 + ['change_summary', 'summary'], [o['type'] for o in L]
assert L[0]['command'] == 'plan'
pc = {o['resource']['address']: o for o in T['planned_change']}
assert sorted(pc) == ['net', 'sub[0]', 'sub[1]'], sorted(pc)
assert all(o['action'] == 'create' and o['before'] is None for o in pc.values())
assert pc['net']['resource']['type'] == 'aws.vpc' and pc['sub[1]']['resource']['index'] == 1
assert pc['net']['after']['cidr_block'] == '10.0.0.0/16'
assert pc['net']['after']['tags'] == '(sensitive)', pc['net']['after']
assert pc['net']['after']['id'] is None     # known after apply
assert [c for c in pc['net']['changes'] if c['attribute'] == 'tags'][0]['sensitive']
cs = T['change_summary'][0]['changes']
assert cs == {'add': 3, 'change': 0, 'remove': 0, 'operation': 'plan'}, cs
s = L[-1]
assert s['command'] == 'plan' and s['exit_code'] == 0 and s['status'] == 'ok' and s['planned']['add'] == 3, s
"
out_lacks "$SECRET" "plan --json: the sensitive variable's value is not in the stream"
err_lacks '"type"' "plan --json: nothing of the stream on stderr"
no_escape "plan --json" "$WORK/out"

run plan -C s -e dev --json --detailed-exitcode
expect_rc 2 "plan --json --detailed-exitcode with changes"
stream_ok "the summary says exit 2 (changes)" "assert L[-1]['exit_code'] == 2 and L[-1]['status'] == 'changes', L[-1]"

# --- apply --json never asks: it needs --auto-approve (or a saved plan)
run apply -C s -e dev --json
expect_rc 1 "apply --json without --auto-approve"
err_has "apply --json needs --auto-approve, or a saved plan" "says what to pass"
check "apply --json refused: stdout empty" test ! -s "$WORK/out"
check "apply --json refused: no state created" no_state s

# a bad CAIRN_PROGRESS_INTERVAL is refused
CAIRN_PROGRESS_INTERVAL=soon run apply -C s -e dev --json --auto-approve
expect_rc 1 "CAIRN_PROGRESS_INTERVAL=soon"
err_has "CAIRN_PROGRESS_INTERVAL expects seconds between progress lines" "names the variable"
stream_ok "the bad interval is a diagnostic in the stream" "
assert T['diagnostic'][0]['diagnostic']['summary'].startswith('CAIRN_PROGRESS_INTERVAL expects'), T['diagnostic']
assert L[-1]['exit_code'] == 1 and L[-1]['applied']['add'] == 0, L[-1]"

# --- apply --json: every operation starts, goes on (each create waits for
# several sim answers of 0.4 s: progress every 0.3 s), completes
CAIRN_PROGRESS_INTERVAL=0.3 run apply -C s -e dev --json --auto-approve
expect_rc 0 "apply --json --auto-approve"
VPC=$(state_id s net)
stream_ok "apply: plan, start/progress/complete per resource, outputs, summary" "
types = [o['type'] for o in L]
assert types[:5] == ['version', 'planned_change', 'planned_change', 'planned_change', 'change_summary'], types
assert L[0]['command'] == 'apply' and T['change_summary'][0]['changes']['operation'] == 'apply'
for a in ('net', 'sub[0]', 'sub[1]'):
    st = idx(lambda o: o['type'] == 'apply_start' and o['resource']['address'] == a)
    co = idx(lambda o: o['type'] == 'apply_complete' and o['resource']['address'] == a)
    assert len(st) == 1 and len(co) == 1 and st[0] < co[0], (a, st, co)
    c = L[co[0]]
    assert c['action'] == 'create' and c['elapsed_seconds'] > 0.3 and c['resource']['type'].startswith('aws.'), c
# the subnets start after the VPC they need is complete
assert idx(lambda o: o['type'] == 'apply_complete' and o['resource']['address'] == 'net')[0] < \
       min(idx(lambda o: o['type'] == 'apply_start' and o['resource']['address'].startswith('sub')))
pr = [o for o in T.get('apply_progress', []) if o['resource']['address'] == 'net']
assert pr, 'no progress line for the slow VPC create'
assert all(o['action'] == 'create' and 'still creating... (' in o['@message'] and o['@message'].endswith('elapsed)') for o in pr), pr
assert pr[0]['elapsed_seconds'] >= 0.3, pr[0]
start = idx(lambda o: o['type'] == 'apply_start' and o['resource']['address'] == 'net')[0]
done = idx(lambda o: o['type'] == 'apply_complete' and o['resource']['address'] == 'net')[0]
assert all(start < L.index(o) < done for o in pr)
out = T['outputs'][0]['outputs']
assert out['vpc'] == {'value': '$VPC', 'sensitive': False}, out
assert out['tok'] == {'value': '(sensitive)', 'sensitive': True}, out
assert types[-2:] == ['outputs', 'summary'], types
s = L[-1]
assert s['command'] == 'apply' and s['exit_code'] == 0 and s['status'] == 'ok', s
assert s['applied'] == {'add': 3, 'change': 0, 'remove': 0} and s['failed'] == [] and s['skipped'] == [], s
"
out_lacks "$SECRET" "apply --json: the sensitive value is not in the stream"
no_escape "apply --json" "$WORK/out"
check "apply --json: 3 resources recorded" test "$(state_sql s "select count(*) from resources where env='dev'")" = 3

# --- an operation that fails: apply_errored, a diagnostic, the summary
write_stack 3
check "fault rule on CreateSubnet" sim_fault '{"action":"CreateSubnet","code":"InvalidParameterValue","message":"no room for a subnet","count":1}'
run apply -C s -e dev --json --auto-approve
expect_rc 1 "apply --json with a failing create"
stream_ok "apply_errored for sub[2], then the diagnostic and the failed summary" "
pc = T['planned_change']
assert [(o['resource']['address'], o['action']) for o in pc] == [('sub[2]', 'create')], pc
er = T['apply_errored']
assert len(er) == 1 and er[0]['resource']['address'] == 'sub[2]' and er[0]['action'] == 'create', er
assert 'InvalidParameterValue: no room for a subnet' in er[0]['error'] and er[0]['@level'] == 'error', er
d = T['diagnostic'][0]['diagnostic']
assert d['severity'] == 'error' and d['summary'] == 'some operations failed', d
assert L.index(T['diagnostic'][0]) == len(L) - 2
s = L[-1]
assert s['exit_code'] == 1 and s['status'] == 'error' and s['applied']['add'] == 0, s
assert [f['address'] for f in s['failed']] == ['sub[2]'], s
assert 'outputs' not in T
"

# --- an error in the stack: a diagnostic with its file:line:col
write_stack 2
cat >>s/stack.yaml <<'YAML'
  broken: { value: "${nosuch.id}" }
YAML
LINE=$(grep -n 'broken:' s/stack.yaml | cut -d: -f1)
COL=$(awk -v l="$LINE" 'NR == l { print index($0, "nosuch") }' s/stack.yaml)
run plan -C s -e dev --json
expect_rc 1 "plan --json of a stack with an unknown reference"
stream_ok "the diagnostic names s/stack.yaml:$LINE:$COL" "
assert [o['type'] for o in L] == ['version', 'diagnostic', 'summary'], [o['type'] for o in L]
d = T['diagnostic'][0]['diagnostic']
assert d['severity'] == 'error' and d['summary'] == \"unknown reference 'nosuch'\", d
assert d['range'] == {'filename': 's/stack.yaml', 'line': $LINE, 'column': $COL}, d['range']
assert T['diagnostic'][0]['@message'] == \"error: s/stack.yaml:$LINE:$COL: unknown reference 'nosuch'\", T['diagnostic'][0]
assert L[-1]['exit_code'] == 1 and L[-1]['status'] == 'error' and 'planned' not in L[-1], L[-1]
"
err_has "cairn: error: s/stack.yaml:$LINE:$COL: unknown reference 'nosuch'" "the human error on stderr"

# --- destroy --json
write_stack 2
run destroy -C s -e dev --json --auto-approve
expect_rc 0 "destroy --json --auto-approve"
stream_ok "destroy: planned deletes with what they delete, complete, summary" "
assert L[0]['command'] == 'destroy'
pc = {o['resource']['address']: o for o in T['planned_change']}
assert sorted(pc) == ['net', 'sub[0]', 'sub[1]'] and all(o['action'] == 'delete' and o['after'] is None for o in pc.values()), pc
assert pc['net']['before']['id'] == '$VPC' and pc['net']['before']['tags'] == '(sensitive)', pc['net']['before']
assert T['change_summary'][0]['changes'] == {'add': 0, 'change': 0, 'remove': 3, 'operation': 'destroy'}
co = T['apply_complete']
assert sorted(o['resource']['address'] for o in co) == ['net', 'sub[0]', 'sub[1]'] and all(o['action'] == 'delete' for o in co)
# the VPC goes after its subnets
assert L.index([o for o in co if o['resource']['address'] == 'net'][0]) > max(L.index(o) for o in co if o['resource']['address'] != 'net')
assert 'outputs' not in T
assert L[-1]['applied'] == {'add': 0, 'change': 0, 'remove': 3} and L[-1]['exit_code'] == 0, L[-1]
"
out_lacks "$SECRET" "destroy --json: the sensitive value is not in the stream"
check "destroy --json: state empty" test "$(state_sql s "select count(*) from resources where env='dev'")" = 0
check "destroy --json: the VPC is gone from the sim" test "$(sim_count_addr net)" = 0

# --- apply --json FILE: a saved plan needs no --auto-approve
run plan -C s -e dev -out "$WORK/p.plan"
expect_rc 0 "plan -out"
run apply --json "$WORK/p.plan"
expect_rc 0 "apply --json of a saved plan"
stream_ok "the saved plan's three creates are applied" "
assert [o['resource']['address'] for o in T['planned_change']] == ['net', 'sub[0]', 'sub[1]'], T['planned_change']
assert sorted(o['resource']['address'] for o in T['apply_complete']) == ['net', 'sub[0]', 'sub[1]']
assert L[-1]['applied'] == {'add': 3, 'change': 0, 'remove': 0} and L[-1]['exit_code'] == 0, L[-1]
"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy again"

# --- without --json: progress lines on stderr, no colours when stdout is a file
CAIRN_PROGRESS_INTERVAL=0.3 run apply -C s -e dev --auto-approve
expect_rc 0 "apply with a progress interval of 0.3 s"
check "stderr says the VPC is still being created" grep -Eq '^net: still creating\.\.\. \([0-9]+s elapsed\)$' "$WORK/err"
no_escape "apply to a file" "$WORK/out"

# --- CI mode on a real terminal: stdin and stdout a pty (the only way to
# see that CI=true, not the missing terminal, is what stops the prompt)
write_stack 3
pty_run "" no plan -C s -e dev
check "on a terminal without CI the plan is coloured" grep -q $'\033\\[' "$WORK/pty"
pty_run true no plan -C s -e dev
eq "$RC" 0 "plan with CI=true on a terminal"
no_escape "plan with CI=true on a terminal" "$WORK/pty"
pty_run "" no apply -C s -e dev
check "on a terminal without CI apply asks" grep -q "Enter a value" "$WORK/pty"
check "and 'no' cancels it" grep -q "cairn: error: apply cancelled" "$WORK/pty"
pty_run true yes apply -C s -e dev
eq "$RC" 1 "apply with CI=true on a terminal, without --auto-approve"
check "CI=true: no prompt" bash -c "! grep -q 'Enter a value' '$WORK/pty'"
check "CI=true: says to pass --auto-approve" grep -q "apply needs confirmation, and this is a CI run (CI is set), where cairn asks nothing: run with --auto-approve" "$WORK/pty"
no_escape "apply with CI=true" "$WORK/pty"
check "CI=true: nothing applied" test "$(state_sql s "select count(*) from resources where env='dev'")" = 3

# stdin a terminal but stdout a pipe (cairn apply | tee log): no question either
python3 - "$CAIRN" >"$WORK/out" 2>"$WORK/err" <<'PY'
import os, pty, subprocess, sys
master, slave = pty.openpty()
env = {k: v for k, v in os.environ.items() if k not in ('CI', 'NO_COLOR')}
p = subprocess.Popen([sys.argv[1], 'apply', '-C', 's', '-e', 'dev'], stdin=slave, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=env)
try:
    out, err = p.communicate(timeout=30)
except subprocess.TimeoutExpired:   # it waits for an answer: what it wrote tells
    p.kill()
    out, err = p.communicate()
sys.stdout.buffer.write(out)
sys.stderr.buffer.write(err)
sys.exit(p.returncode)
PY
RC=$?
expect_rc 1 "apply with stdout a pipe, without --auto-approve"
err_has "apply needs confirmation, and the output is not a terminal, where cairn asks nothing: run with --auto-approve" "says why and what to pass"
out_lacks "Enter a value" "no prompt"
no_escape "apply with stdout a pipe" "$WORK/out"

done_testing
