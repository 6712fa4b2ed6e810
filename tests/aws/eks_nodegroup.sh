#!/usr/bin/env bash
# EKS node groups against cairn sim: aws.eks_nodegroup on an aws.eks_cluster.
# Create, plan again is empty, in-place scaling and labels changes (one
# UpdateNodegroupConfig each, waited on), tags, scaling drift made out of
# band, import after state rm, a replacement (instance_types), deletion out
# of band and recovery after a crash, Kubernetes upgrades (the cluster, then
# its node group in the same apply, twice; a jump of two minor versions and
# an upgrade while the node group lags refused up front; a node group
# downgrade refused), destroy (node group before the cluster).
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

# DESIRED MAX LABEL-ROLE INSTANCE-TYPE TEAM [CLUSTER-VERSION [NODEGROUP-VERSION]]:
# the node group's version follows the cluster's unless given
write_stack() {
  local ngver=${7:-'${k8s.version}'}
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
    version: "${6:-1.28}"
    role_arn: "arn:aws:iam::123456789012:role/eks"
    subnet_ids: "\${sub[*].id}"
  workers:
    type: aws.eks_nodegroup
    cluster_name: "\${k8s.name}"
    name: workers
    version: "$ngver"
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
cl() { sim_resources | jq -r ".resources[] | select(.type == \"eks:cluster\") | $1"; }
# UpdateClusterVersion / UpdateNodegroupVersion calls answered so far
calls() { grep -c " $1 200 " "$WORK/sim.log"; }

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
ng_gone() { [ -z "$(ng .id)" ]; }
wait_until 60 "deleted out of band" ng_gone
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "gone node group"
out_has "# workers will be created" "created again"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "only the node group"
n=$(grep -c " CreateNodegroup 200 " "$WORK/sim.log")
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
pid=$!
ng_create_accepted() { [ "$(grep -c " CreateNodegroup 200 " "$WORK/sim.log")" -gt "$n" ]; }
wait_until 60 "the apply's CreateNodegroup accepted" ng_create_accepted
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

# Kubernetes upgrades. EKS upgrades a cluster only while its node groups
# are at its version, one minor version at a time, and a node group never
# passes its cluster: with node groups, one minor version per apply.
up() { write_stack 3 4 batch m5.large platform "$@"; }
eq "$(describe_ng .version)" "1.28" "the node group has the cluster's version"
n_cl=$(calls UpdateClusterVersion); n_ng=$(calls UpdateNodegroupVersion)
up 1.30
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "a jump of two minor versions is planned"
run apply -C s -e dev --auto-approve
expect_rc 1 "a jump of two minor versions with node groups is refused"
err_has "cannot upgrade EKS cluster main from 1.28 to 1.30 in one apply: it has managed node groups (workers)" "why"
err_has "set its version to 1.29 (and theirs to the cluster's version), apply, and repeat up to 1.30" "what to do"
eq "$(cl .attributes.version)" "1.28" "the cluster is untouched"
eq "$(calls UpdateClusterVersion) $(calls UpdateNodegroupVersion)" "$n_cl $n_ng" "nothing sent"

# a node group pinned to its version: the cluster can go one minor ahead...
up 1.29 1.28
run apply -C s -e dev --auto-approve
expect_rc 0 "the cluster upgrades while its node group stays"
eq "$(cl .attributes.version)" "1.29" "cluster at 1.29"
eq "$(describe_ng .version)" "1.28" "node group still at 1.28"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged with the node group one minor behind"
# ...and no further while it lags
n_cl=$(calls UpdateClusterVersion)
up 1.30 1.28
run apply -C s -e dev --auto-approve
expect_rc 1 "an upgrade while a node group lags is refused"
err_has "cannot upgrade EKS cluster main from 1.29 to 1.30: its node groups workers (at 1.28) must first be upgraded to 1.29" "names the node group"
err_has "keep the cluster's version at 1.29 and set theirs to 1.29" "what to do"
eq "$(cl .attributes.version)" "1.29" "the cluster is untouched"
eq "$(calls UpdateClusterVersion)" "$n_cl" "no UpdateClusterVersion"
# the node group catches up on its own
up 1.29
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the node group follows the cluster"
has '~ version = "1.28" -> "1.29"' "node group version shown"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "only the node group"
n_ver=$(ng_updates)
run apply -C s -e dev --auto-approve
expect_rc 0 "node group upgraded"
eq "$(describe_ng .version)" "1.29" "node group at 1.29"
eq "$(describe_ng .status)" "ACTIVE" "node group active after its upgrade"
eq "$(ng_updates)" "$((n_ver + 1))" "one UpdateNodegroupVersion, waited on"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged at 1.29"

# the cluster and its node group in one apply: the cluster first (the node
# group's version is the cluster's), twice: the second upgrade is the one
# EKS refuses when the node group did not follow the first
for v in 1.30 1.31; do
  up $v
  run plan -C s -e dev --detailed-exitcode
  expect_rc 2 "upgrade to $v planned"
  out_has "# k8s will be updated in place" "cluster in place ($v)"
  out_has "# workers will be updated in place" "node group in place ($v)"
  run apply -C s -e dev --auto-approve
  expect_rc 0 "cluster and node group upgraded to $v"
  eq "$(cl .attributes.version) $(describe_ng .version)" "$v $v" "both at $v"
  first_ng=$(grep -n " UpdateNodegroupVersion 200 " "$WORK/sim.log" | tail -1 | cut -d: -f1)
  last_cl=$(grep -n " UpdateClusterVersion 200 " "$WORK/sim.log" | tail -1 | cut -d: -f1)
  check "the cluster's upgrade came first ($v)" test "$last_cl" -lt "$first_ng"
  run plan -C s -e dev --detailed-exitcode
  expect_rc 0 "converged at $v"
done

# a node group downgrade: refused before anything is sent
n_ver=$(ng_updates)
up 1.31 1.30
run apply -C s -e dev --auto-approve
expect_rc 1 "a node group downgrade fails"
err_has "cannot downgrade EKS node group main/workers from Kubernetes 1.31 to 1.30: EKS versions only go up" "clear message"
eq "$(describe_ng .version)" "1.31" "node group version unchanged"
eq "$(ng_updates)" "$n_ver" "no update made"
up 1.31
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "back at the cluster's version: nothing to do"

# destroy: the node group goes first (the cluster refuses while it has one)
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_resources | jq '[.resources[] | select(.type | startswith("eks:"))] | length')" "0" "no EKS objects"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
