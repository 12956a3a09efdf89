//! Who holds a child's output pipes, and who still runs its command line:
//! the processes a run must not wait for (or, after an interrupt, must
//! stop) once the child itself is gone.

/// The inode of the pipe behind one of our descriptors.
pub fn inode(fd: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{fd}")).ok().map(|m| m.ino())
}

/// Every process but this one, by the PID /proc names it with.
fn other_pids() -> impl Iterator<Item = String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(move |name| name.bytes().all(|b| b.is_ascii_digit()) && *name != me)
}

/// Other processes that hold one of these pipes (their write ends: the
/// child's output), read from /proc.
pub fn holders(pipes: &[u64]) -> Vec<i32> {
    let wanted: Vec<String> = pipes.iter().map(|i| format!("pipe:[{i}]")).collect();
    other_pids()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str())))
            })
        })
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Other processes running this command line (`program` and `args`, also
/// as a script under its interpreter, as /proc shows a `#!` script): forks
/// of a child that may outlive it.
pub fn same_command(program: &str, args: &[std::ffi::OsString]) -> Vec<i32> {
    use std::os::unix::ffi::OsStrExt;
    let mut want = program.as_bytes().to_vec();
    for a in args {
        want.push(0);
        want.extend_from_slice(a.as_bytes());
    }
    other_pids()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = c.strip_suffix(&[0]).unwrap_or(&c);
                c == want.as_slice() || (c.ends_with(&want) && c.get(c.len() - want.len() - 1) == Some(&0))
            })
        })
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rustix::process::{kill_process, Pid, Signal};

    use super::holders;
    use crate::error::Phase;
    use crate::tools::process::{Child, EXITED_DRAIN};

    #[test]
    fn a_process_that_left_the_group_and_keeps_the_output_open_does_not_hang_the_run() {
        // Like Mitogen's multiplexer: a new session, stdout inherited, alive.
        let pidfile = std::env::temp_dir().join(format!("obsctl-holder-{}", std::process::id()));
        let script = format!("setsid sh -c 'echo $$ > {}; exec sleep 60' & sleep 0.3; echo done", pidfile.display());
        let started = Instant::now();
        let mut lines = Vec::new();
        let run = Child::new("sh", Phase::Ansible).args(["-c", &script]).run(|l| lines.push(l.to_string()));
        let took = started.elapsed();
        let holder = std::fs::read_to_string(&pidfile).unwrap_or_default();
        assert!(holders(&[]).is_empty(), "no pipe, no holder");
        if let Some(pid) = holder.trim().parse().ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::KILL);
        }
        let _ = std::fs::remove_file(&pidfile);
        assert!(run.is_ok(), "the run failed");
        assert_eq!(lines, ["done"]);
        assert!(took < EXITED_DRAIN + Duration::from_secs(5), "the run waited {took:?} for a process outside its group");
        assert!(took >= EXITED_DRAIN, "the run did not wait for late output ({took:?})");
    }

    #[test]
    fn same_command_finds_a_script_under_its_interpreter_and_nothing_else() {
        let marker = format!("obsctl-same-command-{}", std::process::id());
        let mut sleeper = std::process::Command::new("sh").args(["-c", "sleep 30", &marker]).spawn().unwrap();
        let args: Vec<std::ffi::OsString> = ["sleep 30", marker.as_str()].iter().map(|s| s.into()).collect();
        // The child runs its command line once it has exec'd; dash then
        // forks for `sleep`, and until that fork has exec'd it shows the same
        // command line for a moment (seen on a loaded machine).
        let want = vec![sleeper.id() as i32];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = super::same_command("-c", &args);
        while found != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = super::same_command("-c", &args);
        }
        assert_eq!(found, want, "`sh -c 'sleep 30' MARKER` ends with `-c 'sleep 30' MARKER`");
        assert!(super::same_command("c", &args).is_empty(), "a program name matches whole arguments only");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}
