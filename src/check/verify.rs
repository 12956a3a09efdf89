//! Proving the stack works: every Prometheus and Alertmanager ready, and
//! every expected scrape target `up` on every Prometheus, polled with a bound.
//! A failure names the host and component.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::error::{Error, Phase, Result};
use crate::model::component::ComponentId;
use crate::model::contract::Contract;
use crate::model::environment::Environment;
use crate::tools::http::{base_urls, get_json, get_ok};

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
    for c in env.registry.iter().filter(|c| env.enabled(c.id)) {
        for (name, h) in &contract.hosts {
            if h.runs(&env.registry, c.id) {
                out.push(Target { job: c.job.to_string(), host: name.clone(), port: c.port() });
            }
        }
    }
    out.sort();
    out
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

pub fn run(
    env: &Environment,
    contract: &Contract,
    known_hosts: &std::path::Path,
    access: &crate::state::tls::Access,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Result<Verified> {
    let agent = crate::tools::http::agent_for(contract, known_hosts, access, Duration::from_secs(5))?;
    let deadline = Instant::now() + timeout;
    let proms = base_urls(env, contract, ComponentId::Prometheus);
    let ams = base_urls(env, contract, ComponentId::Alertmanager);

    // 1. Readiness endpoints.
    for (id, list) in [(ComponentId::Prometheus, &proms), (ComponentId::Alertmanager, &ams)] {
        let (c, component) = (env.registry.get(id), id.name());
        for (host, url) in list {
            let ready = format!("{url}{}", c.health_path);
            loop {
                match get_ok(&agent, &ready) {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::new(Phase::Verify, format!("{component} on {host} is not ready: {ready} answered {e}"))
                            .hint(format!(
                                "look at the service: `obsctl ssh --env {env} {host} -- journalctl -u {unit}`; then `obsctl up --env {env} --full` configures and starts it again",
                                env = env.name,
                                unit = c.unit
                            )));
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
            // Each target's health changes once per scrape interval at most;
            // polling the targets API every half second costs Prometheus next
            // to nothing and ends the wait within half a second of the last one.
            crate::signals::sleep(Duration::from_millis(500))?;
        }
    }
    Ok(Verified {
        targets: expected.len(),
        prometheus_urls: proms.into_iter().map(|(_, u)| u).collect(),
        alertmanager_urls: ams.into_iter().map(|(_, u)| u).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::{Read, Write};

    /// An environment's CA, a certificate for 127.0.0.1 and obsctl's credentials, in `dir`.
    fn environment(dir: &std::path::Path) -> crate::state::workspace::StateDir {
        let state = crate::state::workspace::StateDir { dir: dir.to_path_buf() };
        std::fs::create_dir_all(state.secrets_dir()).unwrap();
        crate::state::secrets::web_users(&state.secrets_dir()).unwrap();
        let names = crate::state::tls::host_names("mon-1", "127.0.0.1", "127.0.0.1", &[]);
        crate::state::tls::ensure(&state.tls(), &BTreeMap::from([("mon-1".to_string(), names)])).unwrap();
        state
    }

    /// A one-request HTTPS server on 127.0.0.1 with mon-1's certificate:
    /// answers 200 when the request carries `expected` as Authorization,
    /// 401 otherwise; gives back what it saw (None: the handshake failed).
    fn serve_once(state: &crate::state::workspace::StateDir, expected: String) -> (u16, std::thread::JoinHandle<Option<String>>) {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(state.tls().host_cert("mon-1")).unwrap().map(|c| c.unwrap()).collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(state.tls().host_key("mon-1")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().ok()?;
            let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).ok()?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            let n = tls.read(&mut buf).ok()?;
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let authorized = request.lines().any(|l| l.eq_ignore_ascii_case(&format!("authorization: {expected}")));
            let status = if authorized { "200 OK" } else { "401 Unauthorized" };
            let _ = tls.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
            Some(request)
        });
        (port, handle)
    }

    #[test]
    fn the_agent_trusts_the_environment_ca_and_authenticates_as_obsctl() {
        let dir = tempfile::tempdir().unwrap();
        let state = environment(&dir.path().join("dev"));
        let access = crate::state::tls::Access::load(&state, "dev").unwrap();
        let agent = crate::tools::http::agent(&access, Duration::from_secs(5)).unwrap();

        let (port, server) = serve_once(&state, access.basic_auth());
        assert_eq!(get_ok(&agent, &format!("https://127.0.0.1:{port}/-/ready")), Ok(()));
        let seen = server.join().unwrap().expect("the handshake succeeded");
        assert!(seen.starts_with("GET /-/ready"), "{seen}");

        // Wrong credentials: the server's 401 comes back as such.
        let (port, server) = serve_once(&state, crate::state::tls::basic_auth("obsctl", "not-the-password"));
        assert_eq!(get_ok(&agent, &format!("https://127.0.0.1:{port}/")), Err("HTTP 401".to_string()));
        server.join().unwrap();

        // A client that trusts another environment's CA refuses the server.
        let other = environment(&dir.path().join("staging"));
        let stranger =
            crate::tools::http::agent(&crate::state::tls::Access::load(&other, "staging").unwrap(), Duration::from_secs(5)).unwrap();
        let (port, server) = serve_once(&state, access.basic_auth());
        let err = get_ok(&stranger, &format!("https://127.0.0.1:{port}/")).unwrap_err();
        assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
        assert!(server.join().unwrap().is_none(), "no request was sent over an untrusted connection");
    }
}
