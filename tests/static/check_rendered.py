#!/usr/bin/env python3
"""Structural checks of the grafana, loki, alloy and promtail templates as
rendered by render.yml for one inventory.

Usage: check_rendered.py RENDER_DIR SECRETS_DIR

RENDER_DIR holds inventory.json (groups, addresses and settings of the
inventory, written by render.yml) and hosts/<host>/<role>/<file> (every
template of every role the host has). SECRETS_DIR is the secrets directory
the render used: no secret in it may appear in a rendered file.

Every rendered file is parsed by its kind (.ini, .yaml, .sources, .conf,
.alloy through tests/static/alloy/check.py, .default: an EnvironmentFile);
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
# The sandboxing options of the packaged grafana-server.service (a copy of
# Grafana's packaging/deb/systemd/grafana-server.service).
PACKAGED_GRAFANA_UNIT = Path(__file__).resolve().parent / "upstream" / "grafana-server.service"
# The alloy package's unit (grafana/alloy packaging/deb/alloy.service): the
# drop-in is verified over it, not over a stand-in.
PACKAGED_ALLOY_UNIT = Path(__file__).resolve().parent / "upstream" / "alloy.service"
sys.path.insert(0, str(Path(__file__).resolve().parent / "alloy"))
import check as alloy_check  # noqa: E402  (tests/static/alloy/check.py)
import alloy_syntax  # noqa: E402
SANDBOX_OPTIONS = {"CapabilityBoundingSet", "DeviceAllow", "LockPersonality", "MemoryDenyWriteExecute",
                   "NoNewPrivileges", "PrivateDevices", "PrivateTmp", "PrivateUsers", "ProtectClock",
                   "ProtectControlGroups", "ProtectHome", "ProtectHostname", "ProtectKernelLogs",
                   "ProtectKernelModules", "ProtectKernelTunables", "ProtectProc", "ProtectSystem", "RemoveIPC",
                   "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
                   "SystemCallArchitectures", "SystemCallFilter", "UMask"}
HARDENING = {"NoNewPrivileges": {"yes", "true"}, "ProtectSystem": {"strict", "full"},
             "ProtectHome": {"yes", "true", "read-only"}, "PrivateTmp": {"yes", "true"}}


class Checker:
    def __init__(self, render_dir, secrets_dir):
        self.dir = Path(render_dir)
        self.inv = json.loads((self.dir / "inventory.json").read_text())
        self.secrets = [p.read_text().strip() for p in Path(secrets_dir).glob("*") if p.is_file()]
        self.problems = []
        self.files = 0
        self.push_targets = {}
        self.verified_units = 0

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
            if path.suffix == ".alloy":
                # Syntax and the component reference of the pinned version.
                for problem in alloy_check.check_text(text, where):
                    self.fail(where, problem.removeprefix(where + ": "))
                return alloy_syntax.parse(text)
            if path.suffix == ".default":
                return self.parse_environment_file(text)
        except (configparser.Error, yaml.YAMLError, ValueError, alloy_syntax.AlloySyntaxError) as e:
            self.fail(where, f"does not parse: {e}")
            return None
        self.fail(where, f"unknown kind of file {path.suffix!r}: add a check for it to {Path(__file__).name}")
        return None

    @staticmethod
    def parse_environment_file(text):
        """An EnvironmentFile= of systemd: KEY="value" lines."""
        out = {}
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.fullmatch(r'([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))', line.strip())
            if not m:
                raise ValueError(f"not an environment file line: {line!r}")
            out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
        return out

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

    def systemd_verify_packaged(self, where, packaged, path):
        """`systemd-analyze verify` of the package's own unit with the drop-in
        over it (binaries absent here: every ExecStart runs /bin/true, the
        resets kept). Under CI=true a missing systemd-analyze fails."""
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            if os.environ.get("CI") == "true":
                self.fail(where, "systemd-analyze is not installed (CI=true): cannot verify the unit and drop-in")
            return
        with tempfile.TemporaryDirectory() as tmp:
            name = packaged.name
            unit = re.sub(r"(?m)^ExecStart=.+$", "ExecStart=/bin/true", packaged.read_text())
            # The environment file exists on the hosts only.
            unit = re.sub(r"(?m)^EnvironmentFile=", "EnvironmentFile=-", unit)
            (Path(tmp) / name).write_text(unit)
            dropin_dir = Path(tmp) / f"{name}.d"
            dropin_dir.mkdir()
            text = re.sub(r"(?m)^ExecStart=.+$", "ExecStart=/bin/true", path.read_text())
            (dropin_dir / "obsctl.conf").write_text(text)
            env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{tmp}:", SYSTEMD_LOG_COLOR="0")
            run = subprocess.run([analyze, "verify", str(Path(tmp) / name)], capture_output=True, text=True, env=env)
            for line in (run.stdout + run.stderr).splitlines():
                if "obsctl.conf" in line or name in line:
                    self.fail(where, f"systemd-analyze verify: {line.split(': ', 1)[-1]}")
            self.verified_units += 1

    def check_dropin(self, where, unit, data_dirs, exec_start=None, groups=None, packaged=None):
        if packaged:
            self.systemd_verify_packaged(where, packaged, self.dir / where)
        else:
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

    def check_sandbox_reset(self, where, dropin):
        """With hardening off, the drop-in over the packaged unit
        (upstream/grafana-server.service) leaves no sandboxing option on."""
        self.systemd_verify(where, self.dir / where)
        packaged = self.parse_unit(PACKAGED_GRAFANA_UNIT.read_text(), str(PACKAGED_GRAFANA_UNIT))
        merged = {k: list(v) for k, v in packaged.get("Service", {}).items()}
        for key, values in dropin.get("Service", {}).items():
            for value in values:
                # systemd: a list option appends, an empty value resets it;
                # a scalar option takes the last value.
                merged[key] = [] if value == "" else merged.get(key, []) + [value]
        for key in sorted(SANDBOX_OPTIONS & set(packaged.get("Service", {}))):
            values = merged.get(key, [])
            last = values[-1] if values else ""
            if key == "CapabilityBoundingSet":
                off = last == "~"  # empty is the EMPTY set (no capability); "~" (all but none) lifts it
            else:
                off = last in ("", "no", "false", "default") or (key == "UMask" and last == "0022")
            self.expect(where, off, f"[Service] {key}={last} stays in force from the packaged unit "
                                    "although grafana_systemd_hardening is false")

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
            self.expect(w, (get("server", "root_url") or "").startswith("https://"), "[server] root_url is not https://")
            self.expect(w, get("server", "protocol") == "https", "[server] protocol is not https")
            self.expect(w, get("server", "cert_file") == "/etc/obsctl/tls/grafana/server.crt"
                        and get("server", "cert_key") == "/etc/obsctl/tls/grafana/server.key",
                        "[server] cert_file/cert_key are not Grafana's copies of the host certificate")
            self.expect(w, get("security", "cookie_secure") == "true", "[security] cookie_secure is not true")
            self.expect(w, get("metrics", "basic_auth_username") == "prometheus"
                        and get("metrics", "basic_auth_password") == "$__file{/etc/obsctl/secrets/grafana/prometheus_password}",
                        "[metrics] must ask for basic auth as prometheus, password read from a file")
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
                mode = self.inv["grafana_database_ssl_mode"]
                self.expect(w, get("database", "ssl_mode") == mode, f"[database] ssl_mode is not {mode}")
                ca = get("database", "ca_cert_path")
                if mode == "verify-full":
                    self.expect(w, ca == "/etc/grafana/secrets/database-ca.pem",
                                f"[database] ca_cert_path is {ca!r} with verify-full")
                else:
                    self.expect(w, ca is None, f"[database] ca_cert_path set without verify-full")
            self.expect(w, (get("security", "secret_key") or "").startswith("$__file{/"),
                        "[security] secret_key must be read from a file ($__file{...}): without it Grafana "
                        "uses the public default key")
            self.expect(w, get("unified_alerting", "enabled") == "true", "[unified_alerting] enabled is not true")
            listen = get("unified_alerting", "ha_listen_address") or ""
            ha_port = listen.rpartition(":")[2]
            taken = {str(v) for k, v in self.inv["ports"].items()}
            self.expect(w, ha_port.isdigit() and ha_port not in taken and ha_port != "9094",
                        f"[unified_alerting] ha_listen_address {listen!r} must use a port of its own "
                        f"(not Alertmanager's cluster port, not one of {sorted(taken)})")
            self.expect(w, get("unified_alerting", "ha_advertise_address") == f"{self.addr(host)}:{ha_port}",
                        "[unified_alerting] ha_advertise_address is not this host's address and HA port")
            peers = sorted(filter(None, (get("unified_alerting", "ha_peers") or "").split(",")))
            want = sorted(f"{self.addr(h)}:{ha_port}" for h in groups["grafana"]) if len(groups["grafana"]) > 1 else []
            self.expect(w, peers == want, f"[unified_alerting] ha_peers is {peers}, expected {want}")
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
            ports = self.inv["ports"]
            expected = {"prometheus": ports["prometheus_port"], "loki": ports["loki_http_port"],
                        "alertmanager": ports["alertmanager_port"]}
            for uid, port in expected.items():
                members = groups.get(uid) or []
                if not members:
                    self.expect(w, uid not in by_uid, f"data source {uid} provisioned without a {uid} host")
                    continue
                entry = by_uid.get(uid)
                if not self.expect(w, entry is not None, f"no data source with uid {uid}"):
                    continue
                self.expect(w, entry["type"] == uid, f"data source {uid} has type {entry['type']}")
                # Identical on every Grafana: the local one when every Grafana
                # host runs the component, else its only host.
                if set(groups["grafana"]) <= set(members):
                    url = f"https://127.0.0.1:{port}"
                else:
                    self.expect(w, len(members) == 1 or len(groups["grafana"]) == 1,
                                f"{uid} on several hosts but not on every one of several Grafana hosts")
                    url = f"https://{self.addr(members[0])}:{port}"
                self.expect(w, entry["url"] == url, f"data source {uid} URL is {entry['url']}, expected {url}")
                # Every endpoint needs the CA and credentials (user grafana).
                secure = entry.get("secureJsonData") or {}
                self.expect(w, entry.get("basicAuth") is True and entry.get("basicAuthUser") == "grafana",
                            f"data source {uid}: basicAuth must be on, as user grafana")
                self.expect(w, secure.get("basicAuthPassword") == "$__file{/etc/obsctl/secrets/grafana/grafana_password}",
                            f"data source {uid}: basicAuthPassword must be read from grafana's password file")
                self.expect(w, (entry.get("jsonData") or {}).get("tlsAuthWithCACert") is True
                            and secure.get("tlsCACert") == "$__file{/etc/obsctl/tls/ca.crt}",
                            f"data source {uid}: must trust the environment CA (tlsAuthWithCACert, tlsCACert from ca.crt)")
                self.expect(w, not (entry.get("jsonData") or {}).get("tlsSkipVerify"),
                            f"data source {uid}: tlsSkipVerify is set")
            prom = by_uid.get("prometheus")
            if prom:
                interval = (prom.get("jsonData") or {}).get("timeInterval")
                want = self.inv["prometheus_scrape_interval"]
                self.expect(w, interval == want, f"prometheus timeInterval is {interval!r}, expected the environment's "
                                                 f"scrape interval {want!r}")
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
            where = f"{base}/grafana-server.override.conf"
            if self.inv["grafana_systemd_hardening"] in (True, "true", "True"):
                self.check_dropin(where, unit, ["/var/lib/grafana", "/var/log/grafana"])
            else:
                self.check_sandbox_reset(where, unit)

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
            ports = self.inv["ports"]
            ca, crt, key = "/etc/obsctl/tls/ca.crt", "/etc/obsctl/tls/loki/server.crt", "/etc/obsctl/tls/loki/server.key"
            # HTTP behind the gateway: loopback only, HTTPS.
            self.expect(w, g("server", "http_listen_address") == "127.0.0.1", "server.http_listen_address is not 127.0.0.1 "
                        "(Loki has no authentication: only the gateway may reach it)")
            self.expect(w, g("server", "http_listen_port") == ports["loki_backend_port"],
                        f"server.http_listen_port is not loki_backend_port {ports['loki_backend_port']}")
            self.expect(w, g("server", "http_tls_config") == {"cert_file": crt, "key_file": key},
                        f"server.http_tls_config is {g('server', 'http_tls_config')}, expected Loki's copies of the host certificate")
            self.expect(w, g("server", "grpc_listen_port") == 9096, "server.grpc_listen_port is not 9096")
            self.expect(w, g("server", "grpc_listen_address") == self.addr(host),
                        "server.grpc_listen_address is not this host's address (a SAN of its certificate)")
            self.expect(w, g("server", "grpc_tls_config") == {"cert_file": crt, "key_file": key, "client_ca_file": ca,
                                                               "client_auth_type": "RequireAndVerifyClientCert"},
                        f"server.grpc_tls_config is {g('server', 'grpc_tls_config')}: gRPC must be mutual TLS")
            client = {"tls_enabled": True, "tls_cert_path": crt, "tls_key_path": key, "tls_ca_path": ca}
            for path in (("ingester_client", "grpc_client_config"), ("frontend", "grpc_client_config"),
                         ("frontend_worker", "grpc_client_config"), ("query_scheduler", "grpc_client_config"),
                         ("compactor_grpc_client",),
                         ("storage_config", "tsdb_shipper", "index_gateway_client", "grpc_client_config")):
                self.expect(w, g(*path) == client, f"{'.'.join(path)} is {g(*path)}, expected TLS with the host certificate")
            self.expect(w, {k: g("memberlist", k) for k in client} == client,
                        "memberlist is not TLS with the host certificate and the CA")
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
            self.expect(w, g("ingester", "autoforget_unhealthy") is True,
                        "ingester.autoforget_unhealthy is not true: a dead Loki would stay in the ring for good")
            self.expect(w, g("ingester", "lifecycler", "readiness_check_ring_health") is False,
                        "ingester.lifecycler.readiness_check_ring_health is not false: one unhealthy member "
                        "would keep every Loki unready")
            self.expect(w, str(g("memberlist", "rejoin_interval") or "0") not in ("0", "0s"),
                        "memberlist.rejoin_interval must be > 0 with autoforget_unhealthy")
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
            ports = self.inv["ports"]
            self.expect(w, g("server", "http_listen_address") == "127.0.0.1", "server.http_listen_address is not 127.0.0.1 "
                        "(Promtail has no authentication: only the gateway may reach it)")
            self.expect(w, g("server", "http_listen_port") == ports["promtail_backend_port"],
                        f"server.http_listen_port is not promtail_backend_port {ports['promtail_backend_port']}")
            self.expect(w, g("server", "http_tls_config") == {"cert_file": "/etc/obsctl/tls/promtail/server.crt",
                                                               "key_file": "/etc/obsctl/tls/promtail/server.key"},
                        f"server.http_tls_config is {g('server', 'http_tls_config')}")
            self.expect(w, str(g("positions", "filename") or "").startswith("/var/lib/promtail/"),
                        "positions.filename is not under /var/lib/promtail")
            clients = cfg.get("clients") or []
            urls = [c.get("url") for c in clients]
            self.check_push_urls(w, host, urls, "clients")
            for c in clients:
                auth = c.get("basic_auth") or {}
                self.expect(w, auth == {"username": "promtail", "password_file": "/etc/obsctl/secrets/promtail/promtail_password"},
                            f"client {c.get('url')}: basic_auth is {auth}, expected promtail with its password file")
                tls = c.get("tls_config") or {}
                self.expect(w, tls.get("ca_file") == "/etc/obsctl/tls/ca.crt" and not tls.get("insecure_skip_verify"),
                            f"client {c.get('url')}: tls_config must trust the environment CA and verify")
                if "127.0.0.1" in str(c.get("url")):
                    self.expect(w, tls.get("server_name") == host,
                                f"client {c.get('url')}: the local gateway is checked under this host's name, got {tls.get('server_name')}")
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

    # ----------------------------------------------------------- alloy
    def check_alloy(self, host, files, stream_labels):
        base = f"hosts/{host}/alloy"
        ports = self.inv["ports"]
        statements = files.get("config.alloy")
        if self.expect(base, isinstance(statements, list), "config.alloy not rendered or does not parse"):
            w = f"{base}/config.alloy"
            blocks = {(b.name, b.label): b for b in statements if isinstance(b, alloy_syntax.Block)}
            http = blocks.get(("http", None))
            tls = next((b for b in (http.blocks() if http else []) if b.name == "tls"), None)
            self.expect(w, tls is not None and tls.attributes() == {"cert_file": "/etc/obsctl/tls/alloy/server.crt",
                                                                     "key_file": "/etc/obsctl/tls/alloy/server.key"},
                        "http > tls must serve Alloy's own copy of the host certificate (HTTPS only)")
            writes = [b for (name, _), b in blocks.items() if name == "loki.write"]
            endpoints = [e for b in writes for e in b.blocks() if e.name == "endpoint"]
            urls = [e.attributes().get("url") for e in endpoints]
            self.check_push_urls(w, host, urls, "endpoints")
            for e in endpoints:
                sub_blocks = {b.name: b.attributes() for b in e.blocks()}
                auth = sub_blocks.get("basic_auth")
                self.expect(w, auth == {"username": "alloy", "password_file": "/etc/obsctl/secrets/alloy/alloy_password"},
                            f"endpoint {e.attributes().get('url')}: basic_auth is {auth}, expected alloy with its password file")
                tls_c = sub_blocks.get("tls_config") or {}
                self.expect(w, tls_c.get("ca_file") == "/etc/obsctl/tls/ca.crt" and tls_c.get("insecure_skip_verify") is False,
                            f"endpoint {e.attributes().get('url')}: tls_config must trust the environment CA and verify")
                if "127.0.0.1" in str(e.attributes().get("url")):
                    self.expect(w, tls_c.get("server_name") == host,
                                f"the local gateway is checked under this host's name, got {tls_c.get('server_name')}")
            for b in writes:
                labels = b.attributes().get("external_labels") or {}
                self.expect(w, labels.get("host") == host, f"external label host is {labels.get('host')}")
                self.expect(w, labels.get("env") == self.inv["environment"], f"external label env is {labels.get('env')}")
                stream_labels.setdefault("host", set()).add(host)
                stream_labels.setdefault("env", set()).add(labels.get("env"))
            journal = blocks.get(("loki.source.journal", "journal"))
            relabel = blocks.get(("loki.relabel", "journal"))
            if self.expect(w, journal is not None and relabel is not None, "no journal source with its relabel rules"):
                a = journal.attributes()
                self.expect(w, isinstance(a.get("relabel_rules"), alloy_syntax.Ref)
                            and a["relabel_rules"].dotted() == "loki.relabel.journal.rules",
                            "journal: relabel_rules is not loki.relabel.journal.rules")
                rules = {(tuple(r.attributes().get("source_labels") or []), r.attributes().get("target_label"))
                         for r in relabel.blocks() if r.name == "rule"}
                self.expect(w, (("__journal__systemd_unit",), "unit") in rules, "journal: __journal__systemd_unit is not relabelled to unit")
                for _, target in rules:
                    stream_labels.setdefault(target, set())
                for k, v in (a.get("labels") or {}).items():
                    stream_labels.setdefault(k, set()).add(v)
            source = blocks.get(("loki.source.file", "orders_api"))
            process = blocks.get(("loki.process", "orders_api"))
            if host in self.inv["groups"]["app"]:
                if self.expect(w, source is not None and process is not None, "application host without the orders-api source and pipeline"):
                    a = source.attributes()
                    target = (a.get("targets") or [{}])[0]
                    self.expect(w, target.get("__path__") == "/var/log/orders-api/orders-api.log",
                                f"orders-api __path__ is {target.get('__path__')}")
                    self.expect(w, a.get("legacy_positions_file") == "/var/lib/alloy/promtail-positions.yaml",
                                "orders-api: legacy_positions_file is not the copy of Promtail's positions "
                                "(ansible/roles/alloy/tasks/migrate.yml)")
                    for k, v in target.items():
                        if not k.startswith("__"):
                            stream_labels.setdefault(k, set()).add(v)
                    stages = process.blocks()
                    kinds = [b.name for b in stages]
                    self.expect(w, kinds[:3] == ["stage.json", "stage.labels", "stage.timestamp"],
                                f"orders-api pipeline is {kinds}, expected stage.json, stage.labels, stage.timestamp")
                    if kinds[:3] == ["stage.json", "stage.labels", "stage.timestamp"]:
                        exprs = stages[0].attributes().get("expressions") or {}
                        for key in ("ts", "level", "route", "status"):
                            self.expect(w, key in exprs, f"stage.json does not extract {key}")
                        labels = set(stages[1].attributes().get("values") or {})
                        self.expect(w, labels == {"level", "route", "status"}, f"stage.labels sets {sorted(labels)}")
                        for label in labels:
                            stream_labels.setdefault(label, set())
                        self.expect(w, stages[2].attributes().get("source") == "ts", "stage.timestamp does not read ts")
            else:
                self.expect(w, source is None, "orders-api source on a host outside group app")
        env_file = files.get("alloy.default")
        if self.expect(base, isinstance(env_file, dict), "alloy.default (/etc/default/alloy) not rendered"):
            w = f"{base}/alloy.default"
            self.expect(w, env_file.get("CONFIG_FILE") == "/etc/alloy/config.alloy", f"CONFIG_FILE is {env_file.get('CONFIG_FILE')}")
            args = (env_file.get("CUSTOM_ARGS") or "").split()
            self.check_alloy_flags(w, args)
        unit = files.get("alloy.override.conf")
        if self.expect(base, unit is not None, "alloy.override.conf not rendered") and unit:
            w = f"{base}/alloy.override.conf"
            self.check_dropin(w, unit, ["/var/lib/alloy"], exec_start="/usr/bin/alloy run ",
                              groups=["adm", "systemd-journal"], packaged=PACKAGED_ALLOY_UNIT)
            starts = unit.get("Service", {}).get("ExecStart", [])
            if len(starts) == 2:
                words = starts[1].split()
                self.check_alloy_flags(w, words)
                self.expect(w, "--storage.path=/var/lib/alloy/data" in words and words[-1] == "/etc/alloy/config.alloy",
                            f"ExecStart is {starts[1]!r}: the packaged unit's storage path and config file")

    def check_alloy_flags(self, where, words):
        """Alloy's HTTP server never on 0.0.0.0 (the gateway serves it with
        basic auth), usage reporting off."""
        port = self.inv["ports"]["alloy_backend_port"]
        listen = [x.split("=", 1)[1] for x in words if x.startswith("--server.http.listen-addr=")]
        self.expect(where, listen == [f"127.0.0.1:{port}"],
                    f"--server.http.listen-addr is {listen}, expected 127.0.0.1:{port} (alloy_backend_port) only")
        self.expect(where, "--disable-reporting" in words, "usage reporting is on (no --disable-reporting)")

    # ----------------------------------------------------------- loki_gateway
    @staticmethod
    def nginx_servers(text):
        """The server blocks of an nginx site: [{directive: [args...]}] (the
        directives of the block and of its locations, one level of nesting;
        nginx -t checks the syntax itself, in configs.sh)."""
        text = re.sub(r"(?m)#.*$", "", text)
        servers, pos = [], 0
        while (m := re.search(r"\bserver\s*\{", text[pos:])):
            start = pos + m.end()
            depth, i = 1, start
            while depth and i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            body = re.sub(r"[{}]", ";", text[start:i - 1])
            block = {}
            for stmt in body.split(";"):
                words = stmt.split()
                if words:
                    block.setdefault(words[0], []).append(" ".join(words[1:]))
            servers.append(block)
            pos = i
        return servers

    def check_push_urls(self, w, host, urls, what):
        """The log agent of `host` pushes to one Loki: its own where it runs one."""
        lokis = self.inv["groups"]["loki"]
        port = self.inv["ports"]["loki_http_port"]
        if host in lokis:
            allowed = {f"https://127.0.0.1:{port}/loki/api/v1/push"}
        else:
            allowed = {f"https://{self.addr(h)}:{port}/loki/api/v1/push" for h in lokis}
        self.expect(w, len(urls) == 1 and urls[0] in allowed,
                    f"{what} are {urls}, expected one of {sorted(allowed)} (one Loki address: "
                    "the local Loki where the host runs one)")
        if urls:
            self.push_targets.setdefault(urls[0], []).append(host)

    def check_loki_gateway(self, host, files):
        base = f"hosts/{host}/loki_gateway"
        groups, ports = self.inv["groups"], self.inv["ports"]
        fronts = [c for c in ("loki", "alloy", "promtail") if host in groups.get(c, [])]
        # Prometheus and Alertmanager: per-path rules, one htpasswd per action.
        ruled = [c for c in ("prometheus", "alertmanager") if host in groups.get(c, [])]
        users = {"loki": ["obsctl", "prometheus", "grafana", "alloy", "promtail"], "alloy": ["obsctl", "prometheus"],
                 "promtail": ["obsctl", "prometheus"]}
        web = self.inv["web_users"]
        access = self.inv["access"]
        for name in ruled:
            self.expect(base, name in access["gateway"], f"obsctl_access has no gateway rules for {name}")
            for action, allowed in access["actions"].items():
                w = f"{base}/{name}-{action}.htpasswd"
                text = files.get(f"{name}-{action}.htpasswd")
                if not self.expect(base, text is not None, f"{name}-{action}.htpasswd not rendered"):
                    continue
                got = dict(l.split(":", 1) for l in text.splitlines() if ":" in l)
                self.expect(w, sorted(got) == sorted(allowed), f"users {sorted(got)}, expected {sorted(allowed)}")
                for user, hashed in got.items():
                    self.expect(w, hashed == (web.get(user) or {}).get("bcrypt"), f"{user}: not the hash of obsctl_web_users")
        for name in fronts:
            w = f"{base}/{name}.htpasswd"
            text = files.get(f"{name}.htpasswd")
            if not self.expect(base, text is not None, f"{name}.htpasswd not rendered"):
                continue
            lines = [l for l in text.splitlines() if l.strip()]
            got = dict(l.split(":", 1) for l in lines if ":" in l)
            self.expect(w, sorted(got) == sorted(users[name]), f"users {sorted(got)}, expected {sorted(users[name])}")
            for user, hashed in got.items():
                self.expect(w, re.fullmatch(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", hashed) is not None,
                            f"{user}: not a bcrypt hash")
                self.expect(w, hashed == (web.get(user) or {}).get("bcrypt"), f"{user}: not the hash of obsctl_web_users")
        site = files.get("log-gateway.conf")
        if not self.expect(base, site is not None, "log-gateway.conf not rendered"):
            return
        w = f"{base}/log-gateway.conf"
        servers = self.nginx_servers(site)
        self.expect(w, len(servers) == len(fronts) + len(ruled), f"{len(servers)} server blocks for {fronts + ruled}")
        address = self.inv["addresses"][host]
        for name in ruled:
            port = ports[f"{name}_port"]
            block = next((s for s in servers if any(l.split()[0] == f"{address}:{port}" for l in s.get("listen", []))), None)
            if not self.expect(w, block is not None, f"no server block listens on {address}:{port} ({name}, the host's address only)"):
                continue
            one = lambda k: (block.get(k) or [None])[-1]  # noqa: E731
            self.expect(w, all("ssl" in l.split() for l in block["listen"]), f"{name}: a listen without ssl")
            self.expect(w, one("auth_basic_user_file") == f"/etc/nginx/obsctl/{name}-$obsctl_{name}_action.htpasswd",
                        f"{name}: auth_basic_user_file is {one('auth_basic_user_file')}")
            self.expect(w, one("return") == "403", f"{name}: what is off is not refused with 403")
            self.expect(w, re.search(rf"upstream obsctl_{name}\s*\{{\s*server 127\.0\.0\.1:{port};", site) is not None,
                        f"{name}: upstream is not 127.0.0.1:{port}")
            self.expect(w, one("proxy_ssl_verify") == "on" and one("proxy_ssl_name") == host,
                        f"{name}: the backend's certificate is not checked")
            self.expect(w, 'Authorization ""' not in block.get("proxy_set_header", []),
                        f"{name}: the credentials are not passed on (its web.yml checks them again)")
            for r in access["gateway"].get(name, []):
                key = f'"~^(?:{r["methods"]}) (?:{r["path"]})$" {r["action"] or "off"};'
                self.expect(w, key in site, f"{name}: the rule {key} is not in the map")
        for name in fronts:
            port, backend = ports[f"{name}_http_port"], ports[f"{name}_backend_port"]
            block = next((s for s in servers if any(l.split()[0] in (str(port), f"0.0.0.0:{port}")
                                                    for l in s.get("listen", []))), None)
            if not self.expect(w, block is not None, f"no server block listens on {name}'s port {port}"):
                continue
            one = lambda k: (block.get(k) or [None])[-1]  # noqa: E731
            self.expect(w, all("ssl" in l.split() for l in block["listen"]), f"{name}: a listen without ssl")
            self.expect(w, one("ssl_certificate") == "/etc/obsctl/tls/loki_gateway/server.crt"
                        and one("ssl_certificate_key") == "/etc/obsctl/tls/loki_gateway/server.key",
                        f"{name}: not the gateway's copy of the host certificate")
            self.expect(w, one("auth_basic") not in (None, "off"), f"{name}: auth_basic is off")
            self.expect(w, one("auth_basic_user_file") == f"/etc/nginx/obsctl/{name}.htpasswd",
                        f"{name}: auth_basic_user_file is {one('auth_basic_user_file')}")
            self.expect(w, one("proxy_pass") == f"https://obsctl_{name}", f"{name}: proxy_pass is {one('proxy_pass')}")
            self.expect(w, re.search(rf"upstream obsctl_{name}\s*\{{\s*server 127\.0\.0\.1:{backend};", site) is not None,
                        f"{name}: upstream is not 127.0.0.1:{backend} ({name}_backend_port)")
            self.expect(w, one("proxy_ssl_verify") == "on" and one("proxy_ssl_trusted_certificate") == "/etc/obsctl/tls/ca.crt",
                        f"{name}: the backend's certificate is not checked against the CA")
            self.expect(w, one("proxy_ssl_name") == host, f"{name}: proxy_ssl_name is not this host's name")
            self.expect(w, 'Authorization ""' in block.get("proxy_set_header", []),
                        f"{name}: the credentials are passed on to the backend")

    def check_logql_labels(self, stream_labels):
        """Every label a dashboard's LogQL selector uses is set by the log agent."""
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
                                           f"LogQL label {label!r} is not set by any log agent's config "
                                           f"(known: {', '.join(sorted(stream_labels))})"):
                                known = stream_labels[label]
                                if op == "=" and known:
                                    self.expect(where, value in known, f"no log agent's stream has {label}={value!r}")

    def check_identical_datasources(self):
        """The Grafanas of an environment share one database (prod): each
        must get the very same data-source file, or the last to start wins."""
        files = {h: (self.dir / "hosts" / h / "grafana" / "datasources.yaml") for h in self.inv["groups"]["grafana"]}
        texts = {h: p.read_text() for h, p in files.items() if p.is_file()}
        self.expect("grafana", len(set(texts.values())) <= 1,
                    f"datasources.yaml differs between the Grafana hosts {sorted(texts)}: they overwrite "
                    "each other's data sources in their shared database")

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
            for role in ("grafana", "loki", "alloy", "promtail"):
                role_dir = host_dir / role
                member = host in groups.get(role, [])
                if not self.expect(f"hosts/{host}", role_dir.is_dir() == member,
                                   f"{role} rendered={role_dir.is_dir()} but in group {role}={member}"):
                    continue
                if not member:
                    continue
                files = {p.name: self.parse(p) for p in sorted(role_dir.iterdir())}
                self.expect(f"hosts/{host}/{role}", "grafana.sources" not in files,
                            "grafana.sources rendered by the role itself: it belongs to role grafana_apt")
                getattr(self, f"check_{role}")(host, files, *([stream_labels] if role in ("alloy", "promtail") else []))
            apt_dir = host_dir / "grafana_apt"
            uses_apt = any(host in groups.get(r, []) for r in ("grafana", "loki", "alloy", "promtail"))
            if self.expect(f"hosts/{host}", apt_dir.is_dir() == uses_apt,
                           f"grafana_apt rendered={apt_dir.is_dir()} but host needs Grafana's repository={uses_apt}") and uses_apt:
                sources = self.parse(apt_dir / "grafana.sources") if (apt_dir / "grafana.sources").is_file() else None
                if self.expect(f"hosts/{host}/grafana_apt", sources is not None, "grafana.sources not rendered") and sources:
                    self.check_sources(host, "grafana_apt", sources)
            gateway_dir = host_dir / "loki_gateway"
            fronts = any(host in groups.get(r, []) for r in ("loki", "alloy", "promtail", "prometheus", "alertmanager"))
            if self.expect(f"hosts/{host}", gateway_dir.is_dir() == fronts,
                           f"loki_gateway rendered={gateway_dir.is_dir()} but host runs Loki, a log agent, Prometheus or Alertmanager={fronts}") and fronts:
                texts = {}
                for p in sorted(gateway_dir.iterdir()):
                    where = str(p.relative_to(self.dir))
                    texts[p.name] = p.read_text()
                    self.files += 1
                    for secret in self.secrets:
                        if secret and secret in texts[p.name]:
                            self.fail(where, "contains a secret from the secrets directory")
                    if p.suffix not in (".conf", ".htpasswd"):
                        self.fail(where, f"unknown kind of file {p.suffix!r}: add a check for it to {Path(__file__).name}")
                self.check_loki_gateway(host, texts)
        self.check_identical_datasources()
        if groups.get("alloy") or groups.get("promtail"):
            self.check_logql_labels(stream_labels)
        if groups.get("alloy"):
            self.expect("alloy", self.verified_units > 0 or (not shutil.which("systemd-analyze") and os.environ.get("CI") != "true"),
                        "no alloy drop-in went through systemd-analyze verify")
        for problem in self.problems:
            print(f"check_rendered: {problem}", file=sys.stderr)
        env = self.inv["environment"]
        print(f"check_rendered: {env}: {len(self.inv['addresses'])} hosts, {self.files} files, "
              f"{len(self.problems)} problems" + (f", {self.verified_units} units verified" if self.verified_units else ""))
        return 1 if self.problems else 0


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    return Checker(argv[1], argv[2]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
