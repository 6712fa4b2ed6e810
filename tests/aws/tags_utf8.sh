#!/usr/bin/env bash
# Tag values that are not UTF-8, through the CLI: AWS refuses them (the sim
# answers 400 InvalidParameterValue; tests/sim/ec2.sh and rds.sh send them
# raw), and cairn never sends one: each way a value enters a stack (the
# stack file, the environment's overlay, --var, file(), base64decode()) is
# refused before any call, with the place where there is one. Nothing is
# sent to the sim (its request log stays empty) and no state is written.
# A UTF-8 value (accents, a check mark) goes through and reads back equal.
. "$(dirname "$0")/lib.sh" "$@"
start_sim --log

stack() { # the tag value's expression (stdin: nothing)
  awsstack s <<YAML
variables:
  t: { type: string, default: "plain" }
resources:
  net:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { team: '$1' }
YAML
}
nothing_done() { # WHAT
  eq "$(grep -c . "$WORK/sim.log")" "0" "$1: no request reached the sim"
  check "$1: no state written" no_state s
  out_lacks "will be created" "$1: no plan printed"
}

# the stack file itself: the YAML reader refuses the byte where it is
stack "$(printf 'a\377b')"
run plan -C s -e dev
expect_rc 1 "a raw FF byte in stack.yaml"
err_has "cairn: error: s/stack.yaml:7:21: invalid leading UTF-8 octet" "the byte's place"
nothing_done "raw byte"

# the environment's overlay
stack '${var.t}'
printf 'variables: {t: "a\377b"}\n' >>s/dev.yaml
run plan -C s -e dev
expect_rc 1 "a raw FF byte in dev.yaml"
err_has "cairn: error: s/dev.yaml:2:18: invalid leading UTF-8 octet" "the byte's place in the overlay"
nothing_done "overlay"

# --var (was: silently dropped, the default used)
stack '${var.t}'
run plan -C s -e dev --var "t=$(printf 'a\377b')"
expect_rc 1 "--var with a value that is not UTF-8"
err_has "cairn: error: --var t: the value is not valid UTF-8" "names the variable"
out_lacks "plain" "the default is not used instead"
nothing_done "--var"

# file() of a file that is not text
printf 'a\377b' >s/bad.txt
stack '${file("bad.txt")}'
run plan -C s -e dev
expect_rc 1 "file() of bytes that are not UTF-8"
err_has "cairn: error: s/stack.yaml:7:27: file(): s/bad.txt is not valid UTF-8 text" "the call's place"
nothing_done "file()"

# base64decode() to bytes that are not UTF-8 (FF FE)
stack '${base64decode("//4=")}'
run apply -C s -e dev --auto-approve
expect_rc 1 "base64decode() to bytes that are not UTF-8"
err_has "cairn: error: s/stack.yaml:7:35: base64decode(): the decoded data is not valid UTF-8" "the call's place"
nothing_done "base64decode()"

# UTF-8 goes through: sent, stored and read back equal
stack 'café ✓'
run apply -C s -e dev --auto-approve
expect_rc 0 "a UTF-8 tag value"
eq "$(sim_resources | jq -r '.resources[] | select(.type == "ec2:vpc") | .tags.team')" "café ✓" "the sim has it as written"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "read back equal: nothing to change"
run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
done_testing
