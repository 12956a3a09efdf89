#!/usr/bin/env python3
"""Every write into a directory obsctl owns is one the cleanup knows about.

ansible/roles/managed_dirs/vars/main.yml lists, per role, the directories
obsctl owns entirely: at the end of the role's configure step, the
managed_dirs role removes every file there that this run's tasks did not
write, and it knows what they wrote only from the results the role passes in
`managed_dirs_written`. A task that writes into an owned directory without
registering its result (or whose result is left out of that list) has its
file removed right after writing it, on every run: this broke the clustered
Alertmanager's gossip TLS file and Grafana's, Promtail's and Alloy's password
files once. This check reads every task of every listed role and fails on
such a write, naming role, file and task.

Paths are resolved from the role's defaults and vars (and obsctl's host TLS
and secrets directories, read from src/state/tls.rs); what stays a template
expression matches anything. The web_config role's own writes are its own
(the cleanup keeps what web_config registered).

  tests/static/managed_writes.py            the check
  tests/static/managed_writes.py --selftest the check must refuse each
                                            planted mistake (a regression guard)
"""
import copy
import fnmatch
import re
import sys
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "ansible" / "roles"
WRITERS = {"template", "copy", "file", "lineinfile", "blockinfile", "get_url", "unarchive", "assemble"}


def rust_const(name):
    text = (ROOT / "src" / "state" / "tls.rs").read_text()
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', text)
    if not m:
        sys.exit(f"managed_writes: {name} not found in src/state/tls.rs")
    return m.group(1)


def load_yaml(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


class Unknown(jinja2.ChainableUndefined):
    """What this check cannot know (facts, inventory, loop variables): any name."""

    def __str__(self):
        return "*"

    def __iter__(self):
        return iter(())


ENV = jinja2.Environment(undefined=Unknown)
ENV.filters.update({
    "basename": lambda p: str(p).rsplit("/", 1)[-1],
    "dirname": lambda p: str(p).rsplit("/", 1)[0] if "/" in str(p) else "",
    "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()] if isinstance(d, dict) else [],
    "bool": lambda v: str(v).lower() in ("true", "yes", "1"),
})


def role_vars(role):
    raw = {"obsctl_host_tls_dir": rust_const("HOST_TLS_DIR"), "obsctl_host_secrets_dir": rust_const("HOST_SECRETS_DIR")}
    for part in ("defaults", "vars"):
        raw.update(load_yaml(ROLES / role / part / "main.yml") or {})
    # Values that are templates themselves, rendered until they settle.
    for _ in range(5):
        raw = {k: render(v, raw) for k, v in raw.items()}
    return raw


def render(value, variables):
    """VALUE with every template rendered; what cannot be known becomes '*'."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    try:
        return ENV.from_string(value).render(variables).strip()
    except Exception:  # a filter or test this check does not model: unknown
        return "*"


def resolve(text, variables, item=None):
    out = render(text, dict(variables, **({"item": item} if item is not None else {})))
    return out if isinstance(out, str) else "*"


def tasks_of(node):
    """Every task in a task list, blocks flattened."""
    for task in node or []:
        if not isinstance(task, dict):
            continue
        if any(k in task for k in ("block", "rescue", "always")):
            for k in ("block", "rescue", "always"):
                yield from tasks_of(task.get(k))
        else:
            yield task


def module_of(task):
    for key, value in task.items():
        short = key.rsplit(".", 1)[-1]
        if short in WRITERS:
            return short, value if isinstance(value, dict) else {}
    return None, None


def inside(path, directory):
    """True when PATH lies strictly inside DIRECTORY ('*' in PATH: any name there)."""
    directory = directory.rstrip("/")
    return path.startswith(directory + "/") or fnmatch.fnmatch(path, directory + "/*") and path != directory


def destinations(task, dest, variables):
    """The paths a task writes: one per item of its loop when the loop is known, else one."""
    loop = task.get("loop", task.get("with_items"))
    items = render(loop, variables) if loop is not None else None
    if isinstance(items, str):  # a whole-loop template rendered to text: try it as a literal
        try:
            items = yaml.safe_load(items.replace("'", '"'))
        except yaml.YAMLError:
            items = None
    if isinstance(items, list) and items:
        return [resolve(dest, variables, i) for i in items]
    return [resolve(dest, variables)]


def owned_dirs(entry, variables):
    units = [resolve(u["name"], variables) for u in entry.get("units", [])]
    dirs = [resolve(d, variables) for d in entry.get("dirs", [])]
    if entry.get("web_config"):
        dirs += [f"{variables['obsctl_host_tls_dir']}/{entry['web_config']}", f"{variables['obsctl_host_secrets_dir']}/{entry['web_config']}"]
    for u in units:
        dirs += [f"/etc/systemd/system/{u}.service.d", f"/run/systemd/system/{u}.service.d"]
    return dirs


def written_list(tasks, role):
    """The names the role passes as managed_dirs_written (None: it never calls the cleanup)."""
    for task in tasks:
        inc = task.get("ansible.builtin.include_role") or task.get("include_role") or {}
        v = task.get("vars") or {}
        if isinstance(inc, dict) and inc.get("name") == "managed_dirs" and v.get("managed_dirs_of") == role:
            return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(v.get("managed_dirs_written", ""))))
    return None


def check(managed, role_tasks, unresolved=None):
    """The unregistered writes into owned directories; UNRESOLVED collects the
    destinations this check cannot place (fully templated ones: not checked)."""
    unresolved = [] if unresolved is None else unresolved
    problems = []
    for role, entry in managed.items():
        variables = role_vars(role)
        dirs = owned_dirs(entry, variables)
        files = role_tasks.get(role, {})
        all_tasks = [t for ts in files.values() for t in ts]
        written = written_list(all_tasks, role)
        if written is None:
            problems.append(f"{role}: listed in managed_dirs but never calls it (include_role managed_dirs with managed_dirs_of: {role})")
            continue
        for fname, tasks in files.items():
            for task in tasks:
                module, args = module_of(task)
                if not module or str(args.get("state", "")) == "absent":
                    continue
                dest = args.get("dest") or args.get("path")
                if not isinstance(dest, str):
                    continue
                paths = destinations(task, dest, variables)
                unresolved.extend(f"{role}: {dest}" for p in paths if p.startswith("*"))
                hit = [d for p in paths for d in dirs if inside(p, d)]
                if not hit:
                    continue
                name = task.get("name", "?")
                reg = task.get("register")
                if not reg:
                    problems.append(f"{role}: tasks/{fname}: '{name}' writes {dest} inside {hit[0]} (owned) without `register`: the cleanup removes it")
                elif reg not in written:
                    problems.append(f"{role}: tasks/{fname}: '{name}' registers {reg}, missing from managed_dirs_written: the cleanup removes {dest}")
    return problems


def load():
    managed = load_yaml(ROLES / "managed_dirs" / "vars" / "main.yml")["_managed_dirs"]
    role_tasks = {}
    for role in managed:
        role_tasks[role] = {p.name: list(tasks_of(load_yaml(p))) for p in sorted((ROLES / role / "tasks").glob("*.yml"))}
    return managed, role_tasks


def selftest(managed, role_tasks):
    """Each planted mistake must be refused; returns the number that were not."""
    missed = 0
    baseline = check(managed, role_tasks)

    def planted(label, mutate):
        nonlocal missed
        m, t = copy.deepcopy(managed), copy.deepcopy(role_tasks)
        mutate(m, t)
        found = [p for p in check(m, t) if p not in baseline]
        print(f"  {'refused' if found else 'MISSED '}: {label}" + (f" ({found[0]})" if found else ""))
        missed += 0 if found else 1

    def find(t, role, register):
        return next(task for ts in t[role].values() for task in ts if task.get("register") == register)

    def unregister(role, register):
        return lambda m, t: find(t, role, register).pop("register")

    def unlist(role, register):
        def mutate(m, t):
            for ts in t[role].values():
                for task in ts:
                    v = task.get("vars") or {}
                    if v.get("managed_dirs_of") == role:
                        v["managed_dirs_written"] = v["managed_dirs_written"].replace(register, "_other")
        return mutate

    planted("alertmanager's gossip TLS file not registered", unregister("alertmanager", "_alertmanager_cluster_tls"))
    planted("alertmanager's gossip TLS file left out of managed_dirs_written", unlist("alertmanager", "_alertmanager_cluster_tls"))
    planted("grafana's data source passwords left out", unlist("grafana", "_grafana_web_passwords"))
    planted("prometheus' drop-in not registered", unregister("prometheus", "_prometheus_dropin"))
    planted("a rules file written into /etc/prometheus/rules without register", lambda m, t: t["prometheus"]["configure.yml"].append(
        {"name": "planted", "ansible.builtin.copy": {"src": "x", "dest": "/etc/prometheus/rules/user.rules.yml"}}))
    return missed


def main():
    managed, role_tasks = load()
    if "--selftest" in sys.argv:
        missed = selftest(managed, role_tasks)
        print(f"managed_writes selftest: {5 - missed} refused, {missed} missed")
        return 1 if missed else 0
    unresolved = []
    problems = check(managed, role_tasks, unresolved)
    for u in sorted(set(unresolved)):
        print(f"  not placed (fully templated, not checked): {u}")
    for p in problems:
        print(f"FAIL: {p}")
    n = sum(len(ts) for r in role_tasks.values() for ts in r.values())
    print(f"managed_writes: {len(managed)} roles, {n} tasks read, {len(problems)} unregistered write(s) into owned directories")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
