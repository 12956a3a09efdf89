#!/usr/bin/env python3
"""Tests the decision of ansible/roles/grafana_apt/library/grafana_apt_key.py
(when Grafana's APT key is fetched again, when a download is refused) on
keys made here with gpg: one valid 10 days, one that never expires.
Usage: apt_key_test.py (needs gpg). Prints a closing line, exits 1 on failure."""
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "ansible/roles/grafana_apt/library/grafana_apt_key.py"
spec = importlib.util.spec_from_file_location("grafana_apt_key", MODULE)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


def make_key(home, uid, expire):
    env = dict(os.environ, GNUPGHOME=home)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign", expire],
                   env=env, check=True, capture_output=True)
    out = subprocess.run(["gpg", "--batch", "--armor", "--export", uid], env=env, check=True, capture_output=True).stdout
    fpr = next(line.split(":")[9] for line in subprocess.run(
        ["gpg", "--batch", "--with-colons", "--fingerprint", uid], env=env, check=True,
        capture_output=True, text=True).stdout.splitlines() if line.startswith("fpr:"))
    return out, fpr


failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


with tempfile.TemporaryDirectory() as home:
    os.chmod(home, 0o700)
    short, short_fpr = make_key(home, "short <short@example.com>", "10d")
    never, never_fpr = make_key(home, "never <never@example.com>", "never")
    info = mod.inspect(short)
    expect(info["fingerprint"] == short_fpr, f"fingerprint {info['fingerprint']} != {short_fpr}")
    expect(info["signing_until"] and 9 * 86400 < info["signing_until"] - time.time() < 11 * 86400,
           f"signing_until {info['signing_until']} is not ~10 days away")
    expect(mod.usable(info, short_fpr, 5) is None, "a key valid 10 days is refused with a 5-day margin")
    expect("can sign only until" in (mod.usable(info, short_fpr, 30) or ""),
           "a key valid 10 days is kept with a 30-day margin (it must be fetched again)")
    expect("not the pinned" in (mod.usable(info, never_fpr, 0) or ""), "a key of another fingerprint is accepted")
    expect(mod.usable(info, short_fpr.lower(), 5) is None, "the pinned fingerprint is case-sensitive")
    expect(mod.usable(mod.inspect(never), never_fpr, 3650) is None, "a key that never expires is refused")
    expect(mod.usable(mod.inspect(b"not a key"), short_fpr, 0) == "holds no OpenPGP key", "garbage is accepted")
    expect(mod.usable(info, short_fpr, 0, now=time.time() + 20 * 86400) is not None, "an expired key is accepted")

for f in failures:
    print(f"apt_key_test: {f}", file=sys.stderr)
print(f"apt_key_test: {9 - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
