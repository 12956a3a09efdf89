#!/usr/bin/env bash
# HA peers restart one at a time (issue 19 item 7, issue 28): the restart
# handlers of the prometheus, alertmanager, grafana and loki roles restart
# the service AND wait until it answers, with throttle: 1. This checks both
# halves:
#  1. statically: each handler has throttle 1, restarts the unit and polls
#     the readiness URL (/-/ready, /api/health, /ready) before it ends;
#  2. behaviourally: ansible/site.yml itself (its include_role loop, the APT
#     task left out, under plain `free` and under obsctl's strategy)
#     runs stub prometheus, alertmanager, grafana and loki
#     roles on 4 local hosts that reach the handler at different times; the
#     stubs' handlers are the real ones with the shell body replaced by a
#     2-second logged "restart". No two restarts of one service may overlap.
# Usage: ha_restart.sh VENV WORKDIR (called by configs.sh). Offline.
set -euo pipefail
venv="$1"
work="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rm -rf "$work"
mkdir -p "$work"

"$venv/bin/python" - "$root" "$work" <<'PY'
import sys, yaml, pathlib
root, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wants = {"prometheus": ("restart prometheus", "/-/ready"), "alertmanager": ("restart alertmanager", "/-/ready"),
         "grafana": ("restart grafana", "/api/health"), "loki": ("restart loki", "/ready")}
problems = []
for role, (topic, ready) in wants.items():
    handlers = yaml.safe_load((root / "ansible/roles" / role / "handlers/main.yml").read_text())
    restart = [h for h in handlers if topic in (h.get("listen") or [])
               and any(k.endswith("shell") or k.endswith("command") for k in h)]
    if len(restart) != 1:
        problems.append(f"{role}: expected one restart handler listening to {topic!r}, found {len(restart)}")
        continue
    h = restart[0]
    body = next(v for k, v in h.items() if k.endswith("shell") or k.endswith("command"))
    if h.get("throttle") != 1:
        problems.append(f"{role}: restart handler has throttle {h.get('throttle')!r}, expected 1")
    if "systemctl restart" not in body or ready not in body or "exit 1" not in body:
        problems.append(f"{role}: restart handler must restart the unit and wait for {ready} (failing when it never answers)")
    # The stub role: the real handler, its body replaced by a logged pause.
    # (Its environment, the controller's password lookup, has no use there.)
    stub = {k: v for k, v in h.items() if not (k.endswith("shell") or k.endswith("command") or k == "environment")}
    stub["ansible.builtin.shell"] = (f"echo start {role} {{{{ inventory_hostname }}}} $(date +%s.%N) >> {work}/log; sleep 2; "
                                     f"echo end {role} {{{{ inventory_hostname }}}} $(date +%s.%N) >> {work}/log")
    d = work / "roles" / role
    (d / "handlers").mkdir(parents=True)
    (d / "tasks").mkdir()
    (d / "handlers/main.yml").write_text(yaml.safe_dump([stub]))
    (d / "tasks/main.yml").write_text(yaml.safe_dump([
        {"name": "arrive at a host-dependent time", "ansible.builtin.command": "sleep {{ stub_delay }}", "changed_when": False},
        {"name": "change the configuration", "ansible.builtin.command": "true", "changed_when": True, "notify": topic},
        {"ansible.builtin.meta": "flush_handlers"},
    ]))
for role in ("node_exporter", "alloy", "promtail", "app", "loki_gateway", "sshd", "managed_dirs"):
    (work / "roles" / role / "tasks").mkdir(parents=True)
    for entry in ("main", "tops"):
        (work / "roles" / role / f"tasks/{entry}.yml").write_text(yaml.safe_dump([{"ansible.builtin.meta": "noop"}]))
plays = yaml.safe_load((root / "ansible/site.yml").read_text())
for play in plays:
    play["tasks"] = [t for t in play["tasks"] if not any(k.endswith("apt") for k in t)]
(work / "site.yml").write_text(yaml.safe_dump(plays))
(work / "inventory.yml").write_text(yaml.safe_dump({"all": {
    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    "hosts": {"m1": {"stub_delay": 0}, "m2": {"stub_delay": 1}, "m3": {"stub_delay": 0}, "m4": {"stub_delay": 3}},
    "children": {"prometheus": {"hosts": {"m1": {}, "m3": {}}}, "alertmanager": {"hosts": {"m1": {}, "m2": {}, "m4": {}}},
                 "grafana": {"hosts": {"m1": {}, "m2": {}}}, "loki": {"hosts": {"m1": {}, "m3": {}, "m4": {}}}},
}}))
for p in problems:
    print(f"ha_restart: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# Under both strategies site.yml runs with: plain `free` (by hand) and
# obsctl's, with the plugins obsctl points Ansible at (`obsctl facts`).
obsctl=${OBSCTL_BIN:-}
if [ -z "$obsctl" ]; then
  (cd "$root" && cargo build --release --locked -q)
  obsctl=$root/target/release/obsctl
fi
ansible=$(OBSCTL_ROOT=$root "$obsctl" facts | jq -c .ansible)
strategy_obsctl=$(jq -r .strategy <<<"$ansible")
plugins=$(jq -r '.strategy_plugins // empty' <<<"$ansible")
[ -n "$plugins" ] || { echo "ha_restart: obsctl finds no strategy plugins in $(jq -r .venv <<<"$ansible") (obsctl doctor --fix installs them)" >&2; exit 1; }
for strategy in free "$strategy_obsctl"; do
  rm -f "$work/log"
  ANSIBLE_ROLES_PATH="$work/roles" ANSIBLE_HOME="$work/home" ANSIBLE_LOCAL_TEMP="$work/tmp" \
    ANSIBLE_NOCOLOR=1 ANSIBLE_FORKS=10 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_DEPRECATION_WARNINGS=0 \
    ANSIBLE_STRATEGY_PLUGINS="$plugins" OBSCTL_ANSIBLE_STRATEGY="$strategy" \
    "$venv/bin/ansible-playbook" -i "$work/inventory.yml" "$work/site.yml" >"$work/run-$strategy.log" 2>&1 ||
    { cat "$work/run-$strategy.log" >&2; echo "ha_restart: the stub run of site.yml ($strategy) failed" >&2; exit 1; }

"$venv/bin/python" - "$work/log" "$strategy" <<'PY'
import sys, collections
spans = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    what, role, host, t = line.split()
    spans[role].setdefault(host, {})[what] = float(t)
want = {"prometheus": 2, "alertmanager": 3, "grafana": 2, "loki": 3}
bad = []
for role, n in want.items():
    runs = sorted((s["start"], s["end"], h) for h, s in spans[role].items())
    if len(runs) != n:
        bad.append(f"{role}: {len(runs)} restarts, expected {n}")
    for (s1, e1, h1), (s2, e2, h2) in zip(runs, runs[1:]):
        if s2 < e1:
            bad.append(f"{role}: {h2} restarted while {h1} was still restarting")
for b in bad:
    print(f"ha_restart: {b}", file=sys.stderr)
if bad:
    sys.exit(1)
print(f"ha_restart: prometheus, alertmanager, grafana and loki peers restart one at a time under site.yml's {sys.argv[2]} strategy")
PY
done
