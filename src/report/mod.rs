//! Reports: the JSON document, built once from the recorder's data, and the writers that present it.

pub mod build;
pub mod capacity;
pub mod compare;
pub mod early;
pub mod gates;
pub mod histogram;
pub mod html;
pub mod junit;
pub mod live;
pub mod merge;
pub mod model;
/// Outcome counts live with the recorder, which counts them; the report reads them from there.
pub use crate::metrics::outcomes;
pub mod messaging;
pub mod pages;
pub mod plots;
mod resends;
pub mod returning;
pub mod search;
pub mod sessions;
pub mod significance;
pub mod stats;
pub mod summary;
pub mod windows;
mod words;

pub use model::Report;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read report {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a tokenstorm report: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Charts(#[from] plots::PlotError),
}

pub const REPORT_FILE: &str = "report.json";

/// UTC RFC 3339 with the fraction of a second (the report's timestamps), or the unix time if
/// formatting fails.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Writes `report.json` into `dir` (created if needed) and returns its path. The file is written
/// under a temporary name and renamed, so a reader never sees half a report.
pub fn write_json(report: &Report, dir: &Path) -> Result<PathBuf, ReportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(REPORT_FILE);
    let tmp = dir.join(".report.json.tmp");
    let text = serde_json::to_string_pretty(report).map_err(|e| ReportError::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// Reads a report back, refusing other tools' files and format versions this build does not know.
pub fn load(path: &Path) -> Result<Report, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |reason: String| ReportError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(model::FORMAT_VERSION) => {}
        Some(v) => {
            return Err(invalid(format!(
                "format_version {v}, this build reads {}",
                model::FORMAT_VERSION
            )))
        }
        None => return Err(invalid("no format_version field".into())),
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}
