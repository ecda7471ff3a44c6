//! Joins the reports of a sharded run into the report one process would have written: it checks that
//! the shards belong together (same profile content, seed, shard count; every index exactly once),
//! then adds what adds and takes maxima of maxima (`merge/variant.rs`, `merge/series.rs`).

mod series;
mod steps;
pub(super) mod variant;

use super::gates::{self, Gate};
use super::model::{Report, ThresholdResult, VariantReport};
use crate::profile::thresholds::{GateName, Rule};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no shard reports to merge")]
    Empty,
    #[error("{} is not a shard report (it was not run with --shard INDEX/COUNT)", .0.display())]
    NotAShard(PathBuf),
    #[error(
        "{} ran another profile than {}: profile hash {} vs {} (the shards of one run must use the same \
         profile file content)",
        path.display(), first.display(), theirs, ours
    )]
    ProfileMismatch {
        path: PathBuf,
        first: PathBuf,
        theirs: String,
        ours: String,
    },
    #[error("{} ran with seed {theirs}, {} with seed {ours}: shards of one run share the seed", path.display(), first.display())]
    SeedMismatch {
        path: PathBuf,
        first: PathBuf,
        theirs: u64,
        ours: u64,
    },
    #[error("{} is shard {index} of {theirs}, {} is of {ours}: shards of one run share the count", path.display(), first.display())]
    CountMismatch {
        path: PathBuf,
        first: PathBuf,
        index: u32,
        theirs: u32,
        ours: u32,
    },
    #[error("shard {index} appears twice: {} and {}", a.display(), b.display())]
    Duplicate { index: u32, a: PathBuf, b: PathBuf },
    #[error("shard {} of {count} missing: got only {got} reports", missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))]
    Missing {
        missing: Vec<u32>,
        count: u32,
        got: usize,
    },
    #[error("{} does not match {}: {what}", path.display(), first.display())]
    Shape {
        path: PathBuf,
        first: PathBuf,
        what: String,
    },
    #[error("{}: variant {variant}: {field}: {reason}", path.display())]
    Histogram {
        path: PathBuf,
        variant: String,
        field: String,
        reason: String,
    },
}

/// One shard report and the file it came from (named in errors).
pub struct ShardReport {
    pub path: PathBuf,
    pub report: Report,
}

/// The merged report: thresholds evaluated on the merged numbers, `passed` set as `run` sets it.
pub fn merge(shards: &[ShardReport]) -> Result<Report, MergeError> {
    let ordered = check(shards)?;
    let first = ordered[0];
    let mut variants = Vec::new();
    for (i, v) in first.report.variants.iter().enumerate() {
        let parts: Vec<(&Path, &VariantReport)> = ordered
            .iter()
            .map(|s| (s.path.as_path(), &s.report.variants[i]))
            .collect();
        variants.push(variant::merge(&v.name, &parts)?);
    }
    let thresholds: Vec<ThresholdResult> = variants
        .iter()
        .flat_map(|v| gates::evaluate(v, &gates_of(&first.report, &v.name)))
        .collect();
    let mut notes: Vec<String> = Vec::new();
    for s in &ordered {
        for note in &s.report.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
    }
    notes.push(format!("merged from {} shard reports", ordered.len()));
    let started_at = ordered
        .iter()
        .map(|s| s.report.started_at.clone())
        .min()
        .unwrap_or_default();
    Ok(Report {
        format_version: first.report.format_version,
        tool: first.report.tool.clone(),
        tool_version: first.report.tool_version.clone(),
        profile: first.report.profile.clone(),
        started_at,
        target: first.report.target.clone(),
        interrupted: ordered.iter().any(|s| s.report.interrupted),
        variants,
        passed: (!thresholds.is_empty()).then(|| thresholds.iter().all(|t| t.passed)),
        thresholds,
        aborted_by: ordered.iter().find_map(|s| {
            let shard = s.report.shard.as_ref()?;
            Some(format!(
                "shard {}: {}",
                shard.index,
                s.report.aborted_by.as_ref()?
            ))
        }),
        shard: None,
        merged_shards: Some(ordered.len() as u32),
        server: first.report.server.clone(),
        notes,
        // A search runs in one process, never as shards.
        search: None,
    })
}

/// The shards in index order, once each checked to belong to the same run.
fn check(shards: &[ShardReport]) -> Result<Vec<&ShardReport>, MergeError> {
    let Some(first) = shards.first() else {
        return Err(MergeError::Empty);
    };
    let info = |s: &ShardReport| {
        s.report
            .shard
            .clone()
            .ok_or_else(|| MergeError::NotAShard(s.path.clone()))
    };
    let count = info(first)?.count;
    let mut by_index: BTreeMap<u32, &ShardReport> = BTreeMap::new();
    for s in shards {
        let shard = info(s)?;
        let (ours, theirs) = (&first.report.profile, &s.report.profile);
        if theirs.hash != ours.hash {
            return Err(MergeError::ProfileMismatch {
                path: s.path.clone(),
                first: first.path.clone(),
                theirs: theirs.hash.clone(),
                ours: ours.hash.clone(),
            });
        }
        if theirs.seed != ours.seed {
            return Err(MergeError::SeedMismatch {
                path: s.path.clone(),
                first: first.path.clone(),
                theirs: theirs.seed,
                ours: ours.seed,
            });
        }
        if shard.count != count {
            return Err(MergeError::CountMismatch {
                path: s.path.clone(),
                first: first.path.clone(),
                index: shard.index,
                theirs: shard.count,
                ours: count,
            });
        }
        if let Some(other) = by_index.insert(shard.index, s) {
            return Err(MergeError::Duplicate {
                index: shard.index,
                a: other.path.clone(),
                b: s.path.clone(),
            });
        }
        same_shape(first, s)?;
    }
    let missing: Vec<u32> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing,
            count,
            got: shards.len(),
        });
    }
    Ok(by_index.into_values().collect())
}

/// Same variants, run as long: `--variant` and `--duration` change the run without changing the hash.
fn same_shape(first: &ShardReport, s: &ShardReport) -> Result<(), MergeError> {
    let shape = |r: &Report| {
        r.variants
            .iter()
            .map(|v| format!("{} for {}s", v.name, v.planned_duration_s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (ours, theirs) = (shape(&first.report), shape(&s.report));
    if ours != theirs {
        return Err(MergeError::Shape {
            path: s.path.clone(),
            first: first.path.clone(),
            what: format!("variants [{theirs}] vs [{ours}]"),
        });
    }
    Ok(())
}

/// The gates a variant was judged by, rebuilt from the shard's threshold results (every shard ran the
/// same profile, so the first shard's list is everyone's).
fn gates_of(report: &Report, variant: &str) -> Vec<Gate> {
    report
        .thresholds
        .iter()
        .filter(|t| t.variant == variant)
        .filter_map(|t| {
            let GateName {
                metric,
                stage,
                step,
            } = t.metric.parse().ok()?;
            Some(Gate {
                name: t.metric.clone(),
                metric,
                stage,
                step,
                rule: Rule {
                    condition: t.condition.parse().ok()?,
                    abort_on_fail: false,
                    abort_delay: Default::default(),
                },
            })
        })
        .collect()
}
