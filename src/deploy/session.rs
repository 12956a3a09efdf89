//! The session every command opens: the environment loaded and validated,
//! its lock held where needed, a run directory with the run log, one printer.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::model::environment::{self, Environment};
use crate::report::Printer;
use crate::state::deployment::Deployment;
use crate::state::lock::{self, EnvLock};
use crate::state::workspace::{private_dir, StateDir, Workspace};

pub struct Session<'a> {
    pub ws: Workspace,
    pub env: Environment,
    pub state: StateDir,
    pub run_dir: PathBuf,
    pub printer: &'a Printer,
    /// stdin and stderr are terminals: prompts are allowed.
    pub interactive: bool,
    /// Held until the session ends; None for the commands that only look.
    _lock: Option<EnvLock>,
}

impl<'a> Session<'a> {
    /// Loads the environment, takes its lock and creates the run directory
    /// `.obsctl/<env>/runs/<timestamp>-<command>/`.
    pub fn open(env_name: &str, command: &str, printer: &'a Printer) -> Result<Session<'a>> {
        Self::open_with(env_name, command, printer, Ok)
    }

    /// A session for a command that only looks (status, silence, inventory,
    /// doctor): the environment and a run directory with its log, no lock
    /// (it runs beside an `up`) and no state directory made beyond the run's.
    /// `check` sees the environment first: arguments it refuses leave nothing behind.
    pub fn open_unlocked(
        env_name: &str,
        command: &str,
        printer: &'a Printer,
        check: impl FnOnce(&Environment) -> Result<()>,
    ) -> Result<Session<'a>> {
        let ws = Workspace::discover()?;
        let env = environment::load(&ws.environments_dir(), env_name)?;
        check(&env)?;
        let state = ws.state(env_name);
        Self::start(ws, env, state, command, printer, None)
    }

    /// `open`, with the environment this run works on built by `plan` from
    /// the file's (e.g. narrowed by `--without`) and never changed after: a
    /// command refused for its arguments leaves nothing behind.
    pub fn open_with(
        env_name: &str,
        command: &str,
        printer: &'a Printer,
        plan: impl FnOnce(Environment) -> Result<Environment>,
    ) -> Result<Session<'a>> {
        let ws = Workspace::discover()?;
        let env = plan(environment::load(&ws.environments_dir(), env_name)?)?;
        let state = ws.state(env_name);
        state.ensure()?;
        let lock = match lock::acquire(&state.lock_file(), env_name, &format!("obsctl {command} --env {env_name}"))? {
            lock::Acquired::Fresh(l) => l,
            lock::Acquired::TakenOver(l, h) => {
                printer.warn(&format!(
                    "took over the lock of a run that died: `{}` (pid {} on {}, started {})",
                    h.command, h.pid, h.host, h.started
                ));
                l
            }
        };
        Self::start(ws, env, state, command, printer, Some(lock))
    }

    /// Creates the run directory `.obsctl/<env>/runs/<timestamp>-<command>/`
    /// and sends the printer's lines to its `obsctl.log`.
    fn start(
        ws: Workspace,
        env: Environment,
        state: StateDir,
        command: &str,
        printer: &'a Printer,
        lock: Option<EnvLock>,
    ) -> Result<Session<'a>> {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"))
            .unwrap_or_default();
        let mut run_dir = state.runs_dir().join(format!("{stamp}-{command}"));
        for n in 2.. {
            if !run_dir.exists() {
                break;
            }
            run_dir = state.runs_dir().join(format!("{stamp}-{command}-{n}"));
        }
        private_dir(&run_dir)?;
        printer.log_to(run_dir.join("obsctl.log"));
        panic_on_demand();
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !printer.is_json();
        Ok(Session { ws, env, state, run_dir, printer, interactive, _lock: lock })
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    pub fn terraform(&self) -> crate::tools::terraform::Terraform<'_> {
        crate::tools::terraform::Terraform {
            ws: &self.ws,
            env: &self.env,
            state: &self.state,
            log: self.log("terraform.log"),
            printer: self.printer,
        }
    }

    /// Asks y/N on the terminal.
    pub fn confirm(&self, question: &str) -> bool {
        matches!(self.printer.prompt(&format!("{question} [y/N] ")).to_lowercase().as_str(), "y" | "yes")
    }
}

/// Tests of the panic handler (tests/cli.rs) need a bug on demand.
#[allow(clippy::panic, reason = "the one deliberate panic: tests/cli.rs checks the panic hook with it")]
fn panic_on_demand() {
    if std::env::var_os("OBSCTL_TEST_PANIC").is_some() {
        panic!("OBSCTL_TEST_PANIC is set");
    }
}

/// The record of what the last `up` deployed, and the environment as it
/// deployed it (the components that run really enabled, `--without`).
pub fn deployed(state: &StateDir, env: &Environment) -> Result<(Deployment, Environment)> {
    let d = Deployment::require(state, &env.name)?;
    let env = env.clone().as_deployed(&d.components);
    Ok((d, env))
}

/// Seconds with two decimals, for JSON timings.
pub fn secs(d: std::time::Duration) -> f64 {
    crate::report::round(d)
}

/// After Ctrl-C/SIGTERM: say what state things are in and how to go on.
pub fn interrupted_hint(err: Error, env: &str, command: &str) -> Error {
    if !matches!(err.phase, crate::error::Phase::Interrupted(_)) || err.hint.is_some() {
        return err;
    }
    err.hint(format!(
        "the running step was given time to stop cleanly (Terraform saves its state and releases its lock); \
         nothing else was started. Continue with: obsctl {command} --env {env}"
    ))
}

/// Seconds spent per phase, for the summary.
pub type Timings = Map<String, Value>;

pub fn timed<T>(timings: &mut Timings, phase: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f();
    timings.insert(phase.into(), json!(secs(t.elapsed())));
    out
}
