#!/usr/bin/env bash
# Renders the prometheus, alertmanager and node_exporter files for the
# inventories obsctl renders for dev and staging, as they would be on hosts of one
# Debian release (render_stack.yml), then checks them with THAT release's
# tools, which must be first on PATH (tests/run puts .obsctl/tools/<os>/root/usr/bin there):
#   - prometheus.yml:   promtool check config
#   - alertmanager.yml: amtool check-config (with a webhook and an email receiver)
#   - the flags in /etc/default/*: parsed by the release's own prometheus,
#     prometheus-alertmanager and prometheus-node-exporter (an unknown flag fails)
# So a config or flag the deployed version rejects fails here.
#
#   tests/static/stack.sh debian-13|debian-12
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OBSCTL_ANSIBLE_VENV:-$root/.obsctl/venv}"
os=${1:?usage: stack.sh debian-13|debian-12}
major=${os#debian-}

die() { echo "stack.sh: error: $*" >&2; exit 2; }
[[ "$os" =~ ^debian-[0-9]+$ ]] || die "$os is not a release like debian-13"
obsctl="${OBSCTL_BIN:-$root/target/release/obsctl}"
[[ -x "$obsctl" ]] || die "no obsctl binary at $obsctl (cargo build --release, or set OBSCTL_BIN)"
[[ -x "$venv/bin/ansible-playbook" ]] || die "no ansible-playbook in the Ansible venv $venv (tests/setup.sh creates it)"
for t in promtool amtool prometheus prometheus-alertmanager prometheus-node-exporter; do
  command -v "$t" >/dev/null || die "$t not on PATH: put the $os tools first (tests/setup.sh extracts them into .obsctl/tools/$os/root/usr/bin)"
done
echo "stack: $os tools: $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3), $(prometheus-alertmanager --version 2>&1 | head -1 | cut -d' ' -f1-3), $(prometheus-node-exporter --version 2>&1 | head -1 | cut -d' ' -f1-3)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'smtp-%s\n' "$RANDOM$RANDOM" >"$work/smtp_password"
cat >"$work/receivers.json" <<JSON
{"alertmanager_receivers": [
  {"name": "ops-webhook", "severities": ["critical", "warning"], "webhook": {"url": "https://hooks.example.com/obsctl"}},
  {"name": "oncall-email", "severities": ["critical"], "email": {"to": "oncall@example.com", "from": "am@example.com",
   "smarthost": "smtp.example.com:587", "require_tls": true, "username": "am@example.com", "password_file": "$work/smtp_password"}}
]}
JSON

export ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_ROLES_PATH="$root/ansible/roles"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_FORKS=20
export ANSIBLE_INVENTORY_UNPARSED_WARNING=0

passed=0
failed=0
check() { # check NAME COMMAND...
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
  else
    printf '%s\n' "$out" >&2
    echo "stack.sh: FAILED ($os): $name" >&2
    failed=$((failed + 1))
  fi
}
# The ARGS of a /etc/default file, parsed by the binary it is for.
flags() { # flags FILE BINARY
  (set -euo pipefail; ARGS=""; source "$1"; [ -n "$ARGS" ]; eval "exec $2 $ARGS --version" >/dev/null)
}

# The inventories obsctl itself renders for dev (single hosts) and staging
# (2 Prometheus, a 3-peer Alertmanager cluster) from their contracts.
for inventory in dev staging; do
  OBSCTL_ROOT="$root" "$obsctl" inventory --env "$inventory" --contract "$here/contracts/$inventory.json" >"$work/$inventory.json" \
    || die "obsctl inventory --env $inventory --contract tests/static/contracts/$inventory.json failed"
  out="$work/$inventory"
  if ! "$venv/bin/ansible-playbook" -i "$work/$inventory.json" "$here/render_stack.yml" \
      -e "obsctl_render_dir=$out" -e "obsctl_render_major=$major" -e "@$work/receivers.json" >"$work/$inventory.log" 2>&1; then
    sed -n '/^\(fatal\|failed\):\|ERROR/,$p' "$work/$inventory.log" >&2
    echo "stack.sh: FAILED ($os): render of the $inventory inventory" >&2
    failed=$((failed + 1))
    continue
  fi
  n=0
  for f in "$out"/*/prometheus/prometheus.yml; do check "${f#"$work"/}" promtool check config --syntax-only "$f"; n=$((n + 1)); done
  for f in "$out"/*/alertmanager/alertmanager.yml; do check "${f#"$work"/}" amtool check-config "$f"; n=$((n + 1)); done
  for f in "$out"/*/prometheus/prometheus.default; do check "${f#"$work"/}" flags "$f" prometheus; n=$((n + 1)); done
  for f in "$out"/*/alertmanager/alertmanager.default; do check "${f#"$work"/}" flags "$f" prometheus-alertmanager; n=$((n + 1)); done
  for f in "$out"/*/node_exporter/node-exporter.default; do check "${f#"$work"/}" flags "$f" prometheus-node-exporter; n=$((n + 1)); done
  [ "$n" -gt 0 ] || { echo "stack.sh: FAILED ($os): nothing rendered for $inventory" >&2; failed=$((failed + 1)); }
  echo "stack: $inventory: $n files checked"
done

echo "stack ($os): $passed passed, $failed failed"
((failed == 0))
