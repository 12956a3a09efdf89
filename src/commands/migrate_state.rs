//! `obsctl migrate-state`: after `[state]` of an environment changed (say,
//! from the local file to a team's S3 bucket), move the Terraform state there
//! with `terraform init -migrate-state`. `up`, `plan` and `destroy` refuse to
//! run until the state is where the file says, so nothing is created twice.

use serde_json::json;

use super::Session;
use crate::error::Result;
use crate::report::Printer;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let s = Session::open(env_name, "migrate-state", printer)?;
    let env = &s.env;
    crate::prerequisites::ensure(env, printer, &s.log("prepare.log"))?;
    crate::ssh::ensure_key(&s.state.ssh_key(), &env.name)?;
    let tf = s.terraform();
    tf.write_vars()?;
    let moved = tf.migrate_state()?;
    let resources = tf.resource_count()?;
    match moved {
        None => printer.summary(
            &format!("The state of `{}` is already where {} says ({resources} resources); nothing to move.", env.name, env.file.display()),
            json!({ "ok": true, "environment": env.name, "moved": false, "resources": resources }),
        ),
        Some((from, to)) => printer.summary(
            &format!(
                "Moved the state of `{}` ({resources} resources) from the {from} to the {to}. The old copy is left in place{}.",
                env.name,
                if from.starts_with("local file") { " as terraform.tfstate.migrated" } else { "; delete it once teammates have switched" }
            ),
            json!({ "ok": true, "environment": env.name, "moved": true, "from": from, "to": to, "resources": resources }),
        ),
    }
    Ok(0)
}
