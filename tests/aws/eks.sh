#!/usr/bin/env bash
# EKS against cairn sim: aws.eks_cluster. Create, plan again is empty,
# in-place version upgrade of two minor versions (stepped: one
# UpdateClusterVersion per minor, each with its own token) and endpoint
# access change, a downgrade refused before anything changes, tag drift, a
# replacement (role), import, destroy.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

write_stack() { # VERSION PRIVATE TAG ROLE
  awsstack s <<YAML
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "\${net.id}"
    cidr_block: "\${cidrsubnet(net.cidr_block, 8, count.index)}"
    availability_zone: "\${element([\"us-east-1a\", \"us-east-1b\"], count.index)}"
  k8s:
    type: aws.eks_cluster
    name: main
    version: "$1"
    role_arn: "arn:aws:iam::123456789012:role/$4"
    subnet_ids: "\${sub[*].id}"
    endpoint_private_access: $2
    tags: { team: $3 }
YAML
}
has() { tr -s ' ' <"$WORK/out" | grep -qF -- "$1" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; }; }
cl() { sim_resources | jq -r ".resources[] | select(.type == \"eks:cluster\") | $1"; }
# the cluster's updates of type $1: jq $2 of their list
cl_updates() {
  sim_resources | jq -r --arg p "$(cl .id)" --arg t "$1" \
    "[.resources[] | select(.type == \"eks:update\" and .parent_id == \$p and .attributes.type == \$t)] | $2"
}

write_stack 1.28 false data eks
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the cluster"
eq "$(cl .status)" "ACTIVE" "cluster active"
check "clientRequestToken sent" test -n "$(cl .attributes.clientRequestToken)"
run state show -C s -e dev k8s
has 'endpoint = "https://' "endpoint"
has 'tags = {"team" = "data"}' "cairn:* tags stripped"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

# two minor versions at once: EKS takes one per update, so cairn steps
write_stack 1.30 true platform eks
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "updates"
out_has "# k8s will be updated in place" "in place"
has '~ version = "1.28" -> "1.30"' "version"
has "~ endpoint_private_access = false -> true" "private access"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "one update"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the updates"
eq "$(cl .attributes.version)" "1.30" "version upgraded in the sim"
eq "$(cl_updates VersionUpdate '[.[].attributes.params[] | select(.type == "Version") | .value] | join(" ")')" \
  "1.29 1.30" "one UpdateClusterVersion per minor version, in order"
eq "$(cl_updates VersionUpdate '[.[].attributes._token] | unique | length')" "2" "each step its own token"
eq "$(cl .attributes.resourcesVpcConfig.endpointPrivateAccess)" "true" "private access on"
eq "$(cl .tags.team)" "platform" "tag changed"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after updates"

# a downgrade: refused before anything is sent (the tag change too)
n_updates=$(cl_updates VersionUpdate length)
n_calls=$(grep -cE " (UpdateCluster|TagResource|UntagResource)" "$WORK/sim.log")
write_stack 1.29 true ops eks
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "a downgrade is planned as an update"
has '~ version = "1.30" -> "1.29"' "downgrade shown"
run apply -C s -e dev --auto-approve
expect_rc 1 "a downgrade fails"
err_has "cannot downgrade EKS cluster main from Kubernetes 1.30 to 1.29: EKS versions only go up" "clear message"
eq "$(cl .attributes.version)" "1.30" "version unchanged"
eq "$(cl .tags.team)" "platform" "tag unchanged"
eq "$(cl_updates VersionUpdate length)" "$n_updates" "no update made"
eq "$(grep -cE " (UpdateCluster|TagResource|UntagResource)" "$WORK/sim.log")" "$n_calls" "no change sent"
write_stack 1.30 true platform eks
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "back to the cluster's version: nothing to do"

sim_patch "$(cl .id)" '{"tags":{"team":"hacked"}}'
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift"
out_has '"hacked"' "tag drift"
run apply -C s -e dev --auto-approve
expect_rc 0 "repair"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after drift repair"

run state rm -C s -e dev k8s
run import -C s -e dev k8s main
expect_rc 0 "import"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing to do after import"

write_stack 1.30 true platform eks2
run plan -C s -e dev --detailed-exitcode
out_has "# k8s must be replaced" "role change replaces"
run apply -C s -e dev --auto-approve
expect_rc 0 "replace"
eq "$(cl .attributes.roleArn)" "arn:aws:iam::123456789012:role/eks2" "new role"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
