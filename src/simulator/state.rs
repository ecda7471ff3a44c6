//! The server's shared state: clients, clock, signing keys and token stores, built once from a [`Config`].

use super::config::{ClockControl, Config, ErrorStyle, ExpiryPrecision, RefreshPolicy, Service};
use super::faults::{FamilyCounters, FaultPlan};
use super::jwt::Verifier;
use super::limits::Limits;
use super::messaging::Hub;
use super::service::{Station, StationCounters};
use super::shards::Shards;
use super::tokens::{AccessRecord, RefreshRecord};
use super::truth::{Count, Truth};
use axum::body::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::{RngCore, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

pub(crate) type Shared = Arc<ServerState>;

pub(crate) struct ServerState {
    pub clients: Vec<Client>,
    pub client_index: HashMap<String, usize>,
    pub org_names: Vec<String>,
    pub clock: Clock,
    pub keys: Keys,
    pub access: Shards<u64, Arc<AccessRecord>>,
    pub refresh: Shards<String, RefreshRecord>,
    pub truth: Truth,
    pub limits: Limits,
    pub messaging: Hub,
    pub token_faults: FaultPlan,
    pub contacts_faults: FaultPlan,
    pub token_station: Option<Station>,
    pub contacts_station: Option<Station>,
    pub leeway_ns: i64,
    pub offset_ns: i64,
    pub expiry_precision: ExpiryPrecision,
    pub refresh_policy: RefreshPolicy,
    pub refresh_ttl: Duration,
    pub error_style: ErrorStyle,
    pub contacts_per_org: u32,
    pub seed: u64,
    /// The first default page of contacts search, per org, rendered on first use.
    pub first_pages: Vec<OnceLock<Bytes>>,
    next_id: AtomicU64,
}

/// One OAuth client, resolved against the server defaults.
pub(crate) struct Client {
    pub org: usize,
    pub id: String,
    pub secret: String,
    pub ttl: Duration,
    pub idle_timeout_ns: Option<i64>,
    pub disabled_at_ns: Option<i64>,
    pub scopes: Vec<String>,
    /// The deployment's own `Origin` list, in place of the socket endpoint's.
    pub allowed_origins: Option<Vec<String>>,
}

impl Client {
    pub fn disabled(&self, now_ns: i64) -> bool {
        self.disabled_at_ns.is_some_and(|at| now_ns >= at)
    }
}

/// Server time: monotonic nanoseconds since start, tied to the wall clock read at start. Expiry is
/// decided on the monotonic nanoseconds, either at a whole second of the wall clock (as real issuers
/// write `exp`) or exactly `ttl` after the issue (`ExpiryPrecision`).
pub(crate) struct Clock {
    started: Instant,
    unix_at_start: Duration,
    control: ClockControl,
}

impl Clock {
    pub fn now_ns(&self) -> i64 {
        nanos(self.since_start())
    }

    pub fn since_start(&self) -> Duration {
        self.started.elapsed() + self.control.advanced()
    }

    /// Sleeps until `at_ns` on this clock: real time passing, or a test moving the clock past it.
    pub async fn sleep_until_ns(&self, at_ns: i64) {
        loop {
            let moved = self.control.moved();
            tokio::pin!(moved);
            // Enabled before the clock is read, so an advance between the read and the wait is seen.
            moved.as_mut().enable();
            let now = self.now_ns();
            if now >= at_ns {
                return;
            }
            let left = Duration::from_nanos(u64::try_from(at_ns - now).unwrap_or(u64::MAX));
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = &mut moved => {}
            }
        }
    }

    /// `at_ns` moved back to the last whole second of the wall clock: where a whole-second `exp`, or a
    /// validator that compares whole seconds, puts it.
    pub fn whole_second(&self, at_ns: i64) -> i64 {
        let sub = i64::from(self.unix_at_start.subsec_nanos());
        at_ns - at_ns.saturating_add(sub).rem_euclid(1_000_000_000)
    }

    /// The token issuer's wall-clock time in whole seconds since the epoch, for `iat` and `exp`.
    pub fn unix_secs(&self, at_ns: i64) -> u64 {
        (self.unix_at_start + Duration::from_nanos(at_ns.max(0) as u64)).as_secs()
    }
}

pub(crate) struct Keys {
    pub encoding: EncodingKey,
    /// Full decoding, for introspection, which reports every claim.
    pub decoding: DecodingKey,
    pub validation: Validation,
    /// The hot path's check of the bearer token on every API call.
    pub verifier: Verifier,
}

pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl ServerState {
    pub fn new(config: &Config) -> ServerState {
        let mut clients = Vec::new();
        for (org, o) in config.orgs.iter().enumerate() {
            for c in &o.clients {
                clients.push(Client {
                    org,
                    id: c.client_id.clone(),
                    secret: c.client_secret.clone(),
                    ttl: c.token_ttl.unwrap_or(config.token_ttl),
                    idle_timeout_ns: c.idle_timeout.or(config.idle_timeout).map(nanos),
                    disabled_at_ns: c.disabled_at.map(nanos),
                    scopes: c.scopes.clone(),
                    allowed_origins: c.allowed_origins.clone(),
                });
            }
        }
        // The first client with an id wins, so a duplicated id cannot make a token change owner.
        let mut client_index = HashMap::new();
        for (i, c) in clients.iter().enumerate() {
            client_index.entry(c.id.clone()).or_insert(i);
        }
        let org_names: Vec<String> = config.orgs.iter().map(|o| o.name.clone()).collect();
        let deployments = clients.len();
        ServerState {
            clients,
            client_index,
            truth: Truth::new(org_names.clone()),
            org_names,
            clock: Clock {
                started: Instant::now(),
                unix_at_start: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
                control: config.clock.clone(),
            },
            keys: keys(config.seed),
            access: Shards::new(),
            refresh: Shards::new(),
            limits: Limits::new(config),
            messaging: Hub::new(&config.messaging, deployments, config.seed),
            token_faults: FaultPlan::new(
                config.token_faults,
                config.seed,
                1,
                FamilyCounters {
                    server_error: Count::TokenServerError,
                    reset: Count::TokenReset,
                },
            ),
            contacts_faults: FaultPlan::new(
                config.contacts_faults,
                config.seed,
                2,
                FamilyCounters {
                    server_error: Count::ContactsServerError,
                    reset: Count::ContactsReset,
                },
            ),
            token_station: config
                .token_service
                .map(|service| station(service, config.seed, Family::Token)),
            contacts_station: config
                .contacts_service
                .map(|service| station(service, config.seed, Family::Contacts)),
            leeway_ns: nanos(config.leeway),
            offset_ns: config.clock_offset.nanos(),
            expiry_precision: config.expiry_precision,
            refresh_policy: config.refresh_policy,
            refresh_ttl: config.refresh_ttl,
            error_style: config.error_style,
            contacts_per_org: config.contacts_per_org,
            seed: config.seed,
            first_pages: config.orgs.iter().map(|_| OnceLock::new()).collect(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id for a token, a family or a created contact; unique for the server's life.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn client_by_id(&self, id: &str) -> Option<(usize, &Client)> {
        let i = *self.client_index.get(id)?;
        Some((i, &self.clients[i]))
    }
}

/// HS256 key derived from the seed: the same seed signs the same way, different seeds do not accept each
/// other's tokens.
fn keys(seed: u64) -> Keys {
    let mut secret = [0u8; 32];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x6b65_7973).fill_bytes(&mut secret);
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is decided from the server's own record (at the precision configured), not from the
    // `exp` claim.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Keys {
        encoding: EncodingKey::from_secret(&secret),
        decoding: DecodingKey::from_secret(&secret),
        validation,
        verifier: Verifier::new(&secret),
    }
}

/// SplitMix64: turns a counter into well-spread bits without shared RNG state.
enum Family {
    Token,
    Contacts,
}

/// A family's service station, salted apart from the other's (as its fault plan is).
fn station(service: Service, seed: u64, family: Family) -> Station {
    let (salt, counters) = match family {
        Family::Token => (
            1,
            StationCounters {
                queued: Count::TokenQueued,
                refused: Count::TokenRefused,
                unavailable: Count::TokenServerError,
                rate_limited: Count::TokenRateLimited,
            },
        ),
        Family::Contacts => (
            2,
            StationCounters {
                queued: Count::ContactsQueued,
                refused: Count::ContactsRefused,
                unavailable: Count::ContactsServerError,
                rate_limited: Count::ContactsRateLimited,
            },
        ),
    };
    Station::new(service, seed, salt, counters)
}

pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::config::{ClientConfig, OrgConfig};
    use crate::simulator::tokens::Reject;
    use base64::Engine as _;

    /// A server whose wall clock started at Unix time 1_000_000_000.5 s, and a 10 s token issued at once.
    fn issued(precision: ExpiryPrecision) -> (ServerState, String) {
        let org = OrgConfig {
            name: "o".into(),
            clients: vec![ClientConfig::new("c", "s")],
        };
        let mut config = Config::new(vec![org], Duration::from_secs(10));
        config.expiry_precision = precision;
        let mut state = ServerState::new(&config);
        state.clock.unix_at_start = Duration::from_millis(1_000_000_000_500);
        let token = state
            .issue_access(0, "external-contacts".into(), None, Duration::from_secs(10))
            .map(|i| i.token)
            .unwrap();
        (state, token)
    }

    fn claims(token: &str) -> (u64, u64) {
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        (v["iat"].as_u64().unwrap(), v["exp"].as_u64().unwrap())
    }

    /// The server's clock is moved by `ClockControl`; the real time the test takes between steps is
    /// far below the 0.4 s margins the claims need.
    #[test]
    fn second_precision_expires_at_the_whole_second_of_exp_and_exact_at_issue_plus_ttl() {
        for precision in [ExpiryPrecision::Second, ExpiryPrecision::Exact] {
            let (state, token) = issued(precision);
            assert_eq!(
                claims(&token),
                (1_000_000_000, 1_000_000_010),
                "{precision:?}"
            );
            let expired = || matches!(state.validate(&token), Err((Reject::Expired, _)));
            // 1_000_000_009.5: good either way.
            state.clock.control.advance(Duration::from_secs(9));
            assert!(!expired(), "{precision:?}");
            // 1_000_000_010.1: past `exp`, not yet issue + ttl.
            state.clock.control.advance(Duration::from_millis(600));
            assert_eq!(expired(), precision == ExpiryPrecision::Second);
            // 1_000_000_010.6: past both.
            state.clock.control.advance(Duration::from_millis(500));
            assert!(expired(), "{precision:?}");
        }
    }

    #[test]
    fn whole_seconds_follow_the_wall_clock_not_the_start() {
        let (mut state, _) = issued(ExpiryPrecision::Second);
        state.clock.unix_at_start = Duration::from_millis(1_000_000_000_250);
        let s = 1_000_000_000;
        assert_eq!(state.clock.whole_second(0), -250_000_000);
        assert_eq!(state.clock.whole_second(750_000_000), 750_000_000);
        assert_eq!(state.clock.whole_second(750_000_000 + s - 1), 750_000_000);
        assert_eq!(state.clock.whole_second(-300_000_000), -250_000_000 - s);
    }
}
