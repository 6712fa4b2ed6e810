#!/usr/bin/env bash
# A failure stops only its dependents; independent branches go on; the
# summary lists done, failed and skipped; the exit code is non-zero; module
# errors name the module file and line.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  bad:
    type: local.thing
    name: bad
    fail: true
  child:
    type: local.thing
    name: "child-of-${bad.id}"
  grandchild:
    type: local.thing
    name: "gc-${child.id}"
  fine:
    type: local.thing
    name: fine
    count: 3
YAML

run apply -C s -e dev --auto-approve
expect_rc 1 "apply with a failure"
out_has "Apply failed: 3 done, 1 failed, 2 skipped." "summary"
out_has "failed:  bad:" "failed listed"
out_has "InvalidParameterValue: refusing to create bad" "module error code and message"
out_has "skipped: child: dependency bad failed" "dependent skipped"
out_has "skipped: grandchild" "transitively"
eq "$(state_sql s "select count(*) from resources")" "3" "independent branch applied"
hist_ok "the newest revision is this apply, marked failed, with bad's error and 3 creates" \
  "H[0]['command'] == 'apply' and H[0]['status'] == 'failed' and [f['address'] for f in H[0]['summary']['failed']] == ['bad'] and 'refusing to create bad' in H[0]['summary']['failed'][0]['error'] and sorted(c['address'] for c in H[0]['changes'] if c['action'] == 'create') == ['fine[0]', 'fine[1]', 'fine[2]']"

# a module with a runtime error: its file and line
mkdir -p s/modules/test
cat > s/modules/test/broken.lua <<'LUA'
return {
  type = "test.broken",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local t = nil
    return t.field
  end,
  read = function(ctx, id) return {} end,
  delete = function(ctx, id) end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  b:
    type: test.broken
YAML
run apply -C s -e dev --auto-approve
expect_rc 1 "broken module"
out_has "broken.lua:6:" "names the module file and line"

# a runaway module is stopped
cat > s/modules/test/spin.lua <<'LUA'
return {
  type = "test.spin",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p) while true do end end,
  read = function(ctx, id) return {} end,
  delete = function(ctx, id) end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  s:
    type: test.spin
YAML
timeout 60 "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?
expect_rc 1 "runaway module stopped"
out_has "instruction limit" "says why"
done_testing
