#!/usr/bin/python
# Managed by obsctl. Keeps the signing key of Grafana's APT repository fresh.
"""Ansible module grafana_apt_key.

Keeps an ASCII-armoured APT keyring (signed-by file) current: fetches it again
when it is missing, when its primary key has another fingerprint than the
pinned one, or when none of its signing keys stays valid for min_valid_days.
A downloaded key whose fingerprint differs from the pinned one, or that cannot
sign either, is refused with a message saying what to do: a stale key makes
apt keep the old index files with only a warning, so the failure must be loud.

Also importable (inspect(), decide()) by tests/static/apt_key_test.py.
"""

import os
import shutil
import subprocess
import tempfile
import time

DOCUMENTATION = r"""
module: grafana_apt_key
short_description: Keep the signing key of Grafana's APT repository fresh
options:
  path: {type: path, required: true, description: The keyring (signed-by file).}
  url: {type: str, required: true, description: Where Grafana publishes the key.}
  fingerprint: {type: str, required: true, description: Pinned fingerprint of the primary key.}
  min_valid_days: {type: int, default: 30, description: Fetch again when no signing key stays valid this long.}
  timeout: {type: int, default: 30, description: Download timeout in seconds.}
"""


def inspect(data, gpg="gpg"):
    """Reads an OpenPGP key (armoured or binary) with gpg --show-keys.

    Returns {'fingerprint': primary key fingerprint or None,
             'signing_until': epoch seconds until which some usable signing
                              key is valid (0: none, None: never expires)}."""
    home = tempfile.mkdtemp(prefix="grafana-apt-key-")
    try:
        run = subprocess.run(
            [gpg, "--homedir", home, "--batch", "--no-autostart", "--show-keys",
             "--with-colons", "--fixed-list-mode"],
            input=data, capture_output=True, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    fingerprint, last, until = None, None, 0
    for line in run.stdout.decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if f[0] in ("pub", "sub"):
            last = f[0]
            validity, expires, caps = f[1], f[6], (f[11] if len(f) > 11 else "")
            if validity in ("e", "r", "i", "d") or "s" not in caps:
                continue
            if not expires:
                until = None
            elif until is not None:
                until = max(until, int(expires))
        elif f[0] == "fpr" and last == "pub" and fingerprint is None:
            fingerprint = f[9].upper()
    if fingerprint is None:
        until = 0
    return {"fingerprint": fingerprint, "signing_until": until}


def usable(info, fingerprint, min_valid_days, now=None):
    """Why a key is not fit (a sentence), or None when it is."""
    now = time.time() if now is None else now
    want = fingerprint.replace(" ", "").upper()
    if info["fingerprint"] is None:
        return "holds no OpenPGP key"
    if info["fingerprint"] != want:
        return f"has fingerprint {info['fingerprint']}, not the pinned {want}"
    until = info["signing_until"]
    if until is not None and until < now + min_valid_days * 86400:
        when = time.strftime("%Y-%m-%d", time.gmtime(until)) if until else "never"
        return f"can sign only until {when} (less than {min_valid_days} days from now)"
    return None


def main():
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.urls import fetch_url

    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            url=dict(type="str", required=True),
            fingerprint=dict(type="str", required=True),
            min_valid_days=dict(type="int", default=30),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    gpg = module.get_bin_path("gpg", required=True)
    current = None
    if os.path.isfile(p["path"]):
        with open(p["path"], "rb") as f:
            current = f.read()
    reason = usable(inspect(current, gpg), p["fingerprint"], p["min_valid_days"]) if current else "is missing"
    if reason is None:
        module.exit_json(changed=False, fingerprint=p["fingerprint"], msg=f"{p['path']} is current")

    resp, info = fetch_url(module, p["url"], timeout=p["timeout"])
    if info.get("status") != 200:
        module.fail_json(msg=f"The keyring {p['path']} {reason}, and fetching {p['url']} failed: "
                             f"{info.get('status')} {info.get('msg')}. Check that the host reaches "
                             f"{p['url']} (proxy, firewall), then run the command again.")
    data = resp.read()
    new_reason = usable(inspect(data, gpg), p["fingerprint"], 0)
    if new_reason is not None:
        module.fail_json(msg=(
            f"The keyring {p['path']} {reason}, and the key Grafana publishes at {p['url']} {new_reason}. "
            "If Grafana rotated its APT signing key, check the announcement on https://apt.grafana.com, "
            "then set grafana_apt_key_fingerprint to the new fingerprint (ansible/roles/grafana_apt/defaults/main.yml)."))
    if data == current:
        module.warn(f"Grafana's APT key {reason}, and Grafana publishes no newer key yet: "
                    "apt will refuse the repository once it expires")
        module.exit_json(changed=False, fingerprint=p["fingerprint"], msg=f"{p['path']} {reason}; no newer key")
    if not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p["path"]), prefix=".grafana-key-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, p["path"])
    module.exit_json(changed=True, fingerprint=p["fingerprint"], msg=f"{p['path']} {reason}: fetched again")


if __name__ == "__main__":
    main()
