#!/usr/bin/env python3
"""Static checks of the Grafana dashboards shipped by the grafana role.

Usage:
  dashboards.py                 check every dashboard, exit 1 on any problem
  dashboards.py --list-promql   print the PromQL queries, one JSON object a line
  dashboards.py --list-logql    print the LogQL (Loki) queries, one JSON object a line

Checks, for every ansible/roles/grafana/files/dashboards/*.json:
  * valid JSON with uid, title, schemaVersion and panels; uids unique;
  * every datasource reference (panel, target, template variable) is an
    object {"type", "uid"} whose uid is provisioned by the role's
    templates/datasources.yaml.j2 with the same type;
  * every Grafana variable used in a query is a built-in interval or a
    template variable of the dashboard, and custom variables only appear as
    the right-hand side of a regex matcher (=~"$var"), where ".*" stands in;
  * every PromQL expression (and the selector of label_values() variables)
    parses: they are written as recording rules into a temporary file that
    `promtool check rules` reads;
  * every LogQL expression starts with a stream selector.

--list-promql prints {"dashboard", "dashboard_title", "panel", "ref_id",
"expr", "jobs"} per PromQL query, with the variables substituted so that the
expression runs as is against Prometheus (custom variables match all,
$__rate_interval and $__interval are 1m, $__range 1h). "jobs" lists the
Prometheus jobs whose metrics the query reads (an end-to-end test skips a
query when one of them has no target in the environment).

Needs Python 3 (stdlib only) and promtool on PATH for the PromQL parse.
"""

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "ansible" / "roles" / "grafana"
DASHBOARDS = ROLE / "files" / "dashboards"
DATASOURCES_TEMPLATE = ROLE / "templates" / "datasources.yaml.j2"

# Values that make a query with Grafana's built-in variables valid PromQL.
BUILTIN = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__auto": "1m",
}
# Metric name prefix -> Prometheus job that exposes it.
JOB_OF_PREFIX = {
    "orders_": "orders-api",
    "node_": "node",
    "prometheus_": "prometheus",
    "alertmanager_": "alertmanager",
    # Alloy's loki.write metrics first: the longest prefix wins.
    "loki_write_": "alloy",
    "loki_": "loki",
    "grafana_": "grafana",
}
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# Custom variables may only appear inside a regex matcher: label=~"...$var...".
REGEX_MATCHER_RE = re.compile(r'=~"[^"]*"')


def provisioned_datasources():
    """{uid: type} from the datasources template (uid/type lines per entry)."""
    text = DATASOURCES_TEMPLATE.read_text()
    result = {}
    for block in re.split(r"\n\s*- name:", text)[1:]:
        uid = re.search(r"^\s*uid:\s*(\S+)\s*$", block, re.M)
        dstype = re.search(r"^\s*type:\s*(\S+)\s*$", block, re.M)
        if uid and dstype:
            result[uid.group(1)] = dstype.group(1)
    return result


def walk_panels(panels):
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))


def substitute(expr, variables):
    """Replaces Grafana variables; returns (expr, problems)."""
    problems = []
    # Custom variables: only inside =~"..."; replace them there with .*
    def in_matcher(m):
        return VAR_RE.sub(lambda v: ".*" if (v.group(1) or v.group(2)) in variables else v.group(0), m.group(0))

    expr = REGEX_MATCHER_RE.sub(in_matcher, expr)

    def builtin(v):
        name = v.group(1) or v.group(2)
        if name in BUILTIN:
            return BUILTIN[name]
        if name in variables:
            problems.append(f"variable ${name} used outside a regex matcher (=~\"...\")")
        else:
            problems.append(f"unknown variable ${name}")
        return v.group(0)

    expr = VAR_RE.sub(builtin, expr)
    return expr, problems


def jobs_of(expr):
    jobs = set()
    stripped = re.sub(r'"[^"]*"', '""', expr)
    for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        prefix = max((p for p in JOB_OF_PREFIX if token.startswith(p)), key=len, default=None)
        if prefix:
            jobs.add(JOB_OF_PREFIX[prefix])
    jobs.update(re.findall(r'\bjob="([^"]+)"', expr))
    return sorted(jobs)


def collect(paths):
    """Returns (dashboards, queries, problems). A query is a dict with
    dashboard, dashboard_title, panel, ref_id, expr (substituted), kind
    (promql|logql|label_values) and raw."""
    datasources = provisioned_datasources()
    problems, queries, dashboards, uids = [], [], [], {}
    if not datasources:
        problems.append(f"{DATASOURCES_TEMPLATE}: no data source uid/type found")
    for path in paths:
        name = path.name
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            problems.append(f"{name}: invalid JSON: {e}")
            continue
        dashboards.append(dash)
        for key in ("uid", "title", "schemaVersion", "panels"):
            if key not in dash:
                problems.append(f"{name}: missing {key}")
        uid = dash.get("uid")
        if uid in uids:
            problems.append(f"{name}: uid {uid} already used by {uids[uid]}")
        uids[uid] = name
        title = dash.get("title", name)
        variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}

        def check_ds(ref, where):
            if not isinstance(ref, dict):
                problems.append(f"{name}: {where}: datasource must be an object {{type, uid}}, got {ref!r}")
                return None
            if ref.get("type") == "grafana" or ref.get("uid") in ("-- Grafana --", "-- Dashboard --", "-- Mixed --"):
                return ref.get("type")
            uid_ = ref.get("uid")
            if uid_ not in datasources:
                problems.append(f"{name}: {where}: datasource uid {uid_!r} is not provisioned "
                                f"(known: {', '.join(sorted(datasources))})")
            elif datasources[uid_] != ref.get("type"):
                problems.append(f"{name}: {where}: datasource {uid_} has type {datasources[uid_]}, "
                                f"not {ref.get('type')}")
            return ref.get("type")

        for annotation in dash.get("annotations", {}).get("list", []):
            if "datasource" in annotation:
                check_ds(annotation["datasource"], f"annotation {annotation.get('name')}")

        for var in dash.get("templating", {}).get("list", []):
            where = f"variable ${var.get('name')}"
            if "datasource" in var:
                check_ds(var["datasource"], where)
            if var.get("type") != "query":
                continue
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query", "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query or "")
            if not m:
                problems.append(f"{name}: {where}: query {query!r} is not label_values(selector, label)")
                continue
            expr, subst_problems = substitute(m.group(1), variables)
            problems += [f"{name}: {where}: {p}" for p in subst_problems]
            queries.append({"dashboard": uid, "dashboard_title": title, "panel": where, "ref_id": "",
                            "expr": expr, "kind": "label_values", "raw": query})

        titles = set()
        for panel in walk_panels(dash.get("panels")):
            if panel.get("type") == "row":
                continue
            ptitle = panel.get("title", f"panel {panel.get('id')}")
            if ptitle in titles:
                problems.append(f"{name}: panel title {ptitle!r} is used twice (titles name the queries)")
            titles.add(ptitle)
            panel_type = None
            if "datasource" in panel:
                panel_type = check_ds(panel["datasource"], f"panel {ptitle!r}")
            if not panel.get("targets"):
                problems.append(f"{name}: panel {ptitle!r} has no targets")
            for target in panel.get("targets", []):
                where = f"panel {ptitle!r} target {target.get('refId')}"
                ttype = check_ds(target["datasource"], where) if "datasource" in target else panel_type
                raw = target.get("expr")
                if not raw:
                    problems.append(f"{name}: {where}: no expr")
                    continue
                expr, subst_problems = substitute(raw, variables)
                problems += [f"{name}: {where}: {p}" for p in subst_problems]
                kind = {"prometheus": "promql", "loki": "logql"}.get(ttype)
                if kind is None:
                    problems.append(f"{name}: {where}: unsupported datasource type {ttype!r}")
                    continue
                if kind == "logql" and not re.match(r"\s*(\w+\s*(by|without)?\s*(\([^)]*\))?\s*\()*\s*\w*\s*\(?\s*\{", expr):
                    problems.append(f"{name}: {where}: LogQL does not start with a stream selector: {raw!r}")
                queries.append({"dashboard": uid, "dashboard_title": title, "panel": ptitle,
                                "ref_id": target.get("refId", ""), "expr": expr, "kind": kind, "raw": raw})
    return dashboards, queries, problems


def promtool_check(queries):
    """Parses every PromQL expression with promtool; returns problems."""
    promtool = shutil.which("promtool")
    if not promtool:
        return ["promtool not found on PATH (apt-get install -y prometheus)"]
    # One group per query so that promtool's error names the query.
    groups = []
    for i, q in enumerate(queries):
        groups.append({
            "name": f"#{i} {q['dashboard']} / {q['panel']} / {q['ref_id']}",
            "rules": [{"record": f"dashboard_query:check:{i}", "expr": q["expr"]}],
        })
    with tempfile.NamedTemporaryFile("w", suffix=".rules.json", delete=False) as f:
        json.dump({"groups": groups}, f)  # JSON is YAML
        path = f.name
    try:
        run = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    finally:
        Path(path).unlink()
    if run.returncode != 0:
        return [f"promtool check rules: {line}" for line in (run.stdout + run.stderr).splitlines()
                if line.strip() and not line.startswith("Checking ")]
    return []


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list-promql", action="store_true", help="print PromQL queries as JSON lines")
    mode.add_argument("--list-logql", action="store_true", help="print LogQL queries as JSON lines")
    parser.add_argument("dashboards", nargs="*", type=Path,
                        help=f"dashboard files (default: {DASHBOARDS.relative_to(ROOT)}/*.json)")
    args = parser.parse_args()
    paths = args.dashboards or sorted(DASHBOARDS.glob("*.json"))
    if not paths:
        print(f"dashboards.py: no dashboards in {DASHBOARDS}", file=sys.stderr)
        return 1
    dashboards, queries, problems = collect(paths)

    if args.list_promql or args.list_logql:
        kinds = {"promql"} if args.list_promql else {"logql"}
        for q in queries:
            if q["kind"] in kinds:
                print(json.dumps({"dashboard": q["dashboard"], "dashboard_title": q["dashboard_title"],
                                  "panel": q["panel"], "ref_id": q["ref_id"], "expr": q["expr"],
                                  "jobs": jobs_of(q["expr"])}, ensure_ascii=False))
        if problems:
            for p in problems:
                print(f"dashboards.py: {p}", file=sys.stderr)
            return 1
        return 0

    problems += promtool_check([q for q in queries if q["kind"] in ("promql", "label_values")])
    for p in problems:
        print(f"dashboards.py: {p}", file=sys.stderr)
    counts = {k: sum(1 for q in queries if q["kind"] == k) for k in ("promql", "label_values", "logql")}
    status = "FAILED" if problems else "ok"
    print(f"dashboards.py: {status}: {len(dashboards)} dashboards, {counts['promql']} PromQL queries, "
          f"{counts['label_values']} variable queries, {counts['logql']} LogQL queries, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
