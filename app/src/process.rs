//! The standard `process_*` metrics, read from /proc/self (Linux).

use std::fs;

/// What the process metrics report; a field is `None` when /proc could not
/// be read (e.g. not on Linux), and the metric is then left out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub start_time_seconds: Option<f64>,
    pub cpu_seconds_total: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
}

pub fn collect() -> ProcessStats {
    let ticks = clock_ticks_per_second();
    let page_size = page_size();
    let stat = fs::read_to_string("/proc/self/stat").ok();
    let stat = stat.as_deref().and_then(parse_stat);
    let boot_time = fs::read_to_string("/proc/stat").ok().and_then(|s| parse_boot_time(&s));
    ProcessStats {
        start_time_seconds: stat.zip(boot_time).map(|(s, btime)| btime as f64 + s.start_ticks as f64 / ticks),
        cpu_seconds_total: stat.map(|s| (s.utime_ticks + s.stime_ticks) as f64 / ticks),
        resident_memory_bytes: stat.map(|s| s.rss_pages * page_size),
        open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
    }
}

/// The fields of /proc/self/stat that the metrics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) is in parentheses
/// and may itself contain spaces and ')', so fields are counted from the
/// last ')'. See proc(5): utime=14, stime=15, starttime=22, rss=24.
pub fn parse_stat(content: &str) -> Option<Stat> {
    let after_comm = &content[content.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat { utime_ticks: field(14)?, stime_ticks: field(15)?, start_ticks: field(22)?, rss_pages: field(24)? })
}

/// The `btime` line of /proc/stat: boot time in seconds since the epoch.
pub fn parse_boot_time(content: &str) -> Option<u64> {
    content.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_name() {
        // comm "(a) b)" contains a space and a ')'.
        let line = "1234 ((a) b)) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 10000000 321 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(Stat { utime_ticks: 250, stime_ticks: 75, start_ticks: 123456, rss_pages: 321 }));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_boot_time() {
        let stat = "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(parse_boot_time(stat), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn collects_real_values_on_linux() {
        let stats = collect();
        assert!(stats.resident_memory_bytes.unwrap() > 0);
        assert!(stats.open_fds.unwrap() >= 3);
        let start = stats.start_time_seconds.unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(start <= now + 1.0 && start > now - 86_400.0 * 365.0, "{start} vs {now}");
    }
}
