//! Ground truth: what the server issued, rejected and sent, counted once per response, per org and in total.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One counter. Response counters are bumped exactly where a response is produced, so each sent response
/// counts once, also when the client has already given up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    IssuedClientCredentials,
    IssuedAuthorizationCode,
    IssuedRefreshToken,
    IssuedJwtExchange,
    IssuedJwtRefresh,
    Refreshes,
    ReuseDetected,
    FamiliesRevoked,
    TokensRevoked,
    TokenOk,
    TokenInvalidGrant,
    TokenInvalidClient,
    TokenRateLimited,
    TokenServerError,
    TokenClientError,
    TokenReset,
    TokenQueued,
    TokenRefused,
    ContactsOk,
    ContactsUnauthorized,
    ContactsForbidden,
    ContactsRateLimited,
    ContactsServerError,
    ContactsClientError,
    ContactsReset,
    ContactsQueued,
    ContactsRefused,
    ContactsExpired,
    RouteSearch,
    RouteGet,
    RouteCreate,
    RouteUpdate,
    Revocations,
    Introspections,
    SocketsOpened,
    SocketsRefusedOrigin,
    SocketsRefusedCapacity,
    SocketsRefusedOutage,
    SocketsDropped,
    SessionsNew,
    SessionsResumed,
    SessionsClosed,
    SessionsExpired,
    JwtsIssued,
    MessagesAnswered,
    EchoesAnswered,
    SocketUnauthorized,
    SocketForbidden,
    SocketRateLimited,
    SocketBadRequest,
    SocketTooLarge,
    /// A gauge: raised when a socket opens, lowered when it ends.
    SocketsOpen,
}

const COUNTERS: usize = Count::SocketsOpen as usize + 1;

/// Cheap-to-clone handle on the server's ground-truth counters.
#[derive(Debug, Clone)]
pub struct Truth(Arc<Counters>);

#[derive(Debug)]
struct Counters {
    org_names: Vec<String>,
    /// Slot block 0 is the total; block `i + 1` is org `i`.
    slots: Box<[AtomicU64]>,
}

impl Truth {
    pub(crate) fn new(org_names: Vec<String>) -> Truth {
        let slots = (0..COUNTERS * (org_names.len() + 1))
            .map(|_| AtomicU64::new(0))
            .collect();
        Truth(Arc::new(Counters { org_names, slots }))
    }

    /// Counts one event in the total and, when the org is known, in that org.
    pub(crate) fn add(&self, org: Option<usize>, counter: Count) {
        let slots = &self.0.slots;
        slots[counter as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(org) = org {
            if let Some(slot) = slots.get((org + 1) * COUNTERS + counter as usize) {
                slot.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lowers a gauge ([`Count::SocketsOpen`]) in the total and the org, as [`Truth::add`] raised it.
    pub(crate) fn sub(&self, org: Option<usize>, counter: Count) {
        let slots = &self.0.slots;
        slots[counter as usize].fetch_sub(1, Ordering::Relaxed);
        if let Some(slot) = org.and_then(|org| slots.get((org + 1) * COUNTERS + counter as usize)) {
            slot.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> TruthSnapshot {
        let block = |b: usize| {
            let get = |c: Count| self.0.slots[b * COUNTERS + c as usize].load(Ordering::Relaxed);
            TruthCounts::read(get)
        };
        TruthSnapshot {
            total: block(0),
            per_org: self
                .0
                .org_names
                .iter()
                .enumerate()
                .map(|(i, name)| (name.clone(), block(i + 1)))
                .collect(),
        }
    }
}

/// What the server did over the whole run: `total` over all requests (including those that could not be tied
/// to an org, such as a missing or forged token), and `per_org` keyed by org name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TruthSnapshot {
    pub total: TruthCounts,
    pub per_org: BTreeMap<String, TruthCounts>,
}

/// The counters of one scope (all orgs, or one). docs/simulator.md defines each field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TruthCounts {
    pub issued: IssuedCounts,
    /// Refresh requests from an authenticated client (RFC 6749 `refresh_token` grant and web-messaging
    /// refresh), whatever their result.
    pub refreshes: u64,
    /// Presentations of an already-used refresh token outside any grace window.
    pub reuse_detected: u64,
    /// Token families revoked (by reuse detection or by revoking a refresh token or a web-messaging JWT).
    pub families_revoked: u64,
    /// Single access tokens revoked through RFC 7009.
    pub tokens_revoked: u64,
    pub token: TokenEndpointCounts,
    pub contacts: ContactsCounts,
    pub revocations: u64,
    pub introspections: u64,
    /// The web-messaging socket endpoint (docs/messaging.md).
    #[serde(default)]
    pub messaging: MessagingCounts,
}

/// What the web-messaging socket endpoint did. Counters count frames and closes as they are sent;
/// `sockets_open` is a gauge (open now).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MessagingCounts {
    /// Upgrades accepted (an unknown deployment's too: it is told so on the socket).
    pub sockets_opened: u64,
    /// Upgrades refused: 403 (`Origin` not allowed), 429 (capacity), 503 (outage fault).
    pub sockets_refused_origin: u64,
    pub sockets_refused_capacity: u64,
    pub sockets_refused_outage: u64,
    /// Sockets closed without a close frame by the drop-all fault.
    pub sockets_dropped: u64,
    /// Configure answers with `newSession: true`, and with `newSession: false`.
    pub sessions_new: u64,
    pub sessions_resumed: u64,
    /// Sessions ended by `closeSession`, and by their duration running out (announced on a socket).
    pub sessions_closed: u64,
    pub sessions_expired: u64,
    /// `JwtResponse`s sent.
    pub jwts_issued: u64,
    /// `StructuredMessage` answers to `onMessage`, and to `echo`.
    pub messages_answered: u64,
    pub echoes_answered: u64,
    /// Error answers: 401, 403, 4029, 400, and 4011 + 4013 (+ 1009 closes of frames over 64 KiB).
    pub socket_unauthorized: u64,
    pub socket_forbidden: u64,
    pub socket_rate_limited: u64,
    pub socket_bad_request: u64,
    pub socket_too_large: u64,
    /// Sockets open at the moment of the snapshot.
    pub sockets_open: u64,
}

/// Tokens issued, by how they were obtained.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IssuedCounts {
    pub client_credentials: u64,
    pub authorization_code: u64,
    pub refresh_token: u64,
    pub jwt_exchange: u64,
    pub jwt_refresh: u64,
}

/// Responses sent by the token endpoints (`/oauth/token` and the web-messaging token routes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenEndpointCounts {
    pub ok: u64,
    pub invalid_grant: u64,
    pub invalid_client: u64,
    pub rate_limited: u64,
    pub server_error: u64,
    /// Any other 4xx: invalid_request, unsupported_grant_type, invalid_scope, malformed bodies.
    pub client_error: u64,
    /// Connections closed without a response (injected resets).
    pub reset: u64,
    /// Requests that waited for a worker of `[server.service.token]`, and those it refused (each
    /// refusal is also a `server_error` or `rate_limited` answer).
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub refused: u64,
}

/// Responses sent by the contacts API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContactsCounts {
    pub ok: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub rate_limited: u64,
    pub server_error: u64,
    /// Any other 4xx: 400 malformed requests, 404 unknown contacts.
    pub client_error: u64,
    pub reset: u64,
    /// Requests that waited for a worker of `[server.service.contacts]`, and those it refused.
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub refused: u64,
    /// Of the `unauthorized`, those whose token had expired (past its lifetime and the leeway).
    #[serde(default)]
    pub unauthorized_expired: u64,
    /// Requests that reached each route, whatever the answer.
    #[serde(default)]
    pub routes: ContactsRoutes,
}

/// Requests by contacts route: search (`GET /contacts`), create (`POST /contacts`), get one
/// (`GET /contacts/{id}`) and update one (`PATCH /contacts/{id}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContactsRoutes {
    pub search: u64,
    pub create: u64,
    pub get: u64,
    pub update: u64,
}

impl TruthCounts {
    fn read(get: impl Fn(Count) -> u64) -> TruthCounts {
        TruthCounts {
            issued: IssuedCounts {
                client_credentials: get(Count::IssuedClientCredentials),
                authorization_code: get(Count::IssuedAuthorizationCode),
                refresh_token: get(Count::IssuedRefreshToken),
                jwt_exchange: get(Count::IssuedJwtExchange),
                jwt_refresh: get(Count::IssuedJwtRefresh),
            },
            refreshes: get(Count::Refreshes),
            reuse_detected: get(Count::ReuseDetected),
            families_revoked: get(Count::FamiliesRevoked),
            tokens_revoked: get(Count::TokensRevoked),
            token: TokenEndpointCounts {
                ok: get(Count::TokenOk),
                invalid_grant: get(Count::TokenInvalidGrant),
                invalid_client: get(Count::TokenInvalidClient),
                rate_limited: get(Count::TokenRateLimited),
                server_error: get(Count::TokenServerError),
                client_error: get(Count::TokenClientError),
                reset: get(Count::TokenReset),
                queued: get(Count::TokenQueued),
                refused: get(Count::TokenRefused),
            },
            contacts: ContactsCounts {
                ok: get(Count::ContactsOk),
                unauthorized: get(Count::ContactsUnauthorized),
                forbidden: get(Count::ContactsForbidden),
                rate_limited: get(Count::ContactsRateLimited),
                server_error: get(Count::ContactsServerError),
                client_error: get(Count::ContactsClientError),
                reset: get(Count::ContactsReset),
                queued: get(Count::ContactsQueued),
                refused: get(Count::ContactsRefused),
                unauthorized_expired: get(Count::ContactsExpired),
                routes: ContactsRoutes {
                    search: get(Count::RouteSearch),
                    create: get(Count::RouteCreate),
                    get: get(Count::RouteGet),
                    update: get(Count::RouteUpdate),
                },
            },
            revocations: get(Count::Revocations),
            introspections: get(Count::Introspections),
            messaging: MessagingCounts::read(&get),
        }
    }
}

impl MessagingCounts {
    fn read(get: &impl Fn(Count) -> u64) -> MessagingCounts {
        MessagingCounts {
            sockets_opened: get(Count::SocketsOpened),
            sockets_refused_origin: get(Count::SocketsRefusedOrigin),
            sockets_refused_capacity: get(Count::SocketsRefusedCapacity),
            sockets_refused_outage: get(Count::SocketsRefusedOutage),
            sockets_dropped: get(Count::SocketsDropped),
            sessions_new: get(Count::SessionsNew),
            sessions_resumed: get(Count::SessionsResumed),
            sessions_closed: get(Count::SessionsClosed),
            sessions_expired: get(Count::SessionsExpired),
            jwts_issued: get(Count::JwtsIssued),
            messages_answered: get(Count::MessagesAnswered),
            echoes_answered: get(Count::EchoesAnswered),
            socket_unauthorized: get(Count::SocketUnauthorized),
            socket_forbidden: get(Count::SocketForbidden),
            socket_rate_limited: get(Count::SocketRateLimited),
            socket_bad_request: get(Count::SocketBadRequest),
            socket_too_large: get(Count::SocketTooLarge),
            sockets_open: get(Count::SocketsOpen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_in_total_and_in_their_org_only() {
        let truth = Truth::new(vec!["a".into(), "b".into()]);
        truth.add(Some(1), Count::ContactsUnauthorized);
        truth.add(None, Count::ContactsUnauthorized);
        truth.add(Some(7), Count::TokenOk);
        let snap = truth.clone().snapshot();
        assert_eq!(snap.total.contacts.unauthorized, 2);
        assert_eq!(snap.total.token.ok, 1);
        assert_eq!(snap.per_org["a"], TruthCounts::default());
        assert_eq!(snap.per_org["b"].contacts.unauthorized, 1);
    }

    #[test]
    fn the_open_sockets_gauge_goes_up_and_down_in_total_and_org() {
        let truth = Truth::new(vec!["a".into()]);
        truth.add(Some(0), Count::SocketsOpen);
        truth.add(None, Count::SocketsOpen);
        truth.sub(Some(0), Count::SocketsOpen);
        let snap = truth.snapshot();
        assert_eq!(snap.total.messaging.sockets_open, 1);
        assert_eq!(snap.per_org["a"].messaging.sockets_open, 0);
    }
}
