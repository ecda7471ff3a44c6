//! `[[sessions.step]]`: a journey of several API calls against the embedded target. Each step is an
//! endpoint of its own, its calls counted exactly as the target's truth counts its route; weighted
//! draws follow their weights within a stated bound on a fixed seed; step gates judge their step.

use tokenstorm::report::model::{StepReport, VariantReport};
use tokenstorm::vocabulary::Outcome;

/// Sessions search contacts, open one from the page, and update it; tokens outlive the run and
/// nothing is rate limited, so every call is answered `ok`.
fn journey(order: &str, weights: [&str; 3]) -> String {
    format!(
        r#"
duration = "4s"
seed = 23
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 4
sessions = 500
[sessions]
arrival = "uniform"
arrival_rate = "25/s"
length = {{ dist = "fixed", value = "1.5s" }}
think = {{ dist = "fixed", value = "50ms" }}
journey = "{order}"
[[sessions.step]]
name = "search"
path = "/api/v2/externalcontacts/contacts?q=contact&pageSize=25"
{}
[[sessions.step]]
name = "open"
path = "/api/v2/externalcontacts/contacts/{{contact_id}}"
{}
[[sessions.step]]
name = "update"
method = "PATCH"
path = "/api/v2/externalcontacts/contacts/{{contact_id}}"
body = '{{{{"firstName": "Ada"}}}}'
{}
[thresholds]
"open.p99_ms" = "< 10s"
"update.ok" = "> 0"
"search.error_rate" = "== 0"
[[variant]]
name = "widget"
client = {{ token_scope = "session", trigger = "margin", margin = "30s", coalesce = "single-flight" }}
"#,
        weights[0], weights[1], weights[2]
    )
}

fn step<'a>(v: &'a VariantReport, name: &str) -> &'a StepReport {
    v.steps.iter().find(|s| s.name == name).expect("the step")
}

/// Each step's calls are its route's requests on the target, and the steps add up to `contacts`.
fn assert_steps_match_truth(v: &VariantReport) {
    let routes = [("search", "search"), ("open", "get"), ("update", "update")];
    for (name, route) in routes {
        let calls = &step(v, name).calls;
        let truth = super::support::server_count(v, &format!("contacts.routes.{route}"));
        assert_eq!(calls.requests, truth, "{name}: client and target disagree");
        assert_eq!(
            calls.outcomes[Outcome::Ok],
            calls.requests,
            "{name}: {:?}",
            calls.outcomes
        );
    }
    let sum: u64 = v.steps.iter().map(|s| s.calls.requests).sum();
    assert_eq!(sum, v.endpoints.contacts.requests);
    assert_eq!(super::support::server_count(v, "contacts.routes.create"), 0);
}

#[test]
fn a_three_step_journey_counts_each_step_as_the_target_counts_its_route() {
    let ran = super::support::run_profile(&journey("sequence", ["", "", ""]));
    let v = &ran.report.variants[0];
    super::support::assert_accounted(v);
    assert_steps_match_truth(v);
    let [search, open, update] = ["search", "open", "update"].map(|n| step(v, n).calls.requests);
    // In turn from the first step: a session that made n calls made ceil(n/3) searches, so the
    // searches lead the opens, and the opens the updates, by at most one per session.
    let sessions = v.sessions.as_ref().unwrap().arrived;
    assert!(
        search >= open && open >= update && update > 0,
        "{search} {open} {update}"
    );
    assert!(
        search - update <= sessions,
        "{search} {update} over {sessions} sessions"
    );
    assert_eq!(step(v, "update").method, "PATCH");
    let lens_calls: u64 = step(v, "open")
        .expiry_lens
        .bins
        .iter()
        .map(|b| b.outcomes.total())
        .sum::<u64>()
        + step(v, "open").expiry_lens.before.total();
    assert_eq!(
        lens_calls, open,
        "every open call is placed by its token's expiry"
    );
    let c = tokenstorm::report::compare::compare(v, v, "a", "b", &[], 0.95);
    let open_p99 = c
        .rows
        .iter()
        .find(|r| r.metric == "open.p99_ms")
        .expect("a row per step");
    assert_eq!(open_p99.base, Some(step(v, "open").calls.latency_ms.p99));
    for gate in ["open.p99_ms", "update.ok", "search.error_rate"] {
        let t = ran
            .report
            .thresholds
            .iter()
            .find(|t| t.metric == gate)
            .unwrap();
        assert!(t.passed && t.observed.is_some(), "{t:?}");
    }
}

#[test]
fn weighted_steps_are_drawn_by_their_weights() {
    let weights = ["weight = 6", "weight = 3", "weight = 1"];
    let ran = super::support::run_profile(&journey("weighted", weights));
    let v = &ran.report.variants[0];
    super::support::assert_accounted(v);
    assert_steps_match_truth(v);
    let n = v.endpoints.contacts.requests as f64;
    assert!(n > 1000.0, "{n} calls");
    for (name, p) in [("search", 0.6), ("open", 0.3), ("update", 0.1)] {
        let got = step(v, name).calls.requests as f64;
        // Each call draws its step independently: a binomial count of n draws. 4 standard
        // deviations, which a correct draw exceeds about once in 16,000 runs (the seed is fixed).
        let bound = 4.0 * (n * p * (1.0 - p)).sqrt();
        assert!(
            (got - n * p).abs() <= bound,
            "{name}: {got} of {n}, bound {bound}"
        );
    }
}

#[test]
fn shards_of_a_journey_merge_step_by_step() {
    use tokenstorm::report::merge::merge;
    let dir = tempfile::tempdir().unwrap();
    let text = journey("sequence", ["", "", ""]);
    let parts = super::support::run_shards(dir.path(), &text, 2);
    let merged = merge(&parts).unwrap();
    let m = &merged.variants[0];
    for name in ["search", "open", "update"] {
        let of = |v: &VariantReport| step(v, name).calls.clone();
        let sum: u64 = parts
            .iter()
            .map(|p| of(&p.report.variants[0]).requests)
            .sum();
        assert!(parts.iter().all(|p| of(&p.report.variants[0]).requests > 0));
        assert_eq!(of(m).requests, sum, "{name}: the shards' calls add");
        let placed: u64 = step(m, name)
            .expiry_lens
            .bins
            .iter()
            .map(|b| b.outcomes.total())
            .sum();
        let before = step(m, name).expiry_lens.before.total();
        assert_eq!(placed + before, sum, "{name}: the shards' lenses add");
        // Histograms add too: the merged ok histogram counts every ok call of the step.
        let ok = tokenstorm::report::histogram::decode(&of(m).histograms["ok"]).unwrap();
        assert_eq!(ok.len(), sum, "{name}");
    }
}

#[test]
fn journey_mistakes_are_named_by_key_and_line() {
    use std::path::Path;
    use tokenstorm::profile::{parse, ProfileError};
    let bad = journey("sequence", ["weight = 2", "", ""])
        .replace("name = \"open\"", "name = \"token\"")
        .replace("method = \"PATCH\"", "method = \"PA TCH\"")
        .replace("\"update.ok\"", "\"updat.ok\"");
    let found = match parse(&bad, Path::new("t.toml")) {
        Err(ProfileError::Invalid { problems, .. }) => problems,
        other => panic!("accepted or failed otherwise: {:?}", other.err()),
    };
    let named = |key: &str, line: usize, says: &str| {
        assert!(
            found
                .iter()
                .any(|p| p.line == Some(line) && p.key == key && p.message.contains(says)),
            "no problem at {key} line {line} saying `{says}`: {found:#?}"
        );
    };
    named(
        "sessions.step[0].weight",
        19,
        "applies to journey = \"weighted\"",
    );
    named("sessions.step[1].name", 21, "none of token");
    named("sessions.step[2].method", 26, "not an HTTP method");
    named("thresholds.\"updat.ok\"", 32, "no step named `updat`");
}
