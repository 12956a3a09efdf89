#!/usr/bin/env python3
"""Docs drift test: the facts that live in code must be what docs/ says.

    $OBSCTL_PYTHON tests/docs/drift.py                  check; exit 1 and list every drift
    $OBSCTL_PYTHON tests/docs/drift.py --env-table      print the environments table
    $OBSCTL_PYTHON tests/docs/drift.py --timing-table   print the alert timings table
    $OBSCTL_PYTHON tests/docs/drift.py --write          rewrite the generated tables in docs/

The script needs PyYAML, so run it with the Ansible venv's interpreter
(.obsctl/venv/bin/python). When it is started with a Python that has no
PyYAML, it re-executes itself with $OBSCTL_PYTHON, or else with
<repo>/.obsctl/venv/bin/python. The rest is stdlib (tomllib: Python 3.11 or later).

What is checked (all of it is read from the code, nothing is copied here):

 1. alerts: every `alert:` in ansible/roles/prometheus/files/rules/*.rules.yml
    has a row in the "Alerts" table of docs/worked-example.md with the same
    severity and `for:`. Every row of that table is a rule that exists
    (so renamed or removed alerts are caught).
 2. dashboards: every dashboard title in
    ansible/roles/grafana/files/dashboards/*.json appears in docs/worked-example.md.
 3. roles: every directory under ansible/roles/ is named in docs/architecture.md.
 4. ports: every port of the component registry (src/component.rs) is listed
    in the "Ports" table of docs/architecture.md with the registry's number,
    and a role default for one of those variables (kept for use outside
    obsctl) agrees with the registry.
 5. environments: every environments/*.toml is named in docs/deployment.md,
    and the generated environments table there (between the markers
    <!-- drift:env-table:begin --> and <!-- drift:env-table:end -->) is the one
    this script generates from the env files and src/environment.rs defaults.
 6. alert timings: the generated timings table in docs/flows.md is current,
    and the alert sequence diagram quotes dev's intervals, the resend delay,
    and the `for:` of OrdersHighErrorRatio as `name = value`.
 7. exit codes: every code of `Phase::exit_code` in src/error.rs (with 128+n
    expanded for each signal src/signals.rs handles), the usage error code of src/main.rs, and
    `plan`'s drift code have a row in docs/exit-codes.md. Every row is a code
    that exists.
 8. CLI: every subcommand of the `Command` enum in src/cli.rs appears in
    docs/ as `obsctl <name>`, and every long flag appears as `--flag`.
 9. citations: no file of the repository cites the founding design page
    (users do not have it); hints and docs point at pages under docs/.
"""
from __future__ import annotations

import difflib
import glob
import json
import os
import re
import subprocess
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

try:
    import yaml  # noqa: F401
except ImportError:  # re-exec with an interpreter that has PyYAML
    for candidate in (os.environ.get("OBSCTL_PYTHON"), str(ROOT / ".obsctl/venv/bin/python")):
        if candidate and Path(candidate).is_file() and os.path.realpath(candidate) != os.path.realpath(sys.executable):
            os.execv(candidate, [candidate, __file__, *sys.argv[1:]])
    sys.exit("drift.py: PyYAML is missing: run with the Ansible venv's python (.obsctl/venv/bin/python) or set OBSCTL_PYTHON")
import tomllib  # noqa: E402

import yaml  # noqa: E402

ENV_ORDER = ["dev", "staging", "prod"]  # table column order; other envs follow alphabetically

ENV_TABLE = ("<!-- drift:env-table:begin -->", "<!-- drift:env-table:end -->")
TIMING_TABLE = ("<!-- drift:timing-table:begin -->", "<!-- drift:timing-table:end -->")

problems: list[str] = []


def drift(msg: str) -> None:
    problems.append(msg)


def read(rel: str) -> str:
    path = ROOT / rel
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        drift(f"{rel} is missing")
        return ""


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


# --------------------------------------------------------------------------- Markdown helpers


def section(text: str, heading_re: str) -> str:
    """The text under the first heading matching heading_re, up to the next heading of the same or a higher level."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m and re.search(heading_re, m.group(2)):
            level = len(m.group(1))
            out = []
            for nxt in lines[i + 1 :]:
                m2 = re.match(r"^(#+)\s", nxt)
                if m2 and len(m2.group(1)) <= level:
                    break
                out.append(nxt)
            return "\n".join(out)
    return ""


def first_table(text: str) -> list[list[str]]:
    """Rows (header and separator excluded) of the first Markdown table in text, as lists of cells."""
    rows: list[list[str]] = []
    started = False
    for line in text.split("\n"):
        if line.lstrip().startswith("|"):
            started = True
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(cells)
        elif started:
            break
    return rows[2:] if len(rows) >= 2 else []


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def between(text: str, markers: tuple[str, str]) -> str | None:
    a, b = markers
    if a not in text or b not in text:
        return None
    return text.split(a, 1)[1].split(b, 1)[0].strip("\n")


def mermaid_blocks(text: str) -> list[str]:
    return re.findall(r"^```mermaid\s*\n(.*?)^```", text, flags=re.S | re.M)


# --------------------------------------------------------------------------- facts from the code


def alert_rules() -> list[dict]:
    rules = []
    for path in sorted((ROOT / "ansible/roles/prometheus/files/rules").glob("*.rules.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    rules.append(
                        {
                            "name": rule["alert"],
                            "severity": (rule.get("labels") or {}).get("severity", ""),
                            "for": rule.get("for", "0s"),
                            "file": rel(path),
                        }
                    )
    if not rules:
        drift("no alert rules found in ansible/roles/prometheus/files/rules/*.rules.yml")
    return rules


def dashboards() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "ansible/roles/grafana/files/dashboards").glob("*.json")):
        out.append((json.loads(path.read_text())["title"], rel(path)))
    return out


def roles() -> list[str]:
    return sorted(p.name for p in (ROOT / "ansible/roles").iterdir() if p.is_dir())


def role_defaults(role: str) -> dict:
    path = ROOT / "ansible/roles" / role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def port_variables() -> dict[str, tuple[int, str]]:
    """Every port of the component registry (src/component.rs): variable -> (value, file).
    A role default for a registry variable (kept for use outside obsctl) must
    agree with the registry."""
    out = {v: (n, "src/component.rs") for c in registry() for v, n in c["ports"].items()}
    for role in roles():
        path = f"ansible/roles/{role}/defaults/main.yml"
        for key, value in role_defaults(role).items():
            if key in out and value != out[key][0]:
                drift(f"{path}: `{key}: {value}` disagrees with the component registry (src/component.rs says {out[key][0]})")
    return out


def rust_defaults() -> dict[str, dict[str, object]]:
    """`impl Default for XSettings` blocks of src/environment.rs: section -> {field: value}."""
    text = read("src/environment.rs")
    out: dict[str, dict[str, object]] = {}
    for m in re.finditer(r"impl Default for (\w+)Settings \{(.*?)\n\}", text, flags=re.S):
        section_name = m.group(1).lower()
        fields: dict[str, object] = {}
        for f, v in re.findall(r"(\w+): \"([^\"]*)\"\.into\(\)", m.group(2)):
            fields[f] = v
        for f, v in re.findall(r"(\w+): (\d+)\b", m.group(2)):
            fields.setdefault(f, int(v))
        out[section_name] = fields
    for needed in ("prometheus", "alertmanager", "app", "loki", "grafana"):
        if needed not in out:
            drift(f"drift.py cannot find `impl Default for {needed.title()}Settings` in src/environment.rs (update drift.py)")
            out[needed] = {}
    m = re.search(r'size\s*=\s*h\.size\.unwrap_or_else\(\|\| "(\w+)"', text)
    d = re.search(r"disk_gb(?::|\s*=)\s*h\.disk_gb\.unwrap_or\((\d+)\)", text)
    if not (m and d):
        drift("drift.py cannot find the host size/disk_gb defaults in src/environment.rs (update drift.py)")
    out["host"] = {"size": m.group(1) if m else "?", "disk_gb": int(d.group(1)) if d else 0}
    # `os`: the `#[default]` variant of `enum Os` and the name it maps to.
    v = re.search(r"#\[default\]\s*(\w+),", text)
    name = v and re.search(rf'Os::{v.group(1)} => "([^"]+)"', text)
    if not name:
        drift("drift.py cannot find the default `os` (enum Os, #[default]) in src/environment.rs (update drift.py)")
    out["top"] = {"os": name.group(1) if name else "?"}
    reg = registry()
    out["components"] = {"all": [c["name"] for c in reg]}
    # [app].port defaults to the registry's app port.
    out["app"].setdefault("port", next((c["ports"].get("app_port") for c in reg if c["name"] == "app"), "?"))
    return out


def registry() -> list[dict]:
    """The component registry of src/component.rs (the `c(...)` rows of `fn table()`):
    name, job, unit and ports (variable -> number)."""
    text = read("src/component.rs")
    body = text[text.find("fn table()"):]
    body = body[body.find("vec!["):]
    consts = {k: int(v) for k, v in re.findall(r"pub const (\w+): u16 = (\d+);", text)}
    rows, i = [], 0
    while (i := body.find("c(", i)) != -1 and (i == 0 or not body[i - 1].isalnum() and body[i - 1] != "_"):
        depth, j = 0, i + 1
        while True:
            depth += {"(": 1, ")": -1}.get(body[j], 0)
            if depth == 0:
                break
            j += 1
        rows.append(body[i + 2 : j])
        i = j
        if body[j + 1 :].lstrip().startswith("]"):
            break
    out = []
    for args in rows:
        ports = {v: int(n) if n.isdigit() else consts.get(n, 0) for v, n in re.findall(r'port\("(\w+)",\s*(\w+)\)', args)}
        strings = re.findall(r'"([^"]*)"', re.sub(r'port\("\w+",\s*\w+\)', "", args))
        # name, then after the ports: job, health path, unit, package
        out.append({"name": strings[0], "ports": ports, "job": strings[1], "unit": strings[3]})
    if len(out) < 7:
        drift("drift.py cannot read the registry table (`fn table()`) in src/component.rs (update drift.py)")
    return out


def environments() -> dict[str, dict]:
    envs = {}
    for path in sorted((ROOT / "environments").glob("*.toml")):
        envs[path.stem] = tomllib.loads(path.read_text())
    order = [e for e in ENV_ORDER if e in envs] + sorted(e for e in envs if e not in ENV_ORDER)
    return {e: envs[e] for e in order}


# --------------------------------------------------------------------------- generated tables


def setting(env: dict, defaults: dict, sect: str, key: str) -> str:
    value = (env.get(sect) or {}).get(key)
    if value is None:
        return f"{defaults[sect].get(key, '?')} (default)"
    return str(value)


def env_table() -> str:
    envs = environments()
    d = rust_defaults()
    names = list(envs)

    def hosts_cell(env: dict) -> str:
        parts = []
        for h in env.get("hosts", []):
            size = h.get("size", d["host"]["size"])
            disk = h.get("disk_gb", d["host"]["disk_gb"])
            sizing = f"{size}, {disk} GB" if env.get("provider") == "aws" else size
            parts.append(f"`{h['name']}` ({sizing}): {', '.join(h.get('roles', [])) or 'none'}")
        return "<br>".join(parts)

    def count(env: dict, role: str) -> str:
        return str(sum(1 for h in env.get("hosts", []) if role in h.get("roles", [])))

    def network(env: dict) -> str:
        if env.get("provider") == "lab":
            lab = env.get("lab") or {}
            return f"bridge `{lab.get('bridge')}`, `{lab.get('cidr')}`"
        aws = env.get("aws") or {}
        zones = ", ".join(aws.get("availability_zones", []))
        return f"`{aws.get('region')}` ({zones}), VPC `{aws.get('vpc_cidr', '10.60.0.0/16 (default)')}`"

    def receivers(env: dict) -> str:
        rs = (env.get("alertmanager") or {}).get("receivers", [])
        if not rs:
            return "none"
        parts = []
        for r in rs:
            sev = ", ".join(r.get("severities", [])) or "all"
            kind = ", ".join(k for k in ("email", "webhook", "slack", "pagerduty") if k in r)
            parts.append(f"`{r['name']}` ({kind}; {sev})")
        return "<br>".join(parts)

    def components(env: dict) -> str:
        comps = env.get("components")
        if comps is None or sorted(comps) == sorted(d["components"]["all"]):
            return "all 7" + (" (default)" if comps is None else "")
        return ", ".join(comps)

    rows = [
        ("file", lambda e, n: f"`environments/{n}.toml`"),
        ("provider", lambda e, n: f"`{e.get('provider')}`"),
        ("os (Debian release)", lambda e, n: f"`{e['os']}`" if "os" in e else f"`{d['top']['os']}` (default)"),
        ("protected", lambda e, n: "**yes**" if e.get("protected") else "no"),
        ("components", lambda e, n: components(e)),
        ("network", lambda e, n: network(e)),
        ("hosts (size): roles", lambda e, n: hosts_cell(e)),
        ("Prometheus replicas", lambda e, n: count(e, "prometheus")),
        ("Alertmanager peers", lambda e, n: count(e, "alertmanager")),
        ("Grafana instances", lambda e, n: count(e, "grafana")),
        ("Loki instances", lambda e, n: count(e, "loki")),
        ("app hosts", lambda e, n: count(e, "app")),
        ("Prometheus retention", lambda e, n: setting(e, d, "prometheus", "retention")),
        ("scrape_interval", lambda e, n: setting(e, d, "prometheus", "scrape_interval")),
        ("evaluation_interval", lambda e, n: setting(e, d, "prometheus", "evaluation_interval")),
        ("group_wait", lambda e, n: setting(e, d, "alertmanager", "group_wait")),
        ("group_interval", lambda e, n: setting(e, d, "alertmanager", "group_interval")),
        ("repeat_interval", lambda e, n: setting(e, d, "alertmanager", "repeat_interval")),
        ("receivers (severities)", lambda e, n: receivers(e)),
        ("app port", lambda e, n: setting(e, d, "app", "port")),
        ("traffic generator (requests/s)", lambda e, n: setting(e, d, "app", "traffic_rps")),
        ("Loki retention", lambda e, n: setting(e, d, "loki", "retention_period")),
        ("Loki storage", lambda e, n: setting(e, d, "loki", "storage")),
        ("Loki replication_factor", lambda e, n: setting(e, d, "loki", "replication_factor")),
        ("Grafana database", lambda e, n: setting(e, d, "grafana", "database")),
    ]
    out = ["| setting | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(envs[n], n).replace("|", "\\|") for n in names) + " |")
    return "\n".join(out)


def timing_table() -> str:
    envs = environments()
    d = rust_defaults()
    resend = role_defaults("prometheus").get("prometheus_alert_resend_delay", "?")
    names = list(envs)
    rows = [
        ("scrape_interval (how often every target is scraped)", lambda e: setting(e, d, "prometheus", "scrape_interval")),
        ("evaluation_interval (how often rules are evaluated)", lambda e: setting(e, d, "prometheus", "evaluation_interval")),
        ("`--rules.alert.resend-delay` (firing alerts re-sent to Alertmanager)", lambda e: f"{resend} (role default)"),
        ("group_wait (first notification of a new group)", lambda e: setting(e, d, "alertmanager", "group_wait")),
        ("group_interval (next notification when a group changes)", lambda e: setting(e, d, "alertmanager", "group_interval")),
        ("repeat_interval (re-notify an unchanged group)", lambda e: setting(e, d, "alertmanager", "repeat_interval")),
    ]
    out = ["| timing | " + " | ".join(f"`{n}`" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(envs[n]) for n in names) + " |")
    return "\n".join(out)


# --------------------------------------------------------------------------- checks


def check_alerts() -> None:
    text = read("docs/worked-example.md")
    rules = alert_rules()
    table = first_table(section(text, r"^Alerts\b"))
    if not table:
        drift("docs/worked-example.md: no table under a heading `## Alerts`")
        return
    documented = set()
    for row in table:
        names = code_spans(row[0]) if row else []
        if not names:
            continue
        name = names[0]
        sev = (code_spans(row[1]) or [row[1]])[0].strip() if len(row) > 1 else ""
        cell = row[2] if len(row) > 2 else ""
        for_ = (code_spans(cell) or ["0s" if cell.strip() in ("", "—", "-", "none") else cell.strip()])[0]
        documented.add((name, sev, for_))
    code = {(r["name"], r["severity"], r["for"]) for r in rules}
    code_names = {r["name"] for r in rules}
    for r in rules:
        if r["name"] not in text:
            drift(f"docs/worked-example.md does not mention alert `{r['name']}` ({r['file']})")
        elif (r["name"], r["severity"], r["for"]) not in documented:
            drift(
                f"docs/worked-example.md, Alerts table: no row for `{r['name']}` with severity `{r['severity']}` "
                f"and for `{r['for']}` ({r['file']})"
            )
    for name, sev, for_ in sorted(documented - code):
        if name not in code_names:
            drift(f"docs/worked-example.md, Alerts table lists `{name}`, which no rule file defines")
        else:
            drift(f"docs/worked-example.md, Alerts table: `{name}` with severity `{sev}` and for `{for_}` is not in the rules")


def check_dashboards() -> None:
    text = read("docs/worked-example.md")
    for title, path in dashboards():
        if title not in text:
            drift(f"docs/worked-example.md does not mention dashboard \"{title}\" ({path})")


def check_roles() -> None:
    text = read("docs/architecture.md")
    for role in roles():
        if not re.search(rf"(?<![\w-]){re.escape(role)}(?![\w-])", text):
            drift(f"docs/architecture.md does not name the Ansible role `{role}` (ansible/roles/{role})")


def check_ports() -> None:
    text = read("docs/architecture.md")
    table = first_table(section(text, r"^Ports\b"))
    if not table:
        drift("docs/architecture.md: no table under a heading `## Ports`")
        return
    listed: dict[str, int] = {}
    for row in table:
        if len(row) < 2:
            continue
        port_cells = [c for c in row if re.fullmatch(r"\d{2,5}", c)]
        variables = [v for v in code_spans(row[-1]) if v.endswith("_port")]
        if not port_cells and variables:
            drift(f"docs/architecture.md, Ports table: row `{row[0]}` has no port number")
            continue
        for v in variables:
            listed[v] = int(port_cells[0])
    for var, (value, path) in sorted(port_variables().items()):
        if var not in listed:
            drift(f"docs/architecture.md, Ports table: no row names `{var}` ({value} in {path})")
        elif listed[var] != value:
            drift(f"docs/architecture.md, Ports table: `{var}` is listed as {listed[var]}, but {path} says {value}")
    role_ports = {k for r in roles() for k in role_defaults(r) if re.fullmatch(r"[a-z0-9_]+_port", k)}
    for var in sorted(set(listed) - set(port_variables()) - role_ports):
        drift(f"docs/architecture.md, Ports table names `{var}`, which neither the registry nor a role's defaults define")


def check_generated(text: str, page: str, markers, expected: str, what: str, source: str) -> None:
    """A generated table between markers must equal what the code gives now."""
    current = between(text, markers)
    if current is None:
        drift(f"{page}: the markers {markers[0]} … {markers[1]} are missing")
    elif current.strip() != expected.strip():
        diff = "\n".join(difflib.unified_diff(current.strip().split("\n"), expected.strip().split("\n"), "docs", source, lineterm="", n=0))
        drift(f"{page}: {what} differs from the {source} (fix: tests/docs/drift.py --write):\n{diff}")


def check_environments() -> None:
    text = read("docs/deployment.md")
    for name in environments():
        if f"environments/{name}.toml" not in text:
            drift(f"docs/deployment.md does not mention environments/{name}.toml")
    check_generated(text, "docs/deployment.md", ENV_TABLE, env_table(), "the environments table", "env files")


def check_timings() -> None:
    text = read("docs/flows.md")
    check_generated(text, "docs/flows.md", TIMING_TABLE, timing_table(), "the alert timings table", "code")
    envs = environments()
    d = rust_defaults()
    dev = envs.get("dev")
    rule = {r["name"]: r for r in alert_rules()}.get("OrdersHighErrorRatio")
    seq = [b for b in mermaid_blocks(text) if b.lstrip().startswith("sequenceDiagram") and "OrdersHighErrorRatio" in b]
    if not seq:
        drift("docs/flows.md: no sequence diagram of OrdersHighErrorRatio")
        return
    if dev is None or rule is None:
        drift("docs/flows.md: the alert sequence diagram follows OrdersHighErrorRatio in dev, but one of them no longer exists")
        return
    expected = {
        "scrape_interval": setting(dev, d, "prometheus", "scrape_interval").replace(" (default)", ""),
        "evaluation_interval": setting(dev, d, "prometheus", "evaluation_interval").replace(" (default)", ""),
        "group_wait": setting(dev, d, "alertmanager", "group_wait").replace(" (default)", ""),
        "group_interval": setting(dev, d, "alertmanager", "group_interval").replace(" (default)", ""),
        "resend-delay": str(role_defaults("prometheus").get("prometheus_alert_resend_delay")),
        "for": rule["for"],
    }
    for key, value in expected.items():
        if not re.search(rf"(?<![\w-]){re.escape(key)} = {re.escape(value)}(?![\w.])", seq[0]):
            drift(f"docs/flows.md: the alert sequence diagram should say `{key} = {value}` (dev / OrdersHighErrorRatio)")


def check_exit_codes() -> None:
    text = read("docs/exit-codes.md")
    err = read("src/error.rs")
    body = re.search(r"fn exit_code\(self\) -> u8 \{(.*?)\n    \}", err, flags=re.S)
    codes: dict[int, str] = {}
    if not body:
        drift("drift.py cannot find `fn exit_code` in src/error.rs (update drift.py)")
    else:
        for phase, value in re.findall(r"Phase::(\w+)(?:\([^)]*\))?\s*=>\s*([^,\n]+),", body.group(1)):
            value = value.strip()
            if value.isdigit():
                codes[int(value)] = f"Phase::{phase}"
            elif "128" in value:
                # The signals obsctl handles: the list in signals::install.
                handled = re.search(r"for sig in \[([A-Z, ]+)\]", read("src/signals.rs"))
                if not handled:
                    drift("drift.py cannot find the handled signals in src/signals.rs (update drift.py)")
                for sig in re.findall(r"SIG[A-Z]+", handled.group(1) if handled else ""):
                    codes[128 + signal.Signals[sig].value] = f"Phase::{phase}({sig})"
            else:
                drift(f"drift.py does not understand `Phase::{phase} => {value}` in src/error.rs (update drift.py)")
    m = re.search(r"_ => (\d+),", read("src/main.rs"))
    if m:
        codes[int(m.group(1))] = "usage error (src/main.rs)"
    else:
        drift("drift.py cannot find the usage-error exit code in src/main.rs (update drift.py)")
    plan_rs = read("src/commands/plan.rs")
    m = re.search(r"Ok\(if [^{}]+\{ 0 \} else \{ (\d+) \}\)", plan_rs) or re.search(
        r"Ok\(if [^{}]+\{ (\d+) \} else \{ 0 \}\)", plan_rs
    )
    if m:
        codes[int(m.group(1))] = "plan: drift (src/commands/plan.rs)"
    else:
        drift("drift.py cannot find plan's drift exit code in src/commands/plan.rs (update drift.py)")
    codes[0] = "success"
    table = first_table(section(text, r"^Exit codes\b") or text)
    documented = set()
    for row in table:
        m = re.match(r"^`?(\d+)`?$", row[0]) if row else None
        if m:
            documented.add(int(m.group(1)))
    for code, what in sorted(codes.items()):
        if code not in documented:
            drift(f"docs/exit-codes.md has no row for exit code {code} ({what})")
    for code in sorted(documented - set(codes)):
        drift(f"docs/exit-codes.md lists exit code {code}, which the code never returns")


def check_cli() -> None:
    cli = read("src/cli.rs")
    docs = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    enum = re.search(r"pub enum Command \{(.*?)\n\}", cli, flags=re.S)
    if not enum:
        drift("drift.py cannot find `pub enum Command` in src/cli.rs (update drift.py)")
        return
    for variant in re.findall(r"^\s*([A-Z]\w*)(?:\(|,|\s*\{)", enum.group(1), flags=re.M):
        name = re.sub(r"(?<!^)([A-Z])", r"-\1", variant).lower()
        if not re.search(rf"obsctl {re.escape(name)}(?![\w-])", docs):
            drift(f"docs/ never shows `obsctl {name}` (subcommand {variant} in src/cli.rs)")
    for attrs, field in re.findall(r"#\[arg\(([^\]]*)\)\]\s*pub (\w+):", cli):
        if not re.search(r"\blong\b", attrs):
            continue
        explicit = re.search(r'\blong\s*=\s*"([^"]+)"', attrs)
        flag = "--" + (explicit.group(1) if explicit else field.replace("_", "-"))
        if not re.search(rf"{re.escape(flag)}(?![\w-])", docs):
            drift(f"docs/ never mentions the flag `{flag}` (field `{field}` in src/cli.rs)")


def check_citations() -> None:
    """No tracked file cites the founding design page, which does not ship with obsctl."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    banned = "DESIGN" + ".md"
    for f in files:
        path = ROOT / f
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if banned in line:
                drift(f"{f}:{n} cites {banned}, which users do not have; point at the page under docs/ instead")


def write_tables() -> None:
    for path, markers, content in (
        (DOCS / "deployment.md", ENV_TABLE, env_table()),
        (DOCS / "flows.md", TIMING_TABLE, timing_table()),
    ):
        text = path.read_text()
        if between(text, markers) is None:
            sys.exit(f"drift.py: {rel(path)} has no {markers[0]} … {markers[1]} markers")
        before, rest = text.split(markers[0], 1)
        _, after = rest.split(markers[1], 1)
        path.write_text(f"{before}{markers[0]}\n{content}\n{markers[1]}{after}")
        print(f"drift.py: wrote the generated table in {rel(path)}")


def main() -> int:
    args = sys.argv[1:]
    if args == ["--env-table"]:
        print(env_table())
        return 0
    if args == ["--timing-table"]:
        print(timing_table())
        return 0
    if args == ["--write"]:
        write_tables()
        return 0
    if args:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    checks = [
        check_alerts, check_dashboards, check_roles, check_ports, check_environments, check_timings, check_exit_codes, check_cli,
        check_citations,
    ]
    for check in checks:
        check()
    if problems:
        for p in problems:
            print(f"DRIFT: {p}", file=sys.stderr)
        print(f"drift: {len(problems)} facts in docs/ differ from the code ({len(checks)} checks)", file=sys.stderr)
        return 1
    print(f"drift: docs/ match the code ({len(checks)} checks: alerts, dashboards, roles, ports, environments, alert timings, exit codes, CLI, citations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
