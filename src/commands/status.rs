//! `obsctl status`: health of every host and component, scrape targets with
//! their last error, alerts firing now, Alertmanager cluster membership.
//! Every check runs concurrently with a short timeout, so a dead host costs
//! one timeout, not one per check. Exit 0 when all is healthy.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::check::probes::{probed_directly, probes, seen_by_prometheus, Outcome, Probe};
use crate::deploy::session::{deployed, Session};
use crate::error::{Error, Phase, Result};
use crate::model::component::ComponentId;
use crate::model::environment::ProviderKind;
use crate::report::Printer;
use crate::tools::http::{get_json, get_ok};

const TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(env_name: &str, printer: &Printer) -> Result<u8> {
    let started = Instant::now();
    let s = Session::open_unlocked(env_name, "status", printer, |_| Ok(()))?;
    let (d, env) = deployed(&s.state, &s.env)?;
    let contract = d.contract;
    let agent =
        crate::tools::http::agent_for(&contract, &s.state.known_hosts(), &crate::state::tls::Access::load(&s.state, env_name)?, TIMEOUT)?;

    // On aws only Prometheus and Alertmanager are called from here; the
    // others are checked through Prometheus's targets: (component, job, host).
    let (probes, indirect): (Vec<Probe>, Vec<Probe>) =
        probes(&env, &contract).into_iter().partition(|p| probed_directly(env.provider.kind(), p.component));
    let via_prometheus: Vec<(ComponentId, &'static str, String)> =
        indirect.into_iter().map(|p| (p.component, env.registry.get(p.component).job, p.host)).collect();
    // The hosts' package versions and APT candidates (one SSH command each),
    // read while the probes run: updates pending are reported, not a problem.
    let (outcomes, installed) = std::thread::scope(|scope| -> Result<(Vec<Outcome>, crate::check::installed::Report)> {
        let installed = scope.spawn(|| crate::check::installed::read(&env, &contract, &s.state.known_hosts()));
        let handles: Vec<_> = probes
            .into_iter()
            .map(|probe| {
                let agent = agent.clone();
                scope.spawn(move || {
                    let health = get_ok(&agent, &probe.url);
                    let extra = match (&health, &probe.extra) {
                        (Ok(()), Some(url)) => Some(get_json(&agent, url)),
                        _ => None,
                    };
                    Outcome { probe, health, extra }
                })
            })
            .collect();
        let outcomes =
            handles.into_iter().map(|h| h.join().map_err(|_| Error::internal("a status probe panicked"))).collect::<Result<_>>()?;
        Ok((outcomes, installed.join().map_err(|_| Error::internal("the read of the installed packages panicked"))?))
    })?;

    let mut outcomes = outcomes;
    outcomes.extend(seen_by_prometheus(&outcomes, via_prometheus));

    // Alerts: from the first Prometheus that answers.
    let alerts: Vec<Value> = outcomes
        .iter()
        .find(|o| o.probe.component == ComponentId::Prometheus && o.health.is_ok())
        .and_then(|o| get_json(&agent, &o.probe.extra.as_ref()?.replace("/targets?state=active", "/alerts")).ok())
        .and_then(|v| v["data"]["alerts"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["state"] == "firing")
        .collect();

    let mut problems = outcomes.iter().filter(|o| o.health.is_err()).count();
    let rows = outcomes.iter().map(|o| {
        let detail = match &o.health {
            Ok(()) => o.probe.url.clone(),
            // Transport errors already start with the URL.
            Err(e) if e.starts_with(&o.probe.url) => e.clone(),
            Err(e) => format!("{}: {e}", o.probe.url),
        };
        // A host obsctl did not create is marked as such.
        let host = if contract.hosts.get(&o.probe.host).is_some_and(|h| h.is_existing()) {
            format!("{} (existing)", o.probe.host)
        } else {
            o.probe.host.clone()
        };
        vec![host, o.probe.component.to_string(), if o.health.is_ok() { "up" } else { "DOWN" }.to_string(), detail]
    });
    let mut lines = vec![crate::report::table(Some(vec!["HOST", "COMPONENT", "HEALTH", "DETAIL"]), rows)];
    if env.provider.kind() == ProviderKind::Aws {
        lines.insert(
            0,
            "(aws: Prometheus and Alertmanager are checked from here; the other components' ports are closed to \
             admins, so their health is what Prometheus sees when it scrapes them)"
                .to_string(),
        );
    }
    let mut targets_json = Vec::new();
    for o in outcomes.iter().filter(|o| o.probe.component == ComponentId::Prometheus) {
        let Some(Ok(v)) = &o.extra else { continue };
        let all = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let down: Vec<&Value> = all.iter().filter(|t| t["health"] != "up").collect();
        lines.push(format!("\nScrape targets seen by Prometheus on {}: {} up, {} down", o.probe.host, all.len() - down.len(), down.len()));
        for t in &down {
            problems += 1;
            lines.push(format!(
                "  DOWN {} on {}: {}",
                t["labels"]["job"].as_str().unwrap_or("?"),
                t["labels"]["host"].as_str().unwrap_or("?"),
                t["lastError"].as_str().filter(|e| !e.is_empty()).unwrap_or("no scrape yet")
            ));
        }
        targets_json.push(json!({ "prometheus": o.probe.host, "up": all.len() - down.len(),
            "down": down.iter().map(|t| json!({ "job": t["labels"]["job"], "host": t["labels"]["host"], "last_error": t["lastError"] })).collect::<Vec<_>>() }));
    }

    let mut cluster_json = Vec::new();
    let expected_peers = contract.hosts.values().filter(|h| h.has_role(ComponentId::Alertmanager)).count();
    if expected_peers > 1 {
        for o in outcomes.iter().filter(|o| o.probe.component == ComponentId::Alertmanager) {
            let Some(Ok(v)) = &o.extra else { continue };
            let peers = v["cluster"]["peers"].as_array().map_or(0, |p| p.len());
            if peers < expected_peers {
                problems += 1;
            }
            lines.push(format!("Alertmanager cluster seen from {}: {peers} of {expected_peers} peers", o.probe.host));
            cluster_json.push(json!({ "host": o.probe.host, "peers": peers, "expected": expected_peers }));
        }
    }

    let names: Vec<String> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] != "Watchdog")
        .map(|a| {
            format!(
                "{} ({}{})",
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["severity"].as_str().unwrap_or("?"),
                a["labels"]["host"].as_str().map(|h| format!(", {h}")).unwrap_or_default()
            )
        })
        .collect();
    lines.push(if names.is_empty() {
        "\nAlerts firing: none (besides Watchdog)".to_string()
    } else {
        format!("\nAlerts firing: {}", names.join(", "))
    });
    lines.push(String::new());
    // A change of `os` not rolled through yet (pending, under way or stopped): not a health problem.
    let roll = crate::state::os_roll::roll(&s.state, &env);
    lines.extend(roll.iter().flat_map(|r| r.lines.iter().cloned()));
    lines.extend(crate::check::installed::updates_lines(&installed, &env.name, ""));
    // The certificate obsctl issued that expires first (the hosts' copies are measured by Prometheus).
    let nearest = crate::state::tls::nearest_expiry(&s.state.tls());
    let cert_json = nearest.as_ref().map(|(name, at)| {
        let days = (*at - time::OffsetDateTime::now_utc()).whole_days();
        let at = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        lines.push(format!(
            "Certificates: the nearest expiry is {name}'s, in {days} days ({at}){}",
            if days < crate::state::tls::RENEW_BEFORE_DAYS {
                format!("; renew: obsctl renew-certs --env {}", env.name)
            } else {
                String::new()
            }
        ));
        json!({ "certificate": name, "not_after": at, "days_left": days })
    });
    lines.push(format!(
        "{} in {:.1}s",
        if problems == 0 { "healthy".to_string() } else { format!("{problems} problem(s)") },
        started.elapsed().as_secs_f64()
    ));
    printer.summary(
        &lines.join("\n"),
        json!({ "ok": problems == 0, "environment": env.name, "problems": problems, "elapsed_s": crate::report::round(started.elapsed()),
                "checks": outcomes.iter().map(|o| json!({ "host": o.probe.host,
                    "existing": contract.hosts.get(&o.probe.host).is_some_and(|h| h.is_existing()), "component": o.probe.component, "url": o.probe.url,
                    "healthy": o.health.is_ok(), "error": o.health.as_ref().err() })).collect::<Vec<_>>(),
                "targets": targets_json, "alertmanager_cluster": cluster_json, "nearest_certificate_expiry": cert_json,
                "updates_pending": crate::check::installed::pending_json(&installed), "release_roll": roll,
                "alerts_firing": alerts.iter().map(|a| json!({ "alertname": a["labels"]["alertname"], "severity": a["labels"]["severity"], "labels": a["labels"] })).collect::<Vec<_>>() }),
    );
    Ok(if problems == 0 { 0 } else { Phase::Verify.exit_code() })
}
