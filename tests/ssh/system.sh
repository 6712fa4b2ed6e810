#!/usr/bin/env bash
# host.package, host.service, host.user, host.group against a real sshd.
# apt-get, dpkg-query and systemctl are fakes on the test host's PATH
# (tests/ssh/fakebin: this machine runs no systemd, and the tests install
# nothing from the network); the modules run them as they would the real
# ones, and the fakes log every call. Users and groups are real (useradd as
# root on this machine, under unique names, removed on exit).
. "$(dirname "$0")/lib.sh" "$1"

FAKE_DIR="$WORK/fake"
mkdir -p "$FAKE_DIR/units"
SSHD_SETENV="PATH=$TESTS_DIR/../ssh/fakebin:/usr/sbin:/usr/bin:/sbin:/bin FAKE_DIR=$FAKE_DIR" start_host a
known a
touch "$FAKE_DIR/units/app.service" "$FAKE_DIR/units/web.service"
R=$(hostdir a)

U="ct$((RANDOM % 90000 + 10000))"
G="${U}g"
cleanup_users() { userdel "$U" 2>/dev/null; groupdel "$G" 2>/dev/null; groupdel "${G}2" 2>/dev/null; }
trap 'cleanup_users; stop_all_hosts; cleanup' EXIT
cleanup_users

stack() { # VERSION APPCONF SHELL
  mkdir -p s
  cat >s/stack.yaml <<EOF
hosts:
$(host_yaml a)
resources:
  curl:
    type: host.package
    host: a
    name: curl
  jq:
    type: host.package
    host: a
    name: jq
    version: "$1"
  old:
    type: host.package
    host: a
    name: telnet
    state: absent
  conf:
    type: host.file
    host: a
    path: $R/app.conf
    content: "$2\n"
  app:
    type: host.service
    host: a
    name: app.service
    enabled: true
    running: true
    restart_on: [conf]
  web:
    type: host.service
    host: a
    name: web.service
    enabled: false
    running: false
  grp:
    type: host.group
    host: a
    name: $G
  grp2:
    type: host.group
    host: a
    name: ${G}2
    gid: 45678
  usr:
    type: host.user
    host: a
    name: $U
    group: $G
    groups: ["${G}2"]
    shell: $3
    home: /tmp/$U
    depends_on: [grp, grp2]
EOF
  echo 'variables: {}' >s/dev.yaml
}

echo "# create: packages in one apt-get call, services, a group, a user"
echo 0.9-1 >"$FAKE_DIR/telnet-was-here"
mkdir -p "$FAKE_DIR/pkgs" && echo 0.17-44 >"$FAKE_DIR/pkgs/telnet"
touch "$FAKE_DIR/units/web.service.enabled" "$FAKE_DIR/units/web.service.active"
stack 1.6-2 one /bin/sh
run apply -C s -e dev --auto-approve
expect_rc 0 "first apply"
eq "$(wc -l <"$FAKE_DIR/apt.log")" 1 "one apt-get call for the host's packages"
check "curl, jq=1.6-2 and telnet- in it" grep -q -- "curl" "$FAKE_DIR/apt.log"
check "jq pinned" grep -q -- "jq=1.6-2" "$FAKE_DIR/apt.log"
check "telnet removed" grep -q -- "telnet-" "$FAKE_DIR/apt.log"
eq "$(cat "$FAKE_DIR/pkgs/jq") $(cat "$FAKE_DIR/pkgs/curl")" "1.6-2 1.0-1" "installed versions"
check "telnet gone" test ! -e "$FAKE_DIR/pkgs/telnet"
check "app enabled and running" test -e "$FAKE_DIR/units/app.service.enabled" -a -e "$FAKE_DIR/units/app.service.active"
check "web disabled and stopped" test ! -e "$FAKE_DIR/units/web.service.enabled" -a ! -e "$FAKE_DIR/units/web.service.active"
eq "$(getent group "${G}2" | cut -d: -f3)" 45678 "group with its gid"
eq "$(id -gn "$U") $(id -Gn "$U" | tr ' ' '\n' | grep -c "${G}2") $(getent passwd "$U" | cut -d: -f6,7)" "$G 1 /tmp/$U:/bin/sh" "the user"
eq "$(state_sql s "select json_extract(attrs, '\$.installed_version') from resources where address='jq'")" "1.6-2" "recorded version"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "second plan is empty"
: >"$FAKE_DIR/systemctl.log"

echo "# change: a version, a file the service restarts on, a shell"
stack 1.7-1 two /bin/bash
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan"
out_has '~ version = "1.6-2" -> "1.7-1"' "the version"
out_has '~ restart_on = (["conf"] change in this apply)' "the restart"
out_has '~ shell = "/bin/sh" -> "/bin/bash"' "the shell"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(cat "$FAKE_DIR/pkgs/jq")" 1.7-1 "upgraded"
eq "$(cat "$FAKE_DIR/systemctl.log")" "restart app.service" "app restarted after its file changed, once"
eq "$(getent passwd "$U" | cut -d: -f7)" /bin/bash "shell changed"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty again (the restart does not repeat)"

echo "# drift: a package removed, a service stopped, a user changed, outside cairn"
rm "$FAKE_DIR/pkgs/curl"
rm "$FAKE_DIR/units/app.service.active"
touch "$FAKE_DIR/units/web.service.active"
usermod -s /bin/sh "$U"
gpasswd -d "$U" "${G}2" >/dev/null
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift shown"
out_has '~ state = "absent" -> "present"' "curl to install again"
out_has '~ running = false -> true' "app to start"
out_has '~ running = true -> false' "web to stop"
out_has '~ shell  = "/bin/sh" -> "/bin/bash"' "the shell"
out_has "~ groups = [] -> [\"${G}2\"]" "the groups"
run apply -C s -e dev --auto-approve
expect_rc 0 "repair"
check "curl back" test -f "$FAKE_DIR/pkgs/curl"
check "app running" test -e "$FAKE_DIR/units/app.service.active"
check "web stopped" test ! -e "$FAKE_DIR/units/web.service.active"
eq "$(id -Gn "$U" | tr ' ' '\n' | grep -c "${G}2")" 1 "back in the group"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty after the repair"

echo "# a package apt-get cannot find: the apt error in the message"
cat >>s/stack.yaml <<EOF
  nope:
    type: host.package
    host: a
    name: nosuchpackage
EOF
run apply -C s -e dev --auto-approve
expect_rc 1 "apply"
out_has "E: Unable to locate package nosuchpackage" "apt's words"
sed -i '/^  nope:/,$d' s/stack.yaml

echo "# a package to be present (any version) and installed already: no apt-get call (it would upgrade it)"
echo 0.9-1 >"$FAKE_DIR/pkgs/preinst"
: >"$FAKE_DIR/apt.log"
cat >>s/stack.yaml <<EOF
  pre:
    type: host.package
    host: a
    name: preinst
EOF
run apply -C s -e dev --auto-approve
expect_rc 0 "apply"
eq "$(wc -l <"$FAKE_DIR/apt.log")" 0 "no apt-get call"
eq "$(state_sql s "select json_extract(attrs, '\$.installed_version') from resources where address='pre'")" "0.9-1" "the version found recorded"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing to do"
sed -i '/^  pre:/,$d' s/stack.yaml

echo "# destroy: packages removed in one call, the user and groups deleted, services left as they are"
: >"$FAKE_DIR/apt.log"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(wc -l <"$FAKE_DIR/apt.log")" 1 "one apt-get call"
check "curl and jq removed" test ! -e "$FAKE_DIR/pkgs/curl" -a ! -e "$FAKE_DIR/pkgs/jq"
check "user deleted" bash -c "! getent passwd $U"
check "groups deleted" bash -c "! getent group $G && ! getent group ${G}2"
check "app still running" test -e "$FAKE_DIR/units/app.service.active"

done_testing
