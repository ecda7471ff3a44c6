//! Per-tenant views for the report: the busiest orgs with their latency, the rest as one aggregate,
//! and the worst orgs by 401 rate.

use crate::metrics::tenants::TenantsSnapshot;
use crate::report::histogram::{encode, Percentiles};
use crate::report::model::{TenantView, Tenants};
use hdrhistogram::Histogram;

/// How many orgs `worst_unauthorized` lists.
pub const WORST_ORGS: usize = 10;

/// One org's (or the "other" aggregate's, `org` = `None`) contacts calls, with their latency when known.
pub fn view(
    org: Option<usize>,
    calls: u64,
    unauthorized: u64,
    histogram: Option<&Histogram<u64>>,
) -> TenantView {
    TenantView {
        org: org.map(|o| o as u32),
        calls,
        unauthorized,
        unauthorized_rate: if calls == 0 {
            0.0
        } else {
            unauthorized as f64 / calls as f64
        },
        latency_ms: Percentiles::of(histogram),
        histogram: histogram.filter(|h| !h.is_empty()).map(encode),
    }
}

/// `by_slot`: the latency histograms of the tenant slots (the busiest orgs in order, then "other").
pub(super) fn tenants(
    t: &TenantsSnapshot,
    by_slot: &[Option<Histogram<u64>>],
    top_limit: u32,
) -> Tenants {
    let slot = |i: usize| by_slot.get(i).and_then(Option::as_ref);
    let top: Vec<TenantView> = t
        .top
        .iter()
        .enumerate()
        .map(|(i, &org)| view(Some(org), t.calls[org], t.unauthorized[org], slot(i)))
        .collect();
    let (mut calls, mut unauthorized) = (0, 0);
    for org in (0..t.calls.len()).filter(|o| !t.top.contains(o)) {
        calls += t.calls[org];
        unauthorized += t.unauthorized[org];
    }
    let other = view(None, calls, unauthorized, slot(t.top.len()));
    let all =
        (0..t.calls.len()).map(|org| view(Some(org), t.calls[org], t.unauthorized[org], None));
    Tenants {
        top,
        other,
        worst_unauthorized: worst_unauthorized(all),
        top_limit,
    }
}

/// The orgs with the highest 401 rate (more calls first among equals, then lower index), at most
/// [`WORST_ORGS`]; orgs without a 401 are left out.
pub fn worst_unauthorized(all: impl Iterator<Item = TenantView>) -> Vec<TenantView> {
    let mut worst: Vec<TenantView> = all.filter(|v| v.unauthorized > 0).collect();
    worst.sort_by(|a, b| {
        b.unauthorized_rate
            .total_cmp(&a.unauthorized_rate)
            .then(b.calls.cmp(&a.calls))
            .then(a.org.cmp(&b.org))
    });
    worst.truncate(WORST_ORGS);
    worst
}
