#!/usr/bin/env bash
# The secrets sweep: a stack with known secret values (a sensitive string,
# a sensitive map iterated with for_each, a random.password generated during
# the apply that also uses it, RDS master passwords sent to `cairn sim`, an
# imported password, a sensitive output, tainted outputs, a module that logs
# its value and puts it in its error messages) goes through validate, plan
# (text, JSON, -out), apply (also of a saved plan, also with -v), failures
# (a create, a refresh, a delete, a function's error, a sensitive for_each
# key), output, state list/show/history, graph, import and destroy. Every
# stdout and stderr, the saved plans, the state as stored after every
# command (state_bytes: on SQLite the files state.db, -wal, -shm as bytes;
# on PostgreSQL a pg_dump of the stack's schema, every table with its rows,
# history and intents included), the sim's request log and the
# sim's database (and its -wal, -shm) are then searched for every secret:
# nothing may be found. Where the values do belong (the overlay that sets
# them, an explicit --show-sensitive), the same search finds them, so it
# can fail.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log --db "$WORK/sim.db"

TOKEN='Tok3n-sw33p-41c9e0'
CRED_A='Cr3d-a-5d1e7f20'
CRED_B='Cr3d-b-9a3c6b11'
DBPW1='Db-pw-one-8c2f4e6a'
DBPW2='Db-pw-two-3b7d9f1c'
IMPPW='Imp-pw-6e0a2c4d'
GEN1= GEN2= # the generated passwords, known after the applies that make them
LOGS=$WORK/logs  # everything cairn printed, saved plans, snapshots of the state files
CMDS=$WORK/cmds  # the command lines (the test's own: the import's holds a secret)
mkdir -p "$LOGS" "$CMDS"
N=0

# sweep ARGS...: run cairn (as `run`), keeping its stdout and stderr, the
# command, and a byte copy of the state files as they are now
sweep() {
  N=$((N + 1))
  local tag; tag=$(printf '%03d' "$N")
  if [ -n "${WATCH:-}" ]; then
    # copies of the state while the command runs (on SQLite the files:
    # its WAL holds what it wrote since the last checkpoint; on PostgreSQL
    # a dump, which sees what each of its transactions committed)
    "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null &
    local pid=$! i=0
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1)); mkdir -p "$LOGS/$tag.during/$i"
      if [ "$STATE_BACKEND" = pg ]; then state_bytes s >"$LOGS/$tag.during/$i/state.bytes"
      else cp s/.cairn/state.db* "$LOGS/$tag.during/$i/" 2>/dev/null; sleep 0.05; fi
    done
    wait "$pid"; RC=$?
    WATCHED=$i
  else
    run "$@"
  fi
  printf '%s\n' "$*" >"$CMDS/$tag"
  cp "$WORK/out" "$LOGS/$tag.out"
  cp "$WORK/err" "$LOGS/$tag.err"
  mkdir -p "$LOGS/$tag.state"
  state_bytes s >"$LOGS/$tag.state/state.bytes"
}
secrets() { printf '%s\n' "$TOKEN" "$CRED_A" "$CRED_B" "$DBPW1" "$DBPW2" "$IMPPW" ${GEN1:+"$GEN1"} ${GEN2:+"$GEN2"}; }
# hits PATH...: the files under PATH that hold any secret, as bytes
hits() { secrets >"$WORK/secrets.txt"; grep -rlaF -f "$WORK/secrets.txt" "$@" 2>/dev/null; }

# local.echo uses cairn.fs, which only modules on the trusted path get (a
# stack's own modules/ never does): it goes beside the test modules there
mkdir -p s "$WORK/trusted/local"
export CAIRN_MODULES_PATH="$CAIRN_MODULES_PATH:$WORK/trusted"
cat >"$WORK/trusted/local/echo.lua" <<'LUA'
-- local.echo: a module that does its best to leak its value: it logs it on
-- every create, and puts it in its error message when the file
-- fail-OP exists beside the stack (OP: create, read, delete).
local function flag(ctx, op) return cairn.fs.exists(ctx.base_dir .. "/fail-" .. op) end
return {
  type = "local.echo",
  remote = false,
  schema = {
    value = { type = "string", required = true, force_new = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    cairn.log.warn("creating with %s", p.value)
    if flag(ctx, "create") then error("cannot create with value " .. p.value) end
    return { id = "echo-" .. cairn.random.hex(4), value = p.value }
  end,
  read = function(ctx, id, old)
    if flag(ctx, "read") then error("cannot read " .. id .. ": its value " .. tostring(old.value) .. " is bad") end
    return old
  end,
  delete = function(ctx, id, old)
    if flag(ctx, "delete") then error("cannot delete " .. id .. " holding " .. tostring(old.value)) end
  end,
}
LUA
cat >s/stack.yaml <<'YAML'
variables:
  token: { type: string, sensitive: true }
  creds: { type: map, sensitive: true }
  db_pw: { type: string, sensitive: true }
  pw_len: { type: number }
  mode: { type: string, default: "" }
resources:
  pw:
    type: random.password
    length: "${var.pw_len}"
    override_special: "-_#"
  tok:
    type: local.thing
    name: "${var.token}"
  per:
    type: local.thing
    for_each: "${var.creds}"
    name: "cred-${each.value}"
  per_user:
    type: local.thing
    name: 'uses-${per["a"].name}'
  cnt:
    type: local.thing
    count: 2
    name: '${format("%s-%d", upper(var.token), count.index)}'
  echo:
    type: local.echo
    value: "${var.token}"
  gen_echo:
    type: local.echo
    value: "${pw.result}"
  gen_fail:
    type: local.thing
    count: '${var.mode == "generated" ? 1 : 0}'
    name: "pw-${pw.result}"
    fail: true
  slow:
    type: local.thing
    count: '${var.mode == "generated" ? 1 : 0}'
    name: slow
    delay: 1.5
    depends_on: [gen_echo, db_gen]
  held:
    type: local.thing
    count: '${var.mode == "crash" ? 1 : 0}'
    name: "held-${var.token}"
    settle: 3
  conv:
    type: local.thing
    count: '${var.mode == "convert" ? 1 : 0}'
    name: '${tonumber(var.token)}'
  keyed:
    type: local.thing
    for_each: '${var.mode == "key" ? [var.token] : []}'
    name: k
  imp:
    type: random.password
    count: '${var.mode == "import" ? 1 : 0}'
    length: 15
  db:
    type: aws.db_instance
    identifier: sweep
    engine: postgres
    instance_class: db.t3.micro
    username: app
    password: "${var.db_pw}"
  db_gen:
    type: aws.db_instance
    identifier: sweepgen
    engine: postgres
    instance_class: db.t3.micro
    username: app
    password: "${pw.result}"
outputs:
  token: { value: "${var.token}", sensitive: true }
  cred_a: { value: '${per["a"].name}' }
  pw: { value: "${pw.result}" }
  names: { value: "${cnt[*].name}" }
  db: { value: "${db.endpoint}" }
YAML
overlay() { # DB-PASSWORD PASSWORD-LENGTH
  cat >s/dev.yaml <<YAML
provider: {region: us-east-1, endpoint: "http://127.0.0.1:$PORT"}
variables:
  token: "$TOKEN"
  creds: { a: "$CRED_A", b: "$CRED_B" }
  db_pw: "$1"
  pw_len: $2
YAML
}
overlay "$DBPW1" 24
# block_has ADDR REGEX DESC: the plan's block of ADDR (from "# ADDR will"
# to the blank line after it) has a line matching REGEX
block_has() {
  awk -v a="# $1 " 'index($0, a) { on = 1 } on && /^$/ { exit } on' "$WORK/out" | grep -Eq -- "$2" && pass ||
    { fail "$3"; sed 's/^/#   out: /' "$WORK/out" | head -80; }
}
line_of() { grep -n -- "$1" s/stack.yaml | head -1 | cut -d: -f1; }

# --- before anything exists
sweep validate -C s -e dev
expect_rc 0 "validate"
sweep plan -C s -e dev
expect_rc 0 "plan"
out_has '# per["a"] will be created' "the for_each instance is in the plan"
block_has 'per["a"]' 'name *= \(sensitive\)' "plan: each.value is sensitive in per[\"a\"]"
block_has 'per_user' 'name *= \(sensitive\)' "plan: a property read from per[\"a\"] is sensitive"
block_has 'cnt[1]' 'name *= \(sensitive\)' "plan: a count instance's name made by functions of a secret"
block_has 'gen_echo' 'value *= \(sensitive\)' "plan: a property read from random.password's result"
sweep plan -C s -e dev --json
expect_rc 0 "plan --json"
check "plan --json marks per[\"a\"].name sensitive" python3 -c "
import json; L = [json.loads(l) for l in open('$WORK/out')]
c = [o for o in L if o['type'] == 'planned_change' and o['resource']['address'] == 'per[\"a\"]'][0]
a = [x for x in c['changes'] if x['attribute'] == 'name'][0]
assert a['sensitive'] and a['after'] == '(sensitive)', a"
sweep plan -C s -e dev -out "$LOGS/first.plan"
expect_rc 0 "plan -out"

# a function's error quoting a secret: the final error line is redacted
sweep plan -C s -e dev --var mode=convert
expect_rc 1 "tonumber() of a secret"
err_has "cairn: error: s/stack.yaml:$(line_of tonumber):" "the error names the place"
err_has 'tonumber(): cannot convert "(sensitive)" to a number' "the value is redacted"
# a secret as a for_each key is refused where the for_each is
sweep plan -C s -e dev --var mode=key
expect_rc 1 "a sensitive for_each key"
err_has "cairn: error: s/stack.yaml:$(line_of 'mode == "key"'):" "the refusal names the for_each"
err_has "for_each of 'keyed' uses a sensitive value as an instance key" "says why"

# --- the saved plan, applied
sweep apply "$LOGS/first.plan"
expect_rc 0 "apply the saved plan"
err_has "echo: warn: creating with (sensitive)" "the module's log line is redacted"
eq "$(sim_resources | jq '[.resources[] | select(.type == "rds:db-instance")] | length')" "2" "both databases in the sim"
show_pw() { "$CAIRN" state show -C s -e dev pw --show-sensitive 2>&1 </dev/null | sed -n 's/^ *result *= "\(.*\)"$/\1/p'; }
GEN1=$(show_pw)
eq "${#GEN1}" "24" "the generated password, shown on purpose"

# --- a new password is made, and a create that fails with it in its
# message runs in the same apply; the database that uses it gets it
overlay "$DBPW1" 25
WATCH=1 sweep apply -C s -e dev --auto-approve --var mode=generated
expect_rc 1 "apply with a failing create"
check "the state files were copied during the apply ($WATCHED times)" test "$WATCHED" -ge 3
sqlite_only "no WAL file" &&
  check "with its WAL" test -n "$(find "$LOGS" -path '*during*' -name state.db-wal -size +0 | head -1)"
err_has 'gen_fail[0]: failed: ' "the live failure line"
err_has 'refusing to create (sensitive)' "the live line redacts the value made in this apply"
out_has '  failed:  gen_fail[0]: ' "the summary's failure line"
out_has 'refusing to create (sensitive)' "the summary redacts it"
err_has "gen_echo: warn: creating with (sensitive)" "and with a value made in this apply"
hist_ok "the failed revision's summary is redacted" \
  "H[0]['status'] == 'failed' and H[0]['summary']['failed'][0]['error'].endswith('refusing to create (sensitive)')"
sweep state history -C s -e dev --json
sweep state history -C s -e dev
GEN2=$(show_pw)
eq "${#GEN2}" "25" "the new generated password"
# the failed create left its intent: the next apply reconciles it
sweep apply -C s -e dev --auto-approve -v
expect_rc 0 "apply -v"
sweep plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged"

# --- a create killed after the cloud made the object, before the state
# recorded it: the next apply recovers it, sealed like any other
"$CAIRN" apply -C s -e dev --auto-approve --var mode=crash >"$LOGS/crash.out" 2>"$LOGS/crash.err" </dev/null &
A=$!
BG_PIDS+=("$A")
# the object is written, then its create settles 3 s before answering: the
# kill comes in that time, once the object is seen
held_made() { [ -n "$(grep -l held s/cloud/* 2>/dev/null)" ]; }
wait_until 60 "the crash apply made held[0] in the cloud" held_made
kill -9 "$A"; wait "$A" 2>/dev/null
eq "$(state_sql s "select count(*) from intents where address='held[0]'")" "1" "killed with the create's intent pending"
mkdir -p "$LOGS/crash.state" # the state with the intent pending is swept too
state_bytes s >"$LOGS/crash.state/state.bytes"
sweep apply -C s -e dev --auto-approve --var mode=crash
expect_rc 0 "apply after the kill"
err_has "held[0]: recovered the object an interrupted run created" "recovered"
eq "$(state_sql s "select sensitive from resources where address='held[0]'")" '["name"]' "the recovered name is sealed"

# --- reading it back
sweep output -C s -e dev
expect_rc 0 "output"
check "outputs reading secrets are (sensitive)" sh -c "grep -Eq '^ *cred_a += \(sensitive\)' '$WORK/out' && grep -Eq '^ *pw += \(sensitive\)' '$WORK/out' && grep -Eq '^ *names += \(sensitive\)' '$WORK/out' && grep -Eq '^ *token += \(sensitive\)' '$WORK/out'"
sweep output -C s -e dev --json
sweep output -C s -e dev token
expect_rc 1 "a sensitive output without --show-sensitive"
sweep state list -C s -e dev
for a in pw tok 'per["a"]' 'per["b"]' per_user 'cnt[0]' 'cnt[1]' echo gen_echo db db_gen; do
  sweep state show -C s -e dev "$a"
  expect_rc 0 "state show $a"
done
eq "$(state_sql s "select sensitive from resources where address='per[\"a\"]'")" '["name"]' "per[\"a\"].name is sealed"
eq "$(state_sql s "select sensitive from resources where address='per_user'")" '["name"]' "a property read from each.value elsewhere is sealed"
sweep graph -C s -e dev
# a real secret that went in is shown when asked for, so the sweep can see one
run output -C s -e dev token --show-sensitive
out_has "$TOKEN" "--show-sensitive prints it"
cp "$WORK/out" "$WORK/shown_token"

# --- an update of the RDS password
overlay "$DBPW2" 25
sweep plan -C s -e dev
expect_rc 0 "plan the password change"
out_has "~ password" "the password changes"
check "and is hidden" grep -q 'password *= (sensitive) -> (sensitive)' "$WORK/out"
sweep apply -C s -e dev --auto-approve
expect_rc 0 "apply the password change"
check "ModifyDBInstance was called" grep -q ModifyDBInstance "$WORK/sim.log"

# --- a refresh that fails with the value in its message
touch s/fail-read
sweep plan -C s -e dev
expect_rc 1 "a failing refresh"
err_has "cairn: error: cannot refresh echo: " "the refresh error"
err_has "its value (sensitive) is bad" "redacted"
rm s/fail-read

# --- import of a password by its value
sweep import -C s -e dev --var mode=import 'imp[0]' "$IMPPW"
expect_rc 0 "import a password by its value"
out_has "Imported imp[0] (id (sensitive))" "the confirmation hides it"
sweep state show -C s -e dev 'imp[0]'
sweep plan -C s -e dev
out_has '# imp[0] will be destroyed' "the import is not in the configuration without mode=import"

# --- destroy: a delete that fails with the value in its message, then all
touch s/fail-delete
sweep destroy -C s -e dev --auto-approve
expect_rc 1 "a failing delete"
err_has "echo: failed: " "the live line"
err_has "holding (sensitive)" "redacted"
out_has "holding (sensitive)" "the summary, redacted"
rm s/fail-delete
sweep destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
sweep state history -C s -e dev --json
eq "$(sim_resources | jq '[.resources[] | select(.type == "rds:db-instance")] | length')" "0" "the databases are gone"

# --- the sweep
n_out=$(find "$LOGS" -name '*.out' | wc -l)
check "the sweep has the output of $n_out commands" test "$n_out" -ge 30
# (on SQLite the six commands before the first apply have no state file yet)
check "the state was copied after each command" test "$(find "$LOGS" -path '*.state/state.bytes' -size +0 | wc -l)" -ge "$((n_out - 6))"
check "the sim's database and its WAL exist" test -s "$WORK/sim.db" -a -e "$WORK/sim.db-wal"
check "the sim logged the requests" grep -q CreateDBInstance "$WORK/sim.log"
# it finds what is there: the overlay holds the values, and --show-sensitive printed them
check "the sweep finds the secrets where they belong" test "$(hits s/dev.yaml "$WORK/shown_token" | wc -l)" -eq 2
leaks=$(hits "$LOGS" s/.cairn "$WORK/sim.log" "$WORK"/sim.db*)
if [ -z "$leaks" ]; then pass; else
  fail "secrets found in $(echo "$leaks" | wc -l) files"
  for f in $leaks; do # the file, the command that made it, which secret
    rel=${f#"$LOGS"/}; cmd=$(cat "$CMDS/${rel%%.*}" 2>/dev/null)
    secrets | while IFS= read -r x; do
      grep -aqF -- "$x" "$f" && echo "#   $f (cairn $cmd) holds the secret ${x:0:6}..."
    done
  done | sort | head -60
fi
# the sweep reads every table of the state as stored: a secret written in
# plain text into the history (a revision's row) and into a pending intent
# is found in the copy state_bytes makes (after the sweep above: on SQLite
# the bytes may stay in the file's free pages once taken out again)
WHO=$(state_sql s "select who from revisions where id = (select min(id) from revisions)")
state_sql s "update revisions set who = '$DBPW2' where id = (select min(id) from revisions)"
state_sql s "insert into intents (env, rev, address, type, op, payload, started_at) values ('dev', 1, 'planted', 'local.echo', 'create', '{\"v\": \"$TOKEN\"}', 0)"
mkdir -p "$WORK/planted"
state_bytes s >"$WORK/planted/state.bytes"
check "a secret planted in the history is found in the state" grep -aqF -- "$DBPW2" "$WORK/planted/state.bytes"
check "a secret planted in an intent is found in the state" grep -aqF -- "$TOKEN" "$WORK/planted/state.bytes"
check "the sweep reports it" test "$(hits "$WORK/planted")" = "$WORK/planted/state.bytes"
if [ "$STATE_BACKEND" = pg ]; then # every table of the schema, with its rows
  tables=$(state_sql s "select table_name from information_schema.tables where table_schema = current_schema() order by 1")
  check "the schema has the state's tables" test "$(echo "$tables" | wc -w)" -ge 10
  for t in $tables; do
    grep -q "^COPY $(state_schema s)\.$t " "$WORK/planted/state.bytes" && pass || fail "the dump lacks the rows of table $t"
  done
fi
state_sql s "update revisions set who = '${WHO//\'/\'\'}' where id = (select min(id) from revisions)"
state_sql s "delete from intents where address = 'planted'"
done_testing
