//! Ctrl-C, SIGTERM and SIGHUP: recorded, never acted on in the handler.
//! Long-running steps poll `received()`, and the child runner decides what
//! to pass on (one SIGINT to the running child, see `process`). A hang-up
//! (terminal closed, SSH session dropped) is handled like SIGTERM: the
//! running step stops cleanly and obsctl exits with 128 + 1 = 129.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);

/// The signals obsctl handles (each exits with 128 + its number).
pub const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Installs the handlers; returns the signals that could not be handled
/// (for the caller to report).
pub fn install() -> Vec<String> {
    let mut failed = Vec::new();
    for sig in HANDLED {
        // SAFETY: the handler only touches atomics, which is async-signal-safe.
        let registered = unsafe {
            signal_hook::low_level::register(sig, move || {
                LAST.store(sig, Ordering::SeqCst);
                COUNT.fetch_add(1, Ordering::SeqCst);
            })
        };
        if let Err(e) = registered {
            failed.push(format!("cannot install a handler for {}: {e}", name(sig)));
        }
    }
    failed
}

/// How many interrupting signals arrived so far.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// The last signal received (0 when none).
pub fn last() -> i32 {
    LAST.load(Ordering::SeqCst)
}

/// The last signal received, if any.
pub fn received() -> Option<i32> {
    (count() > 0).then(last)
}

/// Returns the interruption as an error when a signal arrived.
pub fn check() -> crate::error::Result<()> {
    match received() {
        Some(sig) => Err(crate::error::Error::new(crate::error::Phase::Interrupted(sig), format!("interrupted by {}", name(sig)))),
        None => Ok(()),
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "Ctrl-C (SIGINT)",
        SIGTERM => "SIGTERM",
        SIGHUP => "a hang-up (SIGHUP)",
        _ => "a signal",
    }
}

/// Sleeps in small steps, returning early with an error when interrupted.
pub fn sleep(d: std::time::Duration) -> crate::error::Result<()> {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        check()?;
        std::thread::sleep(std::cmp::min(std::time::Duration::from_millis(100), end - std::time::Instant::now()));
    }
    check()
}
