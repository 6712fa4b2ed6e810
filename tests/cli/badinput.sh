#!/usr/bin/env bash
# Walk the bad-input corpus: every case exits as expected with a specific
# message (naming file:line:col where there is one), and changes no file and
# no state.
#   tests/corpus/<group>/<case>/  stack.yaml, overlays, ...
#     expect   line 1: "exit N"; line 2: a substring of stderr (the message,
#              at least 16 characters); further lines: more substrings that
#              must all appear. A case whose expect breaks these rules is an
#              error of the test, not a pass.
#     cmd      optional: the cairn arguments, with shell quoting (default:
#              validate -e dev); the case directory is passed as -C DIR
#              unless cmd contains @DIR@
#     env      optional: NAME=VALUE lines set for the command (@DIR@ works)
#     setup    optional: a bash script run in the copied case directory
#              with $CAIRN set; it must succeed
# State unchanged: every file of the case is checksummed before and after,
# an SQLite database (the state, a sim database) by its dump (sqlite3
# .dump): both must be equal, and no file may appear or go.
# Then a few checks that need more than one command (apply-time refusals).
. "$(dirname "$0")/lib.sh" "$@"
# CAIRN_CORPUS=DIR runs another corpus (and only that): the self-test below
CORPUS=${CAIRN_CORPUS:-$TESTS_DIR/../corpus}
MIN_CASES=${CAIRN_CORPUS_MIN:-300}
export CAIRN

# The files and the databases of a case directory, as text to compare: the
# checksum of every file, except that an SQLite database (with its -wal and
# -shm) counts by its content, dumped from a copy so that nothing is created
# beside it (opening a database rewrites bytes that mean nothing, such as
# the change counter, and a command may take and release the lock).
snapshot() { # DIR
  ( cd "$1" || exit 1
    find . ! -name '*-wal' ! -name '*-shm' | sort
    find . -type f ! -name expect -print0 | sort -z |
      while IFS= read -r -d '' f; do
        case "$f" in *-wal|*-shm) [ "$(head -c 15 "${f%-???}" 2>/dev/null)" = "SQLite format 3" ] && continue ;; esac
        if [ "$(head -c 15 "$f")" = "SQLite format 3" ]; then
          t=$(mktemp -d); cp "$f" "$t/db"; [ -f "$f-wal" ] && cp "$f-wal" "$t/db-wal"
          echo "$f: $(sqlite3 "$t/db" .dump 2>&1 | grep -v '^-- ' | sha256sum)"
          rm -rf "$t"
        else
          sha256sum "$f"
        fi
      done )
}

n=0
for case in "$CORPUS"/*/*/; do
  name=$(basename "$case"); group=$(basename "$(dirname "$case")")
  d="$WORK/$group-$name"
  cp -r "$case" "$d"
  n=$((n + 1))
  # the expectation itself must be complete and specific
  line1=$(sed -n '1p' "$d/expect")
  want_msg=$(sed -n '2p' "$d/expect")
  if ! [[ "$line1" =~ ^exit\ [0-9]+$ ]]; then
    fail "$group/$name: expect line 1 is '$line1', not 'exit N'"; continue
  fi
  want_rc=${line1#exit }
  if [ "${#want_msg}" -lt 16 ]; then
    fail "$group/$name: expect line 2 ('$want_msg') is empty or too short to be specific"; continue
  fi
  if [ "$(sed -n '3,$p' "$d/expect" | grep -c '^$')" -ne 0 ]; then
    fail "$group/$name: expect has an empty line"; continue
  fi
  if [ -f "$d/setup" ]; then
    if ! ( cd "$d" && bash ./setup ) >"$WORK/setup.out" 2>&1; then
      fail "$group/$name: setup failed"; sed 's/^/#   setup: /' "$WORK/setup.out" | head -5; continue
    fi
  fi
  before=$(snapshot "$d")
  args=(validate -e dev)
  if [ -f "$d/cmd" ]; then
    eval "args=($(sed "s|@DIR@|$d|g" "$d/cmd"))"
  fi
  grep -q '@DIR@' "$d/cmd" 2>/dev/null || args+=(-C "$d")
  envs=()
  if [ -f "$d/env" ]; then
    while IFS= read -r l; do [ -n "$l" ] && envs+=("${l//@DIR@/$d}"); done <"$d/env"
  fi
  # a case that hangs (a sim that starts where it should refuse) fails, not the suite
  ( cd "$WORK" && timeout -k 5 60 env "${envs[@]}" "$CAIRN" "${args[@]}" ) >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  if [ "$RC" -eq 124 ]; then
    fail "$group/$name: still running after 60 s"
  elif [ "$RC" -ne "$want_rc" ]; then
    fail "$group/$name: exit $RC, expected $want_rc"; sed 's/^/#   err: /' "$WORK/err" | head -5
  else
    missing=""
    while IFS= read -r want; do
      grep -qF -- "$want" "$WORK/err" || missing=$want
    done < <(sed -n '2,$p' "$d/expect")
    if [ -n "$missing" ]; then
      fail "$group/$name: stderr lacks '$missing'"; sed 's/^/#   err: /' "$WORK/err" | head -5
    else
      pass
    fi
  fi
  after=$(snapshot "$d")
  [ "$before" = "$after" ] && pass || { fail "$group/$name: files or state changed"; diff <(echo "$before") <(echo "$after") | head -5 | sed 's/^/#   /'; }
done
[ "$n" -ge "$MIN_CASES" ] && pass || fail "corpus has only $n cases"
echo "# $n corpus cases"
[ -n "${CAIRN_CORPUS:-}" ] && done_testing

# -- the runner itself: a case that cannot fail is an error -------------------
meta() { # NAME EXPECT-TEXT [CMD] [SETUP]
  mkdir -p "meta/g/$1"
  printf 'resources:\n  a:\n    type: null.resource\n' >"meta/g/$1/stack.yaml"
  echo 'provider: {}' >"meta/g/$1/dev.yaml"
  printf '%b' "$2" >"meta/g/$1/expect"
  [ -n "${3:-}" ] && echo "$3" >"meta/g/$1/cmd"
  [ -n "${4:-}" ] && echo "$4" >"meta/g/$1/setup"
  return 0
}
meta ok 'exit 1\nunknown flag '"'"'--frob'"'"' for '"'"'cairn plan'"'"'\n' "plan -e dev --frob"
meta no-exit-line 'unknown flag '"'"'--frob'"'"' for '"'"'cairn plan'"'"'\n' "plan -e dev --frob"
meta empty-message 'exit 1\n\n' "plan -e dev --frob"
meta vague-message 'exit 1\nunknown\n' "plan -e dev --frob"
meta empty-line 'exit 1\nunknown flag '"'"'--frob'"'"' for '"'"'cairn plan'"'"'\n\nmore\n' "plan -e dev --frob"
meta setup-fails 'exit 1\nunknown flag '"'"'--frob'"'"' for '"'"'cairn plan'"'"'\n' "plan -e dev --frob" "false"
meta changes-state 'exit 0\na: creation complete after\n' "apply -e dev --auto-approve"
sed -i 's/a: creation complete after/a: creation complete/' meta/g/changes-state/expect
CAIRN_CORPUS=$WORK/meta CAIRN_CORPUS_MIN=1 bash "$TESTS_DIR/badinput.sh" "$CAIRN" >"$WORK/meta.out" 2>&1
RC=$?
eq "$RC" 1 "the runner fails a corpus with broken cases"
for want in "not ok - g/no-exit-line: expect line 1 is 'unknown flag" \
            "not ok - g/empty-message: expect line 2 ('') is empty or too short to be specific" \
            "not ok - g/vague-message: expect line 2 ('unknown') is empty or too short to be specific" \
            "not ok - g/empty-line: expect has an empty line" \
            "not ok - g/setup-fails: setup failed" \
            "not ok - g/changes-state: files or state changed"; do
  grep -qF -- "$want" "$WORK/meta.out" && pass || { fail "runner self-test lacks: $want"; sed 's/^/#   /' "$WORK/meta.out" | head -20; }
done
grep -q 'not ok - g/ok' "$WORK/meta.out" && fail "runner self-test: the good case failed" || pass

# -- apply-time refusals: more than one command each ------------------------

# A module of the local.* namespace that writes into .cairn at apply time
# (nothing at validate could know) is stopped by cairn.fs itself.
mkdir -p evil/modules/local
cat >evil/modules/local/evil.lua <<'EOF'
return {
  type = "local.evil",
  schema = { target = { type = "string" }, id = { type = "string", computed = true } },
  create = function(ctx, p)
    cairn.fs.write(ctx.base_dir .. "/" .. p.target, "overwritten")
    return { id = "x", target = p.target }
  end,
  read = function(ctx, id, a) return a end,
  delete = function() end,
}
EOF
cat >evil/stack.yaml <<'EOF'
resources:
  keep:
    type: null.resource
EOF
echo 'provider: {}' >evil/dev.yaml
run apply -C evil -e dev --auto-approve
expect_rc 0 "evil: first apply"
before=$(sqlite3 evil/.cairn/state.db .dump | grep -v '^-- ' | sha256sum)
cat >>evil/stack.yaml <<'EOF'
  bad:
    type: local.evil
    target: .cairn/state.db
EOF
run apply -C evil -e dev --auto-approve
expect_rc 1 "evil: a module writing into .cairn"
out_has "failed:  bad: modules/local/evil.lua:5: attempt to index a nil value (field 'fs')" "a stack's own module has no cairn.fs at all"
check "evil: state.db intact" test "$(sqlite3 evil/.cairn/state.db 'PRAGMA integrity_check')" = ok
run state list -C evil -e dev
expect_rc 0 "evil: state still readable"
out_has "keep" "evil: state kept"
eq "$(sqlite3 evil/.cairn/state.db 'SELECT count(*) FROM resources')" 1 "evil: only keep recorded"
[ -n "$before" ] && pass

# A value known only at apply (from another resource) that points into the
# state is refused before local.file runs.
mkdir -p late
cat >late/stack.yaml <<'EOF'
resources:
  name:
    type: random.id
    byte_length: 2
  f:
    type: local.file
    path: "${substr(name.id, 0, 0)}.cairn/state.db"
EOF
echo 'provider: {}' >late/dev.yaml
run apply -C late -e dev --auto-approve
expect_rc 1 "late: a path into .cairn known only at apply"
out_has "f: cannot evaluate properties: property 'path' of local.file: '.cairn/state.db' points into cairn's state directory (late/.cairn)" "refused at apply"
check "late: state.db intact" test "$(sqlite3 late/.cairn/state.db 'PRAGMA integrity_check')" = ok

# A state directory cairn cannot write: the message says so (it used to be
# "not an error"). As root, run cairn as nobody.
mkdir -p ro
printf 'resources:\n  a:\n    type: null.resource\n' >ro/stack.yaml
echo 'provider: {}' >ro/dev.yaml
run apply -C ro -e dev --auto-approve
expect_rc 0 "ro: first apply"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  command -v runuser >/dev/null && as_user=(runuser -u nobody --)
  chmod 755 "$WORK"; chown -R nobody ro
fi
if [ "$(id -u)" -ne 0 ] || [ ${#as_user[@]} -gt 0 ]; then
  rm -f ro/.cairn/state.db-wal ro/.cairn/state.db-shm
  chmod a-w ro/.cairn
  "${as_user[@]}" env CAIRN_MODULES_PATH="$CAIRN_MODULES_PATH" "$CAIRN" plan -C ro -e dev >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  expect_rc 1 "ro: plan with an unwritable state directory"
  err_has "the state directory ro/.cairn is not writable" "ro: says why"
  err_lacks "not an error" "ro: not 'not an error'"
  chmod u+w ro/.cairn
else
  echo "# skipped: cannot make a directory unwritable for cairn"
fi
# cairn sim --db on cairn's state database: refused, the file byte-for-byte
# the same, nothing created beside it.
sum_before=$(sha256sum evil/.cairn/state.db | cut -d' ' -f1)
ls_before=$(ls evil/.cairn)
timeout 20 "$CAIRN" sim --listen 127.0.0.1:0 --db evil/.cairn/state.db >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
expect_rc 2 "sim --db on a state database"
err_has "evil/.cairn/state.db is cairn's state database, not a sim database; refusing to touch it" "sim says why"
eq "$(sha256sum evil/.cairn/state.db | cut -d' ' -f1)" "$sum_before" "sim: state.db byte-for-byte the same"
eq "$(ls evil/.cairn)" "$ls_before" "sim: no -wal or -shm made beside it"

done_testing
