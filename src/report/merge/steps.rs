//! The journey's steps of shards' reports, joined step by step: calls and histograms add, lenses add
//! bin by bin.

use super::variant::{endpoint_of, lens, Part};
use super::MergeError;
use crate::report::model::{EndpointReport, StepReport};
use std::path::Path;

/// Steps line up by index: every shard ran the same profile, so the same journey.
pub(super) fn merge(name: &str, parts: &[Part<'_>]) -> Result<Vec<StepReport>, MergeError> {
    let (first_path, first) = parts[0];
    for (path, v) in parts {
        let same = v.steps.len() == first.steps.len()
            && v.steps
                .iter()
                .zip(&first.steps)
                .all(|(a, b)| a.name == b.name);
        if !same {
            return Err(MergeError::Shape {
                path: path.to_path_buf(),
                first: first_path.to_path_buf(),
                what: format!("variant {name}: the journey's steps differ"),
            });
        }
    }
    first
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let reports: Vec<(&Path, &EndpointReport)> =
                parts.iter().map(|(p, v)| (*p, &v.steps[i].calls)).collect();
            Ok(StepReport {
                calls: endpoint_of(name, &format!("steps.{}", step.name), &reports)?,
                expiry_lens: lens(parts.iter().map(|(_, v)| &v.steps[i].expiry_lens)),
                ..step.clone()
            })
        })
        .collect()
}
