# tests/pg/lib.sh - start a real, throwaway PostgreSQL for a test, and stop it.
#
#   . tests/pg/lib.sh
#   pg_start || exit $?          # 77 (meson's "skipped") without postgres binaries
#   ... $PG_URL (postgres://cairn@127.0.0.1:PORT/cairn), pg_sql 'SELECT 1' ...
#   pg_halt; pg_run              # a restart, data kept
#   pg_stop                      # also run from the EXIT trap that pg_start sets
#                                # (before the EXIT trap the test had already set)
#
# The server runs from a fresh initdb in a temporary directory, as an
# unprivileged user when the test runs as root (CI does: PostgreSQL refuses
# to run as root), on a free loopback port, with its socket in the same
# directory; it is stopped by its PID (postmaster.pid), never by name.
# pg_new_schema NAME makes an empty schema and prints a URL whose
# search_path selects it (one state per schema, docs/state.md).

PG_BIN=""
PG_DIR=""
PG_PORT=""
PG_URL=""
PG_PID=""
PG_RUNAS=()

pg_find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { PG_BIN=$d; }
  done
  [ -n "$PG_BIN" ]
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_stop() { # safe under set -e (it runs from EXIT traps)
  local pid="$PG_PID" i
  if [ -z "$pid" ] && [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pid=$(head -1 "$PG_DIR/data/postmaster.pid")
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
    for i in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  PG_PID=""
  # backends may still be exiting: retry while files disappear under rm
  for i in 1 2 3 4 5; do
    if [ -z "$PG_DIR" ] || [ ! -e "$PG_DIR" ]; then break; fi
    rm -rf "$PG_DIR" 2>/dev/null || sleep 0.2
  done
  PG_DIR=""
  return 0
}

# pg_run: start the server on PG_DIR/data and PG_PORT and wait until it
# answers (pg_start's second half; after pg_halt, the same server again).
pg_run() {
  local i
  # fsync off (PG_FSYNC=on to measure with it): the tests are about cairn's behaviour, not the disk's
  "${PG_RUNAS[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
      -c unix_socket_directories="$PG_DIR" -c fsync="${PG_FSYNC:-off}" -c max_connections=100 \
      >>"$PG_DIR/server.log" 2>&1 &
  PG_PID=$!
  for i in $(seq 1 1200); do
    # ours ready (postmaster.pid's status line), not another test's server
    # that took the port first
    if [ "$(sed -n 8p "$PG_DIR/data/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ] &&
       "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then break; fi
    if ! kill -0 "$PG_PID" 2>/dev/null; then
      echo "# postgres exited:"; sed 's/^/#   /' "$PG_DIR/server.log"; return 1
    fi
    sleep 0.05
  done
  # the postmaster we started is PG_PID only if runuser exec'd it; take the real one
  [ -f "$PG_DIR/data/postmaster.pid" ] && PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  return 0
}

# pg_halt: stop the server (fast shutdown, by PID), keeping its data;
# pg_run starts it again (a restart of PostgreSQL under a running cairn).
pg_halt() {
  local i
  kill -INT "$PG_PID" 2>/dev/null || true
  for i in $(seq 1 200); do
    if ! kill -0 "$PG_PID" 2>/dev/null; then break; fi
    sleep 0.05
  done
  return 0
}

# pg_start: 0 running, 77 no postgres binaries, 1 failed to start.
pg_start() {
  local i user
  if ! pg_find_bin; then
    echo "# postgres binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql): skipped"
    return 77
  fi
  PG_DIR=$(mktemp -d /tmp/cairn-pg.XXXXXX)
  chmod 0755 "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    user=nobody
    chown "$user" "$PG_DIR"
    PG_RUNAS=(runuser -u "$user" --)
  fi
  PG_PORT=$(pg_free_port)
  if ! "${PG_RUNAS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U cairn -A trust --no-sync \
        -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1; then
    echo "# initdb failed:"; sed 's/^/#   /' "$PG_DIR/initdb.log"
    return 1
  fi
  # stop it on exit, before whatever the test's EXIT trap already does
  local prev
  prev=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
  trap "pg_stop; $prev" EXIT
  # the port was free when picked; another test may bind it first: then
  # another port (up to 5)
  local try
  for try in 1 2 3 4 5; do
    pg_run && break
    grep -q "could not bind\|Address already in use" "$PG_DIR/server.log" && [ "$try" -lt 5 ] || return 1
    echo "# port $PG_PORT was taken meanwhile: another"
    PG_PORT=$(pg_free_port)
  done
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U cairn -d postgres -c 'CREATE DATABASE cairn' >/dev/null || return 1
  PG_URL="postgres://cairn@127.0.0.1:$PG_PORT/cairn"
  return 0
}

pg_sql() { # SQL [DB]: run SQL, unaligned tuples only
  "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U cairn -d "${2:-cairn}" -c "$1"
}

pg_new_schema() { # NAME: creates the schema, prints the URL of a state kept in it
  pg_sql "CREATE SCHEMA \"$1\"" >/dev/null || return 1
  echo "$PG_URL?options=-csearch_path%3D$1"
}

pg_backend_pids() { # pids of the backends of application 'cairn'
  pg_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'cairn'"
}
