//! One error type for the whole program: what failed, in which phase (which
//! decides the exit code), a hint naming the next command to type, and where
//! the full log is.

use std::fmt;
use std::path::PathBuf;

/// The phase a failure belongs to. Each has its own exit code (see
/// `docs/exit-codes.md`), so pipelines can tell "bad input" from "a host is down".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Wrong environment file, malformed contract, bad flags.
    Input,
    /// A tool or host prerequisite is missing (terraform, root, lab packages, venv).
    Prerequisite,
    /// Another run holds the environment's lock.
    Locked,
    /// terraform init/plan/apply/output/destroy failed.
    Terraform,
    /// Hosts did not answer SSH in time.
    Hosts,
    /// ansible-playbook failed.
    Ansible,
    /// The stack came up but is not healthy (verify, status).
    Verify,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted(i32),
    /// A bug or an unexpected I/O failure.
    Internal,
}

/// A usage error (unknown subcommand or flag, bad value), printed by the
/// argument parser: `EX_USAGE`.
pub const USAGE_EXIT: u8 = 64;

/// `obsctl plan`: the infrastructure or the configuration drifted.
pub const DRIFT_EXIT: u8 = 2;

impl Phase {
    pub fn exit_code(self) -> u8 {
        match self {
            Phase::Input => 10,
            Phase::Prerequisite => 11,
            Phase::Locked => 12,
            Phase::Terraform => 20,
            Phase::Hosts => 30,
            Phase::Ansible => 40,
            Phase::Verify => 50,
            Phase::Interrupted(signal) => (128 + signal) as u8,
            Phase::Internal => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Input => "input",
            Phase::Prerequisite => "prerequisite",
            Phase::Locked => "locked",
            Phase::Terraform => "terraform",
            Phase::Hosts => "hosts",
            Phase::Ansible => "ansible",
            Phase::Verify => "verify",
            Phase::Interrupted(_) => "interrupted",
            Phase::Internal => "internal",
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub phase: Phase,
    pub message: String,
    pub hint: Option<String>,
    /// Last relevant lines of the child's output.
    pub details: Vec<String>,
    pub log: Option<PathBuf>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(phase: Phase, message: impl Into<String>) -> Self {
        Error { phase, message: message.into(), hint: None, details: Vec::new(), log: None }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::new(Phase::Input, message)
    }

    pub fn prerequisite(message: impl Into<String>) -> Self {
        Error::new(Phase::Prerequisite, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(Phase::Internal, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn details(mut self, lines: Vec<String>) -> Self {
        self.details = lines;
        self
    }

    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    /// Attach the run log unless a more specific one is already set.
    pub fn or_log(mut self, path: impl Into<PathBuf>) -> Self {
        if self.log.is_none() {
            self.log = Some(path.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// I/O errors name the path they concern.
pub trait IoContext<T> {
    fn with_path(self, what: &str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, what: &str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::internal(format!("cannot {what} {}: {e}", path.display())))
    }
}

/// Pretty JSON of a value obsctl built itself (a record, the inventory):
/// it always serializes; an error here is a bug, reported as one.
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::internal(format!("cannot write JSON: {e}")))
}
