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

/// Controller files, relative to `.obsctl/<env>/`. `ssh/known_hosts` is not
/// among them: it pins the keys of machines that a rebuild replaces.
pub const CONTROLLER_FILES: &[&str] = &["tls", "secrets", "ssh/id_ed25519", "ssh/id_ed25519.pub", "deployment.json", "terraform.tfstate"];

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
];

impl Method {
    /// How it is taken, for the docs.
    pub fn how(self) -> &'static str {
        match self {
            Method::TsdbSnapshot => "TSDB snapshot API with obsctl's credential, on the first replica that answers",
            Method::AlertmanagerState => {
                "silences through the v2 API, the `nflog` file of the first peer that answers (written every 15 minutes)"
            }
            Method::Sqlite => "a copy under SQLite's shared lock, on each Grafana host",
            Method::HostDirectory => "the directory, on each Loki host",
            Method::Controller => "a tar encrypted with age for the key `--key` names",
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
}
