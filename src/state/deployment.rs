//! The deployment record `.obsctl/<env>/deployment.json`: what the last `up`
//! deployed (the validated contract, the components it enabled, the stack's
//! provider variables) and how far it got. Written atomically (0600) here and
//! read here only; `status`, `plan`, `up --only` and `destroy` go through it.
//! The Ansible inventory next to it is derived from it on every run.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::component::ComponentId;
use crate::model::contract::Contract;
use crate::state::workspace::{read_record, remove_record, write_record, StateDir};

const FORMAT: u32 = 1;

/// How far the last `up` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reached {
    /// Terraform applied and the contract was read; hosts not configured.
    Provisioned,
    /// Ansible configured every host.
    Configured,
    /// Every scrape target was seen up.
    Verified,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub format: u32,
    pub environment: String,
    pub contract: Contract,
    /// Components enabled by that run (the env file's, minus `--without`).
    pub components: BTreeSet<ComponentId>,
    /// The stack's `obsctl_vars` output (extra Ansible variables).
    pub provider_vars: Map<String, Value>,
    pub reached: Reached,
    /// The Debian release (`os`) of the env file when this record was
    /// written; what a roll to another release starts from (records written
    /// before it was kept have none: src/state/os_roll.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// When `reached` was last updated (UTC, RFC 3339).
    pub at: String,
    /// The user's own inputs the last configuration applied (`plan` lists
    /// what differs now); absent in records of an older obsctl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRecord>,
}

/// The user's inputs (docs/own-services.md) as configured: digests only,
/// never a credential (`check::user_inputs::record` computes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Scrape job name → SHA-256 of its settings (credentials by source), CA file included.
    pub scrape_jobs: BTreeMap<String, String>,
    /// `rules/<file>` or `dashboards/<file>` → SHA-256 of its contents.
    pub files: BTreeMap<String, String>,
    /// One line per `[[logs]]` entry: hosts, files, units, labels.
    pub logs: Vec<String>,
}

impl Deployment {
    pub fn new(contract: Contract, components: BTreeSet<ComponentId>, provider_vars: Map<String, Value>) -> Deployment {
        Deployment {
            format: FORMAT,
            environment: contract.environment.clone(),
            contract,
            components,
            provider_vars,
            reached: Reached::Provisioned,
            os: None,
            at: crate::report::timestamp(),
            user: None,
        }
    }

    /// The record of environment `env`, or None when it was never deployed
    /// (or was destroyed).
    pub fn load(state: &StateDir, env: &str) -> Result<Option<Deployment>> {
        let path = state.deployment();
        let hint = format!("run `obsctl up --env {env}` again to rewrite it");
        let Some(d) = read_record::<Deployment>(&path, "a deployment record this obsctl understands", hint)? else {
            if state.dir.join("contract.json").is_file() {
                return Err(Error::input(format!("environment `{env}` was deployed by an older obsctl (no {})", path.display()))
                    .hint(format!("run `obsctl up --env {env}` once: it records the deployment again")));
            }
            return Ok(None);
        };
        if d.format != FORMAT || d.environment != env {
            return Err(Error::input(format!("{} records format {} of environment `{}`", path.display(), d.format, d.environment))
                .hint(format!("run `obsctl up --env {env}` again to rewrite it")));
        }
        Ok(Some(d))
    }

    /// The record, or the error that says the environment is not deployed.
    pub fn require(state: &StateDir, env: &str) -> Result<Deployment> {
        Self::load(state, env)?.ok_or_else(|| {
            Error::input(format!("environment `{env}` is not deployed (no {})", state.deployment().display()))
                .hint(format!("run `obsctl up --env {env}` first"))
        })
    }

    pub fn save(&self, state: &StateDir) -> Result<()> {
        write_record(&state.deployment(), self)
    }

    /// Records how far the run got, and saves.
    pub fn reach(&mut self, reached: Reached, state: &StateDir) -> Result<()> {
        self.reached = reached;
        self.at = crate::report::timestamp();
        self.save(state)
    }

    /// Removes the record (after `destroy`), with what the hosts were converged to.
    pub fn forget(state: &StateDir) {
        remove_record(&state.deployment());
        remove_record(&state.os_roll());
        crate::state::converged::Converged::forget(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_and_loaded_in_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        assert!(Deployment::load(&state, "dev").unwrap().is_none());
        assert!(Deployment::require(&state, "dev").unwrap_err().message.contains("not deployed"));
        let env = crate::model::contract::tests::env();
        let contract = crate::model::contract::parse(&crate::model::contract::tests::contract().to_string(), &env).unwrap();
        let mut d = Deployment::new(contract, env.components.clone(), Map::from_iter([("b".to_string(), Value::from("x"))]));
        d.save(&state).unwrap();
        d.reach(Reached::Configured, &state).unwrap();
        let back = Deployment::require(&state, "dev").unwrap();
        assert_eq!(back.reached, Reached::Configured);
        assert_eq!(back.contract.hosts.len(), 2);
        assert_eq!(back.provider_vars["b"], "x");
        assert!(Deployment::load(&state, "prod").is_err(), "a record of another environment is refused");
        Deployment::forget(&state);
        assert!(Deployment::load(&state, "dev").unwrap().is_none());
    }

    /// `.obsctl/dev/deployment.json` as obsctl wrote it before the run's
    /// components were typed (`--without loki,promtail`, the log agent then): names in a list.
    const RECORD_BEFORE_TYPED_COMPONENTS: &str = r#"{
  "format": 1,
  "environment": "dev",
  "contract": {
    "environment": "dev",
    "hosts": {
      "app-1": {
        "address": "10.77.0.11",
        "private_address": "10.77.0.11",
        "ssh_user": "root",
        "ssh_port": 22,
        "roles": [
          "app"
        ],
        "labels": {}
      },
      "mon-1": {
        "address": "10.77.0.10",
        "private_address": "10.77.0.10",
        "ssh_user": "root",
        "ssh_port": 22,
        "roles": [
          "prometheus",
          "alertmanager",
          "grafana"
        ],
        "labels": {
          "zone": "lab"
        }
      }
    },
    "ssh": {
      "private_key_file": "/work/.obsctl/dev/ssh/id_ed25519",
      "bastion": null
    }
  },
  "components": [
    "alertmanager",
    "app",
    "grafana",
    "node_exporter",
    "prometheus"
  ],
  "provider_vars": {
    "obsctl_lab_bridge": "obsbr-dev"
  },
  "reached": "verified",
  "at": "2026-12-06T21:14:03.512Z"
}
"#;

    #[test]
    fn a_record_written_before_reads_back_and_is_written_the_same() {
        use crate::model::component::ComponentId::*;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        std::fs::write(state.deployment(), RECORD_BEFORE_TYPED_COMPONENTS).unwrap();
        let d = Deployment::require(&state, "dev").unwrap();
        assert_eq!(d.components, BTreeSet::from([Prometheus, Alertmanager, NodeExporter, Grafana, App]));
        assert_eq!((d.reached, d.contract.hosts.len()), (Reached::Verified, 2));
        // The environment as that run deployed it: without Loki and a log agent.
        let env = crate::model::contract::tests::env().as_deployed(&d.components);
        assert!(env.enabled(Grafana) && !env.enabled(Loki) && !env.enabled(Promtail) && !env.enabled(Alloy));
        // Saved again, the same bytes: the format on disk has not changed.
        d.save(&state).unwrap();
        assert_eq!(std::fs::read_to_string(state.deployment()).unwrap().trim_end(), RECORD_BEFORE_TYPED_COMPONENTS.trim_end());
        // A name no obsctl knows is refused as a record to rewrite (exit 10), not a crash.
        let unknown = RECORD_BEFORE_TYPED_COMPONENTS.replace("\"grafana\",\n    \"node_exporter\"", "\"nginx\",\n    \"node_exporter\"");
        assert_ne!(unknown, RECORD_BEFORE_TYPED_COMPONENTS);
        std::fs::write(state.deployment(), unknown).unwrap();
        let err = Deployment::require(&state, "dev").unwrap_err();
        assert!(err.message.contains("not a deployment record this obsctl understands"), "{}", err.message);
    }
}
