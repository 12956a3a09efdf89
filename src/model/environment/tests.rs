use super::*;

/// The smallest good environment file (a lab with mon-1 and app-1): the
/// fixture every test of an env file starts from.
pub(crate) const GOOD: &str = r#"
provider = "lab"
[lab]
bridge = "obs-dev"
cidr = "10.77.0.0/24"
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager", "grafana", "loki"]
[[hosts]]
name = "app-1"
roles = ["app"]
"#;

fn parse_str(text: &str) -> Result<Environment> {
    parse("dev", Path::new("environments/dev.toml"), text)
}

#[test]
fn parses_a_good_file_with_defaults() {
    let env = parse_str(GOOD).unwrap();
    assert_eq!(env.hosts.len(), 2);
    assert_eq!(env.hosts[0].name, "mon-1");
    assert_eq!(env.prometheus.retention, "15d");
    assert!(env.enabled(ComponentId::Alloy) && !env.enabled(ComponentId::Promtail), "Alloy is the default log agent");
    assert_eq!(env.hosts_with_role(ComponentId::App).count(), 1);
}

#[test]
fn os_defaults_to_debian_13_and_refuses_other_releases() {
    assert_eq!(parse_str(GOOD).unwrap().os, Os::Debian13);
    let env = parse_str(&format!("os = \"debian-12\"\n{GOOD}")).unwrap();
    assert_eq!(env.os, Os::Debian12);
    assert_eq!(env.os.name(), "debian-12");
    for bad in ["debian-11", "ubuntu-24.04", "trixie", ""] {
        let err = parse_str(&format!("os = \"{bad}\"\n{GOOD}")).unwrap_err();
        assert_eq!(err.phase, crate::error::Phase::Input);
        assert!(err.message.contains("`os`") && err.message.contains("allowed: debian-13, debian-12"), "{bad}: {}", err.message);
    }
}

#[test]
fn unknown_key_names_file_and_key() {
    let err = parse_str(&format!("{GOOD}\n[prometheus]\nretenton = \"1d\"\n")).unwrap_err();
    assert_eq!(err.phase, crate::error::Phase::Input);
    assert!(err.message.contains("environments/dev.toml"), "{}", err.message);
    assert!(err.message.contains("retenton"), "{}", err.message);
}

#[test]
fn a_misspelled_key_in_any_table_is_refused_naming_file_key_and_accepted_keys() {
    let receiver = "[[alertmanager.receivers]]\nname = \"r\"\nwebhook_url = \"http://x/\"\n";
    for (table, extra, accepted) in [
        ("top level", "protectd = true\n".to_string(), "protected"),
        ("[lab]", String::new(), "bridge"),
        ("[[hosts]]", String::new(), "disk_gb"),
        ("[prometheus]", "[prometheus]\nretenton = \"1d\"\n".into(), "retention"),
        ("[alertmanager]", "[alertmanager]\ngroup_wiat = \"1s\"\n".into(), "group_wait"),
        ("[[alertmanager.receivers]]", format!("{receiver}webhok_url = \"http://y/\"\n"), "webhook_url"),
        ("[app]", "[app]\nprot = 1\n".into(), "port"),
        ("[loki]", "[loki]\nstorag = \"s3\"\n".into(), "storage"),
        ("[grafana]", "[grafana]\ndatabse = \"sqlite\"\n".into(), "database"),
        ("[state]", "[state]\nbackend = \"local\"\nbuckt = \"b\"\n".into(), "bucket"),
    ] {
        let text = match table {
            "top level" => format!("{extra}{GOOD}"),
            "[lab]" => GOOD.replace("cidr = ", "cidre = \"x\"\ncidr = "),
            "[[hosts]]" => GOOD.replace("name = \"app-1\"", "name = \"app-1\"\ndisk_bg = 10"),
            _ => format!("{GOOD}\n{extra}"),
        };
        let err = parse_str(&text).unwrap_err();
        assert_eq!(err.phase, crate::error::Phase::Input, "{table}");
        assert_eq!(err.phase.exit_code(), 10, "{table}");
        assert!(err.message.contains("environments/dev.toml"), "{table}: {}", err.message);
        assert!(err.message.contains("unknown field"), "{table}: {}", err.message);
        assert!(err.message.contains(&format!("`{accepted}`")), "{table}: the accepted keys are not named: {}", err.message);
    }
}

#[test]
fn wrong_type_is_refused() {
    let err = parse_str(&GOOD.replace("provider = \"lab\"", "provider = \"lab\"\nprotected = \"yes\"")).unwrap_err();
    assert!(err.message.contains("protected"), "{}", err.message);
}

#[test]
fn unknown_role_is_refused() {
    let err = parse_str(&GOOD.replace("[\"app\"]", "[\"apache\"]")).unwrap_err();
    assert!(err.message.contains("unknown role `apache`"), "{}", err.message);
}

#[test]
fn duplicate_host_is_refused() {
    let err = parse_str(&GOOD.replace("app-1", "mon-1")).unwrap_err();
    assert!(err.message.contains("defined twice"), "{}", err.message);
}

#[test]
fn missing_required_role_is_refused() {
    let err = parse_str(&GOOD.replace("\"prometheus\", ", "")).unwrap_err();
    assert!(err.message.contains("no host has role `prometheus`"), "{}", err.message);
}

#[test]
fn bad_cidr_and_bridge_are_refused() {
    assert!(parse_str(&GOOD.replace("10.77.0.0/24", "10.77.0.0")).unwrap_err().message.contains("lab.cidr"));
    assert!(parse_str(&GOOD.replace("obs-dev", "a-much-too-long-bridge")).unwrap_err().message.contains("lab.bridge"));
}

#[test]
fn bad_duration_is_refused() {
    let err = parse_str(&format!("{GOOD}\n[prometheus]\nretention = \"two weeks\"\n")).unwrap_err();
    assert!(err.message.contains("prometheus.retention"), "{}", err.message);
}

#[test]
fn names_that_are_paths_are_refused() {
    for name in ["../../etc", "dev/x", "", "Dev", ".hidden", "dev.toml"] {
        assert!(check_name(name).is_err(), "{name} accepted");
    }
    assert!(check_name("staging-2").is_ok());
}

#[test]
fn without_turns_components_off_but_not_required_ones() {
    let env = parse_str(GOOD).unwrap();
    let run = env.clone().without(&["grafana".into(), "loki".into()]).unwrap();
    assert!(!run.enabled(ComponentId::Grafana) && !run.enabled(ComponentId::Loki));
    assert!(run.enabled(ComponentId::Alloy));
    assert!(env.enabled(ComponentId::Grafana), "the file's environment is left as it was");
    assert!(env.clone().without(&["prometheus".into()]).is_err());
    assert!(env.clone().without(&["nginx".into()]).is_err());
    let deployed = env.as_deployed(&run.components);
    assert_eq!(deployed.components, run.components, "read back from a record, the same components");
}

#[test]
fn postgres_needs_the_aws_provider() {
    let err = parse_str(&format!("{GOOD}\n[grafana]\ndatabase = \"postgres\"\n")).unwrap_err();
    assert!(err.message.contains("grafana.database"), "{}", err.message);
}

#[test]
fn state_is_local_unless_the_file_names_s3() {
    assert_eq!(parse_str(GOOD).unwrap().state, StateBackend::Local);
    let env = parse_str(&format!("{GOOD}\n[state]\nbackend = \"s3\"\nbucket = \"acme-tf-state\"\nregion = \"eu-west-1\"\n")).unwrap();
    let StateBackend::S3(s3) = env.state else { panic!("not s3: {:?}", env.state) };
    assert_eq!(s3.key, "obsctl/dev/terraform.tfstate");
    assert_eq!(s3.bucket, "acme-tf-state");
}

#[test]
fn bad_state_settings_name_the_key() {
    for (state, key) in [
        ("backend = \"gcs\"", "state.backend"),
        ("backend = \"s3\"\nregion = \"eu-west-1\"", "state.bucket"),
        ("backend = \"s3\"\nbucket = \"Acme_State\"\nregion = \"eu-west-1\"", "state.bucket"),
        ("backend = \"s3\"\nbucket = \"acme-state\"", "state.region"),
        ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\nkey = \"/abs\"", "state.key"),
        ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\nendpoint = \"localhost:9000\"", "state.endpoint"),
        ("backend = \"local\"\nbucket = \"acme-state\"", "state.bucket"),
        ("backend = \"s3\"\nbucket = \"acme-state\"\nregion = \"eu-west-1\"\ndynamodb_table = \"locks\"", "dynamodb_table"),
    ] {
        let err = parse_str(&format!("{GOOD}\n[state]\n{state}\n")).unwrap_err();
        assert!(err.message.contains(key), "{state}: {}", err.message);
    }
}

const RECEIVERS: &str = r##"
[[alertmanager.receivers]]
name = "oncall"
severities = ["critical"]
[alertmanager.receivers.email]
to = "oncall@example.com"
from = "am@example.com"
smarthost = "smtp.example.com:587"
username = "am@example.com"
password_env = "OBSCTL_SMTP_PASSWORD"
[alertmanager.receivers.pagerduty]
routing_key_file = "/etc/obsctl/pd-key"
[[alertmanager.receivers]]
name = "chat"
[alertmanager.receivers.slack]
api_url_env = "OBSCTL_SLACK_URL"
channel = "#ops"
[alertmanager.receivers.webhook]
url = "https://hooks.example.com/x"
"##;

#[test]
fn receivers_of_every_kind_with_their_credentials() {
    let env = parse_str(&format!("{GOOD}{RECEIVERS}")).unwrap();
    let r = &env.alertmanager.receivers;
    assert_eq!(r[0].kinds(), ["email", "pagerduty"]);
    assert_eq!(r[1].kinds(), ["webhook", "slack"]);
    assert!(r[0].email.as_ref().unwrap().require_tls, "STARTTLS is the default");
    let secrets: Vec<(&str, SecretSource)> = r.iter().flat_map(|r| r.secrets()).map(|s| (s.credential, s.source)).collect();
    assert_eq!(
        secrets,
        [
            ("smtp_password", SecretSource::Env("OBSCTL_SMTP_PASSWORD".into())),
            ("pagerduty_routing_key", SecretSource::File("/etc/obsctl/pd-key".into())),
            ("slack_api_url", SecretSource::Env("OBSCTL_SLACK_URL".into())),
        ]
    );
}

#[test]
fn bad_receivers_name_the_key() {
    for (edit, key) in [
        (("password_env = \"OBSCTL_SMTP_PASSWORD\"", "password_env = \"not a variable\""), "alertmanager.receivers[0].email.password_env"),
        (("password_env = ", "password = "), "password"),
        (("routing_key_file", "routing_key"), "routing_key"),
        (("username = \"am@example.com\"\n", ""), "alertmanager.receivers[0].email.username"),
        (("smarthost = \"smtp.example.com:587\"", "smarthost = \"smtp.example.com\""), "alertmanager.receivers[0].email.smarthost"),
        (
            ("api_url_env = \"OBSCTL_SLACK_URL\"", "api_url = \"https://hooks.slack.com/services/T/B/x\""),
            "alertmanager.receivers[1].slack.api_url",
        ),
        (("api_url_env = \"OBSCTL_SLACK_URL\"", "channel2 = \"x\""), "channel2"),
        (("url = \"https://hooks.example.com/x\"", "url = \"ftp://x\""), "alertmanager.receivers[1].webhook.url"),
        (("name = \"chat\"", "name = \"oncall\""), "defined twice"),
        (("severities = [\"critical\"]", "severities = [\"page\"]"), "alertmanager.receivers[0].severities"),
        (("username = \"am@example.com\"", "username = \"am@example.com\"\nrequire_tls = false"), "require_tls"),
    ] {
        let text = format!("{GOOD}{RECEIVERS}").replacen(edit.0, edit.1, 1);
        assert_ne!(text, format!("{GOOD}{RECEIVERS}"), "{edit:?} changes nothing");
        let err = parse_str(&text).err().unwrap_or_else(|| panic!("accepted: {edit:?}"));
        assert_eq!(err.phase, crate::error::Phase::Input);
        assert!(err.message.contains(key), "{edit:?}: {}", err.message);
    }
    let err = parse_str(&format!("{GOOD}[[alertmanager.receivers]]\nname = \"empty\"\n")).unwrap_err();
    assert!(err.message.contains("has no integration"), "{}", err.message);
}

const AWS: &str = r#"
provider = "aws"
protected = true
components = ["prometheus", "alertmanager", "node_exporter", "loki", "alloy"]
[aws]
region = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
admin_cidrs = ["198.18.0.0/24"]
[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager", "loki"]
zone = 0
[[hosts]]
name = "mon-2"
roles = ["prometheus", "alertmanager", "loki"]
zone = 1
[[hosts]]
name = "mon-3"
roles = ["loki"]
zone = 2
[loki]
storage = "s3"
replication_factor = 3
retention_period = "720h"
"#;

/// Issue 13: Grafana on aws needs the user's certificate (HTTPS only);
/// without Grafana, or with `--without grafana`, none is needed.
#[test]
fn grafana_on_aws_needs_a_certificate() {
    let with_grafana = AWS.replace("\"loki\", \"alloy\"]", "\"loki\", \"alloy\", \"grafana\"]").replace(
        "roles = [\"prometheus\", \"alertmanager\", \"loki\"]\nzone = 0",
        "roles = [\"prometheus\", \"alertmanager\", \"loki\", \"grafana\"]\nzone = 0",
    );
    let env = parse_aws(&with_grafana).unwrap();
    let err = env.check_deployable().unwrap_err();
    assert_eq!(err.phase.exit_code(), 10);
    let msg = err.to_string();
    assert!(msg.contains("aws.grafana_certificate_arn") && msg.contains("HTTPS only"), "{msg}");
    assert!(msg.contains("--without grafana") && msg.contains("1 value to fill in"), "{msg}");
    env.without(&["grafana".into()]).unwrap().check_deployable().unwrap();
    let arn = "grafana_certificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a\"\n";
    parse_aws(&with_grafana.replace("[aws]\n", &format!("[aws]\n{arn}"))).unwrap().check_deployable().unwrap();
    parse_aws(AWS).unwrap().check_deployable().unwrap();
}

/// Issue 32: prod.toml as shipped names every value a new user must fill
/// in, all at once, before Terraform runs (exit 10).
#[test]
fn shipped_prod_names_each_missing_value() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/prod.toml");
    let env = parse("prod", &file, &std::fs::read_to_string(&file).unwrap()).unwrap();
    let err = env.check_deployable().unwrap_err();
    assert_eq!(err.phase.exit_code(), 10);
    let msg = err.to_string();
    for part in ["2 values to fill in", "(1) `aws.admin_cidrs`", "(2) `aws.grafana_certificate_arn`", "--without grafana"] {
        assert!(msg.contains(part), "{part} missing in: {msg}");
    }
}

/// Issue 32: the hosts' egress opens the receivers' ports (80 and 443 are always open).
#[test]
fn receiver_ports_reach_the_egress() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/prod.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(parse("prod", &file, &text).unwrap().receiver_egress_ports(), vec![587]);
    let text = text.replace("https://hooks.example.com/obsctl/prod", "http://hooks.example.com:8443/obsctl/prod");
    assert_eq!(parse("prod", &file, &text).unwrap().receiver_egress_ports(), vec![587, 8443]);
}

fn parse_aws(text: &str) -> Result<Environment> {
    parse("prod", Path::new("environments/prod.toml"), text)
}

#[test]
fn aws_table_is_typed() {
    let env = parse_aws(AWS).unwrap();
    assert_eq!(env.provider.aws().unwrap().region, "eu-west-1");
    assert_eq!(env.loki_retention_days(), 30);
    // A misspelled key is refused, naming the file, the key and the accepted keys (exit 10).
    let err = parse_aws(&AWS.replace("[aws]\n", "[aws]\nloki_force_destory = true\n")).unwrap_err();
    assert_eq!(err.phase, crate::error::Phase::Input);
    assert_eq!(err.phase.exit_code(), 10);
    for part in ["environments/prod.toml", "loki_force_destory", "loki_force_destroy", "admin_cidrs"] {
        assert!(err.message.contains(part), "{part} missing in: {}", err.message);
    }
    // Keys that are gone: one app port ([app] port), retention from [loki].
    for gone in ["app_port = 8181", "loki_retention_days = 31"] {
        let err = parse_aws(&AWS.replace("[aws]\n", &format!("[aws]\n{gone}\n"))).unwrap_err();
        assert!(err.message.contains(gone.split(' ').next().unwrap()), "{}", err.message);
    }
}

#[test]
fn aws_rules_name_the_key() {
    for (change, key) in [
        (("198.18.0.0/24", "203.0.113.0/24"), "aws.admin_cidrs"),
        (("198.18.0.0/24", "0.0.0.0/1\", \"128.0.0.0/1"), "aws.admin_cidrs"),
        (("zone = 2", "zone = 3"), "hosts.mon-3.zone"),
        (("admin_cidrs", "instance_types = { small = \"t4g.small\" }\nadmin_cidrs"), "aws.instance_types.small"),
    ] {
        let err = parse_aws(&AWS.replace(change.0, change.1)).unwrap_err();
        assert!(err.message.contains(key), "{change:?}: {}", err.message);
    }
}

#[test]
fn one_zone_must_not_hold_a_loki_quorum() {
    let err = parse_aws(&AWS.replace("zone = 2", "zone = 0")).unwrap_err();
    assert!(err.message.contains("zone 0 holds 2 of the Loki hosts (mon-1, mon-3)"), "{}", err.message);
    let err = parse_aws(&AWS.replace("replication_factor = 3", "replication_factor = 5")).unwrap_err();
    assert!(err.message.contains("replication_factor = 5"), "{}", err.message);
    // Without loki there is nothing to check.
    parse_aws(&AWS.replace("zone = 2", "zone = 0").replace("\"node_exporter\", \"loki\",", "\"node_exporter\",")).unwrap();
}

#[test]
fn the_shipped_prod_file_is_valid_and_spreads_loki_over_three_zones() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/environments/prod.toml")).unwrap();
    let env = parse_aws(&text).unwrap();
    assert_eq!(env.provider.aws().unwrap().availability_zones.len(), 3);
    let zones: BTreeSet<u32> = env.hosts_with_role(ComponentId::Loki).map(|h| h.zone).collect();
    assert_eq!(zones.len(), 3, "one Loki per zone");
    // A documentation range written in place of the admins' networks is refused.
    let err = parse_aws(&text.replace("admin_cidrs = []", "admin_cidrs = [\"203.0.113.0/24\"]")).unwrap_err();
    assert!(err.message.contains("aws.admin_cidrs") && err.message.contains("documentation"), "{}", err.message);
}

#[test]
fn durations_are_kept_as_written_and_measured() {
    let env = parse_str(&format!("{GOOD}\n[prometheus]\nretention = \"1h30m\"\n[loki]\nretention_period = \"720h\"\n")).unwrap();
    assert_eq!(env.prometheus.retention.text(), "1h30m");
    assert_eq!(env.prometheus.retention.length(), std::time::Duration::from_secs(5400));
    assert_eq!(env.loki.retention_period.length().as_secs(), 30 * 86400);
    assert_eq!(env.loki_retention_days(), 30);
    assert_eq!(env.alertmanager.repeat_interval.length().as_secs(), 4 * 3600, "the default, measured");
}

#[test]
fn durations() {
    let with = |d: &str| parse_str(&format!("{GOOD}\n[alertmanager]\ngroup_wait = \"{d}\"\n"));
    for ok in ["15s", "1h30m", "7d", "500ms"] {
        assert_eq!(with(ok).unwrap().alertmanager.group_wait, ok);
    }
    for bad in ["", "15", "s", "1.5h", "15 s", "99999999999999999999s"] {
        let err = with(bad).unwrap_err();
        assert!(err.message.contains("`alertmanager.group_wait`") && err.message.contains("is not a duration like"), "{}", err.message);
    }
}

/// Issue 30: Alloy is the log agent; the legacy Promtail only with an
/// explicit `log_agent = "promtail"`. Refusals name the key (exit 10).
#[test]
fn promtail_only_with_an_explicit_log_agent_choice() {
    let list = |agents: &str| format!("components = [\"prometheus\", \"alertmanager\"{agents}]\n");
    // The default, with and without a list.
    assert!(parse_str(&format!("{}{GOOD}", list(", \"alloy\""))).unwrap().enabled(ComponentId::Alloy));
    assert!(parse_str(&format!("log_agent = \"alloy\"\n{GOOD}")).unwrap().enabled(ComponentId::Alloy));
    // The opt-in: without a list it replaces Alloy; with one it must list promtail.
    let legacy = parse_str(&format!("log_agent = \"promtail\"\n{GOOD}")).unwrap();
    assert!(legacy.enabled(ComponentId::Promtail) && !legacy.enabled(ComponentId::Alloy));
    let legacy = parse_str(&format!("log_agent = \"promtail\"\n{}{GOOD}", list(", \"promtail\""))).unwrap();
    assert!(legacy.enabled(ComponentId::Promtail) && !legacy.enabled(ComponentId::Alloy));
    // No agent listed: none deployed, whatever the choice.
    let none = parse_str(&format!("log_agent = \"promtail\"\n{}{GOOD}", list(""))).unwrap();
    assert!(!none.enabled(ComponentId::Promtail) && !none.enabled(ComponentId::Alloy));
    for (head, key, says) in [
        (list(", \"promtail\""), "`components`", "log_agent = \"promtail\""),
        (format!("log_agent = \"promtail\"\n{}", list(", \"alloy\"")), "`log_agent`", "list `promtail` instead"),
        (list(", \"alloy\", \"promtail\""), "`components`", "not both"),
        ("log_agent = \"fluentd\"\n".to_string(), "`log_agent`", "allowed: alloy (the default), promtail"),
    ] {
        let err = parse_str(&format!("{head}{GOOD}")).unwrap_err();
        assert_eq!(err.phase, crate::error::Phase::Input, "{head}");
        assert_eq!(err.phase.exit_code(), 10, "{head}");
        assert!(err.message.contains(key) && err.message.contains(says), "{head}: {}", err.message);
    }
}

/// Issue 32: `[lab] bastion = true` gives the lab a jump machine at one
/// number, below every host's; off by default; a wrong type is refused.
#[test]
fn the_lab_bastion_has_one_number_below_the_hosts() {
    let lab = |env: &Environment| env.provider.lab().cloned().unwrap();
    let plain = parse_str(GOOD).unwrap();
    assert_eq!(lab(&plain).bastion_number(), None, "no bastion unless asked for");
    let env = parse_str(&GOOD.replace("cidr = \"10.77.0.0/24\"", "cidr = \"10.77.0.0/24\"\nbastion = true")).unwrap();
    let bastion = lab(&env).bastion_number().unwrap();
    let numbers: Vec<(&str, u32)> = LabSettings::host_numbers(&env.hosts).collect();
    assert_eq!(numbers, [("mon-1", 10), ("app-1", 11)], "hosts numbered from .10 in file order");
    assert!(numbers.iter().all(|(_, n)| *n > bastion) && bastion > 1, "the bastion ({bastion}) is neither a host's nor the gateway's");
    let err = parse_str(&GOOD.replace("cidr = \"10.77.0.0/24\"", "cidr = \"10.77.0.0/24\"\nbastion = \"yes\"")).unwrap_err();
    assert!(err.message.contains("bastion"), "{}", err.message);
    // A host cannot take the bastion machine's name.
    let clash = GOOD.replace("cidr = \"10.77.0.0/24\"", "cidr = \"10.77.0.0/24\"\nbastion = true").replace("app-1", "bastion");
    assert!(parse_str(&clash).unwrap_err().message.contains("host `bastion` has the name of the lab's bastion"));
    assert!(parse_str(&GOOD.replace("app-1", "bastion")).is_ok(), "without a bastion the name is free");
}
