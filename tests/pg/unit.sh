#!/usr/bin/env bash
# The state store's unit tests (test_store, test_lock, test_envs, test_approvals) against a real
# PostgreSQL that this script starts (tests/pg/lib.sh): each test case gets
# its own schema (tests/unit/state/backend.h). Exit 77 (skipped) only when
# the postgres binaries are missing. Usage: unit.sh TEST_BINARY...
. "$(dirname "$0")/lib.sh"
pg_start || exit $?
export CAIRN_TEST_STATE_URL=$PG_URL
rc=0
for t in "$@"; do
  echo "# $(basename "$t") on PostgreSQL"
  "$t" || rc=1
done
exit $rc
