//! Rate limits: per access token on the API (platform: 300/min) and the token endpoints' capacity.

use super::auth::claimed_org;
use super::config::Config;
use super::correlation::Corr;
use super::errors::ApiError;
use super::state::Shared;
use super::truth::Count;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

type TokenLimiter =
    RateLimiter<u64, DefaultKeyedStateStore<u64>, DefaultClock, StateInformationMiddleware>;

pub(crate) struct Limits {
    per_token: Option<PerToken>,
    token_rate: Option<DefaultDirectRateLimiter>,
    token_concurrency: Option<Arc<Semaphore>>,
}

struct PerToken {
    limiter: TokenLimiter,
    allowed: u32,
    replenish: Duration,
}

/// What the `inin-ratelimit-*` headers report for one allowed request.
pub(crate) struct RateInfo {
    pub allowed: u32,
    pub count: u32,
    pub reset_secs: u64,
}

impl RateInfo {
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert("inin-ratelimit-allowed", self.allowed.into());
        headers.insert("inin-ratelimit-count", self.count.into());
        headers.insert("inin-ratelimit-reset", self.reset_secs.into());
    }
}

/// A quota of `per_second` with a burst of `window` worth of requests; `None` for a zero or absurd rate.
fn quota(per_second: f64, window: Duration) -> Option<(Quota, u32)> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let burst = (per_second * window.as_secs_f64())
        .round()
        .clamp(1.0, f64::from(u32::MAX)) as u32;
    let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
    Some((quota, burst))
}

impl Limits {
    pub fn new(config: &Config) -> Limits {
        // The platform counts per minute, so a token may spend a minute's worth at once.
        let per_token = config
            .per_token_rate
            .and_then(|r| quota(r, Duration::from_secs(60)))
            .map(|(q, burst)| PerToken {
                limiter: RateLimiter::keyed(q).with_middleware::<StateInformationMiddleware>(),
                allowed: burst,
                replenish: q.replenish_interval(),
            });
        let token_rate = config
            .token_capacity
            .per_second
            .and_then(|r| quota(r, Duration::from_secs(1)))
            .map(|(q, _)| RateLimiter::direct(q));
        Limits {
            per_token,
            token_rate,
            token_concurrency: config
                .token_capacity
                .concurrent
                .map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// Spends one request of the token's budget: `Ok(None)` when unlimited, `Err(retry_after_secs)` when
    /// the budget is spent.
    pub fn check_token(&self, jti: u64) -> Result<Option<RateInfo>, u64> {
        let Some(p) = &self.per_token else {
            return Ok(None);
        };
        match p.limiter.check_key(&jti) {
            Ok(snapshot) => {
                let count = p.allowed - snapshot.remaining_burst_capacity().min(p.allowed);
                let reset = (p.replenish * count).as_secs_f64().ceil() as u64;
                Ok(Some(RateInfo {
                    allowed: p.allowed,
                    count,
                    reset_secs: reset,
                }))
            }
            Err(not_until) => Err(retry_after(
                not_until.wait_time_from(p.limiter.clock().now()),
            )),
        }
    }

    /// Drops the limiter state of tokens that have been quiet long enough to be back at full budget.
    pub fn sweep(&self) {
        if let Some(p) = &self.per_token {
            p.limiter.retain_recent();
        }
    }
}

fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// Token-endpoint capacity: requests per second and requests in flight; beyond either, 429 at once.
pub(crate) async fn token_capacity(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let refuse = |retry: u64, request: &Request| {
        let org = claimed_org(&state, request.headers());
        state.truth.add(org, Count::TokenRateLimited);
        let corr = request
            .extensions()
            .get::<Corr>()
            .map(Corr::as_str)
            .unwrap_or_default();
        ApiError::rate_limited(retry).into_response(state.error_style, corr)
    };
    if let Some(rate) = &limits.token_rate {
        if let Err(not_until) = rate.check() {
            return refuse(
                retry_after(not_until.wait_time_from(rate.clock().now())),
                &request,
            );
        }
    }
    let _permit = match &limits.token_concurrency {
        Some(sem) => match sem.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return refuse(1, &request),
        },
        None => None,
    };
    next.run(request).await
}
