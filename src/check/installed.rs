//! What really runs on the hosts: the Debian release and the installed
//! version of every component's package, read over SSH (`/etc/os-release`
//! and `dpkg-query`), never assumed from the env file, with APT's candidate
//! version of each (`apt-cache policy`, from the host's package index as of
//! its last refresh; pins apply): a candidate other than the installed
//! version is an update pending (docs/upgrades.md). The `up` summary,
//! `status`, `plan` and `doctor --env` show it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::model::contract::Contract;
use crate::model::environment::Environment;

/// One host's release and package versions (package → Debian version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// `PRETTY_NAME` of /etc/os-release, e.g. "Debian GNU/Linux 13 (trixie)".
    pub release: String,
    /// `VERSION_ID`, e.g. "13".
    pub version_id: String,
    pub packages: BTreeMap<String, String>,
    /// APT's candidate of every installed package (package → version).
    pub candidates: BTreeMap<String, String>,
}

/// One package whose APT candidate differs from the installed version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub package: String,
    pub installed: String,
    pub candidate: String,
}

impl Installed {
    /// The packages with an update pending: a candidate that is not the
    /// installed version ("(none)": no archive has it, nothing to do).
    pub fn pending(&self) -> Vec<Pending> {
        self.packages
            .iter()
            .filter_map(|(p, v)| {
                let c = self.candidates.get(p)?;
                (!c.is_empty() && c != "(none)" && c != v).then(|| Pending {
                    package: p.clone(),
                    installed: v.clone(),
                    candidate: c.clone(),
                })
            })
            .collect()
    }
}

/// Per host: what is installed there, or why it could not be read.
pub type Report = BTreeMap<String, std::result::Result<Installed, String>>;

/// Reads every host concurrently (one SSH command each).
pub fn read(env: &Environment, contract: &Contract, known_hosts: &Path) -> Report {
    let command = command_for(env);
    let options = crate::tools::ssh::contract_options(contract, known_hosts);
    crate::tools::ssh::run_on_all(contract, &options, |_| Ok(command.clone()))
        .into_iter()
        .map(|(name, out)| (name, out.and_then(|text| parse(&text))))
        .collect()
}

/// The shell command that reads what `read` reports, for one host; the fast
/// path's check runs it in its own SSH session (`check::drift::check`), so a
/// no-op `up` logs in once per host.
pub fn command_for(env: &Environment) -> String {
    let packages: Vec<&str> = env.registry.iter().filter(|c| env.enabled(c.id)).filter_map(|c| c.package).collect();
    command(&packages)
}

/// `apt-cache policy A B …` to one `candidate<TAB>package<TAB>version` line
/// per package (a package's block starts unindented with `name:`).
const CANDIDATES_AWK: &str = r#"/^[^ ]/ { sub(/:$/, ""); p = $0 } /^ *Candidate:/ { printf "candidate\t%s\t%s\n", p, $2 }"#;

/// The shell command: two lines of /etc/os-release, then one line per
/// installed package ("ii" = installed and configured), then APT's
/// candidate of each package (no index refresh: what the host already knows),
/// from one `apt-cache policy` for all of them (each run loads APT's cache:
/// about 0.3 s, once per host instead of once per package).
fn command(packages: &[&str]) -> String {
    let list = packages.join(" ");
    let candidates = if packages.is_empty() {
        String::new()
    } else {
        format!(" && {{ apt-cache policy {list} 2>/dev/null | awk '{CANDIDATES_AWK}' || true; }}")
    };
    format!(
        ". /etc/os-release && printf 'release\\t%s\\nversion_id\\t%s\\n' \"$PRETTY_NAME\" \"$VERSION_ID\" && \
         {{ dpkg-query -W -f='${{db:Status-Abbrev}}\\t${{Package}}\\t${{Version}}\\n' {list} 2>/dev/null || true; }}{candidates}"
    )
}

/// What `command_for`'s command printed, read.
pub fn parse(text: &str) -> std::result::Result<Installed, String> {
    let mut installed =
        Installed { release: String::new(), version_id: String::new(), packages: BTreeMap::new(), candidates: BTreeMap::new() };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["release", v] => installed.release = v.to_string(),
            ["version_id", v] => installed.version_id = v.to_string(),
            ["candidate", package, version] => {
                installed.candidates.insert(package.to_string(), version.trim().to_string());
            }
            [status, package, version] if status.trim() == "ii" => {
                installed.packages.insert(package.to_string(), version.to_string());
            }
            _ => {}
        }
    }
    let packages = installed.packages.clone();
    installed.candidates.retain(|p, _| packages.contains_key(p));
    if installed.release.is_empty() {
        return Err("no PRETTY_NAME in /etc/os-release".into());
    }
    Ok(installed)
}

/// Lines for people: one per distinct (release, versions) combination, with
/// the hosts it applies to; unreadable hosts get their own line.
pub fn describe(report: &Report) -> Vec<String> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (host, result) in report {
        let line = match result {
            Ok(i) if i.packages.is_empty() => i.release.clone(),
            Ok(i) => format!("{}: {}", i.release, i.packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ")),
            Err(e) => format!("not read: {e}"),
        };
        groups.entry(line).or_default().push(host);
    }
    let all = report.len();
    groups
        .into_iter()
        .map(
            |(line, hosts)| {
                if hosts.len() == all && all > 1 {
                    format!("{line} (every host)")
                } else {
                    format!("{line} ({})", hosts.join(", "))
                }
            },
        )
        .collect()
}

/// The updates pending, one line per host that has any ("mon-1: prometheus
/// 2.42.0+ds-5+b1 → 2.42.0+ds-5+deb12u1"); empty when there is none.
pub fn pending_lines(report: &Report) -> Vec<String> {
    report
        .iter()
        .filter_map(|(host, r)| {
            let pending = r.as_ref().ok()?.pending();
            (!pending.is_empty()).then(|| {
                format!(
                    "{host}: {}",
                    pending.iter().map(|p| format!("{} {} → {}", p.package, p.installed, p.candidate)).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect()
}

/// The updates pending, for people (`plan`, `status`, the `up` summary),
/// each line starting with INDENT.
pub fn updates_lines(report: &Report, env: &str, indent: &str) -> Vec<String> {
    let pending = pending_lines(report);
    if pending.is_empty() {
        return vec![format!("{indent}Updates pending: none (every managed package is at its APT candidate)")];
    }
    let mut lines = vec![format!(
        "{indent}Updates pending on {} host(s) (`obsctl up --env {env} --upgrade` applies them, one HA peer at a time):",
        pending.len()
    )];
    lines.extend(pending.iter().map(|l| format!("{indent}  {l}")));
    lines
}

/// For JSON output: host → [{package, installed, candidate}] of the hosts with updates pending.
pub fn pending_json(report: &Report) -> serde_json::Value {
    report
        .iter()
        .filter_map(|(host, r)| {
            let pending = r.as_ref().ok()?.pending();
            (!pending.is_empty()).then(|| (host.clone(), serde_json::to_value(pending).unwrap_or_default()))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// What an upgrade changed: per host, each package whose version differs
/// between the two readings ("app-1: prometheus-node-exporter 1.9.0-1~x → 1.9.0-1").
pub fn changes(before: &Report, after: &Report) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (host, b) in before {
        let (Ok(b), Some(Ok(a))) = (b, after.get(host)) else { continue };
        for (package, old) in &b.packages {
            if let Some(new) = a.packages.get(package).filter(|new| *new != old) {
                out.push((host.clone(), package.clone(), old.clone(), new.clone()));
            }
        }
    }
    out
}

/// For JSON output: host → {release, version_id, packages} or {error}.
pub fn to_json(report: &Report) -> serde_json::Value {
    report
        .iter()
        .map(|(host, r)| {
            let v = match r {
                Ok(i) => serde_json::to_value(i).unwrap_or_default(),
                Err(e) => serde_json::json!({ "error": e }),
            };
            (host.clone(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_and_installed_packages_only() {
        let out = "release\tDebian GNU/Linux 13 (trixie)\nversion_id\t13\n\
                   ii \tprometheus\t2.53.3+ds1-2\nii \tprometheus-node-exporter\t1.9.0-1+b4\n\
                   rc \tprometheus-alertmanager\t0.28.1+ds-1\n";
        let i = parse(out).unwrap();
        assert_eq!(i.release, "Debian GNU/Linux 13 (trixie)");
        assert_eq!(i.version_id, "13");
        assert_eq!(i.packages.len(), 2, "{:?}", i.packages);
        assert_eq!(i.packages["prometheus"], "2.53.3+ds1-2");
        assert!(parse("").is_err());
    }

    #[test]
    fn describes_identical_hosts_once() {
        let i = parse("release\tDebian GNU/Linux 12 (bookworm)\nversion_id\t12\nii \tprometheus-node-exporter\t1.5.0-1+b6\n").unwrap();
        let mut report = Report::new();
        report.insert("a".into(), Ok(i.clone()));
        report.insert("b".into(), Ok(i));
        report.insert("c".into(), Err("ssh: timeout".into()));
        let lines = describe(&report);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.contains(&"Debian GNU/Linux 12 (bookworm): prometheus-node-exporter 1.5.0-1+b6 (a, b)".to_string()), "{lines:?}");
        assert!(lines.contains(&"not read: ssh: timeout (c)".to_string()), "{lines:?}");
    }

    #[test]
    fn one_apt_cache_policy_gives_every_packages_candidate() {
        let policy = "prometheus:\n  Installed: 2.53.3+ds1-2\n  Candidate: 2.53.4+ds1-1\n  Version table:\n     2.53.4+ds1-1 500\n        500 http://deb.debian.org/debian trixie/main amd64 Packages\n *** 2.53.3+ds1-2 100\nprometheus-node-exporter:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        let mut awk = std::process::Command::new("awk")
            .arg(super::CANDIDATES_AWK)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut awk.stdin.take().unwrap(), policy.as_bytes()).unwrap();
        let out = String::from_utf8(awk.wait_with_output().unwrap().stdout).unwrap();
        assert_eq!(out, "candidate\tprometheus\t2.53.4+ds1-1\ncandidate\tprometheus-node-exporter\t(none)\n");
    }

    #[test]
    fn a_candidate_other_than_the_installed_version_is_pending() {
        let out = "release\tDebian GNU/Linux 12 (bookworm)\nversion_id\t12\n\
                   ii \tprometheus\t2.42.0+ds-5+b1\nii \tprometheus-node-exporter\t1.5.0-1+b6~old\n\
                   candidate\tprometheus\t2.42.0+ds-5+b1\ncandidate\tprometheus-node-exporter\t1.5.0-1+b6\n\
                   candidate\tprometheus-alertmanager\t0.25.0-1+b4\n";
        let i = parse(out).unwrap();
        assert_eq!(i.candidates.len(), 2, "candidates of packages not installed are dropped: {:?}", i.candidates);
        assert_eq!(
            i.pending(),
            vec![Pending {
                package: "prometheus-node-exporter".into(),
                installed: "1.5.0-1+b6~old".into(),
                candidate: "1.5.0-1+b6".into()
            }]
        );
        let mut report = Report::new();
        report.insert("app-1".into(), Ok(i.clone()));
        assert_eq!(pending_lines(&report), vec!["app-1: prometheus-node-exporter 1.5.0-1+b6~old → 1.5.0-1+b6".to_string()]);
        assert_eq!(pending_json(&report)["app-1"][0]["candidate"], "1.5.0-1+b6");
        // No candidate (no archive has it) or an empty one is not an update.
        let mut none = i.clone();
        none.candidates.insert("prometheus-node-exporter".into(), "(none)".into());
        assert!(none.pending().is_empty());
        // Before → after: only what changed.
        let mut after = i.clone();
        after.packages.insert("prometheus-node-exporter".into(), "1.5.0-1+b6".into());
        let mut report_after = Report::new();
        report_after.insert("app-1".into(), Ok(after));
        assert_eq!(
            changes(&report, &report_after),
            vec![("app-1".into(), "prometheus-node-exporter".into(), "1.5.0-1+b6~old".into(), "1.5.0-1+b6".into())]
        );
    }

    #[test]
    fn the_command_asks_for_the_given_packages() {
        let c = command(&["prometheus", "prometheus-alertmanager"]);
        assert!(
            c.contains("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\n' prometheus prometheus-alertmanager"),
            "{c}"
        );
        assert!(c.contains("apt-cache policy prometheus prometheus-alertmanager 2>/dev/null | awk"), "{c}");
        assert!(!command(&[]).contains("apt-cache"), "no candidates of nothing");
    }
}
