//! The AWS API where Terraform has no action: RDS DB snapshots (`obsctl
//! backup` takes one of Grafana's database, `restore` checks it exists).
//! Through the aws CLI (v1, pinned, from PyPI) in a venv of obsctl's own,
//! installed on first use like ansible-core (docs/backup.md says why), once
//! per user and version (`~/.cache/obsctl/awscli-<version>`): it holds
//! nothing of an environment.
//! Credentials and endpoint as the aws stack's provider takes them
//! (terraform/stacks/aws/providers.tf): with `[aws] endpoint` (moto,
//! LocalStack) every call goes there with the fixed test keys and nothing
//! else; otherwise the AWS_* variables, profile and shared files, as
//! Terraform reads them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Phase, Result};
use crate::model::aws::AwsSettings;
use crate::state::workspace::Workspace;
use crate::tools::process::{Child, RunError};

/// The aws CLI version obsctl installs (`awscli` on PyPI).
pub const AWSCLI: &str = "1.46.2";

/// A DB snapshot as RDS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSnapshot {
    pub identifier: String,
    pub instance: String,
    /// `creating`, `available`, `failed`, …
    pub status: String,
    pub percent: Option<u64>,
    /// RFC 3339, when RDS started it.
    pub created: Option<String>,
    pub arn: Option<String>,
}

impl DbSnapshot {
    fn from_value(v: &Value) -> Option<DbSnapshot> {
        let s = |k: &str| v[k].as_str().map(String::from);
        Some(DbSnapshot {
            identifier: s("DBSnapshotIdentifier")?,
            instance: s("DBInstanceIdentifier").unwrap_or_default(),
            status: s("Status").unwrap_or_default(),
            percent: v["PercentProgress"].as_u64(),
            created: s("SnapshotCreateTime"),
            arn: s("DBSnapshotArn"),
        })
    }
}

/// `aws rds create-db-snapshot`'s answer (`DBSnapshot`) or
/// `describe-db-snapshots`' (`DBSnapshots[0]`).
pub fn parse_snapshot(json: &str) -> Option<DbSnapshot> {
    let v: Value = serde_json::from_str(json).ok()?;
    if v["DBSnapshot"].is_object() {
        return DbSnapshot::from_value(&v["DBSnapshot"]);
    }
    v["DBSnapshots"].as_array()?.first().and_then(DbSnapshot::from_value)
}

pub struct AwsCli {
    venv: PathBuf,
    region: String,
    endpoint: Option<String>,
    log: PathBuf,
}

impl AwsCli {
    pub fn new(ws: &Workspace, aws: &AwsSettings, log: &Path) -> AwsCli {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        AwsCli { venv: venv_dir(cache, ws), region: aws.region.clone(), endpoint: aws.endpoint.clone(), log: log.to_path_buf() }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn bin(&self) -> PathBuf {
        self.venv.join("bin/aws")
    }

    fn marker(&self) -> PathBuf {
        self.venv.join(format!("obsctl-awscli-{AWSCLI}"))
    }

    pub fn ready(&self) -> bool {
        self.marker().is_file() && self.bin().is_file()
    }

    /// What `ensure` says when it installs.
    pub fn installing(&self) -> String {
        format!("installing the aws CLI {AWSCLI} into {} (once)", self.venv.display())
    }

    /// Creates the venv with the pinned aws CLI unless it is there
    /// (`tools::venv`, like ansible-core's).
    pub fn ensure(&self, announce: impl FnOnce(&str)) -> Result<()> {
        crate::tools::venv::Pinned {
            dir: &self.venv,
            packages: &[format!("awscli=={AWSCLI}")],
            marker: &self.marker(),
            marker_text: AWSCLI,
            what: "the aws CLI",
            installing: &self.installing(),
        }
        .ensure(|| self.ready(), announce, &self.log)
    }

    /// The options every call gets: the environment's region, JSON, and the
    /// endpoint when `[aws]` names one.
    pub fn common_args(&self) -> Vec<String> {
        let mut a = vec!["--region".to_string(), self.region.clone(), "--output".into(), "json".into()];
        if let Some(e) = &self.endpoint {
            a.extend(["--endpoint-url".to_string(), e.clone()]);
        }
        a
    }

    fn child(&self, args: Vec<String>) -> Child {
        let what = format!("aws {}", args.iter().take(2).cloned().collect::<Vec<_>>().join(" "));
        let mut c = Child::new(self.bin().to_string_lossy(), Phase::Verify).args(args).args(self.common_args()).what(what).log(&self.log);
        if self.endpoint.is_some() {
            // The provider's rule for a custom endpoint: fixed test keys, so
            // real credentials are never sent to it.
            let real: Vec<OsString> = std::env::vars_os().map(|(k, _)| k).filter(|k| k.to_string_lossy().starts_with("AWS_")).collect();
            c = c
                .env_remove(real)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
        c
    }

    /// Starts a manual snapshot of `instance` named `snapshot`, with `tags`.
    pub fn create_db_snapshot(&self, instance: &str, snapshot: &str, tags: &[(&str, &str)]) -> Result<DbSnapshot> {
        let out = self.child(create_snapshot_args(instance, snapshot, tags)).output().map_err(|e| api_error(e, "create-db-snapshot"))?;
        parse_snapshot(&out.stdout)
            .ok_or_else(|| Error::new(Phase::Verify, format!("`aws rds create-db-snapshot` answered without a snapshot for {snapshot}")))
    }

    /// The snapshot named `snapshot`; None when RDS has none of that name.
    pub fn describe_db_snapshot(&self, snapshot: &str) -> Result<Option<DbSnapshot>> {
        match self.child(describe_snapshot_args(snapshot)).output() {
            Ok(out) => Ok(parse_snapshot(&out.stdout)),
            Err(RunError::Exit(e)) if e.tail.iter().any(|l| l.contains("DBSnapshotNotFound")) => Ok(None),
            Err(e) => Err(api_error(e, "describe-db-snapshots")),
        }
    }
}

/// Where the venv lives: the user's cache, else the workspace's `.obsctl/`.
fn venv_dir(cache: Option<PathBuf>, ws: &Workspace) -> PathBuf {
    let name = format!("awscli-{AWSCLI}");
    cache.map_or_else(|| ws.tools_dir().join(&name), |c| c.join("obsctl").join(&name))
}

/// `aws rds create-db-snapshot …` without the common options.
pub fn create_snapshot_args(instance: &str, snapshot: &str, tags: &[(&str, &str)]) -> Vec<String> {
    let mut a: Vec<String> = ["rds", "create-db-snapshot", "--db-instance-identifier", instance, "--db-snapshot-identifier", snapshot]
        .map(String::from)
        .to_vec();
    if !tags.is_empty() {
        a.push("--tags".into());
        a.extend(tags.iter().map(|(k, v)| format!("Key={k},Value={v}")));
    }
    a
}

/// `aws rds describe-db-snapshots …` without the common options.
pub fn describe_snapshot_args(snapshot: &str) -> Vec<String> {
    ["rds", "describe-db-snapshots", "--db-snapshot-identifier", snapshot].map(String::from).to_vec()
}

fn api_error(e: RunError, call: &str) -> Error {
    e.on_exit(|err| {
        err.hint(format!(
            "`aws rds {call}` needs the credentials Terraform uses for this environment (AWS_PROFILE, or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) with rds:CreateDBSnapshot, rds:DescribeDBSnapshots and \
             rds:AddTagsToResource; the details above are the CLI's own"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_the_instance_the_snapshot_and_its_tags() {
        let a = create_snapshot_args(
            "obsctl-prod-grafana",
            "obsctl-prod-grafana-20261207071500",
            &[("Environment", "prod"), ("ObsctlArchive", "x")],
        );
        assert_eq!(
            a.join(" "),
            "rds create-db-snapshot --db-instance-identifier obsctl-prod-grafana --db-snapshot-identifier \
             obsctl-prod-grafana-20261207071500 --tags Key=Environment,Value=prod Key=ObsctlArchive,Value=x"
        );
        assert_eq!(describe_snapshot_args("s").join(" "), "rds describe-db-snapshots --db-snapshot-identifier s");
    }

    #[test]
    fn the_endpoint_and_region_come_from_the_aws_table() {
        let ws = Workspace { root: PathBuf::from("/r") };
        let mut aws: AwsSettings = toml::from_str(
            "region = \"eu-west-1\"\navailability_zones = [\"eu-west-1a\", \"eu-west-1b\"]\nadmin_cidrs = []\nendpoint = \"http://127.0.0.1:5000\"",
        )
        .unwrap();
        let cli = AwsCli::new(&ws, &aws, Path::new("/tmp/log"));
        assert_eq!(cli.common_args().join(" "), "--region eu-west-1 --output json --endpoint-url http://127.0.0.1:5000");
        assert_eq!(venv_dir(Some("/home/u/.cache".into()), &ws), PathBuf::from(format!("/home/u/.cache/obsctl/awscli-{AWSCLI}")));
        assert_eq!(venv_dir(None, &ws), PathBuf::from(format!("/r/.obsctl/awscli-{AWSCLI}")));
        aws.endpoint = None;
        assert_eq!(AwsCli::new(&ws, &aws, Path::new("/tmp/log")).common_args().join(" "), "--region eu-west-1 --output json");
    }

    #[test]
    fn snapshots_are_read_from_both_answers() {
        let one = r#"{"DBSnapshot": {"DBSnapshotIdentifier": "s", "DBInstanceIdentifier": "i", "Status": "creating", "PercentProgress": 40,
                       "SnapshotCreateTime": "2026-12-07T18:01:30Z", "DBSnapshotArn": "arn:aws:rds:eu-west-1:1:snapshot:s"}}"#;
        let s = parse_snapshot(one).unwrap();
        assert_eq!((s.identifier.as_str(), s.instance.as_str(), s.status.as_str(), s.percent), ("s", "i", "creating", Some(40)));
        let list = r#"{"DBSnapshots": [{"DBSnapshotIdentifier": "s", "DBInstanceIdentifier": "i", "Status": "available"}]}"#;
        assert_eq!(parse_snapshot(list).unwrap().status, "available");
        assert_eq!(parse_snapshot(r#"{"DBSnapshots": []}"#), None);
        assert_eq!(parse_snapshot("not json"), None);
    }
}
