#!/usr/bin/env bash
# One-time setup for the test suite on a Debian/Ubuntu machine (run as root
# in CI). Idempotent: installs only what is missing.
#
# - Debian packages the tests use: jq, curl, python3-venv, python3-jsonschema
#   (docs/contract.schema.json checks), python3-aiosmtpd (the e2e test's SMTP
#   server), openssh-client, nginx (tests/static/gateway.sh runs the log
#   gateway's rendered site through `nginx -t` and live on loopback ports),
#   and the lab's systemd-container, debootstrap, mmdebstrap, apt-cacher-ng.
# - the tools of each Debian release the hosts can run (promtool, amtool and
#   the prometheus, prometheus-alertmanager and prometheus-node-exporter
#   binaries), extracted from that release's packages on deb.debian.org into
#   .obsctl/tools/<os>/root (debian-13, debian-12), so the static checks use
#   the versions the hosts run whatever this machine's own release is
#   (installing the packages would start a Prometheus on this host).
# - the Ansible venv (obsctl doctor --fix).
#
#   tests/setup.sh          all of it
#   tests/setup.sh lab      the packages, the release build and the venv (what
#                           the end-to-end checks need; tests/run starts them next)
#   tests/setup.sh tools    each Debian release's tools
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$PWD/.obsctl/tools
part=${1:-all}
case "$part" in all | lab | tools) ;; *) echo "usage: tests/setup.sh [lab|tools]" >&2; exit 2 ;; esac

if [ "$part" != tools ]; then
want=(jq curl nginx python3-venv python3-aiosmtpd openssh-client systemd-container debootstrap mmdebstrap apt-cacher-ng iproute2 nftables gawk gpg debian-archive-keyring)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
python3 -c 'import jsonschema' 2>/dev/null || missing+=(python3-jsonschema)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: missing packages ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi
# The lab's base images (mmdebstrap: about a minute, mostly waiting on the network)
# are built meanwhile, for the releases the environments run; lab.sh takes a
# lock per release, so an `up` that needs one first waits for it.
if [ "$(id -u)" = 0 ] && [ "${SETUP_LAB_BASES:-1}" = 1 ]; then
  mkdir -p .obsctl
  ( for os in debian-13 debian-12; do LAB_OS=$os terraform/scripts/lab.sh base || echo "setup: the $os base image failed; up builds it again" >&2; done
  ) </dev/null >.obsctl/lab-bases.log 2>&1 &
fi
# One release build serves every step (the e2e checks, prometheus.sh,
# aws/obsctl.sh, the docs), and the demo app is built as `up` builds it
# (cargo build -p orders-api), so that up finds it done. Not --workspace:
# features unified across the workspace would make both builds different
# ones, and each step would build its own again.
cargo build --release --locked -q
cargo build --release --locked -q -p orders-api
target/release/obsctl doctor --fix >/dev/null || target/release/obsctl doctor
[ "$part" = lab ] && { echo "setup: ok (packages, target/release/obsctl, Ansible in .obsctl/venv)"; exit 0; }
fi

# tools OS SUITE PACKAGES...: a private APT configuration (its own sources,
# lists and cache under .obsctl/tools/<os>/apt) downloads the release's
# packages without touching this machine's APT; they are unpacked, never
# installed.
tools() {
  local os=$1 suite=$2; shift 2
  local dir="$TOOLS/$os" bin="$TOOLS/$os/root/usr/bin"
  if [ ! -f "$dir/.complete" ]; then
    echo "setup: extracting the $os ($suite) tools from Debian's packages: $*"
    rm -rf "$dir"
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/archives/partial" "$dir/debs" "$dir/root"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$dir/apt/sources.list"
    local apt=(-q -o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$dir/apt/lists"
      -o "Dir::Cache=$dir/apt" -o "Dir::Cache::archives=$dir/apt/archives" -o APT::Sandbox::User=root)
    apt-get "${apt[@]}" update >"$dir/apt.log" 2>&1 || { cat "$dir/apt.log" >&2; echo "setup: apt-get update for $suite failed" >&2; exit 1; }
    (cd "$dir/debs" && apt-get "${apt[@]}" download "$@" >>"$dir/apt.log" 2>&1) \
      || { cat "$dir/apt.log" >&2; echo "setup: downloading $* from $suite failed" >&2; exit 1; }
    for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
    rm -rf "$dir/apt" "$dir/debs"
    touch "$dir/.complete"
  fi
  for t in promtool amtool prometheus prometheus-alertmanager prometheus-node-exporter; do
    "$bin/$t" --version >/dev/null 2>&1 || { echo "setup: $bin/$t does not run; remove $dir and run again" >&2; exit 1; }
  done
}
# Debian 13 packages promtool on its own; in Debian 12 it is part of prometheus.
# The two downloads at once: each waits on the network, not the CPU.
tools debian-13 trixie prometheus promtool prometheus-alertmanager prometheus-node-exporter & t13=$!
tools debian-12 bookworm prometheus prometheus-alertmanager prometheus-node-exporter & t12=$!
rc=0; wait $t13 || rc=1; wait $t12 || rc=1; [ $rc = 0 ]
echo "setup: ok (Debian 13 and 12 tools in $TOOLS/debian-13 and $TOOLS/debian-12, Ansible in .obsctl/venv)"
