//! Changing an environment's Debian release (`os`) one host at a time
//! (docs/upgrades.md, "The Debian release").
//!
//! `.obsctl/<env>/os-roll.json` records, once a roll has started, the
//! release each host runs, the host whose replacement is under way, where a
//! failed run stopped, and how long each host took from its replacement to
//! verified (the gap a host without peers leaves). While the file exists it
//! is the truth about the hosts' releases; before the first roll the
//! deployment record's `os` is (all hosts ran the release of the last `up`).
//! Terraform gets each host's release (`hosts[*].os`), so a plan replaces
//! only the hosts rolled so far, and Ansible gets it as the host's
//! `obsctl_os`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::component::ComponentId;
use crate::model::environment::Environment;
use crate::state::workspace::{write_atomic, StateDir};

/// The gap a host without peers leaves, until one of this environment's
/// replacements has been measured: a lab machine boots in about 10 s and
/// its first configuration and verify take one to three minutes.
pub const GAP_ESTIMATE_S: u64 = 240;

/// Where a roll that failed stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stopped {
    pub host: String,
    /// The phase that failed (terraform, hosts, ansible, verify, …).
    pub step: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The release the roll moves to (the env file's `os` when it started).
    pub target: String,
    /// The release each host runs (a host replaced and verified runs `target`).
    pub hosts: BTreeMap<String, String>,
    /// The host being replaced, or where the last run stopped: Terraform gets
    /// it at `target` already, so the next plan replaces it (again, if it had
    /// not been).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// Seconds each host took from its replacement to verified.
    #[serde(default)]
    pub seconds: BTreeMap<String, f64>,
}

impl StateDir {
    pub fn os_roll(&self) -> PathBuf {
        self.dir.join("os-roll.json")
    }
}

impl Record {
    pub fn load(state: &StateDir) -> Result<Option<Record>> {
        let path = state.os_roll();
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::input(format!("{} is not a record of a release roll this obsctl understands: {e}", path.display()))
                .hint(format!("remove it if no roll is under way (rm {}), then run `obsctl up` again", path.display()))
        })
    }

    pub fn save(&self, state: &StateDir) -> Result<()> {
        write_atomic(&state.os_roll(), crate::error::to_json_pretty(self)?.as_bytes(), 0o600)
    }

    /// A roll of the hosts in `current` (each host's release now) to the env
    /// file's release.
    pub fn start(env: &Environment, current: &BTreeMap<String, String>) -> Record {
        Record { target: env.os.name().into(), hosts: current.clone(), current: None, stopped: None, seconds: BTreeMap::new() }
    }

    /// The longest measured replacement, with its host.
    pub fn measured_gap(&self) -> Option<(&str, f64)> {
        self.seconds.iter().map(|(h, s)| (h.as_str(), *s)).max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The release each host of the env file runs (or will run: a host that was
/// never created gets the env file's). The host a roll is replacing counts
/// as on the new release.
pub fn current_os(state: &StateDir, env: &Environment) -> BTreeMap<String, String> {
    let known: BTreeMap<String, String> = match Record::load(state) {
        Ok(Some(r)) => {
            let mut hosts = r.hosts.clone();
            if let Some(h) = &r.current {
                hosts.insert(h.clone(), r.target.clone());
            }
            hosts
        }
        _ => deployed_os(state, env),
    };
    env.hosts.iter().map(|h| (h.name.clone(), known.get(&h.name).cloned().unwrap_or_else(|| env.os.name().into()))).collect()
}

/// Before any roll: every host obsctl created runs the release of the last
/// `up` (its deployment record, or, for a record written before it held the
/// release, the variables file the last plan read).
fn deployed_os(state: &StateDir, env: &Environment) -> BTreeMap<String, String> {
    let Ok(Some(d)) = crate::state::deployment::Deployment::load(state, &env.name) else { return BTreeMap::new() };
    let os = d.os.clone().or_else(|| {
        let vars: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.tfvars()).ok()?).ok()?;
        vars["os"].as_str().map(String::from)
    });
    let Some(os) = os else { return BTreeMap::new() };
    d.contract.hosts.iter().filter(|(_, h)| !h.is_existing()).map(|(n, _)| (n.clone(), os.clone())).collect()
}

/// The hosts that do not run the env file's release yet, in the order a roll
/// replaces them: the env file's.
pub fn pending(env: &Environment, current: &BTreeMap<String, String>) -> Vec<String> {
    env.hosts.iter().filter(|h| current.get(&h.name).is_some_and(|os| os != env.os.name())).map(|h| h.name.clone()).collect()
}

/// The hosts a roll to the env file's release still has to replace, in
/// order: the one a roll stopped at first (its machine may be new already:
/// it is configured and verified again), then the hosts not on that release,
/// in the env file's order.
pub fn to_roll(state: &StateDir, env: &Environment) -> Vec<String> {
    let now = current_os(state, env);
    let mut hosts: Vec<String> = match Record::load(state) {
        Ok(Some(r)) if r.target == env.os.name() => r.current.into_iter().filter(|h| now.contains_key(h)).collect(),
        _ => Vec::new(),
    };
    for h in pending(env, &now) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts
}

/// The components of `host` that no other host of the environment runs: a
/// replacement of `host` leaves them down (the gap). Components that run on
/// every host (node_exporter, the log agent) are each host's own.
pub fn without_peers(env: &Environment, host: &str) -> Vec<ComponentId> {
    let Some(h) = env.hosts.iter().find(|h| h.name == host) else { return Vec::new() };
    h.roles
        .iter()
        .copied()
        .filter(|c| env.enabled(*c) && !env.registry.get(*c).every_host)
        .filter(|c| !env.hosts.iter().any(|o| o.name != host && o.roles.contains(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::environment::Os;

    fn env(text: &str) -> Environment {
        crate::model::environment::parse("rl", std::path::Path::new("environments/rl.toml"), text).unwrap()
    }

    const STAGING: &str = r#"
provider = "lab"
os = "debian-13"
components = ["prometheus", "alertmanager", "node_exporter", "app"]
[lab]
bridge = "obs-rl"
cidr = "10.88.0.0/24"
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager"]
[[hosts]]
name = "mon-2"
roles = ["prometheus", "alertmanager"]
[[hosts]]
name = "app-1"
roles = ["app"]
"#;

    fn all(os: &str) -> BTreeMap<String, String> {
        ["mon-1", "mon-2", "app-1"].iter().map(|h| (h.to_string(), os.to_string())).collect()
    }

    #[test]
    fn pending_hosts_follow_the_env_file_order() {
        let e = env(STAGING);
        assert_eq!(e.os, Os::Debian13);
        assert_eq!(pending(&e, &all("debian-12")), ["mon-1", "mon-2", "app-1"]);
        assert!(pending(&e, &all("debian-13")).is_empty());
        let mut some = all("debian-12");
        some.insert("mon-1".into(), "debian-13".into());
        assert_eq!(pending(&e, &some), ["mon-2", "app-1"]);
        // A host that was never created is not rolled: it is created on the new release.
        some.remove("app-1");
        assert_eq!(pending(&e, &some), ["mon-2"]);
    }

    #[test]
    fn a_host_whose_component_runs_nowhere_else_has_no_peers() {
        let e = env(STAGING);
        assert!(without_peers(&e, "mon-1").is_empty());
        assert_eq!(without_peers(&e, "app-1"), [ComponentId::App]);
        let single = env(&STAGING.replacen("roles = [\"prometheus\", \"alertmanager\"]", "roles = [\"alertmanager\"]", 2).replacen(
            "roles = [\"alertmanager\"]",
            "roles = [\"prometheus\", \"alertmanager\"]",
            1,
        ));
        assert_eq!(without_peers(&single, "mon-1"), [ComponentId::Prometheus]);
        assert!(without_peers(&single, "mon-2").is_empty());
        // Left out by --without: no gap for it.
        let without = single.without(&["app".to_string()]).unwrap();
        assert!(without_peers(&without, "app-1").is_empty());
    }

    #[test]
    fn the_record_is_the_truth_once_a_roll_started_and_resumes_at_the_host_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        let e = env(STAGING);
        // No deployment, no record: every host is (to be) created on the env file's release.
        assert_eq!(current_os(&state, &e), all("debian-13"));
        let mut r = Record::start(&e, &all("debian-12"));
        r.current = Some("mon-1".into());
        r.save(&state).unwrap();
        // The host being replaced is planned on the new release; the others stay.
        let now = current_os(&state, &e);
        assert_eq!(now["mon-1"], "debian-13");
        assert_eq!(now["mon-2"], "debian-12");
        assert_eq!(pending(&e, &now), ["mon-2", "app-1"]);
        // It failed there: the record says so, the next run starts with it.
        r.stopped = Some(Stopped { host: "mon-1".into(), step: "verify".into(), at: "t".into() });
        r.save(&state).unwrap();
        assert_eq!(Record::load(&state).unwrap().unwrap(), r);
        assert_eq!(to_roll(&state, &e), ["mon-1", "mon-2", "app-1"]);
        // mon-1 verified: the record moves on.
        r.hosts.insert("mon-1".into(), "debian-13".into());
        r.current = None;
        r.stopped = None;
        r.save(&state).unwrap();
        assert_eq!(to_roll(&state, &e), ["mon-2", "app-1"]);
        // The env file goes back to debian-12 half-way: only mon-1 is rolled back.
        let back = env(&STAGING.replace("debian-13", "debian-12"));
        assert_eq!(to_roll(&state, &back), ["mon-1"]);
        // Done: each host measured, the longest is the gap.
        r.seconds.insert("mon-1".into(), 80.0);
        r.seconds.insert("mon-2".into(), 95.5);
        assert_eq!(r.measured_gap(), Some(("mon-2", 95.5)));
        std::fs::write(state.os_roll(), "{").unwrap();
        assert!(Record::load(&state).unwrap_err().message.contains("os-roll.json"));
    }
}
