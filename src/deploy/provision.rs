//! The provision phase: Terraform's variables, init, plan, approval, apply.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::UpArgs;
use crate::deploy::session::{secs, Session};
use crate::error::{Error, Result};

/// Plans and applies; returns the time spent waiting for the user's approval
/// and whether anything was applied.
pub fn provision(s: &Session, args: &UpArgs) -> Result<(Duration, bool)> {
    let (p, env) = (s.printer, &s.env);
    let t = Instant::now();
    let mut waited = Duration::ZERO;
    p.phase_start("terraform", &format!("terraform/stacks/{}", env.provider.name()));
    let tf = s.terraform();
    tf.write_vars(true)?;
    tf.init()?;
    if tf.ensure_grafana_db_password()? {
        p.step("terraform", &format!("generated Grafana's database password in {}", s.state.secrets_dir().display()));
    }
    p.progress("planning");
    let plan = tf.plan()?;
    if plan.changes {
        p.step("terraform", &format!("plan: {}", plan.describe()));
        if env.protected && !plan.destroyed.is_empty() && !args.allow_destroy {
            return Err(Error::input(format!(
                "the plan destroys or replaces {} resource(s) of protected environment `{}`; nothing was applied",
                plan.destroyed.len(),
                env.name
            ))
            .details(plan.destroyed.clone())
            .hint(format!("review with `obsctl plan --env {}`; to go ahead: obsctl up --env {} --allow-destroy", env.name, env.name)));
        }
        let auto_approve = args.auto_approve || !s.interactive;
        if !auto_approve {
            // Time spent waiting for the user is not Terraform's.
            let asked = Instant::now();
            let question = format!(
                "Terraform will change these resources of `{}`:\n{}\nApply this plan ({})?",
                env.name,
                plan.resource_lines().join("\n"),
                plan.describe()
            );
            let approved = s.confirm(&question);
            waited = asked.elapsed();
            if !approved {
                return Err(Error::input("plan not approved; nothing was applied").hint("re-run with --auto-approve to skip the question"));
            }
        }
        p.progress("applying");
        tf.apply()?;
    }
    let msg = if plan.changes { format!("applied: {}", plan.describe()) } else { "no changes".into() };
    let mut fields = json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy });
    if !waited.is_zero() {
        fields["approval_wait_s"] = json!(secs(waited));
    }
    p.phase_end("terraform", true, t.elapsed().saturating_sub(waited), &msg, fields);
    Ok((waited, plan.changes))
}
