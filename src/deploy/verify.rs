//! The verify phase and the summary of a run.

use std::time::{Duration, Instant};

use serde_json::{json, Map};

use crate::cli::UpArgs;
use crate::deploy::configure::ConfigPath;
use crate::deploy::session::{secs, Session, Timings};
use crate::error::Result;
use crate::model::component::ComponentId;
use crate::model::contract::Contract;
use crate::state::deployment::Deployment;

pub fn verify(
    s: &Session,
    env: &crate::model::environment::Environment,
    contract: &Contract,
    args: &UpArgs,
    already_read: Option<Installed>,
) -> Result<(crate::check::verify::Verified, Installed)> {
    let p = s.printer;
    let t = Instant::now();
    p.phase_start("verify", "checking readiness and scrape targets");
    let access = crate::state::tls::Access::load(&s.state, &env.name)?;
    let known_hosts = s.state.known_hosts();
    // What the hosts run, for the summary: read (one SSH command per host)
    // while verify waits for the targets, not after it; unless the fast
    // path's check read it already, in its own SSH session.
    let (verified, installed) = std::thread::scope(|scope| {
        let reading = scope.spawn(|| already_read.unwrap_or_else(|| crate::check::installed::read(env, contract, &known_hosts)));
        let verified =
            crate::check::verify::run(env, contract, &known_hosts, &access, Duration::from_secs(args.verify_timeout), |m| p.progress(m));
        let installed = reading.join().unwrap_or_else(|_| {
            contract.hosts.keys().map(|h| (h.clone(), Err("reading the installed packages failed".to_string()))).collect()
        });
        (verified, installed)
    });
    let verified = verified?;
    p.phase_end("verify", true, t.elapsed(), &format!("{} scrape targets up", verified.targets), json!({ "targets": verified.targets }));
    Ok((verified, installed))
}

/// Per host, what `summarize` reports as installed (`check::installed::read`).
pub type Installed = crate::check::installed::Report;

pub fn summarize(
    s: &Session,
    d: &Deployment,
    configured: Option<(u32, &ConfigPath)>,
    (verified, installed): &(crate::check::verify::Verified, Installed),
    before: Option<&crate::check::installed::Report>,
    timings: Timings,
) -> Result<()> {
    let (p, env, contract) = (s.printer, &s.env, &d.contract);
    let changed = configured.map(|(c, _)| c);
    let mut urls = Map::new();
    let mut lines = vec![format!(
        "Environment `{}` is up: {} hosts, {} scrape targets up{}.",
        env.name,
        contract.hosts.len(),
        verified.targets,
        changed.map(|c| format!(", {c} changed tasks")).unwrap_or_default()
    )];
    if let Some((_, path)) = configured {
        lines.push(match path {
            ConfigPath::Fast { .. } => format!("  Configuration: fast path, Ansible skipped ({})", path.reasons().join("; ")),
            ConfigPath::Full(r) => format!("  Configuration: full Ansible run ({})", r.join("; ")),
        });
    }
    // Read from the hosts (during verify), not assumed from the env file.
    for (i, line) in crate::check::installed::describe(installed).into_iter().enumerate() {
        lines.push(format!("  {:<13} {line}", if i == 0 { "Installed" } else { "" }));
    }
    // up --upgrade: what changed; every run: what is still pending.
    let upgraded = before.map(|b| crate::check::installed::changes(b, installed));
    match &upgraded {
        Some(list) if list.is_empty() => {
            lines.push(format!("  {:<13} nothing (every managed package was at its APT candidate)", "Upgraded"))
        }
        Some(list) => {
            for (i, (host, package, old, new)) in list.iter().enumerate() {
                lines.push(format!("  {:<13} {host}: {package} {old} → {new}", if i == 0 { "Upgraded" } else { "" }));
            }
        }
        None => {}
    }
    let pending = crate::check::installed::pending_lines(installed);
    if pending.is_empty() {
        lines.push(format!("  {:<13} none pending (every managed package is at its APT candidate)", "Updates"));
    } else {
        lines.push(format!(
            "  {:<13} pending on {} host(s): `obsctl up --env {} --upgrade` applies them",
            "Updates",
            pending.len(),
            env.name
        ));
        lines.extend(pending.iter().map(|l| format!("  {:<13} {l}", "")));
    }
    let mut add = |name: &str, list: &[String]| {
        for (i, u) in list.iter().enumerate() {
            lines.push(format!("  {:<13} {u}", if i == 0 { name } else { "" }));
        }
        urls.insert(name.to_string(), json!(list));
    };
    add("Prometheus", &verified.prometheus_urls);
    add("Alertmanager", &verified.alertmanager_urls);
    // Behind a load balancer (aws), Grafana's address is the balancer's.
    let grafana_lb = d.provider_vars.get("grafana_root_url").and_then(|u| u.as_str()).filter(|_| env.enabled(ComponentId::Grafana));
    if let Some(url) = grafana_lb {
        add("Grafana", &[url.to_string()]);
    }
    // Only URLs an admin can reach: on aws the security groups open
    // Prometheus and Alertmanager to admin_cidrs and Grafana through its load
    // balancer; Grafana's and the application's own ports are closed to them.
    for (id, label) in [(ComponentId::Grafana, "Grafana"), (ComponentId::App, "orders-api")] {
        if !env.provider.admin_reaches(id) || (id == ComponentId::Grafana && grafana_lb.is_some()) {
            continue;
        }
        if env.enabled(id) {
            let list: Vec<String> = crate::tools::http::base_urls(env, contract, id).into_iter().map(|(_, u)| u).collect();
            add(label, &list);
        }
    }
    let password_file = crate::state::secrets::grafana_admin_password_file(&s.state.secrets_dir());
    if env.enabled(ComponentId::Grafana) {
        lines.push(format!("  Grafana login: admin / password in {}", password_file.display()));
    }
    // Where the credentials are, never what they are.
    let ca_file = s.state.tls().trust_file();
    let operator_password = crate::state::secrets::password_file(&s.state.secrets_dir(), crate::state::secrets::OPERATOR);
    lines.push(format!(
        "  Credentials:  HTTPS with the CA {}; basic auth as {} / password in {}",
        ca_file.display(),
        crate::state::secrets::OPERATOR,
        operator_password.display()
    ));
    lines.push(format!("  Run logs:     {}", s.run_dir.display()));
    p.summary(
        &lines.join("\n"),
        json!({ "ok": true, "environment": env.name, "hosts": contract.hosts.keys().collect::<Vec<_>>(), "targets_up": verified.targets,
                "changed_tasks": changed, "urls": urls,
                "path": configured.map(|(_, p)| p.name()), "path_reasons": configured.map(|(_, p)| p.reasons()),
                "os": env.os.name(), "installed": crate::check::installed::to_json(installed),
                "updates_pending": crate::check::installed::pending_json(installed),
                "upgraded": upgraded.map(|l| l.iter().map(|(h, p, o, n)| json!({ "host": h, "package": p, "before": o, "after": n })).collect::<Vec<_>>()), "grafana_password_file": password_file,
                "credentials": { "ca_file": ca_file, "user": crate::state::secrets::OPERATOR, "password_file": operator_password },
                "timings": timings, "elapsed_s": secs(p.elapsed()), "own_cpu_s": secs(crate::report::own_cpu()),
                "run_log": s.run_dir }),
    );
    Ok(())
}
