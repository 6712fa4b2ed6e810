#!/usr/bin/env bash
# The sandbox as a user meets it, with the real binary: a signal ends a run
# at once, even in the middle of a long wait or of a module that loops in
# an xpcall handler (operations abandoned with their intents kept, the lock
# released, exit 1 with a message; the next run recovers); deadlines from
# the stack's `timeouts`; a stack's own module gets no cairn.fs, and
# nothing reaches .cairn/; a module's log lines cannot drive the terminal.
. "$(dirname "$0")/lib.sh" "$@"

mkstack s <<'YAML'
resources:
  w:
    type: test.waiter
    name: first
    wait: 600
YAML
mkdir -p s/modules/test
# a stack module that waits (cairn.sleep in create, cairn.wait.poll in
# delete), like an RDS or ElastiCache module does for minutes
cat > s/modules/test/waiter.lua <<'LUA'
return {
  type = "test.waiter",
  schema = {
    name = { type = "string", required = true },
    wait = { type = "number", default = 0 },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    if p.wait > 0 then cairn.sleep(p.wait) end
    return { id = "w-" .. ctx.token }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function(ctx, id, attrs)
    -- gone only when the environment stops holding it
    cairn.wait.poll(function() return not ctx.provider.hold end,
                    { timeout = 86400, interval = 1, max_interval = 2, what = "the waiter to go" })
  end,
  recover = function(ctx, token, props) return nil end,
}
LUA

prompt() { # DESCRIPTION: the run stopped within 3 s of the signal
  [ "$ELAPSED_MS" -lt 3000 ] && pass || fail "$1: took ${ELAPSED_MS} ms after the signal"
}

# SIGTERM during a 10-minute sleep: out at once, intent kept, lock free
# (sent half a second after the create's intent is written: the create is
# then in its sleep, however slowly the machine got it there)
stop_when s "select count(*) from intents where address='w' and op='create'" 0.5 TERM apply -C s -e dev --auto-approve
prompt "SIGTERM during a create's sleep"
expect_rc 1 "interrupted apply"
err_has "interrupted by SIGTERM" "says why"
out_has "failed:  w: modules/test/waiter.lua:9: interrupted: create abandoned (its intent is kept for the next run)" \
  "the running create is listed as failed, where it waited, and why"
run lock status -C s -e dev
out_has "is not locked" "the lock is released"
eq "$(state_sql s "select count(*) from intents where address='w' and op='create'")" "1" "the create's intent is kept"
run state history -C s -e dev --limit 1
out_has "interrupted" "the revision says interrupted"
# the next run recovers the intent (the module finds nothing) and creates
sed -i 's/wait: 600/wait: 0/' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "apply after the interrupt"
eq "$(state_sql s "select count(*) from intents")" "0" "the intent is recovered"
eq "$(state_sql s "select count(*) from resources where address='w'")" "1" "and the object recorded"

# SIGTERM while a destroy polls (cairn.wait.poll) for something that never
# comes: the ElastiCache destroy that polled for 13 minutes under timeout
echo 'provider: {region: us-east-1, hold: true}' > s/dev.yaml
# (sent once this destroy has written its delete intent, then half a second
# into the poll, whose first interval is 1 s: a revision newer than any
# before it is the destroy's own)
R=$(state_sql s "select max(id) from revisions")
stop_when s "select count(*) from intents where address='w' and op='delete' and rev > $R" 0.5 TERM destroy -C s -e dev --auto-approve
prompt "SIGTERM during a delete's poll"
expect_rc 1 "interrupted destroy"
err_has "interrupted by SIGTERM" "says why"
run lock status -C s -e dev
out_has "is not locked" "the lock is released after the destroy"
eq "$(state_sql s "select count(*) from intents where address='w' and op='delete'")" "1" \
  "the delete's intent is kept (it may be under way)"
eq "$(state_sql s "select count(*) from resources where address='w'")" "1" "the object is still recorded"
# SIGINT (Ctrl-C) the same (the intent kept above is an older revision's:
# the condition waits for this destroy's own)
R=$(state_sql s "select max(id) from revisions")
stop_when s "select count(*) from intents where address='w' and op='delete' and rev > $R" 0.5 INT destroy -C s -e dev --auto-approve
prompt "SIGINT during a delete's poll"
expect_rc 1 "destroy interrupted by SIGINT"
err_has "interrupted by SIGINT" "says which signal"
# the next destroy recovers the intent (the object is still there) and deletes
echo 'provider: {region: us-east-1}' > s/dev.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "apply recovers the delete intent (the object is still there)"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(state_sql s "select count(*) from intents")" "0" "no intents left"
eq "$(state_sql s "select count(*) from resources")" "0" "nothing left"

# a module whose xpcall message handler loops: stopped by the instruction
# limit (before, Lua ran the handler with hooks off: for ever, deaf to
# SIGTERM, with the lock no longer renewed)
cat > s/modules/test/handler.lua <<'LUA'
return {
  type = "test.handler",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    xpcall(function() error("x") end, function() while true do end end)
    return { id = "h" }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  h:
    type: test.handler
YAML
timeout 60 "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?
expect_rc 1 "a looping message handler is stopped"
out_has "exceeded its instruction limit" "by the instruction limit"
# SIGTERM while it loops: sent once the create's intent is written (the
# handler runs right after; the loop above lasted about half a second of
# CPU before its limit), however slowly the machine starts cairn
before=$(state_sql s "select count(*) from intents where address='h'")
"$CAIRN" apply -C s -e dev --auto-approve >"$WORK/out" 2>"$WORK/err" </dev/null & pid=$!
BG_PIDS+=("$pid")
wait_until 60 "the create's intent is written" state_has s "select count(*) - $before from intents where address='h'"
kill -TERM "$pid"
wait "$pid"; RC=$?
prompt "SIGTERM while a message handler loops"
expect_rc 1 "interrupted while a message handler loops"
err_has "interrupted by SIGTERM" "says so"
run lock status -C s -e dev
out_has "is not locked" "the lock is released after a looping handler"

# deadlines from the stack: timeouts.create
cat > s/stack.yaml <<'YAML'
resources:
  slow:
    type: test.waiter
    name: slow
    wait: 600
    timeouts:
      create: 1s
YAML
T0=$(date +%s%N)
run apply -C s -e dev --auto-approve
T=$(( ($(date +%s%N) - T0) / 1000000 ))
expect_rc 1 "a create past its deadline"
[ "$T" -lt 6000 ] && pass || fail "the deadline of 1s took ${T} ms"
err_has "slow: failed: modules/test/waiter.lua:9: create did not finish within its deadline of 1s (timeouts.create; abandoned, its intent is kept for the next run)" "names the deadline and the place"
eq "$(state_sql s "select count(*) from intents where address='slow'")" "1" "its intent is kept"
run lock status -C s -e dev
out_has "is not locked" "the lock is released after a deadline"
# bad timeouts are errors at their place
cat > s/stack.yaml <<'YAML'
resources:
  slow:
    type: test.waiter
    name: slow
    timeouts:
      craete: 10m
YAML
run plan -C s -e dev
expect_rc 1 "unknown timeouts key"
err_has "stack.yaml:6:7: unknown timeouts key 'craete' (did you mean 'create'?)" "says where"
cat > s/stack.yaml <<'YAML'
resources:
  slow:
    type: test.waiter
    name: slow
    timeouts:
      delete: soon
YAML
run plan -C s -e dev
expect_rc 1 "a timeout that is not a duration"
err_has "stack.yaml:6:15: timeouts.delete must be a duration like \"30m\"" "says where and what"

# capabilities: a stack module that calls itself local.* gets no cairn.fs
mkdir -p s/.cairn # (on PostgreSQL nothing else is in it: the state is elsewhere)
printf 'the-state-key' > s/.cairn/key.test
mkdir -p s/modules/local
cat > s/modules/local/steal.lua <<'LUA'
return {
  type = "local.steal",
  schema = { id = { type = "string", computed = true }, got = { type = "string", computed = true } },
  create = function(ctx, p)
    return { id = "x", got = cairn.fs.read(ctx.base_dir .. "/.cairn/key.test") }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  steal:
    type: local.steal
YAML
run apply -C s -e dev --auto-approve
expect_rc 1 "a stack's local.* module has no cairn.fs"
err_has "steal: failed: modules/local/steal.lua:5: attempt to index a nil value (field 'fs')" "cairn.fs is nil"
out_lacks "the-state-key" "the key is not read"
# the built-in local.file cannot reach .cairn/, by path, '..' or symlink
ln -s .cairn s/sneaky
cat > s/stack.yaml <<'YAML'
resources:
  a:
    type: local.file
    path: .cairn/key.test
    content: overwritten
  b:
    type: local.file
    path: out/../.cairn/new
    content: x
  c:
    type: local.file
    path: sneaky/key.test
    content: overwritten
YAML
run apply -C s -e dev --auto-approve
expect_rc 1 "local.file into .cairn/"
# a path seen to lead into .cairn is refused before anything runs (the
# schema's local_path check); what gets past it (a symlink made later, a
# trusted module's own path) is stopped by cairn.fs: test_lua__fs_state_dir
err_has "stack.yaml:4:11: property 'path' of local.file: '.cairn/key.test' points into cairn's state directory" "says where and why"
sed -i '/^  a:/,/content: overwritten/d' s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 1 "local.file into .cairn/ through '..' or a symlink"
err_has "points into cairn's state directory" "'..' and a symlink into .cairn are seen through too"
eq "$(cat s/.cairn/key.test)" "the-state-key" "the file in .cairn/ is untouched"
[ ! -e s/.cairn/new ] && pass || fail "nothing new in .cairn/"

# a module's log line cannot drive the terminal
cat > s/modules/test/loud.lua <<'LUA'
return {
  type = "test.loud",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    cairn.log.warn("\27[2J\27]0;pwned\7red\rline\nnext\194\155x")
    return { id = "l" }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  l:
    type: test.loud
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "a loud module"
err_has 'l: warn: \x1b[2J\x1b]0;pwned\x07red\rline\nnext\xc2\x9bx' "control characters are escaped"
check "no escape byte reaches the terminal" bash -c "! grep -q \$'\\x1b' '$WORK/err'"
check "no bell either" bash -c "! grep -q \$'\\x07' '$WORK/err'"
# nor can its error message
cat > s/modules/test/rude.lua <<'LUA'
return {
  type = "test.rude",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p) error("\27[31mno\nway") end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA
cat > s/stack.yaml <<'YAML'
resources:
  r:
    type: test.rude
YAML
run apply -C s -e dev --auto-approve
expect_rc 1 "a rude module"
err_has 'r: failed: modules/test/rude.lua:4: \x1b[31mno\nway' "its error is escaped in the progress"
out_has 'r: modules/test/rude.lua:4: \x1b[31mno\nway' "and in the summary"
check "no escape byte in either" bash -c "! grep -q \$'\\x1b' '$WORK/err' '$WORK/out'"
done_testing
