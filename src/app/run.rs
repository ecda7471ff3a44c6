//! `tokenstorm run`: each variant against a fresh target, then the report, also when interrupted.

use super::signals::{Signal, Signals};
use super::target::Running;
use super::variant::{self, VariantRun};
use super::{truth, AppError};
use crate::plan::{self, ClientModel, Overrides, Plan};
use crate::profile::thresholds::Thresholds;
use crate::profile::Loaded;
use crate::report::gates::{self, Gate};
use crate::report::model::{
    ProfileInfo, Report, ServerSettings, ShardInfo, ThresholdResult, VariantReport, FORMAT_VERSION,
};
use crate::report::{self, rfc3339};
use crate::vocabulary::Outcome;
use std::path::PathBuf;

/// Everything `run` needs from the command line, already typed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub profile: PathBuf,
    /// Report folder; `reports/<profile>-<UTC timestamp>/` when not given.
    pub out: Option<PathBuf>,
    pub overrides: Overrides,
    pub progress: bool,
    /// Print one line to stderr as each variant starts (for logs, where there is no progress bar).
    pub announce: bool,
    /// Live export while the run goes (docs/telemetry.md).
    pub telemetry: super::telemetry::TelemetryOptions,
}

/// What a finished run produced.
pub struct RunResult {
    pub report: Report,
    pub report_path: PathBuf,
    /// The signal that cut the run short, if one did.
    pub interrupted: Option<Signal>,
    /// True when no call of any variant got an answer from the target.
    pub unreachable: bool,
}

pub async fn run(options: RunOptions, signals: Signals) -> Result<RunResult, AppError> {
    let loaded = crate::profile::load(&options.profile)?;
    let plan = plan_with_credentials(&loaded, &options.overrides)?;
    for warning in super::remote::warnings(&plan) {
        eprintln!("{warning}");
    }
    let started_at = utc_now();
    let out = options.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-{}", plan.profile_name, compact(&started_at)))
    });
    let (mut ran, export_notes) = exported(&plan, options.clone(), &signals).await?;
    ran.notes.extend(export_notes);
    let interrupted = signals.first();
    let unreachable = !ran.variants.is_empty() && ran.variants.iter().all(never_answered);
    let report = build_report(&plan, &loaded, started_at, ran, interrupted.is_some());
    let report_path = report::write_json(&report, &out)?;
    report::pages::write_run(&report, &out)?;
    Ok(RunResult {
        report,
        report_path,
        interrupted,
        unreachable,
    })
}

/// The profile's plan, each org's client secret filled in from where the profile says.
pub(super) fn plan_with_credentials(
    loaded: &Loaded,
    overrides: &Overrides,
) -> Result<Plan, AppError> {
    let mut plan = plan::build(loaded, overrides)?;
    if plan.target_url.is_some() {
        // A served target knows every org's client by the secret `serve` derives; use the same one.
        let secret = super::serve::served_secret();
        for org in &mut plan.orgs {
            org.client_secret = secret.clone();
        }
    }
    let profile_dir = plan.profile_dir.clone();
    plan::credentials::attach(&mut plan, &profile_dir, &|var| std::env::var(var).ok())
        .map_err(plan::PlanError::from)?;
    Ok(plan)
}

/// The variants run with the live export around them; after the last, the export ends (final
/// scrape and push) and says what it did in notes for the report. A run that failed has no final
/// numbers worth waiting for: its export ends with the process.
async fn exported(
    plan: &Plan,
    mut options: RunOptions,
    signals: &Signals,
) -> Result<(Ran, Vec<String>), AppError> {
    let export = super::telemetry::Export::start(&options.telemetry, &plan.profile_name).await?;
    options.telemetry.hub = export.as_ref().map(super::telemetry::Export::handle);
    let ran = run_variants(plan, &options, signals).await?;
    let notes = match export {
        Some(export) => finish_export(export, signals).await,
        None => Vec::new(),
    };
    Ok((ran, notes))
}

/// Ends the export (final scrape and push); a second signal cuts that short, as it cuts the drain.
pub(super) async fn finish_export(
    export: super::telemetry::Export,
    signals: &Signals,
) -> Vec<String> {
    tokio::select! {
        notes = export.finish() => notes,
        () = signals.count_reaches(2) => vec!["live export: ended by a second signal before the final numbers went out".to_owned()],
    }
}

/// What the variants that ran came to, for the report.
struct Ran {
    variants: Vec<VariantReport>,
    thresholds: Vec<ThresholdResult>,
    aborted_by: Option<String>,
    target_label: String,
    notes: Vec<String>,
}

/// Each variant in turn against a fresh target, until all ran, a signal came, or an abort-on-fail
/// threshold or a second signal stopped the run.
async fn run_variants(
    plan: &Plan,
    options: &RunOptions,
    signals: &Signals,
) -> Result<Ran, AppError> {
    let mut ran = Ran {
        variants: Vec::new(),
        thresholds: Vec::new(),
        aborted_by: None,
        target_label: String::from("embedded"),
        notes: notes(plan),
    };
    for (k, model) in plan.variants.iter().enumerate() {
        if signals.first().is_some() {
            break;
        }
        let VariantDone {
            variant,
            gates,
            target_label,
        } = run_variant(plan, k, model, options, signals).await?;
        ran.target_label = target_label;
        if let Some(late) = variant.late_by {
            // Its arrivals are shifted against the other shards'; merge still aligns them by wall clock.
            ran.notes.push(format!(
                "variant {} started {:.1}s after its agreed start (--start-at)",
                model.name,
                late.as_secs_f64()
            ));
        }
        ran.thresholds
            .extend(gates::evaluate(&variant.report, &gates));
        ran.variants.push(variant.report);
        if let Some(gate) = variant.aborted_by {
            ran.aborted_by = Some(format!("{}: {gate}", model.name));
            break;
        }
        if variant.hard_stop {
            break;
        }
    }
    Ok(ran)
}

/// Variant `k` against a target of its own, started for it and stopped after it; its report holds
/// the target's truth cross-check when the target keeps one.
pub(super) async fn run_variant(
    plan: &Plan,
    k: usize,
    model: &ClientModel,
    options: &RunOptions,
    signals: &Signals,
) -> Result<VariantDone, AppError> {
    let target = Running::start(plan).await?;
    if options.announce {
        announce(plan, model, &target.label);
    }
    let api = match super::remote::connect(&target.api, plan).await {
        Ok(api) => api,
        Err(e) => {
            target.stop().await;
            return Err(e);
        }
    };
    let gates = gates::for_variant(&plan.profile.thresholds, &thresholds_of(plan, &model.name));
    let not_before = variant_start(plan, k);
    if let Some(at) = not_before.filter(|at| *at > time::OffsetDateTime::now_utc()) {
        if options.announce {
            eprintln!("waiting until {} (--start-at) to start", rfc3339(at));
        }
    }
    let watch = variant::Watchers {
        progress: options.progress,
        live: options.telemetry.hub.as_ref(),
    };
    let mut variant =
        variant::run(plan, model.clone(), api, &gates, signals, watch, not_before).await;
    if let Some(server) = target.truth() {
        variant.report.truth = Some(truth::check(&variant.report, truth::flatten(&server)));
    }
    let target_label = target.label.clone();
    target.stop().await;
    Ok(VariantDone {
        variant,
        gates,
        target_label,
    })
}

/// A variant that ran, the gates it is judged by, and what it ran against.
pub(super) struct VariantDone {
    pub variant: VariantRun,
    pub gates: Vec<Gate>,
    pub target_label: String,
}

/// The line a log gets as a variant starts.
fn announce(plan: &Plan, model: &ClientModel, target: &str) {
    let shard = plan
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    eprintln!(
        "running variant {}{shard}: {:.0}s at {}/s against {target}",
        model.name,
        plan.load.duration.as_secs_f64(),
        plan.load.rate_per_second * plan.share(),
    );
}

fn build_report(
    plan: &Plan,
    loaded: &Loaded,
    started_at: String,
    ran: Ran,
    interrupted: bool,
) -> Report {
    let server = server_of(plan, &ran.variants);
    Report {
        format_version: FORMAT_VERSION,
        tool: "tokenstorm".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        profile: profile_info(plan, loaded),
        started_at,
        target: ran.target_label,
        interrupted,
        variants: ran.variants,
        passed: (!ran.thresholds.is_empty()).then(|| ran.thresholds.iter().all(|t| t.passed)),
        thresholds: ran.thresholds,
        aborted_by: ran.aborted_by,
        shard: plan.shard.map(|s| ShardInfo {
            index: s.index,
            count: s.count,
            share: plan.share(),
            start_at: plan.start_at.map(rfc3339),
        }),
        merged_shards: None,
        notes: ran.notes,
        server,
        search: None,
    }
}

/// Which profile a report ran: its name, where it was read, its hash and seed.
pub(super) fn profile_info(plan: &Plan, loaded: &Loaded) -> ProfileInfo {
    ProfileInfo {
        name: plan.profile_name.clone(),
        path: loaded.path.display().to_string(),
        hash: plan.profile_hash.clone(),
        seed: plan.seed,
    }
}

/// The embedded target's settings, when these variants ran against it: only it reports truth, and
/// only its settings are known to this tool.
pub(super) fn server_of(plan: &Plan, variants: &[VariantReport]) -> Option<ServerSettings> {
    variants
        .iter()
        .any(|v| v.truth.is_some())
        .then(|| report::build::server_settings(&plan.profile, &plan.orgs))
}

pub(super) fn thresholds_of(plan: &Plan, variant: &str) -> Thresholds {
    plan.profile
        .variants
        .iter()
        .find(|v| v.name == variant)
        .map(|v| v.thresholds.clone())
        .unwrap_or_default()
}

/// No call and no socket got any HTTP answer at all: the target was never reached. (A refused
/// upgrade is an answer; a guest widget makes no call, so its sockets are all it has.)
fn never_answered(v: &VariantReport) -> bool {
    let e = &v.endpoints;
    let (sockets, sockets_failed) = v.messaging.as_ref().map_or((0, 0), |m| {
        (m.counts.connect_attempts, m.counts.connect_failed)
    });
    let calls = e.token.requests + e.refresh.requests + e.contacts.requests + sockets;
    let unanswered = [&e.token, &e.refresh, &e.contacts]
        .iter()
        .map(|x| x.outcomes[Outcome::ConnectError] + x.outcomes[Outcome::Timeout])
        .sum::<u64>()
        + sockets_failed;
    calls > 0 && calls == unanswered
}

/// When variant `k` starts pacing, with `--start-at`: variants get fixed slots one after another, each
/// the run plus its drain plus a second to spare, so every shard starts each variant at the same instant
/// however long its own drain took.
fn variant_start(plan: &Plan, k: usize) -> Option<time::OffsetDateTime> {
    let slot = plan.load.duration + plan.load.drain + std::time::Duration::from_secs(1);
    let offset = slot.checked_mul(u32::try_from(k).ok()?)?;
    plan.start_at?
        .checked_add(time::Duration::try_from(offset).ok()?)
}

fn notes(plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(url) = &plan.target_url {
        notes.push(format!(
            "target {url} is a `tokenstorm serve` shared with other runs: its counts cover them all, \
             so the truth cross-check was skipped"
        ));
    }
    notes
}

pub(super) fn utc_now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// `2026-11-23T09:49:16.123Z` -> `20261123T094916Z`, for folder names.
pub(crate) fn compact(rfc3339: &str) -> String {
    let mut s: String = rfc3339
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    s.push('Z');
    s
}
