//! `tokenstorm run`: each variant against a fresh target, then the report, also when interrupted.

use super::signals::{Signal, Signals};
use super::target::Running;
use super::{truth, variant, AppError};
use crate::http::{Api, Outcome};
use crate::plan::{self, Overrides, Plan};
use crate::profile::thresholds::Thresholds;
use crate::report::model::{ProfileInfo, Report, VariantReport, FORMAT_VERSION};
use crate::report::{self, gates};
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
    let plan = plan::build(&loaded, &options.overrides)?;
    let started_at = utc_now();
    let out = options.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-{}", plan.profile_name, compact(&started_at)))
    });

    let mut variants = Vec::new();
    let mut thresholds = Vec::new();
    let mut aborted_by = None;
    let mut target_label = String::from("embedded");
    for model in &plan.variants {
        if signals.first().is_some() {
            break;
        }
        let target = Running::start(&plan).await?;
        target_label = target.label.clone();
        if options.announce {
            eprintln!(
                "running variant {}: {:.0}s at {}/s against {}",
                model.name,
                plan.load.duration.as_secs_f64(),
                plan.load.rate_per_second,
                target.label
            );
        }
        let api = Api::new(&target.api)?;
        let gates =
            gates::for_variant(&plan.profile.thresholds, &thresholds_of(&plan, &model.name));
        let ran = variant::run(
            &plan,
            model.clone(),
            api,
            &gates,
            &signals,
            options.progress,
        )
        .await;
        let mut report = ran.report;
        if let Some(server) = target.truth() {
            report.truth = Some(truth::check(&report, truth::flatten(&server)));
        }
        target.stop().await;
        thresholds.extend(gates::evaluate(&report, &gates));
        variants.push(report);
        if let Some(gate) = ran.aborted_by {
            aborted_by = Some(format!("{}: {gate}", model.name));
            break;
        }
        if ran.hard_stop {
            break;
        }
    }

    let interrupted = signals.first();
    let unreachable = !variants.is_empty() && variants.iter().all(never_answered);
    // Only the embedded target reports truth, and only its settings are known to this tool.
    let server = variants
        .iter()
        .any(|v| v.truth.is_some())
        .then(|| report::build::server_settings(&plan.profile.server));
    let report = Report {
        format_version: FORMAT_VERSION,
        tool: "tokenstorm".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        profile: ProfileInfo {
            name: plan.profile_name.clone(),
            path: loaded.path.display().to_string(),
            hash: plan.profile_hash.clone(),
            seed: plan.seed,
        },
        started_at,
        target: target_label,
        interrupted: interrupted.is_some(),
        variants,
        passed: (!thresholds.is_empty()).then(|| thresholds.iter().all(|t| t.passed)),
        thresholds,
        aborted_by,
        server,
    };
    let report_path = report::write_json(&report, &out)?;
    report::pages::write_run(&report, &out)?;
    Ok(RunResult {
        report,
        report_path,
        interrupted,
        unreachable,
    })
}

fn thresholds_of(plan: &Plan, variant: &str) -> Thresholds {
    plan.profile
        .variants
        .iter()
        .find(|v| v.name == variant)
        .map(|v| v.thresholds.clone())
        .unwrap_or_default()
}

/// No call got any HTTP answer at all: the target was never reached.
fn never_answered(v: &VariantReport) -> bool {
    let e = &v.endpoints;
    let calls = e.token.requests + e.refresh.requests + e.contacts.requests;
    let unanswered = [&e.token, &e.refresh, &e.contacts]
        .iter()
        .map(|x| x.outcomes[Outcome::ConnectError] + x.outcomes[Outcome::Timeout])
        .sum::<u64>();
    calls > 0 && calls == unanswered
}

fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// `2026-11-23T09:49:16.123Z` -> `20261123T094916Z`, for folder names.
fn compact(rfc3339: &str) -> String {
    let mut s: String = rfc3339
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    s.push('Z');
    s
}
