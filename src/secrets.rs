//! Secrets: generated or read from the environment, stored 0600 under
//! `.obsctl/<env>/secrets/`, never printed and never on a command line
//! (Ansible reads them from these files with `lookup('file', …)`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::environment::{Environment, ReceiverSecret, SecretSource};
use crate::error::{Error, Result};
use crate::workspace::write_atomic;

pub struct Secrets {
    /// The receivers' credentials, by file name (`receiver_secret_file`).
    pub receiver_files: BTreeMap<String, PathBuf>,
    /// Values to scrub from every log.
    pub values: Vec<String>,
    pub grafana_password_file: PathBuf,
    /// Set when Grafana uses a shared PostgreSQL database.
    pub grafana_db_password_file: Option<PathBuf>,
}

pub fn prepare(env: &Environment, dir: &Path) -> Result<Secrets> {
    let grafana = dir.join("grafana_admin_password");
    if !grafana.is_file() {
        write_atomic(&grafana, random_password(32)?.as_bytes(), 0o600)?;
    }
    let mut values = vec![std::fs::read_to_string(&grafana).unwrap_or_default().trim().to_string()];
    if env.enabled("grafana") {
        values.push(grafana_secret_key(dir)?);
    }
    let grafana_db = match grafana_db_password(env, dir, true)? {
        Some(p) => {
            values.push(p);
            Some(dir.join(GRAFANA_DB_PASSWORD))
        }
        None => None,
    };
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
    Ok(Secrets { receiver_files: files, values, grafana_password_file: grafana, grafana_db_password_file: grafana_db })
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

const GRAFANA_DB_PASSWORD: &str = "grafana_db_password";
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

/// The password of Grafana's shared PostgreSQL database (prod: RDS), created
/// on first use when `create` is set; None when the environment keeps Grafana
/// on sqlite (or, without `create`, when none was ever created).
pub fn grafana_db_password(env: &Environment, dir: &Path, create: bool) -> Result<Option<String>> {
    if env.grafana.database != "postgres" {
        return Ok(None);
    }
    let file = dir.join(GRAFANA_DB_PASSWORD);
    if !file.is_file() {
        if !create {
            return Ok(None);
        }
        write_atomic(&file, random_password(32)?.as_bytes(), 0o600)?;
    }
    let p = std::fs::read_to_string(&file).map_err(|e| Error::internal(format!("cannot read {}: {e}", file.display())))?;
    Ok(Some(p.trim().to_string()))
}

fn random_password(len: usize) -> Result<String> {
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
}
