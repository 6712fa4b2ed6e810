#!/usr/bin/env bash
# Drift as a record: every run stored in the state database; a finding keeps
# its first seen across runs, gets a new last seen each time, is resolved by
# the first complete run that no longer sees it, and comes back as a new
# finding; a run that could not read the environment resolves nothing.
# Ignore rules: an ignored finding is counted and shown, not drift; a rule
# past its expiry hides nothing and the finding says a rule expired; an
# attribute rule covers a map's keys; a type rule reaches unmanaged objects.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: shop
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: "shop-${env.name}", Team: web }
  sub:
    type: aws.subnet
    vpc_id: "${vpc.id}"
    cidr_block: 10.0.0.0/24
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
VPC=$(state_sql s "select id from resources where env='dev' and address='vpc'")
hist() { "$CAIRN" drift history -C s -e dev --json >"$WORK/h.json" 2>"$WORK/h.err" </dev/null; }
h() { jq -r "$1" "$WORK/h.json"; }

run drift -C s -e dev
expect_rc 0 "run 1: clean"
sim_patch "$VPC" '{"tags":{"Team":"payments"}}'
run drift -C s -e dev
expect_rc 2 "run 2: a tag changed"
sleep 1.1
run drift -C s -e dev
expect_rc 2 "run 3: still changed"
hist
eq "$(h '.runs | map(.status) | join(",")')" "drift,drift,clean" "three runs, newest first"
eq "$(h '[.findings[] | select(.resolved_at == null)] | length')" "1" "one open finding"
eq "$(h '.findings[0] | [.kind, .address, .attribute, .first_run, .last_run] | map(tostring) | join(" ")')" \
   "changed vpc tags.Team $(h '.runs[1].id') $(h '.runs[0].id')" "first seen in run 2, last seen in run 3"
check "last seen is later than first seen" test "$(h '.findings[0].last_seen')" -gt "$(h '.findings[0].first_seen')"
eq "$(h '.findings[0].detail | .recorded + " -> " + .actual')" "web -> payments" "the finding's detail is kept"

# an environment that cannot be read resolves nothing
sim_patch "$VPC" '{"tags":{"Team":"web"}}'
cp s/dev.yaml s/dev.yaml.good
printf 'provider: {region: us-east-1, endpoint: "%s"}\nvariables: {nope: 1}\n' "$(sim_url)" >s/dev.yaml
run drift -C s -e dev
expect_rc 1 "run 4: the overlay does not load"
mv s/dev.yaml.good s/dev.yaml
hist
eq "$(h '.runs[0].status')" "error" "the failed run is recorded"
eq "$(h '[.findings[] | select(.resolved_at == null)] | length')" "1" "and resolved nothing"

run drift -C s -e dev
expect_rc 0 "run 5: the tag is back: clean"
out_has "resolved since the last run: 1 finding(s)" "says what it resolved"
hist
eq "$(h '.findings[0] | [(.resolved_run | tostring), (.resolved_at != null | tostring)] | join(" ")')" "$(h '.runs[0].id') true" "resolved by run 5"
run drift history -C s -e dev
expect_rc 0 "history as text"
out_has "resolved vpc: changed outside cairn: tags.Team: recorded \"web\", actual \"payments\"" "the resolved finding"
out_has "first seen" "with first seen"
out_has "drift    " "the runs"

sim_patch "$VPC" '{"tags":{"Team":"payments"}}'
run drift -C s -e dev
expect_rc 2 "run 6: the same drift again"
hist
eq "$(h '[.findings[] | select(.attribute == "tags.Team")] | length')" "2" "a new finding, the old one stays resolved"
eq "$(h '.findings[0] | [(.first_run | tostring), (.resolved_at | tostring)] | join(" ")')" "$(h '.runs[0].id') null" "the new one is open, first seen now"

# --- ignore rules ---
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.0.9.0/24 | xml_val subnetId)
cat >>s/stack.yaml <<'YAML'
drift:
  ignore:
    - address: vpc
      attribute: tags
      reason: teams retag their VPCs
      expires: 2999-12-31
    - type: aws.subnet
      kind: unmanaged
      reason: the old rule for hand-made subnets
      expires: 2000-01-01
YAML
run drift -C s -e dev --json r.json
expect_rc 2 "the unmanaged subnet is drift: its rule expired"
out_has "drift: 0 changed, 0 deleted, 0 not applied, 1 unmanaged." "the tag change is not counted as drift"
out_has "ignored by the stack's rules (1, not drift):" "but shown as ignored"
out_has "tags.Team: recorded \"web\", actual \"payments\" [ignored: teams retag their VPCs (s/stack.yaml:13:7, expires 2999-12-31)]" "with its reason, rule and expiry"
out_has "[an ignore rule expired: the old rule for hand-made subnets (s/stack.yaml:17:7, expires 2000-01-01)]" "the expired rule is named"
eq "$(jq -r '.environments[0].counts | [.changed, .unmanaged, .ignored, .findings] | map(tostring) | join(" ")' r.json)" "0 1 1 1" "counts"
eq "$(jq -r ".environments[0].findings[] | select(.id == \"$HAND\") | .ignore_expired.expires" r.json)" "2000-01-01" "JSON: ignore_expired"
sed -i 's/expires: 2000-01-01/expires: 2999-01-01/' s/stack.yaml
run drift -C s -e dev
expect_rc 0 "both rules in force: no drift"
out_has "dev: no drift." "clean"
out_has "ignored by the stack's rules (2, not drift):" "two ignored findings, still shown"
hist
eq "$(h "[.findings[] | select(.resolved_at == null) | .ignored] | sort | join(\",\")")" \
   "teams retag their VPCs,the old rule for hand-made subnets" "ignored findings are recorded with their reason"

# flags of the one and not the other
run drift -C s -e dev --limit 3
expect_rc 1 "--limit without history"
err_has "flag --limit applies to 'cairn drift history' only" "names the flag"
run drift history -C s -e dev --junit x.xml
expect_rc 1 "a report flag with history"
err_has "flag --junit does not apply to 'cairn drift history'" "names the flag"
run drift history -C s
expect_rc 1 "history needs one environment"
done_testing
