//! `obsctl migrate-state`: after `[state]` of an environment changed (say,
//! from the local file to a team's S3 bucket), move the Terraform state there
//! with `terraform init -migrate-state`. `up`, `plan` and `destroy` refuse to
//! run until the state is where the file says, so nothing is created twice.

use serde_json::json;

use crate::deploy::session::Session;
use crate::error::Result;
use crate::report::Printer;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let s = Session::open(env_name, "migrate-state", printer)?;
    let env = &s.env;
    crate::check::prerequisites::ensure(env, printer, &s.log("prepare.log"))?;
    crate::tools::ssh::ensure_key(&s.state.ssh_key(), &env.name)?;
    let tf = s.terraform();
    tf.write_vars(false)?;
    let moved = tf.migrate_state()?;
    let resources = tf.resource_count()?;
    match moved {
        None => printer.summary(
            &format!("The state of `{}` is already where {} says ({resources} resources); nothing to move.", env.name, env.file.display()),
            json!({ "ok": true, "environment": env.name, "moved": false, "resources": resources }),
        ),
        Some(moved) => printer.summary(
            &format!(
                "Moved the state of `{}` ({resources} resources) from the {} to the {}. {}",
                env.name,
                moved.from,
                moved.to,
                match &moved.backup {
                    Some(b) => format!("The old file is kept as {}.", b.display()),
                    None => "The old copy is left in place; delete it once teammates have switched.".into(),
                }
            ),
            json!({ "ok": true, "environment": env.name, "moved": true, "from": moved.from, "to": moved.to,
                    "backup": moved.backup, "resources": resources }),
        ),
    }
    Ok(0)
}
