//! The Alertmanager API client: label matchers as amtool writes them,
//! silences created, listed and expired on the first Alertmanager of the
//! environment that answers.

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Phase, Result};
use crate::model::contract::Contract;
use crate::model::environment::Environment;

/// A label matcher as amtool writes it: `name=value`, `name!=value`,
/// `name=~regex`, `name!~regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher> {
        let bad = || {
            Error::input(format!("`{text}` is not a matcher: use label=value, label!=value, label=~regex or label!~regex"))
                .hint("e.g. obsctl silence --env dev add host=app-1 --duration 1h --comment \"replacing the disk\"")
        };
        let (pos, op) =
            ["=~", "!~", "!=", "="].iter().filter_map(|op| text.find(op).map(|p| (p, *op))).min_by_key(|(p, _)| *p).ok_or_else(bad)?;
        let name = &text[..pos];
        let value = text[pos + op.len()..].trim_matches('"');
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name || value.is_empty() {
            return Err(bad());
        }
        Ok(Matcher { name: name.into(), value: value.into(), is_regex: op.contains('~'), is_equal: !op.starts_with('!') })
    }

    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal })
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        write!(f, "{}{op}{}", self.name, self.value)
    }
}

/// Seconds in a duration like 90s, 30m, 2h, 1d, 1w, 1h30m (amtool's units).
pub fn duration_secs(s: &str) -> Option<u64> {
    crate::model::units::duration(s, crate::model::units::SILENCE_UNITS).flatten().filter(|&t| t > 0)
}

/// A silence ID as Alertmanager makes them (a UUID): refused before any request.
pub fn check_id(id: &str, env: &str) -> Result<()> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Ok(())
    } else {
        Err(Error::input(format!("`{id}` is not a silence ID")).hint(format!("list them: obsctl silence --env {env} list")))
    }
}

/// `$USER@hostname`: who created the silence, as Alertmanager shows it.
pub fn default_author() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Silence {
    pub id: String,
    pub state: String,
    pub matchers: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

/// Why one Alertmanager gave no answer: it said no (final: the others
/// would say the same), or it could not be reached (try the next).
enum Failure {
    Refused(String),
    Unreachable(String),
}

fn failure(e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Status(code, resp) => Failure::Refused(format!("HTTP {code}: {}", resp.into_string().unwrap_or_default().trim())),
        ureq::Error::Transport(t) => Failure::Unreachable(t.to_string().lines().next().unwrap_or_default().to_string()),
    }
}

fn json_of(r: std::result::Result<ureq::Response, ureq::Error>) -> std::result::Result<Value, Failure> {
    r.map_err(failure)?.into_json().map_err(|e| Failure::Unreachable(format!("invalid JSON: {e}")))
}

/// The environment's Alertmanagers, tried in order.
pub struct Cluster {
    urls: Vec<(String, String)>,
    agent: ureq::Agent,
    answered: std::cell::RefCell<Option<String>>,
    pub env: String,
}

impl Cluster {
    /// The Alertmanagers of `contract`, called over HTTPS as obsctl
    /// (`access`), through the bastion when the contract names one.
    pub fn new(
        env: &Environment,
        contract: &Contract,
        known_hosts: &std::path::Path,
        access: &crate::state::tls::Access,
    ) -> Result<Cluster> {
        Ok(Cluster {
            urls: crate::tools::http::base_urls(env, contract, crate::model::component::ComponentId::Alertmanager),
            agent: crate::tools::http::agent_for(contract, known_hosts, access, Duration::from_secs(5))?,
            answered: Default::default(),
            env: env.name.clone(),
        })
    }

    /// The URL of the Alertmanager that answered last.
    pub fn answered(&self) -> Option<String> {
        self.answered.borrow().clone()
    }

    /// Sends `call` to each Alertmanager until one answers; an HTTP error
    /// status from Alertmanager (e.g. 400: a bad silence) is final.
    fn first<T>(&self, what: &str, call: impl Fn(&str) -> std::result::Result<T, Failure>) -> Result<T> {
        let mut tried = Vec::new();
        for (host, url) in &self.urls {
            match call(url) {
                Ok(v) => {
                    *self.answered.borrow_mut() = Some(url.clone());
                    return Ok(v);
                }
                Err(Failure::Refused(why)) => return Err(Error::input(format!("Alertmanager {url} refused to {what}: {why}"))),
                Err(Failure::Unreachable(why)) => tried.push(format!("{host} ({url}): {why}")),
            }
        }
        Err(Error::new(Phase::Verify, format!("no Alertmanager of `{}` answered, cannot {what}", self.env))
            .details(tried)
            .hint(format!("check the cluster: obsctl status --env {}", self.env)))
    }

    pub fn create(&self, matchers: &[Matcher], duration: Duration, comment: &str, author: &str) -> Result<String> {
        let now = time::OffsetDateTime::now_utc();
        let end = now + duration;
        let fmt = &time::format_description::well_known::Rfc3339;
        let body = json!({
            "matchers": matchers.iter().map(Matcher::to_json).collect::<Vec<_>>(),
            "startsAt": now.format(fmt).unwrap_or_default(),
            "endsAt": end.format(fmt).unwrap_or_default(),
            "createdBy": author,
            "comment": comment,
        });
        let v =
            self.first("create the silence", |url| json_of(self.agent.post(&format!("{url}/api/v2/silences")).send_json(body.clone())))?;
        v["silenceID"].as_str().map(String::from).ok_or_else(|| Error::internal(format!("Alertmanager answered without a silenceID: {v}")))
    }

    pub fn list(&self) -> Result<Vec<Silence>> {
        let v = self.first("list silences", |url| json_of(self.agent.get(&format!("{url}/api/v2/silences")).call()))?;
        let mut out: Vec<Silence> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Silence {
                id: s["id"].as_str().unwrap_or_default().into(),
                state: s["status"]["state"].as_str().unwrap_or_default().into(),
                matchers: s["matchers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        Matcher {
                            name: m["name"].as_str().unwrap_or_default().into(),
                            value: m["value"].as_str().unwrap_or_default().into(),
                            is_regex: m["isRegex"].as_bool().unwrap_or(false),
                            is_equal: m["isEqual"].as_bool().unwrap_or(true),
                        }
                        .to_string()
                    })
                    .collect(),
                starts_at: s["startsAt"].as_str().unwrap_or_default().into(),
                ends_at: s["endsAt"].as_str().unwrap_or_default().into(),
                created_by: s["createdBy"].as_str().unwrap_or_default().into(),
                comment: s["comment"].as_str().unwrap_or_default().into(),
            })
            .collect();
        out.sort_by(|a, b| (a.state != "active", &a.ends_at).cmp(&(b.state != "active", &b.ends_at)));
        Ok(out)
    }

    /// The names of the alerts of `env` that fire now, neither silenced nor
    /// inhibited, on one of `hosts`.
    pub fn firing_alertnames(&self, hosts: &[&str]) -> Result<Vec<String>> {
        let filter = format!("env=\"{}\"", self.env);
        let v = self.first("list alerts", |url| {
            json_of(
                self.agent
                    .get(&format!("{url}/api/v2/alerts"))
                    .query("active", "true")
                    .query("silenced", "false")
                    .query("inhibited", "false")
                    .query("filter", &filter)
                    .call(),
            )
        })?;
        let mut names: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["host"].as_str().is_some_and(|h| hosts.contains(&h)))
            .filter_map(|a| a["labels"]["alertname"].as_str().map(String::from))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Every silence as Alertmanager's v2 API returns it (for backups).
    pub fn raw(&self) -> Result<Value> {
        self.first("list silences", |url| json_of(self.agent.get(&format!("{url}/api/v2/silences")).call()))
    }

    /// Creates again a silence of `raw()` that has not ended (its matchers,
    /// end, author and comment; a new ID). Returns None for one that ended.
    pub fn recreate(&self, silence: &Value) -> Result<Option<String>> {
        if silence["status"]["state"].as_str() == Some("expired") {
            return Ok(None);
        }
        let fmt = &time::format_description::well_known::Rfc3339;
        let now = time::OffsetDateTime::now_utc();
        let ends = silence["endsAt"].as_str().and_then(|e| time::OffsetDateTime::parse(e, fmt).ok());
        if ends.is_none_or(|e| e <= now) {
            return Ok(None);
        }
        let starts = silence["startsAt"].as_str().and_then(|e| time::OffsetDateTime::parse(e, fmt).ok()).map_or(now, |s| s.max(now));
        let body = json!({
            "matchers": silence["matchers"],
            "startsAt": starts.format(fmt).unwrap_or_default(),
            "endsAt": silence["endsAt"],
            "createdBy": silence["createdBy"],
            "comment": silence["comment"],
        });
        let v =
            self.first("restore a silence", |url| json_of(self.agent.post(&format!("{url}/api/v2/silences")).send_json(body.clone())))?;
        Ok(v["silenceID"].as_str().map(String::from))
    }

    pub fn expire(&self, id: &str) -> Result<()> {
        check_id(id, &self.env)?;
        self.first(&format!("expire silence {id}"), |url| {
            self.agent.delete(&format!("{url}/api/v2/silence/{id}")).call().map(|_| ()).map_err(failure)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_as_amtool_writes_them() {
        let m = Matcher::parse("host=app-1").unwrap();
        assert_eq!((m.name.as_str(), m.value.as_str(), m.is_regex, m.is_equal), ("host", "app-1", false, true));
        let m = Matcher::parse("alertname=~Orders.*").unwrap();
        assert!(m.is_regex && m.is_equal);
        assert_eq!(m.to_string(), "alertname=~Orders.*");
        let m = Matcher::parse("severity!=\"warning\"").unwrap();
        assert_eq!((m.value.as_str(), m.is_regex, m.is_equal), ("warning", false, false));
        assert!(!Matcher::parse("job!~node|app").unwrap().is_equal);
        for bad in ["host", "=app-1", "host=", "1host=x", "ho st=x"] {
            assert!(Matcher::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(duration_secs("90s"), Some(90));
        assert_eq!(duration_secs("1h30m"), Some(5400));
        assert_eq!(duration_secs("2d"), Some(172800));
        for bad in ["", "2", "1.5h", "0m", "2y", "h"] {
            assert_eq!(duration_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn author_is_user_at_host() {
        let a = default_author();
        assert!(a.contains('@') && !a.ends_with('@'), "{a}");
    }
}
