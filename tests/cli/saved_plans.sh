#!/usr/bin/env bash
# Saved plans are bound to their own content (a MAC keyed by the state key),
# the configuration and the state: an edited plan, one without its MAC, one
# made with another key, one made before an interrupted run are refused with
# a message saying which, exit 1, nothing applied, the state untouched.
# Files cairn reads or writes must be regular: -out onto a symlink, a FIFO,
# a device or a directory is refused and leaves it alone; a FIFO given as the
# stack, an overlay, a plan file or file()'s argument is refused at once
# (every such run is under `timeout 10`, so a regression fails, not hangs).
. "$(dirname "$0")/lib.sh" "$@"

# run with a bound: exit 124 if cairn hangs
run_t() {
  timeout 10 "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
}
# edit JSON FILE with a Python expression on d (the document)
edit() { # FILE PYTHON-STATEMENTS
  python3 -c "import json,sys; d=json.load(open('$1')); $2; json.dump(d, open('$1','w'), indent=1)"
}
objects() { ls "$1/cloud" 2>/dev/null | wc -l; }
serial() { state_sql "$1" "select serial from envs where name='dev'"; }
rows() { state_sql "$1" "select count(*) from resources"; }

mkstack s <<'YAML'
resources:
  a:
    type: local.thing
    name: a
    size: 1
  b:
    type: local.thing
    name: "b-${a.id}"
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "first apply"
eq "$(objects s)" "2" "two objects"
S0=$(serial s)
B0=$(state_sql s "select id from resources where address='b'")

# ---- a plan edited after it was made ----
run plan -C s -e dev -out orig.plan
expect_rc 0 "plan -out (no changes)"
eq "$(stat -c %a orig.plan)" "600" "plan file mode"
check "the plan carries a MAC" grep -Eq '"mac": "hmac-sha256:[0-9a-f]{64}"' orig.plan

# no-op -> create (of b, which nothing depends on): without the MAC this
# made a second object and orphaned the first
cp orig.plan create.plan
edit create.plan "[c.update(action='create') for c in d['resource_changes'] if c['address']=='b']"
check "the edit took" grep -q '"action": "create"' create.plan
run apply create.plan
expect_rc 1 "edited action refused"
err_has "the saved plan create.plan was edited since it was made, or made with another state key: its MAC does not match" "says edited"
eq "$(objects s)" "2" "no object created"
eq "$(rows s)" "2" "no state row added"
eq "$(state_sql s "select id from resources where address='b'")" "$B0" "b still the same object"
eq "$(serial s)" "$S0" "serial untouched"

# no-op -> replace
cp orig.plan replace.plan
edit replace.plan "[c.update(action='replace') for c in d['resource_changes'] if c['address']=='b']"
run apply replace.plan
expect_rc 1 "edited action (replace) refused"
err_has "replace.plan was edited" "says edited"
eq "$(state_sql s "select id from resources where address='b'")" "$B0" "b not replaced"
eq "$(objects s)" "2" "no object created"

# a changed attribute value in a plan with a real update
sed -i 's/size: 1/size: 2/' s/stack.yaml
run plan -C s -e dev -out upd.plan
expect_rc 0 "plan -out with an update"
check "the plan updates a" python3 -c "import json; d=json.load(open('upd.plan')); assert [c['action'] for c in d['resource_changes'] if c['address']=='a']==['update']"
cp upd.plan value.plan
edit value.plan "[ch.update(after=7) for c in d['resource_changes'] for ch in c['changes'] if ch['attribute']=='size']"
run apply value.plan
expect_rc 1 "edited attribute value refused"
err_has "value.plan was edited since it was made" "says edited"
eq "$(state_attr s a .size)" "1" "size not changed"
eq "$(serial s)" "$S0" "serial untouched"

# a changed serial (to make a stale plan look fresh) is an edit too
cp upd.plan serial.plan
edit serial.plan "d['state_serial'] += 1"
run apply serial.plan
expect_rc 1 "edited serial refused"
err_has "serial.plan was edited" "says edited"

# the MAC removed
cp upd.plan nomac.plan
edit nomac.plan "del d['mac']"
run apply nomac.plan
expect_rc 1 "plan without a MAC refused"
err_has "the saved plan nomac.plan has no \"mac\"" "says no MAC"
eq "$(serial s)" "$S0" "serial untouched"

# a MAC of the wrong shape
cp upd.plan badmac.plan
edit badmac.plan "d['mac']='hmac-sha256:00'"
run apply badmac.plan
expect_rc 1 "a short MAC refused"
err_has "badmac.plan was edited" "says edited"

# duplicate keys (which one would a reader believe?)
python3 -c "t=open('upd.plan').read(); open('dup.plan','w').write(t.replace('{', '{\"state_serial\": 99,', 1))"
run apply dup.plan
expect_rc 1 "duplicate keys refused"
check "names the place and says duplicate" grep -Eq 'dup.plan:[0-9]+:[0-9]+: not a cairn plan file: duplicate object key' "$WORK/err"

# another state key: the key file replaced
sqlite_only "the key file (a state on PostgreSQL takes its key from CAIRN_STATE_KEY only)" && {
  cp s/.cairn/key key.saved
  head -c 32 /dev/urandom >s/.cairn/key
  run apply upd.plan
  expect_rc 1 "plan made with another key file refused"
  err_has "or made with another state key" "says another key"
  cp key.saved s/.cairn/key
}
# and $CAIRN_STATE_KEY (a fresh stack: nothing sealed to trip over first)
mkstack k <<'YAML'
resources:
  a:
    type: local.thing
    name: ka
YAML
CAIRN_STATE_KEY=one-passphrase run plan -C k -e dev -out k.plan
expect_rc 0 "plan -out with CAIRN_STATE_KEY"
check "no key file made when CAIRN_STATE_KEY is set" test ! -e k/.cairn/key
CAIRN_STATE_KEY=another-passphrase run apply k.plan
expect_rc 1 "applied with another CAIRN_STATE_KEY"
err_has "k.plan was edited since it was made, or made with another state key" "says another key"
eq "$(objects k)" "0" "nothing created"
run apply k.plan
expect_rc 1 "applied with the key file instead of CAIRN_STATE_KEY"
eq "$(objects k)" "0" "still nothing created"
CAIRN_STATE_KEY=one-passphrase run apply k.plan
expect_rc 0 "the same key: applies"
eq "$(objects k)" "1" "created"

# re-indented, keys re-ordered: the same plan, it applies
python3 -c "import json; d=json.load(open('upd.plan')); json.dump(dict(reversed(list(d.items()))), open('reord.plan','w'))"
check "re-ordered on one line" test "$(wc -l <reord.plan)" -le 1
run apply reord.plan
expect_rc 0 "a re-ordered, re-indented plan applies"
out_has "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." "the saved update"
eq "$(state_attr s a .size)" "2" "size changed"
eq "$(objects s)" "2" "still two objects"

# the unchanged plan made before that apply is now stale (the state moved)
run apply upd.plan
expect_rc 1 "the same plan again"
err_has "the state of environment 'dev' changed since it was made" "says the state changed"
# the configuration changed
run plan -C s -e dev -out cfg.plan
echo "# a comment" >>s/stack.yaml
run apply cfg.plan
expect_rc 1 "config changed"
err_has "the configuration of environment 'dev'" "says the configuration changed"

# ---- a plan made before a run that was killed with an intent pending ----
mkstack p <<'YAML'
resources:
  slow:
    type: local.thing
    name: slow
    delay: 30
YAML
run plan -C p -e dev -out p.plan
expect_rc 0 "plan -out"
"$CAIRN" apply -C p -e dev --auto-approve >a.out 2>a.err </dev/null & A=$!
BG_PIDS+=("$A")
pending=0
for _ in $(seq 400); do
  pending=$( ! no_state p && state_sql p "select count(*) from intents" 2>/dev/null || echo 0)
  [ "${pending:-0}" -gt 0 ] && break
  sleep 0.05
done
kill -9 "$A" 2>/dev/null; wait "$A" 2>/dev/null
eq "$pending" "1" "the killed run left an intent pending"
P_SERIAL=$(serial p)
P_HIST=$(state_sql p "select count(*) from revisions")
run apply p.plan
expect_rc 1 "saved plan with a pending intent"
err_has "the saved plan is stale: an interrupted run left 1 pending operation(s) in environment 'dev'; recover them with 'cairn apply -e dev'" "says why and what to do"
eq "$(state_sql p "select count(*) from intents")" "1" "the intent is still pending"
eq "$(state_sql p "select count(*) from resources")" "0" "no resource recorded"
eq "$(serial p)" "$P_SERIAL" "serial untouched"
eq "$(state_sql p "select count(*) from revisions")" "$P_HIST" "no revision recorded"
eq "$(objects p)" "0" "nothing created"

# ---- plan -out onto things that are not regular files ----
mkdir t
echo "keep me" >t/target
ln -s target t/link
mkfifo t/fifo
mkdir t/dir
# a device: our own null device when we may make one (as root, a regression
# would replace the real /dev/null with a file, for every process on the
# machine), else /dev/null, which we cannot replace anyway
if mknod t/null c 1 3 2>/dev/null; then dev=t/null
elif [ ! -w /dev ]; then dev=/dev/null
else dev=; echo "# no device case: cannot mknod, and /dev is writable"; fi
specs=("t/link:a symbolic link" "t/fifo:a FIFO (named pipe)" "t/dir:a directory")
[ -n "$dev" ] && specs+=("$dev:a character device")
for spec in "${specs[@]}"; do
  path=${spec%%:*}; kind=${spec#*:}
  run_t plan -C s -e dev -out "$path"
  expect_rc 1 "-out onto $kind"
  err_has "cannot save the plan: refusing to write $path: it is $kind, not a regular file" "names $path and what it is"
  eq "$(wc -c <"$WORK/out")" "0" "refused before planning ($path)"
done
check "the symlink is still a symlink" test -L t/link
eq "$(cat t/target)" "keep me" "its target untouched"
check "the FIFO is still a FIFO" test -p t/fifo
check "the directory is still a directory" test -d t/dir
[ -z "$dev" ] || check "the device is still a device" test -c "$dev"
eq "$(ls -A t | grep -vx null)" "$(printf 'dir\nfifo\nlink\ntarget')" "no temporary file left"
# a regular file is replaced, atomically, 0600
echo old >t/plain
chmod 644 t/plain
run plan -C s -e dev -out t/plain
expect_rc 0 "-out over a regular file"
check "it is a plan now" grep -q '"format_version"' t/plain
eq "$(stat -c %a t/plain)" "600" "mode 0600"
eq "$(ls -A t | grep -vx null | wc -l)" "5" "no temporary file left"

# ---- FIFOs where cairn reads a file ----
mkdir f1 && mkfifo f1/stack.yaml && echo 'provider: {}' >f1/dev.yaml
run_t plan -C f1 -e dev
expect_rc 1 "FIFO as stack.yaml"
err_has "cannot read f1/stack.yaml: it is a FIFO (named pipe), not a regular file" "says so"
mkstack f2 <<'YAML'
resources:
  a: { type: local.thing, name: a }
YAML
rm f2/dev.yaml && mkfifo f2/dev.yaml
run_t plan -C f2 -e dev
expect_rc 1 "FIFO as the overlay"
err_has "cannot read f2/dev.yaml: it is a FIFO (named pipe), not a regular file" "says so"
mkfifo fifo.plan
run_t apply fifo.plan
expect_rc 1 "FIFO as the plan file"
err_has "cannot read plan file fifo.plan: it is a FIFO (named pipe), not a regular file" "says so"
run_t apply /dev/zero
expect_rc 1 "a device as the plan file"
err_has "cannot read plan file /dev/zero: it is a character device, not a regular file" "says so"
mkstack f3 <<'YAML'
resources:
  a:
    type: local.file
    path: out/x
    content: '${file("pipe")}'
YAML
mkfifo f3/pipe
run_t plan -C f3 -e dev
expect_rc 1 "FIFO as file()'s argument"
err_has "f3/stack.yaml:5:" "names the expression"
err_has "file(): cannot read f3/pipe: it is a FIFO (named pipe), not a regular file" "says so"
check "nothing created" test ! -e f3/out/x
# a symbolic link to a regular file is still read
mv f2/dev.yaml f2/dev.fifo && echo 'provider: {region: us-east-1}' >f2/real.yaml && ln -s real.yaml f2/dev.yaml
run_t plan -C f2 -e dev
expect_rc 0 "a symlinked overlay is read"
done_testing
