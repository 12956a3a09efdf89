#!/usr/bin/env python3
"""Checks an environment's rendered alertmanager.yml against its routing table.

Usage: routing.py ENV ALERTMANAGER_YML TABLE_YML RULES_DIR AMTOOL

TABLE_YML (tests/routing/<env>.yml) has one row per alert of RULES_DIR
(name and severity): the receivers that must get it (`receivers: []` means
it reaches no one: Alertmanager's `blackhole`), and, for alerts another
alert inhibits, `inhibited_by` (the labels of the inhibiting alert).

  1. every alert (name, severity) of the rule files has exactly one row and
     every row is an alert of the rule files;
  2. `amtool config routes test --verify.receivers=…` with the alert's labels
     (alertname, severity, env) resolves to exactly the row's receivers;
  3. every `inhibited_by` is implemented by an inhibit rule of the file, and
     every inhibition the file's rules make between two alerts of the table
     is declared in it (so nothing is silenced by surprise).

Prints one line per problem; exits 1 if there is any. Needs PyYAML.
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml


def rule_alerts(rules_dir):
    out = set()
    for path in sorted(Path(rules_dir).glob("*.rules.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("alert"):
                    out.add((rule["alert"], (rule.get("labels") or {}).get("severity", "")))
    return out


def matcher(text):
    m = re.fullmatch(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*', text)
    if not m:
        raise ValueError(f"cannot parse matcher {text!r}")
    name, op, value = m.groups()
    def match(labels):
        v = labels.get(name, "")
        if op == "=":
            return v == value
        if op == "!=":
            return v != value
        hit = re.fullmatch(value, v) is not None
        return hit if op == "=~" else not hit
    return match


def matches(matchers, labels):
    return all(matcher(m)(labels) for m in matchers or [])


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    env, config_path, table_path, rules_dir, amtool = argv[1:]
    config = yaml.safe_load(Path(config_path).read_text())
    table = yaml.safe_load(Path(table_path).read_text()) or {}
    rows = table.get("alerts") or []
    order = [r["name"] for r in config.get("receivers") or []]
    problems = []

    declared = {}
    for row in rows:
        key = (row.get("alert"), row.get("severity"))
        if key in declared:
            problems.append(f"{key[0]} ({key[1]}): two rows")
        declared[key] = row
    known = rule_alerts(rules_dir)
    for name, sev in sorted(known - set(declared)):
        problems.append(f"{name} ({sev}): no row in {table_path}: say which receivers get it (receivers: [] for no one)")
    for name, sev in sorted(set(declared) - known):
        problems.append(f"{name} ({sev}): a row for an alert that no rule file defines")

    for (name, sev), row in sorted(declared.items()):
        if (name, sev) not in known:
            continue
        want = row.get("receivers") or ["blackhole"]
        unknown = [r for r in want if r not in order]
        if unknown:
            problems.append(f"{name} ({sev}): receivers {unknown} are not in the rendered configuration (it has {order})")
            continue
        # amtool lists receivers in the order their routes match (Watchdog:
        # its heartbeat receivers, then blackhole), not the receivers' order.
        routes = [r.get("receiver") for r in (config.get("route") or {}).get("routes") or []]
        want = sorted(want, key=lambda r: (routes.index(r) if r in routes else len(routes), order.index(r)))
        labels = {"alertname": name, "severity": sev, "env": env}
        cmd = [amtool, "config", "routes", "test", f"--config.file={config_path}",
               f"--verify.receivers={','.join(want)}"] + [f"{k}={v}" for k, v in labels.items()]
        run = subprocess.run(cmd, capture_output=True, text=True)
        got = run.stdout.strip().splitlines()[0] if run.stdout.strip() else "?"
        if run.returncode != 0:
            problems.append(f"{name} ({sev}): routed to {got}, the table says {','.join(want)}")

    inhibit_rules = config.get("inhibit_rules") or []
    def inhibited(src, tgt):
        for rule in inhibit_rules:
            same = all(src.get(l) == tgt.get(l) for l in rule.get("equal") or [] if l in ("alertname", "env", "severity"))
            if matches(rule.get("source_matchers"), src) and matches(rule.get("target_matchers"), tgt) and same:
                return True
        return False
    for (name, sev), row in sorted(declared.items()):
        tgt = {"alertname": name, "severity": sev, "env": env}
        by = row.get("inhibited_by")
        if by:
            src = {"env": env, **by}
            if not inhibited(src, tgt):
                problems.append(f"{name} ({sev}): the table says {by} inhibits it, but no inhibit rule does")
        for (sname, ssev) in declared:
            if (sname, ssev) == (name, sev):
                continue
            src = {"alertname": sname, "severity": ssev, "env": env}
            if inhibited(src, tgt) and not (by and all(src.get(k) == v for k, v in by.items())):
                problems.append(f"{name} ({sev}): inhibited by {sname} ({ssev}) in the configuration; declare it (inhibited_by)")

    for p in problems:
        print(f"routing: {env}: {p}", file=sys.stderr)
    if not problems:
        print(f"routing: {env}: {len(declared)} alerts routed as the table says ({', '.join(order)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
