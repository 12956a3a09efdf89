//! `obsctl unlock`: release a Terraform state lock that a dead run left
//! (remote backends keep them; obsctl's own lock frees itself when its holder
//! dies). Takes obsctl's environment lock first, so a live run is never
//! unlocked under its feet.

use serde_json::json;

use crate::cli::UnlockArgs;
use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::report::Printer;

pub fn run(args: UnlockArgs, printer: &Printer) -> Result<u8> {
    let s = Session::open(&args.env.env, "unlock", printer)?;
    if !args.yes {
        if !s.interactive {
            return Err(Error::input("unlock asks for confirmation; without a terminal pass --yes")
                .hint(format!("obsctl unlock --env {} --lock-id {} --yes", s.env.name, args.lock_id)));
        }
        if !s.confirm(&format!(
            "Release Terraform lock {} of `{}`? Only do this if no other Terraform run is active.",
            args.lock_id, s.env.name
        )) {
            return Err(Error::input("not confirmed; the lock stays"));
        }
    }
    let tf = s.terraform();
    tf.write_vars(false)?;
    tf.init()?;
    tf.force_unlock(&args.lock_id)?;
    printer.summary(
        &format!("Released Terraform lock {} of `{}`.", args.lock_id, s.env.name),
        json!({ "ok": true, "environment": s.env.name, "lock_id": args.lock_id }),
    );
    Ok(0)
}
