//! The inventory phase: the stack's outputs become the contract and the
//! deployment record; certificates are issued; Ansible's inventory is
//! rendered from the record.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::deploy::prepare::target_dir;
use crate::deploy::session::Session;
use crate::error::Result;
use crate::model::contract::{self, Contract};
use crate::state::deployment::Deployment;
use crate::state::workspace::write_record;
use crate::tools::inventory;

/// Reads the stack's outputs, validates the contract, records the deployment
/// and renders Ansible's inventory from that record.
pub fn inventory_phase(s: &Session) -> Result<Deployment> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("inventory", "reading obsctl_inventory");
    let (raw, provider_vars) = s.terraform().outputs()?;
    let previous = Deployment::load(&s.state, &s.env.name).ok().flatten();
    let contract = crate::deploy::existing::merge(s, previous.as_ref().map(|d| &d.contract), contract::parse(&raw, &s.env)?);
    // Host keys the stack recorded when it created (or recreated) a machine.
    let recorded = crate::tools::ssh::record_host_keys(previous.as_ref().map(|d| &d.contract), &contract, &s.state.known_hosts())?;
    if !recorded.is_empty() {
        p.step("inventory", &format!("pinned the SSH host keys of {} in {}", recorded.join(", "), s.state.known_hosts().display()));
    }
    let mut d = Deployment::new(contract, s.env.components.clone(), provider_vars);
    // What the last configuration applied of the user's inputs stays until the next one.
    d.user = previous.and_then(|p| p.user);
    // The release the hosts run: the env file's, unless a roll to it has
    // hosts left (then the release they still run).
    let now = crate::state::os_roll::current_os(&s.state, &s.env);
    let left = crate::state::os_roll::pending(&s.env, &now);
    d.os = Some(left.first().and_then(|h| now.get(h)).cloned().unwrap_or_else(|| s.env.os.name().into()));
    d.save(&s.state)?;
    write_inventory(s, &d)?;
    p.phase_end(
        "inventory",
        true,
        t.elapsed(),
        &format!("{} hosts → {}", d.contract.hosts.len(), s.state.inventory().display()),
        json!({ "hosts": d.contract.hosts.len(), "path": s.state.inventory() }),
    );
    Ok(d)
}

pub fn write_inventory(s: &Session, d: &Deployment) -> Result<()> {
    for (host, renewal) in ensure_certificates(&s.state, &d.contract, &d.provider_vars)? {
        if renewal != crate::state::tls::Renewal::Keep {
            s.printer.step("inventory", &format!("issued the TLS certificate of {host} ({renewal})"));
        }
    }
    let rendered = render_inventory(&s.ws, &s.env, &s.state, &d.contract, d.provider_vars.clone())?;
    write_record(&s.state.inventory(), &rendered)
}

/// The environment's CA and each host's certificate, created or issued
/// again where `tls::decide` says so (`.obsctl/<env>/tls`).
pub fn ensure_certificates(
    state: &crate::state::workspace::StateDir,
    contract: &Contract,
    provider_vars: &Map<String, Value>,
) -> Result<std::collections::BTreeMap<String, crate::state::tls::Renewal>> {
    // On aws Grafana's public name is the load balancer's.
    let lb = provider_vars.get("grafana_root_url").and_then(Value::as_str).and_then(|u| {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        rest.split(['/', ':']).next().filter(|h| !h.is_empty())
    });
    crate::state::tls::ensure(&state.tls(), &crate::state::tls::wanted_names(contract, lb))
}

/// The Ansible inventory of `env` for `contract`, with this checkout's paths.
pub fn render_inventory(
    ws: &crate::state::workspace::Workspace,
    env: &crate::model::environment::Environment,
    state: &crate::state::workspace::StateDir,
    contract: &Contract,
    provider_vars: Map<String, Value>,
) -> Result<Value> {
    let app_binary = target_dir(ws).join("release/orders-api");
    let web_users = crate::state::secrets::web_users(&state.secrets_dir())?;
    let ctx = inventory::Context {
        env,
        secrets_dir: &state.secrets_dir(),
        known_hosts: &state.known_hosts(),
        app_binary: &app_binary,
        tls: &state.tls(),
        web_users: &web_users,
        provider_vars,
        host_os: crate::state::os_roll::current_os(state, env),
    };
    Ok(inventory::render(contract, &ctx))
}
