//! SSH: the environment's key pair, the pinned host keys
//! (`.obsctl/<env>/ssh/known_hosts`), and the bounded wait until every host
//! answers before Ansible starts. `options` is the one place SSH options are
//! built (Ansible's inventory, the wait, the reads of installed versions).

use std::cell::RefCell;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Phase, Result};
use crate::model::contract::Contract;
use crate::tools::process::{Child, RunError};
use crate::tools::retry::{retry, Backoff};

mod record;
pub use record::record_host_keys;

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
/// Hosts are polled concurrently; the wait is bounded by `timeout`. A host
/// whose key is not the one pinned in `known_hosts` is refused at once (exit
/// 30, with what to check and how to forget the old key on purpose).
pub fn wait_for_hosts(
    contract: &Contract,
    known_hosts: &Path,
    env: &str,
    timeout: Duration,
    mut on_ready: impl FnMut(&str, Duration),
) -> Result<()> {
    let ssh_args = contract_options(contract, known_hosts);
    let deadline = Instant::now() + timeout;
    if let Some(bastion) = &contract.ssh.bastion {
        wait_for_bastion(bastion, &contract.ssh.private_key_file, known_hosts, deadline)?;
    }
    let direct = contract.ssh.bastion.is_none();
    let (tx, rx) = mpsc::channel();
    for (name, h) in &contract.hosts {
        let tx = tx.clone();
        let name = name.clone();
        let (addr, port, user) = (h.address.clone(), h.ssh_port, h.ssh_user.clone());
        let key = contract.key_of(h).to_path_buf();
        let extra = ssh_args.to_vec();
        std::thread::spawn(move || {
            let started = Instant::now();
            // A refused host key is final: waiting longer cannot change it.
            let refused = RefCell::new(None);
            let answered = retry(
                Backoff::until(deadline, Duration::from_millis(500)),
                |_| {
                    probe(&addr, port, &user, &key, &extra, direct).map_err(|f| match f {
                        Failure::HostKey { offered } => {
                            *refused.borrow_mut() = Some(offered);
                            Error::new(Phase::Hosts, "host key refused")
                        }
                        Failure::Other(m) => Error::new(Phase::Hosts, m),
                    })
                },
                |_, _, _| refused.borrow().is_none(),
            );
            let outcome = match (answered, refused.into_inner()) {
                (Ok(()), _) => Ok(started.elapsed()),
                (Err(_), Some(offered)) => Err(Err(offered)),
                (Err(e), None) => Err(Ok(e.message)),
            };
            let _ = tx.send((name, outcome));
        });
    }
    drop(tx);
    let (mut failed, mut refused) = (Vec::new(), Vec::new());
    for (name, result) in rx {
        let h = &contract.hosts[&name];
        match result {
            Ok(took) => on_ready(&name, took),
            Err(Ok(e)) => failed.push(format!("{name} ({}:{}): {e}", h.address, h.ssh_port)),
            Err(Err(offered)) => refused.push((name, known_hosts_name(&h.address, h.ssh_port), offered)),
        }
    }
    crate::signals::check()?;
    failed.sort();
    if !refused.is_empty() {
        return Err(host_key_refused(&refused, known_hosts, env).details(failed));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Phase::Hosts,
            format!("{} of {} hosts did not answer SSH within {}s", failed.len(), contract.hosts.len(), timeout.as_secs()),
        )
        .details(failed))
    }
}

/// The error for hosts whose key is not the pinned one: what to check, and
/// the command that forgets the old key on purpose. `refused`: host name,
/// its known_hosts name, the fingerprint of the key it offered.
fn host_key_refused(refused: &[(String, String, Option<String>)], known_hosts: &Path, env: &str) -> Error {
    let names: Vec<&str> = refused.iter().map(|(n, ..)| n.as_str()).collect();
    let forget: Vec<String> = refused.iter().map(|(_, kh, _)| format!("ssh-keygen -R '{kh}' -f {}", known_hosts.display())).collect();
    let mut details: Vec<String> = refused
        .iter()
        .map(|(n, kh, offered)| {
            format!("{n} ({kh}) offered {}", offered.as_deref().map_or("another key".into(), |f| format!("the key {f}")))
        })
        .collect();
    details.push(format!("pinned keys: {}", known_hosts.display()));
    Error::new(
        Phase::Hosts,
        format!(
            "the SSH host key of {} changed: it is not the key obsctl pinned, so nothing was configured (Ansible did not run)",
            names.join(", ")
        ),
    )
    .details(details)
    .hint(format!(
        "find out why before trusting it. Was the host rebuilt or its key regenerated outside obsctl (a machine Terraform \
         recreates is re-recorded by obsctl itself)? Or is something else answering at that address, someone intercepting \
         the connection? Compare the fingerprint above with the host's own, read on its console: \
         `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`. If the new key is right, forget the old one on purpose: \
         `{}`, then run `obsctl up --env {env}` again (it pins the key the host offers then)",
        forget.join(" && ")
    ))
}

/// How known_hosts names a host: `addr`, or `[addr]:port` off port 22.
pub fn known_hosts_name(addr: &str, port: u16) -> String {
    if port == 22 {
        addr.to_string()
    } else {
        format!("[{addr}]:{port}")
    }
}

/// Why an SSH login failed.
enum Failure {
    /// The host's key is not the one pinned in known_hosts (the fingerprint
    /// of the key it offered, when ssh printed it).
    HostKey {
        offered: Option<String>,
    },
    Other(String),
}

/// The error for a bastion obsctl cannot use (SSH or the tunnel): exit 30,
/// naming it and what to check.
pub fn bastion_unreachable(bastion: &str, why: &str) -> Error {
    Error::new(Phase::Hosts, format!("the bastion {bastion} is unreachable ({why}): the hosts are reached only through it")).hint(format!(
        "check that the bastion runs (the stack's `bastion` output; on the lab, `obsctl up` replaces a stopped bastion machine), \
             that your public address may reach it (aws: [aws].admin_cidrs) and that `ssh {bastion}` works with the environment's key; \
             then run the command again"
    ))
}

/// A login to the host; `direct`: first a cheap TCP connect to its port
/// (behind a bastion the host's address is not routable from here).
fn probe(addr: &str, port: u16, user: &str, key: &Path, extra: &[String], direct: bool) -> std::result::Result<(), Failure> {
    if direct {
        let sock = (addr, port)
            .to_socket_addrs()
            .map_err(|e| Failure::Other(format!("cannot resolve: {e}")))?
            .next()
            .ok_or(Failure::Other("cannot resolve".into()))?;
        TcpStream::connect_timeout(&sock, Duration::from_secs(2)).map_err(|e| Failure::Other(format!("port {port}: {e}")))?;
    }
    login(addr, port, user, key, extra, "true").map(|_| ())
}

/// Waits until the contract's bastion, if it names one, accepts a login
/// (within `timeout`): after an apply that (re)created it, before anything
/// connects through it. An error names it (exit 30).
pub fn wait_for_bastion_of(contract: &Contract, known_hosts: &Path, timeout: Duration) -> Result<()> {
    match &contract.ssh.bastion {
        Some(b) => wait_for_bastion(b, &contract.ssh.private_key_file, known_hosts, Instant::now() + timeout),
        None => Ok(()),
    }
}

/// A bastion as the contract names it, `user@host` (user root when none), in its two parts.
pub fn bastion_parts(bastion: &str) -> (&str, &str) {
    bastion.rsplit_once('@').unwrap_or(("root", bastion))
}

/// Waits until the bastion (`user@host`) accepts a login, until `deadline`:
/// else an error naming it (exit 30), before any host is tried through it.
fn wait_for_bastion(bastion: &str, key: &Path, known_hosts: &Path, deadline: Instant) -> Result<()> {
    let (user, host) = bastion_parts(bastion);
    let extra = options(known_hosts);
    let last = RefCell::new(String::new());
    retry(
        Backoff::until(deadline, Duration::from_millis(500)),
        |_| {
            probe(host, 22, user, key, &extra, true).map_err(|f| {
                let why = match f {
                    Failure::HostKey { offered } => format!(
                        "its host key {} is not the one pinned in {}",
                        offered.unwrap_or_else(|| "offered".into()),
                        known_hosts.display()
                    ),
                    Failure::Other(m) => m,
                };
                *last.borrow_mut() = why.clone();
                Error::new(Phase::Hosts, why)
            })
        },
        |_, _, _| !last.borrow().contains("host key"),
    )
    .map_err(|_| bastion_unreachable(bastion, &last.borrow()))
}

/// How many SSH sessions `run_on_all` opens at once: every host of a lab or
/// a small fleet at once; through a bastion, no more than its sshd lets
/// start unauthenticated before it drops some (`MaxStartups`, 10 by default).
const SESSIONS: usize = 32;
const SESSIONS_THROUGH_BASTION: usize = 10;

/// Runs a command on every host at once (up to a bound), one SSH round trip
/// each: per host its standard output, or the reason it failed. `command`
/// gives each host's command (None: that host is not asked, with `Err(why)`
/// as its result).
pub fn run_on_all(
    contract: &Contract,
    options: &[String],
    command: impl Fn(&str) -> std::result::Result<String, String> + Sync,
) -> std::collections::BTreeMap<String, std::result::Result<String, String>> {
    let command = &command;
    let bound = if contract.ssh.bastion.is_some() { SESSIONS_THROUGH_BASTION } else { SESSIONS };
    let queue = std::sync::Mutex::new(contract.hosts.iter());
    let next = || queue.lock().ok().and_then(|mut hosts| hosts.next());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..bound.min(contract.hosts.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((name, h)) = next() {
                        let out = command(name).and_then(|c| run(&h.address, h.ssh_port, &h.ssh_user, contract.key_of(h), options, &c));
                        done.push((name.clone(), out));
                    }
                    done
                })
            })
            .collect();
        let mut results: std::collections::BTreeMap<_, _> = workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect();
        // A worker that panicked leaves its hosts unanswered.
        for name in contract.hosts.keys() {
            results.entry(name.clone()).or_insert_with(|| Err("reading the host panicked".into()));
        }
        results
    })
}

/// Runs a shell command on a host; its standard output, or the reason it failed.
pub fn run(addr: &str, port: u16, user: &str, key: &Path, extra: &[String], command: &str) -> std::result::Result<String, String> {
    login(addr, port, user, key, extra, command).map_err(|f| match f {
        Failure::HostKey { .. } => "ssh: the host's key is not the one pinned in known_hosts (host key verification failed)".into(),
        Failure::Other(m) => m,
    })
}

fn login(addr: &str, port: u16, user: &str, key: &Path, extra: &[String], command: &str) -> std::result::Result<String, Failure> {
    let run = to(addr, port, user, key, &["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"], extra).arg(command).output();
    match run {
        Ok(out) => Ok(out.stdout),
        // ssh's last words when the key differs from the pinned one (after
        // "REMOTE HOST IDENTIFICATION HAS CHANGED!" and the offered key's fingerprint).
        Err(RunError::Exit(e)) if e.tail.iter().any(|l| l.contains("Host key verification failed")) => {
            let offered = e.tail.iter().find_map(|l| l.split_whitespace().find(|w| w.starts_with("SHA256:"))).map(str::to_string);
            Err(Failure::HostKey { offered })
        }
        Err(RunError::Exit(e)) => Err(Failure::Other(format!("ssh: {}", e.tail.back().map_or("login failed", |l| l.trim())))),
        Err(e) => Err(Failure::Other(Error::from(e).message)),
    }
}

/// Copies a file between this machine and a host with `scp` (the
/// environment's key and options): `to_host` sends `local` to `remote`,
/// otherwise `remote` is fetched into `local`.
pub fn copy(h: &HostRef<'_>, extra: &[String], local: &Path, remote: &str, to_host: bool) -> std::result::Result<(), String> {
    let remote = format!("{}@{}:{remote}", h.user, host_for_url(h.addr));
    let (from, to): (std::ffi::OsString, std::ffi::OsString) =
        if to_host { (local.into(), remote.into()) } else { (remote.into(), local.into()) };
    Child::new("scp", Phase::Hosts)
        .args(["-q", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i"])
        .arg(h.key)
        .arg("-P")
        .arg(h.port.to_string())
        .args(extra.iter())
        .arg(from)
        .arg(to)
        .output()
        .map(|_| ())
        .map_err(|e| format!("scp: {}", Error::from(e).message))
}

/// One host as `run` and `copy` reach it.
pub struct HostRef<'a> {
    pub addr: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub key: &'a Path,
}

/// An interactive `ssh` to one host in place of obsctl (its terminal, its
/// exit status), with the environment's key and pinned host keys; `command`
/// empty opens a login shell. Returns only when ssh could not start.
pub fn exec(addr: &str, port: u16, user: &str, key: &Path, extra: &[String], command: &[String]) -> Error {
    to(addr, port, user, key, &[], extra).args(command.iter()).exec()
}

/// `ssh` to `user@addr:port` with this key: `own` options first, then
/// errors only, then the environment's (`extra`); the command comes after.
fn to(addr: &str, port: u16, user: &str, key: &Path, own: &[&str], extra: &[String]) -> Child {
    Child::new("ssh", Phase::Hosts)
        .args(own.iter().copied())
        .args(["-o", "LogLevel=ERROR", "-i"])
        .arg(key)
        .arg("-p")
        .arg(port.to_string())
        .args(extra.iter())
        .arg(format!("{user}@{addr}"))
}

/// An address as the host part of a URL or an scp target: IPv6 in brackets.
pub fn host_for_url(address: &str) -> String {
    if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

/// `options`, plus a jump through the contract's bastion when it names one:
/// every connection to the contract's hosts (Ansible's, `obsctl ssh`'s, the
/// wait for SSH, the fast path's look at the hosts, the reads of installed
/// versions).
pub fn contract_options(contract: &Contract, known_hosts: &Path) -> Vec<String> {
    let mut o = options(known_hosts);
    if let Some(jump) = jump_command(contract, known_hosts) {
        o.extend(["-o".to_string(), format!("ProxyCommand={jump}")]);
    }
    o
}

/// The jump through the bastion, as a ProxyCommand rather than ProxyJump:
/// ssh passes no `-o` option on to a ProxyJump connection, so the
/// bastion's key would be checked against the user's own known_hosts (and
/// asked about, which BatchMode refuses). This one logs in with the
/// environment's key and pins the bastion's host key in the environment's
/// known_hosts, like every host's. None without a bastion.
pub fn jump_command(contract: &Contract, known_hosts: &Path) -> Option<String> {
    let bastion = contract.ssh.bastion.as_ref()?;
    let mut words: Vec<String> = vec!["ssh".into(), "-i".into(), contract.ssh.private_key_file.display().to_string()];
    for o in ["BatchMode=yes", "ConnectTimeout=5", "LogLevel=ERROR"] {
        words.extend(["-o".to_string(), o.to_string()]);
    }
    words.extend(options(known_hosts));
    words.extend(["-W".to_string(), "[%h]:%p".to_string(), bastion.clone()]);
    Some(words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "))
}

/// A word as the shell reads it back (single quotes when needed): the
/// ProxyCommand runs through the shell, and Ansible splits
/// ansible_ssh_common_args like one.
pub fn shell_quote(w: &str) -> String {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r#"'"'"'"#))
    }
}

/// SSH options for this environment's hosts: every host key is checked
/// against `.obsctl/<env>/ssh/known_hosts`, and a key that differs from the
/// pinned one is refused. Keys the stack publishes in the contract (lab
/// machines: recorded when the machine is created) are written there by
/// `record_host_keys` before the first connection; a host the contract gives
/// no key for (aws) is trusted on first use and pinned (`accept-new`), as is
/// a host whose key the operator forgot on purpose (`ssh-keygen -R`).
/// Entries are written in clear (`HashKnownHosts=no`) so obsctl can replace
/// those of a recreated machine; the file is 0600 in a 0700 directory.
pub fn options(known_hosts: &Path) -> Vec<String> {
    [
        "StrictHostKeyChecking=accept-new".to_string(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_string(),
        "HashKnownHosts=no".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect()
}

/// The key pinned for `addr:port` in `known_hosts` (`<type> <base64>`), if any.
pub fn pinned_key(known_hosts: &Path, addr: &str, port: u16) -> Option<String> {
    let kh = known_hosts_name(addr, port);
    let text = std::fs::read_to_string(known_hosts).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let names = f.next()?;
        if !names.split(',').any(|n| n == kh) {
            return None;
        }
        Some(format!("{} {}", f.next()?, f.next()?))
    })
}

/// Forgets the keys pinned for `addr:port` (a host that left the environment).
pub fn forget_key(known_hosts: &Path, addr: &str, port: u16) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(known_hosts) else { return Ok(()) };
    let kh = known_hosts_name(addr, port);
    let kept: Vec<&str> = text.lines().filter(|l| !l.split_whitespace().next().is_some_and(|n| n.split(',').any(|n| n == kh))).collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    crate::state::workspace::write_atomic(known_hosts, out.as_bytes(), 0o600)
}

/// The SHA256 fingerprint of a public key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &str) -> Option<String> {
    use base64::Engine;
    let blob = crate::model::units::base64_decode(key.split_whitespace().nth(1)?)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &blob);
    Some(format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::contract::tests::{contract, env, HOST_KEY};
    use serde_json::json;

    /// The test contract with these hosts' SSH host keys.
    pub(crate) fn keyed(keys: &[(&str, &str)]) -> Contract {
        let mut v = contract();
        for (host, key) in keys {
            v["hosts"][*host]["ssh_host_key"] = json!(key);
        }
        crate::model::contract::parse(&v.to_string(), &env()).unwrap()
    }

    #[test]
    fn options_pin_every_key_and_never_disable_checking() {
        let o = options(Path::new("/s/known_hosts")).join(" ");
        assert!(o.contains("-o StrictHostKeyChecking=accept-new"), "{o}");
        assert!(o.contains("-o UserKnownHostsFile=/s/known_hosts"), "{o}");
        assert!(!o.contains("=no") || o.contains("HashKnownHosts=no"), "{o}");
        assert!(!o.contains("StrictHostKeyChecking=no") && !o.contains("/dev/null /"), "{o}");
    }

    /// Issue 32: behind a bastion every connection jumps through it with the
    /// environment's key, and the bastion's host key is checked against the
    /// environment's known_hosts (ProxyJump would use the user's own).
    #[test]
    fn a_bastion_is_jumped_through_with_the_pinned_keys() {
        let mut v = contract();
        v["ssh"]["bastion"] = json!("admin@198.18.0.9");
        v["ssh"]["private_key_file"] = json!("/s p/id_ed25519");
        let c = crate::model::contract::parse(&v.to_string(), &env()).unwrap();
        let o = contract_options(&c, Path::new("/s/known_hosts"));
        let jump = o.iter().find_map(|w| w.strip_prefix("ProxyCommand=")).expect("a ProxyCommand");
        for needle in
            ["ssh -i '/s p/id_ed25519'", "-o UserKnownHostsFile=/s/known_hosts", "-o StrictHostKeyChecking=accept-new", "-o BatchMode=yes"]
        {
            assert!(jump.contains(needle), "{needle} missing in {jump}");
        }
        assert!(jump.ends_with("-W '[%h]:%p' admin@198.18.0.9"), "{jump}");
        assert!(!o.iter().any(|w| w.starts_with("ProxyJump")), "{o:?}");
        let t = crate::tools::tunnel::tunnel_args(&c, Path::new("/s/known_hosts"), 40123).join(" ");
        assert!(t.contains("-D 127.0.0.1:40123") && t.contains("ExitOnForwardFailure=yes") && t.ends_with("admin@198.18.0.9 cat"), "{t}");
        // Without a bastion: no jump, no tunnel.
        let direct = crate::model::contract::parse(&contract().to_string(), &env()).unwrap();
        assert!(jump_command(&direct, Path::new("/s/known_hosts")).is_none());
        assert!(crate::tools::tunnel::socks_proxy(&direct, Path::new("/s/known_hosts")).unwrap().is_none());
    }

    #[test]
    fn shell_quote_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("-o"), "-o");
        assert_eq!(shell_quote("UserKnownHostsFile=/a/b"), "UserKnownHostsFile=/a/b");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(shell_quote(""), "''");
    }

    /// An unreachable bastion: exit 30, naming it and what to check.
    #[test]
    fn an_unreachable_bastion_is_named() {
        let e = wait_for_bastion("admin@127.0.0.1", Path::new("/nonexistent"), Path::new("/nonexistent/kh"), Instant::now()).unwrap_err();
        assert_eq!(e.phase.exit_code(), 30);
        assert!(e.message.contains("bastion admin@127.0.0.1 is unreachable"), "{}", e.message);
        assert!(e.hint.unwrap().contains("admin_cidrs"));
    }

    #[test]
    fn known_hosts_names_a_port_other_than_22_in_brackets() {
        assert_eq!(known_hosts_name("10.77.0.10", 22), "10.77.0.10");
        assert_eq!(known_hosts_name("10.77.0.10", 2222), "[10.77.0.10]:2222");
    }

    #[test]
    fn an_existing_hosts_pinned_key_is_recorded_and_its_fingerprint_is_ssh_keygens() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let e = crate::model::existing::ExistingHost {
            name: "db-1".into(),
            address: "10.77.0.50".into(),
            ssh_user: "root".into(),
            ssh_key_file: "/k/db".into(),
            host_key: Some(HOST_KEY.into()),
            roles: vec![],
            groups: vec![],
        };
        let c = contract_with_existing(std::slice::from_ref(&e));
        assert_eq!(record_host_keys(None, &c, &kh).unwrap(), vec!["db-1"]);
        assert_eq!(pinned_key(&kh, "10.77.0.50", 22).as_deref(), Some(HOST_KEY));
        // Another key in the env file replaces the pin.
        let other = HOST_KEY.replace("kz5d", "kz5e");
        let c2 = contract_with_existing(&[crate::model::existing::ExistingHost { host_key: Some(other.clone()), ..e }]);
        assert_eq!(record_host_keys(Some(&c), &c2, &kh).unwrap(), vec!["db-1"]);
        assert_eq!(pinned_key(&kh, "10.77.0.50", 22), Some(other.clone()));
        // The host left the environment: its pin goes, the others stay.
        std::fs::write(&kh, format!("10.77.0.10 {HOST_KEY}\n10.77.0.50 {other}\n")).unwrap();
        forget_key(&kh, "10.77.0.50", 22).unwrap();
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), format!("10.77.0.10 {HOST_KEY}\n"));
        // SHA256 of the blob, base64 without padding (as `ssh-keygen -l` prints it).
        let fp = fingerprint(HOST_KEY).unwrap();
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 43 && !fp.ends_with('='), "{fp}");
    }

    fn contract_with_existing(e: &[crate::model::existing::ExistingHost]) -> Contract {
        let mut c = keyed(&[]);
        c.hosts.clear();
        c.with_existing(e)
    }

    #[test]
    fn a_refused_key_says_what_to_check_and_how_to_forget_it() {
        let refused = vec![("app-1".to_string(), "10.77.0.11".to_string(), Some("SHA256:abc".to_string()))];
        let e = host_key_refused(&refused, Path::new("/r/.obsctl/dev/ssh/known_hosts"), "dev");
        assert_eq!(e.phase.exit_code(), 30);
        assert!(e.message.contains("host key of app-1 changed") && e.message.contains("Ansible did not run"), "{}", e.message);
        let hint = e.hint.unwrap();
        for needle in ["recreate", "intercepting", "ssh-keygen -R '10.77.0.11' -f /r/.obsctl/dev/ssh/known_hosts", "obsctl up --env dev"] {
            assert!(hint.contains(needle), "hint lacks `{needle}`: {hint}");
        }
        assert!(e.details[0].contains("SHA256:abc"), "{:?}", e.details);
    }
}
