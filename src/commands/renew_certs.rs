//! `obsctl renew-certs`: new certificates for every host now, from the
//! environment's CA, sent to the hosts by a configuration run (the services
//! read them on their next handshake). `up` renews on its own those with
//! fewer than 30 days left. `--rotate-ca` replaces the CA itself in the three
//! runs of `state::ca_rotation`.

use crate::cli::UpArgs;
use crate::deploy::session::{interrupted_hint, Session};
use crate::error::Result;
use crate::report::Printer;
use crate::state::ca_rotation;
use crate::state::deployment::Deployment;
use crate::state::workspace::Workspace;

pub fn run(env_name: &str, rotate_ca: bool, printer: &Printer) -> Result<u8> {
    let name = env_name.to_string();
    // The environment as it was deployed (keeps `--without`).
    let s = Session::open_with(env_name, "renew-certs", printer, |env| {
        let d = Deployment::require(&Workspace::discover()?.state(&name), &name)?;
        Ok(env.as_deployed(&d.components))
    })?;
    let run_log = s.log("obsctl.log");
    let tls = s.state.tls();
    let configure = || crate::deploy::up::up(&s, &UpArgs::reconfigure(&name, 120));
    let go = || {
        if !rotate_ca {
            let n = crate::state::tls::forget_hosts(&tls)?;
            printer.info(&format!("renewing the certificates of {n} host(s); the configuration run sends them"));
            return configure();
        }
        let steps = ca_rotation::remaining(&tls)?;
        if steps.len() < ca_rotation::Step::ALL.len() {
            printer.info(&format!("going on with the CA rotation that was interrupted: {} step(s) left", steps.len()));
        }
        let total = ca_rotation::Step::ALL.len();
        for step in steps {
            let n = ca_rotation::Step::ALL.iter().position(|s| *s == step).unwrap_or(0) + 1;
            printer.info(&format!("CA rotation, step {n} of {total}: {}", step.describe()));
            ca_rotation::prepare(&tls, step)?;
            configure()?;
            ca_rotation::done(&tls, step)?;
        }
        printer.info(&format!("the CA of `{name}` is new; every host certificate is issued by it and trusted by it alone"));
        Ok(())
    };
    go().map_err(|e| interrupted_hint(e, &name, if rotate_ca { "renew-certs --rotate-ca" } else { "renew-certs" }).or_log(run_log))?;
    Ok(0)
}
