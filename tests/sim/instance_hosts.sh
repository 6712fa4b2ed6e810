#!/bin/bash
# instance_hosts.sh - `cairn sim --instance-hosts`: a running instance is a
# real SSH host. The plain ssh client logs in as root with the key pair the
# instance was launched with, at the address of its cairn-sim:ssh-address
# tag; a file written to /etc/app/x lands in the instance's own layer and
# never in this machine's /etc (nor in another instance's); stop ends the
# sshd (checked by its PID) and keeps the layer, start brings both back,
# terminate removes the layer and leaves no sshd; the sim's SIGTERM stops
# every sshd. Also: the clear refusals at start (not root, a data directory
# the instances would overlay, a file system overlayfs cannot use).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v setpriv >/dev/null; then
	echo "1..0 # SKIP needs root, /usr/sbin/sshd, ssh and setpriv"
	exit 0
fi

HOSTS=$TMPD/hosts
MARK="written-by-instance-hosts-test-$$-$RANDOM"
sim_start --instance-hosts --instance-hosts-dir "$HOSTS" --log
if [ -z "$SIM_PID" ]; then
	# namespaces or overlays not permitted on this machine: the sim says so
	if grep -q -- '--instance-hosts' "$TMPD/sim.err"; then
		echo "1..0 # SKIP $(head -n1 "$TMPD/sim.err")"
		exit 0
	fi
	echo "not ok 1 - sim with --instance-hosts started"; exit 1
fi
ok "sim with --instance-hosts started"

urlenc() { printf %s "$1" | jq -sRr @uri; }
hosts() { curl -s "$SIM_URL/_sim/hosts"; }
pid_of() { hosts | jq -r --arg i "$1" '.hosts[] | select(.instance_id == $i) | .pid // empty'; }
# state_is ID STATE: the instance's state name is STATE
state_is() {
	ec2 "Action=DescribeInstances&InstanceId.1=$1"
	[ "$(xml name | head -n1)" = "$2" ]
}
# wait_state ID STATE: until the instance is in STATE (60 s at most, then status 1)
wait_state() { wait_until 60 "$1 $2" state_is "$1" "$2"; }
# wait_pid ID [OLD-PID]: until the reconciler reports an sshd for the
# instance (other than OLD-PID), and print its PID (60 s at most, then status 1)
wait_pid() {
	local end=$((SECONDS + 60)) p
	while :; do
		p=$(pid_of "$1"); [ -n "$p" ] && [ "$p" != "${2:-}" ] && { echo "$p"; return 0; }
		[ "$SECONDS" -ge "$end" ] && { echo "# no new sshd reported for $1 within 60 s" >&2; return 1; }
		sleep 0.1
	done
}
no_dir() { [ ! -d "$1" ]; }
no_pid() { [ -z "$(pid_of "$1")" ]; }
gone() { ! kill -0 "$1" 2>/dev/null && [ ! -e "/proc/$1" ]; }
# on ADDRESS COMMAND: ssh as root with the key pair (the first connection may
# come a moment before the sshd listens)
on() {
	local addr=$1 i; shift
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ssh -F /dev/null -i "$TMPD/key" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 \
			-o UserKnownHostsFile="$TMPD/known_hosts" -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR \
			"root@$addr" "$@" && return 0
		[ $? -ne 255 ] && return 1
		sleep 0.3
	done
	return 255
}

ssh-keygen -q -t ed25519 -N '' -f "$TMPD/key" || exit 1
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16'; VPC=$(first vpcId)
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24"; SUB=$(first subnetId)
ec2 "Action=ImportKeyPair&KeyName=ops&PublicKeyMaterial=$(urlenc "$(base64 -w0 "$TMPD/key.pub")")"
check_ok ImportKeyPair
ec2 "Action=RunInstances&ImageId=ami-0deb1a12c0ffee000&MinCount=2&MaxCount=2&SubnetId=$SUB&KeyName=ops"
check_ok RunInstances
I1=$(xml instanceId | sed -n 1p); I2=$(xml instanceId | sed -n 2p)
ec2 "Action=DescribeTags&Filter.1.Name=key&Filter.1.Value.1=cairn-sim:ssh-address&Filter.2.Name=resource-id&Filter.2.Value.1=$I1"
A1=$(first value)
[[ $A1 =~ ^127\.0\.[0-9]+\.[0-9]+$ ]] && ok "tag cairn-sim:ssh-address: a loopback address ($A1)" || fail "ssh address tag ($A1)"
ec2 "Action=DescribeInstances&InstanceId.1=$I2"
A2=$(xml value | head -n1)
[ -n "$A2" ] && [ "$A2" != "$A1" ] && ok "each instance its own address ($A2)" || fail "second address ($A2)"
check "private address stays AWS-shaped" 10.0.1.5 "$(first privateIpAddress)"

# running_then_port ID ADDRESS: poll without pause (grep, not python) until
# the instance is running, then try its port 22 at once ("open" or "closed")
running_then_port() {
	local i
	for i in $(seq 1 600); do
		ec2 "Action=DescribeInstances&InstanceId.1=$1"
		grep -q '<instanceState><code>16</code><name>running</name>' "$BODY_FILE" && break
	done
	(exec 3<>"/dev/tcp/$2/22") 2>/dev/null && echo open || echo closed
}
check "port 22 accepts as soon as the instance is running (its sshd starts while it is pending)" \
	open "$(running_then_port "$I1" "$A1")"
wait_state "$I1" running && ok "running" || fail "running"
P1=$(wait_pid "$I1") && ok "sshd of $I1 started (pid $P1)" || fail "sshd started"
P2=$(wait_pid "$I2") || fail "sshd of $I2 started"
banner=$(timeout 5 bash -c "exec 3<>/dev/tcp/$A1/22; head -c 8 <&3")
check "an sshd answers on port 22 of the instance's address" SSH-2.0- "$banner"

# log in with the plain ssh client; write to /etc/app/x and /tmp
on "$A1" "mkdir -p /etc/app && echo $MARK > /etc/app/x && echo $MARK > /tmp/$MARK"
check "ssh as root with the instance's key pair" 0 "$?"
check "the instance's host name" ip-10-0-1-4 "$(on "$A1" hostname)"
check "the file is there for the instance" "$MARK" "$(on "$A1" cat /etc/app/x)"
LAYER1=$(hosts | jq -r --arg i "$I1" '.hosts[] | select(.instance_id == $i) | .layer')
check "layer under the hosts directory" "$HOSTS/$I1" "$LAYER1"
check "the file is in the instance's layer" "$MARK" "$(cat "$LAYER1/etc/upper/app/x" 2>/dev/null)"
grep -qs "$MARK" /etc/app/x && fail "the file is on this machine's /etc" || ok "nothing written to this machine's /etc"
[ -e "/tmp/$MARK" ] && fail "the instance's /tmp is this machine's" || ok "the instance's /tmp is its own"
check "another instance does not see it" missing "$(on "$A2" 'cat /etc/app/x 2>/dev/null | grep -q '"$MARK"' && echo seen || echo missing')"
check "only the instance's key: this machine's /root/.ssh does not show through" \
	"authorized_keys" "$(on "$A1" 'ls /root/.ssh')"
check "its own processes: the sshd is its PID 1" sshd "$(on "$A1" cat /proc/1/comm)"

# stop: the sshd ends, the layer stays
ec2 "Action=StopInstances&InstanceId.1=$I1"
check_ok StopInstances
wait_state "$I1" stopped && ok "stopped" || fail "stopped"
# (the reconciler stops it within its 100 ms round, while the instance is
# stopping: waited for, not assumed done by the time it is stopped)
wait_until 60 "sshd $P1 gone" gone "$P1" && ok "sshd $P1 gone after the stop" || fail "sshd $P1 still running after the stop"
wait_until 60 "no pid for $I1" no_pid "$I1" && ok "no pid reported while stopped" || fail "pid $(pid_of "$I1") reported while stopped"
on "$A1" true 2>/dev/null; check "no login while stopped" 255 "$?"
check "the layer stays while stopped" "$MARK" "$(cat "$LAYER1/etc/upper/app/x" 2>/dev/null)"

# start: a new sshd, the same layer
ec2 "Action=StartInstances&InstanceId.1=$I1"
check "started again: port 22 accepts as soon as it is running" open "$(running_then_port "$I1" "$A1")"
wait_state "$I1" running || fail "running again"
P1B=$(wait_pid "$I1") && ok "sshd started again (pid $P1B)" || fail "sshd started again"
[ "$P1B" != "$P1" ] && ok "a new process" || fail "a new process"
check "the file survived stop and start" "$MARK" "$(on "$A1" cat /etc/app/x)"

# an sshd killed inside the instance comes back, as a service would
kill -9 "$P1B"
P1C=$(wait_pid "$I1" "$P1B") && ok "a dead sshd is started again (pid $P1C)" || fail "a dead sshd is started again"

# terminate: no sshd, no layer
ec2 "Action=TerminateInstances&InstanceId.1=$I1"
wait_state "$I1" terminated && ok "terminated" || fail "terminated"
wait_until 60 "the layer of $I1 removed" no_dir "$LAYER1"
gone "$P1C" && ok "no sshd left after terminate (pid $P1C)" || fail "sshd $P1C still running after terminate"
[ -d "$LAYER1" ] && fail "the layer is still there: $(ls "$LAYER1")" || ok "the layer is removed"
check "no host left for the terminated instance" "" "$(hosts | jq -r --arg i "$I1" '.hosts[] | select(.instance_id == $i) | .instance_id')"

# the sim's stop stops every sshd (and, without --db, removes the layers)
LAYER2=$HOSTS/$I2
sim_stop
gone "$P2" && ok "SIGTERM to the sim stopped the sshd of $I2" || fail "sshd $P2 survived the sim"
[ -d "$LAYER2" ] && fail "a layer of an in-memory sim outlived it" || ok "the in-memory sim's layers went with it"

# refusals at start
setpriv --reuid=65534 --regid=65534 --clear-groups "$SIM_BIN" sim --listen 127.0.0.1:0 --instance-hosts >"$TMPD/o" 2>"$TMPD/e"
check "not root: exit 1" 1 "$?"
check "not root: the message" "cairn sim: --instance-hosts needs root" "$(cut -c1-38 "$TMPD/e")"
"$SIM_BIN" sim --listen 127.0.0.1:0 --instance-hosts --instance-hosts-dir /etc/cairn-sim-test-$$ >"$TMPD/o" 2>"$TMPD/e"
check "data directory under /etc: exit 2" 2 "$?"
grep -q "is under /etc, which every instance overlays" "$TMPD/e" && ok "data directory under /etc: the message" || fail "message: $(cat "$TMPD/e")"
[ -e "/etc/cairn-sim-test-$$" ] && fail "it was created" || ok "nothing made under /etc"
mkdir -p "$TMPD/ov/l" "$TMPD/ov/u" "$TMPD/ov/w" "$TMPD/ov/m"
unshare --mount sh -c "mount --make-rprivate / && mount -t overlay overlay -o lowerdir=$TMPD/ov/l,upperdir=$TMPD/ov/u,workdir=$TMPD/ov/w $TMPD/ov/m && exec '$SIM_BIN' sim --listen 127.0.0.1:0 --instance-hosts --instance-hosts-dir $TMPD/ov/m/hosts" >"$TMPD/o" 2>"$TMPD/e"
check "a data directory on overlayfs: exit 1" 1 "$?"
grep -q "cannot mount an overlay with its upper layer in $TMPD/ov/m/hosts" "$TMPD/e" && ok "overlay refused: the message" || fail "message: $(cat "$TMPD/e")"
"$SIM_BIN" sim --listen 127.0.0.1:0 --instance-hosts-dir "$TMPD/x" >"$TMPD/o" 2>"$TMPD/e"
check "--instance-hosts-dir alone: exit 2" 2 "$?"
check "--instance-hosts-dir alone: the message" "cairn sim: --instance-hosts-dir needs --instance-hosts" "$(cat "$TMPD/e")"

# with --db the layers and addresses outlive the sim: a restart starts the sshds again
sim_start --instance-hosts --db "$TMPD/sim.db" || exit 1
ec2 'Action=CreateVpc&CidrBlock=10.0.0.0/16'; VPC=$(first vpcId)
ec2 "Action=CreateSubnet&VpcId=$VPC&CidrBlock=10.0.1.0/24"; SUB=$(first subnetId)
ec2 "Action=ImportKeyPair&KeyName=ops&PublicKeyMaterial=$(urlenc "$(base64 -w0 "$TMPD/key.pub")")"
ec2 "Action=RunInstances&ImageId=ami-0deb1a12c0ffee000&MinCount=1&MaxCount=1&SubnetId=$SUB&KeyName=ops"
I3=$(first instanceId)
wait_state "$I3" running || fail "$I3 running"
P3=$(wait_pid "$I3") || fail "sshd of $I3 started"
A3=$(hosts | jq -r '.hosts[0].address')
check "default hosts directory beside --db" "$TMPD/sim.db.hosts" "$(hosts | jq -r .dir)"
on "$A3" "mkdir -p /etc/app && echo $MARK > /etc/app/x"
sim_stop
gone "$P3" && ok "sshd stopped with the sim" || fail "sshd $P3 survived the sim"
PORT=${SIM_URL##*:}
"$SIM_BIN" sim --listen "127.0.0.1:$PORT" --instance-hosts --db "$TMPD/sim.db" >"$TMPD/sim.out" 2>"$TMPD/sim.err" &
SIM_PID=$!
wait_until 60 "the restarted sim listening" grep -q "^listening on" "$TMPD/sim.out" || fail "the restarted sim listens"
P3B=$(wait_pid "$I3") && ok "restarted sim starts the running instance's sshd (pid $P3B)" || fail "no sshd after restart"
check "same address after the restart" "$A3" "$(hosts | jq -r '.hosts[0].address')"
check "the layer outlived the sim" "$MARK" "$(on "$A3" cat /etc/app/x)"
ec2 "Action=TerminateInstances&InstanceId.1=$I3"
wait_state "$I3" terminated || fail "$I3 terminated"
wait_until 60 "the layer of $I3 removed" no_dir "$TMPD/sim.db.hosts/$I3"
[ -d "$TMPD/sim.db.hosts/$I3" ] && fail "layer left after terminate" || ok "layer removed after terminate"
sim_stop
gone "$P3B" && ok "no sshd left" || fail "sshd $P3B left"
finish
