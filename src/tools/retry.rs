//! The one retry helper: try, and after a failure the caller calls
//! transient, wait and try again, the wait growing by `factor` each time.
//! Waits are interruptible (an interrupt ends the retrying at once).

use std::time::{Duration, Instant};

use crate::error::Error;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// At most this many attempts in all.
    pub tries: u32,
    /// The wait after the first failure.
    pub first_wait: Duration,
    /// Each wait is this many times the previous one (1: a constant interval).
    pub factor: u32,
    /// No attempt starts after this instant.
    pub deadline: Option<Instant>,
}

impl Backoff {
    /// `tries` attempts, waits doubling from `first_wait`.
    pub fn exponential(tries: u32, first_wait: Duration) -> Backoff {
        Backoff { tries, first_wait, factor: 2, deadline: None }
    }

    /// An attempt every `interval` until `deadline`.
    pub fn until(deadline: Instant, interval: Duration) -> Backoff {
        Backoff { tries: u32::MAX, first_wait: interval, factor: 1, deadline: Some(deadline) }
    }
}

/// Runs `attempt` (given the attempt number, from 1) until it succeeds, the
/// attempts are used up, or `again` (given the error, the attempt number
/// and the coming wait) says the failure is not worth another try. Returns
/// the last result.
pub fn retry<T, E: From<Error>>(
    b: Backoff,
    mut attempt: impl FnMut(u32) -> Result<T, E>,
    mut again: impl FnMut(&E, u32, Duration) -> bool,
) -> Result<T, E> {
    let mut wait = b.first_wait;
    let mut n = 1;
    loop {
        match attempt(n) {
            Err(e) if n < b.tries && b.deadline.is_none_or(|d| Instant::now() + wait < d) && again(&e, n, wait) => {
                crate::signals::sleep(wait)?;
                wait *= b.factor;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_transient_failures_with_growing_waits() {
        let mut waits = Vec::new();
        let out: Result<u32, Error> = retry(
            Backoff::exponential(4, Duration::from_millis(1)),
            |n| if n < 3 { Err(Error::internal("flaky")) } else { Ok(n) },
            |_, _, w| {
                waits.push(w);
                true
            },
        );
        assert_eq!(out.unwrap(), 3);
        assert_eq!(waits, vec![Duration::from_millis(1), Duration::from_millis(2)]);
    }

    #[test]
    fn stops_at_a_real_error_and_after_the_last_try() {
        let mut calls = 0;
        let out: Result<(), Error> = retry(
            Backoff::exponential(5, Duration::from_millis(1)),
            |_| {
                calls += 1;
                Err(Error::internal("real"))
            },
            |_, _, _| false,
        );
        assert!(out.is_err());
        assert_eq!(calls, 1);
        let mut calls = 0;
        let _: Result<(), Error> = retry(
            Backoff::exponential(3, Duration::from_millis(1)),
            |_| {
                calls += 1;
                Err(Error::internal("flaky"))
            },
            |_, _, _| true,
        );
        assert_eq!(calls, 3);
    }
}
