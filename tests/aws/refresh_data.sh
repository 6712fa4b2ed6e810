#!/usr/bin/env bash
# Refresh of RDS and ElastiCache is batched: a plan over 6 DB instances and
# 6 replication groups makes one DescribeDBInstances (db-instance-id filter),
# one DescribeReplicationGroups and one DescribeCacheClusters, plus one
# ListTagsForResource per replication group (ElastiCache answers carry no
# tags), counted in the sim's request log. An instance deleted behind
# cairn's back shows as gone.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
resources:
  db:
    type: aws.db_instance
    count: 6
    identifier: "db-${count.index}"
    engine: postgres
    instance_class: db.t3.micro
    username: app
    password: not-a-real-secret-1
  cache:
    type: aws.elasticache_replication_group
    count: 6
    replication_group_id: "cache-${count.index}"
    node_type: cache.t3.micro
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply 12 objects"
: >"$WORK/sim.log"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan is empty"
n() { grep -ac " $1 us-east-1 $2 " "$WORK/sim.log"; }
echo "# plan of 6 DB instances + 6 replication groups: $(n rds DescribeDBInstances) DescribeDBInstances," \
  "$(n elasticache DescribeReplicationGroups) DescribeReplicationGroups, $(n elasticache DescribeCacheClusters) DescribeCacheClusters," \
  "$(n elasticache ListTagsForResource) ListTagsForResource, $(grep -ac " us-east-1 " "$WORK/sim.log") requests in all"
eq "$(n rds DescribeDBInstances)" "1" "one DescribeDBInstances for 6 instances"
eq "$(n rds ListTagsForResource)" "0" "DB instance tags come with the describe"
eq "$(n elasticache DescribeReplicationGroups)" "1" "one DescribeReplicationGroups for 6 groups"
eq "$(n elasticache DescribeCacheClusters)" "1" "one DescribeCacheClusters for their 6 clusters"
eq "$(n elasticache ListTagsForResource)" "6" "one ListTagsForResource per group"

sim_delete "rds:us-east-1:db:db-3"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "the deleted instance shows"
out_has "# db[3] will be created" "only the deleted one"
out_has "Plan: 1 to add, 0 to change, 0 to destroy." "nothing else changes"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
