//! `obsctl restore`: an archive of `obsctl backup` put back (`deploy::restore`).

use serde_json::json;

use crate::cli::RestoreArgs;
use crate::deploy::restore::Outcome;
use crate::deploy::session::{interrupted_hint, secs, Session};
use crate::error::Result;
use crate::report::Printer;
use crate::state::deployment::Deployment;
use crate::state::workspace::Workspace;

pub fn run(args: RestoreArgs, printer: &Printer) -> Result<u8> {
    let name = args.env.env.clone();
    // The environment as it was deployed (a reconfiguration keeps `--without`).
    let s = Session::open_with(&name, "restore", printer, |env| {
        Ok(match Deployment::load(&Workspace::discover()?.state(&name), &name)? {
            Some(d) => env.as_deployed(&d.components),
            None => env,
        })
    })?;
    let run_log = s.log("obsctl.log");
    let go = || {
        let key = crate::deploy::backup::key_path(&s, args.key.as_deref())?;
        let opened = crate::deploy::restore::open(&args.from, &name, args.accept_env.as_deref(), &s.log("restore.log"))?;
        let outcome = crate::deploy::restore::restore(&s, &opened, &args.from, &key, args.verify_timeout, args.keep_grafana_db)?;
        Ok::<_, crate::error::Error>((opened.manifest, outcome))
    };
    let (manifest, outcome) = go().map_err(|e| interrupted_hint(e, &name, "restore").or_log(run_log))?;
    let from = args.from.display();
    match outcome {
        Outcome::ControllerOnly { written } => printer.summary(
            &format!(
                "`{name}` is not up: its controller state from {from} (taken {}) is back ({} files: CA, passwords, SSH key).\n  \
                 Next: obsctl up --env {name}   (it uses them), then: obsctl restore --env {name} --from {from}   (the data)",
                manifest.created,
                written.len()
            ),
            json!({ "ok": true, "environment": name, "archive": args.from, "created": manifest.created, "controller_only": true,
                    "written": written, "elapsed_s": secs(printer.elapsed()) }),
        ),
        Outcome::Restored { reconfigured, restored, silences } => printer.summary(
            &format!(
                "Restored `{name}` from {from} (taken {}): {}; {silences} silence(s) created again{}; verified.",
                manifest.created,
                restored.join(", "),
                if reconfigured { "; hosts reconfigured with the archive's CA and passwords" } else { "" }
            ),
            json!({ "ok": true, "environment": name, "archive": args.from, "created": manifest.created, "restored": restored,
                    "silences": silences, "reconfigured": reconfigured, "elapsed_s": secs(printer.elapsed()) }),
        ),
    }
    Ok(0)
}
