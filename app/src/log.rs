//! Structured logs: one JSON object per line, appended to a file (or
//! stdout). Keys always present: `ts` (RFC 3339 UTC, milliseconds),
//! `level` (`info`|`warn`|`error`), `msg`; then the event's own fields in
//! the order they were added.
//!
//! The file is opened with O_APPEND and every line is written with a single
//! `write`, so lines from several threads never interleave and logrotate's
//! `copytruncate` is safe (the next line goes to the start of the truncated
//! file). [`Logger::reopen`] supports rotation by renaming, too.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

use crate::clock::rfc3339_millis;

/// Where log lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

impl fmt::Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::Stdout => f.write_str("-"),
            LogTarget::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The level of a request log line: 5xx → error, 4xx → warn, else info.
    pub fn for_status(status: u16) -> Level {
        match status {
            500..=599 => Level::Error,
            400..=499 => Level::Warn,
            _ => Level::Info,
        }
    }
}

enum Sink {
    Stdout,
    File(File),
    /// Lines are kept in memory (tests).
    Memory(Vec<u8>),
}

pub struct Logger {
    target: Option<LogTarget>,
    sink: Mutex<Sink>,
}

impl Logger {
    pub fn open(target: &LogTarget) -> io::Result<Logger> {
        let sink = match target {
            LogTarget::Stdout => Sink::Stdout,
            LogTarget::File(path) => Sink::File(open_append(path)?),
        };
        Ok(Logger { target: Some(target.clone()), sink: Mutex::new(sink) })
    }

    /// A logger that keeps its lines in memory; see [`Logger::lines`].
    pub fn in_memory() -> Logger {
        Logger { target: None, sink: Mutex::new(Sink::Memory(Vec::new())) }
    }

    /// The lines logged so far by an [`in_memory`](Logger::in_memory) logger.
    pub fn lines(&self) -> Vec<String> {
        match &*self.sink.lock().unwrap_or_else(|e| e.into_inner()) {
            Sink::Memory(buf) => String::from_utf8_lossy(buf).lines().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    /// Opens the log file again (after it was moved away); no-op for stdout.
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(LogTarget::File(path)) = &self.target {
            let file = open_append(path)?;
            *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = Sink::File(file);
        }
        Ok(())
    }

    pub fn event(&self, level: Level, msg: &str) -> Event<'_> {
        let mut line = String::with_capacity(256);
        line.push_str("{\"ts\":\"");
        line.push_str(&rfc3339_millis(SystemTime::now()));
        line.push_str("\",\"level\":\"");
        line.push_str(level.as_str());
        line.push_str("\",\"msg\":");
        line.push_str(&Value::from(msg).to_string());
        Event { logger: self, line }
    }

    fn write_line(&self, line: &[u8]) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // A log line that cannot be written (disk full) is dropped: there is
        // nowhere better to report it, and requests must not fail for it.
        let _ = match &mut *sink {
            Sink::Stdout => io::stdout().lock().write_all(line),
            Sink::File(file) => file.write_all(line),
            Sink::Memory(buf) => {
                buf.extend_from_slice(line);
                Ok(())
            }
        };
    }
}

fn open_append(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One log line being built; written by [`Event::emit`].
#[must_use = "call .emit() to write the line"]
pub struct Event<'a> {
    logger: &'a Logger,
    line: String,
}

impl Event<'_> {
    /// Adds `"key": value`. Non-finite floats become `null`.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.line.push(',');
        self.line.push_str(&Value::from(key).to_string());
        self.line.push(':');
        self.line.push_str(&value.into().to_string());
        self
    }

    /// Adds the field only when `value` is `Some`.
    pub fn field_opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    pub fn emit(mut self) {
        self.line.push_str("}\n");
        self.logger.write_line(self.line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_objects_with_ts_level_msg_first() {
        let log = Logger::in_memory();
        log.event(Level::Warn, "odd \"msg\"\n")
            .field("status", 404u16)
            .field("path", "/orders/x")
            .field("duration_ms", 1.5)
            .field_opt("order_id", None::<u64>)
            .field_opt("n", Some(3u64))
            .emit();
        let lines = log.lines();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert!(line.starts_with("{\"ts\":\""), "{line}");
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "odd \"msg\"\n");
        assert_eq!(v["status"], 404);
        assert_eq!(v["path"], "/orders/x");
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["n"], 3);
        assert!(v.get("order_id").is_none());
        let ts = v["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2024-01-01T00:00:00.000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn level_for_status() {
        assert_eq!(Level::for_status(200), Level::Info);
        assert_eq!(Level::for_status(201), Level::Info);
        assert_eq!(Level::for_status(399), Level::Info);
        assert_eq!(Level::for_status(400), Level::Warn);
        assert_eq!(Level::for_status(404), Level::Warn);
        assert_eq!(Level::for_status(500), Level::Error);
        assert_eq!(Level::for_status(503), Level::Error);
    }

    #[test]
    fn file_logger_appends_and_reopens() {
        let dir = std::env::temp_dir().join(format!("orders-api-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.log");
        let _ = std::fs::remove_file(&path);
        let log = Logger::open(&LogTarget::File(path.clone())).unwrap();
        log.event(Level::Info, "one").emit();
        std::fs::rename(&path, dir.join("app.log.1")).unwrap();
        log.reopen().unwrap();
        log.event(Level::Info, "two").emit();
        let now = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(dir.join("app.log.1")).unwrap();
        assert!(old.contains("\"one\"") && !old.contains("\"two\""), "{old}");
        assert!(now.contains("\"two\"") && !now.contains("\"one\""), "{now}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
