//! Where things are: the obsctl checkout (environments/, terraform/, ansible/)
//! and each environment's private state under `.obsctl/<env>/` (mode 0700).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// Finds the checkout: `$OBSCTL_ROOT`, else the first directory holding
    /// `environments/` and `ansible/site.yml` above the current directory, else
    /// above the obsctl executable (target/release/obsctl inside a checkout).
    pub fn discover() -> Result<Workspace> {
        if let Ok(root) = std::env::var("OBSCTL_ROOT") {
            let root = PathBuf::from(root);
            return if is_root(&root) {
                Ok(Workspace { root: absolute(&root) })
            } else {
                Err(Error::input(format!(
                    "OBSCTL_ROOT={} is not an obsctl checkout (no environments/ and ansible/site.yml)",
                    root.display()
                )))
            };
        }
        let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
        for start in starts.into_iter().flatten() {
            if let Some(root) = start.ancestors().find(|d| is_root(d)) {
                return Ok(Workspace { root: absolute(root) });
            }
        }
        Err(Error::input("cannot find the obsctl checkout (a directory with environments/ and ansible/site.yml)")
            .hint("run obsctl from inside the repository, or set OBSCTL_ROOT=/path/to/obsctl"))
    }

    pub fn environments_dir(&self) -> PathBuf {
        self.root.join("environments")
    }

    pub fn ansible_dir(&self) -> PathBuf {
        self.root.join("ansible")
    }

    /// `.obsctl/`: tools shared by all environments (the Ansible venv).
    pub fn tools_dir(&self) -> PathBuf {
        self.root.join(".obsctl")
    }

    pub fn state(&self, env: &str) -> StateDir {
        StateDir { dir: self.root.join(".obsctl").join(env) }
    }
}

fn is_root(dir: &Path) -> bool {
    dir.join("environments").is_dir() && dir.join("ansible/site.yml").is_file()
}

fn absolute(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// One environment's private directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    pub fn ensure(&self) -> Result<()> {
        private_dir(&self.dir)?;
        private_dir(&self.secrets_dir())?;
        private_dir(&self.dir.join("ssh"))
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.json")
    }
    pub fn tfvars(&self) -> PathBuf {
        self.dir.join("terraform.tfvars.json")
    }
    pub fn tfstate(&self) -> PathBuf {
        self.dir.join("terraform.tfstate")
    }
    /// The environment's copy of `terraform/` with its generated backend.
    pub fn stack_dir(&self) -> PathBuf {
        self.dir.join("stack")
    }
    pub fn tf_data_dir(&self) -> PathBuf {
        self.dir.join("terraform")
    }
    pub fn plan_file(&self) -> PathBuf {
        self.dir.join("terraform.plan")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }
    /// The deployment record (`deployment::Deployment`).
    pub fn deployment(&self) -> PathBuf {
        self.dir.join("deployment.json")
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.join("secrets")
    }
    /// The environment's CA and host certificates (`TlsDir`).
    pub fn tls(&self) -> TlsDir {
        TlsDir { dir: self.dir.join("tls") }
    }
    pub fn ssh_key(&self) -> PathBuf {
        self.dir.join("ssh/id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("ssh/known_hosts")
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }
}

pub fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_path("create directory", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).with_path("set permissions of", dir)
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then
/// rename) with the given mode: readers see the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| Error::internal(format!("{} has no parent directory", path.display())))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_path("create a temporary file in", dir)?;
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).with_path("set permissions in", dir)?;
    tmp.write_all(bytes).with_path("write", path)?;
    tmp.as_file().sync_all().with_path("sync", path)?;
    tmp.persist(path).map_err(|e| Error::internal(format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

/// A JSON record under `.obsctl/<env>/`: None when there is none; one that
/// does not parse is named as not being `what`, with `hint` (what to do).
pub fn read_record<T: serde::de::DeserializeOwned>(path: &Path, what: &str, hint: String) -> Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| Error::input(format!("{} is not {what}: {e}", path.display())).hint(hint))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_path("read", path),
    }
}

/// Writes a JSON record atomically, readable by its owner only.
pub fn write_record<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, crate::error::to_json_pretty(value)?.as_bytes(), 0o600)
}

/// Removes a record; one already gone is fine.
pub fn remove_record(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Where an environment's TLS files are (`.obsctl/<env>/tls`).
#[derive(Debug, Clone)]
pub struct TlsDir {
    pub dir: PathBuf,
}
