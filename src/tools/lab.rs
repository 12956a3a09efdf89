//! The lab provider's machines as they really are (terraform/scripts/lab.sh):
//! which machines Terraform's state holds that are not running (killed,
//! host rebooted, creation interrupted), so that `up` replaces them; and
//! waiting, after an interrupt, for lab steps still in flight (lab.sh runs
//! them detached, so that no signal ends them half-way).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Phase, Result};
use crate::model::environment::LabSettings;
use crate::state::workspace::Workspace;
use crate::tools::process::Child;

pub fn script(ws: &Workspace) -> PathBuf {
    ws.root.join("terraform/scripts/lab.sh")
}

/// The Terraform address of the bastion's machine (`[lab] bastion = true`).
pub const BASTION_ADDRESS: &str = "module.bastion[0].terraform_data.machine";

/// The Terraform address of host `name`'s lab machine (terraform/stacks/lab).
pub fn machine_address(name: &str) -> String {
    format!("module.machine[\"{name}\"].terraform_data.machine")
}

/// `module.machine["app-1"].terraform_data.machine` → `app-1`; the
/// bastion's machine → its name. A stopped bastion is replaced like a
/// stopped host: the lab has no other way to start a machine again.
fn machine_of(address: &str) -> Option<&str> {
    if address == BASTION_ADDRESS {
        return Some(LabSettings::BASTION_NAME);
    }
    address.strip_prefix("module.machine[\"")?.strip_suffix("\"].terraform_data.machine")
}

/// Machines in Terraform's state whose container is not running: each
/// machine's name and Terraform address.
pub fn not_running(addresses: &[String], env_name: &str, ws: &Workspace, log: &Path) -> Result<Vec<(String, String)>> {
    let in_state: Vec<(&str, &String)> = addresses.iter().filter_map(|a| Some((machine_of(a)?, a))).collect();
    if in_state.is_empty() {
        return Ok(Vec::new());
    }
    let out = Child::new(script(ws).to_string_lossy(), Phase::Terraform)
        .arg("status")
        .env("LAB_ENV", env_name)
        .what("lab.sh status")
        .log(log)
        .output()?;
    let running: BTreeSet<&str> = out.stdout.lines().filter_map(|l| l.strip_suffix(" running")).collect();
    Ok(in_state.into_iter().filter(|(m, _)| !running.contains(m)).map(|(m, a)| (m.to_string(), a.clone())).collect())
}

/// After an interrupt: waits until the lab steps Terraform started have
/// ended (a machine being created is finished, not left half-made), then
/// returns the interruption.
pub fn settle_after(err: Error, ws: &Workspace, log: &Path) -> Error {
    if !matches!(err.phase, Phase::Interrupted(_)) {
        return err;
    }
    match Child::new(script(ws).to_string_lossy(), Phase::Terraform)
        .args(["settle", "600"])
        .what("lab.sh settle")
        .log(log)
        .after_interrupt()
        .output()
    {
        Ok(_) => {
            let mut details = err.details.clone();
            details
                .push("(the lab machine steps Terraform had started ran to their end; the next `up` replaces what is not complete)".into());
            Error { details, ..err }
        }
        Err(e) => {
            let e = Error::from(e);
            let mut details = err.details;
            details.push(format!("lab steps may still be running: {}", e.message));
            Error { details, ..err }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_addresses_round_trip() {
        assert_eq!(machine_of(&machine_address("app-1")), Some("app-1"));
        assert_eq!(machine_of("module.network.terraform_data.network"), None);
        assert_eq!(machine_of(BASTION_ADDRESS), Some(LabSettings::BASTION_NAME));
        assert_eq!(machine_of("module.bastion[0].terraform_data.data"), None);
    }
}
