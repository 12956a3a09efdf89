//! `[aws]` of an environment file: a typed table (unknown keys refused) and
//! its checks against AWS's own rules, so that `up` stops at the env file
//! instead of half-way through an apply. Defaults of the optional keys live
//! in one place, the aws stack's `variables.tf`: a key left out here is left
//! out of the Terraform variables too.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::model::units;

/// The `[aws]` table. Serialised as the stack's `aws` variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub region: String,
    pub availability_zones: Vec<String>,
    pub admin_cidrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_types: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loki_bucket_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loki_force_destroy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_certificate_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_db_instance_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_db_storage_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_db_multi_az: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_db_deletion_protection: Option<bool>,
    /// A NAT gateway per zone (the default) or one (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_per_zone: Option<bool>,
    /// Days the audit logs (bucket, the database's CloudWatch logs) are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bastion_instance_type: Option<String>,
}

/// Retentions CloudWatch Logs accepts (the stack's log_retention_days).
const LOG_RETENTIONS: &[u32] = &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The stack's default `instance_types` (variables.tf), for the checks below
/// when the table sets none.
const DEFAULT_TYPES: &[(&str, &str)] = &[("small", "t3.small"), ("medium", "t3.medium"), ("large", "m6i.large")];

/// Address ranges reserved for documentation (RFC 5737): an `admin_cidrs`
/// entry in them is a placeholder that was never replaced.
const DOCUMENTATION: &[(&str, [u8; 4], u32)] =
    &[("TEST-NET-1", [192, 0, 2, 0], 24), ("TEST-NET-2", [198, 51, 100, 0], 24), ("TEST-NET-3", [203, 0, 113, 0], 24)];

/// A host as `[aws]` checks see it: name, size key, zone index.
pub struct HostRef<'a> {
    pub name: &'a str,
    pub size: &'a str,
    pub zone: u32,
}

/// Checks `[aws]` against AWS's rules; an error is (key under `aws.`, what
/// is wrong).
pub fn validate(aws: &AwsSettings, hosts: &[HostRef]) -> Result<(), (String, String)> {
    let err = |key: &str, what: String| Err((format!("aws.{key}"), what));

    if !units::aws_region(&aws.region) {
        return err("region", format!("`{}` is not an AWS region name such as eu-west-1", aws.region));
    }
    let mut zones = aws.availability_zones.clone();
    zones.sort();
    zones.dedup();
    if zones.len() < 2 || zones.len() != aws.availability_zones.len() {
        return err("availability_zones", "list at least two distinct zones (the load balancer and HA need two)".into());
    }
    for z in &aws.availability_zones {
        let suffix = z.strip_prefix(aws.region.as_str()).unwrap_or("");
        if suffix.len() != 1 || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
            return err("availability_zones", format!("`{z}` is not a zone of {} (e.g. {}a)", aws.region, aws.region));
        }
    }
    for h in hosts {
        if h.zone as usize >= aws.availability_zones.len() {
            return Err((
                format!("hosts.{}.zone", h.name),
                format!("zone {} is not an index into aws.availability_zones (0..{})", h.zone, aws.availability_zones.len() - 1),
            ));
        }
    }
    if let Some(cidr) = &aws.vpc_cidr {
        match units::ipv4_network(cidr) {
            Some((_, p)) if (16..=23).contains(&p) => {}
            _ => {
                return err("vpc_cidr", format!("`{cidr}` is not an IPv4 network from /16 to /23 (each zone gets a subnet 4 bits longer)"))
            }
        }
    }
    check_admin_cidrs(&aws.admin_cidrs, aws.endpoint.is_some()).map_err(|what| ("aws.admin_cidrs".to_string(), what))?;

    let types: BTreeMap<String, String> =
        aws.instance_types.clone().unwrap_or_else(|| DEFAULT_TYPES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let arm_image = aws.ami_name.as_deref().is_some_and(|n| n.contains("arm64"));
    for (size, t) in &types {
        check_instance_type(t, arm_image).map_err(|what| (format!("aws.instance_types.{size}"), what))?;
    }
    if let Some(t) = &aws.bastion_instance_type {
        check_instance_type(t, arm_image).map_err(|what| ("aws.bastion_instance_type".to_string(), what))?;
    }
    if let Some(days) = aws.log_retention_days {
        if !LOG_RETENTIONS.contains(&days) {
            return err(
                "log_retention_days",
                format!("{days}: CloudWatch Logs accepts {}", LOG_RETENTIONS.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")),
            );
        }
    }
    for h in hosts {
        if !types.contains_key(h.size) {
            return Err((
                format!("hosts.{}.size", h.name),
                format!("`{}` is not a key of aws.instance_types ({})", h.size, types.keys().cloned().collect::<Vec<_>>().join(", ")),
            ));
        }
    }
    if let Some(owner) = &aws.ami_owner {
        if !(owner.len() == 12 && owner.chars().all(|c| c.is_ascii_digit())
            || ["amazon", "self", "aws-marketplace"].contains(&owner.as_str()))
        {
            return err("ami_owner", format!("`{owner}` is not a 12-digit account ID or one of amazon, self, aws-marketplace"));
        }
    }
    if aws.ami_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return err("ami_name", "must not be empty".into());
    }
    if let Some(user) = &aws.ssh_user {
        let ok = !user.is_empty()
            && user.len() <= 32
            && user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && user.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            return err("ssh_user", format!("`{user}` is not a Unix user name (the image's login user, e.g. admin on Debian)"));
        }
    }
    if let Some(bucket) = &aws.loki_bucket_name {
        if !units::s3_bucket(bucket) {
            return err(
                "loki_bucket_name",
                format!("`{bucket}` is not an S3 bucket name (3–63 lower-case letters, digits, dots, hyphens; no `..`, not an IP address, no xn-- prefix or -s3alias suffix)"),
            );
        }
    }
    if let Some(url) = &aws.endpoint {
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.split("://").nth(1).is_none_or(|rest| rest.trim_end_matches('/').is_empty() || rest.trim_end_matches('/').contains('/'))
        {
            return err("endpoint", format!("`{url}` is not a URL such as http://127.0.0.1:5000"));
        }
    }
    if let Some(arn) = &aws.grafana_certificate_arn {
        if !(arn.starts_with("arn:aws") && arn.contains(":acm:") && arn.contains(":certificate/")) {
            return err(
                "grafana_certificate_arn",
                format!("`{arn}` is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"),
            );
        }
    }
    for (k, v) in aws.tags.iter().flatten() {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.to_ascii_lowercase().starts_with("aws:") {
            return err("tags", format!("tag `{k}`: keys are 1–128 characters not starting with aws: (reserved), values at most 256"));
        }
        if ["Environment", "ManagedBy", "Name"].contains(&k.as_str()) {
            return err("tags", format!("tag `{k}` is set by obsctl itself"));
        }
    }
    if let Some(class) = &aws.grafana_db_instance_class {
        let parts: Vec<&str> = class.split('.').collect();
        if parts.len() != 3
            || parts[0] != "db"
            || parts[1..].iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return err("grafana_db_instance_class", format!("`{class}` is not an RDS instance class such as db.t4g.micro"));
        }
    }
    if let Some(gb) = aws.grafana_db_storage_gb {
        if !(20..=65536).contains(&gb) {
            return err("grafana_db_storage_gb", format!("{gb}: RDS gp3 storage is 20 to 65536 GiB"));
        }
    }
    Ok(())
}

/// Who may reach SSH, the UIs and the load balancer: real networks of
/// admins. Refused: anything wider than a /8 (the internet, also when split
/// into halves or quarters) and the documentation ranges (a placeholder;
/// allowed against a mock `endpoint`, where nothing is reachable anyway).
fn check_admin_cidrs(cidrs: &[String], mock: bool) -> Result<(), String> {
    // Empty: a value still to fill in, named by `up` with the others
    // (Environment::check_deployable).
    for c in cidrs {
        let Some((addr, prefix)) = units::ipv4_network(c) else {
            return Err(format!("`{c}` is not an IPv4 network written with its network address (e.g. 198.51.7.0/24, or 198.51.7.9/32)"));
        };
        if prefix < 8 {
            return Err(format!(
                "`{c}` is wider than a /8: with it SSH and the monitoring UIs are open to a large part of the internet \
                 (0.0.0.0/1 and 128.0.0.0/1 together are all of it). List your admins' networks (office, VPN)"
            ));
        }
        if !mock {
            for (name, net, len) in DOCUMENTATION {
                let mask = u32::MAX << (32 - len);
                if u32::from(addr) & mask == u32::from(Ipv4Addr::from(*net)) {
                    return Err(format!(
                        "`{c}` is in {name} ({}/{len}), an address range reserved for documentation: a placeholder. \
                         Put your admins' networks (office, VPN) there",
                        Ipv4Addr::from(*net)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// An EC2 instance type (`family.size`) that can boot the image: x86_64
/// types for an amd64 image, Graviton (arm64) types only for an arm64 one.
fn check_instance_type(t: &str, arm_image: bool) -> Result<(), String> {
    let Some((family, size)) = t.split_once('.') else {
        return Err(format!("`{t}` is not an EC2 instance type such as t3.small"));
    };
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let family_ok = family.starts_with(|c: char| c.is_ascii_lowercase()) && family.split('-').all(word);
    let size_ok = size.split('-').all(word);
    if !family_ok || !size_ok {
        return Err(format!("`{t}` is not an EC2 instance type such as t3.small, m7i-flex.large or c7i.metal-24xl"));
    }
    if family.starts_with("mac") {
        return Err(format!("`{t}` is a Mac instance: it needs a dedicated host and a macOS image"));
    }
    let graviton = is_graviton(family);
    if graviton && !arm_image {
        return Err(format!(
            "`{t}` is a Graviton (arm64) type; it cannot boot the amd64 image (ami_name). Use an x86_64 type (e.g. t3, m6i, m7i) \
             or an arm64 image"
        ));
    }
    if !graviton && arm_image {
        return Err(format!("`{t}` is an x86_64 type; it cannot boot the arm64 image (ami_name). Use a Graviton type (e.g. t4g, m7g)"));
    }
    Ok(())
}

/// Graviton families: `a1`, and every family whose attributes (the letters
/// after the generation digit) hold a `g`: t4g, m7g, c7gn, im4gn, is4gen,
/// x2gd, g5g, hpc7g. A `g` before the digit is the series (g4dn: GPU, x86).
fn is_graviton(family: &str) -> bool {
    let base = family.split('-').next().unwrap_or(family);
    if base == "a1" {
        return true;
    }
    let Some(digit) = base.find(|c: char| c.is_ascii_digit()) else { return false };
    let attributes = base[digit..].trim_start_matches(|c: char| c.is_ascii_digit());
    attributes.contains('g')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AwsSettings {
        toml::from_str(
            r#"
region = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
admin_cidrs = ["198.18.0.0/24"]
"#,
        )
        .unwrap()
    }

    fn check(aws: &AwsSettings) -> Result<(), (String, String)> {
        validate(aws, &[HostRef { name: "mon-1", size: "medium", zone: 2 }])
    }

    #[test]
    fn a_plain_table_passes_and_serialises_only_what_is_set() {
        let aws = settings();
        check(&aws).unwrap();
        let v = serde_json::to_value(&aws).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    }

    #[test]
    fn misspelled_key_is_refused() {
        let err =
            toml::from_str::<AwsSettings>("region = \"eu-west-1\"\navailability_zones = []\nadmin_cidrs = []\nloki_force_destory = true\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("loki_force_destory") && err.contains("loki_force_destroy"), "{err}");
    }

    #[test]
    fn admin_cidrs_follow_the_rules() {
        for (cidrs, bad) in [
            (vec!["0.0.0.0/0"], true),
            (vec!["0.0.0.0/1", "128.0.0.0/1"], true),
            (vec!["10.0.0.0/7"], true),
            (vec!["203.0.113.0/24"], true),
            (vec!["198.51.100.7/32"], true),
            (vec!["192.0.2.0/25"], true),
            (vec!["10.1.2.3/24"], true), // not the network address
            (vec![], false),             // still to fill in: `up` names it (Environment::check_deployable)
            (vec!["10.0.0.0/8"], false),
            (vec!["198.18.0.0/24", "100.64.1.1/32"], false),
        ] {
            let mut aws = settings();
            aws.admin_cidrs = cidrs.iter().map(|s| s.to_string()).collect();
            assert_eq!(check(&aws).is_err(), bad, "{cidrs:?}: {:?}", check(&aws));
        }
        let mut aws = settings();
        aws.bastion_instance_type = Some("t4g.nano".into());
        assert_eq!(check(&aws).unwrap_err().0, "aws.bastion_instance_type");
        aws.bastion_instance_type = Some("t3.nano".into());
        aws.log_retention_days = Some(91);
        assert_eq!(check(&aws).unwrap_err().0, "aws.log_retention_days");
        aws.log_retention_days = Some(90);
        check(&aws).unwrap();
        let mut mock = settings();
        mock.admin_cidrs = vec!["203.0.113.0/24".into()];
        mock.endpoint = Some("http://127.0.0.1:5000".into());
        check(&mock).unwrap();
    }

    #[test]
    fn instance_types_real_ones_pass_graviton_needs_an_arm_image() {
        for ok in
            ["t3.small", "m6i.large", "m7i-flex.large", "c7i.metal-24xl", "u-6tb1.56xlarge", "g4dn.xlarge", "x2iedn.xlarge", "r7iz.large"]
        {
            assert!(check_instance_type(ok, false).is_ok(), "{ok}");
        }
        for graviton in
            ["t4g.small", "m7g.large", "c7gn.large", "im4gn.large", "is4gen.large", "x2gd.large", "g5g.xlarge", "a1.large", "hpc7g.4xlarge"]
        {
            assert!(check_instance_type(graviton, false).is_err(), "{graviton} on amd64");
            assert!(check_instance_type(graviton, true).is_ok(), "{graviton} on arm64");
        }
        for bad in ["t3", "T3.small", "t3..small", "mac2.metal", "t3.small-"] {
            assert!(check_instance_type(bad, false).is_err(), "{bad}");
        }
        assert!(check_instance_type("t3.small", true).is_err());
    }

    #[test]
    fn zones_regions_and_sizes() {
        let mut aws = settings();
        aws.availability_zones = vec!["eu-west-1a".into()];
        assert_eq!(check(&aws).unwrap_err().0, "aws.availability_zones");
        let mut aws = settings();
        aws.availability_zones = vec!["eu-west-1a".into(), "us-east-1b".into()];
        assert_eq!(check(&aws).unwrap_err().0, "aws.availability_zones");
        let mut aws = settings();
        aws.availability_zones.pop();
        assert_eq!(check(&aws).unwrap_err().0, "hosts.mon-1.zone");
        let mut aws = settings();
        aws.region = "europe".into();
        assert_eq!(check(&aws).unwrap_err().0, "aws.region");
        for r in ["eu-west-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(units::aws_region(r), "{r}");
        }
        let mut aws = settings();
        aws.instance_types = Some([("small".to_string(), "t3.small".to_string())].into());
        assert_eq!(check(&aws).unwrap_err().0, "hosts.mon-1.size");
    }

    #[test]
    fn buckets_and_tags() {
        for bad in ["ab", "Acme", "a..b", "192.168.1.1", "xn--abc", "acme-s3alias", "acme-"] {
            assert!(!units::s3_bucket(bad), "{bad}");
        }
        assert!(units::s3_bucket("acme-loki.logs"));
        let mut aws = settings();
        aws.tags = Some([("aws:owner".to_string(), "x".to_string())].into());
        assert_eq!(check(&aws).unwrap_err().0, "aws.tags");
    }
}
