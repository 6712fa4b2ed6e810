#!/usr/bin/env bash
# Saved plans, JSON plans, targets, lifecycle, sensitive values, state and
# output commands, graph, confirmation.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s 'variables:
  token: s3cr3t-t0ken-value
  protect: false' <<'YAML'
variables:
  token: { type: string, sensitive: true }
  protect: { type: bool, default: true }
resources:
  base:
    type: local.thing
    name: base
  pw:
    type: random.password
    length: 20
  guarded:
    type: local.thing
    name: "guarded-${base.id}"
    lifecycle:
      prevent_destroy: "${var.protect}"
  swap:
    type: local.thing
    name: swap
    zone: a
    lifecycle:
      create_before_destroy: true
  user:
    type: local.thing
    name: "user-of-${swap.id}"
  loose:
    type: local.thing
    name: loose
    size: 1
    lifecycle:
      ignore_changes: [size]
  secret:
    type: local.thing
    name: "${var.token}"
  pwfile:
    type: local.file
    path: out/pw
    content: "${pw.result}"
outputs:
  base_id: { value: "${base.id}" }
  token: { value: "${var.token}", sensitive: true }
  pw: { value: "${pw.result}" }
YAML

# JSON plan
run plan -C s -e dev --json
expect_rc 0 "plan --json"
check "JSON plan stream parses" python3 -c "import json,sys; L=[json.loads(l) for l in open('$WORK/out')]; assert L[0]['type']=='version'; s=[o for o in L if o['type']=='change_summary'][0]['changes']; assert s['add']==8, s; assert any(o['type']=='planned_change' and o['resource']['address']=='base' and o['action']=='create' for o in L)"
out_lacks "s3cr3t-t0ken-value" "sensitive variable not in JSON plan"
check "the JSON plan marks secret.name sensitive" python3 -c "import json; L=[json.loads(l) for l in open('$WORK/out')]; c=[o for o in L if o['type']=='planned_change' and o['resource']['address']=='secret'][0]; a=[x for x in c['changes'] if x['attribute']=='name'][0]; assert a['sensitive'] and a['after']=='(sensitive)' and c['after']['name']=='(sensitive)', a"
# the text plan that shows the secret's resource
run plan -C s -e dev
expect_rc 0 "plan"
out_has "# secret will be created" "the resource that reads the secret is in the plan"
check "its name is (sensitive)" grep -Eq '^ *\+ name += \(sensitive\)$' "$WORK/out"
out_lacks "s3cr3t-t0ken-value" "sensitive variable not in the plan text"

# no terminal, no --auto-approve: refuse, touch nothing
run apply -C s -e dev
expect_rc 1 "apply without a terminal"
err_has "needs confirmation" "says why"
check "nothing applied, no state created" no_state s

# in a terminal, apply asks; only 'yes' proceeds
printf 'no\n' | script -qec "$CAIRN apply -C s -e dev --target base" /dev/null >"$WORK/out" 2>&1; RC=$?
expect_rc 1 "answering no"
out_has "Only 'yes' will be accepted" "the question"
out_has "apply cancelled" "cancelled"
eq "$(state_sql s "select count(*) from resources")" "0" "nothing applied after no"
printf 'yes\n' | script -qec "$CAIRN apply -C s -e dev --target base" /dev/null >"$WORK/out" 2>&1; RC=$?
expect_rc 0 "answering yes"
out_has "Apply complete! Resources: 1 added" "applied after yes"

# targets
run apply -C s -e dev --auto-approve --target guarded
expect_rc 0 "targeted apply"
eq "$(state_sql s "select address from resources order by address" | paste -sd,)" "base,guarded" "target and its dependency"
run plan -C s -e dev --exclude swap
expect_rc 0 "plan --exclude"
out_lacks "# swap will" "the excluded resource is left out"
out_lacks "# user will" "excluding swap excludes its dependents"
out_has "# loose will be created" "others remain"

# saved plan applies exactly; a stale one is refused
run plan -C s -e dev -out saved.plan
expect_rc 0 "plan -out"
eq "$(stat -c %a saved.plan)" "600" "plan file mode"
check "no secret in the plan file" sh -c "! grep -q s3cr3t-t0ken-value saved.plan"
run apply -e prod saved.plan
expect_rc 1 "a plan applied to another environment"
err_has "was made for environment 'dev', not 'prod'" "names both environments"
run apply saved.plan
expect_rc 0 "apply FILE"
out_has "Apply complete! Resources: 6 added" "the saved actions"
run apply saved.plan
expect_rc 1 "the same plan again is stale"
err_has "stale" "says stale"
run plan -C s -e dev -out saved2.plan
echo "# changed" >> s/stack.yaml
run apply saved2.plan
expect_rc 1 "plan after config change is stale"
err_has "configuration" "names the config"
# a file that file() or fileexists() read changed between plan and apply
mkstack fi <<'YAML'
resources:
  cfg:
    type: local.file
    path: out/cfg.txt
    content: '${file("input.txt")}'
  flag:
    type: null.resource
    triggers:
      present: '${fileexists("flag")}'
YAML
echo "first" > fi/input.txt
run plan -C fi -e dev -out fi.plan
expect_rc 0 "plan -out with file() inputs"
check "the plan records the inputs" grep -q '"inputs"' fi.plan
echo "second" > fi/input.txt
run apply fi.plan
expect_rc 1 "input file changed: the plan is stale"
err_has "input.txt, which the configuration of environment 'dev' reads, changed" "names the file"
check "nothing created" test ! -e fi/out/cfg.txt
check "no state rows" eval 'no_state fi || [ "$(state_sql fi "select count(*) from resources")" = 0 ]'
run plan -C fi -e dev -out fi.plan
touch fi/flag
run apply fi.plan
expect_rc 1 "a file fileexists() looked for appeared: stale"
err_has "flag, which the configuration" "names the flag file"
rm fi/flag
run apply fi.plan
expect_rc 0 "unchanged inputs: the plan applies"
eq "$(cat fi/out/cfg.txt)" "second" "the planned content"

echo '{"format_version":"9"}' > foreign.plan
run apply foreign.plan
expect_rc 1 "foreign plan file"
err_has "not a cairn plan file" "says so"

# sensitive values: never printed, never in the state file in plain text
run plan -C s -e dev --var token=n3w-s3cr3t-value
expect_rc 0 "plan a new secret"
out_has "# secret will be updated in place" "the resource that reads it changes"
check "old and new value hidden" grep -Eq '^ *~ name += \(sensitive\) -> \(sensitive\)$' "$WORK/out"
out_lacks "s3cr3t-t0ken-value" "plan output: the old value"
out_lacks "n3w-s3cr3t-value" "plan output: the new value"
run state show -C s -e dev secret
out_has "(sensitive)" "state show redacts"
out_lacks "s3cr3t-t0ken-value" "state show"
state_lacks s s3cr3t-t0ken-value "state file has no plain secret"
pw=$(cat s/out/pw)
state_lacks s "$pw" "password not in the state file"
run output -C s -e dev
out_lacks "$pw" "tainted output is sensitive"
check "token output is sensitive" grep -Eq '^ *token += \(sensitive\)' "$WORK/out"
run output -C s -e dev token --show-sensitive
out_has "s3cr3t-t0ken-value" "explicit --show-sensitive"
run output -C s -e dev --json
check "output --json parses" python3 -c "import json; d=json.load(open('$WORK/out')); assert d['base_id']['value'].startswith('thing-')"

# a multi-line text that reads a secret: a create shows text line by line,
# but not this one, not even its lines without the secret
mkstack ml 'variables:
  token: s3cr3t-t0ken-value' <<'YAML'
variables:
  token: { type: string, sensitive: true }
resources:
  conf:
    type: local.file
    path: out/app.conf
    content: "user = app\ntoken = ${var.token}\n"
YAML
run plan -C ml -e dev
expect_rc 0 "plan of a multi-line sensitive text"
check "the whole content is (sensitive)" grep -Eq '^ *\+ content += \(sensitive\)$' "$WORK/out"
out_lacks "s3cr3t-t0ken-value" "the secret line"
out_lacks "user = app" "the other lines"

# errors that hold a secret: the final error line, the live failure line,
# the apply summary and the recorded revision
mkstack se 'variables:
  token: s3cr3t-t0ken-value' <<'YAML'
variables:
  token: { type: string, sensitive: true }
  mode: { type: string, default: "" }
resources:
  conv:
    type: local.thing
    count: '${var.mode == "convert" ? 1 : 0}'
    name: '${tonumber(var.token)}'
  refused:
    type: local.thing
    count: '${var.mode == "fail" ? 1 : 0}'
    name: "${var.token}"
    fail: true
  keyed:
    type: local.thing
    for_each: '${var.mode == "key" ? [var.token] : []}'
    name: k
  mapkeyed:
    type: local.thing
    for_each: '${var.mode == "mapkey" ? zipmap([var.token], ["v"]) : {}}'
    name: "${each.value}"
YAML
run plan -C se -e dev --var mode=convert
expect_rc 1 "a function's error quoting a secret"
err_has 'cairn: error: se/stack.yaml:8:23: tonumber()' "the error names the place"
err_has 'tonumber(): cannot convert "(sensitive)" to a number' "the final error line redacts the value"
err_lacks "s3cr3t-t0ken-value" "the final error line"
run plan -C se -e dev --var mode=key
expect_rc 1 "a sensitive for_each key"
err_has "cairn: error: se/stack.yaml:16:18: for_each of 'keyed'" "the refusal names the for_each"
err_has "for_each of 'keyed' uses a sensitive value as an instance key" "and says why"
err_lacks "s3cr3t-t0ken-value" "the refusal"
out_lacks "s3cr3t-t0ken-value" "the refused plan"
# a map's keys too (a for_each over a map takes its keys as instance keys)
run plan -C se -e dev --var mode=mapkey
expect_rc 1 "a sensitive for_each map key"
err_has "cairn: error: se/stack.yaml:20:18: for_each of 'mapkeyed' uses a sensitive value as an instance key" "the refusal names the for_each"
err_lacks "s3cr3t-t0ken-value" "the refusal of a map key"
out_lacks "s3cr3t-t0ken-value" "the refused plan (map)"
run apply -C se -e dev --auto-approve --var mode=fail
expect_rc 1 "a create whose error holds the secret"
err_has 'refused[0]: failed: modules/local/thing.lua:' "the live failure line"
err_has 'refusing to create (sensitive)' "redacted"
out_has 'refusing to create (sensitive)' "the summary, redacted"
err_lacks "s3cr3t-t0ken-value" "stderr of the failed apply"
out_lacks "s3cr3t-t0ken-value" "stdout of the failed apply"
hist_ok "the revision's summary is redacted" \
  "H[0]['summary']['failed'][0]['error'].endswith('refusing to create (sensitive)')" se
state_lacks se s3cr3t-t0ken-value "no secret in the state files"

# ignore_changes
sed -i 's/    size: 1/    size: 9/' s/stack.yaml
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "ignored property does not plan a change"

# create_before_destroy: new object first, dependents switch, old deleted last
old=$(state_sql s "select id from resources where address='swap'")
sed -i 's/    zone: a/    zone: b/' s/stack.yaml
run plan -C s -e dev
out_has "+/- swap (local.thing)" "cbd marker"
out_has "zone = \"a\" -> \"b\" # forces replacement" "forces replacement"
run apply -C s -e dev --auto-approve
expect_rc 0 "cbd apply"
new=$(state_sql s "select id from resources where address='swap'")
check "swap replaced" test "$old" != "$new"
check "old object deleted" test ! -e "s/cloud/$old"
check "dependent uses the new id" grep -rq "user-of-$new" s/cloud
eq "$(state_sql s "select count(*) from resources where address like '%deposed%'")" "0" "no deposed rows left"

# prevent_destroy from a variable
sed -i 's/protect: false/protect: true/' s/dev.yaml
run destroy -C s -e dev --auto-approve
expect_rc 1 "destroy refused"
err_has "prevent_destroy" "names the lifecycle rule"
err_has "guarded" "names the resource"
eq "$(state_sql s "select count(*) from resources")" "8" "nothing destroyed"

# state commands
run state list -C s -e dev
out_has "guarded	local.thing	thing-" "state list"
run state mv -C s -e dev loose loose2
expect_rc 0 "state mv"
objid=$(state_sql s "select id from resources where address='loose2'")
check "the moved row has its id" test -n "$objid"
run state rm -C s -e dev loose2
expect_rc 0 "state rm"
out_has "not touched" "rm leaves the object"
run state rm -C s -e dev nothing
expect_rc 1 "state rm of an unknown address"
run plan -C s -e dev
out_has "# loose will be created" "forgotten resource is planned again"

# graph
run graph -C s -e dev
expect_rc 0 "graph"
out_has '"guarded" -> "base";' "edge from reference"
out_has "digraph" "DOT"

# import
run import -C s -e dev loose "$objid"
expect_rc 0 "import"
run state show -C s -e dev loose
out_has "$objid" "imported id"
run import -C s -e dev loose "$objid"
expect_rc 1 "import over a managed address"
run import -C s -e dev nosuch "$objid"
expect_rc 1 "import to an address not in the config"
done_testing
