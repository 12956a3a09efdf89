//! The component registry: the one place that says, for each component of
//! the stack, its inventory group, whether it runs on every host, its ports,
//! its scrape job, health path, systemd unit and package.
//!
//! Everything else is derived from it: `verify`'s expected targets, `status`'s
//! probes, the `up` summary, the inventory variables the roles read (every
//! port under the role's variable name, and `obsctl_components`), the
//! Terraform variables `ports` and `components`, and through
//! `obsctl_components` the scrape jobs of `prometheus.yml.j2`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One port of a component, under the Ansible variable name the role reads
/// (also the key of the Terraform `ports` map).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub var: &'static str,
    pub number: u16,
}

/// The components of the stack, in the registry's order (`ALL`). Sets of
/// them sort by name, as the lists of names they replace did: the run's
/// components are printed, recorded and passed to Terraform in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentId {
    Prometheus,
    Alertmanager,
    NodeExporter,
    Grafana,
    Loki,
    /// The log agent (Grafana Alloy), on every host.
    Alloy,
    /// The legacy log agent, only for environments that opt in
    /// (`log_agent = "promtail"`: src/model/environment/validate.rs).
    Promtail,
    App,
}

impl ComponentId {
    pub const ALL: [ComponentId; 8] = [
        ComponentId::Prometheus,
        ComponentId::Alertmanager,
        ComponentId::NodeExporter,
        ComponentId::Grafana,
        ComponentId::Loki,
        ComponentId::Alloy,
        ComponentId::Promtail,
        ComponentId::App,
    ];

    /// Its name: the Ansible role, inventory group and env file's word for it.
    pub fn name(self) -> &'static str {
        match self {
            ComponentId::Prometheus => "prometheus",
            ComponentId::Alertmanager => "alertmanager",
            ComponentId::NodeExporter => "node_exporter",
            ComponentId::Grafana => "grafana",
            ComponentId::Loki => "loki",
            ComponentId::Alloy => "alloy",
            ComponentId::Promtail => "promtail",
            ComponentId::App => "app",
        }
    }

    pub fn from_name(name: &str) -> Option<ComponentId> {
        ComponentId::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The components an environment gets when its file lists none: all but
    /// the legacy log agent (Promtail, end of life upstream), which only an
    /// explicit `log_agent = "promtail"` brings back.
    pub fn defaults() -> impl Iterator<Item = ComponentId> {
        ComponentId::ALL.into_iter().filter(|c| !c.is_legacy())
    }

    /// The legacy log agent: kept only for environments that already run it.
    pub fn is_legacy(self) -> bool {
        self == ComponentId::Promtail
    }

    /// A log agent (ships the journal and the app's log to Loki).
    pub fn is_log_agent(self) -> bool {
        matches!(self, ComponentId::Alloy | ComponentId::Promtail)
    }
}

impl Ord for ComponentId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for ComponentId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    #[serde(skip)]
    pub id: ComponentId,
    /// Component name; also its Ansible role and inventory group.
    pub name: &'static str,
    /// Runs on every host (not a role a host is given).
    pub every_host: bool,
    /// Only on an explicit choice in the env file (the legacy log agent):
    /// not among the components an env file without a list gets.
    pub legacy: bool,
    /// Every environment needs it (verify works through it).
    pub required: bool,
    /// The first port is the one scraped and probed for health.
    pub ports: Vec<Port>,
    /// Prometheus scrape job.
    pub job: &'static str,
    pub health_path: &'static str,
    pub unit: &'static str,
    /// Debian package (None: the application, built by obsctl).
    pub package: Option<&'static str>,
    /// The package is in Debian's own archive (not Grafana's APT repository,
    /// which its role adds first): site.yml installs all such packages of a
    /// host in one transaction before the roles run.
    pub in_debian: bool,
}

impl Component {
    pub fn group(&self) -> &'static str {
        self.name
    }

    /// The port Prometheus scrapes and `status` probes.
    pub fn port(&self) -> u16 {
        self.ports[0].number
    }
}

/// The app's port is the env file's `[app].port`; this is its default.
pub const DEFAULT_APP_PORT: u16 = 8080;

const fn port(var: &'static str, number: u16) -> Port {
    Port { var, number }
}

/// The registry with every port at its default.
fn table() -> Vec<Component> {
    let c = |id: ComponentId, every_host, required, ports: &[Port], job, health_path, unit, package, in_debian| Component {
        id,
        name: id.name(),
        every_host,
        legacy: id.is_legacy(),
        required,
        ports: ports.to_vec(),
        job,
        health_path,
        unit,
        package,
        in_debian,
    };
    vec![
        c(
            ComponentId::Prometheus,
            false,
            true,
            &[port("prometheus_port", 9090)],
            "prometheus",
            "/-/ready",
            "prometheus",
            Some("prometheus"),
            true,
        ),
        c(
            ComponentId::Alertmanager,
            false,
            true,
            &[port("alertmanager_port", 9093), port("alertmanager_cluster_port", 9094)],
            "alertmanager",
            "/-/ready",
            "prometheus-alertmanager",
            Some("prometheus-alertmanager"),
            true,
        ),
        c(
            ComponentId::NodeExporter,
            true,
            false,
            &[port("node_exporter_port", 9100)],
            "node",
            "/metrics",
            "prometheus-node-exporter",
            Some("prometheus-node-exporter"),
            true,
        ),
        c(
            ComponentId::Grafana,
            false,
            false,
            // Alerting HA gossip between the Grafanas: not 9094, Alertmanager's cluster port.
            &[port("grafana_http_port", 3000), port("grafana_alerting_ha_port", 9095)],
            "grafana",
            "/api/health",
            "grafana-server",
            Some("grafana"),
            false,
        ),
        c(
            ComponentId::Loki,
            false,
            false,
            // 3100 is the gateway's (nginx: TLS, basic auth); Loki itself
            // listens on 127.0.0.1 only, on loki_backend_port.
            &[
                port("loki_http_port", 3100),
                port("loki_grpc_port", 9096),
                port("loki_memberlist_port", 7946),
                port("loki_backend_port", 3101),
            ],
            "loki",
            "/ready",
            "loki",
            Some("loki"),
            false,
        ),
        c(
            ComponentId::Alloy,
            true,
            false,
            // 12345 is the gateway's (nginx: TLS, basic auth); Alloy itself
            // listens on 127.0.0.1 only, over HTTPS, on alloy_backend_port.
            &[port("alloy_http_port", 12345), port("alloy_backend_port", 12346)],
            "alloy",
            "/-/ready",
            "alloy",
            Some("alloy"),
            false,
        ),
        c(
            ComponentId::Promtail,
            true,
            false,
            // 9080 is the gateway's (nginx: TLS, basic auth); Promtail itself
            // listens on 127.0.0.1 only, on promtail_backend_port.
            &[port("promtail_http_port", 9080), port("promtail_backend_port", 9081)],
            "promtail",
            "/metrics",
            "promtail",
            Some("promtail"),
            false,
        ),
        c(ComponentId::App, false, false, &[port("app_port", DEFAULT_APP_PORT)], "orders-api", "/healthz", "orders-api", None, false),
    ]
}

/// Names of all components, in the registry's order.
pub fn names() -> Vec<&'static str> {
    table().iter().map(|c| c.name).collect()
}

/// Roles a host can be given (components that do not run on every host).
pub fn host_roles() -> Vec<&'static str> {
    table().iter().filter(|c| !c.every_host).map(|c| c.name).collect()
}

/// Components every environment needs.
pub fn required() -> Vec<&'static str> {
    table().iter().filter(|c| c.required).map(|c| c.name).collect()
}

/// The registry of one environment (its app port from `[app].port`).
#[derive(Debug, Clone)]
pub struct Registry {
    components: Vec<Component>,
}

impl Registry {
    pub fn new(app_port: u16) -> Registry {
        let mut r = Registry { components: table() };
        // app_port is in the table (tests::app_port_comes_from_the_environment).
        r.set_port("app_port", app_port);
        r
    }

    pub fn iter(&self) -> impl Iterator<Item = &Component> {
        self.components.iter()
    }

    /// The registry holds every component, in `ComponentId` order (a test
    /// checks it), so this cannot miss.
    pub fn get(&self, id: ComponentId) -> &Component {
        &self.components[id as usize]
    }

    /// A component by its name (the env file's word), if there is one.
    pub fn find(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Sets a port by its variable name (the app port from the env file;
    /// tests prove a change reaches everything derived from the registry).
    /// Returns whether the registry has that variable.
    pub fn set_port(&mut self, var: &str, number: u16) -> bool {
        let p = self.components.iter_mut().flat_map(|c| c.ports.iter_mut()).find(|p| p.var == var);
        p.map(|p| p.number = number).is_some()
    }

    /// Every port by variable name: Ansible's `all.vars` and Terraform's `ports`.
    pub fn ports(&self) -> BTreeMap<&'static str, u16> {
        self.iter().flat_map(|c| c.ports.iter()).map(|p| (p.var, p.number)).collect()
    }

    /// `obsctl_components` for the roles: per component its group, whether it
    /// runs on every host, whether it is enabled, scrape job and port, health
    /// path, unit and package.
    pub fn inventory_value(&self, enabled: impl Fn(ComponentId) -> bool) -> Value {
        let map: serde_json::Map<String, Value> = self
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    json!({ "group": c.group(), "every_host": c.every_host, "enabled": enabled(c.id), "job": c.job,
                            "port": c.port(), "health_path": c.health_path, "unit": c.unit, "package": c.package,
                            "package_in_debian": c.in_debian }),
                )
            })
            .collect();
        Value::Object(map)
    }

    /// Whether `component` runs on a host with these roles.
    pub fn runs_on(&self, component: ComponentId, roles: &[String]) -> bool {
        self.get(component).every_host || roles.iter().any(|r| r == component.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_variable_is_unique_and_every_port_distinct() {
        let r = Registry::new(DEFAULT_APP_PORT);
        let all: Vec<&Port> = r.iter().flat_map(|c| c.ports.iter()).collect();
        let vars: std::collections::BTreeSet<_> = all.iter().map(|p| p.var).collect();
        let numbers: std::collections::BTreeSet<_> = all.iter().map(|p| p.number).collect();
        assert_eq!(vars.len(), all.len());
        assert_eq!(numbers.len(), all.len());
    }

    #[test]
    fn app_port_comes_from_the_environment() {
        assert_eq!(Registry::new(8181).get(ComponentId::App).port(), 8181);
        assert_eq!(Registry::new(8181).ports()["app_port"], 8181);
    }

    /// Every port is written once: no file of src/ but this one has a
    /// registry port number as a literal.
    #[test]
    fn port_numbers_live_here_only() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    files(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut all = Vec::new();
        files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
        let numbers: Vec<String> = Registry::new(DEFAULT_APP_PORT).ports().values().map(|n| n.to_string()).collect();
        for file in all.iter().filter(|f| !f.ends_with("src/model/component.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            for n in &numbers {
                let found = text.match_indices(n.as_str()).any(|(i, _)| {
                    let before = text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
                    let after = text[i + n.len()..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
                    !before && !after
                });
                assert!(!found, "{} has the port {n}: take it from the registry (src/model/component.rs)", file.display());
            }
        }
    }

    /// The stacks check the `ports` map they get against a list of names
    /// (terraform/shared/obsctl_inputs.tf): it must be the registry's, or every
    /// plan is refused. Caught here rather than in the lab.
    #[test]
    fn the_stacks_accept_exactly_the_registry_ports() {
        let tf = include_str!("../../terraform/shared/obsctl_inputs.tf");
        let block = &tf[tf.find("variable \"ports\"").expect("variable ports")..];
        let list = &block[block.find("sort([").expect("the ports validation") + 6..];
        let list = &list[..list.find("])").unwrap()];
        let mut names: Vec<&str> = list.split(',').map(|n| n.trim().trim_matches('"')).filter(|n| !n.is_empty()).collect();
        names.sort();
        let registry: Vec<&str> = Registry::new(DEFAULT_APP_PORT).ports().into_keys().collect();
        assert_eq!(names, registry, "terraform/shared/obsctl_inputs.tf validates other port names than the registry passes");
    }

    /// `Registry::get` indexes by `ComponentId`: the table must be in its order.
    #[test]
    fn the_table_is_in_component_id_order() {
        let r = Registry::new(DEFAULT_APP_PORT);
        assert_eq!(r.iter().map(|c| c.id).collect::<Vec<_>>(), ComponentId::ALL);
        for id in ComponentId::ALL {
            assert_eq!((r.get(id).name, ComponentId::from_name(id.name())), (id.name(), Some(id)));
        }
        assert!(r.find("nginx").is_none() && ComponentId::from_name("nginx").is_none());
    }

    /// The component lists outside Rust: Terraform's checks of
    /// `hosts[*].roles` and `components` (terraform/shared/obsctl_inputs.tf,
    /// conditions and messages) and the roles site.yml applies.
    #[test]
    fn terraform_and_site_yml_list_the_registry_components() {
        let tf = include_str!("../../terraform/shared/obsctl_inputs.tf");
        let lists: Vec<Vec<&str>> = tf
            .match_indices("contains([")
            .map(|(i, _)| {
                let rest = &tf[i + "contains([".len()..];
                rest[..rest.find(']').unwrap()].split(',').map(|n| n.trim().trim_matches('"')).filter(|n| !n.is_empty()).collect()
            })
            .filter(|l: &Vec<&str>| l.contains(&"prometheus"))
            .collect();
        assert_eq!(lists.len(), 3, "the roles condition, the roles message, the components condition");
        assert_eq!(lists[..2], [host_roles(), host_roles()], "terraform/shared/obsctl_inputs.tf: the roles a host may have");
        assert_eq!(lists[2], names(), "terraform/shared/obsctl_inputs.tf: the components");
        assert!(tf.contains(&format!("distinct roles out of: {}.", host_roles().join(", "))), "the roles message");
        assert!(tf.contains(&format!("components must be out of: {}.", names().join(", "))), "the components message");

        let site = include_str!("../../ansible/site.yml");
        let line = site.lines().find(|l| l.trim_start().starts_with("loop: [") && l.contains("prometheus")).expect("site.yml's role loop");
        let mut roles: Vec<&str> = line[line.find('[').unwrap() + 1..line.find(']').unwrap()].split(',').map(str::trim).collect();
        roles.sort();
        let mut all = names();
        all.sort();
        assert_eq!(roles, all, "ansible/site.yml applies other roles than the registry's components");
    }

    #[test]
    fn roles_and_names() {
        assert_eq!(host_roles(), ["prometheus", "alertmanager", "grafana", "loki", "app"]);
        assert_eq!(required(), ["prometheus", "alertmanager"]);
        assert_eq!(names().len(), 8);
        assert_eq!(ComponentId::defaults().collect::<Vec<_>>().len(), 7);
        assert!(ComponentId::defaults().any(|c| c == ComponentId::Alloy));
        assert!(!ComponentId::defaults().any(|c| c == ComponentId::Promtail));
    }
}

/// A port changed in the registry reaches everything derived from it.
#[cfg(test)]
mod derived {
    use crate::model::contract::tests::{contract, env};
    use serde_json::json;

    #[test]
    fn one_changed_port_changes_everywhere() {
        let mut env = env();
        env.components.insert(super::ComponentId::Loki);
        env.hosts[0].roles.push(super::ComponentId::Loki);
        let mut c = contract();
        c["hosts"]["mon-1"]["roles"] = json!(["prometheus", "alertmanager", "loki"]);
        let contract = crate::model::contract::parse(&c.to_string(), &env).unwrap();
        for (var, component, port) in
            [("loki_http_port", super::ComponentId::Loki, 3999u16), ("node_exporter_port", super::ComponentId::NodeExporter, 9999)]
        {
            assert!(env.registry.set_port(var, port), "{var}");
            let job = env.registry.get(component).job;

            // verify's expected targets
            let targets = crate::check::verify::expected_targets(&env, &contract);
            assert!(targets.iter().filter(|t| t.job == job).all(|t| t.port == port), "{targets:?}");
            assert!(targets.iter().any(|t| t.job == job));
            // status's probes
            let probes = crate::check::probes::probes(&env, &contract);
            let mine: Vec<_> = probes.iter().filter(|p| p.component == component).collect();
            assert!(!mine.is_empty() && mine.iter().all(|p| p.url.contains(&format!(":{port}/"))), "{component}");
            // the inventory's variables (the roles' port variable and obsctl_components,
            // from which prometheus.yml.j2 builds its scrape jobs)
            let ctx = crate::tools::inventory::Context {
                env: &env,
                secrets_dir: std::path::Path::new("/s"),
                known_hosts: std::path::Path::new("/kh"),
                app_binary: std::path::Path::new("/app"),
                tls: &crate::state::workspace::TlsDir { dir: "/tls".into() },
                web_users: &[],
                provider_vars: Default::default(),
                host_os: Default::default(),
            };
            let vars = &crate::tools::inventory::render(&contract, &ctx)["all"]["vars"];
            assert_eq!(vars[var], port);
            assert_eq!(vars["obsctl_components"][component.name()]["port"], port);
            // Terraform's `ports` input
            let state = crate::state::workspace::StateDir { dir: "/nonexistent".into() };
            assert_eq!(crate::tools::stack::input_vars(&env, &state, None).unwrap()["ports"][var], port);
        }
    }
}
