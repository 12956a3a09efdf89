//! Who may do what on the stack's HTTP endpoints: the basic-auth
//! credentials obsctl creates, the actions a request can be, which
//! credential may do which, and which request of each component is which
//! action. The one place these facts live: the inventory passes them to the
//! roles (`obsctl_access`: the gateway's per-path rules, each service's
//! accepted users, orders-api's admin users), `obsctl facts` to the docs
//! (docs/security.md's table is generated from it) and
//! tests/e2e/auth_checks.sh reads them back from the inventory.
//!
//! exporter-toolkit's `web.yml` knows users, not paths: Prometheus and
//! Alertmanager are fronted by nginx (role `loki_gateway`, which fronts Loki
//! and the log agent the same way) and the per-path rules below are its
//! configuration; node_exporter serves nothing but its metrics, so its
//! `web.yml` is enough; orders-api is ours and checks `/admin/*` itself.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::component::ComponentId;

/// The user obsctl itself authenticates as.
pub const OPERATOR: &str = "obsctl";

/// The basic-auth users every environment has:
/// - `obsctl`: the operator (verify, status, silence, the UIs, backups);
/// - `prometheus`: scrapes every endpoint, sends alerts to Alertmanager,
///   remote-reads its twin Prometheus (HA, docs/architecture.md);
/// - `grafana`: its data sources (Prometheus, Alertmanager, Loki);
/// - `alloy`: the log agent, pushes logs to Loki;
/// - `promtail`: the legacy log agent (`log_agent = "promtail"`), the same.
pub const USERS: [&str; 5] = [OPERATOR, "prometheus", "grafana", "alloy", "promtail"];

/// What a request to an endpoint of the stack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read `/metrics`.
    Scrape,
    /// Read through an API or UI: PromQL, targets, alerts, silences, status, health.
    Query,
    /// Create or expire a silence in Alertmanager.
    Silence,
    /// Send alerts to Alertmanager.
    PostAlert,
    /// Make Alertmanager re-read its configuration over HTTP.
    Reload,
    /// Prometheus' `/api/v1/admin/*` (TSDB snapshots for backups, deletion)
    /// and orders-api's `/admin/*` (fault injection).
    Admin,
    /// Prometheus' remote read API (`POST /api/v1/read`): no credential may.
    /// Two replicas reading each other loop: the read API answers from
    /// local and remote storage, so a query older than both TSDBs goes back
    /// and forth until it times out (every query of a fresh staging did).
    RemoteRead,
}

impl Action {
    pub const ALL: [Action; 7] =
        [Action::Scrape, Action::Query, Action::Silence, Action::PostAlert, Action::Reload, Action::Admin, Action::RemoteRead];

    pub fn name(self) -> &'static str {
        match self {
            Action::Scrape => "scrape",
            Action::Query => "query",
            Action::Silence => "silence",
            Action::PostAlert => "post_alert",
            Action::Reload => "reload",
            Action::Admin => "admin",
            Action::RemoteRead => "remote_read",
        }
    }
}

/// The actions `user` may do; every other request with its credential is
/// refused. No credential may stop a service (`/-/quit`): obsctl restarts
/// and reloads through systemd. Remote read is the twin Prometheus' alone:
/// obsctl never calls it, Grafana queries PromQL.
pub fn allowed(user: &str) -> &'static [Action] {
    use Action::*;
    match user {
        OPERATOR => &[Scrape, Query, Silence, PostAlert, Reload, Admin],
        // Its password is on every Prometheus host.
        "prometheus" => &[Scrape, PostAlert],
        // Grafana's data sources and its Alertmanager UI (silences, as users do).
        "grafana" => &[Query, Silence],
        // Pushes logs to Loki only (the log gateway's own list).
        _ => &[],
    }
}

/// The users that may do `action`, in `USERS` order.
pub fn users_for(action: Action) -> Vec<&'static str> {
    USERS.into_iter().filter(|u| allowed(u).contains(&action)).collect()
}

/// One rule of the gateway in front of a component: requests whose method
/// matches `methods` and whose path (normalized by nginx) matches `path`
/// (both anchored regular expressions) are `action`; `None`: refused for
/// everyone (403), the endpoint is off. The first matching rule wins; a
/// request no rule matches is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub methods: &'static str,
    pub path: &'static str,
    pub action: Option<Action>,
}

const fn rule(methods: &'static str, path: &'static str, action: Option<Action>) -> Rule {
    Rule { methods, path, action }
}

/// The per-path rules of a component fronted by the gateway (None: not
/// fronted; its own `web.yml` or code decides).
pub fn gateway_rules(c: ComponentId) -> Option<&'static [Rule]> {
    match c {
        ComponentId::Prometheus => Some(PROMETHEUS_RULES),
        ComponentId::Alertmanager => Some(ALERTMANAGER_RULES),
        _ => None,
    }
}

const READ: &str = "GET|HEAD";
// Started without --web.enable-lifecycle: reloads go through systemd.
const PROMETHEUS_RULES: &[Rule] = &[
    rule(READ, "/metrics", Some(Action::Scrape)),
    rule("[A-Z]+", "/api/v1/admin/.*", Some(Action::Admin)),
    rule("[A-Z]+", "/-/(reload|quit)", None),
    // Before the catch-all, which would make it a query.
    rule("POST", "/api/v1/read", Some(Action::RemoteRead)),
    // PromQL over POST too (Grafana's data source uses it).
    rule("GET|HEAD|POST", "/.*", Some(Action::Query)),
];
const ALERTMANAGER_RULES: &[Rule] = &[
    rule(READ, "/metrics", Some(Action::Scrape)),
    rule("POST", "/api/v[12]/alerts", Some(Action::PostAlert)),
    rule("POST", "/api/v[12]/silences", Some(Action::Silence)),
    rule("DELETE", "/api/v[12]/silence/[^/]+", Some(Action::Silence)),
    rule("POST", "/-/reload", Some(Action::Reload)),
    rule("[A-Z]+", "/-/quit", None),
    rule(READ, "/.*", Some(Action::Query)),
];

/// The users a component's own listener accepts (its `web.yml`): those
/// that may do one of the actions it serves. Behind the gateway it checks
/// the credentials a second time.
pub fn listener_users(c: ComponentId) -> Vec<&'static str> {
    let actions: Vec<Action> = match (gateway_rules(c), c) {
        (Some(rules), _) => rules.iter().filter_map(|r| r.action).collect(),
        (None, ComponentId::NodeExporter) => vec![Action::Scrape],
        (None, ComponentId::App) => vec![Action::Scrape, Action::Admin],
        (None, _) => Vec::new(),
    };
    USERS.into_iter().filter(|u| allowed(u).iter().any(|a| actions.contains(a))).collect()
}

/// The system user each component runs as on the hosts: one per component,
/// so that on a host that runs several, each one's keys and passwords
/// (readable by its own group only) are out of the others' reach; above all
/// node_exporter's, the most exposed, which runs on every host.
pub fn system_user(c: ComponentId) -> &'static str {
    match c {
        // Debian's packages create `prometheus` and run all three as it;
        // the roles create the other two and move their data to them.
        ComponentId::Prometheus => "prometheus",
        ComponentId::Alertmanager => "alertmanager",
        ComponentId::NodeExporter => "node-exporter",
        ComponentId::Grafana => "grafana",
        ComponentId::Loki => "loki",
        ComponentId::Alloy => "alloy",
        ComponentId::Promtail => "promtail",
        ComponentId::App => "orders-api",
    }
}

/// `obsctl_access` for the roles: per action its users, per fronted
/// component its rules, per live component the users of its listener.
pub fn inventory_value() -> Value {
    let actions: Map<String, Value> = Action::ALL.iter().map(|a| (a.name().to_string(), json!(users_for(*a)))).collect();
    let mut gateway = Map::new();
    let mut listeners = Map::new();
    for c in ComponentId::ALL {
        if let Some(rules) = gateway_rules(c) {
            let rules: Vec<Value> =
                rules.iter().map(|r| json!({ "methods": r.methods, "path": r.path, "action": r.action.map(Action::name) })).collect();
            gateway.insert(c.name().to_string(), json!(rules));
        }
        let users = listener_users(c);
        if !users.is_empty() {
            listeners.insert(c.name().to_string(), json!(users));
        }
    }
    let system_users: Map<String, Value> = ComponentId::ALL.iter().map(|c| (c.name().to_string(), json!(system_user(*c)))).collect();
    json!({ "users": USERS, "actions": actions, "gateway": gateway, "listeners": listeners, "system_users": system_users })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_credential_does_only_its_job() {
        assert_eq!(users_for(Action::Scrape), ["obsctl", "prometheus"]);
        assert_eq!(users_for(Action::Query), ["obsctl", "grafana"]);
        assert_eq!(users_for(Action::Silence), ["obsctl", "grafana"]);
        assert_eq!(users_for(Action::PostAlert), ["obsctl", "prometheus"]);
        assert_eq!(users_for(Action::Reload), ["obsctl"]);
        assert_eq!(users_for(Action::Admin), ["obsctl"]);
        assert!(users_for(Action::RemoteRead).is_empty());
        assert!(allowed("alloy").is_empty() && allowed("promtail").is_empty());
    }

    #[test]
    fn listeners_accept_only_who_needs_them() {
        assert_eq!(listener_users(ComponentId::NodeExporter), ["obsctl", "prometheus"]);
        assert_eq!(listener_users(ComponentId::App), ["obsctl", "prometheus"]);
        assert_eq!(listener_users(ComponentId::Prometheus), ["obsctl", "prometheus", "grafana"]);
        assert_eq!(listener_users(ComponentId::Alertmanager), ["obsctl", "prometheus", "grafana"]);
    }

    /// The rules of a gateway end with a catch-all, and a lifecycle path
    /// that stops the service is off.
    #[test]
    fn rules_end_with_a_catch_all_and_quit_is_off() {
        for c in [ComponentId::Prometheus, ComponentId::Alertmanager] {
            let rules = gateway_rules(c).unwrap();
            assert_eq!(rules.last().unwrap().path, "/.*", "{c}");
            assert!(rules.iter().all(|r| r.path.starts_with('/')), "{c}");
        }
        let quit = |c| gateway_rules(c).unwrap().iter().find(|r| regex_lite_match(r.path, "/-/quit")).map(|r| r.action);
        assert_eq!(quit(ComponentId::Prometheus), Some(None));
        assert_eq!(quit(ComponentId::Alertmanager), Some(None));
    }

    /// A twin's remote read (POST /api/v1/read) is the remote_read action,
    /// not a query: the first matching rule decides, and only the
    /// `prometheus` credential may do it.
    #[test]
    fn remote_read_is_its_own_action_for_prometheus_only() {
        let first = |method: &str, path: &str| {
            gateway_rules(ComponentId::Prometheus)
                .unwrap()
                .iter()
                .find(|r| (r.methods == "[A-Z]+" || r.methods.split('|').any(|m| m == method)) && regex_lite_match(r.path, path))
                .and_then(|r| r.action)
        };
        assert_eq!(first("POST", "/api/v1/read"), Some(Action::RemoteRead));
        assert_eq!(first("POST", "/api/v1/query"), Some(Action::Query));
        assert_eq!(first("GET", "/api/v1/read"), Some(Action::Query));
        for user in USERS {
            assert!(!allowed(user).contains(&Action::RemoteRead), "{user}");
        }
    }

    /// Enough of a regular-expression match for the rules above (literal
    /// paths, `(a|b)` groups, `.*`).
    fn regex_lite_match(pattern: &str, path: &str) -> bool {
        if let Some((head, rest)) = pattern.split_once('(') {
            let (alts, tail) = rest.split_once(')').unwrap();
            return alts.split('|').any(|a| regex_lite_match(&format!("{head}{a}{tail}"), path));
        }
        match pattern.strip_suffix(".*") {
            Some(prefix) => path.starts_with(prefix),
            None => pattern == path,
        }
    }

    /// The static checks' inventories (tests/static/inventories) carry
    /// `obsctl_access` as obsctl writes it, on one line of JSON.
    #[test]
    fn static_inventories_carry_this_model() {
        let line = format!("    obsctl_access: {}", inventory_value());
        for name in ["dev", "prod"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/static/inventories/{name}.yml"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.lines().any(|l| l == line), "{} must hold the line\n{line}", path.display());
        }
    }

    #[test]
    fn one_system_user_per_component() {
        let users: std::collections::BTreeSet<_> = ComponentId::ALL.iter().map(|c| system_user(*c)).collect();
        assert_eq!(users.len(), ComponentId::ALL.len());
    }

    #[test]
    fn inventory_value_holds_every_action_and_rule() {
        let v = inventory_value();
        assert_eq!(v["actions"]["admin"], json!(["obsctl"]));
        assert_eq!(v["gateway"]["prometheus"][1]["action"], json!("admin"));
        assert_eq!(v["gateway"]["prometheus"][2]["action"], Value::Null);
        assert_eq!(v["actions"]["remote_read"], json!([]));
        assert_eq!(v["listeners"]["node_exporter"], json!(["obsctl", "prometheus"]));
        assert!(v["listeners"].get("grafana").is_none());
        assert_eq!(v["system_users"]["node_exporter"], json!("node-exporter"));
    }
}
