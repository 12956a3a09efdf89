//! SSH: the environment's key pair, and the bounded wait until every host
//! answers before Ansible starts.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::contract::Contract;
use crate::error::{Error, Phase, Result};
use crate::process::{Child, RunError};
use crate::retry::{retry, Backoff};

/// Creates `.obsctl/<env>/ssh/id_ed25519` (and `.pub`) if missing.
pub fn ensure_key(key: &Path, env: &str) -> Result<bool> {
    if key.is_file() && key.with_extension("pub").is_file() {
        return Ok(false);
    }
    let _ = std::fs::remove_file(key);
    Child::new("ssh-keygen", Phase::Prerequisite)
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("obsctl-{env}"))
        .arg("-f")
        .arg(key)
        .output()?;
    Ok(true)
}

/// Waits until every host accepts an SSH login with the environment's key.
/// Hosts are polled concurrently; the wait is bounded by `timeout`.
pub fn wait_for_hosts(contract: &Contract, ssh_args: &[String], timeout: Duration, mut on_ready: impl FnMut(&str, Duration)) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let deadline = Instant::now() + timeout;
    for (name, h) in &contract.hosts {
        let tx = tx.clone();
        let name = name.clone();
        let (addr, port, user) = (h.address.clone(), h.ssh_port, h.ssh_user.clone());
        let key = contract.ssh.private_key_file.clone();
        let extra = ssh_args.to_vec();
        std::thread::spawn(move || {
            let started = Instant::now();
            let answered = retry(
                Backoff::until(deadline, Duration::from_millis(500)),
                |_| probe(&addr, port, &user, &key, &extra).map_err(|e| Error::new(Phase::Hosts, e)),
                |_, _, _| true,
            );
            let _ = tx.send((name, answered.map(|()| started.elapsed()).map_err(|e| e.message)));
        });
    }
    drop(tx);
    let mut failed = Vec::new();
    for (name, result) in rx {
        match result {
            Ok(took) => on_ready(&name, took),
            Err(e) => {
                let h = &contract.hosts[&name];
                failed.push(format!("{name} ({}:{}): {e}", h.address, h.ssh_port));
            }
        }
    }
    crate::signals::check()?;
    if failed.is_empty() {
        Ok(())
    } else {
        failed.sort();
        Err(Error::new(
            Phase::Hosts,
            format!("{} of {} hosts did not answer SSH within {}s", failed.len(), contract.hosts.len(), timeout.as_secs()),
        )
        .details(failed))
    }
}

fn probe(addr: &str, port: u16, user: &str, key: &Path, extra: &[String]) -> std::result::Result<(), String> {
    let sock = (addr, port).to_socket_addrs().map_err(|e| format!("cannot resolve: {e}"))?.next().ok_or("cannot resolve")?;
    TcpStream::connect_timeout(&sock, Duration::from_secs(2)).map_err(|e| format!("port {port}: {e}"))?;
    run(addr, port, user, key, extra, "true").map(|_| ())
}

/// Runs a shell command on a host; its standard output, or the reason it failed.
pub fn run(addr: &str, port: u16, user: &str, key: &Path, extra: &[String], command: &str) -> std::result::Result<String, String> {
    let run = Child::new("ssh", Phase::Hosts)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i"])
        .arg(key)
        .arg("-p")
        .arg(port.to_string())
        .args(extra.iter())
        .arg(format!("{user}@{addr}"))
        .arg(command)
        .output();
    match run {
        Ok(out) => Ok(out.stdout),
        Err(RunError::Exit(e)) => Err(format!("ssh: {}", e.tail.back().map_or("login failed", |l| l.trim()))),
        Err(e) => Err(Error::from(e).message),
    }
}

/// SSH options for this environment's hosts. Lab machines are recreated at
/// the same addresses with new host keys on every cold `up`, so their keys are
/// not pinned; everywhere else a key is trusted on first use and pinned in
/// `.obsctl/<env>/ssh/known_hosts`.
pub fn options(provider: crate::environment::Provider, known_hosts: &Path) -> Vec<String> {
    match provider {
        crate::environment::Provider::Lab => {
            vec!["-o".into(), "StrictHostKeyChecking=no".into(), "-o".into(), "UserKnownHostsFile=/dev/null".into()]
        }
        _ => vec![
            "-o".into(),
            "StrictHostKeyChecking=accept-new".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
        ],
    }
}
