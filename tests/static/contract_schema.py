#!/usr/bin/env python3
"""Validates inventory contracts against docs/contract.schema.json.

    contract_schema.py FILE...                  each FILE: a bare contract, a stack's
                                                `terraform output -json`, or a deployment.json
    contract_schema.py --terraform STATE PROVIDER
                                                the real `terraform output -json obsctl_inventory`
                                                of an environment obsctl applied (STATE = .obsctl/<env>)
    contract_schema.py --self-test              the schema accepts the fixtures and refuses
                                                what obsctl refuses

Needs python3-jsonschema (tests/setup.sh installs it). Exit 1 on any violation.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs/contract.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def contract_of(doc: dict) -> dict:
    if "obsctl_inventory" in doc:
        return doc["obsctl_inventory"]["value"]
    if "contract" in doc and "format" in doc:
        return doc["contract"]
    return doc


def errors(contract: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in VALIDATOR.iter_errors(contract)]


def check(name: str, contract: dict) -> bool:
    problems = errors(contract)
    for p in problems:
        print(f"contract_schema: {name}: {p}", file=sys.stderr)
    if not problems:
        print(f"contract_schema: {name}: valid ({len(contract['hosts'])} hosts)")
    return not problems


def terraform_output(state: Path, provider: str) -> dict:
    # Absolute: Terraform resolves TF_DATA_DIR inside the -chdir directory.
    state = state.resolve()
    env = dict(os.environ, TF_DATA_DIR=str(state / "terraform"), TF_IN_AUTOMATION="1")
    run = subprocess.run(
        ["terraform", f"-chdir={state / 'stack/stacks' / provider}", "output", "-no-color", "-json", "obsctl_inventory"],
        env=env, capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.exit(f"contract_schema: `terraform output -json obsctl_inventory` in {state} failed:\n{run.stderr.strip()}")
    return json.loads(run.stdout)


def self_test() -> bool:
    ok = True
    good = json.loads((ROOT / "tests/static/contracts/dev.json").read_text())
    ok &= check("tests/static/contracts/dev.json", good)
    ok &= check("tests/fixtures/inventory.json", json.loads((ROOT / "tests/fixtures/inventory.json").read_text()))
    refused = {
        "schema 2": lambda c: c.update(schema=2),
        "extra top-level key": lambda c: c.update(version=1),
        "no hosts": lambda c: c.update(hosts={}),
        "unknown role": lambda c: c["hosts"]["app-1"].update(roles=["nginx"]),
        "bad address": lambda c: c["hosts"]["mon-1"].update(address="10.77.0.300"),
        "port 0": lambda c: c["hosts"]["mon-1"].update(ssh_port=0),
        "missing ssh_user": lambda c: c["hosts"]["mon-1"].pop("ssh_user"),
        "extra host field": lambda c: c["hosts"]["mon-1"].update(zone="a"),
        "label not a string": lambda c: c["hosts"]["mon-1"].update(labels={"n": 1}),
        "no bastion key": lambda c: c["ssh"].pop("bastion"),
        "host key with a comment": lambda c: c["hosts"]["mon-1"].update(ssh_host_key=c["hosts"]["mon-1"]["ssh_host_key"] + " root@mon-1"),
        "host key of type ssh-dss": lambda c: c["hosts"]["mon-1"].update(ssh_host_key="ssh-dss AAAAB3NzaC1kc3M="),
        "bastion host key with a comment": lambda c: c["ssh"].update(
            bastion="root@10.77.0.9", bastion_host_key=c["hosts"]["mon-1"]["ssh_host_key"] + " root@bastion"),
    }
    # The lab's bastion with its published key (issue 32) is a good contract.
    with_bastion = copy.deepcopy(good)
    with_bastion["ssh"].update(bastion="root@10.77.0.9", bastion_host_key=good["hosts"]["mon-1"]["ssh_host_key"])
    ok &= check("dev.json with a bastion and its host key", with_bastion)
    for case, change in refused.items():
        c = copy.deepcopy(good)
        change(c)
        if not errors(c):
            print(f"contract_schema: self-test: the schema accepts a contract with {case}", file=sys.stderr)
            ok = False
    if ok:
        print(f"contract_schema: self-test: {len(refused)} broken contracts refused")
    return ok


def main(argv: list[str]) -> int:
    if argv[:1] == ["--self-test"]:
        return 0 if self_test() else 1
    if argv[:1] == ["--terraform"] and len(argv) == 3:
        state, provider = Path(argv[1]), argv[2]
        return 0 if check(f"terraform output of {state} ({provider})", terraform_output(state, provider)) else 1
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    ok = True
    for f in argv:
        ok &= check(f, contract_of(json.loads(Path(f).read_text())))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
