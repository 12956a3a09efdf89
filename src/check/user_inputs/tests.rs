use super::*;

use crate::model::environment::tests::GOOD;

const OWN: &str = r#"
[[existing_hosts]]
name = "db-1"
address = "10.77.0.200"
ssh_user = "root"
ssh_key_file = "/keys/db-1"
groups = ["db"]
[user]
rules_dir = "rules"
dashboards_dir = "dashboards"
[[scrape_jobs]]
name = "postgres"
group = "db"
port = 9187
[[scrape_jobs]]
name = "nginx"
targets = ["app-1:9113"]
[[logs]]
hosts = ["db-1"]
files = ["/var/log/postgresql/*.log"]
"#;

fn env(dir: &Path, own: &str) -> Environment {
    crate::model::environment::parse("dev", &dir.join("dev.toml"), &format!("{GOOD}{own}")).unwrap()
}

fn change(items: &[Item], kind: &str, name: &str) -> Change {
    items.iter().find(|i| i.kind == kind && i.name == name).unwrap_or_else(|| panic!("no {kind} {name} in {items:?}")).change
}

#[test]
fn plan_lists_each_user_input_against_the_last_up() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("rules")).unwrap();
    std::fs::create_dir_all(d.path().join("dashboards")).unwrap();
    std::fs::write(d.path().join("rules/svc.rules.yml"), "groups: []\n").unwrap();
    std::fs::write(d.path().join("rules/svc.test.yml"), "tests: []\n").unwrap();
    std::fs::write(d.path().join("dashboards/svc.json"), "{}").unwrap();
    let e = env(d.path(), OWN);
    let last = record(&e);
    assert_eq!(last.scrape_jobs.len(), 2);
    assert_eq!(last.files.keys().collect::<Vec<_>>(), ["dashboards/svc.json", "rules/svc.rules.yml", "rules/svc.test.yml"]);
    assert_eq!(last.logs, ["db-1 /var/log/postgresql/*.log"]);

    // Never deployed: everything is added; deployed by an older obsctl: unknown.
    let items = compare(Some(&UserRecord::default()), &last);
    assert_eq!(items.len(), 6);
    assert!(items.iter().all(|i| i.change == Change::Added), "{items:?}");
    assert!(compare(None, &last).iter().all(|i| i.change == Change::Unknown));
    // Nothing changed since the last up.
    assert!(compare(Some(&last), &record(&e)).iter().all(|i| i.change == Change::Unchanged));

    // A rule file edited, a dashboard removed, a job's port changed, a job
    // removed, another added, a log entry changed.
    std::fs::write(d.path().join("rules/svc.rules.yml"), "groups: [] # edited\n").unwrap();
    std::fs::remove_file(d.path().join("dashboards/svc.json")).unwrap();
    let text = OWN
        .replace("port = 9187", "port = 9188")
        .replace("name = \"nginx\"\ntargets = [\"app-1:9113\"]", "name = \"redis\"\ntargets = [\"app-1:9121\"]")
        .replace("postgresql/*.log", "postgresql/main.log");
    let items = compare(Some(&last), &record(&env(d.path(), &text)));
    assert_eq!(change(&items, "rule file", "svc.rules.yml"), Change::Changed);
    assert_eq!(change(&items, "rule file", "svc.test.yml"), Change::Unchanged);
    assert_eq!(change(&items, "dashboard", "svc.json"), Change::Removed);
    assert_eq!(change(&items, "scrape job", "postgres"), Change::Changed);
    assert_eq!(change(&items, "scrape job", "nginx"), Change::Removed);
    assert_eq!(change(&items, "scrape job", "redis"), Change::Added);
    assert_eq!(change(&items, "logs", "db-1 /var/log/postgresql/main.log"), Change::Added);
    assert_eq!(change(&items, "logs", "db-1 /var/log/postgresql/*.log"), Change::Removed);

    // A credential's source is an input, never its value.
    let with_pw = OWN.replace("port = 9187\n", "port = 9187\nbasic_auth = { username = \"u\", password_env = \"PG_PW\" }\n");
    let other_pw = with_pw.replace("PG_PW", "PG_PASSWORD");
    let (a, b) = (record(&env(d.path(), &with_pw)), record(&env(d.path(), &other_pw)));
    assert_ne!(a.scrape_jobs["postgres"], b.scrape_jobs["postgres"]);
    assert!(!serde_json::to_string(&a).unwrap().contains("PG_PW"), "the record holds digests only");

    let lines = lines(&[], &items, None, &e).join("\n");
    assert!(lines.contains("scrape job redis: added"), "{lines}");
    assert!(lines.contains("dashboard svc.json: removed"), "{lines}");
    assert!(lines.contains("applied by the next `obsctl up --env dev`"), "{lines}");
}

#[test]
fn plan_lists_existing_hosts_added_removed_and_installed() {
    let d = tempfile::tempdir().unwrap();
    let e = env(d.path(), OWN);
    // Never deployed: db-1 is added with the per-host components.
    let never = existing(&e, None);
    assert_eq!(never.len(), 1);
    assert_eq!((never[0].name.as_str(), never[0].change), ("db-1", Change::Added));
    assert!(never[0].components.contains(&"node_exporter".to_string()), "{never:?}");

    // Deployed with old-1 (since removed from the file) and db-1 as now.
    let old = crate::model::existing::ExistingHost {
        name: "old-1".into(),
        address: "10.77.0.201".into(),
        ssh_user: "root".into(),
        ssh_key_file: "/keys/old-1".into(),
        host_key: None,
        roles: vec![crate::model::component::ComponentId::NodeExporter],
        groups: vec![],
    };
    let mut all = e.existing_hosts.clone();
    all.push(old);
    let base = {
        let fixture = crate::model::contract::tests::env();
        crate::model::contract::parse(&crate::model::contract::tests::contract().to_string(), &fixture).unwrap()
    };
    let deployed = base.clone().with_existing(&all);
    let items = existing(&e, Some(&deployed));
    let by = |n: &str| items.iter().find(|i| i.name == n).unwrap().clone();
    assert_eq!(by("db-1").change, Change::Unchanged);
    assert_eq!((by("old-1").change, by("old-1").components.clone()), (Change::Removed, vec!["node_exporter".to_string()]));
    let mut installed = Report::new();
    let packages = [("prometheus-node-exporter".to_string(), "1.9.0-1".to_string())].into();
    installed.insert(
        "db-1".into(),
        Ok(crate::check::installed::Installed { release: "Debian".into(), version_id: "13".into(), packages, candidates: BTreeMap::new() }),
    );
    let text = lines(&items, &[], Some(&installed), &e).join("\n");
    assert!(text.contains("db-1 (10.77.0.200): installed: alloy, node_exporter ["), "{text}");
    assert!(text.contains("[prometheus-node-exporter 1.9.0-1]"), "{text}");
    assert!(text.contains("old-1 (10.77.0.201): removed: `up` uninstalls node_exporter; the machine keeps running"), "{text}");

    // Its address changed: changed. Nothing of the user at all: no lines.
    let moved = env(d.path(), &OWN.replace("10.77.0.200", "10.77.0.210"));
    assert_eq!(existing(&moved, Some(&deployed)).iter().find(|i| i.name == "db-1").unwrap().change, Change::Changed);
    let bare = env(d.path(), "");
    let none = compare(Some(&UserRecord::default()), &record(&bare));
    assert!(lines(&existing(&bare, Some(&base)), &none, None, &bare).is_empty());
}
