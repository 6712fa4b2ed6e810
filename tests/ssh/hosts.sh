#!/usr/bin/env bash
# Hosts in the stack (hosts:, host: NAME) with the real cairn binary and real
# sshd: the engine chooses the machine from the resource's host; host keys
# (unknown refused, --accept-new-host-keys recorded in the state, a changed
# key refused with both fingerprints); count, for_each from the overlay's
# inventory, an address known only after apply, a bastion; bad stacks.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
start_host b
start_host jump "" "LogLevel DEBUG1"

# mk DIR: stack.yaml from stdin, dev.yaml ($2) (the fixture modules are on
# CAIRN_MODULES_PATH, lib.sh)
mk() {
  mkdir -p "$1"
  cat >"$1/stack.yaml"
  printf '%s\n' "${2:-variables: {\}}" >"$1/dev.yaml"
}
state_count() { state_sql "$1" "select count(*) from resources where env='dev' and address='$2'"; }
attr() { state_sql "$1" "select json_extract(attrs, '\$.$3') from resources where env='dev' and address='$2'"; }

echo "# an unknown host: apply refuses it, names its key, and records nothing"
mk s <<EOF
hosts:
$(host_yaml a)
resources:
  p:
    type: host.probe
    host: a
    text: hello
EOF
run plan -C s -e dev
expect_rc 0 "plan of a new host (no connection needed)"
out_has "+ a (ssh.host) {" "the host is planned"
out_has '+ name                 = "a"' "its name is known at plan"
out_has "+ p (host.probe) {" "the probe is planned"
run apply -C s -e dev --auto-approve
expect_rc 1 "apply to an unknown host"
out_has "failed:  a: " "the host failed"
out_has "host key verification failed: the host is not known (it offers ssh-ed25519 key $(fp "$K/host_ed25519.pub"))" "the key is named"
out_has "or run with --accept-new-host-keys" "the way out is named"
out_has "skipped: p: dependency a failed" "its resources are skipped"
eq "$(state_sql s "select count(*) from resources")" 0 "nothing recorded"

echo "# --accept-new-host-keys: accepted, recorded in the state, the probe ran on a"
run apply -C s -e dev --auto-approve --accept-new-host-keys
expect_rc 0 "apply accepting new keys"
eq "$(attr s a host_key)" "ssh-ed25519 $(cut -d' ' -f2 "$K/host_ed25519.pub")" "the accepted key is in the state"
eq "$(attr s a host_key_fingerprint)" "$(fp "$K/host_ed25519.pub")" "and its fingerprint"
eq "$(attr s p ran_on)" "hello a" "the probe ran on host a (stdin and the host's environment)"
eq "$(attr s p host)" "a" "the probe records its host"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "a second plan is empty (the recorded key is accepted without known_hosts)"
check "known_hosts untouched" test ! -s "$KNOWN"

echo "# the host's key changes: refused with both fingerprints, even with --accept-new-host-keys"
stop_host a
RESTART=1 start_host a "$K/host_ecdsa"
run plan -C s -e dev --accept-new-host-keys
expect_rc 1 "plan against a changed key"
err_has "the host key has CHANGED (this may be an attack): the key recorded when it was first accepted is $(fp "$K/host_ed25519.pub"), the host now offers $(fp "$K/host_ecdsa.pub") (ecdsa-sha2-nistp256)" "both fingerprints"
err_has "a (127.0.0.1:${SSHD_PORT[a]})" "the host is named"
run apply -C s -e dev --auto-approve --accept-new-host-keys
expect_rc 1 "apply against a changed key"
out_has "failed:  a: " "the host fails"
out_has "the host key has CHANGED" "with the reason"
out_has "skipped: p: dependency a failed" "nothing runs on it"
eq "$(attr s a host_key)" "ssh-ed25519 $(cut -d' ' -f2 "$K/host_ed25519.pub")" "the recorded key is unchanged"
stop_host a
RESTART=1 start_host a

echo "# a resource moved to another host: replaced there"
known b
sed -i 's/    host: a/    host: b/' s/stack.yaml
sed -i "s/^hosts:/hosts:\n$(host_yaml b | sed 's/[\/&]/\\&/g' | sed ':a;N;$!ba;s/\n/\\n/g')/" s/stack.yaml
run apply -C s -e dev --auto-approve
expect_rc 0 "apply moving the probe to b"
out_has "must be replaced" "the probe is replaced"
eq "$(attr s p ran_on)" "hello b" "it ran on b"
eq "$(attr s b host_key_fingerprint)" "$(fp "$K/host_ed25519.pub")" "b accepted from known_hosts"

echo "# count, an inventory from the overlay (for_each), an address known only after apply"
mk s2 "variables:
  inventory: { one: \"${SSHD_PORT[a]}\", two: \"${SSHD_PORT[b]}\" }" <<EOF
variables:
  ports: { type: list, default: [${SSHD_PORT[a]}, ${SSHD_PORT[b]}] }
  inventory: { type: map }
resources:
  m:
    type: test.machine
    listen: ${SSHD_PORT[b]}
  counted:
    type: host.probe
    count: 2
    host: web[count.index]
    text: "web \${count.index}"
  per:
    type: host.probe
    for_each: "\${var.inventory}"
    host: fleet[each.key]
    text: "\${each.key}"
  late:
    type: host.probe
    host: made
    text: late
hosts:
  web:
    count: 2
    address: 127.0.0.1
    port: "\${var.ports[count.index]}"
    user: root
    key_file: $K/id_ed25519
    known_hosts: $KNOWN
  fleet:
    for_each: "\${var.inventory}"
    address: 127.0.0.1
    port: "\${each.value}"
    user: root
    key_file: $K/id_ed25519
    known_hosts: $KNOWN
  made:
    address: "\${m.address}"
    port: "\${m.port}"
    user: root
    key_file: $K/id_ed25519
    known_hosts: $KNOWN
EOF
known a
run plan -C s2 -e dev
expect_rc 0 "plan"
out_has '+ address              = (known after apply)' "the made host's address is known after apply"
run apply -C s2 -e dev --auto-approve
expect_rc 0 "apply"
eq "$(attr s2 'counted[0]' ran_on)" "web 0 a" "counted[0] on web[0] (a)"
eq "$(attr s2 'counted[1]' ran_on)" "web 1 b" "counted[1] on web[1] (b)"
eq "$(attr s2 'per["one"]' ran_on)" "one a" "per[one] on fleet[one]"
eq "$(attr s2 'per["two"]' ran_on)" "two b" "per[two] on fleet[two]"
eq "$(attr s2 late ran_on)" "late b" "late ran on the machine made in the same apply"
eq "$(attr s2 'fleet["two"]' port)" "${SSHD_PORT[b]}" "the inventory's port"
run plan -C s2 -e dev --detailed-exitcode
expect_rc 0 "a second plan is empty"

echo "# a bastion: b through jump"
known jump
mk s3 <<EOF
hosts:
$(host_yaml jump)
$(host_yaml b "    bastion: jump
")
resources:
  p:
    type: host.probe
    host: b
    text: via
EOF
run apply -C s3 -e dev --auto-approve
expect_rc 0 "apply through the bastion"
eq "$(attr s3 p ran_on)" "via b" "ran on b"
eq "$(attr s3 b bastion)" "jump" "b records its bastion by name"
check "jump's sshd carried the connection to b" grep -q "server_request_direct_tcpip: .*target 127.0.0.1 port ${SSHD_PORT[b]}" "$WORK/sshd_jump.log"
run state show -C s3 -e dev b
expect_rc 0 "state show of a host"
out_has "b (ssh.host)" "it is a host"

echo "# a module of a resource that is not a host's cannot reach any machine"
mk s4 <<EOF
hosts:
$(host_yaml a)
resources:
  x:
    type: test.nohost
    depends_on: [a]
EOF
rm -f /tmp/cairn-nohost-ran
run apply -C s4 -e dev --auto-approve
expect_rc 1 "apply"
out_has "x has no host: cairn.ssh is for resources that name a host (host: NAME)" "message"
check "nothing ran" test ! -e /tmp/cairn-nohost-ran

echo "# a stack's own module has no cairn.ssh, even on a host's resource"
mk s4b <<EOF
hosts:
$(host_yaml a)
resources:
  y:
    type: test.own
    host: a
EOF
mkdir -p s4b/modules/test
cat >s4b/modules/test/own.lua <<'EOF'
return {
  type = "test.own",
  schema = { id = { type = "string", computed = true }, host = { type = "string", required = true } },
  create = function(ctx, p) cairn.ssh.exec{ command = "touch /tmp/cairn-own-ran" } return { id = "y" } end,
  read = function(ctx, id, old) return old end,
  delete = function(ctx, id, old) end,
}
EOF
rm -f /tmp/cairn-own-ran
run apply -C s4b -e dev --auto-approve
expect_rc 1 "apply of a stack's own module calling cairn.ssh"
err_has "test/own.lua:4: attempt to index a nil value (field 'ssh')" "the stack's module has no cairn.ssh"
check "nothing ran" test ! -e /tmp/cairn-own-ran

echo "# a changed key put in known_hosts on purpose: trusted, and recorded by the next apply"
start_host c
mk s5 <<EOF
hosts:
$(host_yaml c)
resources:
  p:
    type: host.probe
    host: c
    text: before
EOF
run apply -C s5 -e dev --auto-approve --accept-new-host-keys
expect_rc 0 "first apply accepting c's key"
stop_host c
RESTART=1 start_host c "$K/host_ecdsa"
run plan -C s5 -e dev
expect_rc 1 "the changed key is refused"
err_has "if the change is expected, add the new key to $KNOWN" "the way out"
known c "$K/host_ecdsa.pub"
run plan -C s5 -e dev --detailed-exitcode
expect_rc 2 "the plan shows the key to record"
out_has "# c will run (its key changed to $(fp "$K/host_ecdsa.pub"), which known_hosts holds: the new key will be recorded)" "why"
run apply -C s5 -e dev --auto-approve
expect_rc 0 "with the new key in known_hosts"
eq "$(attr s5 c host_key)" "ecdsa-sha2-nistp256 $(cut -d' ' -f2 "$K/host_ecdsa.pub")" "the new key recorded"
run plan -C s5 -e dev --detailed-exitcode
expect_rc 0 "and nothing more to do"

echo "# a host's address changes (its machine was replaced): another host, not a changed key"
mk s6 "variables: { port: ${SSHD_PORT[a]} }" <<EOF
variables:
  port: { type: number }
hosts:
  m:
    address: 127.0.0.1
    port: "\${var.port}"
    user: root
    key_file: $K/id_ed25519
    known_hosts: ""
resources:
  p:
    type: host.probe
    host: m
    text: on
EOF
run apply -C s6 -e dev --auto-approve --accept-new-host-keys
expect_rc 0 "first apply: m is a (ed25519)"
eq "$(attr s6 m host_key_fingerprint)" "$(fp "$K/host_ed25519.pub")" "a's key recorded"
printf 'variables: { port: %s }\n' "${SSHD_PORT[c]}" >s6/dev.yaml
run plan -C s6 -e dev
expect_rc 0 "plan"
out_has "# m will be updated in place" "m moves"
out_has "# p will be created (its host m moves to a new machine)" "what is on m is made again on the new machine"
run apply -C s6 -e dev --auto-approve --accept-new-host-keys
expect_rc 0 "accepted as a new host (before: refused as a CHANGED key, whatever the flags)"
eq "$(attr s6 m port)" "${SSHD_PORT[c]}" "the new port recorded"
eq "$(attr s6 m host_key_fingerprint)" "$(fp "$K/host_ecdsa.pub")" "c's key recorded"
eq "$(attr s6 p ran_on)" "on c" "p was made on c"
run plan -C s6 -e dev --detailed-exitcode
expect_rc 0 "nothing more to do"

echo "# bad stacks: file:line:col, nothing changed"
mk bad <<EOF
hosts:
  h:
    type: ssh.host
    address: 127.0.0.1
EOF
run validate -C bad -e dev
expect_rc 1 "type in a host"
err_has "stack.yaml:3:5: a host has no 'type'" "position and message"
mk bad2 <<EOF
resources:
  h:
    type: null.resource
hosts:
  h:
    address: 127.0.0.1
EOF
run validate -C bad2 -e dev
expect_rc 1 "a host named as a resource"
err_has "stack.yaml:5:3: host 'h' has the name of resource 'h' (line 2)" "message"
mk bad3 <<EOF
resources:
  n:
    type: null.resource
  p:
    type: host.probe
    host: n
hosts:
  a:
    address: 127.0.0.1
EOF
run validate -C bad3 -e dev
expect_rc 1 "host names a resource that is not a host"
err_has "stack.yaml:6:11: 'host' of p must name a host of the hosts: section; 'n' is a null.resource resource" "message"
mk bad4 <<EOF
resources:
  p:
    type: host.probe
    host: nowhere
EOF
run validate -C bad4 -e dev
expect_rc 1 "host names nothing"
err_has "stack.yaml:4:11: unknown reference 'nowhere'" "message"
mk bad5 <<EOF
resources:
  p:
    type: host.probe
    host: "var.x"
EOF
run validate -C bad5 -e dev
expect_rc 1 "host is not a name"
err_has "stack.yaml:4:11: 'host' must name a host of the hosts: section, like web or web[0]; got 'var.x'" "message"
mk bad6 <<EOF
resources:
  p:
    type: host.probe
    text: x
EOF
run validate -C bad6 -e dev
expect_rc 1 "no host"
err_has "stack.yaml:2:3: resource 'p' (host.probe) is missing required property 'host'" "message"
mk bad7 <<EOF
hosts:
  h:
    adress: 127.0.0.1
EOF
run validate -C bad7 -e dev
expect_rc 1 "typo in a host"
err_has "stack.yaml:3:5: unknown property 'adress' for resource type ssh.host; did you mean 'address'?" "message"
check "no state was made" test ! -e bad/.cairn/state.db

done_testing
