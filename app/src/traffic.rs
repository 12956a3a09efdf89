//! The built-in traffic generator: sends a realistic mix of requests to the
//! server itself over real HTTP, so dashboards and alerts have data without
//! a human clicking around.
//!
//! A ticker thread paces requests at about `rps` per second and hands each
//! one to a small pool of client threads. When every client is busy (e.g.
//! under an injected latency) a tick is skipped rather than queued, so the
//! generator never piles up work.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::log::{Level, Logger};
use crate::rng::Rng;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one warning per this interval when requests fail.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Ids of recently created orders kept for "get an existing order".
const KNOWN_IDS: usize = 1_000;

const CATALOGUE: &[(&str, u64)] =
    &[("widget", 1_999), ("gadget", 4_999), ("sprocket", 250), ("gizmo", 12_999), ("doohickey", 799), ("flux capacitor", 88_000)];

/// What one generated request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Create,
    List,
    GetExisting,
    GetMissing,
    CreateInvalid,
}

impl Kind {
    /// Draws a kind: 40% creates, 25% lists, 20% gets of existing orders,
    /// 10% gets of unknown ids (404), 5% invalid creates (400).
    pub fn pick(rng: &Rng) -> Kind {
        match rng.range(0, 99) {
            0..=39 => Kind::Create,
            40..=64 => Kind::List,
            65..=84 => Kind::GetExisting,
            85..=94 => Kind::GetMissing,
            _ => Kind::CreateInvalid,
        }
    }
}

/// The address the generator sends to: the listening address, with an
/// unspecified IP (0.0.0.0 / ::) replaced by loopback.
pub fn target_for(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Where generated requests go: the listening address over plain HTTP, or,
/// when the server speaks HTTPS, its internal Unix socket (plain HTTP to the
/// same HTTP server, so the generator needs no TLS client or credentials;
/// it only calls the public order endpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A running generator.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    ticker: JoinHandle<()>,
    clients: Vec<JoinHandle<()>>,
}

/// A generator that no longer starts requests; [`Stopping::join`] waits for
/// the ones still running.
pub struct Stopping {
    clients: Vec<JoinHandle<()>>,
}

struct Shared {
    target: Target,
    rng: Rng,
    known_ids: Mutex<VecDeque<u64>>,
    logger: Arc<Logger>,
    last_warning: Mutex<Option<Instant>>,
}

/// Starts sending about `rps` requests per second to `target`.
pub fn start(target: Target, rps: f64, logger: Arc<Logger>) -> Traffic {
    assert!(rps > 0.0 && rps.is_finite(), "rps must be positive");
    // Enough clients to keep up with the rate even when each request takes
    // two seconds (an injected latency), within reason.
    let client_count = ((rps * 2.0).ceil() as usize).clamp(2, 64);
    let (tx, rx) = mpsc::sync_channel::<Kind>(client_count);
    let rx = Arc::new(Mutex::new(rx));
    let shared = Arc::new(Shared {
        target,
        rng: Rng::from_entropy(),
        known_ids: Mutex::new(VecDeque::with_capacity(KNOWN_IDS)),
        logger,
        last_warning: Mutex::new(None),
    });
    let stop = Arc::new(AtomicBool::new(false));

    let clients = (0..client_count)
        .map(|i| {
            let (rx, shared) = (Arc::clone(&rx), Arc::clone(&shared));
            thread::Builder::new()
                .name(format!("traffic-{i}"))
                .spawn(move || client_loop(&rx, &shared))
                .expect("spawn traffic client thread")
        })
        .collect();
    let ticker = {
        let (stop, shared) = (Arc::clone(&stop), Arc::clone(&shared));
        thread::Builder::new()
            .name("traffic-ticker".into())
            .spawn(move || tick(rps, &stop, &tx, &shared.rng))
            .expect("spawn traffic ticker thread")
    };
    Traffic { stop, ticker, clients }
}

impl Traffic {
    pub fn stop_ticking(self) -> Stopping {
        self.stop.store(true, Ordering::Release);
        let _ = self.ticker.join(); // drops the sender: clients end when idle
        Stopping { clients: self.clients }
    }
}

impl Stopping {
    pub fn join(self) {
        for client in self.clients {
            let _ = client.join();
        }
    }
}

fn tick(rps: f64, stop: &AtomicBool, tx: &SyncSender<Kind>, rng: &Rng) {
    let interval = Duration::from_secs_f64(1.0 / rps);
    let mut next = Instant::now();
    while !stop.load(Ordering::Acquire) {
        next += interval;
        let now = Instant::now();
        if next > now {
            // Sleep in short steps so that a stop is noticed quickly.
            let wait = next - now;
            thread::sleep(wait.min(Duration::from_millis(100)));
            if wait > Duration::from_millis(100) {
                next -= interval; // not due yet: go round again
                continue;
            }
        } else if now - next > Duration::from_secs(1) {
            next = now; // fell far behind (machine paused): no burst
        }
        match tx.try_send(Kind::pick(rng)) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn client_loop(rx: &Mutex<Receiver<Kind>>, shared: &Shared) {
    loop {
        let kind = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(kind) => kind,
            Err(_) => return, // ticker stopped
        };
        if let Err(err) = shared.send(kind) {
            shared.warn(&err);
        }
    }
}

impl Shared {
    fn send(&self, kind: Kind) -> io::Result<()> {
        let rng = &self.rng;
        match kind {
            Kind::Create => {
                let (item, price) = CATALOGUE[rng.range(0, CATALOGUE.len() as u64 - 1) as usize];
                let body = serde_json::json!({
                    "item": item,
                    "quantity": rng.range(1, 5),
                    "unit_price_cents": price,
                })
                .to_string();
                let (status, body) = request(&self.target, "POST", "/orders", Some(&body))?;
                if status == 201 {
                    if let Some(id) = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["id"].as_u64()) {
                        let mut ids = self.known_ids.lock().unwrap_or_else(|e| e.into_inner());
                        if ids.len() == KNOWN_IDS {
                            ids.pop_front();
                        }
                        ids.push_back(id);
                    }
                }
            }
            Kind::List => {
                let path = format!("/orders?limit={}", rng.range(5, 50));
                request(&self.target, "GET", &path, None)?;
            }
            Kind::GetExisting => {
                let id = {
                    let ids = self.known_ids.lock().unwrap_or_else(|e| e.into_inner());
                    (!ids.is_empty()).then(|| ids[rng.range(0, ids.len() as u64 - 1) as usize])
                };
                match id {
                    Some(id) => request(&self.target, "GET", &format!("/orders/{id}"), None)?,
                    None => request(&self.target, "GET", "/orders", None)?,
                };
            }
            Kind::GetMissing => {
                let id = rng.range(1_000_000_000, 1_999_999_999);
                request(&self.target, "GET", &format!("/orders/{id}"), None)?;
            }
            Kind::CreateInvalid => {
                let body = match rng.range(0, 2) {
                    0 => r#"{"item": "", "quantity": 1, "unit_price_cents": 100}"#,
                    1 => r#"{"item": "widget", "quantity": 0, "unit_price_cents": 100}"#,
                    _ => r#"{"item": "widget", "quantity": 1"#,
                };
                request(&self.target, "POST", "/orders", Some(body))?;
            }
        }
        Ok(())
    }

    fn warn(&self, err: &io::Error) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        self.logger
            .event(Level::Warn, "traffic request failed")
            .field("error", err.to_string())
            .field("target", self.target.to_string())
            .emit();
    }
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection:
/// close`); returns the status code and the body.
pub fn request(target: &Target, method: &str, path: &str, body: Option<&str>) -> io::Result<(u16, Vec<u8>)> {
    match target {
        Target::Tcp(addr) => {
            let stream = TcpStream::connect_timeout(addr, REQUEST_TIMEOUT)?;
            stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
            stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
            exchange(stream, &addr.to_string(), method, path, body)
        }
        Target::Unix(socket) => {
            let stream = UnixStream::connect(socket)?;
            stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
            stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
            exchange(stream, "localhost", method, path, body)
        }
    }
}

fn exchange(mut stream: impl Read + Write, host: &str, method: &str, path: &str, body: Option<&str>) -> io::Result<(u16, Vec<u8>)> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: orders-api-traffic/{}\r\n\
         Accept: application/json\r\nConnection: close\r\n",
        crate::VERSION
    );
    if let Some(body) = body {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes())?;
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
}

/// Splits a raw `Connection: close` response into status and body.
pub fn parse_response(raw: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad HTTP response: {what}"));
    let header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..header_end]).map_err(|_| bad("headers not UTF-8"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status code"))?;
    Ok((status, raw[header_end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_loopback_for_unspecified_addresses() {
        assert_eq!(target_for("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(target_for("[::]:81".parse().unwrap()), "[::1]:81".parse().unwrap());
        assert_eq!(target_for("10.1.2.3:80".parse().unwrap()), "10.1.2.3:80".parse().unwrap());
    }

    #[test]
    fn mix_contains_every_kind_in_roughly_the_right_share() {
        let rng = Rng::new(1);
        let mut counts = [0usize; 5];
        for _ in 0..10_000 {
            counts[Kind::pick(&rng) as usize] += 1;
        }
        // Create 40%, List 25%, GetExisting 20%, GetMissing 10%, Invalid 5%.
        for (count, share) in counts.iter().zip([40, 25, 20, 10, 5]) {
            let expected = share * 100;
            assert!(count.abs_diff(expected) < expected / 5 + 50, "{counts:?}");
        }
    }

    #[test]
    fn parses_responses() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(raw).unwrap(), (201, b"{}".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
