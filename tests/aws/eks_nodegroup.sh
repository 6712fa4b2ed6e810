#!/usr/bin/env bash
# EKS node groups against cairn sim: aws.eks_nodegroup on an aws.eks_cluster.
# Create, plan again is empty, in-place scaling and labels changes (one
# UpdateNodegroupConfig each, waited on), tags, scaling drift made out of
# band, import after state rm, a replacement (instance_types), deletion out
# of band and recovery after a crash, destroy (node group before the cluster).
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

write_stack() { # DESIRED MAX LABEL-ROLE INSTANCE-TYPE TEAM
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
    version: "1.29"
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "\${sub[*].id}"
  workers:
    type: aws.eks_nodegroup
    cluster_name: "\${k8s.name}"
    name: workers
    node_role_arn: "arn:aws:iam::123456789012:role/nodes"
    subnet_ids: "\${sub[*].id}"
    instance_types: ["$4"]
    scaling: { min_size: 1, max_size: $2, desired_size: $1 }
    labels: { role: $3 }
    tags: { team: $5 }
YAML
}
has() { tr -s ' ' <"$WORK/out" | grep -qF -- "$1" && pass || { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; }; }
ng() { sim_resources | jq -r ".resources[] | select(.type == \"eks:nodegroup\") | $1"; }
# DescribeNodegroup, signed, as a client would call it
describe_ng() {
  curl -s --aws-sigv4 "aws:amz:us-east-1:eks" --user "$SIM_KEY:$SIM_SECRET" \
    "$(sim_url)/clusters/main/node-groups/workers" | jq -r ".nodegroup | $1"
}
ng_updates() { sim_resources | jq --arg p "$(ng .id)" '[.resources[] | select(.type == "eks:update" and .parent_id == $p)] | length'; }

write_stack 2 3 web t3.medium data
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the cluster and the node group"
eq "$(ng .status)" "ACTIVE" "node group active"
eq "$(describe_ng .clusterName)" "main" "in the cluster"
eq "$(describe_ng .scalingConfig.desiredSize)" "2" "desired size"
eq "$(describe_ng '.subnets | length')" "2" "two subnets"
eq "$(describe_ng .diskSize)" "20" "default disk size"
eq "$(describe_ng .amiType)" "AL2_x86_64" "default AMI type"
check "clientRequestToken sent" test -n "$(ng .attributes.clientRequestToken)"
eq "$(ng '.tags["cairn:address"]')" "workers" "cairn:address tag"
run state show -C s -e dev workers
has 'id = "main/workers"' "id is cluster/name"
has 'arn = "arn:aws:eks:us-east-1:' "arn"
has 'tags = {"team" = "data"}' "cairn:* tags stripped"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

# scaling in place
write_stack 3 4 web t3.medium data
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "scaling change"
out_has "# workers will be updated in place" "in place"
out_has "desired_size" "desired size shown"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "exactly one change"
out_lacks "k8s will" "the cluster is untouched"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the scaling change"
eq "$(describe_ng .scalingConfig.desiredSize)" "3" "desired size in the sim"
eq "$(describe_ng .scalingConfig.maxSize)" "4" "max size in the sim"
eq "$(describe_ng .status)" "ACTIVE" "active after the update"
eq "$(ng_updates)" "1" "one UpdateNodegroupConfig"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after scaling"

# labels and tags in place, on a node group that went DEGRADED (running,
# with health issues): an update does not wait for it to be ACTIVE first
sim_patch "$(ng .id)" '{"status":"DEGRADED"}'
eq "$(describe_ng .status)" "DEGRADED" "node group degraded"
write_stack 3 4 batch t3.medium platform
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "labels change"
out_has "# workers will be updated in place" "labels in place"
out_has '"batch"' "new label shown"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "one change"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply labels and tags"
eq "$(describe_ng .labels.role)" "batch" "label in the sim"
eq "$(describe_ng .tags.team)" "platform" "tag in the sim"
check "cairn tags kept" test "$(describe_ng '.tags["cairn:stack"]')" != null
eq "$(ng_updates)" "2" "one more update"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after labels"

# drift: scaling changed out of band
sim_patch "$(ng .id)" '{"attributes":{"scalingConfig":{"minSize":1,"maxSize":4,"desiredSize":1}}}'
eq "$(describe_ng .scalingConfig.desiredSize)" "1" "patched in the sim"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift"
out_has "# workers will be updated in place" "drift repaired in place"
out_has "desired_size" "desired size drift shown"
run apply -C s -e dev --auto-approve
expect_rc 0 "repair"
eq "$(describe_ng .scalingConfig.desiredSize)" "3" "desired size repaired"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after drift repair"

# import
run state rm -C s -e dev workers
expect_rc 0 "state rm"
run import -C s -e dev workers main/nope
expect_rc 1 "import of a missing node group fails"
err_has "no aws.eks_nodegroup with id 'main/nope' exists" "not found"
run import -C s -e dev workers bad-id
expect_rc 1 "import of a malformed id fails"
err_has "InvalidId" "malformed id"
run import -C s -e dev workers main/workers
expect_rc 0 "import"
run state show -C s -e dev workers
has 'desired_size" = 3' "imported scaling"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing to do after import"

# replacement
old_arn=$(ng .id)
write_stack 3 4 batch m5.large platform
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "instance type change"
out_has "# workers must be replaced" "instance_types replaces"
run apply -C s -e dev --auto-approve
expect_rc 0 "replace"
eq "$(describe_ng '.instanceTypes[0]')" "m5.large" "new instance type"
check "a new node group" test "$(ng .id)" != "$old_arn"
eq "$(sim_resources | jq '[.resources[] | select(.type == "eks:nodegroup")] | length')" "1" "one node group"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after replacement"

# deleted out of band (DeleteNodegroup): the plan creates it again; an apply
# killed right after CreateNodegroup is recovered by the cairn:token tag
curl -s -X DELETE --aws-sigv4 "aws:amz:us-east-1:eks" --user "$SIM_KEY:$SIM_SECRET" \
  "$(sim_url)/clusters/main/node-groups/workers" >/dev/null
for i in $(seq 1 100); do [ -z "$(ng .id)" ] && break; sleep 0.1; done
eq "$(ng .id)" "" "deleted out of band"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "gone node group"
out_has "# workers will be created" "created again"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "only the node group"
n=$(grep -c " CreateNodegroup 200 " "$WORK/sim.log")
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
pid=$!
for i in $(seq 1 200); do
  [ "$(grep -c " CreateNodegroup 200 " "$WORK/sim.log")" -gt "$n" ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
eq "$(sim_resources | jq '[.resources[] | select(.type == "eks:nodegroup")] | length')" "1" "made in the cloud"
check "an intent is pending" test "$(state_sql s "select count(*) from intents")" -ge 1
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the crash"
eq "$(sim_resources | jq '[.resources[] | select(.type == "eks:nodegroup")] | length')" "1" "recovered, not made again"
eq "$(grep -c " CreateNodegroup 200 " "$WORK/sim.log")" "$((n + 1))" "one CreateNodegroup"
eq "$(state_sql s "select count(*) from intents")" "0" "no intents left"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after recovery"

# destroy: the node group goes first (the cluster refuses while it has one)
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_resources | jq '[.resources[] | select(.type | startswith("eks:"))] | length')" "0" "no EKS objects"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
