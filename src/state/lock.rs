//! One run per environment: an exclusive lock (`File::try_lock`, a `flock`)
//! on `.obsctl/<env>/lock`,
//! held for the whole run, plus a note of who holds it. The kernel drops the
//! flock when the holder dies, so a lock left by a killed run is taken over
//! (with a warning naming the dead holder) and never needs manual cleanup.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Phase, Result};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub started: String,
    pub command: String,
}

pub struct EnvLock {
    _file: File,
    path: PathBuf,
}

pub enum Acquired {
    Fresh(EnvLock),
    /// The previous holder died without releasing; here is who it was.
    TakenOver(EnvLock, Holder),
}

pub fn acquire(path: &Path, env: &str, command: &str) -> Result<Acquired> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::internal(format!("cannot open lock {}: {e}", path.display())))?;
    let held_elsewhere = match file.try_lock() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(e)) => return Err(Error::internal(format!("cannot lock {}: {e}", path.display()))),
    };
    let mut previous = String::new();
    let _ = file.read_to_string(&mut previous);
    let previous: Option<Holder> = serde_json::from_str(previous.trim()).ok();
    if held_elsewhere {
        let who = previous
            .map(|h| format!("`{}` (pid {} on {}, user {}, since {})", h.command, h.pid, h.host, h.user, h.started))
            .unwrap_or_else(|| "another obsctl process".into());
        return Err(Error::new(Phase::Locked, format!("environment `{env}` is in use by {who}"))
            .hint(format!("wait for that run to finish; obsctl runs one command per environment at a time (lock: {})", path.display())));
    }
    let me = Holder {
        pid: std::process::id(),
        host: hostname(),
        user: std::env::var("USER").unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw())),
        started: crate::report::timestamp(),
        command: command.to_string(),
    };
    file.set_len(0).and_then(|_| file.rewind()).map_err(|e| Error::internal(format!("cannot write lock {}: {e}", path.display())))?;
    file.write_all(serde_json::to_string(&me).unwrap_or_default().as_bytes())
        .map_err(|e| Error::internal(format!("cannot write lock {}: {e}", path.display())))?;
    let lock = EnvLock { _file: file, path: path.to_path_buf() };
    Ok(match previous {
        Some(h) if h.pid != me.pid => Acquired::TakenOver(lock, h),
        _ => Acquired::Fresh(lock),
    })
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        // Clear the holder note; the flock goes with the file descriptor.
        let _ = std::fs::write(&self.path, b"");
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = acquire(&path, "dev", "obsctl up").unwrap();
        assert!(matches!(first, Acquired::Fresh(_)));
        // flock is per open file description: a second open in the same
        // process conflicts just like another process would.
        let err = acquire(&path, "dev", "obsctl destroy").err().unwrap();
        assert_eq!(err.phase, Phase::Locked);
        assert!(err.message.contains("obsctl up"), "{}", err.message);
        assert!(err.message.contains(&std::process::id().to_string()), "{}", err.message);
        drop(first);
        assert!(matches!(acquire(&path, "dev", "obsctl up").unwrap(), Acquired::Fresh(_)));
    }

    #[test]
    fn dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let dead = Holder { pid: 999_999, host: "h".into(), user: "u".into(), started: "t".into(), command: "obsctl up".into() };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        match acquire(&path, "dev", "obsctl up").unwrap() {
            Acquired::TakenOver(_, h) => assert_eq!(h, dead),
            Acquired::Fresh(_) => panic!("stale holder not reported"),
        }
    }
}
