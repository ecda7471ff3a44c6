//! Load-dependent latency: a service station per endpoint family (`[server.service.*]`), so a knee
//! exists on the embedded target. Requests take the worker that frees up first; a worker serves one
//! at a time for a drawn service time; beyond the workers, requests queue in arrival order; beyond
//! the queue, they are refused at once with 503 (or the platform's 429).
//!
//! Each worker's time is booked ahead (a request's service starts when its worker's previous one
//! ends, by the book, not by when a timer happened to fire), so the station carries exactly
//! workers / mean service time per second whatever the timer's granularity; a late timer adds
//! latency to that one answer, not capacity lost. A request whose client gives up keeps its booked
//! time: the server did the work, as a real one does for a request already queued.

use super::auth::claimed_org;
use super::config::{Refusal, Service};
use super::correlation::Corr;
use super::errors::ApiError;
use super::faults::draw;
use super::state::{mix, Shared};
use super::truth::Count;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Which truth counters a family's station bumps.
#[derive(Clone, Copy)]
pub(crate) struct StationCounters {
    pub queued: Count,
    pub refused: Count,
    /// The outcome a refusal is, as the client counts it: 503s are server errors, 429s rate limits.
    pub unavailable: Count,
    pub rate_limited: Count,
}

pub(crate) struct Station {
    service: Service,
    salt: u64,
    arrivals: AtomicU64,
    book: Mutex<Book>,
    counters: StationCounters,
}

/// When each worker is next free, and when each queued request starts (in arrival order, so the
/// starts never decrease).
struct Book {
    free_at: BinaryHeap<Reverse<Instant>>,
    queued: VecDeque<Instant>,
}

/// A request's booked service: it starts at `start` and is answered at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    start: Instant,
    end: Instant,
}

impl Station {
    pub fn new(service: Service, seed: u64, family: u64, counters: StationCounters) -> Station {
        let now = Instant::now();
        Station {
            service,
            salt: mix(seed ^ mix(family ^ 0x5e41_11ce)),
            arrivals: AtomicU64::new(0),
            book: Mutex::new(Book {
                free_at: (0..service.workers.max(1)).map(|_| Reverse(now)).collect(),
                queued: VecDeque::new(),
            }),
            counters,
        }
    }

    /// The service time of arrival `n`, from the seed alone.
    fn service_time(&self, n: u64) -> Duration {
        let unit = |k: u64| {
            (mix(self.salt ^ n.wrapping_mul(2).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
        };
        draw(self.service.time, 1.0 - unit(0), unit(1))
    }

    /// Books a worker for a request arriving `now`; `None` when every worker is busy and the queue
    /// is full.
    fn admit(&self, now: Instant, time: Duration) -> Option<Slot> {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        while book.queued.front().is_some_and(|start| *start <= now) {
            book.queued.pop_front();
        }
        let Reverse(free) = *book.free_at.peek()?;
        let start = free.max(now);
        if start > now {
            if book.queued.len() >= self.service.queue {
                return None;
            }
            book.queued.push_back(start);
        }
        book.free_at.pop();
        book.free_at.push(Reverse(start + time));
        Some(Slot {
            start,
            end: start + time,
        })
    }
}

/// Serves a request through its family's station: it waits its turn and its service time, then
/// the handler answers.
pub(crate) async fn serve(
    state: &Shared,
    station: &Station,
    request: Request,
    next: Next,
) -> Response {
    let n = station.arrivals.fetch_add(1, Ordering::Relaxed);
    let time = station.service_time(n);
    let now = Instant::now();
    let Some(slot) = station.admit(now, time) else {
        return refuse(state, station, &request);
    };
    if slot.start > now {
        let org = claimed_org(state, request.headers());
        state.truth.add(org, station.counters.queued);
    }
    tokio::time::sleep_until(slot.end).await;
    next.run(request).await
}

fn refuse(state: &Shared, station: &Station, request: &Request) -> Response {
    let org = claimed_org(state, request.headers());
    let c = station.counters;
    state.truth.add(org, c.refused);
    let corr = request
        .extensions()
        .get::<Corr>()
        .map(Corr::as_str)
        .unwrap_or_default();
    let error = match station.service.refuse {
        Refusal::Unavailable => {
            state.truth.add(org, c.unavailable);
            ApiError::server_error(true)
        }
        Refusal::RateLimited => {
            state.truth.add(org, c.rate_limited);
            ApiError::rate_limited(1)
        }
    };
    error.into_response(state.error_style, corr)
}

pub(crate) async fn token_service(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    match &state.token_station {
        Some(station) => serve(&state, station, request, next).await,
        None => next.run(request).await,
    }
}

pub(crate) async fn contacts_service(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    match &state.contacts_station {
        Some(station) => serve(&state, station, request, next).await,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::config::Latency;

    const COUNTERS: StationCounters = StationCounters {
        queued: Count::ContactsQueued,
        refused: Count::ContactsRefused,
        unavailable: Count::ContactsServerError,
        rate_limited: Count::ContactsRateLimited,
    };

    fn station(workers: usize, queue: usize, time: Latency) -> Station {
        let service = Service {
            workers,
            time,
            queue,
            refuse: Refusal::Unavailable,
        };
        Station::new(service, 7, 2, COUNTERS)
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn workers_serve_at_once_then_requests_queue_then_they_are_refused() {
        let s = station(2, 3, Latency::Fixed(10 * MS));
        let t0 = Instant::now();
        let slots: Vec<Option<Slot>> = (0..6).map(|_| s.admit(t0, 10 * MS)).collect();
        let ends: Vec<Option<Duration>> = slots.iter().map(|s| s.map(|s| s.end - t0)).collect();
        let at = |ms: u32| Some(ms * MS);
        assert_eq!(ends, [at(10), at(10), at(20), at(20), at(30), None]);
        // At 10 ms two queued requests have started: the queue has room for two more.
        let later = t0 + 10 * MS;
        assert!(s.admit(later, 10 * MS).is_some());
        assert!(s.admit(later, 10 * MS).is_some());
        assert!(s.admit(later, 10 * MS).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_saturated_station_carries_workers_over_service_time_per_second() {
        // 4 workers of 10 ms: 400/s. Offered 1,000/s for a second, with room to queue all of it, the
        // last answer comes at 1000 / 400 = 2.5 s (plus the 3 ms by which the fourth worker started
        // after the first): capacity is exact, not a timer's.
        let s = station(4, usize::MAX, Latency::Fixed(10 * MS));
        let t0 = Instant::now();
        let last = (0..1000u32)
            .map(|i| s.admit(t0 + i * MS, 10 * MS).map(|s| s.end - t0))
            .max()
            .flatten();
        assert_eq!(last, Some(Duration::from_millis(2503)));
    }

    #[test]
    fn service_times_follow_the_seed_and_their_distribution() {
        let time = Latency::LogNormal {
            p50: 10 * MS,
            p99: 40 * MS,
        };
        let (a, b) = (station(1, 0, time), station(1, 0, time));
        let draws: Vec<Duration> = (0..10_000).map(|n| a.service_time(n)).collect();
        assert!((0..10_000).all(|n| b.service_time(n) == draws[n as usize]));
        let mut sorted = draws.clone();
        sorted.sort();
        // Quantiles of 10,000 draws sit within a few percent of the distribution's own.
        let (p50, p99) = (sorted[5_000], sorted[9_900]);
        assert!((p50.as_secs_f64() / 0.010 - 1.0).abs() < 0.05, "{p50:?}");
        assert!((p99.as_secs_f64() / 0.040 - 1.0).abs() < 0.10, "{p99:?}");
    }
}
