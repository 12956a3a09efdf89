//! End-to-end tests: start the real `orders-api` binary on a free loopback
//! port, talk to it over HTTP, and check answers, `/metrics` and the log.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The running binary; killed when dropped (a failing test leaves nothing).
struct App {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Value>>>,
}

impl App {
    fn start(extra_args: &[&str]) -> App {
        let common::Logged { child, log, started } = common::start(
            Command::new(env!("CARGO_BIN_EXE_orders-api"))
                .args(["--listen", "127.0.0.1:0", "--log-file", "-", "--workers", "4"])
                .args(extra_args),
        );
        let addr = started["listen"].as_str().unwrap().parse().unwrap();
        App { child, addr, log }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, None)
    }

    fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200);
        body
    }

    /// The metrics once every request answered so far has been counted: the
    /// server counts (and logs) a request after sending its answer, so a
    /// scrape right after the last answer can miss it. Waits, bounded, for
    /// no request to be in flight.
    fn settled_metrics(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = self.metrics();
            if sample(&metrics, "orders_http_requests_in_flight") == Some(0.0) {
                return metrics;
            }
            assert!(Instant::now() < deadline, "requests still in flight after 5s:\n{metrics}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log holds a line matching `pred`.
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

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The value of the sample line `series` (name and labels exactly as
/// exposed), or None when absent.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().unwrap())
    })
}

#[test]
fn orders_errors_faults_metrics_and_logs() {
    let app = App::start(&[]);

    let (status, body) = app.get("/healthz");
    assert_eq!((status, body.as_str()), (200, "ok"));

    // Create, read back, list.
    let (status, body) = app.call("POST", "/orders", Some(r#"{"item": "widget", "quantity": 3, "unit_price_cents": 1999}"#));
    assert_eq!(status, 201, "{body}");
    let order = json(&body);
    assert_eq!(order["item"], "widget");
    assert_eq!(order["total_cents"], 5997);
    let id = order["id"].as_u64().unwrap();
    let (status, body) = app.call("POST", "/orders", Some(r#"{"item": "gadget", "quantity": 1, "unit_price_cents": 500}"#));
    assert_eq!(status, 201, "{body}");

    let (status, body) = app.get(&format!("/orders/{id}"));
    assert_eq!(status, 200);
    assert_eq!(json(&body), order);
    let (status, body) = app.get("/orders");
    assert_eq!(status, 200);
    let items: Vec<Value> = json(&body)["orders"].as_array().unwrap().iter().map(|o| o["item"].clone()).collect();
    assert_eq!(items, ["gadget", "widget"], "newest first");
    assert_eq!(json(&app.get("/orders?limit=1").1)["orders"].as_array().unwrap().len(), 1);

    // Client errors.
    let (status, body) = app.call("POST", "/orders", Some(r#"{"item": "widget", "quantity": 0, "unit_price_cents": 1}"#));
    assert_eq!(status, 400);
    assert!(json(&body)["error"].as_str().unwrap().contains("quantity"), "{body}");
    assert_eq!(app.call("POST", "/orders", Some("not json")).0, 400);
    assert_eq!(app.get("/orders?limit=0").0, 400);
    assert_eq!(app.get("/orders/999999").0, 404);
    assert_eq!(app.get("/orders/abc").0, 404);
    assert_eq!(app.get("/no/such/page").0, 404);
    assert_eq!(app.call("DELETE", "/orders", None).0, 405);

    // Inject errors on every order request.
    let (status, body) = app.call("PUT", "/admin/faults", Some(r#"{"error_ratio": 1.0}"#));
    assert_eq!(status, 200);
    assert_eq!(json(&body), json(r#"{"error_ratio": 1.0, "latency_ms": 0}"#));
    assert_eq!(json(&app.get("/admin/faults").1)["error_ratio"], 1.0);
    for _ in 0..5 {
        let (status, body) = app.get("/orders");
        assert_eq!(status, 500);
        assert_eq!(json(&body), json(r#"{"error": "injected fault"}"#));
    }
    for _ in 0..2 {
        let (status, _) = app.get(&format!("/orders/{id}"));
        assert_eq!(status, 500);
    }
    let (status, _) = app.call("POST", "/orders", Some(r#"{"item": "lost", "quantity": 1, "unit_price_cents": 1}"#));
    assert_eq!(status, 500);
    // Faults never touch the health check or the admin API.
    assert_eq!(app.get("/healthz").0, 200);
    assert_eq!(app.call("PUT", "/admin/faults", Some(r#"{"error_ratio": 1.5}"#)).0, 400);
    assert_eq!(app.call("PUT", "/admin/faults", Some(r#"{"latency_ms": -5}"#)).0, 400);
    assert_eq!(app.call("PUT", "/admin/faults", Some(r#"{"eror_ratio": 0.5}"#)).0, 400);

    let metrics = app.settled_metrics();
    let count = |labels: &str| sample(&metrics, &format!("orders_http_requests_total{{{labels}}}"));
    assert_eq!(count(r#"method="GET",route="/orders",status="500""#), Some(5.0), "{metrics}");
    assert_eq!(count(r#"method="GET",route="/orders/{id}",status="500""#), Some(2.0));
    assert_eq!(count(r#"method="POST",route="/orders",status="500""#), Some(1.0));
    assert_eq!(count(r#"method="POST",route="/orders",status="201""#), Some(2.0));
    assert_eq!(count(r#"method="POST",route="/orders",status="400""#), Some(2.0));
    assert_eq!(count(r#"method="GET",route="/orders/{id}",status="404""#), Some(2.0));
    assert_eq!(count(r#"method="GET",route="other",status="404""#), Some(1.0));
    assert_eq!(count(r#"method="DELETE",route="/orders",status="405""#), Some(1.0));
    assert_eq!(count(r#"method="GET",route="/healthz",status="200""#), Some(2.0));
    assert_eq!(count(r#"method="PUT",route="/admin/faults",status="400""#), Some(3.0));
    // The failed create did not count as business.
    assert_eq!(sample(&metrics, "orders_created_total"), Some(2.0));
    assert_eq!(sample(&metrics, "orders_revenue_cents_total"), Some(6497.0));
    assert_eq!(sample(&metrics, "orders_fault_error_ratio"), Some(1.0));
    assert_eq!(sample(&metrics, "orders_fault_latency_seconds"), Some(0.0));
    assert_eq!(sample(&metrics, "orders_http_requests_in_flight"), Some(0.0));
    let build_info = format!(r#"orders_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&metrics, &build_info), Some(1.0));
    // Every GET /orders was timed: the histogram's +Inf bucket and _count
    // match the request counters (200s + 500s).
    let get_orders = r#"method="GET",route="/orders""#;
    let total = count(r#"method="GET",route="/orders",status="200""#).unwrap()
        + count(r#"method="GET",route="/orders",status="400""#).unwrap()
        + count(r#"method="GET",route="/orders",status="500""#).unwrap();
    assert_eq!(total, 8.0, "2 lists, 1 bad limit, 5 injected faults");
    assert_eq!(sample(&metrics, &format!(r#"orders_http_request_duration_seconds_bucket{{{get_orders},le="+Inf"}}"#)), Some(total));
    assert_eq!(sample(&metrics, &format!("orders_http_request_duration_seconds_count{{{get_orders}}}")), Some(total));
    assert!(!metrics.contains(r#"orders_http_request_duration_seconds_count{method="GET",route="/metrics"}"#));
    for name in ["process_start_time_seconds", "process_resident_memory_bytes", "process_open_fds"] {
        assert!(sample(&metrics, name).is_some_and(|v| v > 0.0), "{name} in {metrics}");
    }
    // A fresh process may have used less CPU than one clock tick.
    assert!(sample(&metrics, "process_cpu_seconds_total").is_some_and(|v| v >= 0.0));

    // Clearing the faults brings the service back.
    let (status, body) = app.call("DELETE", "/admin/faults", None);
    assert_eq!(status, 200);
    assert_eq!(json(&body), json(r#"{"error_ratio": 0.0, "latency_ms": 0}"#));
    assert_eq!(app.get("/orders").0, 200);
    assert_eq!(sample(&app.metrics(), "orders_fault_error_ratio"), Some(0.0));

    // The log: one JSON object per request, levels by status.
    let created = app.wait_for_log("for the first create", |l| l["status"] == 201 && l["order_id"] == id);
    assert_eq!(created["level"], "info");
    assert_eq!(created["msg"], "request");
    assert_eq!(created["method"], "POST");
    assert_eq!(created["route"], "/orders");
    assert_eq!(created["path"], "/orders");
    assert_eq!(created["order_id"], id);
    assert!(created["duration_ms"].as_f64().unwrap() >= 0.0);
    let ts = created["ts"].as_str().unwrap();
    assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    let injected = app.wait_for_log("for an injected fault", |l| l["status"] == 500);
    assert_eq!(injected["level"], "error");
    assert_eq!(injected["msg"], "injected fault");
    let not_found = app.wait_for_log("for the 404", |l| l["path"] == "/orders/999999");
    assert_eq!(not_found["level"], "warn");
    assert_eq!(not_found["route"], "/orders/{id}");
    assert_eq!(not_found["order_id"], 999_999);
    let set = app.wait_for_log("for setting faults", |l| l["msg"] == "faults set");
    assert_eq!((set["error_ratio"].as_f64(), set["latency_ms"].as_u64()), (Some(1.0), Some(0)));
    app.wait_for_log("for clearing faults", |l| l["msg"] == "faults cleared");
}

#[test]
fn latency_fault_slows_orders_only() {
    let app = App::start(&[]);
    let (status, _) = app.call("PUT", "/admin/faults", Some(r#"{"latency_ms": 400}"#));
    assert_eq!(status, 200);

    let started = Instant::now();
    assert_eq!(app.get("/orders").0, 200);
    let slow = started.elapsed();
    assert!(slow >= Duration::from_millis(400), "{slow:?}");

    // While order requests wait out their delay, health checks and scrapes
    // still answer at once (the delay does not hold a worker).
    let waiting: Vec<_> = (0..6)
        .map(|_| {
            let addr = app.addr;
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /orders HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(app.get("/healthz").0, 200);
    let metrics = app.metrics();
    let fast = started.elapsed();
    assert!(fast < Duration::from_millis(300), "healthz+metrics took {fast:?}");
    assert_eq!(sample(&metrics, "orders_fault_latency_seconds"), Some(0.4));
    let in_flight = sample(&metrics, "orders_http_requests_in_flight").unwrap();
    assert!(in_flight >= 1.0, "delayed requests are in flight: {in_flight}");
    for t in waiting {
        assert!(t.join().unwrap().starts_with("HTTP/1.1 200"));
    }

    // The delayed request landed above the 0.25 s bucket.
    let metrics = app.settled_metrics();
    let bucket =
        |le: &str| sample(&metrics, &format!(r#"orders_http_request_duration_seconds_bucket{{method="GET",route="/orders",le="{le}"}}"#));
    assert_eq!(bucket("0.25"), Some(0.0), "{metrics}");
    assert_eq!(bucket("+Inf"), Some(7.0));
}

#[test]
fn traffic_generator_exercises_the_api() {
    let app = App::start(&["--traffic-rps", "40"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.metrics();
        let created = sample(&metrics, "orders_created_total").unwrap_or(0.0);
        let found = sample(&metrics, r#"orders_http_requests_total{method="GET",route="/orders/{id}",status="200"}"#);
        let missing = sample(&metrics, r#"orders_http_requests_total{method="GET",route="/orders/{id}",status="404"}"#);
        let listed = sample(&metrics, r#"orders_http_requests_total{method="GET",route="/orders",status="200"}"#);
        if created >= 3.0 && found.is_some() && missing.is_some() && listed.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "generator did not produce the mix:\n{metrics}");
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut app = App::start(&["--traffic-rps", "20"]);
    // A pending delayed response must not hold up the shutdown.
    assert_eq!(app.call("PUT", "/admin/faults", Some(r#"{"latency_ms": 10000}"#)).0, 200);
    thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(app.child.id() as i32, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "still running 3 s after SIGTERM");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    app.wait_for_log("saying it stopped", |l| l["msg"] == "stopped");
    let shutdown = app.wait_for_log("on shutdown", |l| l["msg"] == "shutting down");
    assert_eq!(shutdown["signal"], "SIGTERM");
}

#[test]
fn version_and_bad_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_orders-api")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("orders-api {}", env!("CARGO_PKG_VERSION")));
    let out = Command::new(env!("CARGO_BIN_EXE_orders-api")).args(["--traffic-rps", "5000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--traffic-rps"));
    let out = Command::new(env!("CARGO_BIN_EXE_orders-api"))
        .args(["--listen", "127.0.0.1:0", "--log-file", "/nonexistent-dir/x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/x.log"));
}
