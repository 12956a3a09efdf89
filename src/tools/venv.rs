//! A venv of obsctl's own holding pinned packages from PyPI, installed on
//! first use under a lock, finished when its marker file is written: one way
//! for every Python tool obsctl runs (ansible-core and Mitogen,
//! `tools::ansible`; the aws CLI, `tools::aws`).

use std::path::Path;

use crate::error::{Error, Phase, Result};
use crate::tools::process::{on_path, Child};

/// One venv: where it lives, what goes in, and how obsctl says so.
pub struct Pinned<'a> {
    pub dir: &'a Path,
    /// pip requirements, each pinned (`name==version`).
    pub packages: &'a [String],
    /// The file whose presence says the install finished, and its text.
    pub marker: &'a Path,
    pub marker_text: &'a str,
    /// What the lock's holder is doing, for a second obsctl ("ansible-core").
    pub what: &'a str,
    /// What `ensure` announces when it installs.
    pub installing: &'a str,
}

impl Pinned<'_> {
    /// Creates the venv with the pinned packages unless `ready` says it is
    /// there; `announce` gets `installing` when it does (the caller's
    /// printer, or nothing from a background thread that announced it
    /// before). pip's output goes to `log`.
    pub fn ensure(&self, ready: impl Fn() -> bool, announce: impl FnOnce(&str), log: &Path) -> Result<()> {
        if ready() {
            return Ok(());
        }
        let _ = std::fs::create_dir_all(self.dir.parent().unwrap_or(Path::new(".")));
        let lock = crate::state::lock::acquire(&self.dir.with_extension("lock"), "venv", &format!("install {}", self.what));
        if lock.as_ref().is_err_and(|e| e.phase == Phase::Locked) {
            return Err(Error::prerequisite(format!("another obsctl is installing {} right now; try again in a minute", self.what)));
        }
        if ready() {
            return Ok(());
        }
        announce(self.installing);
        let python = ["/usr/bin/python3", "python3"]
            .iter()
            .find(|p| Path::new(p).is_file() || on_path(p).is_some())
            .ok_or_else(|| Error::prerequisite("python3 is not installed").hint("apt-get install -y python3 python3-venv"))?;
        let _ = std::fs::remove_dir_all(self.dir);
        Child::new(*python, Phase::Prerequisite)
            .args(["-m", "venv"])
            .arg(self.dir)
            .what(format!("{python} -m venv"))
            .log(log)
            .run(|_| {})
            .map_err(|e| e.on_exit(|e| e.hint("install the venv module: apt-get install -y python3-venv")))?;
        Child::new(self.dir.join("bin/pip").to_string_lossy(), Phase::Prerequisite)
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .args(self.packages)
            .what(format!("pip install {}", self.packages.join(" ")))
            .log(log)
            .run(|_| {})
            .map_err(|e| e.on_exit(|e| e.hint("check access to https://pypi.org, then run the command again")))?;
        std::fs::write(self.marker, self.marker_text)
            .map_err(|e| Error::internal(format!("cannot write the marker {} of the venv: {e}", self.marker.display())))?;
        drop(lock);
        Ok(())
    }
}
