//! Checks a parsed profile for values out of range and settings that contradict each other.

use super::problems::Problems;
use super::schema::{LoadSection, Profile, RefreshGrant, TokenScope, Trigger, VariantSection};
use super::thresholds::{Metric, Thresholds};
use std::collections::HashSet;
use std::time::Duration;

const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_SESSIONS: u32 = 10_000_000;
const MAX_RATE: f64 = 10_000_000.0;

pub fn validate(profile: &Profile) -> Problems {
    let mut problems = Problems::default();
    if let Some(name) = &profile.name {
        check_name(name, "name", &mut problems);
    }
    if profile.duration.0.is_zero() || profile.duration.0 > MAX_DURATION {
        problems.push("duration", "must be more than 0s and at most 7 days");
    }
    check_load(&profile.load, &mut problems);
    profile.server.validate(&mut problems);
    check_thresholds(&profile.thresholds, "thresholds", &mut problems);
    if profile.variants.is_empty() {
        problems.push("variant", "at least one [[variant]] is needed");
    }
    let mut seen = HashSet::new();
    for (i, variant) in profile.variants.iter().enumerate() {
        let key = format!("variant[{i}]");
        if !seen.insert(variant.name.as_str()) {
            problems.push(
                format!("{key}.name"),
                format!(
                    "`{}` is used by an earlier variant; names must be unique",
                    variant.name
                ),
            );
        }
        check_variant(variant, &key, profile.server.token_ttl.0, &mut problems);
        check_thresholds(
            &variant.thresholds,
            &format!("{key}.thresholds"),
            &mut problems,
        );
    }
    problems
}

fn check_thresholds(thresholds: &Thresholds, key: &str, problems: &mut Problems) {
    for name in thresholds.keys() {
        if let Err(e) = name.parse::<Metric>() {
            problems.push(format!("{key}.\"{name}\""), e);
        }
    }
}

/// Names end up in folder names and report keys, so keep them to a safe alphabet.
fn check_name(name: &str, key: &str, problems: &mut Problems) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        problems.push(
            key,
            format!("`{name}` must be 1-64 characters of letters, digits, '-', '_' or '.'"),
        );
    }
}

fn check_load(load: &LoadSection, problems: &mut Problems) {
    if load.orgs == 0 {
        problems.push("load.orgs", "must be at least 1");
    }
    if load.sessions < load.orgs {
        problems.push(
            "load.sessions",
            format!(
                "must be at least load.orgs ({}), so every org has a session; got {}",
                load.orgs, load.sessions
            ),
        );
    }
    if load.sessions > MAX_SESSIONS {
        problems.push("load.sessions", format!("must be at most {MAX_SESSIONS}"));
    }
    if load.rate.per_second <= 0.0 || load.rate.per_second > MAX_RATE {
        problems.push(
            "load.rate",
            format!("must be more than 0/s and at most {MAX_RATE}/s"),
        );
    }
    if load.max_in_flight == 0 {
        problems.push("load.max_in_flight", "must be at least 1");
    }
    if load.request_timeout.0.is_zero() {
        problems.push("load.request_timeout", "must be more than 0s");
    }
}

fn check_variant(
    variant: &VariantSection,
    key: &str,
    token_ttl: Duration,
    problems: &mut Problems,
) {
    check_name(&variant.name, &format!("{key}.name"), problems);
    match (variant.trigger, variant.margin) {
        (Trigger::Preemptive, None) => problems.push(
            format!("{key}.margin"),
            "trigger = \"preemptive\" needs a margin, e.g. margin = \"30s\"",
        ),
        (Trigger::Preemptive, Some(margin)) if margin.0 >= token_ttl => problems.push(
            format!("{key}.margin"),
            format!(
                "must be shorter than server.token_ttl ({}s), or every request would refresh",
                token_ttl.as_secs_f64()
            ),
        ),
        (Trigger::Reactive, Some(_)) => problems.push(
            format!("{key}.margin"),
            "only applies to trigger = \"preemptive\"; remove it or change the trigger",
        ),
        _ => {}
    }
    if variant.token_scope == TokenScope::Org
        && variant.refresh_grant == Some(RefreshGrant::RefreshToken)
    {
        problems.push(
            format!("{key}.refresh_grant"),
            "org tokens come from client_credentials, which issues no refresh token (RFC 6749 4.4.3); \
             use refresh_grant = \"client_credentials\" or token_scope = \"session\"",
        );
    }
    if variant.retries_on_401 > 10 {
        problems.push(format!("{key}.retries_on_401"), "must be at most 10");
    }
}
