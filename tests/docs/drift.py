#!/usr/bin/env python3
"""Docs drift test: the facts that live in code must be what docs/ says.

    $OBSCTL_PYTHON tests/docs/drift.py            check; exit 1 and list every drift
    $OBSCTL_PYTHON tests/docs/drift.py --write    regenerate every generated table and diagram
    $OBSCTL_PYTHON tests/docs/drift.py --print NAME   print one generated block (names: --list)
    $OBSCTL_PYTHON tests/docs/drift.py --self-test    only the self-tests of the widened checks

Where the facts come from (real parsers only, never a regular expression
over Rust source):

- obsctl itself: `obsctl facts` (a hidden subcommand) prints the component
  registry, every environment file parsed and validated the way `up` does
  it (defaults filled in), the exit codes and the whole command line (clap)
  as JSON. The binary is built with `cargo build --release` first.
- the environment files again through tomllib, only to tell a value the
  file sets from a default;
- the alert rules and the routing tables (tests/routing/<env>.yml, which
  `amtool config routes test` proves against the rendered alertmanager.yml)
  through PyYAML;
- the Terraform stacks and modules through HashiCorp's HCL parser
  (tests/docs/hcl.mjs, @cdktf/hcl2json);
- the grafana role's own Jinja expression that places the data sources
  (ansible/roles/grafana/vars/main.yml), evaluated with Jinja2 per environment;
- tests/bench/sizing-dev.json, the figures tests/bench/sizing.sh measured on the lab;
- the end-to-end harness's plan (`tests/e2e/harness.sh --list`): README's table of
  the checks (a check without a sentence there is a drift);
- tests/bench/scale.json, what tests/bench/scale.sh measured at 2/4/8/16 machines
  (docs/performance.md's scale table; its plot docs/performance-scale.svg must be
  what tests/bench/scale_plot.py draws from it).

Generated blocks sit between <!-- drift:NAME:begin --> and <!-- drift:NAME:end -->.
Some tables mix generated columns with prose columns: --write regenerates
the fact columns and keeps each row's prose (matched by the row's key); a row
without prose fails the check until someone writes it.

Checks besides the generated blocks: a port written after a component's name
(prose or diagram) is one of its registry ports; every alert, dashboard, role, environment
file and subcommand is named in docs/; every PromQL expression quoted in the
docs parses with promtool, and every LogQL expression with Grafana's LogQL
grammar (tests/docs/logql.mjs); a LogQL or PromQL query the docs say a
dashboard uses is one of its queries; prose does not restate a number a
generated table holds (timings and retention per environment, `up` timings
outside performance.md, which hosts Grafana queries), claims about Watchdog
name the receivers that list `none`, claims about staging's topology name
how it differs; counts in the environment files' comments match their hosts;
the alert sequence diagram quotes dev's intervals; README's documentation
index and docs/README.md list exactly the pages of docs/; no file cites the
founding design page.

The widened checks live in tests/docs/claims.py (its docstring lists them):
URL schemes and ports in code, paths the docs name, numbers and versions
that restate a code constant (and the same claim on two pages), internal
links, anchors and quoted section names, "writes nothing" claims against a
run of `obsctl inventory --contract` in a temporary checkout, and every
snippet through its real parser (bash -n, obsctl's environment parser,
tomllib, terraform fmt, JSON, YAML). Each has self-tests that plant its
kind of mistake; every run of drift.py runs them first (a self-test that
no longer fails is a drift), and `drift.py --self-test` runs only them.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HERE = Path(__file__).resolve().parent

try:
    import jinja2  # noqa: F401
    import yaml  # noqa: F401
except ImportError:  # re-exec with an interpreter that has PyYAML and Jinja2 (the Ansible venv)
    for candidate in (os.environ.get("OBSCTL_PYTHON"), str(ROOT / ".obsctl/venv/bin/python")):
        if candidate and Path(candidate).is_file() and os.path.realpath(candidate) != os.path.realpath(sys.executable):
            os.execv(candidate, [candidate, __file__, *sys.argv[1:]])
    sys.exit("drift.py: PyYAML or Jinja2 is missing: run with the Ansible venv's python (.obsctl/venv/bin/python) or set OBSCTL_PYTHON")
import tomllib  # noqa: E402

import jinja2  # noqa: E402
import yaml  # noqa: E402

ENV_ORDER = ["dev", "staging", "prod"]  # column order; other environments follow alphabetically
BYTES_PER_SAMPLE = 1.5  # Prometheus's own sizing figure: 1 to 2 bytes per sample in a compacted block

problems: list[str] = []


def drift(msg: str) -> None:
    problems.append(msg)


def read(rel: str) -> str:
    try:
        return (ROOT / rel).read_text(encoding="utf-8")
    except FileNotFoundError:
        drift(f"{rel} is missing")
        return ""


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


# --------------------------------------------------------------------------- facts from the code

_cache: dict[str, object] = {}


def obsctl_bin() -> str:
    """$OBSCTL_BIN, else the release binary of this checkout (built first)."""
    if "bin" not in _cache:
        binary = os.environ.get("OBSCTL_BIN")
        if not binary:
            build = subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, capture_output=True, text=True)
            if build.returncode != 0:
                sys.exit(f"drift.py: cargo build --release failed:\n{build.stderr}")
            binary = str(ROOT / "target/release/obsctl")
        _cache["bin"] = binary
    return _cache["bin"]  # type: ignore[return-value]


def facts() -> dict:
    """`obsctl facts`, from the release binary of this checkout (built first)."""
    if "facts" not in _cache:
        binary = obsctl_bin()
        run = subprocess.run([binary, "facts"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OBSCTL_ROOT": str(ROOT)})
        if run.returncode != 0:
            sys.exit(f"drift.py: `obsctl facts` failed ({run.returncode}):\n{run.stderr}")
        _cache["facts"] = json.loads(run.stdout)
    return _cache["facts"]  # type: ignore[return-value]


def environments() -> dict[str, dict]:
    envs = facts()["environments"]
    order = [e for e in ENV_ORDER if e in envs] + sorted(e for e in envs if e not in ENV_ORDER)
    return {e: envs[e] for e in order}


def raw_env(name: str) -> dict:
    """The environment file as written (tomllib), to tell a set value from a default."""
    return tomllib.loads(read(f"environments/{name}.toml"))


def registry() -> list[dict]:
    return facts()["registry"]


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
                            "expr": rule["expr"],
                            "file": rel(path),
                        }
                    )
    if not rules:
        drift("no alert rules found in ansible/roles/prometheus/files/rules/*.rules.yml")
    return rules


def routing(env: str) -> list[dict]:
    path = ROOT / "tests/routing" / f"{env}.yml"
    if not path.is_file():
        drift(f"tests/routing/{env}.yml is missing (the routing table of environment `{env}`)")
        return []
    return (yaml.safe_load(path.read_text()) or {}).get("alerts", [])


def dashboards() -> list[dict]:
    return [json.loads(p.read_text()) | {"_file": rel(p)} for p in sorted((ROOT / "ansible/roles/grafana/files/dashboards").glob("*.json"))]


def dashboard_queries() -> list[dict]:
    """Every query of every dashboard: {dashboard, panel, datasource type, expr}."""
    out = []

    def walk(panels, d):
        for p in panels or []:
            walk(p.get("panels"), d)
            for t in p.get("targets") or []:
                ds = (t.get("datasource") or p.get("datasource") or {}).get("type", "")
                if t.get("expr"):
                    out.append({"dashboard": d["title"], "panel": p.get("title", ""), "type": ds, "expr": t["expr"]})

    for d in dashboards():
        walk(d.get("panels"), d)
    return out


def roles() -> list[str]:
    return sorted(p.name for p in (ROOT / "ansible/roles").iterdir() if p.is_dir())


def role_defaults(role: str) -> dict:
    path = ROOT / "ansible/roles" / role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def hcl() -> dict[str, dict]:
    """Every .tf file of terraform/stacks and terraform/modules, parsed by HashiCorp's HCL parser."""
    if "hcl" not in _cache:
        files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "terraform").glob("**/*.tf") if ".terraform" not in p.parts and "tests" not in p.parts)
        if not (HERE / "node_modules/@cdktf/hcl2json").is_dir():
            sys.exit("drift.py: tests/docs/node_modules lacks @cdktf/hcl2json: run tests/docs/render.sh once (it runs npm ci)")
        run = subprocess.run(["node", str(HERE / "hcl.mjs"), *files], cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"drift.py: tests/docs/hcl.mjs failed:\n{run.stderr}")
        _cache["hcl"] = json.loads(run.stdout)
    return _cache["hcl"]  # type: ignore[return-value]


def stacks() -> dict[str, dict]:
    """stack -> {module name -> {source, module dir, repeat, resources [(type, name, repeat)]}}."""
    parsed = hcl()
    out: dict[str, dict] = {}
    for stack_dir in sorted((ROOT / "terraform/stacks").iterdir()):
        if not stack_dir.is_dir():
            continue
        mods: dict[str, dict] = {}
        for f, doc in parsed.items():
            if Path(f).parent != stack_dir.relative_to(ROOT):
                continue
            for name, blocks in (doc.get("module") or {}).items():
                b = blocks[0]
                mdir = (stack_dir / b["source"]).resolve().relative_to(ROOT)
                repeat = "for_each" if "for_each" in b else ("count" if "count" in b else "")
                res = []
                for mf, mdoc in parsed.items():
                    if Path(mf).parent == mdir:
                        for rtype, named in (mdoc.get("resource") or {}).items():
                            for rname, rblocks in named.items():
                                rr = rblocks[0]
                                res.append((rtype, rname, "for_each" if "for_each" in rr else ("count" if "count" in rr else "")))
                mods[name] = {"source": str(mdir), "repeat": repeat, "loop": b.get("for_each") or b.get("count") or "", "resources": sorted(res)}
        out[stack_dir.name] = mods
    return out


def stack_outputs(stack: str) -> dict[str, str]:
    out = {}
    for f, doc in hcl().items():
        if Path(f).parent == Path("terraform/stacks") / stack:
            for name, blocks in (doc.get("output") or {}).items():
                out[name] = blocks[0].get("value", "")
    return out


def grafana_placement(env: dict) -> dict[str, str]:
    """The grafana role's own expression (`_grafana_datasource_placement_json` in
    ansible/roles/grafana/vars/main.yml), evaluated with Jinja2 for this
    environment's groups: component -> local | single | shared | off | spread."""
    vars_ = yaml.safe_load(read("ansible/roles/grafana/vars/main.yml"))
    comps = env["components"]
    groups = {c["name"]: [h["name"] for h in env["hosts"] if c["every_host"] or c["name"] in h["roles"]] if c["name"] in comps else [] for c in registry()}
    groups["all"] = [h["name"] for h in env["hosts"]]
    jenv = jinja2.Environment()
    jenv.filters["to_json"] = json.dumps
    jenv.filters["from_json"] = json.loads
    jenv.filters["difference"] = lambda a, b: [x for x in a if x not in b]
    jenv.filters["dict2items"] = lambda d: [{"key": k, "value": v} for k, v in d.items()]
    ctx = {
        "groups": groups,
        "obsctl_components": {c["name"]: {"enabled": c["name"] in comps} for c in registry()},
        "lookup": lambda kind, name: "",  # grafana_<component>_url: not set by obsctl
        "prometheus_port": 0, "loki_http_port": 0, "alertmanager_port": 0,
    }

    def render(expr: str) -> object:
        return jenv.from_string(expr).render(**ctx)

    ctx["_grafana_components"] = yaml.safe_load(render(vars_["_grafana_components"]))
    ctx["_grafana_hosts"] = groups.get("grafana", [])
    ctx["_grafana_datasource_components"] = vars_["_grafana_datasource_components"]
    return json.loads(str(render(vars_["_grafana_datasource_placement_json"])))


def log_agent_push_host(env: dict, host: str, agent: str) -> str:
    """The log agent role's own `_<agent>_push_host` (ansible/roles/<agent>/vars/main.yml:
    alloy, or the legacy promtail), evaluated with Jinja2: the Loki host this host's agent pushes to."""
    import hashlib

    vars_ = yaml.safe_load(read(f"ansible/roles/{agent}/vars/main.yml"))
    jenv = jinja2.Environment()
    jenv.filters["hash"] = lambda s, algo: hashlib.new(algo, s.encode()).hexdigest()
    lokis = [h["name"] for h in env["hosts"] if "loki" in h["roles"]] if "loki" in env["components"] else []
    ctx = {"inventory_hostname": host, f"_{agent}_lokis": lokis, "groups": {"loki": lokis}}
    return str(jenv.from_string(vars_[f"_{agent}_push_host"]).render(**ctx)).strip()


def sizing() -> dict:
    path = ROOT / "tests/bench/sizing-dev.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def scale() -> dict:
    path = ROOT / "tests/bench/scale.json"
    return json.loads(path.read_text()) if path.is_file() else {}


# --------------------------------------------------------------------------- Markdown helpers


def marker(name: str) -> tuple[str, str]:
    return f"<!-- drift:{name}:begin -->", f"<!-- drift:{name}:end -->"


def between(text: str, name: str) -> str | None:
    a, b = marker(name)
    if a not in text or b not in text:
        return None
    return text.split(a, 1)[1].split(b, 1)[0].strip("\n")


def strip_generated(text: str) -> str:
    return re.sub(r"<!-- drift:([\w-]+):begin -->.*?<!-- drift:\1:end -->", "", text, flags=re.S)


def strip_code_blocks(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)


def section(text: str, heading_re: str) -> str:
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


def split_row(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in text.split("\n") if line.lstrip().startswith("|")]
    if len(lines) < 2:
        return [], []
    return split_row(lines[0]), [split_row(line) for line in lines[2:]]


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows]
    return "\n".join(out)


def code_spans(text: str) -> list[str]:
    return re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)


def sentences(text: str) -> list[str]:
    """Prose sentences, and table rows (the prose columns of generated tables
    included), outside code blocks and diagrams."""
    prose = re.sub(r"^<!-- drift:[\w-]+:(?:begin|end) -->$", "", strip_code_blocks(text), flags=re.M)
    out = []
    for para in re.split(r"\n\s*\n", prose):
        if para.lstrip().startswith("|"):
            out += [row for row in para.split("\n") if row.strip() and not re.match(r"^\|[-| ]+\|$", row.strip())]
            continue
        para = re.sub(r"\s*\n\s*", " ", para)
        out += [s for s in re.split(r"(?<=[.;:!?])\s+(?=[A-Z`*(\[])", para) if s.strip()]
    return out


# --------------------------------------------------------------------------- generated blocks


def dur_s(d: str) -> int:
    total = 0
    for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", d):
        total += int(n) * {"ms": 0, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[u]
    return total


def fmt_dur(s: int) -> str:
    for unit, n in (("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def setting(name: str, sect: str, key: str) -> str:
    value = (raw_env(name).get(sect) or {}).get(key)
    actual = environments()[name][sect][key]
    return f"{actual}" if value is not None else f"{actual} (default)"


def counts(env: dict, role: str) -> int:
    return sum(1 for h in env["hosts"] if role in h["roles"])


def env_table() -> str:
    envs = environments()
    names = list(envs)
    # The components an environment gets by default: all but the legacy agent.
    all_components = [c["name"] for c in registry() if not c.get("legacy")]

    def hosts_cell(n: str, e: dict) -> str:
        raw = {h["name"]: h for h in raw_env(n).get("hosts", [])}
        parts = []
        for h in e["hosts"]:
            size = h["size"] + ("" if "size" in raw.get(h["name"], {}) else " (default)")
            sizing_ = f"{size}, {h['disk_gb']} GB" if e["provider"] == "aws" else size
            parts.append(f"`{h['name']}` ({sizing_}): {', '.join(h['roles'])}")
        return "<br>".join(parts)

    def network(e: dict) -> str:
        if e["provider"] == "lab":
            return f"bridge `{e['lab']['bridge']}`, `{e['lab']['cidr']}`"
        a = e["aws"]
        return f"`{a['region']}` ({', '.join(a['availability_zones'])}), VPC `{a.get('vpc_cidr') or '10.60.0.0/16 (default)'}`"

    def receivers(e: dict) -> str:
        rs = e["alertmanager"]["receivers"]
        parts = []
        for r in rs:
            kind = ", ".join(k for k in ("email", "webhook", "slack", "pagerduty") if r.get(k))
            parts.append(f"`{r['name']}` ({kind}; {', '.join(r['severities']) or 'all but none'})")
        return "<br>".join(parts) or "none"

    def components(n: str, e: dict) -> str:
        if sorted(e["components"]) == sorted(all_components):
            return f"all {len(all_components)}" + ("" if "components" in raw_env(n) else " (default)")
        return ", ".join(e["components"])

    # The user's own inputs (issue #31), as `obsctl facts` prints them.
    def existing_cell(n, e):
        hosts = e.get("existing_hosts") or []
        return "<br>".join(f"`{h['name']}` ({h['address']}): {', '.join(h['roles'])}" for h in hosts) or "none"

    def target(t):
        return f"{t.get('host') or t.get('address')}:{t['port']}"

    def jobs_cell(n, e):
        jobs = (e.get("user") or {}).get("scrape_jobs") or []
        return "<br>".join(
            f"`{j['name']}`: " + (", ".join(target(t) for t in j["targets"]) or "none") + (" + file_sd" if j.get("file_sd") else "")
            for j in jobs
        ) or "none"

    def own_files_cell(n, e):
        u = e.get("user") or {}
        folders = [f"{what} `{os.path.relpath(u[key], ROOT)}`" for what, key in (("rules", "rules_dir"), ("dashboards", "dashboards_dir")) if u.get(key)]
        logs = u.get("logs") or []
        return ", ".join(folders + ([f"{len(logs)} log entries"] if logs else [])) or "none"

    rows = [
        ("file", lambda n, e: f"`{e['file']}`"),
        ("provider", lambda n, e: f"`{e['provider']}`"),
        ("os (Debian release)", lambda n, e: f"`{e['os']}`" + ("" if "os" in raw_env(n) else " (default)")),
        ("protected", lambda n, e: "**yes**" if e["protected"] else "no"),
        ("components", components),
        ("network", lambda n, e: network(e)),
        ("hosts (size): roles", hosts_cell),
        ("Prometheus replicas", lambda n, e: str(counts(e, "prometheus"))),
        ("Alertmanager peers", lambda n, e: str(counts(e, "alertmanager"))),
        ("Grafana instances", lambda n, e: str(counts(e, "grafana"))),
        ("Loki instances", lambda n, e: str(counts(e, "loki"))),
        ("app hosts", lambda n, e: str(counts(e, "app"))),
        ("Prometheus retention", lambda n, e: setting(n, "prometheus", "retention")),
        ("scrape_interval", lambda n, e: setting(n, "prometheus", "scrape_interval")),
        ("evaluation_interval", lambda n, e: setting(n, "prometheus", "evaluation_interval")),
        ("group_wait", lambda n, e: setting(n, "alertmanager", "group_wait")),
        ("group_interval", lambda n, e: setting(n, "alertmanager", "group_interval")),
        ("repeat_interval", lambda n, e: setting(n, "alertmanager", "repeat_interval")),
        ("receivers (severities)", lambda n, e: receivers(e)),
        ("app port", lambda n, e: setting(n, "app", "port")),
        ("traffic generator (requests/s)", lambda n, e: setting(n, "app", "traffic_rps")),
        ("Loki retention", lambda n, e: setting(n, "loki", "retention_period")),
        ("Loki storage", lambda n, e: setting(n, "loki", "storage")),
        ("Loki replication_factor", lambda n, e: setting(n, "loki", "replication_factor")),
        ("Grafana database", lambda n, e: setting(n, "grafana", "database")),
        ("Terraform state", lambda n, e: e["state"]["backend"] + ("" if "state" in raw_env(n) else " (default)")),
        ("existing hosts ([existing-hosts.md](existing-hosts.md))", existing_cell),
        ("your scrape jobs: targets ([own-services.md](own-services.md))", jobs_cell),
        ("your rules, dashboards, log entries", own_files_cell),
    ]
    return md_table(["setting"] + [f"`{n}`" for n in names], [[label] + [fn(n, envs[n]) for n in names] for label, fn in rows])


def timing_table() -> str:
    envs = environments()
    resend = role_defaults("prometheus").get("prometheus_alert_resend_delay", "?")

    def timeout(n: str) -> str:
        interval = dur_s(envs[n]["prometheus"]["scrape_interval"])
        return f"{fmt_dur(min(10, interval))}"

    rows = [
        ("scrape_interval (how often every target is scraped)", lambda n: setting(n, "prometheus", "scrape_interval")),
        ("scrape_timeout (Prometheus's default: 10s, or the scrape_interval when that is shorter)", timeout),
        ("evaluation_interval (how often rules are evaluated)", lambda n: setting(n, "prometheus", "evaluation_interval")),
        ("`--rules.alert.resend-delay` (firing alerts re-sent to Alertmanager)", lambda n: f"{resend} (role default)"),
        ("Grafana's `timeInterval` (lower bound of `$__rate_interval`): the scrape_interval", lambda n: envs[n]["prometheus"]["scrape_interval"]),
        ("group_wait (first notification of a new group)", lambda n: setting(n, "alertmanager", "group_wait")),
        ("group_interval (next notification when a group changes)", lambda n: setting(n, "alertmanager", "group_interval")),
        ("repeat_interval (re-notify an unchanged group)", lambda n: setting(n, "alertmanager", "repeat_interval")),
        ("Prometheus retention", lambda n: setting(n, "prometheus", "retention")),
        ("Loki retention_period", lambda n: setting(n, "loki", "retention_period")),
    ]
    return md_table(["timing"] + [f"`{n}`" for n in envs], [[label] + [fn(n) for n in envs] for label, fn in rows])


def routing_table() -> str:
    """severity -> receivers per environment, from the amtool-checked routing tables."""
    envs = list(environments())
    sev_order = ["critical", "warning", "info", "none"]
    by_sev: dict[str, dict[str, str]] = {}
    for n in envs:
        for row in routing(n):
            if row.get("inhibited_by"):
                continue
            cell = ", ".join(f"`{r}`" for r in row.get("receivers") or []) or "no one"
            prev = by_sev.setdefault(row["severity"], {}).get(n)
            if prev is not None and prev != cell:
                drift(f"tests/routing/{n}.yml: alerts of severity `{row['severity']}` go to different receivers; the docs' routing table assumes one set per severity")
            by_sev[row["severity"]][n] = cell
    sevs = sorted(by_sev, key=lambda s: sev_order.index(s) if s in sev_order else 99)
    return md_table(["severity"] + [f"`{n}`" for n in envs], [[f"`{s}`"] + [by_sev[s].get(n, "—") for n in envs] for s in sevs])


PROSE_COLUMNS: set[str] = set()


def merged(text: str, name: str, header: list[str], keys: int, generated: list[list[str]]) -> str:
    """A table whose first len(generated[i]) columns come from the code and
    whose other columns are prose kept from the current table, by the key (the
    first `keys` columns)."""
    current = between(text, name) or ""
    cur_header, cur_rows = table_rows(current)
    prose_cols = header[len(generated[0]) :] if generated else []
    PROSE_COLUMNS.update(prose_cols)
    kept: dict[tuple, dict[str, str]] = {}
    for r in cur_rows:
        cells = dict(zip(cur_header, r))
        kept[tuple(r[:keys])] = {c: cells.get(c, "") for c in prose_cols}
    rows = []
    for g in generated:
        prose = kept.get(tuple(g[:keys]), {})
        rows.append(g + [prose.get(c, "") for c in prose_cols])
    return md_table(header, rows)


def alerts_table(text: str) -> str:
    gen = [[f"`{r['name']}`", f"`{r['severity']}`", f"`{r['for']}`" if r["for"] != "0s" else "—"] for r in alert_rules()]
    return merged(text, "alerts-table", ["alert", "severity", "for", "condition (threshold)", "why"], 2, gen)


def ports_table(text: str) -> str:
    gen = []
    for c in registry():
        for p in c["ports"]:
            gen.append([f"`{p['var']}`", c["name"], f"`{c['unit']}`", str(p["number"])])
    return merged(text, "ports-table", ["variable", "component (role)", "systemd unit", "port", "protocol", "who connects"], 1, gen)


def components_table(text: str) -> str:
    dev = environments().get("dev")
    gen = []
    for c in registry():
        if dev is None:
            where = ""
        elif c["name"] not in dev["components"]:
            where = "off" + (" (legacy, opt-in)" if c.get("legacy") else "")
        elif c["every_host"]:
            where = "every host"
        else:
            where = ", ".join(f"`{h['name']}`" for h in dev["hosts"] if c["name"] in h["roles"])
        ports = ", ".join(f"{p['number']}" for p in c["ports"])
        gen.append([c["name"], where, ports])
    return merged(text, "components-table", ["component", "where (dev)", "ports", "what it does"], 1, gen)


def exit_codes_table(text: str) -> str:
    gen = [[str(c["code"]), f"`{c['phase']}`" if c["phase"] else ""] for c in facts()["exit_codes"]]
    return merged(text, "exit-codes-table", ["code", "phase (`--output json`: `\"phase\"`)", "meaning", "typical causes", "what to do"], 1, gen)


def access_table() -> str:
    """docs/security.md: what each credential may do (src/model/access.rs)."""
    a = facts()["access"]
    actions = list(a["actions"])
    header = ["credential"] + [f"`{x}`" for x in actions] + ["`quit`"]
    rows = [[f"`{u}`"] + ["yes" if u in a["actions"][x] else "no" for x in actions] + ["no"] for u in a["users"]]
    return md_table(header, rows)


def gateway_rules_table() -> str:
    """docs/security.md: the gateway's per-path rules (src/model/access.rs)."""
    rows = []
    for comp, rules in facts()["access"]["gateway"].items():
        for r in rules:
            rows.append([comp, f"`{r['methods']}`", f"`{r['path']}`",
                         f"`{r['action']}`" if r["action"] else "off (403 to everyone)"])
    return md_table(["component", "methods", "path (regular expression)", "action"], rows)


def system_users_table() -> str:
    """docs/security.md: the system user of each component (src/model/access.rs)."""
    users = facts()["access"]["system_users"]
    return md_table(["component", "runs as"], [[c, f"`{u}`"] for c, u in users.items()])


def exit_codes_short() -> str:
    rows = [[str(c["code"]), f"`{c['phase']}`" if c["phase"] else c["what"]] for c in facts()["exit_codes"] if c["code"] != 0]
    return md_table(["code", "phase"], rows)


def visible(cmds: list[dict]) -> list[dict]:
    return [c for c in cmds if not c["hidden"]]


def multiple_positionals() -> set[str]:
    """The value names of positionals that take several values, read from
    clap's own usage lines (`obsctl … --help`: `<MATCHER>...`), since the
    facts do not say how many values an argument takes."""
    if "multi" not in _cache:
        names: set[str] = set()

        def walk(cmd: dict, path: list[str]) -> None:
            if any(a["positional"] for a in cmd["args"]):
                run = subprocess.run([obsctl_bin(), *path, "--help"], capture_output=True, text=True, env={**os.environ, "OBSCTL_ROOT": str(ROOT)})
                names.update(re.findall(r"<([A-Z_]+)>\.\.\.", run.stdout))
            for s in visible(cmd["subcommands"]):
                walk(s, [*path, s["name"]])

        walk(facts()["cli"], [])
        _cache["multi"] = names
    return _cache["multi"]  # type: ignore[return-value]


def arg_usage(a: dict) -> str:
    value = " ".join(a["value_names"] or [a["id"].upper()])
    if a["positional"]:
        return f"{value}.." if value in multiple_positionals() else value
    flag = f"--{a['long']}"
    takes_value = a["possible_values"] != ["true", "false"]
    return f"{flag} {value}" if takes_value else flag


def cli_synopsis() -> str:
    cli = facts()["cli"]
    lines = []

    def walk(cmd: dict, prefix: str) -> None:
        subs = visible(cmd["subcommands"])
        parts = []
        for a in cmd["args"]:
            if a["global"] or a["hidden"]:
                continue
            u = arg_usage(a)
            parts.append(u if a["required"] else f"[{u}]")
        if subs:
            for s in subs:
                walk(s, f"{prefix} {' '.join(parts)} {s['name']}")
            return
        about = re.split(r"(?<!e\.g)\.\s", cmd["about"] or "")[0]
        lines.append(f"# {about}")
        lines.append((f"{prefix} " + " ".join(parts)).strip())

    for s in visible(cli["subcommands"]):
        walk(s, f"obsctl {s['name']}")
    lines.append("# every command: " + ", ".join(f"[{arg_usage(a)}]" for a in cli["args"] if a["global"]))
    return "```\n" + "\n".join(lines) + "\n```"


def cli_table() -> str:
    cli = facts()["cli"]
    rows = []

    def walk(cmd: dict, prefix: str) -> None:
        for a in cmd["args"]:
            if a["hidden"] or (a["global"] and prefix != "obsctl"):
                continue
            default = ", ".join(a["default"]) if a["default"] and a["default"] != ["false"] else ""
            choices = ", ".join(a["possible_values"]) if a["possible_values"] and a["possible_values"] != ["true", "false"] else ""
            short = f" (`-{a['short']}`)" if a["short"] else ""
            help_ = a["help"] or (cmd["about"] if a["positional"] else "") or ""
            rows.append([f"`{prefix}`", f"`{arg_usage(a)}`{short}", choices, default, help_.replace("\n", " ")])
        for s in visible(cmd["subcommands"]):
            walk(s, f"{prefix} {s['name']}")

    walk(cli, "obsctl")
    rows[0][0] = rows[1][0] = "every command"
    return md_table(["command", "flag or argument", "values", "default", "help (`obsctl … --help`)"], rows)


def resources_table() -> str:
    rows = []
    for stack, mods in stacks().items():
        for mname, m in sorted(mods.items()):
            per = {"for_each": "one per host" if "hosts" in str(m["loop"]) else "one per item", "count": "0 or 1 (when needed)", "": "one"}[m["repeat"]]
            res = "<br>".join(f"`{t}.{n}`" + (" (several)" if r else "") for t, n, r in m["resources"]) or "none"
            rows.append([f"`{stack}`", f"`{mname}` ({m['source'].removeprefix('terraform/')})", per, res])
    return md_table(["stack", "module", "instances", "resources it creates"], rows)


def obsctl_vars_table(text: str) -> str:
    value = stack_outputs("aws").get("obsctl_vars", "")
    keys = sorted(set(re.findall(r"\b(\w+)\s*=(?!=)", value)))
    gen = [[f"`{k}`"] for k in keys]
    return merged(text, "obsctl-vars-table", ["variable", "value", "used by"], 1, gen)


def datasources_table() -> str:
    envs = environments()
    rows = []
    for n, e in envs.items():
        place = grafana_placement(e)
        graf = [h["name"] for h in e["hosts"] if "grafana" in h["roles"]]
        if not graf:
            continue
        cells = []
        for c in ("prometheus", "loki", "alertmanager"):
            how = place.get(c, "off")
            first = next((h["name"] for h in e["hosts"] if c in h["roles"]), "")
            cells.append(
                {
                    "local": "`127.0.0.1` (its own host's)",
                    "single": f"`{first}` (the component's first host)",
                    "shared": "the `grafana_" + c + "_url` you set",
                    "off": "none (component off)",
                    "spread": "**refused by preflight**",
                }[how]
            )
        rows.append([f"`{n}`", ", ".join(f"`{g}`" for g in graf)] + cells)
    return md_table(["environment", "Grafana hosts", "Prometheus", "Loki", "Alertmanager"], rows)


def host_loss_table() -> str:
    """What one host's machine takes with it, per environment: read from the topology. The
    stateful components' data is on the host's data volume, which outlives the machine
    (docs/upgrades.md); the third column is what only that volume holds."""
    envs = environments()
    rows = []
    for n, e in envs.items():
        for h in e["hosts"]:
            lost, volume, kept = [], [], []
            for role in ("prometheus", "alertmanager", "grafana", "loki", "app"):
                if role not in h["roles"] or role not in e["components"]:
                    continue
                others = counts(e, role) - 1
                if role == "prometheus":
                    item = f"its TSDB ({e['prometheus']['retention']} of metrics)"
                    (kept if others else volume).append(item + (": the other replica keeps the same samples" if others else ""))
                elif role == "alertmanager":
                    item = "silences and notification log"
                    (kept if others else volume).append(item + (": the other peers hold them (gossip)" if others else ""))
                elif role == "grafana":
                    db = e["grafana"]["database"]
                    if db == "postgres":
                        kept.append("Grafana: users and UI edits live in the shared PostgreSQL (RDS)" + (", the other Grafana serves" if others else ""))
                    else:
                        volume.append("Grafana's SQLite database (users, UI edits); dashboards come back from the repository")
                elif role == "loki":
                    if e["loki"]["storage"] == "s3":
                        kept.append(f"Loki: chunks in S3, {e['loki']['replication_factor']} replicas of every unflushed stream")
                    else:
                        volume.append(f"Loki's filesystem chunks ({e['loki']['retention_period']} of logs)" + ("" if not others else ", only this replica's"))
                elif role == "app":
                    lost.append("orders-api and its unshipped log lines")
            rows.append([f"`{n}`", f"`{h['name']}`", ", ".join(h["roles"]), "; ".join(lost) or "nothing beyond the machine",
                         "; ".join(volume) or "—", "; ".join(kept) or "—"])
    return md_table(["environment", "host", "roles", "lost with the machine", "only on its data volume (kept)", "held elsewhere too"], rows)


def sizing_table() -> str:
    m = sizing()
    if not m:
        drift("tests/bench/sizing-dev.json is missing: run tests/bench/sizing.sh (under the lab lock)")
        return ""
    per_target = {job: m["samples_per_scrape_by_job"][job] / m["targets_by_job"][job] for job in m["samples_per_scrape_by_job"] if m["targets_by_job"].get(job)}
    rule_series = m.get("recording_rule_series", 0)
    envs = environments()
    rows = []
    log_per_rps = m["orders_api_log_bytes_per_second"] / m["traffic_rps"]
    for n, e in envs.items():
        series = rule_series
        unmeasured = []
        targets = 0
        for c in registry():
            if c["name"] not in e["components"]:
                continue
            count = len(e["hosts"]) if c["every_host"] else counts(e, c["name"])
            targets += count
            if c["job"] in per_target:
                series += per_target[c["job"]] * count
            elif count:
                unmeasured.append(c["job"])
        interval = dur_s(e["prometheus"]["scrape_interval"])
        sps = series / interval
        retention = dur_s(e["prometheus"]["retention"])
        disk = sps * retention * BYTES_PER_SAMPLE
        app_hosts = counts(e, "app")
        log_day = log_per_rps * e["app"]["traffic_rps"] * 86400 * app_hosts
        log_ret = log_day * dur_s(e["loki"]["retention_period"]) / 86400
        rows.append(
            [
                f"`{n}`",
                str(targets),
                f"{series:,.0f}" + (f" + {', '.join(unmeasured)}" if unmeasured else ""),
                e["prometheus"]["scrape_interval"],
                f"{sps:,.0f}",
                f"{e['prometheus']['retention']}: {disk / 1e9:.2f} GB",
                f"{log_day / 1e6:,.0f} MB",
                f"{e['loki']['retention_period']}: {log_ret / 1e9:.2f} GB",
            ]
        )
    return md_table(
        [
            "environment",
            "scrape targets",
            "active series per Prometheus",
            "scrape_interval",
            "samples/s per Prometheus",
            "TSDB disk per replica (retention)",
            "orders-api log per day (raw)",
            "Loki raw volume (retention)",
        ],
        rows,
    )


def sizing_measured() -> str:
    m = sizing()
    if not m:
        return ""
    rows = [
        ["measured", f"{m['measured']}, `dev` on the lab ({m['os']}, `--without {m['without']}`), over {m['seconds']} s"],
        ["scrape_interval / effective scrape_timeout (Prometheus's `/api/v1/status/config`)", f"{m['scrape_interval']} / {m['scrape_timeout']}"],
        ["`prometheus_tsdb_head_series` (with the series of the package's own first start, before obsctl's configuration: stale, kept until the head is compacted)", f"{m['head_series']:,}"],
        ["active series (`count({__name__=~\".+\"})`, past the 5-minute lookback)", f"{m['active_series']:,}"],
        ["`rate(prometheus_tsdb_head_samples_appended_total[2m])`", f"{float(m['samples_per_second']):,.1f} samples/s"],
        ["samples per scrape, by job (`scrape_samples_post_metric_relabeling`)", ", ".join(f"{j} {v:,.0f}" for j, v in sorted(m["samples_per_scrape_by_job"].items()))],
        ["scrape targets, by job", ", ".join(f"{j} {v}" for j, v in sorted(m["targets_by_job"].items()))],
        ["recording-rule series", f"{m['recording_rule_series']:,}"],
        ["TSDB directory growth (head chunks and WAL, not yet compacted)", f"{m['tsdb_growth_bytes_per_second']:,} bytes/s"],
        ["orders-api log at " + str(m["traffic_rps"]) + " requests/s", f"{m['orders_api_log_bytes_per_second']:,.0f} bytes/s, {m['orders_api_log_lines_per_second']} lines/s"],
    ]
    return md_table(["what", "value"], rows)


# ----- diagrams


def mermaid(body: str) -> str:
    return "```mermaid\n" + body.strip("\n") + "\n```"


COMPONENT_LABEL = {
    "prometheus": "Prometheus",
    "alertmanager": "Alertmanager",
    "node_exporter": "node_exporter",
    "grafana": "Grafana",
    "loki": "Loki",
    "alloy": "Alloy",
    "promtail": "Promtail",
    "app": "orders-api",
}


def ident(s: str) -> str:
    return re.sub(r"\W", "_", s)


def global_diagram(name: str, part: str) -> str:
    """Components on the hosts of one environment, and the flows between them:
    each Grafana to the instances the grafana role places its data sources on,
    each log agent (Alloy) to the Loki the alloy role picks, every Prometheus to
    every Alertmanager, and one Prometheus's scrapes of the last host.
    `part` "queries" draws Grafana's queries and the agents' pushes in one
    picture; an environment with many hosts splits them into "grafana" and
    "logs", so each stays under render.sh's height limit. A host with nothing
    of the part is left out."""
    e = environments()[name]
    shown = {
        "metrics": {"prometheus", "alertmanager", "app"},
        "queries": {"grafana", "loki", "prometheus"},
        "grafana": {"grafana", "loki", "prometheus"},
        "logs": {"loki"},
    }[part]
    lines = ["flowchart TB"]
    if part in ("queries", "grafana"):
        lines.append('    user(("engineer"))')
    if e["provider"] == "aws" and part in ("queries", "grafana"):
        lines.append('    lb["load balancer"]')
        lines.append('    user -- "HTTPS" --> lb')
    every = [c for c in registry() if c["every_host"] and c["name"] in e["components"]]
    where: dict[str, list[str]] = {}
    for h in e["hosts"]:
        hid = ident(h["name"])
        host_lines = [f'    subgraph {hid}["{h["name"]}"]']
        nodes = []
        for c in registry():
            if c["name"] in e["components"] and not c["every_host"] and c["name"] in h["roles"] and c["name"] in shown:
                nid = f"{hid}_{c['name']}"
                host_lines.append(f'        {nid}["{COMPONENT_LABEL[c["name"]]} :{c["ports"][0]["number"]}"]')
                where.setdefault(c["name"], []).append(nid)
                nodes.append(nid)
        if every and (part in ("queries", "logs") or (part == "metrics" and h is e["hosts"][-1])):
            nid = f"{hid}_every"
            label = "<br/>".join(f"{COMPONENT_LABEL[c['name']]} :{c['ports'][0]['number']}" for c in every)
            host_lines.append(f'        {nid}["{label}"]')
            nodes.append(nid)
            where.setdefault("every", []).append(nid)
        for a, b in zip(nodes, nodes[1:]):
            host_lines.append(f"        {a} ~~~ {b}")
        if nodes:
            lines += host_lines + ["    end"]
    if part == "metrics":
        lines.append('    rcv(["receivers"])')
    # hosts in a grid of two columns, so the picture stays narrow: the last
    # node of a host sits above the first node of the host two places on
    lasts = {ident(h["name"]): [n for n in sum(where.values(), []) if n.startswith(ident(h["name"]) + "_")] for h in e["hosts"]}
    hids = [hid for hid in (ident(h["name"]) for h in e["hosts"]) if lasts[hid]]
    if len(hids) > 2:
        for a, b in zip(hids, hids[2:]):
            if lasts[a] and lasts[b]:
                lines.append(f"    {lasts[a][-1]} ~~~ {lasts[b][0]}")
    for g in where.get("grafana", []):
        lines.append(f"    {'lb' if e['provider'] == 'aws' else 'user'} --> {g}")
    if part == "metrics":
        lines += metric_edges(e, where)
    else:
        lines += query_edges(e, where, grafana=part != "logs", logs=part != "grafana")
    return mermaid("\n".join(lines))


def query_edges(e: dict, where: dict, grafana: bool = True, logs: bool = True) -> list[str]:
    lines = []
    place = grafana_placement(e)
    for g in where.get("grafana", []) if grafana else []:
        ghost = g.rsplit("_grafana", 1)[0]
        for comp, label in (("prometheus", "PromQL"), ("loki", "LogQL")):
            nodes = where.get(comp, [])
            target = next((x for x in nodes if x.startswith(ghost + "_")), None) if place.get(comp) == "local" else (nodes[0] if nodes else None)
            if target:
                lines.append(f'    {g} -- "{label}" --> {target}')
    agent = next((a for a in ("alloy", "promtail") if a in e["components"]), None)
    if logs and agent and "loki" in e["components"]:
        for h in e["hosts"]:
            target = log_agent_push_host(e, h["name"], agent)
            if target:
                lines.append(f"    {ident(h['name'])}_every -. logs .-> {ident(target)}_loki")
    return lines


def metric_edges(e: dict, where: dict) -> list[str]:
    lines = []
    last = ident(e["hosts"][-1]["name"])
    for p in where.get("prometheus", [])[:1]:
        for nodes in where.values():
            for t_ in nodes:
                if t_.startswith(last + "_"):
                    lines.append(f"    {p} -.-> {t_}")
    first = True
    for p in where.get("prometheus", []):
        for a in where.get("alertmanager", []):
            lines.append(f"    {p} -- alerts --> {a}" if first else f"    {p} --> {a}")
            first = False
    for a in where.get("alertmanager", [])[-1:]:
        lines.append(f"    {a} --> rcv")
    return lines


def base_types(resources: list[tuple]) -> list[str]:
    """The main resource types of a module: those no other type of it extends
    (aws_s3_bucket, not aws_s3_bucket_policy)."""
    types = sorted({t for t, _, _ in resources})
    return [t for t in types if not any(t.startswith(o + "_") for o in types if o != t)]


def deployment_diagram(name: str, roles: bool = True) -> str:
    """Terraform modules → the resources they create → the hosts, and Ansible roles → the hosts
    (without the roles, `roles=False`, for environments whose host→role edges
    cross: the generated host-roles matrix shows them)."""
    e = environments()[name]
    mods = stacks()[e["provider"]]
    lines = ["flowchart TB", f'    envfile["environments/{name}.toml"]']
    lines.append(f'    subgraph tf["Terraform: terraform/stacks/{e["provider"]}"]')
    host_mods, ids = [], []
    for mname, m in sorted(mods.items()):
        # At most three types per module (the rest counted), so the group stays small.
        main = base_types(m["resources"])[:3]
        more = len({t for t, _, _ in m["resources"]}) - len(main)
        label = f"module {mname}<br/>" + "<br/>".join(main) + (f"<br/>+{more} more" if more else "")
        ids.append(f"tf_{ident(mname)}")
        lines.append(f'        {ids[-1]}["{label}"]')
        if any(r for _, _, r in m["resources"]) or (m["repeat"] == "for_each" and "hosts" in str(m["loop"])):
            if "instance" in " ".join(main) or "machine" in " ".join(t for t, _, _ in m["resources"]) or mname == "machine":
                host_mods.append(mname)
    # modules in two columns, so the group stays short
    half = (len(ids) + 1) // 2
    for col in (ids[:half], ids[half:]):
        for a, b in zip(col, col[1:]):
            lines.append(f"        {a} ~~~ {b}")
    lines.append("    end")
    lines.append(f'    subgraph hosts["hosts of {name}"]')
    for h in e["hosts"]:
        lines.append(f'        h_{ident(h["name"])}["{h["name"]}"]')
    lines.append("    end")

    def provision_edges(per_host=True):
        """Terraform from the env file, and each host module to every host
        (or, per_host=False, to the hosts' group: one edge, a narrower diagram)."""
        lines.append('    envfile -- "obsctl up" --> tf')
        lines.append(f"    {ids[-1]} ~~~ h_{ident(e['hosts'][0]['name'])}")
        for mname in host_mods:
            for h in e["hosts"] if per_host else []:
                lines.append(f"    tf_{ident(mname)} --> h_{ident(h['name'])}")
            if not per_host:
                lines.append(f"    tf_{ident(mname)} --> hosts")

    if not roles:
        lines.append('    ans["Ansible: ansible/site.yml, one play:<br/>the roles of each host, as in<br/>the host-roles table"]')
        provision_edges(per_host=False)
        lines.append("    hosts --- ans")
        return mermaid("\n".join(lines))
    lines.append('    subgraph ans["Ansible: ansible/site.yml, one play"]')
    every = [c["name"] for c in registry() if c["every_host"] and c["name"] in e["components"]]
    lines.append(f'        r_every["{", ".join(every)}"]')
    roles_ = [r for r in ("prometheus", "alertmanager", "grafana", "loki", "app") if r in e["components"] and counts(e, r)]
    for role in roles_:
        lines.append(f'        r_{role}["role {role}"]')
    # two rows of roles, so the group stays narrow
    rids = ["r_every"] + [f"r_{r}" for r in roles_]
    half = (len(rids) + 1) // 2
    for a, b in zip(rids[:half], rids[half:]):
        lines.append(f"        {a} ~~~ {b}")
    lines.append("    end")
    provision_edges()
    lines.append("    hosts --- r_every")
    for role in roles_:
        for h in e["hosts"]:
            if role in h["roles"]:
                lines.append(f"    h_{ident(h['name'])} --- r_{role}")
    return mermaid("\n".join(lines))


def docs_index_table(text: str) -> str:
    gen = [[f"[{p.name}]({p.name})"] for p in pages() if p.name != "README.md"]
    return merged(text, "docs-index", ["page", "read it to learn"], 1, gen)


def readme_index(text: str) -> str:
    current = between(text, "readme-index") or ""
    kept = {}
    for line in current.split("\n"):
        m = re.match(r"^- \[([^\]]+)\]\(docs/([\w.-]+\.md)\)(.*)$", line)
        if m:
            kept[m.group(2)] = (m.group(1), m.group(3))
    out = []
    for p in pages():
        if p.name == "README.md":
            continue
        title, rest = kept.get(p.name, (p.stem.replace("-", " ").capitalize(), ""))
        out.append(f"- [{title}](docs/{p.name}){rest}")
    return "\n".join(out)



def port_vars() -> str:
    """Every port variable of the registry, in registry order (one line)."""
    names = [f"`{p['var']}`" for c in registry() for p in c["ports"]]
    return f"{len(names)} ports: " + ", ".join(names) + "."


def tfvars_ports(text: str) -> str:
    """The dev variables example with its `ports` object from dev's registry."""
    current = between(text, "tfvars-example") or ""
    ports = environments()["dev"]["ports"]
    items = [f'"{k}": {v}' for k, v in ports.items()]
    lines, line = [], []
    for it in items:
        if line and len(", ".join(line + [it])) > 100:
            lines.append(", ".join(line) + ",")
            line = []
        line.append(it)
    lines.append(", ".join(line))
    body = '"ports": { ' + "\n             ".join(lines) + " },"
    return re.sub(r'"ports": \{.*?\},', lambda m: body, current, count=1, flags=re.S)


def app_flags() -> str:
    """orders-api's flags as the app role writes them (its own `_app_args`,
    rendered with Jinja2 from dev's inventory, as `inventory --contract` renders it)."""
    vars_ = yaml.safe_load(read("ansible/roles/app/vars/main.yml"))
    inv = sandbox("dev")["inventory"]
    host = next(iter(inv["all"]["children"]["app"]["hosts"]))
    hostvars = {**role_defaults("app"), **inv["all"].get("vars", {}), **(inv.get("_meta", {}).get("hostvars", {}).get(host, {}))}
    jenv = jinja2.Environment()
    jenv.filters["dirname"] = os.path.dirname
    ctx = dict(hostvars)
    for k in ("_app_web_config_file",):
        ctx[k] = jenv.from_string(vars_[k]).render(**ctx)
    rendered = " ".join(jenv.from_string(vars_["_app_args"]).render(**ctx).split())
    return "```text\n" + rendered + "\n```"


def host_roles_matrix() -> str:
    """Which host carries which component, per environment (the env files, as obsctl parses them)."""
    comps = [c for c in registry()]
    rows = []
    for n, e in environments().items():
        for h in e["hosts"]:
            cells = []
            for c in comps:
                on = c["name"] in e["components"] and (c["every_host"] or c["name"] in h["roles"])
                cells.append("●" if on else "")
            rows.append([f"`{n}`", f"`{h['name']}`"] + cells)
    return md_table(["env", "host"] + [COMPONENT_LABEL[c["name"]] for c in comps], rows)


def restore_list(text: str) -> str:
    """What a second runner must restore: every file obsctl keeps under
    ssh/, secrets/ and tls/ (a run of `inventory --contract` for an aws
    environment with Grafana on PostgreSQL, plus the files `up`'s prepare and
    terraform phases add, which the tree of `.obsctl/` lists)."""
    seen = sandbox("prod")["files"]
    tree = state_tree()
    extra = [f"secrets/{m}" for m in re.findall(r"[│├└─\s]+(grafana_\w+(?:\.version)?|receiver-<name>-<credential>)\s", tree)]
    files = sorted({f for f in seen + extra + ["ssh/id_ed25519", "ssh/id_ed25519.pub"] if re.match(r"(ssh|secrets|tls)/", f)})
    gen = [[f"`{f}`"] for f in files]
    return merged(text, "restore-list", ["file under `.obsctl/<env>/`", "why the other machine needs the same one"], 1, gen)


def backup_table() -> str:
    """What `obsctl backup` takes: model/backup.rs's list, through `obsctl facts`."""
    rows = []
    for i in facts()["backup"]:
        where = ", ".join(f"`{p}`" if p.startswith("/") else f"`.obsctl/<env>/{p}`" for p in i["paths"])
        if i.get("instance"):
            where = f"the RDS instance `{i['instance']}`"
        rows.append([f"`{i['name']}`", f"`{i['component']}`" if i["component"] else "controller", i["what"], where, i["how"],
                     i["kept"], i["restore"]])
    return md_table(["item (archive folder)", "of", "what", "where", "how it is taken", "kept", "how `restore` puts it back"], rows)


def e2e_plan(text: str) -> str:
    """The harness's plan (`tests/e2e/harness.sh --list`): every end-to-end
    check in the order it runs, its lane and what it leaves; what it proves
    is prose, kept per check."""
    run = subprocess.run(["bash", str(ROOT / "tests/e2e/harness.sh"), "--list"], capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        drift(f"tests/e2e/harness.sh --list failed: {run.stderr.strip()}")
        return between(text, "e2e-plan") or ""
    gen = []
    for line in run.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\S+)\s+needs:.*leaves:\s*(\S+)", line)
        if m:
            gen.append([f"`{m.group(2)}`", f"`{m.group(1)}`", m.group(3)])
    return merged(text, "e2e-plan", ["check", "lane", "leaves", "what it proves"], 1, gen)


def scale_table() -> str:
    m = scale()
    if not m:
        drift("tests/bench/scale.json is missing: run tests/bench/scale.sh (under the lab lock)")
        return ""
    sizes = m["sizes"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" + (" ✓" if a / b <= 0.8 else " ✗")

    def own(s: dict, key: str) -> str:
        o = s["own"][key]
        return f"{o['cpu_s']} s / {o['peak_rss_mb']} MB"

    rows = [
        ["cold `up`"] + [f"{s['cold_s']:.1f} s" for s in sizes],
        ["baseline cold, with its wait"] + [f"{s['baseline_cold_s']:.1f} s" for s in sizes],
        ["**cold / baseline** (target ≤ 0.8)"] + [ratio(s["cold_s"], s["baseline_cold_s"]) for s in sizes],
        [f"no-op `up`, median of {m['noop_runs']} (path)"] + [f"{s['noop_s']:.1f} s ({s['noop_path']})" for s in sizes],
        ["baseline no-op, with its wait"] + [f"{s['baseline_noop_s']:.1f} s" for s in sizes],
        ["**no-op / baseline** (target ≤ 0.8)"] + [ratio(s["noop_s"], s["baseline_noop_s"]) for s in sizes],
        ["no-op `up --full` (changed tasks)"] + [f"{s['full_s']:.1f} s ({s['full_changed_tasks']})" for s in sizes],
        ["`status`"] + [f"{s['status_s']:.1f} s" for s in sizes],
        ["`plan`"] + [f"{s['plan_s']:.1f} s" for s in sizes],
        ["`destroy`"] + [f"{s['destroy_s']:.1f} s" for s in sizes],
        ["obsctl's own CPU / peak RSS, cold `up`"] + [own(s, "cold") for s in sizes],
        ["the same, no-op `up`"] + [own(s, "noop") for s in sizes],
        ["the same, `up --full`"] + [own(s, "full") for s in sizes],
        ["the same, `status` / `plan`"] + [f"{own(s, 'status')}; {own(s, 'plan')}" for s in sizes],
        ["load average (1 min) before → after"] + [f"{s['load_before']} → {s['load_after']}" for s in sizes],
    ]
    head = f"measured {m['measured']} at {m['commit']} on {m['machine']}, `--without {m['without']}`"
    return head + "\n\n" + md_table(["path"] + [f"{s['machines']} machines" for s in sizes], rows)


def check_scale_plot() -> None:
    if not scale():
        return
    rc = subprocess.run([sys.executable, str(ROOT / "tests/bench/scale_plot.py"), "--check"], capture_output=True, text=True)
    if rc.returncode != 0:
        drift(rc.stderr.strip() or "docs/performance-scale.svg is not what tests/bench/scale_plot.py draws from tests/bench/scale.json")


# name -> (page, generator taking the page's text)
BLOCKS: dict[str, tuple[str, object]] = {
    "env-table": ("docs/deployment.md", lambda t: env_table()),
    "cli-table": ("docs/deployment.md", lambda t: cli_table()),
    "resources-table": ("docs/deployment.md", lambda t: resources_table()),
    "timing-table": ("docs/flows.md", lambda t: timing_table()),
    "datasources-table": ("docs/flows.md", lambda t: datasources_table()),
    "routing-table": ("docs/worked-example.md", lambda t: routing_table()),
    "alerts-table": ("docs/worked-example.md", alerts_table),
    "ports-table": ("docs/architecture.md", ports_table),
    "exit-codes-table": ("docs/exit-codes.md", exit_codes_table),
    "exit-codes-short": ("docs/pipelines.md", lambda t: exit_codes_short()),
    "access-table": ("docs/security.md", lambda t: access_table()),
    "gateway-rules": ("docs/security.md", lambda t: gateway_rules_table()),
    "system-users": ("docs/security.md", lambda t: system_users_table()),
    "obsctl-vars-table": ("docs/contract.md", obsctl_vars_table),
    "components-table": ("README.md", components_table),
    "cli-synopsis": ("README.md", lambda t: cli_synopsis()),
    "readme-index": ("README.md", readme_index),
    "e2e-plan": ("README.md", e2e_plan),
    "docs-index": ("docs/README.md", docs_index_table),
    "global-dev-metrics": ("docs/topology.md", lambda t: global_diagram("dev", "metrics")),
    "global-dev-queries": ("docs/topology.md", lambda t: global_diagram("dev", "queries")),
    "global-prod-metrics": ("docs/topology.md", lambda t: global_diagram("prod", "metrics")),
    "global-prod-grafana": ("docs/topology.md", lambda t: global_diagram("prod", "grafana")),
    "global-prod-logs": ("docs/topology.md", lambda t: global_diagram("prod", "logs")),
    "deploy-dev": ("docs/topology.md", lambda t: deployment_diagram("dev")),
    "deploy-staging": ("docs/topology.md", lambda t: deployment_diagram("staging", roles=False)),
    "deploy-prod": ("docs/topology.md", lambda t: deployment_diagram("prod", roles=False)),
    "host-loss-table": ("docs/backup.md", lambda t: host_loss_table()),
    "backup-table": ("docs/backup.md", lambda t: backup_table()),
    "sizing-measured": ("docs/scaling.md", lambda t: sizing_measured()),
    "sizing-table": ("docs/scaling.md", lambda t: sizing_table()),
    "scale-table": ("docs/performance.md", lambda t: scale_table()),
    "port-vars-contract": ("docs/contract.md", lambda t: port_vars()),
    "port-vars-deployment": ("docs/deployment.md", lambda t: "    " + port_vars()),
    "tfvars-example": ("docs/deployment.md", tfvars_ports),
    "app-flags": ("docs/worked-example.md", lambda t: app_flags()),
    "host-roles": ("docs/topology.md", lambda t: host_roles_matrix()),
    "restore-list": ("docs/pipelines.md", restore_list),
}


def generate(name: str, text: str) -> str:
    return BLOCKS[name][1](text)  # type: ignore[operator]


def check_generated() -> None:
    for name, (page, _) in BLOCKS.items():
        text = read(page)
        current = between(text, name)
        if current is None:
            drift(f"{page}: the generated block {marker(name)[0]} … {marker(name)[1]} is missing")
            continue
        expected = generate(name, text)
        if current.strip() != expected.strip():
            diff = "\n".join(difflib.unified_diff(current.strip().split("\n"), expected.strip().split("\n"), "docs", "code", lineterm="", n=0))
            drift(f"{page}: the generated block `{name}` differs from the code (fix: tests/docs/drift.py --write):\n{diff}")
        header, rows = table_rows(expected)
        for r in rows:
            for h, c in zip(header, r):
                if c.strip() == "" and h in PROSE_COLUMNS:
                    drift(f"{page}, generated table `{name}`: row `{r[0]}` has no text in column \"{h}\" (write it; --write keeps it)")


def write_blocks() -> None:
    for name, (page, _) in BLOCKS.items():
        path = ROOT / page
        text = path.read_text()
        a, b = marker(name)
        if a not in text:
            print(f"drift.py: {page} has no {a} … {b} markers; skipped", file=sys.stderr)
            continue
        before, rest = text.split(a, 1)
        _, after = rest.split(b, 1)
        text = f"{before}{a}\n{generate(name, text)}\n{b}{after}"
        path.write_text(text)
    print("drift.py: wrote every generated block")


# --------------------------------------------------------------------------- checks


def check_mentions() -> None:
    wex = read("docs/worked-example.md")
    for r in alert_rules():
        if r["name"] not in read("docs/runbooks.md"):
            drift(f"docs/runbooks.md has no section for alert `{r['name']}` ({r['file']})")
    for d in dashboards():
        if d["title"] not in wex:
            drift(f"docs/worked-example.md does not mention dashboard \"{d['title']}\" ({d['_file']})")
    arch = read("docs/architecture.md")
    for role in roles():
        if not re.search(rf"(?<![\w-]){re.escape(role)}(?![\w-])", arch):
            drift(f"docs/architecture.md does not name the Ansible role `{role}` (ansible/roles/{role})")
    dep = read("docs/deployment.md")
    for name in environments():
        if f"environments/{name}.toml" not in dep:
            drift(f"docs/deployment.md does not mention environments/{name}.toml")
    docs = "\n".join(p.read_text() for p in pages())

    def walk(cmd: dict, prefix: str) -> None:
        for s in visible(cmd["subcommands"]):
            pattern = rf"{re.escape(prefix)} {re.escape(s['name'])}(?![\w-])" if prefix == "obsctl" else rf"{re.escape(prefix)}\b[^`\n]* {re.escape(s['name'])}(?![\w-])"
            if not re.search(pattern, docs):
                drift(f"docs/ never shows `{prefix} {s['name']}` (a subcommand of obsctl)")
            walk(s, f"{prefix} {s['name']}")

    walk(facts()["cli"], "obsctl")


def check_port_defaults() -> None:
    reg = {p["var"]: p["number"] for c in registry() for p in c["ports"]}
    for role in roles():
        for key, value in role_defaults(role).items():
            if key in reg and value != reg[key]:
                drift(f"ansible/roles/{role}/defaults/main.yml: `{key}: {value}` disagrees with the component registry (src/model/component.rs says {reg[key]})")


def check_sequence_diagram() -> None:
    text = read("docs/flows.md")
    dev = environments().get("dev")
    rule = {r["name"]: r for r in alert_rules()}.get("OrdersHighErrorRatio")
    seq = [b for b in re.findall(r"^```mermaid\s*\n(.*?)^```", text, flags=re.S | re.M) if b.lstrip().startswith("sequenceDiagram") and "OrdersHighErrorRatio" in b]
    if not seq or dev is None or rule is None:
        drift("docs/flows.md: no sequence diagram of OrdersHighErrorRatio in dev (or the alert or dev is gone)")
        return
    expected = {
        "scrape_interval": dev["prometheus"]["scrape_interval"],
        "evaluation_interval": dev["prometheus"]["evaluation_interval"],
        "group_wait": dev["alertmanager"]["group_wait"],
        "group_interval": dev["alertmanager"]["group_interval"],
        "repeat_interval": dev["alertmanager"]["repeat_interval"],
        "resend-delay": str(role_defaults("prometheus").get("prometheus_alert_resend_delay")),
        "for": rule["for"],
    }
    for key, value in expected.items():
        quoted = re.findall(rf"(?<![\w-]){re.escape(key)} = (\w+)", seq[0])
        if not quoted:
            drift(f"docs/flows.md: the alert sequence diagram should say `{key} = {value}` (dev / OrdersHighErrorRatio)")
        for q in quoted:
            if q != value:
                drift(f"docs/flows.md: the alert sequence diagram says `{key} = {q}`, but dev's is {value}")


def check_env_comments() -> None:
    """Counts in an environment file's comments (\"2 Prometheus replicas\", \"3 Loki\") match its hosts."""
    words = {"prometheus": "prometheus", "alertmanager": "alertmanager", "grafana": "grafana", "loki": "loki"}
    for n, e in environments().items():
        for line_no, line in enumerate(read(e["file"]).split("\n"), 1):
            if "#" not in line:
                continue
            comment = line.split("#", 1)[1]
            for num, word in re.findall(r"\b(\d+)(?:-peer)? (Prometheus|Alertmanager|Grafana|Loki)\b", comment):
                have = counts(e, words[word.lower()])
                if int(num) != have:
                    drift(f"{e['file']}:{line_no}: the comment says {num} {word}, but the file gives {have} host(s) that role")


ENV_NAMES = "|".join(ENV_ORDER)


def check_prose() -> None:
    """Claims in prose that the generated tables hold, or that contradict the code."""
    setting_words = r"scrape|evaluat|group_wait|group_interval|repeat_interval|(?<!backup_)retention|interval"
    dur = r"\b\d+\s?(?:s|m|h|d|ms)\b|\b\d+ (?:seconds|minutes|hours|days)\b"
    for p in [*pages(), ROOT / "README.md"]:
        page = rel(p)
        for s in sentences(p.read_text()):
            plain = s
            # 1, 2: timings and retention per environment are in the generated tables.
            near = any(
                abs(a.start() - b.start()) < 40 for a in re.finditer(setting_words, plain, re.I) for b in re.finditer(dur, plain)
            )
            if near and re.search(rf"\b({ENV_NAMES})\b", plain):
                if not re.search(r"timings table|#timings|environments table|#environments|table above|table below", plain):
                    drift(f"{page}: restates a per-environment timing that a generated table holds; point to the table instead: \"{s[:160]}\"")
            if re.search(r"scrape timeout", plain, re.I) and re.search(dur, plain) and "#timings" not in plain:
                drift(f"{page}: states a scrape timeout; it is in the timings table (flows.md#timings): \"{s[:160]}\"")
            # 7: how long `up` takes is measured in performance.md only.
            if page != "docs/performance.md" and re.search(r"\b(cold|no-op)\b", plain) and re.search(r"`up`|\bup\b", plain) and re.search(r"\b\d+(?:[.–-]\d+)?\s?s\b", plain):
                drift(f"{page}: states how long `up` takes; the measured figures are in docs/performance.md, link them: \"{s[:160]}\"")
            # 3: which Prometheus, Loki and Alertmanager a Grafana queries is the generated data-source table.
            if re.search(r"Grafana", plain) and re.search(r"\b(reads?|quer(?:y|ies)|data source)\b", plain) and (
                re.search(r"\bmon-\d\b.*\bonly\b|\bonly\b.*\bmon-\d\b", plain) or re.search(r"<first \w+ host>", plain)
            ):
                drift(f"{page}: says which host Grafana queries; that is the generated data-source table (flows.md#visualisation): \"{s[:160]}\"")
            # 4: Watchdog reaches the receivers that list `none`.
            if "Watchdog" in plain and re.search(r"not built|reaches? no (?:one|receiver)(?! in the shipped)|routed to no receiver|no receiver yet", plain):
                drift(f"{page}: says Watchdog reaches no one; it reaches every receiver whose severities list `none`: \"{s[:160]}\"")
            # 8: staging is not prod's topology.
            if re.search(r"\bstaging\b", plain) and re.search(r"(prod's|same|prod) (HA )?topology|topology of prod", plain) and not re.search(r"\bLoki\b|except|but\b", plain):
                drift(f"{page}: says staging has prod's topology without saying how it differs (one Loki): \"{s[:160]}\"")
            # 5: `up` prints the load balancer's URL when the stack has one.
            if re.search(r"`up`", plain) and re.search(r"\bprints?\b|summary", plain) and re.search(r"each (?:host|Grafana)'s `?:3000", plain):
                drift(f"{page}: `up` prints the load balancer's URL when the stack publishes one, not each host's :3000: \"{s[:160]}\"")
    # 4, in diagrams: a diagram that routes Watchdog shows the receivers that list `none`.
    for p in pages():
        for block in re.findall(r"^```mermaid\s*\n(.*?)^```", strip_generated(p.read_text()), flags=re.S | re.M):
            if "Watchdog" in block and not re.search(r"list(?:s)? `?none", block):
                drift(f"{rel(p)}: a diagram routes Watchdog without the receivers whose severities list `none`")


# ----- queries


PROMQL_FUNCS = r"(?:rate|irate|increase|sum|avg|min|max|count|predict_linear|histogram_quantile|vector|absent|topk|delta|deriv|label_values)"


def doc_queries() -> tuple[list[dict], list[dict]]:
    """(PromQL, LogQL) quoted in the docs, in code spans and in ```promql / ```logql blocks."""
    prom, logql = [], []
    for p in [*pages(), ROOT / "README.md"]:
        text = p.read_text()
        for lang, body in re.findall(r"^```(promql|logql)\s*\n(.*?)^```", text, flags=re.S | re.M):
            (prom if lang == "promql" else logql).append({"where": rel(p), "expr": body.strip()})
        for line_no, line in enumerate(strip_code_blocks(text).split("\n"), 1):
            for span in code_spans(line):
                s = span.strip()
                where = f"{rel(p)}:{line_no}"
                if re.match(r"^\{\s*\w+\s*(=|=~|!=|!~)\s*\"", s) or re.search(r"\(\s*\{\s*\w+\s*(=|=~)", s):
                    logql.append({"where": where, "expr": s, "line": line})
                elif re.match(rf"^{PROMQL_FUNCS}\s*(by\s*\([^)]*\)\s*)?\(", s) or re.match(r"^[a-z_:][a-z0-9_:]*(\{[^}]*\})?(\[\w+\])?\s*(==|!=|>=|<=|>|<)\s*[\d.]+$", s) or re.match(r"^[a-z][a-z0-9]*_[a-z0-9_:]+\{[^}]*\}(\[\w+\])?$", s):
                    prom.append({"where": where, "expr": s, "line": line})
    return prom, logql


def promtool() -> str | None:
    for cand in (shutil.which("promtool"), ROOT / ".obsctl/tools/debian-13/root/usr/bin/promtool"):
        if cand and Path(cand).is_file():
            return str(cand)
    return None


def check_queries() -> None:
    prom, logql = doc_queries()
    dash = dashboard_queries()
    # LogQL of the dashboards and the docs: Grafana's own grammar.
    all_logql = [{"where": f"dashboard \"{q['dashboard']}\", panel \"{q['panel']}\"", "expr": q["expr"]} for q in dash if q["type"] == "loki"]
    all_logql += [{"where": q["where"], "expr": q["expr"]} for q in logql]
    run = subprocess.run(["node", str(HERE / "logql.mjs")], input=json.dumps(all_logql), capture_output=True, text=True, cwd=HERE)
    if run.returncode != 0:
        drift(f"tests/docs/logql.mjs failed: {run.stderr.strip()}")
    else:
        for bad in json.loads(run.stdout):
            if re.match(r"^\w+\s*\(\s*\{", bad["expr"]) and not bad["where"].startswith("dashboard"):
                prom.append({"where": bad["where"], "expr": bad["expr"]})  # `count({…})` is PromQL: promtool decides
                continue
            drift(f"{bad['where']}: LogQL `{bad['expr']}` {bad['error']} (@grafana/lezer-logql)")
    # PromQL of the docs: promtool, as for the rules and dashboards.
    tool = promtool()
    if prom and not tool:
        drift("promtool not found (tests/setup.sh extracts it into .obsctl/tools/debian-13): the docs' PromQL is unchecked")
    elif prom:
        with tempfile.TemporaryDirectory() as tmp:
            for i, q in enumerate(prom):
                f = Path(tmp) / f"q{i}.yml"
                expr = re.sub(r"\$\{?__\w+\}?", "1m", q["expr"])
                f.write_text(yaml.safe_dump({"groups": [{"name": "docs", "rules": [{"record": "docs:query", "expr": expr}]}]}))
                r = subprocess.run([tool, "check", "rules", str(f)], capture_output=True, text=True)
                if r.returncode != 0:
                    msg = (r.stderr or r.stdout).strip().split("\n")[-1]
                    drift(f"{q['where']}: PromQL `{q['expr']}` does not parse (promtool): {msg}")
    # A query the docs say a dashboard uses is one of its queries.
    exprs = {q["expr"] for q in dash}
    for q in prom + logql:
        if "line" in q and re.search(r"dashboard", q["line"], re.I) and q["expr"] not in exprs:
            drift(f"{q['where']}: `{q['expr']}` is quoted as a dashboard's query, but no dashboard has it (ansible/roles/grafana/files/dashboards)")


def check_index() -> None:
    names = {p.name for p in pages() if p.name != "README.md"}
    readme = read("README.md")
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", between(readme, "readme-index") or ""))
    for n in sorted(names - linked):
        drift(f"README.md's documentation index does not list docs/{n}")
    for n in sorted(linked - names):
        drift(f"README.md's documentation index lists docs/{n}, which does not exist")


def check_citations() -> None:
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


PORT_NAMES = {
    "prometheus": r"Prometheus",
    "alertmanager": r"Alertmanager",
    "node_exporter": r"node_exporter|node-exporter",
    "grafana": r"Grafana",
    "loki": r"Loki",
    "alloy": r"Alloy",
    "promtail": r"Promtail",
    "app": r"orders-api",
}


def check_ports_in_text() -> None:
    """A port written right after a component's name (`Loki :3100`, `Grafana on
    `:3000``), in prose or in a diagram, is one of that component's registry ports."""
    reg = {c["name"]: {p["number"] for p in c["ports"]} for c in registry()}
    for p in [*pages(), ROOT / "README.md"]:
        for line_no, line in enumerate(p.read_text().split("\n"), 1):
            for comp, name in PORT_NAMES.items():
                for m in re.finditer(rf"(?<![\w-])(?:{name})(?![\w-])[^:|,;\n]{{0,12}}?`?:(\d{{4,5}})\b", line):
                    n = int(m.group(1))
                    if n not in reg[comp]:
                        drift(f"{rel(p)}:{line_no}: `{m.group(0)}` gives {comp} port {n}, but the registry says {sorted(reg[comp])} (src/model/component.rs)")


def sandbox(env: str) -> dict:
    """`obsctl inventory --env ENV --contract FILE` in a temporary checkout
    (links to environments/ and ansible/), with a contract for the env file's
    hosts: what it prints and every file it leaves under `.obsctl/ENV/`,
    with host and user names replaced by `<host>` and `<user>`."""
    key = f"sandbox-{env}"
    if key not in _cache:
        e = environments()[env]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "environments").symlink_to(ROOT / "environments")
            (root / "ansible").symlink_to(ROOT / "ansible")
            hosts = {}
            for i, h in enumerate(e["hosts"]):
                hosts[h["name"]] = {
                    "address": f"192.0.2.{10 + i}", "private_address": f"10.0.0.{10 + i}", "ssh_user": "admin", "ssh_port": 22,
                    "roles": h["roles"], "labels": {"zone": "a"},
                    "ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2c5m2sCw1E9nNBbq7oGqgGg0qQbA0Qz6t2L8a1y2Zx",
                }
            contract = {"schema": 1, "environment": env, "hosts": hosts, "ssh": {"private_key_file": "/nonexistent/id_ed25519", "bastion": None}}
            (root / "contract.json").write_text(json.dumps(contract))
            run = subprocess.run([obsctl_bin(), "inventory", "--env", env, "--contract", "contract.json"], cwd=root, capture_output=True, text=True, env={**os.environ, "OBSCTL_ROOT": str(root)})
            if run.returncode != 0:
                sys.exit(f"drift.py: `obsctl inventory --env {env} --contract` in a temporary checkout failed ({run.returncode}):\n{run.stderr}")
            state = root / ".obsctl" / env
            names = {h["name"] for h in e["hosts"]}
            files = set()
            for f in state.rglob("*") if state.is_dir() else []:
                if f.is_file():
                    r = str(f.relative_to(state))
                    r = re.sub(r"^tls/hosts/([\w-]+)\.", lambda m: "tls/hosts/<host>." if m.group(1) in names else m.group(0), r)
                    r = re.sub(r"^secrets/web_\w+?_password", "secrets/web_<user>_password", r)
                    files.add(r)
            _cache[key] = {"files": sorted(files), "inventory": json.loads(run.stdout)}
    return _cache[key]  # type: ignore[return-value]


def state_tree() -> str:
    """The tree of `.obsctl/` on the deployment page."""
    sect = section(read("docs/deployment.md"), r"Where state, secrets and logs live")
    m = re.search(r"```text\n(.*?)```", sect, flags=re.S)
    return m.group(1) if m else ""


def snippet_tools() -> dict:
    """The real parsers of the docs' snippets (tests/docs/claims.py, check_snippets)."""

    def sh(code: str) -> str | None:
        r = subprocess.run(["bash", "-n"], input=code, capture_output=True, text=True)
        return r.stderr.strip().replace("\n", " ") if r.returncode else None

    def toml(code: str) -> str | None:
        try:
            tomllib.loads(code)
        except tomllib.TOMLDecodeError as e:
            return str(e)
        return None

    def env_toml(arg: tuple[str, str]) -> str | None:
        """A whole environment file, through obsctl's own parser (`obsctl facts`
        parses and validates every file of environments/, as `up` does)."""
        name, code = arg
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "environments").mkdir()
            (root / "ansible").symlink_to(ROOT / "ansible")
            (root / "environments" / f"{name}.toml").write_text(code)
            r = subprocess.run([obsctl_bin(), "facts"], cwd=root, capture_output=True, text=True, env={**os.environ, "OBSCTL_ROOT": str(root)})
            return r.stderr.strip().replace("\n", " ")[:300] if r.returncode else None

    def hcl(code: str) -> str | None:
        if not shutil.which("terraform"):
            return "terraform is not installed"
        r = subprocess.run(["terraform", "fmt", "-"], input=code, capture_output=True, text=True)
        return r.stderr.strip().replace("\n", " ")[:300] if r.returncode else None

    def json_(code: str) -> str | None:
        try:
            json.loads(code)
        except json.JSONDecodeError as e:
            return str(e)
        return None

    def yaml_(code: str) -> str | None:
        try:
            yaml.safe_load(code)
        except yaml.YAMLError as e:
            return str(e).replace("\n", " ")
        return None

    return {"sh": sh, "toml": toml, "env_toml": env_toml, "hcl": hcl, "json": json_, "yaml": yaml_}


def claims_ctx() -> dict:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    sources = []
    for f in files:
        if f.split("/")[0] in ("ansible", "terraform", "src", "app", "tests") and not f.startswith("tests/docs/"):
            try:
                sources.append((ROOT / f).read_text())
            except (UnicodeDecodeError, OSError):
                pass
    cli = facts()["cli"]

    def default(cmd: str, flag: str) -> str | None:
        for s in cli["subcommands"]:
            if s["name"] == cmd:
                for a in s["args"]:
                    if a["long"] == flag and a["default"]:
                        return f"{a['default'][0]}s"
        return None

    timings = facts().get("timings") or {}
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "ansible/ansible.cfg")
    persist = re.search(r"ControlPersist=(\S+)", cfg.get("ssh_connection", "ssh_args", fallback=""))
    constants = {
        "ansible_core": facts()["ansible"]["core"],
        "mitogen": facts()["ansible"]["mitogen"],
        "verify_timeout": default("up", "verify-timeout"),
        "ssh_timeout": default("up", "ssh-timeout"),
        "ansible_forks": cfg.get("defaults", "forks", fallback=None),
        "port_count": str(sum(len(c["ports"]) for c in registry())),
        "control_persist": persist.group(1) if persist else None,
        # published by `obsctl facts` once it has them; until then the
        # contradiction check still holds every page to one value
        "verify_poll": f"{timings['verify_poll_ms']}ms" if "verify_poll_ms" in timings else None,
        "ssh_poll": f"{timings['ssh_poll_ms']}ms" if "ssh_poll_ms" in timings else None,
    }
    written = sandbox("dev")["files"]
    helps = []
    for s in cli["subcommands"]:
        if s["name"] == "inventory":
            helps = [(f"obsctl inventory --{a['long']}", a["help"] or "") for a in s["args"] if a["long"] == "contract"]
    return {
        "registry_ports": [p["number"] for c in registry() for p in c["ports"]],
        "repo_files": files,
        "state_tree": state_tree(),
        "host_path_sources": "\n".join(sources),
        "constants": constants,
        "behaviour": {"inventory --contract": written},
        "help": {"inventory --contract": helps},
        "state_files": written,
        "exit_codes": [c["code"] for c in facts()["exit_codes"]],
        "tools": snippet_tools(),
        "read": lambda p: (ROOT / p).read_text() if (ROOT / p).is_file() else "",
    }


def check_claims() -> None:
    """The widened checks (tests/docs/claims.py), after their self-tests."""
    sys.path.insert(0, str(HERE))
    sys.dont_write_bytecode = True  # no __pycache__ in the checkout
    import claims

    for failure in claims.run_self_tests(snippet_tools()):
        drift(failure)
    ctx = claims_ctx()
    pages_ = {rel(p): p.read_text() for p in [*pages(), ROOT / "README.md"]}
    for check in claims.CHECKS:
        for problem in check(pages_, ctx):
            drift(problem)


CHECKS = [check_claims, check_ports_in_text, check_generated, check_scale_plot, check_mentions, check_port_defaults, check_sequence_diagram, check_env_comments, check_prose, check_queries, check_index, check_citations]


def main() -> int:
    args = sys.argv[1:]
    if args == ["--write"]:
        write_blocks()
        if scale():
            subprocess.run([sys.executable, str(ROOT / "tests/bench/scale_plot.py")], check=True)
        return 0
    if args == ["--list"]:
        print("\n".join(f"{n}\t{p}" for n, (p, _) in BLOCKS.items()))
        return 0
    if len(args) == 2 and args[0] == "--print" and args[1] in BLOCKS:
        print(generate(args[1], read(BLOCKS[args[1]][0])))
        return 0
    if args == ["--self-test"]:
        sys.path.insert(0, str(HERE))
        sys.dont_write_bytecode = True  # no __pycache__ in the checkout
        import claims

        failures = claims.run_self_tests(snippet_tools())
        print("\n".join(failures) or f"drift: every self-test of tests/docs/claims.py flags its planted mistake ({len(claims.SELF_TESTS)} plants)", file=sys.stderr if failures else sys.stdout)
        return 1 if failures else 0
    if args:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    for check in CHECKS:
        check()
    if problems:
        for p in problems:
            print(f"DRIFT: {p}", file=sys.stderr)
        print(f"drift: {len(problems)} facts in docs/ differ from the code ({len(CHECKS)} checks, {len(BLOCKS)} generated blocks)", file=sys.stderr)
        return 1
    print(f"drift: docs/ match the code ({len(CHECKS)} checks, {len(BLOCKS)} generated blocks: {', '.join(BLOCKS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
