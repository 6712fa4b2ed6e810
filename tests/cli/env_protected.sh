#!/usr/bin/env bash
# Protected environments (stack.yaml `environments: { NAME: { protected:
# true } }`): destroy, env destroy and env gc refuse them, naming where the
# stack protects them; an apply whose plan destroys or replaces something
# there is refused unless it applies a saved plan; the state and the
# objects are untouched by every refusal. The section's bad input is
# reported at file:line:col.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
environments:
  dev: { protected: true }
  pr-9: { protected: true }
variables:
  n: { type: number, default: 2 }
  zone: { type: string, default: a }
resources:
  thing:
    type: local.thing
    count: "${var.n}"
    name: "${env.name}-${count.index}"
    zone: "${var.zone}"
YAML
cp s/dev.yaml s/staging.yaml
objects() { ls s/cloud 2>/dev/null | wc -l; }

# with no state yet: destroy is refused before anything is written
run destroy -C s -e dev --auto-approve
expect_rc 1 "destroy of a protected environment"
err_has "s/stack.yaml:2:3: environment 'dev' is protected (environments: dev: protected: true): 'cairn destroy' refuses it" "says why, where"
check "no state was created" no_state s

run apply -C s -e dev --auto-approve
expect_rc 0 "apply that only creates"
eq "$(objects)" "2" "two objects"
serial() { state_sql s "select serial from envs where name = 'dev'"; }
before=$(serial)

run destroy -C s -e dev --auto-approve
expect_rc 1 "destroy refused"
err_has "environment 'dev' is protected" "says so"
run destroy -C s -e dev --auto-approve --target 'thing[0]'
expect_rc 1 "a targeted destroy too"
eq "$(serial) $(objects)" "$before 2" "state and objects untouched"

# an apply that would destroy or replace something
run apply -C s -e dev --auto-approve --var n=1
expect_rc 1 "apply that destroys"
err_has "s/stack.yaml:2:3: environment 'dev' is protected: this plan would destroy thing[1]" "names what it would destroy"
err_has "cairn plan -e dev -out FILE" "says how to do it"
run apply -C s -e dev --auto-approve --var zone=b
expect_rc 1 "apply that replaces"
err_has "this plan would replace thing[0], replace thing[1]" "names what it would replace"
eq "$(serial) $(objects)" "$before 2" "state and objects untouched"
run apply -C s -e dev --auto-approve --var n=3
expect_rc 0 "an apply that only adds is fine"
eq "$(objects)" "3" "three objects"

# the same change as a saved plan is applied
run plan -C s -e dev --var n=2 -out drop.plan
expect_rc 0 "plan -out"
run apply drop.plan --auto-approve
expect_rc 0 "apply FILE of a plan that destroys"
out_has "0 added, 0 changed, 1 destroyed" "destroyed thing[2]"
eq "$(objects)" "2" "two objects again"

# env destroy and env gc
run env destroy dev --auto-approve -C s
expect_rc 1 "env destroy of an overlay environment"
run env create pr-9 --from staging --ttl 1s --auto-approve -C s
expect_rc 0 "an ephemeral environment whose name the stack protects"
run env destroy pr-9 --auto-approve -C s
expect_rc 1 "env destroy refuses it"
err_has "s/stack.yaml:3:3: environment 'pr-9' is protected (environments: pr-9: protected: true): 'cairn env destroy' refuses it" "says why, where"
run destroy -C s -e pr-9 --auto-approve
expect_rc 1 "destroy -e pr-9 too"
err_has "environment 'pr-9' is protected" "says so"
sleep 1.2
run env gc -C s
expect_rc 0 "gc"
out_has "env gc: pr-9: skipped: s/stack.yaml:3:3: environment 'pr-9' is protected" "gc skips it and says why"
out_has "env gc: 0 destroyed, 1 skipped, 0 failed." "the count"
eq "$(state_sql s "select count(*) from resources where env = 'pr-9'")" "2" "its resources kept"
eq "$(state_sql s "select count(*) from ephemeral_envs")" "1" "still recorded"
eq "$(objects)" "4" "every object still there"

# the section's bad input, at file:line:col
bad() { # DESCRIPTION FILE:LINE:COL MESSAGE (section text on stdin)
  mkdir -p b
  { cat; printf 'resources:\n  r: { type: random.id, byte_length: 2 }\n'; } >b/stack.yaml
  printf 'provider: {}\n' >b/dev.yaml
  run validate -C b -e dev
  expect_rc 1 "$1"
  err_has "cairn: error: $2: " "$1: the position"
  err_has "$3" "$1: the message"
}
bad "an unknown key" "b/stack.yaml:2:11" "unknown key 'protect' in " <<'YAML'
environments:
  prod: { protect: true }
YAML
bad "protected not a bool" "b/stack.yaml:3:19" "protected must be true or false" <<'YAML'
environments:
  prod:
    protected: "${var.x}"
YAML
bad "an invalid name" "b/stack.yaml:2:3" "invalid environment name 'Prod' in environments" <<'YAML'
environments:
  Prod: { protected: true }
YAML
bad "not a mapping" "b/stack.yaml:1:15" "environments must be a mapping of environment names to their settings" <<'YAML'
environments: [prod]
YAML
bad "approvals checked too" "b/stack.yaml:2:34" "approvals.required must be a whole number from" <<'YAML'
environments:
  prod: { approvals: { required: -1 } }
YAML
done_testing
