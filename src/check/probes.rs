//! `status`'s probes: one health probe per enabled component and host, which
//! of them obsctl calls directly (the aws reachability policy), and the
//! health of the others as Prometheus sees it.

use serde_json::Value;

use crate::model::component::ComponentId;
use crate::model::environment::ProviderKind;
use crate::tools::http::base_urls;

pub struct Probe {
    pub host: String,
    pub component: ComponentId,
    pub url: String,
    /// Prometheus also gets its targets and alerts read; Alertmanager its cluster.
    pub extra: Option<String>,
}

pub struct Outcome {
    pub probe: Probe,
    pub health: std::result::Result<(), String>,
    pub extra: Option<std::result::Result<Value, String>>,
}

/// One health probe per enabled component and host that runs it, at the
/// registry's port and health path.
pub fn probes(env: &crate::model::environment::Environment, contract: &crate::model::contract::Contract) -> Vec<Probe> {
    let mut probes = Vec::new();
    for c in env.registry.iter().filter(|c| env.enabled(c.id)) {
        for (host, base) in base_urls(env, contract, c.id) {
            let extra = match c.id {
                ComponentId::Prometheus => Some(format!("{base}/api/v1/targets?state=active")),
                ComponentId::Alertmanager => Some(format!("{base}/api/v2/status")),
                _ => None,
            };
            probes.push(Probe { host, component: c.id, url: format!("{base}{}", c.health_path), extra });
        }
    }
    probes
}

/// Whether `status` checks a component by calling it from the admin's
/// machine. On aws the security groups open only Prometheus and
/// Alertmanager to admin_cidrs (Grafana sits behind its load balancer); the
/// ports of node_exporter, the log agent, Grafana, Loki and the application are
/// open to the stack only, so their health comes from Prometheus.
pub fn probed_directly(provider: ProviderKind, component: ComponentId) -> bool {
    provider.admin_reaches(component)
}

/// Health of (component, job, host) as the answering Prometheus servers see
/// it: up when one of them scrapes it successfully, else DOWN with the last
/// scrape error (or why nobody could tell).
pub fn seen_by_prometheus(outcomes: &[Outcome], wanted: Vec<(ComponentId, &'static str, String)>) -> Vec<Outcome> {
    let views: Vec<(&str, &Value)> = outcomes
        .iter()
        .filter(|o| o.probe.component == ComponentId::Prometheus)
        .filter_map(|o| match &o.extra {
            Some(Ok(v)) => Some((o.probe.host.as_str(), v)),
            _ => None,
        })
        .collect();
    wanted
        .into_iter()
        .map(|(component, job, host)| {
            let mut seen = Vec::new();
            for (prom, v) in &views {
                for t in v["data"]["activeTargets"].as_array().into_iter().flatten() {
                    if t["labels"]["job"] == job && t["labels"]["host"] == host.as_str() {
                        seen.push((*prom, t["health"] == "up", t["lastError"].as_str().unwrap_or_default().to_string()));
                    }
                }
            }
            let health = if views.is_empty() {
                Err("no Prometheus answered, so its scrape of this target is unknown".to_string())
            } else if let Some((_, _, _)) = seen.iter().find(|(_, up, _)| *up) {
                Ok(())
            } else if let Some((prom, _, err)) = seen.first() {
                Err(format!("Prometheus on {prom} cannot scrape it: {}", if err.is_empty() { "no scrape yet" } else { err }))
            } else {
                Err(format!("not a scrape target of Prometheus (job {job})"))
            };
            let url = format!("scraped by Prometheus (job {job})");
            Outcome { probe: Probe { host, component, url, extra: None }, health, extra: None }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prometheus(host: &str, targets: Value) -> Outcome {
        Outcome {
            probe: Probe { host: host.into(), component: ComponentId::Prometheus, url: format!("https://{host}/-/ready"), extra: None },
            health: Ok(()),
            extra: Some(Ok(json!({ "data": { "activeTargets": targets } }))),
        }
    }

    #[test]
    fn on_aws_only_prometheus_and_alertmanager_are_called_directly() {
        use ComponentId::*;
        for c in [NodeExporter, Alloy, Grafana, Loki, App] {
            assert!(!probed_directly(ProviderKind::Aws, c), "{c}");
            assert!(probed_directly(ProviderKind::Lab, c), "{c}");
        }
        assert!(probed_directly(ProviderKind::Aws, Prometheus) && probed_directly(ProviderKind::Aws, Alertmanager));
    }

    #[test]
    fn health_comes_from_what_prometheus_scrapes() {
        let t = |job: &str, host: &str, health: &str, err: &str| json!({ "labels": { "job": job, "host": host }, "health": health, "lastError": err });
        let outcomes = vec![
            prometheus("mon-1", json!([t("node", "app-1", "down", "connection refused"), t("loki", "mon-3", "up", "")])),
            prometheus("mon-2", json!([t("node", "app-1", "up", ""), t("loki", "mon-3", "down", "timeout")])),
        ];
        let got = seen_by_prometheus(
            &outcomes,
            vec![
                (ComponentId::NodeExporter, "node", "app-1".into()),
                (ComponentId::Loki, "loki", "mon-3".into()),
                (ComponentId::Alloy, "alloy", "app-1".into()),
            ],
        );
        assert!(got[0].health.is_ok(), "up on one Prometheus is up");
        assert!(got[1].health.is_ok());
        assert!(got[2].health.as_ref().unwrap_err().contains("not a scrape target"));
        let down = vec![prometheus("mon-1", json!([t("app", "app-1", "down", "connection refused")]))];
        let got = seen_by_prometheus(&down, vec![(ComponentId::App, "app", "app-1".into())]);
        assert!(got[0].health.as_ref().unwrap_err().contains("connection refused"));
        let got = seen_by_prometheus(&[], vec![(ComponentId::App, "app", "app-1".into())]);
        assert!(got[0].health.as_ref().unwrap_err().contains("no Prometheus answered"));
    }
}
