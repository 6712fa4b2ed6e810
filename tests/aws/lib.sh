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
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; SIM_PID=; fi
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
# objects carrying the tag cairn:address=ADDR
sim_count_addr() { sim_resources | jq --arg a "$1" '[.resources[] | select(.tags["cairn:address"] == $a)] | length'; }

# awsstack DIR: stack.yaml from stdin, dev.yaml pointing at the sim
awsstack() {
  mkdir -p "$1"
  cat >"$1/stack.yaml"
  printf 'provider: {region: us-east-1, endpoint: "http://127.0.0.1:%s"}\n' "$PORT" >"$1/dev.yaml"
}
state_id() { state_sql "$1" "select id from resources where env='dev' and address='$2'"; }

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
# wait_until SECS DESCRIPTION CMD...: poll CMD (every 0.05 s) until it
# succeeds; after SECS seconds the test fails with DESCRIPTION. Status 0/1.
wait_until() {
  local secs=$1 d=$2 end
  shift 2
  end=$(($(date +%s%N) + secs * 1000000000))
  until "$@"; do
    if [ "$(date +%s%N)" -ge "$end" ]; then fail "$d: not within $secs s"; return 1; fi
    sleep 0.05
  done
  pass
}
