#!/usr/bin/env python3
"""Checks Alloy configuration files against Alloy's syntax (alloy_syntax.py)
and its component reference (reference.json, of the version the alloy role
pins): every top-level block is a configuration block or a labelled
component, every nested block and argument is one the reference lists,
required arguments are there, listed values are allowed ones, and every
reference to another component (e.g. loki.write.loki.receiver) names one in
the file and a field it exports. A regression guard (Alloy cannot be
installed here), said to be one in reference.json.

    check.py FILE...          exit 1 and one line per problem if any
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alloy_syntax import AlloySyntaxError, Attribute, Block, Call, Op, Ref, parse  # noqa: E402

REFERENCE = json.loads((Path(__file__).resolve().parent / "reference.json").read_text())
# Functions of the standard library a configuration may call (none used today).
FUNCTIONS = {"env", "json_decode", "yaml_decode", "concat", "format", "join", "split", "coalesce", "constants",
             "sys.env", "encoding.from_json", "encoding.from_yaml", "string.format", "string.join", "array.concat"}


def refs(value) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in refs(v)]
    if isinstance(value, Op):
        return [r for v in value.operands for r in refs(v)]
    if isinstance(value, Call):
        return [r for v in value.args for r in refs(v)]
    return []


def check_body(where: str, block: Block, spec: dict, problems: list[str]):
    allowed = set(spec.get("arguments", []))
    nested = spec.get("blocks", {})
    seen = set()
    for s in block.body:
        if isinstance(s, Attribute):
            if s.name not in allowed:
                problems.append(f"{where}: line {s.line}: unknown argument {s.name!r}; "
                                f"allowed: {', '.join(sorted(allowed)) or 'none'}")
            if s.name in seen:
                problems.append(f"{where}: line {s.line}: argument {s.name!r} given twice")
            seen.add(s.name)
            values = spec.get("values", {}).get(s.name)
            if values and isinstance(s.value, str) and s.value not in values:
                problems.append(f"{where}: line {s.line}: {s.name} = {s.value!r}; allowed: {', '.join(values)}")
        else:
            if s.name not in nested:
                problems.append(f"{where}: line {s.line}: unknown block {s.name!r}; "
                                f"allowed: {', '.join(sorted(nested)) or 'none'}")
            elif s.label is not None:
                problems.append(f"{where}: line {s.line}: block {s.name!r} takes no label")
            else:
                check_body(f"{where} > {s.name}", s, nested[s.name], problems)
    for r in spec.get("required", []):
        if r not in seen:
            problems.append(f"{where}: line {block.line}: required argument {r!r} missing")


def check_text(text: str, name: str = "config.alloy") -> list[str]:
    try:
        statements = parse(text)
    except AlloySyntaxError as e:
        return [f"{name}: syntax: {e}"]
    problems: list[str] = []
    components: dict[str, str] = {}  # "loki.write.loki" -> "loki.write"
    blocks_seen: set[str] = set()
    for s in statements:
        if isinstance(s, Attribute):
            problems.append(f"{name}: line {s.line}: attribute {s.name!r} outside any block")
            continue
        where = f"{name}: {s.name}" + (f" {s.label!r}" if s.label else "")
        if s.name in REFERENCE["config_blocks"]:
            if s.label is not None:
                problems.append(f"{where}: line {s.line}: the {s.name} block takes no label")
            if s.name in blocks_seen:
                problems.append(f"{where}: line {s.line}: the {s.name} block may appear once")
            blocks_seen.add(s.name)
            check_body(where, s, REFERENCE["config_blocks"][s.name], problems)
        elif s.name in REFERENCE["components"]:
            if s.label is None:
                problems.append(f"{where}: line {s.line}: component {s.name} needs a label")
                continue
            key = f"{s.name}.{s.label}"
            if key in components:
                problems.append(f"{where}: line {s.line}: component {key} defined twice")
            components[key] = s.name
            check_body(where, s, REFERENCE["components"][s.name], problems)
        else:
            problems.append(f"{where}: line {s.line}: unknown component or block {s.name!r} "
                            f"(not in Alloy {REFERENCE['version']}'s reference, tests/static/alloy/reference.json)")
    # References between components: an exported field of a component of the file.
    def walk(block: Block, where: str):
        for s in block.body:
            if isinstance(s, Attribute):
                for r in refs(s.value):
                    if len(r.path) == 1:
                        problems.append(f"{where}: line {s.line}: {s.name}: unknown identifier {r.path[0]!r}")
                        continue
                    target = next((k for k in components if r.dotted().startswith(k + ".")), None)
                    if target is None:
                        problems.append(f"{where}: line {s.line}: {s.name}: {r.dotted()} names no component of this file")
                        continue
                    export = r.dotted()[len(target) + 1:]
                    exports = REFERENCE["components"][components[target]].get("exports", [])
                    if export not in exports:
                        problems.append(f"{where}: line {s.line}: {s.name}: {components[target]} exports "
                                        f"{', '.join(exports) or 'nothing'}, not {export!r}")
            else:
                walk(s, f"{where} > {s.name}")
    for s in statements:
        if isinstance(s, Block):
            walk(s, f"{name}: {s.name}" + (f" {s.label!r}" if s.label else ""))
    return problems


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    problems = [p for path in paths for p in check_text(Path(path).read_text(), path)]
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"alloy check: {len(paths)} file(s) valid against Alloy {REFERENCE['version']}'s syntax and reference")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
