#!/usr/bin/env bash
# Renders every template of the grafana, loki and alloy roles for a
# dev-shaped and a prod-shaped inventory (tests/static/inventories), and of
# the legacy promtail role for dev with log_agent = "promtail", and checks
# the results structurally (render.yml + check_rendered.py; every Alloy
# configuration against Alloy's syntax and component reference:
# tests/static/alloy/). Shows the Alloy check refuses misspellings
# (alloy/selftest.py) and the move from Promtail to Alloy (alloy/migration.py). Then
# checks that the roles' preflight refuses inventories it must refuse, that HA
# peers restart one at a time (ha_restart.sh) and that web_config notifies
# each service's handler when its files change (web_config_notify.sh).
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
  echo "configs.sh: hint: cargo run --release -- doctor --fix   (installs obsctl's pinned ansible-core and Mitogen)" >&2
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
# The web users' passwords (the inventories carry bcrypt hashes of these).
for user in obsctl prometheus grafana alloy promtail; do
  printf 'test-web-%s-password\n' "$user" >"$secrets/web_${user}_password"
done
chmod 0600 "$secrets"/*
# An environment CA and a certificate per host (server and client, SANs: its
# name, 127.0.0.1, localhost), where obsctl keeps them: <secrets>/../tls/.
# openssl stands in for obsctl's own CA here (tests only).
tls="$work/tls"
mkdir -p -m 0700 "$tls/hosts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=obsctl test CA" \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
for host in mon-1 mon-2 mon-3 app-1 db-1; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
    -keyout "$tls/hosts/$host.key" -out "$tls/hosts/$host.csr" 2>/dev/null
  openssl x509 -req -in "$tls/hosts/$host.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$host") \
    -out "$tls/hosts/$host.crt" 2>/dev/null
done
chmod 0600 "$tls"/*.key "$tls"/hosts/*.key

export ANSIBLE_HOME="$work/ansible-home"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp"
export ANSIBLE_ROLES_PATH="$root/ansible/roles"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_INVENTORY_UNPARSED_WARNING=0
export ANSIBLE_LOCALHOST_WARNING=0
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_FORKS=20
# obsctl's own strategy and plugins (`obsctl facts`: Mitogen keeps one Python
# per host instead of one per task), when the release binary is there: the
# same templates and checks, a fraction of the time.
obsctl="${OBSCTL_BIN:-$root/target/release/obsctl}"
if [[ -x "$obsctl" ]] && ansible=$(OBSCTL_ROOT=$root "$obsctl" facts 2>/dev/null | "$venv/bin/python" -c 'import json,sys; a=json.load(sys.stdin)["ansible"]; print(a.get("strategy_plugins") or "", a["strategy"].replace("_free", "_linear"))') &&
   [[ -n "${ansible%% *}" ]]; then
  export ANSIBLE_STRATEGY_PLUGINS="${ansible%% *}" ANSIBLE_STRATEGY="${ansible#* }"
fi

passed=0
failed=0
# The renders and checks are independent: they run JOBS (default 3) at a time,
# each writing its output and result under $work/jobs; `finish_jobs` prints
# them in the order they were started and counts them.
JOBS=${JOBS:-3}
mkdir -p "$work/jobs"
njobs=0
job() { # job NAME FUNCTION ARGS...: FUNCTION's output, and 0/1 for pass/fail
  local id; id=$(printf '%03d' "$njobs"); njobs=$((njobs + 1))
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  ( rc=0; "${@:2}" >"$work/jobs/$id.out" 2>&1 || rc=$?; echo "$rc" >"$work/jobs/$id.rc" ) &
}
finish_jobs() {
  wait
  local f rc
  for f in "$work"/jobs/*.out; do
    cat "$f"
    rc=$(cat "${f%.out}.rc")
    if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
}

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
# Alloy are configured with).
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

check_one() { # check_one NAME INVENTORY-FILE [EXTRA ARGS...]
  local name="$1"
  if render "$@"; then
    grep -ho "check_rendered: [^'\"]*" "$work/$name.log"
  else
    show_failure "$work/$name.log"
    echo "configs.sh: FAILED: render and check of $name" >&2
    return 1
  fi
}
check() { job "$1" check_one "$@"; }
# The dev render first: the gateway checks read it.
if check_one dev "$here/inventories/dev.yml"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
# dev as an environment that kept the legacy agent (log_agent = "promtail"):
# the same inventory with promtail's group instead of alloy's.
legacy="$work/dev-legacy-promtail.yml"
sed -e 's/^    alloy: {hosts: {mon-1: {}, app-1: {}}}$/    alloy: {hosts: {}}/' \
    -e 's/^    promtail: {hosts: {}}$/    promtail: {hosts: {mon-1: {}, app-1: {}}}/' \
    -e 's/^      alloy: {enabled: true}$/      alloy: {enabled: false}/' \
    -e 's/^      promtail: {enabled: false}$/      promtail: {enabled: true}/' "$here/inventories/dev.yml" >"$legacy"
[ "$(grep -c -e '^    alloy: {hosts: {}}$' -e '^    promtail: {hosts: {mon-1: {}, app-1: {}}}$' "$legacy")" = 2 ] ||
  { echo "configs.sh: error: could not derive the legacy (promtail) inventory from inventories/dev.yml" >&2; exit 2; }
if check_one dev-legacy-promtail "$legacy"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
# The Alloy check refuses what it must (on dev's app-1 render), and the move
# from Promtail to Alloy, on the two renders of dev and the role's tasks.
alloy_selftest_one() { "$venv/bin/python" "$here/alloy/selftest.py" "$work/dev/hosts/app-1/alloy/config.alloy" || { echo "configs.sh: FAILED: alloy/selftest.py" >&2; return 1; }; }
job alloy_selftest alloy_selftest_one
# The user's log sources of app-1 (inventories/dev.yml, obsctl_user_logs) are in
# both agents' renders: each file glob with its labels, each unit relabelled.
user_logs_one() {
  local a="$work/dev/hosts/app-1/alloy/config.alloy" p="$work/dev-legacy-promtail/hosts/app-1/promtail/promtail.yaml"
  "$venv/bin/python" - "$a" "$p" <<'PY' || { echo "configs.sh: FAILED: the user's log files are not in the rendered agent configs" >&2; return 1; }
import sys, yaml
alloy, promtail = open(sys.argv[1]).read(), yaml.safe_load(open(sys.argv[2]))
for f in ["/var/log/nginx/access.log", "/var/log/nginx/*error*.log"]:
    assert f'{{"__path__" = "{f}", "job" = "user-files", "service" = "nginx"}}' in alloy, f
assert r'regex         = "nginx\\.service|prometheus\\-nginx\\-exporter\\.service"' in alloy, alloy
assert "file_match {\n    enabled = true" in alloy
jobs = {j["job_name"]: j for j in promtail["scrape_configs"]}
paths = sorted(sc["labels"]["__path__"] for sc in jobs["user-0"]["static_configs"])
assert paths == ["/var/log/nginx/*error*.log", "/var/log/nginx/access.log"], paths
assert all(sc["labels"]["service"] == "nginx" for sc in jobs["user-0"]["static_configs"])
rules = [r for r in jobs["journal"]["relabel_configs"] if r.get("target_label") == "service"]
assert rules and rules[0]["replacement"] == "nginx" and rules[0]["regex"].startswith("nginx\\.service|"), rules
print("configs.sh: the user's log files and units are in the Alloy and Promtail renders of app-1")
PY
}
job user_logs user_logs_one
migration_one() { "$venv/bin/python" "$here/alloy/migration.py" "$work/dev" "$work/dev-legacy-promtail" || { echo "configs.sh: FAILED: alloy/migration.py" >&2; return 1; }; }
job alloy_migration migration_one
# The dev render's gateway sites, through nginx itself: nginx -t, then live
# (nginx in front of a stub HTTPS backend): refusals and passes per user.
gateway_one() { # gateway_one HOST
  local host=$1
  if [[ -f "$work/dev/hosts/$host/loki_gateway/log-gateway.conf" ]] &&
     "$here/gateway.sh" "$work/dev/hosts/$host/loki_gateway" "$tls" "$host" "$secrets" >"$work/gateway-$host.log" 2>&1; then
    grep -h '^gateway:' "$work/gateway-$host.log"
  else
    cat "$work/gateway-$host.log" >&2
    echo "configs.sh: FAILED: the log gateway of $host (gateway.sh)" >&2
    return 1
  fi
}
for host in mon-1 app-1; do job "gateway-$host" gateway_one "$host"; done
check prod "$here/inventories/prod.yml"
# verify-full needs the CA path; hardening off must reset the packaged unit's sandbox.
check prod-verify-full "$here/inventories/prod.yml" \
  -e grafana_database_ssl_mode=verify-full -e "grafana_database_ca_cert_file=$work/rds-ca.pem"
check dev-no-hardening "$here/inventories/dev.yml" -e '{"grafana_systemd_hardening": false}'
# A host obsctl did not create ([[existing_hosts]], docs/existing-hosts.md):
# dev with db-1 added as obsctl's inventory holds one (obsctl_existing, groups
# existing and db, node_exporter and the log agent only). The log agent's
# configuration renders and is checked for it as for any host.
"$venv/bin/python" - "$here/inventories/dev.yml" >"$work/dev-existing-host.yml" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
a = inv["all"]
a["hosts"]["db-1"] = {"ansible_host": "10.77.0.50", "ansible_user": "root", "ansible_port": 22, "obsctl_private_address": "10.77.0.50",
                      "obsctl_labels": {"provider": "existing"}, "obsctl_roles": [], "obsctl_existing": True}
for group in ("node_exporter", "alloy", "existing", "db"):
    a["children"].setdefault(group, {"hosts": {}})
    a["children"][group]["hosts"] = dict(a["children"][group]["hosts"] or {}, **{"db-1": {}})
yaml.safe_dump(inv, sys.stdout, sort_keys=False)
PY
check dev-existing-host "$work/dev-existing-host.yml"
# One Grafana, on a host without Prometheus (on two other hosts): its data
# source is Prometheus's first host (nothing to keep identical).
sed 's/^    grafana: {hosts: {mon-1: {}, mon-2: {}}}$/    grafana: {hosts: {mon-3: {}}}/' "$here/inventories/prod.yml" >"$work/prod-one-grafana.yml"
grep -q '^    grafana: {hosts: {mon-3: {}}}$' "$work/prod-one-grafana.yml" ||
  { echo "configs.sh: error: could not derive an inventory with one Grafana from inventories/prod.yml" >&2; exit 2; }
check prod-one-grafana "$work/prod-one-grafana.yml"

# Inventories the preflight checks must refuse, with the message they must give.
refuse_one() { # refuse_one NAME INVENTORY-FILE EXPECTED-MESSAGE EXTRA-ARGS...
  local name="$1" inventory="$2" message="$3"
  shift 3
  if render "$name" "$inventory" "$@"; then
    echo "configs.sh: FAILED: $name: ${inventory##*/} with $* was accepted" >&2
    return 1
  elif grep -q -- "$message" "$work/$name.log"; then
    echo "configs.sh: $name: refused as expected ($message)"
  else
    show_failure "$work/$name.log"
    echo "configs.sh: FAILED: $name: refused, but without \"$message\"" >&2
    return 1
  fi
}
refuse() { job "$1" refuse_one "$@"; }
dev="$here/inventories/dev.yml"
prod="$here/inventories/prod.yml"
sed 's/^    loki: {hosts: {mon-1: {}}}$/    loki: {hosts: {}}/' "$dev" >"$work/dev-without-loki.yml"
grep -q '^    loki: {hosts: {}}$' "$work/dev-without-loki.yml" ||
  { echo "configs.sh: error: could not derive an inventory without Loki from $dev" >&2; exit 2; }
refuse filesystem-with-3-lokis "$prod" "set loki_storage to s3" --limit mon-3 -e loki_storage=filesystem
refuse replication-above-hosts "$prod" "it must be between 1 and the number of Loki hosts" --limit mon-3 -e loki_replication_factor=4
refuse postgres-without-host "$prod" "postgres needs" --limit mon-1 -e grafana_database_host=
refuse missing-admin-password "$dev" "admin password file" --limit mon-1 -e "grafana_admin_password_file=$work/none"
refuse alloy-without-loki "$work/dev-without-loki.yml" "has no Loki to push to" --limit app-1
sed 's/^    loki: {hosts: {mon-1: {}}}$/    loki: {hosts: {}}/' "$legacy" >"$work/legacy-without-loki.yml"
refuse promtail-without-loki "$work/legacy-without-loki.yml" "has no Loki to push to" --limit app-1
# dev's obsctl_web_users with one field of one user changed, as an extra-vars file.
web_users_file() { # web_users_file NAME USER KEY VALUE
  "$venv/bin/python" - "$dev" "$secrets" "$@" >"$work/$1.json" <<'PY'
import json, sys, yaml
inv, secrets, name, user, key, value = sys.argv[1:]
users = yaml.safe_load(open(inv))["all"]["vars"]["obsctl_web_users"]
for v in users.values():
    v["password_file"] = v["password_file"].replace("{{ obsctl_secrets_dir }}", secrets)
users[user][key] = value
print(json.dumps({"obsctl_web_users": users}))
PY
}
web_users_file prometheus-plain prometheus bcrypt plain-text
refuse gateway-user-without-hash "$dev" "for prometheus, which the log gateway" --limit app-1 -e "@$work/prometheus-plain.json"
refuse gateway-without-ca "$dev" "is missing on the controller" --limit app-1 -e "obsctl_tls_ca_file=$work/none"
web_users_file alloy-no-password alloy password_file "$work/none"
refuse alloy-without-password "$dev" "no readable password file for alloy" --limit app-1 -e "@$work/alloy-no-password.json"
web_users_file promtail-no-password promtail password_file "$work/none"
refuse promtail-without-password "$legacy" "no readable password file for promtail" --limit app-1 -e "@$work/promtail-no-password.json"
web_users_file grafana-no-password grafana password_file "$work/none"
refuse grafana-without-datasource-password "$dev" "no readable password file for grafana" --limit mon-1 -e "@$work/grafana-no-password.json"
refuse bad-loki-storage "$prod" "loki_storage must be one of: filesystem, s3" --limit mon-3 -e loki_storage=gcs
refuse verify-full-without-ca "$prod" "needs the CA bundle" --limit mon-1 -e grafana_database_ssl_mode=verify-full
refuse missing-secret-key "$dev" "secret key file" --limit mon-1 -e "grafana_secret_key_file=$work/none"
refuse ha-port-of-alertmanager "$prod" "grafana_alerting_ha_port 9094 is already used" --limit mon-1 -e grafana_alerting_ha_port=9094
sed 's/^    loki: {hosts: {mon-1: {}, mon-2: {}, mon-3: {}}}$/    loki: {hosts: {mon-1: {}, mon-3: {}}}/' "$prod" >"$work/prod-loki-not-on-mon-2.yml"
grep -q '^    loki: {hosts: {mon-1: {}, mon-3: {}}}$' "$work/prod-loki-not-on-mon-2.yml" ||
  { echo "configs.sh: error: could not derive an inventory with Loki off mon-2 from $prod" >&2; exit 2; }
refuse grafana-without-local-loki "$work/prod-loki-not-on-mon-2.yml" "not on every" --limit mon-2

# HA peers restart one at a time under site.yml's free strategy.
ha_one() { env -u ANSIBLE_STRATEGY -u ANSIBLE_STRATEGY_PLUGINS "$here/ha_restart.sh" "$venv" "$work/ha" || { echo "configs.sh: FAILED: ha_restart.sh" >&2; return 1; }; }
job ha_restart ha_one

# web_config notifies a service's handler exactly when its files or the CA changed.
notify_one() { env -u ANSIBLE_STRATEGY -u ANSIBLE_STRATEGY_PLUGINS "$here/web_config_notify.sh" "$venv" "$work/web_config_notify" || { echo "configs.sh: FAILED: web_config_notify.sh" >&2; return 1; }; }
job web_config_notify notify_one

# When Grafana's APT key is fetched again, and when a download is refused.
apt_key_one() { env -u ANSIBLE_STRATEGY -u ANSIBLE_STRATEGY_PLUGINS "$venv/bin/python" "$here/apt_key_test.py" "$venv/bin" || { echo "configs.sh: FAILED: apt_key_test.py" >&2; return 1; }; }
job apt_key apt_key_one

finish_jobs
echo "configs: $passed passed, $failed failed"
((failed == 0))
