//! Turns what the recorder measured for one variant into its section of the report.

use super::histogram::{encode, Percentiles};
use super::model::*;
use super::outcomes::Outcomes;
use crate::metrics::latency::new_histogram;
use crate::metrics::lens::LensSnapshot;
use crate::metrics::Snapshot;
use crate::plan::{ClientModel, Coalescing, Load, RefreshTrigger};
use crate::profile::schema;
use crate::vocabulary::Phase;
use crate::vocabulary::{Endpoint, Outcome};
use std::collections::BTreeMap;

mod server;
mod steps;
mod tenants;
pub use server::server_settings;
use steps::steps;
use tenants::tenants;
pub use tenants::{view as tenant_view, worst_unauthorized, WORST_ORGS};

pub fn variant(
    model: &ClientModel,
    load: &Load,
    snap: &Snapshot,
    stopped_early: bool,
) -> VariantReport {
    let endpoint = |e: Endpoint| endpoint_report(snap, e);
    let endpoints = Endpoints {
        token: endpoint(Endpoint::Token),
        refresh: endpoint(Endpoint::Refresh),
        contacts: endpoint(Endpoint::Contacts),
    };
    let requests = Requests {
        counts: snap.requests,
        latency_ms: Percentiles::of(snap.latency.requests.as_ref()),
        latency_histogram: snap.latency.requests.as_ref().map(encode),
        pacer_lateness_ms: Percentiles::of(snap.latency.lateness.as_ref()),
        pacer_lateness_histogram: snap.latency.lateness.as_ref().map(encode),
        service_time_ms: Percentiles::of(snap.latency.service.as_ref()),
        service_time_histogram: snap.latency.service.as_ref().map(encode),
        token_time_ms: Percentiles::of(snap.latency.token_time.as_ref()),
        token_time_histogram: snap.latency.token_time.as_ref().map(encode),
    };
    let conservation = conservation(&requests, &endpoints.contacts);
    let timeseries = timeseries(snap);
    VariantReport {
        name: model.name.clone(),
        // The caller knows the wall clock; the recorder only knows monotonic instants.
        started_at: String::new(),
        client: client_info(model),
        planned_duration_s: load.duration.as_secs_f64(),
        elapsed_s: snap.elapsed.as_secs_f64(),
        rate_per_s: load.rate_per_second,
        stopped_early,
        refresh: refresh(snap, &endpoints),
        requests,
        endpoints,
        steps: steps(load, snap),
        phases: phases(snap),
        stages: stages(load, snap),
        tenants: tenants(&snap.tenants, &snap.latency.by_tenant, load.top_orgs),
        expiry_lens: lens(&snap.lens),
        expiry_lens_by_claim: lens_if_placed(&snap.claim_lens),
        sessions: snap
            .sessions
            .as_ref()
            .and_then(|sessions| super::sessions::build(sessions, load, &timeseries)),
        messaging: snap
            .messaging
            .as_ref()
            .map(|m| super::messaging::build(m, model.reconnect, timeseries.bucket_s, &timeseries)),
        timeseries,
        conservation,
        truth: None,
    }
}

fn timeseries(snap: &Snapshot) -> TimeSeries {
    let mut series = TimeSeries {
        bucket_s: snap.series_width.as_secs_f64(),
        buckets: snap
            .series
            .iter()
            .enumerate()
            .map(|(i, b)| Bucket {
                t_s: b.start_s,
                scheduled: b.scheduled,
                dropped: b.dropped,
                contacts: Outcomes(b.attempts[Endpoint::Contacts.index()]),
                token: Outcomes(b.attempts[Endpoint::Token.index()]),
                refresh: Outcomes(b.attempts[Endpoint::Refresh.index()]),
                refreshes_in_flight_max: b.refreshes_in_flight_max,
                requests_in_flight_max: b.requests_in_flight_max,
                session_arrivals: b.session_arrivals,
                session_ends: b.session_ends,
                active_sessions: 0,
                latency_histogram: snap
                    .latency
                    .per_bucket
                    .get(i)
                    .and_then(Option::as_ref)
                    .map(encode),
            })
            .collect(),
    };
    super::sessions::fill_active(&mut series.buckets);
    series
}

pub(super) fn lens(l: &LensSnapshot) -> ExpiryLens {
    ExpiryLens {
        bin_width_s: 1.0,
        bins: l
            .bins
            .iter()
            .zip(&l.refreshes)
            .zip(&l.refresh_outcomes)
            .map(|(((offset_s, counts), refreshes), ended)| LensBin {
                offset_s: *offset_s,
                outcomes: Outcomes(*counts),
                refreshes: *refreshes,
                refresh_outcomes: Outcomes(*ended),
            })
            .collect(),
        before: Outcomes(l.before),
        after: Outcomes(l.after),
        refreshes_before: l.refreshes_before,
        refreshes_after: l.refreshes_after,
    }
}

/// A lens that may hold nothing (the issuer's clock when no token carried an `exp` claim, the
/// sockets' when no frame carried a JWT): `None` then.
pub(super) fn lens_if_placed(l: &LensSnapshot) -> Option<ExpiryLens> {
    let placed = l.bins.iter().flat_map(|(_, counts)| counts).sum::<u64>()
        + l.before.iter().sum::<u64>()
        + l.after.iter().sum::<u64>();
    (placed > 0).then(|| lens(l))
}

fn endpoint_report(snap: &Snapshot, e: Endpoint) -> EndpointReport {
    EndpointReport {
        stale_connection_resends: Some(snap.stale_resends[e.index()]),
        ..outcome_report(
            &snap.latency.by_endpoint[e.index()],
            Outcomes(snap.attempts[e.index()]),
        )
    }
}

/// The calls sent in each stage; counts come from the histograms, which record every call once.
fn stages(load: &Load, snap: &Snapshot) -> Vec<StageReport> {
    let empty = crate::metrics::latency::ByEndpoint::default();
    load.stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let by = snap.latency.by_stage.get(i).unwrap_or(&empty);
            let endpoint = |e: Endpoint| {
                let rows = &by[e.index()];
                let counts = Outcomes(std::array::from_fn(|o| {
                    rows[o].as_ref().map_or(0, |h| h.len())
                }));
                outcome_report(rows, counts)
            };
            StageReport {
                name: stage.name.clone(),
                start_s: stage.start.as_secs_f64(),
                end_s: stage.end.as_secs_f64(),
                from_per_s: stage.from_per_s,
                to_per_s: stage.to_per_s,
                endpoints: Endpoints {
                    token: endpoint(Endpoint::Token),
                    refresh: endpoint(Endpoint::Refresh),
                    contacts: endpoint(Endpoint::Contacts),
                },
            }
        })
        .collect()
}

fn phases(snap: &Snapshot) -> BTreeMap<String, EndpointReport> {
    Phase::ALL
        .iter()
        .map(|p| {
            let counts = Outcomes(snap.by_phase[p.index()]);
            (p, outcome_report(&snap.latency.by_phase[p.index()], counts))
        })
        .filter(|(_, r)| r.requests > 0)
        .map(|(p, r)| (p.name().to_owned(), r))
        .collect()
}

pub(super) fn outcome_report(
    by_outcome: &[Option<hdrhistogram::Histogram<u64>>; Outcome::COUNT],
    outcomes: Outcomes,
) -> EndpointReport {
    let mut all = new_histogram();
    let mut histograms = BTreeMap::new();
    for o in Outcome::ALL {
        if let Some(h) = &by_outcome[o.index()] {
            // Both histograms auto-resize, so adding cannot run out of range.
            let _ = all.add(h);
            histograms.insert(o.name().to_owned(), encode(h));
        }
    }
    EndpointReport {
        requests: outcomes.total(),
        outcomes,
        latency_ms: Percentiles::of(Some(&all)),
        histograms,
        stale_connection_resends: None,
    }
}

/// Refreshes per token generation, from herd sizes (size -> how many generations drew that many).
pub struct GenerationStats {
    pub count: u64,
    pub max: u64,
    pub mean: f64,
    pub by_size: BTreeMap<String, u64>,
}

pub fn generation_stats(herds: &BTreeMap<u64, u64>) -> GenerationStats {
    let count: u64 = herds.values().sum();
    let refreshes: u64 = herds.iter().map(|(size, n)| size * n).sum();
    GenerationStats {
        count,
        max: herds.keys().copied().max().unwrap_or(0),
        mean: if count == 0 {
            0.0
        } else {
            refreshes as f64 / count as f64
        },
        by_size: herds
            .iter()
            .map(|(size, n)| (size.to_string(), *n))
            .collect(),
    }
}

fn refresh(snap: &Snapshot, endpoints: &Endpoints) -> Refresh {
    let g = generation_stats(&snap.contention.herds);
    let per_org = &snap.contention.max_in_flight_per_org;
    Refresh {
        attempts: endpoints.refresh.requests,
        first_tokens: endpoints.token.requests,
        max_in_flight_per_org: per_org.iter().copied().max().unwrap_or(0),
        max_in_flight_by_org: per_org
            .iter()
            .enumerate()
            .filter(|(_, &m)| m > 0)
            .map(|(i, &m)| (i.to_string(), m))
            .collect(),
        contended_orgs: per_org
            .iter()
            .enumerate()
            .filter(|(_, &m)| m > 1)
            .map(|(i, &m)| (i.to_string(), m))
            .collect(),
        invalid_grant_by_org: snap
            .contention
            .invalid_grant_per_org
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i.to_string(), n))
            .collect(),
        generations: g.count,
        per_generation_max: g.max,
        per_generation_mean: g.mean,
        per_generation: g.by_size,
        background: snap.background_refreshes,
        token_endpoint_peak_per_s: token_peak(snap),
        waiter_timeouts: snap.waiter_timeouts,
        unauthorized_after_refresh_ms: snap
            .unauthorized_after_refresh
            .map(|d| d.as_secs_f64() * 1000.0),
        waits: snap.refresh_waits,
        wait_ms: Percentiles::of(snap.latency.refresh_wait.as_ref()),
        wait_histogram: snap.latency.refresh_wait.as_ref().map(encode),
    }
}

pub(crate) fn conservation(requests: &Requests, contacts: &EndpointReport) -> Conservation {
    let scheduled = requests.scheduled == requests.sent + requests.dropped;
    let sent = requests.sent == requests.outcomes.total() + requests.unfinished;
    let upper = (requests.sent - requests.no_token.min(requests.sent)) + requests.retries;
    // An unfinished request may have stopped before its API call, so only the bound holds then.
    let calls = if requests.unfinished == 0 {
        contacts.requests == upper
    } else {
        contacts.requests <= upper
    };
    Conservation {
        scheduled_is_sent_plus_dropped: scheduled,
        sent_is_finished_plus_unfinished: sent,
        contacts_calls_match_requests: calls,
        ok: scheduled && sent && calls,
    }
}

/// Token-endpoint calls per second at the busiest bucket (buckets wider than 1 s are averaged).
fn token_peak(snap: &Snapshot) -> u64 {
    let width = snap.series_width.as_secs_f64().max(1.0);
    snap.series
        .iter()
        .map(|b| {
            let calls: u64 = [Endpoint::Token, Endpoint::Refresh]
                .iter()
                .map(|e| b.attempts[e.index()].iter().sum::<u64>())
                .sum();
            (calls as f64 / width).ceil() as u64
        })
        .max()
        .unwrap_or(0)
}

fn client_info(m: &ClientModel) -> ClientInfo {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let (trigger, margin_s, advisory_s, fraction) = match m.trigger {
        RefreshTrigger::Reactive => (Trigger::Reactive, None, None, None),
        RefreshTrigger::Margin { margin } => (Trigger::Margin, Some(secs(margin)), None, None),
        RefreshTrigger::Fraction { fraction } => (Trigger::Fraction, None, None, Some(fraction)),
        RefreshTrigger::TwoWindow {
            advisory,
            mandatory,
        } => (
            Trigger::TwoWindow,
            Some(secs(mandatory)),
            Some(secs(advisory)),
            None,
        ),
    };
    let (coalesce, wait_timeout_s, lock_ttl_s) = match m.coalesce {
        Coalescing::None => (Coalesce::None, None, None),
        Coalescing::SingleFlight { wait_timeout, .. } => {
            (Coalesce::SingleFlight, Some(secs(wait_timeout)), None)
        }
        Coalescing::Lock { ttl, wait_timeout } => {
            (Coalesce::Lock, Some(secs(wait_timeout)), Some(secs(ttl)))
        }
    };
    ClientInfo {
        preset: m.preset.clone(),
        description: m.description.clone(),
        token_scope: match m.scope {
            schema::TokenScope::Org => TokenScope::Org,
            schema::TokenScope::Session => TokenScope::Session,
        },
        trigger,
        margin_s,
        advisory_s,
        fraction,
        jitter_s: secs(m.jitter),
        early_expiry_s: secs(m.early_expiry),
        coalesce,
        wait_timeout_s,
        lock_ttl_s,
        retries_on_401: m.retries_on_401,
        retries_on_429: m.retries_on_429,
        honor_retry_after: m.honor_retry_after,
        check_saved_expiry: m.check_saved_expiry,
        refresh_grant: match m.refresh_grant {
            schema::RefreshGrant::RefreshToken => RefreshGrant::RefreshToken,
            schema::RefreshGrant::ClientCredentials => RefreshGrant::ClientCredentials,
        },
        partner_credentials: match m.partner_credentials {
            schema::PartnerCredentials::Own => PartnerCredentials::Own,
            schema::PartnerCredentials::Primary => PartnerCredentials::Primary,
        },
        clock_skew_ms: m.clock_skew_ms,
    }
}
