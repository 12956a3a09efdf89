//! `obsctl backup`: one dated, self-describing archive of what an
//! environment cannot re-create from the repository (the list is
//! `model::backup::ITEMS`): `obsctl-backup-<env>-<time>.tar` holding
//! `manifest.json` (environment, time, the CA's fingerprint, every member
//! with its SHA-256) and one folder per item, with the archive's own
//! SHA-256 beside it (`<archive>.sha256`, `sha256sum -c` format).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::deploy::session::{deployed, secs, Session};
use crate::error::{Error, IoContext, Phase, Result};
use crate::model::backup::{self, Item, Method, ITEMS};
use crate::model::component::ComponentId;
use crate::model::contract::Contract;
use crate::model::environment::{Environment, StateBackend};
use crate::tools::archive;
use crate::tools::ssh::HostRef;

pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// Where members wait on a host while they are copied.
const REMOTE_DIR: &str = "/var/tmp/obsctl-backup";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub environment: String,
    /// RFC 3339, UTC: when the backup started (the TSDB snapshot is a little later).
    pub created: String,
    pub obsctl_version: String,
    /// SHA-256 of the environment CA's certificate (DER).
    pub ca_sha256: String,
    /// The age recipient the controller's state is encrypted for.
    pub recipient: String,
    pub members: Vec<Member>,
    /// Items with nothing to take, and why.
    pub skipped: Vec<String>,
    /// Items kept outside the archive: Grafana's RDS snapshot (absent from
    /// archives of environments without one, and of obsctl before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<crate::deploy::rds::SnapshotRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub item: String,
    pub host: Option<String>,
    /// Path inside the archive.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The hosts of a deployment, reached over SSH as `up` reaches them.
pub struct Remote<'a> {
    pub contract: &'a Contract,
    pub key: PathBuf,
    pub options: Vec<String>,
}

impl<'a> Remote<'a> {
    pub fn new(s: &Session, contract: &'a Contract) -> Remote<'a> {
        Remote {
            contract,
            key: contract.ssh.private_key_file.clone(),
            options: crate::tools::ssh::contract_options(contract, &s.state.known_hosts()),
        }
    }

    fn host(&self, name: &str) -> Result<HostRef<'_>> {
        let h = self.contract.hosts.get(name).ok_or_else(|| Error::internal(format!("no host {name} in the contract")))?;
        Ok(HostRef { addr: &h.address, port: h.ssh_port, user: &h.ssh_user, key: &self.key })
    }

    /// Runs `script` as root on `host` (through sudo for another login user).
    pub fn sh(&self, host: &str, script: &str) -> Result<String> {
        let h = self.host(host)?;
        let cmd = if h.user == "root" { script.to_string() } else { format!("sudo -n sh -c {}", quote(script)) };
        crate::tools::ssh::run(h.addr, h.port, h.user, h.key, &self.options, &cmd)
            .map_err(|e| Error::new(Phase::Hosts, format!("{host}: {e}")).hint("check the host: obsctl status --env <env>"))
    }

    pub fn fetch(&self, host: &str, remote: &str, local: &Path) -> Result<()> {
        let h = self.host(host)?;
        crate::tools::ssh::copy(&h, &self.options, local, remote, false).map_err(|e| Error::new(Phase::Hosts, format!("{host}: {e}")))
    }

    pub fn send(&self, host: &str, local: &Path, remote: &str) -> Result<()> {
        let h = self.host(host)?;
        crate::tools::ssh::copy(&h, &self.options, local, remote, true).map_err(|e| Error::new(Phase::Hosts, format!("{host}: {e}")))
    }

    /// A fresh private folder on `host` that its login user can copy to and from.
    pub fn scratch(&self, host: &str) -> Result<&'static str> {
        let user = &self.contract.hosts[host].ssh_user;
        self.sh(host, &format!("rm -rf {REMOTE_DIR} && install -d -m 700 -o {user} {REMOTE_DIR}"))?;
        Ok(REMOTE_DIR)
    }

    pub fn login_user(&self, host: &str) -> &str {
        &self.contract.hosts[host].ssh_user
    }
}

/// Single quotes for sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The hosts of `contract` whose roles run `component`.
pub fn hosts_of(env: &Environment, contract: &Contract, component: ComponentId) -> Vec<String> {
    contract.hosts.iter().filter(|(_, h)| h.runs(&env.registry, component)).map(|(n, _)| n.clone()).collect()
}

/// The key that encrypts the controller's state: `--key`, else the default
/// outside the checkout. A key inside `.obsctl/` is refused: it would be
/// lost with what it protects.
pub fn key_path(s: &Session, key: Option<&Path>) -> Result<PathBuf> {
    let key = match key {
        Some(k) => k.to_path_buf(),
        None => archive::default_key(&s.env.name)
            .ok_or_else(|| Error::input("no HOME or XDG_CONFIG_HOME to put the backup key in").hint("name one with --key FILE"))?,
    };
    let abs = if key.is_absolute() { key } else { std::env::current_dir().with_path("read", Path::new("."))?.join(key) };
    if abs.starts_with(s.ws.tools_dir()) {
        return Err(Error::input(format!("the backup key {} is inside .obsctl/, which the backup protects", abs.display()))
            .hint("keep it elsewhere, e.g. --key ~/.config/obsctl/backup.agekey, and a copy in your password manager"));
    }
    Ok(abs)
}

pub struct Taken {
    pub archive: PathBuf,
    pub manifest: Manifest,
    pub key_created: bool,
    pub key: PathBuf,
    pub bytes: u64,
}

/// The items `--only` names (the controller's state always), checked
/// against the list; empty: every item.
pub fn chosen(only: &[String]) -> Result<Vec<&'static Item>> {
    let names: Vec<&str> = ITEMS.iter().map(|i| i.name).collect();
    if let Some(bad) = only.iter().find(|o| !names.contains(&o.as_str())) {
        return Err(Error::input(format!("--only {bad}: no such item; the items are {}", names.join(", ")))
            .hint("e.g. obsctl backup --env <env> --only grafana-rds-snapshot"));
    }
    Ok(ITEMS.iter().filter(|i| only.is_empty() || i.method == Method::Controller || only.iter().any(|o| o == i.name)).collect())
}

/// Takes the backup into `to` (created if needed); `only`: the items
/// `--only` names (empty: all).
pub fn backup(s: &Session, to: &Path, key: Option<&Path>, only: &[String]) -> Result<Taken> {
    let p = s.printer;
    let chosen = chosen(only)?;
    archive::require_tools()?;
    let (d, env) = deployed(&s.state, &s.env)?;
    let key = key_path(s, key)?;
    let log = s.log("backup.log");
    let (recipient, key_created) = archive::recipient(&key, true, &log)?;
    let now = time::OffsetDateTime::now_utc();
    let created = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let stamp = now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default();
    let rds_stamp = now.format(time::macros::format_description!("[year][month][day][hour][minute][second]")).unwrap_or_default();
    let name = format!("obsctl-backup-{}-{stamp}", env.name);
    crate::state::workspace::private_dir(to)?;
    let work = tempfile::Builder::new().prefix(".obsctl-backup-").tempdir_in(to).with_path("create a folder in", to)?;
    let root = work.path();
    let access = crate::state::tls::Access::load(&s.state, &env.name)?;
    let ca_sha256 = archive::sha256_bytes(&crate::state::tls::ca_der(&s.state.tls().ca_cert())?);
    let remote = Remote::new(s, &d.contract);
    let mut members = Vec::new();
    let mut skipped = Vec::new();
    let mut snapshots = Vec::new();
    for item in ITEMS {
        if !chosen.iter().any(|c| c.name == item.name) {
            skipped.push(format!("{}: not among --only", item.name));
            continue;
        }
        let t = Instant::now();
        p.phase_start(item.name, item.what);
        if item.method == Method::RdsSnapshot {
            let n = match crate::deploy::rds::not_applicable(&env) {
                Some(why) => {
                    skipped.push(why);
                    0
                }
                None => {
                    snapshots.push(crate::deploy::rds::take(s, &env, &rds_stamp, &name)?);
                    1
                }
            };
            p.phase_end(item.name, true, t.elapsed(), &format!("{n} snapshot(s)"), json!({ "snapshots": n }));
            continue;
        }
        let before = members.len();
        take(s, &env, &remote, &access, item, root, &recipient, &log, &mut members, &mut skipped)?;
        let n = members.len() - before;
        p.phase_end(item.name, true, t.elapsed(), &format!("{n} file(s)"), json!({ "files": n }));
    }
    let manifest = Manifest {
        format: FORMAT,
        environment: env.name.clone(),
        created,
        obsctl_version: env!("CARGO_PKG_VERSION").into(),
        ca_sha256,
        recipient,
        members,
        skipped,
        snapshots,
    };
    std::fs::write(root.join(MANIFEST), crate::error::to_json_pretty(&manifest)?).with_path("write", &root.join(MANIFEST))?;
    let archive_path = to.join(format!("{name}.tar"));
    let mut entries = vec![MANIFEST.to_string()];
    // An item with nothing taken leaves no empty folder.
    entries
        .extend(ITEMS.iter().map(|i| i.name.to_string()).filter(|n| std::fs::read_dir(root.join(n)).is_ok_and(|mut d| d.next().is_some())));
    archive::create(&archive_path, root, &entries, &log)?;
    // The archive holds the environment's data: readable by its owner alone.
    std::fs::set_permissions(&archive_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_path("set permissions of", &archive_path)?;
    let sum = archive::sha256_file(&archive_path)?;
    let file_name = archive_path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    std::fs::write(archive_path.with_extension("tar.sha256"), format!("{sum}  {file_name}\n")).with_path("write", to)?;
    let bytes = std::fs::metadata(&archive_path).map(|m| m.len()).unwrap_or_default();
    Ok(Taken { archive: archive_path, manifest, key_created, key, bytes })
}

#[allow(clippy::too_many_arguments)]
fn take(
    s: &Session,
    env: &Environment,
    remote: &Remote,
    access: &crate::state::tls::Access,
    item: &Item,
    root: &Path,
    recipient: &str,
    log: &Path,
    members: &mut Vec<Member>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let dir = root.join(item.name);
    let mut add = |host: Option<&str>, file: PathBuf| -> Result<()> {
        let rel = file.strip_prefix(root).unwrap_or(&file).to_string_lossy().to_string();
        members.push(Member {
            item: item.name.into(),
            host: host.map(String::from),
            sha256: archive::sha256_file(&file)?,
            bytes: std::fs::metadata(&file).map(|m| m.len()).unwrap_or_default(),
            file: rel,
        });
        Ok(())
    };
    let component = item.component;
    if let Some(c) = component {
        let deployed = env.enabled(c);
        let stand_in = matches!(item.method, Method::Sqlite | Method::HostDirectory);
        if !deployed && !stand_in {
            skipped.push(format!("{}: {c} is not deployed", item.name));
            return Ok(());
        }
    }
    std::fs::create_dir_all(&dir).with_path("create", &dir)?;
    match item.method {
        Method::Controller => {
            let plain = tempfile::tempdir().with_path("create a folder in", &std::env::temp_dir())?;
            let tar = plain.path().join("controller.tar");
            let entries: Vec<String> = backup::CONTROLLER_FILES
                .iter()
                .filter(|f| s.state.dir.join(f).exists())
                .filter(|f| **f != "terraform.tfstate" || matches!(env.state, StateBackend::Local))
                .map(|f| f.to_string())
                .collect();
            archive::create(&tar, &s.state.dir, &entries, log)?;
            let out = dir.join("controller.tar.age");
            archive::encrypt(recipient, &tar, &out, log)?;
            add(None, out)
        }
        Method::TsdbSnapshot => {
            let agent = crate::tools::http::agent_for(remote.contract, &s.state.known_hosts(), access, Duration::from_secs(300))?;
            let mut tried = Vec::new();
            for (host, url) in crate::tools::http::base_urls(env, remote.contract, ComponentId::Prometheus) {
                let name = match agent.post(&format!("{url}/api/v1/admin/tsdb/snapshot")).call() {
                    Ok(r) => r.into_json::<Value>().ok().and_then(|v| v["data"]["name"].as_str().map(String::from)),
                    Err(e) => {
                        tried.push(format!("{host}: {e}"));
                        continue;
                    }
                };
                let Some(name) = name.filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) else {
                    tried.push(format!("{host}: the snapshot API answered without a snapshot name"));
                    continue;
                };
                let out = dir.join(format!("{host}.tar.gz"));
                let snap = format!("{}/snapshots/{name}", backup::PROMETHEUS_TSDB);
                fetch_tar(remote, &host, &format!("-C {snap} ."), &out, &format!("rm -rf {snap}"))?;
                return add(Some(&host), out);
            }
            Err(Error::new(Phase::Verify, "no Prometheus took a TSDB snapshot").details(tried).hint(format!(
                "the snapshot API needs --web.enable-admin-api (obsctl up --env {} turns it on) and obsctl's credential",
                env.name
            )))
        }
        Method::AlertmanagerState => {
            let am = crate::tools::alertmanager::Cluster::new(env, remote.contract, &s.state.known_hosts(), access)?;
            let out = dir.join("silences.json");
            std::fs::write(&out, crate::error::to_json_pretty(&am.raw()?)?).with_path("write", &out)?;
            add(None, out)?;
            let host = am
                .answered()
                .and_then(|url| {
                    crate::tools::http::base_urls(env, remote.contract, ComponentId::Alertmanager).into_iter().find(|(_, u)| *u == url)
                })
                .map(|(h, _)| h)
                .ok_or_else(|| Error::internal("no Alertmanager answered"))?;
            let data = backup::ALERTMANAGER_DATA;
            if remote.sh(&host, &format!("test -e {data}/nflog && echo yes || echo no"))?.trim() == "yes" {
                let out = dir.join(format!("{host}.nflog.tar.gz"));
                fetch_tar(remote, &host, &format!("-C {data} nflog"), &out, "true")?;
                add(Some(&host), out)?;
            }
            Ok(())
        }
        // Taken by the caller (deploy::rds): nothing in the archive.
        Method::RdsSnapshot => Ok(()),
        Method::Sqlite | Method::HostDirectory => {
            let Some(c) = component else { return Ok(()) };
            let path = item.paths[0];
            let applies = match c {
                ComponentId::Grafana => env.grafana.database.name() == "sqlite",
                ComponentId::Loki => env.loki.storage.name() == "filesystem",
                _ => true,
            };
            if !applies {
                skipped.push(format!("{}: not on the hosts' filesystem in this environment", item.name));
                return Ok(());
            }
            for host in hosts_of(env, remote.contract, c) {
                if remote.sh(&host, &format!("test -e {path} && echo yes || echo no"))?.trim() != "yes" {
                    if env.enabled(c) {
                        return Err(Error::new(Phase::Verify, format!("{host}: {path} does not exist although {c} runs there"))
                            .hint(format!("check it: obsctl ssh --env {} {host} -- ls -l {path}", env.name)));
                    }
                    skipped.push(format!("{}: {host} has no {path} ({c} is not deployed)", item.name));
                    continue;
                }
                if item.method == Method::Sqlite {
                    let out = dir.join(format!("{host}.db"));
                    let scratch = remote.scratch(&host)?;
                    let copy = format!("{scratch}/out.db");
                    remote.sh(
                        &host,
                        &format!("python3 -c {} {path} {copy} && chown {} {copy}", quote(SQLITE_COPY), remote.login_user(&host)),
                    )?;
                    remote.fetch(&host, &copy, &out)?;
                    remote.sh(&host, &format!("rm -rf {scratch}"))?;
                    add(Some(&host), out)?;
                } else {
                    let out = dir.join(format!("{host}.tar.gz"));
                    fetch_tar(remote, &host, &format!("-C {path} ."), &out, "true")?;
                    add(Some(&host), out)?;
                }
            }
            Ok(())
        }
    }
}

/// Copies a SQLite database byte for byte while a shared lock keeps
/// writers out (rollback journal, Grafana's default); a database in WAL mode
/// goes through SQLite's online backup instead.
const SQLITE_COPY: &str = "import shutil, sqlite3, sys
src, dst = sys.argv[1], sys.argv[2]
c = sqlite3.connect('file:' + src + '?mode=ro', uri=True, isolation_level=None)
if c.execute('PRAGMA journal_mode').fetchone()[0] == 'wal':
    d = sqlite3.connect(dst); c.backup(d); d.close()
else:
    c.execute('BEGIN'); c.execute('SELECT count(*) FROM sqlite_master').fetchone()
    shutil.copyfile(src, dst)
    c.execute('COMMIT')
c.close()";

/// `tar -czf` on `host` with `args`, fetched into `out`; then `cleanup` runs there.
fn fetch_tar(remote: &Remote, host: &str, args: &str, out: &Path, cleanup: &str) -> Result<()> {
    let scratch = remote.scratch(host)?;
    let file = format!("{scratch}/out.tar.gz");
    remote.sh(host, &format!("tar -czf {file} {args} && chown {} {file}", remote.login_user(host)))?;
    remote.fetch(host, &file, out)?;
    remote.sh(host, &format!("rm -rf {scratch}; {cleanup}"))?;
    Ok(())
}

/// The summary's JSON.
pub fn summary_json(env: &str, t: &Taken, elapsed: Duration) -> Value {
    json!({ "ok": true, "environment": env, "archive": t.archive, "bytes": t.bytes, "members": t.manifest.members,
            "skipped": t.manifest.skipped, "snapshots": t.manifest.snapshots, "key": t.key, "key_created": t.key_created, "elapsed_s": secs(elapsed) })
}
