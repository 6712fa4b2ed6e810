#!/usr/bin/env bash
# A rolling batch whose operation fails with a module error
# (docs/guardrails.md, Rollouts) against cairn sim: a fault rule makes
# fleet[2]'s update fail (RevokeSecurityGroupIngress answered 403: only
# its in-place update revokes a rule); the apply stops the rollout there
# and undoes the rest of that batch as a failed check would: fleet[3]'s
# replacement is undone (its new object deleted, the old one kept and
# named by the state again), the later batch is skipped, untouched; the
# batch before stays applied. The apply exits 1 and says what failed and
# what was rolled back. Once the fault is gone, the next apply finishes.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

fleet() { # TAG N3 PORT2
  awsstack f <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.5.0.0/16 }
  fleet:
    type: aws.security_group
    count: 6
    name: 'fl-\${count.index == 3 ? "$2" : count.index}'
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: "\${count.index == 2 ? $3 : 443}", to_port: "\${count.index == 2 ? $3 : 443}", cidr_blocks: [10.0.0.0/8] }
    tags: { v: "$1" }
    rollout: { batch: 2 }
YAML
}
sg_id() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)][0].id // empty'; }
sg_count() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }
tag_of() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)][0].tags.v'; }
st_tag() { state_attr f "fleet[$1]" .tags.v; }
st_id() { state_sql f "select id from resources where env='dev' and address='fleet[$1]'"; }

fleet one a 443
run apply -C f -e dev --auto-approve
expect_rc 0 "six groups created in three batches"
OLD3=$(st_id 3)
eq "$(sg_id fl-a)" "$OLD3" "fleet[3] is fl-a"

sim_fault '{"action":"RevokeSecurityGroupIngress","code":"UnauthorizedOperation","status":403,"message":"injected: not allowed","count":1,"service":"ec2"}' || echo "Bail out! cannot add the fault rule"
fleet two b 8443
run apply -C f -e dev --auto-approve
expect_rc 1 "an operation of the second batch fails: exit 1"
err_has "fleet: batch 1: batch complete" "the first batch went through"
err_has "fleet: batch 2: fleet[2] failed: rolling back" "the gate of the failed batch rolls it back"
err_has "cairn: error: fleet[2] failed: " "the error names the failed operation"
err_has "injected: not allowed" "with the module's error"
err_has "; the rollout stopped; rolled back: fleet[3]: the new object was deleted, the old one kept ($OLD3)" "and says what was rolled back"
out_has "  rolled back: fleet[3] (replace undone)" "the summary lists what was undone"
out_has "skipped: fleet[4]: dependency fleet: batch 2 failed" "the third batch was not started"
out_has "skipped: fleet[5]: dependency fleet: batch 2 failed" "the third batch was not started"
eq "$(sim_faults_left)" 0 "the fault was used"
for i in 0 1; do
  eq "$(tag_of fl-$i)" two "batch 1: fleet[$i] updated (sim)"
  eq "$(st_tag $i)" two "batch 1: fleet[$i] updated (state)"
done
eq "$(sg_count fl-b)" 0 "batch 2: fleet[3]'s new object deleted"
eq "$(sg_id fl-a)" "$OLD3" "batch 2: fleet[3]'s old object kept"
eq "$(st_id 3)" "$OLD3" "batch 2: the state names the old object"
eq "$(st_tag 3)" one "batch 2: with its old attributes"
eq "$(st_tag 2)" one "batch 2: the failed update is not recorded"
for i in 4 5; do
  eq "$(tag_of fl-$i)" one "batch 3: fleet[$i] untouched (sim)"
  eq "$(st_tag $i)" one "batch 3: fleet[$i] untouched (state)"
done
eq "$(state_sql f "select count(*) from resources where env='dev' and address like 'fleet%'")" 6 "six rows, no deposed one"

run apply -C f -e dev --auto-approve
expect_rc 0 "without the fault the rollout finishes"
for i in 0 1 2 4 5; do eq "$(tag_of fl-$i)" two "fleet[$i] updated"; done
eq "$(tag_of fl-b)" two "fleet[3] replaced"
eq "$(sg_count fl-a)" 0 "its old object gone"
done_testing
