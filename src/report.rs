//! The one printer. Everything obsctl tells the user goes through here, so
//! one place knows whether we are on a terminal (progress spinners), in a log
//! (plain timestamped lines) or in a pipeline (`--output json`: one JSON
//! object per line on stdout).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

pub struct Printer {
    format: OutputFormat,
    tty: bool,
    verbose: bool,
    started: Instant,
    bar: Mutex<Option<(ProgressBar, String)>>,
    /// Copy of every human line for the run log.
    log: Mutex<Option<std::fs::File>>,
}

pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Printer {
    pub fn new(format: OutputFormat, verbose: bool) -> Printer {
        Printer {
            format,
            tty: std::io::stderr().is_terminal() && format == OutputFormat::Human,
            verbose,
            started: Instant::now(),
            bar: Mutex::new(None),
            log: Mutex::new(None),
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Mirror every line into the run's own log file from now on.
    pub fn log_to(&self, file: std::fs::File) {
        *self.log.lock().unwrap() = Some(file);
    }

    fn to_log(&self, line: &str) {
        if let Some(f) = self.log.lock().unwrap().as_mut() {
            let _ = writeln!(f, "{} {}", timestamp(), line);
        }
    }

    /// A line for a person, on stderr. On a terminal it is printed above the
    /// spinner; off a terminal it gets a timestamp.
    fn line(&self, text: &str) {
        self.to_log(text);
        if self.is_json() {
            return;
        }
        let guard = self.bar.lock().unwrap();
        match guard.as_ref() {
            Some((bar, _)) if self.tty => bar.println(text),
            _ if self.tty => eprintln!("{text}"),
            _ => eprintln!("{} {}", timestamp(), text),
        }
    }

    pub fn event(&self, event: &str, fields: Value) {
        if !self.is_json() {
            return;
        }
        let mut obj = json!({ "ts": timestamp(), "event": event });
        if let (Some(map), Value::Object(extra)) = (obj.as_object_mut(), fields) {
            map.extend(extra);
        }
        self.to_log(&obj.to_string());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{obj}");
        let _ = out.flush();
    }

    pub fn info(&self, msg: &str) {
        self.line(msg);
        self.event("info", json!({ "message": msg }));
    }

    pub fn warn(&self, msg: &str) {
        self.line(&format!("warning: {msg}"));
        self.event("warning", json!({ "message": msg }));
    }

    /// A phase begins: a spinner on a terminal, a line elsewhere.
    pub fn phase_start(&self, phase: &str, msg: &str) {
        self.event("phase_start", json!({ "phase": phase, "message": msg }));
        if self.is_json() {
            self.to_log(&format!("[{phase}] {msg}"));
            return;
        }
        if self.tty {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}").unwrap());
            bar.set_prefix(phase.to_string());
            bar.set_message(msg.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            *self.bar.lock().unwrap() = Some((bar, phase.to_string()));
            self.to_log(&format!("[{phase}] {msg}"));
        } else {
            self.line(&format!("[{phase}] {msg}"));
        }
    }

    /// Progress within the current phase: the spinner's message on a
    /// terminal, nothing elsewhere (the child's log has the detail).
    pub fn progress(&self, msg: &str) {
        if let Some((bar, _)) = self.bar.lock().unwrap().as_ref() {
            bar.set_message(msg.to_string());
        }
    }

    /// A notable step within a phase (a host ready, a resource created).
    pub fn step(&self, phase: &str, msg: &str) {
        self.event("step", json!({ "phase": phase, "message": msg }));
        if !self.is_json() && (self.verbose || !self.tty) {
            self.line(&format!("[{phase}] {msg}"));
        } else {
            self.to_log(&format!("[{phase}] {msg}"));
            self.progress(msg);
        }
    }

    /// One line of a child's output; shown only with -v.
    pub fn child_line(&self, line: &str) {
        if self.verbose && !self.is_json() {
            let guard = self.bar.lock().unwrap();
            match guard.as_ref() {
                Some((bar, _)) => bar.println(format!("  │ {line}")),
                None => eprintln!("  │ {line}"),
            }
        }
    }

    pub fn phase_end(&self, phase: &str, ok: bool, elapsed: Duration, msg: &str, fields: Value) {
        let bar = self.bar.lock().unwrap().take();
        if let Some((bar, _)) = bar {
            bar.finish_and_clear();
        }
        let mark = if ok { "✓" } else { "✗" };
        if !self.is_json() {
            let text = format!("{mark} {phase:<9} {msg} ({:.1}s)", elapsed.as_secs_f64());
            if self.tty {
                self.to_log(&text);
                eprintln!("{text}");
            } else {
                self.line(&text);
            }
        }
        let mut f = json!({ "phase": phase, "ok": ok, "elapsed_s": round(elapsed), "message": msg });
        if let (Some(map), Value::Object(extra)) = (f.as_object_mut(), fields) {
            map.extend(extra);
        }
        self.event("phase_end", f);
    }

    /// The result of a command, on stdout (human) or as the final JSON object.
    pub fn summary(&self, human: &str, fields: Value) {
        self.to_log(human);
        if self.is_json() {
            self.event("summary", fields);
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{human}");
        }
    }

    /// Raw data on stdout (e.g. `obsctl inventory`), whatever the format.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    pub fn error(&self, err: &crate::error::Error) {
        let bar = self.bar.lock().unwrap().take();
        if let Some((bar, _)) = bar {
            bar.abandon();
        }
        let mut text = format!("error: {}", err.message);
        for d in &err.details {
            text.push_str(&format!("\n  │ {d}"));
        }
        if let Some(log) = &err.log {
            text.push_str(&format!("\n  full log: {}", log.display()));
        }
        if let Some(hint) = &err.hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        self.to_log(&text);
        if self.is_json() {
            self.event(
                "error",
                json!({
                    "phase": err.phase.name(),
                    "exit_code": err.phase.exit_code(),
                    "message": err.message,
                    "details": err.details,
                    "hint": err.hint,
                    "log": err.log,
                }),
            );
        } else {
            eprintln!("{text}");
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ask a question on the terminal. Callers only ask when interactive.
    pub fn prompt(&self, question: &str) -> String {
        let bar = self.bar.lock().unwrap();
        if let Some((b, _)) = bar.as_ref() {
            b.suspend(|| ask(question))
        } else {
            ask(question)
        }
    }
}

fn ask(question: &str) -> String {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().to_string()
}

/// CPU time obsctl itself used (user + system, all threads), children
/// excluded: fields 14 and 15 of /proc/self/stat, in clock ticks of 1/100 s
/// (Linux's USER_HZ, fixed at 100 for user space).
pub fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may contain spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok())).sum();
    Duration::from_millis(ticks * 10)
}

pub fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}
