//! The user's rule and dashboard files (`[user]` of the env file), checked on
//! the controller before anything changes on a host: `promtool check rules`
//! and `promtool test rules` on the rule folder, and for each dashboard: JSON
//! that parses, a uid of its own (also against the built-in dashboards), and
//! every PromQL expression parsed by Prometheus' own parser (promtool has no
//! command that parses one expression, so they are written as recording rules
//! into a temporary file that `promtool check rules` reads, as
//! tests/static/dashboards.py does for the built-in ones). A refusal is exit 10
//! with promtool's own message, which names the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Phase, Result};
use crate::model::environment::Environment;
use crate::report::Printer;
use crate::tools::inventory::{user_dashboards, user_rule_files};
use crate::tools::process::{Child, RunError};

/// The promtool that checks the user's files: on PATH, else the one of the
/// environment's Debian release that `tests/setup.sh tools` extracts.
pub fn promtool(root: &Path, env: &Environment) -> Result<PathBuf> {
    let extracted = root.join(".obsctl/tools").join(env.os.name()).join("root/usr/bin/promtool");
    if extracted.is_file() {
        return Ok(extracted);
    }
    crate::tools::process::on_path("promtool").ok_or_else(|| {
        Error::prerequisite(
            "the user's rule and dashboard files ([user] in the env file) are checked with promtool, which is not installed",
        )
        .hint("sudo apt-get install prometheus (Debian 12) or promtool (Debian 13), or tests/setup.sh tools; then run obsctl up again")
    })
}

/// Runs promtool; Ok(()) or its own words (stdout and stderr).
fn run_promtool(promtool: &Path, args: &[&str], cwd: &Path) -> std::result::Result<(), Vec<String>> {
    let mut child = Child::new("sh", Phase::Input).arg("-c").arg("\"$0\" \"$@\" 1>&2").arg(promtool.as_os_str()).cwd(cwd);
    for a in args {
        child = child.arg(*a);
    }
    match child.what(format!("promtool {}", args.first().copied().unwrap_or_default())).output() {
        Ok(_) => Ok(()),
        Err(RunError::Exit(e)) => Err(e.last_lines(40)),
        Err(e) => Err(vec![Error::from(e).to_string()]),
    }
}

fn refused(env: &Environment, what: String, words: Vec<String>) -> Error {
    Error::input(format!("{}: {what}:\n  {}", env.file.display(), words.join("\n  ")))
        .hint(format!("fix the file and run `obsctl up --env {}` again; nothing was changed on the hosts", env.name))
}

/// Checks every user file; warnings go to `p`. Nothing to do without `[user]`.
pub fn check(root: &Path, env: &Environment, p: &Printer) -> Result<()> {
    let (rules_dir, dash_dir) = (&env.user.rules_dir, &env.user.dashboards_dir);
    if rules_dir.is_none() && dash_dir.is_none() {
        return Ok(());
    }
    let promtool = promtool(root, env)?;
    if let Some(dir) = rules_dir {
        let (rules, tests) = user_rule_files(dir).map_err(|e| Error::input(format!("{}: `user.rules_dir`: {e}", env.file.display())))?;
        if !rules.is_empty() {
            let args: Vec<String> = std::iter::once("check".to_string())
                .chain(std::iter::once("rules".to_string()))
                .chain(rules.iter().map(|f| f.display().to_string()))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_promtool(&promtool, &args, dir)
                .map_err(|w| refused(env, format!("a rule file in {} does not pass `promtool check rules`", dir.display()), w))?;
        }
        for t in &tests {
            let file = t.display().to_string();
            run_promtool(&promtool, &["test", "rules", &file], dir)
                .map_err(|w| refused(env, format!("the rule test {file} fails (`promtool test rules`)"), w))?;
        }
        for f in &rules {
            for alert in alerts_missing_annotations(&std::fs::read_to_string(f).unwrap_or_default()) {
                p.warn(&format!("{}: alert `{alert}` has no runbook_url or no summary annotation", f.display()));
            }
        }
    }
    if let Some(dir) = dash_dir {
        check_dashboards(root, env, dir, &promtool)?;
    }
    Ok(())
}

/// Alerts of a rule file without a `runbook_url` or a `summary`
/// annotation (read line by line: the file already passed promtool).
pub fn alerts_missing_annotations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, bool, bool)> = None;
    let flush = |c: Option<(String, bool, bool)>, out: &mut Vec<String>| {
        if let Some((name, runbook, summary)) = c {
            if !(runbook && summary) {
                out.push(name);
            }
        }
    };
    for line in text.lines() {
        let l = line.trim_start().trim_start_matches("- ").trim_start();
        if let Some(name) = l.strip_prefix("alert:") {
            flush(current.take(), &mut out);
            current = Some((name.trim().trim_matches(['"', '\'']).to_string(), false, false));
        } else if l.starts_with("record:") || l.starts_with("name:") {
            flush(current.take(), &mut out);
        } else if let Some(c) = current.as_mut() {
            c.1 |= l.starts_with("runbook_url:");
            c.2 |= l.starts_with("summary:");
        }
    }
    flush(current, &mut out);
    out
}

/// Every `expr` of a dashboard's panels (nested rows too) whose datasource
/// is not Loki, with its panel title.
fn promql(v: &Value, out: &mut Vec<(String, String)>) {
    if let Some(panels) = v.get("panels").and_then(Value::as_array) {
        for panel in panels {
            let title = panel.get("title").and_then(Value::as_str).unwrap_or("").to_string();
            let panel_loki = is_loki(panel.get("datasource"));
            for t in panel.get("targets").and_then(Value::as_array).into_iter().flatten() {
                let loki = t.get("datasource").map_or(panel_loki, |d| is_loki(Some(d)));
                if let Some(expr) = t.get("expr").and_then(Value::as_str).filter(|e| !e.trim().is_empty()) {
                    if !loki {
                        out.push((title.clone(), expr.to_string()));
                    }
                }
            }
            promql(panel, out);
        }
    }
}

fn is_loki(d: Option<&Value>) -> bool {
    match d {
        Some(Value::Object(o)) => o.get("type").and_then(Value::as_str) == Some("loki"),
        Some(Value::String(s)) => s.to_lowercase().contains("loki"),
        _ => false,
    }
}

/// Grafana's variables replaced so the expression runs as is ($__interval
/// and the like 1m, $__range 1h, any other variable matches all).
fn substitute(expr: &str) -> String {
    let mut e = expr.to_string();
    for (v, with) in
        [("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"), ("${__rate_interval}", "1m"), ("${__interval}", "1m")]
    {
        e = e.replace(v, with);
    }
    let mut out = String::new();
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '_' || *n == '{') {
            let braced = chars.peek() == Some(&'{');
            if braced {
                chars.next();
            }
            while chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_' || (braced && *n != '}')) {
                chars.next();
            }
            if braced {
                chars.next();
            }
            out.push_str(".*");
        } else {
            out.push(c);
        }
    }
    out
}

fn check_dashboards(root: &Path, env: &Environment, dir: &Path, promtool: &Path) -> Result<()> {
    let files = user_dashboards(dir).map_err(|e| Error::input(format!("{}: `user.dashboards_dir`: {e}", env.file.display())))?;
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    let builtin = root.join("ansible/roles/grafana/files/dashboards");
    for f in crate::tools::inventory::files_with_suffix(&builtin, &[".json"]).unwrap_or_default() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_default()).unwrap_or_default();
        if let Some(uid) = v.get("uid").and_then(Value::as_str) {
            uids.insert(uid.to_string(), format!("the built-in dashboard {}", f.display()));
        }
    }
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut n = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::input(format!("cannot read {}: {e}", f.display())))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| refused(env, format!("the dashboard {} is not JSON", f.display()), vec![e.to_string()]))?;
        let Some(uid) = v.get("uid").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
            return Err(refused(env, format!("the dashboard {} has no uid", f.display()), vec!["add \"uid\": \"<unique id>\"".into()]));
        };
        if let Some(other) = uids.insert(uid.to_string(), f.display().to_string()) {
            return Err(refused(env, format!("the dashboard {} has the uid `{uid}` of {other}", f.display()), vec![]));
        }
        let mut exprs = Vec::new();
        promql(&v, &mut exprs);
        for (title, expr) in exprs {
            n += 1;
            let e = substitute(&expr);
            rules += &format!(
                "      # {}, panel {}\n      - record: dashboard_expr_{n}\n        expr: {}\n",
                f.display(),
                serde_json::to_string(&title).unwrap_or_default(),
                serde_json::to_string(&e).unwrap_or_default()
            );
        }
    }
    if n == 0 {
        return Ok(());
    }
    let tmp =
        tempfile::Builder::new().suffix(".yml").tempfile().map_err(|e| Error::internal(format!("cannot create a temporary file: {e}")))?;
    std::fs::write(tmp.path(), &rules).map_err(|e| Error::internal(format!("cannot write {}: {e}", tmp.path().display())))?;
    let file = tmp.path().display().to_string();
    run_promtool(promtool, &["check", "rules", &file], dir).map_err(|mut w| {
        w.push(format!("(the expressions, as promtool read them, with their dashboard and panel:\n{rules})"));
        refused(env, "a PromQL expression of a dashboard does not parse".into(), w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_without_runbook_or_summary_are_named() {
        let text = "groups:\n- name: g\n  rules:\n  - alert: Good\n    expr: up == 0\n    annotations:\n      summary: s\n      runbook_url: u\n  - alert: NoRunbook\n    expr: up == 0\n    annotations:\n      summary: s\n  - record: r\n    expr: up\n  - alert: Bare\n    expr: up == 0\n";
        assert_eq!(alerts_missing_annotations(text), ["NoRunbook", "Bare"]);
    }

    /// With the promtool of the lab's releases (tests/setup.sh tools): each
    /// refusal is exit 10 with promtool's words; good files pass.
    #[test]
    fn refusals_with_the_real_promtool() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        if !root.join(".obsctl/tools/debian-13/root/usr/bin/promtool").is_file() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "no promtool: run tests/setup.sh tools");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (rules, dash) = (dir.path().join("rules"), dir.path().join("dash"));
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::create_dir_all(&dash).unwrap();
        let env_file = dir.path().join("dev.toml");
        let env = crate::model::environment::parse(
            "dev",
            &env_file,
            "provider = \"lab\"\n[lab]\nbridge = \"obs-dev\"\ncidr = \"10.77.0.0/24\"\n[[hosts]]\nname = \"mon-1\"\nroles = [\"prometheus\", \"alertmanager\", \"grafana\", \"loki\", \"app\"]\n[user]\nrules_dir = \"rules\"\ndashboards_dir = \"dash\"\n",
        )
        .unwrap();
        let p = Printer::new(crate::report::OutputFormat::Json, false);
        let good = "groups:\n- name: svc\n  rules:\n  - alert: SvcDown\n    expr: up{job=\"svc\"} == 0\n    for: 1m\n    labels:\n      severity: critical\n    annotations:\n      summary: svc is down\n      runbook_url: https://example.com/r\n";
        let test = |value: &str| {
            format!("rule_files: [svc.rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n  - series: 'up{{job=\"svc\"}}'\n    values: '0x5'\n  alert_rule_test:\n  - eval_time: 3m\n    alertname: SvcDown\n    exp_alerts:\n    - exp_labels: {{severity: {value}, job: svc}}\n      exp_annotations: {{summary: svc is down, runbook_url: 'https://example.com/r'}}\n")
        };
        std::fs::write(rules.join("svc.rules.yml"), good).unwrap();
        std::fs::write(rules.join("svc.test.yml"), test("critical")).unwrap();
        std::fs::write(dash.join("svc.json"), r#"{"uid": "svc", "panels": [{"title": "up", "targets": [{"expr": "up{job=~\"$job\"}"}]}]}"#)
            .unwrap();
        check(root, &env, &p).unwrap();

        let refusal = |what: &str| {
            let e = check(root, &env, &p).unwrap_err();
            assert_eq!(e.phase.exit_code(), 10, "{e:?}");
            let text = format!("{} {}", e.message, e.details.join("\n"));
            assert!(text.contains(what), "{what} not in: {text}");
        };
        std::fs::write(rules.join("svc.test.yml"), test("warning")).unwrap();
        refusal("svc.test.yml");
        std::fs::write(rules.join("svc.test.yml"), test("critical")).unwrap();
        std::fs::write(rules.join("broken.rules.yml"), "groups:\n- name: b\n  rules:\n  - alert: B\n    expr: up ==\n").unwrap();
        refusal("broken.rules.yml");
        std::fs::remove_file(rules.join("broken.rules.yml")).unwrap();
        std::fs::write(dash.join("bad.json"), "{\"uid\": ").unwrap();
        refusal("bad.json");
        std::fs::write(dash.join("bad.json"), r#"{"uid": "svc", "panels": []}"#).unwrap();
        refusal("uid `svc`");
        std::fs::write(dash.join("bad.json"), r#"{"uid": "obsctl-hosts"}"#).unwrap();
        refusal("built-in");
        std::fs::write(dash.join("bad.json"), r#"{"uid": "other", "panels": [{"title": "p", "targets": [{"expr": "rate(up[5m]"}]}]}"#)
            .unwrap();
        refusal("does not parse");
    }

    #[test]
    fn grafana_variables_are_replaced() {
        assert_eq!(substitute("rate(x{job=~\"$job\"}[$__rate_interval])"), "rate(x{job=~\".*\"}[1m])");
        assert_eq!(substitute("sum by (${grp}) (y)"), "sum by (.*) (y)");
        let mut out = Vec::new();
        promql(
            &serde_json::json!({"panels": [{"title": "a", "targets": [{"expr": "up"}]}, {"title": "l", "datasource": {"type": "loki"}, "targets": [{"expr": "{job=\"x\"}"}]},
                {"title": "row", "panels": [{"title": "b", "targets": [{"expr": "rate(x[1m])"}]}]}]}),
            &mut out,
        );
        assert_eq!(out, [("a".to_string(), "up".to_string()), ("b".to_string(), "rate(x[1m])".to_string())]);
    }
}
