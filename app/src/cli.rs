//! Command-line flags, parsed into one validated [`Config`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use crate::log::LogTarget;
use crate::server::ServerConfig;

/// Everything the program needs, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub log_target: LogTarget,
    /// Self-generated requests per second; 0 disables the generator.
    pub traffic_rps: f64,
    /// `--web-config-file`: HTTPS and basic auth (see [`crate::webconfig`]).
    pub web_config_file: Option<PathBuf>,
}

pub const MAX_TRAFFIC_RPS: f64 = 1000.0;
pub const MAX_WORKERS: usize = 256;

fn command() -> Command {
    Command::new("orders-api")
        .version(crate::VERSION)
        .about("Demo order API with Prometheus metrics, JSON logs and fault injection")
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR")
                .help("Address and port to listen on (port 0 picks a free port)")
                .default_value("0.0.0.0:8080")
                .value_parser(value_parser!(SocketAddr)),
        )
        .arg(
            Arg::new("log-file")
                .long("log-file")
                .value_name("PATH")
                .help("File to append JSON log lines to; '-' means stdout")
                .default_value("/var/log/orders-api/orders-api.log")
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("traffic-rps")
                .long("traffic-rps")
                .value_name("N")
                .help("Send about N requests/second to this server itself (0 = off)")
                .default_value("0")
                .value_parser(parse_rps),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .value_name("N")
                .help("Number of request-handling threads")
                .default_value("8")
                .value_parser(value_parser!(usize)),
        )
        .arg(
            Arg::new("max-orders")
                .long("max-orders")
                .value_name("N")
                .help("Orders kept in memory; the oldest are dropped beyond this")
                .default_value("10000")
                .value_parser(value_parser!(usize)),
        )
        .arg(
            Arg::new("web-config-file")
                .long("web-config-file")
                .value_name("PATH")
                .help(
                    "Serve HTTPS and require basic auth on /metrics and /admin/*, as configured in this \
                     exporter-toolkit web config file (tls_server_config.cert_file/key_file, basic_auth_users)",
                )
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("admin-users")
                .long("admin-users")
                .value_name("USER,...")
                .help(
                    "With --web-config-file: the only users of basic_auth_users that may use /admin/* \
                     (the others get 403 there and may read /metrics only); default: all of them",
                )
                .value_delimiter(',')
                .num_args(1),
        )
        .arg(Arg::new("version").long("version").short('V').help("Print version").action(ArgAction::Version))
        .disable_version_flag(true)
}

fn parse_rps(s: &str) -> Result<f64, String> {
    let rps: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..=MAX_TRAFFIC_RPS).contains(&rps) {
        return Err(format!("must be between 0 and {MAX_TRAFFIC_RPS}"));
    }
    Ok(rps)
}

/// Parses the flags or exits (usage error: 2, `--help`/`--version`: 0).
pub fn parse<I, T>(args: I) -> Config
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    try_parse(args).unwrap_or_else(|e| e.exit())
}

/// Parses the flags, returning clap's error instead of exiting.
pub fn try_parse<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    from_matches(&matches)
        .map_err(|(flag, msg)| cmd.error(clap::error::ErrorKind::ValueValidation, format!("invalid value for --{flag}: {msg}")))
}

fn from_matches(m: &ArgMatches) -> Result<Config, (&'static str, String)> {
    let workers = *m.get_one::<usize>("workers").expect("has default");
    if !(1..=MAX_WORKERS).contains(&workers) {
        return Err(("workers", format!("must be between 1 and {MAX_WORKERS}")));
    }
    let max_orders = *m.get_one::<usize>("max-orders").expect("has default");
    if max_orders == 0 {
        return Err(("max-orders", "must be at least 1".into()));
    }
    let admin_users: Option<Vec<String>> = m.get_many::<String>("admin-users").map(|v| v.cloned().collect());
    if admin_users.as_ref().is_some_and(|u| u.iter().any(|u| u.is_empty())) {
        return Err(("admin-users", "a user name is empty".into()));
    }
    let log_file = m.get_one::<PathBuf>("log-file").expect("has default");
    let log_target = if log_file.as_os_str() == "-" { LogTarget::Stdout } else { LogTarget::File(log_file.clone()) };
    Ok(Config {
        server: ServerConfig { listen: *m.get_one::<SocketAddr>("listen").expect("has default"), workers, max_orders, admin_users },
        log_target,
        traffic_rps: *m.get_one::<f64>("traffic-rps").expect("has default"),
        web_config_file: m.get_one::<PathBuf>("web-config-file").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = try_parse(["orders-api"]).unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.server.workers, 8);
        assert_eq!(c.traffic_rps, 0.0);
        assert_eq!(c.log_target, LogTarget::File("/var/log/orders-api/orders-api.log".into()));
        assert_eq!(c.web_config_file, None);
    }

    #[test]
    fn all_flags() {
        let c = try_parse([
            "orders-api",
            "--listen",
            "127.0.0.1:0",
            "--log-file",
            "-",
            "--traffic-rps",
            "2.5",
            "--workers",
            "3",
            "--web-config-file",
            "/etc/web.yml",
        ])
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.log_target, LogTarget::Stdout);
        assert_eq!(c.traffic_rps, 2.5);
        assert_eq!(c.server.workers, 3);
        assert_eq!(c.web_config_file, Some(PathBuf::from("/etc/web.yml")));
    }

    #[test]
    fn rejects_bad_values() {
        for args in [
            ["orders-api", "--workers", "0"],
            ["orders-api", "--workers", "100000"],
            ["orders-api", "--traffic-rps", "-1"],
            ["orders-api", "--traffic-rps", "NaN"],
            ["orders-api", "--listen", "localhost"],
            ["orders-api", "--max-orders", "0"],
        ] {
            assert!(try_parse(args).is_err(), "{args:?} should be rejected");
        }
    }

    #[test]
    fn version_flag_is_handled_by_clap() {
        let err = try_parse(["orders-api", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
