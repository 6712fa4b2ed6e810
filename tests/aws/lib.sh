# lib.sh - helpers for the AWS module tests: the CLI test helpers
# (tests/cli/lib.sh) plus a `cairn sim` of the test's own, stopped by PID
# on exit. Usage: . "$(dirname "$0")/lib.sh" "$@"   (first argument: cairn)
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../cli" && pwd)/lib.sh" "$@"
SIM_PID=
PORT=
SIM_KEY=AKIDCAIRNSIMEXAMPLE
SIM_SECRET=cairn-sim-secret-key-do-not-use-in-prod

# start_sim [sim options...]: a fresh sim on a free port; its request log
# (with --log) goes to $WORK/sim.log
start_sim() {
  stop_sim
  : >"$WORK/sim.out"
  "$CAIRN" sim --listen 127.0.0.1:0 "$@" >"$WORK/sim.out" 2>"$WORK/sim.log" &
  SIM_PID=$!
  BG_PIDS+=("$SIM_PID")
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/sim.out" | head -1)
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "Bail out! cairn sim did not start"; cat "$WORK/sim.log"; exit 1
}
# restart_sim [options]: the same cloud state? No: the sim keeps state in
# a database only with --db; pass --db FILE to keep it across restarts.
stop_sim() {
  # (CONT: a sim a test stopped with SIGSTOP still ends)
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; kill -CONT "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; SIM_PID=; fi
}
trap 'stop_sim; cleanup' EXIT
sim_url() { echo "http://127.0.0.1:$PORT"; }

# ec2 ACTION [k=v...]: a signed EC2 Query call with curl, the XML on stdout
ec2() {
  local action=$1; shift
  local args=(--data-urlencode "Action=$action" --data-urlencode "Version=2016-11-15") kv
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  curl -s --aws-sigv4 "aws:amz:us-east-1:ec2" --user "$SIM_KEY:$SIM_SECRET" "${args[@]}" "$(sim_url)/"
}
# xml_val TAG: the first <TAG>value</TAG> of stdin
xml_val() { grep -o "<$1>[^<]*</$1>" | head -1 | sed "s/<[^>]*>//g"; }

sim_resources() { curl -s "$(sim_url)/_sim/resources"; }
sim_count() { sim_resources | jq '.resources | length'; }
sim_patch() { curl -s -X POST "$(sim_url)/_sim/resources/$1" -d "$2" >/dev/null; }
sim_delete() { curl -s -X DELETE "$(sim_url)/_sim/resources/$1" >/dev/null; }
# sim_fault JSON: add a fault rule (POST /_sim/faults); sim_faults_left: how many rules are still in force
sim_fault() { [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "$1" "$(sim_url)/_sim/faults")" = 200 ]; }
sim_faults_left() { curl -s "$(sim_url)/_sim/faults" | jq '.rules | length'; }
sim_faults_clear() { curl -s -o /dev/null -X DELETE "$(sim_url)/_sim/faults"; }
# objects carrying the tag cairn:address=ADDR
sim_count_addr() { sim_resources | jq --arg a "$1" '[.resources[] | select(.tags["cairn:address"] == $a)] | length'; }

# awsstack DIR: stack.yaml from stdin, dev.yaml pointing at the sim
awsstack() {
  mkdir -p "$1"
  cat >"$1/stack.yaml"
  printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"$1/dev.yaml"
}
state_id() { state_sql "$1" "select id from resources where env='dev' and address='$2'"; }
# modules_changed DIR: a copy of the built-in aws modules in DIR/aws whose
# source differs (aws/common.lua gains a comment); for CAIRN_MODULES_PATH
modules_changed() {
  mkdir -p "$1/aws"
  cp "$TESTS_DIR/../../modules/aws/"*.lua "$1/aws/"
  printf '\n-- changed\n' >>"$1/aws/common.lua"
}

# run_within SECS CMD...: run, but a cairn that has not finished within
# SECS seconds is killed and the test fails saying so (a hang -- a recovery
# waiting for ever -- fails fast instead of at meson's timeout); RC 124 then
run_within() {
  local secs=$1; shift
  timeout -k 5 "$secs" "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    RC=124
    fail "cairn $* did not finish within $secs s"
    sed 's/^/#   err: /' "$WORK/err" | tail -20
  fi
}

# ---- --json streams (json_stream.sh, env_json.sh) ---------------------------
# stream_ok DESCRIPTION PYTHON: stdout ($WORK/out) is a --json stream: every
# line a JSON object with @level, @message, @timestamp and type (strings),
# the first the version line, the last the summary (one of each, the
# summary's command the version's, its exit_code and status), timestamps in
# order; then the Python statements run with L (the objects), T (L by
# type), types (the type of each line, in order), idx(pred) (the indexes of
# the lines pred holds for) and env_line(o, name, base, action) (o is an
# environment line of that action: its environment); an AssertionError
# fails the check.
stream_ok() {
  if python3 - "$WORK/out" "$2" <<'PY'
import json, sys, re
L = []
for i, line in enumerate(open(sys.argv[1], encoding='ascii'), 1):
    o = json.loads(line)
    assert isinstance(o, dict), f"line {i} is not an object"
    for k in ('@level', '@message', '@timestamp', 'type'):
        assert k in o and isinstance(o[k], str), f"line {i} lacks {k}: {line}"
    assert o['@level'] in ('info', 'warn', 'error'), o
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z', o['@timestamp']), o['@timestamp']
    L.append(o)
assert L, "empty stream"
assert L[0]['type'] == 'version' and L[0]['stream'] == '1.0' and L[0]['cairn'], L[0]
assert L[-1]['type'] == 'summary' and L[-1]['command'] == L[0]['command'], L[-1]
assert isinstance(L[-1]['exit_code'], int) and L[-1]['status'] in ('ok', 'changes', 'error'), L[-1]
assert [o['type'] for o in L].count('summary') == 1 and [o['type'] for o in L].count('version') == 1
assert [o['@timestamp'] for o in L] == sorted(o['@timestamp'] for o in L), "timestamps out of order"
T = {}
for o in L:
    T.setdefault(o['type'], []).append(o)
types = [o['type'] for o in L]
def idx(pred):
    return [i for i, o in enumerate(L) if pred(o)]
def env_line(o, name, base, action):
    assert o['type'] == 'environment' and o['action'] == action, o
    e = o['environment']
    assert e['name'] == name and e['base'] == base, o
    assert e['expires_at'] is None or isinstance(e['expires_at'], int), o
    return e
exec(sys.argv[2])
PY
  then pass; else fail "$1"; sed 's/^/#   out: /' "$WORK/out" | head -40; sed 's/^/#   err: /' "$WORK/err" | head -10; fi
}
no_escape() { # DESCRIPTION FILE: no ANSI escape in FILE
  if grep -q $'\033' "$2"; then fail "$1: colour codes in $2"; else pass; fi
}

# pty_run CI-VALUE ANSWER ARGS...: cairn ARGS with stdin and stdout a pty
# (the only way to see that CI=true, not the missing terminal, is what
# stops the prompt); ANSWER typed at "Enter a value"; CI set to CI-VALUE
# (unset when empty), NO_COLOR unset. Output in $WORK/pty (or $PTY_OUT),
# exit code in $RC and as the status. With PTY_GATE=PATH, a cairn that holds
# its lock at the prompt: PATH.ready is made there, and ANSWER typed only
# once PATH.go exists (run it in the background).
pty_run() {
  python3 - "$CAIRN" "$@" >"${PTY_OUT:-$WORK/pty}" <<'PY'
import os, pty, sys, select, time
cairn, ci, answer, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
gate = os.environ.get('PTY_GATE')
env = dict(os.environ)
env.pop('NO_COLOR', None)
env.pop('CI', None)
if ci:
    env['CI'] = ci
pid, fd = pty.fork()
if pid == 0:
    os.execve(cairn, [cairn] + args, env)
out, sent, deadline = b'', False, time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and b'Enter a value' in out:
        if gate:
            open(gate + '.ready', 'w').close()
        if not gate or os.path.exists(gate + '.go'):
            os.write(fd, answer.encode() + b'\n')
            sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
PY
  RC=$?
  return "$RC"
}

# ---- objects held in the deleting state (deleting.sh, destroy_crash.sh) -----
# An asynchronous delete (RDS, ElastiCache, EKS) leaves its object deleting
# for a second or two in the sim. freeze makes that last: POST
# /_sim/resources/ID {"status": ...} drops the object's pending "gone";
# let_go ends it (DELETE /_sim/resources/ID, as its deletion finishing).

# freeze: every object being deleted stays so until the test lets it go;
# FROZEN: their ids, FROZEN_TYPES: their types (sorted, one a line),
# FROZEN_TYPE[ID]: the type of each
freeze() {
  local id status type
  FROZEN= FROZEN_TYPES=
  unset FROZEN_TYPE
  declare -gA FROZEN_TYPE=()
  while read -r id status type; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"status\": \"$status\"}" \
      "$(sim_url)/_sim/resources/$id")" = 200 ] || continue # gone meanwhile
    FROZEN+="$id "
    FROZEN_TYPES+="$type "
    FROZEN_TYPE[$id]=$type
  done < <(sim_resources | jq -r '.resources[] | select((.status // "") | ascii_downcase == "deleting")
    | "\(.id) \(.status) \(.type)"')
  FROZEN_TYPES=$(echo $FROZEN_TYPES | tr ' ' '\n' | sort -u)
}
# hold_deleting ID: when the sim object ID is being deleted, make that last
# as freeze does, but at once, in the poll that sees its delete accepted,
# not after a stop and a search of everything (the sim's deleting lasts 1 to
# 1.5 s); status 0: held, 1: not being deleted (yet), 2: gone
hold_deleting() {
  local status
  status=$(curl -s -f "$(sim_url)/_sim/resources/$1" | jq -r '.status // ""')
  [ -n "$status" ] || return 2
  [ "$(echo "$status" | tr '[:upper:]' '[:lower:]')" = deleting ] || return 1
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"status\": \"$status\"}" \
    "$(sim_url)/_sim/resources/$1")" = 200 ] || return 2 # gone meanwhile
}
# sim_status ID: the sim object's status, lower case ("" when it is gone)
sim_status() { sim_resources | jq -r --arg i "$1" '.resources[] | select(.id == $i) | .status | ascii_downcase'; }

# stop_destroy_when READY DESTROY-ARGS...: start `cairn destroy ARGS`
# (output in $WORK/bg.out), poll READY (a command, every 0.02 s, at most
# 30 s or until the destroy ends), then stop the destroy at once, freeze
# what it left deleting, and kill -9 it
stop_destroy_when() {
  local ready=$1 pid i
  shift
  "$CAIRN" destroy "$@" >"$WORK/bg.out" 2>&1 </dev/null &
  pid=$!
  BG_PIDS+=("$pid")
  for i in $(seq 1 1500); do
    $ready && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -STOP "$pid" 2>/dev/null
  freeze
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}

# run_letting_go SECS READY ARGS...: run `cairn ARGS` (output in $WORK/out
# and $WORK/err) while objects are frozen; let each frozen object go once
# `READY ID` succeeds (polled every 0.02 s while cairn runs), the rest
# after SECS seconds or once cairn has ended; cairn is killed after
# RUN_LIMIT seconds (default 90), saying so on $WORK/err. RC: its exit
# status; UNREADY: the ids let go without READY having succeeded.
run_letting_go() {
  local secs=$1 ready=$2 pid i id left next
  shift 2
  "$CAIRN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null &
  pid=$!
  BG_PIDS+=("$pid")
  left=$FROZEN
  for i in $(seq 1 $((secs * 50))); do
    kill -0 "$pid" 2>/dev/null || break
    next=
    for id in $left; do
      if $ready "$id"; then sim_delete "$id"; else next+="$id "; fi
    done
    left=$next
    [ -z "$left" ] && break
    sleep 0.02
  done
  for id in $left; do sim_delete "$id"; done
  UNREADY=${left% }
  for i in $(seq 1 $((${RUN_LIMIT:-90} * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    echo "# cairn $1 still running after ${RUN_LIMIT:-90} s: killed" >>"$WORK/err"
  fi
  wait "$pid"
  RC=$?
}
