//! The provision phase: Terraform's variables, init, plan, approval, apply.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::UpArgs;
use crate::deploy::session::{secs, Session};
use crate::error::{Error, Result};
use crate::tools::terraform::Terraform;

/// What an apply changed: a host (not only the bastion), or anything at all.
pub struct Applied {
    pub hosts: bool,
    pub any: bool,
}

/// Plans and applies; returns the time spent waiting for the user's approval
/// and what was applied.
pub fn provision(s: &Session, args: &UpArgs) -> Result<(Duration, Applied)> {
    let (p, env) = (s.printer, &s.env);
    let t = Instant::now();
    let mut waited = Duration::ZERO;
    p.phase_start("terraform", &format!("terraform/stacks/{}", env.provider.name()));
    let tf = s.terraform();
    tf.write_vars(true)?;
    tf.init()?;
    if ensure_grafana_db_password(&tf)? {
        p.step("terraform", &format!("generated Grafana's database password in {}", s.state.secrets_dir().display()));
    }
    for host in &args.replace {
        if !env.hosts.iter().any(|h| &h.name == host) {
            let names: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(Error::input(format!("--replace {host}: `{}` has no host of that name (hosts: {})", env.name, names.join(", ")))
                .hint(format!("obsctl up --env {} --replace {}", env.name, names.first().copied().unwrap_or("HOST"))));
        }
    }
    p.progress("planning");
    let plan = tf.plan_replacing(&args.replace)?;
    if plan.changes {
        p.step("terraform", &format!("plan: {}", plan.describe()));
        if env.protected && !plan.destroyed.is_empty() && !args.allow_destroy {
            return Err(Error::input(format!(
                "the plan destroys or replaces {} resource(s) of protected environment `{}`; nothing was applied \
                 (a replaced machine keeps its data volume; a destroyed host loses it)",
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
    // Replacing only the bastion changes no host: the fast path's look at
    // the hosts decides (PlanSummary::changes_hosts).
    Ok((waited, Applied { hosts: plan.changes_hosts(), any: plan.changes }))
}

/// Before `up` plans (this policy is obsctl's, not Terraform's): makes sure the password obsctl passes is the one
/// the database has. Generates it for a new database (version 1);
/// refuses when the state already holds a database but this checkout has
/// no password for it (a new one would lock Grafana out of its data) or
/// an older one than the state's. Returns whether it generated one (the
/// variables file is rewritten then).
pub fn ensure_grafana_db_password(tf: &Terraform) -> Result<bool> {
    if !tf.env.grafana_on_rds() {
        return Ok(false);
    }
    let dir = tf.state.secrets_dir();
    let local = crate::state::secrets::read_grafana_db_password(&dir);
    let in_state = tf.grafana_db_in_state()?;
    let env = &tf.env.name;
    let file = crate::state::secrets::grafana_db_password_file(&dir);
    match (local, in_state) {
        (None, None) => {
            crate::state::secrets::write_grafana_db_password(&dir, 1)?;
            tf.write_vars(true)?;
            Ok(true)
        }
        (None, Some(v)) => Err(Error::input(format!(
            "the Terraform state of `{env}` holds Grafana's database (password version {v}), but this checkout has no \
             password for it ({} is missing); a new one would reach Grafana but not the data it needs",
            file.display()
        ))
        .hint(format!(
            "copy .obsctl/{env}/secrets/ from whoever ran `up` last, or set a new password on the database and Grafana: \
             obsctl rotate-secret --env {env} grafana-db && obsctl up --env {env}"
        ))),
        (Some(db), Some(v)) if db.version < v => Err(Error::input(format!(
            "{} holds password version {}, older than the version {v} Grafana's database of `{env}` has (someone rotated it)",
            file.display(),
            db.version
        ))
        .hint(format!(
            "copy .obsctl/{env}/secrets/ from whoever rotated it, or rotate again: obsctl rotate-secret --env {env} grafana-db"
        ))),
        _ => Ok(false),
    }
}
