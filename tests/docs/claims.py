"""The widened docs checks of tests/docs/drift.py: claims the docs make that
the code, a real run of obsctl, or the docs themselves contradict.

Every check is a pure function `check(pages, ctx) -> [problem]`: `pages`
maps a page's path (e.g. "docs/flows.md") to its Markdown, `ctx` holds the
facts drift.py gathered (registry ports, repository files, what a sandboxed
`obsctl inventory --contract` wrote, …). drift.py runs each one on the real
docs, and first on SELF_TESTS: for every check, pages with its kind of
mistake planted, which it must flag (and a clean page it must not), so a
check that silently stopped matching fails the run too.

- urls: a URL or `host:port` in a code block, code span or diagram to a
  registry port over plain HTTP (`http://`, `curl host:port`, `HTTP :3000`,
  a ports table's `TCP, HTTP`), prose saying a component is reached over
  HTTP, and a port that is neither in the component registry nor one of the
  few outside ports obsctl's docs may name (EXTRA_PORTS);
- paths: a repository path the docs name exists (git ls-files); a path under
  `.obsctl/` is one the deployment page's tree of `.obsctl/` lists; a host
  path (`/etc/…`, `/var/…`, `/opt/…`, `/usr/local/…`) is one a role, the
  Terraform code or obsctl writes (it appears in their files), or a
  Debian path (HOST_PATHS);
- constants: a number with a unit (or a version) that restates a fact of the
  code (CLAIMS: polling intervals, CLI defaults, pinned versions) equals it;
  the same claim on two pages has one value (contradictions), even where the
  code publishes no fact for it;
- links: every internal link and anchor resolves (GitHub's heading slugs),
  and a section named in quotes after a page (`operations.md, "Rotate
  secrets"`) is a heading of that page;
- behaviour: a "writes nothing" / "read-only" claim about a command that a
  sandboxed run shows writing files (docs and the command's --help);
  every file that run writes under `.obsctl/<env>/` is in the tree of
  `.obsctl/`.
- exit_codes: every "exit N" / "exit code N" names an exit code obsctl
  defines (`obsctl facts`, the source of exit-codes.md's table), and no
  sentence credits the validator (exit 10) with a refusal it does not make
  (NOT_VALIDATED: several Lokis without S3, a Loki retention under 24 h);
- alertmanager_order: flows.md's Alertmanager diagram and step titles follow
  Alertmanager's own order (AM_PIPELINE, from its dispatch.go and
  notify.go): route → group → at each flush inhibit → silence → peer wait →
  dedup → send.
"""
from __future__ import annotations

import fnmatch
import re

# Ports outside the component registry that the docs may name, and why.
EXTRA_PORTS = {
    22: "SSH",
    80: "HTTP, redirected to 443 by the load balancer",
    443: "HTTPS of the load balancer",
    2222: "an SSH port in the contract examples",
    3142: "apt-cacher-ng on the lab host",
    9000: "an S3-compatible store (MinIO, moto)",
    9099: "the lab's receivers sink (tests/e2e)",
    25: "SMTP",
    465: "SMTP over TLS",
    587: "SMTP submission",
    5432: "PostgreSQL (RDS)",
    9113: "prometheus-nginx-exporter, the user's service of docs/own-services.md",
}

# Debian's own paths the docs may name (nothing in the repository writes them).
HOST_PATHS = ["/var/backups", "/var/tmp", "/var/log/journal", "/etc/os-release", "/etc/default/", "/var/lib/apt", "/etc/apt", "/var/log/", "/etc/systemd/system/", "/var/lib/"]

COMPONENT_WORDS = r"Prometheus|Alertmanager|node_exporter|Grafana|Loki|Alloy|Promtail|orders-api"


def code_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, body) of every fenced block."""
    out = []
    for m in re.finditer(r"^(```|~~~)[^\n]*\n(.*?)^\1", text, flags=re.S | re.M):
        out.append((text[: m.start()].count("\n") + 2, m.group(2)))
    return out


def strip_code_blocks(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)


def code_spans(line: str) -> list[str]:
    return re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line)


def code_lines(text: str) -> list[tuple[int, str]]:
    """Every line of a code block, and every code span of the prose, with its line number."""
    out = []
    for first, body in code_blocks(text):
        out += [(first + i, line) for i, line in enumerate(body.split("\n"))]
    for n, line in enumerate(strip_code_blocks(text).split("\n"), 1):
        out += [(n, s) for s in code_spans(line)]
    return out


def prose_sentences(text: str) -> list[tuple[int, str]]:
    out = []
    prose = strip_code_blocks(text)
    lines = prose.split("\n")
    para: list[tuple[int, str]] = []
    for n, line in enumerate(lines + [""], 1):
        if line.strip() and not line.lstrip().startswith("|"):
            para.append((n, line.strip()))
            continue
        if line.lstrip().startswith("|"):
            out.append((n, line))
        if para:
            joined = " ".join(s for _, s in para)
            for s in re.split(r"(?<=[.;!?])\s+(?=[A-Z`*(\[])", joined):
                out.append((para[0][0], s))
            para = []
    return out


# --------------------------------------------------------------------------- urls


def check_urls(pages: dict[str, str], ctx: dict) -> list[str]:
    reg: set[int] = set(ctx["registry_ports"])
    out = []
    for page, text in pages.items():
        for n, line in code_lines(text):
            for m in re.finditer(r"\b(https?)://([^/\s:\"'`]+):(\d{2,5})\b", line):
                scheme, port = m.group(1), int(m.group(3))
                if scheme == "http" and port in reg:
                    out.append(f"{page}:{n}: `{m.group(0)}`: port {port} is a registry port, and every one serves HTTPS only (with basic auth): write https:// and the CA")
                elif port not in reg and port not in EXTRA_PORTS:
                    out.append(f"{page}:{n}: `{m.group(0)}`: port {port} is not in the component registry (nor a known outside port)")
            if re.search(r"\b(curl|wget)\b", line):
                for m in re.finditer(r"(?<![/\w.:-])((?:localhost|127\.0\.0\.1|<[^>]+>|[\w-]+(?:\.[\w-]+)*)):(\d{2,5})\b", line):
                    port = int(m.group(2))
                    if port in reg:
                        out.append(f"{page}:{n}: `{m.group(0)}` in a curl/wget command has no scheme, so it is plain HTTP; port {port} serves HTTPS only")
        for n, line in enumerate(text.split("\n"), 1):
            for m in re.finditer(r"\bHTTP\s*:(\d{2,5})\b", line):
                if int(m.group(1)) in reg:
                    out.append(f"{page}:{n}: `{m.group(0)}`: port {m.group(1)} serves HTTPS, not HTTP")
            if line.lstrip().startswith("|") and re.search(r"\bTCP, HTTP\b(?!S)", line):
                nums = {int(x) for x in re.findall(r"\|\s*(\d{2,5})\s*\|", line)}
                if nums & reg:
                    out.append(f"{page}:{n}: a ports table row says `TCP, HTTP` for registry port {sorted(nums & reg)}, which serves HTTPS only")
        for n, s in prose_sentences(text):
            if re.search(r"\bover HTTP\b(?!S)|\bHTTP `(?:GET|POST|PUT)", s) and re.search(COMPONENT_WORDS, s):
                if not re.search(r"webhook|receiver|plain HTTP|sink|Slack|PagerDuty|traffic generator|real HTTP|HTTP service", s, re.I):
                    out.append(f"{page}:{n}: says a component is reached over plain HTTP; every registry endpoint is HTTPS with basic auth: \"{s[:140]}\"")
    return out


# --------------------------------------------------------------------------- paths

REPO_TOP = r"(?:src|ansible|terraform|tests|environments|app|docs|benches|\.ci)"


PLACEHOLDERS = r"<[^>]*>|…|\.\.\.|\*+|(?<![\w])(?:ENV|NAME|PROVIDER|STAMP|HOST|FILE)(?![\w])"


def _glob(path: str) -> list[str]:
    path = re.sub(PLACEHOLDERS, "*", path)
    m = re.search(r"\{([^{}]*)\}", path)
    if m:
        return [g for alt in m.group(1).split(",") for g in _glob(path[: m.start()] + alt + path[m.end() :])]
    return [path]


def check_paths(pages: dict[str, str], ctx: dict) -> list[str]:
    files: list[str] = ctx["repo_files"]
    dirs = {"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/") + 1)}
    tree: str = ctx["state_tree"]
    writers: str = ctx["host_path_sources"]
    out = []

    def exists(p: str) -> bool:
        p = p.rstrip("/").removeprefix("./")
        for g in _glob(p):
            if g in dirs or g in files or any(fnmatch.fnmatchcase(f, g) for f in files) or any(fnmatch.fnmatchcase(d, g) for d in dirs):
                return True
        return False

    top_level = {m.group(1).rstrip("/") for m in re.finditer(r"^[├└]── ([^\s<]+)", tree, flags=re.M)}

    def tree_rx(tok: str) -> str:
        return "".join(r"[\w-]+" if p.startswith("<") else re.escape(p) for p in re.split(r"(<[^>]+>)", tok.rstrip("/")))

    # the tree's names that hold a placeholder besides other characters (web_<user>_password)
    patterns = [tree_rx(tok) for tok in set(re.findall(r"[\w.<>-]+/?", tree)) if re.search(r"<[^>]+>", tok) and re.sub(r"<[^>]+>", "", tok.rstrip("/"))]

    def in_tree(name: str) -> bool:
        """`name` (placeholders as `*`) is a name of the tree, or matches one
        of the tree's names with placeholders."""
        if name in ("", "*"):
            return True
        rx = re.escape(name).replace(r"\*", r"(?:<[^>]+>|[\w.-]+)")
        if re.search(rf"(?<![\w.-]){rx}(?![\w-])", tree):
            return True
        return any(re.fullmatch(p, name) for p in patterns)

    for page, text in pages.items():
        for n, line in enumerate(strip_code_blocks(text).split("\n"), 1):
            for span in code_spans(line):
                s = span.strip()
                if " " in s:
                    continue
                if re.match(rf"^(?:\./)?{REPO_TOP}/[\w./<>*{{}},…-]*$", s) and not s.startswith("docs/#"):
                    if not exists(s.split("#")[0]):
                        out.append(f"{page}:{n}: `{s}` names a path that is not in the repository")
                elif s.startswith(".obsctl/"):
                    parts = [p for p in s.split("/")[1:] if p]
                    # .obsctl/NAME/…: NAME is an environment unless it is one of the tree's top-level names (venv/, tools/, …)
                    if parts and parts[0].rstrip("/") not in top_level:
                        parts = parts[1:]
                    parts = [re.sub(r"<[^>]+>|…", "*", p) for p in parts]
                    if not parts:
                        continue
                    names = [parts[0]] + ([parts[-1]] if len(parts) > 1 and parts[0] in ("secrets", "tls", "ssh", "runs") else [])
                    for name in names:
                        if not in_tree(name):
                            out.append(f"{page}:{n}: `{s}`: `{name}` is not in the tree of `.obsctl/` (deployment.md), so obsctl does not write it")
                elif re.match(r"^/(?:etc|var|opt|usr/local|srv)/", s):
                    base = re.split(r"<|\*|…|\{", s)[0].rstrip("/")
                    comps = base.split("/")
                    # the path, or a parent at least three deep (/var/lib/loki for /var/lib/loki/chunks), is in a writer's files
                    known = [base] + ["/".join(comps[:i]) for i in range(len(comps) - 1, 3, -1)]
                    if any(base.startswith(h) for h in HOST_PATHS if not h.endswith("/")) or base in (h.rstrip("/") for h in HOST_PATHS):
                        continue
                    if base and not any(k in writers for k in known):
                        out.append(f"{page}:{n}: `{s}`: no role, Terraform file or obsctl source writes `{base}`")
    return out


# --------------------------------------------------------------------------- constants and contradictions

# (claim, regex over one prose sentence; group 1 is the value, fact key in ctx["constants"] or None)
CLAIMS = [
    ("verify's polling interval", r"\bverify\b[^.]{0,160}?\bpoll(?:ed|s)? (?:\w+ )?every (\d+(?:\.\d+)?\s?(?:ms|s))\b", "verify_poll"),
    ("the SSH wait's polling interval", r"\b(?:SSH|Hosts)\b[^.]{0,80}?\bpolled (?:\w+ )?every (\d+(?:\.\d+)?\s?(?:ms|s))\b", "ssh_poll"),
    ("the pinned ansible-core", r"\bansible-core (\d+\.\d+(?:\.\d+)?)\b", "ansible_core"),
    ("the pinned Mitogen", r"\bMitogen (\d+\.\d+\.\d+)\b", "mitogen"),
    ("--verify-timeout's default", r"`--verify-timeout`[^.]{0,40}?\(default (\d+\s?s)\)", "verify_timeout"),
    ("--ssh-timeout's default", r"`--ssh-timeout`[^.]{0,40}?\(default (\d+\s?s)\)", "ssh_timeout"),
    ("Terraform's grace period after a signal", r"grace period[^.;]{0,60}?\(?Terraform (\d+\s?s)\b", None),
    ("Terraform's grace period after a signal", r"grace period of (\d+\s?s)\b[^.]{0,80}?\bTerraform\b", None),
    ("Ansible's grace period after a signal", r"grace period[^.;]{0,60}?\bAnsible (\d+\s?s)\b", None),
    ("Ansible's forks", r"`forks = (\d+)`", "ansible_forks"),
    ("how many ports the registry has", r"\b(\d+) (?:registry )?ports\b", "port_count"),
    ("SSH ControlPersist", r"ControlPersist=(\d+s)\b", "control_persist"),
]


def norm_value(v: str) -> str:
    v = v.replace(" ", "")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", v)
    if m:
        ms = float(m.group(1)) * (1 if m.group(2) == "ms" else 1000)
        return f"{ms:g}ms"
    return v


def check_constants(pages: dict[str, str], ctx: dict) -> list[str]:
    facts: dict = ctx.get("constants", {})
    out = []
    seen: dict[str, list[tuple[str, str]]] = {}
    for page, text in pages.items():
        for n, s in prose_sentences(text):
            if re.search(r"\binstead of\b|\bwent from\b|\bwas\b|\bbefore\b", s):
                continue  # history (performance.md's levers): what the code did, not what it does
            for claim, rx, key in CLAIMS:
                for m in re.finditer(rx, s):
                    value = m.group(1)
                    seen.setdefault(claim, []).append((f"{page}:{n}", value))
                    want = facts.get(key) if key else None
                    if want is None:
                        continue
                    if key in ("ansible_core",):
                        ok = str(want) == value or str(want).startswith(value + ".")
                    else:
                        ok = norm_value(value) == norm_value(str(want))
                    if not ok:
                        out.append(f"{page}:{n}: {claim} is {value} here, but the code says {want}")
    for claim, where in seen.items():
        values = {norm_value(v) for _, v in where if not re.fullmatch(r"\d+\.\d+", v)}
        if len(values) > 1:
            out.append(f"the docs contradict themselves on {claim}: " + ", ".join(f"{w} says {v}" for w, v in where))
    return out


# --------------------------------------------------------------------------- links and section references


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    h = re.sub(r"<[^>]+>", "", heading).strip().lower()
    h = re.sub(r"\]\([^)]*\)", "", h)  # a link's target
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(text: str) -> set[str]:
    out: set[str] = set()
    counts: dict[str, int] = {}
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", strip_code_blocks(text), flags=re.M):
        s = slug(m.group(1))
        k = counts.get(s, 0)
        out.add(s if k == 0 else f"{s}-{k}")
        counts[s] = k + 1
    return out


def headings(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.*?)\s*$", strip_code_blocks(text), flags=re.M)]


def _resolve(page: str, target: str) -> str:
    base = page.rsplit("/", 1)[0] if "/" in page else ""
    parts = (base.split("/") if base else []) + target.split("/")
    out: list[str] = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        elif p not in ("", "."):
            out.append(p)
    return "/".join(out)


def check_links(pages: dict[str, str], ctx: dict) -> list[str]:
    files: set[str] = set(ctx["repo_files"]) | set(pages)
    dirs = {"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/") + 1)}
    out = []
    for page, text in pages.items():
        prose = strip_code_blocks(text)
        for n, line in enumerate(prose.split("\n"), 1):
            for m in re.finditer(r"\]\(([^)\s]+)\)", line):
                target = m.group(1)
                if re.match(r"^[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                dest = _resolve(page, path) if path else page
                if path and dest not in files and dest.rstrip("/") not in dirs:
                    out.append(f"{page}:{n}: link to `{target}`: {dest} does not exist")
                    continue
                if anchor and dest.endswith(".md"):
                    have = anchors(pages.get(dest, ctx.get("read", lambda p: "")(dest)))
                    if anchor not in have:
                        out.append(f"{page}:{n}: link to `{target}`: {dest} has no heading with anchor #{anchor}")
            for m in re.finditer(r"\b([\w-]+\.md)(?:'s)?,? (?:section )?[\"“]([^\"”]+)[\"”]", line):
                dest = _resolve(page, m.group(1))
                text2 = pages.get(dest, ctx.get("read", lambda p: "")(dest))
                if not any(h.lower().strip("`") == m.group(2).lower() for h in headings(text2)):
                    out.append(f"{page}:{n}: refers to section \"{m.group(2)}\" of {m.group(1)}, which has no such heading")
    return out


# --------------------------------------------------------------------------- behaviour


NOTHING_WRITTEN = r"writes nothing|without writing|writing nothing|read-only|creates nothing|changes nothing on disk|writes no files?\b"


def check_behaviour(pages: dict[str, str], ctx: dict) -> list[str]:
    out = []
    for command, written in ctx.get("behaviour", {}).items():
        if not written:
            continue
        flag = command.split()[-1]
        for page, text in pages.items():
            text = re.sub(r"<!-- drift:([\w-]+):begin -->.*?<!-- drift:\1:end -->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
            for n, s in prose_sentences(text):
                if (command in s or (flag.startswith("--") and flag in s and command.split()[0] in s)) and re.search(NOTHING_WRITTEN, s):
                    if re.search(r"not read-only|is not read-only", s):
                        continue
                    out.append(f"{page}:{n}: says `obsctl {command}` writes nothing, but a run in a temporary checkout wrote {', '.join(written[:4])}{'…' if len(written) > 4 else ''}: \"{s[:140]}\"")
        for where, help_ in ctx.get("help", {}).get(command, []):
            if re.search(NOTHING_WRITTEN, help_):
                out.append(f"{where} (--help of `obsctl {command}`) says it writes nothing, but a run in a temporary checkout wrote {', '.join(written[:4])}")
    tree: str = ctx["state_tree"]
    for name in ctx.get("state_files", []):
        parts = name.split("/")
        wanted = ([parts[0] + "/"] if len(parts) > 1 else []) + [parts[-1]]
        rxs = [re.escape(w).replace(re.escape("<host>"), r"<[^>]+>").replace(re.escape("<user>"), r"<[^>]+>") for w in wanted]
        if not all(re.search(rf"(?<![\w.-]){rx}(?![\w.-])", tree) for rx in rxs):
            out.append(f"docs/deployment.md: the tree of `.obsctl/` does not list `{name}`, which obsctl writes (seen in a run of `inventory --contract`)")
    return out


# --------------------------------------------------------------------------- snippets


def fenced(text: str) -> list[tuple[int, str, str]]:
    """(line, language, body) of every fenced block, indented ones (in lists) included, dedented."""
    out = []
    for m in re.finditer(r"^([ \t]*)(```|~~~)(\w*)[^\n]*\n(.*?)^\1\2[ \t]*$", text, flags=re.S | re.M):
        indent = len(m.group(1))
        body = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in m.group(4).split("\n"))
        out.append((text[: m.start()].count("\n") + 1, m.group(3).lower(), body))
    return out


def check_snippets(pages: dict[str, str], ctx: dict) -> list[str]:
    """Every snippet parses with the real tool: shell with `bash -n` (after
    `<placeholder>` → a word), a whole environment file (first line
    `# environments/NAME.toml`) with obsctl's own parser, other TOML with
    tomllib, HCL with `terraform fmt`, JSON and YAML with their parsers."""
    tools = ctx.get("tools") or {}
    out = []
    for page, text in pages.items():
        for line, lang, body in fenced(text):
            kind = {"sh": "sh", "bash": "sh", "shell": "sh", "toml": "toml", "hcl": "hcl", "terraform": "hcl", "json": "json", "yaml": "yaml", "yml": "yaml"}.get(lang)
            if kind is None:
                continue
            m = re.match(r"#\s*environments/([\w-]+)\.toml\s*\n", body)
            if kind == "toml" and m:
                kind, arg = "env_toml", (m.group(1), body)
            elif kind == "sh":
                arg = re.sub(r"<([A-Za-z][\w .-]*)>", "PLACEHOLDER", body)
            else:
                arg = body
            tool = tools.get(kind)
            if tool is None:
                out.append(f"{page}:{line}: no parser for a ```{lang} block (tools: {sorted(tools)})")
                continue
            err = tool(arg)
            if err:
                out.append(f"{page}:{line}: the ```{lang} block does not parse ({kind}): {err}")
    return out


# --------------------------------------------------------------------------- exit codes

# "exit 10", "exit code 12", "exits 0", "with exit status 2", "Exit code 30"
EXIT_CLAIM = r"\bexit(?:s|ed|ing)?(?: with)?(?: (?:code|status))? `?(\d+)`?(?!\w|\.\d)"

# Refusals obsctl does NOT make before Terraform (src/model/environment/validate.rs
# has no such check): a sentence naming one with the validator's exit code 10,
# or saying obsctl refuses it, is false unless it says obsctl does not check it.
# (name, what the sentence names, where it is really checked, if anywhere)
NOT_VALIDATED = [
    ("more than one Loki without S3 storage",
     r"(?:several|more than one|two or more|multiple|many) Loki(?:s| hosts)?\b[^.]*?\b(?:without|not on|no)\b[^.]*?\bS3\b",
     "only the loki role's preflight, after Terraform, fails the Ansible run (exit 40)"),
    ("a Loki retention under 24 h",
     r"retention(?:_period)?\b[^.]*?\b(?:under|below|less than|shorter than) (?:24 ?h|a day|one day)\b",
     "nothing checks it"),
]
NOT_CHECKED_SAID = r"does not check|doesn't check|not checked|nothing checks|no check"


def check_exit_codes(pages: dict[str, str], ctx: dict) -> list[str]:
    """Every "exit N" in the docs (prose, code, diagrams) names an exit code the
    code defines (`obsctl facts`' exit_codes, the source of exit-codes.md's
    generated table); and no sentence credits the validator (exit 10) with a
    refusal it does not make (NOT_VALIDATED)."""
    out = []
    codes = set(ctx.get("exit_codes", []))
    for page, text in pages.items():
        for n, line in enumerate(text.split("\n"), 1):
            for m in re.finditer(EXIT_CLAIM, line, flags=re.I):
                if int(m.group(1)) not in codes:
                    out.append(f"{page}:{n}: names exit code {m.group(1)}, which obsctl does not have (its codes: {', '.join(map(str, sorted(codes)))}): \"{line.strip()[:140]}\"")
        for n, sentence in prose_sentences(text):
            for what, rx, truth in NOT_VALIDATED:
                if not re.search(rx, sentence, flags=re.I) or re.search(NOT_CHECKED_SAID, sentence, flags=re.I):
                    continue
                if re.search(r"\bexit(?: code)? 10\b|\bobsctl (?:refuses|rejects|stops)", sentence, flags=re.I):
                    out.append(f"{page}:{n}: says obsctl refuses {what} (exit 10); it does not ({truth}): \"{sentence[:160]}\"")
    return out


# --------------------------------------------------------------------------- alertmanager pipeline

# The order in which Alertmanager handles an alert, a stored fact from its
# source (github.com/prometheus/alertmanager): dispatch/dispatch.go routes
# each alert through the routing tree and groups it (group_wait,
# group_interval, repeat_interval); at each flush of a group,
# notify/notify.go's pipeline runs (PipelineBuilder.New, createReceiverStage):
# GossipSettle, then Inhibit (MuteStage with the inhibitor), then the time
# intervals, then Silence, and per receiver integration Wait (peer position
# × peer timeout), Dedup (against the notification log), Retry (send),
# SetNotifies (record in the log): `rs[name] = MultiStage{ms, is, tas, tms,
# ss, st}` in notify/notify.go (read at commit 00c66763eb9e).
# (stage, how the diagram's node label names it)
AM_PIPELINE = [
    ("route", r"routing"),
    ("group", r"grouping"),
    ("inhibit", r"inhibition"),
    ("silence", r"silences?\b"),
    ("wait", r"peer position"),
    ("dedup", r"notification log|\bdedup"),
    ("send", r"receivers"),
]
AM_PAGE = "docs/flows.md"


def mermaid_graph(code: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Node labels and directed edges (subgraph ids lead to their first node) of a flowchart."""
    labels: dict[str, str] = {}
    edges: dict[str, set[str]] = {}
    first_in: dict[str, str] = {}
    current: list[str] = []
    node = r'(\w+)(?:\[\(?"?(.*?)"?\)?\]|\(\[?"?(.*?)"?\]?\)|\(\("?(.*?)"?\)\))?'
    for raw in code.split("\n"):
        line = raw.strip()
        m = re.match(r'subgraph (\w+)', line)
        if m:
            current.append(m.group(1))
            continue
        if line == "end":
            current.pop() if current else None
            continue
        parts = re.split(r'\s*(?:-- "[^"]*" -->|--\s[^->"]+\s-->|-->|-\.[^.]*\.->|<-- "[^"]*" -->|<-->)\s*', line)
        ids = []
        for part in parts:
            m = re.fullmatch(node, part.strip())
            if not m:
                ids = []
                break
            ids.append(m.group(1))
            label = next((g for g in m.groups()[1:] if g), None)
            if label:
                labels[m.group(1)] = label
            for sg in current:
                first_in.setdefault(sg, m.group(1))
        for a, b in zip(ids, ids[1:]):
            edges.setdefault(a, set()).add(b)
    for a in list(edges):
        edges[a] = {first_in.get(b, b) for b in edges[a]}
    return labels, edges


def reaches(edges: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        x = todo.pop()
        if x == b:
            return True
        if x not in seen:
            seen.add(x)
            todo += edges.get(x, ())
    return False


def check_alertmanager_order(pages: dict[str, str], ctx: dict) -> list[str]:
    """flows.md's diagram of one Alertmanager follows AM_PIPELINE: each stage
    reaches the next along the arrows, never the one before it; and the
    prose's step titles name inhibit before silence, and the peer wait before
    the dedup."""
    text = pages.get(AM_PAGE)
    if text is None:
        return []
    out = []
    diagram = next((b for _, b in code_blocks(text) if re.search(r"inhibition", b) and re.search(r"grouping", b)), None)
    if diagram is None:
        return [f"{AM_PAGE}: no diagram of Alertmanager's pipeline (a flowchart with routing, grouping, inhibition, silences, peer position, notification log, receivers)"]
    labels, edges = mermaid_graph(diagram)
    nodes = {}
    for stage, rx in AM_PIPELINE:
        found = [i for i, l in labels.items() if re.search(rx, l, flags=re.I)]
        if not found:
            out.append(f"{AM_PAGE}: Alertmanager's pipeline diagram has no node for `{stage}` (a label matching /{rx}/)")
        else:
            nodes[stage] = found[0]
    order = [s for s, _ in AM_PIPELINE]
    for a, b in zip(order, order[1:]):
        if a in nodes and b in nodes:
            if not reaches(edges, nodes[a], nodes[b]) or reaches(edges, nodes[b], nodes[a]):
                out.append(f"{AM_PAGE}: Alertmanager's pipeline diagram does not lead from `{a}` to `{b}`; Alertmanager's order is {' → '.join(order)} (dispatch.go, notify.go)")
    prose = strip_code_blocks(text)
    titles = " ".join(re.findall(r"^\s*\d+\.\s+\*\*(.+?)\*\*", prose, flags=re.M))
    for a, b in (("inhibit", "silence"), ("peer position", "dedup")):
        ia, ib = titles.lower().find(a), titles.lower().find(b)
        if ia < 0 or ib < 0 or ia > ib:
            out.append(f"{AM_PAGE}: the alerting steps' titles do not name {a} before {b} (Alertmanager's order: {' → '.join(order)})")
    return out


CHECKS = [check_urls, check_paths, check_constants, check_links, check_behaviour, check_snippets, check_exit_codes, check_alertmanager_order]


# --------------------------------------------------------------------------- self-tests


def self_test_ctx() -> dict:
    tree = ".obsctl/\n├── venv/\n└── <env>/\n    ├── inventory.json\n    ├── secrets/\n    │   └── grafana_admin_password\n    └── tls/  ca.crt"
    return {
        "registry_ports": [9090, 3000, 3100],
        "repo_files": ["docs/a.md", "docs/b.md", "ansible/site.yml", "ansible/roles/app/tasks/main.yml"],
        "state_tree": tree,
        "host_path_sources": "dest: /etc/obsctl/tls/ca.crt\n",
        "constants": {"port_count": "3", "ansible_forks": "25", "control_persist": "120s", "verify_poll": "500ms", "ansible_core": "2.19.14", "mitogen": "0.3.54", "verify_timeout": "120s", "ssh_timeout": "180s"},
        "behaviour": {"inventory --contract": ["secrets/web_obsctl_password", "tls/ca.crt"]},
        "help": {"inventory --contract": []},
        "state_files": ["tls/ca.crt"],
        "exit_codes": [0, 1, 2, 10, 11, 12, 20, 30, 40, 50, 64, 129, 130, 143],
    }


CLEAN = """# A

## Section one

Check it with `curl --cacert .obsctl/<env>/tls/ca.crt -u obsctl https://mon-1:9090/-/ready`.
See [b](b.md#other-part) and [here](#section-one); the roles are in `ansible/site.yml`,
the CA on the hosts is `/etc/obsctl/tls/ca.crt`. verify is polled every 0.5 s.
`obsctl inventory --contract FILE` creates the CA and the passwords.

```sh
obsctl up --env <env> && curl --cacert ca.crt https://<host>:3000/api/health
```
"""

# Alertmanager's pipeline as flows.md draws it (AM_GOOD), and the order the
# docs once drew (AM_OLD): dedup → silences → inhibition → route → group.
AM_GOOD = """# F

```mermaid
flowchart TB
    route["routing tree by severity"]
    group["grouping by alertname"]
    subgraph flush["each flush of a group"]
        inhibit["inhibition"]
        silence["silences"]
        wait["wait: peer position"]
        nflog["dedup against the notification log"]
        inhibit --> silence --> wait --> nflog
    end
    rcv["receivers"]
    route -- "matches a receiver" --> group
    group --> flush
    nflog -- "send" --> rcv
```

7. **At each flush: inhibit, then silence.** Text.
8. **Wait for the peer position, dedup against the log, send (HA).** Text.
"""
AM_OLD = """# F

```mermaid
flowchart LR
    am["Alertmanager"]
    nflog["dedup"]
    silence["silences"]
    inhibit["inhibition"]
    route["routing tree"]
    group["grouping"]
    rcv["receivers"]
    am --> nflog --> silence --> inhibit --> route --> group --> rcv
```

7. **Dedup, silences, inhibition.** Text.
8. **Routing and grouping (peer position).** Text.
"""

# check -> (what is planted, pages)
SELF_TESTS = [
    ("urls", "http:// to a registry port", {"docs/a.md": "Run `curl http://mon-1:9090/-/ready`.\n"}),
    ("urls", "curl host:port without a scheme", {"docs/a.md": "```sh\ncurl -s localhost:3000/api/health\n```\n"}),
    ("urls", "a port not in the registry", {"docs/a.md": "Open `https://mon-1:9091/graph`.\n"}),
    ("urls", "a diagram edge over HTTP", {"docs/a.md": "```mermaid\nflowchart LR\n  u -- \"HTTP :3000\" --> g\n```\n"}),
    ("urls", "a ports table's HTTP", {"docs/a.md": "| `prometheus_port` | prometheus | 9090 | TCP, HTTP | Grafana |\n"}),
    ("urls", "prose: scraped over HTTP", {"docs/a.md": "Every Prometheus scrapes every target over HTTP.\n"}),
    ("paths", "a repository path that does not exist", {"docs/a.md": "The rules are in `ansible/roles/nope/tasks/main.yml`.\n"}),
    ("paths", "a source file that moved", {"docs/a.md": "The registry (`src/component.rs`) says so.\n"}),
    ("paths", "an .obsctl/ file obsctl does not write", {"docs/a.md": "Read `.obsctl/<env>/secrets/grafana_root_password`.\n"}),
    ("paths", "a host path nothing writes", {"docs/a.md": "Look in `/var/lib/orders-api`.\n"}),
    ("constants", "a polling interval that is not the code's", {"docs/a.md": "verify is polled every 2 s, up to the timeout.\n"}),
    ("constants", "a pinned version that is not the code's", {"docs/a.md": "obsctl pins ansible-core 2.18.1.\n"}),
    ("constants", "a count of ports that is not the registry's", {"docs/a.md": "The stack opens 10 ports.\n"}),
    ("constants", "ansible.cfg's forks restated wrong", {"docs/a.md": "Ansible runs with `forks = 10`.\n"}),
    ("constants", "two pages that disagree (no fact)", {"docs/a.md": "Hosts are polled every 0.5 s.\n", "docs/b.md": "SSH is polled every 2 s.\n"}),
    ("links", "a link to a missing page", {"docs/a.md": "See [c](c.md).\n"}),
    ("links", "a link to a missing anchor", {"docs/a.md": "See [b](b.md#rotate-secrets).\n", "docs/b.md": "# B\n\n## Other part\n"}),
    ("links", "an in-page anchor that is gone", {"docs/a.md": "# A\n\nSee [above](#nothing-here).\n"}),
    ("links", "a quoted section that does not exist", {"docs/a.md": "(see b.md, \"Rotate secrets\")\n", "docs/b.md": "# B\n\n## Other part\n"}),
    ("behaviour", "a writes-nothing claim the run disproves", {"docs/a.md": "`obsctl inventory --contract FILE` renders it without writing anything.\n"}),
    ("behaviour", "a --help that says writes nothing", {"docs/a.md": "# A\n"}),
    ("behaviour", "a file obsctl writes missing from the tree", {"docs/a.md": "# A\n"}),
    ("snippets", "a shell block bash -n refuses", {"docs/a.md": "```sh\nif true; then\n  echo <env>\n```\n"}),
    ("snippets", "a TOML block that is not TOML", {"docs/a.md": "```toml\n[state\nbackend = \"s3\"\n```\n"}),
    ("snippets", "an environment file obsctl refuses", {"docs/a.md": "```toml\n# environments/qa.toml\nprovider = \"lab\"\nretention = \"3d\"\n```\n"}),
    ("snippets", "HCL terraform fmt refuses", {"docs/a.md": "```hcl\nresource \"aws_s3_bucket\" \"x\" {\n  bucket = \n```\n"}),
    ("snippets", "JSON that is not JSON", {"docs/a.md": "   ```json\n   {\"a\": 1,}\n   ```\n"}),
    ("exit_codes", "an exit code obsctl does not have", {"docs/a.md": "`up` refuses it with exit 15.\n"}),
    ("exit_codes", "an exit code in a code block that obsctl does not have", {"docs/a.md": "```sh\nobsctl plan --env dev   # exit code 3\n```\n"}),
    ("exit_codes", "a refusal the validator does not make", {"docs/a.md": "obsctl refuses several Lokis without S3 and a retention under 24 h with exit 10.\n"}),
    ("alertmanager_order", "the old pipeline order (dedup → silences → inhibition → route → group)", {"docs/flows.md": AM_OLD}),
    ("alertmanager_order", "silence drawn before inhibit", {"docs/flows.md": AM_GOOD.replace("inhibit --> silence --> wait", "silence --> inhibit --> wait")}),
    ("alertmanager_order", "step titles with silence before inhibit", {"docs/flows.md": AM_GOOD.replace("inhibit, then silence", "silence, then inhibit")}),
]


def run_self_tests(tools: dict | None = None) -> list[str]:
    """Each planted mistake must be flagged by its check; the clean page by
    none. `tools` are the real parsers (drift.py's); without them the snippet
    plants cannot be judged and fail."""
    by_name = {c.__name__.removeprefix("check_"): c for c in CHECKS}
    failures = []
    for name, what, planted in SELF_TESTS:
        ctx = self_test_ctx()
        pages = {"docs/b.md": "# B\n\n## Other part\n", **planted}
        if what == "a --help that says writes nothing":
            ctx["help"] = {"inventory --contract": [("obsctl inventory --help", "Validates it; writes nothing.")]}
        if what == "a file obsctl writes missing from the tree":
            ctx["state_files"] = ["secrets/web_<user>_password"]
        if what == "a source file that moved":
            ctx["repo_files"] = ctx["repo_files"] + ["src/domain/component.rs"]
        ctx["read"] = lambda p, pages=pages: pages.get(p, "")
        ctx["tools"] = tools or {}
        if name == "snippets" and not tools:
            failures.append(f"self-test: no parsers given, so check `snippets` cannot judge {what}")
            continue
        if not by_name[name](pages, ctx):
            failures.append(f"self-test: check `{name}` did not flag {what}")
    ctx = self_test_ctx()
    pages = {"docs/a.md": CLEAN, "docs/b.md": "# B\n\n## Other part\n", "docs/flows.md": AM_GOOD}
    ctx["read"] = lambda p: pages.get(p, "")
    ctx["tools"] = tools or {}
    for check in CHECKS:
        for problem in check(pages, ctx):
            failures.append(f"self-test: check `{check.__name__}` flagged a clean page: {problem}")
    return failures
