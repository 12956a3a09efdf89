//! What the hosts were converged to, `.obsctl/<env>/converged.json`, next to
//! the deployment record, and the quick check that they still are.
//!
//! After every successful Ansible run `up` records:
//! - the **input digest**: SHA-256 of everything that decides the
//!   configuration: the whole `ansible/` tree (roles, templates, plugins), the
//!   rendered inventory (variables, hosts, groups), the environment file, the
//!   pinned ansible-core and obsctl versions, the contents of every controller
//!   file the inventory names (the application binary, credentials, keys) and
//!   every file under `.obsctl/<env>/tls/` and `.obsctl/<env>/secrets/`
//!   (hashed, never printed or stored);
//! - per host, **what Ansible put in place**, taken from its own task results
//!   (the `managed` field of ansible/callback_plugins/obsctl_events.py): files
//!   with their checksums, the directories it manages, services it started,
//!   packages it installed; then one SSH look at each host adds the installed
//!   versions, every file in the directories Ansible manages under /etc (which
//!   covers files whose results `no_log` hides), the mode and owner of every
//!   managed file and directory, every unit file, drop-in, override or mask
//!   of each managed service in /etc/systemd/system and /run/systemd/system,
//!   and the machine id.
//!
//! The record is written only once the run verified the hosts. A run that
//! fails after the hosts were compared (Ansible, exit 40; verify, exit 50)
//! replaces it with a note of the failure, so the next `up` takes the full
//! path (`Converged::mark_failed`).
//!
//! `up` skips Ansible only when Terraform planned nothing, the digest is the
//! same, and one SSH round trip per host (all in parallel) finds exactly the
//! recorded state. Anything else (a mismatch, an unreachable host, a missing
//! or unreadable record) means the full Ansible run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::state::workspace::{write_record, StateDir};

const FORMAT: u32 = 2;

/// What Ansible's task results say it put in place on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    /// Path → SHA-1 reported by the copy/template result (None: hidden by no_log).
    pub files: BTreeMap<String, Option<String>>,
    /// Results hidden by no_log whose destination is not a literal path: the
    /// listing of the managed directories under /etc must cover them.
    pub hidden_files: u32,
    /// Directories Ansible manages (file state=directory).
    pub dirs: BTreeSet<String>,
    /// Services Ansible started → whether it also enabled them.
    pub services: BTreeMap<String, bool>,
    pub packages: BTreeSet<String>,
    /// Results the callback could not read: the host cannot be checked quickly.
    pub unreadable: u32,
}

impl Managed {
    /// Services the host must run (active, enabled) whatever the results
    /// named: one started only by a shell restart handler (Prometheus',
    /// Alertmanager's) is in none, and would never be checked (issue 29).
    pub fn require_services<'a>(&mut self, units: impl IntoIterator<Item = &'a str>) {
        for unit in units {
            self.services.insert(unit.to_string(), true);
        }
    }

    /// Directories whose every file is checked (configuration lives in /etc;
    /// log and data directories change by themselves; the user's file_sd
    /// folders are the user's, whatever is in them).
    fn listed_dirs(&self) -> impl Iterator<Item = &String> {
        let file_sd = format!("{}/", crate::model::environment::user::FILE_SD_DIR);
        self.dirs.iter().filter(move |d| d.starts_with("/etc/") && !d.starts_with(&file_sd))
    }
}

/// Per host, the paths the run removed (file state=absent that changed):
/// what obsctl did not write in the directories it owns.
pub fn removed_from_events(events: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    removed_from_lines(&text)
}

fn removed_from_lines(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v["changed"] == true) {
        let (Some(host), Some(items)) = (v["host"].as_str(), v["managed"].as_array()) else { continue };
        for item in items.iter().filter(|i| i["kind"] == "absent" && i["changed"] != false) {
            if let Some(p) = item["path"].as_str() {
                hosts.entry(host.to_string()).or_default().push(p.to_string());
            }
        }
    }
    hosts
}

/// Per host, from the events file of one ansible-playbook run.
pub fn managed_from_events(events: &Path) -> BTreeMap<String, Managed> {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    managed_from_lines(&text)
}

fn managed_from_lines(text: &str) -> BTreeMap<String, Managed> {
    let mut hosts: BTreeMap<String, Managed> = BTreeMap::new();
    for v in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let (Some(host), Some(items)) = (v["host"].as_str(), v["managed"].as_array()) else { continue };
        let m = hosts.entry(host.to_string()).or_default();
        for item in items {
            let path = item["path"].as_str().map(String::from);
            match (item["kind"].as_str(), path) {
                (Some("file"), Some(p)) => {
                    m.files.insert(p, item["checksum"].as_str().map(String::from));
                }
                (Some("file"), None) => m.hidden_files += 1,
                (Some("directory"), Some(p)) => {
                    m.dirs.insert(p.trim_end_matches('/').to_string());
                }
                (Some("absent"), _) => {}
                (Some("service"), _) if item["name"].is_string() => {
                    let e = m.services.entry(item["name"].as_str().unwrap_or_default().to_string()).or_default();
                    *e |= item["enabled"] == true;
                }
                (Some("packages"), _) => {
                    m.packages.extend(item["names"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(String::from)))
                }
                _ => m.unreadable += 1,
            }
        }
    }
    hosts
}

/// A service as systemd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub active: String,
    pub enabled: String,
}

/// One look at a host: what the check command read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    pub machine_id: String,
    /// Path → SHA-1: the managed files, every file of the managed /etc
    /// directories and every unit file or drop-in of a managed service.
    pub files: BTreeMap<String, String>,
    /// Path → "MODE USER:GROUP" (octal mode as `stat %a` prints it) of the
    /// managed files, the entries of the managed /etc directories and every
    /// managed directory itself.
    #[serde(default)]
    pub modes: BTreeMap<String, String>,
    pub services: BTreeMap<String, Service>,
    /// Installed packages ("ii") → version.
    pub packages: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRecord {
    pub managed: Managed,
    pub expected: Observed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Converged {
    pub format: u32,
    pub digest: String,
    /// When it was recorded (UTC, RFC 3339).
    pub at: String,
    pub hosts: BTreeMap<String, HostRecord>,
}

/// What a failed run leaves in place of the record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Failed {
    format: u32,
    failed: String,
    at: String,
}

fn path(state: &StateDir) -> PathBuf {
    state.dir.join("converged.json")
}

impl Converged {
    pub fn new(digest: &str, hosts: BTreeMap<String, HostRecord>) -> Converged {
        Converged { format: FORMAT, digest: digest.to_string(), at: crate::report::timestamp(), hosts }
    }

    /// The record, or why there is none to trust.
    pub fn load(state: &StateDir) -> std::result::Result<Converged, String> {
        let p = path(state);
        let text = std::fs::read_to_string(&p).map_err(|_| "no record of a converged configuration".to_string())?;
        if let Ok(f) = serde_json::from_str::<Failed>(&text) {
            return Err(format!("the last run failed ({}, {}): the hosts are not known to be as declared", f.failed, f.at));
        }
        let c: Converged = serde_json::from_str(&text).map_err(|e| format!("{} is unreadable: {e}", p.display()))?;
        if c.format != FORMAT {
            return Err(format!("{} has format {}", p.display(), c.format));
        }
        Ok(c)
    }

    pub fn save(&self, state: &StateDir) -> Result<()> {
        write_record(&path(state), self)
    }

    /// A run that failed after the hosts were compared: the record says so
    /// (`why`, e.g. "verify: exit 50"), and the next `up` takes the full path.
    pub fn mark_failed(state: &StateDir, why: &str) -> Result<()> {
        let f = Failed { format: FORMAT, failed: why.to_string(), at: crate::report::timestamp() };
        write_record(&path(state), &f)
    }

    /// Before Ansible changes anything, and on destroy: no record is better than a stale one.
    pub fn forget(state: &StateDir) {
        let _ = std::fs::remove_file(path(state));
    }
}

/// The `stat` format of the check command's mode lines.
const STAT: &str = r"'mode\t%a\t%U:%G\t%n\n'";
/// Where systemd reads units and drop-ins that no package installed.
const UNIT_DIRS: &str = "/etc/systemd/system /run/systemd/system";

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// systemctl show's blocks (one per unit as asked, each ended by an empty line) in is-active/is-enabled words.
const SERVICES_AWK: &str = r#"BEGIN { n = split(names, u, " ") } /^ActiveState=/ { a = substr($0, 13) } /^UnitFileState=/ { e = substr($0, 15) } /^$/ && ++i <= n { printf "service\t%s\t%s\t%s\n", u[i], a, e; a = ""; e = "" }"#;

/// The one shell command that reads everything `managed` names on a host, in a few processes whatever
/// their number (the fast path runs it on every host at once): one `find` for the listed directories,
/// one each for the unit files and the drop-ins of the services, one `systemctl show`.
pub fn check_command(m: &Managed) -> String {
    let mut cmd = String::from("mid=; read -r mid </etc/machine-id 2>/dev/null; printf 'machine-id\\t%s\\n' \"$mid\"; ");
    let quoted = |list: &mut dyn Iterator<Item = &String>| list.map(|p| quote(p)).collect::<Vec<_>>().join(" ");
    let (files, listed, dirs) = (quoted(&mut m.files.keys()), quoted(&mut m.listed_dirs()), quoted(&mut m.dirs.iter()));
    if !files.is_empty() {
        cmd += &format!("sha1sum -- {files} 2>/dev/null; stat --printf={STAT} -- {files} 2>/dev/null; ");
    }
    // Per listed directory (depth counts from each): each regular file's SHA-1, each entry's mode and owner.
    if !listed.is_empty() {
        cmd += &format!("find {listed} -maxdepth 1 -mindepth 1 \\( -type f -exec sha1sum -- {{}} + \\) , -exec stat --printf={STAT} -- {{}} + 2>/dev/null; ");
    }
    if !dirs.is_empty() {
        cmd += &format!("stat --printf={STAT} -- {dirs} 2>/dev/null; ");
    }
    // Unit files and drop-ins where a hand puts them: an override or a mask (a link to /dev/null), a drop-in.
    if !m.services.is_empty() {
        let any = |f: &dyn Fn(&str) -> String| m.services.keys().map(|n| f(n)).collect::<Vec<_>>().join(" -o ");
        let units = any(&|n| format!("-name {}", quote(&format!("{n}.service"))));
        let dropins = any(&|n| format!("-path {}", quote(&format!("*/{n}.service.d/*"))));
        cmd += &format!(
            "find {UNIT_DIRS} -maxdepth 1 \\( {units} \\) \\( -type f -o -type l \\) -exec sha1sum -- {{}} + 2>/dev/null; \
             find {UNIT_DIRS} -mindepth 2 -maxdepth 2 \\( {dropins} \\) -exec sha1sum -- {{}} + 2>/dev/null; \
             {{ systemctl show -p ActiveState -p UnitFileState {} 2>/dev/null; echo; }} | awk -v names={} '{SERVICES_AWK}'; ",
            quoted(&mut m.services.keys()),
            quote(&m.services.keys().cloned().collect::<Vec<_>>().join(" "))
        );
    }
    if !m.packages.is_empty() {
        let f = "'package\\t${db:Status-Abbrev}\\t${Package}\\t${Version}\\n'";
        cmd += &format!("dpkg-query -W -f={f} {} 2>/dev/null; ", quoted(&mut m.packages.iter()));
    }
    cmd + "echo end-of-check"
}

/// Parses the check command's output; None when it did not run to its end.
pub fn parse_observed(text: &str) -> Option<Observed> {
    let mut o = Observed::default();
    let mut complete = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["machine-id", id] => o.machine_id = id.trim().to_string(),
            ["service", name, active, enabled] => {
                o.services.insert(name.to_string(), Service { active: active.to_string(), enabled: enabled.to_string() });
            }
            ["package", status, name, version] if status.trim() == "ii" => {
                o.packages.insert(name.to_string(), version.to_string());
            }
            ["mode", mode, owner, path] => {
                o.modes.insert(path.to_string(), format!("{mode} {owner}"));
            }
            ["end-of-check"] => complete = true,
            [line] => {
                if let Some((sum, p)) = line.split_once("  ") {
                    if sum.len() == 40 && sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                        o.files.insert(p.to_string(), sum.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    complete.then_some(o)
}

/// The differences between the recorded and the observed state of a host,
/// in words; empty when they match.
pub fn compare(m: &Managed, expected: &Observed, actual: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    if expected.machine_id != actual.machine_id {
        out.push(format!("machine id {} is not the converged {} (host recreated)", show(&actual.machine_id), show(&expected.machine_id)));
    }
    for (p, sum) in &expected.files {
        match actual.files.get(p) {
            None => out.push(format!("{p} is missing")),
            Some(s) if s != sum => {
                out.push(format!("{p} was changed (sha1 {} instead of {})", &s[..12.min(s.len())], &sum[..12.min(sum.len())]))
            }
            _ => {}
        }
    }
    for (p, mode) in &expected.modes {
        match actual.modes.get(p) {
            Some(m) if m != mode => out.push(format!("{p} has mode and owner {m} (converged: {mode})")),
            None if !expected.files.contains_key(p) => out.push(format!("{p} is missing")),
            _ => {}
        }
    }
    let known = |p: &String| expected.files.contains_key(p) || expected.modes.contains_key(p);
    let unknown: BTreeSet<&String> = actual.files.keys().chain(actual.modes.keys()).filter(|p| !known(p)).collect();
    for p in unknown {
        out.push(format!("{p} was not there after the last configuration"));
    }
    for (name, enabled) in &m.services {
        let s = actual.services.get(name).cloned().unwrap_or_default();
        if s.active != "active" {
            out.push(format!("service {name} is {} (expected active)", show(&s.active)));
        }
        if *enabled && s.enabled != "enabled" {
            out.push(format!("service {name} is {} (expected enabled)", show(&s.enabled)));
        }
    }
    for (name, version) in &expected.packages {
        match actual.packages.get(name) {
            None => out.push(format!("package {name} is not installed")),
            Some(v) if v != version => out.push(format!("package {name} is {v} (converged: {version})")),
            _ => {}
        }
    }
    out
}

fn show(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// The state to record for a host just configured: what was observed, after
/// checking it agrees with what Ansible's results say. Err: why not.
pub fn expected_state(m: &Managed, observed: &Observed) -> std::result::Result<Observed, String> {
    if m.unreadable > 0 {
        return Err(format!("{} task results could not be read", m.unreadable));
    }
    if m.hidden_files > 0 && m.listed_dirs().next().is_none() {
        return Err(format!("{} files hidden by no_log lie outside any directory Ansible manages under /etc", m.hidden_files));
    }
    if observed.machine_id.is_empty() {
        return Err("no machine id".into());
    }
    let mut problems: Vec<String> = Vec::new();
    for (p, sum) in &m.files {
        match (sum, observed.files.get(p)) {
            (_, None) => problems.push(format!("{p} is missing")),
            (Some(sum), Some(s)) if s != sum => problems.push(format!("{p} differs from what Ansible wrote")),
            _ => {}
        }
    }
    for p in &m.packages {
        if !observed.packages.contains_key(p) {
            problems.push(format!("package {p} is not installed"));
        }
    }
    let mut expected = observed.clone();
    // What is checked of the services is their state, recorded as expected.
    expected.services.clear();
    problems.extend(compare(m, &expected, observed));
    if problems.is_empty() {
        Ok(expected)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &str = r#"{"host": "mon-1", "task": "prometheus : Write prometheus.yml", "status": "ok", "changed": true, "managed": [{"kind": "file", "path": "/etc/prometheus/prometheus.yml", "checksum": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}
{"host": "mon-1", "task": "prometheus : Create the rules directory", "status": "ok", "changed": false, "managed": [{"kind": "directory", "path": "/etc/prometheus/rules"}]}
{"host": "mon-1", "task": "alertmanager : secrets", "status": "ok", "changed": false, "managed": [{"kind": "file", "path": null, "checksum": null, "censored": true}]}
{"host": "mon-1", "task": "prometheus : Install", "status": "ok", "changed": false, "managed": [{"kind": "packages", "names": ["prometheus", "promtool"]}]}
{"host": "mon-1", "task": "prometheus : Enable and start Prometheus", "status": "ok", "changed": false, "managed": [{"kind": "service", "name": "prometheus", "enabled": true}]}
{"host": "mon-1", "task": "Restart Prometheus", "status": "ok", "changed": true, "managed": [{"kind": "service", "name": "prometheus", "enabled": null}]}
{"host": "app-1", "task": "app : logs", "status": "ok", "changed": false, "managed": [{"kind": "directory", "path": "/var/log/orders-api"}]}
{"host": "app-1", "task": "Refresh the APT index", "status": "ok", "changed": false}
not json
"#;

    fn observed() -> Observed {
        let text = "machine-id\tm1\n\
                    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  /etc/prometheus/prometheus.yml\n\
                    bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  /etc/prometheus/rules/hosts.rules.yml\n\
                    mode\t644\troot:prometheus\t/etc/prometheus/prometheus.yml\n\
                    mode\t440\troot:prometheus\t/etc/prometheus/rules/hosts.rules.yml\n\
                    mode\t755\troot:prometheus\t/etc/prometheus/rules\n\
                    service\tprometheus\tactive\tenabled\n\
                    package\tii \tprometheus\t2.53.3+ds1-1\n\
                    package\tii \tpromtool\t2.53.3+ds1-1\n\
                    end-of-check\n";
        parse_observed(text).unwrap()
    }

    #[test]
    fn managed_state_comes_from_the_task_results() {
        let hosts = managed_from_lines(EVENTS);
        let m = &hosts["mon-1"];
        assert_eq!(m.files["/etc/prometheus/prometheus.yml"].as_deref(), Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert_eq!(m.hidden_files, 1);
        assert_eq!(m.services.get("prometheus"), Some(&true), "enabled once is enabled");
        assert_eq!(m.packages.iter().collect::<Vec<_>>(), ["prometheus", "promtool"]);
        let cmd = check_command(m);
        assert!(cmd.contains("sha1sum -- '/etc/prometheus/prometheus.yml'"), "{cmd}");
        assert!(cmd.contains("'/etc/prometheus/rules' -maxdepth 1 -mindepth 1"), "{cmd}");
        assert!(cmd.contains("systemctl show") && cmd.contains("dpkg-query") && cmd.ends_with("echo end-of-check"), "{cmd}");
        // A few processes per host, whatever the number of directories and services.
        assert_eq!(cmd.matches("find ").count(), 3, "{cmd}");
        assert_eq!(cmd.matches("systemctl ").count(), 1, "{cmd}");
        // Log directories are not listed (their files change by themselves); their own mode and owner are.
        let app = check_command(&hosts["app-1"]);
        assert!(!app.contains("find '/var/log") && app.contains("-- '/var/log/orders-api'"), "{app}");
        // Modes and owners of the files and directories, and the unit files and drop-ins of each service.
        assert!(cmd.contains(r"stat --printf='mode\t%a\t%U:%G\t%n\n' -- '/etc/prometheus/prometheus.yml'"), "{cmd}");
        assert!(cmd.contains("-name 'prometheus.service'") && cmd.contains("-path '*/prometheus.service.d/*'"), "{cmd}");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_users_file_sd_folders_are_not_listed() {
        let mut m = Managed::default();
        m.dirs.insert("/etc/prometheus/file_sd/nginx".into());
        m.dirs.insert("/etc/prometheus/scrape".into());
        let cmd = check_command(&m);
        assert!(cmd.contains("find '/etc/prometheus/scrape' -maxdepth 1"), "{cmd}");
        assert!(!cmd.contains("'/etc/prometheus/file_sd/nginx' -maxdepth"), "the user's file_sd files are not checked: {cmd}");
    }

    #[test]
    fn what_the_run_removed_is_named_per_host() {
        let events = r#"{"host": "mon-1", "task": "managed_dirs : Remove", "status": "ok", "changed": true, "managed": [{"kind": "absent", "path": "/etc/prometheus/rules/evil.yml"}, {"kind": "absent", "path": "/etc/systemd/system/prometheus.service"}]}
{"host": "app-1", "task": "managed_dirs : Remove", "status": "ok", "changed": false, "managed": [{"kind": "absent", "path": "/etc/x"}]}
"#;
        let removed = removed_from_lines(events);
        assert_eq!(removed.len(), 1, "a task that changed nothing removed nothing: {removed:?}");
        assert_eq!(removed["mon-1"], ["/etc/prometheus/rules/evil.yml", "/etc/systemd/system/prometheus.service"]);
    }

    #[test]
    fn a_cut_off_check_is_no_observation() {
        assert!(parse_observed("machine-id\tm1\n").is_none());
        let o = observed();
        assert_eq!(o.machine_id, "m1");
        assert_eq!(o.files.len(), 2);
        assert_eq!(o.packages["promtool"], "2.53.3+ds1-1");
        assert_eq!(o.services["prometheus"].active, "active");
    }

    #[test]
    fn every_kind_of_drift_is_found() {
        let m = managed_from_lines(EVENTS).remove("mon-1").unwrap();
        let expected = expected_state(&m, &observed()).unwrap();
        assert!(compare(&m, &expected, &observed()).is_empty(), "the converged state matches itself");

        let drift = |f: &dyn Fn(&mut Observed)| {
            let mut o = observed();
            f(&mut o);
            compare(&m, &expected, &o)
        };
        let edited = drift(&|o| {
            o.files.insert("/etc/prometheus/prometheus.yml".into(), "c".repeat(40));
        });
        assert!(edited[0].contains("prometheus.yml was changed"), "{edited:?}");
        assert!(drift(&|o| {
            o.files.remove("/etc/prometheus/rules/hosts.rules.yml");
        })[0]
            .contains("hosts.rules.yml is missing"));
        assert!(drift(&|o| {
            o.files.insert("/etc/prometheus/rules/extra.yml".into(), "d".repeat(40));
        })[0]
            .contains("extra.yml was not there"));
        assert!(drift(&|o| o.services.get_mut("prometheus").unwrap().active = "inactive".into())[0].contains("prometheus is inactive"));
        assert!(drift(&|o| o.services.get_mut("prometheus").unwrap().enabled = "disabled".into())[0].contains("expected enabled"));
        assert!(drift(&|o| {
            o.packages.remove("promtool");
        })[0]
            .contains("promtool is not installed"));
        assert!(drift(&|o| {
            o.packages.insert("prometheus".into(), "2.53.4".into());
        })[0]
            .contains("prometheus is 2.53.4"));
        assert!(drift(&|o| o.machine_id = "m2".into())[0].contains("host recreated"));
        let chmod = drift(&|o| {
            o.modes.insert("/etc/prometheus/rules/hosts.rules.yml".into(), "644 root:prometheus".into());
        });
        assert_eq!(
            chmod,
            ["/etc/prometheus/rules/hosts.rules.yml has mode and owner 644 root:prometheus (converged: 440 root:prometheus)"]
        );
        let chown = drift(&|o| {
            o.modes.insert("/etc/prometheus/rules".into(), "755 nobody:prometheus".into());
        });
        assert!(chown[0].contains("755 nobody:prometheus (converged: 755 root:prometheus)"), "{chown:?}");
        // A mask or a full override of a managed unit, a stray directory: not there after the last configuration.
        let mask = drift(&|o| {
            o.files.insert("/etc/systemd/system/prometheus.service".into(), "d".repeat(40));
            o.modes.insert("/etc/prometheus/rules/sub".into(), "755 root:root".into());
        });
        assert_eq!(mask.len(), 2, "{mask:?}");
        assert!(mask.iter().all(|d| d.contains("was not there after the last configuration")), "{mask:?}");
        assert!(drift(&|o| o.services.clear())[0].contains("prometheus is unknown"));
    }

    /// Issue 29: on a first run only the shell restart handler starts Prometheus, so
    /// no result names it; unless required, one stopped by hand passes for converged.
    #[test]
    fn a_component_service_no_result_named_is_still_checked() {
        let events = r#"{"host": "mon-1", "task": "prometheus : Restart Prometheus and wait until it is ready", "status": "ok", "changed": true}
{"host": "mon-1", "task": "prometheus : Install", "status": "ok", "changed": false, "managed": [{"kind": "packages", "names": ["prometheus"]}]}"#;
        let from_results = managed_from_lines(events).remove("mon-1").unwrap();
        assert!(from_results.services.is_empty(), "{from_results:?}");
        let mut stopped = observed();
        stopped.services.insert("prometheus".into(), Service { active: "inactive".into(), enabled: "enabled".into() });
        let expected = expected_state(&from_results, &observed()).unwrap();
        assert!(compare(&from_results, &expected, &stopped).is_empty(), "the bug: the stopped service is not looked at");
        let mut m = from_results.clone();
        m.require_services(["prometheus"]);
        assert!(check_command(&m).contains("UnitFileState 'prometheus' "), "{}", check_command(&m));
        let expected = expected_state(&m, &observed()).unwrap();
        assert_eq!(compare(&m, &expected, &stopped), ["service prometheus is inactive (expected active)"]);
        stopped.services.insert("prometheus".into(), Service { active: "active".into(), enabled: "disabled".into() });
        assert_eq!(compare(&m, &expected, &stopped), ["service prometheus is disabled (expected enabled)"]);
        // Nor is a host recorded converged while a required service is down.
        stopped.services.get_mut("prometheus").unwrap().active = "failed".into();
        assert!(expected_state(&m, &stopped).unwrap_err().contains("prometheus is failed"));
    }

    #[test]
    fn no_record_when_the_host_disagrees_with_ansible() {
        let m = managed_from_lines(EVENTS).remove("mon-1").unwrap();
        let mut o = observed();
        o.files.insert("/etc/prometheus/prometheus.yml".into(), "e".repeat(40));
        assert!(expected_state(&m, &o).unwrap_err().contains("differs from what Ansible wrote"));
        let mut o = observed();
        o.services.get_mut("prometheus").unwrap().active = "failed".into();
        assert!(expected_state(&m, &o).unwrap_err().contains("expected active"));
        // Files hidden by no_log must lie in a listed directory.
        let mut bare = m.clone();
        bare.dirs.clear();
        assert!(expected_state(&bare, &observed()).unwrap_err().contains("no_log"));
        let mut unread = m;
        unread.unreadable = 1;
        assert!(expected_state(&unread, &observed()).is_err());
    }

    #[test]
    fn the_record_is_saved_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        assert!(Converged::load(&state).unwrap_err().contains("no record"));
        let m = managed_from_lines(EVENTS).remove("mon-1").unwrap();
        let c = Converged {
            format: FORMAT,
            digest: "d".into(),
            at: "now".into(),
            hosts: BTreeMap::from([("mon-1".to_string(), HostRecord { expected: expected_state(&m, &observed()).unwrap(), managed: m })]),
        };
        c.save(&state).unwrap();
        assert_eq!(Converged::load(&state).unwrap(), c);
        // A failed run replaces the record with a note: the next `up` takes the full path, and says why.
        Converged::mark_failed(&state, "verify failed, exit 50").unwrap();
        let why = Converged::load(&state).unwrap_err();
        assert!(why.contains("the last run failed (verify failed, exit 50"), "{why}");
        c.save(&state).unwrap();
        Converged::forget(&state);
        assert!(Converged::load(&state).is_err());
    }
}
