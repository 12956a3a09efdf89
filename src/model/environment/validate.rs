//! The environment file as written (`Raw…`), and its validation into an
//! `Environment`.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::receivers::check_receiver;
use super::user;
use super::*;
use crate::error::{Error, Result};
use crate::model::aws::{self, AwsSettings};
use crate::model::component::{self, ComponentId, Registry};
use crate::model::names;
use crate::model::units::{self, PromDuration};

// ---- raw file ------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    description: Option<String>,
    provider: ProviderKind,
    os: Option<String>,
    #[serde(default)]
    protected: bool,
    components: Option<Vec<String>>,
    /// The log agent: `alloy` (the default) or `promtail` (legacy, opt-in).
    log_agent: Option<String>,
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
    #[serde(default)]
    existing_hosts: Vec<crate::model::existing::RawExistingHost>,
    #[serde(default)]
    scrape_jobs: Vec<user::RawScrapeJob>,
    #[serde(default)]
    user: user::RawUser,
    #[serde(default)]
    logs: Vec<user::RawLogs>,
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
    data_gb: Option<u32>,
    zone: Option<u32>,
}

pub(super) fn validate(name: &str, file: &Path, raw: RawEnvironment) -> Result<Environment> {
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

    let listed_explicitly = raw.components.is_some();
    let components: BTreeSet<ComponentId> = match raw.components {
        None => ComponentId::defaults().collect(),
        Some(list) => {
            let mut ids = BTreeSet::new();
            for c in &list {
                let Some(id) = ComponentId::from_name(c) else {
                    return Err(bad("components", format!("unknown component `{c}`; allowed: {}", all.join(", "))));
                };
                ids.insert(id);
            }
            ids
        }
    };
    for c in &required {
        if !components.iter().any(|id| id.name() == *c) {
            return Err(bad("components", format!("`{c}` is required (obsctl verifies the stack through it)")));
        }
    }
    let components = log_agent(raw.log_agent.as_deref(), listed_explicitly, components).map_err(|(key, what)| bad(key, what))?;

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
        let mut roles = Vec::new();
        for r in &h.roles {
            let Some(id) = ComponentId::from_name(r).filter(|_| host_roles.contains(&r.as_str())) else {
                return Err(bad(
                    &format!("{key}.roles"),
                    format!(
                        "unknown role `{r}` on host `{}`; allowed: {} (node_exporter and the log agent run on every host)",
                        h.name,
                        host_roles.join(", ")
                    ),
                ));
            };
            roles.push(id);
        }
        let size = h.size.unwrap_or_else(|| DEFAULT_HOST_SIZE.into());
        if !["small", "medium", "large"].contains(&size.as_str()) {
            return Err(bad(&format!("{key}.size"), format!("`{size}`: allowed sizes are small, medium, large")));
        }
        let disk_gb = h.disk_gb.unwrap_or(DEFAULT_DISK_GB);
        if !(8..=16384).contains(&disk_gb) {
            return Err(bad(&format!("{key}.disk_gb"), format!("{disk_gb}: a root volume is 8 to 16384 GB")));
        }
        let data_gb = h.data_gb.unwrap_or(DEFAULT_DATA_GB);
        if !(1..=16384).contains(&data_gb) {
            return Err(bad(&format!("{key}.data_gb"), format!("{data_gb}: a data volume is 1 to 16384 GB")));
        }
        hosts.push(Host { name: h.name, roles, size, disk_gb, data_gb, zone: h.zone.unwrap_or(0) });
    }
    for role in &host_roles {
        let enabled = components.iter().find(|id| id.name() == *role);
        if enabled.is_some_and(|id| !hosts.iter().any(|h| h.roles.contains(id))) {
            let why = if required.contains(role) { "it is required" } else { "the component is enabled" };
            return Err(bad(
                "hosts",
                format!("no host has role `{role}`, but {why}; add it to a host's roles or remove it from `components`"),
            ));
        }
    }

    let provider = match raw.provider {
        ProviderKind::Lab => {
            let lab = raw.lab.ok_or_else(|| bad("lab", "provider `lab` needs a [lab] table with `bridge` and `cidr`".into()))?;
            if lab.bridge.is_empty() || lab.bridge.len() > 15 || !lab.bridge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(bad("lab.bridge", format!("`{}` is not an interface name (1–15 letters, digits, dashes)", lab.bridge)));
            }
            let prefix =
                parse_cidr(&lab.cidr).ok_or_else(|| bad("lab.cidr", format!("`{}` is not an IPv4 network like 10.77.0.0/24", lab.cidr)))?;
            // Numbers below the first host's (the gateway, the bastion) and the
            // broadcast address are not hosts'.
            let capacity = (1u64 << (32 - prefix)).saturating_sub(u64::from(LabSettings::FIRST_HOST_NUMBER) + 2);
            if hosts.len() as u64 > capacity {
                return Err(bad("lab.cidr", format!("{} has room for {capacity} machines, the topology has {}", lab.cidr, hosts.len())));
            }
            if lab.bastion && hosts.iter().any(|h| h.name == LabSettings::BASTION_NAME) {
                return Err(bad(
                    "hosts",
                    format!(
                        "host `{0}` has the name of the lab's bastion machine ([lab] bastion = true); rename the host",
                        LabSettings::BASTION_NAME
                    ),
                ));
            }
            Provider::Lab(lab)
        }
        ProviderKind::Aws => {
            let Some(settings) = raw.aws else {
                return Err(bad("aws", "provider `aws` needs an [aws] table (region, availability_zones, admin_cidrs, …)".into()));
            };
            let refs: Vec<aws::HostRef> = hosts.iter().map(|h| aws::HostRef { name: &h.name, size: &h.size, zone: h.zone }).collect();
            aws::validate(&settings, &refs).map_err(|(key, what)| bad(&key, what))?;
            if components.contains(&ComponentId::Loki) {
                loki_zones(&hosts, raw.loki.replication_factor).map_err(|what| bad("hosts", what))?;
            }
            Provider::Aws(Box::new(settings))
        }
    };

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
    let storage = LokiStorage::ALL.into_iter().find(|s| s.name() == raw.loki.storage).ok_or_else(|| {
        bad("loki.storage", format!("`{}`: allowed are {}", raw.loki.storage, LokiStorage::ALL.map(LokiStorage::name).join(", ")))
    })?;
    let database = GrafanaDatabase::ALL.into_iter().find(|d| d.name() == raw.grafana.database).ok_or_else(|| {
        bad(
            "grafana.database",
            format!("`{}`: allowed are {}", raw.grafana.database, GrafanaDatabase::ALL.map(GrafanaDatabase::name).join(", ")),
        )
    })?;
    if database == GrafanaDatabase::Postgres && raw.provider != ProviderKind::Aws {
        return Err(bad("grafana.database", "`postgres` is provided by the aws provider (RDS); the lab runs Grafana on sqlite".into()));
    }
    let duration = |key: &str, value: &str| {
        PromDuration::parse(value).ok_or_else(|| bad(key, format!("`{value}` is not a duration like 30s, 5m, 4h, 15d")))
    };
    let prometheus = Prometheus {
        retention: duration("prometheus.retention", &raw.prometheus.retention)?,
        scrape_interval: duration("prometheus.scrape_interval", &raw.prometheus.scrape_interval)?,
        evaluation_interval: duration("prometheus.evaluation_interval", &raw.prometheus.evaluation_interval)?,
    };
    let am = raw.alertmanager;
    let alertmanager = Alertmanager {
        group_wait: duration("alertmanager.group_wait", &am.group_wait)?,
        group_interval: duration("alertmanager.group_interval", &am.group_interval)?,
        repeat_interval: duration("alertmanager.repeat_interval", &am.repeat_interval)?,
        silence_during_up: am.silence_during_up,
        runbook_base_url: am.runbook_base_url,
        receivers: am.receivers,
    };
    let loki = Loki {
        retention_period: duration("loki.retention_period", &raw.loki.retention_period)?,
        storage,
        replication_factor: raw.loki.replication_factor,
    };

    let taken: BTreeSet<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let existing_hosts =
        crate::model::existing::validate(raw.existing_hosts, file, &taken, &components).map_err(|(key, what)| bad(&key, what))?;

    let state = match raw.state {
        None => StateBackend::Local,
        Some(raw_state) => state_backend(name, raw_state).map_err(|(key, what)| bad(&format!("state.{key}"), what))?,
    };

    let registry = Registry::new(raw.app.port);
    let folder = file.parent().unwrap_or(Path::new("."));
    let scrape_jobs = user::validate_jobs(raw.scrape_jobs, &hosts, &existing_hosts, &registry, &components, folder)
        .map_err(|(key, what)| bad(&key, what))?;
    let (rules_dir, dashboards_dir) = user::validate_user(raw.user, folder);
    let logs = user::validate_logs(raw.logs, &hosts, &existing_hosts).map_err(|(key, what)| bad(&key, what))?;
    let user = user::UserInputs { scrape_jobs, rules_dir, dashboards_dir, logs };

    Ok(Environment {
        name: name.to_string(),
        file: file.to_path_buf(),
        description: raw.description.unwrap_or_default(),
        provider,
        os,
        protected: raw.protected,
        components,
        hosts,
        existing_hosts,
        prometheus,
        alertmanager,
        registry,
        user,
        app: raw.app,
        loki,
        grafana: Grafana { database },
        up: raw.up,
        state,
    })
}

/// `log_agent` and the agent in `components`: Alloy unless the file opts in
/// to the legacy Promtail with `log_agent = "promtail"` (an environment that
/// already runs it; docs/operations.md, "Move the log agent to Alloy").
/// Without a `components` list, the chosen agent is the one deployed.
fn log_agent(
    choice: Option<&str>,
    listed_explicitly: bool,
    mut components: BTreeSet<ComponentId>,
) -> Result<BTreeSet<ComponentId>, (&'static str, String)> {
    const MOVE: &str = "Promtail is end of life upstream (docs/operations.md, \"Move the log agent to Alloy\")";
    let agent = match choice {
        None | Some("alloy") => ComponentId::Alloy,
        Some("promtail") => ComponentId::Promtail,
        Some(other) => {
            return Err(("log_agent", format!("`{other}` is not a log agent; allowed: alloy (the default), promtail (legacy, {MOVE})")));
        }
    };
    if !listed_explicitly {
        components.retain(|c| !c.is_log_agent());
        components.insert(agent);
        return Ok(components);
    }
    let listed: Vec<ComponentId> = components.iter().copied().filter(|c| c.is_log_agent()).collect();
    if listed.len() > 1 {
        return Err(("components", "list one log agent, `alloy` or `promtail`, not both".into()));
    }
    match listed.first() {
        Some(&ComponentId::Promtail) if agent != ComponentId::Promtail => Err((
            "components",
            format!(
                "`promtail` is the legacy log agent: {MOVE}. Replace it with `alloy` (its positions are carried over), \
                 or keep it for now with log_agent = \"promtail\""
            ),
        )),
        Some(&listed) if listed != agent => Err((
            "log_agent",
            format!("`{}` is chosen but `components` lists `{}`: list `{}` instead", agent.name(), listed.name(), agent.name()),
        )),
        _ => Ok(components),
    }
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
            if !units::s3_bucket(&bucket) {
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
    let loki: Vec<&Host> = hosts.iter().filter(|h| h.roles.contains(&ComponentId::Loki)).collect();
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

/// Prefix length of an IPv4 network between /16 and /28, or None (ipnet
/// parses it; the lab numbers its machines inside it).
fn parse_cidr(cidr: &str) -> Option<u32> {
    let net = units::ipv4_cidr(cidr)?;
    let prefix = u32::from(net.prefix_len());
    (16..=28).contains(&prefix).then_some(prefix)
}
