//! `obsctl up`: prepare → terraform → inventory → hosts → ansible → verify.
//! Re-running after a failure resumes: Terraform is planned again (a plan
//! without changes is not applied) and configuration starts only once
//! Terraform is known good. `--only configure|verify` runs one part alone.

use serde_json::json;

use crate::cli::{OnlyPart, UpArgs};
use crate::deploy::configure::{choose_path, configure, inputs_digest, record, wait_for_hosts, ConfigPath};
use crate::deploy::inventory::{inventory_phase, write_inventory};
use crate::deploy::maintenance::Maintenance;
use crate::deploy::prepare::prepare;
use crate::deploy::provision::provision;
use crate::deploy::session::{deployed, secs, timed, Session, Timings};
use crate::deploy::verify::{summarize, verify};
use crate::error::Result;
use crate::state::converged::Converged;
use crate::state::deployment::{Deployment, Reached};

pub fn up(s: &Session, args: &UpArgs) -> Result<()> {
    let p = s.printer;
    let env = &s.env;
    let mut timings = Timings::new();
    p.info(&format!(
        "obsctl up --env {} ({} provider, {} hosts, components: {}); logs in {}",
        env.name,
        env.provider.name(),
        env.hosts.len(),
        env.components.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
        s.run_dir.display()
    ));

    if args.only == Some(OnlyPart::Verify) {
        let (mut d, env) = deployed(&s.state, &s.env)?;
        let verified = timed(&mut timings, "verify", || verify(s, &env, &d.contract, args, None)).map_err(|e| failed(s, e))?;
        d.reach(d.reached.max(Reached::Verified), &s.state)?;
        return summarize(s, &d, None, &verified, None, timings);
    }

    let (mut secrets, background) = timed(&mut timings, "prepare", || prepare(s, args))?;
    // Existing hosts: reachable, keys pinned, ports free, before any host changes.
    timed(&mut timings, "existing", || crate::deploy::existing::preflight(s))?;
    // silence_during_up: the hosts of the running deployment are silenced
    // until this function returns, whatever the outcome (Drop expires it).
    let running = Deployment::load(&s.state, &env.name).ok().flatten();
    if let Some(line) = running.as_ref().and_then(|r| crate::deploy::provision::bastion_switch(env, &r.contract)) {
        p.info(&line);
    }
    let mut maintenance = match &running {
        Some(r) if env.alertmanager.silence_during_up && !args.skip_configure => Maintenance::start(env, &r.contract, &s.state, p),
        _ => None,
    };
    let mut tf_changed = false;
    let mut d = if args.only == Some(OnlyPart::Configure) {
        let mut d = Deployment::require(&s.state, &env.name)?;
        // Re-render: the env file or --without may have changed since.
        d.components = env.components.clone();
        d.contract = crate::deploy::existing::merge(s, Some(&d.contract.clone()), d.contract.clone());
        d.save(&s.state)?;
        crate::tools::ssh::record_host_keys(Some(&d.contract), &d.contract, &s.state.known_hosts())?;
        write_inventory(s, &d)?;
        d
    } else {
        let (waited, applied) = timed(&mut timings, "terraform", || provision(s, args))?;
        tf_changed = applied.hosts;
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
    // The bastion switched on, off or replaced: the silence is expired the new way.
    if let Some(m) = maintenance.as_mut() {
        m.follow(&contract);
    }
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
    // The bastion, if any (just created, replaced or switched on), answers
    // before anything looks through it; else exit 30 naming it, the hosts
    // untouched and their converged record kept (the next up may be fast).
    crate::tools::ssh::wait_for_bastion_of(&contract, &s.state.known_hosts(), std::time::Duration::from_secs(args.ssh_timeout))?;
    let (path, mut installed) = timed(&mut timings, "check", || Ok(choose_path(s, args, tf_changed, &contract, &digest)))?;
    let mut record_after_verify = None;
    let mut before = None;
    let mut converge_and_verify = || {
        let changed = match &path {
            ConfigPath::Fast { .. } => 0,
            ConfigPath::Full(_) => {
                // From here until it is recorded again, the hosts are not known to be converged.
                Converged::forget(&s.state);
                timed(&mut timings, "hosts", || wait_for_hosts(s, &contract, args))?;
                // --upgrade: the versions before, for the summary's before → after.
                before = args.upgrade.then(|| crate::check::installed::read(env, &contract, &s.state.known_hosts()));
                let recap = timed(&mut timings, "ansible", || configure(s, &secrets, args.upgrade))?;
                let (recorded, read) = timed(&mut timings, "record", || record(s, &contract, &digest))?;
                (record_after_verify, installed) = (recorded, read);
                recap.changed()
            }
        };
        d.user = Some(crate::check::user_inputs::record(env));
        d.reach(Reached::Configured, &s.state)?;
        let verified = timed(&mut timings, "verify", || verify(s, env, &contract, args, installed.take()))?;
        d.reach(Reached::Verified, &s.state)?;
        Ok((changed, verified))
    };
    let (changed, verified) = converge_and_verify().map_err(|e| failed(s, e))?;
    // Recorded as converged only now that the hosts were verified.
    if let Some(r) = record_after_verify {
        r.save(&s.state)?;
    }
    drop(maintenance);
    summarize(s, &d, Some((changed, &path)), &verified, before.as_ref(), timings)
}

/// A run that failed configuring or verifying the hosts leaves the converged
/// record saying so: the next `up` takes the full path.
fn failed(s: &Session, e: crate::error::Error) -> crate::error::Error {
    if let Err(m) = Converged::mark_failed(&s.state, &format!("{} failed, exit {}", e.phase.name(), e.phase.exit_code())) {
        s.printer.warn(&format!("could not note the failure in the converged record: {}", m.message));
    }
    e
}
