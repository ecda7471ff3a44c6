//! Buckets from the recorder's HdrHistograms: the classic bounds of each histogram family, and the
//! same observations in native (exponential) buckets for receivers that take them.

use crate::metrics::telemetry::Telemetry;
use hdrhistogram::Histogram;

/// Latency bucket bounds in seconds: token and API calls answer in a millisecond from a local
/// target, tens to hundreds of milliseconds from a real one, and seconds when a token service
/// queues a refresh storm; the last bounds catch client timeouts.
pub const LATENCY_BOUNDS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Refreshes one token generation drew: 1 is a coalescing client, tens to hundreds a herd.
pub const HERD_BOUNDS: [f64; 11] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0,
];

/// Prometheus' native histogram resolution: bucket `i` holds `(2^((i-1)/2^SCHEMA), 2^(i/2^SCHEMA)]`
/// seconds, so each bound is 2^(1/8) (9 %) above the last, finer than the classic buckets and
/// coarser than the recorder's 3 significant figures.
pub const NATIVE_SCHEMA: i32 = 3;

/// A histogram counted into buckets: `(upper bound, count in this bucket alone)` pairs, the last
/// one +Inf; and for the seconds histograms the same observations in native buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
    pub native: Option<Native>,
}

/// Observations in exponential buckets of [`NATIVE_SCHEMA`]: `(index, count)` ascending, only the
/// buckets that hold any, and the observations of exactly zero apart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Native {
    pub zero_count: u64,
    pub buckets: Vec<(i32, u64)>,
}

/// The native bucket of a positive value: the `i` with `2^((i-1)/2^schema) < v <= 2^(i/2^schema)`.
#[allow(clippy::cast_possible_truncation)] // log2 of a latency in seconds is far inside i32
pub fn native_index(v: f64) -> i32 {
    (v.log2() * f64::from(1 << NATIVE_SCHEMA)).ceil() as i32
}

/// A microsecond HdrHistogram in classic buckets of seconds. Bucket edges are exact to the
/// histogram's precision (3 significant figures), and so is the sum.
#[allow(clippy::cast_precision_loss)] // microsecond counts and sums stay far below 2^53
pub(super) fn seconds_histogram(h: Option<&Histogram<u64>>) -> Counted {
    let mut counts = [0u64; LATENCY_BOUNDS_S.len()];
    let (mut sum, mut count) = (0.0, 0);
    let mut native = Native::default();
    let mut by_index = std::collections::BTreeMap::new();
    if let Some(h) = h {
        for v in h.iter_recorded() {
            let s = h.median_equivalent(v.value_iterated_to()) as f64 / 1e6;
            let n = v.count_at_value();
            sum += s * n as f64;
            count += n;
            if let Some(i) = LATENCY_BOUNDS_S.iter().position(|b| s <= *b) {
                counts[i] += n;
            }
            if s > 0.0 {
                *by_index.entry(native_index(s)).or_insert(0) += n;
            } else {
                native.zero_count += n;
            }
        }
    }
    native.buckets = by_index.into_iter().collect();
    Counted {
        native: Some(native),
        ..buckets(&LATENCY_BOUNDS_S, &counts, sum, count)
    }
}

#[allow(clippy::cast_precision_loss)] // herd sizes and counts stay far below 2^53
pub(super) fn herd_histogram(t: &Telemetry) -> Counted {
    let mut counts = [0u64; HERD_BOUNDS.len()];
    let (mut sum, mut count) = (0.0, 0);
    for (size, generations) in &t.herds {
        sum += (*size * *generations) as f64;
        count += generations;
        if let Some(i) = HERD_BOUNDS.iter().position(|b| *size as f64 <= *b) {
            counts[i] += generations;
        }
    }
    buckets(&HERD_BOUNDS, &counts, sum, count)
}

fn buckets(bounds: &[f64], counts: &[u64], sum: f64, count: u64) -> Counted {
    let mut buckets: Vec<(f64, u64)> = bounds.iter().copied().zip(counts.iter().copied()).collect();
    let below: u64 = counts.iter().sum();
    buckets.push((f64::INFINITY, count - below));
    Counted {
        buckets,
        sum,
        count,
        native: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_falls_in_classic_buckets_of_seconds() {
        let mut h = crate::metrics::latency::new_histogram();
        for ms in [1, 3, 40, 700, 20_000] {
            let _ = h.record(ms * 1000);
        }
        let Counted {
            buckets,
            sum,
            count,
            native,
        } = seconds_histogram(Some(&h));
        // 1 ms is 2^-9.97: index ceil(-9.97 * 8) = -79; 20 s is 2^4.32: index 35.
        let native = native.expect("latency has native buckets");
        assert_eq!(native.zero_count, 0);
        assert_eq!(native.buckets.len(), 5);
        assert_eq!(native.buckets.first(), Some(&(-79, 1)));
        assert_eq!(native.buckets.last(), Some(&(35, 1)));
        assert_eq!(count, 5);
        // 3 significant figures: the sum is within 0.1 % of 20.744 s.
        assert!((sum - 20.744).abs() < 0.021, "{sum}");
        let at = |bound: f64| buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!(at(0.001), Some(1));
        assert_eq!(at(0.005), Some(1));
        assert_eq!(at(0.05), Some(1));
        assert_eq!(at(1.0), Some(1));
        assert_eq!(at(f64::INFINITY), Some(1), "20 s is past the last bound");
    }
}
