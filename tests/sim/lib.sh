# lib.sh - helpers for the `cairn sim` tests (sourced by tests/sim/*.sh).
#
#   sim_start [ARGS...]   start the sim on a free loopback port; sets SIM_PID, SIM_URL
#   sim_stop              SIGTERM it and check that it exits cleanly
#   ec2 'Action=...'      signed EC2 Query POST; sets STATUS, body in $BODY_FILE
#   req SERVICE BODY      signed Query POST to another service scope
#   xml TAG               the text of every <TAG> in the last body, one per line
#   ok / fail / check_*   TAP output; `finish` exits non-zero on any failure
#   wait_until SECS DESC CMD...   poll CMD until it succeeds, SECS s at most
#
# The first argument of every test script is the sim binary.

set -u
SIM_BIN=${1:?usage: $0 CAIRN_BINARY}
AK=AKIDCAIRNSIMEXAMPLE
SK=cairn-sim-secret-key-do-not-use-in-prod
REGION=us-east-1
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/cairn-sim-test.XXXXXX")
BODY_FILE=$TMPD/body
HDR_FILE=$TMPD/headers
STATUS=0
SIM_PID=
SIM_URL=
T_N=0
T_FAIL=0

cleanup_all() {
	if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
		kill -TERM "$SIM_PID" 2>/dev/null
		wait "$SIM_PID" 2>/dev/null
	fi
	rm -rf "$TMPD"
}
trap cleanup_all EXIT

sim_start() {
	: > "$TMPD/sim.out"
	"$SIM_BIN" sim --listen 127.0.0.1:0 "$@" > "$TMPD/sim.out" 2> "$TMPD/sim.err" &
	SIM_PID=$!
	local i line
	for i in $(seq 1 100); do
		line=$(head -n1 "$TMPD/sim.out" 2>/dev/null)
		case "$line" in
		"listening on "*) SIM_URL="http://${line#listening on }"; return 0 ;;
		esac
		if ! kill -0 "$SIM_PID" 2>/dev/null; then
			echo "# sim failed to start:" >&2; sed 's/^/# /' "$TMPD/sim.err" >&2
			SIM_PID=; return 1
		fi
		sleep 0.05
	done
	echo "# sim did not print its address" >&2
	return 1
}

# sim_stop: SIGTERM, and a test that it exited 0 (under ASan: no leaks)
sim_stop() {
	local rc
	kill -TERM "$SIM_PID"
	wait "$SIM_PID"; rc=$?
	SIM_PID=
	if [ "$rc" -eq 0 ]; then ok "sim stopped cleanly"; else
		echo "# sim exit code $rc:"; tail -n 30 "$TMPD/sim.err" | sed 's/^/#   /'
		fail "sim stopped cleanly"
	fi
	return $rc
}

# req SERVICE BODY [curl args...]
req() {
	local svc=$1 body=$2; shift 2
	STATUS=$(curl -s -o "$BODY_FILE" -D "$HDR_FILE" -w '%{http_code}' \
		--aws-sigv4 "aws:amz:$REGION:$svc" --user "$AK:$SK" \
		-H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' \
		--data-binary "$body" "$@" "$SIM_URL/")
}

ec2() {
	local body=$1; shift
	req ec2 "$body&Version=2016-11-15" "$@"
}

body() { cat "$BODY_FILE"; }

# xml TAG: text of each element named TAG (namespace ignored), in order
xml() {
	python3 - "$BODY_FILE" "$1" <<'PY'
import signal, sys, xml.etree.ElementTree as ET
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
root = ET.parse(sys.argv[1]).getroot()
for e in root.iter():
    if e.tag.split('}')[-1] == sys.argv[2]:
        print(e.text or '')
PY
}

xml_count() { xml "$1" | wc -l | tr -d ' '; }

ok() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
fail() {
	T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"
	echo "# status $STATUS, body:"; sed 's/^/#   /' "$BODY_FILE" 2>/dev/null | head -c 2000; echo
}
check() { # check DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else echo "# expected '$2', got '$3'"; fail "$1"; fi
}
check_status() { check "$1: status" "$2" "$STATUS"; }
# check_ok DESC: status 200
check_ok() { check_status "$1" 200; }
# check_err DESC STATUS CODE: an AWS error document with that code
check_err() {
	check "$1: status $2" "$2" "$STATUS"
	check "$1: code $3" "$3" "$(xml Code 2>/dev/null | head -n1)"
}
first() { xml "$1" | head -n1; }

# wait_until SECS DESCRIPTION CMD...: poll CMD (every 0.1 s) until it
# succeeds (status 0); after SECS seconds a "# DESCRIPTION: not within SECS s"
# line and status 1, for the caller to report (ok/fail: this may run in a
# command substitution, whose fail would not count).
wait_until() {
	local secs=$1 d=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then echo "# $d: not within $secs s" >&2; return 1; fi
		sleep 0.1
	done
}

finish() {
	echo "1..$T_N"
	if [ "$T_FAIL" -ne 0 ]; then
		echo "# $T_FAIL of $T_N failed"
		echo "# sim stderr:"; tail -n 20 "$TMPD/sim.err" 2>/dev/null | sed 's/^/#   /'
		exit 1
	fi
	exit 0
}
