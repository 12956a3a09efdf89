//! Proving the stack works: every Prometheus and Alertmanager ready, and
//! every expected scrape target `up` on every Prometheus, polled with a bound.
//! A failure names the host and component.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::environment::Environment;
use crate::error::{Error, Phase, Result};
use crate::inventory::Contract;

/// A scrape target Prometheus must have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Target {
    pub job: String,
    pub host: String,
    pub port: u16,
}

/// Components, the role (group) that carries them, their job name and port.
pub fn components(env: &Environment) -> Vec<(&'static str, &'static str, u16)> {
    vec![
        ("prometheus", "prometheus", 9090),
        ("alertmanager", "alertmanager", 9093),
        ("node_exporter", "node", 9100),
        ("app", "orders-api", env.app.port),
        ("grafana", "grafana", 3000),
        ("loki", "loki", 3100),
        ("promtail", "promtail", 9080),
    ]
}

pub fn expected_targets(env: &Environment, contract: &Contract) -> Vec<Target> {
    let mut out = Vec::new();
    for (component, job, port) in components(env) {
        if !env.enabled(component) {
            continue;
        }
        for (name, h) in &contract.hosts {
            let everywhere = matches!(component, "node_exporter" | "promtail");
            if everywhere || h.roles.iter().any(|r| r == component) {
                out.push(Target { job: job.to_string(), host: name.clone(), port });
            }
        }
    }
    out.sort();
    out
}

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(2)).timeout(timeout).build()
}

pub fn get_json(agent: &ureq::Agent, url: &str) -> std::result::Result<Value, String> {
    let resp = agent.get(url).call().map_err(|e| short_http_error(&e))?;
    resp.into_json::<Value>().map_err(|e| format!("invalid JSON from {url}: {e}"))
}

pub fn get_ok(agent: &ureq::Agent, url: &str) -> std::result::Result<(), String> {
    agent.get(url).call().map(|_| ()).map_err(|e| short_http_error(&e))
}

fn short_http_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, _) => format!("HTTP {code}"),
        ureq::Error::Transport(t) => t.to_string().lines().next().unwrap_or("transport error").to_string(),
    }
}

/// Health of one scrape target as one Prometheus sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetHealth {
    pub job: String,
    pub host: String,
    pub health: String,
    pub last_error: String,
}

/// Active targets of one Prometheus, keyed by (job, host).
pub fn targets(agent: &ureq::Agent, prometheus: &str) -> std::result::Result<BTreeMap<(String, String), TargetHealth>, String> {
    let v = get_json(agent, &format!("{prometheus}/api/v1/targets?state=active"))?;
    let mut out = BTreeMap::new();
    for t in v["data"]["activeTargets"].as_array().into_iter().flatten() {
        let job = t["labels"]["job"].as_str().unwrap_or_default().to_string();
        let host = t["labels"]["host"].as_str().unwrap_or_default().to_string();
        let th = TargetHealth {
            job: job.clone(),
            host: host.clone(),
            health: t["health"].as_str().unwrap_or("unknown").to_string(),
            last_error: t["lastError"].as_str().unwrap_or_default().to_string(),
        };
        out.insert((job, host), th);
    }
    Ok(out)
}

pub struct Verified {
    pub targets: usize,
    pub prometheus_urls: Vec<String>,
    pub alertmanager_urls: Vec<String>,
}

pub fn run(env: &Environment, contract: &Contract, timeout: Duration, mut progress: impl FnMut(&str)) -> Result<Verified> {
    let agent = agent(Duration::from_secs(5));
    let deadline = Instant::now() + timeout;
    let url_of = |role: &str, port: u16| -> Vec<(String, String)> {
        contract
            .hosts
            .iter()
            .filter(|(_, h)| h.roles.iter().any(|r| r == role))
            .map(|(n, h)| (n.clone(), format!("http://{}:{port}", host_for_url(&h.address))))
            .collect()
    };
    let proms = url_of("prometheus", 9090);
    let ams = url_of("alertmanager", 9093);

    // 1. Readiness endpoints.
    for (component, list) in [("prometheus", &proms), ("alertmanager", &ams)] {
        for (host, url) in list {
            loop {
                match get_ok(&agent, &format!("{url}/-/ready")) {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::new(Phase::Verify, format!("{component} on {host} is not ready: {url}/-/ready answered {e}"))
                            .hint(format!("look at the service: ssh to {host} and run `journalctl -u {}`", unit_of(component))));
                    }
                    Err(_) => crate::signals::sleep(Duration::from_secs(1))?,
                }
            }
        }
    }

    // 2. Every expected target up, on every Prometheus.
    let expected = expected_targets(env, contract);
    for (prom_host, url) in &proms {
        loop {
            let seen = targets(&agent, url);
            let mut missing = Vec::new();
            match &seen {
                Ok(seen) => {
                    for t in &expected {
                        match seen.get(&(t.job.clone(), t.host.clone())) {
                            Some(h) if h.health == "up" => {}
                            Some(h) => missing.push(format!(
                                "{} on {} (port {}) is {}{}",
                                t.job,
                                t.host,
                                t.port,
                                h.health,
                                if h.last_error.is_empty() { String::new() } else { format!(": {}", h.last_error) }
                            )),
                            None => missing.push(format!("{} on {} (port {}) is not a scrape target", t.job, t.host, t.port)),
                        }
                    }
                }
                Err(e) => missing.push(format!("cannot read targets: {e}")),
            }
            if missing.is_empty() {
                progress(&format!("{} targets up on {prom_host}", expected.len()));
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    Phase::Verify,
                    format!(
                        "{} of {} scrape targets are not up on Prometheus {prom_host} after {}s",
                        missing.len(),
                        expected.len(),
                        timeout.as_secs()
                    ),
                )
                .details(missing)
                .hint(format!("see {url}/targets; then `obsctl status --env {}`", env.name)));
            }
            progress(&format!("waiting for {} of {} targets on {prom_host}", missing.len(), expected.len()));
            crate::signals::sleep(Duration::from_secs(2))?;
        }
    }
    Ok(Verified {
        targets: expected.len(),
        prometheus_urls: proms.into_iter().map(|(_, u)| u).collect(),
        alertmanager_urls: ams.into_iter().map(|(_, u)| u).collect(),
    })
}

pub fn host_for_url(address: &str) -> String {
    if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

pub fn unit_of(component: &str) -> &'static str {
    match component {
        "prometheus" => "prometheus",
        "alertmanager" => "prometheus-alertmanager",
        "node_exporter" => "prometheus-node-exporter",
        "app" => "orders-api",
        "grafana" => "grafana-server",
        "loki" => "loki",
        "promtail" => "promtail",
        _ => "?",
    }
}
