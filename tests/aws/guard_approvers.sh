#!/usr/bin/env bash
# Signed approvals (docs/guardrails.md): an environment whose approvals
# list approvers with Ed25519 public keys takes only approvals signed
# with one of those keys (`cairn approve FILE --key PATH`, keys made by
# ssh-keygen here); the approver is the name the stack lists with the
# key, whoever $CAIRN_USER says they are. Refused (exit 5, nothing
# recorded): an approval without --key, with a key the stack does not
# list, by the plan's author, with an encrypted key. At apply, approvals
# that do not verify (a forged one written into the state, an unsigned
# one) are refused, named and not counted; with enough valid ones the
# plan applies. Keys in the stack are checked with file:line:col. Without
# approvers, approvals stay unsigned as before.
. "$(dirname "$0")/lib.sh" "$@"
command -v ssh-keygen >/dev/null || { echo "1..0 # SKIP no ssh-keygen"; exit 77; }
start_sim

mkdir -p keys
for n in alice bob carol mallory; do ssh-keygen -q -t ed25519 -N '' -C "$n@test" -f keys/$n; done
ssh-keygen -q -t ed25519 -N 'a passphrase' -f keys/locked
ssh-keygen -q -t ecdsa -b 256 -N '' -f keys/ec
pub() { cat "keys/$1.pub"; }
fp() { ssh-keygen -lf "keys/$1.pub" | awk '{print $2}'; }

write_stack() { # ENVIRONMENTS-YAML
  mkdir -p s
  cat >s/stack.yaml <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
$1
YAML
  for e in prod staging; do
    printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"s/$e.yaml"
  done
}

# --- the stack format ---------------------------------------------------------
write_stack "environments:
  prod: { approvals: { required: 1, approvers: { alice: \"$(pub ec)\" } } }"
run validate -C s -e prod
expect_rc 1 "an ECDSA key is refused"
err_has "s/stack.yaml:4:57: environments.prod.approvals.approvers.alice: not an Ed25519 public key: it starts with 'ecdsa-sha2-nistp256', not 'ssh-ed25519'" "file:line:col, and why"
write_stack "environments:
  prod: { approvals: { required: 1, approvers: { alice: \"ssh-ed25519 AAAAnot-base64!\" } } }"
run validate -C s -e prod
expect_rc 1 "a key that is not base64"
err_has "s/stack.yaml:4:57: environments.prod.approvals.approvers.alice: not an OpenSSH public key (ssh-ed25519 BASE64)" "says so"
write_stack "environments:
  prod: { approvals: { required: 1, approvers: { alice: \"$(pub alice)\", bob: \"$(pub alice)\" } } }"
run validate -C s -e prod
expect_rc 1 "one key for two approvers"
err_has "environments.prod.approvals.approvers.bob: the same key as alice's" "says so"
write_stack "environments:
  prod: { approvals: { required: 2, approvers: { alice: \"$(pub alice)\" } } }"
run validate -C s -e prod
expect_rc 1 "fewer approvers than required"
err_has "s/stack.yaml:4:48: environments.prod.approvals.approvers lists 1 approver, fewer than the 2 approvals required" "says so"

write_stack "environments:
  prod:
    approvals:
      required: 2
      distinct_author: true
      approvers:
        alice: \"$(pub alice)\"
        bob: \"$(pub bob)\"
        carol: \"$(pub carol)\"
  staging: { approvals: { required: 1 } }"
run validate -C s -e prod
expect_rc 0 "approvers with their keys"

approvals() { state_sql s "select count(*) from revisions where env = 'prod' and command = 'approve'" 2>/dev/null || echo 0; }
export CAIRN_USER=alice
run plan -C s -e prod -out p.json
expect_rc 0 "alice saves a plan"

# --- approve: refused --------------------------------------------------------
run approve p.json
expect_rc 5 "an approval without a key"
err_has "environment 'prod' takes signed approvals only (environments.prod.approvals.approvers): cairn approve p.json --key ~/.ssh/id_ed25519" "says how"
CAIRN_USER=bob run approve p.json --key keys/mallory
expect_rc 5 "a key the stack does not list"
err_has "the key keys/mallory ($(fp mallory)) is not one of the approvers of environment 'prod' (environments.prod.approvals.approvers: alice, bob, carol): nothing was approved" "names the key"
CAIRN_USER=bob run approve p.json --key keys/alice
expect_rc 5 "the author's key, whoever CAIRN_USER says"
err_has "alice made the plan p.json and cannot approve it" "the approver is the key's"
run approve p.json --key keys/locked
expect_rc 5 "an encrypted key"
err_has "keys/locked is encrypted (it has a passphrase), which cairn cannot read" "says so"
run approve p.json --key keys/alice.pub
expect_rc 5 "a public key file"
err_has "keys/alice.pub is not an OpenSSH private key" "says so"
eq "$(approvals)" 0 "nothing recorded"

# --- a signed approval ---------------------------------------------------------
run approve p.json --key keys/bob
expect_rc 0 "bob's key approves (CAIRN_USER is alice)"
out_has "for environment 'prod' as bob (signed with $(fp bob))" "the approver is bob, with his key's fingerprint"
out_has ": 1 of 2 approvals." "how many"
check "the state keeps the signature" test "$(state_sql s "select summary from revisions where command = 'approve'" | jq -r '.approval.approver + " " + .approval.signature[0:8]')" = "bob ed25519:"
run approve p.json --key keys/bob
expect_rc 0 "approving twice"
out_has "bob has already approved the plan p.json" "counts once"
run apply p.json
expect_rc 5 "one signed approval of two"
err_has "has 1 of the 2 signed approvals environment 'prod' needs (approved by bob)" "says so"

# forged approvals written into the state: carol's name on bob's signature,
# and an unsigned one; neither counts, both are named
# (the summaries are rewritten with jq: the same SQL on either backend)
BOBS=$(state_sql s "select summary from revisions where command = 'approve'")
forge() { # WHO JQ-FILTER: a copy of bob's approval, its summary changed by the filter
  local sum; sum=$(printf '%s' "$BOBS" | jq -c "$2")
  state_sql s "insert into revisions (env, who, host, pid, command, started_at, finished_at, status, summary, serial)
    select env, '$1', host, pid, command, started_at, finished_at, status, '${sum//\'/\'\'}', serial
    from revisions where command = 'approve' and who = 'alice'"
}
forge mallory '.approval.approver = "carol"'
forge dave 'del(.approval.approver, .approval.signature, .approval.key)'
FORGED=$(state_sql s "select id from revisions where who = 'mallory'")
UNSIGNED=$(state_sql s "select id from revisions where who = 'dave'")
run apply p.json
expect_rc 5 "forged and unsigned approvals do not count"
err_has "has 1 of the 2 signed approvals environment 'prod' needs (approved by bob)" "still one"
err_has "refused, not counted: revision $FORGED: carol's signature does not verify with carol's key in the stack (forged, or made with another key); revision $UNSIGNED, by dave: not signed" "names them"
eq "$(sim_count)" 0 "nothing created"

CAIRN_USER=nobody run approve p.json --key keys/carol
expect_rc 0 "carol approves"
out_has "as carol (signed with $(fp carol))" "as carol"
out_has ": 2 of 2 approvals." "enough now (the forged one is not carol's)"
run apply p.json
expect_rc 0 "two valid signed approvals: applied"
err_has "cairn: warning: approvals refused, not counted: revision $FORGED" "the forged one is still named"
out_has "Apply complete! Resources: 1 added" "applied"
run state history -C s -e prod
out_has "approved sha256:" "history shows the approvals"
out_has "(plan p.json, made by alice), signed by bob ($(fp bob))" "who signed, with which key"

# without approvers: unsigned approvals as before; --key is refused
run plan -C s -e staging -out st.json
expect_rc 0 "a staging plan"
run approve st.json --key keys/bob
expect_rc 5 "--key where no approvers are listed"
err_has "environment 'staging' lists no approvers (environments.staging.approvals.approvers), so its approvals are not signed" "says so"
run approve st.json
expect_rc 0 "an unsigned approval where no approvers are listed"
run apply st.json
expect_rc 0 "applies"
done_testing
