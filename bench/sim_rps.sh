#!/bin/bash
# sim_rps.sh - requests per second of `cairn sim` on loopback at zero latency.
#
#   bench/sim_rps.sh [SIM_BINARY] [DURATION_S] [CONNECTIONS] [THREADS]
#
# wrk cannot sign SigV4, so the sim runs with --no-auth; the request is an
# unsigned EC2 Query POST (DescribeVpcs over 3 VPCs, ~2 KB answers), routed
# by its Version. Needs wrk (apt-get install wrk).
set -eu
SIM=${1:-build/cairn}
DUR=${2:-10}
CONNS=${3:-64}
THREADS=${4:-2}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 77; }
TMP=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -TERM $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

"$SIM" sim --listen 127.0.0.1:0 --no-auth --db "$TMP/sim.db" > "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 1 100); do grep -q '^listening on' "$TMP/out" && break; sleep 0.05; done
URL="http://$(sed -n 's/^listening on //p' "$TMP/out")"
for c in 0 1 2; do
	curl -s -o /dev/null -d "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.$c.0.0/16" "$URL/"
done

cat > "$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "Action=DescribeVpcs&Version=2016-11-15"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
done = function(summary, latency, requests)
	local non2xx = summary.errors.status
	io.write(string.format("requests/s: %.0f  non-2xx: %d  socket errors: %d  p99: %.2fms\n",
		summary.requests / (summary.duration / 1e6), non2xx,
		summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
		latency:percentile(99) / 1000))
end
LUA
echo "wrk -t$THREADS -c$CONNS -d${DUR}s -s post.lua $URL/   ($(nproc) CPUs)"
wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" -s "$TMP/post.lua" "$URL/"
