#!/usr/bin/env bash
# cairn apply --refresh-only: what exists is accepted into the state. Shown
# as a plan first (attribute by attribute, sensitive values redacted, gone
# objects to forget), refused without confirmation, recorded as one revision
# of the history, nothing in the cloud touched; drift then reports only
# what the configuration still wants; a second run has nothing to record.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: shop
variables:
  token: { type: string, sensitive: true, default: "s3cr3t-accept-token-55" }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: shop, Owner: alice }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.0.${count.index}.0/24"
  keyed:
    type: aws.subnet
    vpc_id: "${vpc.id}"
    cidr_block: 10.0.50.0/24
    tags: { token: "${var.token}" }
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
id() { state_sql s "select id from resources where env='dev' and address='$1'"; }
VPC=$(id vpc); SUB1=$(id 'sub[1]'); KEYED=$(id keyed)
sim_patch "$VPC" '{"tags":{"Owner":"mallory"}}'
sim_patch "$KEYED" '{"tags":{"token":"n3w-s3cr3t-value-66"}}'
sim_delete "$SUB1"
BEFORE=$(sim_resources | jq -S '[.resources[] | {id, tags, status}]')
REVS=$(state_sql s "select count(*) from revisions")

run apply -C s -e dev --refresh-only
expect_rc 1 "without a terminal and without --auto-approve: refused"
err_has "apply --refresh-only needs confirmation" "says why"
eq "$(state_sql s "select count(*) from revisions")" "$REVS" "nothing recorded"
out_has "Refresh-only plan: 2 to update in the state, 1 to forget." "the plan was shown first"

run apply -C s -e dev --refresh-only --auto-approve
expect_rc 0 "refresh-only apply"
out_has "cairn will record what exists in environment 'dev' (nothing in the cloud changes):" "the plan's heading"
out_has "~ vpc (aws.vpc $VPC): the recorded attributes will be what exists" "vpc to update"
out_has 'tags.Owner: "alice" -> "mallory"' "attribute by attribute"
out_has "tags.token: (sensitive) -> (sensitive)" "a sensitive value redacted"
out_has "- sub[1] (aws.subnet $SUB1): gone from the cloud; will be forgotten" "the gone subnet"
out_has "Refresh-only apply complete! Recorded in revision" "done"
out_lacks "n3w-s3cr3t-value-66" "the new secret is not printed"
out_lacks "s3cr3t-accept-token-55" "nor the old one"
state_lacks s n3w-s3cr3t-value-66 "the secret is sealed in the state, not in clear"
run state show -C s -e dev vpc
out_has '"Owner" = "mallory"' "the state holds what exists"
run state list -C s -e dev
out_lacks "sub[1]" "the gone subnet is forgotten"
hist_ok "one revision, its command and changes" \
  "H[0]['command'] == 'apply --refresh-only' and H[0]['status'] == 'ok' and sorted((c['action'], c['address']) for c in H[0]['changes']) == [('forget', 'sub[1]'), ('refresh', 'keyed'), ('refresh', 'vpc')]"
eq "$(sim_resources | jq -S '[.resources[] | {id, tags, status}]')" "$BEFORE" "nothing in the cloud changed"

run drift -C s -e dev --no-unmanaged --json r.json
expect_rc 2 "drift: the configuration still wants alice, the subnet and the token"
eq "$(jq -r '[.environments[0].findings[] | .kind + ":" + .address + ":" + (.attribute // "") + ":" + (.action // "")] | join(" ")' r.json)" \
   "unapplied:keyed:tags.token:update unapplied:sub[1]::create unapplied:vpc:tags.Owner:update" "only not-applied configuration is left, no drift outside cairn"

run apply -C s -e dev --refresh-only --auto-approve
expect_rc 0 "a second refresh-only"
out_has "No changes. The state of environment 'dev' matches what exists." "nothing to record"
eq "$(state_sql s "select count(*) from revisions")" "$((REVS + 1))" "no new revision"
run apply -C s -e dev --refresh-only --auto-approve --target vpc
expect_rc 1 "--target is refused"
err_has "takes no --target" "says so"
run plan -C s -e dev --refresh-only
expect_rc 1 "plan has no --refresh-only"
done_testing
