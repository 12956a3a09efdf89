//! A small lock-free pseudo-random generator (SplitMix64), good enough for
//! fault sampling and traffic mixes; no `rand` dependency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

pub struct Rng {
    state: AtomicU64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: AtomicU64::new(seed) }
    }

    /// Seeded from the clock and the process id.
    pub fn from_entropy() -> Rng {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        Rng::new(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&self) -> u64 {
        let mut z = self.state.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high]; `low <= high`.
    pub fn range(&self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_is_in_unit_interval_and_spread() {
        let rng = Rng::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.next_f64()).collect();
        assert!(draws.iter().all(|&x| (0.0..1.0).contains(&x)));
        let below_half = draws.iter().filter(|&&x| x < 0.5).count();
        assert!((4_500..5_500).contains(&below_half), "{below_half}");
    }

    #[test]
    fn range_is_inclusive() {
        let rng = Rng::new(7);
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let v = rng.range(1, 3);
            assert!((1..=3).contains(&v));
            seen[(v - 1) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
