#!/usr/bin/env bash
# EKS against cairn sim: aws.eks_cluster. Create, plan again is empty,
# in-place version upgrade and endpoint access change, tag drift, a
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

write_stack 1.29 false data eks
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the cluster"
eq "$(cl .status)" "ACTIVE" "cluster active"
check "clientRequestToken sent" test -n "$(cl .attributes.clientRequestToken)"
run state show -C s -e dev k8s
has 'endpoint = "https://' "endpoint"
has 'tags = {"team" = "data"}' "cairn:* tags stripped"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

write_stack 1.30 true platform eks
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "updates"
out_has "# k8s will be updated in place" "in place"
has '~ version = "1.29" -> "1.30"' "version"
has "~ endpoint_private_access = false -> true" "private access"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "one update"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the updates"
eq "$(cl .attributes.version)" "1.30" "version upgraded in the sim"
eq "$(cl .attributes.resourcesVpcConfig.endpointPrivateAccess)" "true" "private access on"
eq "$(cl .tags.team)" "platform" "tag changed"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after updates"

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
