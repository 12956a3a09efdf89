//! Ansible: a pinned ansible-core and Mitogen in obsctl's own venv
//! (installed on first use, no manual step), and `ansible-playbook` runs
//! whose output is turned into progress (tasks, hosts) and a recap (changed
//! tasks, failures).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Phase, Result};
use crate::report::Printer;
use crate::state::workspace::Workspace;
use crate::tools::process::{Child, RunError};

pub const ANSIBLE_CORE: &str = "2.19.14";
/// Mitogen for Ansible: one persistent Python interpreter per host over one
/// SSH connection, instead of a new one per task (docs/performance.md). obsctl
/// runs site.yml with its `mitogen_free` strategy; the playbook itself still
/// says `free`, so it runs unchanged without Mitogen.
pub const MITOGEN: &str = "0.3.54";
/// The strategy obsctl runs site.yml with (site.yml reads it from
/// OBSCTL_ANSIBLE_STRATEGY).
pub const STRATEGY: &str = "mitogen_free";

pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    pub fn location(ws: &Workspace) -> Venv {
        Venv { dir: ws.tools_dir().join("venv") }
    }

    pub fn bin(&self, tool: &str) -> PathBuf {
        self.dir.join("bin").join(tool)
    }

    fn marker(&self) -> PathBuf {
        self.dir.join(format!("obsctl-ansible-core-{ANSIBLE_CORE}-mitogen-{MITOGEN}"))
    }

    /// Mitogen's strategy plugins, in the venv's site-packages.
    pub fn strategy_plugins(&self) -> Result<PathBuf> {
        let lib = self.dir.join("lib");
        std::fs::read_dir(&lib)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("site-packages/ansible_mitogen/plugins/strategy"))
            .find(|p| p.is_dir())
            .ok_or_else(|| {
                Error::prerequisite(format!("Mitogen's strategy plugins are missing from {}", lib.display()))
                    .hint(format!("remove the venv and let obsctl reinstall it: rm -rf {}", self.dir.display()))
            })
    }

    pub fn ready(&self) -> bool {
        self.marker().is_file() && self.bin("ansible-playbook").is_file()
    }

    /// What `ensure` says when it installs (the phase `ansible`'s step).
    pub fn installing(&self) -> String {
        format!("installing ansible-core {ANSIBLE_CORE} and Mitogen {MITOGEN} into {} (once)", self.dir.display())
    }

    /// Creates the venv with the pinned ansible-core and Mitogen unless it
    /// is there (`tools::venv`); `announce` gets `installing()` when it does
    /// (the caller's printer, or nothing from a background thread that
    /// announced it before).
    pub fn ensure(&self, announce: impl FnOnce(&str), log: &Path) -> Result<()> {
        let packages = [format!("ansible-core=={ANSIBLE_CORE}"), format!("mitogen=={MITOGEN}")];
        crate::tools::venv::Pinned {
            dir: &self.dir,
            packages: &packages,
            marker: &self.marker(),
            marker_text: ANSIBLE_CORE,
            what: "ansible-core",
            installing: &self.installing(),
        }
        .ensure(|| self.ready(), announce, log)
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Recap {
    pub hosts: BTreeMap<String, HostRecap>,
    pub tasks: usize,
    /// `host: task` of every task that reported a change.
    pub changed_tasks: Vec<String>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HostRecap {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
}

impl Recap {
    pub fn changed(&self) -> u32 {
        self.hosts.values().map(|h| h.changed).sum()
    }
}

pub struct Playbook<'a> {
    pub ws: &'a Workspace,
    pub venv: Venv,
    pub inventory: PathBuf,
    pub log: PathBuf,
    /// Task events (JSON lines) written by ansible/callback_plugins/obsctl_events.py.
    pub events: PathBuf,
    pub printer: &'a Printer,
    pub redact: Vec<String>,
    pub env_name: &'a str,
}

impl Playbook<'_> {
    pub fn run(&self, playbook: &str, extra: &[&str]) -> Result<Recap> {
        let ansible = self.ws.ansible_dir();
        let printer = self.printer;
        let mut recap = Recap::default();
        let mut in_recap = false;
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut current_task = String::new();
        let strategy_plugins = self.venv.strategy_plugins()?;
        let run = Child::new(self.venv.bin("ansible-playbook").to_string_lossy(), Phase::Ansible)
            .arg("-i")
            .arg(&self.inventory)
            .arg(ansible.join(playbook))
            .args(extra.iter().copied())
            .env("ANSIBLE_CONFIG", ansible.join("ansible.cfg"))
            .env("ANSIBLE_STRATEGY_PLUGINS", &strategy_plugins)
            .env("OBSCTL_ANSIBLE_STRATEGY", STRATEGY)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_LOCAL_TEMP", self.ws.tools_dir().join("ansible-tmp"))
            .env("OBSCTL_ANSIBLE_EVENTS", &self.events)
            .env("PATH", path_with(&self.venv.dir.join("bin")))
            .cwd(&ansible)
            .log(&self.log)
            .redact(&self.redact)
            .grace(Duration::from_secs(20))
            .what(format!("ansible-playbook {playbook}"))
            .run(|line| {
                printer.child_line(line);
                if let Some(task) = line.strip_prefix("TASK [").and_then(|l| l.split(']').next()) {
                    recap.tasks += 1;
                    current_task = task.to_string();
                    printer.progress(&format!("task {}: {task}", recap.tasks));
                } else if line.starts_with("PLAY RECAP") {
                    in_recap = true;
                } else if in_recap {
                    if let Some((host, h)) = parse_recap_line(line) {
                        recap.hosts.insert(host, h);
                    }
                } else if line.starts_with("fatal:") || line.starts_with("failed:") {
                    failures.push((current_task.clone(), truncate(line, 400)));
                }
            });
        recap.changed_tasks = changed_tasks(&self.events);
        let failures = name_failed_tasks(failures, &self.events);
        let done = match run {
            Ok(_) => return Ok(recap),
            Err(RunError::Exit(done)) => done,
            Err(other) => return Err(other.into()),
        };
        {
            let failed_hosts: Vec<String> =
                recap.hosts.iter().filter(|(_, h)| h.failed > 0 || h.unreachable > 0).map(|(n, _)| n.clone()).collect();
            let mut details = failures;
            if details.is_empty() {
                details = done.last_lines(12);
            }
            // Hosts that only dropped off the network are a different failure
            // (exit code, and worth one retry) from tasks that failed.
            let unreachable: Vec<&str> =
                recap.hosts.iter().filter(|(_, h)| h.unreachable > 0 && h.failed == 0).map(|(n, _)| n.as_str()).collect();
            let only_unreachable = !failed_hosts.is_empty() && recap.hosts.values().all(|h| h.failed == 0);
            let (phase, what, hint) = if only_unreachable {
                (
                    Phase::Hosts,
                    format!("{} stopped answering SSH during `ansible-playbook {playbook}` (unreachable)", unreachable.join(", ")),
                    format!(
                        "is the machine up? `obsctl status --env {0}`; when it is back (or gone: `up` replaces a lab machine \
                         that is not running), run `obsctl up --env {0}` again",
                        self.env_name
                    ),
                )
            } else {
                let what = if failed_hosts.is_empty() {
                    format!("`ansible-playbook {playbook}` exited with status {}", done.code)
                } else {
                    format!("ansible-playbook {playbook} failed on {}", failed_hosts.join(", "))
                };
                let hint = format!(
                    "fix the cause above, then run `obsctl up --env {}` again (Terraform is not re-applied when nothing changed)",
                    self.env_name
                );
                (Phase::Ansible, what, hint)
            };
            Err(Error::new(phase, what).details(details).log(&self.log).hint(hint))
        }
    }
}

/// `task [NAME] fatal: [HOST]: …` for each failure line. Under the free
/// strategy the last `TASK [..]` header printed is often another host's task,
/// so the name comes from the events file (the callback writes each failed
/// task with its host), in order per host; the header is the fallback.
fn name_failed_tasks(lines: Vec<(String, String)>, events: &Path) -> Vec<String> {
    let mut failed: BTreeMap<String, std::collections::VecDeque<String>> = BTreeMap::new();
    for v in std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["status"] == "failed")
    {
        if let (Some(host), Some(task)) = (v["host"].as_str(), v["task"].as_str()) {
            failed.entry(host.to_string()).or_default().push_back(task.to_string());
        }
    }
    lines
        .into_iter()
        .map(|(header, line)| {
            let host = line.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(h, _)| h.to_string());
            let task = host.and_then(|h| failed.get_mut(&h).and_then(|q| q.pop_front())).unwrap_or(header);
            format!("task [{task}] {line}")
        })
        .collect()
}

/// Tasks that reported a change, from the events file.
fn changed_tasks(events: &Path) -> Vec<String> {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["changed"] == true)
        .map(|v| format!("{}: {}", v["host"].as_str().unwrap_or("?"), v["task"].as_str().unwrap_or("?")))
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// `mon-1 : ok=12 changed=0 unreachable=0 failed=0 skipped=3 …`
fn parse_recap_line(line: &str) -> Option<(String, HostRecap)> {
    let (host, rest) = line.split_once(" : ")?;
    let mut h = HostRecap::default();
    let mut seen = false;
    for part in rest.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        seen = true;
        match k {
            "ok" => h.ok = v,
            "changed" => h.changed = v,
            "unreachable" => h.unreachable = v,
            "failed" => h.failed = v,
            _ => {}
        }
    }
    seen.then(|| (host.trim().to_string(), h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_lines() {
        let (host, h) = parse_recap_line(
            "mon-1                      : ok=12   changed=3    unreachable=0    failed=1    skipped=2    rescued=0    ignored=0",
        )
        .unwrap();
        assert_eq!(host, "mon-1");
        assert_eq!((h.ok, h.changed, h.failed), (12, 3, 1));
        assert!(parse_recap_line("nothing here").is_none());
    }

    #[test]
    fn a_failure_is_named_by_its_own_task_not_the_last_header() {
        let dir = std::env::temp_dir().join(format!("obsctl-ansible-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let events = dir.join("events.jsonl");
        std::fs::write(
            &events,
            concat!(
                r#"{"host":"mon-1","task":"node_exporter : Enable and start node_exporter","status":"failed"}"#,
                "\n",
                r#"{"host":"app-1","task":"app : Enable and start orders-api","status":"ok"}"#,
                "\n"
            ),
        )
        .unwrap();
        // Under the free strategy app-1's header came last before mon-1's failure.
        let named = name_failed_tasks(
            vec![
                ("app : Enable and start orders-api".into(), "fatal: [mon-1]: FAILED! => {}".into()),
                ("app : Enable and start orders-api".into(), "fatal: [app-1]: FAILED! => {}".into()),
            ],
            &events,
        );
        assert_eq!(
            named,
            [
                "task [node_exporter : Enable and start node_exporter] fatal: [mon-1]: FAILED! => {}",
                "task [app : Enable and start orders-api] fatal: [app-1]: FAILED! => {}",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
