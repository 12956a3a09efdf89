//! Environments as data: `environments/<name>.toml` is parsed (raw, with
//! unknown keys refused) and then validated into one `Environment` the rest of
//! the program trusts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::aws::AwsSettings;
use crate::model::component::{self, ComponentId, Registry};
use crate::model::names;
use crate::model::units::PromDuration;

/// Which provider (the env file's `provider`, the stack's directory name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Lab,
    Aws,
}

impl ProviderKind {
    /// Whether an admin reaches `component`'s own port from where obsctl
    /// runs. On aws the security groups open only Prometheus and
    /// Alertmanager to admin_cidrs (Grafana sits behind its load balancer);
    /// the other ports are open to the stack only. The lab's are all reachable.
    pub fn admin_reaches(self, component: ComponentId) -> bool {
        self == ProviderKind::Lab || matches!(component, ComponentId::Prometheus | ComponentId::Alertmanager)
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Lab => "lab",
            ProviderKind::Aws => "aws",
        }
    }
}

/// The provider with its settings: `[lab]` or `[aws]`, whichever `provider` names.
#[derive(Debug, Clone)]
pub enum Provider {
    Lab(LabSettings),
    Aws(Box<AwsSettings>),
}

impl Provider {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Provider::Lab(_) => ProviderKind::Lab,
            Provider::Aws(_) => ProviderKind::Aws,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn admin_reaches(&self, component: ComponentId) -> bool {
        self.kind().admin_reaches(component)
    }

    pub fn lab(&self) -> Option<&LabSettings> {
        match self {
            Provider::Lab(lab) => Some(lab),
            Provider::Aws(_) => None,
        }
    }

    pub fn aws(&self) -> Option<&AwsSettings> {
        match self {
            Provider::Aws(aws) => Some(aws),
            Provider::Lab(_) => None,
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

mod receivers;
#[cfg(test)]
pub(crate) mod tests;
pub mod user;
mod validate;

pub use receivers::*;
use validate::{validate, RawEnvironment};

/// `[up]`: how `up` configures the hosts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpSettings {
    /// Run Ansible on every `up`, even when Terraform planned nothing, the
    /// inputs are unchanged and every host is as last converged (which
    /// otherwise skips it: src/state/converged.rs). Same as `up --full` each time.
    pub always_configure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSettings {
    /// Linux bridge name (≤ 15 characters).
    pub bridge: String,
    /// IPv4 network of the bridge, e.g. 10.77.0.0/24.
    pub cidr: String,
    /// The shape of a private network (issue 32): one more machine, the
    /// bastion, and the controller may open connections on the bridge only
    /// to it; every SSH and HTTP call jumps through it, as on aws.
    #[serde(default)]
    pub bastion: bool,
}

impl LabSettings {
    /// The number (within `cidr`) of the first host; the host at position i
    /// of the env file gets FIRST_HOST_NUMBER + i, so appending a host never
    /// renumbers the others. 1 is the lab host's own address (gateway).
    pub const FIRST_HOST_NUMBER: u32 = 10;
    /// The bastion's number: below every host's, so adding hosts never
    /// moves it, and never one of theirs.
    pub const BASTION_NUMBER: u32 = 9;

    /// Each host's number within `cidr`, in env-file order.
    pub fn host_numbers<'a>(hosts: &'a [Host]) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        (Self::FIRST_HOST_NUMBER..).zip(hosts).map(|(n, h)| (h.name.as_str(), n))
    }

    /// The bastion machine's name (lab.sh's machine, Terraform's
    /// `module.bastion`): no host may have it when the lab has a bastion.
    pub const BASTION_NAME: &'static str = "bastion";

    /// The bastion's number, when `[lab] bastion = true`.
    pub fn bastion_number(&self) -> Option<u32> {
        self.bastion.then_some(Self::BASTION_NUMBER)
    }
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
    /// `filesystem` or `s3` (`LokiStorage`).
    pub storage: String,
    pub replication_factor: u32,
}

impl Default for LokiSettings {
    fn default() -> Self {
        LokiSettings { retention_period: "168h".into(), storage: LokiStorage::Filesystem.name().into(), replication_factor: 1 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrafanaSettings {
    /// `sqlite` or `postgres` (`GrafanaDatabase`).
    pub database: String,
}

impl Default for GrafanaSettings {
    fn default() -> Self {
        GrafanaSettings { database: GrafanaDatabase::default().name().into() }
    }
}

// The sections above as written in the file (their defaults are `facts`'s);
// below, as validated: durations measured, words as enums.

/// `[prometheus]`, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Prometheus {
    pub retention: PromDuration,
    pub scrape_interval: PromDuration,
    pub evaluation_interval: PromDuration,
}

/// `[alertmanager]`, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Alertmanager {
    pub group_wait: PromDuration,
    pub group_interval: PromDuration,
    pub repeat_interval: PromDuration,
    pub silence_during_up: bool,
    pub runbook_base_url: Option<String>,
    pub receivers: Vec<Receiver>,
}

/// `[loki]`, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Loki {
    pub retention_period: PromDuration,
    pub storage: LokiStorage,
    pub replication_factor: u32,
}

/// `[grafana]`, validated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Grafana {
    pub database: GrafanaDatabase,
}

/// `[loki].storage`: where Loki keeps its chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LokiStorage {
    Filesystem,
    S3,
}

impl LokiStorage {
    pub const ALL: [LokiStorage; 2] = [LokiStorage::Filesystem, LokiStorage::S3];

    /// The env file's word, also the roles' `loki_storage`.
    pub fn name(self) -> &'static str {
        match self {
            LokiStorage::Filesystem => "filesystem",
            LokiStorage::S3 => "s3",
        }
    }
}

/// `[grafana].database`: SQLite on the Grafana host (the default), or
/// PostgreSQL (RDS, aws only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrafanaDatabase {
    #[default]
    Sqlite,
    Postgres,
}

impl GrafanaDatabase {
    pub const ALL: [GrafanaDatabase; 2] = [GrafanaDatabase::Sqlite, GrafanaDatabase::Postgres];

    /// The env file's word.
    pub fn name(self) -> &'static str {
        match self {
            GrafanaDatabase::Sqlite => "sqlite",
            GrafanaDatabase::Postgres => "postgres",
        }
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
/// A stateful host's data volume (`data_gb`, aws: an EBS volume that outlives
/// the instance) when the file leaves it out.
pub const DEFAULT_DATA_GB: u32 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    /// In file order (written so to Terraform's `hosts`).
    pub roles: Vec<ComponentId>,
    pub size: String,
    pub disk_gb: u32,
    /// The data volume (aws; hosts with a stateful role only).
    pub data_gb: u32,
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
    /// The components this run deploys (or, read back from the deployment
    /// record, the last `up` deployed): the env file's, minus `--without`.
    pub components: BTreeSet<ComponentId>,
    /// In file order: the lab numbers addresses by position.
    pub hosts: Vec<Host>,
    /// `[[existing_hosts]]`: machines obsctl did not create (never given to Terraform).
    pub existing_hosts: Vec<crate::model::existing::ExistingHost>,
    pub prometheus: Prometheus,
    pub alertmanager: Alertmanager,
    pub app: AppSettings,
    pub loki: Loki,
    pub grafana: Grafana,
    pub up: UpSettings,
    pub state: StateBackend,
    /// Components, their ports, jobs and units (the app's port from `[app]`).
    pub registry: Registry,
    /// The user's own services: `[[scrape_jobs]]`, `[user]`, `[[logs]]`.
    pub user: user::UserInputs,
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

impl Environment {
    pub fn hosts_with_role(&self, role: ComponentId) -> impl Iterator<Item = &Host> + '_ {
        self.hosts.iter().filter(move |h| h.roles.contains(&role))
    }

    /// The values a new user must fill in before an aws environment can be
    /// deployed (issue 32), all named at once, before Terraform runs (exit
    /// 10): `[aws].admin_cidrs` (who may reach the bastion and the load
    /// balancer; prod.toml ships it empty) and, when Grafana is deployed,
    /// `[aws].grafana_certificate_arn` (the load balancer serves Grafana over
    /// HTTPS only, with the user's own ACM certificate: obsctl does not serve
    /// Grafana over plain HTTP, nor import a self-signed certificate every
    /// browser would warn about). Checked once the run's components are
    /// known (`--without grafana` lifts the certificate).
    pub fn check_deployable(&self) -> Result<()> {
        let Some(aws) = self.provider.aws() else { return Ok(()) };
        let mut missing = Vec::new();
        if aws.admin_cidrs.is_empty() {
            missing.push(
                "`aws.admin_cidrs`: the public networks of your admins (office, VPN egress), e.g. [\"198.51.7.0/24\"]: \
                 only they reach the bastion (SSH, the way to every host) and Grafana's load balancer"
                    .to_string(),
            );
        }
        let grafana_host = self.hosts_with_role(ComponentId::Grafana).next().is_some();
        if aws.grafana_certificate_arn.is_none() && self.enabled(ComponentId::Grafana) && grafana_host {
            missing.push(format!(
                "`aws.grafana_certificate_arn`: Grafana on aws is served through the load balancer over HTTPS only, with \
                 your ACM certificate for the name users type. Request or import one \
                 (aws acm request-certificate --domain-name grafana.example.com --validation-method DNS --region {}), \
                 point that name at the load balancer and set grafana_certificate_arn = \"arn:aws:acm:…\"; \
                 or deploy without Grafana: obsctl up --env {} --without grafana",
                aws.region, self.name
            ));
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::input(format!(
            "{}: {} value{} to fill in under [aws] before the first deployment (nothing was created): {}",
            self.file.display(),
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().enumerate().map(|(i, m)| format!("({}) {m}", i + 1)).collect::<Vec<_>>().join("; ")
        ))
        .hint(format!("fill them in, in {}, then run `obsctl up --env {}` again", self.file.display(), self.name)))
    }

    /// TCP ports the hosts must reach on the internet for the receivers
    /// (besides 80 and 443, always open): SMTP smarthosts' ports and the
    /// ports of webhook and PagerDuty URLs written in the file. The aws
    /// stack opens exactly these in the hosts' egress (`egress_tcp_ports`).
    pub fn receiver_egress_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> =
            self.alertmanager.receivers.iter().flat_map(receivers::egress_ports).filter(|p| *p != 80 && *p != 443).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Loki's retention in whole days, rounded up (the aws stack expires the
    /// bucket's chunks a margin after it).
    pub fn loki_retention_days(&self) -> u64 {
        self.loki.retention_period.length().as_secs().div_ceil(86400).max(1)
    }

    pub fn enabled(&self, component: ComponentId) -> bool {
        self.components.contains(&component)
    }

    /// Every host is reached through a bastion: always on aws, on the lab
    /// with `[lab] bastion = true`.
    pub fn has_bastion(&self) -> bool {
        self.provider.lab().is_none_or(|lab| lab.bastion)
    }

    /// Grafana keeps its data in PostgreSQL (RDS), which only the aws
    /// provider offers (validation refuses it elsewhere).
    pub fn grafana_on_rds(&self) -> bool {
        self.provider.kind() == ProviderKind::Aws && self.grafana.database == GrafanaDatabase::Postgres
    }

    /// The environment a run of `up` deploys: the file's, without the
    /// components turned off for this run (`--without`).
    pub fn without(self, without: &[String]) -> Result<Environment> {
        let mut off = BTreeSet::new();
        for c in without {
            let all = component::names();
            let Some(id) = ComponentId::from_name(c) else {
                return Err(Error::input(format!("--without: unknown component `{c}`; allowed: {}", all.join(", "))));
            };
            if component::required().contains(&c.as_str()) {
                return Err(Error::input(format!("--without: `{c}` is required and cannot be turned off")));
            }
            off.insert(id);
        }
        let components = self.components.difference(&off).copied().collect();
        Ok(self.with_components(components))
    }

    /// The environment as a deployment record says it was deployed: the
    /// components that run really enabled.
    pub fn as_deployed(self, components: &BTreeSet<ComponentId>) -> Environment {
        self.with_components(components.clone())
    }

    fn with_components(self, components: BTreeSet<ComponentId>) -> Environment {
        Environment { components, ..self }
    }
}
