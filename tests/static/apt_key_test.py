#!/usr/bin/env python3
"""Tests ansible/roles/grafana_apt/library/grafana_apt_key.py on keys made
here with gpg (one valid 10 days, one that never expires): its decision (when
Grafana's APT key is fetched again, when a download is refused), then the
module itself run by Ansible against a local HTTP server (fetch, idempotence,
refresh of an expiring key, refusal of another fingerprint, check mode).
Usage: apt_key_test.py [ANSIBLE_BIN_DIR] (needs gpg; the module runs only
when ansible is found). Prints a closing line, exits 1 on failure."""
import functools
import http.server
import importlib.util
import json
import threading
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

    # The module itself, through Ansible, against a local HTTP server.
    ansible = Path(sys.argv[1] if len(sys.argv) > 1 else Path(sys.executable).parent) / "ansible"
    served = Path(home) / "www"
    served.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/gpg-full.key"
    keyring = Path(home) / "keyrings" / "grafana.asc"
    keyring.parent.mkdir()

    def run(fingerprint, days, *extra):
        args = json.dumps({"path": str(keyring), "url": url, "fingerprint": fingerprint, "min_valid_days": days})
        env = dict(os.environ, ANSIBLE_LIBRARY=str(MODULE.parent), ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_HOME=str(Path(home) / "ansible"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                   ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        out = subprocess.run([str(ansible), "localhost", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                              "-m", "grafana_apt_key", "-a", args, *extra], env=env, capture_output=True, text=True)
        try:
            # minimal callback: "localhost | CHANGED => {...}"
            head, body = out.stdout.split("=>", 1)
            res = json.loads(body)
            res["failed"] = "FAILED" in head
        except (ValueError, IndexError):
            res = {"failed": True, "msg": out.stdout[-500:] + out.stderr[-500:]}
        return res

    if ansible.exists():
        (served / "gpg-full.key").write_bytes(short)
        r = run(short_fpr, 5, "--check")
        expect(r.get("changed") and not keyring.exists(), f"check mode: {r}")
        r = run(short_fpr, 5)
        expect(r.get("changed") and keyring.exists() and keyring.read_bytes() == short, f"first fetch: {r}")
        r = run(short_fpr, 5)
        expect(not r.get("changed") and not r.get("failed"), f"a current key is fetched again: {r}")
        (served / "gpg-full.key").write_bytes(never)
        r = run(short_fpr, 30)
        expect(r.get("failed") and "rotated" in r.get("msg", ""), f"another fingerprint is not refused: {r}")
        expect(keyring.exists() and keyring.read_bytes() == short, "a refused key replaced the keyring")
        r = run(never_fpr, 30)
        expect(r.get("changed") and keyring.exists() and keyring.read_bytes() == never, f"a key of the new pinned fingerprint: {r}")
        expect(keyring.exists() and keyring.stat().st_mode & 0o777 == 0o644, "the keyring is not 0644")
        server.shutdown()
        ran = 15
    else:
        expect(os.environ.get("CI") != "true", f"no {ansible}: the module was not run")
        print(f"apt_key_test: no {ansible}: the module itself was not run", file=sys.stderr)
        ran = 9

for f in failures:
    print(f"apt_key_test: {f}", file=sys.stderr)
print(f"apt_key_test: {ran - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
