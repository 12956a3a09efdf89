//! Name rules for environments and hosts, in one place for obsctl. The
//! Terraform stacks state the same rule in terraform/shared/obsctl_inputs.tf
//! (linked into both stacks); tests/names/names.txt is one table of names
//! that obsctl (the tests below) and both stacks (tests/static/names.sh)
//! must judge alike.
//!
//! A name is lower-case letters and digits in hyphen-separated words,
//! starting with a letter: no `--` and no trailing `-` (RDS identifiers
//! refuse both). Every AWS name the aws stack derives starts with
//! `obsctl-<environment>`, so no environment yields a name AWS reserves
//! (`sg-…` security groups, `internal-…` load balancers).

/// Longest environment name: the aws stack's longest derived names
/// (`obsctl-<env>-<region>-loki` for IAM, `obsctl-<env>` for load
/// balancers, ≤ 32) stay within AWS's limits.
pub const ENV_MAX: usize = 20;
/// Longest host name.
pub const HOST_MAX: usize = 31;

/// The rule both kinds share, with the longest length allowed.
fn valid(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

pub fn valid_env(name: &str) -> bool {
    valid(name, ENV_MAX)
}

pub fn valid_host(name: &str) -> bool {
    valid(name, HOST_MAX)
}

/// A user scrape job's name (env file `[[scrape_jobs]]`): also a folder
/// name on the Prometheus hosts.
pub const JOB_RULE: &str = "1–40 lower-case letters, digits, `_` and `-`, starting with a letter (e.g. postgres)";

pub fn valid_job(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// An environment variable's name (a credential's `*_env`).
pub fn env_var(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What the rule says, for error messages.
pub fn rule(max: usize) -> String {
    format!("1–{max} lower-case letters and digits, words joined by single hyphens, starting with a letter (e.g. eu-prod-1)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_table_of_names() {
        let table = include_str!("../../tests/names/names.txt");
        let mut checked = 0;
        for line in table.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (kind, verdict, name) = (cols[0], cols[1], cols[2]);
            let got = match kind {
                "env" => valid_env(name),
                "host" => valid_host(name),
                other => panic!("unknown kind {other} in tests/names/names.txt"),
            };
            assert_eq!(got, verdict == "ok", "{kind} name `{name}`: obsctl says {got}, the table says {verdict}");
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} names in the table");
    }
}
