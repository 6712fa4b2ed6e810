#!/usr/bin/env bash
# cairn drift's page marks (lua/xml.c, engine/marks.c): a listing answer
# of which at least half the items were taken by their read marks is kept
# as a page mark (the items' digests and the answer without their bytes);
# the next run whose answer has the same bytes (its request id aside)
# takes it without parsing it. What drift reports must not change: an
# object changed out of band and an unmanaged object made in a managed VPC
# change the answer, which is then parsed in full; an item the page kept
# is still decoded when its mark no longer holds; a page mark no run uses
# any more is dropped.
# Every run here is --no-env-memo: what is tested is a read, which a run
# whose answers are all the last run's would not make (drift_envmemo.sh).
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: pages
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.9.0.0/16
  sub:
    type: aws.subnet
    count: 4
    vpc_id: "${vpc.id}"
    cidr_block: "10.9.${count.index}.0/24"
  sg:
    type: aws.security_group
    name: pages
    description: pages
    vpc_id: "${vpc.id}"
  rt:
    type: aws.route_table
    vpc_id: "${vpc.id}"
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
pages() { state_sql s "select count(*) from read_marks where env = 'dev' and address like '#page:$1:%'"; }
changed() { jq -r '[.environments[0].findings[] | select(.kind == "changed") | .address] | unique | join(",")' r.json; }
unmanaged() { jq -r '[.environments[0].findings[] | select(.kind == "unmanaged") | .id] | join(",")' r.json; }

run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "first run: clean (marks made)"
eq "$(pages aws.subnet)" "0" "no page mark before the items have marks"
run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "second run: clean"
err_has "; 0 listing answers unchanged" "no page mark to use yet"
eq "$(pages aws.subnet)" "1" "the subnets' listing kept as a page mark"
# the VPC's default group and main route table are not managed: their
# answers keep one item of two in full, and are kept too
eq "$(pages aws.security_group)" "1" "the groups' listing kept (one managed item of two)"
eq "$(pages aws.route_table)" "1" "the route tables' listing kept"
state_sql s "select digest from read_marks where env = 'dev' and address like '#page:aws.subnet:%'" >rec.txt
eq "$(head -1 rec.txt)" "cairn-page 1" "the record's header"
eq "$(sed -n 2p rec.txt | tr -d '\n' | wc -c)" "$((4 * 64))" "the four subnets' digests"
check "the subnets' bytes are not in the record" bash -c "! grep -q subnetId rec.txt"
check "the rest of the answer is" grep -q "<subnetSet>" rec.txt

run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 0 "third run: clean"
err_has "dev: 6 of 7 objects unchanged" "every object taken by its mark"
err_has "listing answers unchanged (page marks: not parsed)" "the verbose line"
check "at least the three listings served by their pages" \
  grep -Eq "; ([3-9]|[1-9][0-9]+) listing answers unchanged" "$WORK/err"
eq "$(jq -r '.environments[0].coverage | [.managed, .unmanaged, .seen] | join(" ")' r.json)" "7 0 7" "the coverage"
run drift --no-env-memo -C s -e dev --no-unmanaged
expect_rc 0 "a run without the search: clean"
eq "$(pages aws.subnet) $(pages aws.security_group) $(pages aws.route_table)" "1 1 1" \
  "it lists nothing, and leaves the page marks for the next run that does"
run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "the next run with the search: clean"
check "its listings served by the pages kept" grep -Eq "; ([3-9]|[1-9][0-9]+) listing answers unchanged" "$WORK/err"

# --- changed out of band: the answer's bytes differ, parsed in full ---
SUB2=$(state_id s 'sub[2]')
sim_patch "$SUB2" '{"tags":{"Owner":"mallory"}}'
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "a subnet changed out of band: drift"
eq "$(changed)" "sub[2]" "the change is found"
err_has "dev: 5 of 7 objects unchanged" "that subnet decoded again"

# --- an unmanaged subnet made in the managed VPC: found ---
VPC=$(state_id s vpc)
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.9.200.0/24 | xml_val subnetId)
check "a subnet made by hand" test -n "$HAND"
run drift --no-env-memo -C s -e dev --json r.json
expect_rc 2 "drift"
eq "$(unmanaged)" "$HAND" "the hand-made subnet is unmanaged"
run drift --no-env-memo -C s -e dev --json r.json
expect_rc 2 "the next run (pages of the new answer kept) still finds both"
run drift --no-env-memo -C s -e dev --json r.json --verbose
expect_rc 2 "and the one after, served by the new page"
eq "$(unmanaged)" "$HAND" "still unmanaged"
eq "$(changed)" "sub[2]" "still changed"
eq "$(pages aws.subnet)" "1" "the old subnet page mark was dropped, the new one kept"

# --- an item the page kept whose mark no longer holds: decoded again ---
state_set_attr s 'sub[0]' '.map_public_ip_on_launch' 'true'
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "a row changed in the state"
eq "$(changed)" "sub[0],sub[2]" "the row that no longer matches is found, though its page was kept"

# --- put back: the findings resolve ---
ec2 DeleteSubnet SubnetId="$HAND" >/dev/null
run apply -C s -e dev --auto-approve
expect_rc 0 "apply puts the cloud back"
for i in 1 2 3; do run drift --no-env-memo -C s -e dev --json r.json; done
expect_rc 0 "clean again, three runs later (pages in use)"
eq "$(changed)" "" "nothing changed"
eq "$(unmanaged)" "" "nothing unmanaged"
done_testing
