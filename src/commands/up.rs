//! `obsctl up`: prepare → terraform → inventory → hosts → ansible → verify.
//! Re-running after a failure resumes: Terraform is planned again (a plan
//! without changes is not applied) and configuration starts only once
//! Terraform is known good. `--only configure|verify` runs one part alone.

use crate::cli::UpArgs;
use crate::deploy::session::{interrupted_hint, Session};
use crate::error::Result;
use crate::report::Printer;

pub fn run(args: UpArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open_with(&args.env.env, "up", printer, |env| {
        let env = env.without(&args.without)?;
        env.check_deployable()?;
        Ok(env)
    })?;
    let run_log = s.log("obsctl.log");
    crate::deploy::roll::up(&s, &args).map_err(|e| interrupted_hint(e, &s.env.name, "up").or_log(run_log))?;
    Ok(0)
}
