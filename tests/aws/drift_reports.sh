#!/usr/bin/env bash
# The machine reports of cairn drift (docs/drift.md), each checked as its
# reader would: the JSON document against its schema, the JUnit XML parsed
# as XML (suites, failing test cases per drifted resource, the error of an
# environment that cannot be read, an ignored finding passing), the
# Prometheus textfile parsed line by line (every sample's metric and labels,
# the values), '-' for stdout, and report paths that must not be written
# (a FIFO, a directory) refused before any work.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: shop
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: "shop-${env.name}" }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.0.${count.index}.0/24"
drift:
  ignore:
    - address: vpc
      attribute: tags.CostCenter
      reason: finance tags VPCs by hand
YAML
cp s/dev.yaml s/prod.yaml
for env in dev prod; do
  run apply -C s -e "$env" --auto-approve
  expect_rc 0 "$env: apply"
done
VPC=$(state_sql s "select id from resources where env='prod' and address='vpc'")
sim_patch "$VPC" '{"tags":{"Name":"renamed-by-hand","CostCenter":"42"}}'
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.0.9.0/24 | xml_val subnetId)
printf 'provider: {region: us-east-1}\nvariables: {missing: 1}\n' >s/broken.yaml

run drift -C s --all --json r.json --junit r.xml --metrics r.prom
expect_rc 1 "broken cannot be read: exit 1"
check "all three reports written" test -s r.json -a -s r.xml -a -s r.prom

# --- JSON ---
check "JSON: the schema's fields" python3 - r.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "cairn.drift/1" and d["stack"] == "shop", d
assert isinstance(d["started_at"], int) and d["duration_s"] >= 0
env = {e["name"]: e for e in d["environments"]}
assert set(env) == {"broken", "dev", "prod"}, env.keys()
assert env["broken"]["status"] == "error" and "broken.yaml" in env["broken"]["error"]
assert env["dev"]["status"] == "clean" and env["dev"]["counts"]["findings"] == 0
p = env["prod"]
assert p["status"] == "drift"
assert p["counts"] == {"changed": 1, "deleted": 0, "unapplied": 0, "unmanaged": 1, "ignored": 1, "findings": 2}, p["counts"]
assert p["coverage"]["managed"] == 3 and p["coverage"]["seen"] == 4
for f in p["findings"]:
    assert f["key"].startswith(f["kind"] + "|"), f
    assert "first_seen" in f and "first_run" in f, f
ign = [f for f in p["findings"] if "ignored" in f]
assert len(ign) == 1 and ign[0]["attribute"] == "tags.CostCenter", ign
assert ign[0]["ignored"]["reason"] == "finance tags VPCs by hand"
assert ign[0]["ignored"]["rule"].endswith("stack.yaml:14:7"), ign[0]["ignored"]
assert p["addresses"] == ["sub[0]", "sub[1]", "vpc"], p["addresses"]
PY

# --- JUnit ---
check "JUnit: suites, failing and passing test cases" python3 - r.xml "$HAND" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
hand = sys.argv[2]
assert root.tag == "testsuites" and root.get("name") == "cairn drift shop", root.attrib
suites = {s.get("name"): s for s in root.findall("testsuite")}
assert set(suites) == {"drift.broken", "drift.dev", "drift.prod"}, suites.keys()
def cases(s): return {c.get("name"): c for c in suites[s].findall("testcase")}
b = cases("drift.broken")
assert b["(environment)"].find("error") is not None and suites["drift.broken"].get("errors") == "1"
dev = cases("drift.dev")
assert set(dev) == {"sub[0]", "sub[1]", "vpc"} and all(c.find("failure") is None for c in dev.values())
assert suites["drift.dev"].get("failures") == "0" and suites["drift.dev"].get("tests") == "3"
p = cases("drift.prod")
assert p["sub[0]"].find("failure") is None
f = p["vpc"].find("failure")
assert f is not None and f.get("type") == "changed", ET.tostring(p["vpc"])
assert 'tags.Name: recorded "shop-prod", actual "renamed-by-hand"' in f.get("message"), f.get("message")
assert "CostCenter" in f.text and "ignored: finance tags VPCs by hand" in f.text, f.text
u = p["unmanaged aws.subnet " + hand].find("failure")
assert u is not None and u.get("type") == "unmanaged"
assert suites["drift.prod"].get("failures") == "2" and suites["drift.prod"].get("tests") == "4", suites["drift.prod"].attrib
assert root.get("failures") == "2" and root.get("errors") == "1" and root.get("tests") == "8", root.attrib
PY

# --- Prometheus textfile ---
check "metrics: well-formed, every sample declared" python3 - r.prom <<'PY'
import re, sys
typed, samples = set(), {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        name, kind = line.split()[2:4]
        assert kind == "gauge"; typed.add(name); continue
    if line.startswith("# HELP ") or not line: continue
    m = re.fullmatch(r'([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\} (\S+)', line)
    assert m, line
    assert m.group(1) in typed, line
    labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
    samples[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
def v(name, **l): return samples[(name, tuple(sorted(dict(stack="shop", **l).items())))]
assert v("cairn_drift_resources", environment="prod", kind="changed") == 1
assert v("cairn_drift_resources", environment="prod", kind="unmanaged") == 1
assert v("cairn_drift_resources", environment="prod", kind="deleted") == 0
assert v("cairn_drift_resources", environment="dev", kind="changed") == 0
assert v("cairn_drift_unmanaged_objects", environment="prod") == 1
assert v("cairn_drift_ignored_findings", environment="prod") == 1
assert v("cairn_drift_coverage_ratio", environment="prod") == 0.75
assert v("cairn_drift_status", environment="prod", status="drift") == 1
assert v("cairn_drift_status", environment="prod", status="clean") == 0
assert v("cairn_drift_errors", environment="broken") == 1
assert v("cairn_drift_errors", environment="dev") == 0
assert v("cairn_drift_last_run_timestamp_seconds", environment="dev") > 1.7e9
assert v("cairn_drift_run_duration_seconds", environment="dev") >= 0
PY

# --- '-' is stdout; the text goes away when the JSON takes stdout ---
run drift -C s -e dev --json -
expect_rc 0 "dev alone is clean"
check "stdout is the JSON document alone" python3 -c "import json; json.load(open('$WORK/out'))"
run drift -C s -e dev --junit -
out_has "dev: no drift" "the text, then"
out_has '<testsuite name="drift.dev"' "the JUnit on stdout"

# --- report paths that must not be written: refused before any work ---
mkfifo pipe
mkdir adir
RUNS=$(state_sql s "select count(*) from drift_runs")
run drift -C s -e dev --junit pipe
expect_rc 1 "a FIFO as a report"
err_has "cannot write the JUnit report" "says which report"
run drift -C s -e dev --metrics adir
expect_rc 1 "a directory as a report"
eq "$(state_sql s "select count(*) from drift_runs")" "$RUNS" "nothing was run or recorded"
run drift -C s -e dev --json
expect_rc 1 "--json needs a file"
err_has "--json needs a file ('-' for stdout)" "says so"
done_testing
