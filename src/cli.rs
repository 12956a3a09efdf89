//! Command-line flags (raw). `main` turns them into a `Context`.

use clap::{Args, Parser, Subcommand};

use crate::report::OutputFormat;

#[derive(Debug, Parser)]
#[command(
    name = "obsctl",
    version,
    about = "Deploy a complete observability stack (Prometheus, Alertmanager, node_exporter, Grafana, Loki, Alloy) and the application it watches, per environment, with Terraform and Ansible.",
    after_help = "Examples:\n  obsctl up --env dev                 provision, configure and verify the local lab\n  obsctl status --env dev             health of every host and component\n  obsctl destroy --env dev            tear it down\n  obsctl up --env prod --auto-approve --output json   as a pipeline step\n\nEnvironments are files in environments/<name>.toml. State, inventory, secrets\nand run logs live in .obsctl/<env>/. Exit codes: docs/exit-codes.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Output format: human (progress on a terminal, plain lines otherwise) or
    /// json (one event per line on stdout, then a summary object).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub output: OutputFormat,

    /// Show the live output of Terraform and Ansible.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EnvArg {
    /// Environment: the name of a file in environments/ (e.g. dev, staging, prod).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Provision (Terraform), configure (Ansible) and verify an environment.
    Up(UpArgs),
    /// Tear an environment down: machines, networks and state obsctl created.
    Destroy(DestroyArgs),
    /// Show what `up` would change: the infrastructure (terraform plan), then,
    /// when it is in sync, the hosts' configuration (ansible-playbook --check)
    /// (exit 0 in sync, 2 on drift).
    Plan(EnvOnly),
    /// Print the Ansible inventory obsctl generated for an environment.
    Inventory(InventoryArgs),
    /// Health of every host and component of a running environment.
    Status(EnvOnly),
    /// Check this machine's prerequisites (terraform, Ansible venv, lab packages).
    Doctor(DoctorArgs),
    /// Release a Terraform state lock left by a run that died (asks first).
    Unlock(UnlockArgs),
    /// Open a shell on one of the environment's hosts (or run COMMAND there),
    /// with the environment's SSH key and pinned host keys.
    Ssh(SshArgs),
    /// Maintenance silences on the environment's Alertmanager cluster: add, list, expire.
    Silence(SilenceArgs),
    /// Move the environment's Terraform state to where its [state] now says
    /// (e.g. from the local file to S3); never overwrites a state found there.
    MigrateState(EnvOnly),
    /// Replace a generated secret: `grafana-db` gets a new password (its
    /// version raised); the next `up` sends it to RDS and to Grafana.
    RotateSecret(RotateSecretArgs),
    /// Write one dated archive of what the environment cannot re-create from
    /// the repository: Prometheus' TSDB, Alertmanager's silences and
    /// notification log, Grafana's SQLite database (on RDS: a snapshot the
    /// archive names), Loki's filesystem data, and the controller's state
    /// (CA, passwords, SSH key, records) encrypted with age.
    Backup(BackupArgs),
    /// Put an archive of `obsctl backup` back: the controller's state first,
    /// then the data, host by host; then verify.
    Restore(RestoreArgs),
    /// Issue every host's certificate again now (from the environment's CA)
    /// and send them to the hosts; `up` renews those with fewer than 30 days left.
    /// With --rotate-ca, a new CA replaces the old in three runs that keep
    /// every client trusting its servers.
    RenewCerts(RenewCertsArgs),
    /// The facts the docs are generated from and checked against, as JSON:
    /// the component registry, every environment (defaults filled in), the
    /// exit codes and the command line (tests/docs/drift.py). Not for users.
    #[command(hide = true)]
    Facts,
}

#[derive(Debug, Args)]
pub struct RenewCertsArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// Replace the environment's CA too: every host and obsctl trust the old
    /// and the new CA; the new one issues every certificate; the old one is
    /// no longer trusted (three configuration runs; an interrupted rotation
    /// goes on from its last finished step when run again).
    #[arg(long)]
    pub rotate_ca: bool,
}

#[derive(Debug, Args)]
pub struct RotateSecretArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// Which secret: grafana-db (the password of Grafana's RDS database).
    #[arg(value_enum)]
    pub secret: SecretName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretName {
    GrafanaDb,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// The lock ID Terraform printed ("Lock Info: ID: …").
    #[arg(long, value_name = "ID")]
    pub lock_id: String,

    /// Do not ask (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// Render the inventory from this contract instead of the last `up`: a
    /// stack's `terraform output -json`, or the bare `obsctl_inventory` value
    /// (docs/contract.md). Validates it, then creates what the inventory
    /// names, as `up` does (the state folder, the CA, host certificates,
    /// passwords); writes no inventory.json.
    #[arg(long, value_name = "FILE")]
    pub contract: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// The host, by its name in the environment file (e.g. mon-1).
    #[arg(value_name = "HOST")]
    pub host: String,

    /// A command to run there instead of a shell (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnvOnly {
    #[command(flatten)]
    pub env: EnvArg,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// Apply without asking (implied when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,

    /// Apply a plan that destroys or replaces resources of a protected environment.
    #[arg(long)]
    pub allow_destroy: bool,

    /// Leave components out of this run, e.g. --without grafana,loki,alloy
    /// (for machines that cannot reach Grafana's APT repository).
    #[arg(long, value_delimiter = ',', value_name = "COMPONENT,...")]
    pub without: Vec<String>,

    /// Stop after Terraform and the inventory (no SSH wait, Ansible or verify),
    /// e.g. for hosts that do not really exist (AWS mock).
    #[arg(long)]
    pub skip_configure: bool,

    /// Run one part only, on an environment that is already provisioned:
    /// `configure` (wait for hosts, Ansible, verify) or `verify`.
    #[arg(long, value_enum, value_name = "PART", conflicts_with = "skip_configure")]
    pub only: Option<OnlyPart>,

    /// Always run Ansible, even when nothing changed since the last
    /// configuration (otherwise one SSH look per host decides; `[up]
    /// always_configure = true` in the environment file does the same).
    #[arg(long, conflicts_with = "skip_configure")]
    pub full: bool,

    /// Also upgrade the Debian packages obsctl manages to their APT candidate
    /// (`status` and `plan` list the updates pending), restarting each
    /// upgraded service one HA peer at a time, each ready before the next;
    /// the summary shows the versions before → after. Role-pinned versions
    /// (Grafana, Loki, Promtail) stay pinned. Implies a full Ansible run.
    #[arg(long, conflicts_with_all = ["skip_configure", "only"])]
    pub upgrade: bool,

    /// Replace these hosts' machines (lab: a new machine; aws: a new
    /// instance) and configure the new ones. Each keeps its data volume,
    /// attached to the replacement (docs/upgrades.md). `bastion` replaces
    /// the environment's bastion alone (its new host key pinned; the hosts
    /// keep the fast path). A protected environment also needs
    /// --allow-destroy.
    #[arg(long, value_delimiter = ',', value_name = "HOST,...", conflicts_with_all = ["only"])]
    pub replace: Vec<String>,

    /// A change of `os` replaces a host whose component runs on no other
    /// host (no HA peer): go ahead without asking, accepting that component's
    /// gap (`up` names the hosts and how long; off a terminal it refuses
    /// without this flag).
    #[arg(long, conflicts_with_all = ["only", "skip_configure"])]
    pub accept_gap: bool,

    /// Seconds to wait for every host to answer SSH.
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub ssh_timeout: u64,

    /// Seconds to wait for every scrape target to be up.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub verify_timeout: u64,
}

impl UpArgs {
    /// `up --only configure --full --auto-approve` of `env`: what obsctl runs
    /// itself when the hosts must take new files now (renew-certs, restore).
    pub fn reconfigure(env: &str, verify_timeout: u64) -> UpArgs {
        UpArgs {
            env: EnvArg { env: env.to_string() },
            auto_approve: true,
            allow_destroy: false,
            without: Vec::new(),
            skip_configure: false,
            only: Some(OnlyPart::Configure),
            full: true,
            upgrade: false,
            replace: Vec::new(),
            accept_gap: false,
            ssh_timeout: 180,
            verify_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyPart {
    Configure,
    Verify,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub env: EnvArg,

    /// Do not ask (unprotected environments; implied when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,

    /// Confirm the destruction of a protected environment without a prompt:
    /// must equal the environment's name.
    #[arg(long, value_name = "NAME")]
    pub confirm_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also check what this environment's provider needs.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Option<String>,

    /// Install what can be installed: the lab's Debian packages (as root) and
    /// the Ansible venv. `up` does the same on first use.
    #[arg(long)]
    pub fix: bool,
}

#[derive(Debug, Args)]
pub struct SilenceArgs {
    #[command(flatten)]
    pub env: EnvArg,

    #[command(subcommand)]
    pub command: SilenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts that match every MATCHER: label=value, label!=value,
    /// label=~regex or label!~regex (e.g. host=app-1 alertname=InstanceDown).
    Add {
        #[arg(required = true, value_name = "MATCHER")]
        matchers: Vec<String>,

        /// How long the silence holds, e.g. 30m, 2h, 1d.
        #[arg(long, short = 'd', default_value = "1h", value_name = "DURATION")]
        duration: String,

        /// Why the alerts are silenced (shown to whoever is on call).
        #[arg(long, short = 'c', value_name = "TEXT")]
        comment: String,

        /// Who silences them (default: $USER@hostname).
        #[arg(long, value_name = "NAME")]
        author: Option<String>,
    },
    /// List the active and pending silences.
    List {
        /// Include expired silences.
        #[arg(long)]
        all: bool,
    },
    /// End silences now.
    Expire {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The folder the archive is written to (default .obsctl/backups/<env>/;
    /// copy it off this machine).
    #[arg(long, value_name = "DIR")]
    pub to: Option<std::path::PathBuf>,
    /// The age identity that encrypts the controller's state (created when
    /// missing; default ~/.config/obsctl/backup-<env>.agekey). Never inside .obsctl/.
    #[arg(long, value_name = "FILE")]
    pub key: Option<std::path::PathBuf>,
    /// Take only these items (comma-separated names of docs/backup.md's
    /// table, e.g. grafana-rds-snapshot); the controller's state always.
    #[arg(long, value_name = "ITEM", value_delimiter = ',')]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The archive `obsctl backup` wrote (its .sha256 beside it is checked too).
    #[arg(long, value_name = "ARCHIVE")]
    pub from: std::path::PathBuf,
    /// The age identity the archive was encrypted for (default ~/.config/obsctl/backup-<env>.agekey).
    #[arg(long, value_name = "FILE")]
    pub key: Option<std::path::PathBuf>,
    /// Restore an archive of this other environment (e.g. prod's into a new region's).
    #[arg(long, value_name = "NAME")]
    pub accept_env: Option<String>,
    /// Seconds to wait for every scrape target to be up afterwards.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub verify_timeout: u64,
    /// Leave Grafana's RDS database as it is: the archive's snapshot is
    /// neither checked nor used (everything else is restored).
    #[arg(long)]
    pub keep_grafana_db: bool,
}
