//! What `obsctl backup` puts in an archive and `obsctl restore` puts back:
//! the one list (docs/backup.md's table is generated from it through
//! `obsctl facts`). Host paths are the roles' data directories.

use serde::Serialize;

use crate::model::component::ComponentId;

/// How an item is read on a host and written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Prometheus' TSDB snapshot API (`POST /api/v1/admin/tsdb/snapshot`,
    /// obsctl's credential): a consistent copy of the blocks and the head,
    /// from one replica (the replicas scrape the same targets).
    TsdbSnapshot,
    /// Silences through Alertmanager's v2 API (on disk they are only written
    /// every 15 minutes) and the notification log file of one peer (the
    /// others hold the same state by gossip).
    AlertmanagerState,
    /// A SQLite database copied under a shared lock (its bytes as they are),
    /// from each host that has one.
    Sqlite,
    /// The data directory as it is, from each host that runs the component.
    HostDirectory,
    /// `.obsctl/<env>/` files on the machine that runs obsctl, encrypted with
    /// age.
    Controller,
    /// A manual RDS DB snapshot taken through the API (the aws CLI in
    /// obsctl's own venv): kept by RDS, outside the archive; the manifest
    /// names it (`snapshots`).
    RdsSnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The archive's folder for this item, and its name in the manifest.
    pub name: &'static str,
    /// The component it belongs to (None: the controller's state).
    #[serde(serialize_with = "component_name")]
    pub component: Option<ComponentId>,
    pub method: Method,
    /// Where it lives: a path on the hosts, or files under `.obsctl/<env>/`.
    pub paths: &'static [&'static str],
    /// What it holds, for the docs.
    pub what: &'static str,
}

fn component_name<S: serde::Serializer>(c: &Option<ComponentId>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(c.name()),
        None => s.serialize_none(),
    }
}

/// Prometheus' TSDB directory (`--storage.tsdb.path`, role prometheus).
pub const PROMETHEUS_TSDB: &str = "/var/lib/prometheus/metrics2";
/// Alertmanager's `--storage.path` (role alertmanager).
pub const ALERTMANAGER_DATA: &str = "/var/lib/prometheus/alertmanager";
/// Grafana's SQLite database (`_grafana_data_dir` of role grafana).
pub const GRAFANA_DB: &str = "/var/lib/grafana/grafana.db";
/// Loki's data directory with `storage = "filesystem"` (`_loki_data_dir`).
pub const LOKI_DATA: &str = "/var/lib/loki";

/// The stateful components' data roots: what a host's data volume holds (the
/// lab binds each from the host's data directory, aws mounts its EBS volume
/// and binds each from there; docs/upgrades.md, "Data that survives a
/// machine"). Every path above lies under one of them.
pub const DATA_ROOTS: &[&str] = &["/var/lib/prometheus", "/var/lib/grafana", "/var/lib/loki"];

/// Controller files, relative to `.obsctl/<env>/`. `ssh/known_hosts` is not
/// among them: it pins the keys of machines that a rebuild replaces.
pub const CONTROLLER_FILES: &[&str] = &["tls", "secrets", "ssh/id_ed25519", "ssh/id_ed25519.pub", "deployment.json", "terraform.tfstate"];

/// Grafana's RDS instance of an environment (`module.grafana_db` of the aws
/// stack: `obsctl-<env>-grafana`).
pub fn rds_instance(env: &str) -> String {
    format!("obsctl-{env}-grafana")
}

/// The manual snapshot `backup` takes of it: `obsctl-<env>-grafana-<stamp>`
/// with `stamp` the archive's time as YYYYMMDDhhmmss (RDS identifiers: letters,
/// digits and single hyphens; the final snapshot of a destroy is
/// `obsctl-<env>-grafana-final-<stamp>`).
pub fn rds_snapshot(env: &str, stamp: &str) -> String {
    format!("{}-{stamp}", rds_instance(env))
}

/// How long `backup` waits for the snapshot to become available, and how
/// often it asks.
pub const RDS_SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);
pub const RDS_SNAPSHOT_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything a backup holds, in the order it is taken and restored.
pub const ITEMS: &[Item] = &[
    Item {
        name: "controller",
        component: None,
        method: Method::Controller,
        paths: CONTROLLER_FILES,
        what: "the CA and host certificates, every generated password and Grafana's `secret_key`, the SSH key pair, \
               the deployment record and the local Terraform state (not an S3 `[state]`)",
    },
    Item {
        name: "prometheus-tsdb",
        component: Some(ComponentId::Prometheus),
        method: Method::TsdbSnapshot,
        paths: &[PROMETHEUS_TSDB],
        what: "every series of the retention: persisted blocks and the head (the last hours)",
    },
    Item {
        name: "alertmanager-state",
        component: Some(ComponentId::Alertmanager),
        method: Method::AlertmanagerState,
        paths: &[ALERTMANAGER_DATA],
        what: "silences and the notification log (what was sent, so nothing is sent twice)",
    },
    Item {
        name: "grafana-db",
        component: Some(ComponentId::Grafana),
        method: Method::Sqlite,
        paths: &[GRAFANA_DB],
        what: "Grafana's SQLite database: users, folders, UI edits, annotations, API keys (`database = \"sqlite\"` only)",
    },
    Item {
        name: "loki-data",
        component: Some(ComponentId::Loki),
        method: Method::HostDirectory,
        paths: &[LOKI_DATA],
        what: "Loki's index, chunks and WAL (`storage = \"filesystem\"` only)",
    },
    // Last: a snapshot outlives a backup that fails after it, so nothing
    // that can still fail comes after it but writing the archive.
    Item {
        name: "grafana-rds-snapshot",
        component: Some(ComponentId::Grafana),
        method: Method::RdsSnapshot,
        paths: &[],
        what: "Grafana's PostgreSQL database on RDS (`database = \"postgres\"`, aws): users, folders, UI edits, annotations, \
               API keys; a manual snapshot `obsctl-<env>-grafana-<time>` tagged with the environment and the archive",
    },
];

impl Method {
    /// How it is taken, for the docs.
    pub fn how(self) -> String {
        let how = match self {
            Method::TsdbSnapshot => "TSDB snapshot API with obsctl's credential, on the first replica that answers",
            Method::AlertmanagerState => {
                "silences through the v2 API, the `nflog` file of the first peer that answers (written every 15 minutes)"
            }
            Method::Sqlite => "a copy under SQLite's shared lock, on each Grafana host",
            Method::HostDirectory => "the directory, on each Loki host",
            Method::Controller => "a tar encrypted with age for the key `--key` names",
            Method::RdsSnapshot => {
                return format!(
                    "a manual DB snapshot through the RDS API (the aws CLI), waited for until available (at most {} minutes); \
                     the manifest records its identifier, the instance, the region and the time",
                    RDS_SNAPSHOT_TIMEOUT.as_secs() / 60
                )
            }
        };
        how.to_string()
    }

    /// Where the item is kept, for the docs.
    pub fn kept(self) -> &'static str {
        match self {
            Method::RdsSnapshot => "a snapshot outside the archive (RDS keeps it until someone deletes it)",
            _ => "in the archive",
        }
    }

    /// How it is put back, for the docs.
    pub fn restore(self) -> &'static str {
        match self {
            Method::TsdbSnapshot => "every replica, one at a time: stop, replace the TSDB with the snapshot, start, wait until ready",
            Method::AlertmanagerState => {
                "`nflog` on each peer, one at a time (stop, put back, start); then each silence still active is \
                 created again through the API (with a new ID)"
            }
            Method::Sqlite | Method::HostDirectory => {
                "each host, one at a time: stop the service, put the files back (owner of the data directory), start"
            }
            Method::Controller => {
                "written back before anything else; a running environment with another CA or passwords is reconfigured with them"
            }
            Method::RdsSnapshot => {
                "checked first (a missing snapshot stops the restore); on an environment that is not up, the next `up` \
                 creates the instance from it (Terraform's `snapshot_identifier`); a running instance is never overwritten"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_has_a_unique_name_and_the_controller_comes_first() {
        let mut names: Vec<&str> = ITEMS.iter().map(|i| i.name).collect();
        assert_eq!(names[0], "controller");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ITEMS.len());
        assert!(!CONTROLLER_FILES.contains(&"ssh/known_hosts"));
    }

    #[test]
    fn every_host_path_lies_on_the_data_volume() {
        for item in ITEMS.iter().filter(|i| i.component.is_some()) {
            for path in item.paths {
                assert!(
                    DATA_ROOTS.iter().any(|r| path == r || path.starts_with(&format!("{r}/"))),
                    "{} ({path}) is under no data root",
                    item.name
                );
            }
        }
        assert!(DATA_ROOTS.iter().all(|r| r.starts_with("/var/lib/") && r.matches('/').count() == 3));
    }

    #[test]
    fn the_rds_snapshot_is_named_after_the_instance_and_kept_outside_the_archive() {
        assert_eq!(rds_instance("prod"), "obsctl-prod-grafana");
        let id = rds_snapshot("prod", "20261207071500");
        assert_eq!(id, "obsctl-prod-grafana-20261207071500");
        // RDS's identifier rules: a letter first, letters, digits and single hyphens, at most 255.
        assert!(id.starts_with(|c: char| c.is_ascii_lowercase()) && !id.contains("--") && !id.ends_with('-') && id.len() <= 255);
        assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        let rds: Vec<_> = ITEMS.iter().filter(|i| i.method == Method::RdsSnapshot).collect();
        assert_eq!(rds.len(), 1);
        assert!(rds[0].paths.is_empty() && rds[0].method.kept().contains("outside the archive"));
        // Taken last: nothing that can fail comes after it but writing the archive.
        assert_eq!(ITEMS.last().map(|i| i.method), Some(Method::RdsSnapshot));
        assert!(ITEMS.iter().filter(|i| i.method != Method::RdsSnapshot).all(|i| i.method.kept() == "in the archive"));
        assert!(RDS_SNAPSHOT_TIMEOUT > RDS_SNAPSHOT_POLL * 10);
    }
}
