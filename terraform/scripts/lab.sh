#!/usr/bin/env bash
# lab.sh — local lab machines for obsctl's `lab` provider.
#
# Each lab machine is a Debian system (LAB_OS: debian-13, the default, or
# debian-12) booted with systemd-nspawn from an overlay over the shared base
# image of its release, with its own address on a per-environment bridge. Packages reach the machines through an apt-cacher-ng bound to the
# bridge (there is no NAT on the host).
#
#   lab.sh base                    build the base image of LAB_OS once (cached, shared)
#   lab.sh net-up                  bridge + apt cache        (LAB_ENV LAB_BRIDGE LAB_GATEWAY LAB_PREFIX)
#   lab.sh net-down                remove them               (LAB_ENV LAB_BRIDGE)
#   lab.sh isolate                 the lab host may open connections into LAB_CIDR only to the
#                                  bastion and its own address (LAB_ENV LAB_CIDR LAB_GATEWAY LAB_BASTION)
#   lab.sh unisolate               remove that (LAB_ENV; net-down does it too)
#   lab.sh isolation               print the environment's isolation rules, or "none" (LAB_ENV)
#   lab.sh data-up                 the host's data directory (LAB_ENV LAB_NAME LAB_DATA_PATHS)
#   lab.sh data-down               remove it, with the data  (LAB_ENV LAB_NAME; `destroy` only)
#   lab.sh machine-up              boot one machine          (LAB_ENV LAB_NAME LAB_ADDRESS LAB_PREFIX LAB_GATEWAY LAB_BRIDGE LAB_PUBKEY_FILE LAB_OS;
#                                  LAB_HOST_KEY: where to record its public SSH host key, for the contract;
#                                  LAB_DATA_PATHS: the paths bound to the host's data directory)
#   lab.sh machine-down            stop and remove it, not its data directory (LAB_ENV LAB_NAME; LAB_HOST_KEY)
#   lab.sh machine-stop            power it off hard, as a crash would; its files
#                                  stay until machine-down (LAB_ENV LAB_NAME; tests)
#   lab.sh status                  list what exists, each `NAME running` or `NAME stopped`,
#                                  after steps still in flight ended (LAB_ENV)
#   lab.sh settle [SECONDS]        wait (default 600 s) until no step of any environment runs
#
# Every step is idempotent: a run killed half-way leaves bridges, mounts and
# directories that the next call reuses or cleans instead of failing on them.
# And steps are not killed half-way by a signal meant for Terraform or
# obsctl: each runs detached in a session of its own (see `detached`).
# Everything lives under LAB_ROOT (default /var/lib/obsctl/lab).
set -euo pipefail

LAB_ROOT=${LAB_ROOT:-/var/lib/obsctl/lab}
# One base image per Debian release, named by its suite.
LAB_OS=${LAB_OS:-debian-13}
case "$LAB_OS" in
  debian-13) SUITE=trixie RELEASE="Debian 13" ;;
  debian-12) SUITE=bookworm RELEASE="Debian 12" ;;
  *) printf 'lab: error: LAB_OS=%s is not supported (debian-13 or debian-12)\n' "$LAB_OS" >&2; exit 1 ;;
esac
BASE_DIR="$LAB_ROOT/base/$SUITE"
BASE_PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,iproute2,ca-certificates,logrotate
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
ACNG_PORT=3142

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
need() { [ -n "${!1:-}" ] || die "$1 is not set"; }

require_tools() {
  [ "$(id -u)" = 0 ] || die "the lab provider needs root (systemd-nspawn, mounts, bridges)"
  local missing=()
  for t in systemd-nspawn debootstrap apt-cacher-ng ip mount ssh-keygen flock; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}; install with: apt-get install -y systemd-container debootstrap apt-cacher-ng iproute2 openssh-client util-linux"
}

env_dir() { echo "$LAB_ROOT/envs/$LAB_ENV"; }
machine_dir() { echo "$(env_dir)/machines/$LAB_NAME"; }
# The host's data: the lab's data volume. Each path of LAB_DATA_PATHS (the
# stateful components' data roots, e.g. /var/lib/prometheus) is bound into the
# machine from <data_dir><path>. It outlives the machine (machine-down leaves
# it; a replacement binds it again) and goes only with data-down.
data_dir() { echo "$(env_dir)/data/$LAB_NAME"; }

# --- ownership -------------------------------------------------------------

# An environment's bridge, machines and data on this host belong to one
# checkout: its `.obsctl/<env>` directory, written to <env_dir>/owner by the
# first step that creates something. Terraform runs this script from
# `.obsctl/<env>/stack/scripts/` and tests run it from the checkout's
# `terraform/scripts/`: both name the same owner. Another checkout with an
# environment of the same name is refused (its `up` would take over the
# bridge, its `destroy` would remove the other's data); an owner that is gone
# (its directory removed, none of its machines running) is taken over.
owner_of_caller() {
  local here; here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
  case "$here" in
    */.obsctl/*/stack/scripts) echo "${here%/stack/scripts}" ;;
    *) echo "$(cd "$here/../.." && pwd -P)/.obsctl/$LAB_ENV" ;;
  esac
}
running_machines() {
  local m
  for m in "$(env_dir)"/machines/*/; do
    [ -f "$m/pid" ] && kill -0 "$(cat "$m/pid")" 2>/dev/null && basename "$m"
  done
  return 0
}
# Prints the other owner when the environment belongs to another checkout
# that is still there (its directory exists or its machines run).
foreign_owner() {
  local f other; f="$(env_dir)/owner"
  [ -f "$f" ] || return 0
  other=$(cat "$f")
  [ "$other" != "$(owner_of_caller)" ] || return 0
  if [ -d "$other" ] || [ -n "$(running_machines)" ]; then echo "$other"; fi
}
# Steps that create: refuse another checkout's environment, else record ours.
claim() {
  local other; other=$(foreign_owner)
  if [ -n "$other" ]; then
    local running; running=$(running_machines | tr '\n' ' ')
    die "lab environment $LAB_ENV on this host belongs to another checkout ($other${running:+; machines running: ${running% }}). Destroy it there (cd ${other%/.obsctl/*} && obsctl destroy --env $LAB_ENV), or give this environment another name with its own [lab] bridge and cidr"
  fi
  local f; f="$(env_dir)/owner"
  if [ -f "$f" ] && [ "$(cat "$f")" != "$(owner_of_caller)" ]; then
    log "taking over lab environment $LAB_ENV from $(cat "$f") (gone, no machine running)"
  fi
  mkdir -p "$(env_dir)"
  owner_of_caller >"$f"
}
# Steps that remove: another checkout's environment is left alone (this
# checkout's state may name resources that never became its own).
mine_or_leave() {
  local other; other=$(foreign_owner)
  [ -z "$other" ] && return 0
  log "left alone: lab environment $LAB_ENV belongs to another checkout ($other)"
  exit 0
}
# The environment's directory goes with the last thing in it.
tidy_env_dir() {
  local d; d=$(env_dir)
  rmdir "$d/machines" "$d/data" 2>/dev/null || true
  [ -d "$d" ] || return 0
  if [ -z "$(ls -A "$d" | grep -vx owner)" ]; then rm -f "$d/owner"; rmdir "$d" 2>/dev/null || true; fi
}

# --- base image ----------------------------------------------------------

cmd_base() {
  require_tools
  mkdir -p "$LAB_ROOT/base"
  [ -f "$BASE_DIR/.obsctl-base-complete" ] && return 0
  # The lock's descriptor must not leak into the machines started later
  # (a booted machine would hold it forever): take it in a subshell.
  ( flock 9; build_base ) 9>"$LAB_ROOT/base/.lock-$SUITE"
}

build_base() {
  [ -f "$BASE_DIR/.obsctl-base-complete" ] && return 0
  local tmp="$LAB_ROOT/base/.build-$SUITE-$$" log_file="$LAB_ROOT/base/debootstrap-$SUITE.log"
  rm -rf "$LAB_ROOT/base/.build-$SUITE-"* "$BASE_DIR"
  # mmdebstrap (when installed) downloads with apt, in parallel, and unpacks
  # with one dpkg run: the same minbase tree as debootstrap's in less time
  # (docs/performance.md, "First run"). debootstrap remains the fallback.
  local tool=debootstrap
  command -v mmdebstrap >/dev/null && tool=mmdebstrap
  log "building the $RELEASE ($SUITE) base image with $tool (once, a minute or more) in $BASE_DIR"
  if [ "$tool" = mmdebstrap ]; then
    # The package lists stay, as debootstrap leaves them: apt's cache_valid_time
    # (site.yml) would otherwise see a fresh, empty index and install nothing.
    mmdebstrap --mode=root --variant=minbase --skip=cleanup/apt/lists --include="$BASE_PACKAGES" "$SUITE" "$tmp" "$MIRROR" >"$log_file" 2>&1
  else
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$tmp" "$MIRROR" >"$log_file" 2>&1
  fi || { tail -n 20 "$log_file" >&2; rm -rf "$tmp"; die "$tool $SUITE failed (log: $log_file)"; }
  # Per-machine identity is created at boot time, never shared.
  rm -f "$tmp"/etc/ssh/ssh_host_* && : >"$tmp/etc/machine-id"
  systemctl --root="$tmp" enable systemd-networkd.service >/dev/null 2>&1
  systemctl --root="$tmp" enable ssh.service >/dev/null 2>&1 || true
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$tmp/etc/apt/apt.conf.d/90obsctl-no-recommends"
  chroot "$tmp" apt-get clean
  touch "$tmp/.obsctl-base-complete"
  mv "$tmp" "$BASE_DIR"
  log "base image ready"
}

# --- network -------------------------------------------------------------

acng_dir() { echo "$(env_dir)/apt-cacher-ng"; }

cmd_net_up() {
  need LAB_ENV; need LAB_BRIDGE; need LAB_GATEWAY; need LAB_PREFIX
  require_tools
  claim
  if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    ip link add "$LAB_BRIDGE" type bridge
  fi
  ip addr show dev "$LAB_BRIDGE" | grep -q "inet $LAB_GATEWAY/" || ip addr add "$LAB_GATEWAY/$LAB_PREFIX" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up

  local d; d=$(acng_dir)
  mkdir -p "$d/conf" "$d/log" "$LAB_ROOT/apt-cache"
  echo "${MIRROR%/}/" >"$d/conf/backends_debian"
  cat >"$d/conf/acng.conf" <<CONF
CacheDir: $LAB_ROOT/apt-cache
LogDir: $d/log
SupportDir: /usr/lib/apt-cacher-ng
BindAddress: $LAB_GATEWAY
Port: $ACNG_PORT
PidFile: $d/pid
ForeGround: 1
Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian
Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security
ExThreshold: 4
CONF
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
    log "apt cache already running on $LAB_GATEWAY:$ACNG_PORT"
  else
    setsid apt-cacher-ng -c "$d/conf" </dev/null >"$d/log/stdout.log" 2>&1 8>&- &
    echo $! >"$d/pid"
  fi
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/$LAB_GATEWAY/$ACNG_PORT") 2>/dev/null && { log "network $LAB_BRIDGE ($LAB_GATEWAY/$LAB_PREFIX) and apt cache ready"; return 0; }
    sleep 0.1
  done
  die "apt-cacher-ng did not start on $LAB_GATEWAY:$ACNG_PORT (log: $d/log)"
}

stop_pid() { # pid, seconds
  local pid=$1 secs=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((secs * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "pid $pid did not stop in ${secs}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
}

cmd_net_down() {
  need LAB_ENV; need LAB_BRIDGE
  mine_or_leave
  cmd_unisolate
  local d; d=$(acng_dir)
  [ -f "$d/pid" ] && stop_pid "$(cat "$d/pid")" 5
  # A pid file lost by a killed run: find the cache by its config dir.
  pkill -f "apt-cacher-ng -c $d/conf" 2>/dev/null || true
  rm -rf "$d"
  if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then ip link del "$LAB_BRIDGE"; fi
  tidy_env_dir
  log "network $LAB_BRIDGE removed"
}

# --- isolation (a lab with a bastion) ---------------------------------------

# One nftables table per environment, its own (nothing else's rules are
# touched): on the lab host's output path, a new connection to an address of
# the environment's network is refused unless it goes to the bastion or to
# the host's own bridge address. Connections the machines open to the host
# (apt cache, receivers) are input, and replies to them are not new: both pass.
nft_table() { echo "obsctl_lab_${LAB_ENV//-/_}"; }

cmd_isolate() {
  need LAB_ENV; need LAB_CIDR; need LAB_GATEWAY; need LAB_BASTION
  claim
  command -v nft >/dev/null || die "missing nft (the isolation of a lab with a bastion); install with: apt-get install -y nftables"
  local t; t=$(nft_table)
  # Replaced whole in one transaction: a second run leaves one table.
  nft -f - <<NFT
table inet $t
delete table inet $t
table inet $t {
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr $LAB_CIDR ip daddr != { $LAB_GATEWAY, $LAB_BASTION } ct state new counter reject
  }
}
NFT
  log "only the bastion $LAB_BASTION is reachable from this host in $LAB_CIDR (nftables table inet $t)"
}

cmd_unisolate() {
  need LAB_ENV
  mine_or_leave
  command -v nft >/dev/null || return 0
  local t; t=$(nft_table)
  if nft list table inet "$t" >/dev/null 2>&1; then
    nft delete table inet "$t"
    log "isolation removed (nftables table inet $t)"
  fi
}

cmd_isolation() {
  need LAB_ENV
  command -v nft >/dev/null && nft list table inet "$(nft_table)" 2>/dev/null || echo none
}

# --- data ----------------------------------------------------------------

data_paths_ok() {
  local p
  for p in ${LAB_DATA_PATHS:-}; do
    [[ "$p" =~ ^/var/lib/[a-z0-9][a-z0-9._-]*$ ]] || die "LAB_DATA_PATHS: $p is not a directory directly under /var/lib"
  done
}

cmd_data_up() {
  need LAB_ENV; need LAB_NAME
  data_paths_ok
  claim
  local d p; d=$(data_dir)
  for p in ${LAB_DATA_PATHS:-}; do mkdir -p "$d$p"; done
  mkdir -p "$d"
  log "data directory of $LAB_NAME: $d"
}

cmd_data_down() {
  need LAB_ENV; need LAB_NAME
  mine_or_leave
  local d; d=$(data_dir)
  # Never while a machine still runs on it.
  [ -z "$(nspawn_pids)" ] || die "machine $LAB_NAME still runs; its data directory stays (run machine-down first)"
  rm -rf "$d"
  tidy_env_dir
  log "data directory of $LAB_NAME removed"
}

# --- machines ------------------------------------------------------------

nspawn_pids() { pgrep -f "systemd-nspawn .*-D $(machine_dir)/merged( |$)" || true; }

# Every machine's systemd (and journald, udev, …) takes inotify instances of
# root, the user all machines run as: the kernel's default of 128 per user is
# used up by about ten machines, and the next one fails to boot ("Too many
# open files"). Raised once, with a line saying so.
INOTIFY_INSTANCES=1024
inotify_room() {
  local f=/proc/sys/fs/inotify/max_user_instances now
  now=$(cat "$f" 2>/dev/null || echo "$INOTIFY_INSTANCES")
  [ "$now" -ge "$INOTIFY_INSTANCES" ] && return 0
  echo "$INOTIFY_INSTANCES" >"$f" && log "raised fs.inotify.max_user_instances from $now to $INOTIFY_INSTANCES (each machine's systemd takes several)"
}

cmd_machine_up() {
  need LAB_ENV; need LAB_NAME; need LAB_ADDRESS; need LAB_PREFIX; need LAB_GATEWAY; need LAB_BRIDGE; need LAB_PUBKEY_FILE
  require_tools
  [ -r "$LAB_PUBKEY_FILE" ] || die "SSH public key $LAB_PUBKEY_FILE is not readable"
  ip link show "$LAB_BRIDGE" >/dev/null 2>&1 || die "bridge $LAB_BRIDGE does not exist (run net-up first)"
  claim
  cmd_base
  inotify_room
  local m; m=$(machine_dir)
  # Terraform only creates what is not in its state: anything found here is
  # left over from a killed run, so start from a clean slate.
  if [ -n "$(nspawn_pids)" ] || [ -e "$m" ]; then
    log "cleaning leftovers of $LAB_NAME"
    cmd_machine_down
    claim # the cleanup may have taken the environment's directory with it
  fi
  mkdir -p "$m/upper" "$m/work" "$m/merged"
  mount -t overlay overlay -o "lowerdir=$BASE_DIR,upperdir=$m/upper,workdir=$m/work" "$m/merged"
  local r="$m/merged"
  echo "$LAB_NAME" >"$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$LAB_NAME" >"$r/etc/hosts"
  tr -d '-' </proc/sys/kernel/random/uuid >"$r/etc/machine-id"
  ssh-keygen -A -f "$r" >/dev/null
  # The host key as created, recorded outside the machine: the lab stack
  # publishes it (Terraform output `obsctl_inventory`) and obsctl pins it, so
  # a key changed inside the machine later is refused, not followed.
  if [ -n "${LAB_HOST_KEY:-}" ]; then
    mkdir -p "$(dirname "$LAB_HOST_KEY")"
    cut -d' ' -f1,2 "$r/etc/ssh/ssh_host_ed25519_key.pub" >"$LAB_HOST_KEY.tmp" && mv "$LAB_HOST_KEY.tmp" "$LAB_HOST_KEY"
  fi
  install -d -m 0700 "$r/root/.ssh"
  install -m 0600 "$LAB_PUBKEY_FILE" "$r/root/.ssh/authorized_keys"
  cat >"$r/etc/systemd/network/10-host0.network" <<NET
[Match]
Name=host0

[Network]
Address=$LAB_ADDRESS/$LAB_PREFIX
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
  echo "Acquire::http::Proxy \"http://$LAB_GATEWAY:$ACNG_PORT\";" >"$r/etc/apt/apt.conf.d/01obsctl-proxy"
  # The data volume: kept from the machine this one replaces, if any.
  data_paths_ok
  local binds=() d p; d=$(data_dir)
  for p in ${LAB_DATA_PATHS:-}; do
    mkdir -p "$d$p" "$r$p"
    binds+=("--bind=$d$p:$p")
  done
  setsid systemd-nspawn -D "$r" -M "obs-$LAB_ENV-$LAB_NAME" --hostname="$LAB_NAME" --boot \
    --network-bridge="$LAB_BRIDGE" --register=no --keep-unit "${binds[@]}" </dev/null >"$m/console.log" 2>&1 8>&- &
  echo $! >"$m/pid"
  sleep 0.3
  kill -0 "$(cat "$m/pid")" 2>/dev/null || { tail -n 20 "$m/console.log" >&2; die "systemd-nspawn for $LAB_NAME exited at once (console: $m/console.log)"; }
  log "machine $LAB_NAME booting at $LAB_ADDRESS"
}

cmd_machine_down() {
  need LAB_ENV; need LAB_NAME
  mine_or_leave
  local m; m=$(machine_dir)
  local pids; pids=$( { [ -f "$m/pid" ] && cat "$m/pid"; nspawn_pids; } | sort -u)
  for pid in $pids; do stop_pid "$pid" 20; done
  # A machine whose nspawn was killed from outside keeps running, orphaned:
  # end every process whose root is this machine's tree before unmounting.
  local orphans=()
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$m/merged" ] && orphans+=("${p#/proc/}")
  done
  if [ ${#orphans[@]} -gt 0 ]; then
    log "killing ${#orphans[@]} orphaned processes of $LAB_NAME"
    kill -KILL "${orphans[@]}" 2>/dev/null || true
    sleep 0.5
  fi
  if mountpoint -q "$m/merged" 2>/dev/null; then
    umount "$m/merged" 2>/dev/null || umount -l "$m/merged"
  fi
  rm -rf "$m"
  [ -z "${LAB_HOST_KEY:-}" ] || rm -f "$LAB_HOST_KEY"
  tidy_env_dir
  log "machine $LAB_NAME removed"
}

# A crash, for failover tests: the container's init (nspawn's child) gets
# SIGKILL, which kills every process of the machine at once, with no
# shutdown; nspawn then exits by itself. (SIGKILL to nspawn alone would
# orphan the running machine.) Directory and mount stay for machine-down.
cmd_machine_stop() {
  need LAB_ENV; need LAB_NAME
  mine_or_leave
  local m; m=$(machine_dir)
  local pids; pids=$( { [ -f "$m/pid" ] && cat "$m/pid"; nspawn_pids; } | sort -u)
  for pid in $pids; do
    kill -0 "$pid" 2>/dev/null || continue
    pkill -KILL -P "$pid" 2>/dev/null || true
  done
  for pid in $pids; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$pid" 5
  done
  log "machine $LAB_NAME stopped (hard power-off)"
}

cmd_status() {
  need LAB_ENV
  local d; d=$(env_dir)
  [ -d "$d/machines" ] || { echo "no machines"; return 0; }
  # No process per machine (every no-op `up` asks, at any fleet size): the
  # shell's own read and kill.
  local m name pid
  for m in "$d"/machines/*/; do
    name=${m%/}; name=${name##*/}; pid=
    if [ -f "$m/pid" ]; then read -r pid <"$m/pid" || true; fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name running"; else echo "$name stopped"; fi
  done
}

# --- steps in flight -------------------------------------------------------

# Terraform stops a provisioner's command with SIGKILL when it is
# interrupted, and a signal sent to Terraform's process group reaches the
# command too. A machine or a network half made is worse than one finished,
# so a step that changes something runs in a session of its own, holding a
# shared lock on $LAB_ROOT/.busy; this process only relays its output and
# exit status. Killing it leaves the step running to its end, and `settle`
# (or `status`) waits for that end.
detached() {
  mkdir -p "$LAB_ROOT/run"
  find "$LAB_ROOT/run" -name 'out.*' -mmin +60 -delete 2>/dev/null || true
  local out; out=$(mktemp "$LAB_ROOT/run/out.XXXXXX")
  LAB_DETACHED=1 setsid -w "$0" "$@" </dev/null >"$out" 2>&1 &
  local pid=$! rc=0
  tail -s 0.2 -n +1 -f --pid="$pid" "$out" >&2 &
  wait "$pid" || rc=$?
  wait
  rm -f "$out"
  return "$rc"
}

# The step itself. Descriptors inherited from whoever ran Terraform (e.g.
# `flock /some/lock obsctl up`) are closed first: a machine or the apt cache
# started from here lives on, and would hold such a lock for as long as it
# runs. Then fd 8 holds the shared lock until the step exits (machines and
# the apt cache are started with fd 8 closed, so they never hold it).
in_flight() {
  local fd
  for fd in $(ls /proc/$$/fd); do
    case $fd in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
  done
  exec 8<>"$LAB_ROOT/.busy"
  flock -s 8
}

cmd_settle() {
  local secs=${1:-600}
  mkdir -p "$LAB_ROOT"
  ( flock -w "$secs" -x 8 || die "lab steps still running after ${secs}s (see: pgrep -af lab.sh)" ) 8<>"$LAB_ROOT/.busy"
}

step=${1:-}
case "$step" in
  base|net-up|net-down|isolate|unisolate|data-up|data-down|machine-up|machine-down|machine-stop)
    if [ -z "${LAB_DETACHED:-}" ]; then
      detached "$@"
      exit $?
    fi
    in_flight ;;
esac

case "$step" in
  base) cmd_base ;;
  net-up) cmd_net_up ;;
  net-down) cmd_net_down ;;
  isolate) cmd_isolate ;;
  unisolate) cmd_unisolate ;;
  isolation) cmd_isolation ;;
  data-up) cmd_data_up ;;
  data-down) cmd_data_down ;;
  machine-up) cmd_machine_up ;;
  machine-down) cmd_machine_down ;;
  machine-stop) cmd_machine_stop ;;
  status) cmd_settle; cmd_status ;;
  settle) cmd_settle "${2:-600}" ;;
  *) sed -n '2,32p' "$0" >&2; exit 2 ;;
esac
