//! The Ansible inventory (JSON, valid for Ansible's yaml plugin), rendered
//! from a validated contract (`contract`), the environment and the component
//! registry. It is Ansible's input, derived on every run; the record of what
//! was deployed is `deployment`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::model::contract::Contract;
use crate::model::environment::{Environment, GrafanaDatabase, Receiver};

/// The inventory group of the hosts obsctl did not create (`[[existing_hosts]]`).
pub const EXISTING_GROUP: &str = "existing";

/// Everything the inventory needs besides the contract.
pub struct Context<'a> {
    pub env: &'a Environment,
    pub secrets_dir: &'a Path,
    pub known_hosts: &'a Path,
    pub app_binary: &'a Path,
    /// The environment's CA and host certificates (paths only).
    pub tls: &'a crate::state::workspace::TlsDir,
    /// The basic-auth users: their password files and bcrypt hashes.
    pub web_users: &'a [crate::state::secrets::WebUser],
    /// Variables the stack publishes in its optional `obsctl_vars` output.
    pub provider_vars: Map<String, Value>,
    /// The release each host runs (src/state/os_roll.rs): during a roll to
    /// another `os`, a host not rolled yet gets its own `obsctl_os`.
    pub host_os: BTreeMap<String, String>,
}

/// Renders the Ansible inventory: one group per component, every host in
/// `all`, host vars from the contract, env-wide vars from the env file.
pub fn render(contract: &Contract, ctx: &Context) -> Value {
    let env = ctx.env;
    let quoted = |words: Vec<String>| words.iter().map(|w| crate::tools::ssh::shell_quote(w)).collect::<Vec<_>>().join(" ");
    let ssh_args = quoted(crate::tools::ssh::contract_options(contract, ctx.known_hosts));
    // Existing hosts are reached directly, not through the stack's bastion.
    let direct_args = quoted(crate::tools::ssh::options(ctx.known_hosts));
    let mut hosts = Map::new();
    for (name, h) in &contract.hosts {
        let mut vars = json!({
                "ansible_host": h.address,
                "ansible_user": h.ssh_user,
                "ansible_port": h.ssh_port,
                "ansible_ssh_private_key_file": contract.key_of(h),
                "ansible_ssh_common_args": if h.is_existing() { &direct_args } else { &ssh_args },
                // A machine obsctl did not create: the play touches only what obsctl installs there.
                "obsctl_existing": h.is_existing(),
                "ansible_python_interpreter": "/usr/bin/python3",
                "obsctl_private_address": h.private_address,
                "obsctl_labels": h.labels,
                "obsctl_roles": h.roles,
                "obsctl_data_volume": h.data_volume,
                "obsctl_data_roots": crate::model::backup::DATA_ROOTS,
                "obsctl_tls_cert_file": ctx.tls.host_cert(name),
                "obsctl_tls_key_file": ctx.tls.host_key(name),
                // The user's log files and journal units for this host ([[logs]]).
                "obsctl_user_logs": env.user.logs.iter().filter(|l| l.hosts.contains(name)).map(|l| json!({
                    "files": l.files, "units": l.units, "labels": l.labels,
                })).collect::<Vec<_>>(),
        });
        if let Some(os) = ctx.host_os.get(name).filter(|os| *os != env.os.name()) {
            vars["obsctl_os"] = json!(os);
        }
        hosts.insert(name.clone(), vars);
    }
    let mut children = Map::new();
    for c in env.registry.iter() {
        let members: BTreeSet<&String> = if !env.enabled(c.id) {
            BTreeSet::new()
        } else {
            contract.hosts.iter().filter(|(_, h)| h.runs(&env.registry, c.id)).map(|(n, _)| n).collect()
        };
        let group: Map<String, Value> = members.into_iter().map(|n| (n.clone(), json!({}))).collect();
        children.insert(c.group().to_string(), json!({ "hosts": group }));
    }
    // The existing hosts, and the groups the env file puts them in.
    let mut extra: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (name, h) in contract.existing() {
        extra.entry(EXISTING_GROUP.to_string()).or_default().insert(name.clone(), json!({}));
        for g in h.existing.iter().flat_map(|e| &e.groups) {
            extra.entry(g.clone()).or_default().insert(name.clone(), json!({}));
        }
    }
    for (g, members) in extra {
        children.entry(g).or_insert_with(|| json!({ "hosts": {} }))["hosts"] = Value::Object(members);
    }
    let web_users: Map<String, Value> =
        ctx.web_users.iter().map(|u| (u.name.to_string(), json!({ "password_file": u.password_file, "bcrypt": u.bcrypt }))).collect();
    let receivers: Vec<Value> = env.alertmanager.receivers.iter().map(|r| receiver_vars(r, ctx.secrets_dir)).collect();
    let vars = json!({
        "obsctl_environment": env.name,
        "obsctl_provider": env.provider.name(),
        "obsctl_os": env.os.name(),
        "obsctl_protected": env.protected,
        "obsctl_components": env.registry.inventory_value(|c| env.enabled(c)),
        "obsctl_secrets_dir": ctx.secrets_dir,
        "obsctl_tls_ca_file": ctx.tls.trust_file(),
        "obsctl_web_users": web_users,
        "obsctl_access": crate::model::access::inventory_value(),
        "obsctl_host_tls_dir": crate::state::tls::HOST_TLS_DIR,
        "obsctl_host_secrets_dir": crate::state::tls::HOST_SECRETS_DIR,
        "prometheus_retention": env.prometheus.retention,
        "prometheus_scrape_interval": env.prometheus.scrape_interval,
        "prometheus_evaluation_interval": env.prometheus.evaluation_interval,
        "alertmanager_group_wait": env.alertmanager.group_wait,
        "alertmanager_group_interval": env.alertmanager.group_interval,
        "alertmanager_repeat_interval": env.alertmanager.repeat_interval,
        "alertmanager_receivers": receivers,
        "alertmanager_runbook_base_url": env.alertmanager.runbook_base_url.clone().unwrap_or_default(),
        "app_binary_src": ctx.app_binary,
        "app_traffic_rps": env.app.traffic_rps,
        "loki_retention_period": env.loki.retention_period,
        "loki_storage": env.loki.storage.name(),
        "loki_replication_factor": env.loki.replication_factor,
        "grafana_database": match env.grafana.database {
            GrafanaDatabase::Sqlite => "sqlite3",
            GrafanaDatabase::Postgres => "postgres",
        },
    });
    let mut vars = vars;
    for (k, v) in user_vars(contract, ctx) {
        vars[k] = v;
    }
    for (var, port) in env.registry.ports() {
        vars[var] = json!(port);
    }
    if env.grafana.database == GrafanaDatabase::Postgres {
        vars["grafana_database_password_file"] = json!(crate::state::secrets::grafana_db_password_file(ctx.secrets_dir));
    }
    if let Some(v) = vars.as_object_mut() {
        for (k, val) in &ctx.provider_vars {
            // The stack may add variables, never replace obsctl's own.
            if !k.starts_with("obsctl_") && !v.contains_key(k) {
                v.insert(k.clone(), val.clone());
            }
        }
    }
    json!({ "all": { "hosts": hosts, "vars": vars, "children": children } })
}

/// The user's own scrape jobs (`[[scrape_jobs]]`) as the prometheus role
/// takes them: each job's `scrape_config` (hosts resolved to their private
/// addresses), the files to copy next to it (CA, stored credentials: their
/// controller paths, never their contents) and the jobs' file_sd folders.
fn user_vars(contract: &Contract, ctx: &Context) -> Vec<(&'static str, Value)> {
    use crate::model::environment::user::{FILE_SD_DIR, SCRAPE_FILES_DIR, USER_RULES_PREFIX};
    let jobs = &ctx.env.user.scrape_jobs;
    let address = |h: &str| contract.hosts.get(h).map(|h| h.private_address.clone());
    let configs: Vec<Value> = jobs.iter().map(|j| j.scrape_config(address)).collect();
    let mut files = Vec::new();
    for j in jobs {
        if let Some(ca) = &j.ca_file {
            // Absolute: the fast path's digest reads every file the inventory names.
            let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
            files.push(json!({ "job": j.name, "src": ca, "dest": j.host_file("ca.crt") }));
        }
        for s in j.secrets() {
            let src = crate::state::secrets::scrape_secret_file(ctx.secrets_dir, &j.name, s.credential);
            files.push(json!({ "job": j.name, "src": src, "dest": j.host_file(s.credential) }));
        }
    }
    let file_sd: Vec<&str> = jobs.iter().filter(|j| j.file_sd).map(|j| j.name.as_str()).collect();
    // The user's rule files (not their promtool tests) and dashboards, each
    // named `user-<file>` on the hosts, beside the built-in ones.
    let deployed = |files: Vec<PathBuf>| -> Vec<Value> {
        files
            .into_iter()
            .filter_map(|f| {
                let name = f.file_name()?.to_str()?.to_string();
                let src = std::path::absolute(&f).unwrap_or(f);
                Some(json!({ "src": src, "name": format!("{USER_RULES_PREFIX}{name}") }))
            })
            .collect()
    };
    let user = &ctx.env.user;
    let rules = user.rules_dir.as_deref().and_then(|d| user_rule_files(d).ok()).map(|(r, _)| r).unwrap_or_default();
    let dashboards = user.dashboards_dir.as_deref().and_then(|d| user_dashboards(d).ok()).unwrap_or_default();
    vec![
        ("prometheus_user_rule_files", json!(deployed(rules))),
        ("grafana_user_dashboards", json!(deployed(dashboards))),
        ("prometheus_user_jobs", json!(configs)),
        ("prometheus_user_job_names", json!(jobs.iter().map(|j| &j.name).collect::<Vec<_>>())),
        ("prometheus_user_files", json!(files)),
        ("prometheus_scrape_files_dir", json!(SCRAPE_FILES_DIR)),
        ("prometheus_file_sd_dir", json!(FILE_SD_DIR)),
        ("prometheus_file_sd_jobs", json!(file_sd)),
    ]
}

/// Regular files of `dir` whose names end in one of `suffixes`, sorted.
pub fn files_with_suffix(dir: &Path, suffixes: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| suffixes.iter().any(|s| n.ends_with(s))))
        .collect();
    out.sort();
    Ok(out)
}

/// The user's rule folder (`[user].rules_dir`): its rule files
/// (`*.rules.yml`) and its promtool test files (`*.test.yml`).
pub fn user_rule_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let read = |s: &[&str]| files_with_suffix(dir, s).map_err(|e| format!("cannot read {}: {e}", dir.display()));
    Ok((read(&[".rules.yml", ".rules.yaml"])?, read(&[".test.yml", ".test.yaml"])?))
}

/// The user's dashboards (`[user].dashboards_dir`): `*.json`.
pub fn user_dashboards(dir: &Path) -> Result<Vec<PathBuf>, String> {
    files_with_suffix(dir, &[".json"]).map_err(|e| format!("cannot read {}: {e}", dir.display()))
}

/// A receiver as the alertmanager role takes it: the environment file's
/// fields, with each credential's source (`*_env`, `*_file`) replaced by
/// `*_file` = the copy obsctl stored on the controller.
pub fn receiver_vars(r: &Receiver, secrets_dir: &Path) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    let stored: BTreeMap<&str, PathBuf> = r
        .secrets()
        .into_iter()
        .map(|s| (s.credential, crate::state::secrets::receiver_secret_file(secrets_dir, &s.receiver, s.credential)))
        .collect();
    for (kind, field, credential) in [
        ("email", "password", "smtp_password"),
        ("webhook", "url", "webhook_url"),
        ("slack", "api_url", "slack_api_url"),
        ("pagerduty", "routing_key", "pagerduty_routing_key"),
    ] {
        let Some(obj) = v.get_mut(kind).and_then(Value::as_object_mut) else { continue };
        obj.remove(&format!("{field}_env"));
        obj.remove(&format!("{field}_file"));
        if let Some(file) = stored.get(credential) {
            obj.insert(format!("{field}_file"), json!(file));
        }
        obj.retain(|_, val| !val.is_null());
    }
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|_, val| !val.is_null());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract::tests::{contract, env};
    use std::path::Path;

    #[test]
    fn renders_groups_and_vars() {
        let e = env();
        let c = crate::model::contract::parse(&contract().to_string(), &e).unwrap();
        let secrets = tempfile::tempdir().unwrap();
        let users = crate::state::secrets::web_users(secrets.path()).unwrap();
        let ctx = Context {
            env: &e,
            secrets_dir: Path::new("/s"),
            known_hosts: Path::new("/kh"),
            app_binary: Path::new("/bin/app"),
            tls: &crate::state::workspace::TlsDir { dir: "/st/tls".into() },
            web_users: &users,
            provider_vars: Map::from_iter([("loki_s3_bucket".to_string(), json!("b")), ("obsctl_environment".to_string(), json!("evil"))]),
            // Half-way through a roll to debian-13: app-1 still runs debian-12.
            host_os: BTreeMap::from_iter([("app-1".to_string(), "debian-12".to_string()), ("mon-1".to_string(), "debian-13".to_string())]),
        };
        let inv = render(&c, &ctx);
        let children = &inv["all"]["children"];
        assert!(children["prometheus"]["hosts"].get("mon-1").is_some());
        assert!(children["app"]["hosts"].get("app-1").is_some());
        assert_eq!(children["node_exporter"]["hosts"].as_object().unwrap().len(), 2);
        // Disabled components have empty groups.
        assert_eq!(children["grafana"]["hosts"].as_object().unwrap().len(), 0);
        assert_eq!(children["promtail"]["hosts"].as_object().unwrap().len(), 0, "the legacy agent is off by default");
        assert_eq!(inv["all"]["hosts"]["app-1"]["ansible_host"], "10.77.0.11");
        assert_eq!(inv["all"]["vars"]["obsctl_environment"], "dev");
        assert_eq!(inv["all"]["vars"]["obsctl_os"], "debian-13");
        assert_eq!(inv["all"]["hosts"]["app-1"]["obsctl_os"], "debian-12", "a host not rolled yet keeps its release");
        assert!(inv["all"]["hosts"]["mon-1"].get("obsctl_os").is_none());
        assert_eq!(inv["all"]["vars"]["loki_s3_bucket"], "b");
        // TLS and basic auth: controller paths and bcrypt hashes, never a password.
        assert_eq!(inv["all"]["vars"]["obsctl_tls_ca_file"], "/st/tls/ca.crt");
        assert_eq!(inv["all"]["hosts"]["app-1"]["obsctl_tls_cert_file"], "/st/tls/hosts/app-1.crt");
        assert_eq!(inv["all"]["hosts"]["app-1"]["obsctl_tls_key_file"], "/st/tls/hosts/app-1.key");
        let web = inv["all"]["vars"]["obsctl_web_users"].as_object().unwrap();
        assert_eq!(web.keys().collect::<Vec<_>>(), ["alloy", "grafana", "obsctl", "prometheus", "promtail"]);
        let text = inv.to_string();
        for u in &users {
            assert_eq!(web[u.name]["password_file"], json!(u.password_file));
            assert_eq!(web[u.name]["bcrypt"], u.bcrypt);
            assert!(!text.contains(u.password()), "the inventory never holds a password");
        }
    }

    #[test]
    fn an_existing_host_gets_its_own_key_its_groups_and_only_its_components() {
        let text = r#"
provider = "lab"
components = ["prometheus", "alertmanager", "node_exporter", "app"]
[lab]
bridge = "obs-dev"
cidr = "10.77.0.0/24"
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager"]
[[hosts]]
name = "app-1"
roles = ["app"]
[[existing_hosts]]
name = "db-1"
address = "10.77.0.50"
ssh_user = "admin"
ssh_key_file = "/keys/db"
groups = ["db"]
"#;
        let e = crate::model::environment::parse("dev", Path::new("environments/dev.toml"), text).unwrap();
        let c = crate::model::contract::parse(&contract().to_string(), &e).unwrap().with_existing(&e.existing_hosts);
        let users = crate::state::secrets::web_users(tempfile::tempdir().unwrap().path()).unwrap();
        let ctx = Context {
            env: &e,
            secrets_dir: Path::new("/s"),
            known_hosts: Path::new("/kh"),
            app_binary: Path::new("/bin/app"),
            tls: &crate::state::workspace::TlsDir { dir: "/st/tls".into() },
            web_users: &users,
            provider_vars: Map::new(),
            host_os: BTreeMap::new(),
        };
        let inv = render(&c, &ctx);
        let (db, mon) = (&inv["all"]["hosts"]["db-1"], &inv["all"]["hosts"]["mon-1"]);
        assert_eq!(db["ansible_ssh_private_key_file"], "/keys/db");
        assert_eq!(mon["ansible_ssh_private_key_file"], "/k");
        assert_eq!((db["obsctl_existing"].clone(), mon["obsctl_existing"].clone()), (json!(true), json!(false)));
        assert_eq!((db["ansible_user"].clone(), db["ansible_host"].clone()), (json!("admin"), json!("10.77.0.50")));
        let children = &inv["all"]["children"];
        assert!(children["node_exporter"]["hosts"].get("db-1").is_some(), "{children}");
        assert!(children["app"]["hosts"].get("db-1").is_none() && children["prometheus"]["hosts"].get("db-1").is_none());
        assert_eq!(children[EXISTING_GROUP]["hosts"], json!({ "db-1": {} }));
        assert_eq!(children["db"]["hosts"], json!({ "db-1": {} }));
        // Terraform never sees it; a later env file without it drops it from the contract.
        assert!(e.hosts.iter().all(|h| h.name != "db-1"));
        assert!(!c.clone().with_existing(&[]).hosts.contains_key("db-1"));
        // A stack may not claim a host is existing.
        let mut raw = contract();
        raw["hosts"]["app-1"]["existing"] = json!({ "ssh_private_key_file": "/x", "components": [], "groups": [] });
        let err = crate::model::contract::parse(&raw.to_string(), &e).unwrap_err();
        assert!(err.message.contains("hosts.app-1.existing"), "{}", err.message);
        // A name may not be both created and existing.
        let twice = text.replace("name = \"db-1\"", "name = \"app-1\"");
        let err = crate::model::environment::parse("dev", Path::new("environments/dev.toml"), &twice).unwrap_err();
        assert_eq!(err.phase.exit_code(), 10);
        assert!(err.message.contains("environments/dev.toml: `existing_hosts[0].name`"), "{}", err.message);
    }

    #[test]
    fn receivers_carry_stored_credential_files_never_their_sources() {
        let e = crate::model::environment::parse(
            "prod",
            Path::new("environments/prod.toml"),
            r##"
provider = "lab"
[lab]
bridge = "obs-dev"
cidr = "10.77.0.0/24"
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager", "grafana", "loki", "app"]
[[alertmanager.receivers]]
name = "oncall"
[alertmanager.receivers.email]
to = "a@example.com"
from = "b@example.com"
smarthost = "smtp.example.com:587"
username = "b@example.com"
password_env = "SMTP_PW"
[alertmanager.receivers.slack]
api_url = "http://chat.internal/hooks/1"
channel = "#ops"
[alertmanager.receivers.pagerduty]
routing_key_file = "/keys/pd"
"##,
        )
        .unwrap();
        let v = receiver_vars(&e.alertmanager.receivers[0], Path::new("/s"));
        assert_eq!(v["email"]["password_file"], "/s/receiver-oncall-smtp_password");
        assert!(v["email"].get("password_env").is_none(), "{v}");
        assert_eq!(v["pagerduty"]["routing_key_file"], "/s/receiver-oncall-pagerduty_routing_key");
        assert_eq!(v["slack"]["api_url"], "http://chat.internal/hooks/1");
        assert!(v["slack"].get("api_url_file").is_none(), "{v}");
        assert!(!v.to_string().contains("null"), "{v}");
    }
}
