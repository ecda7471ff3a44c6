//! `[sessions.returning]`: returning visitors restore a token an earlier session saved. The model
//! that sends it unchecked meets 401s on page load, exactly as many as the embedded target sent for
//! expired tokens; the model that checks its expiry first meets none and refreshes instead.

use super::support::{assert_accounted, run_profile, server_count, variant};
use tokenstorm::report::model::VariantReport;
use tokenstorm::report::returning::ReturningReport;
use tokenstorm::vocabulary::Outcome;

// Tokens live 3 s; sessions live 1 s and save their token when they leave; half the arrivals come
// back for a token 0-8 s old, so many restored tokens have expired. Calls never outlive a token
// otherwise: both models refresh 1.5 s before the client's expiry (the server's may come up to 1 s
// sooner: it writes `exp` in whole seconds).
const RETURNING: &str = r#"
duration = "12s"
seed = 31
[server]
token_ttl = "3s"
per_token_rate = "0/s"
[load]
orgs = 4
sessions = 1000
[sessions]
arrival = "uniform"
arrival_rate = "20/s"
length = { dist = "fixed", value = "1s" }
think = { dist = "fixed", value = "300ms" }
[sessions.returning]
share = 0.5
age = { dist = "uniform", min = "0s", max = "8s" }
[[variant]]
name = "checks"
client = { token_scope = "session", trigger = "margin", margin = "1500ms", coalesce = "single-flight" }
[[variant]]
name = "unchecked"
client = { token_scope = "session", trigger = "margin", margin = "1500ms", coalesce = "single-flight", check_saved_expiry = false }
"#;

fn returning(v: &VariantReport) -> &ReturningReport {
    v.sessions.as_ref().unwrap().returning.as_ref().unwrap()
}

/// 401s the expiry lens places from 1 s before the token's expiry on: the server writes `exp` in
/// whole seconds, so it may call a token expired up to 1 s before the client's clock does.
fn lens_401s_after_expiry(v: &VariantReport) -> u64 {
    let lens = &v.expiry_lens;
    let bins: u64 = lens
        .bins
        .iter()
        .filter(|b| b.offset_s >= -1)
        .map(|b| b.outcomes[Outcome::Unauthorized])
        .sum();
    bins + lens.after[Outcome::Unauthorized]
}

#[test]
fn only_the_model_that_does_not_check_meets_401s_on_load_and_the_target_counts_the_same() {
    let ran = run_profile(RETURNING);
    let (checks, unchecked) = (
        variant(&ran.report, "checks"),
        variant(&ran.report, "unchecked"),
    );
    for v in [checks, unchecked] {
        assert_accounted(v);
        let r = returning(v);
        // 240 arrivals, each returning with probability 1/2: 4 standard deviations of the
        // binomial count are 31; the seed is fixed.
        assert!(r.arrived.abs_diff(120) <= 31, "{}: {r:?}", v.name);
        assert_eq!(r.arrived, r.restored.count + r.nothing_saved, "{}", v.name);
        assert!(
            r.restored.count > 20 && r.restored.max_age_s > 3.0,
            "{}: {r:?}",
            v.name
        );
    }
    let on_load = returning(unchecked).unauthorized_on_load.clone();
    assert!(
        on_load.count > 0,
        "expired saved tokens were sent unchecked"
    );
    assert_eq!(
        on_load.count,
        server_count(unchecked, "contacts.unauthorized_expired")
    );
    assert_eq!(
        on_load.count,
        unchecked.endpoints.contacts.outcomes[Outcome::Unauthorized]
    );
    assert_eq!(
        on_load.count,
        lens_401s_after_expiry(unchecked),
        "placed after expiry"
    );
    // 3 s of lifetime, less up to 1 s of `exp` rounding.
    assert!(on_load.min_age_s >= 2.0, "{on_load:?}");

    assert_eq!(returning(checks).unauthorized_on_load.count, 0);
    assert_eq!(server_count(checks, "contacts.unauthorized_expired"), 0);
    assert_eq!(checks.endpoints.contacts.outcomes[Outcome::Unauthorized], 0);
    assert!(
        checks.endpoints.refresh.requests > 0,
        "expired saved tokens were refreshed first"
    );
    let gate = |v: &VariantReport| {
        tokenstorm::report::gates::value(v, "sessions.unauthorized_on_load".parse().unwrap())
    };
    assert_eq!(gate(unchecked), Some(on_load.count as f64));
    assert_eq!(gate(checks), Some(0.0));
    assert_compare_rows(checks, unchecked, on_load.count);
}

/// `compare` shows the sessions: the 401s on load judged, arrivals shown (the same sessions).
fn assert_compare_rows(base: &VariantReport, candidate: &VariantReport, on_load: u64) {
    use tokenstorm::report::compare::{compare, Change};
    let c = compare(base, candidate, "checks", "unchecked", &[], 0.95);
    let row = |m: &str| {
        c.rows
            .iter()
            .find(|r| r.metric == m)
            .unwrap_or_else(|| panic!("{m}"))
    };
    let load = row("sessions.unauthorized_on_load");
    assert_eq!(
        (load.base, load.candidate),
        (Some(0.0), Some(on_load as f64))
    );
    assert_eq!(load.verdict, Change::Worse);
    let arrived = row("sessions.arrived");
    assert_eq!(
        arrived.base, arrived.candidate,
        "the seed gives both the same arrivals"
    );
    assert_eq!(arrived.verdict, Change::Same);
    for m in [
        "sessions.refused",
        "sessions.peak_concurrent",
        "sessions.mean_concurrent",
    ] {
        assert!(row(m).base.is_some(), "{m}");
    }
}

#[test]
fn returning_mistakes_are_named_by_key() {
    use std::path::Path;
    use tokenstorm::profile::{parse, ProfileError};
    let bad = RETURNING.replace("share = 0.5", "share = 1.5").replace(
        "[sessions.returning]",
        "leave = \"revoke\"\n[sessions.returning]",
    );
    let Err(ProfileError::Invalid { problems, .. }) = parse(&bad, Path::new("t.toml")) else {
        panic!("accepted");
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"sessions.returning.share"), "{problems:?}");
    assert!(keys.contains(&"sessions.returning"), "{problems:?}");
}
