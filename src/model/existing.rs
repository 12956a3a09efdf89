//! `[[existing_hosts]]`: machines obsctl did not create (docs/existing-hosts.md).
//! obsctl never provisions or destroys them (Terraform never sees them): it
//! reaches them over SSH with their own user and key, puts on them only the
//! per-host components they ask for (node_exporter and the log agent), and
//! takes those away again when the host leaves the env file or on `destroy`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::component::{self, ComponentId};
use crate::model::{names, units};

/// One `[[existing_hosts]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExistingHost {
    name: String,
    address: String,
    ssh_user: String,
    ssh_key_file: String,
    host_key: Option<String>,
    roles: Option<Vec<String>>,
    groups: Option<Vec<String>>,
}

/// One existing host, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingHost {
    pub name: String,
    /// IP address or DNS name (on aws: the address obsctl and Prometheus reach it at).
    pub address: String,
    pub ssh_user: String,
    /// Absolute: `~/` is the user's home, a relative path the env file's folder.
    pub ssh_key_file: PathBuf,
    /// Pinned SSH host key (`<type> <base64>`); None: trusted on first use.
    pub host_key: Option<String>,
    /// Per-host components obsctl installs there (node_exporter, the log agent).
    pub roles: Vec<ComponentId>,
    /// Extra Ansible inventory groups (for scrape jobs and log files).
    pub groups: Vec<String>,
}

/// SSH port of an existing host (the settled env-file shape has none).
pub const SSH_PORT: u16 = 22;

/// Validates the entries against the created hosts' names and the
/// environment's components; an error is (key, what is wrong).
pub fn validate(
    raw: Vec<RawExistingHost>,
    env_file: &Path,
    taken_names: &BTreeSet<String>,
    components: &BTreeSet<ComponentId>,
) -> Result<Vec<ExistingHost>, (String, String)> {
    let per_host: Vec<ComponentId> = components.iter().copied().filter(|c| is_per_host(*c)).collect();
    let mut seen = taken_names.clone();
    let mut out = Vec::new();
    for (i, h) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("existing_hosts[{i}].{k}");
        if !names::valid_host(&h.name) {
            return Err((key("name"), format!("`{}` is not a host name: {}", h.name, names::rule(names::HOST_MAX))));
        }
        if !seen.insert(h.name.clone()) {
            return Err((
                key("name"),
                format!("host `{}` is defined twice (host names are shared by [[hosts]] and [[existing_hosts]])", h.name),
            ));
        }
        units::check_address(&h.address).map_err(|e| (key("address"), e))?;
        if !unix_user(&h.ssh_user) {
            return Err((key("ssh_user"), format!("`{}` is not a Unix user name", h.ssh_user)));
        }
        if h.ssh_key_file.trim().is_empty() {
            return Err((key("ssh_key_file"), "is empty: the private key obsctl logs in with".into()));
        }
        if let Some(k) = &h.host_key {
            units::check_host_key(k)
                .map_err(|e| (key("host_key"), format!("{e} (e.g. the output of `ssh-keyscan -t ed25519 ADDRESS` without the address)")))?;
        }
        let roles = match h.roles {
            None => per_host.clone(),
            Some(list) => {
                let mut ids = Vec::new();
                for r in &list {
                    let id = ComponentId::from_name(r).filter(|c| per_host.contains(c)).ok_or_else(|| {
                        (
                            key("roles"),
                            format!(
                                "`{r}` is not a component obsctl puts on an existing host in this environment; allowed: {}",
                                per_host.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
        };
        let groups = h.groups.unwrap_or_default();
        let reserved: Vec<&str> = component::names();
        for g in &groups {
            let ok = g.starts_with(|c: char| c.is_ascii_lowercase())
                && g.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && g.len() <= names::HOST_MAX;
            if !ok {
                return Err((
                    key("groups"),
                    format!("`{g}` is not a group name: lower-case letters, digits and `_`, starting with a letter"),
                ));
            }
            if reserved.contains(&g.as_str()) || ["all", "ungrouped", "existing"].contains(&g.as_str()) {
                return Err((key("groups"), format!("`{g}` is a group obsctl itself defines (a component, all, ungrouped, existing)")));
            }
        }
        out.push(ExistingHost {
            name: h.name,
            address: h.address,
            ssh_user: h.ssh_user,
            ssh_key_file: resolve(&h.ssh_key_file, env_file),
            host_key: h.host_key,
            roles,
            groups,
        });
    }
    Ok(out)
}

/// Whether obsctl may put `c` on an existing host: the components that run
/// on every host (node_exporter, the log agent), never a service role.
pub fn is_per_host(c: ComponentId) -> bool {
    !component::host_roles().contains(&c.name())
}

fn unix_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && u.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `~/…` from $HOME, a relative path from the env file's folder.
fn resolve(path: &str, env_file: &Path) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        let dir = env_file.parent().unwrap_or(Path::new("."));
        std::path::absolute(dir.join(&p)).unwrap_or_else(|_| dir.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> Vec<RawExistingHost> {
        #[derive(Deserialize)]
        struct W {
            existing_hosts: Vec<RawExistingHost>,
        }
        toml::from_str::<W>(toml_text).unwrap().existing_hosts
    }

    fn comps() -> BTreeSet<ComponentId> {
        [ComponentId::Prometheus, ComponentId::Alertmanager, ComponentId::NodeExporter, ComponentId::Alloy].into_iter().collect()
    }

    const ONE: &str = r#"
[[existing_hosts]]
name = "db-1"
address = "10.88.0.50"
ssh_user = "root"
ssh_key_file = "keys/db"
"#;

    #[test]
    fn defaults_are_node_exporter_and_the_log_agent_and_the_key_is_found_from_the_env_file() {
        let hosts = validate(raw(ONE), Path::new("/r/environments/eh.toml"), &BTreeSet::new(), &comps()).unwrap();
        assert_eq!(hosts[0].roles, vec![ComponentId::Alloy, ComponentId::NodeExporter]);
        assert_eq!(hosts[0].ssh_key_file, PathBuf::from("/r/environments/keys/db"));
        assert!(hosts[0].host_key.is_none() && hosts[0].groups.is_empty());
    }

    #[test]
    fn refusals_name_the_key() {
        let taken: BTreeSet<String> = ["db-1".to_string()].into();
        let e = validate(raw(ONE), Path::new("e.toml"), &taken, &comps()).unwrap_err();
        assert_eq!(e.0, "existing_hosts[0].name");
        assert!(e.1.contains("defined twice"), "{}", e.1);
        for (edit, key, needle) in [
            (("address = \"10.88.0.50\"", "address = \"10.88.0.300\""), "address", "neither an IP"),
            (("ssh_user = \"root\"", "ssh_user = \"Ro ot\""), "ssh_user", "Unix user"),
            (
                ("ssh_key_file = \"keys/db\"", "ssh_key_file = \"keys/db\"\nroles = [\"prometheus\"]"),
                "roles",
                "allowed: alloy, node_exporter",
            ),
            (("ssh_key_file = \"keys/db\"", "ssh_key_file = \"keys/db\"\nroles = [\"promtail\"]"), "roles", "`promtail`"),
            (("ssh_key_file = \"keys/db\"", "ssh_key_file = \"keys/db\"\ngroups = [\"prometheus\"]"), "groups", "obsctl itself"),
            (("ssh_key_file = \"keys/db\"", "ssh_key_file = \"keys/db\"\ngroups = [\"Db\"]"), "groups", "not a group name"),
            (("ssh_key_file = \"keys/db\"", "ssh_key_file = \"keys/db\"\nhost_key = \"ssh-dss AAAA\""), "host_key", "ssh-dss"),
        ] {
            let text = ONE.replace(edit.0, edit.1);
            let e = validate(raw(&text), Path::new("e.toml"), &BTreeSet::new(), &comps()).unwrap_err();
            assert_eq!(e.0, format!("existing_hosts[0].{key}"), "{text}");
            assert!(e.1.contains(needle), "{}: {}", e.1, needle);
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct W {
            existing_hosts: Vec<RawExistingHost>,
        }
        let e = toml::from_str::<W>(&format!("{ONE}size = \"small\"\n")).unwrap_err().to_string();
        assert!(e.contains("unknown field `size`"), "{e}");
    }
}
