//! What really runs on the hosts: the Debian release and the installed
//! version of every component's package, read over SSH (`/etc/os-release`
//! and `dpkg-query`), never assumed from the env file. The `up` summary and
//! `doctor --env` show it.

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
}

/// Per host: what is installed there, or why it could not be read.
pub type Report = BTreeMap<String, std::result::Result<Installed, String>>;

/// Reads every host concurrently (one SSH command each).
pub fn read(env: &Environment, contract: &Contract, known_hosts: &Path) -> Report {
    let packages: Vec<&str> = env.registry.iter().filter(|c| env.enabled(c.id)).filter_map(|c| c.package).collect();
    let command = command(&packages);
    let options = crate::tools::ssh::contract_options(contract, known_hosts);
    crate::tools::ssh::run_on_all(contract, &options, |_| Ok(command.clone()))
        .into_iter()
        .map(|(name, out)| (name, out.and_then(|text| parse(&text))))
        .collect()
}

/// The shell command: two lines of /etc/os-release, then one line per
/// installed package ("ii" = installed and configured).
fn command(packages: &[&str]) -> String {
    format!(
        ". /etc/os-release && printf 'release\\t%s\\nversion_id\\t%s\\n' \"$PRETTY_NAME\" \"$VERSION_ID\" && \
         {{ dpkg-query -W -f='${{db:Status-Abbrev}}\\t${{Package}}\\t${{Version}}\\n' {} 2>/dev/null || true; }}",
        packages.join(" ")
    )
}

fn parse(text: &str) -> std::result::Result<Installed, String> {
    let mut installed = Installed { release: String::new(), version_id: String::new(), packages: BTreeMap::new() };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["release", v] => installed.release = v.to_string(),
            ["version_id", v] => installed.version_id = v.to_string(),
            [status, package, version] if status.trim() == "ii" => {
                installed.packages.insert(package.to_string(), version.to_string());
            }
            _ => {}
        }
    }
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
    fn the_command_asks_for_the_given_packages() {
        let c = command(&["prometheus", "prometheus-alertmanager"]);
        assert!(
            c.contains("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\n' prometheus prometheus-alertmanager"),
            "{c}"
        );
    }
}
