//! SSH: the environment's key pair, and the bounded wait until every host
//! answers before Ansible starts.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::contract::Contract;
use crate::error::{Error, Phase, Result};
use crate::process::Child;

/// Creates `.obsctl/<env>/ssh/id_ed25519` (and `.pub`) if missing.
pub fn ensure_key(key: &Path, env: &str) -> Result<bool> {
    if key.is_file() && key.with_extension("pub").is_file() {
        return Ok(false);
    }
    let _ = std::fs::remove_file(key);
    let (code, _, err) = Child::new("ssh-keygen", Phase::Prerequisite)
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("obsctl-{env}"))
        .arg("-f")
        .arg(key)
        .output()?;
    if code != 0 {
        return Err(Error::prerequisite(format!("ssh-keygen failed: {}", err.trim())));
    }
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
            let mut last = String::from("no answer yet");
            while Instant::now() < deadline && crate::signals::received().is_none() {
                match probe(&addr, port, &user, &key, &extra) {
                    Ok(()) => {
                        let _ = tx.send((name, Ok(started.elapsed())));
                        return;
                    }
                    Err(e) => last = e,
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            let _ = tx.send((name, Err(last)));
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
    let (code, _, err) = Child::new("ssh", Phase::Hosts)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i"])
        .arg(key)
        .arg("-p")
        .arg(port.to_string())
        .args(extra.iter())
        .arg(format!("{user}@{addr}"))
        .arg("true")
        .output()
        .map_err(|e| e.message)?;
    if code == 0 {
        Ok(())
    } else {
        Err(format!("ssh: {}", err.lines().last().unwrap_or("login failed").trim()))
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
