//! The user's own services as data (issue #31): `[[scrape_jobs]]`, `[user]`
//! (folders of rule and dashboard files) and `[[logs]]`, as written in the
//! env file (`Raw…`, unknown keys refused) and as validated.
//!
//! Paths in these tables are relative to the env file's folder. Credentials
//! are never in the env file: only the file or environment variable that
//! holds them (`*_file`, `*_env`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Host, SecretSource};
use crate::model::component::{ComponentId, Registry};
use crate::model::existing::ExistingHost;
use crate::model::names;
use crate::model::units::PromDuration;

/// Where the Prometheus hosts keep the user's CA files and credentials
/// (`<job>.ca.crt`, `<job>.password`, `<job>.bearer_token`): owned by the
/// prometheus role (ansible/roles/managed_dirs), so a job's files go with it.
pub const SCRAPE_FILES_DIR: &str = "/etc/prometheus/scrape";
/// The user's file_sd folders (`<dir>/<job>/*.{json,yml,yaml}`): the user's,
/// never cleaned by convergence, not under any owned directory.
pub const FILE_SD_DIR: &str = "/etc/prometheus/file_sd";
/// The prefix of the user's rule files on the Prometheus hosts, beside the
/// built-in rules in the folder the prometheus role owns
/// (`/etc/prometheus/rules/user-<file>`).
pub const USER_RULES_PREFIX: &str = "user-";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBasicAuth {
    username: String,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScrapeJob {
    name: String,
    targets: Option<Vec<String>>,
    group: Option<String>,
    port: Option<u16>,
    scheme: Option<String>,
    ca_file: Option<PathBuf>,
    metrics_path: Option<String>,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    basic_auth: Option<RawBasicAuth>,
    bearer_token_file: Option<PathBuf>,
    bearer_token_env: Option<String>,
    #[serde(default)]
    relabel_configs: Vec<toml::Table>,
    #[serde(default)]
    file_sd: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    rules_dir: Option<PathBuf>,
    dashboards_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogs {
    hosts: Option<Vec<String>>,
    group: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// One target of a user job: a host of the environment (its private address
/// is resolved from the contract) or an address taken as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    Host { host: String, port: u16 },
    Address { address: String, port: u16 },
}

/// A credential of a user job: `credential` is `password` or `bearer_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSecret {
    pub job: String,
    pub credential: &'static str,
    pub source: SecretSource,
}

/// `[[scrape_jobs]]`, validated.
#[derive(Debug, Clone, Serialize)]
pub struct ScrapeJob {
    pub name: String,
    pub targets: Vec<Target>,
    pub https: bool,
    /// On the controller (resolved against the env file's folder).
    pub ca_file: Option<PathBuf>,
    pub metrics_path: Option<String>,
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub labels: BTreeMap<String, String>,
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<SecretSource>,
    #[serde(skip)]
    pub bearer_token: Option<SecretSource>,
    pub relabel_configs: Vec<serde_json::Value>,
    pub file_sd: bool,
}

impl ScrapeJob {
    pub fn secrets(&self) -> Vec<JobSecret> {
        let mut out = Vec::new();
        for (credential, s) in [("password", &self.password), ("bearer_token", &self.bearer_token)] {
            if let Some(source) = s {
                out.push(JobSecret { job: self.name.clone(), credential, source: source.clone() });
            }
        }
        out
    }

    /// This job's CA (`ca.crt`) or credential file on the Prometheus hosts.
    pub fn host_file(&self, what: &str) -> String {
        format!("{SCRAPE_FILES_DIR}/{}.{what}", self.name)
    }

    /// Prometheus' `scrape_config` of this job; `address` resolves a host of
    /// the environment to the address Prometheus scrapes.
    pub fn scrape_config(&self, address: impl Fn(&str) -> Option<String>) -> serde_json::Value {
        use serde_json::json;
        let mut static_configs = Vec::new();
        for t in &self.targets {
            let (target, host) = match t {
                Target::Host { host, port } => (format!("{}:{port}", address(host).unwrap_or_else(|| host.clone())), Some(host)),
                Target::Address { address, port } => (join_host_port(address, *port), None),
            };
            let mut labels = serde_json::Map::new();
            if let Some(h) = host {
                labels.insert("host".into(), json!(h));
            }
            static_configs.push(json!({ "targets": [target], "labels": labels }));
        }
        for sc in &mut static_configs {
            if let Some(l) = sc["labels"].as_object_mut() {
                for (k, v) in &self.labels {
                    l.insert(k.clone(), json!(v));
                }
            }
        }
        let mut c = json!({
            "job_name": self.name,
            "scheme": if self.https { "https" } else { "http" },
            "static_configs": static_configs,
        });
        if let Some(p) = &self.metrics_path {
            c["metrics_path"] = json!(p);
        }
        if let Some(d) = &self.scrape_interval {
            c["scrape_interval"] = json!(d.text());
        }
        if let Some(d) = &self.scrape_timeout {
            c["scrape_timeout"] = json!(d.text());
        }
        if self.ca_file.is_some() {
            c["tls_config"] = json!({ "ca_file": self.host_file("ca.crt") });
        }
        if let Some(u) = &self.username {
            c["basic_auth"] = json!({ "username": u, "password_file": self.host_file("password") });
        }
        if self.bearer_token.is_some() {
            c["authorization"] = json!({ "type": "Bearer", "credentials_file": self.host_file("bearer_token") });
        }
        if !self.relabel_configs.is_empty() {
            c["relabel_configs"] = json!(self.relabel_configs);
        }
        if self.file_sd {
            let d = format!("{FILE_SD_DIR}/{}", self.name);
            c["file_sd_configs"] = json!([{ "files": [format!("{d}/*.json"), format!("{d}/*.yml"), format!("{d}/*.yaml")] }]);
        }
        c
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `[[logs]]`, validated: the hosts (by name) whose log agent ships these
/// files and journal units, with these labels.
#[derive(Debug, Clone, Serialize)]
pub struct LogSource {
    pub hosts: Vec<String>,
    pub files: Vec<String>,
    pub units: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Everything of the user's own services, validated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserInputs {
    pub scrape_jobs: Vec<ScrapeJob>,
    /// On the controller, resolved against the env file's folder.
    pub rules_dir: Option<PathBuf>,
    pub dashboards_dir: Option<PathBuf>,
    pub logs: Vec<LogSource>,
}

impl UserInputs {
    pub fn is_empty(&self) -> bool {
        self.scrape_jobs.is_empty() && self.rules_dir.is_none() && self.dashboards_dir.is_none() && self.logs.is_empty()
    }
}

/// Inventory groups a job or log source may name: every component role
/// (the hosts that have it) and `all`.
pub fn groups(hosts: &[Host], existing: &[ExistingHost]) -> BTreeMap<String, Vec<String>> {
    let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in hosts {
        g.entry("all".into()).or_default().push(h.name.clone());
        for r in &h.roles {
            g.entry(r.name().to_string()).or_default().push(h.name.clone());
        }
    }
    // Hosts obsctl did not create: their components and their own groups.
    for e in existing {
        g.entry("all".into()).or_default().push(e.name.clone());
        for r in e.roles.iter().map(|r| r.name().to_string()).chain(e.groups.iter().cloned()) {
            g.entry(r).or_default().push(e.name.clone());
        }
    }
    g
}

/// Every host name of the environment: Terraform's and the existing ones.
fn host_names(hosts: &[Host], existing: &[ExistingHost]) -> Vec<String> {
    hosts.iter().map(|h| h.name.clone()).chain(existing.iter().map(|e| e.name.clone())).collect()
}

type Bad = (String, String);

fn label_name(k: &str) -> bool {
    let mut c = k.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with("__")
}

fn check_labels(key: &str, labels: &BTreeMap<String, String>, reserved: &[&str]) -> Result<(), Bad> {
    for k in labels.keys() {
        if !label_name(k) {
            return Err((format!("{key}.labels"), format!("`{k}` is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")));
        }
        if reserved.contains(&k.as_str()) {
            return Err((format!("{key}.labels"), format!("`{k}` is set by obsctl; choose another label name")));
        }
    }
    Ok(())
}

fn resolve(folder: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        folder.join(p)
    }
}

fn secret(key: &str, what: &str, file: Option<PathBuf>, env: Option<String>, folder: &Path) -> Result<Option<SecretSource>, Bad> {
    match (file, env) {
        (Some(_), Some(_)) => Err((key.into(), format!("set one of {what}_file and {what}_env, not both"))),
        (Some(f), None) => Ok(Some(SecretSource::File(resolve(folder, &f)))),
        (None, Some(v)) if names::env_var(&v) => Ok(Some(SecretSource::Env(v))),
        (None, Some(v)) => Err((format!("{key}.{what}_env"), format!("`{v}` is not an environment variable name"))),
        (None, None) => Ok(None),
    }
}

/// `host:port` or `[v6]:port`.
fn split_target(t: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h.to_string(), p)
    } else {
        let (h, p) = t.rsplit_once(':')?;
        (h.to_string(), p)
    };
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then_some((host, port))
}

fn target(t: &str, names: &[String]) -> Result<Target, String> {
    let Some((host, port)) = split_target(t) else {
        return Err(format!("`{t}` is not host:port (a host of the environment, an IP address or a fully qualified name, and a port)"));
    };
    if names.contains(&host) {
        return Ok(Target::Host { host, port });
    }
    let fqdn = host.contains('.') && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if host.parse::<std::net::IpAddr>().is_ok() || fqdn {
        return Ok(Target::Address { address: host, port });
    }
    let known: Vec<&str> = names.iter().map(String::as_str).collect();
    Err(format!("`{host}` is not a host of the environment ({}), an IP address or a fully qualified name", known.join(", ")))
}

/// Every `host:port` a built-in job scrapes → that job: the scraped port of
/// each enabled component on each host that runs it (an existing host also
/// by its address). A user job on one of them would double every series.
fn builtin_endpoints(
    hosts: &[Host],
    existing: &[ExistingHost],
    registry: &Registry,
    components: &BTreeSet<ComponentId>,
) -> BTreeMap<(String, u16), &'static str> {
    let mut out = BTreeMap::new();
    for c in registry.iter().filter(|c| components.contains(&c.id)) {
        for h in hosts.iter().filter(|h| c.every_host || h.roles.contains(&c.id)) {
            out.insert((h.name.clone(), c.port()), c.job);
        }
        for e in existing.iter().filter(|e| e.roles.contains(&c.id)) {
            out.insert((e.name.clone(), c.port()), c.job);
            out.insert((e.address.clone(), c.port()), c.job);
        }
    }
    out
}

pub(super) fn validate_jobs(
    raw: Vec<RawScrapeJob>,
    hosts: &[Host],
    existing: &[ExistingHost],
    registry: &Registry,
    components: &BTreeSet<ComponentId>,
    folder: &Path,
) -> Result<Vec<ScrapeJob>, Bad> {
    let builtin: BTreeSet<&str> = registry.iter().map(|c| c.job).collect();
    let endpoints = builtin_endpoints(hosts, existing, registry, components);
    let groups = groups(hosts, existing);
    let names = host_names(hosts, existing);
    let mut seen = BTreeSet::new();
    let mut jobs = Vec::new();
    for (i, j) in raw.into_iter().enumerate() {
        let key = format!("scrape_jobs[{i}]");
        let k = |f: &str| format!("{key}.{f}");
        if !names::valid_job(&j.name) {
            return Err((k("name"), format!("`{}` is not a job name: {}", j.name, names::JOB_RULE)));
        }
        if builtin.contains(j.name.as_str()) {
            let list: Vec<&str> = builtin.iter().copied().collect();
            return Err((
                k("name"),
                format!(
                    "`{}` is a built-in job of obsctl ({}); name your job otherwise, e.g. `{}-custom`",
                    j.name,
                    list.join(", "),
                    j.name
                ),
            ));
        }
        if !seen.insert(j.name.clone()) {
            return Err((k("name"), format!("job `{}` is defined twice", j.name)));
        }
        let mut targets = Vec::new();
        for t in j.targets.iter().flatten() {
            targets.push(target(t, &names).map_err(|what| (k("targets"), what))?);
        }
        match (&j.group, j.port) {
            (Some(g), Some(port)) if port > 0 => {
                let members = groups.get(g).ok_or_else(|| {
                    (
                        k("group"),
                        format!(
                            "`{g}` is not a group of the environment; known: {}",
                            groups.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
                targets.extend(members.iter().map(|h| Target::Host { host: h.clone(), port }));
            }
            (Some(_), _) => {
                return Err((k("port"), "a job with `group` needs `port` (1–65535), scraped on every host of the group".into()))
            }
            (None, Some(_)) => return Err((k("port"), "`port` goes with `group`; in `targets` write host:port".into())),
            (None, None) => {}
        }
        for t in &targets {
            let (host, port) = match t {
                Target::Host { host, port } => (host, *port),
                Target::Address { address, port } => (address, *port),
            };
            if let Some(job) = endpoints.get(&(host.clone(), port)) {
                let key = if j.group.is_some() && !j.targets.iter().flatten().any(|x| split_target(x) == Some((host.clone(), port))) {
                    k("group")
                } else {
                    k("targets")
                };
                return Err((
                    key,
                    format!(
                        "job `{}` scrapes `{}`, which obsctl's built-in job `{job}` already scrapes: a second job would double \
                         every series; remove this target",
                        j.name,
                        join_host_port(host, port)
                    ),
                ));
            }
        }
        if targets.is_empty() && !j.file_sd {
            return Err((k("targets"), format!("job `{}` has no targets: set `targets`, `group` + `port`, or `file_sd = true`", j.name)));
        }
        let https = match j.scheme.as_deref() {
            None | Some("http") => false,
            Some("https") => true,
            Some(other) => return Err((k("scheme"), format!("`{other}`: allowed are http (the default) and https"))),
        };
        let ca_file = j.ca_file.map(|p| resolve(folder, &p));
        if https && ca_file.is_none() {
            return Err((
                k("ca_file"),
                "scheme https needs ca_file, the CA that signed the target's certificate (obsctl never skips verification)".into(),
            ));
        }
        if !https && ca_file.is_some() {
            return Err((k("ca_file"), "ca_file applies to scheme = \"https\" only".into()));
        }
        if let Some(p) = &j.metrics_path {
            if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err((k("metrics_path"), format!("`{p}` is not a path like /metrics")));
            }
        }
        let dur = |f: &str, v: &Option<String>| -> Result<Option<PromDuration>, Bad> {
            v.as_ref().map(|v| PromDuration::parse(v).ok_or_else(|| (k(f), format!("`{v}` is not a duration like 30s, 1m")))).transpose()
        };
        let scrape_interval = dur("scrape_interval", &j.scrape_interval)?;
        let scrape_timeout = dur("scrape_timeout", &j.scrape_timeout)?;
        if let (Some(i), Some(t)) = (&scrape_interval, &scrape_timeout) {
            if t.length() > i.length() {
                return Err((k("scrape_timeout"), format!("{} is longer than scrape_interval {}", t.text(), i.text())));
            }
        }
        check_labels(&key, &j.labels, &["host", "job", "instance", "env", "replica"])?;
        let (username, password) = match j.basic_auth {
            None => (None, None),
            Some(b) => {
                let bk = k("basic_auth");
                let s = secret(&bk, "password", b.password_file, b.password_env, folder)?;
                let Some(s) = s else {
                    return Err((bk, "basic_auth needs password_file or password_env (never the password itself)".into()));
                };
                if b.username.is_empty() {
                    return Err((format!("{bk}.username"), "is empty".into()));
                }
                (Some(b.username), Some(s))
            }
        };
        let bearer_token = secret(&key, "bearer_token", j.bearer_token_file, j.bearer_token_env, folder)?;
        if password.is_some() && bearer_token.is_some() {
            return Err((k("bearer_token_file"), "a job authenticates with basic_auth or a bearer token, not both".into()));
        }
        let relabel_configs = j.relabel_configs.iter().map(|t| serde_json::to_value(t).unwrap_or_default()).collect();
        jobs.push(ScrapeJob {
            name: j.name,
            targets,
            https,
            ca_file,
            metrics_path: j.metrics_path,
            scrape_interval,
            scrape_timeout,
            labels: j.labels,
            username,
            password,
            bearer_token,
            relabel_configs,
            file_sd: j.file_sd,
        });
    }
    Ok(jobs)
}

pub(super) fn validate_user(raw: RawUser, folder: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    (raw.rules_dir.map(|p| resolve(folder, &p)), raw.dashboards_dir.map(|p| resolve(folder, &p)))
}

pub(super) fn validate_logs(raw: Vec<RawLogs>, hosts: &[Host], existing: &[ExistingHost]) -> Result<Vec<LogSource>, Bad> {
    let groups = groups(hosts, existing);
    let all = host_names(hosts, existing);
    let mut out = Vec::new();
    for (i, l) in raw.into_iter().enumerate() {
        let key = format!("logs[{i}]");
        let k = |f: &str| format!("{key}.{f}");
        let names: Vec<String> = match (l.hosts, l.group) {
            (Some(_), Some(_)) => return Err((k("group"), "set `hosts` or `group`, not both".into())),
            (None, None) => return Err((key.clone(), "name the machines: `hosts = [\"…\"]` or `group = \"…\"`".into())),
            (Some(list), None) => {
                for h in &list {
                    if !all.contains(h) {
                        return Err((k("hosts"), format!("`{h}` is not a host of the environment")));
                    }
                }
                list
            }
            (None, Some(g)) => groups.get(&g).cloned().ok_or_else(|| (k("group"), format!("`{g}` is not a group of the environment")))?,
        };
        if l.files.is_empty() && l.units.is_empty() {
            return Err((key.clone(), "list `files` (absolute paths or globs) and/or `units` (systemd units)".into()));
        }
        for f in &l.files {
            if !f.starts_with('/') || f.contains("..") || f.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
                return Err((k("files"), format!("`{f}` is not an absolute path or glob (no `..`, quotes or backslashes)")));
            }
        }
        for u in &l.units {
            let ok = u.chars().all(|c| c.is_ascii_alphanumeric() || "@._-:".contains(c)) && u.contains('.');
            if !ok {
                return Err((k("units"), format!("`{u}` is not a systemd unit name like postgresql.service")));
            }
        }
        check_labels(&key, &l.labels, &["host", "job", "env", "filename", "unit", "service_name"])?;
        for v in l.labels.values() {
            if v.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
                return Err((k("labels"), format!("`{v}`: label values may not hold quotes, backslashes or control characters")));
            }
        }
        out.push(LogSource { hosts: names, files: l.files, units: l.units, labels: l.labels });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
