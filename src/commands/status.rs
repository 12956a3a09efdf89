//! `obsctl status`: health of every host and component, checked
//! concurrently with short timeouts so a dead host costs one timeout.

use std::time::Duration;

use serde_json::json;

use crate::environment;
use crate::error::{Phase, Result};
use crate::report::Printer;
use crate::verify;
use crate::workspace::Workspace;

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let ws = Workspace::discover()?;
    let mut env = environment::load(&ws.environments_dir(), env_name)?;
    let contract = super::deployed(&ws, &mut env)?;
    let agent = verify::agent(Duration::from_secs(3));

    // One check per (host, component): its health endpoint.
    let mut checks = Vec::new();
    for (component, _job, port) in verify::components(&env) {
        if !env.enabled(component) {
            continue;
        }
        for (name, h) in &contract.hosts {
            let everywhere = matches!(component, "node_exporter" | "promtail");
            if everywhere || h.roles.iter().any(|r| r == component) {
                let path = match component {
                    "prometheus" | "alertmanager" => "/-/ready",
                    "grafana" => "/api/health",
                    "loki" => "/ready",
                    "app" => "/healthz",
                    _ => "/metrics",
                };
                checks.push((name.clone(), component, format!("http://{}:{port}{path}", verify::host_for_url(&h.address))));
            }
        }
    }
    let results: Vec<(String, &str, String, std::result::Result<(), String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = checks
            .into_iter()
            .map(|(host, component, url)| {
                let agent = agent.clone();
                scope.spawn(move || {
                    let r = verify::get_ok(&agent, &url);
                    (host, component, url, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("status check panicked")).collect()
    });
    let unhealthy = results.iter().filter(|r| r.3.is_err()).count();
    let mut lines = vec![format!("{:<10} {:<14} {:<8} {}", "HOST", "COMPONENT", "HEALTH", "DETAIL")];
    for (host, component, url, r) in &results {
        lines.push(format!(
            "{:<10} {:<14} {:<8} {}",
            host,
            component,
            if r.is_ok() { "up" } else { "DOWN" },
            match r {
                Ok(()) => url.clone(),
                Err(e) => format!("{url}: {e}"),
            }
        ));
    }
    lines.push(if unhealthy == 0 {
        format!("all {} checks healthy", results.len())
    } else {
        format!("{unhealthy} of {} checks unhealthy", results.len())
    });
    printer.summary(
        &lines.join("\n"),
        json!({ "ok": unhealthy == 0, "environment": env.name, "checks": results.iter().map(|(h, c, u, r)| json!({
            "host": h, "component": c, "url": u, "healthy": r.is_ok(), "error": r.as_ref().err() })).collect::<Vec<_>>() }),
    );
    Ok(if unhealthy == 0 { 0 } else { Phase::Verify.exit_code() })
}
