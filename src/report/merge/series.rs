//! Time series of several shards on one clock: each shard's buckets shifted by when it started.

use super::variant::Part;
use crate::report::histogram::{decode, encode};
use crate::report::model::{Bucket, TimeSeries};
use crate::report::outcomes::Outcomes;
use std::collections::BTreeMap;

/// Buckets placed by wall clock: a shard that started `shift` seconds after the earliest one adds its
/// bucket `j` to bucket `j + round(shift / width)`. With `--start-at` the shifts are milliseconds and
/// round to zero.
pub fn merge(parts: &[Part<'_>], shifts: &[f64]) -> TimeSeries {
    let width = parts[0].1.timeseries.bucket_s;
    let mut buckets: BTreeMap<usize, Bucket> = BTreeMap::new();
    for ((_, v), shift) in parts.iter().zip(shifts) {
        let offset = if width > 0.0 {
            (shift / width).round() as usize
        } else {
            0
        };
        for (j, b) in v.timeseries.buckets.iter().enumerate() {
            let at = j + offset;
            let into = buckets
                .entry(at)
                .or_insert_with(|| empty(at as f64 * width));
            into.scheduled += b.scheduled;
            into.dropped += b.dropped;
            into.contacts.add(&b.contacts);
            into.token.add(&b.token);
            into.refresh.add(&b.refresh);
            // The largest shard's peak: the fleet's own peak lies between this and the sum of peaks.
            into.refreshes_in_flight_max =
                into.refreshes_in_flight_max.max(b.refreshes_in_flight_max);
            into.requests_in_flight_max = into.requests_in_flight_max.max(b.requests_in_flight_max);
            into.session_arrivals += b.session_arrivals;
            into.session_ends += b.session_ends;
            into.latency_histogram =
                add_encoded(into.latency_histogram.take(), b.latency_histogram.as_ref());
        }
    }
    // Gaps (no shard saw anything in a second) stay in the series as empty buckets, as in a single run.
    let len = buckets.keys().next_back().map_or(0, |last| last + 1);
    let mut buckets: Vec<Bucket> = (0..len)
        .map(|at| {
            buckets
                .remove(&at)
                .unwrap_or_else(|| empty(at as f64 * width))
        })
        .collect();
    crate::report::sessions::fill_active(&mut buckets);
    TimeSeries {
        bucket_s: width,
        buckets,
    }
}

/// Adds one bucket's encoded latency histogram to another. These only feed the latency-over-time chart,
/// so one that does not decode is left out of it rather than failing the merge (the run-wide
/// histograms, which the numbers come from, are checked strictly).
fn add_encoded(into: Option<String>, from: Option<&String>) -> Option<String> {
    let Some(from) = from else { return into };
    let Ok(from) = decode(from) else { return into };
    let mut sum = match into.as_deref().map(decode) {
        Some(Ok(h)) => h,
        _ => return Some(encode(&from)),
    };
    // Auto-resizing histograms take any value, so adding cannot run out of range.
    let _ = sum.add(&from);
    Some(encode(&sum))
}

fn empty(t_s: f64) -> Bucket {
    Bucket {
        t_s,
        scheduled: 0,
        dropped: 0,
        contacts: Outcomes::default(),
        token: Outcomes::default(),
        refresh: Outcomes::default(),
        refreshes_in_flight_max: 0,
        requests_in_flight_max: 0,
        session_arrivals: 0,
        session_ends: 0,
        active_sessions: 0,
        latency_histogram: None,
    }
}
