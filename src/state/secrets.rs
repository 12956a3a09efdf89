//! Secrets: generated or read from the environment, stored 0600 under
//! `.obsctl/<env>/secrets/`, never printed and never on a command line
//! (Ansible reads them from these files with `lookup('file', …)`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::model::component::ComponentId;
use crate::model::environment::{Environment, GrafanaDatabase, ReceiverSecret, SecretSource};
use crate::state::workspace::write_atomic;

/// The basic-auth users every environment has:
/// - `obsctl`: the operator (verify, status, silence, the UIs);
/// - `prometheus`: scrapes every endpoint, sends alerts to Alertmanager;
/// - `grafana`: its data sources (Prometheus, Alertmanager, Loki);
/// - `alloy`: the log agent, pushes logs to Loki;
/// - `promtail`: the legacy log agent (`log_agent = "promtail"`), the same.
pub const USERS: [&str; 5] = [OPERATOR, "prometheus", "grafana", "alloy", "promtail"];
/// The user obsctl itself authenticates as.
pub const OPERATOR: &str = "obsctl";

/// Go's bcrypt.DefaultCost, what the exporter-toolkit documentation's
/// examples use; each service caches a verified password, so the cost is
/// paid once per client, not per request.
const BCRYPT_COST: u32 = 10;

/// One basic-auth user: where its password is on the controller, and the
/// password's bcrypt hash. The password itself is read for obsctl's own
/// requests and the log scrubber only.
pub struct WebUser {
    pub name: &'static str,
    pub password_file: PathBuf,
    pub bcrypt: String,
    password: String,
}

impl WebUser {
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for WebUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebUser")
            .field("name", &self.name)
            .field("password_file", &self.password_file)
            .field("bcrypt", &self.bcrypt)
            .finish()
    }
}

/// `.obsctl/<env>/secrets/web_<user>_password`.
pub fn password_file(secrets_dir: &Path, user: &str) -> PathBuf {
    secrets_dir.join(format!("web_{user}_password"))
}

pub(crate) fn hash_file(secrets_dir: &Path, user: &str) -> PathBuf {
    secrets_dir.join(format!("web_{user}_password.bcrypt"))
}

/// Every user of [`USERS`], its password generated the first time (32
/// characters, 0600) and its bcrypt hash computed once: the stored hash is
/// kept while it is newer than the password file (a new hash has a new salt,
/// which would rewrite every service's web config on every run), and
/// computed again when someone replaced the password.
pub fn web_users(secrets_dir: &Path) -> Result<Vec<WebUser>> {
    USERS.iter().map(|user| web_user(secrets_dir, user)).collect()
}

fn web_user(secrets_dir: &Path, name: &'static str) -> Result<WebUser> {
    let password_file = password_file(secrets_dir, name);
    if !password_file.is_file() {
        write_atomic(&password_file, random_password(32)?.as_bytes(), 0o600)?;
    }
    let password = std::fs::read_to_string(&password_file).with_path("read", &password_file)?.trim().to_string();
    if password.is_empty() {
        return Err(Error::input(format!("{} is empty", password_file.display()))
            .hint(format!("delete it and run the command again: a new password is generated ({name} is a basic-auth user)")));
    }
    let hash_file = hash_file(secrets_dir, name);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stored = match (modified(&hash_file), modified(&password_file)) {
        (Some(h), Some(p)) if h >= p => std::fs::read_to_string(&hash_file).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        _ => None,
    };
    let bcrypt = match stored {
        Some(h) => h,
        None => {
            let h = bcrypt::hash(&password, BCRYPT_COST).map_err(|e| Error::internal(format!("bcrypt failed: {e}")))?;
            write_atomic(&hash_file, format!("{h}\n").as_bytes(), 0o600)?;
            h
        }
    };
    Ok(WebUser { name, password_file, bcrypt, password })
}

pub struct Secrets {
    /// The receivers' credentials, by file name (`receiver_secret_file`).
    pub receiver_files: BTreeMap<String, PathBuf>,
    /// Values to scrub from every log.
    pub values: Vec<String>,
    pub grafana_password_file: PathBuf,
    /// Set when Grafana uses a shared PostgreSQL database.
    pub grafana_db_password_file: Option<PathBuf>,
    /// The basic-auth users of the stack's endpoints (`web_users`).
    pub web_users: Vec<WebUser>,
}

pub fn prepare(env: &Environment, dir: &Path) -> Result<Secrets> {
    let grafana = grafana_admin_password_file(dir);
    if !grafana.is_file() {
        write_atomic(&grafana, random_password(32)?.as_bytes(), 0o600)?;
    }
    let mut values = vec![std::fs::read_to_string(&grafana).unwrap_or_default().trim().to_string()];
    if env.enabled(ComponentId::Grafana) {
        values.push(grafana_secret_key(dir)?);
    }
    // Grafana's database password is generated by `up` once it has checked
    // the Terraform state (deploy::provision::ensure_grafana_db_password).
    let grafana_db = (env.grafana.database == GrafanaDatabase::Postgres).then(|| grafana_db_password_file(dir));
    if let Some(db) = read_grafana_db_password(dir) {
        values.push(db.password);
    }
    let web_users = web_users(dir)?;
    values.extend(web_users.iter().map(|u| u.password().to_string()));
    let mut files = BTreeMap::new();
    for r in &env.alertmanager.receivers {
        for secret in r.secrets() {
            let file = receiver_secret_file(dir, &secret.receiver, secret.credential);
            store_receiver_secret(env, &secret, &file)?;
            values.push(std::fs::read_to_string(&file).unwrap_or_default().trim().to_string());
            files.insert(file_name(&secret.receiver, secret.credential), file);
        }
    }
    values.retain(|v| !v.is_empty());
    Ok(Secrets { receiver_files: files, values, grafana_password_file: grafana, grafana_db_password_file: grafana_db, web_users })
}

fn file_name(receiver: &str, credential: &str) -> String {
    format!("receiver-{receiver}-{credential}")
}

/// Where the credential `credential` (e.g. `smtp_password`) of a receiver is
/// stored on the controller. Ansible copies it to the Alertmanager hosts.
pub fn receiver_secret_file(dir: &Path, receiver: &str, credential: &str) -> PathBuf {
    dir.join(file_name(receiver, credential))
}

/// Stores one credential 0600: from its environment variable when set (a
/// stored value is kept when it is not), or copied from its file (a
/// relative path is relative to the repository).
fn store_receiver_secret(env: &Environment, secret: &ReceiverSecret, file: &Path) -> Result<()> {
    let what = format!("receiver `{}` ({})", secret.receiver, secret.credential.replace('_', " "));
    match &secret.source {
        SecretSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => write_atomic(file, v.trim().as_bytes(), 0o600),
            _ if file.is_file() => Ok(()),
            _ => Err(Error::input(format!("{what} is read from ${var}, which is not set (and none is stored yet)")).hint(format!(
                "export {var}=… and run the command again; it is stored in {} (0600), never in the environment file",
                file.display()
            ))),
        },
        SecretSource::File(path) => {
            let root = env.file.parent().and_then(Path::parent).unwrap_or(Path::new("."));
            let path = if path.is_absolute() { path.clone() } else { root.join(path) };
            let v = std::fs::read_to_string(&path).map_err(|e| {
                Error::input(format!("{what} is read from {}, which cannot be read: {e}", path.display()))
                    .hint(format!("put the credential in {} (mode 0600), or point the receiver at another file", path.display()))
            })?;
            if v.trim().is_empty() {
                return Err(Error::input(format!("{what}: {} is empty", path.display())));
            }
            write_atomic(file, v.trim().as_bytes(), 0o600)
        }
    }
}

const GRAFANA_SECRET_KEY: &str = "grafana_secret_key";

/// Grafana's `secret_key` (encrypts data-source secrets in its database),
/// created before Grafana's first start and shared by every Grafana of the
/// environment; the grafana role reads it from this file. Never regenerated:
/// a new key would make what Grafana already encrypted unreadable.
fn grafana_secret_key(dir: &Path) -> Result<String> {
    let file = dir.join(GRAFANA_SECRET_KEY);
    if !file.is_file() {
        write_atomic(&file, random_password(40)?.as_bytes(), 0o600)?;
    }
    let k = std::fs::read_to_string(&file).map_err(|e| Error::internal(format!("cannot read {}: {e}", file.display())))?;
    Ok(k.trim().to_string())
}

impl Secrets {
    /// Adds Grafana's database password to the values scrubbed from logs
    /// (after `up` generated it).
    pub fn add_grafana_db(&mut self, dir: &Path) {
        if let Some(db) = read_grafana_db_password(dir) {
            if !self.values.contains(&db.password) {
                self.values.push(db.password);
            }
        }
    }
}

/// The password of Grafana's shared PostgreSQL database (prod: RDS) and its
/// version: Terraform sends the write-only password to RDS again whenever
/// the version changes.
pub struct DbPassword {
    pub password: String,
    pub version: u64,
}

/// `.obsctl/<env>/secrets/grafana_admin_password`: Grafana's admin login.
pub fn grafana_admin_password_file(dir: &Path) -> PathBuf {
    dir.join("grafana_admin_password")
}

pub fn grafana_db_password_file(dir: &Path) -> PathBuf {
    dir.join("grafana_db_password")
}

fn version_file(dir: &Path) -> PathBuf {
    dir.join("grafana_db_password.version")
}

/// The stored password and version (1 when no version file was written: the
/// password predates versions); None when there is no password.
pub fn read_grafana_db_password(dir: &Path) -> Option<DbPassword> {
    let password = std::fs::read_to_string(grafana_db_password_file(dir)).ok()?.trim().to_string();
    if password.is_empty() {
        return None;
    }
    let version = std::fs::read_to_string(version_file(dir)).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1);
    Some(DbPassword { password, version })
}

/// Generates and stores a new password with `version`.
pub fn write_grafana_db_password(dir: &Path, version: u64) -> Result<DbPassword> {
    let password = random_password(32)?;
    // Version first: a crash in between leaves the old password with a
    // higher version, which the next `up` simply sends to RDS again.
    write_atomic(&version_file(dir), format!("{version}\n").as_bytes(), 0o600)?;
    write_atomic(&grafana_db_password_file(dir), password.as_bytes(), 0o600)?;
    Ok(DbPassword { password, version })
}

pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = vec![0u8; len * 2];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("the operating system's random number generator failed: {e}")))?;
    // Rejection sampling keeps the distribution uniform.
    let limit = 256 - (256 % ALPHABET.len());
    let out: String =
        bytes.iter().filter(|b| (**b as usize) < limit).take(len).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    if out.len() < len {
        return random_password(len);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_secret_key_is_created_once_private_and_kept() {
        let dir = std::env::temp_dir().join(format!("obsctl-secret-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = grafana_secret_key(&dir).unwrap();
        assert_eq!(first.len(), 40);
        assert_eq!(grafana_secret_key(&dir).unwrap(), first, "an existing key must never be replaced");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(GRAFANA_SECRET_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_are_long_random_and_distinct() {
        let a = random_password(32).unwrap();
        let b = random_password(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn receiver_credentials_are_stored_0600_from_their_variable_or_file() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("environments")).unwrap();
        std::fs::write(root.path().join("pd-key"), "routing-key-from-file\n").unwrap();
        let var = format!("OBSCTL_TEST_SMTP_{}", std::process::id());
        let text = format!(
            "provider = \"lab\"\n[lab]\nbridge = \"b\"\ncidr = \"10.9.0.0/24\"\n[[hosts]]\nname = \"m\"\nroles = [\"prometheus\", \"alertmanager\", \"grafana\", \"loki\", \"app\"]\n\
             [[alertmanager.receivers]]\nname = \"oncall\"\n[alertmanager.receivers.email]\nto = \"a@x.org\"\nfrom = \"b@x.org\"\n\
             smarthost = \"smtp.x.org:587\"\nusername = \"b@x.org\"\npassword_env = \"{var}\"\n\
             [alertmanager.receivers.pagerduty]\nrouting_key_file = \"pd-key\"\n"
        );
        let env = crate::model::environment::parse("t", &root.path().join("environments/t.toml"), &text).unwrap();
        let dir = root.path().join("secrets");
        std::fs::create_dir_all(&dir).unwrap();
        let err = prepare(&env, &dir).err().expect("a missing variable is refused");
        assert_eq!(err.phase, crate::error::Phase::Input);
        assert!(err.message.contains(&format!("${var}")), "{}", err.message);
        std::env::set_var(&var, "s3cret");
        let s = prepare(&env, &dir).unwrap();
        std::env::remove_var(&var);
        let pw = receiver_secret_file(&dir, "oncall", "smtp_password");
        assert_eq!(std::fs::read_to_string(&pw).unwrap(), "s3cret");
        assert_eq!(std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777, 0o600);
        let key = receiver_secret_file(&dir, "oncall", "pagerduty_routing_key");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "routing-key-from-file", "a relative *_file is read from the repository");
        assert!(s.values.iter().any(|v| v == "s3cret") && s.values.iter().any(|v| v == "routing-key-from-file"), "scrubbed from logs");
        for u in &s.web_users {
            assert!(s.values.iter().any(|v| v == u.password()), "the password of web user {} is scrubbed from logs", u.name);
        }
        // Later runs keep the stored value when the variable is not set.
        prepare(&env, &dir).unwrap();
        assert_eq!(std::fs::read_to_string(&pw).unwrap(), "s3cret");
    }
}
