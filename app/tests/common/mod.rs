//! Shared by the end-to-end tests (`http.rs`, `https.rs`): start the real
//! binary, collect its JSON log, wait for lines in it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A started binary and the log lines it has written so far.
pub struct Logged {
    pub child: Child,
    pub log: Arc<Mutex<Vec<Value>>>,
    /// The `started` line.
    pub started: Value,
}

/// Spawns `cmd` (which must log to stdout) and waits, bounded, for its
/// `started` line. The log is read continuously so the child never blocks
/// on a full pipe.
pub fn start(cmd: &mut Command) -> Logged {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start orders-api");
    let stdout = child.stdout.take().unwrap();
    let (first_tx, first_rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            let _ = first_tx.send(value.clone());
            sink.lock().unwrap().push(value);
        }
    });
    let started = first_rx.recv_timeout(Duration::from_secs(10)).expect("orders-api did not log its start line");
    assert_eq!(started["msg"], "started", "{started}");
    Logged { child, log, started }
}

/// Waits (at most 5 s) until `log` holds a line matching `pred`.
pub fn wait_for_log(log: &Mutex<Vec<Value>>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = log.lock().unwrap().iter().find(|l| pred(l)) {
            return line.clone();
        }
        assert!(Instant::now() < deadline, "no log line {what} in {:#?}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(20));
    }
}
