//! `--web-config-file`: start the real binary with a certificate from a test
//! CA made here (rcgen) and bcrypt-hashed users, then talk HTTPS to it with
//! rustls: open endpoints stay open, /metrics and /admin/* need the right
//! credentials, clients that do not speak TLS or do not trust the CA get
//! nothing, and bad web config files stop the start with a clear message.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

const PROM_PW: &str = "scrape-password-0123456789abcdef";
const OPS_PW: &str = "operator-password-0123456789abcd";

/// A directory under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("orders-api-test-{}-{name}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA and a server certificate for localhost and 127.0.0.1.
struct Pki {
    ca: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, CertificateDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.der().clone())
}

fn pki() -> Pki {
    let (issuer, ca) = ca("orders-api test CA");
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki { ca, cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

fn web_yml(cert: &str, key: &str) -> String {
    format!(
        "# exporter-toolkit web config\ntls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  \
         prometheus: '{}'\n  obsctl: {}\n",
        bcrypt::hash(PROM_PW, 4).unwrap(),
        bcrypt::hash(OPS_PW, 4).unwrap()
    )
}

/// The running binary with a web config; killed when dropped.
struct App {
    child: Child,
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    started: Value,
    dir: TestDir,
    log: Arc<Mutex<Vec<Value>>>,
}

impl App {
    fn start(extra_args: &[&str]) -> App {
        let dir = TestDir::new("app");
        let pki = pki();
        dir.write("server.crt", &pki.cert_pem);
        dir.write("server.key", &pki.key_pem);
        // Relative paths: resolved against the config file's directory.
        let config = dir.write("web.yml", &web_yml("server.crt", "server.key"));
        let tmp = dir.0.join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let common::Logged { child, log, started } = common::start(
            Command::new(env!("CARGO_BIN_EXE_orders-api"))
                .args(["--listen", "127.0.0.1:0", "--log-file", "-", "--workers", "4", "--web-config-file"])
                .arg(&config)
                .args(extra_args)
                .env("TMPDIR", &tmp),
        );
        let addr = started["listen"].as_str().unwrap().parse().unwrap();
        App { child, addr, ca: pki.ca, started, dir, log }
    }

    fn call(&self, method: &str, path: &str, auth: Option<(&str, &str)>, body: &str) -> Response {
        https(self.addr, &self.ca, &request(method, path, auth, body, true)).expect("HTTPS exchange")
    }

    fn get(&self, path: &str, auth: Option<(&str, &str)>) -> Response {
        self.call("GET", path, auth, "")
    }

    fn wait_for_log(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        common::wait_for_log(&self.log, what, pred)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request(method: &str, path: &str, auth: Option<(&str, &str)>, body: &str, close: bool) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    format!("{head}\r\n{body}")
}

fn client_config(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Sends `raw` over TLS (trusting only `ca`, checking the name 127.0.0.1)
/// and reads until the server closes.
fn https_raw(addr: SocketAddr, ca: &CertificateDer<'static>, raw: &str) -> std::io::Result<String> {
    let conn = rustls::ClientConnection::new(client_config(ca), ServerName::try_from("127.0.0.1").unwrap().to_owned())
        .map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(raw.as_bytes())?;
    tls.flush()?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

fn https(addr: SocketAddr, ca: &CertificateDer<'static>, raw: &str) -> std::io::Result<Response> {
    let text = https_raw(addr, ca, raw)?;
    let (head, body) = text.split_once("\r\n\r\n").expect("end of headers");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if header(head, "Transfer-Encoding") == Some("chunked") { dechunk(body) } else { body.to_owned() };
    Ok(Response { status, head: head.to_owned(), body })
}

/// The body of a `Transfer-Encoding: chunked` response (tiny_http uses it
/// for large answers).
fn dechunk(mut raw: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, rest) = raw.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&rest[..size]);
        raw = rest[size..].strip_prefix("\r\n").expect("CRLF after chunk");
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn open_endpoints_stay_open_over_https() {
    let app = App::start(&[]);
    assert_eq!(app.started["scheme"], "https");

    let r = app.get("/healthz", None);
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let r = app.call("POST", "/orders", None, r#"{"item": "widget", "quantity": 2, "unit_price_cents": 1999}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = serde_json::from_str::<Value>(&r.body).unwrap()["id"].as_u64().unwrap();
    let r = app.get(&format!("/orders/{id}"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get("/orders", None).status, 200);
    assert_eq!(app.get("/orders/999999", None).status, 404);

    // The internal socket lives in a private directory under TMPDIR.
    let dirs: Vec<_> = std::fs::read_dir(app.dir.0.join("tmp")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert_eq!(std::fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o777, 0o700, "{:?}", dirs[0]);
}

#[test]
fn metrics_and_admin_refuse_missing_and_wrong_credentials() {
    let app = App::start(&[]);
    let wrong: [Option<(&str, &str)>; 5] =
        [None, Some(("prometheus", "wrong")), Some(("prometheus", OPS_PW)), Some(("nobody", PROM_PW)), Some(("", ""))];
    for auth in wrong {
        for (method, path, body) in [
            ("GET", "/metrics", ""),
            ("GET", "/admin/faults", ""),
            ("PUT", "/admin/faults", r#"{"error_ratio": 1.0}"#),
            ("DELETE", "/admin/faults", ""),
            ("GET", "/admin/unknown", ""),
        ] {
            let r = app.call(method, path, auth, body);
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.body);
            assert_eq!(header(&r.head, "WWW-Authenticate"), Some(r#"Basic realm="orders-api""#), "{}", r.head);
            assert!(!r.body.contains("orders_http_requests_total"), "{}", r.body);
        }
    }
    // Not a Basic header at all.
    let raw = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n";
    assert_eq!(https(app.addr, &app.ca, raw).unwrap().status, 401);

    // The refused PUT changed nothing: orders are served without faults.
    let r = app.get("/admin/faults", Some(("obsctl", OPS_PW)));
    assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap(), serde_json::json!({"error_ratio": 0.0, "latency_ms": 0}));
}

#[test]
fn right_credentials_are_accepted() {
    let app = App::start(&[]);
    assert_eq!(app.get("/metrics", None).status, 401);
    for _ in 0..3 {
        // Repeated scrapes (the later ones answered from the cache).
        let r = app.get("/metrics", Some(("prometheus", PROM_PW)));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("# TYPE orders_http_requests_total counter"), "{}", r.body);
    }
    let r = app.get("/metrics", Some(("obsctl", OPS_PW)));
    // The refused scrape is counted like any request.
    assert_eq!(sample(&r.body, r#"orders_http_requests_total{method="GET",route="/metrics",status="401"}"#), Some(1.0), "{}", r.body);
    // A cached success does not let another password in.
    assert_eq!(app.get("/metrics", Some(("prometheus", "scrape-password-0123456789abcdeX"))).status, 401);

    let r = app.call("PUT", "/admin/faults", Some(("obsctl", OPS_PW)), r#"{"error_ratio": 1.0}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.call("POST", "/orders", None, r#"{"item": "widget", "quantity": 1, "unit_price_cents": 1}"#);
    assert_eq!((r.status, r.body.trim()), (500, r#"{"error":"injected fault"}"#));
    assert_eq!(app.call("DELETE", "/admin/faults", Some(("obsctl", OPS_PW)), "").status, 200);
    let set = app.wait_for_log("for setting faults", |l| l["msg"] == "faults set");
    assert_eq!((set["user"].as_str(), set["error_ratio"].as_f64()), (Some("obsctl"), Some(1.0)), "{set}");
    let cleared = app.wait_for_log("for clearing faults", |l| l["msg"] == "faults cleared");
    assert_eq!(cleared["user"], "obsctl", "{cleared}");
    assert_eq!(app.call("POST", "/orders", None, r#"{"item": "widget", "quantity": 1, "unit_price_cents": 1}"#).status, 201);
}

/// `--admin-users obsctl`: the scrape account reads /metrics but gets 403
/// on everything under /admin, and injects no fault.
#[test]
fn admin_users_alone_reach_admin() {
    let app = App::start(&["--admin-users", "obsctl"]);
    assert_eq!(app.get("/metrics", Some(("prometheus", PROM_PW))).status, 200);
    for (method, path, body) in
        [("GET", "/admin/faults", ""), ("PUT", "/admin/faults", r#"{"error_ratio": 1.0}"#), ("GET", "/admin/unknown", "")]
    {
        let r = app.call(method, path, Some(("prometheus", PROM_PW)), body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
    // A wrong password is still 401, not 403.
    assert_eq!(app.get("/admin/faults", Some(("prometheus", "wrong-password-0123456789abcdefg"))).status, 401);
    let r = app.get("/admin/faults", Some(("obsctl", OPS_PW)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""error_ratio":0"#), "{}", r.body);
}

#[test]
fn clients_without_tls_or_trust_get_nothing() {
    let app = App::start(&[]);
    // A connection that never handshakes does not hold up others.
    let idle = TcpStream::connect(app.addr).unwrap();

    // Plain HTTP to the HTTPS port: no HTTP answer.
    let mut plain = TcpStream::connect(app.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP/"), "plain HTTP was answered: {:?}", String::from_utf8_lossy(&out));

    // A client that trusts another CA fails the handshake.
    let (_, other_ca) = ca("some other CA");
    let err = https(app.addr, &other_ca, &request("GET", "/healthz", None, "", true)).err().expect("handshake must fail");
    assert!(err.to_string().contains("certificate"), "{err}");

    // The right client still gets through.
    assert_eq!(app.get("/healthz", None).status, 200);
    drop(idle);
}

#[test]
fn keep_alive_and_large_bodies_cross_the_tls_relay() {
    let app = App::start(&[]);
    // Three requests on one connection; a 60 KB body (several TLS records).
    let padded = format!(r#"{{"item": "widget", "quantity": 1, "unit_price_cents": 5{}}}"#, " ".repeat(60_000));
    let raw = [
        request("GET", "/healthz", None, "", false),
        request("POST", "/orders", None, &padded, false),
        request("GET", "/metrics", Some(("prometheus", PROM_PW)), "", true),
    ]
    .concat();
    let out = https_raw(app.addr, &app.ca, &raw).unwrap();
    // (Bodies need not end in a newline: find the status lines anywhere.)
    let statuses: Vec<&str> = out.match_indices("HTTP/1.1 ").map(|(i, _)| &out[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["200", "201", "200"], "{out}");
    // (Pipelined requests are answered in order but may be handled in
    // parallel: the scrape need not see the order yet.)
    assert!(out.contains("# TYPE orders_created_total counter"), "{out}");
    let r = app.get("/orders", None);
    assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["orders"].as_array().unwrap().len(), 1, "{}", r.body);
    // A large response (a list of orders) comes back whole.
    for _ in 0..300 {
        assert_eq!(app.call("POST", "/orders", None, r#"{"item": "widget", "quantity": 1, "unit_price_cents": 5}"#).status, 201);
    }
    let r = app.get("/orders?limit=500", None);
    assert_eq!(header(&r.head, "Transfer-Encoding"), Some("chunked"), "{}", r.head);
    assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["orders"].as_array().unwrap().len(), 301, "{}", r.head);
    assert!(r.body.len() > 2 * 16 * 1024, "{}", r.body.len()); // more than two relay chunks
}

#[test]
fn traffic_generator_runs_with_tls() {
    let app = App::start(&["--traffic-rps", "40"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get("/metrics", Some(("prometheus", PROM_PW)));
        if sample(&r.body, "orders_created_total").is_some_and(|n| n >= 3.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the traffic generator created no orders:\n{}", r.body);
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigterm_removes_the_private_socket_directory() {
    let mut app = App::start(&[]);
    assert_eq!(app.get("/healthz", None).status, 200);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(app.child.id() as i32, libc::SIGTERM) }, 0);
    let status = app.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(std::fs::read_dir(app.dir.0.join("tmp")).unwrap().count(), 0);
}

/// Runs the binary with `web.yml` written from `content` (in a directory
/// holding a valid server.crt/server.key and other.key, a key of another
/// certificate) and returns its output; it must not start.
fn refused(dir: &TestDir, content: &str) -> (PathBuf, String) {
    let config = dir.write("web.yml", content);
    let out = run_with_config(&config);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{content}\nstdout: {}\nstderr: {stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("started"), "{content}");
    assert!(stderr.contains(&config.display().to_string()), "the error must name the file: {stderr}");
    (config, stderr)
}

fn run_with_config(config: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orders-api"))
        .args(["--listen", "127.0.0.1:0", "--log-file", "-", "--web-config-file"])
        .arg(config)
        // Its private socket directory, if it ever started, stays in the test's directory.
        .env("TMPDIR", config.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A config that were wrongly accepted would start a server: bound wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn bad_web_config_files_are_refused_with_the_file_and_key() {
    let dir = TestDir::new("bad");
    let pki = pki();
    dir.write("server.crt", &pki.cert_pem);
    dir.write("server.key", &pki.key_pem);
    dir.write("other.key", &KeyPair::generate().unwrap().serialize_pem());
    dir.write("empty.crt", "");
    let good = web_yml("server.crt", "server.key");

    // The file itself is missing.
    let missing = dir.0.join("absent.yml");
    let out = run_with_config(&missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("web config {}: cannot read the file", missing.display())), "{stderr}");

    // Sanity: the good file is accepted (so the refusals below are about
    // what each case changes).
    let config = dir.write("web.yml", &good);
    let mut ok = Command::new(env!("CARGO_BIN_EXE_orders-api"))
        .args(["--listen", "127.0.0.1:0", "--log-file", "-", "--web-config-file"])
        .arg(&config)
        .env("TMPDIR", &dir.0) // killed below: its socket directory goes with the test's
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(ok.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = ok.kill();
    let _ = ok.wait();
    assert!(line.contains(r#""msg":"started""#), "{line}");

    let cases: [(String, &[&str]); 7] = [
        (
            good.replace("tls_server_config:\n", "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"),
            &["tls_server_config.client_auth_type", "unsupported"],
        ),
        (format!("{good}http_server_config:\n  http2: false\n"), &["http_server_config"]),
        (web_yml("nope.crt", "server.key"), &["tls_server_config.cert_file", "nope.crt", "No such file"]),
        (web_yml("server.crt", "nope.key"), &["tls_server_config.key_file", "nope.key"]),
        (web_yml("empty.crt", "server.key"), &["tls_server_config.cert_file", "no PEM certificate"]),
        (web_yml("server.crt", "other.key"), &["tls_server_config.key_file", "does not fit"]),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  obsctl: hunter2\n".into(),
            &["basic_auth_users.obsctl", "not a bcrypt hash"],
        ),
    ];
    for (content, expected) in cases {
        let (_, stderr) = refused(&dir, &content);
        for want in expected {
            assert!(stderr.contains(want), "expected {want:?} in: {stderr}");
        }
    }
    let (_, stderr) = refused(&dir, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    assert!(stderr.contains("basic_auth_users: missing"), "{stderr}");
}
