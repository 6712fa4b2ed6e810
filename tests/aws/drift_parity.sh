#!/usr/bin/env bash
# Parity between environments on the example stack (environments/): prod, dr
# and staging applied against cairn sim. prod:dr and staging:prod are alike
# (every difference comes from their overlays: region, zones, CIDRs, sizes,
# counts, names, each environment's own ids). Then DR drifts by hand: its
# database runs another engine version and its cluster another Kubernetes
# version than prod, though the configuration gives both the same; a subnet
# both configurations have is gone from DR. Those are parity findings, with
# the same exit codes and reports as drift; an ignore rule of kind parity
# hides one, counted.
. "$(dirname "$0")/lib.sh" "$@"
start_sim
cp -r "$TESTS_DIR/../../environments" ex
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
# no instance hosts here (tests/aws/example_hosts.sh has them): no machines
sed -i "s/^variables:/variables:\n  configure_hosts: false/" ex/{dev,staging,prod,dr}.yaml
for env in prod dr staging; do
  run apply -C ex -e "$env" --auto-approve
  expect_rc 0 "$env: apply"
done

run drift -C ex --parity prod:dr --parity staging:prod --json p.json
expect_rc 0 "prod:dr and staging:prod alike"
out_has "parity prod:dr: alike: 0 finding(s)" "prod:dr"
out_has "parity staging:prod: alike: 0 finding(s)" "staging:prod"
out_lacks "prod: no drift" "parity reports the comparisons, not each environment's drift"
check "differences explained by the configuration are counted" python3 - p.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["environments"] == [], d["environments"]
p = {x["pair"]: x for x in d["parity"]}
for pair in ("prod:dr", "staging:prod"):
    c = p[pair]["counts"]
    assert p[pair]["status"] == "same" and c["findings"] == 0, p[pair]
    assert c["explained"] > 20 and c["compared"] > c["explained"], c
PY

# --- DR drifts by hand ---
DB=$(sim_resources | jq -r '.resources[] | select(.type == "rds:db-instance" and .tags["cairn:env"] == "dr") | .id')
EKS=$(sim_resources | jq -r '.resources[] | select(.type == "eks:cluster" and .tags["cairn:env"] == "dr") | .id')
PUB2=$(state_sql ex "select id from resources where env='dr' and address='public[2]'")
sim_patch "$DB" '{"attributes":{"engineVersion":"15.3"}}'
sim_patch "$EKS" '{"attributes":{"version":"1.28"}}'
sim_delete "$PUB2"
run drift -C ex --parity prod:dr --json p.json --junit p.xml --metrics p.prom
expect_rc 2 "parity findings: exit 2"
out_has "parity prod:dr: they differ: 3 finding(s)" "three findings"
out_has '! db engine_version prod "15.4"; dr "15.3"; the configuration gives both environments the same value' "DR runs another engine version"
out_has '! cluster version prod "1.29"; dr "1.28";' "and another Kubernetes version"
out_has "! public[2] prod present; dr absent; exists in prod, not in dr, though the configuration has it in both" "a subnet missing in DR"
out_lacks "instance_class" "sizes the overlays set are explained, not findings"
out_lacks "cidr_block" "so are the CIDRs"
eq "$(jq -r '.parity[0].findings[] | select(.attribute == "engine_version") | [.address, .values.prod, .values.dr, .desired] | join(" ")' p.json)" \
   "db 15.4 15.3 15.4" "JSON: values per environment and the desired one"
check "JUnit: a failing test case per resource in suite parity.prod:dr" python3 - p.xml <<'PY'
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
assert s.get("name") == "parity.prod:dr" and s.get("failures") == "3", s.attrib
assert {c.get("name") for c in s.findall("testcase") if c.find("failure") is not None} == {"db", "cluster", "public[2]"}
PY
check "metrics: parity findings" grep -qx 'cairn_drift_parity_findings{stack="shop",pair="prod:dr"} 3' p.prom

# --- an ignore rule of kind parity ---
cat >>ex/stack.yaml <<'YAML'

drift:
  ignore:
    - address: cluster
      attribute: version
      kind: parity
      reason: DR's cluster is upgraded a week after prod's
YAML
run drift -C ex --parity prod:dr
expect_rc 2 "two findings left"
out_has "they differ: 2 finding(s)" "the cluster's version is ignored"
out_has "= cluster version" "but still shown"
out_has "[ignored: DR's cluster is upgraded a week after prod's" "with its reason"

# --- bad pairs ---
run drift -C ex --parity prod
expect_rc 1 "a pair needs two names"
err_has "--parity expects two environments as A:B, got 'prod'" "says so"
run drift -C ex --parity prod:prod
expect_rc 1 "a pair of one environment"
run drift -C ex --parity prod:nowhere
expect_rc 1 "an unknown environment"
out_has "cannot compare prod:nowhere: nowhere could not be read: unknown environment 'nowhere'" "the pair's error names why"
run drift -C ex --parity prod:dr -e dev
expect_rc 1 "--parity with -e"
done_testing
