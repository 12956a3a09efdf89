#!/usr/bin/env bash
# Prometheus's scrape jobs come from obsctl's component registry: renders
# prometheus.yml.j2 with the inventory obsctl itself renders from a contract
# (`obsctl inventory --contract`), checks every job, target and port against
# the inventory's `obsctl_components`, then changes one component's port in
# that inventory and checks the rendered config follows. Also checks that the
# hand-written inventories of tests/static carry the registry's ports (what
# obsctl passes), so they cannot drift from it. Offline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OBSCTL_ANSIBLE_VENV:-$root/.obsctl/venv}"
obsctl="${OBSCTL_BIN:-$root/target/release/obsctl}"
[[ -x "$venv/bin/ansible" ]] || { echo "prometheus.sh: error: no Ansible in $venv (run tests/setup.sh)" >&2; exit 2; }
[[ -x "$obsctl" ]] || { echo "prometheus.sh: error: no obsctl binary at $obsctl (cargo build --release)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/tmp" ANSIBLE_NOCOLOR=1
export ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0

render() { # render INVENTORY OUT
  # The role's internal variables (vars/main.yml) are what the template reads besides the inventory.
  "$venv/bin/ansible" mon-1 -i "$1" -c local -e "ansible_python_interpreter=$venv/bin/python" -e "@$root/ansible/roles/prometheus/vars/main.yml" \
    -m ansible.builtin.template -a "src=$root/ansible/roles/prometheus/templates/prometheus.yml.j2 dest=$2 mode=0600" \
    >"$work/render.log" 2>&1 || { cat "$work/render.log" >&2; echo "prometheus.sh: FAILED: rendering $1" >&2; exit 1; }
}

OBSCTL_ROOT="$root" "$obsctl" inventory --env dev --contract "$here/contracts/dev.json" >"$work/dev.json"
render "$work/dev.json" "$work/prometheus.yml"
# The same inventory with loki's port changed, as a changed registry writes it.
"$venv/bin/python" - "$work/dev.json" "$work/moved.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
inv["all"]["vars"]["obsctl_components"]["loki"]["port"] = 3999
inv["all"]["vars"]["loki_http_port"] = 3999
json.dump(inv, open(sys.argv[2], "w"))
PY
render "$work/moved.json" "$work/moved.yml"

"$venv/bin/python" - "$work" <<'PY'
import json, sys, yaml
work = sys.argv[1]
def check(inv_file, cfg_file):
    inv = json.load(open(f"{work}/{inv_file}"))["all"]
    cfg = yaml.safe_load(open(f"{work}/{cfg_file}"))
    comps, groups, hosts = inv["vars"]["obsctl_components"], inv["children"], inv["hosts"]
    want = {}
    for c in comps.values():
        members = sorted(groups[c["group"]]["hosts"])
        if c["enabled"] and members:
            want[c["job"]] = sorted(f'{hosts[h]["obsctl_private_address"]}:{c["port"]}' for h in members)
    got = {j["job_name"]: sorted(t for sc in j["static_configs"] for t in sc["targets"]) for j in cfg["scrape_configs"]}
    assert got == want, f"{cfg_file}: scrape jobs {got} != registry {want}"
    am = cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert all(t.endswith(f':{comps["alertmanager"]["port"]}') for t in am), am
    return got
dev = check("dev.json", "prometheus.yml")
moved = check("moved.json", "moved.yml")
assert moved["loki"] == ["10.77.0.10:3999"] and dev["loki"] != moved["loki"], (dev["loki"], moved["loki"])
print(f"prometheus.sh: {len(dev)} scrape jobs match the registry; a changed loki port reaches prometheus.yml")
cfg = yaml.safe_load(open(f"{work}/prometheus.yml"))
assert "remote_read" not in cfg, f"dev has one Prometheus, yet remote_read: {cfg['remote_read']}"
PY

# Issue 32: on staging (two replicas) each Prometheus remote-reads its twin,
# over HTTPS with the CA and basic auth, only for what it lacks itself
# (read_recent false), with no per-replica external label.
OBSCTL_ROOT="$root" "$obsctl" inventory --env staging --contract "$here/contracts/staging.json" >"$work/staging.json"
render "$work/staging.json" "$work/staging.yml"
"$venv/bin/python" - "$work/staging.json" "$work/staging.yml" <<'PY'
import json, sys, yaml
inv, cfg = json.load(open(sys.argv[1]))["all"], yaml.safe_load(open(sys.argv[2]))
proms = sorted(inv["children"]["prometheus"]["hosts"])
assert "mon-1" in proms and len(proms) == 2, proms
twin = [h for h in proms if h != "mon-1"][0]
port = inv["vars"]["obsctl_components"]["prometheus"]["port"]
want = f'https://{inv["hosts"][twin]["obsctl_private_address"]}:{port}/api/v1/read'
rr = cfg.get("remote_read") or []
assert [r["url"] for r in rr] == [want], f"remote_read {rr}, expected only {want}"
r = rr[0]
assert r["read_recent"] is False and r["tls_config"]["ca_file"] and r["basic_auth"]["username"] == "prometheus" \
    and r["basic_auth"]["password_file"], r
labels = cfg["global"]["external_labels"]
assert set(labels) == {"env"}, f"external labels must be equal on every replica (remote read matches on them): {labels}"
print(f"prometheus.sh: staging mon-1 remote-reads its twin {twin} ({want}), TLS + basic auth, read_recent false")
PY

# The static inventories (tests/static/inventories) are written by hand for
# the template checks; every port and component they name must be obsctl's.
"$venv/bin/python" - "$work/dev.json" "$here"/inventories/*.yml <<'PY'
import json, sys, yaml
ours = json.load(open(sys.argv[1]))["all"]["vars"]
ports = {k: v for k, v in ours.items() if k.endswith("_port")}
bad = []
for f in sys.argv[2:]:
    vars = yaml.safe_load(open(f))["all"].get("vars", {})
    for k, v in vars.items():
        if k.endswith("_port") and k in ports and v != ports[k]:
            bad.append(f"{f}: {k} is {v}, obsctl passes {ports[k]}")
    missing = sorted(set(ports) - set(vars))
    if missing:
        bad.append(f"{f}: lacks the port variables obsctl always passes: {', '.join(missing)}")
    names = set(vars.get("obsctl_components", {}))
    if names != set(ours["obsctl_components"]):
        bad.append(f"{f}: obsctl_components names {sorted(names)}, the registry {sorted(ours['obsctl_components'])}")
if bad:
    sys.exit("prometheus.sh: FAILED:\n  " + "\n  ".join(bad))
print(f"prometheus.sh: {len(sys.argv) - 2} static inventories carry the registry's {len(ports)} ports and components")
PY
