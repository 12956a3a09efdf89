//! The fast path's drift check: the digest of the inputs that decide the
//! configuration, and each host observed over ssh against the converged
//! record (`state::converged`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::contract::Contract;
use crate::model::environment::Environment;
use crate::state::converged::{check_command, compare, parse_observed, Converged, Managed, Observed};
use crate::state::workspace::StateDir;

/// The line the check command ends with (`state::converged::check_command`).
const END_OF_CHECK: &str = "\nend-of-check\n";

/// Runs the check command on every host at once (one SSH round trip each),
/// then `then` in the same session: per host, what was observed and what
/// `then` printed.
pub fn observe_then(
    contract: &Contract,
    ssh_options: &[String],
    managed: &BTreeMap<String, Managed>,
    then: &str,
) -> BTreeMap<String, std::result::Result<(Observed, String), String>> {
    let command = |host: &str| {
        let check = managed.get(host).map(check_command).ok_or_else(|| "Ansible reported nothing about this host".to_string())?;
        Ok(if then.is_empty() { check } else { format!("{check}; {then}") })
    };
    crate::tools::ssh::run_on_all(contract, ssh_options, command)
        .into_iter()
        .map(|(host, out)| (host, out.and_then(|text| split_look(&text))))
        .collect()
}

/// The check's output, read, and what the command after it printed.
fn split_look(text: &str) -> std::result::Result<(Observed, String), String> {
    let incomplete = || "the check did not run to its end".to_string();
    let end = text.find(END_OF_CHECK).ok_or_else(incomplete)? + END_OF_CHECK.len();
    let observed = parse_observed(&text[..end]).ok_or_else(incomplete)?;
    Ok((observed, text[end..].to_string()))
}

/// Per host, the systemd units of the enabled components it runs (the
/// registry's): whatever Ansible's results named, each must be active and
/// enabled for the host to be recorded, and to be found, converged.
pub fn component_services(env: &Environment, contract: &Contract) -> BTreeMap<String, Vec<&'static str>> {
    contract
        .hosts
        .iter()
        .map(|(name, h)| {
            let units = env.registry.iter().filter(|c| env.enabled(c.id) && h.runs(&env.registry, c.id)).map(|c| c.unit).collect();
            (name.clone(), units)
        })
        .collect()
}

/// The fast-path verdict for a deployment whose Terraform plan is empty.
pub enum Verdict {
    /// Every host is as recorded.
    Converged { hosts: usize },
    /// Why the full Ansible run is needed.
    Drift(Vec<String>),
}

/// Compares the digest, then looks at every host. In the same SSH session it
/// reads what the host runs (`check::installed`): the report comes back
/// whenever the hosts were looked at, so that a caller that changes nothing
/// after (the fast path, `plan`) does not log in to every host again.
pub fn check(
    state: &StateDir,
    digest: &str,
    env: &Environment,
    contract: &Contract,
    ssh_options: &[String],
) -> (Verdict, Option<crate::check::installed::Report>) {
    let record = match Converged::load(state) {
        Ok(r) => r,
        Err(why) => return (Verdict::Drift(vec![why]), None),
    };
    if record.digest != digest {
        return (
            Verdict::Drift(vec![
                "the inputs changed since the last configuration (roles, templates, inventory, environment file or files it names)".into(),
            ]),
            None,
        );
    }
    let names: BTreeSet<&String> = contract.hosts.keys().collect();
    if names != record.hosts.keys().collect() {
        return (Verdict::Drift(vec!["the hosts are not those of the last configuration".into()]), None);
    }
    // A record written before the component services were required lacks
    // them: they are looked at all the same.
    let units = component_services(env, contract);
    let mut managed: BTreeMap<String, Managed> = record.hosts.iter().map(|(n, h)| (n.clone(), h.managed.clone())).collect();
    for (host, m) in managed.iter_mut() {
        m.require_services(units.get(host).into_iter().flatten().copied());
    }
    let mut reasons = Vec::new();
    let mut installed = crate::check::installed::Report::new();
    for (host, observed) in observe_then(contract, ssh_options, &managed, &crate::check::installed::command_for(env)) {
        match observed {
            Err(e) => {
                reasons.push(format!("{host}: not checked: {e}"));
                installed.insert(host, Err(e));
            }
            Ok((o, then)) => {
                let r = &record.hosts[&host];
                reasons.extend(compare(&managed[&host], &r.expected, &o).into_iter().map(|d| format!("{host}: {d}")));
                installed.insert(host, crate::check::installed::parse(&then));
            }
        }
    }
    let verdict = if reasons.is_empty() { Verdict::Converged { hosts: names.len() } } else { Verdict::Drift(reasons) };
    (verdict, Some(installed))
}

/// The inputs that decide the configuration, as one SHA-256.
pub struct Inputs<'a> {
    pub ansible_dir: &'a Path,
    pub env_file: &'a Path,
    /// The inventory exactly as written for Ansible.
    pub inventory: &'a str,
    pub state: &'a StateDir,
}

pub fn digest(i: &Inputs) -> Result<String> {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    let mut feed = |label: &str, name: &str, data: &[u8]| {
        for part in [label.as_bytes(), b"\0", name.as_bytes(), b"\0", data.len().to_string().as_bytes(), b"\0", data] {
            h.update(part);
        }
    };
    feed(
        "versions",
        env!("CARGO_PKG_VERSION"),
        format!("{} {}", crate::tools::ansible::ANSIBLE_CORE, crate::tools::ansible::MITOGEN).as_bytes(),
    );
    for (rel, file) in tree(i.ansible_dir, &|p: &Path| p.file_name().is_some_and(|n| n == "__pycache__"))? {
        feed("ansible", &rel, &read(&file)?);
    }
    // The way to the hosts is not an input of their configuration: the lab's
    // `[lab] bastion` line and the SSH options of the inventory (the jump
    // through the bastion) change how obsctl and Ansible reach the hosts, not
    // what runs there; switching the bastion on or off keeps the fast path.
    let env_text = String::from_utf8_lossy(&read(i.env_file)?).into_owned();
    feed("environment", "", without_lab_bastion(&env_text).as_bytes());
    let mut inventory: Value = serde_json::from_str(i.inventory).map_err(|e| Error::internal(format!("inventory is not JSON: {e}")))?;
    without_key(&mut inventory, SSH_ARGS);
    feed("inventory", "", inventory.to_string().as_bytes());
    // Every controller file the inventory names (binary, credentials, keys).
    let mut named = BTreeSet::new();
    strings(&inventory, &mut |s| {
        if s.starts_with('/') && Path::new(s).is_file() {
            named.insert(s.to_string());
        }
    });
    for file in named {
        feed("named", &file, &read(Path::new(&file))?);
    }
    // The certificates and credentials the roles copy, whether named or not.
    for dir in ["tls", "secrets"] {
        let root = i.state.dir.join(dir);
        if root.is_dir() {
            for (rel, file) in tree(&root, &|_| false)? {
                feed(dir, &rel, &read(&file)?);
            }
        }
    }
    Ok(h.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The inventory's SSH options of each host (`tools::inventory`).
const SSH_ARGS: &str = "ansible_ssh_common_args";

/// The environment file without the `bastion = …` line of its `[lab]` table.
fn without_lab_bastion(text: &str) -> String {
    let mut table = String::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
        } else if table == "lab" && t.split('=').next().is_some_and(|k| k.trim() == "bastion") && t.contains('=') {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// `v` without the key `key` in any of its objects.
fn without_key(v: &mut Value, key: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| without_key(x, key)),
        Value::Object(o) => {
            o.remove(key);
            o.values_mut().for_each(|x| without_key(x, key));
        }
        _ => {}
    }
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::internal(format!("cannot read {}: {e}", p.display())))
}

fn strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| strings(x, f)),
        _ => {}
    }
}

/// Regular files under `root` (relative path, full path), sorted; skips
/// directories `skip` names.
fn tree(root: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::internal(format!("cannot read {}: {e}", dir.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                if !skip(&p) {
                    stack.push(p);
                }
            } else if p.is_file() {
                out.push((p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned(), p));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_every_input() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let ansible = r.join("ansible");
        std::fs::create_dir_all(ansible.join("roles/x/templates")).unwrap();
        std::fs::create_dir_all(ansible.join("callback_plugins/__pycache__")).unwrap();
        std::fs::write(ansible.join("roles/x/templates/a.j2"), "a").unwrap();
        let env_file = r.join("dev.toml");
        std::fs::write(&env_file, "os = \"debian-13\"").unwrap();
        let state = StateDir { dir: r.join("state") };
        std::fs::create_dir_all(state.dir.join("tls/hosts")).unwrap();
        std::fs::write(state.dir.join("tls/hosts/mon-1.crt"), "cert").unwrap();
        let binary = r.join("orders-api");
        std::fs::write(&binary, "bin").unwrap();
        let inventory = serde_json::json!({ "all": { "vars": { "app_binary_src": binary, "x": "10.0.0.0/24" } } }).to_string();
        let d = |inv: &str| digest(&Inputs { ansible_dir: &ansible, env_file: &env_file, inventory: inv, state: &state }).unwrap();
        let first = d(&inventory);
        assert_eq!(first.len(), 64);
        assert_eq!(d(&inventory), first, "stable");
        std::fs::write(ansible.join("callback_plugins/__pycache__/x.pyc"), "cache").unwrap();
        assert_eq!(d(&inventory), first, "Python's caches are not an input");

        let mut seen = BTreeSet::from([first.clone()]);
        let mut changed = |what: &str, digest: String| assert!(seen.insert(digest), "{what} must change the digest");
        std::fs::write(ansible.join("roles/x/templates/a.j2"), "b").unwrap();
        changed("a template", d(&inventory));
        std::fs::write(ansible.join("roles/x/templates/new.j2"), "").unwrap();
        changed("a new file", d(&inventory));
        std::fs::write(&env_file, "os = \"debian-12\"").unwrap();
        changed("the environment file", d(&inventory));
        changed("the inventory", d(&inventory.replace("24", "16")));
        std::fs::write(&binary, "bin2").unwrap();
        changed("a file the inventory names", d(&inventory));
        std::fs::write(state.dir.join("tls/hosts/mon-1.crt"), "cert2").unwrap();
        changed("a certificate", d(&inventory));
        std::fs::create_dir_all(state.dir.join("secrets")).unwrap();
        std::fs::write(state.dir.join("secrets/web_obsctl_password"), "pw").unwrap();
        changed("a credential", d(&inventory));
    }

    /// The fast path reads what the hosts run in the check's own SSH session:
    /// the check's lines, then the other command's.
    #[test]
    fn the_check_and_the_installed_read_share_one_session() {
        let text = "machine-id\tm1\nservice\tprometheus\tactive\tenabled\nend-of-check\nrelease\tDebian GNU/Linux 13 (trixie)\nversion_id\t13\nii \tprometheus\t2.53\ncandidate\tprometheus\t2.53\n";
        let (observed, rest) = split_look(text).unwrap();
        assert_eq!(observed.machine_id, "m1");
        assert_eq!(observed.services["prometheus"].active, "active");
        assert!(observed.packages.is_empty(), "the installed read's lines are not the check's: {observed:?}");
        let installed = crate::check::installed::parse(&rest).unwrap();
        assert_eq!(installed.version_id, "13");
        assert_eq!(installed.packages["prometheus"], "2.53");
        assert!(split_look("machine-id\tm1\nservice\tprometheus\tactive\tenabled\n").is_err(), "a check cut short is no look");
    }

    /// Issue 32: the lab's bastion switched on or off changes the env file's
    /// `[lab] bastion` line and the inventory's SSH options (the jump), not
    /// the configuration of any host: the digest stays, the fast path too.
    #[test]
    fn the_way_to_the_hosts_is_not_an_input() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let ansible = r.join("ansible");
        std::fs::create_dir_all(&ansible).unwrap();
        let state = StateDir { dir: r.join("state") };
        let env_file = r.join("jump.toml");
        let plain = "provider = \"lab\"\n[lab]\nbridge = \"obs-jump\"\ncidr = \"10.92.0.0/24\"\n[[hosts]]\nname = \"mon-1\"\n";
        let inventory = |args: &str| {
            serde_json::json!({ "all": { "hosts": { "mon-1": { "ansible_host": "10.92.0.10", "ansible_ssh_common_args": args } } } })
                .to_string()
        };
        let d = |env: &str, inv: &str| {
            std::fs::write(&env_file, env).unwrap();
            digest(&Inputs { ansible_dir: &ansible, env_file: &env_file, inventory: inv, state: &state }).unwrap()
        };
        let direct = d(plain, &inventory("-o UserKnownHostsFile=/k"));
        let on = plain.replace("cidr = \"10.92.0.0/24\"\n", "cidr = \"10.92.0.0/24\"\nbastion = true # the jump host\n");
        assert_eq!(d(&on, &inventory("-o UserKnownHostsFile=/k -o ProxyCommand=ssh")), direct, "bastion switched on");
        assert_eq!(d(&on.replace("true", "false"), &inventory("-o UserKnownHostsFile=/k")), direct, "bastion = false");
        // Anything else still counts: a key of that name in another table, the host's address.
        assert_ne!(d(&format!("{plain}[x]\nbastion = true\n"), &inventory("")), d(&format!("{plain}[x]\n"), &inventory("")));
        assert_ne!(d(plain, &inventory("").replace("10.92.0.10", "10.92.0.11")), d(plain, &inventory("")));
    }

    /// Issue 29: the services the fast path requires on each host are the
    /// units of the enabled components it runs, from the registry.
    #[test]
    fn every_host_must_run_the_services_of_its_components() {
        let text = "provider = \"lab\"\ncomponents = [\"prometheus\", \"alertmanager\", \"node_exporter\", \"app\"]\n[lab]\nbridge = \"obs-dev\"\ncidr = \"10.77.0.0/24\"\n[[hosts]]\nname = \"mon-1\"\nroles = [\"prometheus\", \"alertmanager\", \"grafana\", \"loki\"]\n[[hosts]]\nname = \"app-1\"\nroles = [\"app\"]\n";
        let env = crate::model::environment::parse("dev", Path::new("/environments/dev.toml"), text).unwrap();
        let contract = crate::model::contract::parse(&crate::model::contract::tests::contract().to_string(), &env).unwrap();
        let units = component_services(&env, &contract);
        assert_eq!(units["mon-1"], ["prometheus", "prometheus-alertmanager", "prometheus-node-exporter"], "{units:?}");
        assert_eq!(units["app-1"], ["prometheus-node-exporter", "orders-api"], "{units:?}");
        // A component left out (--without) is not required.
        let without = env.without(&["app".to_string()]).unwrap();
        assert_eq!(component_services(&without, &contract)["app-1"], ["prometheus-node-exporter"]);
    }

    /// The user's rule and dashboard files are inputs (their contents,
    /// through the paths the inventory names); their promtool tests too are
    /// in the folder the env file names, but only the deployed files count.
    #[test]
    fn the_users_files_are_inputs() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let (rules, dash) = (r.join("monitoring/rules"), r.join("monitoring/dashboards"));
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::create_dir_all(&dash).unwrap();
        std::fs::create_dir_all(r.join("environments")).unwrap();
        std::fs::create_dir_all(r.join("secrets")).unwrap();
        std::fs::write(rules.join("svc.rules.yml"), "groups: []").unwrap();
        std::fs::write(rules.join("svc.test.yml"), "tests: []").unwrap();
        std::fs::write(dash.join("svc.json"), "{}").unwrap();
        let env_file = r.join("environments/dev.toml");
        let text = "provider = \"lab\"\ncomponents = [\"prometheus\", \"alertmanager\", \"node_exporter\", \"app\"]\n[lab]\nbridge = \"obs-dev\"\ncidr = \"10.77.0.0/24\"\n[[hosts]]\nname = \"mon-1\"\nroles = [\"prometheus\", \"alertmanager\", \"grafana\", \"loki\"]\n[[hosts]]\nname = \"app-1\"\nroles = [\"app\"]\n[user]\nrules_dir = \"../monitoring/rules\"\ndashboards_dir = \"../monitoring/dashboards\"\n";
        std::fs::write(&env_file, text).unwrap();
        let env = crate::model::environment::parse("dev", &env_file, text).unwrap();
        let contract = crate::model::contract::parse(&crate::model::contract::tests::contract().to_string(), &env).unwrap();
        let users = crate::state::secrets::web_users(&r.join("secrets")).unwrap();
        let tls = crate::state::workspace::TlsDir { dir: r.join("tls") };
        let ctx = crate::tools::inventory::Context {
            env: &env,
            secrets_dir: &r.join("secrets"),
            known_hosts: &r.join("kh"),
            app_binary: &r.join("bin"),
            tls: &tls,
            web_users: &users,
            provider_vars: Default::default(),
            host_os: Default::default(),
        };
        let inventory = crate::tools::inventory::render(&contract, &ctx);
        let vars = &inventory["all"]["vars"];
        assert_eq!(vars["prometheus_user_rule_files"].as_array().unwrap().len(), 1, "the test file is not deployed: {vars}");
        assert_eq!(vars["prometheus_user_rule_files"][0]["name"], "user-svc.rules.yml");
        assert_eq!(vars["grafana_user_dashboards"][0]["name"], "user-svc.json");
        let inventory = inventory.to_string();
        let state = StateDir { dir: r.join("state") };
        let ansible = r.join("ansible");
        std::fs::create_dir_all(&ansible).unwrap();
        let d = || digest(&Inputs { ansible_dir: &ansible, env_file: &env_file, inventory: &inventory, state: &state }).unwrap();
        let first = d();
        assert_eq!(d(), first, "unchanged files: the same digest (the fast path)");
        std::fs::write(rules.join("svc.rules.yml"), "groups: [] # edited").unwrap();
        let second = d();
        assert_ne!(second, first, "an edited rule file takes the full path");
        std::fs::write(dash.join("svc.json"), "{ }").unwrap();
        assert_ne!(d(), second, "an edited dashboard takes the full path");
    }
}
