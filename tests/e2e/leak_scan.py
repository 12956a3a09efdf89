#!/usr/bin/env python3
"""Leak scan: no secret obsctl generated or stored may appear where others can read it.

    leak_scan.py sample FILE        every 50 ms, append each new /proc/*/cmdline to FILE;
                                    start it in the background before `up`, it stops on
                                    SIGTERM or when its parent exits
    leak_scan.py scan --env ENV [--cmdlines FILE] [--stop PID] [--lab-root DIR]
                      [--host-root DIR]... [--root CHECKOUT]
    leak_scan.py --self-test        plants secrets in each place and expects the scan to fail

The secrets: every file under .obsctl/<env>/secrets/ (the receivers' and the
user scrape jobs' credentials among them: `scrape-<job>-password`,
`scrape-<job>-bearer_token`), every *.key under
.obsctl/<env>/tls/, and the environment's SSH private key. A text secret is
searched as it is (shorter than 8 characters: listed as not scanned); a PEM
key by each line of its base64 body (so a key found in JSON, with `\\n`
escapes, or cut into lines, is still found; the first line of an OpenSSH key
is the same in every key of its type and is left out).

The places, and what a finding there means:
  run log     any file under .obsctl/<env>/runs/ (every run's logs)
  cmdline     a process command line sampled during `up` (`sample` above;
              --stop PID ends that sampler and waits for its last samples)
  .obsctl     a file under .obsctl/ that others may read (mode o+r), but
              .obsctl/e2e (the test harness's record of what the receivers got)
  host        a file on a host that others may read (mode o+r), in /etc,
              /var/lib, /var/log, /var/tmp, /opt, /srv, /home, /root, /tmp,
              /run, /usr/local. Lab hosts are read from this machine: each
              running machine's root as its own processes see it
              (/proc/<init>/root, so its /run and /tmp too), else its overlay
              (<lab root>/envs/<env>/machines/<host>/merged). --host-root DIR
              scans DIR as one more host root.
  state       the Terraform state (terraform.tfstate* under .obsctl/<env>/)
              and the members of a saved plan (.obsctl/<env>/terraform.plan)

Prints how many secrets and files it scanned; never a secret's value, only
its file name. Exit 1 on any finding, or when there is nothing to scan (no
secret, or a sampler that sampled nothing); 2 on bad usage.
"""
from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST_TREES = ["etc", "var/lib", "var/log", "var/tmp", "opt", "srv", "home", "root", "tmp", "run", "usr/local"]
MIN_SECRET = 8
MAX_FILE = 64 << 20  # larger files are counted as skipped
SAMPLE_EVERY = 0.05


# --- the secrets ---------------------------------------------------------------

def needles_of(text: str) -> list[str]:
    """What to search for one secret file's content."""
    if "-----BEGIN " not in text:
        value = text.strip()
        return [value] if len(value) >= MIN_SECRET else []
    found, block, first = [], None, False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN "):
            block, first = line, True
        elif line.startswith("-----END "):
            block = None
        elif block and line and ":" not in line:  # body lines (not PEM headers)
            if not (first and "OPENSSH" in block) and len(line) >= 40:
                found.append(line)
            first = False
    return found


def collect_secrets(state: Path) -> tuple[dict[str, list[str]], list[str]]:
    """{relative name: needles}, and the names too short to scan."""
    files = []
    if (state / "secrets").is_dir():
        files += [p for p in sorted((state / "secrets").rglob("*")) if p.is_file()]
    if (state / "tls").is_dir():
        files += [p for p in sorted((state / "tls").rglob("*.key")) if p.is_file()]
    if (state / "ssh/id_ed25519").is_file():
        files.append(state / "ssh/id_ed25519")
    secrets, short = {}, []
    for f in files:
        name = str(f.relative_to(state))
        needles = needles_of(f.read_text(errors="replace"))
        if needles:
            secrets[name] = needles
        else:
            short.append(name)
    return secrets, short


# --- the places ------------------------------------------------------------------

class Scan:
    def __init__(self, secrets: dict[str, list[str]]):
        self.pairs = [(name, n.encode()) for name, ns in secrets.items() for n in ns]
        self.findings: list[str] = []
        self.counts: dict[str, int] = {}
        self.skipped: list[str] = []

    def data(self, place: str, where: str, data: bytes) -> None:
        self.counts[place] = self.counts.get(place, 0) + 1
        hits = sorted({name for name, needle in self.pairs if needle in data})
        for name in hits:
            self.findings.append(f"{place}: secret {name} found in {where}")

    def file(self, place: str, path: Path, where: str | None = None) -> None:
        try:
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                return
            if st.st_size > MAX_FILE:
                self.skipped.append(f"{where or path} ({st.st_size >> 20} MB)")
                return
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except OSError:
            return  # gone meanwhile (a tmp file, a socket's peer)
        self.data(place, str(where or path), data)

    def tree(self, place: str, top: Path, shown_as=None, others_only=True, skip=()) -> None:
        """Regular files under top (symlinks not followed, the folders in skip left out); only those others may read."""
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = [d for d in dirnames if Path(dirpath) / d not in skip]
            for fn in filenames:
                p = Path(dirpath) / fn
                try:
                    st = p.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or (others_only and not st.st_mode & stat.S_IROTH):
                    continue
                self.file(place, p, shown_as(p) if shown_as else None)


def machine_roots(lab_root: Path, env: str) -> dict[str, Path]:
    """Each lab machine's root as its processes see it (its init's /proc/PID/root), else its overlay."""
    roots = {}
    machines = lab_root / "envs" / env / "machines"
    for m in sorted(machines.iterdir()) if machines.is_dir() else []:
        if not (m / "merged").is_dir():
            continue
        root = m / "merged"
        try:
            nspawn = int((m / "pid").read_text())
            for pid in os.listdir("/proc"):
                if pid.isdigit() and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(nspawn):
                    root = Path(f"/proc/{pid}/root")
                    break
        except (OSError, ValueError, IndexError):
            pass
        roots[m.name] = root
    return roots


def scan_host(s: Scan, name: str, root: Path) -> None:
    for tree in HOST_TREES:
        top = root / tree
        if top.is_dir() and not top.is_symlink():
            s.tree("host", top, shown_as=lambda p, r=root: f"{name}:/{p.relative_to(r)}")


def scan_state(s: Scan, state: Path) -> None:
    for p in sorted(state.rglob("*.tfstate*")):
        if "runs" not in p.relative_to(state).parts:
            s.file("state", p)
    plan = state / "terraform.plan"
    if plan.is_file():
        try:
            with zipfile.ZipFile(plan) as z:
                for member in z.namelist():
                    s.data("state", f"{plan}:{member}", z.read(member))
        except zipfile.BadZipFile:
            s.file("state", plan)


def stop_sampler(pid: int, cmdlines: Path) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):  # its last line says how many samples it took
        if cmdlines.is_file() and cmdlines.read_bytes().rstrip().rsplit(b"\n", 1)[-1].startswith(b"#samples "):
            return
        time.sleep(0.05)


def scan(env: str, root: Path, cmdlines: Path | None, lab_root: Path, host_roots: list[Path]) -> int:
    obsctl = root / ".obsctl"
    state = obsctl / env
    secrets, short = collect_secrets(state)
    if not secrets:
        print(f"leak_scan: no secret under {state} (secrets/, tls/*.key, ssh/id_ed25519): is `{env}` deployed?", file=sys.stderr)
        return 1
    s = Scan(secrets)
    if (state / "runs").is_dir():
        s.tree("run log", state / "runs", others_only=False)
    samples = 0
    if cmdlines is not None:
        lines = cmdlines.read_bytes().split(b"\n") if cmdlines.is_file() else []
        samples = sum(int(l.split()[1]) for l in lines if l.startswith(b"#samples "))
        if samples == 0:
            print(f"leak_scan: the sampler wrote no samples to {cmdlines}", file=sys.stderr)
            return 1
        for l in lines:
            if l and not l.startswith(b"#samples "):
                # Named by its program only: the rest may be the secret.
                s.data("cmdline", f"the command line of a `{l.split(b' ')[0].decode(errors='replace')}` process", l)
    if obsctl.is_dir():
        # .obsctl/e2e is the test harness's own record (what the receivers got:
        # the lab's placeholder PagerDuty key is in every paging payload), not
        # something obsctl wrote.
        s.tree(".obsctl", obsctl, skip=(obsctl / "e2e",))
    hosts = machine_roots(lab_root, env)
    for i, r in enumerate(host_roots):
        hosts[f"host-root-{i}"] = r
    for name, r in hosts.items():
        scan_host(s, name, r)
    scan_state(s, state)

    print(f"leak_scan: {len(secrets)} secrets ({sum(len(n) for n in secrets.values())} search strings): {', '.join(secrets)}")
    if short:
        print(f"leak_scan: not scanned, shorter than {MIN_SECRET} characters: {', '.join(short)}")
    c = s.counts
    print(
        f"leak_scan: scanned {c.get('run log', 0)} run-log files, {c.get('cmdline', 0)} distinct command lines from "
        f"{samples} samples, {c.get('.obsctl', 0)} files under .obsctl/ readable by others, {c.get('host', 0)} files "
        f"readable by others on {len(hosts)} hosts ({', '.join(hosts) or 'none'}), {c.get('state', 0)} Terraform state files"
    )
    if s.skipped:
        print(f"leak_scan: {len(s.skipped)} files over {MAX_FILE >> 20} MB not read: {', '.join(s.skipped[:5])}")
    if s.findings:
        for f in sorted(set(s.findings)):
            print(f"LEAK: {f}", file=sys.stderr)
        print(f"leak_scan: {len(set(s.findings))} leaks (values not shown; the secret's file names it)", file=sys.stderr)
        return 1
    print("leak_scan: no secret found in any of them")
    return 0


# --- the sampler ------------------------------------------------------------------

def sample(out: Path) -> int:
    parent, me = os.getppid(), os.getpid()
    seen: set[bytes] = set()
    n = 0
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    with open(out, "ab", buffering=0) as f:
        os.chmod(out, 0o600)
        while not stop and os.getppid() == parent:
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == me:
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        line = c.read().replace(b"\0", b" ").replace(b"\n", b" ").strip()
                except OSError:
                    continue
                if line and line not in seen:
                    seen.add(line)
                    f.write(line + b"\n")
            n += 1
            time.sleep(SAMPLE_EVERY)
        f.write(b"#samples %d\n" % n)
    return 0


# --- self-test: each place must make the scan fail ---------------------------------

def self_test() -> int:
    import subprocess

    ok = True
    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        state = t / "checkout/.obsctl/dev"
        for d in ["secrets", "tls/hosts", "ssh", "runs/20260101T000000-up"]:
            (state / d).mkdir(parents=True)
        password = "Zq8vN3kLwP2xR7tY5uJ1mC4bH6gF9dSa"
        (state / "secrets/web_obsctl_password").write_text(password + "\n")
        (state / "secrets/grafana_db_password.version").write_text("1\n")
        for f in (state / "secrets").iterdir():
            f.chmod(0o600)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(state / "ssh/id_ed25519")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-m", "PKCS8", "-f", str(state / "tls/hosts/mon-1.key")], check=True)
        key_pem = (state / "tls/hosts/mon-1.key").read_text()
        ssh_key = (state / "ssh/id_ed25519").read_text()
        log = state / "runs/20260101T000000-up/ansible.log"
        log.write_text("TASK [web_config : Write the password file] ok: [mon-1]\n")
        (state / "inventory.json").write_text('{"obsctl_web_users": {"obsctl": {"bcrypt": "$2b$12$abc"}}}')
        (state / "inventory.json").chmod(0o644)
        host = t / "host"
        (host / "etc/obsctl/secrets").mkdir(parents=True)
        private = host / "etc/obsctl/secrets/obsctl_password"
        private.write_text(password)
        private.chmod(0o400)  # the secret where it belongs: readable by its owner only
        (state / "terraform.tfstate").write_text('{"version": 4, "outputs": {}}')
        cmdlines = t / "cmdlines"
        cmdlines.write_text("/usr/bin/ssh -o BatchMode=yes root@10.77.0.10 true\n#samples 3\n")
        lab = t / "lab"

        def run(case: str, want: int, plant=None, undo=None, needle: str = "") -> None:
            nonlocal ok
            if plant:
                plant()
            out = subprocess.run(
                [sys.executable, __file__, "scan", "--env", "dev", "--root", str(t / "checkout"), "--cmdlines", str(cmdlines),
                 "--lab-root", str(lab), "--host-root", str(host)],
                capture_output=True, text=True,
            )
            if undo:
                undo()
            text = out.stdout + out.stderr
            if out.returncode != want or needle not in text or password in text:
                print(f"leak_scan: self-test: {case}: exit {out.returncode} (expected {want}), output:\n{text}", file=sys.stderr)
                ok = False
            else:
                print(f"leak_scan: self-test: {case}: exit {out.returncode} as expected")

        def restore(path: Path, text: str, mode: int = 0o600):
            return lambda: (path.write_text(text), path.chmod(mode))

        run("clean tree", 0, needle="3 secrets")
        run("password in a run log", 1, lambda: log.write_text(f"changed: [mon-1] => (item=password={password})\n"),
            restore(log, "ok\n"), "run log: secret secrets/web_obsctl_password found in")
        run("TLS key JSON-escaped in a run log", 1, lambda: log.write_text('{"content": "' + key_pem.replace("\n", "\\n") + '"}'),
            restore(log, "ok\n"), "secret tls/hosts/mon-1.key found in")
        run("SSH private key in a run log", 1, lambda: log.write_text(ssh_key), restore(log, "ok\n"), "secret ssh/id_ed25519")
        run("password on a command line", 1, lambda: cmdlines.write_text(f"htpasswd -b f obsctl {password}\n#samples 3\n"),
            restore(cmdlines, "#samples 3\n"), "cmdline: secret secrets/web_obsctl_password")
        run("no samples from the sampler", 1, lambda: cmdlines.write_text(""), restore(cmdlines, "#samples 3\n"), "no samples")
        readable = state / "secrets/web_obsctl_password"
        run("a secret file under .obsctl/ readable by others", 1, lambda: readable.chmod(0o644),
            lambda: readable.chmod(0o600), ".obsctl: secret secrets/web_obsctl_password")
        leaked = host / "etc/prometheus/web.yml"
        run("password in a world-readable file on a host", 1,
            lambda: (leaked.parent.mkdir(parents=True, exist_ok=True), leaked.write_text(f"password: {password}\n"), leaked.chmod(0o644)),
            lambda: leaked.chmod(0o600), "host: secret secrets/web_obsctl_password found in host-root-0:/etc/prometheus/web.yml")
        run("the same file readable by its owner only", 0)
        run("password in the Terraform state", 1,
            lambda: (state / "terraform.tfstate").write_text(f'{{"outputs": {{"p": "{password}"}}}}'),
            restore(state / "terraform.tfstate", "{}"), "state: secret secrets/web_obsctl_password")
        def plan():
            with zipfile.ZipFile(state / "terraform.plan", "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("tfplan", f"variables grafana_db_password={password}")
        run("password in a saved plan", 1, plan, lambda: (state / "terraform.plan").unlink(), "terraform.plan:tfplan")
        for f in (state / "secrets").iterdir():
            f.unlink()
        (state / "tls/hosts/mon-1.key").unlink()
        (state / "ssh/id_ed25519").unlink()
        run("nothing to scan", 1, needle="no secret under")
    print("leak_scan: self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["--self-test"]:
        return self_test()
    if argv[:1] == ["sample"] and len(argv) == 2:
        return sample(Path(argv[1]))
    if argv[:1] == ["scan"]:
        opts: dict[str, list[str]] = {}
        rest = argv[1:]
        while rest:
            if len(rest) < 2 or rest[0] not in ("--env", "--cmdlines", "--stop", "--lab-root", "--host-root", "--root"):
                break
            opts.setdefault(rest[0], []).append(rest[1])
            rest = rest[2:]
        if not rest and "--env" in opts:
            cmdlines = Path(opts["--cmdlines"][0]) if "--cmdlines" in opts else None
            if "--stop" in opts and cmdlines:
                stop_sampler(int(opts["--stop"][0]), cmdlines)
            return scan(
                opts["--env"][0],
                Path(opts.get("--root", [str(ROOT)])[0]),
                cmdlines,
                Path(opts.get("--lab-root", [os.environ.get("LAB_ROOT", "/var/lib/obsctl/lab")])[0]),
                [Path(p) for p in opts.get("--host-root", [])],
            )
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
