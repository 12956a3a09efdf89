//! `obsctl doctor`: what this machine has and lacks, with the fix for each.

use serde_json::json;

use crate::check::prerequisites::{self, Check};
use crate::deploy::session::Session;
use crate::error::Result;
use crate::model::environment::{self, ProviderKind};
use crate::report::Printer;
use crate::state::workspace::Workspace;
use crate::tools::ansible::Venv;

pub fn run(env_name: Option<&str>, fix: bool, printer: &Printer) -> Result<u8> {
    let ws = Workspace::discover()?;
    if fix {
        crate::state::workspace::private_dir(&ws.tools_dir())?;
        let log = ws.tools_dir().join("doctor.log");
        let missing = prerequisites::missing_lab_packages();
        if !missing.is_empty() && prerequisites::is_root() {
            prerequisites::install_packages(&missing, printer, &log)?;
        }
        Venv::location(&ws).ensure(|m| printer.step("ansible", m), &log)?;
    }
    // With an environment, a run log like every command's; without, none.
    let session = match env_name {
        Some(name) => Some(Session::open_unlocked(name, "doctor", printer, |_| Ok(()))?),
        None => None,
    };
    let env = session.as_ref().map(|s| &s.env);
    let mut checks: Vec<Check> = vec![prerequisites::check_terraform(prerequisites::terraform_min(env))];
    checks.extend(prerequisites::ssh_checks());
    let venv = Venv::location(&ws);
    checks.push(Check {
        name: "ansible".into(),
        // Not a failure: `up` installs it on first use.
        ok: true,
        detail: if venv.ready() {
            format!(
                "ansible-core {} and Mitogen {} in {}",
                crate::tools::ansible::ANSIBLE_CORE,
                crate::tools::ansible::MITOGEN,
                venv.dir.display()
            )
        } else {
            format!(
                "not installed yet: `obsctl up` installs ansible-core {} and Mitogen {} into {} (needs python3-venv and PyPI)",
                crate::tools::ansible::ANSIBLE_CORE,
                crate::tools::ansible::MITOGEN,
                venv.dir.display()
            )
        },
        fix: None,
    });
    let cargo = crate::tools::process::on_path("cargo").is_some();
    checks.push(Check {
        name: "cargo".into(),
        ok: cargo,
        detail: if cargo { "found (builds the orders-api application)".into() } else { "not found".into() },
        fix: (!cargo).then(|| "install Rust: https://rustup.rs".to_string()),
    });
    let provider = env.as_ref().map(|e| e.provider.kind());
    if provider.is_none() || provider == Some(ProviderKind::Lab) {
        checks.extend(prerequisites::lab_checks());
    }
    if provider == Some(ProviderKind::Aws) {
        let creds = std::env::var("AWS_ACCESS_KEY_ID").is_ok() || std::env::var("AWS_PROFILE").is_ok();
        checks.push(Check {
            name: "aws credentials".into(),
            ok: creds,
            detail: if creds { "AWS_ACCESS_KEY_ID or AWS_PROFILE set".into() } else { "no AWS_ACCESS_KEY_ID / AWS_PROFILE".into() },
            fix: (!creds).then(|| "export AWS_PROFILE=… (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".to_string()),
        });
    }
    if let Some(env) = env {
        checks.extend(host_checks(&ws, env));
    }
    let mut rows = Vec::new();
    for c in &checks {
        rows.push(vec![if c.ok { "✓" } else { "✗" }.to_string(), c.name.clone(), c.detail.clone()]);
        if let Some(fix) = &c.fix {
            rows.push(vec![String::new(), String::new(), format!("fix: {fix}")]);
        }
    }
    let lines = [crate::report::table(None, rows)];
    let failed = checks.iter().filter(|c| !c.ok).count();
    printer.summary(
        &lines.join("\n"),
        json!({ "ok": failed == 0, "checks": checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix})).collect::<Vec<_>>() }),
    );
    Ok(if failed == 0 { 0 } else { crate::error::Phase::Prerequisite.exit_code() })
}

/// The release the environment asks for and, once it is deployed, what each
/// host really runs: its release and the installed component versions.
fn host_checks(ws: &Workspace, env: &environment::Environment) -> Vec<Check> {
    let state = ws.state(&env.name);
    let Ok((deployment, deployed_env)) = crate::deploy::session::deployed(&state, env) else {
        return vec![Check {
            name: "os".into(),
            ok: true,
            detail: format!("{} (from {}); not deployed, so no host to read yet", env.os.name(), env.file.display()),
            fix: None,
        }];
    };
    let want = env.os.name();
    crate::check::installed::read(&deployed_env, &deployment.contract, &state.known_hosts())
        .into_iter()
        .map(|(host, result)| match result {
            Ok(i) => {
                let ok = format!("debian-{}", i.version_id) == want;
                let versions = i.packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ");
                Check {
                    name: format!("host {host}"),
                    ok,
                    detail: if versions.is_empty() { i.release } else { format!("{}: {versions}", i.release) },
                    fix: (!ok).then(|| {
                        format!(
                            "{} asks for os = \"{want}\": recreate the host (obsctl destroy --env {env} then obsctl up --env {env}) or set os = \"debian-{}\"",
                            env.file.display(),
                            i.version_id,
                            env = env.name
                        )
                    }),
                }
            }
            Err(e) => Check {
                name: format!("host {host}"),
                ok: false,
                detail: format!("release and versions not read: {e}"),
                fix: Some(format!("is the host up? obsctl status --env {}", env.name)),
            },
        })
        .collect()
}
