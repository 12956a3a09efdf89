//! Grafana's database on RDS (`[grafana] database = "postgres"`, aws) in
//! `obsctl backup` and `obsctl restore` (the item `grafana-rds-snapshot` of
//! `model::backup::ITEMS`). `backup` takes a manual DB snapshot through the
//! RDS API and waits until it is available; it stays in RDS, outside the
//! archive, and the manifest names it. `restore` checks first that it
//! exists; on an environment that is not up it records it, and the next `up`
//! creates the database from it (`state::db_restore`); a running database is
//! never overwritten.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::deploy::session::Session;
use crate::error::{Error, Phase, Result};
use crate::model::backup::{rds_instance, rds_snapshot, RDS_SNAPSHOT_POLL, RDS_SNAPSHOT_TIMEOUT};
use crate::model::component::ComponentId;
use crate::model::environment::{Environment, Provider};
use crate::state::db_restore::{self, DbRestore};
use crate::tools::aws::{AwsCli, DbSnapshot};

pub const ITEM: &str = "grafana-rds-snapshot";

/// A snapshot outside the archive, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The item of `model::backup::ITEMS` it stands for.
    pub item: String,
    pub identifier: String,
    /// The RDS instance it is a snapshot of.
    pub instance: String,
    pub region: String,
    /// RFC 3339: when RDS started the snapshot.
    pub created: String,
    pub arn: Option<String>,
}

/// Why the environment has no RDS database to snapshot (None: it has one).
pub fn not_applicable(env: &Environment) -> Option<String> {
    if !env.grafana_on_rds() {
        Some(format!("{ITEM}: Grafana's database is not on RDS in this environment"))
    } else if !env.enabled(ComponentId::Grafana) {
        Some(format!("{ITEM}: grafana is not deployed"))
    } else {
        None
    }
}

fn cli(s: &Session, env: &Environment) -> Result<AwsCli> {
    let Provider::Aws(aws) = &env.provider else {
        return Err(Error::internal("an RDS snapshot outside the aws provider"));
    };
    let cli = AwsCli::new(&s.ws, aws, &s.log("aws.log"));
    cli.ensure(|msg| s.printer.step(ITEM, msg))?;
    Ok(cli)
}

/// Takes the snapshot of `env`'s Grafana database for the archive `archive`
/// (its name) taken at `stamp` (YYYYMMDDhhmmss), and waits until it is available.
pub fn take(s: &Session, env: &Environment, stamp: &str, archive: &str) -> Result<SnapshotRecord> {
    let p = s.printer;
    let cli = cli(s, env)?;
    let region = match &env.provider {
        Provider::Aws(aws) => aws.region.clone(),
        Provider::Lab(_) => String::new(),
    };
    let instance = rds_instance(&env.name);
    let id = rds_snapshot(&env.name, stamp);
    let tags = [("Environment", env.name.as_str()), ("ManagedBy", "obsctl"), ("ObsctlArchive", archive)];
    p.step(ITEM, &format!("snapshot {id} of {instance} ({region})"));
    let started = cli.create_db_snapshot(&instance, &id, &tags).map_err(|e| {
        e.hint(format!("the instance {instance} must exist and be available: obsctl status --env {}; nothing was written", env.name))
    })?;
    let t = Instant::now();
    let done = wait_for(
        &started,
        &Waiting { env: &env.name, region: &region, timeout: RDS_SNAPSHOT_TIMEOUT, poll: RDS_SNAPSHOT_POLL },
        || cli.describe_db_snapshot(&id),
        |snap| p.progress(&format!("snapshot {id}: {}{} after {}s", snap.status, percent(snap), t.elapsed().as_secs())),
        |d| {
            crate::signals::check()?;
            std::thread::sleep(d);
            Ok(())
        },
    )?;
    p.step(ITEM, &format!("snapshot {id} available after {}s", t.elapsed().as_secs()));
    Ok(SnapshotRecord {
        item: ITEM.into(),
        identifier: done.identifier,
        instance,
        region,
        created: done.created.unwrap_or_default(),
        arn: done.arn,
    })
}

fn percent(s: &DbSnapshot) -> String {
    s.percent.map(|p| format!(" {p}%")).unwrap_or_default()
}

/// What a wait is bounded by, and what its errors name.
pub struct Waiting<'a> {
    pub env: &'a str,
    pub region: &'a str,
    pub timeout: Duration,
    pub poll: Duration,
}

/// Asks `describe` every `poll` until the snapshot is `available`; an end in
/// another state, its disappearance or the timeout is an error naming it
/// and what to type next. `sleep` is the pause (and the interrupt check).
pub fn wait_for(
    started: &DbSnapshot,
    w: &Waiting,
    mut describe: impl FnMut() -> Result<Option<DbSnapshot>>,
    mut progress: impl FnMut(&DbSnapshot),
    mut sleep: impl FnMut(Duration) -> Result<()>,
) -> Result<DbSnapshot> {
    let id = &started.identifier;
    let look = format!("aws rds describe-db-snapshots --region {} --db-snapshot-identifier {id}", w.region);
    let again = format!("obsctl backup --env {}", w.env);
    let mut current = started.clone();
    let mut waited = Duration::ZERO;
    loop {
        match current.status.as_str() {
            "available" => return Ok(current),
            "creating" | "pending" | "" => {}
            other => {
                return Err(Error::new(
                    Phase::Verify,
                    format!("the RDS snapshot {id} of {} ended `{other}`; the archive was not written", current.instance),
                )
                .hint(format!(
                    "look at it ({look}), delete it (aws rds delete-db-snapshot --region {} --db-snapshot-identifier {id}), then: {again}",
                    w.region
                )))
            }
        }
        if waited >= w.timeout {
            return Err(Error::new(
                Phase::Verify,
                format!(
                    "the RDS snapshot {id} is still `{}`{} after {} minutes; the archive was not written",
                    current.status,
                    percent(&current),
                    w.timeout.as_secs() / 60
                ),
            )
            .hint(format!(
                "RDS goes on with it: wait for it (aws rds wait db-snapshot-available --region {} --db-snapshot-identifier {id}) \
                 or delete it (aws rds delete-db-snapshot --region {} --db-snapshot-identifier {id}), then: {again}",
                w.region, w.region
            )));
        }
        progress(&current);
        sleep(w.poll)?;
        waited += w.poll;
        current = describe()?.ok_or_else(|| {
            Error::new(Phase::Verify, format!("the RDS snapshot {id} disappeared while obsctl waited for it; the archive was not written"))
                .hint(format!("someone or something deleted it: {again}"))
        })?;
    }
}

/// What `restore` does with the archive's snapshots, decided before anything
/// is written: every one must exist (else an error naming it); on an
/// environment that is not up, the record `up` reads (returned); on one that
/// is up, nothing if its database was created from the snapshot, else a
/// refusal (a running database is never overwritten). `keep`
/// (`--keep-grafana-db`): leave Grafana's database as it is, unchecked.
pub fn plan_restore(s: &Session, snapshots: &[SnapshotRecord], up: bool, keep: bool, archive: &str) -> Result<Option<DbRestore>> {
    let Some(snap) = snapshots.iter().find(|r| r.item == ITEM) else { return Ok(None) };
    let p = s.printer;
    let env = &s.env;
    if keep {
        p.step(ITEM, &format!("--keep-grafana-db: Grafana's database stays as it is; the snapshot {} is not used", snap.identifier));
        return Ok(None);
    }
    if !env.grafana_on_rds() {
        return Err(Error::input(format!(
            "the archive holds Grafana's database as the RDS snapshot {}, but `{}` does not keep Grafana's database on RDS; nothing was restored",
            snap.identifier, env.name
        ))
        .hint(format!("restore the rest without it: obsctl restore --env {} --from {archive} --keep-grafana-db", env.name)));
    }
    let cli = cli(s, env)?;
    if cli.describe_db_snapshot(&snap.identifier)?.is_none() {
        return Err(missing(snap, &env.name, cli.region(), archive));
    }
    p.step(ITEM, &format!("snapshot {} exists", snap.identifier));
    if !up {
        return Ok(Some(DbRestore { snapshot: snap.identifier.clone(), instance: snap.instance.clone(), taken: snap.created.clone() }));
    }
    let tf = s.terraform();
    match tf.grafana_db_snapshot()? {
        Some(Some(from)) if from == snap.identifier => {
            p.step(ITEM, &format!("{} was created from {from} by `up`: nothing to do", rds_instance(&env.name)));
            Ok(None)
        }
        None => {
            p.step(ITEM, "the environment has no Grafana database in its Terraform state: nothing to restore it into");
            Ok(None)
        }
        Some(from) => Err(running(snap, &env.name, from.as_deref(), archive)),
    }
}

/// The archive's snapshot is not in RDS.
pub fn missing(snap: &SnapshotRecord, env: &str, region: &str, archive: &str) -> Error {
    let elsewhere = if snap.region != region {
        format!(
            "; it was taken in {}: copy it here first (aws rds copy-db-snapshot --source-region {} --region {region} \
             --source-db-snapshot-identifier {} --target-db-snapshot-identifier {})",
            snap.region,
            snap.region,
            snap.arn.as_deref().unwrap_or(&snap.identifier),
            snap.identifier
        )
    } else {
        String::new()
    };
    Error::input(format!(
        "the archive's snapshot of Grafana's database, {} (of {}, taken {}), does not exist in RDS ({region}){elsewhere}; nothing was restored",
        snap.identifier, snap.instance, snap.created
    ))
    .hint(format!(
        "restore from an archive whose snapshot still exists, or restore the rest and keep Grafana's database as it is: \
         obsctl restore --env {env} --from {archive} --keep-grafana-db (docs/backup.md, \"Grafana's database on RDS\")"
    ))
}

/// The environment is up with a database not created from the snapshot.
pub fn running(snap: &SnapshotRecord, name: &str, from: Option<&str>, archive: &str) -> Error {
    Error::input(format!(
        "Grafana's running database {} was {} and obsctl does not overwrite a running database with the archive's snapshot {}; \
         nothing was restored",
        rds_instance(name),
        from.map_or("not created from a snapshot".to_string(), |f| format!("created from another snapshot ({f})")),
        snap.identifier
    ))
    .hint(format!(
        "the safe order: obsctl backup --env {name} (what the database holds now), obsctl destroy --env {name}, \
         obsctl restore --env {name} --from {archive}, obsctl up --env {name} (creates it from the snapshot), \
         obsctl restore --env {name} --from {archive} (the data); or keep the running database: add --keep-grafana-db"
    ))
}

/// Writes the record the next `up` reads.
pub fn record(s: &Session, r: &DbRestore) -> Result<String> {
    db_restore::write(&s.state, r)?;
    Ok(db_restore::FILE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(status: &str, percent: Option<u64>) -> DbSnapshot {
        DbSnapshot {
            identifier: "obsctl-prod-grafana-20261207071500".into(),
            instance: "obsctl-prod-grafana".into(),
            status: status.into(),
            percent,
            created: Some("2026-12-07T07:15:02Z".into()),
            arn: None,
        }
    }

    fn waiting() -> Waiting<'static> {
        Waiting { env: "prod", region: "eu-west-1", timeout: Duration::from_secs(60), poll: Duration::from_secs(10) }
    }

    #[test]
    fn the_wait_ends_when_the_snapshot_is_available() {
        let mut answers = vec![snap("available", Some(100)), snap("creating", Some(50))];
        let mut seen = Vec::new();
        let mut slept = Duration::ZERO;
        let done = wait_for(
            &snap("creating", Some(0)),
            &waiting(),
            || Ok(answers.pop()),
            |s| seen.push(s.percent),
            |d| {
                slept += d;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(done.status, "available");
        assert_eq!(seen, vec![Some(0), Some(50)]);
        assert_eq!(slept, Duration::from_secs(20));
    }

    #[test]
    fn a_failed_a_vanished_and_a_slow_snapshot_are_named_with_the_next_command() {
        let e = wait_for(&snap("creating", None), &waiting(), || Ok(Some(snap("failed", None))), |_| {}, |_| Ok(())).unwrap_err();
        assert!(e.message.contains("obsctl-prod-grafana-20261207071500 of obsctl-prod-grafana ended `failed`"), "{}", e.message);
        let hint = e.hint.unwrap();
        assert!(hint.contains("aws rds delete-db-snapshot --region eu-west-1 --db-snapshot-identifier obsctl-prod-grafana-20261207071500"));
        assert!(hint.ends_with("then: obsctl backup --env prod"), "{hint}");

        let e = wait_for(&snap("creating", None), &waiting(), || Ok(None), |_| {}, |_| Ok(())).unwrap_err();
        assert!(e.message.contains("disappeared"), "{}", e.message);

        let mut asked = 0;
        let e = wait_for(
            &snap("creating", Some(3)),
            &waiting(),
            || {
                asked += 1;
                Ok(Some(snap("creating", Some(7))))
            },
            |_| {},
            |_| Ok(()),
        )
        .unwrap_err();
        assert_eq!(asked, 6, "60 s at one question every 10 s");
        assert!(e.message.contains("is still `creating` 7% after 1 minutes; the archive was not written"), "{}", e.message);
        assert!(e.hint.unwrap().contains("aws rds wait db-snapshot-available --region eu-west-1"));
        assert_eq!(e.phase.exit_code(), 50);
    }

    fn record_of(region: &str) -> SnapshotRecord {
        SnapshotRecord {
            item: ITEM.into(),
            identifier: "obsctl-prod-grafana-20261207071500".into(),
            instance: "obsctl-prod-grafana".into(),
            region: region.into(),
            created: "2026-12-07T07:15:02Z".into(),
            arn: Some("arn:aws:rds:eu-west-1:1:snapshot:obsctl-prod-grafana-20261207071500".into()),
        }
    }

    #[test]
    fn a_missing_snapshot_and_a_running_database_stop_the_restore_with_the_way_out() {
        let env = "prod";
        let e = missing(&record_of("eu-west-1"), env, "eu-west-1", "a.tar");
        assert_eq!(e.phase.exit_code(), 10);
        assert!(e
            .message
            .contains("obsctl-prod-grafana-20261207071500 (of obsctl-prod-grafana, taken 2026-12-07T07:15:02Z), does not exist"));
        assert!(!e.message.contains("copy-db-snapshot"));
        assert!(e.hint.unwrap().contains("obsctl restore --env prod --from a.tar --keep-grafana-db"));
        let e = missing(&record_of("eu-west-1"), env, "eu-central-1", "a.tar");
        assert!(e
            .message
            .contains("taken in eu-west-1: copy it here first (aws rds copy-db-snapshot --source-region eu-west-1 --region eu-central-1"));
        let e = running(&record_of("eu-west-1"), env, None, "a.tar");
        assert!(e.message.contains("was not created from a snapshot and obsctl does not overwrite a running database"), "{}", e.message);
        let hint = e.hint.unwrap();
        assert!(hint.contains("obsctl destroy --env prod, obsctl restore --env prod --from a.tar, obsctl up --env prod"), "{hint}");
        assert!(running(&record_of("eu-west-1"), env, Some("other"), "a.tar").message.contains("created from another snapshot (other)"));
    }
}
