#!/usr/bin/env bash
# Apply under injected faults (throttling, 5xx errors, dropped connections)
# converges, and every cairn-managed object exists exactly once in the sim
# (counted by its cairn:address tag): non-idempotent creates that failed
# ambiguously were found again by their cairn:token tag, not repeated.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --throttle-rate 0.3 --error-rate 0.05 --drop-rate 0.02 --log

awsstack s <<'YAML'
resources:
  net:
    type: aws.vpc
    cidr_block: 10.30.0.0/16
    enable_dns_hostnames: true
    tags: { Name: faulty }
  sub:
    type: aws.subnet
    count: 8
    vpc_id: "${net.id}"
    cidr_block: "${cidrsubnet(net.cidr_block, 8, count.index)}"
    map_public_ip_on_launch: true
    tags: { Name: "sub-${count.index}" }
  gw:
    type: aws.internet_gateway
    vpc_id: "${net.id}"
  rt:
    type: aws.route_table
    vpc_id: "${net.id}"
    routes: [{ cidr_block: 0.0.0.0/0, gateway_id: "${gw.id}" }]
    subnet_ids: "${sub[*].id}"
  sg:
    type: aws.security_group
    count: 3
    name: "grp-${count.index}"
    vpc_id: "${net.id}"
    ingress: [{ protocol: tcp, from_port: "${1000 + count.index}", to_port: "${1000 + count.index}", cidr_blocks: [10.0.0.0/8] }]
YAML

# converge: apply until it succeeds (a request can fail for good after the
# C side's retries; the next run picks up where this one stopped)
tries=0
until run apply -C s -e dev --auto-approve; [ "$RC" -eq 0 ] || [ "$tries" -ge 6 ]; do
  tries=$((tries + 1)); echo "# apply attempt $tries failed: $(grep -m1 failed: "$WORK/out")"
done
expect_rc 0 "apply converges under faults"
tries=0
until run plan -C s -e dev --detailed-exitcode; [ "$RC" -ne 1 ] || [ "$tries" -ge 6 ]; do tries=$((tries + 1)); done
expect_rc 0 "plan after apply under faults is empty"
check "faults were injected" grep -q -E " (503|500|dropped) " "$WORK/sim.log"
echo "# sim answered $(grep -c -E ' (503|500|dropped) ' "$WORK/sim.log") of $(wc -l <"$WORK/sim.log") requests with a fault"

# exactly one object per address, and no cairn-tagged object without a state row
for addr in $(state_sql s "select address from resources where env='dev'"); do
  eq "$(sim_count_addr "$addr")" "1" "one object for $addr"
done
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:address"] != null)] | length')" \
   "$(state_sql s "select count(*) from resources where env='dev'")" "no orphaned objects"

tries=0
until run destroy -C s -e dev --auto-approve; [ "$RC" -eq 0 ] || [ "$tries" -ge 6 ]; do tries=$((tries + 1)); done
expect_rc 0 "destroy converges under faults"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
