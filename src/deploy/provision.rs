//! The provision phase: Terraform's variables, init, plan, approval, apply.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::UpArgs;
use crate::deploy::session::{secs, Session};
use crate::error::{Error, Result};
use crate::model::contract::Contract;
use crate::model::environment::{Environment, LabSettings};
use crate::tools::terraform::Terraform;

/// What an apply changed: a host (not only the bastion).
pub struct Applied {
    pub hosts: bool,
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
    let bastion_replaced = check_replace(env, &args.replace)?;
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
        if bastion_replaced {
            forget_bastion_key(s)?;
        }
    }
    let msg = if plan.changes { format!("applied: {}", plan.describe()) } else { "no changes".into() };
    let mut fields = json!({ "add": plan.add, "change": plan.change, "destroy": plan.destroy });
    if !waited.is_zero() {
        fields["approval_wait_s"] = json!(secs(waited));
    }
    p.phase_end("terraform", true, t.elapsed().saturating_sub(waited), &msg, fields);
    // Replacing only the bastion changes no host: the fast path's look at
    // the hosts decides (PlanSummary::changes_hosts).
    Ok((waited, Applied { hosts: plan.changes_hosts() }))
}

/// Checks `--replace`'s names: hosts of the environment, or `bastion`
/// (its bastion, when it has one and no host has that name). Returns
/// whether the bastion is replaced.
fn check_replace(env: &Environment, replace: &[String]) -> Result<bool> {
    let bastion = LabSettings::BASTION_NAME;
    let names: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
    let mut replaced = false;
    for name in replace {
        if names.contains(&name.as_str()) {
            continue;
        }
        if name == bastion && env.has_bastion() {
            replaced = true;
            continue;
        }
        let what = if name == bastion {
            format!("`{}` has no bastion ([lab] bastion = true gives the lab one)", env.name)
        } else {
            format!("`{}` has no host of that name (hosts: {})", env.name, names.join(", "))
        };
        return Err(Error::input(format!("--replace {name}: {what}")).hint(format!(
            "obsctl up --env {} --replace {}",
            env.name,
            names.first().copied().unwrap_or("HOST")
        )));
    }
    Ok(replaced)
}

/// After `--replace bastion` on a stack that does not publish the bastion's
/// host key (aws: learnt on first use): the replaced bastion's key is
/// forgotten, so the new one is trusted on first use and pinned (its
/// fingerprint in the run log) instead of refused. A stack that publishes
/// it (the lab) has the new key pinned from the contract.
fn forget_bastion_key(s: &Session) -> Result<()> {
    let Some(d) = crate::state::deployment::Deployment::load(&s.state, &s.env.name)? else { return Ok(()) };
    let Some(bastion) = d.contract.ssh.bastion.as_ref().filter(|_| d.contract.ssh.bastion_host_key.is_none()) else { return Ok(()) };
    let (_, host) = crate::tools::ssh::bastion_parts(bastion);
    crate::tools::ssh::forget_key(&s.state.known_hosts(), host, 22)?;
    s.printer.step("terraform", &format!("bastion {bastion} replaced: its old host key forgotten, the new one is pinned on first use"));
    Ok(())
}

/// What `up` does to the way to the hosts when the env file switches the
/// lab's bastion on or off in a running environment (`deployed`: the
/// contract of the last `up`); None when it does not.
pub fn bastion_switch(env: &Environment, deployed: &Contract) -> Option<String> {
    let lab = env.provider.lab()?;
    match (lab.bastion, &deployed.ssh.bastion) {
        (true, None) => Some(format!(
            "bastion switched on ([lab] bastion = true in {}): up creates the machine `{}`, isolates the network (the lab host \
             may then connect only to the bastion) and reaches every host through it; no host is replaced",
            env.file.display(),
            LabSettings::BASTION_NAME
        )),
        (false, Some(b)) => Some(format!(
            "bastion switched off (no [lab] bastion = true in {}): up removes the bastion {b} and the isolation and reaches \
             every host directly; no host is replaced",
            env.file.display()
        )),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Environment {
        crate::model::environment::parse("jump", std::path::Path::new("/environments/jump.toml"), text).unwrap()
    }

    const DIRECT: &str = "provider = \"lab\"\ncomponents = [\"prometheus\", \"alertmanager\", \"node_exporter\"]\n[lab]\nbridge = \"obs-jump\"\ncidr = \"10.92.0.0/24\"\n[[hosts]]\nname = \"mon-1\"\nroles = [\"prometheus\", \"alertmanager\"]\n";

    /// Issue 32: `--replace bastion` names the bastion when the environment
    /// has one; on a lab without, it is refused naming why.
    #[test]
    fn replace_names_hosts_or_the_bastion() {
        let direct = env(DIRECT);
        let behind = env(&DIRECT.replace("cidr = \"10.92.0.0/24\"\n", "cidr = \"10.92.0.0/24\"\nbastion = true\n"));
        assert!(!check_replace(&direct, &["mon-1".into()]).unwrap());
        assert!(check_replace(&behind, &["bastion".into(), "mon-1".into()]).unwrap());
        let e = check_replace(&direct, &["bastion".into()]).unwrap_err();
        assert!(e.message.contains("`jump` has no bastion ([lab] bastion = true"), "{}", e.message);
        let e = check_replace(&behind, &["mon-2".into()]).unwrap_err();
        assert!(e.message.contains("--replace mon-2: `jump` has no host of that name (hosts: mon-1)"), "{}", e.message);
    }

    /// Issue 32: the lab's bastion switched on or off in a running
    /// environment is said (up's info, plan's line); unchanged, nothing.
    #[test]
    fn a_bastion_switched_on_or_off_is_said() {
        let direct = env(DIRECT);
        let behind = env(&DIRECT.replace("cidr = \"10.92.0.0/24\"\n", "cidr = \"10.92.0.0/24\"\nbastion = true\n"));
        let contract = |bastion: Option<&str>| {
            let mut v = crate::model::contract::tests::contract();
            v["ssh"]["bastion"] = serde_json::json!(bastion);
            crate::model::contract::parse(&v.to_string(), &crate::model::contract::tests::env()).unwrap()
        };
        let (without, with) = (contract(None), contract(Some("root@10.92.0.9")));
        assert!(bastion_switch(&behind, &without).is_some_and(|l| l.starts_with("bastion switched on")));
        assert!(bastion_switch(&direct, &with).is_some_and(|l| l.contains("switched off") && l.contains("root@10.92.0.9")));
        assert_eq!(bastion_switch(&behind, &with), None);
        assert_eq!(bastion_switch(&direct, &without), None);
    }
}
