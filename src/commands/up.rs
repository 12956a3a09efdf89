//! `obsctl up`: provision → inventory → wait for hosts → configure → verify.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map};

use super::{interrupted_hint, secs, Session};
use crate::ansible::{Playbook, Venv};
use crate::cli::UpArgs;
use crate::error::{Error, Phase, Result};
use crate::inventory;
use crate::process::Child;
use crate::report::Printer;
use crate::workspace::write_atomic;

pub fn run(args: UpArgs, printer: &Printer) -> Result<u8> {
    let mut s = Session::open(&args.env.env, "up", printer)?;
    s.env.disable(&args.without)?;
    let run_log = s.log("obsctl.log");
    up(&s, &args).map_err(|e| interrupted_hint(e, &s.env.name, "up").or_log(run_log))?;
    Ok(0)
}

fn up(s: &Session, args: &UpArgs) -> Result<()> {
    let p = s.printer;
    let env = &s.env;
    let mut timings = Map::new();
    let auto_approve = args.auto_approve || !s.interactive;
    p.info(&format!(
        "obsctl up --env {} ({} provider, {} hosts, components: {}); logs in {}",
        env.name,
        env.provider.name(),
        env.hosts.len(),
        env.components.iter().cloned().collect::<Vec<_>>().join(", "),
        s.run_dir.display()
    ));

    // --- prepare: prerequisites, key, secrets; slow local work in the background
    let t = Instant::now();
    p.phase_start("prepare", "checking prerequisites");
    crate::prerequisites::ensure(env, p, &s.log("prepare.log"))?;
    let new_key = crate::ssh::ensure_key(&s.state.ssh_key(), &env.name)?;
    if new_key {
        p.step("prepare", &format!("created SSH key {}", s.state.ssh_key().display()));
    }
    let secrets = crate::secrets::prepare(env, &s.state.secrets_dir())?;
    let venv = Venv::location(&s.ws);
    let background = (!args.skip_configure).then(|| start_background(s, &venv));
    p.phase_end("prepare", true, t.elapsed(), "prerequisites ok", json!({}));
    timings.insert("prepare".into(), json!(secs(t.elapsed())));

    // --- terraform
    let t = Instant::now();
    p.phase_start("terraform", &format!("terraform/stacks/{}", env.provider.name()));
    let tf = s.terraform();
    tf.write_vars()?;
    tf.init()?;
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
        if !auto_approve && !s.confirm(&format!("Apply this plan to `{}` ({})?", env.name, plan.describe())) {
            return Err(Error::input("plan not approved; nothing was applied").hint("re-run with --auto-approve to skip the question"));
        }
        p.progress("applying");
        tf.apply()?;
    }
    let tf_msg = if plan.changes { format!("applied: {}", plan.describe()) } else { "no changes".into() };
    p.phase_end("terraform", true, t.elapsed(), &tf_msg, json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy }));
    timings.insert("terraform".into(), json!(secs(t.elapsed())));

    // --- inventory
    let t = Instant::now();
    p.phase_start("inventory", "reading obsctl_inventory");
    let raw = tf.output_inventory()?;
    let contract = inventory::parse(&raw, env)?;
    let app_binary = target_dir(s).join("release/orders-api");
    let ctx = inventory::Context {
        env,
        secrets_dir: &s.state.secrets_dir(),
        known_hosts: &s.state.known_hosts(),
        app_binary: &app_binary,
        receiver_password_files: secrets.receiver_password_files.clone(),
    };
    let rendered = inventory::render(&contract, &ctx);
    write_atomic(&s.state.inventory(), serde_json::to_string_pretty(&rendered).unwrap().as_bytes(), 0o600)?;
    write_atomic(&s.state.dir.join("contract.json"), raw.as_bytes(), 0o600)?;
    p.phase_end(
        "inventory",
        true,
        t.elapsed(),
        &format!("{} hosts → {}", contract.hosts.len(), s.state.inventory().display()),
        json!({ "hosts": contract.hosts.len(), "path": s.state.inventory() }),
    );
    timings.insert("inventory".into(), json!(secs(t.elapsed())));

    if args.skip_configure {
        p.summary(
            &format!("Provisioned `{}` ({} hosts); configuration skipped (--skip-configure). Inventory: {}", env.name, contract.hosts.len(), s.state.inventory().display()),
            json!({ "ok": true, "environment": env.name, "configured": false, "hosts": contract.hosts.keys().collect::<Vec<_>>(),
                    "inventory": s.state.inventory(), "timings": timings, "run_log": s.run_dir }),
        );
        return Ok(());
    }

    // --- hosts
    let t = Instant::now();
    p.phase_start("hosts", &format!("waiting for SSH on {} hosts", contract.hosts.len()));
    let mut ready = 0;
    let total = contract.hosts.len();
    crate::ssh::wait_for_hosts(&contract, &crate::ssh::options(env.provider, &s.state.known_hosts()), Duration::from_secs(args.ssh_timeout), |name, took| {
        ready += 1;
        p.step("hosts", &format!("{name} answers SSH ({:.1}s) [{ready}/{total}]", took.as_secs_f64()));
    })
    .map_err(|e| e.hint(format!("is the machine up? `obsctl status --env {}`; the provider's log: {}", env.name, s.log("terraform.log").display())))?;
    p.phase_end("hosts", true, t.elapsed(), &format!("{total} hosts answer SSH"), json!({ "hosts": total }));
    timings.insert("hosts".into(), json!(secs(t.elapsed())));

    // --- ansible
    let t = Instant::now();
    p.phase_start("ansible", "configuring (ansible/site.yml)");
    if let Some(bg) = background {
        bg.join(p)?;
    }
    let playbook = Playbook {
        ws: &s.ws,
        venv: &venv,
        inventory: &s.state.inventory(),
        log: &s.log("ansible.log"),
        printer: p,
        redact: secrets.values.clone(),
        env_name: &env.name,
    };
    let recap = playbook.run("site.yml", &[])?;
    let changed = recap.changed();
    p.phase_end(
        "ansible",
        true,
        t.elapsed(),
        &format!("{} tasks, {changed} changed", recap.tasks),
        json!({ "tasks": recap.tasks, "changed": changed, "hosts": recap.hosts }),
    );
    timings.insert("ansible".into(), json!(secs(t.elapsed())));

    // --- verify
    let t = Instant::now();
    p.phase_start("verify", "checking readiness and scrape targets");
    let verified = crate::verify::run(env, &contract, Duration::from_secs(args.verify_timeout), |m| p.progress(m))?;
    p.phase_end("verify", true, t.elapsed(), &format!("{} scrape targets up", verified.targets), json!({ "targets": verified.targets }));
    timings.insert("verify".into(), json!(secs(t.elapsed())));

    let mut urls = Map::new();
    let mut lines = vec![format!("Environment `{}` is up: {} hosts, {} scrape targets up, {changed} changed tasks.", env.name, contract.hosts.len(), verified.targets)];
    let mut add = |name: &str, list: &[String]| {
        for (i, u) in list.iter().enumerate() {
            lines.push(format!("  {:<13} {u}", if i == 0 { name } else { "" }));
        }
        urls.insert(name.to_string(), json!(list));
    };
    add("Prometheus", &verified.prometheus_urls);
    add("Alertmanager", &verified.alertmanager_urls);
    for (component, port, label) in [("grafana", 3000u16, "Grafana"), ("app", env.app.port, "orders-api")] {
        if env.enabled(component) {
            let list: Vec<String> = contract
                .hosts
                .values()
                .filter(|h| h.roles.iter().any(|r| r == component))
                .map(|h| format!("http://{}:{port}", crate::verify::host_for_url(&h.address)))
                .collect();
            add(label, &list);
        }
    }
    if env.enabled("grafana") {
        lines.push(format!("  Grafana login: admin / password in {}", secrets.grafana_password_file.display()));
    }
    lines.push(format!("  Run logs:     {}", s.run_dir.display()));
    p.summary(
        &lines.join("\n"),
        json!({ "ok": true, "environment": env.name, "hosts": contract.hosts.keys().collect::<Vec<_>>(), "targets_up": verified.targets,
                "changed_tasks": changed, "urls": urls, "grafana_password_file": secrets.grafana_password_file,
                "timings": timings, "elapsed_s": secs(p.elapsed()), "run_log": s.run_dir }),
    );
    Ok(())
}

fn target_dir(s: &Session) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| s.ws.root.join("target"))
}

/// Work that does not depend on the machines, overlapped with Terraform:
/// building the application and installing Ansible.
struct Background {
    handles: Vec<(&'static str, JoinHandle<Result<()>>)>,
}

fn start_background(s: &Session, venv: &Venv) -> Background {
    let mut handles = Vec::new();
    let venv_dir = venv.dir.clone();
    let log = s.log("prepare.log");
    let quiet = Printer::new(crate::report::OutputFormat::Human, false);
    handles.push((
        "ansible venv",
        std::thread::spawn(move || Venv { dir: venv_dir }.ensure(&quiet, &log)),
    ));
    if s.env.enabled("app") {
        let root = s.ws.root.clone();
        let log = s.log("build.log");
        handles.push((
            "orders-api build",
            std::thread::spawn(move || {
                let done = Child::new("cargo", Phase::Prerequisite)
                    .args(["build", "--release", "--locked", "-p", "orders-api"])
                    .cwd(&root)
                    .log(&log)
                    .run(|_| {})?;
                if done.code != 0 {
                    return Err(Error::prerequisite("building the application (cargo build --release -p orders-api) failed")
                        .details(done.tail.into_iter().rev().take(10).rev().collect())
                        .log(log));
                }
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

