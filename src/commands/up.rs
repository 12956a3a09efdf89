//! `obsctl up`: prepare → terraform → inventory → hosts → ansible → verify.
//! Re-running after a failure resumes: Terraform is planned again (a plan
//! without changes is not applied) and configuration starts only once
//! Terraform is known good. `--only configure|verify` runs one part alone.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::{interrupted_hint, secs, Session};
use crate::ansible::{Playbook, Recap, Venv};
use crate::cli::{OnlyPart, UpArgs};
use crate::contract::{self, Contract};
use crate::converged::{self, Converged, Verdict};
use crate::deployment::{Deployment, Reached};
use crate::error::{Error, Phase, Result};
use crate::inventory;
use crate::process::Child;
use crate::report::Printer;
use crate::retry::{retry, Backoff};
use crate::secrets::Secrets;
use crate::workspace::write_atomic;

pub fn run(args: UpArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open_with(&args.env.env, "up", printer, |env| {
        env.disable(&args.without)?;
        env.check_grafana_https()
    })?;
    let run_log = s.log("obsctl.log");
    up(&s, &args).map_err(|e| interrupted_hint(e, &s.env.name, "up").or_log(run_log))?;
    Ok(0)
}

/// Seconds spent per phase, for the summary.
type Timings = Map<String, Value>;

fn timed<T>(timings: &mut Timings, phase: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f();
    timings.insert(phase.into(), json!(secs(t.elapsed())));
    out
}

fn up(s: &Session, args: &UpArgs) -> Result<()> {
    let p = s.printer;
    let env = &s.env;
    let mut timings = Timings::new();
    p.info(&format!(
        "obsctl up --env {} ({} provider, {} hosts, components: {}); logs in {}",
        env.name,
        env.provider.name(),
        env.hosts.len(),
        env.components.iter().cloned().collect::<Vec<_>>().join(", "),
        s.run_dir.display()
    ));

    if args.only == Some(OnlyPart::Verify) {
        let mut env = s.env.clone();
        let mut d = super::deployed(&s.state, &mut env)?;
        let verified = timed(&mut timings, "verify", || verify(s, &env, &d.contract, args))?;
        d.reach(d.reached.max(Reached::Verified), &s.state)?;
        return summarize(s, &d, None, &verified, timings);
    }

    let (mut secrets, background) = timed(&mut timings, "prepare", || prepare(s, args))?;
    // silence_during_up: the hosts of the running deployment are silenced
    // until this function returns, whatever the outcome (Drop expires it).
    let maintenance = match Deployment::load(&s.state, &env.name) {
        Ok(Some(running)) if env.alertmanager.silence_during_up && !args.skip_configure => {
            super::silence::Maintenance::start(env, &running.contract, &s.state, p)
        }
        _ => None,
    };
    let mut tf_changed = false;
    let mut d = if args.only == Some(OnlyPart::Configure) {
        let mut d = Deployment::require(&s.state, &env.name)?;
        // Re-render: the env file or --without may have changed since.
        d.components = env.components.clone();
        d.save(&s.state)?;
        crate::ssh::record_host_keys(Some(&d.contract), &d.contract, &s.state.known_hosts())?;
        write_inventory(s, &d)?;
        d
    } else {
        let (waited, changed) = timed(&mut timings, "terraform", || provision(s, args))?;
        tf_changed = changed;
        secrets.add_grafana_db(&s.state.secrets_dir());
        if !waited.is_zero() {
            // The phase timing is Terraform's; the user's time is its own entry.
            let tf = timings["terraform"].as_f64().unwrap_or_default();
            timings.insert("terraform".into(), json!(((tf - waited.as_secs_f64()) * 100.0).round() / 100.0));
            timings.insert("approval_wait".into(), json!(secs(waited)));
        }
        timed(&mut timings, "inventory", || inventory_phase(s))?
    };
    let contract = d.contract.clone();
    if args.skip_configure {
        p.summary(
            &format!(
                "Provisioned `{}` ({} hosts); configuration skipped (--skip-configure). Inventory: {}",
                env.name,
                contract.hosts.len(),
                s.state.inventory().display()
            ),
            json!({ "ok": true, "environment": env.name, "configured": false, "hosts": contract.hosts.keys().collect::<Vec<_>>(),
                    "inventory": s.state.inventory(), "timings": timings, "run_log": s.run_dir }),
        );
        return Ok(());
    }
    // The application build is an input of the configuration: wait for it.
    if let Some(bg) = background {
        timed(&mut timings, "build", || bg.join(p))?;
    }
    let digest = inputs_digest(s)?;
    let path = timed(&mut timings, "check", || Ok(choose_path(s, args, tf_changed, &contract, &digest)))?;
    let changed = match &path {
        ConfigPath::Fast { .. } => 0,
        ConfigPath::Full(_) => {
            // From here until it is recorded again, the hosts are not known to be converged.
            Converged::forget(&s.state);
            timed(&mut timings, "hosts", || wait_for_hosts(s, &contract, args))?;
            let recap = timed(&mut timings, "ansible", || configure(s, &secrets))?;
            timed(&mut timings, "record", || record(s, &contract, &digest))?;
            recap.changed()
        }
    };
    d.reach(Reached::Configured, &s.state)?;
    let verified = timed(&mut timings, "verify", || verify(s, env, &contract, args))?;
    d.reach(Reached::Verified, &s.state)?;
    drop(maintenance);
    summarize(s, &d, Some((changed, &path)), &verified, timings)
}

/// How `up` configures the hosts this time.
pub enum ConfigPath {
    /// Ansible skipped: every host is as last converged.
    Fast { hosts: usize },
    /// The full Ansible run, for these reasons.
    Full(Vec<String>),
}

impl ConfigPath {
    fn name(&self) -> &'static str {
        match self {
            ConfigPath::Fast { .. } => "fast",
            ConfigPath::Full(_) => "full",
        }
    }

    fn reasons(&self) -> Vec<String> {
        match self {
            ConfigPath::Fast { hosts } => {
                vec![format!("Terraform planned no change, the inputs are unchanged and all {hosts} hosts are as last converged")]
            }
            ConfigPath::Full(r) => r.clone(),
        }
    }
}

/// The digest of everything that decides the hosts' configuration (src/converged.rs).
pub fn inputs_digest(s: &Session) -> Result<String> {
    let inventory = std::fs::read_to_string(s.state.inventory())
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", s.state.inventory().display())))?;
    converged::digest(&converged::Inputs {
        ansible_dir: &s.ws.ansible_dir(),
        env_file: &s.env.file,
        inventory: &inventory,
        state: &s.state,
    })
}

/// Fast path or full Ansible run: the full run unless asked for, unless
/// Terraform changed something, unless the inputs or a host differ from the
/// last converged state (one SSH round trip per host, in parallel).
fn choose_path(s: &Session, args: &UpArgs, tf_changed: bool, contract: &Contract, digest: &str) -> ConfigPath {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("check", "comparing the hosts with their last converged state");
    let path = if args.full {
        ConfigPath::Full(vec!["--full".into()])
    } else if s.env.up.always_configure {
        ConfigPath::Full(vec![format!("always_configure = true in [up] of {}", s.env.file.display())])
    } else if args.only == Some(OnlyPart::Configure) {
        ConfigPath::Full(vec!["--only configure".into()])
    } else if tf_changed {
        ConfigPath::Full(vec!["Terraform changed the infrastructure".into()])
    } else {
        p.progress("one SSH look at every host");
        let options = crate::ssh::options(&s.state.known_hosts());
        match converged::check(&s.state, digest, contract, &options) {
            Verdict::Converged { hosts } => ConfigPath::Fast { hosts },
            Verdict::Drift(reasons) => ConfigPath::Full(reasons),
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
    path
}

/// Records what the hosts were converged to: Ansible's task results, then
/// one look at each host. A host that cannot be recorded leaves no record
/// (the next `up` runs Ansible again), never a failed run.
fn record(s: &Session, contract: &Contract, digest: &str) -> Result<()> {
    let p = s.printer;
    let managed = converged::managed_from_events(&s.log("ansible-events.jsonl"));
    let options = crate::ssh::options(&s.state.known_hosts());
    let mut hosts = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for (host, observed) in converged::observe(contract, &options, &managed) {
        let m = managed.get(&host).cloned().unwrap_or_default();
        match observed.and_then(|o| converged::expected_state(&m, &o)) {
            Ok(expected) => {
                hosts.insert(host, converged::HostRecord { managed: m, expected });
            }
            Err(e) => problems.push(format!("{host}: {e}")),
        }
    }
    if !problems.is_empty() {
        p.warn(&format!("the converged state was not recorded ({}); the next `up` runs Ansible again", problems.join("; ")));
        return Ok(());
    }
    let files: usize = hosts.values().map(|h| h.expected.files.len()).sum();
    let services: usize = hosts.values().map(|h| h.managed.services.len()).sum();
    let packages: usize = hosts.values().map(|h| h.expected.packages.len()).sum();
    Converged { format: 1, digest: digest.to_string(), at: crate::report::timestamp(), hosts }.save(&s.state)?;
    p.step("record", &format!("recorded the converged state: {files} files, {services} services, {packages} packages"));
    Ok(())
}

/// Prerequisites, SSH key, secrets; starts the work that does not need the
/// machines (Ansible venv, application build) in the background.
fn prepare(s: &Session, args: &UpArgs) -> Result<(Secrets, Option<Background>)> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("prepare", "checking prerequisites");
    crate::prerequisites::ensure(&s.env, p, &s.log("prepare.log"))?;
    if crate::ssh::ensure_key(&s.state.ssh_key(), &s.env.name)? {
        p.step("prepare", &format!("created SSH key {}", s.state.ssh_key().display()));
    }
    let secrets = crate::secrets::prepare(&s.env, &s.state.secrets_dir())?;
    let background = (!args.skip_configure).then(|| start_background(s));
    p.phase_end("prepare", true, t.elapsed(), "prerequisites ok", json!({}));
    Ok((secrets, background))
}

/// Plans and applies; returns the time spent waiting for the user's approval
/// and whether anything was applied.
fn provision(s: &Session, args: &UpArgs) -> Result<(Duration, bool)> {
    let (p, env) = (s.printer, &s.env);
    let t = Instant::now();
    let mut waited = Duration::ZERO;
    p.phase_start("terraform", &format!("terraform/stacks/{}", env.provider.name()));
    let tf = s.terraform();
    tf.write_vars(true)?;
    tf.init()?;
    if tf.ensure_grafana_db_password()? {
        p.step("terraform", &format!("generated Grafana's database password in {}", s.state.secrets_dir().display()));
    }
    p.progress("planning");
    let plan = tf.plan()?;
    if plan.changes {
        p.step("terraform", &format!("plan: {}", plan.describe()));
        if env.protected && !plan.destroyed.is_empty() && !args.allow_destroy {
            return Err(Error::input(format!(
                "the plan destroys or replaces {} resource(s) of protected environment `{}`; nothing was applied",
                plan.destroyed.len(),
                env.name
            ))
            .details(plan.destroyed.clone())
            .hint(format!("review with `obsctl plan --env {}`; to go ahead: obsctl up --env {} --allow-destroy", env.name, env.name)));
        }
        let auto_approve = args.auto_approve || !s.interactive;
        if !auto_approve {
            // Time spent waiting for the user is not Terraform's.
            let asked = Instant::now();
            let question = format!(
                "Terraform will change these resources of `{}`:\n{}\nApply this plan ({})?",
                env.name,
                plan.resource_lines().join("\n"),
                plan.describe()
            );
            let approved = s.confirm(&question);
            waited = asked.elapsed();
            if !approved {
                return Err(Error::input("plan not approved; nothing was applied").hint("re-run with --auto-approve to skip the question"));
            }
        }
        p.progress("applying");
        tf.apply()?;
    }
    let msg = if plan.changes { format!("applied: {}", plan.describe()) } else { "no changes".into() };
    let mut fields = json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy });
    if !waited.is_zero() {
        fields["approval_wait_s"] = json!(secs(waited));
    }
    p.phase_end("terraform", true, t.elapsed().saturating_sub(waited), &msg, fields);
    Ok((waited, plan.changes))
}

/// Reads the stack's outputs, validates the contract, records the deployment
/// and renders Ansible's inventory from that record.
fn inventory_phase(s: &Session) -> Result<Deployment> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("inventory", "reading obsctl_inventory");
    let (raw, provider_vars) = s.terraform().outputs()?;
    let contract = contract::parse(&raw, &s.env)?;
    // Host keys the stack recorded when it created (or recreated) a machine.
    let previous = Deployment::load(&s.state, &s.env.name).ok().flatten();
    let recorded = crate::ssh::record_host_keys(previous.as_ref().map(|d| &d.contract), &contract, &s.state.known_hosts())?;
    if !recorded.is_empty() {
        p.step("inventory", &format!("pinned the SSH host keys of {} in {}", recorded.join(", "), s.state.known_hosts().display()));
    }
    let d = Deployment::new(contract, s.env.components.clone(), provider_vars);
    d.save(&s.state)?;
    write_inventory(s, &d)?;
    p.phase_end(
        "inventory",
        true,
        t.elapsed(),
        &format!("{} hosts → {}", d.contract.hosts.len(), s.state.inventory().display()),
        json!({ "hosts": d.contract.hosts.len(), "path": s.state.inventory() }),
    );
    Ok(d)
}

fn write_inventory(s: &Session, d: &Deployment) -> Result<()> {
    for (host, renewal) in ensure_certificates(&s.state, &d.contract, &d.provider_vars)? {
        if renewal != crate::tls::Renewal::Keep {
            s.printer.step("inventory", &format!("issued the TLS certificate of {host} ({renewal})"));
        }
    }
    let rendered = render_inventory(&s.ws, &s.env, &s.state, &d.contract, d.provider_vars.clone())?;
    write_atomic(&s.state.inventory(), serde_json::to_string_pretty(&rendered).unwrap().as_bytes(), 0o600)
}

/// The environment's CA and each host's certificate, created or issued
/// again where `tls::decide` says so (`.obsctl/<env>/tls`).
pub fn ensure_certificates(
    state: &crate::workspace::StateDir,
    contract: &Contract,
    provider_vars: &Map<String, Value>,
) -> Result<std::collections::BTreeMap<String, crate::tls::Renewal>> {
    // On aws Grafana's public name is the load balancer's.
    let lb = provider_vars.get("grafana_root_url").and_then(Value::as_str).and_then(|u| {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        rest.split(['/', ':']).next().filter(|h| !h.is_empty())
    });
    crate::tls::ensure(&state.tls(), &crate::tls::wanted_names(contract, lb))
}

/// The Ansible inventory of `env` for `contract`, with this checkout's paths.
pub fn render_inventory(
    ws: &crate::workspace::Workspace,
    env: &crate::environment::Environment,
    state: &crate::workspace::StateDir,
    contract: &Contract,
    provider_vars: Map<String, Value>,
) -> Result<Value> {
    let app_binary = target_dir(ws).join("release/orders-api");
    let web_users = crate::tls::web_users(&state.secrets_dir())?;
    let ctx = inventory::Context {
        env,
        secrets_dir: &state.secrets_dir(),
        known_hosts: &state.known_hosts(),
        app_binary: &app_binary,
        tls: &state.tls(),
        web_users: &web_users,
        provider_vars,
    };
    Ok(inventory::render(contract, &ctx))
}

fn wait_for_hosts(s: &Session, contract: &Contract, args: &UpArgs) -> Result<()> {
    let p = s.printer;
    let t = Instant::now();
    let total = contract.hosts.len();
    p.phase_start("hosts", &format!("waiting for SSH on {total} hosts"));
    let mut ready = 0;
    crate::ssh::wait_for_hosts(contract, &s.state.known_hosts(), &s.env.name, Duration::from_secs(args.ssh_timeout), |name, took| {
        ready += 1;
        p.step("hosts", &format!("{name} answers SSH ({:.1}s) [{ready}/{total}]", took.as_secs_f64()));
    })
    .map_err(|e| {
        if e.hint.is_some() {
            return e;
        }
        e.hint(format!("is the machine up? `obsctl status --env {}`; the provider's log: {}", s.env.name, s.log("terraform.log").display()))
    })?;
    p.phase_end("hosts", true, t.elapsed(), &format!("{total} hosts answer SSH"), json!({ "hosts": total }));
    Ok(())
}

fn configure(s: &Session, secrets: &Secrets) -> Result<Recap> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("ansible", "configuring (ansible/site.yml)");
    // A host that dropped its SSH connection is retried once; failed tasks never are.
    let recap = retry(
        Backoff::exponential(2, Duration::from_secs(5)),
        |_| playbook(s, secrets).run("site.yml", &[]),
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

fn verify(s: &Session, env: &crate::environment::Environment, contract: &Contract, args: &UpArgs) -> Result<crate::verify::Verified> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("verify", "checking readiness and scrape targets");
    let access = crate::tls::Access::load(&s.state, &env.name)?;
    let verified = crate::verify::run(env, contract, &access, Duration::from_secs(args.verify_timeout), |m| p.progress(m))?;
    p.phase_end("verify", true, t.elapsed(), &format!("{} scrape targets up", verified.targets), json!({ "targets": verified.targets }));
    Ok(verified)
}

fn summarize(
    s: &Session,
    d: &Deployment,
    configured: Option<(u32, &ConfigPath)>,
    verified: &crate::verify::Verified,
    timings: Timings,
) -> Result<()> {
    let (p, env, contract) = (s.printer, &s.env, &d.contract);
    let changed = configured.map(|(c, _)| c);
    let mut urls = Map::new();
    let mut lines = vec![format!(
        "Environment `{}` is up: {} hosts, {} scrape targets up{}.",
        env.name,
        contract.hosts.len(),
        verified.targets,
        changed.map(|c| format!(", {c} changed tasks")).unwrap_or_default()
    )];
    if let Some((_, path)) = configured {
        lines.push(match path {
            ConfigPath::Fast { .. } => format!("  Configuration: fast path, Ansible skipped ({})", path.reasons().join("; ")),
            ConfigPath::Full(r) => format!("  Configuration: full Ansible run ({})", r.join("; ")),
        });
    }
    // Read from the hosts, not assumed from the env file.
    let installed = crate::installed::read(env, contract, &s.state.known_hosts());
    for (i, line) in crate::installed::describe(&installed).into_iter().enumerate() {
        lines.push(format!("  {:<13} {line}", if i == 0 { "Installed" } else { "" }));
    }
    let mut add = |name: &str, list: &[String]| {
        for (i, u) in list.iter().enumerate() {
            lines.push(format!("  {:<13} {u}", if i == 0 { name } else { "" }));
        }
        urls.insert(name.to_string(), json!(list));
    };
    add("Prometheus", &verified.prometheus_urls);
    add("Alertmanager", &verified.alertmanager_urls);
    // Behind a load balancer (aws), Grafana's address is the balancer's.
    let grafana_lb = d.provider_vars.get("grafana_root_url").and_then(|u| u.as_str()).filter(|_| env.enabled("grafana"));
    if let Some(url) = grafana_lb {
        add("Grafana", &[url.to_string()]);
    }
    // Only URLs an admin can reach: on aws the security groups open
    // Prometheus and Alertmanager to admin_cidrs and Grafana through its load
    // balancer; Grafana's and the application's own ports are closed to them.
    let direct: &[(&str, &str)] =
        if env.provider == crate::environment::Provider::Aws { &[] } else { &[("grafana", "Grafana"), ("app", "orders-api")] };
    for &(component, label) in direct {
        if component == "grafana" && grafana_lb.is_some() {
            continue;
        }
        if env.enabled(component) {
            let list: Vec<String> = crate::verify::base_urls(env, contract, component).into_iter().map(|(_, u)| u).collect();
            add(label, &list);
        }
    }
    let password_file = s.state.secrets_dir().join("grafana_admin_password");
    if env.enabled("grafana") {
        lines.push(format!("  Grafana login: admin / password in {}", password_file.display()));
    }
    // Where the credentials are, never what they are.
    let ca_file = s.state.tls().ca_cert();
    let operator_password = crate::tls::password_file(&s.state.secrets_dir(), crate::tls::OPERATOR);
    lines.push(format!(
        "  Credentials:  HTTPS with the CA {}; basic auth as {} / password in {}",
        ca_file.display(),
        crate::tls::OPERATOR,
        operator_password.display()
    ));
    lines.push(format!("  Run logs:     {}", s.run_dir.display()));
    p.summary(
        &lines.join("\n"),
        json!({ "ok": true, "environment": env.name, "hosts": contract.hosts.keys().collect::<Vec<_>>(), "targets_up": verified.targets,
                "changed_tasks": changed, "urls": urls,
                "path": configured.map(|(_, p)| p.name()), "path_reasons": configured.map(|(_, p)| p.reasons()),
                "os": env.os.name(), "installed": crate::installed::to_json(&installed), "grafana_password_file": password_file,
                "credentials": { "ca_file": ca_file, "user": crate::tls::OPERATOR, "password_file": operator_password },
                "timings": timings, "elapsed_s": secs(p.elapsed()), "own_cpu_s": secs(crate::report::own_cpu()),
                "run_log": s.run_dir }),
    );
    Ok(())
}

fn target_dir(ws: &crate::workspace::Workspace) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| ws.root.join("target"))
}

/// Work that does not depend on the machines, overlapped with Terraform:
/// installing Ansible and building the application.
struct Background {
    handles: Vec<(&'static str, JoinHandle<Result<()>>)>,
}

fn start_background(s: &Session) -> Background {
    let mut handles = Vec::new();
    let venv = Venv::location(&s.ws);
    let log = s.log("prepare.log");
    let quiet = Printer::new(crate::report::OutputFormat::Human, false);
    handles.push(("ansible venv", std::thread::spawn(move || venv.ensure(&quiet, &log))));
    if s.env.enabled("app") {
        let root = s.ws.root.clone();
        let log = s.log("build.log");
        handles.push((
            "orders-api build",
            std::thread::spawn(move || {
                Child::new("cargo", Phase::Prerequisite)
                    .args(["build", "--release", "--locked", "-p", "orders-api"])
                    .what("cargo build --release -p orders-api")
                    .cwd(&root)
                    .log(&log)
                    .run(|_| {})?;
                Ok(())
            }),
        ));
    }
    Background { handles }
}

impl Background {
    fn join(self, p: &Printer) -> Result<()> {
        for (what, h) in self.handles {
            p.progress(&format!("waiting for {what}"));
            h.join().map_err(|_| Error::internal(format!("{what} panicked")))??;
        }
        Ok(())
    }
}
