#!/usr/bin/env bash
# cairn drift keeps its plan (the configuration not yet applied: desired vs
# recorded, no cloud) under a key of what it depends on, with the files the
# configuration read, and the next run with the same configuration, modules
# and state takes it instead of planning (docs/drift.md). Each input that
# changes plans again: a file the configuration reads, the stack file, --var,
# the state, a module's source; the plan taken so reports what planning
# would; no plan is kept when a sensitive value reaches the configuration,
# none is used with --parity, and a complete run's cleanup of stale read
# marks leaves it.
# Every run here is --no-env-memo: what is tested is a read, which a run
# whose answers are all the last run's would not make (drift_envmemo.sh).
. "$(dirname "$0")/lib.sh" "$@"
start_sim

awsstack s <<'YAML'
stack: memo
variables:
  owner: { type: string, default: alice }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.9.0.0/16
    tags: { Owner: "${var.owner}" }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.9.${count.index}.0/24"
    tags: { Note: "${trimspace(file(\"note.txt\"))}" }
YAML
echo "first" >s/note.txt
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
kept() { state_sql s "select count(*) from read_marks where env = 'dev' and address = '#plan'"; }
MSG="not planned again"
unapplied() { jq -r '[.environments[0].findings[] | select(.kind == "unapplied") | .address + ":" + (.attribute // "")] | unique | join(",")' "$1"; }

run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "first run: clean"
err_lacks "$MSG" "nothing kept yet: planned"
eq "$(kept)" "1" "the plan is kept"
run drift --no-env-memo -C s -e dev --verbose --json r1.json
expect_rc 0 "second run: clean"
err_has "dev: the configuration not yet applied as the last run found it" "the kept plan is taken"
eq "$(jq '.environments[0].addresses | length' r1.json)" "3" "the addresses as the plan had them"

# --- a file the configuration reads changes: planned again, and the plan
# taken next reports the same findings ---
echo "second" >s/note.txt
run drift --no-env-memo -C s -e dev --verbose --json r2.json
expect_rc 2 "note.txt changed: drift"
err_lacks "$MSG" "the file's fingerprint differs: planned"
eq "$(unapplied r2.json)" "sub[0]:tags.Note,sub[1]:tags.Note" "the tags not applied yet"
run drift --no-env-memo -C s -e dev --verbose --json r3.json
expect_rc 2 "the same drift"
err_has "$MSG" "taken from the kept plan this time"
strip() { jq -S '[.environments[0].findings[] | del(.first_seen, .last_seen, .first_run, .last_run)]' "$1"; }
eq "$(strip r3.json)" "$(strip r2.json)" "the kept plan's findings are the planned ones"
echo "first" >s/note.txt
run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "note.txt as it was: clean"
err_lacks "$MSG" "planned again"

# --- the stack file, --var ---
sed -i 's/default: alice/default: bob/' s/stack.yaml
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "the stack's default changed: drift"
err_lacks "$MSG" "planned"
eq "$(unapplied r.json)" "vpc:tags.Owner" "the owner tag"
sed -i 's/default: bob/default: alice/' s/stack.yaml
run drift --no-env-memo -C s -e dev
expect_rc 0 "back: clean"
run drift --no-env-memo -C s -e dev --verbose --var owner=carol --json r.json
expect_rc 2 "--var owner=carol: drift"
err_lacks "$MSG" "another --var: planned"
eq "$(unapplied r.json)" "vpc:tags.Owner" "the owner tag, again"

# --- the state ---
run drift --no-env-memo -C s -e dev
expect_rc 0 "clean"
state_set_attr s 'sub[1]' '.cidr_block' '"10.9.7.0/24"'
run drift --no-env-memo -C s -e dev --verbose --json r.json
expect_rc 2 "a row changed in the state: drift"
err_lacks "$MSG" "another state: planned"
eq "$(unapplied r.json)" "sub[1]:cidr_block" "the row's cidr no longer the configuration's"
state_set_attr s 'sub[1]' '.cidr_block' '"10.9.1.0/24"'
run drift --no-env-memo -C s -e dev
expect_rc 0 "the row as it was: clean"

# --- a module's source ---
modules_changed mods
CAIRN_MODULES_PATH="$WORK/mods:$TESTS_DIR/modules" run drift --no-env-memo -C s -e dev --verbose
expect_rc 0 "other module sources: clean"
err_lacks "$MSG" "other module sources: planned"

# --- stale read marks go, the kept plan stays ---
run drift --no-env-memo -C s -e dev
run state rm -C s -e dev 'sub[1]'
expect_rc 0 "state rm sub[1]"
run drift --no-env-memo -C s -e dev --no-unmanaged
expect_rc 2 "sub[1] is in the configuration, not in the state: drift"
eq "$(state_sql s "select count(*) from read_marks where env = 'dev' and address = 'sub[1]'")" "0" "its mark dropped"
eq "$(kept)" "1" "the plan kept all the same"

# --- rows are parsed on first use: one damaged in the state fails the environment ---
state_sql s "update resources set attrs = substr(attrs, 1, length(attrs) - 1) where env = 'dev' and address = 'sub[0]'" >/dev/null
run drift --no-env-memo -C s -e dev --json r.json
expect_rc 1 "a damaged row: an error"
eq "$(jq -r '.environments[0].status' r.json)" "error" "the environment is an error, not clean"
check "the row is named" grep -q "resource 'sub\[0\]' of environment 'dev' has a damaged row" r.json
state_sql s "update resources set attrs = attrs || '}' where env = 'dev' and address = 'sub[0]'" >/dev/null
run drift --no-env-memo -C s -e dev --no-unmanaged
expect_rc 2 "the row mended: the drift of before (sub[1] not in the state)"

# --- --parity plans (it reads the plan's instances) ---
cp s/dev.yaml s/staging.yaml
run apply -C s -e staging --auto-approve
expect_rc 0 "apply staging"
run drift --no-env-memo -C s -e staging
run drift --no-env-memo -C s --parity dev:staging --verbose
err_lacks "$MSG" "--parity: planned"

# --- a sensitive value in the configuration: no plan kept ---
awsstack t <<'YAML'
stack: memo-secret
variables:
  token: { type: string, sensitive: true, default: "tok-5ecret-9137" }
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.10.0.0/16
    tags: { Token: "${var.token}" }
YAML
run apply -C t -e dev --auto-approve
expect_rc 0 "apply the stack with a secret"
run drift --no-env-memo -C t -e dev
run drift --no-env-memo -C t -e dev --verbose
expect_rc 0 "clean"
err_lacks "$MSG" "planned every time"
eq "$(state_sql t "select count(*) from read_marks where address = '#plan'")" "0" "no plan kept"
check "the secret is nowhere in the state directory in clear (the database, its WAL)" \
  sh -c "! grep -rqa 'tok-5ecret-9137' t/.cairn/ 2>/dev/null"
eq "$(state_sql t "select count(*) from read_marks where digest like '%tok-5ecret%' or key like '%tok-5ecret%'")" "0" \
  "nor in the read marks (wherever the state is)"
done_testing
