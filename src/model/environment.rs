//! Environments as data: `environments/<name>.toml` is parsed (raw, with
//! unknown keys refused) and then validated into one `Environment` the rest of
//! the program trusts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::aws::{self, AwsSettings};
use crate::model::component::{self, Registry};
use crate::model::names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Lab,
    Aws,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Lab => "lab",
            Provider::Aws => "aws",
        }
    }
}

/// `os`: the Debian release every host of the environment runs. The lab
/// builds one base image per release; on aws it picks the official Debian
/// image of the release; the roles handle the differences between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Os {
    /// Debian 13 "trixie", the current stable release (the default).
    #[default]
    Debian13,
    /// Debian 12 "bookworm", oldstable, still supported.
    Debian12,
}

impl Os {
    pub const ALL: [Os; 2] = [Os::Debian13, Os::Debian12];

    /// The value in the env file, passed as is to Terraform (`os`) and Ansible (`obsctl_os`).
    pub fn name(self) -> &'static str {
        match self {
            Os::Debian13 => "debian-13",
            Os::Debian12 => "debian-12",
        }
    }

    pub fn parse(value: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|os| os.name() == value)
    }
}

// ---- raw file ------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    description: Option<String>,
    provider: Provider,
    os: Option<String>,
    #[serde(default)]
    protected: bool,
    components: Option<Vec<String>>,
    hosts: Vec<RawHost>,
    lab: Option<LabSettings>,
    aws: Option<AwsSettings>,
    #[serde(default)]
    prometheus: PrometheusSettings,
    #[serde(default)]
    alertmanager: AlertmanagerSettings,
    #[serde(default)]
    app: AppSettings,
    #[serde(default)]
    loki: LokiSettings,
    #[serde(default)]
    grafana: GrafanaSettings,
    #[serde(default)]
    up: UpSettings,
    state: Option<RawState>,
}

/// `[up]`: how `up` configures the hosts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpSettings {
    /// Run Ansible on every `up`, even when Terraform planned nothing, the
    /// inputs are unchanged and every host is as last converged (which
    /// otherwise skips it: src/state/converged.rs). Same as `up --full` each time.
    pub always_configure: bool,
}

/// `[state]`: where Terraform keeps the environment's state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    backend: String,
    bucket: Option<String>,
    key: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    kms_key_id: Option<String>,
    endpoint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: String,
    roles: Vec<String>,
    size: Option<String>,
    disk_gb: Option<u32>,
    zone: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSettings {
    /// Linux bridge name (≤ 15 characters).
    pub bridge: String,
    /// IPv4 network of the bridge, e.g. 10.77.0.0/24.
    pub cidr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusSettings {
    pub retention: String,
    pub scrape_interval: String,
    pub evaluation_interval: String,
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        PrometheusSettings { retention: "15d".into(), scrape_interval: "15s".into(), evaluation_interval: "15s".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerSettings {
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
    /// `up` silences the hosts it configures while it runs (maintenance),
    /// and expires that silence when it ends, whatever the outcome.
    pub silence_during_up: bool,
    /// Prefix that makes the rules' `runbook_url` (docs/runbooks.md#<alert>)
    /// a link in notifications, e.g. the repository's web address.
    pub runbook_base_url: Option<String>,
    pub receivers: Vec<Receiver>,
}

impl Default for AlertmanagerSettings {
    fn default() -> Self {
        AlertmanagerSettings {
            group_wait: "30s".into(),
            group_interval: "5m".into(),
            repeat_interval: "4h".into(),
            silence_during_up: false,
            runbook_base_url: None,
            receivers: Vec::new(),
        }
    }
}

/// Where notifications go: one or more integrations (e-mail, webhook,
/// Slack-compatible chat, PagerDuty) under one name. `severities` selects
/// which alerts reach it (empty = all). Credentials are never in the file:
/// each is read from a file (`*_file`) or an environment variable (`*_env`)
/// at `up` and stored 0600 in `.obsctl/<env>/secrets/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(default)]
    pub severities: Vec<String>,
    pub email: Option<EmailReceiver>,
    pub webhook: Option<WebhookReceiver>,
    pub slack: Option<SlackReceiver>,
    pub pagerduty: Option<PagerdutyReceiver>,
}

/// `[alertmanager.receivers.email]`: SMTP, STARTTLS unless `require_tls = false`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailReceiver {
    pub to: String,
    pub from: String,
    /// host:port of the SMTP server (587 for STARTTLS).
    pub smarthost: String,
    #[serde(default = "yes")]
    pub require_tls: bool,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// `[alertmanager.receivers.webhook]`: Alertmanager's JSON payload, POSTed.
/// A URL that holds a token is a credential: `url_env` or `url_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReceiver {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
}

/// `[alertmanager.receivers.slack]`: Slack or a Slack-compatible chat
/// (Mattermost, Rocket.Chat) incoming webhook. Slack's webhook URLs hold
/// the token: give them with `api_url_env` or `api_url_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackReceiver {
    pub api_url: Option<String>,
    pub api_url_env: Option<String>,
    pub api_url_file: Option<PathBuf>,
    pub channel: Option<String>,
}

/// `[alertmanager.receivers.pagerduty]`: PagerDuty Events API v2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyReceiver {
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<PathBuf>,
    /// Events API endpoint; default https://events.pagerduty.com/v2/enqueue.
    pub url: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where a credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// One credential of a receiver: `credential` names it in messages and in
/// the stored file's name (e.g. `smtp_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverSecret {
    pub receiver: String,
    pub credential: &'static str,
    pub source: SecretSource,
}

fn source(env: &Option<String>, file: &Option<PathBuf>) -> Option<SecretSource> {
    match (env, file) {
        (Some(v), _) => Some(SecretSource::Env(v.clone())),
        (None, Some(f)) => Some(SecretSource::File(f.clone())),
        (None, None) => None,
    }
}

impl Receiver {
    /// The integrations this receiver has, by Alertmanager's name.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.email.is_some() {
            k.push("email");
        }
        if self.webhook.is_some() {
            k.push("webhook");
        }
        if self.slack.is_some() {
            k.push("slack");
        }
        if self.pagerduty.is_some() {
            k.push("pagerduty");
        }
        k
    }

    /// Every credential the receiver reads from a file or the environment.
    pub fn secrets(&self) -> Vec<ReceiverSecret> {
        let mut out = Vec::new();
        let mut add = |credential: &'static str, s: Option<SecretSource>| {
            if let Some(source) = s {
                out.push(ReceiverSecret { receiver: self.name.clone(), credential, source });
            }
        };
        if let Some(e) = &self.email {
            add("smtp_password", source(&e.password_env, &e.password_file));
        }
        if let Some(w) = &self.webhook {
            add("webhook_url", source(&w.url_env, &w.url_file));
        }
        if let Some(s) = &self.slack {
            add("slack_api_url", source(&s.api_url_env, &s.api_url_file));
        }
        if let Some(p) = &self.pagerduty {
            add("pagerduty_routing_key", source(&p.routing_key_env, &p.routing_key_file));
        }
        out
    }
}

/// Checks one receiver; the error names the key (`alertmanager.receivers[i].…`).
fn check_receiver(i: usize, r: &Receiver) -> std::result::Result<(), (String, String)> {
    let key = format!("alertmanager.receivers[{i}]");
    let k = |f: &str| format!("{key}.{f}");
    let valid_name = !r.name.is_empty()
        && r.name.len() <= 40
        && r.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && r.name != "blackhole";
    if !valid_name {
        return Err((k("name"), format!("`{}` is not a receiver name (letters, digits, `-`, `_`; not `blackhole`)", r.name)));
    }
    if r.kinds().is_empty() {
        return Err((
            key,
            format!(
                "receiver `{}` has no integration: add one or more of [alertmanager.receivers.email], .webhook, .slack, .pagerduty \
                 (see docs/operations.md, \"Add a receiver\")",
                r.name
            ),
        ));
    }
    for s in &r.severities {
        if !["critical", "warning", "info", "none"].contains(&s.as_str()) {
            return Err((k("severities"), format!("unknown severity `{s}` (critical, warning, info, none)")));
        }
    }
    let http = |field: String, url: &str| -> std::result::Result<(), (String, String)> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err((field, format!("`{url}` is not an http(s) URL")))
        }
    };
    // Exactly one source for a required credential, at most one for an optional one.
    let one_of = |fields: &[(&str, bool)], required: bool| -> std::result::Result<(), (String, String)> {
        let set: Vec<&str> = fields.iter().filter(|(_, s)| *s).map(|(f, _)| *f).collect();
        let names: Vec<String> = fields.iter().map(|(f, _)| format!("`{f}`")).collect();
        if set.len() > 1 {
            return Err((k(set[1]), format!("set only one of {}", names.join(", "))));
        }
        if required && set.is_empty() {
            return Err((key.clone(), format!("receiver `{}` needs one of {}", r.name, names.join(", "))));
        }
        Ok(())
    };
    let env_name = |field: String, v: &Option<String>| -> std::result::Result<(), (String, String)> {
        match v {
            Some(v) if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Err((field, format!("`{v}` is not an environment variable name")))
            }
            _ => Ok(()),
        }
    };
    if let Some(e) = &r.email {
        for (f, v) in [("email.to", &e.to), ("email.from", &e.from)] {
            if !v.contains('@') || v.chars().any(|c| c.is_control()) {
                return Err((k(f), format!("`{v}` is not an e-mail address")));
            }
        }
        let port = e.smarthost.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then(|| p.parse::<u16>().ok()).flatten());
        if port.is_none() {
            return Err((k("email.smarthost"), format!("`{}` is not host:port, e.g. smtp.example.com:587", e.smarthost)));
        }
        one_of(&[("email.password_env", e.password_env.is_some()), ("email.password_file", e.password_file.is_some())], false)?;
        if (e.password_env.is_some() || e.password_file.is_some()) && e.username.is_none() {
            return Err((k("email.username"), "a password needs the SMTP user name".into()));
        }
        if e.username.is_some() && !e.require_tls {
            return Err((k("email.require_tls"), "SMTP authentication is sent only over STARTTLS: keep require_tls = true".into()));
        }
        env_name(k("email.password_env"), &e.password_env)?;
    }
    if let Some(w) = &r.webhook {
        one_of(
            &[("webhook.url", w.url.is_some()), ("webhook.url_env", w.url_env.is_some()), ("webhook.url_file", w.url_file.is_some())],
            true,
        )?;
        if let Some(u) = &w.url {
            http(k("webhook.url"), u)?;
        }
        env_name(k("webhook.url_env"), &w.url_env)?;
    }
    if let Some(s) = &r.slack {
        one_of(
            &[
                ("slack.api_url", s.api_url.is_some()),
                ("slack.api_url_env", s.api_url_env.is_some()),
                ("slack.api_url_file", s.api_url_file.is_some()),
            ],
            true,
        )?;
        if let Some(u) = &s.api_url {
            http(k("slack.api_url"), u)?;
            if u.contains("hooks.slack.com") {
                return Err((k("slack.api_url"), "a Slack webhook URL holds its token: give it with api_url_env or api_url_file".into()));
            }
        }
        env_name(k("slack.api_url_env"), &s.api_url_env)?;
    }
    if let Some(p) = &r.pagerduty {
        one_of(
            &[("pagerduty.routing_key_env", p.routing_key_env.is_some()), ("pagerduty.routing_key_file", p.routing_key_file.is_some())],
            true,
        )?;
        if let Some(u) = &p.url {
            http(k("pagerduty.url"), u)?;
        }
        env_name(k("pagerduty.routing_key_env"), &p.routing_key_env)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    pub port: u16,
    pub traffic_rps: u32,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings { port: component::DEFAULT_APP_PORT, traffic_rps: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LokiSettings {
    pub retention_period: String,
    /// `filesystem` or `s3`.
    pub storage: String,
    pub replication_factor: u32,
}

impl Default for LokiSettings {
    fn default() -> Self {
        LokiSettings { retention_period: "168h".into(), storage: "filesystem".into(), replication_factor: 1 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrafanaSettings {
    /// `sqlite` or `postgres`.
    pub database: String,
}

impl Default for GrafanaSettings {
    fn default() -> Self {
        GrafanaSettings { database: "sqlite".into() }
    }
}

// ---- validated value -----------------------------------------------------

/// Where Terraform keeps an environment's state. `Local` (the default) is a
/// file in `.obsctl/<env>/`; `S3` is shared by a team, encrypted, and locked
/// with S3's own lock object (`use_lockfile`, Terraform ≥ 1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBackend {
    Local,
    S3(S3State),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3State {
    pub bucket: String,
    /// Object key of the state; default `obsctl/<env>/terraform.tfstate`.
    pub key: String,
    pub region: String,
    /// AWS profile for the backend (else the usual credential chain).
    pub profile: Option<String>,
    /// KMS key for the state object (else S3's default encryption, SSE-S3).
    pub kms_key_id: Option<String>,
    /// An S3-compatible endpoint instead of AWS (MinIO, moto).
    pub endpoint: Option<String>,
}

/// A host's `size` when the file leaves it out.
pub const DEFAULT_HOST_SIZE: &str = "small";
/// A host's root volume (`disk_gb`, aws) when the file leaves it out.
pub const DEFAULT_DISK_GB: u32 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub roles: Vec<String>,
    pub size: String,
    pub disk_gb: u32,
    pub zone: u32,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub provider: Provider,
    pub os: Os,
    pub protected: bool,
    pub components: BTreeSet<String>,
    /// In file order: the lab numbers addresses by position.
    pub hosts: Vec<Host>,
    pub lab: Option<LabSettings>,
    pub aws: Option<AwsSettings>,
    pub prometheus: PrometheusSettings,
    pub alertmanager: AlertmanagerSettings,
    pub app: AppSettings,
    pub loki: LokiSettings,
    pub grafana: GrafanaSettings,
    pub up: UpSettings,
    pub state: StateBackend,
    /// Components, their ports, jobs and units (the app's port from `[app]`).
    pub registry: Registry,
}

/// Checks an environment name given on the command line: a plain file name
/// in `environments/`, never a path.
pub fn check_name(name: &str) -> Result<()> {
    if names::valid_env(name) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "`{name}` is not an environment name: {}, naming a file environments/<name>.toml",
            names::rule(names::ENV_MAX)
        )))
    }
}

/// Names of the environments defined in `dir`.
pub fn available(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".toml")).map(String::from))
                .filter(|n| check_name(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn load(dir: &Path, name: &str) -> Result<Environment> {
    check_name(name)?;
    let file = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&file).map_err(|e| {
        let known = available(dir);
        Error::input(format!("cannot read environment `{name}` ({}): {e}", file.display())).hint(if known.is_empty() {
            format!("create {} (see environments/dev.toml in the obsctl repository)", file.display())
        } else {
            format!("known environments: {}", known.join(", "))
        })
    })?;
    parse(name, &file, &text)
}

pub fn parse(name: &str, file: &Path, text: &str) -> Result<Environment> {
    let raw: RawEnvironment =
        toml::from_str(text).map_err(|e| Error::input(format!("{}: {}", file.display(), e.to_string().trim_end())))?;
    validate(name, file, raw)
}

fn validate(name: &str, file: &Path, raw: RawEnvironment) -> Result<Environment> {
    let bad = |key: &str, what: String| Error::input(format!("{}: `{key}`: {what}", file.display()));
    let (all, host_roles, required) = (component::names(), component::host_roles(), component::required());

    let os = match raw.os.as_deref() {
        None => Os::default(),
        Some(value) => Os::parse(value).ok_or_else(|| {
            bad(
                "os",
                format!(
                    "`{value}` is not a supported release; allowed: {} (the default is {})",
                    Os::ALL.map(Os::name).join(", "),
                    Os::default().name()
                ),
            )
        })?,
    };

    let components: BTreeSet<String> = match raw.components {
        None => all.iter().map(|c| c.to_string()).collect(),
        Some(list) => {
            for c in &list {
                if !all.contains(&c.as_str()) {
                    return Err(bad("components", format!("unknown component `{c}`; allowed: {}", all.join(", "))));
                }
            }
            list.into_iter().collect()
        }
    };
    for c in &required {
        if !components.contains(*c) {
            return Err(bad("components", format!("`{c}` is required (obsctl verifies the stack through it)")));
        }
    }

    if raw.hosts.is_empty() {
        return Err(bad("hosts", "at least one [[hosts]] entry is required".into()));
    }
    let mut seen = BTreeSet::new();
    let mut hosts = Vec::new();
    for (i, h) in raw.hosts.into_iter().enumerate() {
        let key = format!("hosts[{i}]");
        if !names::valid_host(&h.name) {
            return Err(bad(&format!("{key}.name"), format!("`{}` is not a host name: {}", h.name, names::rule(names::HOST_MAX))));
        }
        if h.roles.is_empty() {
            return Err(bad(&format!("{key}.roles"), format!("host `{}` needs at least one role ({})", h.name, host_roles.join(", "))));
        }
        if !seen.insert(h.name.clone()) {
            return Err(bad(&format!("{key}.name"), format!("host `{}` is defined twice", h.name)));
        }
        for r in &h.roles {
            if !host_roles.contains(&r.as_str()) {
                return Err(bad(
                    &format!("{key}.roles"),
                    format!(
                        "unknown role `{r}` on host `{}`; allowed: {} (node_exporter and promtail run on every host)",
                        h.name,
                        host_roles.join(", ")
                    ),
                ));
            }
        }
        let size = h.size.unwrap_or_else(|| DEFAULT_HOST_SIZE.into());
        if !["small", "medium", "large"].contains(&size.as_str()) {
            return Err(bad(&format!("{key}.size"), format!("`{size}`: allowed sizes are small, medium, large")));
        }
        let disk_gb = h.disk_gb.unwrap_or(DEFAULT_DISK_GB);
        if !(8..=16384).contains(&disk_gb) {
            return Err(bad(&format!("{key}.disk_gb"), format!("{disk_gb}: a root volume is 8 to 16384 GB")));
        }
        hosts.push(Host { name: h.name, roles: h.roles, size, disk_gb, zone: h.zone.unwrap_or(0) });
    }
    for role in &host_roles {
        if components.contains(*role) && !hosts.iter().any(|h| h.roles.iter().any(|r| r == role)) {
            let why = if required.contains(role) { "it is required" } else { "the component is enabled" };
            return Err(bad(
                "hosts",
                format!("no host has role `{role}`, but {why}; add it to a host's roles or remove it from `components`"),
            ));
        }
    }

    match raw.provider {
        Provider::Lab => {
            let lab = raw.lab.as_ref().ok_or_else(|| bad("lab", "provider `lab` needs a [lab] table with `bridge` and `cidr`".into()))?;
            if lab.bridge.is_empty() || lab.bridge.len() > 15 || !lab.bridge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(bad("lab.bridge", format!("`{}` is not an interface name (1–15 letters, digits, dashes)", lab.bridge)));
            }
            let prefix =
                parse_cidr(&lab.cidr).ok_or_else(|| bad("lab.cidr", format!("`{}` is not an IPv4 network like 10.77.0.0/24", lab.cidr)))?;
            let capacity = (1u64 << (32 - prefix)).saturating_sub(12);
            if hosts.len() as u64 > capacity {
                return Err(bad("lab.cidr", format!("{} has room for {capacity} machines, the topology has {}", lab.cidr, hosts.len())));
            }
        }
        Provider::Aws => {
            let Some(settings) = &raw.aws else {
                return Err(bad("aws", "provider `aws` needs an [aws] table (region, availability_zones, admin_cidrs, …)".into()));
            };
            let refs: Vec<aws::HostRef> = hosts.iter().map(|h| aws::HostRef { name: &h.name, size: &h.size, zone: h.zone }).collect();
            aws::validate(settings, &refs).map_err(|(key, what)| bad(&key, what))?;
            if components.contains("loki") {
                loki_zones(&hosts, raw.loki.replication_factor).map_err(|what| bad("hosts", what))?;
            }
        }
    }

    if let Some(url) = &raw.alertmanager.runbook_base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) || !url.ends_with('/') {
            return Err(bad("alertmanager.runbook_base_url", format!("`{url}` is not an http(s) URL ending in `/`")));
        }
    }
    let mut receiver_names = BTreeSet::new();
    for (i, r) in raw.alertmanager.receivers.iter().enumerate() {
        check_receiver(i, r).map_err(|(key, what)| bad(&key, what))?;
        if !receiver_names.insert(r.name.as_str()) {
            return Err(bad(&format!("alertmanager.receivers[{i}].name"), format!("receiver `{}` is defined twice", r.name)));
        }
    }
    if !["filesystem", "s3"].contains(&raw.loki.storage.as_str()) {
        return Err(bad("loki.storage", format!("`{}`: allowed are filesystem, s3", raw.loki.storage)));
    }
    if !["sqlite", "postgres"].contains(&raw.grafana.database.as_str()) {
        return Err(bad("grafana.database", format!("`{}`: allowed are sqlite, postgres", raw.grafana.database)));
    }
    if raw.grafana.database == "postgres" && raw.provider != Provider::Aws {
        return Err(bad("grafana.database", "`postgres` is provided by the aws provider (RDS); the lab runs Grafana on sqlite".into()));
    }
    for (key, value) in [
        ("prometheus.retention", &raw.prometheus.retention),
        ("prometheus.scrape_interval", &raw.prometheus.scrape_interval),
        ("prometheus.evaluation_interval", &raw.prometheus.evaluation_interval),
        ("alertmanager.group_wait", &raw.alertmanager.group_wait),
        ("alertmanager.group_interval", &raw.alertmanager.group_interval),
        ("alertmanager.repeat_interval", &raw.alertmanager.repeat_interval),
        ("loki.retention_period", &raw.loki.retention_period),
    ] {
        if !is_duration(value) {
            return Err(bad(key, format!("`{value}` is not a duration like 30s, 5m, 4h, 15d")));
        }
    }

    let state = match raw.state {
        None => StateBackend::Local,
        Some(raw_state) => state_backend(name, raw_state).map_err(|(key, what)| bad(&format!("state.{key}"), what))?,
    };

    Ok(Environment {
        name: name.to_string(),
        file: file.to_path_buf(),
        description: raw.description.unwrap_or_default(),
        provider: raw.provider,
        os,
        protected: raw.protected,
        components,
        hosts,
        lab: raw.lab,
        aws: raw.aws,
        prometheus: raw.prometheus,
        alertmanager: raw.alertmanager,
        registry: Registry::new(raw.app.port),
        app: raw.app,
        loki: raw.loki,
        grafana: raw.grafana,
        up: raw.up,
        state,
    })
}

/// Validates `[state]`; an error names the key and what is wrong with it.
fn state_backend(env: &str, raw: RawState) -> Result<StateBackend, (&'static str, String)> {
    match raw.backend.as_str() {
        "local" => {
            let set: Vec<&str> = [
                ("bucket", raw.bucket.is_some()),
                ("key", raw.key.is_some()),
                ("region", raw.region.is_some()),
                ("profile", raw.profile.is_some()),
                ("kms_key_id", raw.kms_key_id.is_some()),
                ("endpoint", raw.endpoint.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            match set.first() {
                Some(k) => Err((k, "only applies to backend = \"s3\"".into())),
                None => Ok(StateBackend::Local),
            }
        }
        "s3" => {
            let bucket = raw.bucket.ok_or(("bucket", "backend \"s3\" needs the name of an existing bucket".to_string()))?;
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
                && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !valid_bucket {
                return Err(("bucket", format!("`{bucket}` is not an S3 bucket name (3–63 lowercase letters, digits, dots, dashes)")));
            }
            let key = raw.key.unwrap_or_else(|| format!("obsctl/{env}/terraform.tfstate"));
            if key.is_empty() || key.starts_with('/') || key.ends_with('/') {
                return Err((
                    "key",
                    format!("`{key}` is not an object key (no leading or trailing `/`), e.g. obsctl/{env}/terraform.tfstate"),
                ));
            }
            let region = raw.region.ok_or(("region", "backend \"s3\" needs the bucket's region, e.g. \"eu-west-1\"".to_string()))?;
            if region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(("region", format!("`{region}` is not an AWS region like eu-west-1")));
            }
            if let Some(url) = &raw.endpoint {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(("endpoint", format!("`{url}` is not an http(s) URL")));
                }
            }
            // Terraform reads these as strings that may hold templates: `${`
            // and `%{` would be evaluated, so they are refused.
            for (k, v) in [
                ("key", Some(&key)),
                ("profile", raw.profile.as_ref()),
                ("kms_key_id", raw.kms_key_id.as_ref()),
                ("endpoint", raw.endpoint.as_ref()),
            ] {
                if v.is_some_and(|v| v.is_empty() || v.contains("${") || v.contains("%{") || v.chars().any(|c| c.is_control())) {
                    return Err((k, "must be a non-empty string without `${`, `%{` or control characters".into()));
                }
            }
            Ok(StateBackend::S3(S3State { bucket, key, region, profile: raw.profile, kms_key_id: raw.kms_key_id, endpoint: raw.endpoint }))
        }
        other => Err(("backend", format!("`{other}`: allowed are local (the default) and s3"))),
    }
}

/// Loki keeps every stream on `replication_factor` ingesters and needs a
/// quorum of them (rf/2 + 1) to accept a write. If one zone holds a quorum
/// of the Loki hosts, some streams have a quorum of their replicas there,
/// and losing that zone stops their writes. So no zone may hold that many.
fn loki_zones(hosts: &[Host], replication_factor: u32) -> std::result::Result<(), String> {
    let loki: Vec<&Host> = hosts.iter().filter(|h| h.roles.iter().any(|r| r == "loki")).collect();
    if replication_factor as usize > loki.len() {
        return Err(format!(
            "[loki] replication_factor = {replication_factor}, but only {} host(s) have the loki role: writes would always fail",
            loki.len()
        ));
    }
    if replication_factor < 2 {
        return Ok(());
    }
    let quorum = replication_factor / 2 + 1;
    let mut by_zone: std::collections::BTreeMap<u32, Vec<&str>> = Default::default();
    for h in &loki {
        by_zone.entry(h.zone).or_default().push(&h.name);
    }
    match by_zone.iter().find(|(_, names)| names.len() as u32 >= quorum) {
        Some((zone, names)) => Err(format!(
            "zone {zone} holds {} of the Loki hosts ({}), a write quorum of replication_factor {replication_factor}: losing that \
             availability zone would stop log writes. Put the Loki hosts in at least {replication_factor} zones, at most {} per zone",
            names.len(),
            names.join(", "),
            quorum - 1
        )),
        None => Ok(()),
    }
}

/// Seconds of a Prometheus-style duration (see `is_duration`).
pub fn duration_secs(s: &str) -> Option<u64> {
    if !is_duration(s) {
        return None;
    }
    let (mut total, mut rest) = (0u64, s);
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, secs) = [("ms", 0), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 7 * 86400), ("y", 365 * 86400)]
            .into_iter()
            .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total = total.checked_add(n.checked_mul(secs)?)?;
    }
    Some(total)
}

/// Prefix length of an IPv4 network between /16 and /28, or None (ipnet
/// parses it; the lab numbers its machines inside it).
fn parse_cidr(cidr: &str) -> Option<u32> {
    let net: ipnet::Ipv4Net = cidr.parse().ok()?;
    let prefix = u32::from(net.prefix_len());
    (16..=28).contains(&prefix).then_some(prefix)
}

/// Prometheus-style duration: digits followed by a unit, possibly repeated (1h30m).
fn is_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"].iter().find(|u| rest.starts_with(**u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

impl Environment {
    pub fn hosts_with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a Host> + 'a {
        self.hosts.iter().filter(move |h| h.roles.iter().any(|r| r == role))
    }

    /// On aws, users reach Grafana through the load balancer, which serves
    /// HTTPS only, with the user's own ACM certificate
    /// (`[aws].grafana_certificate_arn`): without one, `up` refuses an
    /// environment that deploys Grafana, before Terraform runs (obsctl does
    /// not serve Grafana over plain HTTP, and does not import a self-signed
    /// certificate that every browser would warn about). Checked once the
    /// run's components are known (`--without grafana` lifts it).
    pub fn check_grafana_https(&self) -> Result<()> {
        let grafana_host = self.hosts.iter().any(|h| h.roles.iter().any(|r| r == "grafana"));
        let Some(aws) = self.aws.as_ref().filter(|_| self.provider == Provider::Aws) else { return Ok(()) };
        if aws.grafana_certificate_arn.is_some() || !self.enabled("grafana") || !grafana_host {
            return Ok(());
        }
        Err(Error::input(format!(
            "{}: `aws.grafana_certificate_arn`: Grafana on aws is served through the load balancer over HTTPS only, with \
             your ACM certificate for the name users type, and none is set. Request or import one \
             (aws acm request-certificate --domain-name grafana.example.com --validation-method DNS --region {}), \
             point that name at the load balancer, and set grafana_certificate_arn = \"arn:aws:acm:…\" in [aws]; \
             or deploy without Grafana: obsctl up --env {} --without grafana",
            self.file.display(),
            aws.region,
            self.name
        )))
    }

    /// Loki's retention in whole days, rounded up (the aws stack expires the
    /// bucket's chunks a margin after it).
    pub fn loki_retention_days(&self) -> u64 {
        duration_secs(&self.loki.retention_period).map_or(1, |s| s.div_ceil(86400).max(1))
    }

    pub fn enabled(&self, component: &str) -> bool {
        self.components.contains(component)
    }

    /// Turn off components for this run (`--without`).
    pub fn disable(&mut self, without: &[String]) -> Result<()> {
        for c in without {
            let all = component::names();
            if !all.contains(&c.as_str()) {
                return Err(Error::input(format!("--without: unknown component `{c}`; allowed: {}", all.join(", "))));
            }
            if component::required().contains(&c.as_str()) {
                return Err(Error::input(format!("--without: `{c}` is required and cannot be turned off")));
            }
            self.components.remove(c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
provider = "lab"
[lab]
bridge = "obs-dev"
cidr = "10.77.0.0/24"
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager", "grafana", "loki"]
[[hosts]]
name = "app-1"
roles = ["app"]
"#;

    fn parse_str(text: &str) -> Result<Environment> {
        parse("dev", Path::new("environments/dev.toml"), text)
    }

    #[test]
    fn parses_a_good_file_with_defaults() {
        let env = parse_str(GOOD).unwrap();
        assert_eq!(env.hosts.len(), 2);
        assert_eq!(env.hosts[0].name, "mon-1");
        assert_eq!(env.prometheus.retention, "15d");
        assert!(env.enabled("promtail"));
        assert_eq!(env.hosts_with_role("app").count(), 1);
    }

    #[test]
    fn os_defaults_to_debian_13_and_refuses_other_releases() {
        assert_eq!(parse_str(GOOD).unwrap().os, Os::Debian13);
        let env = parse_str(&format!("os = \"debian-12\"\n{GOOD}")).unwrap();
        assert_eq!(env.os, Os::Debian12);
        assert_eq!(env.os.name(), "debian-12");
        for bad in ["debian-11", "ubuntu-24.04", "trixie", ""] {
            let err = parse_str(&format!("os = \"{bad}\"\n{GOOD}")).unwrap_err();
            assert_eq!(err.phase, crate::error::Phase::Input);
            assert!(err.message.contains("`os`") && err.message.contains("allowed: debian-13, debian-12"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = parse_str(&format!("{GOOD}\n[prometheus]\nretenton = \"1d\"\n")).unwrap_err();
        assert_eq!(err.phase, crate::error::Phase::Input);
        assert!(err.message.contains("environments/dev.toml"), "{}", err.message);
        assert!(err.message.contains("retenton"), "{}", err.message);
    }

    #[test]
    fn a_misspelled_key_in_any_table_is_refused_naming_file_key_and_accepted_keys() {
        let receiver = "[[alertmanager.receivers]]\nname = \"r\"\nwebhook_url = \"http://x/\"\n";
        for (table, extra, accepted) in [
            ("top level", "protectd = true\n".to_string(), "protected"),
            ("[lab]", String::new(), "bridge"),
            ("[[hosts]]", String::new(), "disk_gb"),
            ("[prometheus]", "[prometheus]\nretenton = \"1d\"\n".into(), "retention"),
            ("[alertmanager]", "[alertmanager]\ngroup_wiat = \"1s\"\n".into(), "group_wait"),
            ("[[alertmanager.receivers]]", format!("{receiver}webhok_url = \"http://y/\"\n"), "webhook_url"),
            ("[app]", "[app]\nprot = 1\n".into(), "port"),
            ("[loki]", "[loki]\nstorag = \"s3\"\n".into(), "storage"),
            ("[grafana]", "[grafana]\ndatabse = \"sqlite\"\n".into(), "database"),
            ("[state]", "[state]\nbackend = \"local\"\nbuckt = \"b\"\n".into(), "bucket"),
        ] {
            let text = match table {
                "top level" => format!("{extra}{GOOD}"),
                "[lab]" => GOOD.replace("cidr = ", "cidre = \"x\"\ncidr = "),
                "[[hosts]]" => GOOD.replace("name = \"app-1\"", "name = \"app-1\"\ndisk_bg = 10"),
                _ => format!("{GOOD}\n{extra}"),
            };
            let err = parse_str(&text).unwrap_err();
            assert_eq!(err.phase, crate::error::Phase::Input, "{table}");
            assert_eq!(err.phase.exit_code(), 10, "{table}");
            assert!(err.message.contains("environments/dev.toml"), "{table}: {}", err.message);
            assert!(err.message.contains("unknown field"), "{table}: {}", err.message);
            assert!(err.message.contains(&format!("`{accepted}`")), "{table}: the accepted keys are not named: {}", err.message);
        }
    }

    #[test]
    fn wrong_type_is_refused() {
        let err = parse_str(&GOOD.replace("provider = \"lab\"", "provider = \"lab\"\nprotected = \"yes\"")).unwrap_err();
        assert!(err.message.contains("protected"), "{}", err.message);
    }

    #[test]
    fn unknown_role_is_refused() {
        let err = parse_str(&GOOD.replace("[\"app\"]", "[\"apache\"]")).unwrap_err();
        assert!(err.message.contains("unknown role `apache`"), "{}", err.message);
    }

    #[test]
    fn duplicate_host_is_refused() {
        let err = parse_str(&GOOD.replace("app-1", "mon-1")).unwrap_err();
        assert!(err.message.contains("defined twice"), "{}", err.message);
    }

    #[test]
    fn missing_required_role_is_refused() {
        let err = parse_str(&GOOD.replace("\"prometheus\", ", "")).unwrap_err();
        assert!(err.message.contains("no host has role `prometheus`"), "{}", err.message);
    }

    #[test]
    fn bad_cidr_and_bridge_are_refused() {
        assert!(parse_str(&GOOD.replace("10.77.0.0/24", "10.77.0.0")).unwrap_err().message.contains("lab.cidr"));
        assert!(parse_str(&GOOD.replace("obs-dev", "a-much-too-long-bridge")).unwrap_err().message.contains("lab.bridge"));
    }

    #[test]
    fn bad_duration_is_refused() {
        let err = parse_str(&format!("{GOOD}\n[prometheus]\nretention = \"two weeks\"\n")).unwrap_err();
        assert!(err.message.contains("prometheus.retention"), "{}", err.message);
    }

    #[test]
    fn names_that_are_paths_are_refused() {
        for name in ["../../etc", "dev/x", "", "Dev", ".hidden", "dev.toml"] {
            assert!(check_name(name).is_err(), "{name} accepted");
        }
        assert!(check_name("staging-2").is_ok());
    }

    #[test]
    fn without_turns_components_off_but_not_required_ones() {
        let mut env = parse_str(GOOD).unwrap();
        env.disable(&["grafana".into(), "loki".into()]).unwrap();
        assert!(!env.enabled("grafana"));
        assert!(env.disable(&["prometheus".into()]).is_err());
        assert!(env.disable(&["nginx".into()]).is_err());
    }

    #[test]
    fn postgres_needs_the_aws_provider() {
        let err = parse_str(&format!("{GOOD}\n[grafana]\ndatabase = \"postgres\"\n")).unwrap_err();
        assert!(err.message.contains("grafana.database"), "{}", err.message);
    }

    #[test]
    fn state_is_local_unless_the_file_names_s3() {
        assert_eq!(parse_str(GOOD).unwrap().state, StateBackend::Local);
        let env = parse_str(&format!("{GOOD}\n[state]\nbackend = \"s3\"\nbucket = \"acme-tf-state\"\nregion = \"eu-west-1\"\n")).unwrap();
        let StateBackend::S3(s3) = env.state else { panic!("not s3: {:?}", env.state) };
        assert_eq!(s3.key, "obsctl/dev/terraform.tfstate");
        assert_eq!(s3.bucket, "acme-tf-state");
    }

    #[test]
    fn bad_state_settings_name_the_key() {
        for (state, key) in [
            ("backend = \"gcs\"", "state.backend"),
            ("backend = \"s3\"\nregion = \"eu-west-1\"", "state.bucket"),
            ("backend = \"s3\"\nbucket = \"Acme_State\"\nregion = \"eu-west-1\"", "state.bucket"),
            ("backend = \"s3\"\nbucket = \"acme-state\"", "state.region"),
            ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\nkey = \"/abs\"", "state.key"),
            ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\nendpoint = \"localhost:9000\"", "state.endpoint"),
            ("backend = \"local\"\nbucket = \"acme-state\"", "state.bucket"),
            ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\ndynamodb_table = \"locks\"", "dynamodb_table"),
        ] {
            let err = parse_str(&format!("{GOOD}\n[state]\n{state}\n")).unwrap_err();
            assert!(err.message.contains(key), "{state}: {}", err.message);
        }
    }

    const RECEIVERS: &str = r##"
[[alertmanager.receivers]]
name = "oncall"
severities = ["critical"]
[alertmanager.receivers.email]
to = "oncall@example.com"
from = "am@example.com"
smarthost = "smtp.example.com:587"
username = "am@example.com"
password_env = "OBSCTL_SMTP_PASSWORD"
[alertmanager.receivers.pagerduty]
routing_key_file = "/etc/obsctl/pd-key"
[[alertmanager.receivers]]
name = "chat"
[alertmanager.receivers.slack]
api_url_env = "OBSCTL_SLACK_URL"
channel = "#ops"
[alertmanager.receivers.webhook]
url = "https://hooks.example.com/x"
"##;

    #[test]
    fn receivers_of_every_kind_with_their_credentials() {
        let env = parse_str(&format!("{GOOD}{RECEIVERS}")).unwrap();
        let r = &env.alertmanager.receivers;
        assert_eq!(r[0].kinds(), ["email", "pagerduty"]);
        assert_eq!(r[1].kinds(), ["webhook", "slack"]);
        assert!(r[0].email.as_ref().unwrap().require_tls, "STARTTLS is the default");
        let secrets: Vec<(&str, SecretSource)> = r.iter().flat_map(|r| r.secrets()).map(|s| (s.credential, s.source)).collect();
        assert_eq!(
            secrets,
            [
                ("smtp_password", SecretSource::Env("OBSCTL_SMTP_PASSWORD".into())),
                ("pagerduty_routing_key", SecretSource::File("/etc/obsctl/pd-key".into())),
                ("slack_api_url", SecretSource::Env("OBSCTL_SLACK_URL".into())),
            ]
        );
    }

    #[test]
    fn bad_receivers_name_the_key() {
        for (edit, key) in [
            (
                ("password_env = \"OBSCTL_SMTP_PASSWORD\"", "password_env = \"not a variable\""),
                "alertmanager.receivers[0].email.password_env",
            ),
            (("password_env = ", "password = "), "password"),
            (("routing_key_file", "routing_key"), "routing_key"),
            (("username = \"am@example.com\"\n", ""), "alertmanager.receivers[0].email.username"),
            (("smarthost = \"smtp.example.com:587\"", "smarthost = \"smtp.example.com\""), "alertmanager.receivers[0].email.smarthost"),
            (
                ("api_url_env = \"OBSCTL_SLACK_URL\"", "api_url = \"https://hooks.slack.com/services/T/B/x\""),
                "alertmanager.receivers[1].slack.api_url",
            ),
            (("api_url_env = \"OBSCTL_SLACK_URL\"", "channel2 = \"x\""), "channel2"),
            (("url = \"https://hooks.example.com/x\"", "url = \"ftp://x\""), "alertmanager.receivers[1].webhook.url"),
            (("name = \"chat\"", "name = \"oncall\""), "defined twice"),
            (("severities = [\"critical\"]", "severities = [\"page\"]"), "alertmanager.receivers[0].severities"),
            (("username = \"am@example.com\"", "username = \"am@example.com\"\nrequire_tls = false"), "require_tls"),
        ] {
            let text = format!("{GOOD}{RECEIVERS}").replacen(edit.0, edit.1, 1);
            assert_ne!(text, format!("{GOOD}{RECEIVERS}"), "{edit:?} changes nothing");
            let err = parse_str(&text).err().unwrap_or_else(|| panic!("accepted: {edit:?}"));
            assert_eq!(err.phase, crate::error::Phase::Input);
            assert!(err.message.contains(key), "{edit:?}: {}", err.message);
        }
        let err = parse_str(&format!("{GOOD}[[alertmanager.receivers]]\nname = \"empty\"\n")).unwrap_err();
        assert!(err.message.contains("has no integration"), "{}", err.message);
    }

    const AWS: &str = r#"
provider = "aws"
protected = true
components = ["prometheus", "alertmanager", "node_exporter", "loki", "promtail"]
[aws]
region = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
admin_cidrs = ["198.18.0.0/24"]
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager", "loki"]
zone = 0
[[hosts]]
name = "mon-2"
roles = ["prometheus", "alertmanager", "loki"]
zone = 1
[[hosts]]
name = "mon-3"
roles = ["loki"]
zone = 2
[loki]
storage = "s3"
replication_factor = 3
retention_period = "720h"
"#;

    /// Issue 13: Grafana on aws needs the user's certificate (HTTPS only);
    /// without Grafana, or with `--without grafana`, none is needed.
    #[test]
    fn grafana_on_aws_needs_a_certificate() {
        let with_grafana = AWS.replace("\"loki\", \"promtail\"]", "\"loki\", \"promtail\", \"grafana\"]").replace(
            "roles = [\"prometheus\", \"alertmanager\", \"loki\"]\nzone = 0",
            "roles = [\"prometheus\", \"alertmanager\", \"loki\", \"grafana\"]\nzone = 0",
        );
        let mut env = parse_aws(&with_grafana).unwrap();
        let err = env.check_grafana_https().unwrap_err().to_string();
        assert!(err.contains("aws.grafana_certificate_arn") && err.contains("HTTPS only"), "{err}");
        assert!(err.contains("--without grafana"), "{err}");
        env.disable(&["grafana".into()]).unwrap();
        env.check_grafana_https().unwrap();
        let arn = "grafana_certificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a\"\n";
        parse_aws(&with_grafana.replace("[aws]\n", &format!("[aws]\n{arn}"))).unwrap().check_grafana_https().unwrap();
        parse_aws(AWS).unwrap().check_grafana_https().unwrap();
    }

    fn parse_aws(text: &str) -> Result<Environment> {
        parse("prod", Path::new("environments/prod.toml"), text)
    }

    #[test]
    fn aws_table_is_typed() {
        let env = parse_aws(AWS).unwrap();
        assert_eq!(env.aws.as_ref().unwrap().region, "eu-west-1");
        assert_eq!(env.loki_retention_days(), 30);
        // A misspelled key is refused, naming the file, the key and the accepted keys (exit 10).
        let err = parse_aws(&AWS.replace("[aws]\n", "[aws]\nloki_force_destory = true\n")).unwrap_err();
        assert_eq!(err.phase, crate::error::Phase::Input);
        assert_eq!(err.phase.exit_code(), 10);
        for part in ["environments/prod.toml", "loki_force_destory", "loki_force_destroy", "admin_cidrs"] {
            assert!(err.message.contains(part), "{part} missing in: {}", err.message);
        }
        // Keys that are gone: one app port ([app] port), retention from [loki].
        for gone in ["app_port = 8181", "loki_retention_days = 31"] {
            let err = parse_aws(&AWS.replace("[aws]\n", &format!("[aws]\n{gone}\n"))).unwrap_err();
            assert!(err.message.contains(gone.split(' ').next().unwrap()), "{}", err.message);
        }
    }

    #[test]
    fn aws_rules_name_the_key() {
        for (change, key) in [
            (("198.18.0.0/24", "203.0.113.0/24"), "aws.admin_cidrs"),
            (("198.18.0.0/24", "0.0.0.0/1\", \"128.0.0.0/1"), "aws.admin_cidrs"),
            (("zone = 2", "zone = 3"), "hosts.mon-3.zone"),
            (("admin_cidrs", "instance_types = { small = \"t4g.small\" }\nadmin_cidrs"), "aws.instance_types.small"),
        ] {
            let err = parse_aws(&AWS.replace(change.0, change.1)).unwrap_err();
            assert!(err.message.contains(key), "{change:?}: {}", err.message);
        }
    }

    #[test]
    fn one_zone_must_not_hold_a_loki_quorum() {
        let err = parse_aws(&AWS.replace("zone = 2", "zone = 0")).unwrap_err();
        assert!(err.message.contains("zone 0 holds 2 of the Loki hosts (mon-1, mon-3)"), "{}", err.message);
        let err = parse_aws(&AWS.replace("replication_factor = 3", "replication_factor = 5")).unwrap_err();
        assert!(err.message.contains("replication_factor = 5"), "{}", err.message);
        // Without loki there is nothing to check.
        parse_aws(&AWS.replace("zone = 2", "zone = 0").replace("\"node_exporter\", \"loki\",", "\"node_exporter\",")).unwrap();
    }

    #[test]
    fn the_shipped_prod_file_is_valid_and_spreads_loki_over_three_zones() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/environments/prod.toml")).unwrap();
        let env = parse_aws(&text).unwrap();
        assert_eq!(env.aws.as_ref().unwrap().availability_zones.len(), 3);
        let zones: BTreeSet<u32> = env.hosts_with_role("loki").map(|h| h.zone).collect();
        assert_eq!(zones.len(), 3, "one Loki per zone");
        // The old placeholder, a documentation range, is refused.
        let err = parse_aws(&text.replace("10.0.0.0/8", "203.0.113.0/24")).unwrap_err();
        assert!(err.message.contains("aws.admin_cidrs") && err.message.contains("documentation"), "{}", err.message);
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(duration_secs("1h30m"), Some(5400));
        assert_eq!(duration_secs("720h"), Some(30 * 86400));
        assert_eq!(duration_secs("x"), None);
    }

    #[test]
    fn durations() {
        for ok in ["15s", "1h30m", "7d", "500ms"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "1.5h", "15 s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
