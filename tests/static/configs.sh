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
printf 'db-%s\n' "$RANDOM$RANDOM$RANDOM" >"$secrets/grafana_db_password"
printf 'key-%s%s\n' "$RANDOM$RANDOM$RANDOM$RANDOM" "$RANDOM$RANDOM$RANDOM$RANDOM" >"$secrets/grafana_secret_key"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$work/rds-ca.pem"
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

# The prod inventory has prod's real shape: the hosts and roles of
# environments/prod.toml (co-located services change what Grafana and
# Promtail are configured with).
if "$venv/bin/python" - "$root/environments/prod.toml" "$here/inventories/prod.yml" <<'PY'
import sys, tomllib, yaml
env = tomllib.load(open(sys.argv[1], "rb"))
inv = yaml.safe_load(open(sys.argv[2]))["all"]
want = {h["name"]: sorted(h["roles"]) for h in env["hosts"]}
got = {n: sorted(v["obsctl_roles"]) for n, v in inv["hosts"].items()}
groups = {g: sorted(c["hosts"]) for g, c in inv["children"].items()}
for role in ("prometheus", "alertmanager", "grafana", "loki", "app"):
    members = sorted(n for n, r in want.items() if role in r)
    assert groups.get(role) == members, f"group {role} is {groups.get(role)}, prod.toml has {members}"
assert got == want, f"hosts/roles {got} differ from prod.toml's {want}"
PY
then
  echo "configs.sh: inventories/prod.yml has the hosts and roles of environments/prod.toml"
  passed=$((passed + 1))
else
  echo "configs.sh: FAILED: inventories/prod.yml does not match environments/prod.toml: update it" >&2
  failed=$((failed + 1))
fi

check() { # check NAME INVENTORY-FILE [EXTRA ARGS...]
  local name="$1"
  if render "$@"; then
    grep -ho "check_rendered: [^'\"]*" "$work/$name.log"
    passed=$((passed + 1))
  else
    show_failure "$work/$name.log"
    echo "configs.sh: FAILED: render and check of $name" >&2
    failed=$((failed + 1))
  fi
}
check dev "$here/inventories/dev.yml"
check prod "$here/inventories/prod.yml"
# verify-full needs the CA path; hardening off must reset the packaged unit's sandbox.
check prod-verify-full "$here/inventories/prod.yml" \
  -e grafana_database_ssl_mode=verify-full -e "grafana_database_ca_cert_file=$work/rds-ca.pem"
check dev-no-hardening "$here/inventories/dev.yml" -e '{"grafana_systemd_hardening": false}'
# One Grafana, on a host without Prometheus (on two other hosts): its data
# source is Prometheus's first host (nothing to keep identical).
sed 's/^    grafana: {hosts: {mon-1: {}, mon-2: {}}}$/    grafana: {hosts: {mon-3: {}}}/' "$here/inventories/prod.yml" >"$work/prod-one-grafana.yml"
grep -q '^    grafana: {hosts: {mon-3: {}}}$' "$work/prod-one-grafana.yml" ||
  { echo "configs.sh: error: could not derive an inventory with one Grafana from inventories/prod.yml" >&2; exit 2; }
check prod-one-grafana "$work/prod-one-grafana.yml"

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
refuse filesystem-with-3-lokis "$prod" "set loki_storage to s3" --limit mon-3 -e loki_storage=filesystem
refuse replication-above-hosts "$prod" "it must be between 1 and the number of Loki hosts" --limit mon-3 -e loki_replication_factor=4
refuse postgres-without-host "$prod" "postgres needs" --limit mon-1 -e grafana_database_host=
refuse missing-admin-password "$dev" "admin password file" --limit mon-1 -e "grafana_admin_password_file=$work/none"
refuse promtail-without-loki "$work/dev-without-loki.yml" "has no Loki to push to" --limit app-1
refuse bad-loki-storage "$prod" "loki_storage must be one of: filesystem, s3" --limit mon-3 -e loki_storage=gcs
refuse verify-full-without-ca "$prod" "needs the CA bundle" --limit mon-1 -e grafana_database_ssl_mode=verify-full
refuse missing-secret-key "$dev" "secret key file" --limit mon-1 -e "grafana_secret_key_file=$work/none"
refuse ha-port-of-alertmanager "$prod" "grafana_alerting_ha_port 9094 is already used" --limit mon-1 -e grafana_alerting_ha_port=9094
sed 's/^    loki: {hosts: {mon-1: {}, mon-2: {}, mon-3: {}}}$/    loki: {hosts: {mon-1: {}, mon-3: {}}}/' "$prod" >"$work/prod-loki-not-on-mon-2.yml"
grep -q '^    loki: {hosts: {mon-1: {}, mon-3: {}}}$' "$work/prod-loki-not-on-mon-2.yml" ||
  { echo "configs.sh: error: could not derive an inventory with Loki off mon-2 from $prod" >&2; exit 2; }
refuse grafana-without-local-loki "$work/prod-loki-not-on-mon-2.yml" "not on every" --limit mon-2

# HA peers restart one at a time under site.yml's free strategy.
if "$here/ha_restart.sh" "$venv" "$work/ha"; then
  passed=$((passed + 1))
else
  echo "configs.sh: FAILED: ha_restart.sh" >&2
  failed=$((failed + 1))
fi

# When Grafana's APT key is fetched again, and when a download is refused.
if "$venv/bin/python" "$here/apt_key_test.py" "$venv/bin"; then
  passed=$((passed + 1))
else
  echo "configs.sh: FAILED: apt_key_test.py" >&2
  failed=$((failed + 1))
fi

echo "configs: $passed passed, $failed failed"
((failed == 0))
