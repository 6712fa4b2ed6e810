# tests/sim/query_helpers.sh - sourced by the sim's Query-service tests
# (rds.sh, elasticache.sh): a temporary directory, a `cairn sim` started on
# a free port (start/stop, state in $T/sim.db), signed requests with curl
# (call SERVICE BODY -> $STATUS and $T/body), XML checks through one python3
# (xq), and check helpers (want_eq, want_status, want_error, wait_for: polls
# "$SVC ACTION PARAMS" until PATH has VALUE, or until 404 with VALUE=gone).
# The caller sets CAIRN and SVC and defines a function named $SVC.
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

KEY=AKIDCAIRNSIMEXAMPLE
SECRET=cairn-sim-secret-key-do-not-use-in-prod
FAILS=0
CHECKS=0

# One python3 for the whole run (its start-up is slow): it reads
# "FILE<TAB>MODE<TAB>PATH" lines and answers the text of the first element at
# PATH (namespaces stripped, ElementTree path below any depth), all texts
# (-a) or a count (-c), then a line with a lone ASCII RS.
cat >"$T/xq.py" <<'EOF'
import sys, xml.etree.ElementTree as ET
for line in sys.stdin:
    f, mode, path = line.rstrip('\n').split('\t')
    out = []
    try:
        root = ET.parse(f).getroot()
        for e in root.iter():
            if '}' in e.tag: e.tag = e.tag.split('}', 1)[1]
        found = root.findall('.//' + path) if root.tag != path else [root]
        if mode == '-c': out = [str(len(found))]
        elif mode == '-a': out = [(e.text or '') for e in found]
        elif found: out = [found[0].text or '']
    except (ET.ParseError, SyntaxError, OSError):
        out = ['(unparseable)']
    sys.stdout.write(''.join(o + '\n' for o in out) + '\x1e\n')
    sys.stdout.flush()
EOF
coproc XQ { python3 -u "$T/xq.py"; }
# fixed descriptors: coproc ones are not inherited by pipeline subshells
exec 8>&"${XQ[1]}" 9<&"${XQ[0]}"

# start [SIM-OPTIONS...]
start() {
	: >"$T/out"
	"$CAIRN" sim --listen 127.0.0.1:0 --db "$T/sim.db" "$@" >"$T/out" 2>"$T/err" &
	PID=$!
	for _ in $(seq 100); do
		grep -q '^listening on' "$T/out" && break
		sleep 0.05
	done
	PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/out" | head -1)
	[ -n "$PORT" ] || { echo "FAIL: sim did not start"; cat "$T/err"; exit 1; }
	URL=http://127.0.0.1:$PORT/
}
# stop: SIGTERM, a clean exit, and no sanitizer report on its stderr
stop() {
	local rc=0
	kill "$PID"
	wait "$PID" 2>/dev/null || rc=$?
	PID=
	want_eq "$rc" 0 "sim exit status"
	if grep -qE 'Sanitizer|runtime error' "$T/err"; then
		fail "sanitizer report from the sim"
		head -60 "$T/err"
	else
		ok
	fi
}

# call SERVICE BODY: STATUS and $T/body
call() {
	STATUS=$(curl -s -o "$T/body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:$1" \
		--user "$KEY:$SECRET" "$URL" -d "$2")
}
ec2() { call ec2 "Action=$1&Version=2016-11-15${2:+&$2}"; }
xq() {
	local mode= line
	case "$1" in -c|-a) mode=$1; shift ;; esac
	printf '%s\t%s\t%s\n' "$T/body" "$mode" "$1" >&8
	while IFS= read -r line <&9; do
		[ "$line" = $'\x1e' ] && break
		printf '%s\n' "$line"
	done
}

ok() { CHECKS=$((CHECKS + 1)); }
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*"; sed 's/^/    /' "$T/body" | head -c 2000; echo; }
# want_eq GOT WANT WHAT
want_eq() { if [ "$1" = "$2" ]; then ok; else fail "$3: got '$1', want '$2'"; fi; }
want_status() { want_eq "$STATUS" "$1" "${2:-status}"; }
# want_error STATUS CODE WHAT
want_error() {
	want_eq "$STATUS" "$1" "$3 status"
	want_eq "$(xq Code)" "$2" "$3 code"
	want_eq "$(xq Type)" "Sender" "$3 type"
}
# wait_for ACTION PARAMS PATH VALUE: poll until PATH is VALUE (or gone with VALUE=gone)
wait_for() {
	local got=
	for _ in $(seq 100); do
		$SVC "$1" "$2"
		if [ "$4" = gone ]; then
			[ "$STATUS" = 404 ] && { ok; return; }
		else
			got=$(xq "$3")
			[ "$got" = "$4" ] && { ok; return; }
		fi
		sleep 0.1
	done
	fail "$1 $2: $3 never became $4 (last '$got', status $STATUS)"
}

