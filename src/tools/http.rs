//! HTTP to the stack's endpoints: their URLs, and a client that trusts the
//! environment's CA alone and authenticates as obsctl.

use std::time::Duration;

use serde_json::Value;

use crate::error::Result;
use crate::model::component::ComponentId;
use crate::model::contract::Contract;
use crate::model::environment::Environment;

/// `https://<address>:<port>` of every host that runs `component` (every
/// endpoint serves HTTPS with a certificate of the environment's CA).
pub fn base_urls(env: &Environment, contract: &Contract, component: ComponentId) -> Vec<(String, String)> {
    let port = env.registry.get(component).port();
    contract
        .hosts
        .iter()
        .filter(|(_, h)| h.runs(&env.registry, component))
        .map(|(n, h)| (n.clone(), format!("https://{}:{port}", host_for_url(&h.address))))
        .collect()
}

/// An HTTP client for the stack's endpoints: HTTPS trusting the
/// environment's CA alone, every request authenticated as obsctl.
pub fn agent(access: &crate::state::tls::Access, timeout: Duration) -> Result<ureq::Agent> {
    Ok(builder(access, timeout)?.build())
}

/// `agent` for the hosts of `contract`: behind a bastion (aws), every
/// request travels through the SSH SOCKS tunnel over it (tools::tunnel),
/// TLS still checked end to end against the host's address; an unreachable
/// bastion is an error naming it (exit 30).
pub fn agent_for(
    contract: &Contract,
    known_hosts: &std::path::Path,
    access: &crate::state::tls::Access,
    timeout: Duration,
) -> Result<ureq::Agent> {
    let mut b = builder(access, timeout)?;
    if let Some(url) = crate::tools::tunnel::socks_proxy(contract, known_hosts)? {
        let proxy = ureq::Proxy::new(&url).map_err(|e| crate::error::Error::internal(format!("SOCKS proxy {url}: {e}")))?;
        // Through the tunnel a connection takes one more hop.
        b = b.proxy(proxy).timeout_connect(Duration::from_secs(5));
    }
    Ok(b.build())
}

fn builder(access: &crate::state::tls::Access, timeout: Duration) -> Result<ureq::AgentBuilder> {
    Ok(ureq::AgentBuilder::new()
        .tls_config(access.client_config()?)
        .middleware(BasicAuth(access.basic_auth()))
        .timeout_connect(Duration::from_secs(2))
        .timeout(timeout))
}

/// Adds obsctl's `Authorization` header to every request of an agent.
struct BasicAuth(String);

impl ureq::Middleware for BasicAuth {
    fn handle(&self, request: ureq::Request, next: ureq::MiddlewareNext) -> std::result::Result<ureq::Response, ureq::Error> {
        next.handle(request.set("Authorization", &self.0))
    }
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

/// An address as the host part of a URL (IPv6 in brackets); lives with
/// ssh's, which scp needs too (tools::ssh may not call this module: its
/// tunnel calls ssh).
pub use crate::tools::ssh::host_for_url;
