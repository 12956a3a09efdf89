//! Run-time fault injection: an error ratio and an added latency for the
//! `/orders*` routes, set through `/admin/faults`.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::rng::Rng;

/// Upper bound for `latency_ms`: one minute.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// The faults in force. The default is "no faults".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Fraction of `/orders*` requests answered with 500, in [0, 1].
    pub error_ratio: f64,
    /// Delay added to every `/orders*` response.
    pub latency_ms: u64,
}

impl Faults {
    /// Parses the body of `PUT /admin/faults`: a JSON object with
    /// `error_ratio` (number in [0, 1]) and/or `latency_ms` (integer in
    /// [0, 60000]). A field left out is 0: PUT replaces the whole set.
    /// Unknown fields are rejected so that a typo does not pass silently.
    pub fn parse(body: &[u8]) -> Result<Faults, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
        let object = value.as_object().ok_or("body must be a JSON object like {\"error_ratio\": 0.1, \"latency_ms\": 250}")?;
        if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "error_ratio" | "latency_ms")) {
            return Err(format!("unknown field `{unknown}`; expected `error_ratio` and/or `latency_ms`"));
        }
        let mut faults = Faults::default();
        if let Some(v) = object.get("error_ratio") {
            faults.error_ratio =
                v.as_f64().filter(|r| (0.0..=1.0).contains(r)).ok_or("error_ratio must be a number between 0.0 and 1.0")?;
        }
        if let Some(v) = object.get("latency_ms") {
            faults.latency_ms = v
                .as_u64()
                .filter(|ms| *ms <= MAX_LATENCY_MS)
                .ok_or(format!("latency_ms must be an integer between 0 and {MAX_LATENCY_MS}"))?;
        }
        Ok(faults)
    }

    pub fn is_active(&self) -> bool {
        self.error_ratio > 0.0 || self.latency_ms > 0
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    pub fn to_json(self) -> Value {
        json!({ "error_ratio": self.error_ratio, "latency_ms": self.latency_ms })
    }
}

/// The shared, mutable fault settings plus the sampler that decides which
/// requests fail.
pub struct FaultInjector {
    current: Mutex<Faults>,
    rng: Rng,
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector { current: Mutex::new(Faults::default()), rng: Rng::from_entropy() }
    }
}

impl FaultInjector {
    pub fn current(&self) -> Faults {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, faults: Faults) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Draws whether one request fails under `faults`: true with
    /// probability `error_ratio` (never for 0, always for 1).
    pub fn should_fail(&self, faults: &Faults) -> bool {
        faults.error_ratio > 0.0 && self.rng.next_f64() < faults.error_ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_bodies() {
        assert_eq!(Faults::parse(br#"{"error_ratio": 0.25, "latency_ms": 300}"#).unwrap(), Faults { error_ratio: 0.25, latency_ms: 300 });
        assert_eq!(Faults::parse(br#"{"error_ratio": 1}"#).unwrap(), Faults { error_ratio: 1.0, latency_ms: 0 });
        assert_eq!(Faults::parse(br#"{"latency_ms": 60000}"#).unwrap().latency_ms, 60_000);
        assert_eq!(Faults::parse(b"{}").unwrap(), Faults::default());
    }

    #[test]
    fn rejects_out_of_range_and_malformed() {
        for body in [
            &br#"{"error_ratio": 1.5}"#[..],
            br#"{"error_ratio": -0.1}"#,
            br#"{"error_ratio": "0.5"}"#,
            br#"{"latency_ms": -1}"#,
            br#"{"latency_ms": 1.5}"#,
            br#"{"latency_ms": 60001}"#,
            br#"{"latency": 100}"#,
            br#"[0.5]"#,
            b"error_ratio=0.5",
            b"",
        ] {
            assert!(Faults::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn error_message_names_the_field() {
        let err = Faults::parse(br#"{"error_ratio": 2}"#).unwrap_err();
        assert!(err.contains("error_ratio"), "{err}");
        let err = Faults::parse(br#"{"latncy_ms": 2}"#).unwrap_err();
        assert!(err.contains("latncy_ms"), "{err}");
    }

    #[test]
    fn sampling_follows_the_ratio() {
        let injector = FaultInjector::default();
        let never = Faults { error_ratio: 0.0, latency_ms: 0 };
        let always = Faults { error_ratio: 1.0, latency_ms: 0 };
        let half = Faults { error_ratio: 0.5, latency_ms: 0 };
        assert!((0..1000).all(|_| !injector.should_fail(&never)));
        assert!((0..1000).all(|_| injector.should_fail(&always)));
        let failed = (0..10_000).filter(|_| injector.should_fail(&half)).count();
        assert!((4_500..5_500).contains(&failed), "{failed}");
    }

    #[test]
    fn set_and_clear() {
        let injector = FaultInjector::default();
        assert!(!injector.current().is_active());
        injector.set(Faults { error_ratio: 0.0, latency_ms: 5 });
        assert!(injector.current().is_active());
        assert_eq!(injector.current().latency(), Duration::from_millis(5));
        injector.set(Faults::default());
        assert!(!injector.current().is_active());
    }
}
