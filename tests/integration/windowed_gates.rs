//! Windowed gates: a short 401 storm fails a gate on its worst window while the whole-run rate passes.

use super::support::{run_profile, variant};
use tokenstorm::vocabulary::Outcome;

/// 4 s tokens over 12 s with a reactive client: the org's token expires twice and each expiry draws a
/// burst of 401s while the first refresh is out (100 ms), under 2 % of the run but about 10 % of its worst second.
const PROFILE: &str = r#"
seed = 5
duration = "12s"
[server]
token_ttl = "4s"
# Expiry exactly `expires_in` after issue, so the whole storm is in the client's `expired` phase (a
# whole-second `exp` would file part of it as `expired_by_claim`).
expiry_precision = "exact"
per_token_rate = "0/s"
[server.faults.token]
latency = "100ms"
[load]
orgs = 1
sessions = 20
rate = "100/s"
[[variant]]
name = "naive"
client = "naive"
[thresholds]
"contacts.unauthorized_rate" = "< 0.04"
"contacts.unauthorized_rate.max_1s" = "< 0.04"
"contacts.unauthorized.max_2s" = ">= 1"
"refresh.calls.max_5s" = "> 0"
"contacts[expired].unauthorized" = ">= 1"
"contacts[fresh].unauthorized" = "== 0"
"contacts[expiring].p99_ms" = "< 60s"
"#;

#[test]
fn a_short_storm_fails_its_window_but_not_the_whole_run() {
    let ran = run_profile(PROFILE);
    let v = variant(&ran.report, "naive");
    let result = |metric: &str| {
        ran.report
            .thresholds
            .iter()
            .find(|t| t.metric == metric)
            .unwrap_or_else(|| panic!("no result for {metric}: {:?}", ran.report.thresholds))
    };
    let unauthorized = v.endpoints.contacts.outcomes[Outcome::Unauthorized];
    assert!(
        unauthorized > 0,
        "the naive client must meet expired tokens"
    );

    let whole = result("contacts.unauthorized_rate");
    assert!(whole.passed, "whole-run rate is diluted: {whole:?}");
    let window = result("contacts.unauthorized_rate.max_1s");
    assert!(
        !window.passed,
        "the worst second holds the storm: {window:?}"
    );
    let worst = window
        .observed
        .expect("a run with a time series has windows");
    assert!(
        worst > whole.observed.unwrap_or(1.0) * 3.0,
        "the worst window ({worst}) is far above the whole-run rate ({whole:?})"
    );
    assert!(result("contacts.unauthorized.max_2s").passed);
    assert!(result("refresh.calls.max_5s").passed);
    // Phase gates: the storm is all in the expired phase; a phase with no calls counts nothing.
    let expired = result("contacts[expired].unauthorized");
    assert!(
        expired.passed && expired.observed == Some(unauthorized as f64),
        "{expired:?}"
    );
    assert!(result("contacts[fresh].unauthorized").passed);
    assert!(result("contacts[expiring].p99_ms").passed);
}

#[test]
fn windows_are_validated_with_the_profile() {
    for (metric, why) in [
        ("contacts.p99_ms.max_10s", "counts and rates"),
        ("contacts.unauthorized_rate.max_0s", "max_<N>s"),
        ("contacts.unauthorized_rate.max_10", "max_<N>s"),
        ("requests.ok_rate.max_10s", "counts and rates"),
        ("contacts[stale].p99_ms", "unknown token phase"),
    ] {
        let text = PROFILE.replace(
            "\"refresh.calls.max_5s\" = \"> 0\"",
            &format!("\"{metric}\" = \"< 1\""),
        );
        let err = tokenstorm::profile::parse(&text, std::path::Path::new("p.toml"))
            .err()
            .unwrap_or_else(|| panic!("{metric} must be refused"));
        let message = err.to_string();
        assert!(message.contains(metric), "{metric}: {message}");
        assert!(message.contains(why), "{metric}: {message}");
    }
}

/// The API's clock runs 3 s ahead of the issuer's, so every token dies at the API 3 s before the
/// client expects: refreshed tokens meet 401s about 2 s after they arrive, which the gate catches;
/// ordinary expiry 401s (the PROFILE run above) do not count.
#[test]
fn rejections_right_after_a_refresh_are_gated() {
    let text = r#"
seed = 2
duration = "9s"
[server]
token_ttl = "5s"
clock_offset = "3s"
per_token_rate = "0/s"
[load]
orgs = 1
sessions = 10
rate = "50/s"
[[variant]]
name = "naive"
client = "naive"
[thresholds]
"contacts.unauthorized_after_refresh_ms" = "== 0"
"#;
    let ran = run_profile(text);
    let t = &ran.report.thresholds[0];
    assert!(!t.passed, "{t:?}");
    let after = t.observed.expect("a value");
    assert!(
        (1000.0..3500.0).contains(&after),
        "about 2 s after the refresh: {after}"
    );

    let clean = run_profile(&PROFILE.replace(
        "\"refresh.calls.max_5s\" = \"> 0\"",
        "\"contacts.unauthorized_after_refresh_ms\" = \"== 0\"",
    ));
    let t = clean
        .report
        .thresholds
        .iter()
        .find(|t| t.metric == "contacts.unauthorized_after_refresh_ms")
        .expect("evaluated");
    assert!(
        t.passed,
        "expiry 401s are not rejections after a refresh: {t:?}"
    );
}
