//! The programs behind a backup archive: `tar` (the archive and its
//! members), `age` and `age-keygen` (the controller's state, encrypted at
//! rest) and SHA-256 (ring) for the checksums.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Phase, Result};
use crate::tools::process::Child;

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_path("open", path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).with_path("read", path)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex(ctx.finish().as_ref()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tar -cf archive -C dir entries…` (entries relative to `dir`).
pub fn create(archive: &Path, dir: &Path, entries: &[String], log: &Path) -> Result<()> {
    Child::new("tar", Phase::Internal).arg("-cf").arg(archive).arg("-C").arg(dir).arg("--").args(entries.iter()).log(log).output()?;
    Ok(())
}

/// Extracts `archive` into `dir` (which exists), refusing absolute paths
/// and `..` (GNU tar's default) and never keeping the archive's owners.
pub fn extract(archive: &Path, dir: &Path, log: &Path) -> Result<()> {
    Child::new("tar", Phase::Input)
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .args(["--no-same-owner", "--no-same-permissions"])
        .log(log)
        .what(format!("unpack {}", archive.display()))
        .output()
        .map_err(|e| {
            Error::from(e).hint("the file is not a tar archive, or it is truncated: take the archive again from your backup store")
        })?;
    Ok(())
}

/// The default key of an environment: `$XDG_CONFIG_HOME/obsctl/backup-<env>.agekey`
/// (else `~/.config/…`): outside the checkout and its `.obsctl/`.
pub fn default_key(env: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("obsctl").join(format!("backup-{env}.agekey")))
}

/// The age recipient (public key) of an identity file; the file is created
/// with `age-keygen` when `create` and it does not exist. Returns the
/// recipient and whether the key is new.
pub fn recipient(key: &Path, create: bool, log: &Path) -> Result<(String, bool)> {
    let mut created = false;
    if !key.exists() {
        if !create {
            return Err(Error::input(format!("the backup key {} does not exist", key.display()))
                .hint("name the key the archive was encrypted for with --key FILE (the one kept when the backup was taken)"));
        }
        if let Some(dir) = key.parent() {
            crate::state::workspace::private_dir(dir)?;
        }
        Child::new("age-keygen", Phase::Prerequisite).arg("-o").arg(key).log(log).output()?;
        created = true;
    }
    let out = Child::new("age-keygen", Phase::Input)
        .arg("-y")
        .arg(key)
        .log(log)
        .output()
        .map_err(|e| Error::from(e).hint(format!("{} is not an age identity file (age-keygen writes one)", key.display())))?;
    let r = out.stdout.trim().to_string();
    if !r.starts_with("age1") {
        return Err(Error::input(format!("{} does not hold an age identity", key.display())));
    }
    Ok((r, created))
}

pub fn encrypt(recipient: &str, input: &Path, output: &Path, log: &Path) -> Result<()> {
    Child::new("age", Phase::Prerequisite).args(["-r", recipient, "-o"]).arg(output).arg(input).log(log).output()?;
    Ok(())
}

pub fn decrypt(key: &Path, input: &Path, output: &Path, log: &Path) -> Result<()> {
    Child::new("age", Phase::Input).arg("-d").arg("-i").arg(key).arg("-o").arg(output).arg(input).log(log).output().map_err(|e| {
        Error::from(e).hint(format!("{} is not the key this archive was encrypted for: name the right one with --key FILE", key.display()))
    })?;
    Ok(())
}

/// The programs a backup or restore needs on this machine.
pub fn require_tools() -> Result<()> {
    let missing: Vec<&str> =
        ["tar", "age", "age-keygen", "scp"].into_iter().filter(|p| crate::tools::process::on_path(p).is_none()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::new(Phase::Prerequisite, format!("missing on this machine: {}", missing.join(", ")))
            .hint("apt-get install age tar openssh-client"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_file_and_of_bytes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&f).unwrap(), want);
        assert_eq!(sha256_bytes(b"abc"), want);
    }
}
