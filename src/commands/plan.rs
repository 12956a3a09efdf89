//! `obsctl plan`: what `up` would change in the infrastructure.
//! Exit 0 in sync, 2 on drift.

use serde_json::json;

use super::Session;
use crate::error::Result;
use crate::report::Printer;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let s = Session::open(env_name, "plan", printer)?;
    crate::prerequisites::ensure(&s.env, printer, &s.log("prepare.log"))?;
    crate::ssh::ensure_key(&s.state.ssh_key(), &s.env.name)?;
    let tf = s.terraform();
    tf.write_vars()?;
    printer.phase_start("terraform", "plan");
    let t = std::time::Instant::now();
    tf.init()?;
    let plan = tf.plan()?;
    let _ = std::fs::remove_file(s.state.plan_file());
    printer.phase_end("terraform", true, t.elapsed(), &plan.describe(), json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy }));
    let mut human = if plan.changes {
        format!("Drift in `{}`: {} (run `obsctl up --env {}` to apply)", s.env.name, plan.describe(), s.env.name)
    } else {
        format!("`{}` is in sync with its code.", s.env.name)
    };
    for r in &plan.destroyed {
        human.push_str(&format!("\n  destroys {r}"));
    }
    printer.summary(
        &human,
        json!({ "ok": true, "environment": s.env.name, "in_sync": !plan.changes, "add": plan.add, "change": plan.change,
                "destroy": plan.destroy, "destroyed": plan.destroyed }),
    );
    Ok(if plan.changes { 2 } else { 0 })
}
