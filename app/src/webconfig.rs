//! `--web-config-file`: the web configuration format of the Prometheus
//! exporter-toolkit (the file Prometheus, Alertmanager and node_exporter read
//! with `--web.config.file`), the subset that orders-api implements:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt      # PEM certificate chain, server certificate first
//!   key_file: server.key       # PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)
//! basic_auth_users:
//!   prometheus: $2b$10$...     # bcrypt hash of the password
//! ```
//!
//! Both sections are required (orders-api uses the file to switch on HTTPS
//! *and* authentication together); any other key is refused, so that a
//! setting orders-api would ignore (e.g. `client_auth_type`) cannot give a
//! false sense of security. Relative paths are resolved against the
//! directory of the file, as the exporter-toolkit does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use yaml_rust2::{Yaml, YamlLoader};

/// The keys orders-api understands, for error messages.
pub const SUPPORTED_KEYS: &str = "tls_server_config.cert_file, tls_server_config.key_file, basic_auth_users";

/// A loaded, validated web configuration.
#[derive(Clone)]
pub struct WebConfig {
    pub tls: Arc<rustls::ServerConfig>,
    /// user name → bcrypt hash.
    pub users: BTreeMap<String, String>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No hashes in debug output.
        f.debug_struct("WebConfig").field("users", &self.users.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// What is wrong with a web config file: the file, the key (dotted path,
/// empty for the whole file) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub file: PathBuf,
    pub key: String,
    pub problem: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "web config {}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "web config {}: {}: {}", self.file.display(), self.key, self.problem)
        }
    }
}

impl std::error::Error for Error {}

impl WebConfig {
    /// Reads and validates `path`, then the certificate and key it names.
    pub fn load(path: &Path) -> Result<WebConfig, Error> {
        let err = |key: &str, problem: String| Error { file: path.to_owned(), key: key.to_owned(), problem };
        let text = std::fs::read_to_string(path).map_err(|e| err("", format!("cannot read the file: {e}")))?;
        let parsed = parse(&text).map_err(|(key, problem)| err(&key, problem))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) };
        let cert_path = resolve(&parsed.cert_file);
        let key_path = resolve(&parsed.key_file);
        let tls = server_config(&cert_path, &key_path).map_err(|(key, problem)| err(key, problem))?;
        Ok(WebConfig { tls: Arc::new(tls), users: parsed.users })
    }
}

/// The file's content, before the certificate and key are read.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    cert_file: String,
    key_file: String,
    users: BTreeMap<String, String>,
}

type ParseError = (String, String);

fn unknown(key: String) -> ParseError {
    (key, format!("unknown or unsupported key (orders-api supports {SUPPORTED_KEYS})"))
}

fn parse(text: &str) -> Result<Parsed, ParseError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| (String::new(), format!("not valid YAML: {e}")))?;
    let root = match docs.as_slice() {
        [] => return Err((String::new(), "the file is empty (it needs tls_server_config and basic_auth_users)".into())),
        [root] => root,
        _ => return Err((String::new(), "more than one YAML document".into())),
    };
    let root = mapping(root, "")?;
    let (mut tls, mut users) = (None, None);
    for (key, value) in root {
        match key.as_str() {
            "tls_server_config" => tls = Some(mapping(&value, "tls_server_config")?),
            "basic_auth_users" => users = Some(mapping(&value, "basic_auth_users")?),
            _ => return Err(unknown(key)),
        }
    }
    let tls = tls.ok_or_else(|| ("tls_server_config".to_owned(), "missing (orders-api serves HTTPS with the web config)".to_owned()))?;
    let (mut cert_file, mut key_file) = (None, None);
    for (key, value) in tls {
        let dotted = format!("tls_server_config.{key}");
        match key.as_str() {
            "cert_file" => cert_file = Some(non_empty_string(value, &dotted)?),
            "key_file" => key_file = Some(non_empty_string(value, &dotted)?),
            _ => return Err(unknown(dotted)),
        }
    }
    let missing = |key: &str| (format!("tls_server_config.{key}"), "missing".to_owned());
    let cert_file = cert_file.ok_or_else(|| missing("cert_file"))?;
    let key_file = key_file.ok_or_else(|| missing("key_file"))?;

    let users = users
        .ok_or_else(|| ("basic_auth_users".to_owned(), "missing (orders-api protects /metrics and /admin/* with basic auth)".to_owned()))?;
    if users.is_empty() {
        return Err(("basic_auth_users".into(), "no users: nobody could read /metrics or use /admin/*".into()));
    }
    let mut hashes = BTreeMap::new();
    for (user, value) in users {
        let dotted = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err((dotted, "a user name must be non-empty and contain no ':'".into()));
        }
        let hash = non_empty_string(value, &dotted)?;
        if let Err(e) = hash.parse::<bcrypt::HashParts>() {
            return Err((dotted, format!("not a bcrypt hash ({e}); make one with `htpasswd -nbBC 10 USER PASSWORD`")));
        }
        hashes.insert(user, hash);
    }
    Ok(Parsed { cert_file, key_file, users: hashes })
}

/// A YAML mapping with string keys, as (key, value) pairs in file order.
/// An empty value (`key:` with nothing after it) is an empty mapping.
fn mapping(value: &Yaml, key: &str) -> Result<Vec<(String, Yaml)>, ParseError> {
    let what = if key.is_empty() { "the file" } else { key };
    match value {
        Yaml::Hash(hash) => hash
            .iter()
            .map(|(k, v)| match k {
                Yaml::String(s) => Ok((s.clone(), v.clone())),
                other => Err((key.to_owned(), format!("key {other:?} is not a string"))),
            })
            .collect(),
        Yaml::Null => Ok(Vec::new()),
        _ => Err((key.to_owned(), format!("{what} must be a mapping of keys to values"))),
    }
}

fn non_empty_string(value: Yaml, key: &str) -> Result<String, ParseError> {
    match value {
        Yaml::String(s) if !s.is_empty() => Ok(s),
        _ => Err((key.to_owned(), "must be a non-empty string".into())),
    }
}

/// rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1)
/// from PEM files; errors name the key whose file is wrong.
fn server_config(cert_path: &Path, key_path: &Path) -> Result<rustls::ServerConfig, (&'static str, String)> {
    const CERT: &str = "tls_server_config.cert_file";
    const KEY: &str = "tls_server_config.key_file";
    let cert_pem = std::fs::read(cert_path).map_err(|e| (CERT, format!("cannot read {}: {e}", cert_path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (CERT, format!("{} is not a PEM certificate file: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err((CERT, format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", cert_path.display())));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| (KEY, format!("cannot read {}: {e}", key_path.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| (KEY, format!("{} holds no usable PEM private key (PKCS#8, RSA or EC): {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (CERT, format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| (KEY, format!("the key {} does not fit the certificate {}: {e}", key_path.display(), cert_path.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A well-formed bcrypt hash (only its form is checked here).
    const HASH: &str = "$2y$04$IbyGBHkHl1D7tsIqqf6nAOx/6HNzZ/qaN0RnJq6Iu4Y8N4R8WTGOq";

    fn parse_err(text: &str) -> ParseError {
        parse(text).expect_err(text)
    }

    #[test]
    fn parses_the_supported_subset() {
        let p = parse(&format!(
            "tls_server_config:\n  cert_file: /etc/a.crt\n  key_file: a.key\nbasic_auth_users:\n  prometheus: '{HASH}'\n  obsctl: {HASH}\n"
        ))
        .unwrap();
        assert_eq!(p.cert_file, "/etc/a.crt");
        assert_eq!(p.key_file, "a.key");
        assert_eq!(p.users.keys().collect::<Vec<_>>(), ["obsctl", "prometheus"]);
        assert_eq!(p.users["obsctl"], HASH);
    }

    #[test]
    fn refuses_unknown_keys_naming_them() {
        let base = format!("basic_auth_users:\n  u: {HASH}\n");
        let e = parse_err(&format!(
            "{base}tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n"
        ));
        assert_eq!(e.0, "tls_server_config.client_auth_type");
        assert!(e.1.contains("unsupported"), "{e:?}");
        let e = parse_err(&format!("{base}tls_server_config:\n  cert_file: a\n  key_file: b\nhttp_server_config:\n  http2: false\n"));
        assert_eq!(e.0, "http_server_config");
    }

    #[test]
    fn requires_both_sections_and_both_files() {
        let tls = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
        let users = format!("basic_auth_users:\n  u: {HASH}\n");
        assert_eq!(parse_err(tls).0, "basic_auth_users");
        assert_eq!(parse_err(&users).0, "tls_server_config");
        assert_eq!(parse_err(&format!("{users}tls_server_config:\n  key_file: b\n")).0, "tls_server_config.cert_file");
        assert_eq!(parse_err(&format!("{users}tls_server_config:\n  cert_file: a\n")).0, "tls_server_config.key_file");
        assert_eq!(parse_err(&format!("{tls}basic_auth_users:\n")).0, "basic_auth_users");
        assert_eq!(parse_err(&format!("{users}tls_server_config:\n  cert_file: ''\n  key_file: b\n")).0, "tls_server_config.cert_file");
        assert_eq!(parse_err("").0, "");
        assert_eq!(parse_err("- a\n").0, "");
        assert!(parse_err("a: [").1.contains("YAML"));
    }

    #[test]
    fn refuses_bad_hashes_and_user_names() {
        let tls = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
        let e = parse_err(&format!("{tls}basic_auth_users:\n  u: plaintext-password\n"));
        assert_eq!(e.0, "basic_auth_users.u");
        assert!(e.1.contains("bcrypt"), "{e:?}");
        assert_eq!(parse_err(&format!("{tls}basic_auth_users:\n  u: 42\n")).0, "basic_auth_users.u");
        assert_eq!(parse_err(&format!("{tls}basic_auth_users:\n  'a:b': {HASH}\n")).0, "basic_auth_users.a:b");
    }

    #[test]
    fn refuses_duplicate_keys() {
        let e = parse_err(&format!("tls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_users:\n  u: {HASH}\n  u: {HASH}\n"));
        assert!(e.1.contains("YAML") && e.1.contains("duplicate"), "{e:?}");
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = Error { file: "/etc/w.yml".into(), key: "basic_auth_users.u".into(), problem: "bad".into() };
        assert_eq!(e.to_string(), "web config /etc/w.yml: basic_auth_users.u: bad");
        let missing = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err();
        assert!(missing.to_string().starts_with("web config /nonexistent/web.yml: cannot read the file"), "{missing}");
    }
}
