//! `obsctl facts` (hidden): the facts the documentation is generated from
//! and checked against, as one JSON object on stdout. `tests/docs/drift.py`
//! reads it instead of parsing Rust source, so a table in docs/ says what
//! this binary does, with the environment files parsed and validated the
//! way `up` parses them (defaults filled in).

use std::io::Write;

use clap::CommandFactory;
use serde_json::{json, Value};

use crate::cli::Cli;
use crate::error::{Error, Phase, Result, DRIFT_EXIT, USAGE_EXIT};
use crate::model::component::{Registry, DEFAULT_APP_PORT};
use crate::model::environment::{self, AlertmanagerSettings, AppSettings, GrafanaSettings, LokiSettings, PrometheusSettings, StateBackend};
use crate::signals::{SIGHUP, SIGINT, SIGTERM};
use crate::state::workspace::Workspace;
use crate::tools::ansible::{self, Venv};

pub fn run() -> Result<u8> {
    let ws = Workspace::discover()?;
    let facts = facts(&ws)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &facts).map_err(|e| Error::new(Phase::Internal, format!("cannot write the facts: {e}")))?;
    let _ = writeln!(out);
    Ok(0)
}

fn facts(ws: &Workspace) -> Result<Value> {
    let dir = ws.environments_dir();
    let mut envs = serde_json::Map::new();
    for name in environment::available(&dir) {
        let env = environment::load(&dir, &name)?;
        envs.insert(name, environment_value(&env));
    }
    Ok(json!({
        "registry": Registry::new(DEFAULT_APP_PORT).iter().collect::<Vec<_>>(),
        "access": crate::model::access::inventory_value(),
        // What `obsctl backup` takes (docs/backup.md's table).
        "backup": crate::model::backup::ITEMS
            .iter()
            .map(|i| json!({ "name": i.name, "component": i.component.map(|c| c.name()), "method": i.method, "paths": i.paths,
                             "what": i.what, "how": i.method.how(), "kept": i.method.kept(), "restore": i.method.restore(),
                             "instance": (i.method == crate::model::backup::Method::RdsSnapshot)
                                 .then(|| crate::model::backup::rds_instance("<env>")) }))
            .collect::<Vec<_>>(),
        "defaults": {
            "os": environment::Os::default().name(),
            "host": { "size": environment::DEFAULT_HOST_SIZE, "disk_gb": environment::DEFAULT_DISK_GB,
                      "data_gb": environment::DEFAULT_DATA_GB },
            "prometheus": PrometheusSettings::default(),
            "alertmanager": AlertmanagerSettings::default(),
            "app": AppSettings::default(),
            "loki": LokiSettings::default(),
            "grafana": GrafanaSettings::default(),
        },
        "environments": envs,
        "exit_codes": exit_codes(),
        "ansible": ansible_value(ws),
        "cli": command_value(&Cli::command()),
    }))
}

/// How obsctl runs Ansible: the pinned versions, the strategy and where its
/// plugins are in this workspace's venv (null before the venv is installed).
fn ansible_value(ws: &Workspace) -> Value {
    let venv = Venv::location(ws);
    json!({
        "core": ansible::ANSIBLE_CORE,
        "mitogen": ansible::MITOGEN,
        "venv": venv.dir,
        "strategy": ansible::STRATEGY,
        "strategy_plugins": venv.strategy_plugins().ok(),
    })
}

fn environment_value(env: &environment::Environment) -> Value {
    let state = match &env.state {
        StateBackend::Local => json!({ "backend": "local" }),
        StateBackend::S3(s) => json!({ "backend": "s3", "bucket": s.bucket, "key": s.key, "region": s.region }),
    };
    json!({
        "file": format!("environments/{}.toml", env.name),
        "description": env.description,
        "provider": env.provider.name(),
        "os": env.os.name(),
        "protected": env.protected,
        "components": env.components,
        "hosts": env.hosts,
        "existing_hosts": env.existing_hosts,
        "lab": env.provider.lab(),
        "aws": env.provider.aws(),
        "prometheus": env.prometheus,
        "alertmanager": env.alertmanager,
        "app": env.app,
        "loki": env.loki,
        "grafana": env.grafana,
        "state": state,
        "ports": env.registry.ports(),
        "user": env.user,
    })
}

fn exit_codes() -> Vec<Value> {
    let signal = |s: i32| match s {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "?",
    };
    let mut codes = vec![
        json!({ "code": 0, "phase": null, "what": "success" }),
        json!({ "code": DRIFT_EXIT, "phase": null, "what": "plan: drift" }),
        json!({ "code": USAGE_EXIT, "phase": null, "what": "usage error" }),
    ];
    for p in all_phases() {
        let what = match p {
            Phase::Interrupted(s) => format!("interrupted by {}", signal(s)),
            _ => p.name().to_string(),
        };
        codes.push(json!({ "code": p.exit_code(), "phase": p.name(), "what": what }));
    }
    codes.sort_by_key(|c| c["code"].as_u64());
    codes
}

fn command_value(cmd: &clap::Command) -> Value {
    let args: Vec<Value> = cmd
        .get_arguments()
        .filter(|a| a.get_id() != "help" && a.get_id() != "version")
        .map(|a| {
            json!({
                "id": a.get_id().as_str(),
                "long": a.get_long(),
                "short": a.get_short().map(String::from),
                "positional": a.is_positional(),
                "required": a.is_required_set(),
                "global": a.is_global_set(),
                "hidden": a.is_hide_set(),
                "value_names": a.get_value_names().map(|v| v.iter().map(|s| s.as_str().to_string()).collect::<Vec<_>>()),
                "default": a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>(),
                "possible_values": a.get_possible_values().iter().map(|v| v.get_name().to_string()).collect::<Vec<_>>(),
                "help": a.get_help().map(|h| h.to_string()),
            })
        })
        .collect();
    let subcommands: Vec<Value> = cmd.get_subcommands().filter(|c| c.get_name() != "help").map(command_value).collect();
    json!({
        "name": cmd.get_name(),
        "hidden": cmd.is_hide_set(),
        "about": cmd.get_about().map(|h| h.to_string()),
        "args": args,
        "subcommands": subcommands,
    })
}

/// Every phase, for the docs' exit-code table: the interrupted phase once
/// per signal obsctl handles. (Here, not in `error`, which `signals` imports.)
fn all_phases() -> Vec<Phase> {
    let mut all = vec![
        Phase::Internal,
        Phase::Input,
        Phase::Prerequisite,
        Phase::Locked,
        Phase::Terraform,
        Phase::Hosts,
        Phase::Ansible,
        Phase::Verify,
    ];
    all.extend(crate::signals::HANDLED.iter().map(|&s| Phase::Interrupted(s)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_cover_every_phase_and_signal() {
        let codes: Vec<u64> = exit_codes().iter().map(|c| c["code"].as_u64().unwrap()).collect();
        for want in [0, 1, 2, 10, 11, 12, 20, 30, 40, 50, 64, 129, 130, 143] {
            assert!(codes.contains(&want), "exit code {want} missing from {codes:?}");
        }
    }

    #[test]
    fn the_command_line_is_described_with_its_hidden_facts_command() {
        let cli = command_value(&Cli::command());
        let subs = cli["subcommands"].as_array().unwrap();
        let facts = subs.iter().find(|s| s["name"] == "facts").expect("facts");
        assert_eq!(facts["hidden"], true);
        let up = subs.iter().find(|s| s["name"] == "up").expect("up");
        assert!(up["args"].as_array().unwrap().iter().any(|a| a["long"] == "without"));
    }
}
