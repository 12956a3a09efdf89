use std::path::Path;

use super::*;
use crate::model::environment::parse;

use crate::model::environment::tests::GOOD as BASE;

fn env(extra: &str) -> crate::error::Result<crate::model::environment::Environment> {
    parse("dev", Path::new("/repo/environments/dev.toml"), &format!("{BASE}{extra}"))
}

fn refused(extra: &str) -> String {
    match env(extra) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn a_full_job_renders_prometheus_own_shape() {
    let e = env(r#"
[[scrape_jobs]]
name = "nginx"
targets = ["app-1:9113", "10.0.0.5:9113", "db.example.com:9101"]
scheme = "https"
ca_file = "../monitoring/ca.crt"
metrics_path = "/metrics"
scrape_interval = "30s"
scrape_timeout = "10s"
labels = { service = "nginx" }
basic_auth = { username = "u", password_env = "NGINX_PW" }
relabel_configs = [ { source_labels = ["__address__"], target_label = "addr" } ]
file_sd = true
"#)
    .unwrap();
    let j = &e.user.scrape_jobs[0];
    assert_eq!(j.ca_file.as_deref(), Some(Path::new("/repo/environments/../monitoring/ca.crt")));
    assert_eq!(j.secrets()[0].source, SecretSource::Env("NGINX_PW".into()));
    let c = j.scrape_config(|h| (h == "app-1").then(|| "10.77.0.11".to_string()));
    assert_eq!(c["job_name"], "nginx");
    assert_eq!(c["scheme"], "https");
    assert_eq!(c["static_configs"][0]["targets"][0], "10.77.0.11:9113");
    assert_eq!(c["static_configs"][0]["labels"]["host"], "app-1");
    assert_eq!(c["static_configs"][0]["labels"]["service"], "nginx");
    assert_eq!(c["static_configs"][1]["targets"][0], "10.0.0.5:9113");
    assert!(c["static_configs"][1]["labels"].get("host").is_none());
    assert_eq!(c["tls_config"]["ca_file"], "/etc/prometheus/scrape/nginx.ca.crt");
    assert_eq!(c["basic_auth"]["password_file"], "/etc/prometheus/scrape/nginx.password");
    assert_eq!(c["relabel_configs"][0]["target_label"], "addr");
    assert_eq!(c["file_sd_configs"][0]["files"][0], "/etc/prometheus/file_sd/nginx/*.json");
    assert!(!c.to_string().contains("NGINX_PW"), "the variable's name is not in the config");
}

#[test]
fn a_group_with_a_port_expands_to_its_hosts() {
    let e = env("[[scrape_jobs]]\nname = \"hosts\"\ngroup = \"all\"\nport = 9187\n").unwrap();
    assert_eq!(
        e.user.scrape_jobs[0].targets,
        vec![Target::Host { host: "mon-1".into(), port: 9187 }, Target::Host { host: "app-1".into(), port: 9187 }]
    );
    let e = env("[[scrape_jobs]]\nname = \"apps\"\ngroup = \"app\"\nport = 1\n").unwrap();
    assert_eq!(e.user.scrape_jobs[0].targets.len(), 1);
}

#[test]
fn refusals_name_the_key_and_what_is_wrong() {
    for (extra, key, what) in [
        ("[[scrape_jobs]]\nname = \"node\"\ntargets = [\"app-1:1\"]\n", "scrape_jobs[0].name", "built-in job"),
        (
            "[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\n[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\n",
            "scrape_jobs[1].name",
            "twice",
        ),
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"db-9:1\"]\n", "scrape_jobs[0].targets", "not a host of the environment"),
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1\"]\n", "scrape_jobs[0].targets", "not host:port"),
        ("[[scrape_jobs]]\nname = \"x\"\ngroup = \"db\"\nport = 1\n", "scrape_jobs[0].group", "not a group"),
        ("[[scrape_jobs]]\nname = \"x\"\ngroup = \"app\"\n", "scrape_jobs[0].port", "needs `port`"),
        ("[[scrape_jobs]]\nname = \"x\"\n", "scrape_jobs[0].targets", "no targets"),
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nscheme = \"https\"\n", "scrape_jobs[0].ca_file", "needs ca_file"),
        (
            "[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nbasic_auth = { username = \"u\" }\n",
            "scrape_jobs[0].basic_auth",
            "password_file or password_env",
        ),
        (
            "[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nbearer_token_file = \"a\"\nbearer_token_env = \"B\"\n",
            "scrape_jobs[0]",
            "not both",
        ),
        (
            "[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nscrape_interval = \"5s\"\nscrape_timeout = \"10s\"\n",
            "scrape_jobs[0].scrape_timeout",
            "longer",
        ),
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nlabels = { host = \"h\" }\n", "scrape_jobs[0].labels", "set by obsctl"),
        ("[[scrape_jobs]]\nname = \"Bad Name\"\ntargets = [\"app-1:1\"]\n", "scrape_jobs[0].name", "not a job name"),
        ("[[logs]]\nhosts = [\"db-1\"]\nfiles = [\"/var/log/x.log\"]\n", "logs[0].hosts", "not a host"),
        ("[[logs]]\nhosts = [\"app-1\"]\nfiles = [\"var/log/x.log\"]\n", "logs[0].files", "absolute"),
        ("[[logs]]\nhosts = [\"app-1\"]\n", "logs[0]", "list `files`"),
    ] {
        let err = refused(extra);
        assert!(err.contains(&format!("`{key}")), "{extra}: {err}");
        assert!(err.contains(what), "{extra}: {err}");
        assert!(err.contains("dev.toml"), "{extra}: {err}");
    }
}

#[test]
fn unknown_keys_and_inline_credentials_are_refused() {
    for (extra, key) in [
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\npassword = \"hunter2\"\n", "password"),
        ("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:1\"]\nbasic_auth = { username = \"u\", password = \"p\" }\n", "password"),
        ("[user]\nrule_dir = \"r\"\n", "rule_dir"),
        ("[[logs]]\nhost = [\"app-1\"]\n", "host"),
    ] {
        let err = refused(extra);
        assert!(err.contains(&format!("unknown field `{key}`")) && err.contains("dev.toml"), "{extra}: {err}");
    }
}

#[test]
fn user_folders_and_logs_resolve() {
    let e = env(r#"
[user]
rules_dir = "../monitoring/dev/rules"
dashboards_dir = "/srv/dashboards"
[[logs]]
group = "app"
files = ["/var/log/nginx/*.log"]
units = ["nginx.service"]
labels = { service = "nginx" }
"#)
    .unwrap();
    assert_eq!(e.user.rules_dir.as_deref(), Some(Path::new("/repo/environments/../monitoring/dev/rules")));
    assert_eq!(e.user.dashboards_dir.as_deref(), Some(Path::new("/srv/dashboards")));
    assert_eq!(e.user.logs[0].hosts, ["app-1"]);
    assert!(!e.user.is_empty());
    assert!(env("").unwrap().user.is_empty());
}

#[test]
fn existing_hosts_and_their_groups_are_targets_and_log_sources() {
    let e = env(r#"
[[existing_hosts]]
name = "db-1"
address = "10.77.0.200"
ssh_user = "root"
ssh_key_file = "/keys/db-1"
groups = ["db"]
[[scrape_jobs]]
name = "postgres"
group = "db"
port = 9187
[[scrape_jobs]]
name = "pg-direct"
targets = ["db-1:9187"]
[[logs]]
hosts = ["db-1"]
files = ["/var/log/postgresql/*.log"]
"#)
    .unwrap();
    assert_eq!(e.user.scrape_jobs[0].targets, vec![Target::Host { host: "db-1".into(), port: 9187 }]);
    assert_eq!(e.user.scrape_jobs[1].targets, vec![Target::Host { host: "db-1".into(), port: 9187 }]);
    assert_eq!(e.user.logs[0].hosts, vec!["db-1".to_string()]);
    assert!(refused("[[scrape_jobs]]\nname = \"x\"\ngroup = \"db\"\nport = 1\n").contains("not a group"));
}

/// A user job may not scrape what a built-in job already scrapes (every
/// series would be doubled): by host name, by group, or by an existing
/// host's address; the same port elsewhere, or a component not deployed, is fine.
#[test]
fn a_target_a_built_in_job_scrapes_is_refused() {
    use crate::model::component::{ComponentId, DEFAULT_APP_PORT};
    let r = Registry::new(DEFAULT_APP_PORT);
    let port = |c: ComponentId| r.get(c).port();
    let (prom, node, app) = (port(ComponentId::Prometheus), port(ComponentId::NodeExporter), port(ComponentId::App));
    let db = "[[existing_hosts]]\nname = \"db-1\"\naddress = \"10.77.0.200\"\nssh_user = \"root\"\nssh_key_file = \"/k\"\n";
    for (extra, key, target, job) in [
        (
            format!("[[scrape_jobs]]\nname = \"self\"\ntargets = [\"mon-1:{prom}\"]\n"),
            "targets",
            format!("mon-1:{prom}"),
            ComponentId::Prometheus,
        ),
        (
            format!("[[scrape_jobs]]\nname = \"n\"\ngroup = \"all\"\nport = {node}\n"),
            "group",
            format!("mon-1:{node}"),
            ComponentId::NodeExporter,
        ),
        (format!("[[scrape_jobs]]\nname = \"a\"\ntargets = [\"app-1:{app}\"]\n"), "targets", format!("app-1:{app}"), ComponentId::App),
        (
            format!("{db}[[scrape_jobs]]\nname = \"d\"\ntargets = [\"10.77.0.200:{node}\"]\n"),
            "targets",
            format!("10.77.0.200:{node}"),
            ComponentId::NodeExporter,
        ),
        (
            format!("{db}[[scrape_jobs]]\nname = \"d\"\ntargets = [\"db-1:{node}\"]\n"),
            "targets",
            format!("db-1:{node}"),
            ComponentId::NodeExporter,
        ),
    ] {
        let e = refused(&extra);
        assert!(e.contains("/repo/environments/dev.toml"), "names the file: {e}");
        assert!(e.contains(&format!("`scrape_jobs[0].{key}`")), "names the key: {e}");
        assert!(e.contains(&format!("scrapes `{target}`, which obsctl's built-in job `{}` already scrapes", r.get(job).job)), "{e}");
    }
    // Prometheus' port on a host without Prometheus, an app port where no app
    // runs, node_exporter's port on an existing host without it: not built-in.
    env(&format!("[[scrape_jobs]]\nname = \"x\"\ntargets = [\"app-1:{prom}\", \"mon-1:{app}\"]\n")).unwrap();
    let no_node = db.replace("ssh_key_file", "roles = [\"alloy\"]\nssh_key_file");
    env(&format!("{no_node}[[scrape_jobs]]\nname = \"x\"\ntargets = [\"db-1:{node}\"]\n")).unwrap();
}
