//! The prepare phase: prerequisites, SSH key, secrets, and the work that
//! does not need the machines (Ansible venv, application build), started in
//! the background.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::json;

use crate::cli::UpArgs;
use crate::deploy::session::Session;
use crate::error::{Error, Phase, Result};
use crate::model::component::ComponentId;
use crate::report::Printer;
use crate::state::secrets::Secrets;
use crate::tools::ansible::Venv;
use crate::tools::process::Child;

/// Prerequisites, SSH key, secrets; starts the work that does not need the
/// machines (Ansible venv, application build) in the background.
pub fn prepare(s: &Session, args: &UpArgs) -> Result<(Secrets, Option<Background>)> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("prepare", "checking prerequisites");
    crate::check::prerequisites::ensure(&s.env, p, &s.log("prepare.log"))?;
    // The user's rules, rule tests and dashboards: refused here, before
    // Terraform or any host changes.
    crate::check::user_files::check(&s.ws.root, &s.env, p)?;
    if crate::tools::ssh::ensure_key(&s.state.ssh_key(), &s.env.name)? {
        p.step("prepare", &format!("created SSH key {}", s.state.ssh_key().display()));
    }
    let secrets = crate::state::secrets::prepare(&s.env, &s.state.secrets_dir())?;
    let background = (!args.skip_configure).then(|| start_background(s));
    p.phase_end("prepare", true, t.elapsed(), "prerequisites ok", json!({}));
    Ok((secrets, background))
}

pub fn target_dir(ws: &crate::state::workspace::Workspace) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| ws.root.join("target"))
}

/// Work that does not depend on the machines, overlapped with Terraform:
/// installing Ansible and building the application.
pub struct Background {
    handles: Vec<(&'static str, JoinHandle<Result<()>>)>,
}

/// What the jobs have to say is said here, through the session's printer
/// (and so into the run log), before they start: the threads print nothing.
pub fn start_background(s: &Session) -> Background {
    let p = s.printer;
    let mut handles = Vec::new();
    let venv = Venv::location(&s.ws);
    if !venv.ready() {
        p.step("ansible", &venv.installing());
    }
    let log = s.log("prepare.log");
    handles.push(("the Ansible venv (pip install ansible-core)", std::thread::spawn(move || venv.ensure(|_| {}, &log))));
    if s.env.enabled(ComponentId::App) {
        let root = s.ws.root.clone();
        let log = s.log("build.log");
        p.step("build", &format!("building orders-api in the background: cargo build --release -p orders-api (log: {})", log.display()));
        handles.push((
            "the orders-api build (cargo build --release -p orders-api; seconds when nothing changed, minutes the first time)",
            std::thread::spawn(move || {
                Child::new("cargo", Phase::Prerequisite)
                    .args(["build", "--release", "--locked", "-p", "orders-api"])
                    .what("cargo build --release -p orders-api")
                    .env_remove(set_by_cargo_run(std::env::vars_os().map(|(k, _)| k)))
                    .cwd(&root)
                    .log(&log)
                    .run(|_| {})?;
                Ok(())
            }),
        ));
    }
    Background { handles }
}

/// The variables `cargo run` gives the program it runs (the package's name,
/// manifest, crate and binary). Passed on to the orders-api build they make
/// it a different build from a plain `cargo build`'s: build scripts that
/// watch them (ring's) run again and obsctl's own dependencies rebuild, so a
/// repeated `cargo run --release -- up` would rebuild for minutes.
fn set_by_cargo_run(keys: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const PREFIXES: [&str; 4] = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CRATE_"];
    const NAMES: [&str; 2] = ["CARGO_PRIMARY_PACKAGE", "CARGO_RUSTC_CURRENT_DIR"];
    keys.filter(|k| k.to_str().is_some_and(|k| NAMES.contains(&k) || PREFIXES.iter().any(|p| k.starts_with(p)))).collect()
}

impl Background {
    /// Waits for each job; one still running is named on its own line (a
    /// first build takes minutes), one already done says nothing.
    pub fn join(self, p: &Printer) -> Result<()> {
        for (what, h) in self.handles {
            if h.is_finished() {
                p.progress(&format!("waiting for {what}"));
            } else {
                p.note("build", &format!("waiting for {what}"));
            }
            h.join().map_err(|_| Error::internal(format!("{what} panicked")))??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::set_by_cargo_run;

    #[test]
    fn the_app_build_drops_what_cargo_run_set_and_keeps_cargos_settings() {
        let keys = [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_BIN_NAME",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "CARGO",
            "PATH",
        ];
        let dropped = set_by_cargo_run(keys.iter().map(std::ffi::OsString::from));
        assert_eq!(dropped, &keys[..6]);
    }
}
