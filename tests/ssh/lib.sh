# lib.sh - helpers for the SSH tests: the CLI test helpers (tests/cli/lib.sh)
# plus real sshd "hosts" on free loopback ports, each with its own config,
# root directory and log, started as non-daemon background processes by
# absolute path (/usr/sbin/sshd -D -f CONF) and stopped by PID on exit
# (with the session processes they forked, found by parent PID).
# Keys are generated per test: one ed25519 host key (plus an ECDSA one for
# the changed-key cases) and one ed25519 client key, authorized for root.
# Usage: . "$(dirname "$0")/lib.sh" "$@"   (first argument: cairn)
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../cli" && pwd)/lib.sh" "$@"
# the SSH fixture modules (host.probe, test.*) on the trusted path too:
# cairn.ssh, like cairn.fs, is only for modules found there
CAIRN_MODULES_PATH="$CAIRN_MODULES_PATH:$TESTS_DIR/../ssh/modules"
export CAIRN_MODULES_PATH
SSHD=/usr/sbin/sshd
SFTP_SERVER=/usr/lib/openssh/sftp-server
[ -x "$SFTP_SERVER" ] || SFTP_SERVER=internal-sftp
if [ ! -x "$SSHD" ] || ! command -v ssh-keygen >/dev/null; then
  echo "1..0 # SKIP openssh-server / openssh-client are not installed (bash .ci/deps)"
  exit 77
fi
if [ ! -d /run/sshd ]; then
  # Debian's sshd wants its privilege-separation directory (the init script makes it)
  if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd && chmod 755 /run/sshd
  else echo "1..0 # SKIP /run/sshd is missing and we are not root"; exit 77; fi
fi
K="$WORK/keys"
mkdir -p "$K" "$WORK/home"
chmod 700 "$K"
ssh-keygen -q -t ed25519 -N '' -C cairn-test-host -f "$K/host_ed25519"
ssh-keygen -q -t ecdsa -N '' -C cairn-test-host2 -f "$K/host_ecdsa"
ssh-keygen -q -t ed25519 -N '' -C cairn-test-client -f "$K/id_ed25519"
cp "$K/id_ed25519.pub" "$K/authorized_keys"
cp -a /etc/skel/. "$WORK/home/" 2>/dev/null || true
# the client's own files: an empty known_hosts, no agent unless a test starts one
export HOME="$WORK/home"
mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"
unset SSH_AUTH_SOCK SSH_AGENT_PID
KNOWN="$WORK/known_hosts"
: >"$KNOWN"

declare -A SSHD_PID SSHD_PORT SSHD_CONF
SSH_HOSTS=()

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Hltn "( sport = :$p )" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
  done
  return 1
}

# start_host NAME [HOSTKEY] [EXTRA sshd_config LINES]: a fresh sshd for host
# NAME on 127.0.0.1 (port in ${SSHD_PORT[NAME]}), its root directory
# $WORK/hosts/NAME. HOSTKEY defaults to $K/host_ed25519. A restart of the
# same NAME keeps the port and the directory (RESTART=1: wait for the port
# instead of moving to another; SSHD_SETENV: more NAME=VALUE for the
# sessions' environment; HOST_DISK=DIR: the host has a disk of its own
# mounted at DIR, an empty tmpfs that only its sshd and sessions see, as a
# machine of its own would: sshd runs in a mount namespace of its own,
# see has_private_disks).
start_host() {
  local name=$1 hostkey=${2:-$K/host_ed25519} extra=${3:-} port conf i try
  for try in 1 2 3 4 5; do
    port=${SSHD_PORT[$name]:-}
    [ -n "$port" ] || port=$(free_port) || { echo "Bail out! no free port"; exit 1; }
    mkdir -p "$WORK/hosts/$name"
    conf="$WORK/sshd_$name.conf"
    # the extra lines first: sshd keeps the first value of a keyword
    cat >"$conf" <<EOF
$extra
ListenAddress 127.0.0.1
Port $port
AddressFamily inet
HostKey $hostkey
PidFile none
AuthorizedKeysFile $K/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 1000
MaxStartups 1000
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
SetEnv HOME=$WORK/home CAIRN_TEST_HOST=$name ${SSHD_SETENV:-}
Subsystem sftp $SFTP_SERVER
LogLevel VERBOSE
EOF
    "$SSHD" -t -f "$conf" || { echo "Bail out! bad sshd config for $name"; exit 1; }
    if [ -n "${HOST_DISK:-}" ]; then
      # unshare and sh exec: the PID is sshd's
      mkdir -p "$HOST_DISK"
      unshare -m --propagation private sh -c 'mount -t tmpfs cairn-disk "$0" && exec "$@"' \
        "$HOST_DISK" "$SSHD" -D -f "$conf" -E "$WORK/sshd_$name.log" &
    else
      "$SSHD" -D -f "$conf" -E "$WORK/sshd_$name.log" &
    fi
    SSHD_PID[$name]=$!
    SSHD_PORT[$name]=$port
    SSHD_CONF[$name]=$conf
    BG_PIDS+=("${SSHD_PID[$name]}")
    SSH_HOSTS+=("$name")
    for i in $(seq 1 100); do
      if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 7 <&3" 2>/dev/null | grep -q '^SSH-2.0'; then
        return 0
      fi
      kill -0 "${SSHD_PID[$name]}" 2>/dev/null || break
      sleep 0.05
    done
    # someone else took the port meanwhile: another one (unless it is a restart)
    if grep -q 'Address already in use' "$WORK/sshd_$name.log" 2>/dev/null && [ "$try" -lt 5 ]; then
      if [ "${RESTART:-0}" = 1 ]; then sleep 0.5; else SSHD_PORT[$name]=; fi
      : >"$WORK/sshd_$name.log"
      continue
    fi
    break
  done
  echo "Bail out! sshd for $name did not start"; cat "$WORK/sshd_$name.log"; exit 1
}

# has_private_disks: can hosts have disks of their own (HOST_DISK)? Root
# and mount namespaces (unshare -m) are needed.
has_private_disks() {
  [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v nsenter >/dev/null &&
    mkdir -p "$WORK/.disk-check" &&
    unshare -m --propagation private sh -c 'mount -t tmpfs cairn-disk "$0"' "$WORK/.disk-check" 2>/dev/null
}
# on_disk NAME CMD...: CMD run in host NAME's mount namespace (its own disk)
on_disk() {
  local name=$1; shift
  nsenter -t "${SSHD_PID[$name]}" -m -- "$@"
}

# the PIDs of pid's descendants, parents first (killing a connection's
# sshd before its shell drops the connection, as a host that dies does)
descendants() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

# stop_host NAME [SIGNAL]: its listener and every session process it forked
stop_host() {
  local name=$1 sig=${2:-TERM} pid=${SSHD_PID[$1]:-} p kids
  [ -n "$pid" ] || return 0
  kids=$(descendants "$pid")
  kill "-$sig" "$pid" 2>/dev/null
  for p in $kids; do kill "-$sig" "$p" 2>/dev/null; done
  wait "$pid" 2>/dev/null
  SSHD_PID[$name]=
}

stop_all_hosts() {
  local n
  for n in "${SSH_HOSTS[@]}"; do stop_host "$n" KILL; done
}
trap 'stop_all_hosts; [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null; cleanup' EXIT
trap 'exit 143' TERM INT

# running PATTERN: a process whose command line matches PATTERN (pgrep -f)
running() { pgrep -f "$1" >/dev/null; }

# known NAME [KEYFILE.pub]: add the host's key to $KNOWN as [127.0.0.1]:PORT
known() {
  local pub=${2:-$K/host_ed25519.pub}
  echo "[127.0.0.1]:${SSHD_PORT[$1]} $(cut -d' ' -f1,2 "$pub")" >>"$KNOWN"
}
# fp KEYFILE.pub: its SHA256 fingerprint as OpenSSH prints it
fp() { ssh-keygen -l -E sha256 -f "$1" | awk '{print $2}'; }
# on NAME CMD: a shell command run directly on the host's machine (this one)
hostdir() { echo "$WORK/hosts/$1"; }

# hoststack DIR: stack.yaml from stdin; dev.yaml empty
hoststack() {
  mkdir -p "$1"
  cat >"$1/stack.yaml"
  printf '%s\n' "${2:-variables: {}}" >"$1/dev.yaml"
}
# a hosts: entry for NAME (YAML, indented for the hosts: map)
host_yaml() { # NAME [EXTRA-LINES]
  printf '  %s:\n    address: 127.0.0.1\n    port: %s\n    user: root\n    key_file: %s\n    known_hosts: %s\n%s' \
    "$1" "${SSHD_PORT[$1]}" "$K/id_ed25519" "$KNOWN" "${2:-}"
}
