//! Injected latency, 5xx answers, connection resets and stalls per endpoint family, drawn from the seed.

use super::config::{Faults, Latency};
use super::correlation::Corr;
use super::errors::ApiError;
use super::state::{mix, Shared};
use super::truth::Count;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// The fault schedule of one endpoint family. Draw `n` depends only on the seed, the family and `n`, so the
/// same seed and the same request order give the same faults, without shared RNG state.
pub(crate) struct FaultPlan {
    faults: Faults,
    salt: u64,
    arrivals: AtomicU64,
    counters: FamilyCounters,
}

/// Which truth counters a family's injected answers go to.
#[derive(Clone, Copy)]
pub(crate) struct FamilyCounters {
    pub server_error: Count,
    pub reset: Count,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fate {
    /// Processed after `delay`.
    Pass { delay: Duration },
    /// Answered 500 (or 503) after `delay`, without being processed.
    Error { delay: Duration, unavailable: bool },
    /// Connection closed without a response after `delay`.
    Reset { delay: Duration },
}

impl FaultPlan {
    pub fn new(faults: Faults, seed: u64, family: u64, counters: FamilyCounters) -> FaultPlan {
        FaultPlan {
            faults,
            salt: mix(seed ^ mix(family)),
            arrivals: AtomicU64::new(0),
            counters,
        }
    }

    pub fn is_quiet(&self) -> bool {
        let f = &self.faults;
        f.latency == Latency::None
            && f.error_rate <= 0.0
            && f.reset_rate <= 0.0
            && f.stall_rate <= 0.0
            && f.pause.is_none()
    }

    /// How long a request arriving `since_start` into the server's life waits for the pause it falls in.
    pub fn paused_for(&self, since_start: Duration) -> Duration {
        let Some((every, length)) = self.faults.pause else {
            return Duration::ZERO;
        };
        if every.is_zero() {
            return Duration::ZERO;
        }
        let into = Duration::from_nanos((since_start.as_nanos() % every.as_nanos()) as u64);
        length.saturating_sub(into)
    }

    /// A uniform draw in [0, 1) for arrival `n`, stream `k`.
    fn unit(&self, n: u64, k: u64) -> f64 {
        (mix(self.salt ^ n.wrapping_mul(4).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn fate(&self, n: u64) -> Fate {
        let f = &self.faults;
        let mut delay = draw(f.latency, 1.0 - self.unit(n, 0), self.unit(n, 1));
        let u = self.unit(n, 2);
        let (error, reset, stall) = (f.error_rate, f.reset_rate, f.stall_rate);
        if u < error {
            Fate::Error {
                delay,
                unavailable: self.unit(n, 3) < 0.5,
            }
        } else if u < error + reset {
            Fate::Reset { delay }
        } else {
            if u < error + reset + stall {
                delay += f.stall;
            }
            Fate::Pass { delay }
        }
    }
}

/// A latency drawn from two independent uniforms, `u1` in (0, 1] and `u2` in [0, 1).
pub(crate) fn draw(latency: Latency, u1: f64, u2: f64) -> Duration {
    match latency {
        Latency::None => Duration::ZERO,
        Latency::Fixed(d) => d,
        Latency::LogNormal { p50, p99 } => {
            let mu = p50.as_secs_f64().max(1e-9).ln();
            let sigma = (p99.as_secs_f64().max(1e-9) / p50.as_secs_f64().max(1e-9))
                .ln()
                .max(0.0)
                / Z99;
            // Box-Muller; u1 is kept away from 0, so ln stays finite.
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            Duration::try_from_secs_f64((mu + sigma * z).exp()).unwrap_or(Duration::ZERO)
        }
    }
}

/// Applies the family's faults. The latency comes first and the decision after it, so a request whose client
/// gives up during the delay is neither processed nor counted, like a request still queued in a real server.
async fn apply(state: &Shared, plan: &FaultPlan, request: Request, next: Next) -> Response {
    if plan.is_quiet() {
        return next.run(request).await;
    }
    let n = plan.arrivals.fetch_add(1, Ordering::Relaxed);
    let fate = plan.fate(n);
    let delay = match fate {
        Fate::Pass { delay } | Fate::Error { delay, .. } | Fate::Reset { delay } => delay,
    } + plan.paused_for(state.clock.since_start());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fate {
        Fate::Pass { .. } => next.run(request).await,
        Fate::Error { unavailable, .. } => {
            state.truth.add(None, plan.counters.server_error);
            let corr = request
                .extensions()
                .get::<Corr>()
                .map(Corr::as_str)
                .unwrap_or_default();
            ApiError::server_error(unavailable).into_response(state.error_style, corr)
        }
        Fate::Reset { .. } => {
            state.truth.add(None, plan.counters.reset);
            Response::new(Body::new(Reset))
        }
    }
}

pub(crate) async fn token_faults(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    apply(&state, &state.token_faults, request, next).await
}

pub(crate) async fn contacts_faults(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    apply(&state, &state.contacts_faults, request, next).await
}

/// A body that fails before its first byte. hyper then drops the connection without flushing the
/// response head, so the client sees the connection close with no response at all.
struct Reset;

impl HttpBody for Reset {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(faults: Faults, seed: u64) -> FaultPlan {
        let counters = FamilyCounters {
            server_error: Count::ContactsServerError,
            reset: Count::ContactsReset,
        };
        FaultPlan::new(faults, seed, 1, counters)
    }

    #[test]
    fn the_same_seed_gives_the_same_fates_and_rates_come_out_right() {
        let faults = Faults {
            error_rate: 0.1,
            reset_rate: 0.05,
            ..Faults::default()
        };
        let fates = |seed| {
            (0..10_000)
                .map(|n| plan(faults, seed).fate(n))
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
        let errors = fates(7)
            .iter()
            .filter(|f| matches!(f, Fate::Error { .. }))
            .count();
        let resets = fates(7)
            .iter()
            .filter(|f| matches!(f, Fate::Reset { .. }))
            .count();
        assert!((850..1150).contains(&errors), "{errors}");
        assert!((380..620).contains(&resets), "{resets}");
    }

    #[test]
    fn log_normal_latency_hits_its_percentiles() {
        let latency = Latency::LogNormal {
            p50: Duration::from_millis(10),
            p99: Duration::from_millis(100),
        };
        let p = plan(
            Faults {
                latency,
                ..Faults::default()
            },
            3,
        );
        let mut delays: Vec<Duration> = (0..20_000)
            .map(|n| match p.fate(n) {
                Fate::Pass { delay } => delay,
                other => panic!("{other:?}"),
            })
            .collect();
        delays.sort();
        let (p50, p99) = (delays[10_000].as_secs_f64(), delays[19_800].as_secs_f64());
        assert!((0.009..0.011).contains(&p50), "{p50}");
        assert!((0.085..0.115).contains(&p99), "{p99}");
    }

    #[test]
    fn stalls_add_their_length() {
        let faults = Faults {
            stall_rate: 1.0,
            stall: Duration::from_secs(30),
            ..Faults::default()
        };
        assert_eq!(
            plan(faults, 1).fate(0),
            Fate::Pass {
                delay: Duration::from_secs(30)
            }
        );
    }
}
