//! The HTTP server: routing, handlers, fault injection, and the bookkeeping
//! (metrics, one log line) done for every answered request.
//!
//! Threads: tiny_http's acceptor and connection threads read requests into a
//! queue; a fixed pool of `workers` threads takes them from the queue and
//! answers them. A response held back by an injected latency is handed to a
//! single "delayer" thread that sends it when it is due, so the workers stay
//! free and `/metrics` and `/healthz` keep answering promptly while `/orders`
//! is slowed down.
//!
//! With a web config (`--web-config-file`), tiny_http listens on a private
//! Unix socket behind the TLS relay of [`crate::tls`], and `/metrics` and
//! `/admin/*` require basic auth ([`crate::auth`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response};

use crate::auth::{self, BasicAuth};
use crate::faults::{FaultInjector, Faults};
use crate::log::{Level, Logger};
use crate::metrics::{self, Metrics};
use crate::orders::{NewOrder, Store};
use crate::process;
use crate::tls::{self, PrivateDir};
use crate::traffic;
use crate::webconfig::WebConfig;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `GET /orders` returns this many orders unless `?limit=N` says otherwise.
pub const DEFAULT_LIST_LIMIT: usize = 50;
pub const MAX_LIST_LIMIT: usize = 500;
/// Responses waiting for an injected delay; beyond this they go out at once.
const MAX_DELAYED: usize = 10_000;
/// On shutdown, workers keep answering queued requests for at most this long.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);
/// Paths longer than this are cut in log lines.
const MAX_LOGGED_PATH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub workers: usize,
    pub max_orders: usize,
    /// `--admin-users`: the only users that may use `/admin/*` (the others
    /// that basic auth accepts may read `/metrics` only); `None`: all of them.
    pub admin_users: Option<Vec<String>>,
}

/// A request path mapped to its route template (the `route` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Orders,
    /// `/orders/{id}`; `None` when the id is not a number (answered 404).
    OrderById(Option<u64>),
    Healthz,
    Metrics,
    AdminFaults,
    Other,
}

impl Route {
    /// `path` is the URL path without the query string.
    pub fn classify(path: &str) -> Route {
        match path {
            "/orders" => Route::Orders,
            "/healthz" => Route::Healthz,
            "/metrics" => Route::Metrics,
            "/admin/faults" => Route::AdminFaults,
            _ => match path.strip_prefix("/orders/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::OrderById(id.parse().ok()),
                _ => Route::Other,
            },
        }
    }

    /// The value of the `route` label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Orders => "/orders",
            Route::OrderById(_) => "/orders/{id}",
            Route::Healthz => "/healthz",
            Route::Metrics => "/metrics",
            Route::AdminFaults => "/admin/faults",
            Route::Other => "other",
        }
    }

    /// Routes that need credentials when basic auth is configured: the
    /// metrics and everything under `/admin` (known or not, so that an
    /// anonymous client learns nothing about what is there).
    pub fn needs_auth(self, path: &str) -> bool {
        self == Route::Metrics || Route::is_admin(path)
    }

    /// Everything under `/admin`, known or not.
    pub fn is_admin(path: &str) -> bool {
        path == "/admin" || path.starts_with("/admin/")
    }

    /// Injected faults apply to the order routes only.
    pub fn takes_faults(self) -> bool {
        matches!(self, Route::Orders | Route::OrderById(_))
    }
}

/// The value of the `method` label; unusual methods share one value so that
/// clients cannot create unbounded series.
pub fn method_label(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
        Method::Options => "OPTIONS",
        _ => "OTHER",
    }
}

/// The answer to a request, before it is sent.
struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    order_id: Option<u64>,
    injected: bool,
}

impl Reply {
    fn text(status: u16, body: String, content_type: &'static str) -> Reply {
        Reply { status, body, content_type, headers: Vec::new(), order_id: None, injected: false }
    }

    fn json(status: u16, value: &Value) -> Reply {
        let mut body = value.to_string();
        body.push('\n');
        Reply::text(status, body, "application/json")
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, &json!({ "error": message }))
    }

    fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn method_not_allowed(allow: &'static str) -> Reply {
        Reply::error(405, "method not allowed").with_header("Allow", allow.to_owned())
    }

    fn unauthorized() -> Reply {
        Reply::error(401, "authentication required").with_header("WWW-Authenticate", format!("Basic realm=\"{}\"", auth::REALM))
    }

    fn forbidden() -> Reply {
        Reply::error(403, "this user may not use /admin")
    }

    fn injected_fault() -> Reply {
        Reply { injected: true, ..Reply::error(500, "injected fault") }
    }
}

/// A request with its reply, waiting to be sent.
struct Pending {
    request: Request,
    reply: Reply,
    started: Instant,
    method: &'static str,
    route: Route,
    path: String,
}

/// A protected route was asked for without valid credentials.
struct Unauthorized;

/// The state shared by all threads.
struct App {
    store: Store,
    metrics: Metrics,
    faults: FaultInjector,
    logger: Arc<Logger>,
    /// Basic auth for [`Route::needs_auth`] routes; `None` without a web config.
    auth: Option<BasicAuth>,
    /// [`ServerConfig::admin_users`].
    admin_users: Option<Vec<String>>,
}

impl App {
    fn handle(&self, delayer: &Delayer, mut request: Request) {
        let started = Instant::now();
        let method = method_label(request.method());
        let (path, query) = match request.url().split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (request.url().to_owned(), None),
        };
        let route = Route::classify(&path);
        if route != Route::Metrics {
            self.metrics.request_started();
        }
        let faults = if route.takes_faults() { self.faults.current() } else { Faults::default() };
        let reply = match self.authenticate(&request, route, &path) {
            Err(Unauthorized) => Reply::unauthorized(),
            Ok(Some(user)) if Route::is_admin(&path) && !self.may_administer(&user) => Reply::forbidden(),
            Ok(_) if self.faults.should_fail(&faults) => Reply::injected_fault(),
            Ok(user) => self.dispatch(&mut request, method, route, query.as_deref(), user.as_deref()),
        };
        let pending = Pending { request, reply, started, method, route, path };
        if faults.latency_ms > 0 {
            delayer.schedule(self, started + faults.latency(), pending);
        } else {
            self.finish(pending);
        }
    }

    /// The authenticated user on a route that needs one (`Ok(None)` when
    /// the route is open or no basic auth is configured).
    fn authenticate(&self, request: &Request, route: Route, path: &str) -> Result<Option<String>, Unauthorized> {
        let Some(auth) = &self.auth else { return Ok(None) };
        if !route.needs_auth(path) {
            return Ok(None);
        }
        let header = request.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.as_str());
        auth.check(header).map(Some).ok_or(Unauthorized)
    }

    fn may_administer(&self, user: &str) -> bool {
        self.admin_users.as_ref().is_none_or(|users| users.iter().any(|u| u == user))
    }

    fn dispatch(&self, request: &mut Request, method: &'static str, route: Route, query: Option<&str>, user: Option<&str>) -> Reply {
        match (route, method) {
            (Route::Healthz, "GET") => Reply::text(200, "ok".into(), "text/plain; charset=utf-8"),
            (Route::Healthz, _) => Reply::method_not_allowed("GET"),
            (Route::Metrics, "GET") => {
                let text = self.metrics.render(&self.faults.current(), &process::collect(), crate::VERSION);
                Reply::text(200, text, metrics::CONTENT_TYPE)
            }
            (Route::Metrics, _) => Reply::method_not_allowed("GET"),
            (Route::Orders, "GET") => self.list_orders(query),
            (Route::Orders, "POST") => self.create_order(request),
            (Route::Orders, _) => Reply::method_not_allowed("GET, POST"),
            (Route::OrderById(id), "GET") => {
                let found = id.and_then(|id| self.store.get(id));
                let mut reply = match found {
                    Some(order) => Reply::json(200, &order.to_json()),
                    None => Reply::error(404, "order not found"),
                };
                reply.order_id = id;
                reply
            }
            (Route::OrderById(_), _) => Reply::method_not_allowed("GET"),
            (Route::AdminFaults, "GET") => Reply::json(200, &self.faults.current().to_json()),
            (Route::AdminFaults, "PUT") => {
                match read_body(request).and_then(|body| Faults::parse(&body).map_err(|msg| Reply::error(400, &msg))) {
                    Ok(faults) => self.set_faults(faults, user),
                    Err(reply) => reply,
                }
            }
            (Route::AdminFaults, "DELETE") => self.set_faults(Faults::default(), user),
            (Route::AdminFaults, _) => Reply::method_not_allowed("GET, PUT, DELETE"),
            (Route::Other, _) => Reply::error(404, "not found"),
        }
    }

    fn list_orders(&self, query: Option<&str>) -> Reply {
        let limit = match query_param(query, "limit") {
            None => DEFAULT_LIST_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
                _ => return Reply::error(400, &format!("limit must be an integer between 1 and {MAX_LIST_LIMIT}")),
            },
        };
        let orders: Vec<Value> = self.store.list(limit).iter().map(|o| o.to_json()).collect();
        Reply::json(200, &json!({ "orders": orders }))
    }

    fn create_order(&self, request: &mut Request) -> Reply {
        let new = match read_body(request).and_then(|body| NewOrder::parse(&body).map_err(|msg| Reply::error(400, &msg))) {
            Ok(new) => new,
            Err(reply) => return reply,
        };
        let order = self.store.create(new);
        self.metrics.order_created(order.total_cents);
        let mut reply = Reply::json(201, &order.to_json()).with_header("Location", format!("/orders/{}", order.id));
        reply.order_id = Some(order.id);
        reply
    }

    /// `user`: who did it, when basic auth is configured (logged).
    fn set_faults(&self, faults: Faults, user: Option<&str>) -> Reply {
        self.faults.set(faults);
        let level = if faults.is_active() { Level::Warn } else { Level::Info };
        let msg = if faults.is_active() { "faults set" } else { "faults cleared" };
        self.logger
            .event(level, msg)
            .field("error_ratio", faults.error_ratio)
            .field("latency_ms", faults.latency_ms)
            .field_opt("user", user)
            .emit();
        Reply::json(200, &faults.to_json())
    }

    /// Sends the reply, then counts and logs the request.
    fn finish(&self, pending: Pending) {
        let Pending { request, reply, started, method, route, path } = pending;
        let status = reply.status;
        let mut response = Response::from_string(reply.body).with_status_code(status);
        for (name, value) in std::iter::once(("Content-Type", reply.content_type.to_owned())).chain(reply.headers) {
            if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        // The client may have gone away; the request still counts.
        let _ = request.respond(response);
        let elapsed = started.elapsed();

        let is_scrape = route == Route::Metrics;
        self.metrics.observe_request(method, route.label(), status, (!is_scrape).then_some(elapsed));
        if !is_scrape {
            self.metrics.request_finished();
        }
        let order_id = reply.order_id.or(match route {
            Route::OrderById(id) => id,
            _ => None,
        });
        self.logger
            .event(Level::for_status(status), if reply.injected { "injected fault" } else { "request" })
            .field("method", method)
            .field("route", route.label())
            .field("path", truncate(&path, MAX_LOGGED_PATH))
            .field("status", status)
            .field("duration_ms", (elapsed.as_secs_f64() * 1e6).round() / 1e3)
            .field_opt("order_id", order_id)
            .emit();
    }
}

fn read_body(request: &mut Request) -> Result<Vec<u8>, Reply> {
    let too_large = || Reply::error(413, &format!("body larger than {MAX_BODY_BYTES} bytes"));
    if request.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|_| Reply::error(400, "could not read the request body"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(body)
}

/// The raw value of `key` in a query string (no percent-decoding: the only
/// parameter is numeric).
fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|pair| pair.split_once('=').or(Some((pair, "")))).find_map(|(k, v)| (k == key).then_some(v))
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Holds replies until their injected delay has passed.
#[derive(Default)]
struct Delayer {
    queue: Mutex<DelayQueue>,
    wake: Condvar,
}

#[derive(Default)]
struct DelayQueue {
    heap: BinaryHeap<Delayed>,
    next_seq: u64,
    closed: bool,
}

struct Delayed {
    due: Instant,
    seq: u64,
    pending: Pending,
}

// BinaryHeap is a max-heap: order so that the earliest `due` is greatest.
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Delayed {}

impl Delayer {
    fn lock(&self) -> std::sync::MutexGuard<'_, DelayQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn schedule(&self, app: &App, due: Instant, pending: Pending) {
        let mut queue = self.lock();
        if queue.closed || queue.heap.len() >= MAX_DELAYED {
            drop(queue);
            app.finish(pending);
            return;
        }
        let seq = queue.next_seq;
        queue.next_seq += 1;
        queue.heap.push(Delayed { due, seq, pending });
        drop(queue);
        self.wake.notify_one();
    }

    /// The delayer thread: sends each reply when due; once closed, sends
    /// whatever is left at once and returns.
    fn run(&self, app: &App) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            match queue.heap.peek().map(|d| d.due) {
                Some(due) if queue.closed || due <= now => {
                    let delayed = queue.heap.pop().expect("peeked");
                    drop(queue);
                    app.finish(delayed.pending);
                    queue = self.lock();
                }
                Some(due) => queue = self.wake.wait_timeout(queue, due - now).unwrap_or_else(|e| e.into_inner()).0,
                None if queue.closed => return,
                None => queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }
}

/// A running server; [`Running::shutdown`] stops it.
pub struct Running {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    delayer: Arc<Delayer>,
    delayer_thread: JoinHandle<()>,
    http: Arc<tiny_http::Server>,
    /// With TLS: the internal socket and its directory (removed on drop).
    backend: Option<(PathBuf, PrivateDir)>,
}

/// Binds `config.listen` and starts the worker and delayer threads; with a
/// web config, serves HTTPS through the TLS relay and checks basic auth.
pub fn start(config: &ServerConfig, web: Option<&WebConfig>, logger: Arc<Logger>) -> io::Result<Running> {
    let (http, addr, backend) = match web {
        None => {
            let http = tiny_http::Server::http(config.listen).map_err(io::Error::other)?;
            let addr = http.server_addr().to_ip().ok_or_else(|| io::Error::other("listener has no IP address"))?;
            (http, addr, None)
        }
        Some(web) => {
            let dir = PrivateDir::create().map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create a private directory in {}: {e}", std::env::temp_dir().display()))
            })?;
            let socket = dir.path().join("http.sock");
            let http = tiny_http::Server::http_unix(&socket).map_err(io::Error::other)?;
            let addr = tls::start(config.listen, Arc::clone(&web.tls), socket.clone(), Arc::clone(&logger))?;
            (http, addr, Some((socket, dir)))
        }
    };
    let http = Arc::new(http);
    let app = Arc::new(App {
        store: Store::new(config.max_orders),
        metrics: Metrics::default(),
        faults: FaultInjector::default(),
        logger,
        auth: web.map(|web| BasicAuth::new(web.users.clone())),
        admin_users: config.admin_users.clone(),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let delayer = Arc::new(Delayer::default());

    let delayer_thread = {
        let (app, delayer) = (Arc::clone(&app), Arc::clone(&delayer));
        thread::Builder::new().name("delayer".into()).spawn(move || delayer.run(&app))?
    };
    let workers = (0..config.workers)
        .map(|i| {
            let (app, delayer, http, stopping) = (Arc::clone(&app), Arc::clone(&delayer), Arc::clone(&http), Arc::clone(&stopping));
            thread::Builder::new().name(format!("worker-{i}")).spawn(move || work(&app, &delayer, &http, &stopping))
        })
        .collect::<io::Result<Vec<_>>>()?;

    Ok(Running { addr, stopping, workers, delayer, delayer_thread, http, backend })
}

fn work(app: &App, delayer: &Delayer, http: &tiny_http::Server, stopping: &AtomicBool) {
    let mut drain_until = None;
    loop {
        let stop = stopping.load(Ordering::Acquire);
        if stop {
            let until = *drain_until.get_or_insert_with(|| Instant::now() + SHUTDOWN_DRAIN);
            if Instant::now() >= until {
                return;
            }
        }
        let wait = if stop { Duration::from_millis(20) } else { Duration::from_millis(200) };
        match http.recv_timeout(wait) {
            Ok(Some(request)) => {
                // A bug in a handler must not cost a worker thread.
                let handled = panic::catch_unwind(AssertUnwindSafe(|| app.handle(delayer, request)));
                if handled.is_err() {
                    app.logger.event(Level::Error, "request handler panicked").emit();
                }
            }
            Ok(None) if stop => return, // queue drained
            Ok(None) => {}
            Err(err) => {
                // tiny_http stops accepting after an accept error; exit so
                // that systemd (Restart=on-failure) starts a fresh process.
                app.logger.event(Level::Error, "listener failed, exiting").field("error", err.to_string()).emit();
                std::process::exit(1);
            }
        }
    }
}

impl Running {
    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the traffic generator sends: the listening address, or with
    /// TLS the internal socket.
    pub fn traffic_target(&self) -> traffic::Target {
        match &self.backend {
            None => traffic::Target::Tcp(traffic::target_for(self.addr)),
            Some((socket, _)) => traffic::Target::Unix(socket.clone()),
        }
    }

    /// Answers what is already queued (for at most a couple of seconds),
    /// sends delayed replies at once, and closes the listener.
    pub fn shutdown(self) {
        self.stopping.store(true, Ordering::Release);
        for worker in self.workers {
            let _ = worker.join();
        }
        self.delayer.close();
        let _ = self.delayer_thread.join();
        drop(self.http);
        drop(self.backend);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_routes() {
        assert_eq!(Route::classify("/orders"), Route::Orders);
        assert_eq!(Route::classify("/orders/42"), Route::OrderById(Some(42)));
        assert_eq!(Route::classify("/orders/abc"), Route::OrderById(None));
        assert_eq!(Route::classify("/orders/"), Route::Other);
        assert_eq!(Route::classify("/orders/1/items"), Route::Other);
        assert_eq!(Route::classify("/healthz"), Route::Healthz);
        assert_eq!(Route::classify("/metrics"), Route::Metrics);
        assert_eq!(Route::classify("/admin/faults"), Route::AdminFaults);
        assert_eq!(Route::classify("/"), Route::Other);
        assert_eq!(Route::classify("/ordersx"), Route::Other);
        assert_eq!(Route::OrderById(None).label(), "/orders/{id}");
        assert_eq!(Route::Other.label(), "other");
    }

    #[test]
    fn metrics_and_admin_need_auth() {
        for path in ["/metrics", "/admin/faults", "/admin", "/admin/other"] {
            assert!(Route::classify(path).needs_auth(path), "{path}");
        }
        for path in ["/healthz", "/orders", "/orders/1", "/", "/administrator", "/metricsx"] {
            assert!(!Route::classify(path).needs_auth(path), "{path}");
        }
    }

    #[test]
    fn only_order_routes_take_faults() {
        assert!(Route::Orders.takes_faults());
        assert!(Route::OrderById(Some(1)).takes_faults());
        for route in [Route::Healthz, Route::Metrics, Route::AdminFaults, Route::Other] {
            assert!(!route.takes_faults(), "{route:?}");
        }
    }

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(method_label(&Method::Get), "GET");
        assert_eq!(method_label(&Method::Delete), "DELETE");
        assert_eq!(method_label(&"BREW".parse().unwrap()), "OTHER");
    }

    #[test]
    fn reads_query_parameters() {
        assert_eq!(query_param(Some("limit=5"), "limit"), Some("5"));
        assert_eq!(query_param(Some("a=1&limit=7"), "limit"), Some("7"));
        assert_eq!(query_param(Some("limit"), "limit"), Some(""));
        assert_eq!(query_param(Some("a=1"), "limit"), None);
        assert_eq!(query_param(None, "limit"), None);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
