#!/usr/bin/env bash
# One-time setup for the test suite on a Debian/Ubuntu machine (run as root
# in CI). Idempotent: installs only what is missing.
#
# - Debian packages the tests use: jq, curl, python3-venv, python3-jsonschema
#   (docs/contract.schema.json checks), python3-aiosmtpd (the e2e test's SMTP
#   server), openssh-client,
#   and the lab's systemd-container, debootstrap, apt-cacher-ng.
# - promtool and amtool, extracted from Debian's prometheus and
#   prometheus-alertmanager packages into .obsctl/tools/ (installing the
#   packages would start a Prometheus on this host).
# - the Ansible venv (obsctl doctor --fix).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$PWD/.obsctl/tools

want=(jq curl python3-venv python3-aiosmtpd openssh-client systemd-container debootstrap apt-cacher-ng iproute2 gawk gpg)
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

if [ ! -x "$TOOLS/root/usr/bin/promtool" ] || [ ! -x "$TOOLS/root/usr/bin/amtool" ]; then
  echo "setup: extracting promtool and amtool from Debian's packages"
  mkdir -p "$TOOLS/debs" "$TOOLS/root"
  (cd "$TOOLS/debs" && { apt-get download prometheus prometheus-alertmanager >/dev/null 2>&1 \
     || { apt-get update -q >/dev/null && apt-get download prometheus prometheus-alertmanager >/dev/null; }; })
  for deb in "$TOOLS"/debs/*.deb; do dpkg-deb -x "$deb" "$TOOLS/root"; done
fi
"$TOOLS/root/usr/bin/promtool" --version >/dev/null
"$TOOLS/root/usr/bin/amtool" --version >/dev/null

cargo build --release --locked -q
target/release/obsctl doctor --fix >/dev/null || target/release/obsctl doctor
echo "setup: ok (promtool/amtool in $TOOLS/root/usr/bin, Ansible in .obsctl/venv)"
