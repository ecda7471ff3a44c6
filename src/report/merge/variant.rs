//! One variant's numbers from every shard, joined: counts and histograms add, maxima take the maximum,
//! time series line up by wall clock, and everything derived (percentiles, means, conservation) is
//! computed again from the joined data rather than averaged.

use super::MergeError;
use crate::report::build::conservation;
use crate::report::histogram::{decode, encode, Percentiles};
use crate::report::messaging::MessagingReport;
use crate::report::model::*;
use crate::report::outcomes::Outcomes;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub(super) type Part<'a> = (&'a Path, &'a VariantReport);

pub fn merge(name: &str, parts: &[Part<'_>]) -> Result<VariantReport, MergeError> {
    let (_, first) = parts[0];
    let starts = parts
        .iter()
        .map(|(path, v)| {
            OffsetDateTime::parse(&v.started_at, &Rfc3339).map_err(|e| MergeError::Shape {
                path: path.to_path_buf(),
                first: parts[0].0.to_path_buf(),
                what: format!("variant {name}: started_at `{}`: {e}", v.started_at),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let earliest = starts
        .iter()
        .copied()
        .min()
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    // Seconds from the earliest shard's start to each shard's: where its time series begins.
    let shifts: Vec<f64> = starts
        .iter()
        .map(|s| (*s - earliest).as_seconds_f64())
        .collect();

    let requests = requests(name, parts)?;
    let endpoints = Endpoints {
        token: endpoint(name, parts, "token", |v| &v.endpoints.token)?,
        refresh: endpoint(name, parts, "refresh", |v| &v.endpoints.refresh)?,
        contacts: endpoint(name, parts, "contacts", |v| &v.endpoints.contacts)?,
    };
    let timeseries = super::series::merge(parts, &shifts);
    let refresh = refresh(name, parts, &endpoints, &timeseries)?;
    Ok(VariantReport {
        name: name.to_owned(),
        started_at: crate::report::rfc3339(earliest),
        client: first.client.clone(),
        planned_duration_s: first.planned_duration_s,
        elapsed_s: parts
            .iter()
            .zip(&shifts)
            .map(|((_, v), shift)| v.elapsed_s + shift)
            .fold(0.0, f64::max),
        rate_per_s: parts.iter().map(|(_, v)| v.rate_per_s).sum(),
        stopped_early: parts.iter().any(|(_, v)| v.stopped_early),
        conservation: conservation(&requests, &endpoints.contacts),
        requests,
        endpoints,
        steps: super::steps::merge(name, parts)?,
        phases: phases(name, parts)?,
        stages: stages(name, parts)?,
        tenants: tenants(name, parts)?,
        expiry_lens: lens(parts.iter().map(|(_, v)| &v.expiry_lens)),
        expiry_lens_by_claim: claim_lens(parts),
        refresh,
        sessions: SessionsReport::merge(
            parts.iter().filter_map(|(_, v)| v.sessions.as_ref()),
            first.planned_duration_s,
            &timeseries,
        ),
        messaging: messaging(name, parts, &shifts, &timeseries)?,
        timeseries,
        truth: truth(parts),
    })
}

/// The shards' messaging blocks on one clock: each shifted by its start, in whole buckets.
fn messaging(
    name: &str,
    parts: &[Part<'_>],
    shifts: &[f64],
    series: &TimeSeries,
) -> Result<Option<MessagingReport>, MergeError> {
    let blocks = parts.iter().zip(shifts).filter_map(|((_, v), shift)| {
        let block = v.messaging.as_ref()?;
        let width = block.bucket_s.max(f64::MIN_POSITIVE);
        Some((block, (shift / width).round() as usize))
    });
    MessagingReport::merge(blocks, series).map_err(|reason| MergeError::Histogram {
        path: parts[0].0.to_path_buf(),
        variant: name.to_owned(),
        field: "messaging".into(),
        reason,
    })
}

/// Adds encoded histograms; `None` when no shard had one. Corrupt data names the file and field.
fn add_histograms<'a>(
    name: &str,
    field: &str,
    encoded: impl Iterator<Item = (&'a Path, Option<&'a String>)>,
) -> Result<Option<Histogram<u64>>, MergeError> {
    let mut sum: Option<Histogram<u64>> = None;
    for (path, text) in encoded {
        let Some(text) = text else { continue };
        let h = decode(text).map_err(|e| MergeError::Histogram {
            path: path.to_path_buf(),
            variant: name.to_owned(),
            field: field.to_owned(),
            reason: e.to_string(),
        })?;
        let into = sum.get_or_insert_with(crate::metrics::latency::new_histogram);
        // Auto-resizing histograms take any value, so adding cannot run out of range.
        let _ = into.add(&h);
    }
    Ok(sum)
}

fn outcomes<'a>(all: impl Iterator<Item = &'a Outcomes>) -> Outcomes {
    let mut sum = Outcomes::default();
    for o in all {
        sum.add(o);
    }
    sum
}

fn requests(name: &str, parts: &[Part<'_>]) -> Result<Requests, MergeError> {
    let latency = add_histograms(
        name,
        "requests.latency_histogram",
        parts
            .iter()
            .map(|(p, v)| (*p, v.requests.latency_histogram.as_ref())),
    )?;
    let lateness = add_histograms(
        name,
        "requests.pacer_lateness_histogram",
        parts
            .iter()
            .map(|(p, v)| (*p, v.requests.pacer_lateness_histogram.as_ref())),
    )?;
    let service = add_histograms(
        name,
        "requests.service_time_histogram",
        parts
            .iter()
            .map(|(p, v)| (*p, v.requests.service_time_histogram.as_ref())),
    )?;
    let token_time = add_histograms(
        name,
        "requests.token_time_histogram",
        parts
            .iter()
            .map(|(p, v)| (*p, v.requests.token_time_histogram.as_ref())),
    )?;
    let mut counts = RequestCounts::default();
    for (_, v) in parts {
        counts.add(&v.requests.counts);
    }
    Ok(Requests {
        counts,
        latency_ms: Percentiles::of(latency.as_ref()),
        latency_histogram: latency.as_ref().map(encode),
        pacer_lateness_ms: Percentiles::of(lateness.as_ref()),
        pacer_lateness_histogram: lateness.as_ref().map(encode),
        service_time_ms: Percentiles::of(service.as_ref()),
        service_time_histogram: service.as_ref().map(encode),
        token_time_ms: Percentiles::of(token_time.as_ref()),
        token_time_histogram: token_time.as_ref().map(encode),
    })
}

fn endpoint(
    name: &str,
    parts: &[Part<'_>],
    label: &str,
    pick: fn(&VariantReport) -> &EndpointReport,
) -> Result<EndpointReport, MergeError> {
    let reports: Vec<(&Path, &EndpointReport)> = parts.iter().map(|(p, v)| (*p, pick(v))).collect();
    endpoint_of(name, label, &reports)
}

/// Orgs are disjoint across shards, so every shard's busiest orgs compete for the merged top; those
/// that lose join the "other" aggregate, histograms and all, so nothing is lost or counted twice.
fn tenants(name: &str, parts: &[Part<'_>]) -> Result<Tenants, MergeError> {
    let top_limit = parts
        .iter()
        .map(|(_, v)| v.tenants.top_limit)
        .max()
        .unwrap_or(0);
    let mut ranked: Vec<(&Path, &TenantView)> = parts
        .iter()
        .flat_map(|(p, v)| v.tenants.top.iter().map(move |t| (*p, t)))
        .collect();
    ranked.sort_by_key(|(_, t)| (std::cmp::Reverse(t.calls), t.org));
    let rest = ranked.split_off((top_limit as usize).min(ranked.len()));
    let others: Vec<(&Path, &TenantView)> = parts
        .iter()
        .map(|(p, v)| (*p, &v.tenants.other))
        .chain(rest)
        .collect();
    let histogram = add_histograms(
        name,
        "tenants.other.histogram",
        others.iter().map(|(p, t)| (*p, t.histogram.as_ref())),
    )?;
    let (calls, unauthorized) = others
        .iter()
        .fold((0, 0), |(c, u), (_, t)| (c + t.calls, u + t.unauthorized));
    let other = crate::report::build::tenant_view(None, calls, unauthorized, histogram.as_ref());
    let worst = parts
        .iter()
        .flat_map(|(_, v)| v.tenants.worst_unauthorized.iter().cloned());
    Ok(Tenants {
        top: ranked.into_iter().map(|(_, t)| t.clone()).collect(),
        other,
        worst_unauthorized: crate::report::build::worst_unauthorized(worst),
        top_limit,
    })
}

/// Contacts calls by token phase: a phase absent from a shard had no calls there.
fn phases(name: &str, parts: &[Part<'_>]) -> Result<BTreeMap<String, EndpointReport>, MergeError> {
    let mut keys: Vec<&String> = parts.iter().flat_map(|(_, v)| v.phases.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let reports: Vec<(&Path, &EndpointReport)> = parts
                .iter()
                .filter_map(|(p, v)| Some((*p, v.phases.get(key)?)))
                .collect();
            Ok((
                key.clone(),
                endpoint_of(name, &format!("phases.{key}"), &reports)?,
            ))
        })
        .collect()
}

/// Stages line up by index: every shard ran the same profile, so the same stages.
fn stages(name: &str, parts: &[Part<'_>]) -> Result<Vec<StageReport>, MergeError> {
    let (first_path, first) = parts[0];
    for (path, v) in parts {
        let same = v.stages.len() == first.stages.len()
            && v.stages
                .iter()
                .zip(&first.stages)
                .all(|(a, b)| a.name == b.name && a.start_s == b.start_s && a.end_s == b.end_s);
        if !same {
            return Err(MergeError::Shape {
                path: path.to_path_buf(),
                first: first_path.to_path_buf(),
                what: format!("variant {name}: the stages differ"),
            });
        }
    }
    first
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let endpoint = |label: &str, pick: fn(&Endpoints) -> &EndpointReport| {
                let reports: Vec<(&Path, &EndpointReport)> = parts
                    .iter()
                    .map(|(p, v)| (*p, pick(&v.stages[i].endpoints)))
                    .collect();
                endpoint_of(name, &format!("stages.{}.{label}", stage.name), &reports)
            };
            Ok(StageReport {
                endpoints: Endpoints {
                    token: endpoint("token", |e| &e.token)?,
                    refresh: endpoint("refresh", |e| &e.refresh)?,
                    contacts: endpoint("contacts", |e| &e.contacts)?,
                },
                ..stage.clone()
            })
        })
        .collect()
}

pub(super) fn endpoint_of(
    name: &str,
    label: &str,
    parts: &[(&Path, &EndpointReport)],
) -> Result<EndpointReport, MergeError> {
    let mut keys: Vec<&String> = parts
        .iter()
        .flat_map(|(_, e)| e.histograms.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut histograms = BTreeMap::new();
    let mut all = crate::metrics::latency::new_histogram();
    for key in keys {
        let field = format!("endpoints.{label}.histograms.{key}");
        let encoded = parts.iter().map(|(p, e)| (*p, e.histograms.get(key)));
        if let Some(h) = add_histograms(name, &field, encoded)? {
            let _ = all.add(&h);
            histograms.insert(key.clone(), encode(&h));
        }
    }
    let outcomes = outcomes(parts.iter().map(|(_, e)| &e.outcomes));
    // Counted where every shard counted them (reports before the field have none to add).
    let stale_connection_resends = parts
        .iter()
        .map(|(_, e)| e.stale_connection_resends)
        .sum::<Option<u64>>();
    Ok(EndpointReport {
        requests: outcomes.total(),
        outcomes,
        latency_ms: Percentiles::of(Some(&all)),
        histograms,
        stale_connection_resends,
    })
}

/// The lens on the issuer's clock: the shards that have one add; absent when none has.
fn claim_lens(parts: &[Part<'_>]) -> Option<ExpiryLens> {
    let mut with = parts
        .iter()
        .filter_map(|(_, v)| v.expiry_lens_by_claim.as_ref())
        .peekable();
    with.peek()?;
    Some(lens(with))
}

/// Lenses added bin by bin; `lenses` holds at least one.
pub(in crate::report) fn lens<'a>(
    lenses: impl Iterator<Item = &'a ExpiryLens> + Clone,
) -> ExpiryLens {
    let mut bins: BTreeMap<i64, LensBin> = BTreeMap::new();
    let mut bin_width_s = 1.0;
    for l in lenses.clone() {
        bin_width_s = l.bin_width_s;
        for b in &l.bins {
            let bin = bins.entry(b.offset_s).or_insert_with(|| LensBin {
                offset_s: b.offset_s,
                outcomes: Outcomes::default(),
                refreshes: 0,
                refresh_outcomes: Outcomes::default(),
            });
            bin.outcomes.add(&b.outcomes);
            bin.refreshes += b.refreshes;
            bin.refresh_outcomes.add(&b.refresh_outcomes);
        }
    }
    let sum = |f: fn(&ExpiryLens) -> u64| lenses.clone().map(f).sum();
    ExpiryLens {
        bin_width_s,
        bins: bins.into_values().collect(),
        before: outcomes(lenses.clone().map(|l| &l.before)),
        after: outcomes(lenses.clone().map(|l| &l.after)),
        refreshes_before: sum(|l| l.refreshes_before),
        refreshes_after: sum(|l| l.refreshes_after),
    }
}

fn refresh(
    name: &str,
    parts: &[Part<'_>],
    endpoints: &Endpoints,
    series: &TimeSeries,
) -> Result<Refresh, MergeError> {
    let each = || parts.iter().map(|(_, v)| &v.refresh);
    // Orgs are disjoint across shards, so per-org maxima carry over unchanged; `max` only matters if
    // the same org shows up twice, which the shard plan rules out.
    let union_max = |pick: fn(&Refresh) -> &BTreeMap<String, u64>| {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for r in each() {
            for (org, m) in pick(r) {
                let e = out.entry(org.clone()).or_default();
                *e = (*e).max(*m);
            }
        }
        out
    };
    let mut invalid_grant_by_org: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_generation: BTreeMap<u64, u64> = BTreeMap::new();
    for r in each() {
        for (org, n) in &r.invalid_grant_by_org {
            *invalid_grant_by_org.entry(org.clone()).or_default() += n;
        }
        for (size, n) in &r.per_generation {
            // Keys were written from integers; a key that is not one is left out rather than guessed.
            if let Ok(size) = size.parse::<u64>() {
                *per_generation.entry(size).or_default() += n;
            }
        }
    }
    let g = crate::report::build::generation_stats(&per_generation);
    let wait = add_histograms(
        name,
        "refresh.wait_histogram",
        parts
            .iter()
            .map(|(p, v)| (*p, v.refresh.wait_histogram.as_ref())),
    )?;
    let width = series.bucket_s.max(1.0);
    let token_peak = series
        .buckets
        .iter()
        .map(|b| ((b.token.total() + b.refresh.total()) as f64 / width).ceil() as u64)
        .max()
        .unwrap_or(0);
    let max_in_flight_by_org = union_max(|r| &r.max_in_flight_by_org);
    Ok(Refresh {
        attempts: endpoints.refresh.requests,
        first_tokens: endpoints.token.requests,
        max_in_flight_per_org: each().map(|r| r.max_in_flight_per_org).max().unwrap_or(0),
        max_in_flight_by_org,
        contended_orgs: union_max(|r| &r.contended_orgs),
        invalid_grant_by_org,
        generations: g.count,
        per_generation_max: g.max,
        per_generation_mean: g.mean,
        per_generation: g.by_size,
        background: each().map(|r| r.background).sum(),
        token_endpoint_peak_per_s: token_peak,
        waiter_timeouts: each().map(|r| r.waiter_timeouts).sum(),
        unauthorized_after_refresh_ms: each()
            .filter_map(|r| r.unauthorized_after_refresh_ms)
            .reduce(f64::max),
        waits: each().map(|r| r.waits).sum(),
        wait_ms: Percentiles::of(wait.as_ref()),
        wait_histogram: wait.as_ref().map(encode),
    })
}

/// Each shard's own target counts (shards that each ran an embedded target): the checks add up.
/// Absent when any shard has none (a shared `serve`, whose counts are not per shard).
fn truth(parts: &[Part<'_>]) -> Option<Truth> {
    let mut server: BTreeMap<String, u64> = BTreeMap::new();
    let mut checks: Vec<TruthCheck> = Vec::new();
    for (_, v) in parts {
        let t = v.truth.as_ref()?;
        for (k, n) in &t.server {
            *server.entry(k.clone()).or_default() += n;
        }
        for c in &t.checks {
            match checks.iter_mut().find(|x| x.what == c.what) {
                Some(x) => {
                    x.client += c.client;
                    x.server += c.server;
                }
                None => checks.push(c.clone()),
            }
        }
    }
    for c in &mut checks {
        c.equal = c.client == c.server;
    }
    Some(Truth {
        ok: checks.iter().all(|c| c.equal),
        server,
        checks,
    })
}
