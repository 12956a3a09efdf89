#!/usr/bin/env python3
"""The move of an environment from the legacy Promtail to Alloy, shown on
what can be read here: the configurations rendered for the same hosts with
each agent (configs.sh renders dev with Alloy and, from the same inventory,
with log_agent = "promtail") and the alloy role's tasks.

    migration.py ALLOY_RENDER_DIR PROMTAIL_RENDER_DIR

It checks that
- Promtail's positions file (its rendered positions.filename) is the file
  the alloy role carries over (tasks/migrate.yml copies it, once, to the
  path that Alloy's rendered loki.source.file names as legacy_positions_file);
- Alloy tails the same path under the same labels (Alloy's conversion finds
  a legacy position by path: a different path would start the file over), and
  every stream keeps its labels (job, env, host; unit and level of the journal);
- the order of the role: Promtail stopped (and disabled) before Alloy first
  starts (migrate.yml runs before service.yml, whose first task flushes the
  restart handlers), its package purged and its files removed only after
  Alloy answers /-/ready, and those files are every directory the promtail
  role creates.
That no line is lost or shipped twice needs both agents running against a
Loki: it cannot be shown here (Grafana's APT repository is unreachable).
The journal's cursor is not carried over: Alloy's loki.source.journal has
no legacy import (docs/operations.md says what that means).
"""

import sys
from pathlib import Path

import yaml

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
from alloy_syntax import Block, parse  # noqa: E402

ROLES = here.parents[2] / "ansible" / "roles"
problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def tasks(role, name):
    return yaml.safe_load((ROLES / role / "tasks" / name).read_text())


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    alloy_dir, promtail_dir = Path(argv[1]), Path(argv[2])
    alloy_vars = yaml.safe_load((ROLES / "alloy" / "vars" / "main.yml").read_text())
    promtail_vars = yaml.safe_load((ROLES / "promtail" / "vars" / "main.yml").read_text())
    checked_hosts = 0
    for host_dir in sorted((alloy_dir / "hosts").iterdir()):
        host = host_dir.name
        a_file, p_file = host_dir / "alloy" / "config.alloy", promtail_dir / "hosts" / host / "promtail" / "promtail.yaml"
        if not (expect(a_file.is_file(), f"{host}: no Alloy config rendered")
                and expect(p_file.is_file(), f"{host}: no Promtail config rendered from the same inventory")):
            continue
        checked_hosts += 1
        blocks = {(b.name, b.label): b for b in parse(a_file.read_text()) if isinstance(b, Block)}
        prom = yaml.safe_load(p_file.read_text())
        # Positions: the file Promtail writes is the one the role carries over.
        expect(prom["positions"]["filename"] == alloy_vars["_alloy_promtail_positions_file"],
               f"{host}: Promtail keeps its positions in {prom['positions']['filename']}, the alloy role carries over "
               f"{alloy_vars['_alloy_promtail_positions_file']}")
        # Stream labels every agent adds.
        client = prom["clients"][0]
        write = blocks[("loki.write", "loki")]
        expect(write.attributes().get("external_labels") == client["external_labels"],
               f"{host}: external labels {write.attributes().get('external_labels')} vs Promtail's {client['external_labels']}")
        endpoint = next(b for b in write.blocks() if b.name == "endpoint")
        expect(endpoint.attributes().get("url") == client["url"], f"{host}: Alloy pushes to {endpoint.attributes().get('url')}, "
               f"Promtail to {client['url']}: the same Loki, or a stream changes ingester for nothing")
        jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
        journal = blocks.get(("loki.source.journal", "journal"))
        expect(journal and journal.attributes().get("labels") == jobs["journal"]["journal"]["labels"],
               f"{host}: journal labels differ from Promtail's {jobs['journal']['journal']['labels']}")
        rules = {(tuple(r.attributes()["source_labels"]), r.attributes()["target_label"])
                 for r in blocks[("loki.relabel", "journal")].blocks()}
        expect(rules == {(tuple(r["source_labels"]), r["target_label"]) for r in jobs["journal"]["relabel_configs"]},
               f"{host}: journal relabel rules differ from Promtail's")
        source = blocks.get(("loki.source.file", "orders_api"))
        if "orders-api" not in jobs:
            expect(source is None, f"{host}: Alloy tails orders-api where Promtail did not")
            continue
        if not expect(source is not None, f"{host}: Promtail tailed orders-api, Alloy does not"):
            continue
        static = dict(jobs["orders-api"]["static_configs"][0]["labels"])
        target = source.attributes()["targets"][0]
        expect(target == static, f"{host}: Alloy's target {target} is not Promtail's {static} (path and labels: "
               "a legacy position is found by path)")
        expect(source.attributes().get("legacy_positions_file") == alloy_vars["_alloy_legacy_positions_file"],
               f"{host}: legacy_positions_file is {source.attributes().get('legacy_positions_file')}, the role copies to "
               f"{alloy_vars['_alloy_legacy_positions_file']}")
        stages = blocks[("loki.process", "orders_api")].blocks()
        labels = next(b for b in stages if b.name == "stage.labels").attributes()["values"]
        p_labels = next(s["labels"] for s in jobs["orders-api"]["pipeline_stages"] if "labels" in s)
        expect(set(labels) == set(p_labels), f"{host}: parsed labels {sorted(labels)} vs Promtail's {sorted(p_labels)}")

    # The role's tasks, in the order they run.
    main_tasks = [t["ansible.builtin.import_tasks"] for t in tasks("alloy", "main.yml")]
    expect(main_tasks.index("migrate.yml") < main_tasks.index("service.yml"),
           f"alloy tasks run {main_tasks}: migrate.yml must come before service.yml (Alloy's first start)")
    migrate = tasks("alloy", "migrate.yml")
    stop = next((t for t in migrate if t.get("ansible.builtin.systemd_service", {}).get("name") == "promtail"), None)
    copy = next((t for t in migrate if "ansible.builtin.copy" in t), None)
    if expect(stop is not None and copy is not None, "migrate.yml must stop promtail and copy its positions"):
        expect(migrate.index(stop) < migrate.index(copy), "migrate.yml copies the positions before Promtail stopped")
        expect(stop["ansible.builtin.systemd_service"].get("state") == "stopped"
               and stop["ansible.builtin.systemd_service"].get("enabled") is False, "Promtail is not stopped and disabled")
        c = copy["ansible.builtin.copy"]
        expect(c.get("src") == "{{ _alloy_promtail_positions_file }}" and c.get("dest") == "{{ _alloy_legacy_positions_file }}",
               f"the copy goes {c.get('src')} -> {c.get('dest')}")
        expect(c.get("remote_src") is True and c.get("force") is False,
               "the copy must be on the host (remote_src) and never replace one carried over (force: false)")
        expect(c.get("owner") == "{{ _alloy_user }}", "the carried-over positions must be Alloy's to read")
    service = tasks("alloy", "service.yml")
    names = [t["name"] for t in service]
    flush = next(i for i, t in enumerate(service) if t.get("ansible.builtin.meta") == "flush_handlers")
    start = next(i for i, t in enumerate(service) if t.get("ansible.builtin.systemd_service", {}).get("state") == "started")
    ready = next(i for i, t in enumerate(service) if "_alloy_ready_probe" in str(t.get("ansible.builtin.command", "")))
    purge = next((i for i, t in enumerate(service) if t.get("ansible.builtin.apt", {}).get("name") == "promtail"), None)
    files = next((i for i, t in enumerate(service) if t.get("loop") == "{{ _alloy_promtail_leftovers }}"), None)
    expect(flush == 0 and start > flush, f"service.yml: {names}: handlers must flush before Alloy starts")
    if expect(purge is not None and files is not None, "service.yml must purge promtail and remove its files"):
        expect(ready < purge and ready < files, f"service.yml: {names}: Promtail is removed before Alloy answers")
        apt = service[purge]["ansible.builtin.apt"]
        expect(apt.get("state") == "absent" and apt.get("purge") is True, "promtail's package is not purged")
    # Every directory the promtail role creates is removed.
    leftovers = set(alloy_vars["_alloy_promtail_leftovers"])
    created = {promtail_vars[k] for k in ("_promtail_config_dir", "_promtail_data_dir", "_promtail_dropin_dir")}
    created |= {"{{ obsctl_host_tls_dir }}/promtail", promtail_vars["_promtail_secrets_dir"]}
    expect(created <= leftovers, f"left behind after the move: {sorted(created - leftovers)}")
    expect(checked_hosts > 0, "no host had both renders")

    for p in problems:
        print(f"migration: FAILED: {p}", file=sys.stderr)
    print(f"migration: {checked_hosts} hosts from Promtail to Alloy: positions carried over, streams and labels kept, "
          f"Promtail removed after Alloy is ready; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
