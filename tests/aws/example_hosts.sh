#!/usr/bin/env bash
# The example stack (environments/) end to end with machines that are real
# SSH hosts: `cairn sim --instance-hosts` (root only; skipped otherwise) and
# staging (a bastion and 2 app servers). One apply makes the VPC, the
# cluster, the databases and the machines, and configures the app servers
# through the bastion: app.conf (with the database's endpoint) is in each
# instance's own layer and is what ssh through the bastion reads, never on
# this machine; a second plan is empty; the file edited in an instance's
# layer behind cairn's back is drift (`cairn drift`, exit 2, and the plan's
# diff) and the next apply puts it back; with the bastion stopped the app
# servers cannot be reached (they are reached through it); an app server
# stopped and started keeps its layer and its configuration (plan empty);
# the machines replaced by another AMI get their files, lines and guarded
# command again in the same apply (the next plan is empty);
# destroy leaves no sshd of the sim running (by their PIDs, and no sshd
# child of the sim) and no layer on disk, and the package it removed on the
# app servers is still on this machine.
. "$(dirname "$0")/lib.sh" "$@"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  echo "# SKIP: needs root, /usr/sbin/sshd and ssh (cairn sim --instance-hosts)"
  exit 77
fi
HOSTS=$WORK/hosts
start_sim --instance-hosts --instance-hosts-dir "$HOSTS"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$(sim_url)/_sim/hosts")" != 200 ]; then
  echo "# SKIP: the sim has no instance hosts here: $(head -n1 "$WORK/sim.log")"
  exit 77
fi

cp -r "$TESTS_DIR/../../environments" ex
rm -rf ex/.cairn ex/out
sed -i "s|http://127.0.0.1:4566|$(sim_url)|" ex/*.yaml
mkdir -p ex/.cairn
ssh-keygen -q -t ed25519 -N '' -f ex/.cairn/demo_ed25519 || exit 1
E=staging

host_pids() { curl -s "$(sim_url)/_sim/hosts" | jq -r '.hosts[] | .pid // empty'; }
inst_id() { state_sql ex "select id from resources where env='$E' and address='$1'"; }
layer() { echo "$HOSTS/$(inst_id "$1")"; }
out_json() { "$CAIRN" output -C ex -e "$E" --json | jq -r "$1"; }
# on ADDRESS CMD: ssh as root with the demo key, through the bastion
on() {
  local opts=(-F /dev/null -i ex/.cairn/demo_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5
    -o UserKnownHostsFile="$WORK/known_hosts" -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR)
  local addr=$1; shift
  ssh "${opts[@]}" -o ProxyCommand="ssh ${opts[*]} -W %h:%p root@$(out_json .bastion_ssh.value)" "root@$addr" "$@"
}
ec2_wait() { # ID STATE
  local i
  for i in $(seq 1 100); do
    [ "$(ec2 DescribeInstances "InstanceId.1=$1" | xml_val name)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

echo "# apply: cloud and machines in one run"
run apply -C ex -e "$E" --auto-approve --accept-new-host-keys
expect_rc 0 "apply"
out_has "Apply complete! Resources: 39 added, 0 changed, 0 destroyed." "the 19 cloud resources of before, 6 for the machines, 3 hosts, 11 host resources"
DB=$(out_json .db_endpoint.value)
check "the database has an endpoint" test -n "$DB" -a "$DB" != null
eq "$(out_json '.app_ssh.value | length')" "2" "staging has 2 app servers"
eq "$(state_attr ex 'app_host[1]' .bastion "$E")" \
  "bastion_host[0]" "app servers are reached through the bastion"
for i in 0 1; do
  L=$(layer "app[$i]")
  check "app[$i]: app.conf in its own layer" test -f "$L/etc/upper/shop/app.conf"
  check "app[$i]: app.conf names the database's endpoint" grep -qx "host = $DB" "$L/etc/upper/shop/app.conf"
  check "app[$i]: app.conf names its server" grep -q "app server $i (written by cairn)" "$L/etc/upper/shop/app.conf"
  eq "$(stat -c %a "$L/etc/upper/shop/app.conf")" "640" "app[$i]: its mode"
  check "app[$i]: the line in /etc/environment" grep -qx "SHOP_ENV=$E" "$L/etc/upper/environment"
  check "app[$i]: the guarded command ran" test -s "$L/var/upper/lib/shop/initialized"
  eq "$(on "$(out_json ".app_ssh.value[$i]")" cat /etc/shop/app.conf)" "$(cat "$L/etc/upper/shop/app.conf")" \
    "app[$i]: ssh through the bastion reads the same file"
done
check "the bastion's motd names the app servers" grep -q "shop $E bastion: app servers 10.10." "$(layer 'bastion[0]')/etc/upper/motd"
check "nothing written to this machine's /etc/shop" test ! -e /etc/shop
grep -q "SHOP_ENV" /etc/environment && fail "this machine's /etc/environment was changed" || pass
eq "$(state_attr ex 'jq[0]' .installed_version "$E")" \
  "$(dpkg-query -W -f='${Version}' jq)" "jq was there already: its version recorded"

echo "# a second plan is empty"
run plan -C ex -e "$E" --detailed-exitcode
expect_rc 0 "no changes after apply"
INIT=$(cat "$(layer 'app[0]')/var/upper/lib/shop/initialized")

echo "# an edit on an instance, behind cairn's back, is drift"
echo "debug = true" >>"$(layer 'app[1]')/etc/upper/shop/app.conf"
check "the instance sees the edit" test "$(on "$(out_json '.app_ssh.value[1]')" tail -n1 /etc/shop/app.conf)" = "debug = true"
run drift -C ex -e "$E"
expect_rc 2 "drift found"
out_has "app_conf[1]" "the file of app[1]"
out_lacks "app_conf[0]" "not app[0]'s"
run plan -C ex -e "$E" --detailed-exitcode
expect_rc 2 "the plan has a change"
out_has "app_conf[1] will be updated in place" "app_conf[1] will be rewritten"
out_has "- debug = true" "the diff removes the line added on the host"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "only that"
run apply -C ex -e "$E" --auto-approve
expect_rc 0 "apply puts it back"
check "the edit is gone from the layer" bash -c "! grep -q debug '$(layer 'app[1]')/etc/upper/shop/app.conf'"
eq "$(cat "$(layer 'app[0]')/var/upper/lib/shop/initialized")" "$INIT" "the guarded command did not run again"

echo "# the bastion stopped: the app servers cannot be reached"
B=$(inst_id 'bastion[0]')
ec2 StopInstances "InstanceId.1=$B" >/dev/null
check "bastion stopped" ec2_wait "$B" stopped
run plan -C ex -e "$E"
expect_rc 1 "a plan cannot see the hosts"
err_has "cannot reach it through the bastion bastion_host[0]" "app servers go through the bastion"
ec2 StartInstances "InstanceId.1=$B" >/dev/null
check "bastion running again" ec2_wait "$B" running

echo "# an app server stopped and started keeps its layer"
A=$(inst_id 'app[0]')
L=$(layer 'app[0]')
P=$(curl -s "$(sim_url)/_sim/hosts" | jq -r --arg i "$A" '.hosts[] | select(.instance_id == $i) | .pid')
CONF=$(cat "$L/etc/upper/shop/app.conf")
ec2 StopInstances "InstanceId.1=$A" >/dev/null
check "app[0] stopped" ec2_wait "$A" stopped
for i in $(seq 1 50); do kill -0 "$P" 2>/dev/null || break; sleep 0.1; done
check "its sshd ($P) ended" bash -c "! kill -0 $P 2>/dev/null"
eq "$(cat "$L/etc/upper/shop/app.conf" 2>/dev/null)" "$CONF" "the layer stays while stopped"
ec2 StartInstances "InstanceId.1=$A" >/dev/null
check "app[0] running again" ec2_wait "$A" running
eq "$(on "$(out_json '.app_ssh.value[0]')" cat /etc/shop/app.conf)" "$CONF" "after the start it still has its app.conf"
run plan -C ex -e "$E" --detailed-exitcode
expect_rc 0 "nothing to do after stop and start"

echo "# the machines replaced (another AMI): what is on them is made again in the same apply"
OLD0=$(inst_id 'app[0]')
run plan -C ex -e "$E" --var ami=ami-0a12023c0ffee0000 --detailed-exitcode
expect_rc 2 "the plan replacing the machines"
out_has "# app[0] must be replaced" "app[0] is replaced"
out_has "# app_conf[0] will be created (its host app_host[0] moves to a new machine)" "its app.conf is made again"
out_has "# app_init[1] will be created (its host app_host[1] moves to a new machine)" "and the guarded command runs there"
out_has "# motd[0] will be created (its host bastion_host[0] moves to a new machine)" "the bastion's motd too"
run apply -C ex -e "$E" --var ami=ami-0a12023c0ffee0000 --auto-approve --accept-new-host-keys
expect_rc 0 "one apply"
check "app[0] is a new instance" test "$(inst_id 'app[0]')" != "$OLD0"
for i in 0 1; do
  L=$(layer "app[$i]")
  check "new app[$i]: app.conf in its layer" grep -qx "host = $DB" "$L/etc/upper/shop/app.conf"
  check "new app[$i]: the guarded command ran there" test -s "$L/var/upper/lib/shop/initialized"
  check "new app[$i]: ssh through the new bastion reads it" on "$(out_json ".app_ssh.value[$i]")" \
    "grep -qx 'host = $DB' /etc/shop/app.conf"
done
check "the new bastion's motd" grep -q "shop $E bastion" "$(layer 'bastion[0]')/etc/upper/motd"
run plan -C ex -e "$E" --var ami=ami-0a12023c0ffee0000 --detailed-exitcode
expect_rc 0 "the next plan is empty (before: every host resource 'deleted outside cairn')"

echo "# destroy: no sshd, no layer"
PIDS=$(host_pids)
eq "$(echo "$PIDS" | wc -w)" "3" "3 sshds before destroy"
run destroy -C ex -e "$E" --auto-approve
expect_rc 0 "destroy"
for i in $(seq 1 50); do [ -z "$(ls -A "$HOSTS")" ] && break; sleep 0.1; done
for p in $PIDS; do check "sshd $p gone" bash -c "! kill -0 $p 2>/dev/null"; done
eq "$(pgrep -P "$SIM_PID" -x sshd | wc -l)" "0" "no sshd child of the sim"
eq "$(curl -s "$(sim_url)/_sim/hosts" | jq '.hosts | length')" "0" "the sim lists no host"
eq "$(ls -A "$HOSTS")" "" "no layer left on disk"
eq "$(dpkg-query -W -f='${db:Status-Abbrev}' jq)" "ii " "jq removed on the app servers at destroy (in their layers), still on this machine"
eq "$(state_sql ex "select count(*) from resources where env='$E'")" "0" "state empty"
eq "$(sim_resources | jq '[.resources[] | select(.tags["cairn:stack"] == "shop" and .status != "terminated")] | length')" \
  "0" "nothing of the stack left in the sim but terminated instances"
stop_sim
check "the sim's log has no sanitizer report (ASan builds)" bash -c "! grep -E 'Sanitizer|runtime error' '$WORK/sim.log'"
done_testing
