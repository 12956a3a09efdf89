//! `obsctl destroy`: guarded teardown. A protected environment needs its
//! name typed (terminal) or `--confirm-env <name>` (pipeline).

use std::time::Instant;

use serde_json::json;

use crate::cli::DestroyArgs;
use crate::deploy::session::{interrupted_hint, secs, Session};
use crate::error::{Error, Result};
use crate::report::Printer;

pub fn run(args: DestroyArgs, printer: &Printer) -> Result<u8> {
    // A wrong --confirm-env is a bad argument: refused before anything is created.
    if let Some(name) = args.confirm_env.as_ref().filter(|n| **n != args.env.env) {
        return Err(Error::input(format!("--confirm-env {name} does not match the environment `{}`; nothing was destroyed", args.env.env)));
    }
    let s = Session::open(&args.env.env, "destroy", printer)?;
    let run_log = s.log("obsctl.log");
    destroy(&s, &args).map_err(|e| interrupted_hint(e, &s.env.name, "destroy").or_log(run_log))?;
    Ok(0)
}

fn destroy(s: &Session, args: &DestroyArgs) -> Result<()> {
    let p = s.printer;
    let env = &s.env;
    let tf = s.terraform();
    // The state may be remote: count what it manages through Terraform.
    crate::check::prerequisites::ensure(env, p, &s.log("prepare.log"))?;
    // Counting needs no variables: an environment never deployed gets no SSH
    // key, no secret and no variables file.
    tf.init()?;
    let before = tf.resource_count()?;
    if before == 0 {
        cleanup(s);
        p.summary(
            &format!("Environment `{}` has nothing to destroy.", env.name),
            json!({ "ok": true, "environment": env.name, "destroyed": 0 }),
        );
        return Ok(());
    }

    if args.confirm_env.is_some() {
        // Checked against the name before the session opened.
    } else if env.protected {
        if !s.interactive {
            return Err(Error::input(format!(
                "`{}` is protected: destroying it without a terminal needs --confirm-env {}",
                env.name, env.name
            ))
            .hint(format!("obsctl destroy --env {} --confirm-env {}", env.name, env.name)));
        }
        let typed = p.prompt(&format!(
            "`{}` is a protected environment. {before} resources will be destroyed.\nType the environment's name to confirm: ",
            env.name
        ));
        if typed != env.name {
            return Err(Error::input("confirmation did not match; nothing was destroyed"));
        }
    } else if !args.auto_approve && s.interactive && !s.confirm(&format!("Destroy `{}` ({before} resources)?", env.name)) {
        return Err(Error::input("not confirmed; nothing was destroyed"));
    }

    // Hosts obsctl did not create keep running: it only takes back what it installed there.
    if let Ok(Some(d)) = crate::state::deployment::Deployment::load(&s.state, &env.name) {
        crate::deploy::existing::remove_departed(p, &s.state, &env.registry, &d.contract, &Default::default());
    }
    let t = Instant::now();
    p.phase_start("terraform", &format!("destroying {before} resources"));
    crate::tools::ssh::ensure_key(&s.state.ssh_key(), &env.name)?;
    tf.write_vars(false)?;
    tf.destroy()?;
    p.phase_end("terraform", true, t.elapsed(), &format!("destroyed {before} resources"), json!({ "destroyed": before }));
    cleanup(s);
    p.summary(
        &format!("Environment `{}` destroyed ({before} resources). Logs: {}", env.name, s.run_dir.display()),
        json!({ "ok": true, "environment": env.name, "destroyed": before, "elapsed_s": secs(p.elapsed()), "run_log": s.run_dir }),
    );
    Ok(())
}

/// Files that describe machines that no longer exist: the deployment record,
/// the inventory derived from it, their pinned SSH host keys, a leftover plan
/// (and the record files of obsctl before the deployment record), the
/// restore record of Grafana's RDS database (a later environment starts
/// empty unless restored again). Secrets, the SSH key and run logs stay.
fn cleanup(s: &Session) {
    crate::state::deployment::Deployment::forget(&s.state);
    crate::state::db_restore::clear(&s.state);
    // known_hosts.old: the copy `ssh-keygen -R` keeps when a key is forgotten.
    for f in [s.state.inventory(), s.state.known_hosts(), s.state.known_hosts().with_extension("old"), s.state.plan_file()] {
        let _ = std::fs::remove_file(f);
    }
    for old in ["contract.json", "provider-vars.json", "progress.json"] {
        let _ = std::fs::remove_file(s.state.dir.join(old));
    }
}
