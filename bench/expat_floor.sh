#!/usr/bin/env bash
# The floor of a drift run's reading (bench/RESULTS.md, drift, session 7):
# expat parsing the sim's own DescribeSubnets and DescribeSecurityGroups
# answers for the drift benchmark's data, nothing else. Needs the data set
# of bench/drift.sh kept: DRIFT_BENCH_DIR=DIR bash bench/drift.sh 2500, then
#   DRIFT_BENCH_DIR=DIR bash bench/expat_floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
W=${DRIFT_BENCH_DIR:?DRIFT_BENCH_DIR: the directory bench/drift.sh kept its data in}
B=${BUILD:-build-bench}
[ -d "$B" ] || meson setup "$B" -Dbuildtype=release >/dev/null
ninja -C "$B" cairn >/dev/null
T=$(mktemp -d /tmp/cairn-expat.XXXXXX)
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cc -O2 -Wall -o "$T/expat_floor" bench/expat_floor.c -lexpat -lcrypto
"$B/cairn" sim --listen 127.0.0.1:0 --db "$W/sim.db" >"$T/sim.out" 2>/dev/null &
SIM_PID=$!
for _ in $(seq 100); do grep -q listening "$T/sim.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/sim.out")
for a in DescribeSubnets DescribeSecurityGroups; do
  curl -sf --aws-sigv4 "aws:amz:us-east-1:ec2" --user "AKIDCAIRNSIMEXAMPLE:cairn-sim-secret-key-do-not-use-in-prod" \
    -d "Action=$a&Version=2016-11-15&MaxResults=1000" "http://127.0.0.1:$PORT/" -o "$T/$a.xml"
  n=$(grep -o '<item><\(subnetId\|ownerId\)>' "$T/$a.xml" | wc -l)
  echo "$a: $(stat -c %s "$T/$a.xml") bytes, $n objects"
  "$T/expat_floor" "$T/$a.xml" "$n"
done
