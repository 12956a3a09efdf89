//! Ctrl-C and SIGTERM: recorded, never acted on in the handler. Long-running
//! steps poll `received()` and the child runner decides what to pass on.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);

#[allow(clippy::print_stderr)] // runs before the printer exists
pub fn install() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the handler only touches atomics, which is async-signal-safe.
        let registered = unsafe {
            signal_hook::low_level::register(sig, move || {
                LAST.store(sig, Ordering::SeqCst);
                COUNT.fetch_add(1, Ordering::SeqCst);
            })
        };
        if let Err(e) = registered {
            eprintln!("warning: cannot install a handler for signal {sig}: {e}");
        }
    }
}

/// How many interrupting signals arrived so far.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// The last signal received, if any.
pub fn received() -> Option<i32> {
    (count() > 0).then(|| LAST.load(Ordering::SeqCst))
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
        signal_hook::consts::SIGINT => "Ctrl-C (SIGINT)",
        signal_hook::consts::SIGTERM => "SIGTERM",
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
