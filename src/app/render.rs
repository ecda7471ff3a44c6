//! `tokenstorm report`: re-render a saved report's charts and HTML page without running anything.

use super::AppError;
use crate::report::plots::PlotError;
use crate::report::{self, pages, ReportError};
use std::path::{Path, PathBuf};

/// Loads `path` and writes `plots/` and `index.html` into `out` (default: the report's own folder).
/// Returns the page's path.
pub fn render(path: &Path, out: Option<&Path>) -> Result<PathBuf, AppError> {
    let loaded = report::load(path)?;
    let dir = match out {
        Some(dir) => dir.to_owned(),
        None => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
    };
    pages::write_run(&loaded, &dir).map_err(|e| match e {
        // Undecodable histograms are the file's fault: say which file, and exit as for bad input.
        ReportError::Charts(PlotError::Histogram { what, source }) => {
            AppError::Report(ReportError::Invalid {
                path: path.to_owned(),
                reason: format!("{what}: {source}"),
            })
        }
        other => AppError::Report(other),
    })
}
