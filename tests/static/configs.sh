#!/usr/bin/env bash
# Renders every template of the grafana, loki and promtail roles for a
# dev-shaped and a prod-shaped inventory (tests/static/inventories) and
# checks the results structurally (render.yml + check_rendered.py). Then
# checks that the roles' preflight refuses inventories it must refuse.
# Offline: no host is contacted.
#
# Needs the Ansible venv: $OBSCTL_ANSIBLE_VENV (default <repo>/.obsctl/venv),
# with ansible-core 2.19 (PyYAML comes with it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OBSCTL_ANSIBLE_VENV:-$root/.obsctl/venv}"

if [[ ! -x "$venv/bin/ansible-playbook" ]]; then
  echo "configs.sh: error: no ansible-playbook in the Ansible venv $venv" >&2
  echo "configs.sh: hint: python3 -m venv $venv && $venv/bin/pip install ansible-core==2.19.14" >&2
  echo "configs.sh: hint: or point OBSCTL_ANSIBLE_VENV at an existing venv" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
secrets="$work/secrets"
mkdir -m 0700 "$secrets"
# Recognisable fake secrets: check_rendered.py fails if one leaks into a file.
printf 'admin-%s\n' "$RANDOM$RANDOM$RANDOM" >"$secrets/grafana_admin_password"
printf 'db-%s\n' "$RANDOM$RANDOM$RANDOM" >"$secrets/grafana_database_password"
chmod 0600 "$secrets"/*

export ANSIBLE_HOME="$work/ansible-home"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp"
export ANSIBLE_ROLES_PATH="$root/ansible/roles"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_INVENTORY_UNPARSED_WARNING=0
export ANSIBLE_LOCALHOST_WARNING=0
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_FORKS=20

passed=0
failed=0

# Prints the interesting end of a failed run: from the first error on.
show_failure() { # show_failure LOG
  if grep -qE '^(fatal|failed):|ERROR' "$1"; then
    sed -n '/^\(fatal\|failed\):\|ERROR/,$p' "$1" >&2
  else
    cat "$1" >&2
  fi
}

render() { # render NAME INVENTORY-FILE [EXTRA ARGS...]
  local name="$1" inventory="$2"
  shift 2
  "$venv/bin/ansible-playbook" -i "$inventory" "$here/render.yml" \
    -e "obsctl_render_dir=$work/$name" -e "obsctl_secrets_dir=$secrets" "$@" \
    >"$work/$name.log" 2>&1
}

for inventory in dev prod; do
  if render "$inventory" "$here/inventories/$inventory.yml"; then
    grep -ho "check_rendered: [^'\"]*" "$work/$inventory.log"
    passed=$((passed + 1))
  else
    show_failure "$work/$inventory.log"
    echo "configs.sh: FAILED: render and check of the $inventory inventory" >&2
    failed=$((failed + 1))
  fi
done

# Inventories the preflight checks must refuse, with the message they must give.
refuse() { # refuse NAME INVENTORY-FILE EXPECTED-MESSAGE EXTRA-ARGS...
  local name="$1" inventory="$2" message="$3"
  shift 3
  if render "$name" "$inventory" "$@"; then
    echo "configs.sh: FAILED: $name: ${inventory##*/} with $* was accepted" >&2
    failed=$((failed + 1))
  elif grep -q -- "$message" "$work/$name.log"; then
    echo "configs.sh: $name: refused as expected ($message)"
    passed=$((passed + 1))
  else
    show_failure "$work/$name.log"
    echo "configs.sh: FAILED: $name: refused, but without \"$message\"" >&2
    failed=$((failed + 1))
  fi
}
dev="$here/inventories/dev.yml"
prod="$here/inventories/prod.yml"
sed 's/^    loki: {hosts: {mon-1: {}}}$/    loki: {hosts: {}}/' "$dev" >"$work/dev-without-loki.yml"
grep -q '^    loki: {hosts: {}}$' "$work/dev-without-loki.yml" ||
  { echo "configs.sh: error: could not derive an inventory without Loki from $dev" >&2; exit 2; }
refuse filesystem-with-3-lokis "$prod" "set loki_storage to s3" --limit loki-1 -e loki_storage=filesystem
refuse replication-above-hosts "$prod" "it must be between 1 and the number of Loki hosts" --limit loki-1 -e loki_replication_factor=4
refuse postgres-without-host "$prod" "postgres needs" --limit graf-1 -e grafana_database_host=
refuse missing-admin-password "$dev" "admin password file" --limit mon-1 -e "grafana_admin_password_file=$work/none"
refuse promtail-without-loki "$work/dev-without-loki.yml" "has no Loki to push to" --limit app-1
refuse bad-loki-storage "$prod" "loki_storage must be one of: filesystem, s3" --limit loki-1 -e loki_storage=gcs

echo "configs: $passed passed, $failed failed"
((failed == 0))
