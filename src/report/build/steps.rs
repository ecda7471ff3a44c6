//! The journey's steps of a variant's report: each step's calls and expiry lens, from the recorder.

use super::{lens, outcome_report};
use crate::metrics::Snapshot;
use crate::plan::Load;
use crate::report::model::StepReport;
use crate::report::outcomes::Outcomes;

/// The journey's steps; counts come from the histograms, which record every call once.
pub(super) fn steps(load: &Load, snap: &Snapshot) -> Vec<StepReport> {
    let Some(journey) = load.sessions.as_ref().map(|s| &s.journey) else {
        return Vec::new();
    };
    let none = crate::metrics::latency::ByOutcome::default();
    let lenses = snap.step_lenses.iter().map(lens);
    journey
        .names
        .iter()
        .zip(journey.routes.iter())
        .zip(lenses)
        .enumerate()
        .map(|(i, ((name, (method, path)), expiry_lens))| {
            let rows = snap.latency.by_step.get(i).unwrap_or(&none);
            let counts = Outcomes(std::array::from_fn(|o| {
                rows[o].as_ref().map_or(0, |h| h.len())
            }));
            StepReport {
                name: name.clone(),
                method: method.clone(),
                path: path.clone(),
                calls: outcome_report(rows, counts),
                expiry_lens,
            }
        })
        .collect()
}
