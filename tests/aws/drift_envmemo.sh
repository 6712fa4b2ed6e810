#!/usr/bin/env bash
# cairn drift's environment memo (docs/drift.md): a complete recorded run
# keeps the requests it made with their answers' digests and its result;
# the next run with the same configuration, modules, state and provider
# makes those requests again and, when every answer is the one the last
# run got, takes that result without decoding or comparing anything. Any
# answer that differs (a change out of band, an object made by hand, one
# deleted) reads the environment as always; so does another configuration
# or state. What it reports is what a full read reports, ignore rules and
# the history included. No memo with a sensitive value in the
# configuration, and none is used with --no-env-memo.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

awsstack s <<'YAML'
stack: envmemo
variables:
  owner: { type: string, default: alice }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.11.0.0/16
    tags: { Owner: "${var.owner}" }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.11.${count.index}.0/24"
  sg:
    type: aws.security_group
    name: envmemo
    description: envmemo
    vpc_id: "${vpc.id}"
drift:
  ignore:
    - address: sg
      attribute: tags
      reason: the security team tags groups
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
MSG="as the last run got it: its result taken again"
kept() { state_sql s "select count(*) from read_marks where env = 'dev' and address = '#env'"; }
strip() { jq -S '.environments[0] | {status, resources, coverage, counts, addresses,
  findings: [.findings[] | del(.first_seen, .last_seen, .first_run, .last_run)]}' "$1"; }
requests() { grep -cE " (ec2|rds|elasticache) " "$WORK/sim.log"; }

# --- first run: read as always, the memo kept; second: taken ---
run drift -C s -e dev --verbose --json r1.json
expect_rc 0 "first run: clean"
err_lacks "$MSG" "nothing kept yet: read"
eq "$(kept)" "1" "the memo is kept"
eq "$(state_sql s "select count(*) from read_marks where env = 'dev' and address = '#env' and digest like 'cairn:v1:%'")" "1" \
  "sealed with the state's key (its requests are sent signed: not to be read nor forged)"
: >"$WORK/sim.log"
run drift -C s -e dev --verbose --json r2.json
expect_rc 0 "second run: clean"
err_has "$MSG" "the memo is taken"
n=$(sed -n 's/.*every answer (\([0-9]*\) requests).*/\1/p' "$WORK/err")
check "it names its requests" test -n "$n"
eq "$(requests)" "$n" "its requests made again, and no other"
eq "$(strip r2.json)" "$(strip r1.json)" "the same report as the full read"
eq "$(jq '.environments[0].coverage.managed' r2.json)" "4" "coverage: the four managed objects"

# --- a change out of band: read again, and the memo after it reports the same ---
VPC=$(state_id s vpc); SUB0=$(state_id s 'sub[0]'); SG=$(state_id s sg)
sim_patch "$SUB0" '{"tags":{"Team":"payments"}}'
run drift -C s -e dev --verbose --json r3.json
expect_rc 2 "a subnet retagged by hand: drift"
err_lacks "$MSG" "an answer differs: read"
err_has "dev: 2 of 4 objects unchanged since a read that matched the state" \
  "the read marks of the first run still hold (the memo's modules loaded for its key do not change theirs)"
eq "$(jq -r '[.environments[0].findings[] | .kind + ":" + .address + ":" + (.attribute // "")] | join(",")' r3.json)" \
  "changed:sub[0]:tags.Team" "the tag is found"
run drift -C s -e dev --verbose --json r4.json
expect_rc 2 "the same drift"
err_has "$MSG" "the drifted run's memo is taken"
eq "$(strip r4.json)" "$(strip r3.json)" "the memo reports what the full read did"
eq "$(state_sql s "select count(*) from drift_findings where env = 'dev' and resolved_at is null")" "1" \
  "one open finding in the history"
eq "$(state_sql s "select case when last_run > first_run then 1 else 0 end from drift_findings where env = 'dev' and resolved_at is null")" "1" \
  "the memo's run saw it again (last seen moves on)"
run drift history -C s -e dev
expect_rc 0 "history"
out_has "tags.Team" "the history names the finding"

# --- ignore rules apply to the memo's findings too ---
sim_patch "$SG" '{"tags":{"Scanned":"yes"}}'
run drift -C s -e dev --verbose --json r5.json
expect_rc 2 "still the subnet's drift"
err_lacks "$MSG" "the group's answer differs: read"
run drift -C s -e dev --verbose --json r6.json
expect_rc 2 "the same"
err_has "$MSG" "memo taken"
eq "$(jq -r '.environments[0].findings[] | select(.address == "sg") | .ignored.reason' r6.json)" \
  "the security team tags groups" "the group's tag is ignored, with its reason"
eq "$(strip r6.json)" "$(strip r5.json)" "the same report as the full read"

# --- back as recorded: resolved by a full read; then the memo again ---
ec2 DeleteTags ResourceId.1="$SUB0" Tag.1.Key=Team >/dev/null
ec2 DeleteTags ResourceId.1="$SG" Tag.1.Key=Scanned >/dev/null
run drift -C s -e dev --verbose
expect_rc 0 "the tags removed: clean"
err_lacks "$MSG" "read"
eq "$(state_sql s "select count(*) from drift_findings where env = 'dev' and resolved_at is null")" "0" "resolved"
run drift -C s -e dev --verbose
expect_rc 0 "clean"
err_has "$MSG" "memo taken"

# --- objects made and deleted by hand ---
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.11.9.0/24 | xml_val subnetId)
check "a subnet made by hand" test -n "$HAND"
run drift -C s -e dev --verbose --json r.json
expect_rc 2 "an unmanaged subnet: drift"
err_lacks "$MSG" "the listing differs: read"
eq "$(jq -r '.environments[0].findings[] | select(.kind == "unmanaged") | .id' r.json)" "$HAND" "it is found"
ec2 DeleteSubnet SubnetId="$HAND" >/dev/null
run drift -C s -e dev --verbose
expect_rc 0 "deleted again: clean"
err_lacks "$MSG" "read"
sim_delete "$SUB0"
run drift -C s -e dev --verbose --json r.json
expect_rc 2 "a managed subnet deleted by hand: drift"
err_lacks "$MSG" "read"
eq "$(jq -r '.environments[0].findings[] | select(.kind == "deleted") | .address' r.json)" "sub[0]" "found deleted"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply makes it again"
run drift -C s -e dev
expect_rc 0 "clean"

# --- another configuration or state: read ---
run drift -C s -e dev --verbose
err_has "$MSG" "memo taken"
run drift -C s -e dev --verbose --var owner=bob --json r.json
expect_rc 2 "--var owner=bob: the tag not applied"
err_lacks "$MSG" "another --var: read"
state_set_attr s 'sub[1]' '.cidr_block' '"10.11.7.0/24"'
run drift -C s -e dev --verbose --json r.json
expect_rc 2 "a row changed in the state"
err_lacks "$MSG" "another state: read"
state_set_attr s 'sub[1]' '.cidr_block' '"10.11.1.0/24"'
run drift -C s -e dev
expect_rc 0 "the row as it was: clean"

# --- a memo that does not verify (written by whoever has not the key): read ---
state_sql s "update read_marks set digest = 'cairn:v1:' || substr(digest, 10, 20) || 'AAAA' where env = 'dev' and address = '#env'" >/dev/null
run drift -C s -e dev --verbose --json r.json
expect_rc 0 "a damaged memo: clean all the same"
err_lacks "$MSG" "it is not taken: read"
check "the run keeps a sound one again" test "$(state_sql s "select case when length(digest) > 100 then 1 else 0 end from read_marks where env = 'dev' and address = '#env'")" = 1
run drift -C s -e dev --verbose
err_has "$MSG" "and takes it"

# --- --no-env-memo, --no-record ---
run drift -C s -e dev --verbose
err_has "$MSG" "memo taken"
run drift -C s -e dev --verbose --no-env-memo
expect_rc 0 "clean"
err_lacks "$MSG" "--no-env-memo: read"
eq "$(kept)" "1" "the memo stays"
run drift -C s -e dev --verbose --no-record
err_has "$MSG" "--no-record takes it too"

# --- a sensitive value in the configuration: no memo ---
awsstack t <<'YAML'
stack: envmemo-secret
variables:
  token: { type: string, sensitive: true, default: "tok-5ecret-4421" }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.12.0.0/16
    tags: { Token: "${var.token}" }
YAML
run apply -C t -e dev --auto-approve
expect_rc 0 "apply the stack with a secret"
run drift -C t -e dev
run drift -C t -e dev --verbose
expect_rc 0 "clean"
err_lacks "$MSG" "read every time"
eq "$(state_sql t "select count(*) from read_marks where address = '#env'")" "0" "no memo kept"
check "the secret is nowhere in the state directory in clear" \
  sh -c "! grep -rqa 'tok-5ecret-4421' t/.cairn/ 2>/dev/null"
done_testing
