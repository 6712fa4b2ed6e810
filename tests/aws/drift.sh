#!/usr/bin/env bash
# cairn drift against cairn sim: every kind of finding (changed outside
# cairn attribute by attribute, with a sensitive value redacted; deleted
# outside cairn; configuration not yet applied; unmanaged objects, tagged as
# the stack's or inside a managed VPC), the coverage figure, the exit codes,
# several environments in one run, an environment that cannot be read
# reported as an error while the others are still reported, and a drift run
# during an apply: not blocked, the environment reported as applying.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

SECRET=s3cr3t-drift-token-91
awsstack s <<'YAML'
stack: shop
variables:
  owner: { type: string, default: alice }
  token: { type: string, sensitive: true, default: "s3cr3t-drift-token-91" }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: "shop-${env.name}", Owner: "${var.owner}" }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.0.${count.index}.0/24"
  sg:
    type: aws.security_group
    name: "app-${env.name}"
    description: app
    vpc_id: "${vpc.id}"
    ingress: [{ protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: ["0.0.0.0/0"] }]
  keyed:
    type: aws.subnet
    vpc_id: "${vpc.id}"
    cidr_block: 10.0.50.0/24
    tags: { token: "${var.token}" }
YAML
cp s/dev.yaml s/prod.yaml
ids() { state_sql s "select id from resources where env='$1' and address='$2'"; }

run drift -C s -e dev
expect_rc 2 "drift before anything was applied: the configuration is not applied"
out_has "vpc (aws.vpc): configuration not yet applied (create)" "nothing created yet: every resource is unapplied"
for env in dev prod; do
  run apply -C s -e "$env" --auto-approve
  expect_rc 0 "$env: apply"
done

run drift -C s -e dev -e prod
expect_rc 0 "no drift after apply"
out_has "dev: no drift" "dev clean"
out_has "prod: no drift" "prod clean"
out_has "coverage 5 managed / 5 seen (100.0%)" "coverage: every object seen is managed"
run drift -C s -e dev,prod --json -
expect_rc 0 "a list of environments"
eq "$(jq -r '[.environments[].name] | join(",")' out)" "dev,prod" "both environments, in the order given"

# --- out of band, in prod only ---
VPC=$(ids prod vpc); SUB1=$(ids prod 'sub[1]'); KEYED=$(ids prod keyed); SG=$(ids prod sg)
sim_patch "$VPC" '{"tags":{"Owner":"mallory","CostCenter":"42"}}'                 # changed, and a tag added
sim_patch "$KEYED" '{"tags":{"token":"another-secret-value-77"}}'               # a sensitive value changed
sim_delete "$SUB1"                                                             # deleted
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.0.9.0/24 TagSpecification.1.ResourceType=subnet \
  TagSpecification.1.Tag.1.Key=Team TagSpecification.1.Tag.1.Value=ops | xml_val subnetId)  # unmanaged, in the managed VPC
check "a subnet made by hand" test -n "$HAND"
run state rm -C s -e prod sg                                                  # unmanaged, tagged as the stack's
expect_rc 0 "state rm sg"
# --- configuration changed, applied nowhere ---
sed -i 's/default: alice/default: bob/' s/stack.yaml

run drift -C s -e dev -e prod --json report.json
expect_rc 2 "drift: exit 2"
out_has "dev: drift: 0 changed, 0 deleted, 1 not applied, 0 unmanaged." "dev: only the unapplied change"
out_has "prod: drift: 2 changed, 1 deleted, 2 not applied, 2 unmanaged." "prod: each kind counted by resource"
out_has 'tags.Owner: recorded "alice", actual "mallory"' "changed: attribute by attribute, recorded vs actual"
out_has 'tags.CostCenter: recorded null, actual "42"' "a tag added by hand is its own finding"
out_has 'tags.Owner: recorded "alice", desired "bob"' "unapplied: desired vs recorded"
out_has "sub[1] (aws.subnet $SUB1): deleted outside cairn" "deleted"
out_has "aws.subnet $HAND: unmanaged: inside aws.vpc vpc ($VPC), managed by nothing" "an unmanaged subnet in the managed VPC"
out_has "aws.security_group $SG: unmanaged: tagged cairn:stack=shop cairn:env=prod but not in the state" "the sg forgotten by state rm"
out_has "sg (aws.security_group): configuration not yet applied (create)" "the forgotten sg is also not created, as far as the state knows"
out_has "coverage 3 managed / 5 seen (60.0%)" "coverage: managed / seen"
out_has 'tags.token: recorded (sensitive), actual (sensitive)' "a sensitive value is redacted"
out_lacks "another-secret-value-77" "the new secret value is not shown"
out_lacks "$SECRET" "the configured secret is not shown"
check "nothing in the JSON report holds a secret" bash -c "! grep -q -e '$SECRET' -e another-secret-value-77 report.json"
check "nothing in the record holds a secret" eval '! state_sql s "select detail from drift_findings" | grep -q -e "$SECRET" -e another-secret-value-77'
j() { jq -r "$1" report.json; }
eq "$(j '.schema')" "cairn.drift/1" "versioned schema"
eq "$(j '.environments[1].findings[] | select(.kind=="changed" and .attribute=="tags.Owner") | [.address,.recorded,.actual] | join(" ")')" "vpc alice mallory" "JSON: changed"
eq "$(j '.environments[1].findings[] | select(.kind=="changed" and .address=="keyed") | [.recorded,.actual,.sensitive] | join(" ")')" "(sensitive) (sensitive) true" "JSON: sensitive"
eq "$(j '.environments[1].findings[] | select(.kind=="deleted") | [.address,.id] | join(" ")')" "sub[1] $SUB1" "JSON: deleted"
eq "$(j '[.environments[1].findings[] | select(.kind=="unmanaged") | .id] | sort | join(" ")')" "$(printf '%s\n' "$SG" "$HAND" | sort | tr '\n' ' ' | sed 's/ $//')" "JSON: unmanaged"
eq "$(j '.environments[1].findings[] | select(.kind=="unmanaged" and .id=="'"$HAND"'") | .tags | tojson')" '{"Team":"ops"}' \
  "JSON: an unmanaged object's tags (the search lists only ids, containers and tags: ctx.list_fields)"
eq "$(j '.environments[1].findings[] | select(.kind=="unapplied" and .address=="vpc") | [.attribute,.recorded,.desired,.action] | join(" ")')" "tags.Owner alice bob update" "JSON: unapplied"
eq "$(j '.environments[1].coverage | [.managed,.unmanaged,.seen] | join(" ")')" "3 2 5" "JSON: coverage"
eq "$(j '.environments[1].status')" "drift" "JSON: status"
eq "$(j '.environments[0].status')" "drift" "JSON: dev's status"

# --- an environment that cannot be read ---
printf 'provider: {region: us-east-1, endpoint: "%s"}\nvariables:\n  nope: 1\n' "$(sim_url)" >s/broken.yaml
run drift -C s --all --json all.json
expect_rc 1 "an environment that cannot be read: exit 1"
out_has "broken: error:" "its error is reported"
out_has "broken.yaml:3:3" "with the position in its overlay"
out_has "prod: drift" "the other environments are still reported"
out_has "dev: drift" "dev too"
eq "$(jq -r '[.environments[] | .name + "=" + .status] | join(" ")' all.json)" "broken=error dev=drift prod=drift" "--all: every overlay, sorted"
rm s/broken.yaml

# --- a drift run during an apply ---
run import -C s -e prod sg "$SG"
expect_rc 0 "the forgotten sg imported back"
cat >>s/stack.yaml <<'YAML'
  slow:
    type: local.thing
    name: slow
YAML
# the apply holds prod's lock while s/cloud/.hold exists (local.thing's
# create waits on it, up to 60 s): until the drift runs below are done
mkdir -p s/cloud
touch s/cloud/.hold
"$CAIRN" apply -C s -e prod --auto-approve >apply.out 2>apply.err </dev/null & APPLY=$!
BG_PIDS+=("$APPLY")
wait_until 60 "prod's apply holds its lock" env_locked s prod
# a drift that waited for the lock would wait as long as the hold (60 s):
# bounded at 30 s, and the apply must still be running after it
run_within 30 drift -C s -e prod -e dev
expect_rc 2 "during prod's apply: dev's drift still counts, prod is not drift"
out_has "prod: not read: an apply by" "prod reported as applying"
out_lacks "prod: drift" "not as drift"
out_has "dev: drift" "dev read as usual"
check "drift did not wait for the apply" kill -0 "$APPLY"
check "the apply still holds prod's lock after the drift" env_locked s prod
run drift -C s -e prod --json -
expect_rc 0 "prod alone while applying: no drift, no error"
eq "$(jq -r '.environments[0] | .status + " " + .lock.operation' out)" "applying apply" "JSON: applying, with the lock's operation"
check "the apply is still held" kill -0 "$APPLY"
rm s/cloud/.hold
wait "$APPLY"
eq "$?" "0" "the apply finished"
run drift -C s -e prod --json -
expect_rc 2 "after the apply: prod read again, the subnet made by hand is still there"
eq "$(jq -r '[.environments[0].findings[] | .kind + " " + (.address // .id)] | join(",")' out)" "unmanaged $HAND" "the apply put everything else back"

# --- tagged leftovers outside any managed VPC: the VPC and a subnet forgotten by state rm ---
DVPC=$(ids dev vpc); DSUB0=$(ids dev 'sub[0]')
run state rm -C s -e dev vpc 'sub[0]'
expect_rc 0 "state rm vpc and sub[0] in dev"
run drift -C s -e dev --json -
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "unmanaged") | .id + " " + .reason] | sort | join(";")' out)" \
   "$(printf '%s\n' "$DSUB0 tagged cairn:stack=shop cairn:env=dev but not in the state" "$DVPC tagged cairn:stack=shop cairn:env=dev but not in the state" | sort | paste -sd';')" \
   "the forgotten VPC, and the subnet in it found by its tags"
done_testing
