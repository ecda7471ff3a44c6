//! One variant's run: the engine, the progress bar, the stop signals and abort-on-fail thresholds.

use super::progress::Progress;
use super::signals::Signals;
use super::telemetry::HubHandle;
use crate::engine::{self, Ending};
use crate::http::Api;
use crate::metrics::Recorder;
use crate::plan::{ClientModel, Plan};
use crate::report::build;
use crate::report::gates::{self, Gate};
use crate::report::live;
use crate::report::model::VariantReport;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How a variant's run ended, beyond its numbers.
pub struct VariantRun {
    pub report: VariantReport,
    /// A second signal cut even the drain short: stop everything.
    pub hard_stop: bool,
    /// The abort-on-fail threshold that stopped the run, as `metric condition`.
    pub aborted_by: Option<String>,
    /// How long after its agreed start (`--start-at`) pacing began, when that was over a second.
    pub late_by: Option<Duration>,
}

/// Who watches the run while it goes: the progress bar, and the live export's hub.
pub struct Watchers<'a> {
    pub progress: bool,
    pub live: Option<&'a HubHandle>,
}

pub async fn run(
    plan: &Plan,
    model: ClientModel,
    api: Api,
    gates: &[Gate],
    signals: &Signals,
    watch: Watchers<'_>,
    not_before: Option<time::OffsetDateTime>,
) -> VariantRun {
    let load = &plan.load;
    if let Some(at) = not_before {
        wait_until(at, signals).await;
    }
    let start = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let late_by = not_before
        .and_then(|at| Duration::try_from(started_at - at).ok())
        .filter(|late| *late > Duration::from_secs(1));
    let recorder = Arc::new(recorder(plan, start));
    if let Some(live) = watch.live {
        let shard = plan.shard.map(|s| (s.index, s.count));
        let mut labels = live::variant_labels(&model.name, shard);
        labels.extend(live.labels.iter().cloned());
        live.hub.add(labels, recorder.clone());
    }
    let progress = Progress::start(&model.name, load.duration, recorder.clone(), watch.progress);
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine = engine::run(engine_run(plan, &model, api), recorder.clone(), stop_rx);
    tokio::pin!(engine);
    let aborting: Vec<&Gate> = gates.iter().filter(|g| g.rule.abort_on_fail).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut aborted_by = None;
    let mut hard_stop = false;
    let ending = loop {
        tokio::select! {
            ending = &mut engine => break ending,
            _ = signals.count_reaches(1), if !*stop_tx.borrow() => { let _ = stop_tx.send(true); }
            // Dropping the engine's future aborts its requests; what they measured so far is kept.
            _ = signals.count_reaches(2) => { hard_stop = true; break Ending::Stopped; }
            _ = tick.tick(), if !aborting.is_empty() && aborted_by.is_none() => {
                aborted_by = failing(&recorder, &model, plan, &aborting, start.elapsed());
                if aborted_by.is_some() {
                    let _ = stop_tx.send(true);
                }
            }
        }
    };
    progress.finish();
    let snapshot = recorder.snapshot(Instant::now());
    let mut report = build::variant(&model, load, &snapshot, ending == Ending::Stopped);
    report.started_at = crate::report::rfc3339(started_at);
    // A shard sends its share of the arrivals, so its rate is that share of the profile's.
    report.rate_per_s = load.rate_per_second * plan.share();
    VariantRun {
        report,
        hard_stop,
        aborted_by,
        late_by,
    }
}

/// The recorder for one variant: sized for the run, with its top orgs, stages and sessions.
fn recorder(plan: &Plan, start: Instant) -> Recorder {
    let load = &plan.load;
    let expected = load.duration + load.drain + Duration::from_secs(1);
    let recorder = Recorder::new(plan.orgs.len(), start, expected)
        .with_top_orgs(&plan.top_orgs)
        .with_stages(load.stages.iter().map(|s| s.end).collect());
    let recorder = match &load.sessions {
        Some(sessions) => recorder
            .with_sessions(load.steady_window())
            .with_steps(sessions.journey.len()),
        None => recorder,
    };
    match &load.messaging {
        Some(_) => recorder.with_messaging(expected),
        None => recorder,
    }
}

/// What the engine runs for this variant: the plan's load, orgs and arrivals, with `model`.
fn engine_run<'a>(plan: &'a Plan, model: &ClientModel, api: Api) -> engine::Run<'a> {
    engine::Run {
        load: &plan.load,
        model: model.clone(),
        orgs: plan.orgs.clone().into(),
        session_org: plan.session_org.clone(),
        arrival_order: plan.arrival_order.clone(),
        slice: plan.slice.clone(),
        api,
        seed: plan.seed,
    }
}

/// Sleeps until the wall-clock instant `at` (at once if it has passed), or until the first signal.
async fn wait_until(at: time::OffsetDateTime, signals: &Signals) {
    let wait = at - time::OffsetDateTime::now_utc();
    let Ok(wait) = Duration::try_from(wait) else {
        return;
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = signals.count_reaches(1) => {}
    }
}

/// The first abort-on-fail gate that fails on the numbers so far, once its delay has passed.
fn failing(
    recorder: &Recorder,
    model: &ClientModel,
    plan: &Plan,
    gates: &[&Gate],
    elapsed: Duration,
) -> Option<String> {
    let due: Vec<Gate> = gates
        .iter()
        .filter(|g| elapsed >= g.rule.abort_delay.0)
        .map(|g| (*g).clone())
        .collect();
    if due.is_empty() {
        return None;
    }
    let live = build::variant(model, &plan.load, &recorder.snapshot(Instant::now()), false);
    gates::evaluate(&live, &due)
        .into_iter()
        .find(|r| !r.passed)
        .map(|r| format!("{} {}", r.metric, r.condition))
}
