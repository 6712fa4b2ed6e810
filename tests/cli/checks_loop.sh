#!/usr/bin/env bash
# Health checks run in the event loop (docs/guardrails.md): two resources'
# checks that each take about 2 s to pass run at the same time (each had
# begun before any passed), and so do two of the stack's checks, the
# instances of a rolling batch and two checks of one resource; a SIGTERM in
# the middle of a check's deadline ends cairn at once (within 2 s, the exit
# of a sanitizer build included), with the lock released and the documented
# exit 1 "interrupted by SIGTERM"; a check whose lock was taken away
# (force-unlock) stops at once.
# The checks ask a small HTTP server the test runs (stopped by PID): a path
# answers 503 until 2 s after its first request, then 200; a path that
# begins /never is always 503. It logs each request to $WORK/http.log:
# "TIME PATH STATUS" (TIME in seconds, its own monotonic clock).
. "$(dirname "$0")/lib.sh" "$@"

cat >"$WORK/slow.py" <<'PY'
import http.server, sys, threading, time
first = {}
mu = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with mu:
            now = time.monotonic()
            t0 = first.setdefault(self.path, now)
            ok = not self.path.startswith("/never") and now - t0 >= 2.0
            # appended per request: the test may empty the file between runs
            with open(sys.argv[1], "a") as f:
                f.write("%.3f %s %d\n" % (now, self.path, 200 if ok else 503))
        body = b"ok" if ok else b"not yet"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 -u "$WORK/slow.py" "$WORK/http.log" >"$WORK/http.port" 2>"$WORK/http.err" &
HTTP_PID=$!
BG_PIDS+=("$HTTP_PID")
for i in $(seq 1 100); do HP=$(head -1 "$WORK/http.port"); [ -n "$HP" ] && break; sleep 0.05; done
[ -n "$HP" ] || { echo "Bail out! the HTTP server did not start"; cat "$WORK/http.err"; exit 1; }
U="http://127.0.0.1:$HP"
# together DESCRIPTION PATH...: the checks on these paths ran at the same
# time: each path's first request came before any of them was answered 200
# (before any of their checks passed). Checks run one after another would
# have a later one's first request after an earlier one's 200.
together() {
  local d=$1; shift
  if python3 - "$WORK/http.log" "$@" <<'PY'
import sys
first, ok = {}, {}
for line in open(sys.argv[1]):
    t, p, st = line.split()
    first.setdefault(p, float(t))
    if st == "200":
        ok.setdefault(p, float(t))
paths = sys.argv[2:]
lost = [p for p in paths if p not in first or p not in ok]
if lost:
    print("# no request, or no 200, for", " ".join(lost))
    sys.exit(1)
t0 = min(first[p] for p in paths)
for p in paths:
    print("#   %s: first asked at +%.2f s, passed at +%.2f s" % (p, first[p] - t0, ok[p] - t0))
sys.exit(0 if max(first[p] for p in paths) < min(ok[p] for p in paths) else 1)
PY
  then pass; else fail "$d: not all begun before one passed"; fi
}

# --- two resources' checks at the same time -------------------------------------
mkstack s <<YAML
resources:
  a:
    type: null.resource
    checks:
      - { name: up, http: { url: "$U/a" }, retries: 50, interval: 0.1, deadline: 20s }
  b:
    type: null.resource
    checks:
      - { name: up, http: { url: "$U/b" }, retries: 50, interval: 0.1, deadline: 20s }
YAML
T0=$(date +%s%N)
: >"$WORK/http.log"
run apply -C s -e dev --auto-approve
MS=$(ms_since "$T0")
expect_rc 0 "both resources applied and checked"
out_has "ok    a: up (http $U/a" "a's check passed"
out_has "ok    b: up (http $U/b" "b's check passed"
echo "# two resources' checks of 2 s each: ${MS} ms"
[ "$MS" -ge 1900 ] && pass || fail "the checks passed too soon (${MS} ms): the server answers 503 for 2 s"
together "two resources' checks" /a /b

# --- the stack's checks at the same time --------------------------------------------
mkstack s <<YAML
resources:
  a: { type: null.resource }
checks:
  - { name: c, http: { url: "$U/c" }, retries: 50, interval: 0.1, deadline: 20s }
  - { name: d, http: { url: "$U/d" }, retries: 50, interval: 0.1, deadline: 20s }
YAML
T0=$(date +%s%N)
: >"$WORK/http.log"
run apply -C s -e dev --auto-approve
MS=$(ms_since "$T0")
expect_rc 0 "the stack's checks passed"
out_has "ok    c (http $U/c" "c passed"
out_has "ok    d (http $U/d" "d passed"
echo "# two stack checks of 2 s each: ${MS} ms"
together "two stack checks" /c /d

# --- a rolling batch of three instances, and two checks of one resource --------------
mkstack s <<YAML
resources:
  fleet:
    type: null.resource
    count: 3
    rollout: { batch: 3 }
    checks:
      - { name: up, http: { url: "$U/\${self.id}" }, retries: 50, interval: 0.1, deadline: 20s }
  one:
    type: null.resource
    checks:
      - { name: e, http: { url: "$U/e" }, retries: 50, interval: 0.1, deadline: 20s }
      - { name: f, http: { url: "$U/f" }, retries: 50, interval: 0.1, deadline: 20s }
YAML
T0=$(date +%s%N)
: >"$WORK/http.log"
run apply -C s -e dev --auto-approve
MS=$(ms_since "$T0")
expect_rc 0 "the batch and the resource checked"
out_has "ok    fleet[2]: up (http $U/" "the batch's third instance passed"
out_has "ok    one: f (http $U/f" "one's second check passed"
echo "# a batch of three and a resource with two checks, 2 s each: ${MS} ms"
together "a batch of three and a resource with two checks" \
  "/$(state_attr s 'fleet[0]' .id)" "/$(state_attr s 'fleet[1]' .id)" "/$(state_attr s 'fleet[2]' .id)" /e /f

# --- a stack's own module with a status function ---------------------------------
mkdir -p s/modules/test
cat >s/modules/test/svc.lua <<'LUA'
return {
  type = "test.svc",
  schema = {
    url = { type = "string", required = true },
    mode = { type = "string", default = "http" },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p) return { id = "svc-1", url = p.url, mode = p.mode } end,
  read = function(ctx, id, attrs) return attrs end,
  update = function(ctx, id, old, new) return { id = id, url = new.url, mode = new.mode } end,
  delete = function(ctx, id, attrs) end,
  -- asks the service (in the loop, like any module request)
  status = function(ctx, id, attrs)
    if attrs.mode == "error" then error("the service API is down") end
    -- never returns; a loop of few instructions that each take long (a
    -- 100 KB string made each time): its deadline, not the module's
    -- 200M-instruction limit, stops it, however fast the machine
    if attrs.mode == "spin" then local s while true do s = string.rep("x", 100000) end end
    local r = cairn.http.request({ url = attrs.url })
    return { ok = r.status == 200, status = tostring(r.status) }
  end,
}
LUA
svc_stack() { # URL MODE DEADLINE
  cat >s/stack.yaml <<YAML
resources:
  svc:
    type: test.svc
    url: "$1"
    mode: $2
    checks:
      - { name: up, module: {}, retries: 50, interval: 0.1, deadline: $3 }
YAML
}
svc_stack "$U/g" http 20s
run apply -C s -e dev --auto-approve
expect_rc 0 "a stack module's status: passes once the service answers 200"
out_has "ok    svc: up (module svc-1," "the object's id"
svc_stack "$U/g" error 3s
run apply -C s -e dev --auto-approve
expect_rc 6 "a status function that fails"
err_has "health check up of svc failed:" "names the check"
err_has "svc.lua:14: the service API is down" "the module's error, with its file and line"
svc_stack "$U/g" spin 1s
T0=$(date +%s%N)
run apply -C s -e dev --auto-approve
MS=$(ms_since "$T0")
expect_rc 6 "a status function that never returns"
[ "$MS" -lt 8000 ] && pass || fail "a status function that never returns held the apply ${MS} ms"
err_has "health check up of svc failed: the module's status function did not answer within" "fails the check: its attempt's time"

# --- SIGTERM during a check's deadline ----------------------------------------------
for where in resource stack; do
  if [ $where = resource ]; then
    mkstack s <<YAML
resources:
  n:
    type: null.resource
    triggers: { v: "2" }
    checks:
      - { name: slow, http: { url: "$U/never-$where" }, retries: 100, interval: 5s, deadline: 10m }
YAML
  else
    mkstack s <<YAML
resources:
  a: { type: null.resource }
checks:
  - { name: slow, http: { url: "$U/never-$where" }, retries: 100, interval: 5s, deadline: 10m }
YAML
  fi
  # sent half a second after the check's first attempt (the server saw
  # it): in its 5 s wait for the next
  stop_once "grep -q ' /never-$where ' '$WORK/http.log'" 0.5 TERM apply -C s -e dev --auto-approve
  echo "# SIGTERM during a $where check: out after ${ELAPSED_MS} ms"
  # not the check's 5 s interval nor its 10 min deadline; 2 s leaves room
  # for a sanitizer build's exit on a loaded machine
  [ "$ELAPSED_MS" -lt 2000 ] && pass || fail "SIGTERM during a $where check: cairn took ${ELAPSED_MS} ms to stop"
  expect_rc 1 "a $where check interrupted"
  err_has "interrupted by SIGTERM" "says why ($where)"
  run lock status -C s -e dev
  out_has "is not locked" "the lock is released ($where)"
done

# --- the lock taken away during a long check: the check stops at its next attempt
mkstack s <<YAML
resources:
  a:
    type: null.resource
    triggers: { v: "3" }
    checks:
      - { name: slow, http: { url: "$U/never-lock" }, retries: 100, interval: 0.2, deadline: 10m }
YAML
CAIRN_LOCK_LEASE=3 "$CAIRN" apply -C s -e dev --auto-approve >"$WORK/a.out" 2>"$WORK/a.err" </dev/null & PID=$!
BG_PIDS+=("$PID")
# once the check is under way (the server saw its first attempt; the apply
# holds the lock then)
wait_until 60 "the check began" grep -q ' /never-lock ' "$WORK/http.log"
run lock status -C s -e dev
out_has "is locked" "the apply holds the lock during its check"
run lock force-unlock -C s -e dev
expect_rc 0 "force-unlock during the check"
T0=$(date +%s%N)
wait "$PID"; RC=$?
MS=$(ms_since "$T0")
[ "$RC" -ne 0 ] && pass || fail "the apply whose lock was taken should fail"
[ "$MS" -lt 2500 ] && pass || fail "the check went on ${MS} ms after its lock was taken"
check "it says it lost the lock" grep -q "lost the lock of environment 'dev'" "$WORK/a.err"

kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null
done_testing
