#!/usr/bin/env bash
# Alert routing, per environment, against the table in tests/routing/<env>.yml:
#   1. `obsctl inventory --env ENV --contract FILE` renders the environment's
#      inventory (the real env file and inventory code; a contract with the
#      env file's hosts at made-up addresses, in a scratch OBSCTL_ROOT);
#   2. Ansible renders the alertmanager role's alertmanager.yml and notification
#      templates from it (render.yml), and `amtool check-config` accepts them;
#   3. routing.py checks every alert's receivers with `amtool config routes
#      test`, and the inhibitions, against the table.
# Offline: no host is contacted. Needs amtool (tests/setup.sh puts it in
# .obsctl/tools) and the Ansible venv ($OBSCTL_ANSIBLE_VENV, default .obsctl/venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OBSCTL_ANSIBLE_VENV:-$root/.obsctl/venv}"
amtool=$(command -v amtool || echo "$root/.obsctl/tools/debian-13/root/usr/bin/amtool")
[ -x "$amtool" ] || { echo "routing.sh: error: amtool not found; run tests/setup.sh" >&2; exit 2; }
[ -x "$venv/bin/ansible-playbook" ] || { echo "routing.sh: error: no Ansible venv at $venv; run tests/setup.sh" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ANSIBLE_ROLES_PATH="$root/ansible/roles" ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_LOCALHOST_WARNING=0

(cd "$root" && cargo build -q --release --locked --bin obsctl)
obsctl="${CARGO_TARGET_DIR:-$root/target}/release/obsctl"
# A scratch checkout: the real environments and roles, its own .obsctl/.
ws="$work/ws"
mkdir -p "$ws"
ln -s "$root/environments" "$ws/environments"
ln -s "$root/ansible" "$ws/ansible"

envs=()
for f in "$root"/environments/*.toml; do envs+=("$(basename "$f" .toml)"); done
passed=0
failed=0
for env in "${envs[@]}"; do
  out="$work/$env"
  mkdir -p "$out" "$ws/.obsctl/$env/secrets"
  table="$here/$env.yml"
  if [ ! -f "$table" ]; then
    echo "routing.sh: FAILED: $env has no routing table $table" >&2
    failed=$((failed + 1)); continue
  fi
  # The contract Terraform would output: the env file's hosts, 10.99.0.10, .11, …
  "$venv/bin/python" - "$root/environments/$env.toml" "$env" >"$out/contract.json" <<'PY'
import json, sys, tomllib
env = tomllib.load(open(sys.argv[1], "rb"))
hosts = {h["name"]: {"address": f"10.99.0.{10 + i}", "private_address": f"10.99.0.{10 + i}", "ssh_user": "root",
                     "ssh_port": 22, "roles": h["roles"], "labels": {}} for i, h in enumerate(env["hosts"])}
print(json.dumps({"schema": 1, "environment": sys.argv[2], "hosts": hosts,
                  "ssh": {"private_key_file": "/nonexistent/id_ed25519", "bastion": None}}))
PY
  OBSCTL_ROOT="$ws" "$obsctl" inventory --env "$env" --contract "$out/contract.json" >"$out/inventory.json"
  # Recognisable fake credentials where the inventory expects stored ones.
  # (a URL where the credential is one: a webhook's URL).
  jq -r '.all.vars.alertmanager_receivers[] | .[] | objects | to_entries[] | select(.key | endswith("_file")) | "\(.key) \(.value)"' \
    "$out/inventory.json" | while read -r k f; do
      case "$k" in url_file) echo "https://fake-$RANDOM.invalid/" ;; *) echo "fake-$RANDOM" ;; esac >"$f"
    done
  if ! "$venv/bin/ansible-playbook" -i "$out/inventory.json" "$here/render.yml" --tags routing-render \
      -e "routing_out=$out" >"$out/render.log" 2>&1; then
    sed -n '/fatal\|ERROR/,$p' "$out/render.log" >&2
    echo "routing.sh: FAILED: $env: rendering alertmanager.yml" >&2
    failed=$((failed + 1)); continue
  fi
  if ! "$amtool" check-config "$out/alertmanager.yml" >"$out/check.log" 2>&1; then
    cat "$out/check.log" >&2
    echo "routing.sh: FAILED: $env: amtool check-config refuses the rendered alertmanager.yml" >&2
    failed=$((failed + 1)); continue
  fi
  # No credential stored on the controller may appear in the file, except
  # a webhook URL given as a secret (Alertmanager 0.25 has no url_file).
  leaked=$(jq -r '.all.vars.alertmanager_receivers[] | (.email.password_file, .slack.api_url_file, .pagerduty.routing_key_file) // empty' \
    "$out/inventory.json" | while read -r f; do grep -qF "$(cat "$f")" "$out/alertmanager.yml" && echo "$f"; done || true)
  if [ -n "$leaked" ]; then
    echo "routing.sh: FAILED: $env: credentials copied into alertmanager.yml: $leaked" >&2
    failed=$((failed + 1)); continue
  fi
  if "$venv/bin/python" "$here/routing.py" "$env" "$out/alertmanager.yml" "$table" \
      "$root/ansible/roles/prometheus/files/rules" "$amtool"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "routing: $passed passed, $failed failed (environments: ${envs[*]})"
((failed == 0))
