//! `obsctl renew-certs`: new certificates for every host now, from the
//! environment's CA, sent to the hosts by a configuration run (the services
//! read them on their next handshake). `up` renews on its own those with
//! fewer than 30 days left.

use crate::cli::UpArgs;
use crate::deploy::session::{interrupted_hint, Session};
use crate::error::Result;
use crate::report::Printer;
use crate::state::deployment::Deployment;
use crate::state::workspace::Workspace;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let name = env_name.to_string();
    // The environment as it was deployed (keeps `--without`).
    let s = Session::open_with(env_name, "renew-certs", printer, |env| {
        let d = Deployment::require(&Workspace::discover()?.state(&name), &name)?;
        Ok(env.as_deployed(&d.components))
    })?;
    let run_log = s.log("obsctl.log");
    let go = || {
        let n = crate::state::tls::forget_hosts(&s.state.tls())?;
        printer.info(&format!("renewing the certificates of {n} host(s); the configuration run sends them"));
        let args = UpArgs::reconfigure(&name, 120);
        crate::deploy::up::up(&s, &args)
    };
    go().map_err(|e| interrupted_hint(e, &name, "renew-certs").or_log(run_log))?;
    Ok(0)
}
