//! Running child processes (terraform, ansible-playbook, ssh, cargo):
//! output streamed line by line into the run log (secrets redacted) and to a
//! callback, interrupts handled the way DESIGN.md §6 asks:
//!
//! * Ctrl-C on a terminal already reached the child (same process group):
//!   nothing is sent again; SIGTERM, or SIGINT from `kill`, is passed on once.
//! * The child then gets a grace period to finish (Terraform releases its
//!   state lock and writes its state). A second signal, or the end of the
//!   grace period, kills it.
//! * "failed to start" is a different error from "exited with status N".

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Phase, Result};
use crate::signals;

const TAIL_LINES: usize = 40;

pub struct Child {
    program: String,
    args: Vec<OsString>,
    envs: Vec<(String, OsString)>,
    cwd: Option<PathBuf>,
    log: Option<PathBuf>,
    redact: Vec<String>,
    grace: Duration,
    phase: Phase,
}

pub struct Finished {
    pub code: i32,
    /// The last lines the child printed (stdout and stderr interleaved).
    pub tail: VecDeque<String>,
}

impl Child {
    pub fn new(program: &str, phase: Phase) -> Child {
        Child {
            program: program.to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            log: None,
            redact: Vec::new(),
            grace: Duration::from_secs(30),
            phase,
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

    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// "failed to start" (with a hint when the program is missing) is a
    /// different error from "exited with status N".
    fn start_error(&self, e: std::io::Error) -> Error {
        let err = Error::new(self.phase, format!("failed to start `{}`: {e}", self.program));
        if e.kind() == std::io::ErrorKind::NotFound {
            err.hint(format!("`{}` is not installed or not on PATH; `obsctl doctor` lists what is missing", self.program))
        } else {
            err
        }
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

    /// Runs to completion, calling `on_line` for every line of output.
    /// Returns the exit code; a non-zero code is not an error here.
    pub fn run(self, mut on_line: impl FnMut(&str)) -> Result<Finished> {
        // A signal that arrived between steps stops us before anything new starts.
        signals::check()?;
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
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, tx.clone()));
        }
        drop(tx);

        let pid = child.id() as libc::pid_t;
        let on_tty = std::io::stdin().is_terminal();
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
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => handle_line(line, &mut log),
                Err(mpsc::RecvTimeoutError::Timeout) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            let seen = signals::count() - signals_at_start;
            if seen > forwarded {
                let sig = signals::received().unwrap_or(libc::SIGTERM);
                if forwarded == 0 {
                    // First signal: pass it on unless the terminal already did.
                    if !(sig == libc::SIGINT && on_tty) {
                        unsafe { libc::kill(pid, sig) };
                    }
                    kill_at = Some(Instant::now() + self.grace);
                } else {
                    // Second signal: the user insists.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                forwarded = seen;
            }
            if kill_at.is_some_and(|t| Instant::now() >= t) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                kill_at = None;
            }
            if let Some(status) = child.try_wait().map_err(|e| Error::internal(format!("waiting for {}: {e}", self.program)))? {
                break status;
            }
        };
        for line in rx.iter() {
            handle_line(line, &mut log);
        }
        for r in readers {
            let _ = r.join();
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "### exit status {code}");
        }
        if let Some(sig) = signals::received().filter(|_| signals::count() > signals_at_start) {
            return Err(Error::new(
                Phase::Interrupted(sig),
                format!("`{}` stopped after {} (exit status {code})", short(&self.display()), signals::name(sig)),
            )
            .details(tail.iter().rev().take(8).rev().cloned().collect()));
        }
        Ok(Finished { code, tail })
    }

    /// Runs and captures stdout only (for small machine-readable outputs like
    /// `terraform output -json`); stderr goes to the log.
    pub fn output(self) -> Result<(i32, String, String)> {
        signals::check()?;
        let mut cmd = self.command();
        let out = cmd.output().map_err(|e| self.start_error(e))?;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if let Some(p) = &self.log {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
                let _ = writeln!(f, "\n### {} $ {}\n{}", crate::report::timestamp(), self.display(), redact(&stderr, &self.redact));
            }
        }
        // The child shares our process group: a Ctrl-C/SIGTERM during it
        // must stop us too, not only the child.
        signals::check()?;
        Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string(), stderr))
    }
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

/// `terraform -chdir=… apply -input=false …` → `terraform apply`.
fn short(cmd: &str) -> String {
    cmd.split_whitespace().filter(|w| !w.starts_with('-')).take(2).collect::<Vec<_>>().join(" ")
}

/// Is `program` on PATH?
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
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
    fn streams_lines_and_exit_code() {
        let mut lines = Vec::new();
        let done =
            Child::new("sh", Phase::Internal).args(["-c", "echo one; echo two >&2; exit 3"]).run(|l| lines.push(l.to_string())).unwrap();
        assert_eq!(done.code, 3);
        lines.sort();
        assert_eq!(lines, vec!["one", "two"]);
    }

    #[test]
    fn missing_program_is_a_start_failure_with_hint() {
        let err = Child::new("obsctl-no-such-tool", Phase::Terraform).run(|_| {}).err().unwrap();
        assert!(err.message.starts_with("failed to start `obsctl-no-such-tool`"), "{}", err.message);
        assert!(err.hint.unwrap().contains("not installed"));
        assert_eq!(err.phase, Phase::Terraform);
    }
}
