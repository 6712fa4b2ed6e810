#!/usr/bin/env bash
# Approvals (docs/guardrails.md) against cairn sim: an environment whose
# stack says `approvals: {required: 2, distinct_author: true}` applies only
# a saved plan with two approvals of its digest by people other than its
# author. Refused, with exit 5, nothing created and no resource recorded:
# apply without a saved plan, destroy, a plan with no approvals, with one,
# with approvals given to another plan (another digest), self-approval;
# an edited plan cannot be approved; approving twice counts once; with
# enough approvals the plan applies. `state history` shows the approvals.
# The environments: key is checked with file:line:col.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

write_stack() { # ENVIRONMENTS-YAML
  mkdir -p s
  cat >s/stack.yaml <<YAML
variables:
  team: { type: string, default: core }
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: "\${var.team}" } }
$1
YAML
  for e in dev prod staging; do
    printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"s/$e.yaml"
  done
}

# --- the stack format ---------------------------------------------------------
write_stack 'environments:
  prod: { approvals: { required: 0 } }'
run validate -C s -e prod
expect_rc 1 "required: 0 is refused"
err_has "s/stack.yaml:6:34: environments.prod.approvals.required must be a whole number from 1 to 100, got 0" "names file:line:col"
write_stack 'environments:
  prod: { aprovals: { required: 1 } }'
run validate -C s -e prod
expect_rc 1 "an unknown key is refused"
err_has "s/stack.yaml:6:11: unknown key 'aprovals' in environments.prod (protected, approvals)" "names the key and where"
write_stack 'environments:
  prod: { approvals: { required: 1, distinct_author: "yes" } }'
run validate -C s -e prod
expect_rc 1 "distinct_author must be a boolean"
err_has "s/stack.yaml:6:54: environments.prod.approvals.distinct_author must be true or false" "names where"
write_stack 'environments:
  prod: { approvals: { distinct_author: true } }'
run validate -C s -e prod
expect_rc 1 "approvals without required"
err_has "environments.prod.approvals needs 'required'" "says what is missing"

write_stack 'environments:
  prod: { protected: true, approvals: { required: 2, distinct_author: true } }
  staging: { approvals: { required: 1 } }'
run validate -C s -e prod
expect_rc 0 "the environments: section is valid"

nothing_made() { # DESCRIPTION
  eq "$(sim_count)" 0 "$1: nothing created in the sim"
  eq "$(state_sql s "select count(*) from resources where env = 'prod'" 2>/dev/null || echo 0)" 0 "$1: no resource recorded"
}

# --- refused -----------------------------------------------------------------
run apply -C s -e prod --auto-approve
expect_rc 5 "apply without a saved plan is refused"
err_has "environment 'prod' needs 2 approvals (environments.prod.approvals in the stack): apply only a saved plan that was approved: cairn plan -e prod -out FILE; cairn approve FILE; cairn apply FILE" "says how"
nothing_made "apply without a plan"
run destroy -C s -e prod --auto-approve
expect_rc 1 "destroy of prod, protected too, is refused"
err_has "environment 'prod' is protected" "for its protection, checked first"
run destroy -C s -e staging --auto-approve
expect_rc 5 "destroy where approvals are needed is refused"
err_has "environment 'staging' needs 1 approval" "for the approvals"

export CAIRN_USER=alice
run plan -C s -e prod -out p1.json
expect_rc 0 "alice saves a plan"
check "the plan says who made it" test "$(jq -r .author p1.json)" = alice
D1=sha256:$(jq -cS 'del(.mac)' p1.json | tr -d '\n' | sha256sum | cut -d' ' -f1)
run apply p1.json
expect_rc 5 "a plan without approvals is refused"
err_has "the plan ($D1) has 0 of the 2 approvals environment 'prod' needs; its author's own approval does not count" "says how many, of which plan"
nothing_made "no approvals"

run approve p1.json
expect_rc 5 "the author cannot approve her own plan"
err_has "alice made the plan p1.json and cannot approve it: environment 'prod' needs the approval of someone else (environments.prod.approvals.distinct_author)" "says why"

CAIRN_USER=bob run approve p1.json
expect_rc 0 "bob approves"
out_has "Approved the plan p1.json ($D1, made by alice) for environment 'prod' as bob" "who, which plan"
out_has ": 1 of 2 approvals." "how many so far"
CAIRN_USER=bob run approve p1.json
expect_rc 0 "approving twice is not an error"
out_has "bob has already approved the plan p1.json" "says so"
eq "$(state_sql s "select count(*) from revisions where env = 'prod' and command = 'approve'")" 1 "approving twice records one approval"
run apply p1.json
expect_rc 5 "one approval of two is refused"
err_has "has 1 of the 2 approvals environment 'prod' needs (approved by bob)" "names the approver"
nothing_made "one approval"

# approvals of another plan (another digest) do not count
run plan -C s -e prod -out p2.json --var team=other
expect_rc 0 "another plan"
D2=sha256:$(jq -cS 'del(.mac)' p2.json | tr -d '\n' | sha256sum | cut -d' ' -f1)
check "another digest" test "$D1" != "$D2"
CAIRN_USER=carol run approve p2.json
expect_rc 0 "carol approves the other plan"
CAIRN_USER=dave run approve p2.json
run apply p1.json
expect_rc 5 "approvals of another digest do not count"
err_has "has 1 of the 2 approvals environment 'prod' needs (approved by bob)" "only bob's counts"
nothing_made "wrong digest"

# an edited plan cannot be approved
jq '.resource_changes[0].action = "no-op"' p1.json >edited.json
CAIRN_USER=erin run approve edited.json
expect_rc 5 "an edited plan cannot be approved"
err_has "edited" "says it was edited"
eq "$(state_sql s "select count(*) from revisions where env = 'prod' and command = 'approve' and who = 'erin'")" 0 "no approval recorded"

# a plan whose approvals are enough
CAIRN_USER=carol run approve p1.json
expect_rc 0 "carol approves p1"
out_has ": 2 of 2 approvals." "enough now"
run apply p1.json
expect_rc 0 "two approvals by others: applied"
out_has "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." "applied"
eq "$(sim_resources | jq -r '[.resources[] | select(.tags["cairn:address"] == "net")][0].tags.team')" core "the VPC of p1 exists"

run state history -C s -e prod
out_has "approve by bob@" "the history shows bob's approval"
out_has "approve by carol@" "and carol's"
out_has "    approved $D1 (plan p1.json, made by alice)" "with the digest and the author"
"$CAIRN" state history -C s -e prod --json >h.json
eq "$(jq --arg d "$D1" '[.[] | select(.command == "approve" and .summary.approval.digest == $d)] | length' h.json)" 2 "two approvals of p1 in the JSON history"

# without distinct_author, the author's approval counts; other environments need none
run plan -C s -e staging -out s1.json
run approve s1.json
expect_rc 0 "without distinct_author the author may approve"
run apply s1.json
expect_rc 0 "staging applies with its one approval"
run apply -C s -e dev --auto-approve
expect_rc 0 "dev needs no approvals"
done_testing
