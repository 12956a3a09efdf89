//! Contract → Ansible inventory for synthetic topologies of 10, 100 and
//! 1,000 hosts: parse + validate the Terraform output, render the inventory,
//! serialise it. Prints figures (best and median of several runs); it is not
//! a pass/fail test. `cargo bench --bench inventory`
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use obsctl::model::{contract, environment};
use obsctl::tools::inventory;
use serde_json::json;

fn env_file(hosts: usize) -> String {
    let mut s = String::from("provider = \"lab\"\n[lab]\nbridge = \"obs-bench\"\ncidr = \"10.80.0.0/16\"\n");
    for i in 0..hosts {
        let roles = match i {
            0 | 1 => r#"["prometheus", "alertmanager", "grafana", "loki"]"#,
            2 => r#"["alertmanager", "loki"]"#,
            _ => r#"["app"]"#,
        };
        s.push_str(&format!("[[hosts]]\nname = \"host-{i}\"\nroles = {roles}\n"));
    }
    s
}

fn contract(env: &environment::Environment) -> String {
    let hosts: serde_json::Map<String, serde_json::Value> = env
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let addr = format!("10.80.{}.{}", i / 250, i % 250 + 2);
            (
                h.name.clone(),
                json!({ "address": addr, "private_address": addr, "ssh_user": "root", "ssh_port": 22,
                        "roles": h.roles, "labels": { "zone": "lab", "provider": "lab" } }),
            )
        })
        .collect();
    json!({ "schema": 1, "environment": "bench", "hosts": hosts,
            "ssh": { "private_key_file": "/k", "bastion": null } })
    .to_string()
}

fn main() {
    println!("contract → inventory (parse, validate, render, serialise)");
    println!("{:>6}  {:>10}  {:>10}  {:>10}", "hosts", "best", "median", "bytes");
    for n in [10usize, 100, 1000] {
        let env = environment::parse("bench", Path::new("environments/bench.toml"), &env_file(n)).expect("env");
        let text = contract(&env);
        let runs = if n >= 1000 { 20 } else { 100 };
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let c = contract::parse(&text, &env).expect("contract");
            let ctx = inventory::Context {
                env: &env,
                secrets_dir: Path::new("/s"),
                known_hosts: Path::new("/kh"),
                app_binary: Path::new("/bin/orders-api"),
                tls: &obsctl::state::workspace::TlsDir { dir: "/tls".into() },
                web_users: &[],
                provider_vars: serde_json::Map::new(),
                host_os: Default::default(),
            };
            let out = serde_json::to_string_pretty(&inventory::render(&c, &ctx)).unwrap();
            times.push(t.elapsed());
            bytes = out.len();
        }
        times.sort();
        println!("{n:>6}  {:>8.2}ms  {:>8.2}ms  {bytes:>10}", times[0].as_secs_f64() * 1e3, times[times.len() / 2].as_secs_f64() * 1e3);
    }
}
