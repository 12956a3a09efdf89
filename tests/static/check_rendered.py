#!/usr/bin/env python3
"""Structural checks of the grafana, loki and promtail templates as
rendered by render.yml for one inventory.

Usage: check_rendered.py RENDER_DIR SECRETS_DIR

RENDER_DIR holds inventory.json (groups, addresses and settings of the
inventory, written by render.yml) and hosts/<host>/<role>/<file> (every
template of every role the host has). SECRETS_DIR is the secrets directory
the render used: no secret in it may appear in a rendered file.

Every rendered file is parsed by its kind (.ini, .yaml, .sources, .conf);
a file of an unknown kind is an error, so a new template needs a check
here. Prints one line per problem, exits 1 if there is any. Needs PyYAML.
"""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "ansible" / "roles" / "grafana" / "files" / "dashboards"

APT_SOURCES = {
    "Types": "deb",
    "URIs": "https://apt.grafana.com",
    "Suites": "stable",
    "Components": "main",
    "Signed-By": "/etc/apt/keyrings/grafana.asc",
}
HARDENING = {"NoNewPrivileges": {"yes", "true"}, "ProtectSystem": {"strict", "full"},
             "ProtectHome": {"yes", "true", "read-only"}, "PrivateTmp": {"yes", "true"}}


class Checker:
    def __init__(self, render_dir, secrets_dir):
        self.dir = Path(render_dir)
        self.inv = json.loads((self.dir / "inventory.json").read_text())
        self.secrets = [p.read_text().strip() for p in Path(secrets_dir).glob("*") if p.is_file()]
        self.problems = []
        self.files = 0

    def fail(self, where, msg):
        self.problems.append(f"{where}: {msg}")

    def expect(self, where, cond, msg):
        if not cond:
            self.fail(where, msg)
        return cond

    def addr(self, host):
        return self.inv["addresses"][host]

    # ----------------------------------------------------------- parsers
    def parse(self, path):
        """Parses a rendered file by its kind; returns the parsed value or None."""
        where = str(path.relative_to(self.dir))
        text = path.read_text()
        self.files += 1
        for secret in self.secrets:
            if secret and secret in text:
                self.fail(where, "contains a secret from the secrets directory")
        try:
            if path.suffix == ".ini":
                parser = configparser.ConfigParser(interpolation=None, strict=True)
                parser.read_string(text)
                return parser
            if path.suffix in (".yaml", ".yml"):
                return yaml.safe_load(text)
            if path.suffix == ".sources":
                return self.parse_deb822(text)
            if path.suffix == ".conf":
                return self.parse_unit(text, where)
        except (configparser.Error, yaml.YAMLError, ValueError) as e:
            self.fail(where, f"does not parse: {e}")
            return None
        self.fail(where, f"unknown kind of file {path.suffix!r}: add a check for it to {Path(__file__).name}")
        return None

    @staticmethod
    def parse_deb822(text):
        fields = {}
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            key, sep, value = line.partition(":")
            if not sep or line[0].isspace():
                raise ValueError(f"not a deb822 field: {line!r}")
            fields[key.strip()] = value.strip()
        return fields

    @staticmethod
    def parse_unit(text, where):
        """systemd unit syntax: {section: {key: [values...]}}."""
        sections, current = {}, None
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, sep, value = line.partition("=")
            if current is None or not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()):
                raise ValueError(f"line {n}: not a unit setting: {line!r}")
            current.setdefault(key.strip(), []).append(value.strip())
        return sections

    # ----------------------------------------------------------- common
    def check_sources(self, host, role, sources):
        where = f"hosts/{host}/{role}/grafana.sources"
        for key, value in APT_SOURCES.items():
            self.expect(where, sources.get(key) == value, f"{key} is {sources.get(key)!r}, expected {value!r}")

    def systemd_verify(self, where, path):
        """Lets systemd-analyze parse a drop-in on a stand-in unit (unknown or
        misspelt settings, bad values). Skipped where systemd is not installed."""
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            return
        with tempfile.TemporaryDirectory() as tmp:
            unit = Path(tmp) / "obsctl-check.service"
            unit.write_text("[Unit]\nDescription=stand-in\n[Service]\nExecStart=/bin/true\n")
            dropin_dir = Path(tmp) / "obsctl-check.service.d"
            dropin_dir.mkdir()
            # The real binaries are not installed here: keep the resets, run /bin/true.
            text = re.sub(r"(?m)^ExecStart=.+$", "ExecStart=/bin/true", path.read_text())
            (dropin_dir / "obsctl.conf").write_text(text)
            env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{tmp}:", SYSTEMD_LOG_COLOR="0")
            run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, env=env)
            for line in (run.stdout + run.stderr).splitlines():
                if "obsctl.conf" in line or "obsctl-check" in line:
                    self.fail(where, f"systemd-analyze verify: {line.split(': ', 1)[-1]}")

    def check_dropin(self, where, unit, data_dirs, exec_start=None, groups=None):
        self.systemd_verify(where, self.dir / where)
        service = unit.get("Service", {})
        for key, allowed in HARDENING.items():
            values = service.get(key, [])
            self.expect(where, values and values[-1] in allowed,
                        f"[Service] {key} is {values[-1] if values else 'missing'}, expected one of {sorted(allowed)}")
        rw = " ".join(service.get("ReadWritePaths", [])).split()
        for d in data_dirs:
            self.expect(where, d in rw, f"[Service] ReadWritePaths does not contain {d}")
        if exec_start:
            values = service.get("ExecStart", [])
            self.expect(where, values[:1] == [""] and len(values) == 2 and values[1].startswith(exec_start),
                        f"[Service] ExecStart must be reset then set to {exec_start} ... (got {values})")
        for group in groups or []:
            supplementary = " ".join(service.get("SupplementaryGroups", [])).split()
            self.expect(where, group in supplementary, f"[Service] SupplementaryGroups lacks {group}")

    # ----------------------------------------------------------- grafana
    def dashboard_datasource_uids(self):
        uids = set()

        def walk(node):
            if isinstance(node, dict):
                ds = node.get("datasource")
                if isinstance(ds, dict) and ds.get("type") != "grafana" and ds.get("uid"):
                    uids.add(ds["uid"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        for path in DASHBOARDS.glob("*.json"):
            walk(json.loads(path.read_text()))
        return uids

    def check_grafana(self, host, files):
        base = f"hosts/{host}/grafana"
        groups = self.inv["groups"]
        ini = files.get("grafana.ini")
        if self.expect(base, ini is not None, "grafana.ini not rendered") and ini:
            w = f"{base}/grafana.ini"
            get = lambda s, k: ini.get(s, k, fallback=None)  # noqa: E731
            self.expect(w, get("server", "http_port") == "3000", "[server] http_port is not 3000")
            self.expect(w, bool(get("server", "root_url")), "[server] root_url is empty")
            self.expect(w, (get("security", "admin_password") or "").startswith("$__file{/"),
                        "[security] admin_password must be read from a file ($__file{...})")
            self.expect(w, get("users", "allow_sign_up") == "false", "[users] allow_sign_up is not false")
            self.expect(w, get("auth.anonymous", "enabled") == "false", "[auth.anonymous] enabled is not false")
            self.expect(w, get("analytics", "reporting_enabled") == "false", "[analytics] reporting_enabled is not false")
            db = self.inv["grafana_database"]
            self.expect(w, get("database", "type") == db, f"[database] type is {get('database', 'type')}, expected {db}")
            if db == "postgres":
                for key in ("host", "name", "user"):
                    self.expect(w, bool(get("database", key)), f"[database] {key} is empty")
                self.expect(w, (get("database", "password") or "").startswith("$__file{/"),
                            "[database] password must be read from a file ($__file{...})")
            home = get("dashboards", "default_home_dashboard_path") or ""
            self.expect(w, (DASHBOARDS / Path(home).name).is_file(),
                        f"[dashboards] default_home_dashboard_path {home} is not a dashboard of the role")

        ds = files.get("datasources.yaml")
        if self.expect(base, ds is not None, "datasources.yaml not rendered") and ds:
            w = f"{base}/datasources.yaml"
            self.expect(w, ds.get("apiVersion") == 1, "apiVersion is not 1")
            entries = ds.get("datasources") or []
            by_uid = {}
            for entry in entries:
                for key in ("name", "uid", "type", "url"):
                    self.expect(w, entry.get(key), f"data source {entry.get('name')} lacks {key}")
                self.expect(w, entry.get("uid") not in by_uid, f"uid {entry.get('uid')} twice")
                by_uid[entry.get("uid")] = entry
            self.expect(w, sum(1 for e in entries if e.get("isDefault")) == 1, "not exactly one default data source")
            expected = {"prometheus": ("prometheus", 9090), "loki": ("loki", 3100), "alertmanager": ("alertmanager", 9093)}
            for uid, (group, port) in expected.items():
                if not groups.get(group):
                    self.expect(w, uid not in by_uid, f"data source {uid} provisioned without a {group} host")
                    continue
                entry = by_uid.get(uid)
                if not self.expect(w, entry is not None, f"no data source with uid {uid}"):
                    continue
                self.expect(w, entry["type"] == uid, f"data source {uid} has type {entry['type']}")
                url = f"http://{self.addr(groups[group][0])}:{port}"
                self.expect(w, entry["url"] == url, f"data source {uid} URL is {entry['url']}, expected {url}")
            if "alertmanager" in by_uid:
                impl = (by_uid["alertmanager"].get("jsonData") or {}).get("implementation")
                self.expect(w, impl == "prometheus", f"alertmanager jsonData.implementation is {impl!r}")
            for uid in sorted(self.dashboard_datasource_uids()):
                self.expect(w, uid in by_uid, f"dashboards use data source uid {uid!r}, which is not provisioned")

        provider = files.get("dashboards.yaml")
        if self.expect(base, provider is not None, "dashboards.yaml not rendered") and provider:
            w = f"{base}/dashboards.yaml"
            providers = provider.get("providers") or []
            self.expect(w, len(providers) == 1 and providers[0].get("type") == "file", "expected one file provider")
            path = ((providers or [{}])[0].get("options") or {}).get("path")
            self.expect(w, path == "/var/lib/grafana/dashboards/obsctl", f"provider path is {path}")

        unit = files.get("grafana-server.override.conf")
        if self.expect(base, unit is not None, "grafana-server.override.conf not rendered") and unit:
            self.check_dropin(f"{base}/grafana-server.override.conf", unit, ["/var/lib/grafana", "/var/log/grafana"])

    # ----------------------------------------------------------- loki
    def check_loki(self, host, files):
        base = f"hosts/{host}/loki"
        cfg = files.get("loki.yaml")
        lokis = self.inv["groups"]["loki"]
        storage = self.inv["loki_storage"]
        store = "s3" if storage == "s3" else "filesystem"
        if self.expect(base, isinstance(cfg, dict), "loki.yaml not rendered") and isinstance(cfg, dict):
            w = f"{base}/loki.yaml"
            g = lambda *keys: self.dig(cfg, *keys)  # noqa: E731
            self.expect(w, g("auth_enabled") is False, "auth_enabled is not false")
            self.expect(w, g("server", "http_listen_port") == 3100, "server.http_listen_port is not 3100")
            self.expect(w, g("server", "grpc_listen_port") == 9096, "server.grpc_listen_port is not 9096")
            self.expect(w, g("common", "instance_addr") == self.addr(host), "common.instance_addr is not this host's address")
            self.expect(w, g("common", "ring", "kvstore", "store") == "memberlist", "ring kvstore is not memberlist")
            rf = g("common", "replication_factor")
            self.expect(w, rf == self.inv["loki_replication_factor"],
                        f"replication_factor is {rf}, expected {self.inv['loki_replication_factor']}")
            self.expect(w, isinstance(rf, int) and 1 <= rf <= len(lokis),
                        f"replication_factor {rf} is not between 1 and the {len(lokis)} Loki hosts")
            join = sorted(g("memberlist", "join_members") or [])
            want = sorted(f"{self.addr(h)}:7946" for h in lokis)
            self.expect(w, join == want, f"memberlist.join_members is {join}, expected every Loki host {want}")
            self.expect(w, g("memberlist", "bind_port") == 7946, "memberlist.bind_port is not 7946")
            self.expect(w, g("memberlist", "advertise_addr") == self.addr(host), "memberlist.advertise_addr is not this host's address")
            periods = g("schema_config", "configs") or []
            self.expect(w, periods, "schema_config.configs is empty")
            for p in periods:
                self.expect(w, p.get("schema") == "v13" and p.get("store") == "tsdb",
                            f"schema period {p.get('from')} is not tsdb v13")
                self.expect(w, p.get("object_store") == store, f"schema object_store is {p.get('object_store')}, expected {store}")
                self.expect(w, (p.get("index") or {}).get("period") == "24h", "index period is not 24h (retention needs 24h)")
            if storage == "s3":
                s3 = g("common", "storage", "s3") or {}
                self.expect(w, s3.get("bucketnames"), "common.storage.s3.bucketnames is empty")
                self.expect(w, s3.get("region") or s3.get("endpoint"), "common.storage.s3 has neither region nor endpoint")
                self.expect(w, g("common", "storage", "filesystem") is None, "filesystem storage set together with s3")
                for key in ("access_key_id", "secret_access_key"):
                    self.expect(w, key not in s3, f"common.storage.s3.{key} must not be in the file")
            else:
                self.expect(w, g("common", "storage", "filesystem", "chunks_directory"), "no filesystem chunks_directory")
                self.expect(w, len(lokis) == 1, "filesystem storage with several Loki hosts")
            self.expect(w, g("storage_config", "tsdb_shipper", "active_index_directory"), "no tsdb_shipper index directory")
            self.expect(w, g("compactor", "retention_enabled") is True, "compactor.retention_enabled is not true")
            self.expect(w, g("compactor", "delete_request_store") == store, f"compactor.delete_request_store is not {store}")
            limits = g("limits_config") or {}
            for key in ("retention_period", "ingestion_rate_mb", "ingestion_burst_size_mb", "max_query_series"):
                self.expect(w, key in limits, f"limits_config.{key} is missing")
            self.expect(w, g("analytics", "reporting_enabled") is False, "analytics.reporting_enabled is not false")
        unit = files.get("loki.override.conf")
        if self.expect(base, unit is not None, "loki.override.conf not rendered") and unit:
            self.check_dropin(f"{base}/loki.override.conf", unit, ["/var/lib/loki"],
                              exec_start="/usr/bin/loki -config.file=/etc/loki/config.yml")

    # ----------------------------------------------------------- promtail
    def check_promtail(self, host, files, stream_labels):
        base = f"hosts/{host}/promtail"
        cfg = files.get("promtail.yaml")
        if self.expect(base, isinstance(cfg, dict), "promtail.yaml not rendered") and isinstance(cfg, dict):
            w = f"{base}/promtail.yaml"
            g = lambda *keys: self.dig(cfg, *keys)  # noqa: E731
            self.expect(w, g("server", "http_listen_port") == 9080, "server.http_listen_port is not 9080")
            self.expect(w, str(g("positions", "filename") or "").startswith("/var/lib/promtail/"),
                        "positions.filename is not under /var/lib/promtail")
            clients = cfg.get("clients") or []
            urls = sorted(c.get("url") for c in clients)
            want = sorted(f"http://{self.addr(h)}:3100/loki/api/v1/push" for h in self.inv["groups"]["loki"])
            self.expect(w, urls == want, f"clients are {urls}, expected every Loki {want}")
            for c in clients:
                labels = c.get("external_labels") or {}
                self.expect(w, labels.get("host") == host, f"client {c.get('url')}: external label host is {labels.get('host')}")
                self.expect(w, labels.get("env") == self.inv["environment"], f"client {c.get('url')}: external label env is {labels.get('env')}")
                stream_labels.setdefault("host", set()).add(host)
                stream_labels.setdefault("env", set()).add(labels.get("env"))
            jobs = {s.get("job_name"): s for s in cfg.get("scrape_configs") or []}
            journal = jobs.get("journal")
            if self.expect(w, journal and "journal" in journal, "no journal scrape config"):
                relabels = {(tuple(r.get("source_labels") or []), r.get("target_label")) for r in journal.get("relabel_configs") or []}
                self.expect(w, (("__journal__systemd_unit",), "unit") in relabels, "journal: __journal__systemd_unit is not relabelled to unit")
                for r in journal.get("relabel_configs") or []:
                    stream_labels.setdefault(r.get("target_label"), set())
                for k, v in (journal["journal"].get("labels") or {}).items():
                    stream_labels.setdefault(k, set()).add(v)
            app = jobs.get("orders-api")
            if host in self.inv["groups"]["app"]:
                if self.expect(w, app is not None, "application host without the orders-api scrape config"):
                    static = (app.get("static_configs") or [{}])[0].get("labels") or {}
                    self.expect(w, static.get("__path__") == "/var/log/orders-api/orders-api.log",
                                f"orders-api __path__ is {static.get('__path__')}")
                    for k, v in static.items():
                        if not k.startswith("__"):
                            stream_labels.setdefault(k, set()).add(v)
                    stages = app.get("pipeline_stages") or []
                    kinds = [next(iter(s)) for s in stages]
                    self.expect(w, kinds[:3] == ["json", "labels", "timestamp"],
                                f"orders-api pipeline is {kinds}, expected json, labels, timestamp")
                    if kinds[:3] == ["json", "labels", "timestamp"]:
                        exprs = stages[0]["json"].get("expressions") or {}
                        for key in ("ts", "level", "route", "status"):
                            self.expect(w, key in exprs, f"json stage does not extract {key}")
                        labels = set(stages[1]["labels"] or {})
                        self.expect(w, labels == {"level", "route", "status"}, f"labels stage sets {sorted(labels)}")
                        for label in labels:
                            stream_labels.setdefault(label, set())
                        self.expect(w, stages[2]["timestamp"].get("source") == "ts", "timestamp stage does not read ts")
            else:
                self.expect(w, app is None, "orders-api scrape config on a host outside group app")
        unit = files.get("promtail.override.conf")
        if self.expect(base, unit is not None, "promtail.override.conf not rendered") and unit:
            self.check_dropin(f"{base}/promtail.override.conf", unit, ["/var/lib/promtail"],
                              exec_start="/usr/bin/promtail -config.file=/etc/promtail/config.yml",
                              groups=["adm", "systemd-journal"])

    def check_logql_labels(self, stream_labels):
        """Every label a dashboard's LogQL selector uses is set by Promtail."""
        stream_labels.setdefault("filename", set())
        for path in sorted(DASHBOARDS.glob("*.json")):
            dash = json.loads(path.read_text())
            for panel in dash.get("panels", []):
                for target in panel.get("targets", []):
                    if (target.get("datasource") or panel.get("datasource") or {}).get("type") != "loki":
                        continue
                    for selector in re.findall(r"\{([^}]*)\}", target.get("expr", "")):
                        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
                            where = f"{path.name}: panel {panel.get('title')!r}"
                            if self.expect(where, label in stream_labels,
                                           f"LogQL label {label!r} is not set by any Promtail config "
                                           f"(known: {', '.join(sorted(stream_labels))})"):
                                known = stream_labels[label]
                                if op == "=" and known:
                                    self.expect(where, value in known, f"no Promtail stream has {label}={value!r}")

    @staticmethod
    def dig(node, *keys):
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    # ----------------------------------------------------------- driver
    def run(self):
        hosts_dir = self.dir / "hosts"
        groups = self.inv["groups"]
        stream_labels = {}
        for host in sorted(self.inv["addresses"]):
            host_dir = hosts_dir / host
            for role in ("grafana", "loki", "promtail"):
                role_dir = host_dir / role
                member = host in groups.get(role, [])
                if not self.expect(f"hosts/{host}", role_dir.is_dir() == member,
                                   f"{role} rendered={role_dir.is_dir()} but in group {role}={member}"):
                    continue
                if not member:
                    continue
                files = {p.name: self.parse(p) for p in sorted(role_dir.iterdir())}
                sources = files.get("grafana.sources")
                if self.expect(f"hosts/{host}/{role}", sources is not None, "grafana.sources not rendered") and sources:
                    self.check_sources(host, role, sources)
                getattr(self, f"check_{role}")(host, files, *([stream_labels] if role == "promtail" else []))
            rendered = [(host_dir / r / "grafana.sources").read_text() for r in ("grafana", "loki", "promtail")
                        if (host_dir / r / "grafana.sources").is_file()]
            self.expect(f"hosts/{host}", len(set(rendered)) <= 1,
                        "the grafana, loki and promtail roles render different grafana.sources files")
        if groups.get("promtail"):
            self.check_logql_labels(stream_labels)
        for problem in self.problems:
            print(f"check_rendered: {problem}", file=sys.stderr)
        env = self.inv["environment"]
        print(f"check_rendered: {env}: {len(self.inv['addresses'])} hosts, {self.files} files, "
              f"{len(self.problems)} problems")
        return 1 if self.problems else 0


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    return Checker(argv[1], argv[2]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
