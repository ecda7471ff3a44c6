//! `[server.messaging]`: the embedded target's web-messaging socket endpoint (session life, allowed
//! origins, sockets and messages per deployment) and `[server.messaging.faults]` (drop-all, refusals
//! after it, reply latency). docs/messaging.md describes each key.

use super::problems::Problems;
use super::units::{Rate, Span};
use serde::Deserialize;
use std::time::Duration;

/// A frame is at most 64 KiB (larger ones are refused with close 1009), so a longer text limit
/// could never be reached.
const MAX_TEXT_BYTES: usize = 65_536;
/// Sessions of the platform last 72 h by default; a month is far past any run.
const MAX_SESSION: Duration = Duration::from_secs(31 * 86_400);

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingServerSection {
    /// A session lives this long from its first configure; then `SessionExpiredEvent` and close.
    pub session_duration: Span,
    /// `Origin`s a socket may come from (`"https://shop.example"`); empty means any. Others get 403.
    pub allowed_origins: Vec<String>,
    /// Open sockets per deployment at most; beyond it an upgrade gets 429. Absent: no limit.
    pub max_sockets_per_deployment: Option<usize>,
    /// `onMessage` and `echo` frames per second per deployment (`"20/s"` or a number); beyond it
    /// 4029. Absent: no limit.
    pub messages_per_second: Option<Rate>,
    /// `retryAfter` of a 4029, and `Retry-After` of a capacity 429.
    pub retry_after: Span,
    /// Message text longer than this many bytes gets 4011.
    pub max_text_bytes: usize,
    pub faults: MessagingFaultsSection,
}

impl Default for MessagingServerSection {
    fn default() -> Self {
        MessagingServerSection {
            session_duration: Span(Duration::from_secs(72 * 3600)),
            allowed_origins: Vec::new(),
            max_sockets_per_deployment: None,
            messages_per_second: None,
            retry_after: Span(Duration::from_secs(3)),
            max_text_bytes: 4096,
            faults: MessagingFaultsSection::default(),
        }
    }
}

/// Faults of the socket endpoint; times count from the server's start, as `disabled_at` does.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingFaultsSection {
    /// At each of these times every open socket is dropped (no close frame).
    pub drop_all_at: Vec<Span>,
    /// After each drop, upgrades get 503 for this long.
    pub refuse_for: Span,
    /// Log-normal latency before each answer, by its median and 99th percentile (both or neither);
    /// answers may overtake each other.
    pub reply_latency_p50: Option<Span>,
    pub reply_latency_p99: Option<Span>,
}

impl MessagingServerSection {
    pub fn validate(&self, problems: &mut Problems) {
        let key = |field: &str| format!("server.messaging.{field}");
        let session = self.session_duration.0;
        if session < Duration::from_secs(1) || session > MAX_SESSION {
            problems.push(key("session_duration"), "must be from 1s to 31 days");
        }
        check_origins(&key("allowed_origins"), &self.allowed_origins, problems);
        if self.max_sockets_per_deployment == Some(0) {
            problems.push(
                key("max_sockets_per_deployment"),
                "must be at least 1; leave it out for no limit",
            );
        }
        if self
            .messages_per_second
            .is_some_and(|r| r.per_second <= 0.0)
        {
            problems.push(
                key("messages_per_second"),
                "must be above 0; leave it out for no limit",
            );
        }
        if self.retry_after.0 < Duration::from_secs(1) {
            problems.push(
                key("retry_after"),
                "must be at least 1s (it is sent in whole seconds)",
            );
        }
        if !(1..=MAX_TEXT_BYTES).contains(&self.max_text_bytes) {
            problems.push(
                key("max_text_bytes"),
                format!("must be from 1 to {MAX_TEXT_BYTES} (a frame is at most 64 KiB)"),
            );
        }
        self.faults.validate(problems);
    }
}

/// Each entry of the list at `key` must be an origin.
pub(super) fn check_origins(key: &str, origins: &[String], problems: &mut Problems) {
    for (i, origin) in origins.iter().enumerate() {
        if !is_origin(origin) {
            problems.push(
                format!("{key}[{i}]"),
                format!("`{origin}` is not an origin; write scheme://host[:port], e.g. \"https://shop.example\""),
            );
        }
    }
}

/// `scheme://host[:port]` and nothing more, as a browser writes `Origin`.
fn is_origin(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| {
        u.has_host()
            && matches!(u.scheme(), "http" | "https")
            && u.origin().ascii_serialization() == text.trim_end_matches('/')
    })
}

impl MessagingFaultsSection {
    fn validate(&self, problems: &mut Problems) {
        let key = |field: &str| format!("server.messaging.faults.{field}");
        for (i, at) in self.drop_all_at.iter().enumerate() {
            if at.0.is_zero() {
                problems.push(key(&format!("drop_all_at[{i}]")), "must be above 0s");
            } else if i > 0 && *at <= self.drop_all_at[i - 1] {
                problems.push(
                    key(&format!("drop_all_at[{i}]")),
                    "must be later than the time before it (list the drops in order)",
                );
            }
        }
        if !self.refuse_for.0.is_zero() && self.drop_all_at.is_empty() {
            problems.push(
                key("refuse_for"),
                "refusals follow a drop: give drop_all_at too",
            );
        }
        match (self.reply_latency_p50, self.reply_latency_p99) {
            (Some(_), None) | (None, Some(_)) => problems.push(
                key("reply_latency_p99"),
                "reply_latency_p50 and reply_latency_p99 go together",
            ),
            (Some(p50), Some(p99)) if p50.0.is_zero() || p99 < p50 => problems.push(
                key("reply_latency_p99"),
                "must be at least reply_latency_p50, and reply_latency_p50 above 0s",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let section: MessagingServerSection = toml::from_str(text).unwrap();
        let mut p = Problems::default();
        section.validate(&mut p);
        p.into_vec().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn every_key_has_a_default_and_parses() {
        let s: MessagingServerSection = toml::from_str("").unwrap();
        assert_eq!(s.session_duration.0, Duration::from_secs(259_200));
        assert_eq!(
            (s.max_text_bytes, s.retry_after.0),
            (4096, Duration::from_secs(3))
        );
        assert!(keys("").is_empty());
        let full = r#"
            session_duration = "10m"
            allowed_origins = ["https://shop.example", "http://localhost:8080"]
            max_sockets_per_deployment = 500
            messages_per_second = "20/s"
            retry_after = "5s"
            max_text_bytes = 2000
            [faults]
            drop_all_at = ["20s", "1m"]
            refuse_for = "5s"
            reply_latency_p50 = "20ms"
            reply_latency_p99 = "200ms"
        "#;
        assert!(keys(full).is_empty(), "{:?}", keys(full));
        assert!(toml::from_str::<MessagingServerSection>("unknown = 1").is_err());
        assert!(toml::from_str::<MessagingServerSection>("[faults]\ndrop_at = []").is_err());
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let bad = r#"
            session_duration = "0s"
            allowed_origins = ["https://ok.example", "shop.example", "https://x.example/path"]
            max_sockets_per_deployment = 0
            messages_per_second = 0
            retry_after = "0s"
            max_text_bytes = 70000
            [faults]
            drop_all_at = ["20s", "10s", "0s"]
            reply_latency_p50 = "20ms"
        "#;
        let expected: Vec<String> = [
            "session_duration",
            "allowed_origins[1]",
            "allowed_origins[2]",
            "max_sockets_per_deployment",
            "messages_per_second",
            "retry_after",
            "max_text_bytes",
            "faults.drop_all_at[1]",
            "faults.drop_all_at[2]",
            "faults.reply_latency_p99",
        ]
        .iter()
        .map(|k| format!("server.messaging.{k}"))
        .collect();
        assert_eq!(keys(bad), expected);
        assert_eq!(
            keys("[faults]\nrefuse_for = \"3s\""),
            ["server.messaging.faults.refuse_for"]
        );
    }
}
