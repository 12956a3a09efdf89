//! The Terraform root module obsctl runs for one environment.
//!
//! Terraform cannot switch a backend's type with `-backend-config`, so each
//! environment gets its own copy of `terraform/` under `.obsctl/<env>/stack/`
//! (stacks, modules and scripts keep their relative paths) in which the
//! provider's `backend.tf` is replaced by a generated `backend.tf.json` built
//! from the environment's `[state]`: a local file in `.obsctl/<env>/`, or an
//! S3 object locked with S3's own lock file. The copy is made fresh before
//! every `terraform init`, so it never drifts from the checkout.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{IoContext, Result};
use crate::model::environment::{Environment, LabSettings, Provider, StateBackend};
use crate::state::secrets::DbPassword;
use crate::state::workspace::{StateDir, Workspace};

/// Copies the checkout's `terraform/` into `.obsctl/<env>/stack/` and writes
/// the backend into the provider's root module there (`root_in`).
pub fn prepare(ws: &Workspace, env: &Environment, state: &StateDir) -> Result<()> {
    let dest = state.stack_dir();
    let fresh = dest.with_extension("new");
    if fresh.exists() {
        fs::remove_dir_all(&fresh).with_path("remove", &fresh)?;
    }
    copy_tree(&ws.root.join("terraform"), &fresh)?;
    let root = root_in(&fresh, env);
    let _ = fs::remove_file(root.join("backend.tf"));
    let text = crate::error::to_json_pretty(&backend_block(env, state))?;
    fs::write(root.join("backend.tf.json"), text + "\n").with_path("write", &root.join("backend.tf.json"))?;
    if dest.exists() {
        fs::remove_dir_all(&dest).with_path("remove", &dest)?;
    }
    fs::rename(&fresh, &dest).with_path("rename", &fresh)
}

/// The provider's root module inside a copy of `terraform/`.
pub fn root_in(copy: &Path, env: &Environment) -> PathBuf {
    copy.join("stacks").join(env.provider.name())
}

/// `terraform { backend "<type>" { … } }` in Terraform's JSON syntax (no
/// quoting to get wrong).
pub fn backend_block(env: &Environment, state: &StateDir) -> Value {
    let (kind, config) = backend_config(env, state);
    json!({ "terraform": { "backend": { kind: config } } })
}

/// The backend's type and settings.
pub fn backend_config(env: &Environment, state: &StateDir) -> (&'static str, Value) {
    match &env.state {
        StateBackend::Local => ("local", json!({ "path": state.tfstate() })),
        StateBackend::S3(s3) => {
            let mut c = json!({
                "bucket": s3.bucket,
                "key": s3.key,
                "region": s3.region,
                "encrypt": true,
                "use_lockfile": true,
            });
            if let Some(p) = &s3.profile {
                c["profile"] = json!(p);
            }
            if let Some(k) = &s3.kms_key_id {
                c["kms_key_id"] = json!(k);
            }
            if let Some(url) = &s3.endpoint {
                // An S3-compatible store (MinIO, moto): path-style URLs, and no
                // calls to AWS's STS, IMDS or region list.
                c["endpoints"] = json!({ "s3": url });
                c["use_path_style"] = json!(true);
                c["skip_credentials_validation"] = json!(true);
                c["skip_requesting_account_id"] = json!(true);
                c["skip_metadata_api_check"] = json!(true);
                c["skip_region_validation"] = json!(true);
            }
            ("s3", c)
        }
    }
}

/// Where the state is, for people: `s3://bucket/key` or the local file.
pub fn describe(kind: &str, config: &Value) -> String {
    match kind {
        "s3" => {
            let endpoint = config["endpoints"]["s3"].as_str().map(|e| format!(" at {e}")).unwrap_or_default();
            format!("s3://{}/{}{endpoint}", config["bucket"].as_str().unwrap_or("?"), config["key"].as_str().unwrap_or("?"))
        }
        "local" => format!("local file {}", config["path"].as_str().unwrap_or("terraform.tfstate")),
        other => format!("{other} backend"),
    }
}

/// Whether two backend settings point at the same state: same type and the
/// same location (bucket, key, region, endpoint or path). Options that do not
/// move the state (encryption, profile) do not count.
pub fn same_location(kind_a: &str, a: &Value, kind_b: &str, b: &Value) -> bool {
    kind_a == kind_b
        && ["path", "bucket", "key", "region"].iter().all(|k| a[k] == b[k])
        && a["endpoints"]["s3"].as_str() == b["endpoints"]["s3"].as_str()
}

/// Copies a directory tree (following symlinks, keeping file modes), leaving
/// out Terraform's working files: `.terraform/`, state and plans.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_path("create directory", to)?;
    for entry in fs::read_dir(from).with_path("read directory", from)? {
        let entry = entry.with_path("read directory", from)?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform" || name_str.contains(".tfstate") || name_str.ends_with(".tfplan") {
            continue;
        }
        let src = entry.path();
        let meta = fs::metadata(&src).with_path("read", &src)?;
        if meta.is_dir() {
            copy_tree(&src, &to.join(&name))?;
        } else {
            fs::copy(&src, to.join(&name)).with_path("copy", &src)?;
        }
    }
    Ok(())
}

/// The stack's input variables for this environment.
pub fn input_vars(env: &Environment, state: &StateDir, grafana_db: Option<DbPassword>) -> Result<Value> {
    // Each host's release: the env file's, except during a roll to it, where
    // hosts not replaced yet keep theirs (src/state/os_roll.rs).
    let os = crate::state::os_roll::current_os(state, env);
    let hosts: serde_json::Map<String, Value> = env
        .hosts
        .iter()
        .map(|h| {
            let host_os = os.get(&h.name).map_or(env.os.name(), String::as_str);
            (
                h.name.clone(),
                json!({ "roles": h.roles, "size": h.size, "disk_gb": h.disk_gb, "data_gb": h.data_gb, "zone": h.zone, "os": host_os }),
            )
        })
        .collect();
    let key = state.ssh_key();
    let mut vars = json!({
        "environment": env.name,
        "os": env.os.name(),
        "hosts": hosts,
        "ssh_public_key_file": key.with_extension("pub"),
        "ssh_private_key_file": key,
        // From the component registry: the aws stack opens these ports and
        // creates infrastructure only for the enabled components.
        "ports": env.registry.ports(),
        "components": env.components,
    });
    match &env.provider {
        Provider::Lab(lab) => {
            // Addresses: the model's numbering (LabSettings::host_numbers).
            let numbers: serde_json::Map<String, Value> =
                LabSettings::host_numbers(&env.hosts).map(|(name, n)| (name.to_string(), json!(n))).collect();
            // Every lab machine binds every data root from its data
            // directory: a role added to a host later finds its data kept.
            vars["lab"] = json!({ "bridge": lab.bridge, "cidr": lab.cidr, "host_numbers": numbers,
                                  "bastion": lab.bastion_number().map(|n| json!({ "name": LabSettings::BASTION_NAME, "number": n })),
                                  "data_paths": crate::model::backup::DATA_ROOTS });
        }
        Provider::Aws(aws) => {
            vars["aws"] = json!(aws);
            vars["protected"] = json!(env.protected);
            vars["loki_retention_days"] = json!(env.loki_retention_days());
            // The receivers' ports the hosts may reach on the internet.
            vars["egress_tcp_ports"] = json!(env.receiver_egress_ports());
            // What Prometheus scrapes beyond the stack's own components.
            vars["scrape_targets"] = scrape_targets(env);
            // The RDS master password (this file is 0600 like the secret's)
            // and its version: RDS gets the write-only password again when
            // the version changes.
            vars["grafana_db_password"] = json!(grafana_db.as_ref().map(|db| &db.password));
            if let Some(db) = &grafana_db {
                vars["grafana_db_password_version"] = json!(db.version);
            }
            // After `obsctl restore` of an archive with an RDS snapshot: a
            // database created now starts from it (an existing one ignores it).
            if let Some(r) = crate::state::db_restore::read(state)? {
                vars["grafana_db_snapshot_identifier"] = json!(r.snapshot);
            }
        }
    }
    Ok(vars)
}

/// The aws stack's `scrape_targets`: what the security groups must let the
/// Prometheus hosts scrape beyond the stack's own components, and nothing
/// more. `hosts`: per host of the stack, the ports the user's jobs scrape
/// there (admitted from the Prometheus hosts' groups only). `addresses`: per
/// IPv4 address outside the stack (an existing host, a job's address target),
/// the ports scraped there: the existing host's enabled per-host components
/// and the user's job targets (the Prometheus hosts' egress to that address
/// only). A target by DNS name cannot be opened by address: it is reachable
/// through the ports the hosts reach anyway (docs/own-services.md, "On aws").
pub fn scrape_targets(env: &Environment) -> Value {
    use crate::model::environment::user::Target;
    use std::collections::{BTreeMap, BTreeSet};
    let mut hosts: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut addresses: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let ipv4 = |a: &str| a.parse::<std::net::Ipv4Addr>().is_ok();
    let mut outside = |address: &str, port: u16| {
        if ipv4(address) {
            addresses.entry(address.to_string()).or_default().insert(port);
        }
    };
    for e in &env.existing_hosts {
        for c in e.roles.iter().filter(|c| env.enabled(**c)) {
            outside(&e.address, env.registry.get(*c).port());
        }
    }
    for t in env.user.scrape_jobs.iter().flat_map(|j| j.targets.iter()) {
        match t {
            Target::Host { host, port } => match env.existing_hosts.iter().find(|e| &e.name == host) {
                Some(e) => outside(&e.address, *port),
                None => {
                    hosts.entry(host.clone()).or_default().insert(*port);
                }
            },
            Target::Address { address, port } => outside(address, *port),
        }
    }
    json!({ "hosts": hosts, "addresses": addresses })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only what the declared jobs and existing hosts need, derived from the env file.
    #[test]
    fn scrape_targets_are_the_declared_jobs_and_existing_hosts_only() {
        use crate::model::component::{ComponentId, DEFAULT_APP_PORT};
        let r = crate::model::component::Registry::new(DEFAULT_APP_PORT);
        let (node, alloy) = (r.get(ComponentId::NodeExporter).port(), r.get(ComponentId::Alloy).port());
        let own = r#"
[[existing_hosts]]
name = "db-1"
address = "10.0.9.50"
ssh_user = "root"
ssh_key_file = "/k"
groups = ["db"]
[[existing_hosts]]
name = "db-2"
address = "db-2.example.com"
ssh_user = "root"
ssh_key_file = "/k"
roles = ["node_exporter"]
[[scrape_jobs]]
name = "nginx"
targets = ["app-1:9113", "mon-1:9113", "203.0.113.7:9101", "backup.example.com:9102"]
[[scrape_jobs]]
name = "postgres"
group = "db"
port = 9187
"#;
        let parse = |text: &str| crate::model::environment::parse("dev", Path::new("/repo/environments/dev.toml"), text).unwrap();
        let env = parse(&format!("{}{own}", crate::model::environment::tests::GOOD));
        let v = scrape_targets(&env);
        assert_eq!(v["hosts"], json!({ "app-1": [9113], "mon-1": [9113] }));
        let mut db1 = vec![alloy, node, 9187];
        db1.sort_unstable();
        assert_eq!(v["addresses"], json!({ "10.0.9.50": db1, "203.0.113.7": [9101] }), "DNS names cannot be opened by address");
        // Without the log agent deployed, its port is not opened.
        let without = env.clone().as_deployed(&env.components.iter().copied().filter(|c| *c != ComponentId::Alloy).collect());
        assert_eq!(scrape_targets(&without)["addresses"]["10.0.9.50"], json!([node, 9187]));
        // No jobs, no existing hosts: nothing.
        let bare = parse(crate::model::environment::tests::GOOD);
        assert_eq!(scrape_targets(&bare), json!({ "hosts": {}, "addresses": {} }));
    }

    #[test]
    fn locations_compare_by_where_the_state_is() {
        let a = json!({ "bucket": "b", "key": "k", "region": "eu-west-1", "encrypt": true });
        let b = json!({ "bucket": "b", "key": "k", "region": "eu-west-1", "encrypt": null, "profile": "x" });
        assert!(same_location("s3", &a, "s3", &b));
        assert!(!same_location("s3", &a, "s3", &json!({ "bucket": "b", "key": "other", "region": "eu-west-1" })));
        assert!(!same_location("local", &json!({ "path": "/x" }), "s3", &a));
        assert!(!same_location("local", &json!({ "path": "/x" }), "local", &json!({ "path": "/y" })));
        let moto = json!({ "bucket": "b", "key": "k", "region": "eu-west-1", "endpoints": { "s3": "http://127.0.0.1:5000" } });
        assert!(!same_location("s3", &a, "s3", &moto));
        assert_eq!(describe("s3", &moto), "s3://b/k at http://127.0.0.1:5000");
    }
}
