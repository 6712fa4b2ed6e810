#!/usr/bin/env bash
# cairn rollback -e ENV --to REV (docs/guardrails.md) against cairn sim:
# every apply records its configuration (sealed: a sensitive --var is not
# in the state file in clear); rolling back across a replacement puts the
# sim back in its old shape (the security group of revision 1 under its
# old name, the one of revision 2 gone, the VPC's tags back, the sensitive
# variable's value back); the history says "rollback from revision 2 to
# revision 1"; the stack's files are left as they are; the private copy of
# the configuration is removed. Refused: no confirmation without a
# terminal, a revision with no recorded configuration, a rollback the
# stack's current policies deny (exit 4), an environment that needs
# approvals (exit 5).
. "$(dirname "$0")/lib.sh" "$@"
start_sim
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
S1='Secret-one-5d1c8e'
S2='Secret-two-a73f02'

write_stack() { # SG_NAME TEAM
  awsstack s <<YAML
variables:
  token: { type: string, sensitive: true }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: $2 } }
  web:
    type: aws.security_group
    name: $1
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }
    tags: { token: "\${var.token}" }
YAML
}
sg_of() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }

write_stack web-v1 blue
run apply -C s -e dev --auto-approve --var token=$S1
expect_rc 0 "revision 1 applied"
ID1=$(state_id s web)
write_stack web-v2 green
run apply -C s -e dev --auto-approve --var token=$S2
expect_rc 0 "revision 2 applied (the group replaced)"
out_has "1 added, 1 changed, 1 destroyed" "a replacement and an update"
eq "$(sg_of web-v1)" 0 "after revision 2 the old group is gone"
eq "$(sg_of web-v2)" 1 "and the new one exists"
eq "$(state_sql s "select count(*) from applied_configs where env = 'dev'")" 2 "each apply recorded its configuration"
state_lacks s "$S1" "the sensitive variable is sealed in the state"
state_lacks s "$S2" "the other sensitive variable is sealed in the state"

run rollback -C s -e dev --to 1
expect_rc 1 "without a terminal and --auto-approve it asks and cannot"
err_has "rollback needs confirmation, and there is no terminal to ask: run with --auto-approve" "says so"
eq "$(sg_of web-v2)" 1 "nothing changed"

run rollback -C s -e dev --to 1 --auto-approve
expect_rc 0 "rollback to revision 1"
out_has "Rolling environment 'dev' back to the configuration of revision 1 (the latest applied is revision 2)." "from where to where"
out_has "# web must be replaced" "the plan is shown: the group is replaced back"
out_has "Apply complete! Resources: 1 added, 1 changed, 1 destroyed." "applied"
check "no secret in the output" bash -c "! grep -qF -e '$S1' -e '$S2' '$WORK/out' '$WORK/err'"
eq "$(sg_of web-v1)" 1 "the sim has the group of revision 1 again"
eq "$(sg_of web-v2)" 0 "the group of revision 2 is gone"
check "a new object (the old one was deleted)" test "$(state_id s web)" != "$ID1"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "net")][0].tags.team')" blue "the VPC's tags are back"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "web")][0].tags.token')" "$S1" "the sensitive variable of revision 1 is back"
hist_ok "the history says it was a rollback, from where to where" "H[0]['command'] == 'rollback from revision 2 to revision 1' and H[0]['status'] == 'ok'"
run state history -C s -e dev --limit 1
out_has "rollback from revision 2 to revision 1 by" "state history"
out_has "replace  web (aws.security_group)" "with its changes"
check "the stack's files are left as they are" grep -q web-v2 s/stack.yaml
eq "$(ls "$TMPDIR" | wc -l)" 0 "the private copy of the configuration is removed"
eq "$(state_sql s "select count(*) from applied_configs where env = 'dev'")" 3 "the rollback recorded its configuration too"

# rolling forward again: revision 2's configuration, secret included
run rollback -C s -e dev --to 2 --auto-approve
expect_rc 0 "rollback to revision 2"
out_has "(the latest applied is revision 3)" "from revision 3"
eq "$(sg_of web-v2)" 1 "revision 2's group is back"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "web")][0].tags.token')" "$S2" "with revision 2's secret"

# refused
run rollback -C s -e dev --to 99 --auto-approve
expect_rc 1 "a revision with no configuration"
err_has "revision 99 of environment 'dev' has no recorded configuration: only applies record one" "says so"
run rollback -C s -e dev --auto-approve
expect_rc 1 "--to is needed"
err_has "usage: cairn rollback -e ENV --to REV" "usage"
run rollback -C s -e dev --to x
expect_rc 1 "--to must be a number"
err_has "--to expects a revision number" "says so"

# the stack's current policies decide, not the ones of the old revision
mkdir -p s/policies
cat >s/policies/no_v1.lua <<'LUA'
return function(plan)
  for _, rc in ipairs(plan.changes) do
    if rc.after and rc.after.name == "web-v1" then
      return { { level = "deny", address = rc.address, message = "web-v1 is retired" } }
    end
  end
  return {}
end
LUA
run rollback -C s -e dev --to 1 --auto-approve
expect_rc 4 "a rollback the current policies deny"
out_has "  deny  policies/no_v1.lua: web: web-v1 is retired" "the deny"
eq "$(sg_of web-v2)" 1 "nothing changed"
rm -r s/policies

# an environment that needs approvals takes approved saved plans only
cat >>s/stack.yaml <<'YAML'
environments:
  dev: { approvals: { required: 1 } }
YAML
run rollback -C s -e dev --to 1 --auto-approve
expect_rc 5 "a rollback of an environment that needs approvals"
err_has "environment 'dev' needs 1 approval" "says why"
eq "$(sg_of web-v2)" 1 "nothing changed"
done_testing
