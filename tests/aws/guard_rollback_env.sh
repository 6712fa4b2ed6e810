#!/usr/bin/env bash
# An ephemeral environment can be rolled back to its creation
# (docs/guardrails.md, docs/environments.md): `env create` records the
# configuration it applied, as every apply does (sealed, with its --var
# values, the sensitive one too), so `rollback --to` the creation's
# revision puts the sim back in the shape the environment was created in
# after a later apply changed it; the history says "rollback from
# revision 2 to revision 1".
. "$(dirname "$0")/lib.sh" "$@"
start_sim
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
S1='Secret-env-one-3be07a'

write_stack() { # SG_NAME TEAM
  awsstack s <<YAML
variables:
  token: { type: string, sensitive: true }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: $2 } }
  web:
    type: aws.security_group
    name: "\${env.name}-$1"
    vpc_id: "\${net.id}"
    tags: { token: "\${var.token}" }
YAML
}
sg_of() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }

write_stack web-v1 blue
run env create pr-7 --from dev --var token=$S1 --auto-approve -C s
expect_rc 0 "env create pr-7"
eq "$(state_sql s "select count(*) from applied_configs where env = 'pr-7'")" 1 "env create recorded the configuration it applied"
REV1=$(state_sql s "select max(id) from revisions where env = 'pr-7'")
eq "$(state_sql s "select rev from applied_configs where env = 'pr-7'")" "$REV1" "with the creation's revision"
state_lacks s "$S1" "the sensitive variable is sealed in the state"

write_stack web-v2 green
run apply -C s -e pr-7 --auto-approve
expect_rc 0 "a later apply replaces the group"
REV2=$(state_sql s "select max(id) from revisions where env = 'pr-7'")
eq "$(sg_of pr-7-web-v2)" 1 "the new group"
eq "$(sg_of pr-7-web-v1)" 0 "the creation's group is gone"

run rollback -C s -e pr-7 --to "$REV1" --auto-approve
expect_rc 0 "rollback to the creation's revision"
out_has "Rolling environment 'pr-7' back to the configuration of revision $REV1" "from where to where"
eq "$(sg_of pr-7-web-v1)" 1 "the sim has the creation's group again"
eq "$(sg_of pr-7-web-v2)" 0 "the later group is gone"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "net" and .tags["cairn:env"] == "pr-7")][0].tags.team')" blue "the VPC's tags are back"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "web" and .tags["cairn:env"] == "pr-7")][0].tags.token')" "$S1" "the creation's sensitive variable is back"
"$CAIRN" state history -C s -e pr-7 --json >hist.json
eq "$(jq -r '.[0].command + " " + .[0].status' hist.json)" "rollback from revision $REV2 to revision $REV1 ok" "the history says it was a rollback to the creation"
eq "$(ls -A "$TMPDIR" | wc -l)" 0 "the private copy of the configuration is removed"
done_testing
