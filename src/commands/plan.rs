//! `obsctl plan`: does reality still match the code? Terraform
//! `plan -detailed-exitcode` for the infrastructure and, once that is in
//! sync, Ansible `--check --diff` for the configuration of every host. One
//! verdict: exit 0 in sync, 2 on drift (with the resources and tasks).

use std::time::Instant;

use serde_json::json;

use crate::deploy::session::Session;
use crate::error::Result;
use crate::report::Printer;
use crate::tools::ansible::Venv;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let s = Session::open(env_name, "plan", printer)?;
    crate::check::prerequisites::ensure(&s.env, printer, &s.log("prepare.log"))?;
    crate::tools::ssh::ensure_key(&s.state.ssh_key(), &s.env.name)?;

    let tf = s.terraform();
    printer.phase_start("terraform", "plan -detailed-exitcode");
    let t = Instant::now();
    tf.write_vars(true)?;
    tf.init()?;
    let plan = tf.plan()?;
    let _ = std::fs::remove_file(s.state.plan_file());
    printer.phase_end(
        "terraform",
        true,
        t.elapsed(),
        &plan.describe(),
        json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy }),
    );

    // Configuration drift, when the infrastructure itself is in sync and deployed.
    let (deployed, env) = match crate::deploy::session::deployed(&s.state, &s.env) {
        Ok((d, env)) => (Some(d), env),
        Err(_) => (None, s.env.clone()),
    };
    let mut drifted_tasks: Vec<String> = Vec::new();
    let mut checked_config = false;
    let mut host_drift: Vec<String> = Vec::new();
    let mut quick_in_sync = false;
    let mut looked_installed = None;
    // A change of `os`: `up` rolls it, one host at a time (docs/upgrades.md),
    // and configures every host as it goes: not compared before.
    let roll = crate::state::os_roll::roll(&s.state, &env).map(|r| r.lines).unwrap_or_default();
    if let Some(d) = deployed
        .as_ref()
        .filter(|d| roll.is_empty() && !plan.changes_resources() && d.reached >= crate::state::deployment::Reached::Configured)
    {
        // The same quick check as `up`'s fast path: when the inputs are those
        // last converged and every host is as recorded, Ansible is not needed.
        let t = Instant::now();
        printer.phase_start("check", "comparing the hosts with their last converged state");
        let rendered = crate::deploy::inventory::render_inventory(&s.ws, &env, &s.state, &d.contract, d.provider_vars.clone())?;
        let inventory = crate::error::to_json_pretty(&rendered)?;
        let digest = crate::check::drift::digest(&crate::check::drift::Inputs {
            ansible_dir: &s.ws.ansible_dir(),
            env_file: &env.file,
            inventory: &inventory,
            state: &s.state,
        })?;
        let options = crate::tools::ssh::contract_options(&d.contract, &s.state.known_hosts());
        let (verdict, read) = crate::check::drift::check(&s.state, &digest, &env, &d.contract, &options);
        looked_installed = read;
        match verdict {
            crate::check::drift::Verdict::Converged { .. } => quick_in_sync = true,
            crate::check::drift::Verdict::Drift(reasons) => host_drift = reasons,
        }
        printer.phase_end(
            "check",
            true,
            t.elapsed(),
            &if quick_in_sync { "every host is as last converged".to_string() } else { format!("{} differences", host_drift.len()) },
            json!({ "in_sync": quick_in_sync, "reasons": host_drift }),
        );
        checked_config = quick_in_sync;
    }
    if !quick_in_sync
        && roll.is_empty()
        && !plan.changes_resources()
        && deployed.as_ref().is_some_and(|d| d.reached >= crate::state::deployment::Reached::Configured)
    {
        let t = Instant::now();
        printer.phase_start("ansible", "site.yml --check --diff");
        let secrets = crate::state::secrets::prepare(&env, &s.state.secrets_dir())?;
        Venv::location(&s.ws).ensure(|m| printer.step("ansible", m), &s.log("prepare.log"))?;
        let recap = crate::deploy::configure::playbook(&s, &secrets).run("site.yml", &["--check", "--diff"])?;
        drifted_tasks = recap.changed_tasks;
        checked_config = true;
        printer.phase_end(
            "ansible",
            true,
            t.elapsed(),
            &format!("{} tasks would change", drifted_tasks.len()),
            json!({ "changed": drifted_tasks.len(), "changed_tasks": drifted_tasks }),
        );
    }

    // Updates of the managed packages are not drift (the hosts are as the
    // code says): listed, applied only by `up --upgrade` (docs/upgrades.md).
    // Read with the check when it looked at the hosts (plan changes nothing in between).
    let installed = deployed
        .as_ref()
        .map(|d| looked_installed.unwrap_or_else(|| crate::check::installed::read(&env, &d.contract, &s.state.known_hosts())));
    let in_sync = !plan.changes_resources() && drifted_tasks.is_empty() && roll.is_empty();
    let mut lines = vec![if in_sync {
        format!("`{}` is in sync with its code (infrastructure{}).", s.env.name, if checked_config { " and configuration" } else { "" })
    } else {
        format!("Drift in `{}`: run `obsctl up --env {}` to converge.", s.env.name, s.env.name)
    }];
    lines.extend(roll.iter().map(|l| format!("  {l}")));
    let switch = deployed.as_ref().and_then(|d| crate::deploy::provision::bastion_switch(&s.env, &d.contract));
    lines.extend(switch.iter().map(|l| format!("  {l}")));
    if plan.changes {
        lines.push(format!("  terraform: {}", plan.describe()));
        for r in &plan.destroyed {
            lines.push(format!("    destroys {r}"));
        }
    }
    for d in &host_drift {
        lines.push(format!("  quick check: {d}"));
    }
    for task in &drifted_tasks {
        lines.push(format!("  ansible would change  {task}"));
    }
    if let Some(installed) = &installed {
        lines.extend(crate::check::installed::updates_lines(installed, &s.env.name, "  "));
    }
    // The user's own inputs and existing hosts against what the last `up` applied.
    let own = crate::check::user_inputs::record(&s.env);
    let never = crate::state::deployment::UserRecord::default();
    let was = deployed.as_ref().map_or(Some(&never), |d| d.user.as_ref());
    let items = crate::check::user_inputs::compare(was, &own);
    let existing = crate::check::user_inputs::existing(&s.env, deployed.as_ref().map(|d| &d.contract));
    lines.extend(crate::check::user_inputs::lines(&existing, &items, installed.as_ref(), &s.env));
    if !checked_config && !plan.changes_resources() && roll.is_empty() {
        lines.push("  (configuration not checked: no `obsctl up` has configured this environment yet)".into());
    }
    printer.summary(
        &lines.join("\n"),
        json!({ "ok": true, "environment": s.env.name, "in_sync": in_sync, "add": plan.add, "change": plan.change,
                "destroy": plan.destroy, "destroyed": plan.destroyed, "configuration_checked": checked_config,
                "changed_tasks": drifted_tasks, "converged_check": host_drift, "release_roll": roll, "bastion_switch": switch,
                "updates_pending": installed.as_ref().map(crate::check::installed::pending_json),
                "existing_hosts": existing, "user_inputs": items, "run_log": s.run_dir }),
    );
    Ok(if in_sync { 0 } else { crate::error::DRIFT_EXIT })
}
