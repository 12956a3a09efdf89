//! Integration tests of obsctl's orchestration logic: the real binary, run in a
//! throw-away workspace (`OBSCTL_ROOT`), against
//!
//! * a fake `terraform` (tests/fixtures/fake-terraform.sh) first on PATH that
//!   records its calls and plays canned output: fast tests of the logic;
//! * the real Terraform with an offline test stack (tests/fixtures/stack),
//!   for what only the real thing can show: interrupts leave no state lock
//!   and no broken state behind.
//!
//! Each test reads as `Test::new().env_file(..).args([..]).status(10).stderr_contains(..)`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};
use serde_json::{json, Value};

const OBSCTL: &str = env!("CARGO_BIN_EXE_obsctl");
const FAKE_TERRAFORM: &str = include_str!("fixtures/fake-terraform.sh");
const ENV: &str = include_str!("fixtures/env.toml");
const INVENTORY: &str = include_str!("fixtures/inventory.json");
const PLAN_CREATE: &str = include_str!("fixtures/plan-create.json");
const PLAN_DESTROY: &str = include_str!("fixtures/plan-destroy.json");
const APPLY_ERROR: &str = include_str!("fixtures/apply-error.txt");
const STATE_LOCK_ERROR: &str = include_str!("fixtures/state-lock-error.txt");
const STACK: &str = include_str!("fixtures/stack/main.tf");

/// No obsctl run in these tests may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(90);

// ---- the builder -------------------------------------------------------------

/// A temporary obsctl checkout plus the command to run in it.
///
/// Layout of the temp dir: `ws/` is the checkout (`OBSCTL_ROOT`), `bin/` goes
/// first on PATH (the fake `terraform`), `fake/` holds what the fake plays and
/// records.
struct Test {
    tmp: tempfile::TempDir,
    args: Vec<String>,
    envs: BTreeMap<String, OsString>,
    path: OsString,
}

impl Test {
    /// A workspace with environment `t` (unprotected, provider aws), a stub
    /// `ansible/site.yml`, and the fake terraform on PATH whose
    /// `output obsctl_inventory` prints a good contract for `t`.
    fn new() -> Test {
        let tmp = tempfile::Builder::new().prefix("obsctl-cli-").tempdir().unwrap();
        let root = tmp.path().join("ws");
        for dir in ["environments", "ansible", "terraform/stacks/aws"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        write(&root.join("ansible/site.yml"), "# stub: the CLI tests never run Ansible\n");
        write(&root.join("terraform/stacks/aws/main.tf"), "# stub: the fake terraform does not read it\n");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(tmp.path().join("fake")).unwrap();
        executable(&bin.join("terraform"), FAKE_TERRAFORM);
        // An empty CLI config: obsctl leaves TF_CLI_CONFIG_FILE alone when it
        // names an existing file, and Terraform reads no ~/.terraformrc.
        write(&tmp.path().join("terraformrc"), "");

        let mut path = bin.into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut envs = BTreeMap::new();
        envs.insert("OBSCTL_ROOT".to_string(), root.into_os_string());
        envs.insert("TF_CLI_CONFIG_FILE".to_string(), tmp.path().join("terraformrc").into_os_string());
        let test = Test { tmp, args: Vec::new(), envs, path };
        test.env_file("t", ENV).show(PLAN_CREATE).inventory(&contract("t"))
    }

    fn root(&self) -> PathBuf {
        // obsctl canonicalizes OBSCTL_ROOT; so do we, to compare paths.
        std::fs::canonicalize(self.tmp.path().join("ws")).unwrap()
    }

    fn fake_dir(&self) -> PathBuf {
        self.tmp.path().join("fake")
    }

    /// `.obsctl/<env>/` of the workspace.
    fn state(&self, env: &str) -> PathBuf {
        self.root().join(".obsctl").join(env)
    }

    /// Writes `environments/<name>.toml`.
    fn env_file(self, name: &str, text: &str) -> Test {
        write(&self.root().join("environments").join(format!("{name}.toml")), text);
        self
    }

    /// Shell code the fake terraform sources before its default behaviour for
    /// `command` (init, plan, show, apply, output, destroy, version); it may
    /// `exit` to replace it.
    fn fake(self, command: &str, script: &str) -> Test {
        write(&self.fake_dir().join(format!("{command}.sh")), script);
        self
    }

    /// The fake's `command` prints `text` and exits with `code`.
    fn fake_fails(self, command: &str, text: &str, code: i32) -> Test {
        write(&self.fake_dir().join(format!("{command}.out")), text);
        self.fake(command, &format!("cat \"$fake/{command}.out\"\nexit {code}\n"))
    }

    /// What `terraform show -json <plan>` prints.
    fn show(self, json: &str) -> Test {
        write(&self.fake_dir().join("show.json"), json);
        self
    }

    /// What `terraform output -json obsctl_inventory` prints.
    fn inventory(self, text: &str) -> Test {
        write(&self.fake_dir().join("inventory.json"), text);
        self
    }

    /// PATH without any `terraform` (ssh and ssh-keygen stay reachable).
    fn without_terraform(mut self) -> Test {
        let bin = self.tmp.path().join("bin-no-terraform");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["ssh", "ssh-keygen"] {
            let real = which(tool).unwrap_or_else(|| panic!("`{tool}` is needed on PATH for these tests"));
            std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
        }
        self.path = bin.into_os_string();
        self
    }

    /// The real Terraform and the test stack instead of the fake.
    fn real_terraform(mut self, terraform: &Path) -> Test {
        let bin = self.tmp.path().join("bin-real");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(terraform, bin.join("terraform")).unwrap();
        write(&self.root().join("terraform/stacks/aws/main.tf"), STACK);
        let mut path = bin.into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        self.path = path;
        self
    }

    fn args<const N: usize>(mut self, args: [&str; N]) -> Test {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    fn env(mut self, key: &str, value: impl Into<OsString>) -> Test {
        self.envs.insert(key.to_string(), value.into());
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(OBSCTL);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.tmp.path())
            .envs(&self.envs)
            .current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self) -> Running {
        let child = self.command().spawn().expect("start obsctl");
        Running::new(child, self.args.join(" "))
    }

    /// Starts obsctl as the leader of its own process group, as a shell
    /// job or a CI runner's step is (so the group can be signalled).
    fn spawn_job(&self) -> Running {
        use std::os::unix::process::CommandExt;
        let child = self.command().process_group(0).spawn().expect("start obsctl");
        Running::new(child, self.args.join(" "))
    }

    /// Runs obsctl to completion.
    fn run(self) -> Ran {
        let done = self.spawn().wait(TIMEOUT);
        Ran { test: self, done }
    }

    /// Runs obsctl and checks its exit code.
    fn status(self, code: i32) -> Ran {
        let ran = self.run();
        assert_eq!(ran.done.status.code(), Some(code), "exit status of `obsctl {}`\n{}", ran.test.args.join(" "), ran.done);
        ran
    }
}

/// A finished run, for more checks; `then()` goes on in the same workspace.
struct Ran {
    test: Test,
    done: Done,
}

impl Ran {
    fn stderr_contains(self, needle: &str) -> Ran {
        assert!(self.done.stderr.contains(needle), "stderr lacks `{needle}`\n{}", self.done);
        self
    }

    fn stderr_lacks(self, needle: &str) -> Ran {
        assert!(!self.done.stderr.contains(needle), "stderr has `{needle}`\n{}", self.done);
        self
    }

    fn stdout_contains(self, needle: &str) -> Ran {
        assert!(self.done.stdout.contains(needle), "stdout lacks `{needle}`\n{}", self.done);
        self
    }

    /// The same workspace, for the next command.
    fn then(self) -> Test {
        self.test
    }

    fn root(&self) -> PathBuf {
        self.test.root()
    }

    fn state(&self, env: &str) -> PathBuf {
        self.test.state(env)
    }

    /// Every call of the fake terraform so far, as argument lists.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.test.fake_dir().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(String::from).collect())
            .collect()
    }

    /// The terraform subcommands called so far, in order (`version` left out).
    fn commands(&self) -> Vec<String> {
        self.calls().iter().map(|c| subcommand(c)).filter(|c| c != "version").collect()
    }

    /// The JSON events obsctl printed (`--output json`); every line must parse.
    fn events(&self) -> Vec<Value> {
        self.done
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\n{}", self.done)))
            .collect()
    }
}

/// An obsctl process running in the background.
struct Running {
    child: std::process::Child,
    what: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    what: String,
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- obsctl {} ({})\n--- stdout:\n{}\n--- stderr:\n{}", self.what, self.status, self.stdout, self.stderr)
    }
}

impl Running {
    fn new(mut child: std::process::Child, what: String) -> Running {
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Running { child, what, stdout, stderr }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.pid()).unwrap();
        kill_process(pid, sig).unwrap_or_else(|e| panic!("kill({}, {sig:?}): {e}", self.pid()));
    }

    /// Signals obsctl's whole process group (what a terminal's Ctrl-C or a
    /// cancelled CI job does); needs `spawn_job`.
    fn signal_group(&self, sig: Signal) {
        let pid = Pid::from_raw(self.pid()).unwrap();
        kill_process_group(pid, sig).unwrap_or_else(|e| panic!("kill(-{}, {sig:?}): {e}", self.pid()));
    }

    /// Waits for the end; kills obsctl and fails the test after `timeout`.
    fn wait(mut self, timeout: Duration) -> Done {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("`obsctl {}` did not finish within {timeout:?}\n--- stderr:\n{}", self.what, self.stderr.join().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Done { status, stdout: self.stdout.join().unwrap(), stderr: self.stderr.join().unwrap(), what: self.what }
    }
}

// ---- helpers -----------------------------------------------------------------

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn executable(path: &Path, text: &str) {
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// The good contract fixture, for environment `env`.
fn contract(env: &str) -> String {
    contract_with(env, |_| {})
}

fn contract_with(env: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(INVENTORY).unwrap();
    v["environment"] = json!(env);
    change(&mut v);
    v.to_string()
}

/// `environments/<name>.toml` of a protected environment.
fn protected_env() -> String {
    ENV.replace("protected = false", "protected = true")
}

/// The terraform subcommand of a recorded call (first argument without a dash).
fn subcommand(call: &[String]) -> String {
    call.iter().find(|a| !a.starts_with('-')).cloned().unwrap_or_default()
}

fn find_call<'a>(calls: &'a [Vec<String>], command: &str) -> &'a Vec<String> {
    calls.iter().find(|c| subcommand(c) == command).unwrap_or_else(|| panic!("no `terraform {command}` in {calls:?}"))
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The run directories under `.obsctl/<env>/runs/`.
fn run_dirs(state: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(state.join("runs")).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    dirs.sort();
    dirs
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// A pid that belonged to a process which has exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

// ---- environments ------------------------------------------------------------

#[test]
fn env_name_that_is_a_path_is_refused() {
    let ran = Test::new()
        .args(["up", "--env", "../../etc", "--skip-configure"])
        .status(10)
        .stderr_contains("`../../etc` is not an environment name");
    assert!(!ran.root().join(".obsctl").exists(), "a refused name must not create any state");
    assert!(ran.commands().is_empty(), "terraform was called: {:?}", ran.calls());
}

#[test]
fn unknown_env_lists_the_known_ones() {
    Test::new()
        .env_file("prod", &protected_env())
        .args(["up", "--env", "nope", "--skip-configure"])
        .status(10)
        .stderr_contains("environment `nope`")
        .stderr_contains("known environments: prod, t");
}

/// Issue 32: prod.toml as shipped is refused by `up` with every value still
/// to fill in named at once (exit 10), before Terraform runs; `--without
/// grafana` lifts the certificate, not the admins' networks.
#[test]
fn up_on_shipped_prod_names_each_missing_value() {
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/prod.toml")).unwrap();
    let ran = Test::new()
        .env_file("prod", &shipped)
        .args(["up", "--env", "prod", "--skip-configure"])
        .status(10)
        .stderr_contains("2 values to fill in under [aws]")
        .stderr_contains("(1) `aws.admin_cidrs`")
        .stderr_contains("(2) `aws.grafana_certificate_arn`")
        .stderr_contains("obsctl up --env prod --without grafana");
    assert!(ran.commands().is_empty(), "terraform was called: {:?}", ran.calls());
    let ran = Test::new()
        .env_file("prod", &shipped)
        .args(["up", "--env", "prod", "--without", "grafana", "--skip-configure"])
        .status(10)
        .stderr_contains("1 value to fill in under [aws]")
        .stderr_contains("(1) `aws.admin_cidrs`")
        .stderr_lacks("grafana_certificate_arn");
    assert!(ran.commands().is_empty(), "terraform was called: {:?}", ran.calls());
}

#[test]
fn env_file_with_unknown_key_names_file_and_key() {
    let ran = Test::new()
        .env_file("t", &format!("{ENV}\n[prometheus]\nretenton = \"30d\"\n"))
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("retenton");
    assert!(!ran.state("t").exists(), "a refused env file must not create .obsctl/t");
}

#[test]
fn misspelled_aws_key_is_refused_naming_file_key_and_accepted_keys() {
    // Terraform would drop an unknown attribute of `aws` silently and plan
    // loki_force_destroy = false; obsctl refuses the file first.
    let ran = Test::new()
        .env_file("t", &ENV.replace("[aws]\n", "[aws]\nloki_force_destory = true\n"))
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("loki_force_destory")
        .stderr_contains("loki_force_destroy");
    assert!(ran.calls().is_empty(), "terraform ran: {:?}", ran.calls());
}

/// Grafana on aws is served over HTTPS only, with the user's certificate:
/// without one `up` stops before Terraform, naming the key and the way out;
/// `--without grafana` needs none.
#[test]
fn grafana_on_aws_without_a_certificate_is_refused_before_terraform() {
    let no_cert = ENV.lines().filter(|l| !l.starts_with("grafana_certificate_arn")).collect::<Vec<_>>().join("\n");
    let ran = Test::new()
        .env_file("t", &no_cert)
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("aws.grafana_certificate_arn")
        .stderr_contains("obsctl up --env t --without grafana");
    assert!(ran.calls().is_empty(), "terraform ran: {:?}", ran.calls());
    let ran = Test::new().env_file("t", &no_cert).args(["up", "--env", "t", "--skip-configure", "--without", "grafana"]).status(0);
    assert!(!ran.calls().is_empty(), "terraform did not run with --without grafana");
}

#[test]
fn env_file_with_wrong_type_names_file_and_key() {
    Test::new()
        .env_file("t", &ENV.replace("protected = false", "protected = \"yes\""))
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("protected")
        .stderr_contains("expected a boolean");
    Test::new()
        .env_file("t", &format!("{ENV}\n[app]\nport = \"eighty\"\n"))
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("port");
}

#[test]
fn env_file_with_invalid_value_names_the_key() {
    Test::new()
        .env_file("t", &format!("{ENV}\n[prometheus]\nretention = \"two weeks\"\n"))
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("environments/t.toml")
        .stderr_contains("`prometheus.retention`");
}

// ---- prerequisites -------------------------------------------------------------

#[test]
fn missing_terraform_is_a_prerequisite_error_with_install_hint() {
    let ran = Test::new()
        .without_terraform()
        .args(["up", "--env", "t", "--skip-configure"])
        .status(11)
        .stderr_contains("terraform")
        .stderr_contains("not found on PATH")
        .stderr_contains("hint: install Terraform")
        .stderr_contains("https://developer.hashicorp.com/terraform/install");
    assert!(!ran.state("t").join("inventory.json").exists());
}

// ---- the inventory contract ------------------------------------------------------

#[test]
fn malformed_contract_is_refused_naming_the_field_and_nothing_is_written() {
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("unknown schema", contract_with("t", |v| v["schema"] = json!(2)), &["`schema` is 2"]),
        (
            "unknown role",
            contract_with("t", |v| v["hosts"]["app-1"]["roles"] = json!(["app", "nginx"])),
            &["`hosts.app-1.roles`", "unknown role `nginx`"],
        ),
        (
            "bad address",
            contract_with("t", |v| v["hosts"]["mon-1"]["address"] = json!("10.0.0.300")),
            &["`hosts.mon-1.address`", "10.0.0.300"],
        ),
        (
            "missing required role",
            contract_with("t", |v| v["hosts"]["mon-1"]["roles"] = json!(["alertmanager", "grafana", "loki"])),
            &["no host has role `prometheus`"],
        ),
        (
            "missing field",
            contract_with("t", |v| {
                v["hosts"]["app-1"].as_object_mut().unwrap().remove("ssh_port");
            }),
            &["`hosts.app-1`", "ssh_port"],
        ),
        ("other environment", contract("prod"), &["`environment` is `prod`"]),
        ("not JSON", "Warning: no outputs found\n".to_string(), &["`obsctl_inventory` breaks the inventory contract"]),
    ];
    for (case, text, needles) in cases {
        let mut ran = Test::new().inventory(&text).args(["up", "--env", "t", "--skip-configure"]).status(10);
        for needle in needles {
            ran = ran.stderr_contains(needle);
        }
        let state = ran.state("t");
        for file in ["inventory.json", "deployment.json"] {
            assert!(!state.join(file).exists(), "{case}: {file} written from a contract that was refused");
        }
        let leftovers: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{case}: temporary files left in {}: {leftovers:?}", state.display());
    }
}

#[test]
fn good_contract_writes_a_private_inventory_that_inventory_prints() {
    let ran = Test::new()
        .args(["inventory", "--env", "t"])
        .status(10)
        .stderr_contains("has no inventory yet")
        .stderr_contains("obsctl up --env t")
        .then()
        .args(["up", "--env", "t", "--skip-configure"])
        .status(0)
        .stdout_contains("configuration skipped");
    let state = ran.state("t");
    let path = state.join("inventory.json");
    assert_eq!(mode(&path), 0o600, "inventory.json mode");
    assert_eq!(mode(&state), 0o700, ".obsctl/t mode");
    let inv: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let groups = &inv["all"]["children"];
    let members = |group: &str| -> Vec<String> {
        let mut m: Vec<String> =
            groups[group]["hosts"].as_object().unwrap_or_else(|| panic!("no group {group}: {inv}")).keys().cloned().collect();
        m.sort();
        m
    };
    for role in ["prometheus", "alertmanager", "grafana", "loki"] {
        assert_eq!(members(role), ["mon-1"], "group {role}");
    }
    assert_eq!(members("app"), ["app-1"]);
    assert_eq!(members("node_exporter"), ["app-1", "mon-1"], "node_exporter runs on every host");
    assert_eq!(members("alloy"), ["app-1", "mon-1"], "the log agent runs on every host");
    assert!(members("promtail").is_empty(), "the legacy agent only with log_agent = \"promtail\"");
    assert_eq!(inv["all"]["vars"]["obsctl_environment"], "t");
    assert_eq!(inv["all"]["vars"]["obsctl_provider"], "aws");
    let app = &inv["all"]["hosts"]["app-1"];
    assert_eq!(app["ansible_host"], "192.0.2.11");
    assert_eq!(app["ansible_port"], 2222);
    assert_eq!(app["ansible_user"], "admin");
    assert_eq!(mode(&state.join("deployment.json")), 0o600, "deployment.json mode");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(state.join("deployment.json")).unwrap()).unwrap();
    assert_eq!(record["contract"]["hosts"]["app-1"]["ssh_port"], 2222, "the record holds the validated contract");
    assert_eq!(record["reached"], "provisioned", "--skip-configure provisions only");
    assert_eq!(record["components"].as_array().unwrap().len(), 7);

    let printed = ran.then().args(["inventory", "--env", "t"]).status(0);
    let shown: Value = serde_json::from_str(&printed.done.stdout).expect("`obsctl inventory` prints JSON");
    assert_eq!(shown, inv, "`obsctl inventory` prints the file `up` wrote");
}

// ---- the terraform call sequence ---------------------------------------------

#[test]
fn up_runs_init_plan_apply_of_the_plan_then_output() {
    let ran = Test::new().args(["up", "--env", "t", "--skip-configure"]).status(0);
    assert_eq!(ran.commands(), ["init", "plan", "show", "apply", "output"]);
    let calls = ran.calls();
    let state = ran.state("t");
    // Terraform runs in the environment's copy of the provider's stack, whose
    // generated backend keeps the state in .obsctl/<env>/.
    let stack = state.join("stack/stacks/aws");
    for call in calls.iter().filter(|c| subcommand(c) != "version") {
        assert_eq!(call[0], format!("-chdir={}", stack.display()), "every call runs in the provider's stack: {call:?}");
    }
    assert_eq!(
        std::fs::read_to_string(stack.join("main.tf")).unwrap(),
        std::fs::read_to_string(ran.root().join("terraform/stacks/aws/main.tf")).unwrap(),
        "the copy is the checkout's stack"
    );
    let backend: Value = serde_json::from_str(&std::fs::read_to_string(stack.join("backend.tf.json")).unwrap()).unwrap();
    assert_eq!(backend["terraform"]["backend"]["local"]["path"], state.join("terraform.tfstate").display().to_string(), "{backend}");
    let init = find_call(&calls, "init");
    assert!(init.contains(&"-input=false".to_string()), "{init:?}");
    let plan = find_call(&calls, "plan");
    let plan_file = state.join("terraform.plan");
    assert!(plan.contains(&"-detailed-exitcode".to_string()), "{plan:?}");
    assert!(plan.contains(&format!("-out={}", plan_file.display())), "{plan:?}");
    assert!(plan.contains(&format!("-var-file={}", state.join("terraform.tfvars.json").display())), "{plan:?}");
    let apply = find_call(&calls, "apply");
    let positional: Vec<&String> = apply.iter().skip(2).filter(|a| !a.starts_with('-')).collect();
    assert_eq!(positional, [&plan_file.display().to_string()], "apply applies the saved plan: {apply:?}");
    assert!(!apply.iter().any(|a| a.starts_with("-var")), "a saved plan takes no variables: {apply:?}");
    let output = find_call(&calls, "output");
    // All outputs at once: the contract plus the optional `obsctl_vars`.
    assert!(output.contains(&"-json".to_string()), "{output:?}");

    // Non-interactive, and every environment has its own .terraform.
    let env = std::fs::read_to_string(ran.test.fake_dir().join("env")).unwrap();
    let expected = format!("TF_IN_AUTOMATION=1 TF_INPUT=0 TF_DATA_DIR={}", state.join("terraform").display());
    assert!(env.lines().skip(1).all(|l| l == expected), "terraform ran with\n{env}\nexpected `{expected}`");

    // The variables the stack gets.
    let vars: Value = serde_json::from_str(&std::fs::read_to_string(state.join("terraform.tfvars.json")).unwrap()).unwrap();
    assert_eq!(vars["environment"], "t");
    assert_eq!(vars["aws"]["region"], "eu-west-1", "the [aws] table is passed through");
    assert_eq!(vars["aws"].as_object().unwrap().len(), 4, "only the keys the env file sets: {}", vars["aws"]);
    assert_eq!(vars["ports"]["app_port"], 8080, "the one app port, from [app]");
    assert_eq!(vars["components"].as_array().unwrap().len(), 7);
    assert_eq!(vars["hosts"]["app-1"]["roles"], json!(["app"]));
    assert!(!plan_file.exists(), "the applied plan file is removed");
}

#[test]
fn plan_without_changes_is_not_applied() {
    let ran = Test::new().fake("plan", "echo 'No changes. Your infrastructure matches the configuration.'\nexit 0\n");
    let ran = ran.args(["up", "--env", "t", "--skip-configure"]).status(0);
    assert_eq!(ran.commands(), ["init", "plan", "output"], "no changes: neither show nor apply");
    assert!(ran.state("t").join("inventory.json").is_file(), "the inventory is still written");
}

#[test]
fn terraform_plan_command_reports_drift_with_exit_2() {
    let ran = Test::new().args(["plan", "--env", "t"]).status(2).stdout_contains("2 to add");
    assert!(!ran.commands().contains(&"apply".to_string()), "`obsctl plan` applied: {:?}", ran.calls());
    ran.then().fake("plan", "exit 0\n").args(["plan", "--env", "t"]).status(0).stdout_contains("in sync");
}

// ---- protected environments --------------------------------------------------

#[test]
fn protected_env_refuses_a_destroying_plan_unless_allowed() {
    let ran = Test::new()
        .env_file("p", &protected_env())
        .inventory(&contract("p"))
        .show(PLAN_DESTROY)
        .args(["up", "--env", "p", "--skip-configure", "--auto-approve"])
        .status(10)
        .stderr_contains("protected environment `p`")
        .stderr_contains("aws_instance.host[\"mon-2\"]")
        .stderr_contains("aws_lb.grafana (replace)")
        .stderr_lacks("aws_instance.host[\"app-2\"]")
        .stderr_contains("--allow-destroy");
    assert!(!ran.commands().contains(&"apply".to_string()), "apply ran: {:?}", ran.calls());
    assert!(!ran.state("p").join("inventory.json").exists());

    let ran = ran.then().args(["up", "--env", "p", "--skip-configure", "--auto-approve", "--allow-destroy"]).status(0);
    assert_eq!(ran.commands()[3..], ["init", "plan", "show", "apply", "output"]);
}

#[test]
fn unprotected_env_applies_a_destroying_plan() {
    let ran = Test::new().show(PLAN_DESTROY).args(["up", "--env", "t", "--skip-configure"]).status(0);
    assert!(ran.commands().contains(&"apply".to_string()), "{:?}", ran.calls());
}

/// A state with `n` resource instances, as `destroy` counts them.
fn state_with_resources(test: Test, env: &str, n: usize) -> Test {
    let instances: Vec<Value> = (0..n).map(|i| json!({ "attributes": { "id": format!("i-{i}") } })).collect();
    let state =
        json!({ "version": 4, "resources": [{ "mode": "managed", "type": "aws_instance", "name": "host", "instances": instances }] });
    write(&test.state(env).join("terraform.tfstate"), &state.to_string());
    test
}

#[test]
fn protected_env_destroy_needs_the_name_confirmed() {
    let test = Test::new().env_file("p", &protected_env());
    let test = state_with_resources(test, "p", 3);
    let ran = test.args(["destroy", "--env", "p"]).status(10).stderr_contains("`p` is protected").stderr_contains("--confirm-env p");
    assert!(!ran.commands().contains(&"destroy".to_string()), "destroyed without confirmation: {:?}", ran.calls());

    let ran = ran.then().args(["destroy", "--env", "p", "--auto-approve"]).status(10).stderr_contains("--confirm-env p");
    assert!(!ran.commands().contains(&"destroy".to_string()), "--auto-approve is not a confirmation for a protected env");

    let ran =
        ran.then().args(["destroy", "--env", "p", "--confirm-env", "prod"]).status(10).stderr_contains("--confirm-env prod does not match");
    assert!(!ran.commands().contains(&"destroy".to_string()), "destroyed with the wrong name: {:?}", ran.calls());
    assert!(ran.state("p").join("terraform.tfstate").is_file());

    let ran = ran.then().args(["destroy", "--env", "p", "--confirm-env", "p"]).status(0).stdout_contains("destroyed (3 resources)");
    // Every attempt counted the resources (init, state pull); only the confirmed one destroyed.
    let commands = ran.commands();
    assert!(commands.ends_with(&["init".to_string(), "state".to_string(), "destroy".to_string()]), "{commands:?}");
    assert_eq!(commands.iter().filter(|c| *c == "destroy").count(), 1, "{commands:?}");
    let destroy = find_call(&ran.calls(), "destroy").clone();
    assert!(destroy.contains(&"-auto-approve".to_string()) && destroy.contains(&"-input=false".to_string()), "{destroy:?}");
}

#[test]
fn destroy_removes_the_inventory_of_machines_that_are_gone() {
    let ran = Test::new().args(["up", "--env", "t", "--skip-configure"]).status(0);
    let test = state_with_resources(ran.then(), "t", 2);
    let ran = test.args(["destroy", "--env", "t"]).status(0);
    assert!(ran.commands().ends_with(&["init".to_string(), "state".to_string(), "destroy".to_string()]), "{:?}", ran.calls());
    assert!(!ran.state("t").join("inventory.json").exists(), "inventory.json survived destroy");
    ran.then().args(["inventory", "--env", "t"]).status(10);
}

#[test]
fn a_changed_state_backend_is_refused_until_the_state_is_moved() {
    let ran = Test::new().args(["up", "--env", "t", "--skip-configure"]).status(0);
    // What Terraform recorded at init: the local backend in .obsctl/t/; the
    // state there manages 2 resources.
    let state = ran.state("t");
    let recorded = json!({ "version": 3, "backend": { "type": "local", "config": { "path": state.join("terraform.tfstate") } } });
    write(&state.join("terraform/terraform.tfstate"), &recorded.to_string());
    let s3 = format!("{ENV}\n[state]\nbackend = \"s3\"\nbucket = \"team-state\"\nregion = \"eu-west-1\"\n");
    let inits = |ran: &Ran| ran.commands().iter().filter(|c| *c == "init").count();
    let before = inits(&ran);
    let test = state_with_resources(ran.then(), "t", 2);

    let ran = test
        .env_file("t", &s3)
        .args(["plan", "--env", "t"])
        .status(10)
        .stderr_contains(&format!("is in the local file {}", state.join("terraform.tfstate").display()))
        .stderr_contains("names the s3://team-state/obsctl/t/terraform.tfstate")
        .stderr_contains("obsctl migrate-state --env t");
    assert_eq!(inits(&ran), before, "init ran against the new backend: {:?}", ran.calls());
    let backend: Value = serde_json::from_str(&std::fs::read_to_string(state.join("stack/stacks/aws/backend.tf.json")).unwrap()).unwrap();
    assert_eq!(backend["terraform"]["backend"]["s3"]["use_lockfile"], true, "{backend}");
    assert_eq!(backend["terraform"]["backend"]["s3"]["encrypt"], true, "{backend}");

    // With the old [state] back, plan goes ahead.
    let ran = ran.then().env_file("t", ENV).args(["plan", "--env", "t"]).status(2);
    assert_eq!(inits(&ran), before + 1);
    // A local state that manages nothing has nothing to move: the switch is allowed.
    std::fs::remove_file(state.join("terraform.tfstate")).unwrap();
    let ran = ran.then().env_file("t", &s3).args(["plan", "--env", "t"]).status(2);
    assert_eq!(inits(&ran), before + 2);
}

#[test]
fn a_terraform_older_than_the_environment_needs_is_refused_before_init() {
    // The test environment is on aws: its stack passes the RDS password write-only.
    let old = "echo '{\"terraform_version\":\"1.10.5\",\"platform\":\"linux_amd64\"}'\nexit 0\n";
    let ran = Test::new().fake("version", old).args(["up", "--env", "t"]).status(11).stderr_contains("needs ≥ 1.11.1");
    assert!(!ran.commands().contains(&"init".to_string()), "{:?}", ran.calls());
}

#[test]
fn plan_with_only_output_changes_is_in_sync() {
    // Another checkout sharing the state applied last: only the contract's
    // key path differs. Nothing in the infrastructure would change.
    let outputs_only = r#"{"resource_changes": [], "output_changes": {"obsctl_inventory": {"actions": ["update"]}}}"#;
    Test::new()
        .show(outputs_only)
        .args(["plan", "--env", "t"])
        .status(0)
        .stdout_contains("is in sync")
        .stdout_contains("only output values differ");
}

#[test]
fn plan_shows_a_pending_release_roll_as_drift_with_the_next_host() {
    // os-roll.json (src/state/os_roll.rs): mon-1 rolled to the env file's
    // release, app-1 not yet; Terraform itself has nothing to change.
    let outputs_only = r#"{"resource_changes": [], "output_changes": {}}"#;
    let test = Test::new().show(outputs_only);
    write(&test.state("t").join("os-roll.json"), r#"{"target": "debian-13", "hosts": {"mon-1": "debian-13", "app-1": "debian-12"}}"#);
    test.args(["plan", "--env", "t"])
        .status(2)
        .stdout_contains("release roll to debian-13: mon-1 on debian-13; app-1 on debian-12.")
        .stdout_contains("next: app-1; `obsctl up --env t` replaces 1 host(s) one at a time")
        .stdout_contains("1. app-1: debian-12 → debian-13, replaced, data volume kept");
}

// ---- --output json -------------------------------------------------------------

#[test]
fn json_output_is_one_event_per_line_ending_in_a_summary() {
    let ran = Test::new().args(["up", "--env", "t", "--skip-configure", "--output", "json"]).status(0);
    let events = ran.events();
    assert!(!events.is_empty());
    for phase in ["terraform", "inventory"] {
        for kind in ["phase_start", "phase_end"] {
            assert!(events.iter().any(|e| e["event"] == kind && e["phase"] == phase), "no {kind} for {phase} in\n{}", ran.done.stdout);
        }
    }
    let start = events.iter().position(|e| e["event"] == "phase_start" && e["phase"] == "terraform").unwrap();
    let end = events.iter().position(|e| e["event"] == "phase_end" && e["phase"] == "terraform").unwrap();
    assert!(start < end);
    assert_eq!(events[end]["ok"], true);
    assert_eq!(events[end]["add"], 2, "phase_end carries the plan counts: {}", events[end]);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "summary", "last line: {last}");
    assert_eq!(last["ok"], true, "last line: {last}");
    assert_eq!(last["environment"], "t");
    assert!(events.iter().all(|e| e["ts"].is_string()), "every event has a timestamp");
    assert_eq!(ran.done.stderr.trim(), "", "json mode keeps stderr clean");
}

#[test]
fn json_output_reports_failures_as_an_error_event() {
    let ran = Test::new().fake_fails("apply", APPLY_ERROR, 1).args(["up", "--env", "t", "--skip-configure", "--output", "json"]).status(20);
    let events = ran.events();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error", "last line: {last}");
    assert_eq!(last["phase"], "terraform");
    assert_eq!(last["exit_code"], 20);
    assert!(last["details"].to_string().contains("UnauthorizedOperation"), "{last}");
    assert!(!events.iter().any(|e| e["event"] == "summary"), "a failed run printed a summary");

    let ran = ran.then().args(["up", "--env", "../x", "--output", "json"]).status(10);
    let last = ran.events().last().cloned().unwrap();
    assert_eq!((last["event"].as_str(), last["phase"].as_str(), last["exit_code"].as_u64()), (Some("error"), Some("input"), Some(10)));
}

// ---- terraform failures -------------------------------------------------------

#[test]
fn apply_failure_shows_the_error_and_keeps_the_log() {
    let ran = Test::new()
        .fake_fails("apply", APPLY_ERROR, 1)
        .args(["up", "--env", "t", "--skip-configure"])
        .status(20)
        .stderr_contains("`terraform apply` exited with status 1")
        .stderr_contains("Error: creating EC2 Instance")
        .stderr_contains("UnauthorizedOperation")
        .stderr_contains("full log: ");
    let log_line = ran.done.stderr.lines().find(|l| l.contains("full log: ")).unwrap();
    let log = PathBuf::from(log_line.split("full log: ").nth(1).unwrap().trim());
    assert!(log.starts_with(ran.state("t").join("runs")), "log {} is not under .obsctl/t/runs", log.display());
    assert_eq!(log.file_name().unwrap(), "terraform.log");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(text.contains("UnauthorizedOperation") && text.contains("on main.tf line 12"), "run log lacks the output:\n{text}");
    assert!(text.contains("Terraform has been successfully initialized!"), "run log lacks the earlier steps:\n{text}");
    assert!(!ran.state("t").join("inventory.json").exists());
}

#[test]
fn stale_state_lock_hint_gives_the_force_unlock_id() {
    let ran = Test::new()
        .fake_fails("plan", STATE_LOCK_ERROR, 1)
        .args(["up", "--env", "t", "--skip-configure"])
        .status(12)
        .stderr_contains("locked by another run (apply by ci@runner-7 since 2026-01-02 03:04:05.678 +0000 UTC)")
        .stderr_contains("Error acquiring the state lock")
        .stderr_contains("ID:        0d1f8a3e")
        .stderr_contains("force-unlock 0d1f8a3e-5c1b-4f2e-9d7a-1a2b3c4d5e6f");
    assert!(!ran.commands().contains(&"apply".to_string()));
}

#[test]

fn stale_state_lock_hint_works_from_any_directory() {
    let ran = Test::new().fake_fails("plan", STATE_LOCK_ERROR, 1).args(["up", "--env", "t", "--skip-configure"]).status(12);
    // The command in the hint must work from wherever it is typed: it points
    // terraform at the data dir obsctl used, not one relative to the stack.
    let hint = ran.done.stderr.lines().find(|l| l.starts_with("hint:")).unwrap().to_string();
    let data_dir = hint.split("TF_DATA_DIR=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_default();
    let used = ran.state("t").join("terraform");
    assert_eq!(Path::new(data_dir), used, "hint's TF_DATA_DIR (relative paths are resolved against -chdir): {hint}");
}

#[test]

fn hints_only_name_obsctl_commands_that_exist() {
    let ran = Test::new().fake_fails("plan", STATE_LOCK_ERROR, 1).args(["up", "--env", "t", "--skip-configure"]).status(12);
    let hint = ran.done.stderr.lines().find(|l| l.starts_with("hint:")).unwrap().to_string();
    let commands: Vec<&str> =
        hint.split("obsctl ").skip(1).filter_map(|rest| rest.split_whitespace().next()).filter(|w| !w.starts_with('-')).collect();
    assert!(!commands.is_empty(), "{hint}");
    let mut test = ran.then();
    for command in commands {
        test = test.args([command, "--help"]).status(0).then();
    }
}

// ---- the environment lock ------------------------------------------------------

#[test]
fn second_run_on_a_busy_env_is_refused_at_once() {
    let test = Test::new().fake(
        "apply",
        "touch \"$fake/applying\"\ni=0\nwhile [ ! -f \"$fake/release\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n",
    );
    let fake = test.fake_dir();
    let test = test.args(["up", "--env", "t", "--skip-configure"]);
    let first = test.spawn();
    assert!(wait_until(Duration::from_secs(30), || fake.join("applying").exists()), "the first run never reached apply");
    let calls_before = std::fs::read_to_string(fake.join("calls")).unwrap();

    let started = Instant::now();
    let ran = test
        .status(12)
        .stderr_contains("environment `t` is in use")
        .stderr_contains(&format!("pid {}", first.pid()))
        .stderr_contains("obsctl up --env t");
    assert!(started.elapsed() < Duration::from_secs(3), "the second run waited {:?}", started.elapsed());
    assert_eq!(std::fs::read_to_string(fake.join("calls")).unwrap(), calls_before, "the refused run called terraform");
    let ran = ran.then().args(["destroy", "--env", "t", "--confirm-env", "t"]).status(12);

    write(&fake.join("release"), "");
    let done = first.wait(TIMEOUT);
    assert_eq!(done.status.code(), Some(0), "{done}");
    // Released: the next run goes ahead.
    ran.then().args(["up", "--env", "t", "--skip-configure"]).status(0);
}

#[test]
fn lock_left_by_a_dead_run_is_taken_over_with_a_warning() {
    let test = Test::new();
    let pid = dead_pid();
    let holder =
        json!({ "pid": pid, "host": "gone-host", "user": "ci", "started": "2026-01-01T00:00:00Z", "command": "obsctl up --env t" });
    let state = test.state("t");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    write(&state.join("lock"), &holder.to_string());
    let ran = test
        .args(["up", "--env", "t", "--skip-configure"])
        .status(0)
        .stderr_contains("warning: took over the lock")
        .stderr_contains(&format!("pid {pid}"));
    assert!(ran.state("t").join("inventory.json").is_file());
    // The lock is clean again: the next run takes it without a warning.
    ran.then().args(["up", "--env", "t", "--skip-configure"]).status(0).stderr_lacks("took over");
}

#[test]

fn interrupt_between_terraform_steps_stops_before_apply() {
    // SIGTERM while `terraform show -json <plan>` runs (a captured-output
    // step, between plan and apply): obsctl must not go on to apply.
    let test = Test::new().fake("show", "touch \"$fake/showing\"\nsleep 1\n");
    let fake = test.fake_dir();
    let test = test.args(["up", "--env", "t", "--skip-configure"]);
    let running = test.spawn();
    assert!(wait_until(Duration::from_secs(30), || fake.join("showing").exists()), "obsctl never reached `terraform show`");
    running.signal(Signal::TERM);
    let done = running.wait(TIMEOUT);
    let ran = Ran { test, done };
    assert!(!ran.commands().contains(&"apply".to_string()), "applied after SIGTERM: {:?}\n{}", ran.commands(), ran.done);
    assert_eq!(ran.done.status.code(), Some(143), "{}", ran.done);
}

// ---- run logs --------------------------------------------------------------------

#[test]

fn every_run_gets_its_own_log_directory() {
    // Three quick runs with the fake take well under a second, so at least two
    // start within the same second: names made of the second alone collide.
    let mut test = Test::new();
    for _ in 0..3 {
        test = test.args(["up", "--env", "t", "--skip-configure"]).status(0).then();
    }
    let dirs = run_dirs(&test.state("t"));
    assert_eq!(dirs.len(), 3, "three runs, run directories: {dirs:?}");
    for d in &dirs {
        assert!(d.join("terraform.log").is_file() && d.join("obsctl.log").is_file(), "{} lacks its logs", d.display());
    }
}

// ---- real Terraform: interrupts ------------------------------------------------

/// The real Terraform, or None (with a note) when it is missing outside CI.
fn real_terraform() -> Option<PathBuf> {
    let found = which("terraform").or_else(|| Some(PathBuf::from("/usr/local/bin/terraform")).filter(|p| p.is_file()));
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("terraform is not installed, and under CI=true this test must run (install Terraform >= 1.5)");
        }
        eprintln!("note: skipping a real-Terraform test: terraform is not installed");
    }
    found
}

/// How a test delivers its signal.
#[derive(Clone, Copy)]
enum To {
    /// `kill PID`
    Pid,
    /// `kill -- -PGID`: obsctl's whole process group
    Group,
}

fn interrupt_during_apply(signal: Signal, to: To, expected: i32) {
    let Some(terraform) = real_terraform() else { return };
    let test = Test::new().real_terraform(&terraform).env("OBSCTL_TEST_SLEEP", "20").args([
        "up",
        "--env",
        "t",
        "--skip-configure",
        "--auto-approve",
    ]);
    let root = test.root();
    let state = test.state("t");
    let running = test.spawn_job();
    let applying = wait_until(Duration::from_secs(60), || {
        run_dirs(&state).iter().any(|d| std::fs::read_to_string(d.join("terraform.log")).is_ok_and(|l| l.contains("Creating...")))
    });
    assert!(applying, "terraform apply never started");
    match to {
        To::Pid => running.signal(signal),
        To::Group => running.signal_group(signal),
    }
    let signalled = Instant::now();
    let done = running.wait(TIMEOUT);
    assert_eq!(done.status.code(), Some(expected), "obsctl must exit 128+signal\n{done}");
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "terraform was not stopped (the 20 s provisioner ran out): {:?}\n{done}",
        signalled.elapsed()
    );
    assert!(done.stderr.contains("obsctl up --env t"), "no way to continue is shown\n{done}");

    let files = walk(&root);
    let locks: Vec<_> = files.iter().filter(|p| p.file_name().is_some_and(|n| n == ".terraform.tfstate.lock.info")).collect();
    assert!(locks.is_empty(), "state lock left behind: {locks:?}\n{done}");
    for f in files.iter().filter(|p| p.extension().is_some_and(|e| e == "tfstate")) {
        let text = std::fs::read_to_string(f).unwrap();
        if text.is_empty() {
            continue; // the local backend creates it empty before the first write
        }
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{} is not valid JSON ({e}):\n{text}", f.display()));
    }
    let log = walk(&state.join("runs")).into_iter().find(|p| p.ends_with("terraform.log")).unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("Interrupt received"), "terraform never got the signal:\n{log}");
    // Exactly one interrupt reached Terraform, however the signal was sent.
    assert!(!log.contains("Two interrupts received"), "terraform got a second interrupt:\n{log}");

    // The next run picks up from there (and replaces what was interrupted).
    let ran = test.env("OBSCTL_TEST_SLEEP", "0").status(0);
    let inventory: Value = serde_json::from_str(&std::fs::read_to_string(state.join("inventory.json")).unwrap()).unwrap();
    assert_eq!(inventory["all"]["hosts"]["mon-1"]["ansible_host"], "127.0.0.11", "{inventory}");
    assert!(walk(&ran.root()).iter().all(|p| !p.ends_with(".terraform.tfstate.lock.info")));
}

#[test]
fn sigterm_during_apply_exits_143_and_leaves_no_state_lock() {
    interrupt_during_apply(Signal::TERM, To::Pid, 143);
}

#[test]
fn sigint_during_apply_exits_130_and_leaves_no_state_lock() {
    interrupt_during_apply(Signal::INT, To::Pid, 130);
}

#[test]
fn sigint_to_the_process_group_during_apply_reaches_terraform_once() {
    interrupt_during_apply(Signal::INT, To::Group, 130);
}

#[test]
fn sighup_during_apply_is_handled_like_sigterm_and_exits_129() {
    interrupt_during_apply(Signal::HUP, To::Group, 129);
}

// ---- closed output, panics -------------------------------------------------------

#[test]
fn closed_stdout_and_stderr_do_not_stop_the_run() {
    // The reader of obsctl's output went away (`obsctl up | head`, a dead log
    // collector): writes fail with EPIPE. The run goes on, exits 0, and the
    // run log has every line.
    let test = Test::new().args(["up", "--env", "t", "--skip-configure"]);
    let mut child = test.command().spawn().expect("start obsctl");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "obsctl did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a closed output pipe must not change the outcome");
    let runs = run_dirs(&test.state("t"));
    let log = std::fs::read_to_string(runs[0].join("obsctl.log")).unwrap();
    assert!(log.contains("cannot write to stderr"), "the lost output is not noted in the run log:\n{log}");
    assert!(log.contains("Provisioned `t`"), "the run log lacks the summary:\n{log}");
    assert!(test.state("t").join("inventory.json").is_file(), "the run did not go on");
}

#[test]
fn a_panic_exits_1_and_names_the_run_log() {
    let ran = Test::new().env("OBSCTL_TEST_PANIC", "1").args(["up", "--env", "t", "--skip-configure"]).status(1);
    let ran = ran.stderr_contains("obsctl crashed, this is a bug").stderr_contains("full log: ").stderr_lacks("RUST_BACKTRACE");
    let runs = run_dirs(&ran.state("t"));
    let log = std::fs::read_to_string(runs[0].join("obsctl.log")).unwrap();
    assert!(log.contains("obsctl crashed"), "the run log lacks the crash:\n{log}");
    assert!(ran.done.stderr.contains(&runs[0].join("obsctl.log").display().to_string()), "{}", ran.done);
}

#[test]
fn destroy_of_a_never_deployed_env_creates_no_key_and_no_secret() {
    let test = Test::new().env_file("t", &format!("{ENV}\n[grafana]\ndatabase = \"postgres\"\n"));
    let ran = test.args(["destroy", "--env", "t"]).status(0).stdout_contains("nothing to destroy");
    let state = ran.state("t");
    for file in ["ssh/id_ed25519", "ssh/id_ed25519.pub", "secrets/grafana_db_password", "terraform.tfvars.json"] {
        assert!(!state.join(file).exists(), "destroy of a never-deployed environment created {file}");
    }
}

#[test]
fn a_command_refused_for_its_arguments_leaves_no_run_directory() {
    let ran = Test::new().args(["up", "--env", "t", "--without", "nginx"]).status(10).stderr_contains("unknown component `nginx`");
    assert!(run_dirs(&ran.state("t")).is_empty(), "{:?}", run_dirs(&ran.state("t")));
    let ran = ran.then().args(["up", "--env", "t", "--without", "prometheus"]).status(10);
    assert!(run_dirs(&ran.state("t")).is_empty(), "{:?}", run_dirs(&ran.state("t")));
    let ran = ran.then().args(["destroy", "--env", "t", "--confirm-env", "x"]).status(10).stderr_contains("does not match");
    assert!(run_dirs(&ran.state("t")).is_empty(), "{:?}", run_dirs(&ran.state("t")));
    assert!(ran.commands().is_empty(), "terraform ran: {:?}", ran.calls());
}

#[test]
fn a_long_wait_says_what_it_waits_for() {
    // The lab's first apply builds its base image for minutes: what the
    // provisioner says is shown, and the silence after it is filled with
    // "still waiting: …" (every 20 s without other output).
    let said = "module.machine[\"mon-1\"].terraform_data.machine (local-exec): lab: building the Debian 12 base image";
    let ran = Test::new()
        .fake("apply", &format!("echo '{said}'\nsleep 23\n"))
        .args(["up", "--env", "t", "--skip-configure", "--output", "json"])
        .status(0);
    let steps: Vec<String> = ran
        .events()
        .iter()
        .filter(|e| e["event"] == "step" && e["phase"] == "terraform")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(steps.iter().any(|m| m == "building the Debian 12 base image"), "{steps:?}");
    assert!(steps.iter().any(|m| m.starts_with("still waiting: building the Debian 12 base image (")), "{steps:?}");
}

// ---- silence ------------------------------------------------------------------

#[test]
fn silence_needs_a_deployed_environment() {
    Test::new().args(["silence", "--env", "t", "list"]).status(10).stderr_contains("is not deployed").stderr_contains("obsctl up --env t");
}

#[test]
fn silence_names_every_alertmanager_it_could_not_reach() {
    let t = Test::new();
    let record = serde_json::json!({
        "format": 1, "environment": "t", "components": ["alertmanager", "prometheus"], "provider_vars": {},
        "reached": "verified", "at": "2026-01-01T00:00:00Z",
        "contract": { "environment": "t", "ssh": { "private_key_file": "/k", "bastion": null }, "hosts": {
            // TEST-NET-1: nothing answers there.
            "mon-1": { "address": "192.0.2.1", "private_address": "192.0.2.1", "ssh_user": "root", "ssh_port": 22,
                       "roles": ["prometheus", "alertmanager"], "labels": {} } } }
    });
    write(&t.state("t").join("deployment.json"), &record.to_string());
    // Without the environment's CA and credentials nothing is sent.
    let t = t
        .args(["silence", "--env", "t", "add", "host=app-1", "--comment", "disk swap", "--duration", "30m"])
        .status(10)
        .stderr_contains("environment `t` has no certificate authority yet")
        .stderr_contains("obsctl up --env t")
        .then();
    let state = obsctl::state::workspace::StateDir { dir: t.state("t") };
    std::fs::create_dir_all(state.secrets_dir()).unwrap();
    obsctl::state::secrets::web_users(&state.secrets_dir()).unwrap();
    obsctl::state::tls::ensure(&state.tls(), &Default::default()).unwrap();
    t.args(["silence", "--env", "t", "add", "host=app-1", "--comment", "disk swap", "--duration", "30m"])
        .status(50)
        .stderr_contains("no Alertmanager of `t` answered, cannot create the silence")
        .stderr_contains("mon-1 (https://192.0.2.1:9093)");
    Test::new().args(["silence", "--env", "t", "add", "host", "--comment", "x"]).status(10).stderr_contains("`host` is not a matcher");
}

// ---- the configure half: fake ansible-playbook and ssh ------------------------
//
// `up` past Terraform without root, network or Ansible: the contract's hosts
// are 127.0.0.1 at the port of a listener that stands in for sshd (the host
// wait connects before it logs in), `ssh` is tests/cli-fakes/ssh.sh, the
// venv's `ansible-playbook` is tests/cli-fakes/ansible-playbook.sh, `cargo`
// (the application build) is a no-op. Verify then finds no Prometheus on
// 127.0.0.1 and fails (exit 50) within --verify-timeout: everything before
// it is what these tests look at.

const FAKE_SSH: &str = include_str!("cli-fakes/ssh.sh");
const FAKE_ANSIBLE: &str = include_str!("cli-fakes/ansible-playbook.sh");

/// A test workspace set up for the configure half, and the listener its
/// hosts' SSH port points at (keep it alive for the run).
fn configure_test() -> (Test, std::net::TcpListener) {
    let sshd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sshd.local_addr().unwrap().port();
    let test = Test::new();
    let bin = test.tmp.path().join("bin");
    executable(&bin.join("ssh"), FAKE_SSH);
    executable(&bin.join("cargo"), "#!/bin/sh\nexit 0\n");
    let venv = test.root().join(".obsctl/venv");
    executable(&venv.join("bin/ansible-playbook"), FAKE_ANSIBLE);
    std::fs::create_dir_all(venv.join("lib/python3/site-packages/ansible_mitogen/plugins/strategy")).unwrap();
    let (core, mitogen) = (obsctl::tools::ansible::ANSIBLE_CORE, obsctl::tools::ansible::MITOGEN);
    write(&venv.join(format!("obsctl-ansible-core-{core}-mitogen-{mitogen}")), core);
    let fake = test.fake_dir();
    let test = test
        .inventory(&contract_with("t", |v| {
            for h in v["hosts"].as_object_mut().unwrap().values_mut() {
                h["address"] = json!("127.0.0.1");
                h["ssh_port"] = json!(port);
            }
        }))
        .env("OBSCTL_FAKE", fake);
    (test, sshd)
}

/// The human output with this run's paths and times replaced by placeholders.
fn normalized(ran: &Ran, text: &str) -> String {
    let root = ran.root().display().to_string();
    let mut out = Vec::new();
    for line in text.lines() {
        // Timestamps obsctl puts before each line when stderr is no terminal.
        let line = match line.split_once(' ') {
            Some((stamp, rest)) if stamp.len() > 20 && stamp.ends_with('Z') && stamp.contains('T') => rest,
            _ => line,
        };
        let line = line.replace(&root, "<ROOT>");
        // Durations: `(0.4s)`, `in 1.2s`, `12.03s`.
        let mut norm = String::new();
        let mut rest = line.as_str();
        while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
            let (before, from) = rest.split_at(i);
            let n = from.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(from.len());
            let prev_ok = !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if prev_ok && from[n..].starts_with('s') && !from[n + 1..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                norm.push_str(before);
                norm.push_str("<T>");
                rest = &from[n + 1..];
            } else {
                norm.push_str(before);
                norm.push_str(&from[..n.max(1)]);
                rest = &from[n.max(1)..];
            }
        }
        norm.push_str(rest);
        // Run directories: `runs/20261207T041500.123Z-up`.
        let norm = match norm.find("runs/") {
            Some(i) => {
                let end = norm[i + 5..].find(['/', ' ', ')']).map_or(norm.len(), |e| i + 5 + e);
                format!("{}runs/<RUN>{}", &norm[..i], &norm[end..])
            }
            None => norm,
        };
        // The hosts answer in any order: `[1/2]` counts them as they come.
        let norm = match norm.rfind(" [") {
            Some(i) if norm.contains("answers SSH") => norm[..i].to_string(),
            _ => norm,
        };
        out.push(norm);
    }
    // ... and are listed by name.
    let mut i = 0;
    while i < out.len() {
        let n = out[i..].iter().take_while(|l| l.contains("answers SSH")).count();
        out[i..i + n].sort();
        i += n.max(1);
    }
    out.join("\n")
}

/// The normalized output from the line containing `from` to the one containing `to`.
fn excerpt(ran: &Ran, from: &str, to: &str) -> String {
    let out = normalized(ran, &ran.done.stderr);
    let lines: Vec<&str> = out.lines().skip_while(|l| !l.contains(from)).collect();
    let end = lines.iter().position(|l| l.contains(to)).map_or(lines.len(), |e| e + 1);
    lines[..end].join("\n")
}

/// The JSON event of `phase`'s end.
fn phase_end<'a>(events: &'a [Value], phase: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "phase_end" && e["phase"] == phase)
        .unwrap_or_else(|| panic!("no phase_end of {phase} in {events:#?}"))
}

#[test]
fn configure_waits_for_ssh_runs_ansible_and_records_only_what_verify_passed() {
    let (test, _sshd) = configure_test();
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--verify-timeout", "1"]).status(50);
    let expected = "\
[check] comparing the hosts with their last converged state
✓ check     full Ansible run: Terraform changed the infrastructure (<T>)
[hosts] waiting for SSH on 2 hosts
[hosts] app-1 answers SSH (<T>)
[hosts] mon-1 answers SSH (<T>)
✓ hosts     2 hosts answer SSH (<T>)
[ansible] configuring (ansible/site.yml)
✓ ansible   1 tasks, 2 changed (<T>)
[record] read the converged state: 0 files, 9 services, 0 packages (recorded once verified)
[verify] checking readiness and scrape targets";
    assert_eq!(excerpt(&ran, "[check]", "[verify]"), expected, "\n{}", ran.done);
    let ran = ran.stderr_contains("error: prometheus on mon-1 is not ready");
    let calls = std::fs::read_to_string(ran.test.fake_dir().join("ansible-calls")).unwrap();
    assert!(calls.contains("site.yml") && calls.lines().count() == 1, "one ansible-playbook run: {calls}");
    assert!(!calls.contains("obsctl_upgrade"), "a plain up upgrades nothing: {calls}");
    // Verify failed: the hosts are not recorded as converged; the record says the run failed.
    let record = std::fs::read_to_string(ran.state("t").join("converged.json")).unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["failed"], "verify failed, exit 50", "{record}");
    assert!(record.get("hosts").is_none(), "a run that failed verify records no converged hosts: {record}");
    // The next `up` (Terraform planned nothing) does not trust the hosts: the full path, and why.
    let no_change = "echo 'No changes. Your infrastructure matches the configuration.'\nexit 0\n";
    let ran = ran
        .then()
        .fake("plan", no_change)
        .args(["--output", "json", "up", "--env", "t", "--auto-approve", "--verify-timeout", "1"])
        .status(50);
    let check = phase_end(&ran.events(), "check").clone();
    assert_eq!(check["path"], "full", "{}", ran.done);
    assert!(check["reasons"][0].as_str().unwrap().starts_with("the last run failed (verify failed, exit 50, "), "{check}");
}

/// The background jobs' lines go through the run's one printer: the
/// announcement of the venv install reaches the run log (here the install
/// then finds another obsctl holding the venv's lock: exit 11).
#[test]
fn the_venv_install_is_announced_in_the_run_log() {
    let (test, _sshd) = configure_test();
    let venv = test.root().join(".obsctl/venv");
    let (core, mitogen) = (obsctl::tools::ansible::ANSIBLE_CORE, obsctl::tools::ansible::MITOGEN);
    std::fs::remove_file(venv.join(format!("obsctl-ansible-core-{core}-mitogen-{mitogen}"))).unwrap();
    let _held = obsctl::state::lock::acquire(&venv.with_extension("lock"), "venv", "install ansible-core").unwrap();
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--verify-timeout", "1"]).status(11);
    let ran = ran.stderr_contains("another obsctl is installing ansible-core right now");
    let announced = format!("[ansible] installing ansible-core {core} and Mitogen {mitogen} into ");
    let ran = ran.stderr_contains(&announced);
    let runs = run_dirs(&ran.state("t"));
    let log = std::fs::read_to_string(runs.last().unwrap().join("obsctl.log")).unwrap();
    assert!(log.contains(&announced), "the run log lacks the venv's line:\n{log}");
    assert!(!ran.test.fake_dir().join("ansible-calls").exists(), "Ansible ran without its venv:\n{}", ran.done);
}

#[test]
fn hosts_that_never_answer_ssh_stop_the_run_with_exit_30_before_ansible() {
    let (test, sshd) = configure_test();
    drop(sshd); // nothing listens at the hosts' port any more
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--ssh-timeout", "1"]).status(30);
    let ran = ran
        .stderr_contains("error: 2 of 2 hosts did not answer SSH within 1s")
        .stderr_contains("is the machine up? `obsctl status --env t`");
    assert!(!ran.test.fake_dir().join("ansible-calls").exists(), "Ansible ran:\n{}", ran.done);
}

#[test]
fn a_changed_host_key_is_refused_with_exit_30_and_the_command_that_forgets_it() {
    let (test, _sshd) = configure_test();
    let test = test
        .fake("ssh", "echo 'Host key for 127.0.0.1 has changed: SHA256:abcdef' >&2\necho 'Host key verification failed.' >&2\nexit 255\n");
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--ssh-timeout", "5"]).status(30);
    // The hosts are named in the order they answered.
    let ran = ran.stderr_contains("changed: it is not the key obsctl pinned, so nothing was configured (Ansible did not run)");
    let error = ran.done.stderr.lines().find(|l| l.starts_with("error: the SSH host key of ")).unwrap_or_default().to_string();
    assert!(error.contains("app-1") && error.contains("mon-1"), "{}", ran.done);
    let ran = ran.stderr_contains("ssh-keygen -R '[127.0.0.1]:");
    assert!(!ran.test.fake_dir().join("ansible-calls").exists(), "Ansible ran:\n{}", ran.done);
}

/// Each way `ansible-playbook` can fail, the exit code it gets, and no
/// converged record afterwards (the next `up` runs Ansible again).
#[test]
fn each_ansible_failure_class_has_its_exit_code() {
    let recap = |mon: &str| {
        format!(
            "echo 'PLAY RECAP ***'\necho 'app-1 : ok=3 changed=0 unreachable=0 failed=0 skipped=0'\necho 'mon-1 : ok=2 changed=0 {mon} skipped=0'\n"
        )
    };
    let failed_task = format!(
        "echo 'TASK [grafana : Start grafana] ***'\necho 'fatal: [mon-1]: FAILED! => {{\"msg\": \"grafana did not start\"}}'\n{}exit 2\n",
        recap("unreachable=0 failed=1")
    );
    let unreachable = format!("echo 'TASK [common : Gather facts] ***'\n{}exit 4\n", recap("unreachable=1 failed=0"));
    let no_recap = "echo 'ERROR! the playbook: site.yml could not be found'\nexit 1\n".to_string();
    for (class, script, code, message) in [
        ("a failed task", failed_task, 40, "error: ansible-playbook site.yml failed on mon-1"),
        ("an unreachable host", unreachable, 30, "error: mon-1 stopped answering SSH during `ansible-playbook site.yml` (unreachable)"),
        ("no recap", no_recap, 40, "error: `ansible-playbook site.yml` exited with status 1"),
    ] {
        let (test, _sshd) = configure_test();
        let ran = test.fake("ansible", &script).args(["up", "--env", "t", "--auto-approve"]).run();
        assert_eq!(ran.done.status.code(), Some(code), "{class}\n{}", ran.done);
        let ran = ran.stderr_contains(message).stderr_lacks("[verify]");
        let runs = std::fs::read_to_string(ran.test.fake_dir().join("ansible-calls")).unwrap().lines().count();
        if code == 30 {
            // A host that dropped its connection is retried once; failed tasks never are.
            assert_eq!(runs, 2, "{class}: {}", ran.done);
            ran.stderr_contains("retrying once in 5s");
        } else {
            assert_eq!(runs, 1, "{class}: {}", ran.done);
            if class == "a failed task" {
                ran.stderr_contains("task [grafana : Start grafana] fatal: [mon-1]: FAILED!");
            }
        }
    }
}

#[test]
fn the_fast_path_skips_ansible_only_when_nothing_changed() {
    // Verify passes (a stack of its own on 127.0.0.3): only a verified run is recorded as converged.
    let (test, _sshd) = configure_test();
    let sshd = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
    let port = sshd.local_addr().unwrap().port();
    let test = test.inventory(&contract_with("t", |v| {
        for h in v["hosts"].as_object_mut().unwrap().values_mut() {
            h["address"] = json!("127.0.0.3");
            h["ssh_port"] = json!(port);
        }
    }));
    serve_stack("127.0.0.3", test.state("t").join("tls"));
    let no_change = "echo 'No changes. Your infrastructure matches the configuration.'\nexit 0\n";
    let args = ["--output", "json", "up", "--env", "t", "--auto-approve", "--verify-timeout", "10"];
    let ansible_runs = |ran: &Ran| std::fs::read_to_string(ran.test.fake_dir().join("ansible-calls")).unwrap().lines().count();
    let check = |ran: &Ran| phase_end(&ran.events(), "check").clone();

    // First run: Terraform created the hosts.
    let ran = test.args(args).status(0);
    assert_eq!(check(&ran)["path"], "full");
    assert_eq!(check(&ran)["reasons"], json!(["Terraform changed the infrastructure"]));

    // Nothing changed: one SSH look at each host, Ansible skipped.
    let ssh_calls = ran.test.fake_dir().join("ssh-calls");
    let _ = std::fs::remove_file(&ssh_calls);
    let ran = ran.then().fake("plan", no_change).args(args).status(0);
    assert_eq!(check(&ran)["path"], "fast", "{}", ran.done);
    assert_eq!(
        check(&ran)["reasons"],
        json!(["Terraform planned no change to a host, the inputs are unchanged and all 2 hosts are as last converged"])
    );
    assert_eq!(ansible_runs(&ran), 1, "the fast path ran Ansible");
    // One login per host: the check reads the installed versions for the summary in its own session.
    let calls = std::fs::read_to_string(&ssh_calls).unwrap_or_default();
    assert_eq!(calls.lines().count(), 2, "one SSH session per host on the fast path: {calls}");
    assert!(calls.lines().all(|l| l.contains("end-of-check") && l.contains("os-release")), "{calls}");
    assert_eq!(ran.done.stdout.matches("\"version_id\":\"13\"").count(), 2, "the summary lacks the versions the check read: {}", ran.done);

    // Asked for: the full run.
    let ran = ran.then().args(["--output", "json", "up", "--env", "t", "--auto-approve", "--verify-timeout", "10", "--full"]).status(0);
    assert_eq!(check(&ran)["reasons"], json!(["--full"]));
    assert_eq!(ansible_runs(&ran), 2);

    // A host that is not as recorded (recreated: another machine id).
    let ran = ran.then().fake("ssh", "machine_id=new\n");
    let ran = ran.args(args).status(0);
    assert_eq!(check(&ran)["path"], "full", "{}", ran.done);
    let reasons = check(&ran)["reasons"].to_string();
    assert!(reasons.contains("mon-1: machine id") && reasons.contains("(host recreated)"), "{reasons}");
    assert_eq!(ansible_runs(&ran), 3);

    // The env file changed: the inputs' digest differs.
    let env_file = ran.root().join("environments/t.toml");
    let text = std::fs::read_to_string(&env_file).unwrap();
    write(&env_file, &text.replace("CLI test environment", "CLI test environment, edited"));
    let ran = ran.then().fake("ssh", "").args(args).status(0);
    assert!(check(&ran)["reasons"].to_string().contains("the inputs changed since the last configuration"), "{}", ran.done);
}

#[test]
fn commands_that_only_look_write_a_run_log() {
    let (test, _sshd) = configure_test();
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--verify-timeout", "1"]).status(50);
    let before = run_dirs(&ran.state("t")).len();
    let ran = ran.then().args(["inventory", "--env", "t"]).status(0).stdout_contains("127.0.0.1");
    let ran = ran.then().args(["status", "--env", "t"]).run();
    let ran = ran.then().args(["silence", "--env", "t", "list"]).run();
    let ran = ran.then().args(["doctor", "--env", "t"]).run();
    let runs = run_dirs(&ran.state("t"));
    let names: Vec<String> = runs[before..].iter().map(|r| r.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for (dir, command) in names.iter().zip(["inventory", "status", "silence", "doctor"]) {
        assert!(dir.ends_with(&format!("-{command}")), "{names:?}");
    }
    assert_eq!(names.len(), 4, "{names:?}");
    let status_log = std::fs::read_to_string(runs[before + 1].join("obsctl.log")).unwrap();
    assert!(status_log.contains("prometheus"), "status's run log lacks its table:\n{status_log}");
}

/// Prometheus and Alertmanager as verify sees them, on `ip` at the registry's
/// ports: HTTPS with mon-1's certificate (read at each connection: `up`
/// issues it before verify), ready, and every job up on every host.
fn serve_stack(ip: &str, tls: PathBuf) {
    use std::io::Write;
    use std::sync::Arc;
    let registry = obsctl::model::component::Registry::new(obsctl::model::component::DEFAULT_APP_PORT);
    let targets: Vec<Value> = registry
        .iter()
        .flat_map(|c| ["mon-1", "app-1"].map(|h| json!({ "labels": { "job": c.job, "host": h }, "health": "up", "lastError": "" })))
        .collect();
    let targets = json!({ "status": "success", "data": { "activeTargets": targets } }).to_string();
    for component in [obsctl::model::component::ComponentId::Prometheus, obsctl::model::component::ComponentId::Alertmanager] {
        let listener = std::net::TcpListener::bind((ip, registry.get(component).port())).unwrap();
        let (tls, targets) = (tls.clone(), targets.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                use rustls::pki_types::pem::PemObject;
                let Ok(certs) = rustls::pki_types::CertificateDer::pem_file_iter(tls.join("hosts/mon-1.crt")) else { continue };
                let certs: Vec<_> = certs.flatten().collect();
                let Ok(key) = rustls::pki_types::PrivateKeyDer::from_pem_file(tls.join("hosts/mon-1.key")) else { continue };
                let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(certs, key)
                    .unwrap();
                let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                let Ok(n) = tls.read(&mut buf) else { continue };
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if request.starts_with("GET /api/v1/targets") { targets.as_str() } else { "ready" };
                let _ = write!(tls, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
    }
}

/// `up --upgrade`: always the full path, Ansible told to upgrade
/// (`obsctl_upgrade`), and the summary shows each host's versions before →
/// after, read from the hosts (the fake host answers an older Prometheus with
/// a newer candidate until Ansible has run).
#[test]
fn up_upgrade_upgrades_and_shows_before_and_after() {
    // 127.0.0.4: its own loopback address (tests run at once; each stack binds
    // the registry's ports: 127.0.0.2 and .3 are other tests').
    let (test, _sshd) = configure_test();
    let sshd = std::net::TcpListener::bind("127.0.0.4:0").unwrap();
    let port = sshd.local_addr().unwrap().port();
    let test = test.inventory(&contract_with("t", |v| {
        for h in v["hosts"].as_object_mut().unwrap().values_mut() {
            h["address"] = json!("127.0.0.4");
            h["ssh_port"] = json!(port);
        }
    }));
    write(
        &test.fake_dir().join("ssh.sh"),
        r#"case "$command" in
  *os-release*)
    v=3.4.0+ds-1; [ -f "$OBSCTL_FAKE/ansible-calls" ] && v=3.5.0+ds-1
    printf 'release	Debian GNU/Linux 13 (trixie)
version_id	13
ii 	prometheus	%s
candidate	prometheus	3.5.0+ds-1
' "$v"
    exit 0 ;;
esac
"#,
    );
    serve_stack("127.0.0.4", test.state("t").join("tls"));
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--upgrade", "--verify-timeout", "10"]).status(0);
    let out = normalized(&ran, &ran.done.stdout);
    for line in [
        "  Upgraded      app-1: prometheus 3.4.0+ds-1 → 3.5.0+ds-1",
        "                mon-1: prometheus 3.4.0+ds-1 → 3.5.0+ds-1",
        "  Updates       none pending (every managed package is at its APT candidate)",
    ] {
        assert!(out.contains(line), "no line {line:?} in the summary:\n{out}\n{}", ran.done);
    }
    let ran = ran.stderr_contains("full Ansible run: --upgrade");
    let calls = std::fs::read_to_string(ran.test.fake_dir().join("ansible-calls")).unwrap();
    assert!(calls.contains(r#"-e {"obsctl_upgrade":true}"#), "Ansible was not told to upgrade: {calls}");
}

#[test]
fn a_verified_run_ends_in_the_summary() {
    // 127.0.0.2: a loopback address of its own, so no other test's verify finds this stack.
    let (test, _sshd) = configure_test();
    let sshd = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = sshd.local_addr().unwrap().port();
    let test = test.inventory(&contract_with("t", |v| {
        for h in v["hosts"].as_object_mut().unwrap().values_mut() {
            h["address"] = json!("127.0.0.2");
            h["ssh_port"] = json!(port);
        }
    }));
    serve_stack("127.0.0.2", test.state("t").join("tls"));
    let ran = test.args(["up", "--env", "t", "--auto-approve", "--verify-timeout", "10"]).status(0);
    let expected = "\
Environment `t` is up: 2 hosts, 9 scrape targets up, 2 changed tasks.
  Configuration: full Ansible run (Terraform changed the infrastructure)
  Installed     Debian GNU/Linux 13 (trixie): prometheus 3.5.0+ds-1 (every host)
  Updates       none pending (every managed package is at its APT candidate)
  Prometheus    https://127.0.0.2:9090
  Alertmanager  https://127.0.0.2:9093
  Grafana login: admin / password in <ROOT>/.obsctl/t/secrets/grafana_admin_password
  Credentials:  HTTPS with the CA <ROOT>/.obsctl/t/tls/ca.crt; basic auth as obsctl / password in <ROOT>/.obsctl/t/secrets/web_obsctl_password
  Run logs:     <ROOT>/.obsctl/t/runs/<RUN>";
    assert_eq!(normalized(&ran, &ran.done.stdout), expected, "\n{}", ran.done);
    let ran = ran.stderr_contains("✓ verify    9 scrape targets up");
    assert_eq!(std::fs::read_to_string(ran.test.fake_dir().join("ansible-calls")).unwrap().lines().count(), 1);
}

#[test]
fn ssh_opens_the_host_with_the_environments_key_and_pinned_host_keys() {
    let (test, _sshd) = configure_test();
    let calls = test.fake_dir().join("ssh-calls");
    let ran = test.args(["ssh", "--env", "t", "mon-1"]).status(10).stderr_contains("is not deployed").stderr_contains("obsctl up --env t");
    let ran = ran.then().args(["up", "--env", "t", "--skip-configure"]).status(0);
    let ran = ran.then().args(["ssh", "--env", "t", "mon-9"]).status(10).stderr_contains("no host named `mon-9`");
    assert!(ran.done.stderr.contains("app-1, mon-1"), "the hosts are not listed: {}", ran.done);
    let _ = std::fs::remove_file(&calls);
    let argv_file = calls.with_file_name("ssh-argv");
    let ran = ran
        .then()
        .fake("ssh", "echo \"$*\" > \"$OBSCTL_FAKE/ssh-argv\"\n")
        .args(["ssh", "--env", "t", "mon-1", "--", "hostname"])
        .status(0);
    let call = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(call.trim_end(), "admin@127.0.0.1\thostname", "ssh was not called for mon-1: {call:?}");
    // The call itself: the contract's key (as Ansible gets it), the pinned known_hosts.
    let argv = std::fs::read_to_string(&argv_file).unwrap_or_default();
    let state = ran.state("t");
    for want in [
        "-i /nonexistent/id_ed25519".to_string(),
        format!("UserKnownHostsFile={}", state.join("ssh/known_hosts").display()),
        "StrictHostKeyChecking=accept-new".into(),
    ] {
        assert!(argv.contains(&want), "ssh's arguments lack `{want}`: {argv}");
    }
}

/// The user's rule files ([user].rules_dir, docs/own-services.md) are checked
/// with promtool before Terraform runs: a broken one is exit 10 naming the
/// file, and nothing ran; fixed, `up` goes on (here with the real promtool of
/// the lab's Debian 13, tests/setup.sh tools).
#[test]
fn a_broken_user_rule_file_is_refused_before_terraform() {
    let promtool = Path::new(env!("CARGO_MANIFEST_DIR")).join(".obsctl/tools/debian-13/root/usr/bin/promtool");
    if !promtool.is_file() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "no promtool: run tests/setup.sh tools");
        return;
    }
    let with_rules = format!("{ENV}\n[user]\nrules_dir = \"../monitoring/rules\"\n");
    let test = Test::new().env_file("t", &with_rules);
    std::os::unix::fs::symlink(&promtool, test.tmp.path().join("bin/promtool")).unwrap();
    let rules = test.root().join("monitoring/rules");
    write(&rules.join("svc.rules.yml"), "groups:\n- name: svc\n  rules:\n  - alert: SvcDown\n    expr: up{job=\"svc\"} ==\n");
    let ran = test
        .args(["up", "--env", "t", "--skip-configure"])
        .status(10)
        .stderr_contains("svc.rules.yml")
        .stderr_contains("promtool check rules");
    // Only the prerequisites' `terraform version`: no init, plan or apply.
    assert!(ran.calls().iter().all(|c| subcommand(c) == "version"), "terraform ran: {:?}", ran.calls());

    let test = Test::new().env_file("t", &with_rules);
    std::os::unix::fs::symlink(&promtool, test.tmp.path().join("bin/promtool")).unwrap();
    write(
        &test.root().join("monitoring/rules/svc.rules.yml"),
        "groups:\n- name: svc\n  rules:\n  - alert: SvcDown\n    expr: up{job=\"svc\"} == 0\n",
    );
    let ran =
        test.args(["up", "--env", "t", "--skip-configure"]).status(0).stderr_contains("alert `SvcDown` has no runbook_url or no summary");
    assert!(ran.calls().iter().any(|c| subcommand(c) == "plan"), "terraform did not plan: {:?}", ran.calls());
}
