//! The small grammars written once: durations, IPv4 networks, S3 bucket and
//! AWS region names, SSH key blobs (base64).

use std::net::Ipv4Addr;

/// Prometheus's duration units (retention, intervals in the env file), in
/// seconds; `ms` counts as 0 and is matched before `m`.
pub const PROMETHEUS_UNITS: &[(&str, u64)] =
    &[("ms", 0), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 7 * 86400), ("y", 365 * 86400)];
/// amtool's units for a silence's length.
pub const SILENCE_UNITS: &[(&str, u64)] = &[("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 7 * 86400)];

/// Digits followed by a unit, possibly repeated (1h30m). None: not that
/// grammar; Some(None): the grammar, but too long to count in seconds.
pub fn duration(s: &str, units: &[(&str, u64)]) -> Option<Option<u64>> {
    if s.is_empty() {
        return None;
    }
    let (mut total, mut rest) = (Some(0u64), s);
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let n = rest[..digits].parse::<u64>().ok();
        rest = &rest[digits..];
        let &(unit, secs) = units.iter().find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total = total.zip(n).and_then(|(t, n)| t.checked_add(n.checked_mul(secs)?));
    }
    Some(total)
}

/// A duration in the env file, in Prometheus's grammar (retention,
/// intervals): as written, which is what the roles pass on (Prometheus,
/// Alertmanager and Loki read the same grammar), and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromDuration {
    text: String,
    length: std::time::Duration,
}

impl PromDuration {
    /// None: not the grammar, or longer than u64 seconds.
    pub fn parse(text: &str) -> Option<PromDuration> {
        let millis: Vec<(&str, u64)> =
            PROMETHEUS_UNITS.iter().map(|&(unit, secs)| (unit, if unit == "ms" { 1 } else { secs.saturating_mul(1000) })).collect();
        let secs = duration(text, PROMETHEUS_UNITS)??;
        let length = match duration(text, &millis)? {
            Some(ms) => std::time::Duration::from_millis(ms),
            None => std::time::Duration::from_secs(secs),
        };
        Some(PromDuration { text: text.to_string(), length })
    }

    /// As written in the env file.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn length(&self) -> std::time::Duration {
        self.length
    }
}

/// Written out as in the env file (inventory variables, `facts`).
impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl PartialEq<&str> for PromDuration {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// An IPv4 network `a.b.c.d/p` (the address may have host bits set).
pub fn ipv4_cidr(cidr: &str) -> Option<ipnet::Ipv4Net> {
    cidr.parse().ok()
}

/// An IPv4 network written with its network address: (address, prefix).
pub fn ipv4_network(cidr: &str) -> Option<(Ipv4Addr, u32)> {
    let net = ipv4_cidr(cidr)?;
    (net.addr() == net.network()).then_some((net.addr(), u32::from(net.prefix_len())))
}

/// A name S3 accepts for a bucket (AWS's naming rules).
pub fn s3_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..")
        && b.parse::<Ipv4Addr>().is_err()
        && !b.starts_with("xn--")
        && !b.starts_with("sthree-")
        && !b.ends_with("-s3alias")
        && !b.ends_with("--ol-s3")
}

/// An AWS region name, e.g. eu-west-1, us-gov-west-1, us-isob-east-1.
pub fn aws_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let letters = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase());
    let (head, rest) = match parts.as_slice() {
        [geo, mid @ .., n] => ((geo, n), mid),
        _ => return false,
    };
    head.0.len() == 2
        && letters(head.0)
        && !head.1.is_empty()
        && head.1.chars().all(|c| c.is_ascii_digit())
        && !rest.is_empty()
        && rest.len() <= 2
        && rest.iter().all(|p| letters(p))
}

/// Standard base64 as in an SSH `.pub` line; padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent).with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(s).ok()
}

/// Host key types OpenSSH writes into known_hosts.
pub const HOST_KEY_TYPES: &[&str] = &["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/// `<type> <base64>` (a trailing comment is refused: the contract carries the
/// key, not a file line), its base64 decoding to a blob that names the type.
pub fn check_host_key(k: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = k.split(' ').collect();
    let [kind, blob] = parts[..] else {
        return Err(format!("`{k}` is not `<type> <base64>` (as in a .pub file, without the comment)"));
    };
    if !HOST_KEY_TYPES.contains(&kind) {
        return Err(format!("key type `{kind}` is not one of {}", HOST_KEY_TYPES.join(", ")));
    }
    let bytes = base64_decode(blob).ok_or_else(|| format!("the key of type `{kind}` is not valid base64"))?;
    // The blob starts with the type as an SSH string: u32 length, then the name.
    let named =
        bytes.len() > 4 + kind.len() && bytes[..4] == (kind.len() as u32).to_be_bytes() && &bytes[4..4 + kind.len()] == kind.as_bytes();
    if named {
        Ok(())
    } else {
        Err(format!("the base64 blob is not an SSH public key of type `{kind}`"))
    }
}

pub fn check_address(a: &str) -> std::result::Result<(), String> {
    if a.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let dns = !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !a.chars().all(|c| c.is_ascii_digit() || c == '.');
    if dns {
        Ok(())
    } else {
        Err(format!("`{a}` is neither an IP address nor a DNS name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_both_grammars() {
        assert_eq!(duration("1h30m", PROMETHEUS_UNITS), Some(Some(5400)));
        assert_eq!(duration("500ms", PROMETHEUS_UNITS), Some(Some(0)));
        assert_eq!(duration("1y", PROMETHEUS_UNITS), Some(Some(365 * 86400)));
        assert_eq!(duration("99999999999999999999s", PROMETHEUS_UNITS), Some(None), "the grammar, too long");
        assert_eq!(duration("1y", SILENCE_UNITS), None);
        assert_eq!(duration("5ms", SILENCE_UNITS), None);
        for bad in ["", "2", "1.5h", "h", "1h30"] {
            assert_eq!(duration(bad, PROMETHEUS_UNITS), None, "{bad}");
        }
    }

    #[test]
    fn durations_as_written_and_how_long() {
        let d = PromDuration::parse("1h30m").unwrap();
        assert_eq!((d.text(), d.length()), ("1h30m", std::time::Duration::from_secs(5400)));
        assert_eq!(PromDuration::parse("1s1500ms").unwrap().length(), std::time::Duration::from_millis(2500));
        assert_eq!(PromDuration::parse("15d").unwrap().length().as_secs(), 15 * 86400);
        assert_eq!(serde_json::to_value(PromDuration::parse("4h").unwrap()).unwrap(), "4h");
        for bad in ["", "1.5h", "99999999999999999999s"] {
            assert!(PromDuration::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn networks() {
        assert_eq!(ipv4_network("10.0.0.0/16"), Some((Ipv4Addr::new(10, 0, 0, 0), 16)));
        assert_eq!(ipv4_network("10.0.0.1/16"), None, "host bits set");
        assert_eq!(ipv4_cidr("10.0.0.1/16").map(|n| n.prefix_len()), Some(16));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8"] {
            assert!(ipv4_cidr(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn base64_as_in_pub_files() {
        assert_eq!(base64_decode("AAAAC3NzaC1lZDI1NTE5").as_deref(), Some(&b"\0\0\0\x0bssh-ed25519"[..]));
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("aGk").as_deref(), Some(&b"hi"[..]));
        assert!(base64_decode("not!base64").is_none());
    }
}
