//! The one printer. Everything obsctl tells the user goes through here, so
//! one place knows whether we are on a terminal (progress spinners), in a log
//! (plain timestamped lines) or in a pipeline (`--output json`: one JSON
//! object per line on stdout).
//!
//! A write to stdout or stderr that fails (the reader of a pipe went away,
//! the terminal was closed) never stops a run: the run goes on, the run log
//! (`runs/…/obsctl.log`) keeps getting every line, and the exit code is the
//! run's own (see docs/exit-codes.md).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the printer is the one place that writes to the terminal (lib.rs denies it elsewhere)"
)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    log: Log,
    /// What the running phase waits for, for the heartbeat.
    waiting: Arc<Mutex<Waiting>>,
}

type Log = Arc<Mutex<Option<std::fs::File>>>;

/// No silent waits: off a terminal (plain lines, JSON), a phase that has
/// shown nothing for this long says what it is still waiting for. (On a
/// terminal the spinner shows it, with the time elapsed.)
const HEARTBEAT: Duration = Duration::from_secs(20);

struct Waiting {
    phase: Option<String>,
    what: String,
    phase_started: Instant,
    last_shown: Instant,
}

impl Waiting {
    fn shown(&mut self) {
        self.last_shown = Instant::now();
    }
}

/// The current run's log, for the panic handler (the only reader that
/// cannot be handed the printer).
static RUN_LOG: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Set once a write to stdout or stderr failed.
static OUTPUT_LOST: AtomicBool = AtomicBool::new(false);

/// A lock that a panic elsewhere did not make unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes to stderr or stdout; a failure is noted once in the run log and
/// otherwise ignored.
fn emit(stdout: bool, text: &str) {
    let written = if stdout {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|_| out.flush())
    } else {
        writeln!(std::io::stderr().lock(), "{text}")
    };
    if let Err(e) = written {
        if !OUTPUT_LOST.swap(true, Ordering::SeqCst) {
            let stream = if stdout { "stdout" } else { "stderr" };
            append_run_log(&format!("obsctl: cannot write to {stream} ({e}); the run goes on, this log gets everything"));
        }
    }
}

fn append_run_log(line: &str) {
    if let Some(path) = lock(&RUN_LOG).as_ref() {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = writeln!(f, "{} {line}", timestamp());
        }
    }
}

/// The panic handler: a bug still ends with a message that says where the
/// run log is, and exit code 1 (`internal`; main catches the unwinding).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let log = lock(&RUN_LOG).clone();
        let mut text = format!("error: obsctl crashed, this is a bug: {info}");
        if let Some(log) = &log {
            text.push_str(&format!("\n  full log: {}", log.display()));
        }
        text.push_str(
            "\nhint: please report it with the run log; run the same command again to continue (Terraform resumes from its state)",
        );
        append_run_log(&text);
        emit(false, &text);
    }));
}

/// Appends a timestamped line to the run log.
fn log_line(log: &Log, line: &str) {
    if let Some(f) = lock(log).as_mut() {
        let _ = writeln!(f, "{} {}", timestamp(), line);
    }
}

/// One JSON event on stdout (and in the run log).
fn emit_event(log: &Log, event: &str, fields: Value) {
    let mut obj = json!({ "ts": timestamp(), "event": event });
    if let (Some(map), Value::Object(extra)) = (obj.as_object_mut(), fields) {
        map.extend(extra);
    }
    log_line(log, &obj.to_string());
    emit(true, &obj.to_string());
}

/// Columns aligned for people, no borders (greppable: a row starts with its
/// first cell). comfy-table measures wide characters (✓, ✗) correctly, which
/// `format!("{:<16}")` does not.
pub fn table<R: IntoIterator<Item = String>>(header: Option<Vec<&str>>, rows: impl IntoIterator<Item = R>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    if let Some(h) = header {
        t.set_header(h);
    }
    for r in rows {
        t.add_row(r.into_iter().collect::<Vec<String>>());
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// `1m20s`, `45s`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Every few seconds: when a phase has shown nothing for `HEARTBEAT`, say
/// what it is still waiting for (a plain line, or a `step` event in JSON).
fn heartbeat(format: OutputFormat, log: Log, waiting: Arc<Mutex<Waiting>>) {
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let mut w = lock(&waiting);
        let Some(phase) = w.phase.clone() else { continue };
        if w.last_shown.elapsed() < HEARTBEAT {
            continue;
        }
        let message = format!("still waiting: {} ({})", w.what, short_duration(w.phase_started.elapsed()));
        w.shown();
        drop(w);
        match format {
            OutputFormat::Json => emit_event(&log, "step", json!({ "phase": phase, "message": message })),
            OutputFormat::Human => {
                let text = format!("[{phase}] {message}");
                log_line(&log, &text);
                emit(false, &format!("{} {}", timestamp(), text));
            }
        }
    }
}

pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Printer {
    pub fn new(format: OutputFormat, verbose: bool) -> Printer {
        let tty = std::io::stderr().is_terminal() && format == OutputFormat::Human;
        let now = Instant::now();
        let log: Log = Arc::new(Mutex::new(None));
        let waiting = Arc::new(Mutex::new(Waiting { phase: None, what: String::new(), phase_started: now, last_shown: now }));
        if !tty {
            let (log, waiting) = (log.clone(), waiting.clone());
            std::thread::spawn(move || heartbeat(format, log, waiting));
        }
        Printer { format, tty, verbose, started: now, bar: Mutex::new(None), log, waiting }
    }

    fn shown(&self) {
        lock(&self.waiting).shown();
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Mirror every line into the run's own log file from now on.
    pub fn log_to(&self, path: PathBuf) {
        // Append mode: the panic handler and the note about lost output
        // append to the same file.
        if let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            *lock(&self.log) = Some(file);
            *lock(&RUN_LOG) = Some(path);
        }
    }

    fn to_log(&self, line: &str) {
        log_line(&self.log, line);
    }

    /// A line for a person, on stderr. On a terminal it is printed above the
    /// spinner; off a terminal it gets a timestamp.
    fn line(&self, text: &str) {
        self.to_log(text);
        if self.is_json() {
            return;
        }
        self.shown();
        let guard = lock(&self.bar);
        match guard.as_ref() {
            Some((bar, _)) if self.tty => bar.println(text),
            _ if self.tty => emit(false, text),
            _ => emit(false, &format!("{} {}", timestamp(), text)),
        }
    }

    pub fn event(&self, event: &str, fields: Value) {
        if !self.is_json() {
            return;
        }
        self.shown();
        emit_event(&self.log, event, fields);
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
        {
            let mut w = lock(&self.waiting);
            (w.phase, w.what, w.phase_started) = (Some(phase.to_string()), msg.to_string(), Instant::now());
            w.shown();
        }
        self.event("phase_start", json!({ "phase": phase, "message": msg }));
        if self.is_json() {
            self.to_log(&format!("[{phase}] {msg}"));
            return;
        }
        if self.tty {
            *lock(&self.bar) = Some((spinner(phase, msg, Duration::ZERO), phase.to_string()));
            self.to_log(&format!("[{phase}] {msg}"));
        } else {
            self.line(&format!("[{phase}] {msg}"));
        }
    }

    /// Progress within the current phase: the spinner's message on a
    /// terminal, nothing elsewhere (the child's log has the detail).
    pub fn progress(&self, msg: &str) {
        lock(&self.waiting).what = msg.to_string();
        if let Some((bar, _)) = lock(&self.bar).as_ref() {
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

    /// A step that says what a long wait is about (e.g. the lab building its
    /// base image): shown in every format, above the spinner on a terminal,
    /// and the heartbeat repeats it while nothing else is shown.
    pub fn note(&self, phase: &str, msg: &str) {
        self.event("step", json!({ "phase": phase, "message": msg }));
        if !self.is_json() {
            self.line(&format!("[{phase}] {msg}"));
        } else {
            self.to_log(&format!("[{phase}] {msg}"));
        }
        lock(&self.waiting).what = msg.to_string();
    }

    /// One line of a child's output; shown only with -v.
    pub fn child_line(&self, line: &str) {
        if self.verbose && !self.is_json() {
            let guard = lock(&self.bar);
            match guard.as_ref() {
                Some((bar, _)) => bar.println(format!("  │ {line}")),
                None => emit(false, &format!("  │ {line}")),
            }
        }
    }

    pub fn phase_end(&self, phase: &str, ok: bool, elapsed: Duration, msg: &str, fields: Value) {
        lock(&self.waiting).phase = None;
        let bar = lock(&self.bar).take();
        if let Some((bar, _)) = bar {
            bar.finish_and_clear();
        }
        let mark = if ok { "✓" } else { "✗" };
        if !self.is_json() {
            let text = format!("{mark} {phase:<9} {msg} ({:.1}s)", elapsed.as_secs_f64());
            if self.tty {
                self.to_log(&text);
                emit(false, &text);
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
    /// Every command's summary also carries obsctl's own CPU time and peak
    /// memory (this process only, never its children: Terraform, Ansible).
    pub fn summary(&self, human: &str, mut fields: Value) {
        self.to_log(human);
        if self.is_json() {
            if let Value::Object(map) = &mut fields {
                map.entry("own_cpu_s").or_insert_with(|| json!(round(own_cpu())));
                map.entry("own_peak_rss_mb").or_insert_with(|| json!(own_peak_rss_mb()));
            }
            self.event("summary", fields);
        } else {
            emit(true, human);
        }
    }

    /// Raw data on stdout (e.g. `obsctl inventory`), whatever the format.
    pub fn data(&self, text: &str) {
        emit(true, text);
    }

    pub fn error(&self, err: &crate::error::Error) {
        lock(&self.waiting).phase = None;
        let bar = lock(&self.bar).take();
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
            emit(false, &text);
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ask a question on the terminal. Callers only ask when interactive.
    pub fn prompt(&self, question: &str) -> String {
        let what = std::mem::replace(&mut lock(&self.waiting).what, "your answer".into());
        let asked = Instant::now();
        let mut bar = lock(&self.bar);
        let answer = match bar.take() {
            Some((b, phase)) => {
                let (before, msg) = (b.elapsed(), b.message());
                let answer = b.suspend(|| ask(question));
                // The phase's clock counts its own work, not the time spent
                // answering: a new spinner resumes from where the old one stood.
                b.finish_and_clear();
                *bar = Some((spinner(&phase, &msg, before), phase));
                answer
            }
            None => ask(question),
        };
        drop(bar);
        let mut w = lock(&self.waiting);
        w.phase_started += asked.elapsed();
        w.what = what;
        w.shown();
        answer
    }
}

/// A phase's spinner on a terminal: its name, what it waits for, and the
/// time it has run (`elapsed`: time already spent before this spinner).
fn spinner(phase: &str, msg: &str, elapsed: Duration) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_elapsed(elapsed);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(phase.to_string());
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn ask(question: &str) -> String {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}").and_then(|_| err.flush());
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

/// obsctl's own peak resident memory in MB (VmHWM of /proc/self/status,
/// children excluded), 0 when unknown.
pub fn own_peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

pub fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_peak_memory_is_read_from_this_process_and_grows_with_what_it_touched() {
        let before = super::own_peak_rss_mb();
        assert!(before > 0.0, "VmHWM not read from /proc/self/status");
        let big = vec![1u8; 64 << 20];
        assert!(big.iter().map(|&b| u64::from(b)).sum::<u64>() == 64 << 20);
        assert!(super::own_peak_rss_mb() >= before.max(64.0), "64 MB touched, peak {} MB", super::own_peak_rss_mb());
    }

    #[test]
    fn a_spinner_made_after_a_prompt_resumes_the_phase_clock_without_the_answer_time() {
        let before = std::time::Duration::from_secs(7);
        let bar = super::spinner("terraform", "applying", before);
        assert!(bar.elapsed() >= before && bar.elapsed() < before + std::time::Duration::from_secs(1));
        bar.finish_and_clear();
    }

    #[test]
    fn tables_align_columns_and_rows_start_with_their_first_cell() {
        let t = super::table(
            Some(vec!["HOST", "COMPONENT", "HEALTH"]),
            [vec!["app-1".to_string(), "node_exporter".into(), "DOWN".into()], vec!["mon-10".into(), "✓".into(), "up".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[1].starts_with("app-1   node_exporter  DOWN"), "{t}");
        let column = |line: &str, cell: &str| line[..line.find(cell).unwrap()].chars().count();
        assert_eq!(column(lines[0], "HEALTH"), column(lines[2], "up"), "a wide character shifts the columns: {t}");
    }
}
