//! orders-api: a small HTTP order API that the obsctl stack watches.
//!
//! It serves real requests from an in-memory store, exposes Prometheus
//! metrics at `/metrics`, writes one JSON object per line to a log file that
//! the log agent (Alloy) tails, lets an operator inject errors and latency at run time,
//! and can generate its own traffic so dashboards and alerts have data.
//!
//! `main.rs` only parses flags and calls [`run`]; everything else lives in
//! one module per concept.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod faults;
pub mod log;
pub mod metrics;
pub mod orders;
pub mod process;
pub mod rng;
pub mod server;
pub mod tls;
pub mod traffic;
pub mod webconfig;

use std::error::Error;
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::Config;
use crate::log::{Level, Logger};

/// The version reported by `--version`, the startup log line and
/// `orders_build_info{version}`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the service until SIGTERM or SIGINT, then shuts down gracefully.
/// SIGHUP reopens the log file (for a logrotate `postrotate` that moves it).
pub fn run(config: Config) -> Result<(), Box<dyn Error>> {
    let web = config.web_config_file.as_deref().map(webconfig::WebConfig::load).transpose()?;
    let logger = Arc::new(Logger::open(&config.log_target).map_err(|e| format!("cannot open log file {}: {e}", config.log_target))?);
    // Register signal handlers before the first thread starts so that no
    // SIGTERM arriving during start-up kills the process uncleanly.
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;

    let server = server::start(&config.server, web.as_ref(), Arc::clone(&logger))
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = server.local_addr();
    logger
        .event(Level::Info, "started")
        .field("version", VERSION)
        .field("listen", addr.to_string())
        .field("scheme", if web.is_some() { "https" } else { "http" })
        .field("workers", config.server.workers)
        .field("traffic_rps", config.traffic_rps)
        .field("pid", std::process::id())
        .emit();

    let traffic = (config.traffic_rps > 0.0).then(|| traffic::start(server.traffic_target(), config.traffic_rps, Arc::clone(&logger)));

    for signal in signals.forever() {
        if signal == SIGHUP {
            match logger.reopen() {
                Ok(()) => logger.event(Level::Info, "log file reopened").emit(),
                Err(e) => eprintln!("orders-api: cannot reopen log file: {e}"),
            }
            continue;
        }
        logger.event(Level::Info, "shutting down").field("signal", if signal == SIGTERM { "SIGTERM" } else { "SIGINT" }).emit();
        break;
    }

    // Stop making new traffic first, then drain the server; the generator's
    // in-flight requests get their answers while the server drains.
    let traffic = traffic.map(traffic::Traffic::stop_ticking);
    server.shutdown();
    if let Some(traffic) = traffic {
        traffic.join();
    }
    logger.event(Level::Info, "stopped").emit();
    Ok(())
}
