#!/usr/bin/env bash
# host.file, host.directory, host.symlink, host.line against a real sshd:
# each type created, an empty second plan (--detailed-exitcode 0), a change
# in the stack applied (the plan shows a unified diff for file contents, the
# line replaced), drift made on the host shown by the next plan and repaired,
# import, and destroy.
. "$(dirname "$0")/lib.sh" "$1"

start_host a
known a
R=$(hostdir a)
mkdir -p s/files
printf 'name = ${name}\nport = ${port}\npeers = ${join(",", peers)}\n' >s/files/app.tpl
head -c 5000 /dev/urandom >s/files/blob
printf 'secret-token-value' >s/files/secret

stack() { # PORT NAME MODE LINE: the stack with these values
  cat >s/stack.yaml <<EOF
variables:
  port: { type: number, default: $1 }
  token: { type: string, sensitive: true, default: "tok-ABCDEFGH-$1" }
hosts:
$(host_yaml a)
resources:
  etc:
    type: host.directory
    host: a
    path: $R/etc/app/conf.d
    mode: "0750"
  conf:
    type: host.file
    host: a
    path: $R/etc/app/app.conf
    content: '\${templatefile("files/app.tpl", {name = "$2", port = var.port, peers = ["p1", "p2"]})}'
    mode: "$3"
    depends_on: [etc]
  blob:
    type: host.file
    host: a
    path: $R/etc/app/blob
    content_base64: '\${filebase64("files/blob")}'
    mode: "0600"
    depends_on: [etc]
  secret:
    type: host.file
    host: a
    path: $R/etc/app/token
    content: "token=\${var.token}\n"
    mode: "0600"
    depends_on: [etc]
  current:
    type: host.symlink
    host: a
    path: $R/current
    target: $R/etc/app
  swap:
    type: host.line
    host: a
    path: $R/etc/sysctl.conf
    regexp: '^vm\.swappiness\s*='
    line: "$4"
    create: true
    depends_on: [etc]
  maxfiles:
    type: host.line
    host: a
    path: $R/etc/sysctl.conf
    regexp: '^fs\.file-max\s*='
    line: fs.file-max = 100000
    create: true
    depends_on: [swap]
  nomore:
    type: host.line
    host: a
    path: $R/etc/sysctl.conf
    regexp: '^kernel\.old'
    line: kernel.old = 1
    state: absent
    depends_on: [maxfiles]
EOF
  echo 'variables: {}' >s/dev.yaml
}

echo "# create"
stack 8001 web 0644 "vm.swappiness = 10"
run apply -C s -e dev --auto-approve --accept-new-host-keys
expect_rc 0 "first apply"
out_has "Apply complete! Resources: 9 added, 0 changed, 0 destroyed." "summary"
eq "$(cat "$R/etc/app/app.conf")" "name = web
port = 8001
peers = p1,p2" "rendered template"
eq "$(stat -c %a "$R/etc/app/app.conf") $(stat -c %a "$R/etc/app/conf.d") $(stat -c %a "$R/etc/app/blob")" "644 750 600" "modes"
check "binary content byte for byte" cmp -s s/files/blob "$R/etc/app/blob"
eq "$(readlink "$R/current")" "$R/etc/app" "symlink"
eq "$(cat "$R/etc/sysctl.conf")" "vm.swappiness = 10
fs.file-max = 100000" "lines in order, the file created"
check "no temporary files left" test -z "$(find "$R" -name '*.cairn-*')"
eq "$(state_sql s "select json_extract(attrs, '\$.sha256') from resources where address='conf'")" "$(sha256sum "$R/etc/app/app.conf" | cut -c1-64)" "sha256 recorded"
check "the token is sealed in the state" bash -c "! sqlite3 s/.cairn/state.db .dump | grep -q 'tok-ABCDEFGH'"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "second plan is empty"
out_has "No changes." "no changes"

echo "# change in the stack: a unified diff, a line replaced, a mode"
stack 8002 web 0640 "vm.swappiness = 20"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan of the change"
out_has "~ content =" "content change shown"
out_has "@@ -1,3 +1,3 @@" "a hunk header"
out_has "- port = 8001" "the old line"
out_has "+ port = 8002" "the new line"
out_has '~ mode    = "0644" -> "0640"' "the mode change"
out_has '~ line = "vm.swappiness = 10" -> "vm.swappiness = 20"' "the line replaced"
out_has "~ content = (sensitive)" "the token's content is redacted"
out_lacks "tok-ABCDEFGH" "no secret in the plan"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the change"
out_has "0 added, 3 changed, 0 destroyed" "summary"
eq "$(sed -n 2p "$R/etc/app/app.conf") $(stat -c %a "$R/etc/app/app.conf")" "port = 8002 640" "rewritten, new mode"
eq "$(cat "$R/etc/sysctl.conf")" "vm.swappiness = 20
fs.file-max = 100000" "the line replaced in place"
check "no temporary files left" test -z "$(find "$R" -name '*.cairn-*')"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty again"

echo "# drift on the host shows in the next plan"
echo "edited on the host" >>"$R/etc/app/app.conf"
chmod 0600 "$R/etc/app/blob"
head -c 10 /dev/urandom >>"$R/etc/app/blob"
sed -i '/fs.file-max/d' "$R/etc/sysctl.conf"
echo "kernel.old = 7" >>"$R/etc/sysctl.conf"
ln -sfn /tmp "$R/current"
chmod 0700 "$R/etc/app/conf.d"
echo "secret-token-value changed" >"$R/etc/app/token"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan with drift"
out_has "- edited on the host" "the edit is shown as a line to remove"
out_has "~ content_base64 = " "binary drift"
out_has "# maxfiles was deleted outside cairn" "a removed line"
out_has '~ state = "present" -> "absent"' "a line to remove came back"
out_has "~ target = \"/tmp\" -> \"$R/etc/app\"" "the link"
out_has '~ mode = "0700" -> "0750"' "the directory's mode"
out_has "~ content = (sensitive)" "sensitive drift stays redacted"
out_lacks "secret-token-value" "not even the drifted text"
run apply -C s -e dev --auto-approve
expect_rc 0 "repair"
eq "$(tail -1 "$R/etc/app/app.conf")" "peers = p1,p2" "content repaired"
check "blob repaired" cmp -s s/files/blob "$R/etc/app/blob"
eq "$(cat "$R/etc/sysctl.conf")" "vm.swappiness = 20
fs.file-max = 100000" "lines repaired"
eq "$(readlink "$R/current")" "$R/etc/app" "link repaired"
eq "$(stat -c %a "$R/etc/app/conf.d")" 750 "directory mode repaired"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "empty after the repair"

echo "# a file removed on the host is made again"
rm "$R/etc/app/app.conf"
run plan -C s -e dev
out_has "# conf was deleted outside cairn" "gone"
run apply -C s -e dev --auto-approve
expect_rc 0 "made again"
check "there" test -f "$R/etc/app/app.conf"

echo "# import an existing file"
printf 'imported\n' >"$R/etc/app/extra"
chmod 0604 "$R/etc/app/extra"
cat >>s/stack.yaml <<EOF
  extra:
    type: host.file
    host: a
    path: $R/etc/app/extra
    content: "imported\n"
    mode: "0604"
EOF
run import -C s -e dev extra "$R/etc/app/extra"
expect_rc 0 "import"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "nothing to change after the import"
eq "$(state_sql s "select json_extract(attrs, '\$.content') from resources where address='extra'")" "imported" "imported content"

echo "# destroy: everything removed, dependents first; lines taken out of the file"
echo "keep me" >>"$R/etc/sysctl.conf"
rm "$R/etc/app/extra"
sed -i '/^  extra:/,$d' s/stack.yaml
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
check "files gone" test ! -e "$R/etc/app/app.conf" -a ! -e "$R/etc/app/blob" -a ! -e "$R/etc/app/token"
check "link gone" test ! -L "$R/current"
check "directory gone" test ! -e "$R/etc/app/conf.d"
eq "$(cat "$R/etc/sysctl.conf")" "keep me" "only the managed lines were removed"
eq "$(state_sql s "select count(*) from resources")" 0 "state empty"

done_testing
