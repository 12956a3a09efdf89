//! Rotating an environment's CA without a moment in which a client does not
//! trust the server it talks to (`obsctl renew-certs --rotate-ca`).
//!
//! Three configuration runs, each one a step that every host has taken
//! before the next begins:
//! 1. **trust both**: a new CA is made (`tls/ca.next.crt`, `.key`); the trust
//!    bundle `tls/trust.crt` (what the hosts get as their `ca.crt`, and what
//!    obsctl itself trusts) holds the current CA and the new one;
//! 2. **issue from the new CA**: the new CA becomes `tls/ca.crt` (the old one
//!    is kept as `tls/ca.old.crt`, its key removed), every host certificate is
//!    issued again from it; the bundle still holds both, so a service that
//!    still presents an old certificate is trusted, and so is one with a new;
//! 3. **trust the new CA only**: the bundle and the old CA go.
//!
//! `tls/ca-rotation` records the last step whose run succeeded; an
//! interrupted rotation goes on from there when the command runs again.

use std::path::PathBuf;

use crate::error::{Error, IoContext, Result};
use crate::state::workspace::{write_atomic, TlsDir};

/// A step of the rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    TrustBoth,
    IssueFromNew,
    TrustNewOnly,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::TrustBoth, Step::IssueFromNew, Step::TrustNewOnly];

    fn name(self) -> &'static str {
        match self {
            Step::TrustBoth => "trust-both",
            Step::IssueFromNew => "issue-from-new",
            Step::TrustNewOnly => "trust-new-only",
        }
    }

    /// What the step does, as the run's progress says it.
    pub fn describe(self) -> &'static str {
        match self {
            Step::TrustBoth => "every host and obsctl trust the current CA and a new one",
            Step::IssueFromNew => "the new CA issues every host certificate (both CAs still trusted)",
            Step::TrustNewOnly => "the old CA is no longer trusted",
        }
    }
}

impl TlsDir {
    fn next_cert(&self) -> PathBuf {
        self.dir.join("ca.next.crt")
    }
    fn next_key(&self) -> PathBuf {
        self.dir.join("ca.next.key")
    }
    fn old_cert(&self) -> PathBuf {
        self.dir.join("ca.old.crt")
    }
    fn rotation_record(&self) -> PathBuf {
        self.dir.join("ca-rotation")
    }
    fn bundle(&self) -> PathBuf {
        self.dir.join("trust.crt")
    }
    /// What the hosts install as their CA file and obsctl trusts: the trust
    /// bundle while a rotation runs, else the CA.
    pub fn trust_file(&self) -> PathBuf {
        if self.bundle().is_file() {
            self.bundle()
        } else {
            self.ca_cert()
        }
    }
}

/// The steps still to run: all three, or those after the last one that
/// succeeded in an interrupted rotation.
pub fn remaining(tls: &TlsDir) -> Result<Vec<Step>> {
    let done =
        match std::fs::read_to_string(tls.rotation_record()) {
            Ok(s) => Some(Step::ALL.iter().position(|st| st.name() == s.trim()).ok_or_else(|| {
                Error::input(format!("{} names no step of a CA rotation: {:?}", tls.rotation_record().display(), s.trim()))
            })?),
            Err(_) => None,
        };
    Ok(Step::ALL[done.map_or(0, |i| i + 1)..].to_vec())
}

/// Prepares the files of `step` (idempotent: a step whose run was
/// interrupted is prepared again and runs again).
pub fn prepare(tls: &TlsDir, step: Step) -> Result<()> {
    match step {
        Step::TrustBoth => {
            if !tls.next_cert().is_file() || !tls.next_key().is_file() {
                let (cert, key) = crate::state::tls::new_ca(tls)?;
                write_atomic(&tls.next_key(), key.as_bytes(), 0o600)?;
                write_atomic(&tls.next_cert(), cert.as_bytes(), 0o600)?;
            }
            write_bundle(tls, &[tls.ca_cert(), tls.next_cert()])
        }
        Step::IssueFromNew => {
            if tls.next_cert().is_file() {
                std::fs::rename(tls.ca_cert(), tls.old_cert()).with_path("rename", &tls.ca_cert())?;
                std::fs::rename(tls.next_key(), tls.ca_key()).with_path("rename", &tls.next_key())?;
                std::fs::rename(tls.next_cert(), tls.ca_cert()).with_path("rename", &tls.next_cert())?;
            }
            write_bundle(tls, &[tls.old_cert(), tls.ca_cert()])?;
            // Every host certificate is issued again, from the new CA.
            crate::state::tls::forget_hosts(tls).map(|_| ())
        }
        Step::TrustNewOnly => {
            for p in [tls.bundle(), tls.old_cert()] {
                if p.exists() {
                    std::fs::remove_file(&p).with_path("remove", &p)?;
                }
            }
            Ok(())
        }
    }
}

/// Records that `step`'s run succeeded (the last step ends the rotation).
pub fn done(tls: &TlsDir, step: Step) -> Result<()> {
    if step == Step::TrustNewOnly {
        let p = tls.rotation_record();
        return if p.exists() { std::fs::remove_file(&p).with_path("remove", &p) } else { Ok(()) };
    }
    write_atomic(&tls.rotation_record(), step.name().as_bytes(), 0o600)
}

fn write_bundle(tls: &TlsDir, certs: &[PathBuf]) -> Result<()> {
    let mut pem = String::new();
    for c in certs {
        pem.push_str(std::fs::read_to_string(c).with_path("read", c)?.trim_end());
        pem.push('\n');
    }
    write_atomic(&tls.bundle(), pem.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn pem_count(p: &std::path::Path) -> usize {
        std::fs::read_to_string(p).unwrap().matches("BEGIN CERTIFICATE").count()
    }

    #[test]
    fn three_steps_keep_a_trusted_path_and_end_with_the_new_ca_alone() {
        let d = tempfile::tempdir().unwrap();
        let tls = TlsDir { dir: d.path().join("tls") };
        let hosts: BTreeMap<String, BTreeSet<String>> = [("mon-1".to_string(), ["mon-1".to_string()].into())].into();
        crate::state::tls::ensure(&tls, &hosts).unwrap();
        let old_ca = std::fs::read(tls.ca_cert()).unwrap();
        assert_eq!(tls.trust_file(), tls.ca_cert());
        assert_eq!(remaining(&tls).unwrap(), Step::ALL);

        prepare(&tls, Step::TrustBoth).unwrap();
        assert_eq!(pem_count(&tls.trust_file()), 2, "both CAs trusted");
        assert_eq!(std::fs::read(tls.ca_cert()).unwrap(), old_ca, "the old CA still issues");
        assert_eq!(crate::state::tls::ensure(&tls, &hosts).unwrap()["mon-1"], crate::state::tls::Renewal::Keep);
        // Interrupted before its run ended: the same step again, the same new CA.
        let next = std::fs::read(tls.next_cert()).unwrap();
        assert_eq!(remaining(&tls).unwrap(), Step::ALL);
        prepare(&tls, Step::TrustBoth).unwrap();
        assert_eq!(std::fs::read(tls.next_cert()).unwrap(), next);
        done(&tls, Step::TrustBoth).unwrap();
        assert_eq!(remaining(&tls).unwrap(), [Step::IssueFromNew, Step::TrustNewOnly]);

        prepare(&tls, Step::IssueFromNew).unwrap();
        assert_eq!(std::fs::read(tls.ca_cert()).unwrap(), next, "the new CA issues");
        assert_eq!(pem_count(&tls.trust_file()), 2);
        assert_eq!(crate::state::tls::ensure(&tls, &hosts).unwrap()["mon-1"], crate::state::tls::Renewal::New);
        prepare(&tls, Step::IssueFromNew).unwrap(); // again: nothing swapped twice
        assert_eq!(std::fs::read(tls.ca_cert()).unwrap(), next);
        done(&tls, Step::IssueFromNew).unwrap();

        prepare(&tls, Step::TrustNewOnly).unwrap();
        done(&tls, Step::TrustNewOnly).unwrap();
        assert_eq!(tls.trust_file(), tls.ca_cert());
        assert!(!tls.old_cert().exists() && !tls.rotation_record().exists());
        assert_eq!(remaining(&tls).unwrap(), Step::ALL, "a next rotation starts from the first step");
    }

    #[test]
    fn a_damaged_record_is_named() {
        let d = tempfile::tempdir().unwrap();
        let tls = TlsDir { dir: d.path().to_path_buf() };
        std::fs::write(tls.rotation_record(), "halfway").unwrap();
        assert!(remaining(&tls).unwrap_err().message.contains("ca-rotation"));
    }
}
