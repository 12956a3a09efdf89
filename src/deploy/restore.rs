//! `obsctl restore`: an archive of `obsctl backup` put back. The archive is
//! checked first (its `.sha256` beside it, every member's SHA-256 against
//! the manifest, nothing more than the manifest lists, the environment it
//! was taken from). Then the controller's state (CA, passwords, SSH key)
//! goes back; a running environment that was brought up with another CA or
//! other passwords is reconfigured with them (`up --only configure --full`).
//! Then the data goes back host by host, each service stopped, filled and
//! started and waited for before the next (rolling), and the environment
//! is verified. On an environment that is not up, only the controller's
//! state goes back: `up` then uses it, and a second `restore` the data.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::UpArgs;
use crate::deploy::backup::{hosts_of, Manifest, Remote, FORMAT, MANIFEST};
use crate::deploy::session::Session;
use crate::error::{Error, IoContext, Phase, Result};
use crate::model::backup::{self, Method, ITEMS};
use crate::model::component::ComponentId;
use crate::state::deployment::Deployment;
use crate::tools::archive;

/// An archive unpacked and checked.
pub struct Opened {
    pub dir: tempfile::TempDir,
    pub manifest: Manifest,
}

/// Unpacks `archive` next to it and checks it against its checksum file and
/// its manifest; `accept_env`: the environment whose archive may be restored
/// here when it is not this one.
pub fn open(archive_path: &Path, env: &str, accept_env: Option<&str>, log: &Path) -> Result<Opened> {
    let sidecar = archive_path.with_extension("tar.sha256");
    let tampered = |what: String| {
        Error::input(format!("{} is not the archive obsctl wrote: {what}; nothing was restored", archive_path.display()))
            .hint("take the archive again from your backup store (and check it there with `sha256sum -c`)")
    };
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let want = text.split_whitespace().next().unwrap_or_default().to_string();
        let got = archive::sha256_file(archive_path)?;
        if want != got {
            return Err(tampered(format!("its SHA-256 is {got}, {} says {want}", sidecar.display())));
        }
    }
    let parent = archive_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = tempfile::Builder::new().prefix(".obsctl-restore-").tempdir_in(parent).with_path("create a folder in", parent)?;
    archive::extract(archive_path, dir.path(), log)?;
    let text = std::fs::read_to_string(dir.path().join(MANIFEST)).map_err(|_| tampered(format!("it has no {MANIFEST}")))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| tampered(format!("its {MANIFEST} is not valid: {e}")))?;
    if manifest.format != FORMAT {
        return Err(Error::input(format!("the archive has format {}, this obsctl reads format {FORMAT}", manifest.format)));
    }
    if manifest.environment != env && accept_env != Some(manifest.environment.as_str()) {
        return Err(Error::input(format!("the archive is a backup of `{}`, not of `{env}`; nothing was restored", manifest.environment))
            .hint(format!("to restore it into `{env}` on purpose, add --accept-env {}", manifest.environment)));
    }
    let listed: BTreeSet<&str> = manifest.members.iter().map(|m| m.file.as_str()).collect();
    for m in &manifest.members {
        let file = dir.path().join(&m.file);
        if m.file.contains("..") || !file.is_file() {
            return Err(tampered(format!("{} is missing", m.file)));
        }
        let got = archive::sha256_file(&file)?;
        if got != m.sha256 {
            return Err(tampered(format!("{} has SHA-256 {got}, the manifest says {}", m.file, m.sha256)));
        }
    }
    for item in ITEMS {
        for f in std::fs::read_dir(dir.path().join(item.name)).into_iter().flatten().flatten() {
            let rel = format!("{}/{}", item.name, f.file_name().to_string_lossy());
            if !listed.contains(rel.as_str()) {
                return Err(tampered(format!("{rel} is not in the manifest")));
            }
        }
    }
    Ok(Opened { dir, manifest })
}

pub enum Outcome {
    /// Not up: the controller's state is back, `up` comes next.
    ControllerOnly { written: Vec<String> },
    /// Up: what went back, per item and host.
    Restored { reconfigured: bool, restored: Vec<String>, silences: usize },
}

/// `archive`: the archive's path as the user named it (for hints);
/// `keep_grafana_db`: leave Grafana's RDS database as it is.
pub fn restore(
    s: &Session,
    opened: &Opened,
    archive_path: &Path,
    key: &Path,
    verify_timeout: u64,
    keep_grafana_db: bool,
) -> Result<Outcome> {
    let p = s.printer;
    let log = s.log("restore.log");
    archive::require_tools()?;
    let running = Deployment::load(&s.state, &s.env.name)?;
    // Grafana's RDS snapshot, before anything is written: it must exist, and
    // a running database is never overwritten.
    let db = crate::deploy::rds::plan_restore(
        s,
        &opened.manifest.snapshots,
        running.is_some(),
        keep_grafana_db,
        &archive_path.display().to_string(),
    )?;
    let t = Instant::now();
    p.phase_start("controller", "decrypting the controller's state");
    let ctl = tempfile::tempdir().with_path("create a folder in", &std::env::temp_dir())?;
    let plain = ctl.path().join("controller.tar");
    archive::decrypt(key, &opened.dir.path().join("controller/controller.tar.age"), &plain, &log)?;
    let files = ctl.path().join("files");
    std::fs::create_dir(&files).with_path("create", &files)?;
    archive::extract(&plain, &files, &log)?;
    let Some(d) = running else {
        // Not up: the keys go back, and the records too when this machine has none (a lost controller).
        let lost = !s.state.tfstate().exists();
        let mut written = Vec::new();
        for f in backup::CONTROLLER_FILES {
            if !lost && (*f == "deployment.json" || *f == "terraform.tfstate") {
                continue;
            }
            written.extend(put_back(&files.join(f), &s.state.dir.join(f), f)?);
        }
        if let Some(r) = &db {
            written.push(crate::deploy::rds::record(s, r)?);
        }
        p.phase_end("controller", true, t.elapsed(), &format!("{} file(s) written", written.len()), json!({ "written": written }));
        return Ok(Outcome::ControllerOnly { written });
    };
    // Up: the CA and passwords go back; the SSH key stays (the hosts trust the current one).
    let mut changed = Vec::new();
    for f in ["tls", "secrets"] {
        for (rel, _) in differing(&files.join(f), &s.state.dir.join(f), f)? {
            changed.push(rel);
        }
    }
    for f in ["tls", "secrets"] {
        put_back(&files.join(f), &s.state.dir.join(f), f)?;
    }
    p.phase_end("controller", true, t.elapsed(), &format!("{} file(s) differed", changed.len()), json!({ "changed": changed }));
    let reconfigured = !changed.is_empty();
    if reconfigured {
        p.info(&format!(
            "the environment ran with another CA or other passwords ({}): configuring it with the restored ones",
            changed.join(", ")
        ));
        crate::deploy::up::up(s, &UpArgs::reconfigure(&s.env.name, verify_timeout))?;
    }
    let env = &s.env;
    let access = crate::state::tls::Access::load(&s.state, &env.name)?;
    let remote = Remote::new(s, &d.contract);
    let mut restored = Vec::new();
    let mut silences = 0;
    for item in ITEMS.iter().filter(|i| i.method != Method::Controller) {
        let members: Vec<_> = opened.manifest.members.iter().filter(|m| m.item == item.name).collect();
        if members.is_empty() {
            continue;
        }
        let t = Instant::now();
        p.phase_start(item.name, item.method.restore());
        let Some(c) = item.component else { continue };
        let unit = env.registry.get(c).unit;
        let targets: Vec<(String, &crate::deploy::backup::Member)> = match item.method {
            // One copy for every replica or peer.
            Method::TsdbSnapshot | Method::AlertmanagerState => members
                .iter()
                .find(|m| m.host.is_some())
                .map(|m| hosts_of(env, &d.contract, c).into_iter().map(|h| (h, *m)).collect())
                .unwrap_or_default(),
            _ => members.iter().filter_map(|m| m.host.clone().filter(|h| d.contract.hosts.contains_key(h)).map(|h| (h, *m))).collect(),
        };
        for (host, m) in targets {
            let local = opened.dir.path().join(&m.file);
            let scratch = remote.scratch(&host)?;
            let file = format!("{scratch}/in");
            remote.send(&host, &local, &file)?;
            let put = match item.method {
                Method::TsdbSnapshot => replace_dir(backup::PROMETHEUS_TSDB, &file),
                Method::AlertmanagerState => {
                    let data = backup::ALERTMANAGER_DATA;
                    format!("tar -xzf {file} -C {data} && chown -R $(stat -c %u:%g {data}) {data}")
                }
                Method::Sqlite => {
                    let path = backup::GRAFANA_DB;
                    format!("mkdir -p $(dirname {path}) && cp {file} {path} && chown $(stat -c %u:%g $(dirname {path})) {path}")
                }
                _ => replace_dir(backup::LOKI_DATA, &file),
            };
            let enabled = env.enabled(c);
            let (stop, start) = if enabled {
                (format!("systemctl stop {unit}"), format!("systemctl start {unit}"))
            } else {
                ("true".to_string(), "true".to_string())
            };
            remote.sh(&host, &format!("set -e; {stop}; {put}; {start}; rm -rf {scratch}"))?;
            if enabled {
                wait_ready(env, &d.contract, &s.state.known_hosts(), &access, c, &host)?;
            }
            restored.push(format!("{} on {host}", item.name));
        }
        if item.method == Method::AlertmanagerState {
            silences =
                restore_silences(env, &d.contract, &s.state.known_hosts(), &access, opened, members.iter().map(|m| m.file.as_str()))?;
        }
        let hosts = restored.iter().filter(|r| r.starts_with(&format!("{} on ", item.name))).count();
        p.phase_end(item.name, true, t.elapsed(), &format!("{hosts} host(s)"), json!({ "hosts": hosts }));
    }
    crate::deploy::verify::verify(s, env, &d.contract, &UpArgs::reconfigure(&env.name, verify_timeout), None)?;
    Ok(Outcome::Restored { reconfigured, restored, silences })
}

fn replace_dir(dir: &str, file: &str) -> String {
    format!("mkdir -p {dir} && o=$(stat -c %u:%g {dir}) && find {dir} -mindepth 1 -delete && tar -xzf {file} -C {dir} && chown -R $o {dir}")
}

/// The silences of the archive that have not ended, created again unless an
/// equal one (matchers, end, comment) is already there.
fn restore_silences<'a>(
    env: &crate::model::environment::Environment,
    contract: &crate::model::contract::Contract,
    known_hosts: &Path,
    access: &crate::state::tls::Access,
    opened: &Opened,
    files: impl Iterator<Item = &'a str>,
) -> Result<usize> {
    let am = crate::tools::alertmanager::Cluster::new(env, contract, known_hosts, access)?;
    let key = |s: &Value| (s["matchers"].to_string(), s["endsAt"].to_string(), s["comment"].to_string());
    let present: BTreeSet<_> = am.raw()?.as_array().into_iter().flatten().filter(|s| s["status"]["state"] != "expired").map(key).collect();
    let mut n = 0;
    for f in files.filter(|f| f.ends_with(".json")) {
        let path = opened.dir.path().join(f);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).with_path("read", &path)?)
            .map_err(|e| Error::input(format!("{f} in the archive is not JSON: {e}")))?;
        for sil in v.as_array().into_iter().flatten().filter(|s| !present.contains(&key(s))) {
            if am.recreate(sil)?.is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Waits until `component` on `host` answers its health path (at most 2 minutes).
fn wait_ready(
    env: &crate::model::environment::Environment,
    contract: &crate::model::contract::Contract,
    known_hosts: &Path,
    access: &crate::state::tls::Access,
    c: ComponentId,
    host: &str,
) -> Result<()> {
    let agent = crate::tools::http::agent_for(contract, known_hosts, access, Duration::from_secs(5))?;
    let Some((_, url)) = crate::tools::http::base_urls(env, contract, c).into_iter().find(|(h, _)| h == host) else { return Ok(()) };
    let url = format!("{url}{}", env.registry.get(c).health_path);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match crate::tools::http::get_ok(&agent, &url) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(Error::new(Phase::Verify, format!("{c} on {host} is not ready 2 minutes after its data was restored: {e}"))
                    .hint(format!(
                        "look at its journal: obsctl ssh --env {} {host} -- journalctl -u {} -n 50",
                        env.name,
                        env.registry.get(c).unit
                    )))
            }
            Err(_) => {
                crate::signals::check()?;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// The files under `from` (a file or a folder) whose bytes differ from those under `to`.
fn differing(from: &Path, to: &Path, rel: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if from.is_dir() {
        for e in std::fs::read_dir(from).with_path("read", from)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            out.extend(differing(&e.path(), &to.join(&name), &format!("{rel}/{name}"))?);
        }
    } else if from.is_file() && std::fs::read(from).ok() != std::fs::read(to).ok() {
        out.push((rel.to_string(), from.to_path_buf()));
    }
    Ok(out)
}

/// Writes the files of `from` that differ over those of `to` (0600, folders
/// 0700); returns what it wrote.
fn put_back(from: &Path, to: &Path, rel: &str) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (name, src) in differing(from, to, rel)? {
        let dst = to.join(Path::new(&name).strip_prefix(rel).unwrap_or(Path::new("")));
        let dst = if dst.as_os_str().is_empty() || name == rel { to.to_path_buf() } else { dst };
        if let Some(dir) = dst.parent() {
            crate::state::workspace::private_dir(dir)?;
        }
        let bytes = std::fs::read(&src).with_path("read", &src)?;
        crate::state::workspace::write_atomic(&dst, &bytes, 0o600)?;
        written.push(name);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::deploy::backup::Member;

    /// An archive of `env` with one member, written as `backup` writes it.
    fn archive(dir: &Path, env: &str) -> PathBuf {
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("grafana-db")).unwrap();
        std::fs::write(root.join("grafana-db/mon-1.db"), b"SQLite").unwrap();
        let m = Manifest {
            format: FORMAT,
            environment: env.into(),
            created: "2026-12-07T07:00:00Z".into(),
            obsctl_version: "0".into(),
            ca_sha256: "x".into(),
            recipient: "age1x".into(),
            members: vec![Member {
                item: "grafana-db".into(),
                host: Some("mon-1".into()),
                file: "grafana-db/mon-1.db".into(),
                sha256: archive::sha256_bytes(b"SQLite"),
                bytes: 6,
            }],
            skipped: vec![],
            snapshots: vec![],
        };
        std::fs::write(root.join(MANIFEST), serde_json::to_string(&m).unwrap()).unwrap();
        let a = dir.join("a.tar");
        let log = dir.join("log");
        archive::create(&a, &root, &[MANIFEST.into(), "grafana-db".into()], &log).unwrap();
        std::fs::write(a.with_extension("tar.sha256"), format!("{}  a.tar\n", archive::sha256_file(&a).unwrap())).unwrap();
        a
    }

    #[test]
    fn an_archive_is_opened_only_when_it_is_whole_and_of_this_environment() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let a = archive(dir.path(), "dev");
        let o = open(&a, "dev", None, &log).unwrap();
        assert_eq!(o.manifest.members.len(), 1);
        // Another environment's archive: refused unless accepted by name.
        let e = open(&a, "staging", None, &log).err().unwrap();
        assert_eq!(e.phase.exit_code(), 10);
        assert!(e.message.contains("backup of `dev`, not of `staging`") && e.hint.unwrap().contains("--accept-env dev"), "{}", e.message);
        assert!(open(&a, "staging", Some("dev"), &log).is_ok());
        assert!(open(&a, "staging", Some("prod"), &log).is_err());
        // The archive's bytes changed: its .sha256 refuses it.
        let mut bytes = std::fs::read(&a).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&a, &bytes).unwrap();
        let e = open(&a, "dev", None, &log).err().unwrap();
        assert!(e.message.contains("SHA-256") && e.message.contains("says"), "{}", e.message);
        // A member changed (and the .sha256 made to match, or gone): its manifest checksum refuses it.
        let root = dir.path().join("root");
        std::fs::write(root.join("grafana-db/mon-1.db"), b"SQLitf").unwrap();
        archive::create(&a, &root, &[MANIFEST.into(), "grafana-db".into()], &log).unwrap();
        std::fs::remove_file(a.with_extension("tar.sha256")).unwrap();
        let e = open(&a, "dev", None, &log).err().unwrap();
        assert!(e.message.contains("grafana-db/mon-1.db has SHA-256"), "{}", e.message);
        // A file the manifest does not list.
        std::fs::write(root.join("grafana-db/mon-1.db"), b"SQLite").unwrap();
        std::fs::write(root.join("grafana-db/extra"), b"x").unwrap();
        archive::create(&a, &root, &[MANIFEST.into(), "grafana-db".into()], &log).unwrap();
        let e = open(&a, "dev", None, &log).err().unwrap();
        assert!(e.message.contains("grafana-db/extra is not in the manifest"), "{}", e.message);
    }

    #[test]
    fn put_back_writes_only_what_differs() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("tls")).unwrap();
        std::fs::write(a.path().join("tls/ca.crt"), "A").unwrap();
        std::fs::write(a.path().join("tls/h.crt"), "H").unwrap();
        std::fs::create_dir_all(b.path().join("tls")).unwrap();
        std::fs::write(b.path().join("tls/h.crt"), "H").unwrap();
        let w = put_back(&a.path().join("tls"), &b.path().join("tls"), "tls").unwrap();
        assert_eq!(w, vec!["tls/ca.crt"]);
        assert_eq!(std::fs::read_to_string(b.path().join("tls/ca.crt")).unwrap(), "A");
        assert!(differing(&a.path().join("tls"), &b.path().join("tls"), "tls").unwrap().is_empty());
        std::fs::write(a.path().join("f"), "x").unwrap();
        assert_eq!(put_back(&a.path().join("f"), &b.path().join("f"), "f").unwrap(), vec!["f"]);
        assert_eq!(std::fs::read_to_string(b.path().join("f")).unwrap(), "x");
    }
}
