//! Per-tenant views: the busiest orgs keep their own latency, the rest are one aggregate, the worst orgs
//! by 401 rate are named, and memory and report size stay bounded with 10,000 orgs.

use super::support::{assert_accounted, run_profile};
use tokenstorm::vocabulary::Outcome;

#[test]
fn the_busiest_orgs_have_their_own_latency_and_the_worst_are_named() {
    // 12 orgs, 5 with their own histograms; a reactive client meets 401s at every org's expiry.
    let ran = run_profile(
        r#"
seed = 3
duration = "5s"
top_orgs = 5
[server]
token_ttl = "2s"
per_token_rate = "0/s"
[load]
orgs = 12
sessions = 126
rate = "240/s"
[[variant]]
name = "v"
client = "naive"
"#,
    );
    let v = &ran.report.variants[0];
    assert_accounted(v);
    let t = &v.tenants;
    assert_eq!(t.top_limit, 5);
    assert_eq!(t.top.len(), 5);
    // 126 sessions over 12 orgs: orgs 0-5 have 11 sessions, 6-11 have 10; the busiest are 0-4.
    let top: Vec<u32> = t.top.iter().filter_map(|o| o.org).collect();
    assert_eq!(top, [0, 1, 2, 3, 4]);
    let calls: u64 = t.top.iter().map(|o| o.calls).sum::<u64>() + t.other.calls;
    assert_eq!(
        calls, v.endpoints.contacts.requests,
        "every call in one view"
    );
    let unauthorized: u64 =
        t.top.iter().map(|o| o.unauthorized).sum::<u64>() + t.other.unauthorized;
    assert_eq!(
        unauthorized,
        v.endpoints.contacts.outcomes[Outcome::Unauthorized]
    );
    assert!(t
        .top
        .iter()
        .all(|o| o.histogram.is_some() && o.latency_ms.count == o.calls));
    assert_eq!(t.other.latency_ms.count, t.other.calls);

    // The naive client's expiry 401s are spread over every org; the list is sorted worst first.
    assert!(!t.worst_unauthorized.is_empty() && t.worst_unauthorized.len() <= 10);
    assert!(t
        .worst_unauthorized
        .windows(2)
        .all(|w| w[0].unauthorized_rate >= w[1].unauthorized_rate));
}

#[test]
fn ten_thousand_orgs_stay_bounded() {
    let ran = run_profile(
        r#"
seed = 4
duration = "3s"
[server]
token_ttl = "60s"
per_token_rate = "0/s"
[load]
orgs = 10000
sessions = 10000
rate = "500/s"
[[variant]]
name = "v"
client = { token_scope = "org", trigger = "margin", margin = "5s", coalesce = "single-flight" }
"#,
    );
    let v = &ran.report.variants[0];
    assert_accounted(v);
    let t = &v.tenants;
    assert_eq!(t.top.len(), 20, "the default top_orgs");
    assert!(t.worst_unauthorized.len() <= 10);
    // 20 busiest plus one aggregate: the report does not grow with the org count.
    let tenants_json = serde_json::to_string(t).unwrap();
    assert!(tenants_json.len() < 100_000, "{} bytes", tenants_json.len());
    let calls: u64 = t.top.iter().map(|o| o.calls).sum::<u64>() + t.other.calls;
    assert_eq!(calls, v.endpoints.contacts.requests);
}
