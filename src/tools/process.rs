//! Running child processes (terraform, ansible-playbook, ssh, cargo): one
//! checked way to run a child, whose failure is typed ([`RunError`]: it did
//! not start, it exited with status N, or obsctl was interrupted). Output is
//! streamed line by line into the run log (secrets redacted) and to a
//! callback. What a non-zero status means for one tool (Terraform's plan
//! exit code 2, its retries) is decided by that tool's module, not here.
//!
//! Interrupts (see docs/exit-codes.md): every child runs in its own process
//! group, so a Ctrl-C on the terminal, a signal to obsctl's process group
//! (a CI runner cancelling a job) or a hang-up reaches obsctl only. obsctl
//! then passes exactly one SIGINT to the running child, whatever signal it
//! got, and lets it finish what is in flight (Terraform releases its state
//! lock and writes its state). A second signal kills the child's process
//! group; so does the end of the child's grace period, as a backstop for a
//! child that hangs.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

use crate::error::{Error, Phase, Result};
use crate::signals;
use crate::tools::pipes;

const TAIL_LINES: usize = 40;
/// Lines of a failed child's output quoted in its error.
const DETAIL_LINES: usize = 12;

pub struct Child {
    program: String,
    args: Vec<OsString>,
    envs: Vec<(String, OsString)>,
    env_removed: Vec<OsString>,
    cwd: Option<PathBuf>,
    log: Option<PathBuf>,
    redact: Vec<String>,
    grace: Duration,
    phase: Phase,
    after_interrupt: bool,
    what: Option<String>,
}

/// A child that exited with status 0.
#[derive(Debug)]
pub struct Finished {
    /// The last lines the child printed (stdout and stderr interleaved).
    pub tail: VecDeque<String>,
}

/// A child that ran and exited with a non-zero status.
#[derive(Debug)]
pub struct Exited {
    /// `terraform apply`, `ansible-playbook site.yml`: the program and its
    /// first word that is not an option.
    pub command: String,
    pub code: i32,
    /// The last lines it printed.
    pub tail: VecDeque<String>,
    pub phase: Phase,
    pub log: Option<PathBuf>,
}

/// Why a checked run failed.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (not installed, not executable).
    Start { program: String, source: std::io::Error, phase: Phase },
    /// It ran and exited with a non-zero status.
    Exit(Exited),
    /// obsctl was interrupted (the child got its interrupt and stopped), or
    /// an I/O failure of obsctl's own; already a complete error.
    Stopped(Error),
}

impl Exited {
    /// The last lines of output, for an error's details.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        self.tail.iter().skip(self.tail.len().saturating_sub(n)).cloned().collect()
    }
}

impl From<Exited> for Error {
    fn from(e: Exited) -> Error {
        let mut err = Error::new(e.phase, format!("`{}` exited with status {}", e.command, e.code)).details(e.last_lines(DETAIL_LINES));
        if let Some(log) = e.log {
            err = err.log(log);
        }
        err
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Error {
        match e {
            RunError::Start { program, source, phase } => {
                let err = Error::new(phase, format!("failed to start `{program}`: {source}"));
                if source.kind() == std::io::ErrorKind::NotFound {
                    err.hint(format!("`{program}` is not installed or not on PATH; `obsctl doctor` lists what is missing"))
                } else {
                    err
                }
            }
            RunError::Exit(exited) => exited.into(),
            RunError::Stopped(err) => err,
        }
    }
}

impl RunError {
    /// The error, with `f` applied when the child ran and failed (to add
    /// the tool's own hint; a start failure keeps its "not installed" hint).
    pub fn on_exit(self, f: impl FnOnce(Error) -> Error) -> Error {
        match self {
            RunError::Exit(e) => f(e.into()),
            other => other.into(),
        }
    }
}

impl From<Error> for RunError {
    fn from(e: Error) -> RunError {
        RunError::Stopped(e)
    }
}

/// What `output` captured from a child that exited with status 0.
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
}

impl Child {
    pub fn new(program: impl Into<String>, phase: Phase) -> Child {
        Child {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            env_removed: Vec::new(),
            cwd: None,
            log: None,
            redact: Vec::new(),
            grace: Duration::from_secs(30),
            phase,
            after_interrupt: false,
            what: None,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.envs.push((k.to_string(), v.into()));
        self
    }

    /// The child does not inherit these variables of obsctl's environment.
    pub fn env_remove<I: IntoIterator<Item = OsString>>(mut self, keys: I) -> Self {
        self.env_removed.extend(keys);
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Append all output to this file.
    pub fn log(mut self, path: &Path) -> Self {
        self.log = Some(path.to_path_buf());
        self
    }

    pub fn redact(mut self, secrets: &[String]) -> Self {
        self.redact.extend(secrets.iter().filter(|s| s.len() >= 4).cloned());
        self
    }

    /// How long the child may take to stop after its interrupt before it is killed.
    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// Runs even after obsctl was interrupted (clean-up that waits for work
    /// in flight to end); an earlier interrupt is then not this run's error.
    pub fn after_interrupt(mut self) -> Self {
        self.after_interrupt = true;
        self
    }

    /// How messages name this command (default: the program and its first
    /// word that is not an option, e.g. `terraform apply`).
    pub fn what(mut self, what: impl Into<String>) -> Self {
        self.what = Some(what.into());
        self
    }

    fn name(&self) -> String {
        self.what.clone().unwrap_or_else(|| short(&self.display()))
    }

    /// The program, its arguments, environment and directory: what a run and
    /// an `exec` share.
    fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for k in &self.env_removed {
            cmd.env_remove(k);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    fn command(&self) -> Command {
        let mut cmd = self.base_command();
        cmd.stdin(Stdio::null());
        // Its own process group: signals for obsctl (terminal, group, CI
        // runner) never reach it directly; obsctl decides what to pass on.
        cmd.process_group(0);
        cmd
    }

    /// Replaces obsctl with the child on this terminal (stdin, stdout,
    /// stderr and signals are the child's from here on, and so is the exit
    /// status): for an interactive program such as `ssh`. Stays in obsctl's
    /// process group, the terminal's foreground. Returns only when the
    /// program could not start.
    pub fn exec(self) -> Error {
        let source = self.base_command().exec();
        self.start_error(source).into()
    }

    fn start_error(&self, source: std::io::Error) -> RunError {
        RunError::Start { program: self.program.clone(), source, phase: self.phase }
    }

    /// The command as a person would type it (for logs and messages).
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn exited(&self, code: i32, tail: VecDeque<String>) -> RunError {
        RunError::Exit(Exited { command: self.name(), code, tail, phase: self.phase, log: self.log.clone() })
    }

    fn check_signals(&self) -> Result<()> {
        if self.after_interrupt {
            Ok(())
        } else {
            signals::check()
        }
    }

    /// Runs to completion, calling `on_line` for every line of output.
    /// A non-zero exit status is an error ([`RunError::Exit`]).
    pub fn run(self, mut on_line: impl FnMut(&str)) -> Result<Finished, RunError> {
        // A signal that arrived between steps stops us before anything new starts.
        self.check_signals()?;
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut log = match &self.log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| Error::internal(format!("cannot open log {}: {e}", p.display())))?,
            ),
            None => None,
        };
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "\n### {} $ {}", crate::report::timestamp(), self.display());
        }
        let mut child = cmd.spawn().map_err(|e| self.start_error(e))?;

        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let pipes: Vec<u64> = [child.stdout.as_ref().map(|o| o.as_raw_fd()), child.stderr.as_ref().map(|e| e.as_raw_fd())]
            .into_iter()
            .flatten()
            .filter_map(pipes::inode)
            .collect();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, tx.clone()));
        }
        drop(tx);

        let pid = Pid::from_child(&child);
        let signals_at_start = signals::count();
        let mut forwarded = 0usize;
        let mut kill_at: Option<Instant> = None;
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let mut handle_line = |line: String, log: &mut Option<std::fs::File>| {
            let line = redact(&line, &self.redact);
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            on_line(&line);
            tail.push_back(line);
        };

        let status = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                handle_line(line, &mut log);
            }
            let seen = signals::count() - signals_at_start;
            if seen > forwarded {
                if forwarded == 0 {
                    // Exactly one interrupt, to the child itself (not its
                    // group: what it runs is its own business, e.g.
                    // Terraform's provisioners), whatever signal obsctl got.
                    if let Some(f) = log.as_mut() {
                        let _ = writeln!(
                            f,
                            "### obsctl: {} received; sending SIGINT to pid {}",
                            signals::name(signals::last()),
                            pid.as_raw_nonzero()
                        );
                    }
                    let _ = kill_process(pid, Signal::INT);
                    kill_at = Some(Instant::now() + self.grace);
                } else {
                    // A second signal: the user insists.
                    kill_group(pid, &mut log, "a second signal");
                }
                forwarded = seen;
            }
            if kill_at.is_some_and(|t| Instant::now() >= t) {
                kill_group(pid, &mut log, "the grace period ended");
                kill_at = None;
            }
            if let Some(status) = child.try_wait().map_err(|e| Error::internal(format!("waiting for {}: {e}", self.program)))? {
                break status;
            }
        };
        // The child is gone; what it started may still hold its output open.
        // A process that left its group (Mitogen's multiplexer starts its own
        // session) survives the group kill, and waiting for the end of its
        // output would wait forever: after a kill such holders are killed
        // too, after a normal exit obsctl stops waiting for them.
        let mut drain_until = Instant::now() + if forwarded > 0 { KILLED_DRAIN } else { EXITED_DRAIN };
        let mut holders_killed = false;
        let closed = loop {
            match rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
                Ok(line) => handle_line(line, &mut log),
                Err(mpsc::RecvTimeoutError::Disconnected) => break true,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let holders = pipes::holders(&pipes);
                    if forwarded == 0 || holders_killed || holders.is_empty() {
                        if let Some(f) = log.as_mut() {
                            let _ = writeln!(
                                f,
                                "### obsctl: `{}` exited; not waiting for processes {holders:?} that keep its output open",
                                self.name()
                            );
                        }
                        break false;
                    }
                    if let Some(f) = log.as_mut() {
                        let _ = writeln!(
                            f,
                            "### obsctl: killing processes {holders:?} that outlived `{}` and keep its output open",
                            self.name()
                        );
                    }
                    for h in holders {
                        if let Some(pid) = Pid::from_raw(h) {
                            let _ = kill_process(pid, Signal::KILL);
                        }
                    }
                    holders_killed = true;
                    drain_until = Instant::now() + KILLED_DRAIN;
                }
            }
        };
        if closed {
            for r in readers {
                let _ = r.join();
            }
        }
        // After an interrupt, forks of the child that left its group and its
        // pipes (Mitogen's workers) are stopped too: nothing of the run stays.
        if forwarded > 0 {
            let left = pipes::same_command(&self.program, &self.args);
            if !left.is_empty() {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "### obsctl: killing processes {left:?} left by `{}`", self.name());
                }
                for p in left.into_iter().filter_map(Pid::from_raw) {
                    let _ = kill_process(p, Signal::KILL);
                }
            }
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "### exit status {code}");
        }
        if signals::count() > signals_at_start && !self.after_interrupt {
            let sig = signals::last();
            return Err(RunError::Stopped(
                Error::new(Phase::Interrupted(sig), format!("`{}` stopped after {} (exit status {code})", self.name(), signals::name(sig)))
                    .details(tail.iter().skip(tail.len().saturating_sub(8)).cloned().collect()),
            ));
        }
        if code != 0 {
            return Err(self.exited(code, tail));
        }
        Ok(Finished { tail })
    }

    /// Runs and captures stdout (for small machine-readable outputs like
    /// `terraform output -json`); stderr goes to the log. A non-zero exit
    /// status is an error whose tail is stderr.
    pub fn output(self) -> Result<Captured, RunError> {
        self.check_signals()?;
        let mut cmd = self.command();
        let out = cmd.output().map_err(|e| self.start_error(e))?;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if let Some(p) = &self.log {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
                let _ = writeln!(f, "\n### {} $ {}\n{}", crate::report::timestamp(), self.display(), redact(&stderr, &self.redact));
            }
        }
        // The child finished what it was doing; an interrupt that arrived
        // meanwhile stops obsctl now.
        self.check_signals()?;
        match out.status.code() {
            Some(0) => Ok(Captured { stdout: String::from_utf8_lossy(&out.stdout).to_string(), stderr }),
            code => {
                let tail = stderr.lines().map(|l| redact(l, &self.redact)).collect::<Vec<_>>();
                let tail = tail[tail.len().saturating_sub(TAIL_LINES)..].iter().cloned().collect();
                Err(self.exited(code.unwrap_or(-1), tail))
            }
        }
    }
}

/// How long output may stay open after the child exited: on its own, and
/// after obsctl interrupted or killed it.
pub(crate) const EXITED_DRAIN: Duration = Duration::from_secs(3);
const KILLED_DRAIN: Duration = Duration::from_secs(2);

fn kill_group(pid: Pid, log: &mut Option<std::fs::File>, why: &str) {
    if let Some(f) = log.as_mut() {
        let _ = writeln!(f, "### obsctl: {why}; killing process group {}", pid.as_raw_nonzero());
    }
    let _ = kill_process_group(pid, Signal::KILL);
}

fn spawn_reader(stream: impl std::io::Read + Send + 'static, tx: mpsc::Sender<String>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

pub fn redact(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[REDACTED]");
        }
    }
    out
}

/// `/x/venv/bin/ansible-playbook -i … site.yml` → `ansible-playbook site.yml`;
/// `terraform -chdir=… apply -input=false …` → `terraform apply`.
fn short(cmd: &str) -> String {
    let mut words = cmd.split_whitespace().filter(|w| !w.starts_with('-'));
    let program = words.next().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or_default();
    match words.next() {
        Some(w) => format!("{program} {}", w.rsplit('/').next().unwrap_or(w)),
        None => program.to_string(),
    }
}

/// Where `program` is on PATH, if it is.
pub fn on_path(program: &str) -> Option<PathBuf> {
    which::which(program).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence() {
        let s = redact("pw=hunter22 again hunter22", &["hunter22".to_string()]);
        assert_eq!(s, "pw=[REDACTED] again [REDACTED]");
    }

    #[test]
    fn streams_lines_and_types_a_non_zero_exit() {
        let mut lines = Vec::new();
        let err = Child::new("sh", Phase::Ansible)
            .args(["-c", "echo one; echo two >&2; exit 3"])
            .what("the script")
            .run(|l| lines.push(l.to_string()))
            .err()
            .unwrap();
        lines.sort();
        assert_eq!(lines, vec!["one", "two"]);
        let RunError::Exit(exited) = err else { panic!("not an exit error: {err:?}") };
        assert_eq!((exited.code, exited.phase, exited.command.as_str()), (3, Phase::Ansible, "the script"));
        let err = Error::from(exited);
        assert_eq!(err.message, "`the script` exited with status 3");
        assert_eq!(err.details.len(), 2);
    }

    #[test]
    fn success_is_ok_and_output_captures_stdout() {
        assert!(Child::new("sh", Phase::Internal).args(["-c", "echo hi"]).run(|_| {}).is_ok());
        let out = Child::new("sh", Phase::Internal).args(["-c", "echo out; echo err >&2"]).output().ok().unwrap();
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("out\n", "err\n"));
        let Err(RunError::Exit(e)) = Child::new("sh", Phase::Hosts).args(["-c", "echo why >&2; exit 255"]).output() else {
            panic!("a failed output() must be an exit error")
        };
        assert_eq!((e.code, e.tail.back().map(String::as_str)), (255, Some("why")));
    }

    #[test]
    fn missing_program_is_a_start_failure_with_hint() {
        let err = Child::new("obsctl-no-such-tool", Phase::Terraform).run(|_| {}).err().unwrap();
        assert!(matches!(err, RunError::Start { .. }), "{err:?}");
        let err = Error::from(err);
        assert!(err.message.starts_with("failed to start `obsctl-no-such-tool`"), "{}", err.message);
        assert!(err.hint.unwrap().contains("not installed"));
        assert_eq!(err.phase, Phase::Terraform);
    }

    #[test]
    fn the_child_has_its_own_process_group() {
        let out = Child::new("sh", Phase::Internal).args(["-c", "ps -o pgid= -p $$"]).output().ok().unwrap();
        let child_group: i32 = out.stdout.trim().parse().unwrap();
        assert_ne!(child_group, rustix::process::getpgrp().as_raw_nonzero().get());
    }

    #[test]
    fn short_names() {
        assert_eq!(short("terraform -chdir=/x apply -input=false /p/plan"), "terraform apply");
        assert_eq!(short("/usr/bin/ssh-keygen -q"), "ssh-keygen");
    }
}
