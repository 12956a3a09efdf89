//! What a run needs on this machine, checked before anything changes.
//! `obsctl doctor` prints the same checks; `up` installs the lab's Debian
//! packages itself (one-time setup), and tells how to get anything else.

use std::path::Path;

use crate::error::{Error, Phase, Result};
use crate::model::environment::{Environment, ProviderKind};
use crate::report::Printer;
use crate::tools::process::{on_path, Child, RunError};

/// The lab's Debian packages, each with the program that shows it is there.
/// mmdebstrap builds the base images (lab.sh; debootstrap is its fallback).
pub const LAB_PACKAGES: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("debootstrap", "debootstrap"),
    ("mmdebstrap", "mmdebstrap"),
    ("apt-cacher-ng", "apt-cacher-ng"),
];

fn lab_package_names() -> String {
    LAB_PACKAGES.iter().map(|(_, pkg)| *pkg).collect::<Vec<_>>().join(", ")
}

/// Terraform versions this obsctl is tested with.
/// Terraform versions (major, minor, patch): any environment needs the first;
/// S3 state locks with S3's own lock object (`use_lockfile`) from 1.10; the
/// aws stack passes the RDS password write-only (`password_wo`), which
/// plans from 1.11.1.
pub const TERRAFORM_MIN: (u32, u32, u32) = (1, 5, 0);
pub const TERRAFORM_MIN_S3_STATE: (u32, u32, u32) = (1, 10, 0);
pub const TERRAFORM_MIN_AWS: (u32, u32, u32) = (1, 11, 1);

/// The Terraform an environment needs, and why when that is more than the base.
pub fn terraform_min(env: Option<&Environment>) -> ((u32, u32, u32), Option<&'static str>) {
    let Some(env) = env else { return (TERRAFORM_MIN, None) };
    let mut need = (TERRAFORM_MIN, None);
    if matches!(env.state, crate::model::environment::StateBackend::S3(_)) {
        need = (TERRAFORM_MIN_S3_STATE, Some("this environment's S3 state (use_lockfile)"));
    }
    if env.provider.kind() == ProviderKind::Aws && TERRAFORM_MIN_AWS > need.0 {
        need = (TERRAFORM_MIN_AWS, Some("the aws stack (write-only RDS password)"));
    }
    need
}

pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

pub fn terraform_hint((major, minor, patch): (u32, u32, u32)) -> String {
    format!(
        "install Terraform ≥ {major}.{minor}.{patch}: https://developer.hashicorp.com/terraform/install \
         (Debian: add the HashiCorp APT repository, then `apt-get install terraform`)"
    )
}

/// `terraform` on PATH, at least the version `terraform_min` gives.
pub fn check_terraform((min, why): ((u32, u32, u32), Option<&str>)) -> Check {
    let terraform_hint = || terraform_hint(min);
    let name = "terraform".to_string();
    if on_path("terraform").is_none() {
        return Check { name, ok: false, detail: "not found on PATH".into(), fix: Some(terraform_hint()) };
    }
    match Child::new("terraform", Phase::Prerequisite).args(["version", "-json"]).output() {
        Ok(out) => {
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            let version = v["terraform_version"].as_str().unwrap_or("?").to_string();
            // "1.11.4" or "1.12.0-beta1": the leading digits of each part.
            let mut parts = version.split('.').map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0));
            let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            let ok = found >= min;
            let detail = match why {
                Some(why) if !ok => format!("version {version}; {why} needs ≥ {}.{}.{}", min.0, min.1, min.2),
                _ => format!("version {version}"),
            };
            Check { name, ok, detail, fix: (!ok).then(terraform_hint) }
        }
        Err(_) => Check { name, ok: false, detail: "`terraform version` failed".into(), fix: Some(terraform_hint()) },
    }
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn missing_lab_packages() -> Vec<&'static str> {
    LAB_PACKAGES
        .iter()
        .filter(|(bin, _)| on_path(bin).is_none() && !Path::new("/usr/sbin").join(bin).is_file())
        .map(|(_, pkg)| *pkg)
        .collect()
}

pub fn lab_checks() -> Vec<Check> {
    let mut out = vec![Check {
        name: "root".into(),
        ok: is_root(),
        detail: if is_root() { "running as root".into() } else { "not root".into() },
        fix: (!is_root()).then(|| "the lab provider boots machines with systemd-nspawn: run obsctl as root (sudo)".to_string()),
    }];
    let missing = missing_lab_packages();
    out.push(Check {
        name: "lab packages".into(),
        ok: missing.is_empty(),
        detail: if missing.is_empty() { format!("{} installed", lab_package_names()) } else { format!("missing: {}", missing.join(", ")) },
        fix: (!missing.is_empty())
            .then(|| format!("apt-get install -y {} (obsctl up does this itself when run as root)", missing.join(" "))),
    });
    out
}

pub fn ssh_checks() -> Vec<Check> {
    ["ssh", "ssh-keygen"]
        .iter()
        .map(|t| {
            let ok = on_path(t).is_some();
            Check {
                name: t.to_string(),
                ok,
                detail: if ok { "found".into() } else { "not found".into() },
                fix: (!ok).then(|| "apt-get install -y openssh-client".to_string()),
            }
        })
        .collect()
}

/// Before `up`/`destroy`: fail early with the fix, installing the lab's
/// packages when we can (root + apt).
pub fn ensure(env: &Environment, printer: &Printer, log: &Path) -> Result<()> {
    let tf = check_terraform(terraform_min(Some(env)));
    if !tf.ok {
        return Err(Error::prerequisite(format!("terraform: {}", tf.detail)).hint(tf.fix.unwrap_or_default()));
    }
    for c in ssh_checks() {
        if !c.ok {
            return Err(Error::prerequisite(format!("{}: {}", c.name, c.detail)).hint(c.fix.unwrap_or_default()));
        }
    }
    if env.provider.kind() == ProviderKind::Lab {
        if !is_root() {
            return Err(Error::prerequisite("the lab provider needs root (systemd-nspawn, overlay mounts, bridges)")
                .hint(format!("sudo obsctl up --env {}", env.name)));
        }
        let missing = missing_lab_packages();
        if !missing.is_empty() {
            install_packages(&missing, printer, log)?;
        }
    }
    Ok(())
}

pub fn install_packages(packages: &[&str], printer: &Printer, log: &Path) -> Result<()> {
    if on_path("apt-get").is_none() {
        return Err(Error::prerequisite(format!("missing lab packages: {}", packages.join(", ")))
            .hint(format!("the lab provider needs a Debian or Ubuntu host with apt; install {} by hand", lab_package_names())));
    }
    printer.step("prepare", &format!("installing lab packages (once): {}", packages.join(" ")));
    let apt = |args: &[&str], what: String| {
        Child::new("apt-get", Phase::Prerequisite)
            .args(args.iter().copied())
            .env("DEBIAN_FRONTEND", "noninteractive")
            .what(what)
            .log(log)
            .run(|_| {})
    };
    let install = || {
        apt(&[&["install", "-y", "-q", "--no-install-recommends"], packages].concat(), format!("apt-get install {}", packages.join(" ")))
    };
    // A stale package list is the usual cause: update it once and try again.
    if let Err(RunError::Exit(_)) = install() {
        apt(&["update", "-q"], "apt-get update".into())?;
        install()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal environment on `provider`, with `state` (a [state] table or "") at the end.
    fn env(provider: &str, state: &str) -> Environment {
        let text = format!(
            "provider = \"{provider}\"\ncomponents = [\"prometheus\", \"alertmanager\"]\n\
             [lab]\nbridge = \"obs-t\"\ncidr = \"10.77.9.0/24\"\n[aws]\nregion = \"eu-west-1\"\n\
             availability_zones = [\"eu-west-1a\", \"eu-west-1b\"]\nadmin_cidrs = [\"198.18.0.0/24\"]\n\
             [[hosts]]\nname = \"mon-1\"\nroles = [\"prometheus\", \"alertmanager\"]\n{state}"
        );
        crate::model::environment::parse("t", Path::new("environments/t.toml"), &text).unwrap()
    }

    #[test]
    fn terraform_needed_depends_on_state_and_provider() {
        let s3 = "[state]\nbackend = \"s3\"\nbucket = \"team-state\"\nregion = \"eu-west-1\"\n";
        assert_eq!(terraform_min(None).0, TERRAFORM_MIN);
        assert_eq!(terraform_min(Some(&env("lab", ""))), (TERRAFORM_MIN, None));
        assert_eq!(terraform_min(Some(&env("lab", s3))).0, TERRAFORM_MIN_S3_STATE);
        assert_eq!(terraform_min(Some(&env("aws", ""))).0, TERRAFORM_MIN_AWS);
        assert_eq!(terraform_min(Some(&env("aws", s3))).0, TERRAFORM_MIN_AWS);
    }
}
