//! Access tokens (signed JWTs backed by a server-side record) and refresh tokens (opaque, rotated by policy).

use super::config::{ExpiryPrecision, RefreshPolicy};
use super::jwt::Verifier;
use super::state::{nanos, ServerState};
use super::truth::Count;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Records are kept this long past their expiry, so answers near the edge always come from the record.
const KEEP_AFTER_EXPIRY_NS: i64 = 60_000_000_000;

/// The JWT payload. `exp` and `iat` are whole seconds; the record holds the expiry the server enforces
/// (the same second as `exp`, or the exact nanosecond with `ExpiryPrecision::Exact`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// First: the contacts hot path reads only this, from the payload's first bytes (`jwt::Signed::jti`).
    pub jti: String,
    pub exp: u64,
    pub iat: u64,
    pub sub: String,
    pub org: String,
    pub scope: String,
}

/// What the server remembers about an access token it issued.
pub(crate) struct AccessRecord {
    pub jti: u64,
    pub client: usize,
    pub family: Option<Arc<Family>>,
    pub scope: Arc<str>,
    pub expires_ns: i64,
    pub last_used_ns: AtomicI64,
    pub revoked: AtomicBool,
}

impl AccessRecord {
    pub fn has_scope(&self, any_of: &[&str]) -> bool {
        self.scope.split_whitespace().any(|s| any_of.contains(&s))
    }
}

/// Tokens descending from one authorization: revoking the family kills all of them at once.
pub(crate) struct Family {
    revoked: AtomicBool,
}

impl Family {
    pub fn new() -> Arc<Family> {
        Arc::new(Family {
            revoked: AtomicBool::new(false),
        })
    }

    /// True when this call is the one that revoked it.
    pub fn revoke(&self) -> bool {
        !self.revoked.swap(true, Ordering::AcqRel)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
pub(crate) struct RefreshRecord {
    pub client: usize,
    pub family: Arc<Family>,
    pub scope: Arc<str>,
    pub expires_ns: i64,
    /// When the token was first exchanged (rotating policies only).
    pub used_at_ns: Option<i64>,
}

pub(crate) struct IssuedAccess {
    pub token: String,
    pub expires_in: u64,
    /// The `exp` claim (Unix seconds).
    pub exp: u64,
    pub scope: Arc<str>,
}

/// Why a bearer token is refused; the text goes into `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Reject {
    #[error("the access token is malformed or its signature is invalid")]
    Malformed,
    #[error("the access token expired")]
    Expired,
    #[error("the access token was revoked")]
    Revoked,
    #[error("the access token was idle for too long")]
    Idle,
    #[error("the client this token was issued to is disabled")]
    Disabled,
    #[error("the access token is not known to this server")]
    Unknown,
}

/// Why a refresh token is refused (always `invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GrantError {
    #[error("the refresh token is not known to this server")]
    Unknown,
    #[error("the refresh token was issued to another client")]
    OtherClient,
    #[error("the refresh token expired")]
    Expired,
    #[error("the refresh token was revoked")]
    Revoked,
    #[error("the refresh token was already used; its token family is revoked")]
    Reused,
}

/// A successful refresh: the family and scope to issue for, and the refresh token the client keeps.
pub(crate) struct Refreshed {
    pub family: Arc<Family>,
    pub scope: Arc<str>,
    pub refresh_token: String,
}

impl ServerState {
    pub fn issue_access(
        &self,
        client: usize,
        scope: Arc<str>,
        family: Option<Arc<Family>>,
        ttl: Duration,
    ) -> Result<IssuedAccess, jsonwebtoken::errors::Error> {
        let c = &self.clients[client];
        let jti = self.next_id();
        let now = self.clock.now_ns();
        let expires_ns = match self.expiry_precision {
            // floor(issue + ttl): floor(issue) + ttl for the whole-second lifetimes issuers use.
            ExpiryPrecision::Second => self.clock.whole_second(now.saturating_add(nanos(ttl))),
            ExpiryPrecision::Exact => now.saturating_add(nanos(ttl)),
        };
        let exp = self.clock.unix_secs(expires_ns);
        let claims = Claims {
            iat: self.clock.unix_secs(now),
            exp,
            sub: c.id.clone(),
            org: self.org_names[c.org].clone(),
            scope: scope.to_string(),
            jti: jti.to_string(),
        };
        let token = jsonwebtoken::encode(&Verifier::issuer(), &claims, &self.keys.encoding)?;
        let record = AccessRecord {
            jti,
            client,
            family,
            scope: scope.clone(),
            expires_ns,
            last_used_ns: AtomicI64::new(now),
            revoked: AtomicBool::new(false),
        };
        let stale_before = self.access_stale_before(now);
        self.access
            .insert(jti, Arc::new(record), |r| r.expires_ns > stale_before);
        if jti.is_multiple_of(4096) {
            self.limits.sweep();
        }
        Ok(IssuedAccess {
            token,
            expires_in: ttl.as_secs(),
            exp,
            scope,
        })
    }

    fn access_stale_before(&self, now: i64) -> i64 {
        now - self.leeway_ns - self.offset_ns.abs() - KEEP_AFTER_EXPIRY_NS
    }

    /// Checks signature, record, revocation, client state, expiry (with leeway and clock offset) and idle
    /// time; a token that passes counts as used now. A refusal names the token's org when it is ours.
    pub fn validate(&self, token: &str) -> Result<Arc<AccessRecord>, (Reject, Option<usize>)> {
        self.inspect(token, true)
    }

    /// [`ServerState::validate`] that, with `touch: false`, does not count as a use (introspection).
    pub fn inspect(
        &self,
        token: &str,
        touch: bool,
    ) -> Result<Arc<AccessRecord>, (Reject, Option<usize>)> {
        let signed = self
            .keys
            .verifier
            .verify(token)
            .ok_or((Reject::Malformed, None))?;
        let jti = signed.jti();
        let Some(record) = jti.and_then(|jti| self.access.get(&jti)) else {
            // Off the hot path: the claims say whose token it is, and whether it was ever valid.
            let mut payload = Vec::new();
            let claims = signed.claims(&mut payload);
            let org = claims
                .as_ref()
                .and_then(|c| self.client_by_id(&c.sub))
                .map(|(_, c)| c.org);
            let why = match claims {
                // Swept records are long expired; anything else signed by us but unknown was never
                // issued here.
                Some(c) if jti.is_some() => {
                    if c.exp <= self.clock.unix_secs(self.clock.now_ns()) {
                        Reject::Expired
                    } else {
                        Reject::Unknown
                    }
                }
                // No id or no claims we could read: not a token this server wrote.
                _ => Reject::Malformed,
            };
            return Err((why, org));
        };
        let now = self.clock.now_ns();
        let client = &self.clients[record.client];
        let check = self.check_live(&record, now, touch);
        check
            .map(|()| record)
            .map_err(|why| (why, Some(client.org)))
    }

    /// A token validated earlier, checked again now (a socket's JWT on each later frame); counts as a use.
    pub fn still_live(&self, record: &AccessRecord) -> Result<(), Reject> {
        self.check_live(record, self.clock.now_ns(), true)
    }

    /// Everything but the signature: revocation, client state, expiry and idle time.
    fn check_live(&self, record: &AccessRecord, now: i64, touch: bool) -> Result<(), Reject> {
        let client = &self.clients[record.client];
        if record.revoked.load(Ordering::Acquire)
            || record.family.as_ref().is_some_and(|f| f.is_revoked())
        {
            return Err(Reject::Revoked);
        }
        if client.disabled(now) {
            return Err(Reject::Disabled);
        }
        // The API's clock runs `offset` ahead of the issuer's; `leeway` forgives that much lateness.
        let api_now = now.saturating_add(self.offset_ns);
        let api_now = match self.expiry_precision {
            // A validator reads its clock in whole seconds, as it reads `exp`.
            ExpiryPrecision::Second => self.clock.whole_second(api_now),
            ExpiryPrecision::Exact => api_now,
        };
        if api_now >= record.expires_ns.saturating_add(self.leeway_ns) {
            return Err(Reject::Expired);
        }
        if let Some(idle) = client.idle_timeout_ns {
            if now - record.last_used_ns.load(Ordering::Relaxed) > idle {
                return Err(Reject::Idle);
            }
        }
        if touch {
            record.last_used_ns.fetch_max(now, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn issue_refresh(&self, client: usize, family: Arc<Family>, scope: Arc<str>) -> String {
        let token = format!("rt-{:032x}", rand::random::<u128>());
        let now = self.clock.now_ns();
        let record = RefreshRecord {
            client,
            family,
            scope,
            expires_ns: now.saturating_add(nanos(self.refresh_ttl)),
            used_at_ns: None,
        };
        self.refresh.insert(token.clone(), record, |r| {
            r.expires_ns + KEEP_AFTER_EXPIRY_NS > now
        });
        token
    }

    /// Exchanges a refresh token presented by `client` under the configured policy (`rotate: false` forces
    /// no rotation, as the web-messaging refresh does). Reuse detection revokes the family and counts it.
    pub fn use_refresh(
        &self,
        token: &str,
        client: usize,
        rotate: bool,
    ) -> Result<Refreshed, GrantError> {
        let now = self.clock.now_ns();
        let org = Some(self.clients[client].org);
        let policy = if rotate {
            self.refresh_policy
        } else {
            RefreshPolicy::None
        };
        let checked = self.refresh.update(token, |record| {
            let r = record.ok_or(GrantError::Unknown)?;
            if r.client != client {
                return Err(GrantError::OtherClient);
            }
            if r.family.is_revoked() {
                return Err(GrantError::Revoked);
            }
            if now >= r.expires_ns {
                return Err(GrantError::Expired);
            }
            let grace = match policy {
                RefreshPolicy::None => return Ok((r.family.clone(), r.scope.clone(), false)),
                RefreshPolicy::RotateStrict => 0,
                RefreshPolicy::RotateGrace(g) => nanos(g),
            };
            match r.used_at_ns {
                Some(used) if now - used > grace || grace == 0 => Err(GrantError::Reused),
                Some(_) => Ok((r.family.clone(), r.scope.clone(), true)),
                None => {
                    r.used_at_ns = Some(now);
                    Ok((r.family.clone(), r.scope.clone(), true))
                }
            }
        });
        match checked {
            Ok((family, scope, rotated)) => {
                let refresh_token = if rotated {
                    self.issue_refresh(client, family.clone(), scope.clone())
                } else {
                    token.to_string()
                };
                Ok(Refreshed {
                    family,
                    scope,
                    refresh_token,
                })
            }
            Err(GrantError::Reused) => {
                self.truth.add(org, Count::ReuseDetected);
                if let Some(family) = self.refresh.get(token).map(|r| r.family) {
                    if family.revoke() {
                        self.truth.add(org, Count::FamiliesRevoked);
                    }
                }
                Err(GrantError::Reused)
            }
            Err(e) => Err(e),
        }
    }
}
