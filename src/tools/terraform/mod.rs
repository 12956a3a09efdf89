//! Driving Terraform for one environment: `init`, `plan -out`, `apply <plan>`,
//! `output -json`, `destroy`. Terraform runs in the environment's copy of
//! `terraform/stacks/<provider>` (see `stack`); its plan, variables and
//! `.terraform` data live under `.obsctl/<env>/`, and its state where the
//! environment's `[state]` says, so environments never share anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

mod plan;

use plan::summary_of;
pub use plan::{Action, PlanSummary};

use crate::error::{Error, IoContext, Phase, Result};
use crate::model::environment::{Environment, LabSettings, Provider, ProviderKind};
use crate::report::Printer;
use crate::state::workspace::{write_atomic, StateDir, Workspace};
use crate::tools::process::{Child, Exited, RunError};
use crate::tools::retry::{retry, Backoff};
use crate::tools::stack;

/// Terraform gets this long to stop cleanly (release its lock, write state)
/// after an interrupt before it is killed.
const GRACE: Duration = Duration::from_secs(120);

pub struct Terraform<'a> {
    pub ws: &'a Workspace,
    pub env: &'a Environment,
    pub state: &'a StateDir,
    pub log: PathBuf,
    pub printer: &'a Printer,
}

impl<'a> Terraform<'a> {
    fn stack(&self) -> PathBuf {
        stack::root_in(&self.state.stack_dir(), self.env)
    }

    fn child(&self) -> Child {
        self.child_with_data_dir(&self.state.tf_data_dir())
    }

    fn child_with_data_dir(&self, data_dir: &Path) -> Child {
        let mut c = Child::new("terraform", Phase::Terraform)
            .arg(format!("-chdir={}", self.stack().display()))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("TF_DATA_DIR", data_dir)
            .log(&self.log)
            .grace(GRACE);
        if let Some(rc) = cli_config(self.ws) {
            c = c.env("TF_CLI_CONFIG_FILE", rc);
        }
        c
    }

    /// Writes the variables file the stack reads (docs/contract.md, input
    /// side). Grafana's database password is never generated here (see
    /// ensure_grafana_db_password): without a stored one, `create` (`up`,
    /// `plan`) passes a throw-away value (RDS receives the write-only
    /// password only when its version changes) and `destroy` passes none.
    pub fn write_vars(&self, create: bool) -> Result<()> {
        let db = if self.env.grafana_on_rds() {
            match crate::state::secrets::read_grafana_db_password(&self.state.secrets_dir()) {
                Some(db) => Some(db),
                None if create => {
                    Some(crate::state::secrets::DbPassword { password: crate::state::secrets::random_password(32)?, version: 1 })
                }
                None => None,
            }
        } else {
            None
        };
        if self.env.provider.kind() == ProviderKind::Aws {
            check_aws_key(&self.state.ssh_key().with_extension("pub"))?;
        }
        let vars = crate::tools::stack::input_vars(self.env, self.state, db)?;
        write_atomic(&self.state.tfvars(), crate::error::to_json_pretty(&vars)?.as_bytes(), 0o600)
    }

    /// The version of Grafana's database password the state's RDS instance
    /// was last given (`password_wo_version`); None when the state holds no
    /// such database. Needs `init`.
    pub fn grafana_db_in_state(&self) -> Result<Option<u64>> {
        let out = self.child().args(["state", "pull"]).what("terraform state pull").output()?.stdout;
        Ok(grafana_db_version(&out))
    }

    /// The snapshot the state's Grafana database was created from
    /// (`snapshot_identifier`): None when the state holds no such database,
    /// Some(None) when it started empty. Needs `init`.
    pub fn grafana_db_snapshot(&self) -> Result<Option<Option<String>>> {
        let out = self.child().args(["state", "pull"]).what("terraform state pull").output()?.stdout;
        Ok(grafana_db_attrs(&out).map(|a| a["snapshot_identifier"].as_str().filter(|s| !s.is_empty()).map(String::from)))
    }

    fn run(&self, args: &[&str], what: &str) -> Result<Ran> {
        self.run_in(&self.state.tf_data_dir(), args, what)
    }

    fn run_in(&self, data_dir: &Path, args: &[&str], what: &str) -> Result<Ran> {
        let printer = self.printer;
        // Commands that change nothing may be retried after a transient
        // failure (a provider API or registry hiccup); apply and destroy never.
        let tries = if matches!(args[0], "init" | "plan") { RETRIES } else { 1 };
        let ran = retry(
            Backoff::exponential(tries, Duration::from_secs(2)),
            |_| {
                let run = self.child_with_data_dir(data_dir).args(args.iter().copied()).arg("-no-color").what(what).run(|line| {
                    printer.child_line(line);
                    if let Some(m) = provisioner_message(line) {
                        printer.note("terraform", &m);
                    } else if let Some(p) = progress_of(line) {
                        printer.progress(&p);
                    }
                });
                match run {
                    Ok(_) => Ok(Ran::Clean),
                    // `plan -detailed-exitcode`: 2 means "succeeded, with changes".
                    Err(RunError::Exit(e)) if args[0] == "plan" && e.code == 2 => Ok(Ran::Changes),
                    Err(e) => Err(e),
                }
            },
            |e, attempt, wait| match e {
                RunError::Exit(e) if is_transient(&e.tail) => {
                    printer.warn(&format!("`{what}` hit a transient error; retrying in {}s ({attempt}/{})", wait.as_secs(), RETRIES - 1));
                    true
                }
                _ => false,
            },
        );
        ran.map_err(|e| match e {
            RunError::Exit(e) => failure(&e, self.env, &self.stack(), &self.state.tf_data_dir()),
            other => other.into(),
        })
    }

    /// Prepares the environment's root module and initialises its backend.
    /// Refuses when the environment file now names another state location
    /// than the one this environment's state is in (`migrate-state` moves it).
    pub fn init(&self) -> Result<()> {
        stack::prepare(self.ws, self.env, self.state)?;
        let (kind, config) = stack::backend_config(self.env, self.state);
        if let Some((old_kind, old_config)) = self.initialised_backend() {
            if !stack::same_location(&old_kind, &old_config, kind, &config) && !self.is_empty_local(&old_kind, &old_config) {
                let env = &self.env.name;
                return Err(Error::input(format!(
                    "the Terraform state of `{env}` is in the {}, but {} now names the {}",
                    stack::describe(&old_kind, &old_config),
                    self.env.file.display(),
                    stack::describe(kind, &config)
                ))
                .hint(format!(
                    "move the state there: obsctl migrate-state --env {env}   (or put the old [state] back in {})",
                    self.env.file.display()
                )));
            }
        }
        self.run(INIT, "terraform init")?;
        Ok(())
    }

    /// Moves the state from where it was initialised last to where the
    /// environment file says: `terraform init -migrate-state -force-copy`,
    /// after checking that the destination holds no state it would overwrite.
    /// Returns what moved, or None when there was nothing to move.
    pub fn migrate_state(&self) -> Result<Option<Moved>> {
        stack::prepare(self.ws, self.env, self.state)?;
        let (kind, config) = stack::backend_config(self.env, self.state);
        let to = stack::describe(kind, &config);
        let Some((old_kind, old_config)) = self.initialised_backend().filter(|(k, c)| !stack::same_location(k, c, kind, &config)) else {
            self.run(INIT, "terraform init")?;
            return Ok(None);
        };
        let from = stack::describe(&old_kind, &old_config);
        // What the destination holds already, seen through a throw-away data dir.
        let probe = self.state.dir.join("terraform.probe");
        let _ = std::fs::remove_dir_all(&probe);
        let found = self.run_in(&probe, INIT, "terraform init (destination)").and_then(|_| self.resource_count_in(&probe));
        let _ = std::fs::remove_dir_all(&probe);
        let found = found?;
        if found > 0 {
            return Err(Error::input(format!(
                "the {to} already holds a state with {found} resources; moving `{}`'s state there would overwrite it",
                self.env.name
            ))
            .hint(format!("choose another `key` in [state] of {}, or empty that state first", self.env.file.display())));
        }
        self.run(&["init", "-input=false", "-migrate-state", "-force-copy"], "terraform init -migrate-state")?;
        // Terraform leaves an old local file; keep it as a backup under a name
        // nothing reads as the current state.
        let old_file = old_config["path"].as_str().map(PathBuf::from).filter(|p| old_kind == "local" && p.is_file());
        let backup = match old_file {
            Some(old) => {
                let backup = old.with_extension("tfstate.migrated");
                std::fs::rename(&old, &backup).with_path("rename", &old)?;
                Some(backup)
            }
            None => None,
        };
        Ok(Some(Moved { from, to, backup }))
    }

    /// The backend the environment's `.terraform` was last initialised with.
    fn initialised_backend(&self) -> Option<(String, Value)> {
        let text = std::fs::read_to_string(self.state.tf_data_dir().join("terraform.tfstate")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        Some((v["backend"]["type"].as_str()?.to_string(), v["backend"]["config"].clone()))
    }

    /// A local state that does not exist or manages nothing: nothing to move.
    fn is_empty_local(&self, kind: &str, config: &Value) -> bool {
        kind == "local"
            && config["path"].as_str().is_none_or(|p| std::fs::read_to_string(p).map_or(true, |text| count_resources(&text) == 0))
    }

    /// `plan -out`; the plan file is applied by `apply` so what was shown is
    /// exactly what runs. On the lab, a machine that Terraform's state holds
    /// but that is not running is replaced (`-replace`), with a line saying so.
    pub fn plan(&self) -> Result<PlanSummary> {
        self.plan_replacing(&[])
    }

    /// `plan`, replacing the machines of `hosts` (`up --replace`): their
    /// data volumes are other resources, which the plan keeps.
    pub fn plan_replacing(&self, hosts: &[String]) -> Result<PlanSummary> {
        let mut replace: Vec<String> = hosts.iter().map(|h| self.replace_address(h)).collect();
        if self.env.provider.kind() == ProviderKind::Lab {
            for (machine, address) in crate::tools::lab::not_running(&self.state_list()?, &self.env.name, self.ws, &self.log)? {
                self.printer.info(&format!(
                    "lab machine {machine} is in Terraform's state but not running (stopped, killed or never finished booting); replacing it"
                ));
                if !replace.contains(&address) {
                    replace.push(address);
                }
            }
        }
        let plan = self.state.plan_file();
        let vars = self.state.tfvars();
        let mut args = vec![
            "plan".to_string(),
            "-input=false".into(),
            "-detailed-exitcode".into(),
            format!("-var-file={}", vars.display()),
            format!("-out={}", plan.display()),
        ];
        args.extend(replace.iter().map(|a| format!("-replace={a}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run(&args, "terraform plan")? {
            Ran::Clean => Ok(PlanSummary::default()),
            Ran::Changes => self.summarize_plan(&plan),
        }
    }

    /// What `--replace NAME` replaces: host `name`'s machine, or the
    /// bastion's (`bastion`, when no host has that name).
    fn replace_address(&self, name: &str) -> String {
        if name != LabSettings::BASTION_NAME || self.env.hosts.iter().any(|h| h.name == name) {
            return self.machine_address(name);
        }
        match self.env.provider.kind() {
            ProviderKind::Lab => crate::tools::lab::BASTION_ADDRESS.to_string(),
            ProviderKind::Aws => format!("{}.aws_instance.this", plan::BASTION_MODULE),
        }
    }

    /// The Terraform address of host `name`'s machine in this provider's stack.
    fn machine_address(&self, name: &str) -> String {
        match self.env.provider.kind() {
            ProviderKind::Lab => crate::tools::lab::machine_address(name),
            ProviderKind::Aws => format!("module.instances.aws_instance.this[\"{name}\"]"),
        }
    }

    fn summarize_plan(&self, plan: &Path) -> Result<PlanSummary> {
        let out = self.child().args(["show", "-json"]).arg(plan).what("terraform show -json <plan>").output()?.stdout;
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| Error::new(Phase::Terraform, format!("terraform show -json printed invalid JSON: {e}")))?;
        Ok(summary_of(&v))
    }

    pub fn apply(&self) -> Result<()> {
        let plan = self.state.plan_file();
        self.run(&["apply", "-input=false", "-auto-approve", &plan.display().to_string()], "terraform apply")
            .map_err(|e| self.after_interrupt(e))?;
        let _ = std::fs::remove_file(&plan);
        Ok(())
    }

    /// The stack's outputs: `obsctl_inventory` (the contract, as JSON text)
    /// and the optional `obsctl_vars` (see `contract::split_outputs`).
    pub fn outputs(&self) -> Result<(String, serde_json::Map<String, Value>)> {
        let out = self.child().args(["output", "-no-color", "-json"]).what("terraform output -json").output()?.stdout;
        let all: Value = serde_json::from_str(&out)
            .map_err(|e| Error::new(Phase::Terraform, format!("`terraform output -json` printed invalid JSON: {e}")))?;
        if all.get("obsctl_inventory").is_none() {
            return Err(Error::input(format!("the `{}` stack has no output `obsctl_inventory`", self.env.provider.name()))
                .hint("every stack must publish the inventory contract as output `obsctl_inventory` (see docs/contract.md)"));
        }
        crate::model::contract::split_outputs(&out)
    }

    /// Number of managed resources in the state, wherever it is (`terraform
    /// state pull`; needs `init`).
    pub fn resource_count(&self) -> Result<usize> {
        self.resource_count_in(&self.state.tf_data_dir())
    }

    fn resource_count_in(&self, data_dir: &Path) -> Result<usize> {
        let out = self.child_with_data_dir(data_dir).args(["state", "pull"]).what("terraform state pull").output()?.stdout;
        Ok(count_resources(&out))
    }

    /// Addresses of every resource in the state (none when there is no state yet).
    pub fn state_list(&self) -> Result<Vec<String>> {
        match self.child().args(["state", "list"]).what("terraform state list").output() {
            Ok(out) => Ok(out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()),
            Err(RunError::Exit(e)) if e.tail.iter().any(|l| l.contains("No state file was found")) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// An interrupted apply or destroy on the lab: wait for the machine
    /// steps Terraform started to end (lab.sh runs them detached, so they
    /// finish rather than stop half-way) before obsctl exits.
    fn after_interrupt(&self, err: Error) -> Error {
        match self.env.provider {
            Provider::Lab(_) => crate::tools::lab::settle_after(err, self.ws, &self.log),
            _ => err,
        }
    }

    /// `terraform force-unlock -force ID` (after the user confirmed).
    pub fn force_unlock(&self, id: &str) -> Result<()> {
        self.run(&["force-unlock", "-force", id], "terraform force-unlock")?;
        Ok(())
    }

    pub fn destroy(&self) -> Result<()> {
        let vars = self.state.tfvars();
        self.run(&["destroy", "-input=false", "-auto-approve", &format!("-var-file={}", vars.display())], "terraform destroy")
            .map_err(|e| self.after_interrupt(e))?;
        Ok(())
    }
}

/// Attempts of a Terraform command that changes nothing (init, plan).
const RETRIES: u32 = 3;

/// How a Terraform command that exited successfully ended.
enum Ran {
    Clean,
    /// `plan -detailed-exitcode` exited 2: the plan has changes.
    Changes,
}

/// `init` against the backend the environment file names (`-reconfigure`:
/// `init` refuses before this when that would lose track of a state).
const INIT: &[&str] = &["init", "-input=false", "-reconfigure"];

/// A state `migrate_state` moved: where from, where to, and the backup of
/// an old local file.
pub struct Moved {
    pub from: String,
    pub to: String,
    pub backup: Option<PathBuf>,
}

/// Managed resource instances in a state document (0 for no state). Data
/// sources (`mode: data`, e.g. the AMI lookup) are not counted: destroy has
/// nothing to remove for them.
fn count_resources(state: &str) -> usize {
    let Ok(v) = serde_json::from_str::<Value>(state) else { return 0 };
    v["resources"]
        .as_array()
        .map(|r| r.iter().filter(|x| x["mode"] != "data").map(|x| x["instances"].as_array().map_or(0, |i| i.len())).sum())
        .unwrap_or(0)
}

/// `password_wo_version` of the Grafana database in a state document.
fn grafana_db_version(state: &str) -> Option<u64> {
    grafana_db_attrs(state).map(|a| a["password_wo_version"].as_u64().unwrap_or(1))
}

/// The attributes of the Grafana database in a state document.
fn grafana_db_attrs(state: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(state).ok()?;
    v["resources"].as_array()?.iter().find_map(|r| {
        let ours = r["mode"] == "managed"
            && r["type"] == "aws_db_instance"
            && r["module"].as_str().is_some_and(|m| m.starts_with("module.grafana_db"));
        if !ours {
            return None;
        }
        Some(r["instances"].as_array()?.first()?["attributes"].clone())
    })
}

/// EC2 imports only RSA and ED25519 public keys (ECDSA is refused).
fn check_aws_key(public: &Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(public) else { return Ok(()) };
    if text.starts_with("ssh-ed25519 ") || text.starts_with("ssh-rsa ") {
        return Ok(());
    }
    let kind = text.split_whitespace().next().unwrap_or("?");
    Err(Error::input(format!("{} is a `{kind}` key; EC2 imports only ssh-ed25519 and ssh-rsa keys", public.display()))
        .hint(format!("replace it: ssh-keygen -t ed25519 -N '' -f {}", public.with_extension("").display())))
}

/// Network and throttling errors that go away when tried again. Anything
/// else (a bad argument, a validation error, a lock) is a real error.
fn is_transient(tail: &std::collections::VecDeque<String>) -> bool {
    const MARKERS: &[&str] = &[
        "connection reset by peer",
        "i/o timeout",
        "TLS handshake timeout",
        "context deadline exceeded",
        "Throttling",
        "RequestLimitExceeded",
        "503 Service Unavailable",
        "failed to query available provider packages",
    ];
    !tail.iter().any(|l| l.contains("Error acquiring the state lock")) && tail.iter().any(|l| MARKERS.iter().any(|m| l.contains(m)))
}

/// What a stack's provisioner script says (the lab's `lab: …` lines, e.g.
/// "building the Debian 12 base image"), from Terraform's
/// `<address> (local-exec): <line>`: the long waits of a first `up` are
/// explained there.
fn provisioner_message(line: &str) -> Option<String> {
    let (_, said) = line.split_once(" (local-exec): ")?;
    let said = said.trim();
    let said = said.strip_prefix("lab: ").unwrap_or(said);
    (!said.is_empty() && !said.starts_with("Executing:")).then(|| said.to_string())
}

/// A short progress message from a line of Terraform's human output.
fn progress_of(line: &str) -> Option<String> {
    for (marker, verb) in [
        (": Creation complete", "created"),
        (": Destruction complete", "destroyed"),
        (": Modifications complete", "updated"),
        (": Creating...", "creating"),
        (": Destroying...", "destroying"),
        (": Still creating...", "creating"),
    ] {
        if let Some(i) = line.find(marker) {
            return Some(format!("{verb} {}", &line[..i]));
        }
    }
    None
}

/// A failed Terraform command: the error block it printed, the log, and a
/// hint (the exact force-unlock command when a state lock is stuck).
fn failure(done: &Exited, env: &Environment, stack: &Path, data_dir: &Path) -> Error {
    let (what, log) = (&done.command, done.log.as_deref().unwrap_or(Path::new("terraform.log")));
    let lines: Vec<String> = done.tail.iter().cloned().collect();
    let start = lines.iter().position(|l| l.contains("Error:")).unwrap_or(lines.len().saturating_sub(10));
    let details: Vec<String> = lines[start..].iter().filter(|l| !l.trim().is_empty()).take(15).cloned().collect();
    if lines.iter().any(|l| l.contains("Error acquiring the state lock")) {
        // Another run (a teammate, a pipeline, or a dead run) holds Terraform's
        // state lock: the same exit code as obsctl's own environment lock.
        let field =
            |name: &str| lines.iter().find_map(|l| l.trim().strip_prefix(name).map(|s| s.trim().to_string())).filter(|s| !s.is_empty());
        let id = field("ID:").unwrap_or_else(|| "<ID>".into());
        let holder = match (field("Operation:"), field("Who:"), field("Created:")) {
            (Some(op), Some(who), Some(created)) => {
                format!(" ({} by {who} since {created})", op.trim_start_matches("OperationType").to_lowercase())
            }
            _ => String::new(),
        };
        return Error::new(Phase::Locked, format!("`{what}`: the Terraform state of `{}` is locked by another run{holder}", env.name))
            .details(details)
            .log(log)
            .hint(format!(
                "wait for that run to finish and try again; if it died: obsctl unlock --env {} --lock-id {id}   \
                 (or by hand: TF_DATA_DIR={} terraform -chdir={} force-unlock {id})",
                env.name,
                data_dir.display(),
                stack.display()
            ));
    }
    Error::new(Phase::Terraform, format!("`{what}` exited with status {}", done.code))
        .details(details)
        .log(log)
        .hint(format!("fix the cause above, then run `obsctl up --env {}` again (it resumes from Terraform's state)", env.name))
}

/// The Terraform CLI config obsctl uses: the user's own when
/// `TF_CLI_CONFIG_FILE` names an existing file, else one of ours that points
/// at a local provider mirror when there is one (offline machines).
fn cli_config(ws: &Workspace) -> Option<PathBuf> {
    if let Ok(f) = std::env::var("TF_CLI_CONFIG_FILE") {
        if Path::new(&f).is_file() {
            return None;
        }
    }
    let mirror = std::env::var("OBSCTL_TF_PLUGIN_MIRROR").unwrap_or_else(|_| "/opt/tf-plugins".into());
    let path = ws.tools_dir().join("terraform.rc");
    let text = if Path::new(&mirror).is_dir() {
        format!("provider_installation {{\n  filesystem_mirror {{\n    path = \"{mirror}\"\n  }}\n}}\n")
    } else {
        String::new()
    };
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        let _ = crate::state::workspace::private_dir(&ws.tools_dir());
        let _ = std::fs::write(&path, text);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transient_errors_are_told_from_real_ones() {
        let tail = |l: &str| std::collections::VecDeque::from(vec![l.to_string()]);
        assert!(is_transient(&tail("Error: … read tcp 10.0.0.1:443: connection reset by peer")));
        assert!(is_transient(&tail("Error: describing EC2 Instances: RequestLimitExceeded: Request limit exceeded.")));
        assert!(!is_transient(&tail("Error: Invalid value for variable")));
        assert!(!is_transient(&tail("Error acquiring the state lock: i/o timeout")));
    }

    #[test]
    fn grafana_db_version_is_read_from_the_state() {
        let db = |v: Value| {
            json!({ "resources": [
                { "mode": "data", "type": "aws_ami", "instances": [] },
                { "module": "module.grafana_db[0]", "mode": "managed", "type": "aws_db_instance", "name": "this",
                  "instances": [{ "attributes": { "identifier": "obsctl-prod-grafana", "password_wo_version": v } }] }
            ] })
            .to_string()
        };
        assert_eq!(grafana_db_version(&db(json!(3))), Some(3));
        assert_eq!(grafana_db_version(&db(Value::Null)), Some(1));
        assert_eq!(grafana_db_version(r#"{"resources": []}"#), None);
        assert_eq!(grafana_db_version(""), None);
        let from =
            |s: Value| grafana_db_attrs(&db(Value::Null).replace("\"password_wo_version\":null", &format!("\"snapshot_identifier\":{s}")));
        assert_eq!(from(json!("obsctl-prod-grafana-20261207071500")).unwrap()["snapshot_identifier"], "obsctl-prod-grafana-20261207071500");
        assert_eq!(from(Value::Null).unwrap()["snapshot_identifier"], Value::Null);
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_of("module.machine[\"mon-1\"].terraform_data.machine: Creation complete after 1s [id=x]").unwrap(),
            "created module.machine[\"mon-1\"].terraform_data.machine"
        );
        assert!(progress_of("Plan: 3 to add").is_none());
        assert_eq!(
            provisioner_message("module.machine[\"mon-1\"].terraform_data.machine (local-exec): lab: building the Debian 12 base image")
                .unwrap(),
            "building the Debian 12 base image"
        );
        assert!(provisioner_message("module.machine[\"mon-1\"].terraform_data.machine (local-exec): Executing: [\"/bin/sh\"]").is_none());
        assert!(provisioner_message("Apply complete!").is_none());
    }
}
