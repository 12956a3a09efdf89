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

use crate::error::Result;
use crate::model::component::ComponentId;
use crate::model::environment::Environment;
use crate::state::workspace::{read_record, write_record, StateDir};

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
        let hint = format!("remove it if no roll is under way (rm {}), then run `obsctl up` again", path.display());
        read_record(&path, "a record of a release roll this obsctl understands", hint)
    }

    pub fn save(&self, state: &StateDir) -> Result<()> {
        write_record(&state.os_roll(), self)
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

/// The host a roll is replacing in this run and the release it ran before
/// (Ansible's `obsctl_roll_replacing`): a change that needs every peer on
/// the new release (Alertmanager's `--cluster.label`) waits until no peer is
/// being replaced, so the other peers' restarts for it never overlap a
/// replacement.
pub fn replacing(state: &StateDir) -> BTreeMap<String, String> {
    match Record::load(state) {
        Ok(Some(r)) => r.current.iter().filter_map(|h| r.hosts.get(h).map(|os| (h.clone(), os.clone()))).collect(),
        _ => BTreeMap::new(),
    }
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

/// A release roll as `plan` and `status` show it: the one place that
/// formats it (from os-roll.json once a roll started, else from the
/// deployment record and the env file's `os`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roll {
    /// The release the hosts move to (the env file's `os`).
    pub target: String,
    /// The release each host runs; the host being replaced counts as on
    /// `target` (Terraform gets it so).
    pub hosts: BTreeMap<String, String>,
    /// The hosts still to replace, in the order `up` takes them.
    pub pending: Vec<String>,
    /// The first of them.
    pub next: String,
    /// The host a running `up` is replacing (recorded, no stop recorded).
    pub under_way: Option<String>,
    /// Where the last run stopped.
    pub stopped: Option<Stopped>,
    /// The command that starts or resumes the roll.
    pub resume: String,
    /// What `plan` and `status` print, one line each.
    pub lines: Vec<String>,
}

/// The roll `up` would run for a change of `os`, or None when every host
/// runs the env file's release.
pub fn roll(state: &StateDir, env: &Environment) -> Option<Roll> {
    let pending = to_roll(state, env);
    let next = pending.first()?.clone();
    let target = env.os.name().to_string();
    let record = Record::load(state).ok().flatten().filter(|r| r.target == target);
    let current = record.as_ref().and_then(|r| r.current.clone());
    // The host being replaced is shown on the release it had: it is not verified on the new one yet.
    let mut hosts = current_os(state, env);
    if let Some((h, os)) = current.as_ref().and_then(|h| Some((h, record.as_ref()?.hosts.get(h)?))) {
        hosts.insert(h.clone(), os.clone());
    }
    let stopped = record.as_ref().and_then(|r| r.stopped.clone());
    let under_way = current.clone().filter(|_| stopped.is_none());
    let resume = format!("obsctl up --env {}", env.name);
    let mut by_release: Vec<(String, Vec<&str>)> = Vec::new();
    for h in &env.hosts {
        let Some(os) = hosts.get(&h.name) else { continue };
        match by_release.iter_mut().find(|(o, _)| o == os) {
            Some((_, names)) => names.push(&h.name),
            None => by_release.push((os.clone(), vec![&h.name])),
        }
    }
    by_release.sort_by_key(|(os, _)| *os != target);
    let state_now = by_release.iter().map(|(os, names)| format!("{} on {os}", names.join(", "))).collect::<Vec<_>>().join("; ");
    let how = match (&stopped, &under_way) {
        (Some(st), _) => {
            format!(" The last `up` stopped at {} ({}, {}); once its cause is fixed, `{resume}` resumes there.", st.host, st.step, st.at)
        }
        (None, Some(h)) => format!(" {h} is being replaced by a running `up` (or one that was interrupted: `{resume}` resumes there)."),
        (None, None) => String::new(),
    };
    let mut lines = vec![
        format!("release roll to {target}: {state_now}.{how}"),
        format!("next: {next}; `{resume}` replaces {} host(s) one at a time, each configured and verified before the next:", pending.len()),
    ];
    for (i, h) in pending.iter().enumerate() {
        let was = hosts.get(h).cloned().unwrap_or_default();
        let from = if current.as_ref() == Some(h) { format!("{was} (resumed)") } else { was };
        let alone = without_peers(env, h);
        let gap = if alone.is_empty() {
            String::new()
        } else {
            format!(
                "; no peer for {}: down while replaced (asks, or --accept-gap)",
                alone.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            )
        };
        lines.push(format!("  {}. {h}: {from} → {target}, replaced, data volume kept{gap}", i + 1));
    }
    Some(Roll { target, hosts, pending, next, under_way, stopped, resume, lines })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::environment::tests::GOOD;
    use crate::model::environment::Os;

    /// environment/tests.rs's fixture (mon-1 with the monitoring, app-1) on
    /// `os`, with a peer for the pair (mon-2: Prometheus and Alertmanager)
    /// and Grafana and Loki left out (as on the lab).
    fn env_on(os: &str, mon_2_roles: &str) -> Environment {
        let text = format!("os = \"{os}\"\n{GOOD}[[hosts]]\nname = \"mon-2\"\nroles = {mon_2_roles}\n");
        crate::model::environment::parse("rl", std::path::Path::new("environments/rl.toml"), &text)
            .unwrap()
            .without(&["grafana".to_string(), "loki".to_string()])
            .unwrap()
    }

    fn env(os: &str) -> Environment {
        env_on(os, r#"["prometheus", "alertmanager"]"#)
    }

    fn all(os: &str) -> BTreeMap<String, String> {
        ["mon-1", "app-1", "mon-2"].iter().map(|h| (h.to_string(), os.to_string())).collect()
    }

    fn state() -> (tempfile::TempDir, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        (dir, state)
    }

    #[test]
    fn pending_hosts_follow_the_env_file_order() {
        let e = env("debian-13");
        assert_eq!(e.os, Os::Debian13);
        assert_eq!(pending(&e, &all("debian-12")), ["mon-1", "app-1", "mon-2"]);
        assert!(pending(&e, &all("debian-13")).is_empty());
        let mut some = all("debian-12");
        some.insert("mon-1".into(), "debian-13".into());
        assert_eq!(pending(&e, &some), ["app-1", "mon-2"]);
        // A host that was never created is not rolled: it is created on the new release.
        some.remove("app-1");
        assert_eq!(pending(&e, &some), ["mon-2"]);
    }

    #[test]
    fn ansible_learns_the_host_being_replaced_with_the_release_it_ran_before() {
        let (_dir, state) = state();
        let e = env("debian-13");
        assert!(replacing(&state).is_empty(), "no record, no roll");
        let mut r = Record::start(&e, &all("debian-12"));
        r.save(&state).unwrap();
        assert!(replacing(&state).is_empty(), "a roll between two steps replaces nothing");
        r.current = Some("mon-2".into());
        r.save(&state).unwrap();
        let want: BTreeMap<String, String> = [("mon-2".to_string(), "debian-12".to_string())].into();
        assert_eq!(replacing(&state), want, "its old release, while Terraform plans it on the new one");
        assert_eq!(current_os(&state, &e)["mon-2"], "debian-13");
        // A run that stopped there still replaces it: the next one resumes with it.
        r.stopped = Some(Stopped { host: "mon-2".into(), step: "ansible".into(), at: "t".into() });
        r.save(&state).unwrap();
        assert_eq!(replacing(&state), want);
    }

    #[test]
    fn a_host_whose_component_runs_nowhere_else_has_no_peers() {
        let e = env("debian-13");
        assert!(without_peers(&e, "mon-1").is_empty());
        assert_eq!(without_peers(&e, "app-1"), [ComponentId::App]);
        let single = env_on("debian-13", r#"["alertmanager"]"#);
        assert_eq!(without_peers(&single, "mon-1"), [ComponentId::Prometheus]);
        assert!(without_peers(&single, "mon-2").is_empty());
        // Left out by --without: no gap for it.
        let without = single.without(&["app".to_string()]).unwrap();
        assert!(without_peers(&without, "app-1").is_empty());
    }

    #[test]
    fn the_record_is_the_truth_once_a_roll_started_and_resumes_at_the_host_it_stopped() {
        let (_dir, state) = state();
        let e = env("debian-13");
        // No deployment, no record: every host is (to be) created on the env file's release.
        assert_eq!(current_os(&state, &e), all("debian-13"));
        let mut r = Record::start(&e, &all("debian-12"));
        r.current = Some("mon-1".into());
        r.save(&state).unwrap();
        // The host being replaced is planned on the new release; the others stay.
        let now = current_os(&state, &e);
        assert_eq!(now["mon-1"], "debian-13");
        assert_eq!(now["mon-2"], "debian-12");
        assert_eq!(pending(&e, &now), ["app-1", "mon-2"]);
        // It failed there: the record says so, the next run starts with it.
        r.stopped = Some(Stopped { host: "mon-1".into(), step: "verify".into(), at: "t".into() });
        r.save(&state).unwrap();
        assert_eq!(Record::load(&state).unwrap().unwrap(), r);
        assert_eq!(to_roll(&state, &e), ["mon-1", "app-1", "mon-2"]);
        // mon-1 verified: the record moves on.
        r.hosts.insert("mon-1".into(), "debian-13".into());
        r.current = None;
        r.stopped = None;
        r.save(&state).unwrap();
        assert_eq!(to_roll(&state, &e), ["app-1", "mon-2"]);
        // The env file goes back to debian-12 half-way: only mon-1 is rolled back.
        assert_eq!(to_roll(&state, &env("debian-12")), ["mon-1"]);
        // Done: each host measured, the longest is the gap.
        r.seconds.insert("mon-1".into(), 80.0);
        r.seconds.insert("mon-2".into(), 95.5);
        assert_eq!(r.measured_gap(), Some(("mon-2", 95.5)));
        std::fs::write(state.os_roll(), "{").unwrap();
        assert!(Record::load(&state).unwrap_err().message.contains("os-roll.json"));
    }

    /// `plan` prints `lines` and `status` prints them and hands the whole
    /// value out as `release_roll` (JSON): one format for both.
    #[test]
    fn the_roll_plan_and_status_show_names_each_host_the_next_one_and_the_command() {
        let (_dir, state) = state();
        let e = env("debian-13");
        // Nothing to roll: nothing shown.
        assert_eq!(roll(&state, &e), None);

        // Pending, not started: mon-1 on the new release, the others not.
        let mut r = Record::start(&e, &all("debian-12"));
        r.hosts.insert("mon-1".into(), "debian-13".into());
        r.save(&state).unwrap();
        let p = roll(&state, &e).unwrap();
        assert_eq!(
            (p.target.as_str(), p.next.as_str(), p.pending.as_slice()),
            ("debian-13", "app-1", &["app-1".to_string(), "mon-2".to_string()][..])
        );
        assert_eq!((p.under_way.as_deref(), p.stopped.as_ref()), (None, None));
        assert_eq!(p.resume, "obsctl up --env rl");
        assert_eq!(
            p.lines,
            [
                "release roll to debian-13: mon-1 on debian-13; app-1, mon-2 on debian-12.",
                "next: app-1; `obsctl up --env rl` replaces 2 host(s) one at a time, each configured and verified before the next:",
                "  1. app-1: debian-12 → debian-13, replaced, data volume kept; no peer for app: down while replaced (asks, or --accept-gap)",
                "  2. mon-2: debian-12 → debian-13, replaced, data volume kept",
            ]
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["hosts"]["mon-1"], "debian-13");
        assert_eq!(json["hosts"]["mon-2"], "debian-12");
        assert_eq!(json["pending"], serde_json::json!(["app-1", "mon-2"]));
        assert_eq!((json["next"].as_str(), json["resume"].as_str()), (Some("app-1"), Some("obsctl up --env rl")));
        assert!(json["stopped"].is_null() && json["under_way"].is_null());

        // Stopped at mon-2: shown on the release it had, first, resumed, with where and why it stopped.
        r.current = Some("mon-2".into());
        r.stopped = Some(Stopped { host: "mon-2".into(), step: "verify".into(), at: "2026-12-07T18:00:00Z".into() });
        r.save(&state).unwrap();
        let p = roll(&state, &e).unwrap();
        assert_eq!(p.next, "mon-2");
        assert_eq!(p.pending, ["mon-2", "app-1"]);
        assert_eq!(p.hosts["mon-2"], "debian-12");
        assert_eq!(
            p.lines[0],
            "release roll to debian-13: mon-1 on debian-13; app-1, mon-2 on debian-12. The last `up` stopped at mon-2 \
             (verify, 2026-12-07T18:00:00Z); once its cause is fixed, `obsctl up --env rl` resumes there."
        );
        assert_eq!(p.lines[2], "  1. mon-2: debian-12 (resumed) → debian-13, replaced, data volume kept");
        assert_eq!(serde_json::to_value(&p).unwrap()["stopped"]["step"], "verify");

        // Under way (recorded, not stopped): said so.
        r.stopped = None;
        r.save(&state).unwrap();
        let p = roll(&state, &e).unwrap();
        assert_eq!(p.under_way.as_deref(), Some("mon-2"));
        assert!(
            p.lines[0]
                .ends_with("mon-2 is being replaced by a running `up` (or one that was interrupted: `obsctl up --env rl` resumes there)."),
            "{}",
            p.lines[0]
        );

        // All rolled: nothing shown.
        r.hosts = all("debian-13");
        r.current = None;
        r.save(&state).unwrap();
        assert_eq!(roll(&state, &e), None);
    }
}
