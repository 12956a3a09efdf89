//! The way to private hosts for obsctl's HTTP calls (issue 32): when the
//! contract names a bastion, one SSH connection to it per obsctl process
//! carries a SOCKS5 proxy (`ssh -D 127.0.0.1:<port>`), and every HTTP agent
//! (`tools::http::agent_for`: status, silence, verify, the Alertmanager
//! calls of `up`) connects through it. TLS is still end to end: the
//! certificate is checked against the host's own address, as without a
//! bastion. The bastion's host key is pinned in the environment's
//! known_hosts like every host's (`ssh::jump_command`).
//!
//! The tunnel ends with obsctl: ssh's standard input is a pipe obsctl holds
//! open, and the remote side only reads it (`cat`); when obsctl exits, the
//! pipe closes, the remote `cat` ends and so does ssh. It is also killed
//! when the process ends normally (`close`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::model::contract::Contract;

struct Tunnel {
    bastion: String,
    port: u16,
    child: Child,
}

static TUNNEL: Mutex<Option<Tunnel>> = Mutex::new(None);

/// How long the bastion has to answer and open the proxy.
const START: Duration = Duration::from_secs(20);

/// The local SOCKS5 proxy URL through the contract's bastion, started on
/// first use; None when the contract has no bastion (hosts reached
/// directly). An unreachable bastion is an error naming it (exit 30).
pub fn socks_proxy(contract: &Contract, known_hosts: &Path) -> Result<Option<String>> {
    let Some(bastion) = &contract.ssh.bastion else { return Ok(None) };
    let mut slot = TUNNEL.lock().map_err(|_| Error::internal("the SSH tunnel's lock is poisoned"))?;
    if let Some(t) = slot.as_mut() {
        if &t.bastion == bastion && matches!(t.child.try_wait(), Ok(None)) {
            return Ok(Some(format!("socks5://127.0.0.1:{}", t.port)));
        }
        let _ = t.child.kill();
        let _ = t.child.wait();
        *slot = None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::internal(format!("no free local port for the SSH tunnel: {e}")))?
        .port();
    let args = tunnel_args(contract, known_hosts, port);
    let mut child = Command::new("ssh")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| crate::tools::ssh::bastion_unreachable(bastion, &format!("cannot start ssh: {e}")))?;
    let deadline = Instant::now() + START;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
            return Err(crate::tools::ssh::bastion_unreachable(
                bastion,
                &format!("ssh exited ({status}){}", if last.is_empty() { String::new() } else { format!(": {last}") }),
            ));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(crate::tools::ssh::bastion_unreachable(bastion, &format!("no tunnel within {}s", START.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    *slot = Some(Tunnel { bastion: bastion.clone(), port, child });
    Ok(Some(format!("socks5://127.0.0.1:{port}")))
}

/// Ends the tunnel, if one runs.
pub fn close() {
    if let Ok(mut slot) = TUNNEL.lock() {
        if let Some(mut t) = slot.take() {
            let _ = t.child.kill();
            let _ = t.child.wait();
        }
    }
}

/// ssh's arguments for the SOCKS tunnel over the bastion on local `port`
/// (tools::tunnel): no terminal, the forward must open or ssh exits, the
/// remote side only reads standard input (the tunnel ends with obsctl).
pub fn tunnel_args(contract: &Contract, known_hosts: &Path, port: u16) -> Vec<String> {
    let mut a: Vec<String> = vec!["-T".into(), "-i".into(), contract.ssh.private_key_file.display().to_string()];
    for o in ["BatchMode=yes", "ConnectTimeout=5", "LogLevel=ERROR", "ExitOnForwardFailure=yes", "ServerAliveInterval=15"] {
        a.extend(["-o".to_string(), o.to_string()]);
    }
    a.extend(crate::tools::ssh::options(known_hosts));
    a.extend(["-D".to_string(), format!("127.0.0.1:{port}")]);
    a.extend(contract.ssh.bastion.iter().cloned());
    a.push("cat".into());
    a
}
