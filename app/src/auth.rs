//! HTTP basic authentication against bcrypt hashes, with a cache of
//! credentials already verified.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10); Prometheus
//! scrapes every few seconds with the same credentials. A successful check
//! is therefore remembered under an HMAC-SHA256 of user and password, with a
//! key drawn at start-up: the cache holds no password, a lookup needs the
//! exact user *and* password, and its keys are useless outside the process.
//! Failed checks are not cached (a wrong password always pays bcrypt), and an
//! unknown user pays bcrypt too, so response times do not tell which user
//! names exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine;
use ring::hmac;

/// Verified credentials kept; the cache is emptied when it is full (the
/// configured users need a handful of entries).
const MAX_CACHED: usize = 256;

/// The realm in `WWW-Authenticate`.
pub const REALM: &str = "orders-api";

pub struct BasicAuth {
    /// user → bcrypt hash
    users: BTreeMap<String, String>,
    /// Hash checked for unknown users, so that they take as long.
    decoy: String,
    key: hmac::Key,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuth {
    /// `users` maps user names to bcrypt hashes; it must not be empty.
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let decoy = users.values().next().expect("at least one user").clone();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new()).expect("system random generator");
        BasicAuth { users, decoy, key, verified: Mutex::new(HashSet::new()) }
    }

    /// The user name when `authorization` (the header's value) carries a
    /// configured user with the right password.
    pub fn check(&self, authorization: Option<&str>) -> Option<String> {
        let (user, password) = parse_basic(authorization?)?;
        let tag = self.tag(&user, &password);
        if self.cache().contains(&tag) {
            return Some(user);
        }
        let ok = match self.users.get(&user) {
            Some(hash) => bcrypt::non_truncating_verify(&password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::non_truncating_verify(&password, &self.decoy);
                false
            }
        };
        if !ok {
            return None;
        }
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(tag);
        Some(user)
    }

    fn tag(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache().len()
    }
}

/// Splits `Basic base64(user:password)` (scheme case-insensitive).
fn parse_basic(value: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    fn auth() -> BasicAuth {
        let salt = *b"0123456789abcdef";
        let hash = |p: &str| bcrypt::hash_with_salt(p, 4, salt).unwrap().to_string();
        BasicAuth::new(BTreeMap::from([("prometheus".to_owned(), hash("scrape-pw")), ("obsctl".to_owned(), hash("op:pw"))]))
    }

    #[test]
    fn parses_basic_headers() {
        assert_eq!(parse_basic(&header("u", "p:q")), Some(("u".into(), b"p:q".to_vec())));
        assert_eq!(parse_basic("basic dTpw"), Some(("u".into(), b"p".to_vec())));
        assert_eq!(parse_basic("Bearer dTpw"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Basic dXNlcg=="), None); // "user", no colon
        assert_eq!(parse_basic("Basic"), None);
    }

    #[test]
    fn accepts_only_the_right_password_of_a_known_user() {
        let a = auth();
        assert_eq!(a.check(Some(&header("prometheus", "scrape-pw"))).as_deref(), Some("prometheus"));
        assert_eq!(a.check(Some(&header("obsctl", "op:pw"))).as_deref(), Some("obsctl"));
        assert_eq!(a.check(Some(&header("prometheus", "op:pw"))), None);
        assert_eq!(a.check(Some(&header("prometheus", "scrape-pw "))), None);
        assert_eq!(a.check(Some(&header("nobody", "scrape-pw"))), None);
        assert_eq!(a.check(Some(&header("Prometheus", "scrape-pw"))), None);
        assert_eq!(a.check(None), None);
    }

    #[test]
    fn caches_successes_only_and_keyed_on_user_and_password() {
        let a = auth();
        assert_eq!(a.check(Some(&header("prometheus", "wrong"))), None);
        assert_eq!(a.cached(), 0, "failures are not cached");
        assert!(a.check(Some(&header("prometheus", "scrape-pw"))).is_some());
        assert_eq!(a.cached(), 1);
        assert!(a.check(Some(&header("prometheus", "scrape-pw"))).is_some());
        assert_eq!(a.cached(), 1, "the second check is served from the cache");
        // A cached success does not open the door to another password or user.
        assert_eq!(a.check(Some(&header("prometheus", "wrong"))), None);
        assert_eq!(a.check(Some(&header("obsctl", "scrape-pw"))), None);
        assert_eq!(a.cached(), 1);
    }

    #[test]
    fn tags_separate_user_and_password() {
        let a = auth();
        assert_ne!(a.tag("ab", b"c"), a.tag("a", b"bc"));
        assert_eq!(a.tag("a", b"bc"), a.tag("a", b"bc"));
    }
}
