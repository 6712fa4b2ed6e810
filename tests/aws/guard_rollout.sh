#!/usr/bin/env bash
# Rollouts (docs/guardrails.md): a resource's own checks: run right after
# its instances are applied, with self.ATTR; blue-green (create_before_
# destroy + checks): the new object is created and checked before its
# dependents switch to it and the old one goes, and when its checks fail
# the new object is deleted, the old one and its dependents stay as they
# were, the state names the old object, and the apply exits 6 saying so;
# rolling batches (rollout: {batch}) on a counted resource: the changed
# instances go batch by batch with the checks between them, and at the
# first failing batch the apply stops, that batch is rolled back (new
# objects deleted and old ones kept for replacements, the previous
# attributes applied again for in-place updates) and the later batches are
# left untouched. The checks ask a small HTTP server the test runs for
# /NAME: a file of that name in its directory makes the check pass.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

# the health endpoint: python3's http.server on a free port, stopped by PID
mkdir -p "$WORK/www"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/http.out" 2>"$WORK/http.err" &
HTTP_PID=$!
BG_PIDS+=("$HTTP_PID")
for i in $(seq 1 100); do
  HP=$(sed -n 's/^Serving HTTP on [0-9.]* port \([0-9]*\).*/\1/p' "$WORK/http.out" | head -1)
  [ -n "$HP" ] && break
  sleep 0.05
done
[ -n "$HP" ] || { echo "Bail out! http.server did not start"; cat "$WORK/http.err"; exit 1; }
healthy() { local n; for n in "$@"; do : >"$WORK/www/$n"; done; }
sick() { local n; for n in "$@"; do rm -f "$WORK/www/$n"; done; }

sg_id() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)][0].id // empty'; }
sg_count() { sim_resources | jq -r --arg n "$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)] | length'; }
sv() { state_attr s "$1" ".$2"; }

# --- the format ---------------------------------------------------------------
awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: x
    vpc_id: "\${net.id}"
    rollout: { batch: 2 }
YAML
run validate -C s -e dev
expect_rc 1 "rollout without count"
err_has "s/stack.yaml:7:14: rollout is for a resource with count or for_each ('web' has neither)" "file:line:col"
awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    count: 2
    name: x
    vpc_id: "\${net.id}"
    rollout: { batch: "0%" }
YAML
run validate -C s -e dev
expect_rc 1 "a bad batch"
err_has "s/stack.yaml:8:23: rollout.batch must be a whole number of instances (at least 1) or a percentage like \"25%\"" "file:line:col"
awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: x
    vpc_id: "\${net.id}"
    checks:
      - { name: up, http: { url: "http://127.0.0.1/\${self.nmae}" } }
YAML
run validate -C s -e dev
expect_rc 1 "self with an unknown attribute"
err_has "s/stack.yaml:8:54: resource 'web' (aws.security_group) has no attribute 'nmae'" "file:line:col"
awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16, tags: { a: "\${self.id}" } }
YAML
run validate -C s -e dev
expect_rc 1 "self outside checks"
err_has "s/stack.yaml:2:64: 'self' is only for the checks of a resource" "file:line:col"
check "no state was made by the refusals" no_state s

# --- blue-green ---------------------------------------------------------------
bluegreen() { # NAME
  awsstack s <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.0.0.0/16 }
  web:
    type: aws.security_group
    name: $1
    vpc_id: "\${net.id}"
    lifecycle: { create_before_destroy: true }
    checks:
      - name: up
        http: { url: "http://127.0.0.1:$HP/\${self.name}", status: 200 }
        retries: 1
        interval: 0.1
        deadline: 5s
  front:
    type: aws.security_group
    name: front
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: 80, to_port: 80, source_security_group_id: "\${web.id}" }
YAML
}
healthy bg-v1
bluegreen bg-v1
run apply -C s -e dev --auto-approve
expect_rc 0 "the first version passes its checks"
out_has "Resource health checks:" "the checks are shown"
out_has "  ok    web: up (http http://127.0.0.1:$HP/bg-v1, 1 attempt," "with the instance they checked"
err_has "web: checks: health checks passed" "the progress says so"
OLD=$(state_id s web)
eq "$(sg_id bg-v1)" "$OLD" "the sim has the group the state names"
hist_ok "the revision's checks" "H[0]['summary']['resource_checks_passed'] is True and H[0]['summary']['checks_passed'] is True"

bluegreen bg-v2
run apply -C s -e dev --auto-approve
expect_rc 6 "a new object that fails its checks: exit 6"
out_has "  FAIL  web: up (http http://127.0.0.1:$HP/bg-v2): after 2 attempts: status 404, expected 200" "what failed"
err_has "cairn: error: health check up of web failed: status 404, expected 200; rolled back: web: the new object was deleted, the old one kept ($OLD)" "what was done"
out_has "Apply failed: 0 done, 1 failed, 2 skipped, 1 rolled back." "the summary"
out_has "  rolled back: web (replace undone)" "names what was undone"
out_has "skipped: front: dependency web: checks failed" "the dependent was not switched"
out_has "skipped: web (old): dependency web: checks failed" "the old object was not deleted"
eq "$(sg_count bg-v2)" 0 "the new object is gone from the sim"
eq "$(sg_id bg-v1)" "$OLD" "the old object is still there"
eq "$(state_id s web)" "$OLD" "the state names the old object"
eq "$(sv web name)" "bg-v1" "with its attributes"
eq "$(state_sql s "select count(*) from resources where env='dev' and address like 'web~%'")" 0 "no deposed row is left"
eq "$(sv front "ingress[0].source_security_group_id")" "$OLD" "the dependent still points at the old object (state)"
front_refs() { sim_resources | jq -r '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == "front")][0] | tostring' | grep -o 'sg-[0-9a-f]*' | sort -u | tr '\n' ' '; }
check "and in the sim (the front group's rules name the old group)" grep -q "$OLD" <<<"$(front_refs)"
hist_ok "the revision records the failed checks" "H[0]['summary']['resource_checks_passed'] is False and H[0]['summary']['checks_passed'] is False"
run state history -C s -e dev --limit 1
out_has "    resource checks failed (web: up)" "state history shows them"
run apply -C s -e dev --auto-approve --json
expect_rc 6 "the same with --json"
check "the stream has the resource checks" python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
rc = [e for e in ev if e.get("type") == "resource_health_checks"]
sys.exit(0 if len(rc) == 1 and rc[0]["passed"] is False and rc[0]["checks"][0]["address"] == "web" and rc[0]["@level"] == "error" else 1)' "$WORK/out"
eq "$(sg_count bg-v2)" 0 "the new object is gone again"
run plan -C s -e dev
out_has '~ name = "bg-v1" -> "bg-v2" # forces replacement' "the next plan proposes the replacement again"

healthy bg-v2
run apply -C s -e dev --auto-approve
expect_rc 0 "a new object that passes its checks"
NEW=$(state_id s web)
check "a new object" test -n "$NEW" -a "$NEW" != "$OLD"
eq "$(sg_count bg-v1)" 0 "the old object was deleted after the switch"
eq "$(sg_id bg-v2)" "$NEW" "the new one is in the sim"
eq "$(sv front "ingress[0].source_security_group_id")" "$NEW" "the dependent was switched to it"
check "in the sim too" grep -q "$NEW" <<<"$(front_refs)"
check "the old one went after the checks and the switch" python3 - "$WORK/err" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
def at(s):
    return next(i for i, l in enumerate(lines) if s in l)
sys.exit(0 if at("web: creation complete") < at("web: checks: health checks passed") < at("front: modifications complete") < at("web (old): destruction complete") else 1)
PY

# --- rolling batches: replacements ----------------------------------------------
fleet() { # VERSION BATCH
  awsstack r <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.1.0.0/16 }
  fleet:
    type: aws.security_group
    count: 6
    name: "fl-$1-\${count.index}"
    vpc_id: "\${net.id}"
    rollout: { batch: $2 }
    checks:
      - { name: up, http: { url: "http://127.0.0.1:$HP/\${self.name}" }, retries: 0, deadline: 5s }
YAML
}
healthy fl-v1-{0..5}
fleet v1 2
run apply -C r -e dev --auto-approve
expect_rc 0 "six instances created in three batches"
for b in 1 2 3; do err_has "fleet: batch $b: health checks passed" "batch $b"; done
declare -A OLDID
for i in 0 1 2 3 4 5; do OLDID[$i]=$(state_sql r "select id from resources where env='dev' and address='fleet[$i]'"); done

healthy fl-v2-0 fl-v2-1      # the first batch is healthy, the second is not
fleet v2 2
run apply -C r -e dev --auto-approve
expect_rc 6 "the second batch fails: exit 6"
err_has "fleet: batch 1: health checks passed" "the first batch passed"
err_has "fleet[2]: check up FAILED after 1 attempt: status 404, expected 200" "the second failed"
err_has "cairn: error: health check up of fleet[2] failed: status 404, expected 200; rolled back: fleet[2]: the new object was deleted, the old one kept (${OLDID[2]}); fleet[3]: the new object was deleted, the old one kept (${OLDID[3]})" "what was rolled back"
out_has "Apply failed: 4 done, 1 failed, 6 skipped, 2 rolled back." "the summary: batch 1's two replacements (new and old), batch 2 undone"
out_has "skipped: fleet[4]: dependency fleet: batch 2 failed" "the third batch was not started"
out_has "skipped: fleet[5]: dependency fleet: batch 2 failed" "the third batch was not started"
for i in 0 1; do
  eq "$(sg_count fl-v2-$i)" 1 "batch 1: fleet[$i] replaced"
  eq "$(sg_count fl-v1-$i)" 0 "batch 1: its old object deleted"
done
for i in 2 3; do
  eq "$(sg_count fl-v2-$i)" 0 "batch 2: fleet[$i]'s new object deleted"
  eq "$(sg_id fl-v1-$i)" "${OLDID[$i]}" "batch 2: its old object kept"
  eq "$(state_sql r "select id from resources where env='dev' and address='fleet[$i]'")" "${OLDID[$i]}" "batch 2: the state names the old object"
done
for i in 4 5; do
  eq "$(sg_count fl-v2-$i)" 0 "batch 3: fleet[$i] untouched (no new object)"
  eq "$(sg_id fl-v1-$i)" "${OLDID[$i]}" "batch 3: its object untouched"
done
eq "$(state_sql r "select count(*) from resources where env='dev' and address like 'fleet%'")" 6 "six rows, no deposed one"

# --- rolling batches: in-place updates, batch as a percentage ------------------------
tagged() { # VERSION
  awsstack u <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.2.0.0/16 }
  pool:
    type: aws.security_group
    count: 4
    name: "pool-\${count.index}"
    vpc_id: "\${net.id}"
    tags: { ver: "$1" }
    rollout: { batch: "50%" }
    checks:
      - { name: ver, http: { url: "http://127.0.0.1:$HP/\${self.tags.ver}-\${count.index}" }, retries: 0, deadline: 5s }
YAML
}
pool_ver() { sim_resources | jq -r --arg n "pool-$1" '[.resources[] | select(.type == "ec2:security-group" and .attributes.groupName == $n)][0].tags.ver'; }
healthy t1-{0..3} t2-0 t2-1
tagged t1
run apply -C u -e dev --auto-approve
expect_rc 0 "four tagged groups"
tagged t2
run apply -C u -e dev --auto-approve
expect_rc 6 "the second batch (50% of 4 = 2 instances) fails"
out_has "  rolled back: pool[3] (update undone)" "the summary names them"
err_has "cairn: error: health check ver of pool[2] failed: status 404, expected 200; rolled back: pool[2]: the previous attributes were applied again; pool[3]: the previous attributes were applied again" "what was rolled back"
for i in 0 1; do
  eq "$(pool_ver $i)" t2 "batch 1: pool[$i] updated (sim)"
  eq "$(state_attr u "pool[$i]" .tags.ver)" t2 "batch 1: pool[$i] updated (state)"
done
for i in 2 3; do
  eq "$(pool_ver $i)" t1 "batch 2: pool[$i] has its previous tags again (sim)"
  eq "$(state_attr u "pool[$i]" .tags.ver)" t1 "batch 2: and in the state"
done
run plan -C u -e dev
out_has "Plan: 0 to add, 2 to change, 0 to destroy." "the next plan updates the two rolled back"

healthy t2-2 t2-3
run apply -C u -e dev --auto-approve
expect_rc 0 "the rest of the rollout passes"
for i in 2 3; do eq "$(pool_ver $i)" t2 "pool[$i] updated"; done

# --- a resource's checks outside a rollout: the environment rolled back ---------------
# (more in guard_resource_rollback.sh)
single() { # VERSION
  awsstack o <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.4.0.0/16 }
  one:
    type: aws.security_group
    name: one
    vpc_id: "\${net.id}"
    tags: { ver: "$1" }
    checks:
      - { name: ver, tcp: { host: 127.0.0.1, port: "\${self.tags.ver == \"good\" ? $HP : 1}" }, retries: 0, deadline: 5s }
  after:
    type: aws.security_group
    name: "after-\${one.tags.ver}"
    vpc_id: "\${net.id}"
YAML
}
single good
run apply -C o -e dev --auto-approve
expect_rc 0 "a tcp check that reaches the test's port"
out_has "  ok    one: ver (tcp 127.0.0.1, 1 attempt," "shown"
single bad
run apply -C o -e dev --auto-approve
expect_rc 6 "an in-place update whose check fails"
err_has "cairn: error: health check ver of one failed: cannot connect to 127.0.0.1:1: Connection refused; the apply stopped" "says the apply stopped"
err_has "cairn: error: revision 2 failed its health checks (ver of one); environment 'dev' was rolled back to revision 1" "and rolled the environment back"
eq "$(state_attr o one .tags.ver)" good "the update was rolled back"
eq "$(sg_count after-bad)" 0 "its dependent waited for the checks and was skipped"
eq "$(sg_count after-good)" 1 "and is untouched"
sed -i 's/name: one$/name: "one-${var.n}"/; s/^resources:/variables: { n: { type: string, default: a } }\nresources:/' o/stack.yaml
healthy
run apply -C o -e dev --auto-approve --var n=b
expect_rc 6 "both replaced, one deleting first: no deadlock, the check still fails"
err_has "cairn: error: health check ver of one failed" "the check's error"
err_lacks "unreachable" "every task ran or was skipped"

# --- a rollout without checks: the batches one after the other ------------------
plain() { # VERSION
  awsstack p <<YAML
resources:
  net: { type: aws.vpc, cidr_block: 10.3.0.0/16 }
  pool:
    type: aws.security_group
    count: 4
    name: "plain-\${count.index}"
    vpc_id: "\${net.id}"
    tags: { ver: "$1" }
    rollout: { batch: 2 }
YAML
}
plain a
run apply -C p -e dev --auto-approve
expect_rc 0 "created"
plain b
run apply -C p -e dev --auto-approve --parallelism 10
expect_rc 0 "updated in two batches"
out_lacks "Resource health checks:" "no checks to show"
check "batch 2 started after batch 1 was done" python3 - "$WORK/err" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
def at(s):
    return next(i for i, l in enumerate(lines) if l == s)
first = max(at("pool[0]: modifications complete"), at("pool[1]: modifications complete"))
sys.exit(0 if first < at("pool: batch 1: batch complete") < min(at("pool[2]: modifying..."), at("pool[3]: modifying...")) else 1)
PY
kill "$HTTP_PID" && wait "$HTTP_PID" 2>/dev/null
done_testing
