#!/usr/bin/env bash
# Policies (docs/guardrails.md) against cairn sim: the example policies of
# docs/policies pass their own fixtures (`cairn policy test`), and a
# fixture that expects the wrong thing fails; each example policy on a
# stack that breaks it (plan shows the deny, apply exits 4, nothing is
# created in the sim, no resource in the state) and on one that keeps it
# (applied); warnings shown and kept in the history; a policy that
# errors, runs forever, asks for the network, reaches for io/os or
# returns nonsense is a deny, never a pass; policies see sensitive values
# as "(sensitive)"; plan --json streams the findings.
. "$(dirname "$0")/lib.sh" "$@"
start_sim
SRC=$(cd "$TESTS_DIR/../.." && pwd)
PW='Pw-policy-7e3a91c4'

# --- the fixtures of the examples -------------------------------------------
run policy test -C "$SRC/docs"
expect_rc 0 "the example policies pass their fixtures"
out_has "7 tests, 0 failed" "every fixture ran"
out_has "ok    $SRC/docs/policies/tests/admin_ports.json (4 findings)" "admin ports fixture"

mkdir -p pt/policies/tests
cp "$SRC"/docs/policies/*.lua pt/policies/
jq 'del(.expect[0])' "$SRC/docs/policies/tests/admin_ports.json" >pt/policies/tests/missing.json
jq '.expect += [{"policy": "required_tags", "level": "warn", "address": "ssh_open"}]' \
  "$SRC/docs/policies/tests/admin_ports.json" >pt/policies/tests/extra.json
run policy test -C pt
expect_rc 1 "a fixture that does not match fails"
out_has "FAIL  pt/policies/tests/missing.json" "an unexpected finding fails the test"
out_has "unexpected: deny  policies/no_open_admin_ports.lua: ssh_open: ingress rule 1 lets 0.0.0.0/0 reach port 22" "names the finding"
out_has "FAIL  pt/policies/tests/extra.json" "an expectation not met fails the test"
out_has 'expected, not found: {"address":"ssh_open","level":"warn","policy":"required_tags"}' "names the expectation"
out_has "2 tests, 2 failed" "summary"

# --- the examples on stacks -------------------------------------------------
# stack DIR ENV: stack.yaml from stdin, the example policies, ENV.yaml at the sim
stack() {
  mkdir -p "$1/policies"
  cp "$SRC"/docs/policies/*.lua "$1/policies/"
  cat >"$1/stack.yaml"
  printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"$1/$2.yaml"
}
refused() { # DIR ENV DESCRIPTION: the apply is refused by a policy, nothing made
  local before; before=$(sim_count)
  run apply -C "$1" -e "$2" --auto-approve
  expect_rc 4 "$3: apply refused with exit 4"
  err_has "apply refused: " "$3: says why"
  eq "$(sim_count)" "$before" "$3: nothing created in the sim"
  eq "$(state_sql "$1" "select count(*) from resources where env = '$2'" 2>/dev/null || echo 0)" 0 "$3: no resource recorded"
}

# no_open_admin_ports
sg_stack() { # CIDR
  stack sg dev <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { team: web } }
  web:
    type: aws.security_group
    name: web
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }
      - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [$1] }
    tags: { team: web }
YAML
}
sg_stack 0.0.0.0/0
run plan -C sg -e dev
expect_rc 0 "plan shows findings without failing"
out_has "Policies: 1 deny, 0 warnings" "plan counts the findings"
out_has "  deny  policies/no_open_admin_ports.lua: web: ingress rule 2 lets 0.0.0.0/0 reach port 22" "plan shows the deny"
refused sg dev "SSH open to the world"
out_has "  deny  policies/no_open_admin_ports.lua: web: ingress rule 2 lets 0.0.0.0/0 reach port 22" "apply shows the deny"
sg_stack 10.0.0.0/8
run apply -C sg -e dev --auto-approve
expect_rc 0 "SSH from the VPC only: applied"
out_lacks "Policies:" "no findings"
eq "$(sim_count_addr web)" 1 "the group exists"

# required_tags: a warning in dev (applied, recorded), a deny in prod
stack tags dev <<'YAML'
resources:
  net: { type: aws.vpc, cidr_block: 10.1.0.0/16, tags: { Name: untagged } }
YAML
run apply -C tags -e dev --auto-approve
expect_rc 0 "a missing tag in dev is a warning: applied"
out_has "  warn  policies/required_tags.lua: net: missing tag 'team'" "the warning is shown"
hist_ok "the warning is kept with the revision" \
  "H[0]['command'] == 'apply' and H[0]['summary']['policy_warnings'][0]['message'] == \"missing tag 'team'\" and H[0]['summary']['policy_warnings'][0]['address'] == 'net'" tags
run state history -C tags -e dev
out_has "    policy warn  policies/required_tags.lua: net: missing tag 'team'" "state history shows it"
cp tags/dev.yaml tags/prod.yaml
refused tags prod "a missing tag in prod"
out_has "  deny  policies/required_tags.lua: net: missing tag 'team'" "a deny in prod"

# prod_databases and allowed_sizes
db_stack() { # ENV CLASS MULTI_AZ ENCRYPTED
  stack "db$1" "$1" <<YAML
variables:
  pw: { type: string, sensitive: true, default: "$PW" }
resources:
  db:
    type: aws.db_instance
    identifier: db-$1
    engine: postgres
    instance_class: $2
    username: app
    password: "\${var.pw}"
    multi_az: $3
    storage_encrypted: $4
    tags: { team: data }
YAML
}
db_stack prod db.r6g.large false true
refused dbprod prod "a single-AZ database in prod"
out_has "  deny  policies/prod_databases.lua: db: multi_az must be true in prod (is false)" "names the attribute"
db_stack prod db.r6g.large true false
refused dbprod prod "an unencrypted database in prod"
out_has "  deny  policies/prod_databases.lua: db: storage_encrypted must be true in prod (is false)" "names the attribute"
db_stack prod db.t3.micro true true
refused dbprod prod "a db.t3 in prod"
out_has "  deny  policies/allowed_sizes.lua: db: instance_class db.t3.micro is not allowed in prod" "allowed sizes in prod"
db_stack prod db.r6g.large true true
run apply -C dbprod -e prod --auto-approve
expect_rc 0 "Multi-AZ, encrypted, allowed size: applied"
out_lacks "Policies:" "no findings"
eq "$(sim_resources | jq '[.resources[] | select(.attributes.multiAZ == true and .attributes.storageEncrypted == true)] | length')" 1 \
  "the sim has a Multi-AZ encrypted instance"
db_stack dev db.r6g.large false false
refused dbdev dev "a db.r6g in dev"
out_has "  deny  policies/allowed_sizes.lua: db: instance_class db.r6g.large is not allowed in dev" "allowed sizes in dev"
out_lacks "prod_databases" "prod's database rules do not apply to dev"
db_stack dev db.t3.micro false false
run apply -C dbdev -e dev --auto-approve
expect_rc 0 "a small single-AZ database in dev: applied"

# --- policies that fail are denies ------------------------------------------
bad() { # NAME: a stack with one policy (policies/NAME.lua from stdin)
  rm -rf "bad-$1"
  mkdir -p "bad-$1/policies"
  cat >"bad-$1/policies/$1.lua"
  cat >"bad-$1/stack.yaml" <<YAML
variables:
  pw: { type: string, sensitive: true, default: "$PW" }
resources:
  canary: { type: aws.vpc, cidr_block: 10.9.0.0/16, tags: { team: "\${var.pw}" } }
YAML
  printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"bad-$1/dev.yaml"
  run apply -C "bad-$1" -e dev --auto-approve
}
bad_refused() { # NAME MESSAGE
  expect_rc 4 "$1: a failing policy refuses the apply"
  out_has "  deny  policies/$1.lua: $2" "$1: the deny says why"
  eq "$(sim_count_addr canary)" 0 "$1: nothing created"
}
bad raises < <(echo 'error("boom")')
bad_refused raises "policies/raises.lua:1: boom"
bad runtime < <(printf 'return function(plan)\n  local x = plan.nothing.here\nend\n')
bad_refused runtime "policies/runtime.lua:2: attempt to index a nil value"
bad loops < <(printf 'return function(plan)\n  while true do end\nend\n')
bad_refused loops "policies/loops.lua:2: module policies/loops.lua exceeded its instruction limit (50000000 instructions)"
bad loads_forever < <(printf 'while true do end\n')
bad_refused loads_forever "policies/loads_forever.lua:1: module policies/loads_forever.lua exceeded its instruction limit"
bad network < <(printf 'return function(plan)\n  cairn.http.request({method = "GET", url = "http://127.0.0.1:%s/"})\n  return {}\nend\n' "$PORT")
bad_refused network "a policy may not wait (no network, no sleep): it asked for http"
bad os < <(printf 'return function(plan)\n  os.execute("touch pwned")\n  return {}\nend\n')
bad_refused os "policies/os.lua:2: attempt to index a nil value (global 'os')"
check "os.execute did not run" test ! -e pwned
bad io < <(printf 'return function(plan)\n  return io.open("x", "w")\nend\n')
bad_refused io "policies/io.lua:2: attempt to index a nil value (global 'io')"
bad fs < <(printf 'return function(plan)\n  return cairn.fs.read("/etc/passwd")\nend\n')
bad_refused fs "policies/fs.lua:2: attempt to index a nil value (field 'fs')"
bad req < <(printf 'local x = require("aws.common")\nreturn function(plan) return {} end\n')
bad_refused req "policies/req.lua:1: attempt to call a nil value (global 'require')"
bad memory < <(printf 'return function(plan)\n  local t = {}\n  for i = 1, 100 do t[i] = string.rep("x", 16 * 1024 * 1024) .. i end\n  return {}\nend\n')
bad_refused memory "policies/memory.lua:3: not enough memory (the Lua state is limited to 67108864 bytes)"
bad malformed < <(printf 'return function(plan)\n  return { { level = "fatal", message = "x" } }\nend\n')
bad_refused malformed "finding 1 is malformed"
bad string < <(printf 'return function(plan)\n  return "all good"\nend\n')
bad_refused string "it returned a value that is not a list"
bad not_a_function < <(printf 'return 42\n')
bad_refused not_a_function "a policy must return a function"

# policies see sensitive values redacted; a policy can report them, and cannot leak them
bad peek < <(printf 'return function(plan)\n  return { { level = "warn", message = "tags are " .. tostring(plan.changes[1].after.tags), address = plan.changes[1].address } }\nend\n')
expect_rc 0 "a warning does not refuse"
out_has "  warn  policies/peek.lua: canary: tags are (sensitive)" "the policy saw (sensitive)"
check "the secret is not in the output" bash -c "! grep -qF '$PW' '$WORK/out' '$WORK/err'"

# plan --json streams the findings (a policy_findings line)
sg_stack 0.0.0.0/0
run plan -C sg -e dev --json
expect_rc 0 "plan --json"
eq "$(jq -c 'select(.type == "policy_findings") | [.findings[] | [.policy, .level, .address]]' "$WORK/out")" \
  '[["policies/no_open_admin_ports.lua","deny","web"]]' "the findings in the --json stream"
eq "$(jq -r 'select(.type == "planned_change" and .resource.address == "web") | .after.ingress[1].cidr_blocks[0]' "$WORK/out")" \
  "0.0.0.0/0" "the stream has each resource's whole after"
# a saved plan (the JSON document) carries each resource's whole after too
run plan -C sg -e dev -out "$WORK/sg.plan"
expect_rc 0 "plan -out"
eq "$(jq -r '.resource_changes[] | select(.address == "web") | .after.ingress[1].cidr_blocks[0]' "$WORK/sg.plan")" "0.0.0.0/0" \
  "the saved plan has each resource's whole after"
done_testing
