//! Resolves a variant's client settings (presets applied, validated) into the typed model the engine runs.

use crate::profile::client::ClientSettings;
pub use crate::profile::messaging::ReconnectSettings;
use crate::profile::schema::{
    Coalesce, OnWaitTimeout, PartnerCredentials, RefreshGrant, TokenScope, Trigger,
};
use std::time::Duration;

/// When a client decides to refresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefreshTrigger {
    /// After a 401, or when the client itself thinks the token expired.
    Reactive,
    /// `margin` before expiry, everyone waits for the new token.
    Margin { margin: Duration },
    /// At this share of the lifetime.
    Fraction { fraction: f64 },
    /// From `advisory` before expiry one caller refreshes in the background while the others keep the
    /// token; from `mandatory` before expiry everyone waits.
    TwoWindow {
        advisory: Duration,
        mandatory: Duration,
    },
}

/// What concurrent callers that need the same refresh do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coalescing {
    None,
    SingleFlight {
        wait_timeout: Duration,
        on_timeout: OnWaitTimeout,
    },
    Lock {
        ttl: Duration,
        wait_timeout: Duration,
    },
}

/// What one SDK version does with tokens (a `[[variant]]`'s client, presets applied).
#[derive(Debug, Clone)]
pub struct ClientModel {
    pub name: String,
    pub preset: Option<String>,
    pub description: Option<String>,
    pub scope: TokenScope,
    pub trigger: RefreshTrigger,
    /// Extra lead drawn per token from 0..jitter.
    pub jitter: Duration,
    /// The token counts as expired this long before `expires_in` says.
    pub early_expiry: Duration,
    pub coalesce: Coalescing,
    pub retries_on_401: u32,
    pub retries_on_429: u32,
    pub honor_retry_after: bool,
    /// A returning visitor's first call checks its restored token's expiry (else sends it as saved).
    pub check_saved_expiry: bool,
    pub refresh_grant: RefreshGrant,
    pub partner_credentials: PartnerCredentials,
    /// Client clock minus server clock, in ms: positive means the client's clock is ahead.
    pub clock_skew_ms: i64,
    /// How a messaging widget reconnects a lost socket.
    pub reconnect: ReconnectSettings,
}

/// The platform SDK waits up to 10 s for another caller's refresh (docs/clients.md).
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Settings were validated with the profile, so required ones are present; defaults fill the rest.
pub fn resolve(name: &str, c: &ClientSettings) -> ClientModel {
    let span = |s: Option<crate::profile::units::Span>| s.map_or(Duration::ZERO, |s| s.0);
    let wait_timeout = c.wait_timeout.map_or(DEFAULT_WAIT, |s| s.0);
    let scope = c.token_scope.unwrap_or(TokenScope::Org);
    ClientModel {
        name: name.to_owned(),
        preset: c.preset.clone(),
        description: c.description.clone(),
        scope,
        trigger: match c.trigger.unwrap_or(Trigger::Reactive) {
            Trigger::Reactive => RefreshTrigger::Reactive,
            Trigger::Margin => RefreshTrigger::Margin {
                margin: span(c.margin),
            },
            Trigger::Fraction => RefreshTrigger::Fraction {
                fraction: c.fraction.unwrap_or(0.5),
            },
            Trigger::TwoWindow => RefreshTrigger::TwoWindow {
                advisory: span(c.advisory),
                mandatory: span(c.margin),
            },
        },
        jitter: span(c.jitter),
        early_expiry: span(c.early_expiry),
        coalesce: match c.coalesce.unwrap_or(Coalesce::None) {
            Coalesce::None => Coalescing::None,
            Coalesce::SingleFlight => Coalescing::SingleFlight {
                wait_timeout,
                on_timeout: c.on_wait_timeout.unwrap_or(OnWaitTimeout::Fail),
            },
            Coalesce::Lock => Coalescing::Lock {
                ttl: c.lock_ttl.map_or(DEFAULT_WAIT, |s| s.0),
                wait_timeout,
            },
        },
        retries_on_401: c.retries_on_401.unwrap_or(1),
        retries_on_429: c.retries_on_429.unwrap_or(0),
        honor_retry_after: c.honor_retry_after.unwrap_or(true),
        check_saved_expiry: c.check_saved_expiry.unwrap_or(true),
        refresh_grant: c.refresh_grant.unwrap_or(match scope {
            TokenScope::Org => RefreshGrant::ClientCredentials,
            TokenScope::Session => RefreshGrant::RefreshToken,
        }),
        partner_credentials: c.partner_credentials.unwrap_or(PartnerCredentials::Own),
        clock_skew_ms: c.clock_skew.map_or(0, |s| s.millis()),
        reconnect: c.reconnect.unwrap_or(ReconnectSettings::ANDROID),
    }
}
