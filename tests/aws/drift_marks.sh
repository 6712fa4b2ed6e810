#!/usr/bin/env bash
# cairn drift's read marks (lua/runtime.h, engine/marks.c): a run that
# finds a subnet, group or route table equal to its state row keeps the
# digest of the bytes it was read from; the next run takes an object whose
# bytes have that digest as recorded, without decoding it. What drift
# reports must not change for it: an object changed out of band, a row
# changed in the state (the cloud unchanged), a deletion, and a module
# whose source changed are all read in full again. The marks of a row the
# state forgets, and of a forgotten ephemeral environment, are dropped.
# Every run here is --no-env-memo: what is tested is a read, which a run
# whose answers are all the last run's would not make (drift_envmemo.sh).
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: marks
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.8.0.0/16
  sub:
    type: aws.subnet
    count: 3
    vpc_id: "${vpc.id}"
    cidr_block: "10.8.${count.index}.0/24"
  sg:
    type: aws.security_group
    name: marks
    description: marks
    vpc_id: "${vpc.id}"
    ingress: [{ protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: ["10.0.0.0/8"] }]
  rt:
    type: aws.route_table
    vpc_id: "${vpc.id}"
YAML
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
marks() { state_sql s "select count(*) from read_marks where env = 'dev' and address not like '#%'"; }
eq "$(marks)" "0" "an apply keeps no read marks"

run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "first drift run: clean"
err_has "dev: 0 of 6 objects unchanged since a read that matched the state" "nothing to skip yet"
eq "$(marks)" "5" "marks kept: three subnets, the group, the route table (not the VPC)"
eq "$(state_sql s "select length(digest) from read_marks where address = 'sub[0]'")" "64" "a SHA-256"

run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 0 "second run: clean"
err_has "dev: 5 of 6 objects unchanged since a read that matched the state" "every marked object taken unread"
eq "$(jq -r '.environments[0].status' r.json)" "clean" "JSON: clean"

run drift --no-env-memo -C s -e dev --no-unmanaged --verbose
expect_rc 0 "without the search (describes by id): clean"
# the three subnets are described in one call by id, hashed like a listing;
# a lone group or route table is described alone (ec2_all), not hashed
err_has "dev: 3 of 6 objects unchanged" "the marks serve reads by id too"

# --- changed out of band: its bytes differ, read in full ---
SUB1=$(state_id s 'sub[1]')
sim_patch "$SUB1" '{"tags":{"Owner":"mallory"}}'
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "a subnet changed out of band: drift"
err_has "dev: 4 of 6 objects unchanged" "that subnet was decoded again"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "changed") | .address] | unique | join(",")' r.json)" "sub[1]" \
  "the change is found"

# --- the state's row changed, the cloud not: the mark no longer holds ---
state_set_attr s 'sub[2]' '.map_public_ip_on_launch' 'true'
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "a row changed in the state: drift"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "changed") | .address] | unique | join(",")' r.json)" \
  "sub[1],sub[2]" "the row that no longer matches is read and compared"
err_has "dev: 3 of 6 objects unchanged" "its mark was not used"

# --- deleted out of band: no bytes, no mark ---
sim_delete "$(state_id s 'sub[0]')"
run drift --no-env-memo -C s -e dev --json r.json
expect_rc 2 "a subnet deleted out of band: drift"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "deleted") | .address] | join(",")' r.json)" "sub[0]" \
  "the deletion is found"

# --- a mark whose digest is not the object's: the object is read in full ---
state_sql s "update read_marks set digest = 'feed' || substr(digest, 5) where address = 'sg'" >/dev/null
run drift --no-env-memo -C s -e dev --json r.json
expect_rc 2 "still the same drift"
eq "$(jq -r '[.environments[0].findings[] | select(.kind == "changed") | .address] | unique | join(",")' r.json)" \
  "sub[1],sub[2]" "the same changes, the group not among them"
check "the group's mark made again from its bytes" \
  test "$(state_sql s "select substr(digest, 1, 4) from read_marks where address = 'sg'")" != "feed"

# --- a row the state forgets: its mark goes with the next complete run ---
run state rm -e dev -C s 'sub[0]'
expect_rc 0 "state rm sub[0]"
eq "$(state_sql s "select count(*) from read_marks where address = 'sub[0]'")" "1" "its mark is still there"
run drift --no-env-memo -C s -e dev --no-unmanaged
eq "$(state_sql s "select count(*) from read_marks where address = 'sub[0]'")" "0" "gone after the next run"
eq "$(state_sql s "select count(*) from read_marks where env = 'dev' and address not like '#%'")" "4" "the others kept"

# --- an ephemeral environment forgotten: its marks with it ---
run env create pr-m --from dev --auto-approve -C s
expect_rc 0 "env create pr-m"
run drift --no-env-memo -C s -e pr-m
expect_rc 0 "pr-m: clean"
eq "$(state_sql s "select count(*) from read_marks where env = 'pr-m' and address not like '#%'")" "5" "pr-m's marks"
run env destroy pr-m --auto-approve -C s
expect_rc 0 "env destroy pr-m"
eq "$(state_sql s "select count(*) from read_marks where env = 'pr-m'")" "0" "forgotten with it"

# --- a module whose source changed: every mark is read in full again ---
modules_changed mods
CAIRN_MODULES_PATH="$WORK/mods:$TESTS_DIR/modules" run drift --no-env-memo -C s -e dev --verbose
expect_rc 2 "the same drift with the changed modules"
err_has "dev: 0 of 5 objects unchanged" "no mark holds for other module sources"

# --- ctx.unchanged names objects by id; the engine holds each to its row's mark ---
mkdir -p forge/aws
cp "$TESTS_DIR/../../modules/aws/"*.lua forge/aws/
# read_many names every subnet unchanged, with a digest no mark has
python3 - forge/aws/subnet.lua <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
old = "    local out = {}\n    for id, it in pairs(found) do out[id] = aws.read_result(ctx, it, attrs_of) end\n    return out\n"
assert old in s
s = s.replace(old, "    for _, e in ipairs(list) do ctx.unchanged[e.id] = string.rep('0', 64) end\n    return {}\n")
open(p, "w").write(s)
PY
CAIRN_MODULES_PATH="$WORK/forge:$TESTS_DIR/modules" run drift --no-env-memo -C s -e dev --no-unmanaged --json r.json
expect_rc 1 "a module naming objects unchanged with digests no mark has: an error"
eq "$(jq -r '.environments[0].status' r.json)" "error" "the environment is reported as an error, not clean"
check "the engine refuses it" grep -q 'answered \\"unchanged\\" for sub\[[0-9]\], which has no such read mark' r.json

# a listing that names an object no mark offers: the search fails, not a hidden object
cp "$TESTS_DIR/../../modules/aws/"*.lua forge/aws/
python3 - forge/aws/subnet.lua <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
old = "      out[#out + 1] = brief and brief(it) or attrs_of(ctx, it)\n    end\n    return out\n"
assert old in s
s = s.replace(old, old.replace("    return out\n", "    if ctx.unchanged then ctx.unchanged['subnet-0forged'] = string.rep('0', 64) end\n    return out\n"))
open(p, "w").write(s)
PY
CAIRN_MODULES_PATH="$WORK/forge:$TESTS_DIR/modules" run drift --no-env-memo -C s -e dev --json r.json
expect_rc 1 "a listing naming an object unchanged that no mark offers: an error"
check "the search refuses it" grep -q 'named subnet-0forged unchanged in its listing, which has no such read mark' r.json
done_testing
