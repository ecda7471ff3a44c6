//! Client models as written: `client = "preset-name"` or an inline table, optionally starting from a
//! preset (`preset = "..."`) and overriding some of its settings.

use super::units::{SignedSpan, Span};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Every setting of a client model; all optional so that presets and inline settings can be layered.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Start from this preset (built in, or `clients/<name>.toml` next to the profile).
    pub preset: Option<String>,
    /// One line saying what this model is and where its numbers come from.
    pub description: Option<String>,
    /// `org`: sessions of an org share one token; `session`: each holds its own.
    pub token_scope: Option<TokenScope>,
    pub trigger: Option<Trigger>,
    /// `margin`: refresh this long before expiry. `two-window`: the mandatory window (everyone waits).
    pub margin: Option<Span>,
    /// `fraction`: refresh at this share of the token's lifetime (0 < f < 1).
    pub fraction: Option<f64>,
    /// `two-window`: the advisory window, before `margin`: one caller refreshes in the background.
    pub advisory: Option<Span>,
    /// A random extra lead, 0..jitter, drawn per token from the seed (spreads a herd over time).
    pub jitter: Option<Span>,
    /// The client treats a token as expired this long before `expires_in` says (the messenger's 5 s).
    pub early_expiry: Option<Span>,
    pub coalesce: Option<Coalesce>,
    /// `single-flight` and `lock`: how long a caller waits for someone else's refresh.
    pub wait_timeout: Option<Span>,
    /// `single-flight`: what a waiter does when `wait_timeout` runs out.
    pub on_wait_timeout: Option<OnWaitTimeout>,
    /// `lock`: the lock expires after this long, even if its holder is still refreshing.
    pub lock_ttl: Option<Span>,
    /// How often a request refreshes and retries after a 401.
    pub retries_on_401: Option<u32>,
    /// How often a request retries after a 429.
    pub retries_on_429: Option<u32>,
    /// Whether the client waits out `Retry-After` before its next call with the same token.
    pub honor_retry_after: Option<bool>,
    /// A returning visitor (`[sessions.returning]`) restores a saved token: whether the widget
    /// checks its expiry before the first call on page load (default true), or sends it as saved.
    pub check_saved_expiry: Option<bool>,
    pub refresh_grant: Option<RefreshGrant>,
    /// Whose credentials refresh a partner org's token: its `own`, or (a known bug) the `primary` org's.
    pub partner_credentials: Option<PartnerCredentials>,
    /// The client's clock relative to the server's: `"-3s"` is behind, `"+2s"` ahead.
    pub clock_skew: Option<SignedSpan>,
    /// How a messaging widget reconnects a lost socket (`[messaging]`): `"fixed"` (default),
    /// `"immediate"`, `"full-jitter"` or a policy table.
    pub reconnect: Option<super::messaging::ReconnectSettings>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// One token per org, shared by all its sessions (a server-side integration, a shared cache).
    Org,
    /// Each session holds its own access and refresh token (a widget in a browser tab).
    Session,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Use the token until the API answers 401 (or the client thinks it expired), then refresh.
    Reactive,
    /// Refresh `margin` before expiry.
    #[serde(alias = "preemptive")]
    Margin,
    /// Refresh at `fraction` of the lifetime.
    Fraction,
    /// botocore's advisory and mandatory windows.
    TwoWindow,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Coalesce {
    /// Every caller that needs a refresh sends its own.
    None,
    /// One refresh per token; the other callers wait for its result.
    SingleFlight,
    /// A lock with a time to live: callers poll until the token changes; an expired lock lets another refresh.
    Lock,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnWaitTimeout {
    /// The request fails with `timeout`.
    Fail,
    /// The waiter refreshes on its own.
    Refresh,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshGrant {
    RefreshToken,
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartnerCredentials {
    Own,
    Primary,
}

/// A preset file (`profiles/clients/<name>.toml`): the settings, nothing else.
pub fn parse_settings(text: &str) -> Result<ClientSettings, toml::de::Error> {
    toml::from_str(text)
}

impl ClientSettings {
    /// `self` with every setting that `over` sets replaced by `over`'s.
    pub fn overlaid(self, over: &ClientSettings) -> ClientSettings {
        macro_rules! pick {
            ($($field:ident),*) => { ClientSettings { $($field: over.$field.clone().or(self.$field),)* } };
        }
        pick!(
            preset,
            description,
            token_scope,
            trigger,
            margin,
            fraction,
            advisory,
            jitter,
            early_expiry,
            coalesce,
            wait_timeout,
            on_wait_timeout,
            lock_ttl,
            retries_on_401,
            retries_on_429,
            honor_retry_after,
            check_saved_expiry,
            refresh_grant,
            partner_credentials,
            clock_skew,
            reconnect
        )
    }
}

/// The two ways to write a variant's `client`, for the JSON Schema (parsing goes through
/// [`deserialize_client`], which keeps the line numbers of errors).
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ClientRef {
    /// A preset name, e.g. "genesys-messenger" (`tokenstorm clients` lists them).
    Preset(String),
    Settings(Box<ClientSettings>),
}

/// `client = "name"` is shorthand for `client = { preset = "name" }`.
pub fn deserialize_client<'de, D: Deserializer<'de>>(d: D) -> Result<ClientSettings, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ClientSettings;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "a preset name such as \"genesys-messenger\", or a table of client settings",
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientSettings, E> {
            Ok(ClientSettings {
                preset: Some(v.to_owned()),
                ..Default::default()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClientSettings, A::Error> {
            ClientSettings::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}
