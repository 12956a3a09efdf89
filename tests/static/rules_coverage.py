#!/usr/bin/env python3
"""Checks that alert rules and their promtool unit tests cannot drift apart.

Usage: rules_coverage.py RULES_DIR TESTS_DIR

For every alert in RULES_DIR/*.rules.yml:
  * labels.severity is one of critical, warning, none;
  * annotations summary and description are present and not empty;
  * annotation runbook_url is `docs/runbooks.md#<anchor>` and that section
    exists in docs/runbooks.md (anchors as GitHub makes them from headings);
  * some test in TESTS_DIR/*.test.yml expects it to fire (a non-empty
    exp_alerts for that alertname) and some test expects it not to fire
    (an empty exp_alerts), except for alerts that fire by construction
    (expr `vector(1)`, e.g. Watchdog), which cannot have a quiet case.
Every alertname that a test names must exist in the rule files, and every
test file must load only rule files from RULES_DIR.

Prints one line per problem and exits 1 if there is any. Needs PyYAML.
"""

import re
import sys
from pathlib import Path

import yaml

SEVERITIES = {"critical", "warning", "none"}
RUNBOOKS = "docs/runbooks.md"


def anchors(markdown):
    """The anchors GitHub gives the headings of a Markdown text."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def runbook_problems(alerts, repo_root):
    """Every alert's runbook_url names an existing section of docs/runbooks.md."""
    path = repo_root / RUNBOOKS
    if not path.is_file():
        return [f"{RUNBOOKS} is missing"]
    known, problems = anchors(path.read_text()), []
    for name, rules in sorted(alerts.items()):
        for rule in rules:
            url = str((rule.get("annotations") or {}).get("runbook_url", ""))
            page, _, anchor = url.partition("#")
            if page != RUNBOOKS or not anchor:
                problems.append(f"alert {name}: runbook_url {url!r} is not {RUNBOOKS}#<section>")
            elif anchor not in known:
                problems.append(f"alert {name}: runbook_url {url!r}: no section #{anchor} in {RUNBOOKS} (add '## {name}')")
    return problems


def load_alerts(rules_dir):
    """Returns {alertname: [rule, ...]} and a list of problems."""
    alerts, problems = {}, []
    files = sorted(rules_dir.glob("*.rules.yml"))
    if not files:
        problems.append(f"{rules_dir}: no *.rules.yml files")
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                name = rule.get("alert")
                if not name:
                    continue
                where = f"{path.name}: alert {name}"
                severity = (rule.get("labels") or {}).get("severity")
                if severity not in SEVERITIES:
                    problems.append(f"{where}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
                annotations = rule.get("annotations") or {}
                for key in ("summary", "description"):
                    if not str(annotations.get(key, "")).strip():
                        problems.append(f"{where}: annotation {key} is missing or empty")
                alerts.setdefault(name, []).append(rule)
    return alerts, problems


def load_cases(tests_dir, rules_dir):
    """Returns ({alertname: firing case count}, {alertname: quiet case count}, problems)."""
    fires, quiet, problems = {}, {}, []
    files = sorted(tests_dir.glob("*.test.yml"))
    if not files:
        problems.append(f"{tests_dir}: no *.test.yml files")
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        for rule_file in doc.get("rule_files") or []:
            resolved = (path.parent / rule_file).resolve()
            if resolved.parent != rules_dir.resolve():
                problems.append(f"{path.name}: rule file {rule_file} is not in {rules_dir}")
            elif not resolved.is_file():
                problems.append(f"{path.name}: rule file {rule_file} does not exist")
        for test in doc.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                name = case.get("alertname")
                target = fires if case.get("exp_alerts") else quiet
                target[name] = target.get(name, 0) + 1
    return fires, quiet, problems


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rules_dir, tests_dir = Path(argv[1]), Path(argv[2])
    alerts, problems = load_alerts(rules_dir)
    fires, quiet, test_problems = load_cases(tests_dir, rules_dir)
    problems += test_problems
    problems += runbook_problems(alerts, Path(__file__).resolve().parents[2])
    for name, rules in sorted(alerts.items()):
        if name not in fires:
            problems.append(f"alert {name}: no test case where it fires (non-empty exp_alerts)")
        always_on = all(str(r.get("expr", "")).strip() == "vector(1)" for r in rules)
        if name not in quiet and not always_on:
            problems.append(f"alert {name}: no test case where it does not fire (exp_alerts: [])")
    for name in sorted(set(fires) | set(quiet)):
        if name not in alerts:
            problems.append(f"tests name alert {name}, which no rule file defines")
    for problem in problems:
        print(f"rules_coverage: {problem}", file=sys.stderr)
    if not problems:
        print(f"rules_coverage: {len(alerts)} alerts, each with firing and quiet test cases and a runbook section")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
