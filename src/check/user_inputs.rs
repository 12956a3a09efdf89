//! What `plan` shows of the user's own inputs (issue #31, docs/own-services.md):
//! the existing hosts (added, removed or kept, with what obsctl installs or
//! installed there) and the user's scrape jobs, rule and dashboard files and
//! `[[logs]]` entries, each compared with what the last `up` configured (the
//! deployment record's `user`, written by `record`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::check::installed::Report;
use crate::model::contract::Contract;
use crate::model::environment::Environment;
use crate::state::deployment::UserRecord;
use crate::tools::inventory::{user_dashboards, user_rule_files};

/// How one input differs from what the last `up` configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Removed,
    Unchanged,
    /// The last `up` recorded nothing to compare with (an older obsctl).
    Unknown,
}

impl Change {
    fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
            Change::Unchanged => "unchanged",
            Change::Unknown => "not recorded by the last up",
        }
    }
}

/// One user input: `kind` is `scrape job`, `rule file`, `dashboard` or `logs`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Item {
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
}

/// One existing host: its address and per-host components, now (or, removed,
/// as last deployed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExistingItem {
    pub name: String,
    pub address: String,
    pub components: Vec<String>,
    pub change: Change,
}

fn sha256(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The user's inputs of `env` as the deployment record keeps them: each job's
/// settings (credentials by their source, never their values; its CA file's
/// contents), each rule, rule test and dashboard file's contents, as SHA-256;
/// each `[[logs]]` entry as one line.
pub fn record(env: &Environment) -> UserRecord {
    let mut r = UserRecord::default();
    for j in &env.user.scrape_jobs {
        let mut text = serde_json::to_string(j).unwrap_or_default();
        text.push_str(&format!("{:?}", j.secrets().iter().map(|s| (s.credential, &s.source)).collect::<Vec<_>>()));
        if let Some(ca) = &j.ca_file {
            text.push_str(&sha256(&std::fs::read(ca).unwrap_or_default()));
        }
        r.scrape_jobs.insert(j.name.clone(), sha256(text.as_bytes()));
    }
    let mut files = |prefix: &str, list: Vec<std::path::PathBuf>| {
        for f in list {
            r.files.insert(format!("{prefix}/{}", file_name(&f)), sha256(&std::fs::read(&f).unwrap_or_default()));
        }
    };
    if let Some((rules, tests)) = env.user.rules_dir.as_deref().and_then(|d| user_rule_files(d).ok()) {
        files("rules", rules);
        files("rules", tests);
    }
    if let Some(dashboards) = env.user.dashboards_dir.as_deref().and_then(|d| user_dashboards(d).ok()) {
        files("dashboards", dashboards);
    }
    r.logs = env.user.logs.iter().map(log_line).collect();
    r
}

fn log_line(l: &crate::model::environment::user::LogSource) -> String {
    let mut parts = vec![l.hosts.join(",")];
    parts.extend(l.files.iter().cloned());
    parts.extend(l.units.iter().cloned());
    parts.extend(l.labels.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(" ")
}

fn keyed(kind: &'static str, old: Option<&BTreeMap<String, String>>, new: &BTreeMap<String, String>, out: &mut Vec<Item>) {
    for (name, d) in new {
        let change = match old.map(|o| o.get(name)) {
            None => Change::Unknown,
            Some(None) => Change::Added,
            Some(Some(was)) if was == d => Change::Unchanged,
            Some(Some(_)) => Change::Changed,
        };
        out.push(Item { kind, name: name.clone(), change });
    }
    for name in old.into_iter().flat_map(|o| o.keys()).filter(|n| !new.contains_key(*n)) {
        out.push(Item { kind, name: name.clone(), change: Change::Removed });
    }
}

/// The user's inputs now against `old`, what the last `up` configured
/// (None: that `up` recorded nothing; never deployed: pass the empty record).
pub fn compare(old: Option<&UserRecord>, new: &UserRecord) -> Vec<Item> {
    let mut out = Vec::new();
    keyed("scrape job", old.map(|o| &o.scrape_jobs), &new.scrape_jobs, &mut out);
    let split = |files: &BTreeMap<String, String>, prefix: &str| -> BTreeMap<String, String> {
        files.iter().filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone()))).collect()
    };
    let (old_rules, old_dash) = (old.map(|o| split(&o.files, "rules/")), old.map(|o| split(&o.files, "dashboards/")));
    keyed("rule file", old_rules.as_ref(), &split(&new.files, "rules/"), &mut out);
    keyed("dashboard", old_dash.as_ref(), &split(&new.files, "dashboards/"), &mut out);
    let as_map = |lines: &[String]| -> BTreeMap<String, String> { lines.iter().map(|l| (l.clone(), String::new())).collect() };
    keyed("logs", old.map(|o| as_map(&o.logs)).as_ref(), &as_map(&new.logs), &mut out);
    out
}

/// The env file's existing hosts against those of the last deployment
/// (`deployed`: None when never deployed).
pub fn existing(env: &Environment, deployed: Option<&Contract>) -> Vec<ExistingItem> {
    let now: BTreeMap<&String, _> = env.existing_hosts.iter().map(|e| (&e.name, e)).collect();
    let was: BTreeMap<&String, _> = deployed.into_iter().flat_map(Contract::existing).collect();
    let names: BTreeSet<&String> = now.keys().chain(was.keys()).copied().collect();
    let mut out = Vec::new();
    for name in names {
        let item = match (now.get(name), was.get(name)) {
            (Some(e), previous) => {
                let components: Vec<String> = e.roles.iter().filter(|c| env.enabled(**c)).map(|c| c.name().to_string()).collect();
                let change = match previous {
                    None => Change::Added,
                    Some(p) if p.address == e.address && p.existing.as_ref().is_some_and(|x| x.components == components) => {
                        Change::Unchanged
                    }
                    Some(_) => Change::Changed,
                };
                ExistingItem { name: name.clone(), address: e.address.clone(), components, change }
            }
            (None, Some(p)) => ExistingItem {
                name: name.clone(),
                address: p.address.clone(),
                components: p.existing.as_ref().map(|x| x.components.clone()).unwrap_or_default(),
                change: Change::Removed,
            },
            (None, None) => continue,
        };
        out.push(item);
    }
    out
}

/// Lines for `plan`'s summary (empty when the environment has none of these
/// inputs and had none); `installed` adds the package versions read on the hosts.
pub fn lines(existing: &[ExistingItem], items: &[Item], installed: Option<&Report>, env: &Environment) -> Vec<String> {
    let mut out = Vec::new();
    if !existing.is_empty() {
        out.push("  existing hosts (obsctl never creates or destroys them):".to_string());
    }
    for e in existing {
        let list = e.components.join(", ");
        let what = match e.change {
            Change::Added => format!("added: `up` installs {list}"),
            Change::Removed => format!("removed: `up` uninstalls {list}; the machine keeps running"),
            Change::Changed => format!("changed: `up` installs {list} (and removes what is no longer listed)"),
            Change::Unchanged | Change::Unknown => format!("installed: {list}"),
        };
        let versions = installed.and_then(|r| r.get(&e.name)).map(|r| match r {
            Ok(i) => {
                let v: Vec<String> = i.packages.iter().map(|(p, v)| format!("{p} {v}")).collect();
                format!(" [{}]", if v.is_empty() { "no package of obsctl".to_string() } else { v.join(", ") })
            }
            Err(why) => format!(" [not read: {why}]"),
        });
        out.push(format!("    {} ({}): {what}{}", e.name, e.address, versions.unwrap_or_default()));
    }
    if !items.is_empty() {
        let changed = items.iter().filter(|i| !matches!(i.change, Change::Unchanged)).count();
        out.push(format!(
            "  your inputs (scrape jobs {}, rule files {}, dashboards {}, log entries {}): {changed} differ from the last up",
            items.iter().filter(|i| i.kind == "scrape job" && i.change != Change::Removed).count(),
            items.iter().filter(|i| i.kind == "rule file" && i.change != Change::Removed).count(),
            items.iter().filter(|i| i.kind == "dashboard" && i.change != Change::Removed).count(),
            items.iter().filter(|i| i.kind == "logs" && i.change != Change::Removed).count(),
        ));
    }
    for i in items {
        out.push(format!("    {} {}: {}", i.kind, i.name, i.change.word()));
    }
    if items.iter().any(|i| i.change != Change::Unchanged) || existing.iter().any(|e| e.change != Change::Unchanged) {
        out.push(format!("    (applied by the next `obsctl up --env {}`)", env.name));
    }
    out
}

#[cfg(test)]
mod tests;
