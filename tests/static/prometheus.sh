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

# Staging (two replicas): no remote_read between them (two replicas reading
# each other loop: src/model/access.rs), and the same external labels on both.
OBSCTL_ROOT="$root" "$obsctl" inventory --env staging --contract "$here/contracts/staging.json" >"$work/staging.json"
render "$work/staging.json" "$work/staging.yml"
"$venv/bin/python" - "$work/staging.json" "$work/staging.yml" <<'PY'
import json, sys, yaml
inv, cfg = json.load(open(sys.argv[1]))["all"], yaml.safe_load(open(sys.argv[2]))
proms = sorted(inv["children"]["prometheus"]["hosts"])
assert "mon-1" in proms and len(proms) == 2, proms
assert "remote_read" not in cfg, f"staging's replicas must not remote-read each other: {cfg['remote_read']}"
labels = cfg["global"]["external_labels"]
assert set(labels) == {"env"}, f"external labels must be equal on every replica (Alertmanager deduplicates on them): {labels}"
print(f"prometheus.sh: staging's {len(proms)} replicas have no remote_read and the same external labels")
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

# The user's own scrape jobs (env file [[scrape_jobs]], docs/own-services.md):
# dev with two user jobs, rendered by obsctl and the role, checked by each
# release's promtool and against what the env file says.
own="$work/own-root"
mkdir -p "$own/environments" "$own/monitoring"
ln -s "$root/ansible" "$own/ansible"
printf 'not a real CA, only its path is rendered\n' >"$own/monitoring/ca.crt"
{ cat "$root/environments/dev.toml"; cat <<'TOML'

[[scrape_jobs]]
name = "nginx"
targets = ["app-1:9113"]
labels = { service = "nginx" }

[[scrape_jobs]]
name = "postgres"
group = "app"
port = 9187
scheme = "https"
ca_file = "../monitoring/ca.crt"
scrape_interval = "30s"
scrape_timeout = "10s"
basic_auth = { username = "scraper", password_env = "OWN_STATIC_PW" }
relabel_configs = [ { source_labels = ["__address__"], target_label = "addr" } ]
file_sd = true
TOML
} >"$own/environments/dev.toml"
OBSCTL_ROOT="$own" "$obsctl" inventory --env dev --contract "$here/contracts/dev.json" >"$work/own.json" 2>"$work/own.err" \
  && { echo "prometheus.sh: FAILED: a job whose password variable is unset was accepted" >&2; exit 1; }
grep -q 'OWN_STATIC_PW' "$work/own.err" || { cat "$work/own.err" >&2; echo "prometheus.sh: FAILED: the refusal does not name \$OWN_STATIC_PW" >&2; exit 1; }
OWN_STATIC_PW=s3cret-static OBSCTL_ROOT="$own" "$obsctl" inventory --env dev --contract "$here/contracts/dev.json" >"$work/own.json"
render "$work/own.json" "$work/own.yml"
for os in debian-13 debian-12; do
  promtool="$root/.obsctl/tools/$os/root/usr/bin/promtool"
  [[ -x "$promtool" ]] || { echo "prometheus.sh: error: no promtool of $os (tests/setup.sh tools)" >&2; exit 2; }
  "$promtool" check config --syntax-only "$work/own.yml" >"$work/promtool.log" 2>&1 \
    || { cat "$work/promtool.log" "$work/own.yml" >&2; echo "prometheus.sh: FAILED: promtool ($os) refuses the user jobs" >&2; exit 1; }
done
"$venv/bin/python" - "$work/own.json" "$work/own.yml" <<'PY'
import json, sys, yaml
inv = json.load(open(sys.argv[1]))["all"]
cfg = yaml.safe_load(open(sys.argv[2]))
jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
app = inv["hosts"]["app-1"]["obsctl_private_address"]
assert jobs["nginx"]["static_configs"] == [{"targets": [f"{app}:9113"], "labels": {"host": "app-1", "service": "nginx"}}], jobs["nginx"]
pg = jobs["postgres"]
assert pg["scheme"] == "https" and pg["tls_config"] == {"ca_file": "/etc/prometheus/scrape/postgres.ca.crt"}, pg
assert pg["basic_auth"] == {"username": "scraper", "password_file": "/etc/prometheus/scrape/postgres.password"}, pg
assert pg["static_configs"][0]["targets"] == [f"{app}:9187"], pg
assert pg["file_sd_configs"][0]["files"][0] == "/etc/prometheus/file_sd/postgres/*.json", pg
assert (pg["scrape_interval"], pg["scrape_timeout"]) == ("30s", "10s"), pg
# Built-in jobs are all still there, user jobs come after them.
assert list(jobs)[-2:] == ["nginx", "postgres"], list(jobs)
files = {f["dest"]: f["src"] for f in inv["vars"]["prometheus_user_files"]}
assert set(files) == {"/etc/prometheus/scrape/postgres.ca.crt", "/etc/prometheus/scrape/postgres.password"}, files
assert inv["vars"]["prometheus_file_sd_jobs"] == ["postgres"]
text = open(sys.argv[1]).read() + open(sys.argv[2]).read()
assert "s3cret-static" not in text, "a user credential is in the inventory or prometheus.yml"
assert open(files["/etc/prometheus/scrape/postgres.password"]).read() == "s3cret-static"
print(f"prometheus.sh: user scrape jobs rendered ({len(jobs)} jobs, promtool of both releases agrees); credentials by file only")
PY
