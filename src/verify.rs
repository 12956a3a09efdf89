//! Proving the stack works: every Prometheus and Alertmanager ready, and
//! every expected scrape target `up` on every Prometheus, polled with a bound.
//! A failure names the host and component.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::contract::Contract;
use crate::environment::Environment;
use crate::error::{Error, Phase, Result};

/// A scrape target Prometheus must have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Target {
    pub job: String,
    pub host: String,
    pub port: u16,
}

/// Every scrape target of the enabled components: the registry's job and
/// port on each host that runs the component.
pub fn expected_targets(env: &Environment, contract: &Contract) -> Vec<Target> {
    let mut out = Vec::new();
    for c in env.registry.iter().filter(|c| env.enabled(c.name)) {
        for (name, h) in &contract.hosts {
            if env.registry.runs_on(c.name, &h.roles) {
                out.push(Target { job: c.job.to_string(), host: name.clone(), port: c.port() });
            }
        }
    }
    out.sort();
    out
}

/// `http://<address>:<port>` of every host that runs `component`.
pub fn base_urls(env: &Environment, contract: &Contract, component: &str) -> Vec<(String, String)> {
    let port = env.registry.get(component).port();
    contract
        .hosts
        .iter()
        .filter(|(_, h)| env.registry.runs_on(component, &h.roles))
        .map(|(n, h)| (n.clone(), format!("http://{}:{port}", host_for_url(&h.address))))
        .collect()
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
    let proms = base_urls(env, contract, "prometheus");
    let ams = base_urls(env, contract, "alertmanager");

    // 1. Readiness endpoints.
    for (component, list) in [("prometheus", &proms), ("alertmanager", &ams)] {
        let c = env.registry.get(component);
        for (host, url) in list {
            let ready = format!("{url}{}", c.health_path);
            loop {
                match get_ok(&agent, &ready) {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::new(Phase::Verify, format!("{component} on {host} is not ready: {ready} answered {e}"))
                            .hint(format!("look at the service: ssh to {host} and run `journalctl -u {}`", c.unit)));
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
