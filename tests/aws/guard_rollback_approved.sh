#!/usr/bin/env bash
# A rollback where approvals are needed (docs/guardrails.md): a direct
# `cairn rollback` is refused (exit 5) and says how; `rollback -out FILE`
# saves the rollback's plan (marked as a rollback from revision A to
# revision B), which `approve` approves by its digest and `apply FILE`
# applies: the sim in revision 1's shape again, its sensitive variable
# back (from the sealed record, not the plan file), the history saying
# "rollback from revision 2 to revision 1". The approvals that count are
# those the current stack asks for, not the old revision's (which asked
# for none), and so are its policies. Refused: the rollback plan with no
# approval, the author's own approval, an edited rollback plan (approve
# and apply), a stale one, one the current policies deny.
# The private copies of the configuration are removed each time.
. "$(dirname "$0")/lib.sh" "$@"
start_sim
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
S1='Secret-one-81c4e2'
S2='Secret-two-0f93bd'

write_stack() { # SG_NAME TEAM [ENVIRONMENTS-YAML]
  awsstack s <<YAML
variables:
  token: { type: string, sensitive: true }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: $2 } }
  web:
    type: aws.security_group
    name: $1
    vpc_id: "\${net.id}"
    tags: { token: "\${var.token}" }
${3:-}
YAML
}
sg_of() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }
token_now() { sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "web")][0].tags.token'; }
tmp_empty() { eq "$(ls -A "$TMPDIR" | wc -l)" 0 "$1: the private copy of the configuration is removed"; }
APPROVALS='environments:
  dev: { approvals: { required: 1, distinct_author: true } }'

write_stack web-v1 blue
run apply -C s -e dev --auto-approve --var token=$S1
expect_rc 0 "revision 1 applied (no approvals needed then)"
write_stack web-v2 green
run apply -C s -e dev --auto-approve --var token=$S2
expect_rc 0 "revision 2 applied"
write_stack web-v2 green "$APPROVALS"
export CAIRN_USER=alice

# a direct rollback is refused
run rollback -C s -e dev --to 1 --auto-approve
expect_rc 5 "a direct rollback where approvals are needed"
err_has "environment 'dev' needs 1 approval (environments.dev.approvals in the stack): a rollback there is a saved plan that was approved: cairn rollback -e dev --to 1 -out FILE; cairn approve FILE; cairn apply FILE" "says how"
eq "$(sg_of web-v2)" 1 "nothing changed"

run rollback -C s -e dev --to 1 -out rb.plan --auto-approve
expect_rc 1 "-out and --auto-approve do not go together"
err_has "flag --auto-approve does not apply to 'cairn rollback -out'" "says so"
check "no plan written" test ! -e rb.plan

# the rollback's plan, saved
run rollback -C s -e dev --to 1 -out rb.plan
expect_rc 0 "rollback -out saves the plan"
out_has "Planning the rollback of environment 'dev' back to the configuration of revision 1 (the latest applied is revision 2)." "from where to where"
out_has "# web must be replaced" "the plan is shown"
out_has "Saved the rollback plan to rb.plan. Have it approved (cairn approve rb.plan), then apply it: cairn apply rb.plan" "what next"
eq "$(jq -c '[.rollback.from, .rollback.to]' rb.plan)" "[2,1]" "the plan is marked as a rollback from revision 2 to revision 1"
eq "$(jq -r .author rb.plan)" alice "and says who made it"
check "the sensitive value is not in the plan file" bash -c "! grep -qF -e '$S1' -e '$S2' rb.plan"
eq "$(sg_of web-v2)" 1 "nothing changed by saving it"
eq "$(state_sql s "select count(*) from revisions where env = 'dev'")" 2 "no revision recorded by saving it"
tmp_empty "after rollback -out"

run apply rb.plan
expect_rc 5 "the rollback plan without approval"
err_has "has 0 of the 1 approval environment 'dev' needs" "counts the current stack's approvals, not revision 1's"
eq "$(sg_of web-v2)" 1 "nothing changed"
tmp_empty "after the refused apply"

run approve rb.plan
expect_rc 5 "its author cannot approve it"
err_has "alice made the plan rb.plan and cannot approve it" "says why"

jq '.rollback.to = 2' rb.plan >edited.plan
CAIRN_USER=bob run approve edited.plan
expect_rc 5 "an edited rollback plan cannot be approved"
err_has "edited" "says so"
CAIRN_USER=bob run apply edited.plan
expect_rc 1 "nor applied"
err_has "edited" "says so"
tmp_empty "after the edited plan"

D=sha256:$(jq -cS 'del(.mac)' rb.plan | tr -d '\n' | sha256sum | cut -d' ' -f1)
CAIRN_USER=bob run approve rb.plan
expect_rc 0 "bob approves the rollback plan"
out_has "Approved the plan rb.plan ($D, made by alice) for environment 'dev' as bob" "by its digest"
tmp_empty "after approve"

run apply rb.plan
expect_rc 0 "the approved rollback plan applies"
out_has "Applying the rollback plan rb.plan: environment 'dev', rollback from revision 2 to revision 1." "says what it is"
out_has "Apply complete! Resources: 1 added, 1 changed, 1 destroyed." "applied"
eq "$(sg_of web-v1)" 1 "the sim has the group of revision 1 again"
eq "$(sg_of web-v2)" 0 "the group of revision 2 is gone"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "net")][0].tags.team')" blue "the VPC's tags are back"
eq "$(token_now)" "$S1" "revision 1's sensitive variable is back"
check "no secret in the output" bash -c "! grep -qF -e '$S1' -e '$S2' '$WORK/out' '$WORK/err'"
hist_ok "the history says it was a rollback, from where to where" "H[0]['command'] == 'rollback from revision 2 to revision 1' and H[0]['status'] == 'ok'"
eq "$(state_sql s "select count(*) from applied_configs where env = 'dev'")" 3 "the rollback recorded its configuration"
check "the stack's files are left as they are" grep -q web-v2 s/stack.yaml
tmp_empty "after apply"

run apply rb.plan
expect_rc 1 "applying it again: stale"
err_has "the saved plan is stale" "says so"
tmp_empty "after the stale apply"

# rolling forward: the plan made where no approvals were needed is still
# refused once the stack asks for them
write_stack web-v2 green
run rollback -C s -e dev --to 2 -out fwd.plan
expect_rc 0 "a rollback plan where no approvals are needed"
write_stack web-v2 green "$APPROVALS"
run apply fwd.plan
expect_rc 5 "refused once the current stack needs approvals"
eq "$(sg_of web-v1)" 1 "nothing changed"
write_stack web-v2 green
# the policies that run are those beside the stack the plan was made from
mkdir -p s/policies
cat >s/policies/no_v2.lua <<'LUA'
return function(plan)
  for _, rc in ipairs(plan.changes) do
    if rc.action ~= "no-op" and rc.after and rc.after.name == "web-v2" then
      return { { level = "deny", address = rc.address, message = "web-v2 is retired" } }
    end
  end
  return {}
end
LUA
run apply fwd.plan
expect_rc 4 "a policy of the current stack denies the rollback plan"
out_has "  deny  policies/no_v2.lua: web: web-v2 is retired" "the deny"
eq "$(sg_of web-v1)" 1 "nothing changed"
rm -r s/policies
tmp_empty "after the denied apply"
run apply fwd.plan
expect_rc 0 "applied where none are needed"
eq "$(sg_of web-v2)" 1 "revision 2's group is back"
eq "$(token_now)" "$S2" "with revision 2's secret"
hist_ok "recorded as a rollback" "H[0]['command'] == 'rollback from revision 4 to revision 2'"
tmp_empty "at the end"
done_testing
