//! TLS and basic authentication of the stack's endpoints (the contract is
//! the layout documented in docs/security.md).
//!
//! On the controller, under `.obsctl/<env>/` (directories 0700, files 0600):
//! - `tls/ca.crt`, `tls/ca.key`: the environment's certificate authority
//!   (ECDSA P-256, rcgen), valid ten years; the one trust anchor of the stack;
//! - `tls/hosts/<host>.crt`, `.key`: one certificate per host, issued by that
//!   CA, with the host's names and addresses as SANs and both serverAuth and
//!   clientAuth usages; `up` issues it again when it has less than 30 days
//!   left, when the host's names or addresses changed, or when it was not
//!   issued by the current CA;
//! - `secrets/web_<user>_password`: one generated password per basic-auth
//!   user ([`USERS`](crate::state::secrets::USERS)), and beside it `web_<user>_password.bcrypt`, its bcrypt
//!   hash (what the services' web configs hold).
//!
//! The inventory carries the paths and the hashes, never a password
//! (`inventory::render`); the roles copy the files to the hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, IoContext, Result};
use crate::model::contract::Contract;
use crate::state::secrets::{password_file, OPERATOR};
use crate::state::workspace::{private_dir, write_atomic, TlsDir};

/// Where the roles put the TLS files on the hosts: `ca.crt` and, per
/// service, `<service>/server.crt`, `server.key`, `web.yml`
/// (ansible/roles/web_config).
pub const HOST_TLS_DIR: &str = "/etc/obsctl/tls";
/// Where the roles put the passwords a service sends as a client:
/// `<service>/<user>_password`.
pub const HOST_SECRETS_DIR: &str = "/etc/obsctl/secrets";

/// `up` issues a host certificate again when it has fewer days left.
pub const RENEW_BEFORE_DAYS: i64 = 30;
const CA_DAYS: i64 = 3650;
const HOST_DAYS: i64 = 365;

impl TlsDir {
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn host_cert(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(format!("{host}.crt"))
    }
    pub fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(format!("{host}.key"))
    }
}

/// What `ensure` did with one certificate, said in the run's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Valid, issued by the current CA, with the wanted names.
    Keep,
    New,
    Expiring {
        days_left: i64,
    },
    /// The host's names or addresses changed (added, removed).
    Names {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Not issued by the current CA (the CA was created anew), or unreadable.
    NotFromCa,
}

impl std::fmt::Display for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Renewal::Keep => write!(f, "kept"),
            Renewal::New => write!(f, "new"),
            Renewal::Expiring { days_left } => write!(f, "{days_left} days left (renewed below {RENEW_BEFORE_DAYS})"),
            Renewal::Names { added, removed } => {
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("added {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!("removed {}", removed.join(", ")));
                }
                write!(f, "names changed: {}", parts.join("; "))
            }
            Renewal::NotFromCa => write!(f, "not issued by the environment's current CA"),
        }
    }
}

/// The SANs of a host's certificate: its inventory name, its address and
/// private address (what Prometheus, the peers and obsctl connect to), and
/// `localhost`/`127.0.0.1` for the checks the roles run on the host itself.
pub fn host_names(name: &str, address: &str, private_address: &str, extra: &[String]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [name, address, private_address, "localhost", "127.0.0.1"].iter().map(|s| normalize(s)).collect();
    names.extend(extra.iter().map(|s| normalize(s)));
    names
}

/// IP addresses in their canonical text form, names in lower case.
fn normalize(s: &str) -> String {
    match s.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => s.to_ascii_lowercase(),
    }
}

/// The names each host's certificate must carry. `lb_name`: the aws load
/// balancer's DNS name (Grafana's public address), added to Grafana hosts.
pub fn wanted_names(contract: &Contract, lb_name: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
    contract
        .hosts
        .iter()
        .map(|(name, h)| {
            let extra: Vec<String> = lb_name
                .filter(|_| h.has_role(crate::model::component::ComponentId::Grafana))
                .map(|n| vec![n.to_string()])
                .unwrap_or_default();
            (name.clone(), host_names(name, &h.address, &h.private_address, &extra))
        })
        .collect()
}

/// Creates the CA when there is none (or it expires within
/// [`RENEW_BEFORE_DAYS`]), then issues every host's certificate that
/// [`decide`] says must be; removes the files of hosts that are gone.
/// Returns what happened to each host's certificate.
pub fn ensure(tls: &TlsDir, hosts: &BTreeMap<String, BTreeSet<String>>) -> Result<BTreeMap<String, Renewal>> {
    private_dir(&tls.dir)?;
    private_dir(&tls.dir.join("hosts"))?;
    let now = OffsetDateTime::now_utc();
    let (ca_pem, ca_key) = ensure_ca(tls, now)?;
    let ca_der = pem_der(&ca_pem).ok_or_else(|| Error::internal(format!("{} is not a PEM certificate", tls.ca_cert().display())))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)
        .map_err(|e| Error::internal(format!("cannot use the CA {}: {e}", tls.ca_cert().display())))?;
    let mut out = BTreeMap::new();
    for (host, names) in hosts {
        let current = std::fs::read_to_string(tls.host_cert(host)).ok().filter(|_| tls.host_key(host).is_file());
        let decision = decide(current.as_deref(), &ca_der, names, now);
        if decision != Renewal::Keep {
            let (cert, key) = issue_host(host, names, &issuer, now)?;
            // The key first: a cert never sits beside a key it does not match
            // for longer than this function runs, and the next run re-issues.
            write_atomic(&tls.host_key(host), key.as_bytes(), 0o600)?;
            write_atomic(&tls.host_cert(host), cert.as_bytes(), 0o600)?;
        }
        out.insert(host.clone(), decision);
    }
    // Hosts that left the environment take their certificates with them.
    for e in std::fs::read_dir(tls.dir.join("hosts")).with_path("read", &tls.dir.join("hosts"))?.flatten() {
        let p = e.path();
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if !hosts.contains_key(&stem) {
            std::fs::remove_file(&p).with_path("remove", &p)?;
        }
    }
    Ok(out)
}

/// The CA certificate (PEM) and key: read, or created when missing,
/// unreadable or expiring.
fn ensure_ca(tls: &TlsDir, now: OffsetDateTime) -> Result<(String, KeyPair)> {
    let existing = std::fs::read_to_string(tls.ca_cert()).ok().zip(std::fs::read_to_string(tls.ca_key()).ok());
    if let Some((pem, key)) = existing {
        let left = pem_der(&pem).and_then(|der| days_left(&der, now));
        if let (Some(left), Ok(key)) = (left, KeyPair::from_pem(&key)) {
            if left >= RENEW_BEFORE_DAYS {
                return Ok((pem, key));
            }
        }
    }
    let key = KeyPair::generate().map_err(|e| Error::internal(format!("cannot generate the CA key: {e}")))?;
    let mut params = CertificateParams::default();
    let env = tls.dir.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("obsctl");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "obsctl");
    params.distinguished_name.push(DnType::CommonName, format!("obsctl {env} CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(CA_DAYS);
    let cert = params.self_signed(&key).map_err(|e| Error::internal(format!("cannot create the CA certificate: {e}")))?;
    write_atomic(&tls.ca_key(), key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&tls.ca_cert(), cert.pem().as_bytes(), 0o600)?;
    Ok((cert.pem(), key))
}

/// How long a new host certificate is valid: [`HOST_DAYS`], or for a lab
/// test of expiry and renewal `OBSCTL_TEST_CERT_VALIDITY` seconds (never set
/// it for a real environment: such certificates expire within the hour).
fn host_validity() -> Duration {
    std::env::var("OBSCTL_TEST_CERT_VALIDITY")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::days(HOST_DAYS), Duration::seconds)
}

/// Of the CA and the host certificates in `tls`, the one that expires
/// first: "CA" or the host's name, and its notAfter.
pub fn nearest_expiry(tls: &TlsDir) -> Option<(String, OffsetDateTime)> {
    let mut files = vec![("CA".to_string(), tls.ca_cert())];
    for e in std::fs::read_dir(tls.dir.join("hosts")).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "crt") {
            files.push((p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(), p));
        }
    }
    files
        .into_iter()
        .filter_map(|(name, p)| {
            let der = pem_der(&std::fs::read_to_string(p).ok()?)?;
            let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
            Some((name, cert.validity().not_after.to_datetime()))
        })
        .min_by_key(|(_, t)| *t)
}

/// Removes every host certificate and key, so that the next [`ensure`]
/// issues new ones (`obsctl renew-certs`). Returns how many hosts had one.
pub fn forget_hosts(tls: &TlsDir) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(tls.dir.join("hosts")).into_iter().flatten().flatten() {
        let p = e.path();
        n += usize::from(p.extension().is_some_and(|x| x == "crt"));
        std::fs::remove_file(&p).with_path("remove", &p)?;
    }
    Ok(n)
}

/// A host certificate (PEM) and its new key (PEM), issued by `issuer`.
fn issue_host(host: &str, names: &BTreeSet<String>, issuer: &Issuer<'_, &KeyPair>, now: OffsetDateTime) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(|e| Error::internal(format!("cannot generate a key for {host}: {e}")))?;
    let mut params = CertificateParams::new(names.iter().cloned().collect::<Vec<_>>())
        .map_err(|e| Error::input(format!("host `{host}` has a name that cannot go in a certificate: {e}")))?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, host);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - Duration::hours(1);
    params.not_after = now + host_validity();
    let cert = params.signed_by(&key, issuer).map_err(|e| Error::internal(format!("cannot issue the certificate of {host}: {e}")))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Whether a host certificate (PEM, None when there is none) can be kept
/// at `now`: issued by the CA `ca_der`, with exactly the names `wanted`,
/// and at least [`RENEW_BEFORE_DAYS`] left.
pub fn decide(current: Option<&str>, ca_der: &[u8], wanted: &BTreeSet<String>, now: OffsetDateTime) -> Renewal {
    let Some(pem) = current else { return Renewal::New };
    let Some(der) = pem_der(pem) else { return Renewal::NotFromCa };
    let (Ok((_, cert)), Ok((_, ca))) = (x509_parser::parse_x509_certificate(&der), x509_parser::parse_x509_certificate(ca_der)) else {
        return Renewal::NotFromCa;
    };
    if cert.verify_signature(Some(ca.public_key())).is_err() {
        return Renewal::NotFromCa;
    }
    let have = sans(&der);
    if &have != wanted {
        return Renewal::Names { added: wanted.difference(&have).cloned().collect(), removed: have.difference(wanted).cloned().collect() };
    }
    match days_left(&der, now) {
        Some(d) if d >= RENEW_BEFORE_DAYS => Renewal::Keep,
        Some(d) => Renewal::Expiring { days_left: d },
        None => Renewal::NotFromCa,
    }
}

/// The SANs of a DER certificate, as [`host_names`] writes them.
pub fn sans(der: &[u8]) -> BTreeSet<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return BTreeSet::new() };
    let Ok(Some(ext)) = cert.subject_alternative_name() else { return BTreeSet::new() };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) => Some(normalize(s)),
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Whole days from `now` to the certificate's notAfter (negative: expired).
fn days_left(der: &[u8], now: OffsetDateTime) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((cert.validity().not_after.to_datetime() - now).whole_days())
}

/// The DER bytes of the certificate in a PEM file (e.g. the CA's).
pub fn ca_der(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read_to_string(path).map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
    pem_der(&pem).ok_or_else(|| Error::input(format!("{} is not a PEM certificate", path.display())))
}

/// The DER bytes of the first certificate of a PEM text.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok().map(|c| c.to_vec())
}

/// What obsctl needs to call the stack's endpoints: the CA it trusts and
/// the operator's credentials.
#[derive(Clone)]
pub struct Access {
    pub ca_file: PathBuf,
    ca_der: Vec<u8>,
    pub user: &'static str,
    pub password_file: PathBuf,
    password: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("ca_file", &self.ca_file)
            .field("user", &self.user)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl Access {
    /// Reads the environment's CA and obsctl's password; an environment
    /// that has none yet gets a message saying which command creates them.
    pub fn load(state: &crate::state::workspace::StateDir, env: &str) -> Result<Access> {
        let tls = state.tls();
        let ca_file = tls.ca_cert();
        let password_file = password_file(&state.secrets_dir(), OPERATOR);
        let missing = |what: &str, path: &Path| {
            Error::input(format!("environment `{env}` has no {what} yet ({} is missing)", path.display()))
                .hint(format!("`obsctl up --env {env}` creates it"))
        };
        let pem = std::fs::read_to_string(&ca_file).map_err(|_| missing("certificate authority", &ca_file))?;
        let ca_der = pem_der(&pem).ok_or_else(|| {
            Error::input(format!("{} is not a PEM certificate", ca_file.display()))
                .hint(format!("move it away and run `obsctl up --env {env}`: a new CA is created and every host certificate issued again"))
        })?;
        let password =
            std::fs::read_to_string(&password_file).map_err(|_| missing("password for obsctl", &password_file))?.trim().to_string();
        Ok(Access { ca_file, ca_der, user: OPERATOR, password_file, password })
    }

    /// A rustls client configuration that trusts this CA only.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        client_config(&self.ca_der).map_err(|e| Error::internal(format!("cannot use {} as a trust anchor: {e}", self.ca_file.display())))
    }

    /// The `Authorization` header value of the operator.
    pub fn basic_auth(&self) -> String {
        basic_auth(self.user, &self.password)
    }

    pub fn password(&self) -> &str {
        &self.password
    }
}

/// A rustls client configuration trusting `ca_der` alone (ring provider).
pub fn client_config(ca_der: &[u8]) -> std::result::Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca_der.to_vec())).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::secrets::{hash_file, web_users, USERS};
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn setup() -> (tempfile::TempDir, TlsDir) {
        let root = tempfile::tempdir().unwrap();
        let tls = TlsDir { dir: root.path().join("dev/tls") };
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        (root, tls)
    }

    #[test]
    fn host_certificates_carry_names_addresses_and_both_usages() {
        let (_root, tls) = setup();
        let wanted = host_names("mon-1", "10.77.0.10", "10.77.0.10", &["grafana.example.com".into()]);
        assert_eq!(wanted, names(&["10.77.0.10", "127.0.0.1", "grafana.example.com", "localhost", "mon-1"]));
        let hosts = BTreeMap::from([("mon-1".to_string(), wanted.clone())]);
        let done = ensure(&tls, &hosts).unwrap();
        assert_eq!(done["mon-1"], Renewal::New);
        let der = pem_der(&std::fs::read_to_string(tls.host_cert("mon-1")).unwrap()).unwrap();
        assert_eq!(sans(&der), wanted);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().expect("extendedKeyUsage").value;
        assert!(eku.server_auth && eku.client_auth);
        assert!(!cert.is_ca());
        let ca = pem_der(&std::fs::read_to_string(tls.ca_cert()).unwrap()).unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca).unwrap();
        assert!(ca_cert.is_ca());
        assert!(cert.verify_signature(Some(ca_cert.public_key())).is_ok(), "issued by the environment's CA");
        let left = days_left(&der, OffsetDateTime::now_utc()).unwrap();
        assert!((HOST_DAYS - 1..=HOST_DAYS).contains(&left), "{left}");
        assert!(days_left(&ca, OffsetDateTime::now_utc()).unwrap() >= CA_DAYS - 1);
    }

    #[test]
    fn private_files_are_0600_in_0700_directories() {
        let (root, tls) = setup();
        let hosts = BTreeMap::from([("app-1".to_string(), names(&["app-1", "10.0.0.2"]))]);
        ensure(&tls, &hosts).unwrap();
        for f in [tls.ca_cert(), tls.ca_key(), tls.host_cert("app-1"), tls.host_key("app-1")] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&tls.dir), 0o700);
        assert_eq!(mode(&tls.dir.join("hosts")), 0o700);
        let secrets = root.path().join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        let users = web_users(&secrets).unwrap();
        assert_eq!(users.iter().map(|u| u.name).collect::<Vec<_>>(), USERS);
        for u in &users {
            assert_eq!(mode(&u.password_file), 0o600);
            assert_eq!(mode(&hash_file(&secrets, u.name)), 0o600);
            assert_eq!(u.password().len(), 32);
            assert!(u.bcrypt.starts_with("$2b$10$"), "{}", u.bcrypt);
            assert!(bcrypt::verify(u.password(), &u.bcrypt).unwrap());
            assert!(!format!("{u:?}").contains(u.password()), "Debug never shows the password");
        }
    }

    #[test]
    fn hashes_are_kept_until_the_password_changes() {
        let root = tempfile::tempdir().unwrap();
        let first = web_users(root.path()).unwrap();
        let again = web_users(root.path()).unwrap();
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.password(), b.password(), "a password is generated once");
            assert_eq!(a.bcrypt, b.bcrypt, "a stored hash is kept (a new salt would rewrite every web config)");
        }
        // An operator replaces a password by hand: its hash follows.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(password_file(root.path(), "grafana"), "a-new-password-chosen-by-hand\n").unwrap();
        let after = web_users(root.path()).unwrap();
        let g = after.iter().find(|u| u.name == "grafana").unwrap();
        assert_eq!(g.password(), "a-new-password-chosen-by-hand");
        assert!(bcrypt::verify("a-new-password-chosen-by-hand", &g.bcrypt).unwrap());
        let o = after.iter().find(|u| u.name == OPERATOR).unwrap();
        assert_eq!(o.bcrypt, first[0].bcrypt);
    }

    #[test]
    fn renewal_when_expiring_renamed_or_from_another_ca() {
        let (_root, tls) = setup();
        let wanted = names(&["mon-1", "10.77.0.10"]);
        let hosts = BTreeMap::from([("mon-1".to_string(), wanted.clone())]);
        ensure(&tls, &hosts).unwrap();
        let pem = std::fs::read_to_string(tls.host_cert("mon-1")).unwrap();
        let ca = pem_der(&std::fs::read_to_string(tls.ca_cert()).unwrap()).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(decide(None, &ca, &wanted, now), Renewal::New);
        assert_eq!(decide(Some(&pem), &ca, &wanted, now), Renewal::Keep);
        // 30 days before expiry it is renewed; 31 days before, kept.
        let expiry = now + Duration::days(HOST_DAYS);
        assert_eq!(decide(Some(&pem), &ca, &wanted, expiry - Duration::days(31)), Renewal::Keep);
        assert!(matches!(decide(Some(&pem), &ca, &wanted, expiry - Duration::days(29)), Renewal::Expiring { days_left: 28 | 29 }));
        assert!(matches!(decide(Some(&pem), &ca, &wanted, expiry + Duration::days(1)), Renewal::Expiring { .. }));
        // A new address, a removed name.
        let moved = names(&["mon-1", "10.77.0.20"]);
        assert_eq!(
            decide(Some(&pem), &ca, &moved, now),
            Renewal::Names { added: vec!["10.77.0.20".into()], removed: vec!["10.77.0.10".into()] }
        );
        // Another environment's CA did not issue it.
        let (_other_root, other) = setup();
        ensure(&other, &hosts).unwrap();
        let other_ca = pem_der(&std::fs::read_to_string(other.ca_cert()).unwrap()).unwrap();
        assert_eq!(decide(Some(&pem), &other_ca, &wanted, now), Renewal::NotFromCa);
        assert_eq!(decide(Some("garbage"), &ca, &wanted, now), Renewal::NotFromCa);
    }

    #[test]
    fn ensure_keeps_what_is_valid_and_reissues_what_changed() {
        let (_root, tls) = setup();
        let mut hosts = BTreeMap::from([
            ("mon-1".to_string(), names(&["mon-1", "10.77.0.10"])),
            ("app-1".to_string(), names(&["app-1", "10.77.0.11"])),
        ]);
        ensure(&tls, &hosts).unwrap();
        let ca = std::fs::read_to_string(tls.ca_cert()).unwrap();
        let app_key = std::fs::read_to_string(tls.host_key("app-1")).unwrap();
        hosts.insert("mon-1".into(), names(&["mon-1", "10.77.0.12"]));
        let done = ensure(&tls, &hosts).unwrap();
        assert_eq!(done["app-1"], Renewal::Keep);
        assert!(matches!(done["mon-1"], Renewal::Names { .. }));
        assert_eq!(std::fs::read_to_string(tls.ca_cert()).unwrap(), ca, "the CA is kept");
        assert_eq!(std::fs::read_to_string(tls.host_key("app-1")).unwrap(), app_key, "a kept certificate keeps its key");
        // A host that left: its files go.
        hosts.remove("app-1");
        ensure(&tls, &hosts).unwrap();
        assert!(!tls.host_cert("app-1").exists() && !tls.host_key("app-1").exists());
        // A lost CA: a new one, and every host certificate issued by it.
        std::fs::remove_file(tls.ca_key()).unwrap();
        let done = ensure(&tls, &hosts).unwrap();
        assert_eq!(done["mon-1"], Renewal::NotFromCa);
        assert_ne!(std::fs::read_to_string(tls.ca_cert()).unwrap(), ca);
    }

    #[test]
    fn clients_trust_the_ca_and_send_the_operator() {
        let (root, tls) = setup();
        ensure(&tls, &BTreeMap::new()).unwrap();
        let state = crate::state::workspace::StateDir { dir: root.path().join("dev") };
        std::fs::create_dir_all(state.secrets_dir()).unwrap();
        let users = web_users(&state.secrets_dir()).unwrap();
        let access = Access::load(&state, "dev").unwrap();
        assert_eq!(access.user, "obsctl");
        assert_eq!(access.password(), users[0].password());
        assert!(access.client_config().is_ok());
        assert!(!format!("{access:?}").contains(access.password()));
        assert_eq!(basic_auth("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let missing = Access::load(&crate::state::workspace::StateDir { dir: root.path().join("nope") }, "nope").unwrap_err();
        assert!(missing.hint.unwrap().contains("obsctl up --env nope"));
    }
}
