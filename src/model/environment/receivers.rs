//! `[alertmanager].receivers`: where alerts go, and the secrets they need.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where notifications go: one or more integrations (e-mail, webhook,
/// Slack-compatible chat, PagerDuty) under one name. `severities` selects
/// which alerts reach it (empty = all). Credentials are never in the file:
/// each is read from a file (`*_file`) or an environment variable (`*_env`)
/// at `up` and stored 0600 in `.obsctl/<env>/secrets/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(default)]
    pub severities: Vec<String>,
    /// How often an unchanged firing group is sent to this receiver again
    /// (default: `[alertmanager].repeat_interval`). A heartbeat receiver
    /// (`severities = ["none"]`) sets the heartbeat's period with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    pub email: Option<EmailReceiver>,
    pub webhook: Option<WebhookReceiver>,
    pub slack: Option<SlackReceiver>,
    pub pagerduty: Option<PagerdutyReceiver>,
}

/// `[alertmanager.receivers.email]`: SMTP, STARTTLS unless `require_tls = false`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailReceiver {
    pub to: String,
    pub from: String,
    /// host:port of the SMTP server (587 for STARTTLS).
    pub smarthost: String,
    #[serde(default = "yes")]
    pub require_tls: bool,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// `[alertmanager.receivers.webhook]`: Alertmanager's JSON payload, POSTed.
/// A URL that holds a token is a credential: `url_env` or `url_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReceiver {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
}

/// `[alertmanager.receivers.slack]`: Slack or a Slack-compatible chat
/// (Mattermost, Rocket.Chat) incoming webhook. Slack's webhook URLs hold
/// the token: give them with `api_url_env` or `api_url_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackReceiver {
    pub api_url: Option<String>,
    pub api_url_env: Option<String>,
    pub api_url_file: Option<PathBuf>,
    pub channel: Option<String>,
}

/// `[alertmanager.receivers.pagerduty]`: PagerDuty Events API v2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyReceiver {
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<PathBuf>,
    /// Events API endpoint; default https://events.pagerduty.com/v2/enqueue.
    pub url: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where a credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// One credential of a receiver: `credential` names it in messages and in
/// the stored file's name (e.g. `smtp_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverSecret {
    pub receiver: String,
    pub credential: &'static str,
    pub source: SecretSource,
}

fn source(env: &Option<String>, file: &Option<PathBuf>) -> Option<SecretSource> {
    match (env, file) {
        (Some(v), _) => Some(SecretSource::Env(v.clone())),
        (None, Some(f)) => Some(SecretSource::File(f.clone())),
        (None, None) => None,
    }
}

impl Receiver {
    /// The integrations this receiver has, by Alertmanager's name.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.email.is_some() {
            k.push("email");
        }
        if self.webhook.is_some() {
            k.push("webhook");
        }
        if self.slack.is_some() {
            k.push("slack");
        }
        if self.pagerduty.is_some() {
            k.push("pagerduty");
        }
        k
    }

    /// Every credential the receiver reads from a file or the environment.
    pub fn secrets(&self) -> Vec<ReceiverSecret> {
        let mut out = Vec::new();
        let mut add = |credential: &'static str, s: Option<SecretSource>| {
            if let Some(source) = s {
                out.push(ReceiverSecret { receiver: self.name.clone(), credential, source });
            }
        };
        if let Some(e) = &self.email {
            add("smtp_password", source(&e.password_env, &e.password_file));
        }
        if let Some(w) = &self.webhook {
            add("webhook_url", source(&w.url_env, &w.url_file));
        }
        if let Some(s) = &self.slack {
            add("slack_api_url", source(&s.api_url_env, &s.api_url_file));
        }
        if let Some(p) = &self.pagerduty {
            add("pagerduty_routing_key", source(&p.routing_key_env, &p.routing_key_file));
        }
        out
    }
}

/// Checks one receiver; the error names the key (`alertmanager.receivers[i].…`).
/// Ports a receiver connects to (its smarthost's; a written URL's, 443 or
/// 80 by default). A URL given by `*_env`/`*_file` is not known here: such
/// receivers (Slack, webhooks with a token) are expected on HTTPS (443).
pub(super) fn egress_ports(r: &Receiver) -> Vec<u16> {
    let url_port = |u: &str| -> Option<u16> {
        let (scheme, rest) = u.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        match authority.rsplit_once(':') {
            Some((host, p)) if !host.ends_with(']') || authority.starts_with('[') => p.parse().ok(),
            _ => Some(if scheme == "http" { 80 } else { 443 }),
        }
    };
    let mut ports = Vec::new();
    if let Some(e) = &r.email {
        ports.extend(e.smarthost.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
    }
    if let Some(u) = r.webhook.as_ref().and_then(|w| w.url.as_deref()) {
        ports.extend(url_port(u));
    }
    if let Some(u) = r.pagerduty.as_ref().and_then(|p| p.url.as_deref()) {
        ports.extend(url_port(u));
    }
    ports
}

pub(super) fn check_receiver(i: usize, r: &Receiver) -> std::result::Result<(), (String, String)> {
    let key = format!("alertmanager.receivers[{i}]");
    let k = |f: &str| format!("{key}.{f}");
    let valid_name = !r.name.is_empty()
        && r.name.len() <= 40
        && r.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && r.name != "blackhole";
    if !valid_name {
        return Err((k("name"), format!("`{}` is not a receiver name (letters, digits, `-`, `_`; not `blackhole`)", r.name)));
    }
    if r.kinds().is_empty() {
        return Err((
            key,
            format!(
                "receiver `{}` has no integration: add one or more of [alertmanager.receivers.email], .webhook, .slack, .pagerduty \
                 (see docs/operations.md, \"Add a receiver\")",
                r.name
            ),
        ));
    }
    for s in &r.severities {
        if !["critical", "warning", "info", "none"].contains(&s.as_str()) {
            return Err((k("severities"), format!("unknown severity `{s}` (critical, warning, info, none)")));
        }
    }
    if let Some(d) = &r.repeat_interval {
        if crate::model::units::PromDuration::parse(d).is_none() {
            return Err((k("repeat_interval"), format!("`{d}` is not a duration like 30s, 5m, 4h")));
        }
    }
    let http = |field: String, url: &str| -> std::result::Result<(), (String, String)> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err((field, format!("`{url}` is not an http(s) URL")))
        }
    };
    // Exactly one source for a required credential, at most one for an optional one.
    let one_of = |fields: &[(&str, bool)], required: bool| -> std::result::Result<(), (String, String)> {
        let set: Vec<&str> = fields.iter().filter(|(_, s)| *s).map(|(f, _)| *f).collect();
        let names: Vec<String> = fields.iter().map(|(f, _)| format!("`{f}`")).collect();
        if set.len() > 1 {
            return Err((k(set[1]), format!("set only one of {}", names.join(", "))));
        }
        if required && set.is_empty() {
            return Err((key.clone(), format!("receiver `{}` needs one of {}", r.name, names.join(", "))));
        }
        Ok(())
    };
    let env_name = |field: String, v: &Option<String>| -> std::result::Result<(), (String, String)> {
        match v {
            Some(v) if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Err((field, format!("`{v}` is not an environment variable name")))
            }
            _ => Ok(()),
        }
    };
    if let Some(e) = &r.email {
        for (f, v) in [("email.to", &e.to), ("email.from", &e.from)] {
            if !v.contains('@') || v.chars().any(|c| c.is_control()) {
                return Err((k(f), format!("`{v}` is not an e-mail address")));
            }
        }
        let port = e.smarthost.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then(|| p.parse::<u16>().ok()).flatten());
        if port.is_none() {
            return Err((k("email.smarthost"), format!("`{}` is not host:port, e.g. smtp.example.com:587", e.smarthost)));
        }
        one_of(&[("email.password_env", e.password_env.is_some()), ("email.password_file", e.password_file.is_some())], false)?;
        if (e.password_env.is_some() || e.password_file.is_some()) && e.username.is_none() {
            return Err((k("email.username"), "a password needs the SMTP user name".into()));
        }
        if e.username.is_some() && !e.require_tls {
            return Err((k("email.require_tls"), "SMTP authentication is sent only over STARTTLS: keep require_tls = true".into()));
        }
        env_name(k("email.password_env"), &e.password_env)?;
    }
    if let Some(w) = &r.webhook {
        one_of(
            &[("webhook.url", w.url.is_some()), ("webhook.url_env", w.url_env.is_some()), ("webhook.url_file", w.url_file.is_some())],
            true,
        )?;
        if let Some(u) = &w.url {
            http(k("webhook.url"), u)?;
        }
        env_name(k("webhook.url_env"), &w.url_env)?;
    }
    if let Some(s) = &r.slack {
        one_of(
            &[
                ("slack.api_url", s.api_url.is_some()),
                ("slack.api_url_env", s.api_url_env.is_some()),
                ("slack.api_url_file", s.api_url_file.is_some()),
            ],
            true,
        )?;
        if let Some(u) = &s.api_url {
            http(k("slack.api_url"), u)?;
            if u.contains("hooks.slack.com") {
                return Err((k("slack.api_url"), "a Slack webhook URL holds its token: give it with api_url_env or api_url_file".into()));
            }
        }
        env_name(k("slack.api_url_env"), &s.api_url_env)?;
    }
    if let Some(p) = &r.pagerduty {
        one_of(
            &[("pagerduty.routing_key_env", p.routing_key_env.is_some()), ("pagerduty.routing_key_file", p.routing_key_file.is_some())],
            true,
        )?;
        if let Some(u) = &p.url {
            http(k("pagerduty.url"), u)?;
        }
        env_name(k("pagerduty.routing_key_env"), &p.routing_key_env)?;
    }
    Ok(())
}
