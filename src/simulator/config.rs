//! What the embedded target is told to be: tenants, token lifetimes, refresh policy, limits and faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything the simulated server needs; plain data, built by the caller (the profile, `serve`, a test).
#[derive(Debug, Clone)]
pub struct Config {
    pub orgs: Vec<OrgConfig>,
    /// Access-token lifetime for clients that do not set their own.
    pub token_ttl: Duration,
    /// Tolerance when the API checks a token's expiry.
    pub leeway: Duration,
    /// Whole-second `exp` as real issuers write it, or expiry to the nanosecond.
    pub expiry_precision: ExpiryPrecision,
    /// Seeds the signing key and every fault and latency draw, so a run repeats.
    pub seed: u64,
    pub refresh_policy: RefreshPolicy,
    /// Lifetime of a refresh token (the platform's web-messaging refresh token lives 24 h).
    pub refresh_ttl: Duration,
    /// How far the API's clock runs ahead of the token issuer's (negative: behind).
    pub clock_offset: ClockOffset,
    /// Idle timeout for clients that do not set their own (HIPAA orgs use 900 s).
    pub idle_timeout: Option<Duration>,
    pub error_style: ErrorStyle,
    /// Requests per second allowed per access token on the contacts API; `None` disables the limit.
    pub per_token_rate: Option<f64>,
    pub token_capacity: Capacity,
    /// Synthetic contacts each org holds (what search pages through).
    pub contacts_per_org: u32,
    pub token_faults: Faults,
    pub contacts_faults: Faults,
    /// Load-dependent latency: workers, service time and a bounded queue per endpoint family.
    pub token_service: Option<Service>,
    pub contacts_service: Option<Service>,
    /// Moves the server's clock forward on request (tests: a window passes exactly, not by sleeping).
    pub clock: ClockControl,
    /// The web-messaging WebSocket endpoint (`GET /v1?deploymentId=`).
    pub messaging: Messaging,
}

impl Config {
    /// A server for these orgs with this TTL and every other setting at its documented default.
    pub fn new(orgs: Vec<OrgConfig>, token_ttl: Duration) -> Config {
        Config {
            orgs,
            token_ttl,
            leeway: Duration::ZERO,
            expiry_precision: ExpiryPrecision::default(),
            seed: 0,
            refresh_policy: RefreshPolicy::None,
            refresh_ttl: Duration::from_secs(86_400),
            clock_offset: ClockOffset::ZERO,
            idle_timeout: None,
            error_style: ErrorStyle::Standards,
            per_token_rate: Some(300.0 / 60.0),
            token_capacity: Capacity::default(),
            contacts_per_org: 100,
            token_faults: Faults::default(),
            contacts_faults: Faults::default(),
            token_service: None,
            contacts_service: None,
            clock: ClockControl::default(),
            messaging: Messaging::default(),
        }
    }
}

/// A hand on the simulated server's clock, shared with the server it configures. Time on that clock
/// is real time plus everything [`advance`](ClockControl::advance) added: a test lets a grace window
/// or a token's lifetime pass exactly, on any machine, instead of sleeping past it and hoping the
/// calls before the sleep were quick enough.
#[derive(Debug, Clone, Default)]
pub struct ClockControl(Arc<Advanced>);

#[derive(Debug, Default)]
struct Advanced {
    nanos: AtomicU64,
    /// Wakes what sleeps until a moment on the server's clock (a session's expiry, a socket
    /// fault), so a jump reaches it at once rather than when its real-time sleep ends.
    moved: tokio::sync::Notify,
}

impl ClockControl {
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.0.moved.notify_waiters();
    }

    pub(crate) fn advanced(&self) -> Duration {
        Duration::from_nanos(self.0.nanos.load(Ordering::Relaxed))
    }

    /// Resolves at the next [`advance`](ClockControl::advance) after it is first polled or enabled.
    pub(crate) fn moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.moved.notified()
    }
}

/// One tenant organisation and its OAuth clients.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    pub name: String,
    pub clients: Vec<ClientConfig>,
}

/// One OAuth client. The client id doubles as the web-messaging deployment id.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Overrides [`Config::token_ttl`].
    pub token_ttl: Option<Duration>,
    /// Overrides [`Config::idle_timeout`].
    pub idle_timeout: Option<Duration>,
    /// Time since server start at which the client is disabled; its live tokens die at that moment.
    pub disabled_at: Option<Duration>,
    /// Scopes the client may be granted; a token gets all of them unless the request narrows it.
    pub scopes: Vec<String>,
    /// `Origin`s a socket of this deployment may come from, in place of
    /// [`Messaging::allowed_origins`]; empty means any.
    pub allowed_origins: Option<Vec<String>>,
}

impl ClientConfig {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> ClientConfig {
        ClientConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_ttl: None,
            idle_timeout: None,
            disabled_at: None,
            scopes: vec![SCOPE_CONTACTS.to_string()],
            allowed_origins: None,
        }
    }
}

/// Full access to the contacts API.
pub const SCOPE_CONTACTS: &str = "external-contacts";
/// Read-only access to the contacts API.
pub const SCOPE_CONTACTS_READONLY: &str = "external-contacts:readonly";

/// How exactly the server keeps a token's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryPrecision {
    /// As real issuers and validators: `exp = floor(issue time) + ttl` in whole Unix seconds (RFC 7519
    /// NumericDate), and the API compares whole seconds. A token dies up to 1 s before the moment
    /// `expires_in` after its issue names.
    #[default]
    Second,
    /// To the nanosecond: a token dies exactly `ttl` after its issue (`exp` still whole seconds).
    Exact,
}

/// What happens to a refresh token when it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Not rotated: the same refresh token works until it expires.
    None,
    /// Each use returns a new refresh token; presenting a used one is reuse: `invalid_grant` and the whole
    /// family (refresh and access tokens) is revoked (RFC 9700).
    RotateStrict,
    /// Like `RotateStrict`, but a used token still works for this long after its first use
    /// (Auth0 reuse interval, Okta grace period).
    RotateGrace(Duration),
}

/// Which body shape errors take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// RFC 6749 / RFC 6750 `{error, error_description}`.
    Standards,
    /// The platform's `{message, code, status, contextId, details, errors}`; the token endpoint answers
    /// `{error, description, error_description}` as it has been seen doing.
    Platform,
}

/// A signed clock offset (the API's clock minus the token issuer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockOffset {
    pub ahead: bool,
    pub by: Duration,
}

impl ClockOffset {
    pub const ZERO: ClockOffset = ClockOffset {
        ahead: true,
        by: Duration::ZERO,
    };

    pub fn ahead(by: Duration) -> ClockOffset {
        ClockOffset { ahead: true, by }
    }

    pub fn behind(by: Duration) -> ClockOffset {
        ClockOffset { ahead: false, by }
    }

    pub(crate) fn nanos(self) -> i64 {
        let n = i64::try_from(self.by.as_nanos()).unwrap_or(i64::MAX);
        if self.ahead {
            n
        } else {
            -n
        }
    }
}

/// Limits on the token endpoints (all token-issuing routes share them); `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    pub per_second: Option<f64>,
    pub concurrent: Option<usize>,
}

/// Injected latency and faults for one endpoint family. Every draw comes from the seed and the request's
/// arrival number at that family, so the same seed and the same request order give the same faults.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    pub latency: Latency,
    /// Fraction of requests answered 500 (or 503, alternately drawn) without being processed.
    pub error_rate: f64,
    /// Fraction of requests whose connection is closed without any response.
    pub reset_rate: f64,
    /// Fraction of requests held for [`Faults::stall`] before being processed.
    pub stall_rate: f64,
    pub stall: Duration,
    /// The whole family freezes for `.1` at the start of every `.0` (a GC pause, a failover): every
    /// request arriving inside a pause waits until it ends. What coordinated omission hides.
    pub pause: Option<(Duration, Duration)>,
}

/// A service station: `workers` requests are served at once, each for a drawn service time; up to
/// `queue` more wait for a worker in arrival order; beyond that a request is refused at once. N
/// workers of mean service time S carry about N / S requests per second, and the queue turns load
/// above that into latency before it turns into refusals, as a real service's thread pool does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Service {
    pub workers: usize,
    pub time: Latency,
    pub queue: usize,
    pub refuse: Refusal,
}

/// How a full station answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Refusal {
    /// 503 Service Unavailable, as a saturated service behind a load balancer answers.
    #[default]
    Unavailable,
    /// 429 with `Retry-After: 1`, as the platform's gateway answers.
    RateLimited,
}

/// Added latency before a request is processed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Latency {
    #[default]
    None,
    Fixed(Duration),
    /// Log-normal with the given median and 99th percentile.
    LogNormal {
        p50: Duration,
        p99: Duration,
    },
}

/// The web-messaging socket endpoint: session life, who may connect, how much, and its faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Messaging {
    /// A session lives this long from its first configure (the platform's default: 72 h).
    pub session_duration: Duration,
    /// `Origin` values a socket may come from; empty means any. A deployment with a list of its own
    /// ([`ClientConfig::allowed_origins`]) is judged by that one instead.
    pub allowed_origins: Vec<String>,
    /// Open sockets per deployment at most; beyond it an upgrade gets 429.
    pub max_sockets_per_deployment: Option<usize>,
    /// Messages (`onMessage` and `echo`) per second per deployment, a token bucket holding one
    /// second's worth (at least one); beyond it a frame gets 4029.
    pub messages_per_second: Option<f64>,
    /// The `retryAfter` of a 4029 and the `Retry-After` of a capacity 429.
    pub retry_after: Duration,
    /// A message text longer than this many bytes gets 4011.
    pub max_text_bytes: usize,
    pub faults: MessagingFaults,
}

impl Default for Messaging {
    fn default() -> Self {
        Messaging {
            session_duration: Duration::from_secs(72 * 3600),
            allowed_origins: Vec::new(),
            max_sockets_per_deployment: None,
            messages_per_second: None,
            retry_after: Duration::from_secs(3),
            max_text_bytes: 4096,
            faults: MessagingFaults::default(),
        }
    }
}

/// Faults of the socket endpoint. Times count from the server's start, as `disabled_at` does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagingFaults {
    /// At each of these times every open socket is dropped (TCP closed, no close frame).
    pub drop_all_at: Vec<Duration>,
    /// After each drop, upgrades are answered 503 for this long.
    pub refuse_for: Duration,
    /// Added before each answer to a client frame, drawn from the seed and the frame's arrival
    /// number; answers may overtake each other.
    pub reply_latency: Latency,
}
