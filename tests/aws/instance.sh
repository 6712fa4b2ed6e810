#!/usr/bin/env bash
# aws.instance and aws.key_pair against cairn sim: create (a bastion with a
# public IP from its subnet, app servers at fixed private IPs, user data,
# a key pair whose fingerprint is EC2's), plan again is empty, in place:
# tags, security groups, the instance type (stop, modify, start: the sim's
# log shows the order) and state (stopped and back); replacement (a new
# AMI: the old instance terminated); drift made behind cairn's back (an
# instance stopped, its type changed, a tag, an instance terminated, the key
# pair replaced under the same name: imported again) shows in the plan and
# apply repairs it; import of an instance and a key pair made with the EC2
# API (the key's comment as EC2 reports it differs: recorded, not sent); an
# injected InsufficientInstanceCapacity fails the apply with EC2's message
# and leaves no state row, a 500 and a not-yet-visible instance are got
# past with one instance made; a kill -9 between RunInstances and the state's
# commit is recovered by the ClientToken, without a second instance;
# destroy leaves only terminated instances, gone after the retention.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log --terminated-retention 4

mkdir -p s
ssh-keygen -q -t ed25519 -N '' -C ops@cairn -f s/key || exit 1
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other" || exit 1
DEBIAN=ami-0deb1a12c0ffee000
AL2023=ami-0a12023c0ffee0000

write_stack() { # BASTION_TYPE BASTION_GROUPS BASTION_STATE NAME BASTION_AMI
  awsstack s <<YAML
outputs:
  bastion_ip: { value: "\${bastion.public_ip}" }
resources:
  net:
    type: aws.vpc
    cidr_block: 10.60.0.0/16
  pub:
    type: aws.subnet
    vpc_id: "\${net.id}"
    cidr_block: 10.60.1.0/24
    map_public_ip_on_launch: true
  priv:
    type: aws.subnet
    vpc_id: "\${net.id}"
    cidr_block: 10.60.2.0/24
  ssh:
    type: aws.security_group
    name: ssh
    vpc_id: "\${net.id}"
    ingress: [{ protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [0.0.0.0/0] }]
  extra:
    type: aws.security_group
    name: extra
    vpc_id: "\${net.id}"
  key:
    type: aws.key_pair
    key_name: ops
    public_key: "\${file(\"key.pub\")}"
    tags: { team: infra }
  bastion:
    type: aws.instance
    ami: $5
    instance_type: $1
    subnet_id: "\${pub.id}"
    key_name: "\${key.key_name}"
    vpc_security_group_ids: $2
    state: $3
    user_data: "#!/bin/sh\necho hello > /tmp/hello\n"
    tags: { Name: $4, role: bastion }
  app:
    type: aws.instance
    count: 2
    ami: $DEBIAN
    subnet_id: "\${priv.id}"
    private_ip: "\${cidrhost(priv.cidr_block, 10 + count.index)}"
    key_name: "\${key.key_name}"
    vpc_security_group_ids: ["\${ssh.id}"]
    tags: { Name: "app-\${count.index}" }
YAML
}
# out_like TEXT DESCRIPTION: stdout has TEXT, runs of spaces counting as one
out_like() {
  tr -s ' ' <"$WORK/out" | grep -qF -- "$(printf '%s' "$1" | tr -s ' ')" && pass ||
    { fail "stdout lacks '$1' ($2)"; sed 's/^/#   out: /' "$WORK/out" | head -60; }
}
inst() { sim_resources | jq -r --arg v "$1" '.resources[] | select(.id == $v)'; }
attr() { inst "$1" | jq -r ".attributes.$2"; }
live_instances() { sim_resources | jq '[.resources[] | select(.type == "ec2:instance" and .status != "terminated" and .status != "shutting-down")] | length'; }
# the actions the sim answered for an instance, in order, after log line N
actions_after() { tail -n +"$1" "$WORK/sim.log" | awk '{print $7}' | grep -E '^(StopInstances|StartInstances|ModifyInstanceAttribute)$' | uniq | tr '\n' ' ' | sed 's/ $//'; }

write_stack t3.micro '["${ssh.id}"]' running bastion $DEBIAN
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "first plan has changes"
out_has "Plan: 9 to add, 0 to change, 0 to destroy." "nine objects"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the machines"
out_has "Apply complete! Resources: 9 added" "apply summary"
B=$(state_id s bastion); A0=$(state_id s 'app[0]'); A1=$(state_id s 'app[1]')
eq "$(live_instances)" "3" "three instances in the sim"
eq "$(inst "$B" | jq -r .status)" "running" "bastion running"
eq "$(attr "$B" instanceType)" "t3.micro" "bastion type"
eq "$(attr "$A0" privateIpAddress) $(attr "$A1" privateIpAddress)" "10.60.2.10 10.60.2.11" "app servers at their private IPs"
eq "$(attr "$A0" publicIpAddress)" "null" "no public IP in the private subnet"
PUB=$(attr "$B" publicIpAddress)
check "bastion has a public IP from its subnet ($PUB)" test -n "$PUB" -a "$PUB" != null
eq "$(attr "$B" keyName)" "ops" "launched with the key pair"
eq "$(attr "$B" userData | base64 -d)" "$(printf '#!/bin/sh\necho hello > /tmp/hello\n')" "user data as AWS wants it: base64"
eq "$(inst "$B" | jq -r '.tags["cairn:address"]')" "bastion" "cairn:address tag"
eq "$(inst "$B" | jq -r '.tags["cairn:token"] | length')" "32" "cairn:token tag"
eq "$(attr "$B" clientToken)" "$(inst "$B" | jq -r '.tags["cairn:token"]')" "the ClientToken is the operation's token"
run state show -e dev -C s bastion
out_like "state                         = \"running\"" "state recorded"
out_like "public_ip                     = \"$PUB\"" "public IP recorded"
out_like "ssh_address                   = \"$PUB\"" "ssh_address: the public IP"
out_like 'tags                          = {"Name" = "bastion", "role" = "bastion"}' "only the user's tags"
run state show -e dev -C s 'app[1]'
out_like 'ssh_address                   = "10.60.2.11"' "ssh_address of a private machine: its private IP"
run state show -e dev -C s key
want=$(ssh-keygen -lf s/key.pub | awk '{print $2}' | sed 's/^SHA256://')=
out_like "fingerprint = \"$want\"" "the key pair's fingerprint as EC2 computes it"
out_like 'key_type    = "ed25519"' "key type"
run output -C s -e dev bastion_ip
out_has "$PUB" "output bastion_ip"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

# in place: type (stop, modify, start), one group more, a tag
L=$(($(wc -l <"$WORK/sim.log") + 1))
write_stack t3.small '["${ssh.id}", "${extra.id}"]' running bastion-1 $DEBIAN
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan shows the changes"
out_has "# bastion will be updated in place" "bastion in place"
out_like '~ instance_type          = "t3.micro" -> "t3.small"' "type change"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "one update"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the changes"
eq "$(attr "$B" instanceType)" "t3.small" "type changed"
eq "$(attr "$B" 'groupIds | length')" "2" "two groups"
eq "$(inst "$B" | jq -r .tags.Name)" "bastion-1" "tag changed"
eq "$(inst "$B" | jq -r .status)" "running" "running again"
eq "$(actions_after "$L")" "ModifyInstanceAttribute StopInstances ModifyInstanceAttribute StartInstances" \
  "groups, then stop, modify the type, start"
NEWPUB=$(attr "$B" publicIpAddress)
check "a new public IP after the start ($NEWPUB)" test "$NEWPUB" != "$PUB" -a "$NEWPUB" != null
run state show -e dev -C s bastion
out_like "public_ip                     = \"$NEWPUB\"" "the new public IP recorded"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the update"

# state: stopped, then running again
write_stack t3.small '["${ssh.id}", "${extra.id}"]' stopped bastion-1 $DEBIAN
run apply -C s -e dev --auto-approve
expect_rc 0 "stop through the stack"
eq "$(inst "$B" | jq -r .status)" "stopped" "stopped"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "a stopped instance converged (its public IP kept in the state)"
write_stack t3.small '["${ssh.id}", "${extra.id}"]' running bastion-1 $DEBIAN
run apply -C s -e dev --auto-approve
expect_rc 0 "start through the stack"
eq "$(inst "$B" | jq -r .status)" "running" "running"
write_stack t3.small '["${ssh.id}", "${extra.id}"]' paused bastion-1 $DEBIAN
run apply -C s -e dev --auto-approve
expect_rc 1 "an unknown state fails"
out_has 'state must be running or stopped, not "paused"' "the message"
eq "$(inst "$B" | jq -r .status)" "running" "nothing changed"

# replacement: another AMI
write_stack t3.small '["${ssh.id}", "${extra.id}"]' running bastion-1 $AL2023
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "AMI change"
out_has "# bastion must be replaced" "replaced"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the replacement"
eq "$(inst "$B" | jq -r .status)" "terminated" "the old instance is terminated"
B2=$(state_id s bastion)
check "a new instance" test "$B2" != "$B"
eq "$(attr "$B2" imageId)" "$AL2023" "new AMI"
eq "$(live_instances)" "3" "still three live instances"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the replacement"

# drift: stopped, type changed, tag changed, terminated, key replaced
ec2 StopInstances InstanceId.1="$A0" >/dev/null
sim_patch "$B2" '{"attributes":{"instanceType":"t3.large"},"tags":{"role":"hacked"}}'
ec2 TerminateInstances InstanceId.1="$A1" >/dev/null
ec2 DeleteKeyPair KeyName=ops >/dev/null
ec2 ImportKeyPair KeyName=ops PublicKeyMaterial="$(base64 -w0 "$WORK/other.pub")" >/dev/null
sleep 1.2
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift detected"
out_like '~ state                  = "stopped" -> "running"' "stopped out of band"
out_like '~ instance_type          = "t3.large" -> "t3.small"' "type changed out of band"
out_has '"hacked"' "tag changed out of band"
out_has "# app[1] will be created" "terminated out of band: made again"
out_has "# key will be updated in place" "another key under the same name: imported again"
out_has "~ public_key" "the key's change shown"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply repairs the drift"
eq "$(inst "$A0" | jq -r .status)" "running" "started again"
eq "$(attr "$B2" instanceType)" "t3.small" "type back"
eq "$(inst "$B2" | jq -r .tags.role)" "bastion" "tag back"
eq "$(live_instances)" "3" "three live instances"
eq "$(ec2 DescribeKeyPairs KeyName.1=ops IncludePublicKey=true | xml_val publicKey | awk '{print $2}')" \
  "$(awk '{print $2}' s/key.pub)" "the stack's key again"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after the drift"

# import: an instance and a key pair made with the EC2 API
ec2 ImportKeyPair KeyName=handmade PublicKeyMaterial="$(base64 -w0 "$WORK/other.pub")" >/dev/null
PRIV=$(state_id s priv)
HAND=$(ec2 RunInstances ImageId=$DEBIAN InstanceType=t3.nano MinCount=1 MaxCount=1 SubnetId="$PRIV" \
  KeyName=handmade UserData="$(printf 'echo by hand' | base64 -w0)" | xml_val instanceId)
check "an instance made by hand ($HAND)" test -n "$HAND"
sleep 1.2 # pending -> running
cp s/stack.yaml s/stack.base
cat >>s/stack.yaml <<YAML
  handkey:
    type: aws.key_pair
    key_name: handmade
    public_key: "$(cat "$WORK/other.pub")"
  hand:
    type: aws.instance
    ami: $DEBIAN
    instance_type: t3.nano
    subnet_id: "\${priv.id}"
    key_name: "\${handkey.key_name}"
    user_data: echo by hand
YAML
run import -C s -e dev hand "$HAND"
expect_rc 0 "import the instance"
run import -C s -e dev handkey handmade
expect_rc 0 "import the key pair"
run import -C s -e dev hand i-0123456789abcdef0
expect_rc 1 "import of an instance that does not exist"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "after import only the key's comment differs"
out_has "# handkey will be updated in place" "the key pair updated, not replaced"
out_has "Plan: 0 to add, 1 to change, 0 to destroy." "nothing else"
out_lacks "# hand " "the imported instance matches the stack"
L=$(($(wc -l <"$WORK/sim.log") + 1))
run apply -C s -e dev --auto-approve
expect_rc 0 "apply records the stack's text"
eq "$(tail -n +"$L" "$WORK/sim.log" | grep -cE ' (ImportKeyPair|DeleteKeyPair) ')" "0" "the key pair was not imported again"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "then the plan is empty"
run state show -e dev -C s hand
out_like 'user_data                     = "echo by hand"' "user data read back"
out_like 'private_ip                    = "10.60.2.4"' "its address"
mv s/stack.base s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "removing them from the stack destroys them"
eq "$(inst "$HAND" | jq -r .status)" "terminated" "imported instance terminated"

# an injected capacity error: EC2's message, no state row, nothing launched
cp s/stack.yaml s/stack.base
cat >>s/stack.yaml <<YAML
  more:
    type: aws.instance
    ami: $DEBIAN
    instance_type: c7i.large
    subnet_id: "\${priv.id}"
YAML
sim_fault '{"action":"RunInstances","code":"InsufficientInstanceCapacity","status":500,"message":"We currently do not have sufficient c7i.large capacity in the Availability Zone you requested (us-east-1a)."}'
run apply -C s -e dev --auto-approve
expect_rc 1 "no capacity: the apply fails"
out_has "InsufficientInstanceCapacity: We currently do not have sufficient c7i.large capacity" "EC2's message"
eq "$(state_sql s "select count(*) from resources where env='dev' and address='more'")" "0" "no state row"
eq "$(sim_count_addr more)" "0" "nothing launched"
curl -s -X DELETE "$(sim_url)/_sim/faults" >/dev/null
run apply -C s -e dev --auto-approve
expect_rc 0 "capacity back: the apply works"
eq "$(sim_count_addr more)" "1" "one instance"
# a 500 that a retry gets past (safe: the ClientToken), then the new
# instance not visible yet to the next two DescribeInstances by id (no
# refresh: these faults are for the create's own calls)
cat >>s/stack.yaml <<YAML
  more2:
    type: aws.instance
    ami: $DEBIAN
    subnet_id: "\${priv.id}"
YAML
sim_fault '{"action":"RunInstances","code":"InternalError","status":500,"count":1}'
sim_fault '{"action":"DescribeInstances","code":"InvalidInstanceID.NotFound","count":2}'
run apply -C s -e dev --auto-approve --refresh=false
expect_rc 0 "the apply gets through a 500 and an instance not visible yet"
eq "$(sim_faults_left)" "0" "both faults were met"
eq "$(sim_count_addr more2)" "1" "one instance"
mv s/stack.base s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "remove it"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(live_instances)" "0" "no live instance left"
eq "$(sim_resources | jq '[.resources[] | select(.type != "ec2:instance")] | length')" "0" "nothing else left"
sleep 4.5
ec2 DescribeInstances >/dev/null
eq "$(sim_count)" "0" "terminated instances gone after the retention"

# a kill -9 between RunInstances and the state's commit: the next apply
# recovers the instance by its client token, and launches no second one
start_sim --log --latency 700
rm -rf c; mkdir c
awsstack c <<'YAML'
resources:
  net: { type: aws.vpc, cidr_block: 10.70.0.0/16 }
  sub:
    type: aws.subnet
    vpc_id: "${net.id}"
    cidr_block: 10.70.1.0/24
  vm:
    type: aws.instance
    ami: ami-0deb1a12c0ffee000
    subnet_id: "${sub.id}"
YAML
"$CAIRN" apply -C c -e dev --auto-approve >"$WORK/bg.out" 2>&1 </dev/null &
pid=$!
for i in $(seq 1 300); do grep -q " RunInstances 200 " "$WORK/sim.log" && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
eq "$(sim_count_addr vm)" "1" "the instance exists in the cloud"
eq "$(state_sql c "select count(*) from resources where env='dev' and address='vm'")" "0" "but not in the state"
check "an intent is pending" test "$(state_sql c "select count(*) from intents")" -ge 1
run_within 120 apply -C c -e dev --auto-approve
expect_rc 0 "apply after the crash"
eq "$(sim_count_addr vm)" "1" "one instance, recovered"
eq "$(grep -c " RunInstances 200 " "$WORK/sim.log")" "1" "RunInstances was not sent again"
eq "$(state_id c vm)" "$(sim_resources | jq -r '.resources[] | select(.tags["cairn:address"] == "vm") | .id')" "the state has it"
eq "$(state_sql c "select count(*) from intents")" "0" "no intents left"
run plan -C c -e dev --detailed-exitcode
expect_rc 0 "converged"
# bounded: a second instance (no client token) keeps the subnet from being
# deleted, and the destroy would wait for it until meson's timeout
run_within 120 destroy -C c -e dev --auto-approve
expect_rc 0 "destroy"
done_testing
