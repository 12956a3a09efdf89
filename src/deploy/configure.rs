//! Configuring the hosts: the fast-path decision (digest and drift check),
//! waiting for SSH, the Ansible run, and the record of the converged state.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::check::drift::{self, Verdict};
use crate::cli::{OnlyPart, UpArgs};
use crate::deploy::session::Session;
use crate::error::{Error, Phase, Result};
use crate::model::contract::Contract;
use crate::state::converged::{self, Converged};
use crate::state::secrets::Secrets;
use crate::tools::ansible::{Playbook, Recap, Venv};
use crate::tools::retry::{retry, Backoff};

/// How `up` configures the hosts this time.
pub enum ConfigPath {
    /// Ansible skipped: every host is as last converged.
    Fast { hosts: usize },
    /// The full Ansible run, for these reasons.
    Full(Vec<String>),
}

impl ConfigPath {
    pub fn name(&self) -> &'static str {
        match self {
            ConfigPath::Fast { .. } => "fast",
            ConfigPath::Full(_) => "full",
        }
    }

    pub fn reasons(&self) -> Vec<String> {
        match self {
            ConfigPath::Fast { hosts } => {
                vec![format!("Terraform planned no change to a host, the inputs are unchanged and all {hosts} hosts are as last converged")]
            }
            ConfigPath::Full(r) => r.clone(),
        }
    }
}

/// The digest of everything that decides the hosts' configuration (src/check/drift.rs).
pub fn inputs_digest(s: &Session) -> Result<String> {
    let inventory = std::fs::read_to_string(s.state.inventory())
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", s.state.inventory().display())))?;
    drift::digest(&drift::Inputs { ansible_dir: &s.ws.ansible_dir(), env_file: &s.env.file, inventory: &inventory, state: &s.state })
}

/// Fast path or full Ansible run: the full run unless asked for, unless
/// Terraform changed something, unless the inputs or a host differ from the
/// last converged state (one SSH round trip per host, in parallel). On the
/// fast path, also what the hosts run (read in the same SSH session), which
/// verify then need not read again.
pub fn choose_path(
    s: &Session,
    args: &UpArgs,
    tf_changed: bool,
    contract: &Contract,
    digest: &str,
) -> (ConfigPath, Option<crate::check::installed::Report>) {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("check", "comparing the hosts with their last converged state");
    let mut installed = None;
    let path = if args.upgrade {
        ConfigPath::Full(vec!["--upgrade".into()])
    } else if args.full {
        ConfigPath::Full(vec!["--full".into()])
    } else if s.env.up.always_configure {
        ConfigPath::Full(vec![format!("always_configure = true in [up] of {}", s.env.file.display())])
    } else if args.only == Some(OnlyPart::Configure) {
        ConfigPath::Full(vec!["--only configure".into()])
    } else if tf_changed {
        ConfigPath::Full(vec!["Terraform changed the infrastructure".into()])
    } else {
        p.progress("one SSH look at every host");
        let options = crate::tools::ssh::contract_options(contract, &s.state.known_hosts());
        match drift::check(&s.state, digest, &s.env, contract, &options) {
            (Verdict::Converged { hosts }, read) => {
                installed = read;
                ConfigPath::Fast { hosts }
            }
            (Verdict::Drift(reasons), _) => ConfigPath::Full(reasons),
        }
    };
    let reasons = path.reasons();
    let msg = match &path {
        ConfigPath::Fast { .. } => "fast path: Ansible skipped".to_string(),
        ConfigPath::Full(r) => format!(
            "full Ansible run: {}{}",
            r.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
            if r.len() > 3 { format!(" (and {} more)", r.len() - 3) } else { String::new() }
        ),
    };
    p.phase_end("check", true, t.elapsed(), &msg, json!({ "path": path.name(), "reasons": reasons }));
    (path, installed)
}

/// What the hosts were converged to: Ansible's task results, then one look
/// at each host; saved by `up` only once verify passed. A host that cannot be
/// recorded leaves no record (the next `up` runs Ansible again), never a
/// failed run. The same SSH session reads what the hosts run (Ansible has
/// ended: nothing changes them until verify), for verify's summary.
pub fn record(s: &Session, contract: &Contract, digest: &str) -> Result<(Option<Converged>, Option<crate::check::installed::Report>)> {
    let p = s.printer;
    let events = s.log("ansible-events.jsonl");
    report_removed(s, &events);
    let mut managed = converged::managed_from_events(&events);
    // Every component service of a host is checked, named by a task result or not.
    for (host, units) in drift::component_services(&s.env, contract) {
        managed.entry(host).or_default().require_services(units);
    }
    let options = crate::tools::ssh::contract_options(contract, &s.state.known_hosts());
    let mut hosts = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    let mut installed = crate::check::installed::Report::new();
    for (host, observed) in drift::observe_then(contract, &options, &managed, &crate::check::installed::command_for(&s.env)) {
        let m = managed.get(&host).cloned().unwrap_or_default();
        let observed = observed.map(|(o, then)| {
            installed.insert(host.clone(), crate::check::installed::parse(&then));
            o
        });
        match observed.and_then(|o| converged::expected_state(&m, &o)) {
            Ok(expected) => {
                hosts.insert(host, converged::HostRecord { managed: m, expected });
            }
            Err(e) => problems.push(format!("{host}: {e}")),
        }
    }
    if !problems.is_empty() {
        p.warn(&format!("the converged state was not recorded ({}); the next `up` runs Ansible again", problems.join("; ")));
        return Ok((None, None));
    }
    let files: usize = hosts.values().map(|h| h.expected.files.len()).sum();
    let services: usize = hosts.values().map(|h| h.managed.services.len()).sum();
    let packages: usize = hosts.values().map(|h| h.expected.packages.len()).sum();
    p.step(
        "record",
        &format!("read the converged state: {files} files, {services} services, {packages} packages (recorded once verified)"),
    );
    Ok((Some(Converged::new(digest, hosts)), Some(installed)))
}

/// Names, in the output and the run's log, what Ansible removed because
/// obsctl did not write it (ansible/roles/managed_dirs): stray files,
/// drop-ins, unit overrides and masks.
fn report_removed(s: &Session, events: &std::path::Path) {
    let removed = converged::removed_from_events(events);
    if removed.is_empty() {
        return;
    }
    let lines: Vec<String> = removed.iter().flat_map(|(h, paths)| paths.iter().map(move |p| format!("{h}: {p}"))).collect();
    s.printer.warn(&format!("removed what obsctl did not write (the declared state wins): {}", lines.join(", ")));
    s.printer.event("removed", json!({ "hosts": removed }));
}

pub fn wait_for_hosts(s: &Session, contract: &Contract, args: &UpArgs) -> Result<()> {
    let p = s.printer;
    let t = Instant::now();
    let total = contract.hosts.len();
    p.phase_start("hosts", &format!("waiting for SSH on {total} hosts"));
    let mut ready = 0;
    crate::tools::ssh::wait_for_hosts(
        contract,
        &s.state.known_hosts(),
        &s.env.name,
        Duration::from_secs(args.ssh_timeout),
        |name, took| {
            ready += 1;
            p.step("hosts", &format!("{name} answers SSH ({:.1}s) [{ready}/{total}]", took.as_secs_f64()));
        },
    )
    .map_err(|e| {
        if e.hint.is_some() {
            return e;
        }
        e.hint(format!("is the machine up? `obsctl status --env {}`; the provider's log: {}", s.env.name, s.log("terraform.log").display()))
    })?;
    p.phase_end("hosts", true, t.elapsed(), &format!("{total} hosts answer SSH"), json!({ "hosts": total }));
    Ok(())
}

/// UPGRADE: the Debian packages of each host go to their APT candidate
/// (site.yml's `obsctl_upgrade`), their services restarted one HA peer at a time.
pub fn configure(s: &Session, secrets: &Secrets, upgrade: bool) -> Result<Recap> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("ansible", "configuring (ansible/site.yml)");
    // Run-time inputs, not the inventory's (the converged digest's): --upgrade,
    // and the host a release roll is replacing now (src/state/os_roll.rs).
    let mut extra = serde_json::Map::new();
    if upgrade {
        extra.insert("obsctl_upgrade".into(), json!(true));
    }
    let replacing = crate::state::os_roll::replacing(&s.state);
    if !replacing.is_empty() {
        extra.insert("obsctl_roll_replacing".into(), json!(replacing));
    }
    let extra = serde_json::Value::Object(extra).to_string();
    let extra_args: &[&str] = if extra == "{}" { &[] } else { &["-e", &extra] };
    // A host that dropped its SSH connection is retried once; failed tasks never are.
    let recap = retry(
        Backoff::exponential(2, Duration::from_secs(5)),
        |_| playbook(s, secrets).run("site.yml", extra_args),
        |e, _, wait| {
            let again = e.phase == Phase::Hosts;
            if again {
                p.warn(&format!("{}; retrying once in {}s", e.message, wait.as_secs()));
            }
            again
        },
    )?;
    let changed = recap.changed();
    p.phase_end(
        "ansible",
        true,
        t.elapsed(),
        &format!("{} tasks, {changed} changed", recap.tasks),
        json!({ "tasks": recap.tasks, "changed": changed, "changed_tasks": recap.changed_tasks, "hosts": recap.hosts }),
    );
    Ok(recap)
}

pub fn playbook<'a>(s: &'a Session, secrets: &Secrets) -> Playbook<'a> {
    Playbook {
        ws: &s.ws,
        venv: Venv::location(&s.ws),
        inventory: s.state.inventory(),
        log: s.log("ansible.log"),
        events: s.log("ansible-events.jsonl"),
        printer: s.printer,
        redact: secrets.values.clone(),
        env_name: &s.env.name,
    }
}
