//! `obsctl silence`: maintenance silences on the environment's Alertmanager
//! cluster (Alertmanager's v2 API). A silence created on one peer reaches
//! the others by gossip, so each request goes to the first peer that answers.
//! `up` uses the same calls for its maintenance silence (`Maintenance`).

use std::time::Duration;

use serde_json::json;

use crate::cli::{SilenceArgs, SilenceCommand};
use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::report::Printer;
use crate::state::deployment::Deployment;
use crate::tools::alertmanager::{check_id, default_author, duration_secs, Cluster, Matcher, Silence};

pub fn run(args: SilenceArgs, printer: &Printer) -> Result<u8> {
    // Bad input is refused before anything is looked up.
    let mut add = None;
    let s = Session::open_unlocked(&args.env.env, "silence", printer, |env| {
        match &args.command {
            SilenceCommand::Add { matchers, duration, comment, .. } => add = Some(check_add(matchers, duration, comment)?),
            SilenceCommand::Expire { ids } => {
                for id in ids {
                    check_id(id, &env.name)?;
                }
            }
            SilenceCommand::List { .. } => {}
        }
        Ok(())
    })?;
    let env = &s.env;
    let d = Deployment::require(&s.state, &env.name)?;
    let am = Cluster::new(env, &d.contract, &s.state.known_hosts(), &crate::state::tls::Access::load(&s.state, &env.name)?)?;
    match args.command {
        SilenceCommand::Add { duration, comment, author, .. } => {
            let Some((matchers, secs)) = add else { return Err(Error::internal("silence add without its checked matchers")) };
            let author = author.unwrap_or_else(default_author);
            let id = am.create(&matchers, Duration::from_secs(secs), &comment, &author)?;
            let shown: Vec<String> = matchers.iter().map(Matcher::to_string).collect();
            printer.summary(
                &format!(
                    "Silence {id} on `{}`: {} for {duration} by {author}.\n  Expire it early: obsctl silence --env {} expire {id}",
                    env.name,
                    shown.join(", "),
                    env.name
                ),
                json!({ "ok": true, "environment": env.name, "id": id, "matchers": shown, "duration_s": secs, "author": author,
                        "comment": comment, "alertmanager": am.answered() }),
            );
        }
        SilenceCommand::List { all } => {
            let list = am.list()?;
            let shown: Vec<&Silence> = list.iter().filter(|s| all || s.state != "expired").collect();
            let mut lines = vec![format!(
                "{} silence(s) on `{}`{}",
                shown.len(),
                env.name,
                if all { "" } else { " (active and pending; --all adds expired)" }
            )];
            for s in &shown {
                lines.push(format!(
                    "{}  {:<8} until {}  {}  by {}: {}",
                    s.id,
                    s.state,
                    s.ends_at,
                    s.matchers.join(", "),
                    s.created_by,
                    s.comment
                ));
            }
            printer.summary(&lines.join("\n"), json!({ "ok": true, "environment": env.name, "silences": shown }));
        }
        SilenceCommand::Expire { ids } => {
            for id in &ids {
                am.expire(id)?;
            }
            printer.summary(
                &format!("Expired {} silence(s) on `{}`: {}", ids.len(), env.name, ids.join(", ")),
                json!({ "ok": true, "environment": env.name, "expired": ids }),
            );
        }
    }
    Ok(0)
}

fn check_add(matchers: &[String], duration: &str, comment: &str) -> Result<(Vec<Matcher>, u64)> {
    let matchers = matchers.iter().map(|m| Matcher::parse(m)).collect::<Result<Vec<_>>>()?;
    let secs = duration_secs(duration)
        .ok_or_else(|| Error::input(format!("--duration `{duration}` is not a duration like 30m, 2h, 1d (units s, m, h, d, w)")))?;
    if comment.trim().is_empty() {
        return Err(Error::input("--comment is empty: say why the alerts are silenced (it is shown to whoever is on call)"));
    }
    Ok((matchers, secs))
}
