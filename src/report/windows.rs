//! Windowed gate metrics: the worst sliding window of an endpoint's count or rate, from the report's
//! per-bucket time series. A 20 s storm of 401s in a 10 min run is 3 % of the run but 100 % of its
//! worst window; whole-run rates dilute it, windows do not.

use super::model::VariantReport;
use super::outcomes::Outcomes;
use crate::profile::thresholds::{Scope, Stat};
use crate::vocabulary::Outcome;

/// The highest value of `stat` over any `window_s` window of consecutive buckets. Buckets are 1 s in
/// runs up to 10 minutes and wider in longer ones; a window narrower than a bucket is one bucket.
/// `None` when the run has no time series.
pub fn worst(v: &VariantReport, scope: Scope, stat: Stat, window_s: u32) -> Option<f64> {
    let series = &v.timeseries;
    if series.buckets.is_empty() {
        return None;
    }
    let width = (f64::from(window_s) / series.bucket_s.max(1e-9))
        .round()
        .max(1.0) as usize;
    let pick = |b: &super::model::Bucket| -> Outcomes {
        match scope {
            Scope::Token => b.token,
            Scope::Refresh => b.refresh,
            _ => b.contacts,
        }
    };
    let counts: Vec<[u64; Outcome::COUNT]> = series.buckets.iter().map(|b| pick(b).0).collect();
    let width = width.min(counts.len());
    let mut sum = [0u64; Outcome::COUNT];
    let mut worst: f64 = 0.0;
    for (i, bucket) in counts.iter().enumerate() {
        add(&mut sum, bucket, true);
        if i >= width {
            add(&mut sum, &counts[i - width], false);
        }
        if i + 1 >= width {
            worst = worst.max(of(&sum, stat));
        }
    }
    Some(worst)
}

fn add(sum: &mut [u64; Outcome::COUNT], bucket: &[u64; Outcome::COUNT], plus: bool) {
    for (s, b) in sum.iter_mut().zip(bucket) {
        *s = if plus { *s + b } else { s.saturating_sub(*b) };
    }
}

fn of(sum: &[u64; Outcome::COUNT], stat: Stat) -> f64 {
    let calls: u64 = sum.iter().sum();
    let rate = |n: u64| {
        if calls == 0 {
            0.0
        } else {
            n as f64 / calls as f64
        }
    };
    match stat {
        Stat::Count(o) => sum[o.index()] as f64,
        Stat::Rate(o) => rate(sum[o.index()]),
        Stat::ErrorRate => rate(calls - sum[Outcome::Ok.index()]),
        Stat::Calls => calls as f64,
        // Parsing admits only counts and rates for windows.
        Stat::Percentile(_) | Stat::MeanMs => 0.0,
    }
}
