//! Prometheus metrics, rendered by hand in the text exposition format 0.0.4.
//!
//! Names (rules and dashboards depend on them, do not rename):
//! - `orders_http_requests_total{method,route,status}` counter
//! - `orders_http_request_duration_seconds{method,route}` histogram
//! - `orders_http_requests_in_flight` gauge
//! - `orders_created_total`, `orders_revenue_cents_total` counters
//! - `orders_fault_error_ratio`, `orders_fault_latency_seconds` gauges
//! - `orders_build_info{version}` gauge (always 1)
//! - `process_start_time_seconds`, `process_cpu_seconds_total`,
//!   `process_resident_memory_bytes`, `process_open_fds`
//!
//! Scrapes of `/metrics` are counted in `orders_http_requests_total` but are
//! neither observed in the duration histogram nor counted as in flight, so
//! the RED signals describe the API's own traffic only.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::faults::Faults;
use crate::process::ProcessStats;

/// Upper bounds (seconds) of the request duration histogram's buckets;
/// `+Inf` is implied.
pub const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A histogram with the fixed [`DURATION_BUCKETS`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last one is `+Inf`.
    per_bucket: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, value: f64) {
        // `le` means "less than or equal": a value on a bound belongs to it.
        let index = DURATION_BUCKETS.iter().position(|&bound| value <= bound).unwrap_or(DURATION_BUCKETS.len());
        self.per_bucket[index] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// Cumulative counts as exposed in `_bucket{le=...}`; the last is `+Inf`
    /// and equals `count`.
    pub fn cumulative(&self) -> [u64; DURATION_BUCKETS.len() + 1] {
        let mut running = 0;
        self.per_bucket.map(|n| {
            running += n;
            running
        })
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

type RequestKey = (&'static str, &'static str, u16); // method, route, status
type DurationKey = (&'static str, &'static str); // method, route

#[derive(Default)]
struct Series {
    requests: BTreeMap<RequestKey, u64>,
    durations: BTreeMap<DurationKey, Histogram>,
}

/// All metrics of the service. Label values are `&'static str` (route
/// templates and known methods), which bounds their cardinality.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<Series>,
    in_flight: AtomicI64,
    orders_created: AtomicU64,
    revenue_cents: AtomicU64,
}

impl Metrics {
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one answered request; `duration` is observed in the histogram
    /// when given (it is `None` for `/metrics` scrapes).
    pub fn observe_request(&self, method: &'static str, route: &'static str, status: u16, duration: Option<Duration>) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        *series.requests.entry((method, route, status)).or_insert(0) += 1;
        if let Some(duration) = duration {
            series.durations.entry((method, route)).or_default().observe(duration.as_secs_f64());
        }
    }

    pub fn order_created(&self, total_cents: u64) {
        self.orders_created.fetch_add(1, Ordering::Relaxed);
        self.revenue_cents.fetch_add(total_cents, Ordering::Relaxed);
    }

    /// The whole exposition, in a stable order.
    pub fn render(&self, faults: &Faults, process: &ProcessStats, version: &str) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.write_http(&mut out);

        let load = |counter: &AtomicU64| Some(counter.load(Ordering::Relaxed) as f64);
        let scalars: [Family; 5] = [
            (
                "orders_http_requests_in_flight",
                "gauge",
                "Requests being handled or waiting for an injected delay (scrapes of /metrics are not counted).",
                Some(self.in_flight.load(Ordering::Relaxed) as f64),
            ),
            ("orders_created_total", "counter", "Orders created.", load(&self.orders_created)),
            ("orders_revenue_cents_total", "counter", "Sum of the totals of created orders, in cents.", load(&self.revenue_cents)),
            (
                "orders_fault_error_ratio",
                "gauge",
                "Injected fault: fraction of /orders requests answered with 500.",
                Some(faults.error_ratio),
            ),
            (
                "orders_fault_latency_seconds",
                "gauge",
                "Injected fault: delay added to /orders responses, in seconds.",
                Some(faults.latency_ms as f64 / 1000.0),
            ),
        ];
        for (name, kind, help, value) in scalars.into_iter().chain(process_families(process)) {
            if let Some(value) = value {
                family(&mut out, name, kind, help);
                sample(&mut out, name, &[], value);
            }
        }

        let name = "orders_build_info";
        family(&mut out, name, "gauge", "Always 1; the version label tells which build runs.");
        sample(&mut out, name, &[("version", version)], 1.0);
        out
    }

    fn write_http(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());

        let name = "orders_http_requests_total";
        let help = "HTTP requests answered, by method, route template and status code.";
        family(out, name, "counter", help);
        for (&(method, route, status), &n) in &series.requests {
            let status = status.to_string();
            let labels = [("method", method), ("route", route), ("status", &status)];
            sample(out, name, &labels, n as f64);
        }

        let name = "orders_http_request_duration_seconds";
        let help = "Time from receiving a request to sending its response, by method and route \
                    template (scrapes of /metrics are not observed).";
        family(out, name, "histogram", help);
        for (&(method, route), histogram) in &series.durations {
            write_histogram(out, name, &[("method", method), ("route", route)], histogram);
        }
    }
}

/// Name, type, help and value of a family with one unlabelled sample; a
/// `None` value leaves the family out.
type Family = (&'static str, &'static str, &'static str, Option<f64>);

/// The standard process metrics, named and described as the official
/// client libraries do.
fn process_families(p: &ProcessStats) -> [Family; 4] {
    [
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", p.start_time_seconds),
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds_total),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_memory_bytes.map(|v| v as f64)),
        ("process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds.map(|v| v as f64)),
    ]
}

fn write_histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let bucket = format!("{name}_bucket");
    let bounds: Vec<String> = DURATION_BUCKETS.iter().map(|b| format_value(*b)).chain(["+Inf".to_owned()]).collect();
    for (bound, count) in bounds.iter().zip(h.cumulative()) {
        let mut with_le = labels.to_vec();
        with_le.push(("le", bound));
        sample(out, &bucket, &with_le, count as f64);
    }
    sample(out, &format!("{name}_sum"), labels, h.sum());
    sample(out, &format!("{name}_count"), labels, h.count() as f64);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label_value(value));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Escapes HELP text: backslash and line feed (quotes stay as they are).
pub fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` as the
/// format spells them, other numbers in Rust's shortest round-trip form
/// (never in exponent notation).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_le_inclusive() {
        let mut h = Histogram::default();
        for v in [0.001, 0.005, 0.0051, 0.3, 2.5, 7.0] {
            h.observe(v);
        }
        //                 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1  2.5 5  +Inf
        assert_eq!(h.cumulative(), [2, 3, 3, 3, 3, 3, 4, 4, 5, 5, 6]);
        assert_eq!(h.count(), 6);
        assert!((h.sum() - 9.8111).abs() < 1e-9, "{}", h.sum());
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        assert_eq!(Histogram::default().cumulative(), [0; 11]);
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label_value("/orders/{id}"), "/orders/{id}");
        assert!(matches!(escape_label_value("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("line\nbreak"), r"line\nbreak");
    }

    #[test]
    fn escapes_help_text() {
        assert_eq!(escape_help("a \\ b\nc \"q\""), "a \\\\ b\\nc \"q\"");
    }

    #[test]
    fn formats_values() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.005), "0.005");
        assert_eq!(format_value(2.5), "2.5");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn renders_the_exposition() {
        let m = Metrics::default();
        m.observe_request("GET", "/orders", 200, Some(Duration::from_millis(30)));
        m.observe_request("GET", "/orders", 200, Some(Duration::from_millis(3)));
        m.observe_request("POST", "/orders", 500, Some(Duration::from_millis(700)));
        m.observe_request("GET", "/metrics", 200, None);
        m.order_created(5997);
        m.request_started();
        let faults = Faults { error_ratio: 0.25, latency_ms: 1500 };
        let process = ProcessStats {
            start_time_seconds: Some(1_700_000_000.5),
            cpu_seconds_total: Some(0.25),
            resident_memory_bytes: Some(4096),
            open_fds: Some(7),
        };
        let text = m.render(&faults, &process, "1.2.3");
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE orders_http_requests_total counter",
            r#"orders_http_requests_total{method="GET",route="/orders",status="200"} 2"#,
            r#"orders_http_requests_total{method="POST",route="/orders",status="500"} 1"#,
            r#"orders_http_requests_total{method="GET",route="/metrics",status="200"} 1"#,
            "# TYPE orders_http_request_duration_seconds histogram",
            r#"orders_http_request_duration_seconds_bucket{method="GET",route="/orders",le="0.005"} 1"#,
            r#"orders_http_request_duration_seconds_bucket{method="GET",route="/orders",le="0.025"} 1"#,
            r#"orders_http_request_duration_seconds_bucket{method="GET",route="/orders",le="0.05"} 2"#,
            r#"orders_http_request_duration_seconds_bucket{method="GET",route="/orders",le="+Inf"} 2"#,
            r#"orders_http_request_duration_seconds_sum{method="GET",route="/orders"} 0.033"#,
            r#"orders_http_request_duration_seconds_count{method="GET",route="/orders"} 2"#,
            r#"orders_http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.5"} 0"#,
            r#"orders_http_request_duration_seconds_bucket{method="POST",route="/orders",le="1"} 1"#,
            "orders_http_requests_in_flight 1",
            "orders_created_total 1",
            "orders_revenue_cents_total 5997",
            "orders_fault_error_ratio 0.25",
            "orders_fault_latency_seconds 1.5",
            r#"orders_build_info{version="1.2.3"} 1"#,
            "# TYPE process_start_time_seconds gauge",
            "process_start_time_seconds 1700000000.5",
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 0.25",
            "process_resident_memory_bytes 4096",
            "process_open_fds 7",
        ] {
            assert!(lines.contains(&expected), "missing line {expected:?} in:\n{text}");
        }
        assert!(!text.contains(r#"route="/metrics",le="#), "/metrics must not be in the histogram");
        // Every family is declared once, and before its samples.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert_eq!(text.matches(&format!("# TYPE {name} ")).count(), 1, "{name}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn process_metrics_are_left_out_when_unknown() {
        let text = Metrics::default().render(&Faults::default(), &ProcessStats::default(), "0");
        assert!(!text.contains("process_"));
        assert!(text.contains("orders_fault_error_ratio 0\n"));
        assert!(text.contains("orders_http_requests_in_flight 0\n"));
    }
}
