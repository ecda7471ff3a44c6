//! `tokenstorm merge`: the shard reports of one sharded run, joined into one report and judged by the
//! same thresholds, as if one process had made the whole load.

use super::run::{compact, RunResult};
use super::AppError;
use crate::report::merge::{self, ShardReport};
use crate::report::{self, rfc3339};
use std::path::{Path, PathBuf};

/// Reads, checks and joins the shard reports, then writes the merged report into `out`
/// (`reports/<profile>-merged-<UTC timestamp>/` when not given).
pub fn run(paths: &[PathBuf], out: Option<&Path>) -> Result<RunResult, AppError> {
    let shards = paths
        .iter()
        .map(|path| {
            Ok(ShardReport {
                path: path.clone(),
                report: report::load(path)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let merged = merge::merge(&shards)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| {
        let now = rfc3339(time::OffsetDateTime::now_utc());
        PathBuf::from("reports").join(format!("{}-merged-{}", merged.profile.name, compact(&now)))
    });
    let report_path = report::write_json(&merged, &out)?;
    report::pages::write_run(&merged, &out)?;
    Ok(RunResult {
        interrupted: None,
        unreachable: false,
        report: merged,
        report_path,
    })
}
