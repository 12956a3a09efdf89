//! The layers of src/ (see src/lib.rs): every `crate::…` and `super::…`
//! path outside test code is an import arrow between two units (a ground
//! module such as `error`, or a file or folder one level into a layer such
//! as `state::tls`, `model::environment`). The check fails on an arrow from
//! a lower layer to a higher one, an arrow between two commands, a path to
//! no module, or a cycle among units. `cargo test --test layers -- --nocapture`
//! prints the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top: a unit may import its own layer and those below it.
const LAYERS: [&str; 7] = ["ground", "model", "state", "tools", "check", "deploy", "commands"];
/// The ground modules: imported by everything, importing only each other.
const GROUND: [&str; 4] = ["error", "report", "signals", "cli"];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn layer_of(unit: &str) -> &str {
    let first = unit.split("::").next().unwrap_or(unit);
    if GROUND.contains(&first) {
        "ground"
    } else {
        first
    }
}

fn rank(unit: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer_of(unit))
}

/// The module path of a file under src/: `deploy/up.rs` → `deploy::up`,
/// `model/environment/mod.rs` → `model::environment`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The unit a module path belongs to: a ground module, or layer::name.
fn unit_of(path: &[String]) -> String {
    match path {
        [] => String::new(),
        [one] => one.clone(),
        [first, ..] if GROUND.contains(&first.as_str()) => first.clone(),
        [layer, name, ..] => format!("{layer}::{name}"),
    }
}

/// The source without test code (an item after `#[cfg(test)]`, to its
/// closing brace at column 0) and without comment lines.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            for item in lines.by_ref() {
                let t = item.trim_start();
                if t.starts_with("#[") || t.starts_with("//") {
                    continue;
                }
                if item.trim_end().ends_with(';') {
                    break;
                }
                let indent = item.len() - t.len();
                let close = format!("{}}}", " ".repeat(indent));
                for rest in lines.by_ref() {
                    if rest.trim_end() == close {
                        break;
                    }
                }
                break;
            }
            continue;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len())
}

/// Every path the code names from `crate::` (or `super::`, made absolute),
/// with `crate::a::{b, c::d}` read as `a::b` and `a::c::d`.
fn paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        for (i, _) in code.match_indices(prefix) {
            if code[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut rest = &code[i + prefix.len()..];
            let mut path = base.clone();
            while let Some(r) = rest.strip_prefix("super::").filter(|_| prefix == "super::") {
                path.pop();
                rest = r;
            }
            loop {
                let n = ident_len(rest);
                if n == 0 {
                    break;
                }
                path.push(rest[..n].to_string());
                rest = &rest[n..];
                if let Some(r) = rest.strip_prefix("::") {
                    rest = r;
                } else {
                    break;
                }
            }
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let mut p = path.clone();
                    p.extend(item.split("::").map(|s| s[..ident_len(s)].to_string()).filter(|s| !s.is_empty() && s != "self"));
                    out.push(p);
                }
            } else if !path.is_empty() {
                out.push(path);
            }
        }
    }
    out
}

/// The import graph of `files` (path relative to src/, source), and the
/// paths that name no module of them.
fn graph(files: &[(String, String)]) -> (Graph, Vec<String>) {
    let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
    for (rel, _) in files {
        let m = module_of(rel);
        for n in 1..=m.len() {
            modules.insert(m[..n].to_vec());
        }
    }
    let mut g = Graph::new();
    let mut unresolved = Vec::new();
    for (rel, text) in files {
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let module = module_of(rel);
        let from = unit_of(&module);
        g.entry(from.clone()).or_default();
        for path in paths(&production_code(text), &module) {
            // The longest prefix that is a module: `crate::state::tls::Access` → state::tls.
            let Some(n) = (1..=path.len()).rev().find(|&n| modules.contains(&path[..n])) else {
                if path.len() == 1 {
                    continue; // an item of lib.rs (`crate::VERSION`): the root imports nothing
                }
                unresolved.push(format!("{rel}: crate::{}", path.join("::")));
                continue;
            };
            let to = unit_of(&path[..n]);
            if to != from {
                g.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    (g, unresolved)
}

/// What breaks the layering: arrows that point up or between commands,
/// unresolved paths, and cycles.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let (g, unresolved) = graph(files);
    let mut out: Vec<String> = unresolved.into_iter().map(|u| format!("names no module: {u}")).collect();
    for (from, tos) in &g {
        let Some(rf) = rank(from) else {
            out.push(format!("{from} is in no layer (one of {LAYERS:?}, ground: {GROUND:?})"));
            continue;
        };
        for to in tos {
            match rank(to) {
                None => out.push(format!("{from} → {to}: {to} is in no layer")),
                Some(rt) if rt > rf => out.push(format!("{from} ({}) imports {to} ({}), a higher layer", layer_of(from), layer_of(to))),
                _ if layer_of(from) == "commands" && layer_of(to) == "commands" && from != "commands" => {
                    out.push(format!("{from} imports {to}: commands never import each other (shared code goes to deploy/)"))
                }
                _ => {}
            }
        }
    }
    out.extend(cycles(&g).into_iter().map(|c| format!("cycle: {}", c.join(" → "))));
    out
}

/// One cycle through each strongly connected part of the graph.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    fn visit<'a>(n: &'a str, g: &'a Graph, stack: &mut Vec<&'a str>, done: &mut BTreeSet<&'a str>, found: &mut Vec<Vec<String>>) {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut c: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            c.push(n.to_string());
            found.push(c);
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n);
        for to in g.get(n).into_iter().flatten() {
            visit(to, g, stack, done, found);
        }
        stack.pop();
        done.insert(n);
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, g, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn sources(root: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn src_has_one_way_layers_and_no_cycles() {
    let files = sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(files.len() > 30, "src/ read: {} files", files.len());
    let (g, _) = graph(&files);
    let arrows: usize = g.values().map(BTreeSet::len).sum();
    println!("src/ layers, top to bottom ({} units, {arrows} import arrows):", g.len());
    for layer in LAYERS.iter().rev() {
        println!("{layer}/");
        for (unit, tos) in g.iter().filter(|(u, _)| layer_of(u) == *layer) {
            println!("  {unit:<24} → {}", tos.iter().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    let bad = violations(&files);
    assert!(bad.is_empty(), "src/ breaks its layers:\n{}", bad.join("\n"));
}

/// The check finds what it is for, on an example in memory.
#[test]
fn the_layer_check_finds_planted_violations() {
    let f = |p: &str, t: &str| (p.to_string(), t.to_string());
    let good = vec![
        f("error.rs", "pub struct Error;"),
        f("model/mod.rs", "pub mod names;"),
        f("model/names.rs", "use crate::error::Error;\n// crate::deploy::up in a comment is no import\n"),
        f("state/mod.rs", "pub mod tls;\npub mod secrets;"),
        f("state/secrets.rs", "use crate::model::names;\n"),
        f("state/tls.rs", "use crate::{error::Error, state::secrets::X};\n#[cfg(test)]\nmod tests {\n    use crate::deploy::up::Y;\n}\n"),
        f("deploy/mod.rs", "pub mod up;"),
        f("deploy/up.rs", "use super::super::state::tls::T;\nfn f() { crate::model::names::check(); }\n"),
        f("commands/mod.rs", "mod a;\nmod b;\nuse crate::error::Error;"),
        f("commands/a.rs", "use crate::deploy::up;"),
        f("commands/b.rs", "use crate::deploy::up;"),
    ];
    assert_eq!(violations(&good), Vec::<String>::new(), "test code, comments and grouped paths are read right");
    let (g, _) = graph(&good);
    assert!(g["state::tls"].contains("state::secrets") && g["state::tls"].contains("error"), "{g:?}");
    assert!(g["deploy::up"].contains("state::tls") && g["deploy::up"].contains("model::names"), "{g:?}");

    let plant = |extra: Vec<(String, String)>| {
        let mut files = good.clone();
        for (p, t) in extra {
            files.retain(|(q, _)| *q != p);
            files.push((p, t));
        }
        violations(&files)
    };
    let up = plant(vec![f("model/names.rs", "fn f() { crate::state::tls::ensure(); }")]);
    assert!(up.iter().any(|v| v.contains("model::names (model) imports state::tls (state), a higher layer")), "{up:?}");
    let cycle = plant(vec![f("state/secrets.rs", "use crate::state::tls::WebUser;")]);
    assert!(cycle.iter().any(|v| v.starts_with("cycle:") && v.contains("state::secrets") && v.contains("state::tls")), "{cycle:?}");
    let ground = plant(vec![f("error.rs", "use crate::signals::X;"), f("signals.rs", "use crate::error::Error;")]);
    assert!(ground.iter().any(|v| v.starts_with("cycle:")), "{ground:?}");
    let sideways = plant(vec![f("commands/b.rs", "use super::a::run;")]);
    assert!(sideways.iter().any(|v| v.contains("commands::b imports commands::a")), "{sideways:?}");
    let nowhere = plant(vec![f("deploy/up.rs", "use crate::environment::Environment;")]);
    assert!(nowhere.iter().any(|v| v.contains("names no module: deploy/up.rs: crate::environment::Environment")), "{nowhere:?}");
    let stray = plant(vec![f("helpers.rs", "pub fn x() {}")]);
    assert!(stray.iter().any(|v| v.contains("helpers is in no layer")), "{stray:?}");
}

/// Files stay small enough to read whole; `up` stays a thin command over deploy/.
#[test]
fn no_file_of_src_is_over_600_lines_and_up_is_thin() {
    for (rel, text) in sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let lines = text.lines().count();
        assert!(lines <= 600, "src/{rel} has {lines} lines (at most 600: split it into a folder)");
        if rel == "commands/up.rs" {
            assert!(lines < 150, "src/commands/up.rs has {lines} lines: orchestration belongs in src/deploy/");
        }
    }
}

/// The demo application (app/src) is flat, but without import cycles either.
#[test]
fn app_has_no_import_cycles() {
    let files = sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("app/src"));
    assert!(files.len() > 10, "app/src read: {} files", files.len());
    let (g, unresolved) = graph(&files);
    assert!(unresolved.is_empty(), "{unresolved:?}");
    assert!(g["server"].contains("log"), "the app's imports are read: {g:?}");
    let found = cycles(&g);
    assert!(found.is_empty(), "app/src has import cycles: {found:?}");
}

/// What production code may not write: the run plan (`Environment`) is built
/// once (the env file's, narrowed by `--without` or by the deployment record,
/// in model/environment/) and only read after.
fn mutations_of_the_run_plan(files: &[(String, String)]) -> Vec<String> {
    const FORBIDDEN: [&str; 6] =
        ["&mut Environment", "let mut env", "mut env:", "env.components.insert", "env.components.remove", "env.components ="];
    let mut found = Vec::new();
    for (rel, text) in files {
        for (n, line) in production_code(text).lines().enumerate() {
            // The pattern as a whole word: `let mut envs` is another variable.
            let whole =
                |f: &str| line.match_indices(f).any(|(i, _)| !line[i + f.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
            for f in FORBIDDEN.iter().filter(|f| whole(f)) {
                found.push(format!("src/{rel}:{}: `{f}`: build the environment the run needs in one constructor", n + 1));
            }
        }
    }
    found
}

#[test]
fn the_run_plan_is_not_changed_after_it_is_built() {
    let files = sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let found = mutations_of_the_run_plan(&files);
    assert!(found.is_empty(), "{}", found.join("\n"));
    let planted = vec![(
        "commands/x.rs".to_string(),
        "fn f(env: &mut Environment) {\n    env.components.remove(&c);\n    let mut envs = Vec::new();\n}\n#[cfg(test)]\nmod tests {\n    fn g() { let mut env = e(); }\n}\n".to_string(),
    )];
    let found = mutations_of_the_run_plan(&planted);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("src/commands/x.rs:1: `&mut Environment`"), "{found:?}");
}
