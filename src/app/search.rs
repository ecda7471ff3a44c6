//! `tokenstorm search`: the capacity search. Each step runs the search's variant at one load against a
//! fresh target (so a failed step's backlog does not judge the next, and the same seed gives the same
//! steps), settles, and is judged by the profile's gates on the calls sent after settling; the engine's
//! `Search` decides the next load. What was found is written also when the search is interrupted.

use super::run::{self, RunOptions};
use super::signals::{Signal, Signals};
use super::AppError;
use crate::engine::search::{Search, SearchSpec, StepKind, Verdict};
use crate::plan::schedule::Stage;
use crate::plan::{ClientModel, Load, Plan};
use crate::profile::search::{GrowName, SearchSection};
use crate::profile::target::TargetSection;
use crate::profile::Loaded;
use crate::report;
use crate::report::gates::{self, Gate};
use crate::report::model::{Report, ThresholdResult, VariantReport, FORMAT_VERSION};
use crate::report::search::{SearchReport, SearchStep, JUDGED};
use std::path::PathBuf;
use std::time::Duration;

/// What a finished (or interrupted) search produced.
pub struct SearchResult {
    pub report: Report,
    pub report_path: PathBuf,
    pub interrupted: Option<Signal>,
}

impl SearchResult {
    pub fn search(&self) -> Option<&SearchReport> {
        self.report.search.as_ref()
    }
}

/// One step's run: its evidence and, for the report, the variant's numbers and its gates' results.
struct StepRun {
    step: SearchStep,
    variant: VariantReport,
    results: Vec<ThresholdResult>,
    target_label: String,
}

pub async fn search(options: RunOptions, signals: Signals) -> Result<SearchResult, AppError> {
    let loaded = crate::profile::load(&options.profile)?;
    let plan = run::plan_with_credentials(&loaded, &options.overrides)?;
    let section = plan.profile.search.clone().ok_or_else(|| {
        AppError::Usage(format!(
            "{} has no [search] section: it says what to grow, from where to which ceiling",
            options.profile.display()
        ))
    })?;
    let model = searched_variant(&plan, &section)?;
    let export = super::telemetry::Export::start(&options.telemetry, &plan.profile_name).await?;
    let mut options = options;
    options.telemetry.hub = export.as_ref().map(super::telemetry::Export::handle);
    let searcher = Searcher {
        gates: judged_gates(&plan, &model.name)?,
        plan: &plan,
        loaded: &loaded,
        model: &model,
        section: &section,
        options: &options,
        signals: &signals,
    };
    let started_at = run::utc_now();
    let mut search = Search::new(spec(&section));
    let runs = searcher.all_steps(&mut search).await?;
    let export_notes = match export {
        Some(export) => super::run::finish_export(export, &signals).await,
        None => Vec::new(),
    };
    let interrupted = signals.first();
    let (held, failed) = search.bracket();
    let found = Found {
        section: &section,
        model: &model,
        verdict: search.verdict(interrupted.is_some()),
        held,
        failed,
    };
    let mut report = build(&plan, &loaded, found, runs);
    report.started_at = started_at;
    report.notes = export_notes;
    let out = options.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "{}-search-{}",
            plan.profile_name,
            run::compact(&report.started_at)
        ))
    });
    let report_path = report::write_json(&report, &out)?;
    report::pages::write_run(&report, &out)?;
    Ok(SearchResult {
        report,
        report_path,
        interrupted,
    })
}

fn spec(s: &SearchSection) -> SearchSpec {
    SearchSpec {
        start: s.start.value(),
        ceiling: s.ceiling.value(),
        factor: s.factor,
        resolution: s.resolution,
        repeats: s.repeats,
        whole: matches!(s.grow, GrowName::Orgs | GrowName::Sessions),
    }
}

fn searched_variant(plan: &Plan, section: &SearchSection) -> Result<ClientModel, AppError> {
    let found = match &section.variant {
        Some(name) => plan.variants.iter().find(|v| &v.name == name),
        None => plan.variants.first(),
    };
    found.cloned().ok_or_else(|| {
        AppError::Usage("the search's variant is not among those selected (--variant)".into())
    })
}

/// The profile's gates, each endpoint gate judged on the calls sent after settling. Stage-scoped
/// gates name the profile's stages, which a search step does not have.
fn judged_gates(plan: &Plan, variant: &str) -> Result<Vec<Gate>, AppError> {
    let all = gates::for_variant(&plan.profile.thresholds, &run::thresholds_of(plan, variant));
    if all.is_empty() {
        return Err(AppError::Usage(
            "a search needs [thresholds]: they define the load that holds".into(),
        ));
    }
    if let Some(scoped) = all.iter().find(|g| g.stage.is_some()) {
        return Err(AppError::Usage(format!(
            "threshold `{}`: a search judges each step on its own window, so stage-scoped gates \
             do not apply; write it without `[stage=...]`",
            scoped.name
        )));
    }
    if let Some(scoped) = all.iter().find(|g| g.step.is_some()) {
        return Err(AppError::Usage(format!(
            "threshold `{}`: a search judges each step's window by its endpoints; a gate on one of \
             the journey's steps does not apply (gate `contacts.*`, which counts every step's calls)",
            scoped.name
        )));
    }
    let mut judged: Vec<Gate> = all
        .into_iter()
        .map(|g| match g.metric {
            crate::profile::thresholds::Metric::Endpoint(scope, _)
                if scope != crate::profile::thresholds::Scope::Requests =>
            {
                Gate {
                    stage: Some(JUDGED.to_owned()),
                    ..g
                }
            }
            _ => g,
        })
        .collect();
    judged.push(nothing_left_unfinished());
    Ok(judged)
}

/// A step also fails when calls were still waiting for an answer after the drain: their latency is
/// not known, so the gates could not have judged them.
fn nothing_left_unfinished() -> Gate {
    use crate::profile::thresholds::{Condition, Op, Rule};
    Gate {
        name: "requests.unfinished".into(),
        metric: crate::profile::thresholds::Metric::Unfinished,
        stage: None,
        step: None,
        rule: Rule {
            condition: Condition {
                op: Op::Eq,
                value: 0.0,
            },
            abort_on_fail: false,
            abort_delay: crate::profile::units::Span(Duration::ZERO),
        },
    }
}

/// The load of one step: straight to `per_s`, held through the settling time and the judged window.
fn step_load(load: &Load, per_s: f64, settle: Duration, judged: Duration) -> Load {
    let stages = Stage::chain([
        ("start".to_owned(), Duration::ZERO, per_s),
        ("settling".to_owned(), settle, per_s),
        (JUDGED.to_owned(), judged, per_s),
    ]);
    Load {
        rate_per_second: per_s,
        ramp_up: Duration::ZERO,
        stages,
        duration: settle + judged,
        ..load.clone()
    }
}

/// What every step of one search shares.
struct Searcher<'a> {
    plan: &'a Plan,
    loaded: &'a Loaded,
    model: &'a ClientModel,
    section: &'a SearchSection,
    gates: Vec<Gate>,
    options: &'a RunOptions,
    signals: &'a Signals,
}

impl Searcher<'_> {
    /// Every step the search asks for, until it is done or a signal came.
    async fn all_steps(&self, search: &mut Search) -> Result<Vec<StepRun>, AppError> {
        let mut runs: Vec<StepRun> = Vec::new();
        // Counted from 1 in the order the steps ran: the live export's `search_step` label.
        let mut number = 0;
        while let Some((load, kind)) = search.next() {
            if self.signals.first().is_some() {
                break;
            }
            number += 1;
            let ran = self.step(load, kind, number).await?;
            if self.signals.first().is_some() {
                // A step cut short proves nothing either way.
                break;
            }
            search.record(load, kind, ran.step.held);
            runs.push(ran);
        }
        Ok(runs)
    }

    async fn step(&self, load: f64, kind: StepKind, number: u32) -> Result<StepRun, AppError> {
        let (mut step_plan, rate) = self.plan_at(load)?;
        let section = self.section;
        step_plan.load = step_load(&step_plan.load, rate, section.settle.0, section.step.0);
        if self.options.announce {
            eprintln!(
                "search step ({}): {} {}, {:.0}s settling + {:.0}s judged",
                kind.name(),
                crate::report::search::load(load),
                section.grow.unit(),
                section.settle.0.as_secs_f64(),
                section.step.0.as_secs_f64()
            );
        }
        let mut quiet = RunOptions {
            announce: false,
            ..self.options.clone()
        };
        quiet.telemetry.hub = quiet
            .telemetry
            .hub
            .map(|h| h.labelled("search_step", number.to_string()));
        let done = run::run_variant(&step_plan, 0, self.model, &quiet, self.signals).await?;
        let results = gates::evaluate(&done.variant.report, &self.gates);
        let failed: Vec<ThresholdResult> = results.iter().filter(|r| !r.passed).cloned().collect();
        Ok(StepRun {
            step: SearchStep::of(&done.variant.report, (load, rate), kind, failed),
            variant: done.variant.report,
            results,
            target_label: done.target_label,
        })
    }

    /// The plan of a step at `load`, and the rate it sends: the profile's plan at that rate (of
    /// requests, or of session arrivals with `[sessions]`); or the plan of a profile with that many
    /// sessions (each at the profile's per-session rate) or orgs (each with its per-org share of
    /// sessions and rate; against a real target, its first [[target.orgs]]).
    fn plan_at(&self, load: f64) -> Result<(Plan, f64), AppError> {
        let base = &self.loaded.profile.load;
        let n = load.round().max(1.0) as u32;
        let mut grown = self.loaded.clone();
        let shape = &mut grown.profile.load;
        let share = match self.section.grow {
            GrowName::Rate | GrowName::SessionRate => return Ok((self.plan.clone(), load)),
            GrowName::Sessions => {
                shape.sessions = n;
                // Fewer sessions than orgs would leave orgs without any.
                shape.orgs = base.orgs.min(n);
                f64::from(n) / f64::from(base.sessions.max(1))
            }
            GrowName::Orgs => {
                let share = f64::from(n) / f64::from(base.orgs.max(1));
                shape.orgs = n;
                shape.sessions = ((f64::from(base.sessions) * share).ceil() as u32).max(n);
                share
            }
        };
        if let TargetSection::Http(http) = &mut grown.profile.target {
            http.orgs.truncate(grown.profile.load.orgs as usize);
        }
        let plan = run::plan_with_credentials(&grown, &self.options.overrides)?;
        Ok((plan, base.peak_rate() * share))
    }
}

/// Where the search came to.
struct Found<'a> {
    section: &'a SearchSection,
    model: &'a ClientModel,
    verdict: Verdict,
    held: Option<f64>,
    failed: Option<f64>,
}

/// The report: the search block, and the run at the answer (or, when nothing held, at the start) as
/// its variant, with its gates as the thresholds (so `--junit` has a case per gate at the answer).
fn build(plan: &Plan, loaded: &Loaded, found: Found, runs: Vec<StepRun>) -> Report {
    let Found {
        section,
        model,
        verdict,
        held,
        failed,
    } = found;
    let broke_on = failed.and_then(|at| {
        runs.iter()
            .find(|r| r.step.load == at && r.step.kind != StepKind::Repeat)
            .and_then(|r| r.step.failed.first().cloned())
    });
    let shown_load = held.or(failed);
    let target = runs
        .last()
        .map_or_else(|| "embedded".into(), |r| r.target_label.clone());
    let steps: Vec<SearchStep> = runs.iter().map(|r| r.step.clone()).collect();
    let shown = runs
        .into_iter()
        .rev()
        .find(|r| Some(r.step.load) == shown_load && r.step.kind != StepKind::Repeat);
    let (variants, thresholds) =
        shown.map_or((Vec::new(), Vec::new()), |r| (vec![r.variant], r.results));
    let server = run::server_of(plan, &variants);
    Report {
        format_version: FORMAT_VERSION,
        tool: "tokenstorm".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        profile: run::profile_info(plan, loaded),
        started_at: String::new(),
        target,
        interrupted: verdict == Verdict::Interrupted,
        variants,
        passed: (!thresholds.is_empty()).then(|| thresholds.iter().all(|t| t.passed)),
        thresholds,
        aborted_by: None,
        shard: None,
        merged_shards: None,
        notes: Vec::new(),
        server,
        search: Some(SearchReport {
            grow: section.grow,
            variant: model.name.clone(),
            start: section.start.value(),
            ceiling: section.ceiling.value(),
            factor: section.factor,
            resolution: section.resolution,
            step_s: section.step.0.as_secs_f64(),
            settle_s: section.settle.0.as_secs_f64(),
            verdict,
            holds: held,
            breaks: failed.filter(|_| verdict != Verdict::AboveRange),
            broke_on,
            steps,
        }),
    }
}
