//! The bridge between Terraform and Ansible (DESIGN.md §3): the
//! `obsctl_inventory` output is validated against the contract, then turned
//! into an Ansible inventory (JSON, valid for Ansible's yaml plugin).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};

use crate::environment::{Environment, HOST_ROLES};
use crate::error::{Error, Result};

pub const SCHEMA: u64 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Contract {
    pub environment: String,
    pub hosts: BTreeMap<String, ContractHost>,
    pub ssh: SshSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractHost {
    pub address: String,
    pub private_address: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    pub roles: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    pub private_key_file: PathBuf,
    pub bastion: Option<String>,
}

/// A JSON object read as a list of pairs, so duplicate keys are seen
/// (serde_json's own maps keep only the last).
struct Pairs(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of hosts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Pairs, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, Value>()? {
                    v.push((k, val));
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    schema: Value,
    environment: String,
    hosts: Pairs,
    ssh: SshSettings,
}

fn bad(what: impl Into<String>) -> Error {
    Error::input(format!("Terraform output `obsctl_inventory` breaks the inventory contract: {}", what.into()))
        .hint("fix the stack's `obsctl_inventory` output (see DESIGN.md §3), then run `obsctl up` again")
}

/// Parses `terraform output -json obsctl_inventory` (the bare value).
pub fn parse(text: &str, env: &Environment) -> Result<Contract> {
    let raw: RawContract = serde_json::from_str(text).map_err(|e| bad(format!("{e}")))?;
    match raw.schema.as_u64() {
        Some(SCHEMA) => {}
        _ => return Err(bad(format!("`schema` is {}, this obsctl understands schema {SCHEMA}", raw.schema))),
    }
    if raw.environment != env.name {
        return Err(bad(format!("`environment` is `{}` but obsctl is running `{}`", raw.environment, env.name)));
    }
    if raw.hosts.0.is_empty() {
        return Err(bad("`hosts` is empty"));
    }
    let mut hosts = BTreeMap::new();
    for (name, value) in raw.hosts.0 {
        let field = |f: &str| format!("`hosts.{name}.{f}`");
        if name.trim().is_empty() {
            return Err(bad("a host has an empty name"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
            return Err(bad(format!("host name `{name}` has characters other than letters, digits, `-`, `_`, `.`")));
        }
        if hosts.contains_key(&name) {
            return Err(bad(format!("host `{name}` appears twice")));
        }
        let host: ContractHost = serde_json::from_value(value).map_err(|e| bad(format!("`hosts.{name}`: {e}")))?;
        check_address(&host.address).map_err(|e| bad(format!("{}: {e}", field("address"))))?;
        check_address(&host.private_address).map_err(|e| bad(format!("{}: {e}", field("private_address"))))?;
        if host.ssh_user.trim().is_empty() {
            return Err(bad(format!("{} is empty", field("ssh_user"))));
        }
        if host.ssh_port == 0 {
            return Err(bad(format!("{} is 0", field("ssh_port"))));
        }
        for r in &host.roles {
            if !HOST_ROLES.contains(&r.as_str()) {
                return Err(bad(format!("{}: unknown role `{r}` (known: {})", field("roles"), HOST_ROLES.join(", "))));
            }
        }
        hosts.insert(name, host);
    }
    for role in HOST_ROLES {
        if env.enabled(role) && !hosts.values().any(|h| h.roles.iter().any(|r| r == role)) {
            return Err(bad(format!("no host has role `{role}`, which environment `{}` needs", env.name)));
        }
    }
    Ok(Contract { environment: raw.environment, hosts, ssh: raw.ssh })
}

fn check_address(a: &str) -> std::result::Result<(), String> {
    if a.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let dns = !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !a.chars().all(|c| c.is_ascii_digit() || c == '.');
    if dns {
        Ok(())
    } else {
        Err(format!("`{a}` is neither an IP address nor a DNS name"))
    }
}

/// Everything the inventory needs besides the contract.
pub struct Context<'a> {
    pub env: &'a Environment,
    pub secrets_dir: &'a Path,
    pub known_hosts: &'a Path,
    pub app_binary: &'a Path,
    pub receiver_password_files: BTreeMap<String, PathBuf>,
    /// Variables the stack publishes in its optional `obsctl_vars` output.
    pub provider_vars: Map<String, Value>,
}

/// Renders the Ansible inventory: one group per component, every host in
/// `all`, host vars from the contract, env-wide vars from the env file.
pub fn render(contract: &Contract, ctx: &Context) -> Value {
    let env = ctx.env;
    let strict = crate::ssh::options(env.provider, ctx.known_hosts).join(" ");
    let mut hosts = Map::new();
    for (name, h) in &contract.hosts {
        let mut ssh_args = strict.clone();
        if let Some(b) = &contract.ssh.bastion {
            ssh_args.push_str(&format!(" -o ProxyJump={b}"));
        }
        hosts.insert(
            name.clone(),
            json!({
                "ansible_host": h.address,
                "ansible_user": h.ssh_user,
                "ansible_port": h.ssh_port,
                "ansible_ssh_private_key_file": contract.ssh.private_key_file,
                "ansible_ssh_common_args": ssh_args,
                "ansible_python_interpreter": "/usr/bin/python3",
                "obsctl_private_address": h.private_address,
                "obsctl_labels": h.labels,
                "obsctl_roles": h.roles,
            }),
        );
    }
    let mut children = Map::new();
    for component in crate::environment::COMPONENTS {
        let members: BTreeSet<&String> = if !env.enabled(component) {
            BTreeSet::new()
        } else if HOST_ROLES.contains(component) {
            contract.hosts.iter().filter(|(_, h)| h.roles.iter().any(|r| r == component)).map(|(n, _)| n).collect()
        } else {
            // node_exporter and promtail: every host.
            contract.hosts.keys().collect()
        };
        let group: Map<String, Value> = members.into_iter().map(|n| (n.clone(), json!({}))).collect();
        children.insert(component.to_string(), json!({ "hosts": group }));
    }
    let receivers: Vec<Value> = env
        .alertmanager
        .receivers
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.remove("smtp_password_env");
                obj.insert("smtp_password_file".into(), json!(ctx.receiver_password_files.get(&r.name)));
            }
            v
        })
        .collect();
    let vars = json!({
        "obsctl_environment": env.name,
        "obsctl_provider": env.provider.name(),
        "obsctl_protected": env.protected,
        "obsctl_components": env.components,
        "obsctl_secrets_dir": ctx.secrets_dir,
        "prometheus_retention": env.prometheus.retention,
        "prometheus_scrape_interval": env.prometheus.scrape_interval,
        "prometheus_evaluation_interval": env.prometheus.evaluation_interval,
        "alertmanager_group_wait": env.alertmanager.group_wait,
        "alertmanager_group_interval": env.alertmanager.group_interval,
        "alertmanager_repeat_interval": env.alertmanager.repeat_interval,
        "alertmanager_receivers": receivers,
        "app_binary_src": ctx.app_binary,
        "app_port": env.app.port,
        "app_traffic_rps": env.app.traffic_rps,
        "loki_retention_period": env.loki.retention_period,
        "loki_storage": env.loki.storage,
        "loki_replication_factor": env.loki.replication_factor,
        "grafana_database": if env.grafana.database == "sqlite" { "sqlite3" } else { env.grafana.database.as_str() },
    });
    let mut vars = vars;
    if env.grafana.database == "postgres" {
        vars["grafana_database_password_file"] = json!(ctx.secrets_dir.join("grafana_db_password"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env() -> Environment {
        crate::environment::parse(
            "dev",
            Path::new("environments/dev.toml"),
            r#"
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
"#,
        )
        .unwrap()
    }

    fn contract() -> Value {
        json!({
            "schema": 1, "environment": "dev",
            "hosts": {
                "mon-1": { "address": "10.77.0.10", "private_address": "10.77.0.10", "ssh_user": "root", "ssh_port": 22,
                           "roles": ["prometheus", "alertmanager"], "labels": { "zone": "lab" } },
                "app-1": { "address": "10.77.0.11", "private_address": "10.77.0.11", "ssh_user": "root", "ssh_port": 22,
                           "roles": ["app"], "labels": {} }
            },
            "ssh": { "private_key_file": "/k", "bastion": null }
        })
    }

    fn reject(v: Value, needle: &str) {
        let err = parse(&v.to_string(), &env()).err().unwrap_or_else(|| panic!("accepted: {v}"));
        assert!(err.message.contains(needle), "`{}` does not mention `{needle}`", err.message);
        assert_eq!(err.phase, crate::error::Phase::Input);
    }

    #[test]
    fn accepts_the_contract() {
        let c = parse(&contract().to_string(), &env()).unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.hosts["mon-1"].address, "10.77.0.10");
    }

    #[test]
    fn rejects_unknown_schema() {
        let mut v = contract();
        v["schema"] = json!(2);
        reject(v, "`schema` is 2");
    }

    #[test]
    fn rejects_unknown_role() {
        let mut v = contract();
        v["hosts"]["app-1"]["roles"] = json!(["app", "nginx"]);
        reject(v, "unknown role `nginx`");
    }

    #[test]
    fn rejects_duplicate_names() {
        let text = contract().to_string().replacen("\"app-1\"", "\"mon-1\"", 1);
        let err = parse(&text, &env()).unwrap_err();
        assert!(err.message.contains("host `mon-1` appears twice"), "{}", err.message);
    }

    #[test]
    fn rejects_empty_name() {
        let text = contract().to_string().replacen("\"app-1\"", "\" \"", 1);
        let err = parse(&text, &env()).unwrap_err();
        assert!(err.message.contains("empty name"), "{}", err.message);
    }

    #[test]
    fn rejects_bad_address() {
        let mut v = contract();
        v["hosts"]["mon-1"]["address"] = json!("10.77.0.300");
        reject(v, "`hosts.mon-1.address`");
        let mut v = contract();
        v["hosts"]["mon-1"]["private_address"] = json!("not an address");
        reject(v, "`hosts.mon-1.private_address`");
    }

    #[test]
    fn rejects_missing_required_role() {
        let mut v = contract();
        v["hosts"]["mon-1"]["roles"] = json!(["alertmanager"]);
        reject(v, "no host has role `prometheus`");
    }

    #[test]
    fn rejects_missing_field_and_wrong_env_and_empty_hosts() {
        let mut v = contract();
        v["hosts"]["mon-1"].as_object_mut().unwrap().remove("ssh_port");
        reject(v, "ssh_port");
        let mut v = contract();
        v["environment"] = json!("prod");
        reject(v, "`environment` is `prod`");
        let mut v = contract();
        v["hosts"] = json!({});
        reject(v, "`hosts` is empty");
        reject(json!("not an object"), "breaks the inventory contract");
    }

    #[test]
    fn renders_groups_and_vars() {
        let e = env();
        let c = parse(&contract().to_string(), &e).unwrap();
        let ctx = Context {
            env: &e,
            secrets_dir: Path::new("/s"),
            known_hosts: Path::new("/kh"),
            app_binary: Path::new("/bin/app"),
            receiver_password_files: BTreeMap::new(),
            provider_vars: Map::from_iter([("loki_s3_bucket".to_string(), json!("b")), ("obsctl_environment".to_string(), json!("evil"))]),
        };
        let inv = render(&c, &ctx);
        let children = &inv["all"]["children"];
        assert!(children["prometheus"]["hosts"].get("mon-1").is_some());
        assert!(children["app"]["hosts"].get("app-1").is_some());
        assert_eq!(children["node_exporter"]["hosts"].as_object().unwrap().len(), 2);
        // Disabled components have empty groups.
        assert_eq!(children["grafana"]["hosts"].as_object().unwrap().len(), 0);
        assert_eq!(children["promtail"]["hosts"].as_object().unwrap().len(), 0);
        assert_eq!(inv["all"]["hosts"]["app-1"]["ansible_host"], "10.77.0.11");
        assert_eq!(inv["all"]["vars"]["obsctl_environment"], "dev");
        assert_eq!(inv["all"]["vars"]["loki_s3_bucket"], "b");
    }
}
