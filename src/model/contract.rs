//! The inventory contract: what every Terraform stack publishes as its output
//! `obsctl_inventory` (documented in docs/contract.md, with the JSON Schema
//! docs/contract.schema.json). Parsed and validated here; the Ansible
//! inventory is rendered from it in `inventory`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::component::{self, ComponentId};
use crate::model::environment::Environment;
use crate::model::existing::ExistingHost;
use crate::model::units;

pub const SCHEMA: u64 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The host's public SSH host key (`<type> <base64>`), when the stack
    /// knows it from creating the host (the lab records it on its disk).
    /// obsctl pins it in `.obsctl/<env>/ssh/known_hosts` (`ssh::record_host_keys`);
    /// without it the host's key is trusted on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_host_key: Option<String>,
    /// The host's data volume that the roles format once and mount at the
    /// data roots (aws: an EBS volume ID); none where the stack binds the
    /// data roots itself (lab) or the host keeps no state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_volume: Option<String>,
    /// Set by obsctl, never by a stack: the host is one of the env file's
    /// `[[existing_hosts]]` (`with_existing`), which no stack knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<Existing>,
}

/// What an existing host adds to its contract entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Existing {
    /// The key obsctl logs in with (the env file's `ssh_key_file`), instead of the environment's.
    pub ssh_private_key_file: PathBuf,
    /// The per-host components obsctl installs there (`node_exporter`, the log agent).
    pub components: Vec<String>,
    /// Extra inventory groups.
    pub groups: Vec<String>,
}

impl ContractHost {
    pub fn has_role(&self, role: ComponentId) -> bool {
        self.roles.iter().any(|r| r == role.name())
    }

    /// Whether `component` runs on this host: the registry's rule for a host
    /// obsctl created, the listed components for an existing host.
    pub fn runs(&self, registry: &component::Registry, component: ComponentId) -> bool {
        match &self.existing {
            Some(e) => e.components.iter().any(|c| c == component.name()),
            None => registry.runs_on(component, &self.roles),
        }
    }

    pub fn is_existing(&self) -> bool {
        self.existing.is_some()
    }
}

impl Contract {
    /// The key obsctl logs in to `host` with: an existing host's own, else the environment's.
    pub fn key_of<'a>(&'a self, host: &'a ContractHost) -> &'a Path {
        host.existing.as_ref().map_or(self.ssh.private_key_file.as_path(), |e| e.ssh_private_key_file.as_path())
    }

    /// The contract with the env file's existing hosts in place of those it
    /// held (a record's contract may hold those of an older env file).
    pub fn with_existing(mut self, existing: &[ExistingHost]) -> Contract {
        self.hosts.retain(|_, h| h.existing.is_none());
        for e in existing {
            self.hosts.insert(
                e.name.clone(),
                ContractHost {
                    address: e.address.clone(),
                    private_address: e.address.clone(),
                    ssh_user: e.ssh_user.clone(),
                    ssh_port: crate::model::existing::SSH_PORT,
                    roles: Vec::new(),
                    labels: [("provider".to_string(), "existing".to_string())].into(),
                    ssh_host_key: e.host_key.clone(),
                    data_volume: None,
                    existing: Some(Existing {
                        ssh_private_key_file: e.ssh_key_file.clone(),
                        components: e.roles.iter().map(|c| c.name().to_string()).collect(),
                        groups: e.groups.clone(),
                    }),
                },
            );
        }
        self
    }

    /// The existing hosts of this contract, by name.
    pub fn existing(&self) -> impl Iterator<Item = (&String, &ContractHost)> + '_ {
        self.hosts.iter().filter(|(_, h)| h.is_existing())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    pub private_key_file: PathBuf,
    pub bastion: Option<String>,
    /// The bastion's public SSH host key, when the stack knows it from
    /// creating the bastion (the lab): pinned before the first connection,
    /// like a host's `ssh_host_key`. Absent or null: trusted on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bastion_host_key: Option<String>,
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
        .hint("fix the stack's `obsctl_inventory` output (see docs/contract.md), then run `obsctl up` again")
}

/// Splits a stack's `terraform output -json` into the contract (the value of
/// `obsctl_inventory`, as JSON text) and the optional `obsctl_vars` (extra
/// env-wide Ansible variables the provider knows, e.g. the Loki bucket on
/// AWS). Text that is not such an output document is taken as the bare
/// contract.
pub fn split_outputs(text: &str) -> Result<(String, serde_json::Map<String, Value>)> {
    let all: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(inventory) = all.get("obsctl_inventory") else {
        return Ok((text.to_string(), Default::default()));
    };
    let vars = all.get("obsctl_vars").and_then(|o| o["value"].as_object().cloned()).unwrap_or_default();
    Ok((inventory["value"].to_string(), vars))
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
    let host_roles = component::host_roles();
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
        units::check_address(&host.address).map_err(|e| bad(format!("{}: {e}", field("address"))))?;
        units::check_address(&host.private_address).map_err(|e| bad(format!("{}: {e}", field("private_address"))))?;
        if host.ssh_user.trim().is_empty() {
            return Err(bad(format!("{} is empty", field("ssh_user"))));
        }
        if host.ssh_port == 0 {
            return Err(bad(format!("{} is 0", field("ssh_port"))));
        }
        if host.existing.is_some() {
            return Err(bad(format!("{}: obsctl sets it from the env file's [[existing_hosts]]; a stack never does", field("existing"))));
        }
        if let Some(key) = &host.ssh_host_key {
            units::check_host_key(key).map_err(|e| bad(format!("{}: {e}", field("ssh_host_key"))))?;
        }
        for r in &host.roles {
            if !host_roles.contains(&r.as_str()) {
                return Err(bad(format!("{}: unknown role `{r}` (known: {})", field("roles"), host_roles.join(", "))));
            }
        }
        hosts.insert(name, host);
    }
    for role in host_roles {
        if ComponentId::from_name(role).is_some_and(|id| env.enabled(id) && !hosts.values().any(|h| h.has_role(id))) {
            return Err(bad(format!("no host has role `{role}`, which environment `{}` needs", env.name)));
        }
    }
    if let Some(b) = &raw.ssh.bastion {
        let ok = b.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty()
                && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                && units::check_address(host).is_ok()
        });
        if !ok {
            return Err(bad(format!("`ssh.bastion` is `{b}`, not `user@address` (the bastion every connection jumps through)")));
        }
    }
    if let Some(key) = &raw.ssh.bastion_host_key {
        if raw.ssh.bastion.is_none() {
            return Err(bad("`ssh.bastion_host_key` is set but `ssh.bastion` is null".to_string()));
        }
        units::check_host_key(key).map_err(|e| bad(format!("`ssh.bastion_host_key`: {e}")))?;
    }
    Ok(Contract { environment: raw.environment, hosts, ssh: raw.ssh })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    pub(crate) fn env() -> Environment {
        crate::model::environment::parse(
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

    pub(crate) fn contract() -> Value {
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

    #[test]
    fn the_json_schema_says_what_parse_checks() {
        let schema: Value = serde_json::from_str(include_str!("../../docs/contract.schema.json")).unwrap();
        assert_eq!(schema["properties"]["schema"]["const"], SCHEMA);
        let roles: Vec<&str> = schema["$defs"]["host"]["properties"]["roles"]["items"]["enum"]
            .as_array()
            .expect("roles enum")
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(roles, component::host_roles(), "docs/contract.schema.json's roles are the registry's host roles");
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

    pub(crate) const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr1Wn0vYt9b0Q8GxwCqM3m1vN1c0p7q2m1Hc6x7kz5d";

    #[test]
    fn accepts_and_checks_a_host_key() {
        let mut v = contract();
        v["hosts"]["mon-1"]["ssh_host_key"] = json!(HOST_KEY);
        let c = parse(&v.to_string(), &env()).unwrap();
        assert_eq!(c.hosts["mon-1"].ssh_host_key.as_deref(), Some(HOST_KEY));
        assert_eq!(c.hosts["app-1"].ssh_host_key, None);
        for (bad_key, needle) in [
            (format!("{HOST_KEY} root@mon-1"), "is not `<type> <base64>`"),
            (HOST_KEY.replace("ssh-ed25519", "ssh-dss"), "key type `ssh-dss`"),
            (HOST_KEY.replace("ssh-ed25519", "ssh-rsa"), "not an SSH public key of type `ssh-rsa`"),
            ("ssh-ed25519 not!base64".to_string(), "not valid base64"),
        ] {
            let mut v = contract();
            v["hosts"]["mon-1"]["ssh_host_key"] = json!(bad_key);
            reject(v, needle);
        }
    }

    /// Issue 32: the lab publishes its bastion's host key; it is checked like
    /// a host's, and only with a bastion.
    #[test]
    fn accepts_and_checks_a_bastion_host_key() {
        let mut v = contract();
        v["ssh"]["bastion"] = json!("root@10.77.0.9");
        v["ssh"]["bastion_host_key"] = json!(HOST_KEY);
        let c = parse(&v.to_string(), &env()).unwrap();
        assert_eq!(c.ssh.bastion_host_key.as_deref(), Some(HOST_KEY));
        let mut bad = v.clone();
        bad["ssh"]["bastion_host_key"] = json!(HOST_KEY.replace("ssh-ed25519", "ssh-dss"));
        reject(bad, "`ssh.bastion_host_key`");
        let mut orphan = v;
        orphan["ssh"]["bastion"] = json!(null);
        reject(orphan, "`ssh.bastion` is null");
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
}
