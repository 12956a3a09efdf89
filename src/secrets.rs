//! Secrets: generated or read from the environment, stored 0600 under
//! `.obsctl/<env>/secrets/`, never printed and never on a command line
//! (Ansible reads them from these files with `lookup('file', …)`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::workspace::write_atomic;

pub struct Secrets {
    pub receiver_password_files: BTreeMap<String, PathBuf>,
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
    let grafana_db = match grafana_db_password(env, dir, true)? {
        Some(p) => {
            values.push(p);
            Some(dir.join(GRAFANA_DB_PASSWORD))
        }
        None => None,
    };
    let mut files = BTreeMap::new();
    for r in &env.alertmanager.receivers {
        let Some(var) = &r.smtp_password_env else { continue };
        let file = dir.join(format!("smtp_password_{}", r.name));
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => write_atomic(&file, v.as_bytes(), 0o600)?,
            _ if file.is_file() => {}
            _ => {
                return Err(Error::input(format!(
                    "receiver `{}` takes its SMTP password from ${var}, which is not set (and none is stored yet)",
                    r.name
                ))
                .hint(format!("export {var}=… and run the command again; it is stored in {} (0600)", file.display())))
            }
        }
        values.push(std::fs::read_to_string(&file).unwrap_or_default().trim().to_string());
        files.insert(r.name.clone(), file);
    }
    values.retain(|v| !v.is_empty());
    Ok(Secrets { receiver_password_files: files, values, grafana_password_file: grafana, grafana_db_password_file: grafana_db })
}

const GRAFANA_DB_PASSWORD: &str = "grafana_db_password";

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
    fn passwords_are_long_random_and_distinct() {
        let a = random_password(32).unwrap();
        let b = random_password(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
