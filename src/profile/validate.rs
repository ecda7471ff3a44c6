//! Checks a parsed profile for values out of range and settings that contradict each other.

use super::client::ClientSettings;
use super::problems::Problems;
use super::schema::{
    Coalesce, LoadSection, PartnerCredentials, Profile, RefreshGrant, TokenScope, Trigger,
    VariantSection,
};
use super::target::{Dialect, HttpTarget};
use super::thresholds::{GateName, Thresholds};
use std::collections::HashSet;
use std::time::Duration;

const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_SESSIONS: u32 = 10_000_000;
const MAX_RATE: f64 = 10_000_000.0;
const MAX_CONNECTIONS: u32 = 100_000;

pub fn validate(profile: &Profile) -> Problems {
    let mut problems = Problems::default();
    if let Some(name) = &profile.name {
        check_name(name, "name", &mut problems);
    }
    check_length(profile, &mut problems);
    check_load(&profile.load, profile.sessions.is_some(), &mut problems);
    super::sessions::validate_in(profile, &mut problems);
    super::messaging::validate_in(profile, &mut problems);
    if profile.top_orgs > 1000 {
        problems.push(
            "top_orgs",
            "must be at most 1000 (each is a histogram in the report)",
        );
    }
    let spread = profile.load.org_start_spread.0;
    if !spread.is_zero() && spread >= profile.run_length() {
        problems.push(
            "load.org_start_spread",
            "must be shorter than duration, or some orgs would never start",
        );
    }
    if !spread.is_zero() && profile.load.connections.is_some() {
        problems.push(
            "load.org_start_spread",
            "applies to the open model only (leave out load.connections)",
        );
    }
    profile.server.validate(&mut problems);
    profile
        .server
        .validate_orgs(profile.load.orgs as usize, &mut problems);
    let names = Names {
        stages: profile
            .load
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect(),
        steps: profile
            .sessions
            .iter()
            .flat_map(|s| &s.steps)
            .map(|s| s.name.as_str())
            .collect(),
    };
    check_thresholds(&profile.thresholds, "thresholds", &names, &mut problems);
    if let Some(http) = profile.target.http() {
        check_http_target(http, profile, &mut problems);
    }
    if profile.variants.is_empty() {
        problems.push("variant", "at least one [[variant]] is needed");
    }
    check_search(profile, &mut problems);
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
        check_variant(variant, &key, &profile.load, &mut problems);
        check_thresholds(
            &variant.thresholds,
            &format!("{key}.thresholds"),
            &names,
            &mut problems,
        );
    }
    problems
}

/// What thresholds may be scoped to: the stages' names and the journey's steps'.
struct Names<'a> {
    stages: Vec<&'a str>,
    steps: Vec<&'a str>,
}

/// `[search]`: its own keys, and what it needs of the load and the target.
fn check_search(profile: &Profile, problems: &mut Problems) {
    let Some(search) = &profile.search else {
        return;
    };
    let names: Vec<&str> = profile.variants.iter().map(|v| v.name.as_str()).collect();
    search.validate(&names, problems);
    if profile.load.connections.is_some() {
        problems.push(
            "search.grow",
            "a search grows the open model's arrival rate: leave out load.connections",
        );
    }
    use crate::profile::search::GrowName;
    match (search.grow, profile.sessions.is_some()) {
        (GrowName::Rate, true) => problems.push(
            "search.grow",
            "with [sessions] the load is session arrivals: grow = \"session-rate\"",
        ),
        (GrowName::SessionRate, false) => problems.push(
            "search.grow",
            "\"session-rate\" grows the arrivals of [sessions], which this profile has not",
        ),
        (GrowName::Orgs | GrowName::Sessions, true) => problems.push(
            "search.grow",
            "growing orgs or sessions applies to the fixed pool: with [sessions] concurrency follows \
             from arrivals, so grow \"session-rate\"",
        ),
        _ => {}
    }
    let orgs = f64::from(profile.load.orgs);
    let grows_orgs = search.grow == GrowName::Orgs;
    if grows_orgs && profile.target.http().is_some() && search.ceiling.value() > orgs {
        problems.push(
            "search.ceiling",
            format!("grows orgs up to the [[target.orgs]] listed: at most {orgs}"),
        );
    }
}

/// The first token of a refresh-token model comes from a code; the web-deployments dialect has nothing else.
fn check_http_target(http: &HttpTarget, profile: &Profile, problems: &mut Problems) {
    let mut uses_refresh_token = false;
    for (i, v) in profile.variants.iter().enumerate() {
        let scope = v.client.token_scope.unwrap_or(TokenScope::Org);
        let grant = v.client.refresh_grant.unwrap_or(match scope {
            TokenScope::Org => RefreshGrant::ClientCredentials,
            TokenScope::Session => RefreshGrant::RefreshToken,
        });
        uses_refresh_token |= grant == RefreshGrant::RefreshToken;
        if http.dialect == Dialect::WebDeployments && grant == RefreshGrant::ClientCredentials {
            problems.push(
                format!("variant[{i}].client.refresh_grant"),
                "the web-deployments dialect has no client_credentials grant: use refresh_grant = \"refresh_token\"",
            );
        }
    }
    http.validate(profile.load.orgs, uses_refresh_token, problems);
    // A journey's steps draw `{contact_id}` from the same list as `[target.api]`.
    let steps = profile
        .sessions
        .iter()
        .flat_map(|s| s.steps.iter().enumerate());
    for (i, step) in steps {
        let uses = std::iter::once(&step.path)
            .chain(step.body.as_ref())
            .any(|t| t.uses(crate::profile::template::Var::ContactId));
        if uses && http.api.contact_ids.is_empty() {
            problems.push(
                format!("sessions.step[{i}].path"),
                "{contact_id} is used, so list the contact ids to draw from in target.api.contact_ids",
            );
        }
    }
    for (i, org) in http.orgs.iter().enumerate() {
        check_name(&org.name, &format!("target.orgs[{i}].name"), problems);
    }
}

fn check_thresholds(thresholds: &Thresholds, key: &str, names: &Names, problems: &mut Problems) {
    let (stages, steps) = (&names.stages, &names.steps);
    for name in thresholds.keys() {
        let key = format!("{key}.\"{name}\"");
        match name.parse::<GateName>() {
            Err(e) => problems.push(key, e),
            Ok(GateName {
                step: Some(step), ..
            }) if !steps.contains(&step.as_str()) => problems.push(
                key,
                if steps.is_empty() {
                    format!(
                        "unknown metric `{name}`: `{step}` is no scope a threshold knows, and the profile \
                         has no [[sessions.step]] of that name"
                    )
                } else {
                    format!("no step named `{step}` (steps: {})", steps.join(", "))
                },
            ),
            Ok(GateName {
                stage: Some(stage), ..
            }) if !stages.contains(&stage.as_str()) => problems.push(
                key,
                if stages.is_empty() {
                    format!("no stage named `{stage}`: the profile has no [[load.stage]]")
                } else {
                    format!("no stage named `{stage}` (stages: {})", stages.join(", "))
                },
            ),
            Ok(_) => {}
        }
    }
}

/// The run's length: `duration`, or the stages', which then shape the rate instead of `rate` and
/// `ramp_up`.
fn check_length(profile: &Profile, problems: &mut Problems) {
    let load = &profile.load;
    if load.stages.is_empty() {
        if profile.duration.is_none() {
            problems.push("duration", "is required (or give [[load.stage]]s)");
        }
        if load.rate.is_none() && profile.sessions.is_none() {
            problems.push("load.rate", "is required (or give [[load.stage]]s)");
        }
    } else {
        check_stages(load, problems);
        let sum = profile.run_length();
        if profile.duration.is_some_and(|d| d.0 != sum) {
            problems.push(
                "duration",
                format!(
                    "differs from the stages' sum ({}); leave it out with [[load.stage]]",
                    humantime::format_duration(sum)
                ),
            );
        }
    }
    let length = profile.run_length();
    let given = profile.duration.is_some() || !load.stages.is_empty();
    if given && (length.is_zero() || length > MAX_DURATION) {
        match load.stages.is_empty() {
            true => problems.push("duration", "must be more than 0s and at most 7 days"),
            false => problems.push(
                "load.stage",
                "the stages must add up to more than 0s and at most 7 days",
            ),
        }
    }
}

fn check_stages(load: &LoadSection, problems: &mut Problems) {
    let exclusive = [
        ("load.rate", load.rate.is_some()),
        ("load.ramp_up", !load.ramp_up.0.is_zero()),
        ("load.connections", load.connections.is_some()),
    ];
    for (key, set) in exclusive {
        if set {
            problems.push(
                key,
                "cannot be combined with [[load.stage]]: stages shape the open model's arrival rate",
            );
        }
    }
    let mut seen = HashSet::new();
    for (i, stage) in load.stages.iter().enumerate() {
        let key = format!("load.stage[{i}]");
        check_name(&stage.name, &format!("{key}.name"), problems);
        if !seen.insert(stage.name.as_str()) {
            problems.push(
                format!("{key}.name"),
                format!("`{}` names an earlier stage too", stage.name),
            );
        }
        let target = stage.target.per_second;
        if !(0.0..=MAX_RATE).contains(&target) {
            problems.push(
                format!("{key}.target"),
                format!("must be from 0/s to {MAX_RATE}/s"),
            );
        }
    }
    if load.stages.iter().all(|s| s.target.per_second <= 0.0) {
        problems.push(
            "load.stage",
            "every stage's target is 0/s: nothing would be sent",
        );
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

fn check_load(load: &LoadSection, with_sessions: bool, problems: &mut Problems) {
    if load.orgs == 0 {
        problems.push("load.orgs", "must be at least 1");
    }
    // With [sessions] it bounds the sessions alive at once; an org may have none at a time.
    if with_sessions && load.sessions == 0 {
        problems.push("load.sessions", "must be at least 1");
    }
    if !with_sessions && load.sessions < load.orgs {
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
    if let Some(rate) = &load.rate {
        let unpaced_ok = load.connections.is_some() && rate.per_second == 0.0;
        if !unpaced_ok && (rate.per_second <= 0.0 || rate.per_second > MAX_RATE) {
            problems.push(
                "load.rate",
                format!("must be more than 0/s and at most {MAX_RATE}/s (\"0/s\" only with load.connections)"),
            );
        }
    }
    if let Some(connections) = load.connections {
        if connections == 0 || connections > MAX_CONNECTIONS {
            problems.push(
                "load.connections",
                format!("must be from 1 to {MAX_CONNECTIONS}"),
            );
        }
    }
    if load.partners >= load.orgs.max(1) {
        problems.push(
            "load.partners",
            format!(
                "must be fewer than load.orgs ({}): org 0 is the primary org",
                load.orgs
            ),
        );
    }
    if load.max_in_flight == 0 {
        problems.push("load.max_in_flight", "must be at least 1");
    }
    match (load.max_connections, load.connections) {
        (Some(0), _) => problems.push("load.max_connections", "must be at least 1"),
        (Some(_), Some(_)) => problems.push(
            "load.max_connections",
            "applies to the open model only: with `connections` each worker has a connection of its own",
        ),
        _ => {}
    }
    if load.request_timeout.0.is_zero() {
        problems.push("load.request_timeout", "must be more than 0s");
    }
}

fn check_variant(variant: &VariantSection, key: &str, load: &LoadSection, problems: &mut Problems) {
    check_name(&variant.name, &format!("{key}.name"), problems);
    let c = &variant.client;
    let at = |field: &str| format!("{key}.client.{field}");
    check_required(c, &at, problems);
    check_trigger_settings(c, &at, problems);
    check_coalescing(c, &at, problems);
    for (field, value) in [
        ("retries_on_401", c.retries_on_401),
        ("retries_on_429", c.retries_on_429),
    ] {
        if value.is_some_and(|v| v > 10) {
            problems.push(at(field), "must be at most 10");
        }
    }
    if c.partner_credentials == Some(PartnerCredentials::Primary) && load.partners == 0 {
        problems.push(
            at("partner_credentials"),
            "\"primary\" only matters for partner orgs; set load.partners to how many of the orgs are partners",
        );
    }
}

/// A client model needs a token scope and a trigger (from a preset or its own), and each trigger
/// its settings.
fn check_required(c: &ClientSettings, at: &dyn Fn(&str) -> String, problems: &mut Problems) {
    let mut need = |present: bool, field: &str, why: &str| {
        if !present {
            problems.push(at(field), why.to_owned());
        }
    };
    need(
        c.token_scope.is_some(),
        "token_scope",
        "is required: \"org\" or \"session\" (directly or from a preset)",
    );
    need(
        c.trigger.is_some(),
        "trigger",
        "is required: \"reactive\", \"margin\", \"fraction\" or \"two-window\"",
    );
    match c.trigger {
        Some(Trigger::Margin) => need(
            c.margin.is_some(),
            "margin",
            "trigger = \"margin\" needs a margin, e.g. margin = \"30s\"",
        ),
        Some(Trigger::TwoWindow) => {
            need(
                c.advisory.is_some(),
                "advisory",
                "trigger = \"two-window\" needs advisory (the background window)",
            );
            need(
                c.margin.is_some(),
                "margin",
                "trigger = \"two-window\" needs margin (the mandatory window)",
            );
        }
        Some(Trigger::Fraction) => need(
            c.fraction.is_some(),
            "fraction",
            "trigger = \"fraction\" needs a fraction, e.g. 0.5",
        ),
        _ => {}
    }
}

/// Settings of another trigger than the one chosen are mistakes; the chosen one's must make sense.
fn check_trigger_settings(
    c: &ClientSettings,
    at: &dyn Fn(&str) -> String,
    problems: &mut Problems,
) {
    let trigger = c.trigger.unwrap_or(Trigger::Reactive);
    let mut only = |field: &str, when: &str| {
        problems.push(
            at(field),
            format!("only applies to {when}; remove it or change the trigger"),
        );
    };
    if c.margin.is_some() && !matches!(trigger, Trigger::Margin | Trigger::TwoWindow) {
        only("margin", "trigger = \"margin\" or \"two-window\"");
    }
    if c.advisory.is_some() && trigger != Trigger::TwoWindow {
        only("advisory", "trigger = \"two-window\"");
    }
    if c.fraction.is_some() && trigger != Trigger::Fraction {
        only("fraction", "trigger = \"fraction\"");
    }
    if let (Some(advisory), Some(margin)) = (c.advisory, c.margin) {
        if trigger == Trigger::TwoWindow && advisory <= margin {
            problems.push(
                at("advisory"),
                "must be longer than margin: the advisory window opens first",
            );
        }
    }
    if let Some(f) = c.fraction {
        if !(f > 0.0 && f < 1.0) {
            problems.push(
                at("fraction"),
                format!("must be between 0 and 1 (exclusive), got {f}"),
            );
        }
    }
}

/// The settings of `lock` and `single-flight` coalescing belong to them.
fn check_coalescing(c: &ClientSettings, at: &dyn Fn(&str) -> String, problems: &mut Problems) {
    if c.lock_ttl.is_some() && c.coalesce != Some(Coalesce::Lock) {
        problems.push(at("lock_ttl"), "only applies to coalesce = \"lock\"");
    }
    if c.lock_ttl.is_some_and(|t| t.0.is_zero()) {
        problems.push(at("lock_ttl"), "must be more than 0s");
    }
    if c.on_wait_timeout.is_some() && c.coalesce != Some(Coalesce::SingleFlight) {
        problems.push(
            at("on_wait_timeout"),
            "only applies to coalesce = \"single-flight\"",
        );
    }
    if c.wait_timeout.is_some_and(|t| t.0.is_zero()) {
        problems.push(at("wait_timeout"), "must be more than 0s");
    }
}
