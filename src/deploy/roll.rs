//! A change of the env file's `os` (the Debian release), rolled one host at a
//! time: each host still on the old release is replaced the way
//! `up --replace HOST` replaces it (its data volume kept and attached to the
//! new machine), configured and verified, before the next one is touched.
//! `.obsctl/<env>/os-roll.json` (src/state/os_roll.rs) records how far it
//! got; a roll that fails stops at that host and the next `up` resumes there.

use std::time::Instant;

use crate::cli::UpArgs;
use crate::deploy::session::Session;
use crate::error::{Error, Result};
use crate::state::os_roll::{self, Record, Stopped, GAP_ESTIMATE_S};

/// `up`: a plain run, or, when hosts do not run the env file's release yet,
/// a roll of them (of those `--replace` names, when it names any).
pub fn up(s: &Session, args: &UpArgs) -> Result<()> {
    let env = &s.env;
    let todo = os_roll::to_roll(&s.state, env);
    // --only and --skip-configure change no machine: no roll.
    if todo.is_empty() || args.only.is_some() || args.skip_configure {
        return crate::deploy::up::up(s, args);
    }
    let now = os_roll::current_os(&s.state, env);
    let hosts = this_run(&todo, &args.replace, &env.name)?;
    let mut record = match Record::load(&s.state)? {
        Some(r) if r.target == env.os.name() => r,
        previous => {
            let mut r = Record::start(env, &now);
            r.seconds = previous.map(|p| p.seconds).unwrap_or_default();
            r
        }
    };
    // Each host's release before this run (the host a run stopped at still counts as on its old one).
    let before = record.hosts.clone();
    let from = |h: &str| before.get(h).cloned().unwrap_or_default();
    accept_gaps(s, args, &record, &hosts)?;
    let p = s.printer;
    p.info(&format!(
        "{} → {}: replacing {} one host at a time, each with its data volume kept, configured and verified before the next{}",
        hosts.first().map(|h| from(h)).unwrap_or_default(),
        env.os.name(),
        hosts.join(", "),
        match &record.stopped {
            Some(st) => format!(" (resuming at {}, where the last run stopped in {})", st.host, st.step),
            None => String::new(),
        }
    ));
    for (i, host) in hosts.iter().enumerate() {
        record.current = Some(host.clone());
        record.save(&s.state)?;
        p.info(&format!("release roll {}/{}: {host} {} → {}", i + 1, hosts.len(), from(host), env.os.name()));
        let t = Instant::now();
        let step = UpArgs { replace: vec![host.clone()], full: true, ..args.clone() };
        if let Err(e) = crate::deploy::up::up(s, &step) {
            record.stopped = Some(Stopped { host: host.clone(), step: e.phase.name().into(), at: crate::report::timestamp() });
            record.save(&s.state)?;
            return Err(stopped(e, &record, host, &hosts[i + 1..], &env.name));
        }
        record.hosts.insert(host.clone(), env.os.name().into());
        record.seconds.insert(host.clone(), (t.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        record.current = None;
        record.stopped = None;
        record.save(&s.state)?;
    }
    let left = os_roll::pending(env, &os_roll::current_os(&s.state, env));
    // The run that replaced the last Alertmanager peer kept the flags that need
    // every peer on the new release (obsctl_roll_replacing): one more
    // configuration, with every peer answering, restarts them in turn.
    if left.is_empty() && hosts.last().is_some_and(|h| clustered_alertmanager(env, h)) {
        p.info(&format!(
            "every host runs {}: one more configuration, the Alertmanager peers restarted one at a time where their flags change",
            env.os.name()
        ));
        crate::deploy::up::up(s, &UpArgs { replace: Vec::new(), full: true, ..args.clone() })?;
    }
    if !left.is_empty() {
        p.info(&format!(
            "{} still run{} {}: `obsctl up --env {}` rolls {}",
            left.join(", "),
            if left.len() == 1 { "s" } else { "" },
            from(&left[0]),
            env.name,
            if left.len() == 1 { "it" } else { "them, one at a time" }
        ));
    }
    Ok(())
}

/// Whether `host` runs an Alertmanager that has peers.
fn clustered_alertmanager(env: &crate::model::environment::Environment, host: &str) -> bool {
    use crate::model::component::ComponentId::Alertmanager;
    env.enabled(Alertmanager) && env.hosts_with_role(Alertmanager).any(|h| h.name == host) && env.hosts_with_role(Alertmanager).count() > 1
}

/// The hosts this run rolls: all still to roll, or those `--replace` names.
fn this_run(todo: &[String], replace: &[String], env: &str) -> Result<Vec<String>> {
    if replace.is_empty() {
        return Ok(todo.to_vec());
    }
    let done: Vec<&String> = replace.iter().filter(|h| !todo.contains(h)).collect();
    if !done.is_empty() {
        return Err(Error::input(format!(
            "--replace {}: a change of `os` is rolling, and {} already run{} the new release; --replace picks which of the \
             hosts still to roll are replaced now ({})",
            replace.join(","),
            done.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", "),
            if done.len() == 1 { "s" } else { "" },
            todo.join(", ")
        ))
        .hint(format!("obsctl up --env {env} --replace {}   (or `obsctl up --env {env}` to roll them all)", todo[0])));
    }
    Ok(todo.iter().filter(|h| replace.contains(h)).cloned().collect())
}

/// A host whose component has no peer leaves that component down while it
/// is replaced: asks on a terminal, needs --accept-gap off one.
fn accept_gaps(s: &Session, args: &UpArgs, record: &Record, hosts: &[String]) -> Result<()> {
    let env = &s.env;
    let lonely: Vec<String> = hosts
        .iter()
        .filter_map(|h| {
            let alone = os_roll::without_peers(env, h);
            (!alone.is_empty()).then(|| format!("{h} ({})", alone.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")))
        })
        .collect();
    if lonely.is_empty() || args.accept_gap {
        return Ok(());
    }
    let gap = match record.measured_gap() {
        Some((host, secs)) => format!("about {secs:.0} s each, as measured for {host}, the longest replacement of this environment so far"),
        None => format!(
            "about {GAP_ESTIMATE_S} s each (an estimate: a new machine, its first configuration and verify; no replacement of `{}` \
             has been measured yet)",
            env.name
        ),
    };
    let what = format!(
        "changing `os` replaces {} whose component has no peer: it is down while its host is replaced, {gap}. \
         Its data volume is kept and attached to the new machine",
        lonely.join(", ")
    );
    if s.interactive {
        if s.confirm(&format!("{what}.\nGo ahead?")) {
            return Ok(());
        }
        return Err(Error::input("release roll not approved; nothing was replaced")
            .hint(format!("add a peer to the environment first, or accept the gap: obsctl up --env {} --accept-gap", env.name)));
    }
    Err(Error::input(format!("{what}; off a terminal that needs --accept-gap (nothing was replaced)")).hint(format!(
        "obsctl up --env {} --accept-gap   (or roll the hosts with peers first: obsctl up --env {} --replace HOST)",
        env.name, env.name
    )))
}

/// The error of a roll that stopped at `host`: what failed there, which hosts
/// are rolled, which still run the old release (and serve), and how to resume.
fn stopped(mut e: Error, record: &Record, host: &str, after: &[String], env: &str) -> Error {
    let old = record.hosts.get(host).cloned().unwrap_or_default();
    let done: Vec<&str> =
        record.hosts.iter().filter(|(h, os)| **os == record.target && h.as_str() != host).map(|(h, _)| h.as_str()).collect();
    e.message = format!("release roll {old} → {} stopped at {host} ({}): {}", record.target, e.phase.name(), e.message);
    e.details.push(format!(
        "rolled: {}; not touched (still on {old}, serving): {}",
        if done.is_empty() { "none".to_string() } else { done.join(", ") },
        if after.is_empty() { "none".to_string() } else { after.join(", ") }
    ));
    let first = e.hint.take().map(|h| format!("{h}; then ")).unwrap_or_default();
    e.hint = Some(format!("{first}`obsctl up --env {env}` resumes the roll at {host} (recorded in .obsctl/{env}/os-roll.json)"));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn replace_picks_hosts_still_to_roll_in_roll_order() {
        let todo = v(&["mon-1", "mon-2", "mon-3", "app-1"]);
        assert_eq!(this_run(&todo, &[], "rl").unwrap(), todo);
        assert_eq!(this_run(&todo, &v(&["mon-2", "mon-1"]), "rl").unwrap(), v(&["mon-1", "mon-2"]));
        let e = this_run(&v(&["mon-2"]), &v(&["mon-1"]), "rl").unwrap_err();
        assert_eq!(e.phase.exit_code(), 10);
        assert!(e.message.contains("mon-1 already runs the new release"), "{}", e.message);
        assert!(e.hint.unwrap().contains("--replace mon-2"));
    }

    #[test]
    fn only_an_alertmanager_with_peers_asks_for_the_configuration_after_the_roll() {
        let text = format!("{}[[hosts]]\nname = \"mon-2\"\nroles = [\"alertmanager\"]\n", crate::model::environment::tests::GOOD);
        let env = crate::model::environment::parse("rl", std::path::Path::new("environments/rl.toml"), &text).unwrap();
        assert!(clustered_alertmanager(&env, "mon-2"));
        assert!(clustered_alertmanager(&env, "mon-1"));
        assert!(!clustered_alertmanager(&env, "app-1"), "no Alertmanager there");
        let single =
            crate::model::environment::parse("rl", std::path::Path::new("environments/rl.toml"), crate::model::environment::tests::GOOD)
                .unwrap();
        assert!(!clustered_alertmanager(&single, "mon-1"), "a single Alertmanager has no peer to wait for");
    }

    #[test]
    fn a_stopped_roll_names_the_host_the_step_the_others_and_the_next_command() {
        let mut r = Record {
            target: "debian-13".into(),
            hosts: [("mon-1", "debian-13"), ("mon-2", "debian-12"), ("app-1", "debian-12")]
                .iter()
                .map(|(h, o)| (h.to_string(), o.to_string()))
                .collect(),
            current: Some("mon-2".into()),
            stopped: None,
            seconds: Default::default(),
        };
        r.stopped = Some(Stopped { host: "mon-2".into(), step: "verify".into(), at: "t".into() });
        let e = Error::new(crate::error::Phase::Verify, "1 target down").hint("read journalctl -u prometheus on mon-2");
        let e = stopped(e, &r, "mon-2", &v(&["app-1"]), "rl");
        assert_eq!(e.phase.exit_code(), 50, "the exit code stays the failed step's");
        assert_eq!(e.message, "release roll debian-12 → debian-13 stopped at mon-2 (verify): 1 target down");
        assert_eq!(e.details, ["rolled: mon-1; not touched (still on debian-12, serving): app-1"]);
        let hint = e.hint.unwrap();
        assert!(hint.starts_with("read journalctl -u prometheus on mon-2; then `obsctl up --env rl` resumes the roll at mon-2"), "{hint}");
    }
}
