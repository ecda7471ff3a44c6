//! `[messaging]`: each session of `[sessions]` is a web-messaging widget on a WebSocket. It connects,
//! configures its session, sends a message after each think time, keeps the socket alive with pings
//! and echoes, and closes the session when it leaves. How it reconnects is the client model's
//! `reconnect` setting (an SDK's behaviour, so it varies by variant).

use super::problems::Problems;
use super::units::Span;
use serde::Deserialize;
use std::net::IpAddr;
use std::time::Duration;

/// The platform's limits on what a message may carry (docs/messaging.md).
pub const MAX_TEXT_BYTES: u32 = 4_096;
pub const MAX_ATTRIBUTES_BYTES: u32 = 2_048;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingSection {
    /// `guest`: the widget makes up its session token; `authenticated`: it configures with the JWT of
    /// the REST code exchange (the web-deployments dialect; per-session tokens), and on a 401 from
    /// the socket refreshes it over REST and configures again, up to 3 times.
    #[serde(default)]
    pub auth: MessagingAuth,
    /// The socket's URL: `ws://` or `wss://` on a real target (e.g.
    /// `"wss://webmessaging.example.com/v1?deploymentId={deployment_id}"`), or a path on the embedded
    /// one; `{deployment_id}` becomes the org's deployment.
    #[serde(default = "default_path")]
    pub url: String,
    /// The `Origin` the widget's page sends (a deployment's allowed origins refuse others).
    #[serde(default)]
    pub origin: Option<String>,
    /// Bytes of text in each message.
    #[serde(default = "default_text_bytes")]
    pub text_bytes: u32,
    /// Bytes of custom attributes (JSON) each message carries; 0 sends none.
    #[serde(default)]
    pub attributes_bytes: u32,
    /// A WebSocket ping this often (the SDKs' 15 s).
    #[serde(default = "default_ping")]
    pub ping_interval: Span,
    /// An `echo` health check after this long without one (the SDKs' 30 s cool-down); "0s": none.
    #[serde(default = "default_echo")]
    pub echo_interval: Span,
    /// Whether the widget keeps a JWT for REST calls (`getJwt`, fetched again when it expires in 5 s).
    #[serde(default)]
    pub jwt: bool,
    /// How long a message, configure or echo waits for its answer before it counts as unanswered.
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout: Span,
    /// Local IP addresses the sockets are opened from, taken in turn (e.g. `["127.0.0.2",
    /// "127.0.0.3"]`): one source address reaches one server port through about 28,000 ephemeral
    /// ports, so more sockets than that need several. Left out, the system picks; the API calls never
    /// bind.
    #[serde(default)]
    pub source_addresses: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MessagingAuth {
    #[default]
    Guest,
    Authenticated,
}

fn default_path() -> String {
    "/v1?deploymentId={deployment_id}".into()
}

fn default_text_bytes() -> u32 {
    64
}

fn default_ping() -> Span {
    Span(Duration::from_secs(15))
}

fn default_echo() -> Span {
    Span(Duration::from_secs(30))
}

fn default_reply_timeout() -> Span {
    Span(Duration::from_secs(10))
}

/// The checks `[messaging]` brings, and `messaging.*` gates in a profile without it.
pub fn validate_in(profile: &super::schema::Profile, problems: &mut Problems) {
    match &profile.messaging {
        Some(messaging) => {
            messaging.validate(
                profile.sessions.is_some(),
                profile.target.http().is_some(),
                problems,
            );
            let Some(sessions) = &profile.sessions else {
                return;
            };
            // A widget's journey is its chat: REST steps and restored REST tokens do not apply.
            if !sessions.steps.is_empty() {
                problems.push(
                    "sessions.step",
                    "cannot be combined with [messaging]: a messaging widget's journey is its chat",
                );
            }
            if sessions.returning.is_some() {
                problems.push(
                    "sessions.returning",
                    "cannot be combined with [messaging] (returning visitors restore REST tokens)",
                );
            }
        }
        None => super::sessions::refuse_gates(
            profile,
            "messaging.",
            "applies to messaging widgets: the profile has no [messaging]",
            problems,
        ),
    }
}

impl MessagingSection {
    /// `http_target`: a real target, whose socket URL must be given whole.
    pub fn validate(&self, with_sessions: bool, http_target: bool, problems: &mut Problems) {
        if !with_sessions {
            problems.push(
                "messaging",
                "needs [sessions]: a messaging widget is a session that arrives, chats and leaves",
            );
        }
        let absolute = self.url.starts_with("ws://") || self.url.starts_with("wss://");
        if !absolute && http_target {
            problems.push(
                "messaging.url",
                "must be a ws:// or wss:// URL with a real target (the socket is usually on a host of its own)",
            );
        } else if !absolute && !self.url.starts_with('/') {
            problems.push(
                "messaging.url",
                "must be a ws:// or wss:// URL, or a path starting with `/` on the embedded target",
            );
        }
        if self.text_bytes == 0 || self.text_bytes > MAX_TEXT_BYTES {
            problems.push(
                "messaging.text_bytes",
                format!("must be 1 to {MAX_TEXT_BYTES} (the platform's limit)"),
            );
        }
        if self.attributes_bytes > MAX_ATTRIBUTES_BYTES {
            problems.push(
                "messaging.attributes_bytes",
                format!("must be at most {MAX_ATTRIBUTES_BYTES} (the platform's limit)"),
            );
        }
        for (key, span) in [
            ("messaging.ping_interval", self.ping_interval),
            ("messaging.reply_timeout", self.reply_timeout),
        ] {
            if span.0.is_zero() {
                problems.push(key, "must be more than 0s");
            }
        }
        if let Some(origin) = &self.origin {
            if url::Url::parse(origin).is_err() {
                problems.push(
                    "messaging.origin",
                    "must be an origin such as \"https://shop.example\"",
                );
            }
        }
        check_sources(&self.source_addresses, problems);
    }

    /// The source addresses, parsed; those that do not parse are left out (validation names them).
    pub fn sources(&self) -> Vec<IpAddr> {
        self.source_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// More than a /24 of loopback is never needed: 256 addresses reach millions of sockets.
const MAX_SOURCES: usize = 256;

fn check_sources(sources: &[String], problems: &mut Problems) {
    const KEY: &str = "messaging.source_addresses";
    let mut seen = std::collections::HashSet::new();
    for (i, source) in sources.iter().enumerate() {
        let key = format!("{KEY}[{i}]");
        match source.parse::<IpAddr>() {
            Err(_) => problems.push(
                key,
                format!("`{source}` is not an IP address (such as \"127.0.0.2\")"),
            ),
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => problems.push(
                key,
                format!("`{source}` cannot be a socket's source (unspecified or multicast)"),
            ),
            Ok(ip) if !seen.insert(ip) => {
                problems.push(key, format!("`{source}` is listed twice"));
            }
            Ok(_) => {}
        }
    }
    if sources.len() > MAX_SOURCES {
        problems.push(KEY, format!("at most {MAX_SOURCES} addresses"));
    }
}

/// How a widget reconnects when its socket is lost: `"fixed"` (the Android SDK: 5 s, up to 60
/// attempts), `"immediate"` (the iOS SDK: at once, up to 10), `"full-jitter"` (exponential backoff with
/// full jitter, 1 s doubling to 30 s, up to 30), or a table: `{ policy = "fixed", delay = "2s",
/// attempts = 20 }`, `{ policy = "exponential", base = "500ms", max = "1m", attempts = 40 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectSettings {
    Fixed {
        delay: Duration,
        attempts: u32,
    },
    Immediate {
        attempts: u32,
    },
    Exponential {
        base: Duration,
        max: Duration,
        attempts: u32,
    },
}

impl ReconnectSettings {
    pub const ANDROID: ReconnectSettings = ReconnectSettings::Fixed {
        delay: Duration::from_secs(5),
        attempts: 60,
    };
    pub const IOS: ReconnectSettings = ReconnectSettings::Immediate { attempts: 10 };
    pub const FULL_JITTER: ReconnectSettings = ReconnectSettings::Exponential {
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
        attempts: 30,
    };

    pub fn attempts(self) -> u32 {
        match self {
            ReconnectSettings::Fixed { attempts, .. }
            | ReconnectSettings::Immediate { attempts }
            | ReconnectSettings::Exponential { attempts, .. } => attempts,
        }
    }

    /// The name a preset goes by, for reports; `None` for a policy of one's own.
    pub fn preset_name(self) -> Option<&'static str> {
        [
            (Self::ANDROID, "fixed"),
            (Self::IOS, "immediate"),
            (Self::FULL_JITTER, "full-jitter"),
        ]
        .into_iter()
        .find(|(preset, _)| *preset == self)
        .map(|(_, name)| name)
    }
}

/// The table form, as written.
#[derive(Deserialize)]
#[serde(tag = "policy", rename_all = "lowercase", deny_unknown_fields)]
enum ReconnectTable {
    Fixed {
        delay: Span,
        attempts: u32,
    },
    Immediate {
        attempts: u32,
    },
    Exponential {
        base: Span,
        max: Span,
        attempts: u32,
    },
}

const MAX_ATTEMPTS: u32 = 10_000;

impl ReconnectSettings {
    fn preset(name: &str) -> Option<ReconnectSettings> {
        match name {
            "fixed" => Some(Self::ANDROID),
            "immediate" => Some(Self::IOS),
            "full-jitter" => Some(Self::FULL_JITTER),
            _ => None,
        }
    }

    fn from_table(table: ReconnectTable) -> Result<ReconnectSettings, String> {
        let settings = match table {
            ReconnectTable::Fixed { delay, attempts } => Self::Fixed {
                delay: delay.0,
                attempts,
            },
            ReconnectTable::Immediate { attempts } => Self::Immediate { attempts },
            ReconnectTable::Exponential {
                base,
                max,
                attempts,
            } => {
                if base.0.is_zero() || max < base {
                    return Err(
                        "exponential: base must be more than 0s and max at least base".into(),
                    );
                }
                Self::Exponential {
                    base: base.0,
                    max: max.0,
                    attempts,
                }
            }
        };
        if settings.attempts() == 0 || settings.attempts() > MAX_ATTEMPTS {
            return Err(format!("attempts must be 1 to {MAX_ATTEMPTS}"));
        }
        Ok(settings)
    }
}

impl<'de> Deserialize<'de> for ReconnectSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ReconnectSettings;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"fixed\", \"immediate\", \"full-jitter\" or a table with `policy`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ReconnectSettings, E> {
                ReconnectSettings::preset(v)
                    .ok_or_else(|| E::unknown_variant(v, &["fixed", "immediate", "full-jitter"]))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ReconnectSettings, A::Error> {
                let table =
                    ReconnectTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                ReconnectSettings::from_table(table).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for ReconnectSettings {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReconnectSettings".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How the widget reconnects a lost socket: a preset or a policy table.",
            "oneOf": [
                { "type": "string", "enum": ["fixed", "immediate", "full-jitter"] },
                { "type": "object", "required": ["policy", "attempts"],
                  "properties": {
                    "policy": { "type": "string", "enum": ["fixed", "immediate", "exponential"] },
                    "delay": { "type": "string" }, "base": { "type": "string" },
                    "max": { "type": "string" }, "attempts": { "type": "integer", "minimum": 1 }
                  },
                  "additionalProperties": false }
            ]
        })
    }
}

/// What a `messaging.*` threshold tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessagingStat {
    MessageP50Ms,
    MessageP99Ms,
    ConfigureP99Ms,
    ConnectP99Ms,
    /// Seconds from the biggest loss of sockets until 99 % of the sessions were configured again:
    /// 0 without a loss; no value (the gate fails) when they never were.
    RecoveryS,
    ReconnectPeakPerS,
    Lost,
    GaveUp,
    Refused,
    ConfigureFailed,
    Unanswered,
    RateLimited,
    Unauthorized,
    /// 401s on frames sent before the expiry the client believed their JWT had: refusals no client
    /// rule can prevent (the issuer's whole-second `exp`, clocks apart, a revoked JWT).
    UnauthorizedBeforeExpiry,
    BadFrames,
}

pub const MESSAGING_METRICS: [(&str, MessagingStat); 15] = [
    ("messaging.message_p50_ms", MessagingStat::MessageP50Ms),
    ("messaging.message_p99_ms", MessagingStat::MessageP99Ms),
    ("messaging.configure_p99_ms", MessagingStat::ConfigureP99Ms),
    ("messaging.connect_p99_ms", MessagingStat::ConnectP99Ms),
    ("messaging.recovery_s", MessagingStat::RecoveryS),
    (
        "messaging.reconnect_peak_per_s",
        MessagingStat::ReconnectPeakPerS,
    ),
    ("messaging.lost", MessagingStat::Lost),
    ("messaging.gave_up", MessagingStat::GaveUp),
    ("messaging.refused", MessagingStat::Refused),
    ("messaging.configure_failed", MessagingStat::ConfigureFailed),
    ("messaging.unanswered", MessagingStat::Unanswered),
    ("messaging.rate_limited", MessagingStat::RateLimited),
    ("messaging.unauthorized", MessagingStat::Unauthorized),
    (
        "messaging.unauthorized_before_expiry",
        MessagingStat::UnauthorizedBeforeExpiry,
    ),
    ("messaging.bad_frames", MessagingStat::BadFrames),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        reconnect: ReconnectSettings,
    }

    fn parse(text: &str) -> Result<ReconnectSettings, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.reconnect)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn presets_and_tables_parse() {
        assert_eq!(
            parse("reconnect = \"fixed\""),
            Ok(ReconnectSettings::ANDROID)
        );
        assert_eq!(
            parse("reconnect = \"immediate\""),
            Ok(ReconnectSettings::IOS)
        );
        assert_eq!(
            parse("reconnect = { policy = \"exponential\", base = \"500ms\", max = \"1m\", attempts = 40 }"),
            Ok(ReconnectSettings::Exponential {
                base: Duration::from_millis(500),
                max: Duration::from_secs(60),
                attempts: 40
            })
        );
        assert_eq!(
            ReconnectSettings::FULL_JITTER.preset_name(),
            Some("full-jitter")
        );
    }

    #[test]
    fn source_addresses_must_be_distinct_usable_ips() {
        let section: MessagingSection = toml::from_str(
            "source_addresses = [\"127.0.0.2\", \"::1\", \"localhost\", \"0.0.0.0\", \"127.0.0.2\"]",
        )
        .unwrap();
        let mut problems = Problems::default();
        section.validate(true, false, &mut problems);
        let got: Vec<(String, String)> = problems
            .into_vec()
            .into_iter()
            .map(|p| (p.key, p.message))
            .collect();
        let key = |i: usize| format!("messaging.source_addresses[{i}]");
        assert_eq!(
            got,
            [
                (
                    key(2),
                    "`localhost` is not an IP address (such as \"127.0.0.2\")".into()
                ),
                (
                    key(3),
                    "`0.0.0.0` cannot be a socket's source (unspecified or multicast)".into()
                ),
                (key(4), "`127.0.0.2` is listed twice".into()),
            ]
        );
        let parsed: Vec<String> = section.sources().iter().map(|a| a.to_string()).collect();
        assert_eq!(parsed, ["127.0.0.2", "::1", "0.0.0.0", "127.0.0.2"]);
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(parse("reconnect = \"sometimes\"").is_err());
        assert!(parse("reconnect = { policy = \"fixed\", delay = \"1s\", attempts = 0 }").is_err());
        assert!(parse(
            "reconnect = { policy = \"exponential\", base = \"2s\", max = \"1s\", attempts = 3 }"
        )
        .is_err());
    }
}
