//! Writes the pictures of a report folder: `plots/*.svg`, `plots/*.png` and `index.html`.

use super::compare::Comparison;
use super::model::{Report, ServerSettings, VariantReport};
use super::plots::{self, Side};
use super::{html, ReportError};
use std::path::{Path, PathBuf};

pub const INDEX_FILE: &str = "index.html";

/// Charts and `index.html` of a run, next to its report.json in `dir`; returns the page's path.
pub fn write_run(report: &Report, dir: &Path) -> Result<PathBuf, ReportError> {
    let sides: Vec<Side> = report
        .variants
        .iter()
        .map(|v| Side {
            label: v.name.clone(),
            variant: v,
        })
        .collect();
    let mut charts: Vec<plots::Chart> = report.search.iter().map(plots::search_chart).collect();
    if !sides.is_empty() {
        charts.extend(plots::charts(&sides, report.server.as_ref())?);
    }
    let rendered = charts
        .iter()
        .map(|c| c.render())
        .collect::<Result<Vec<_>, _>>()?;
    let page = html::run_page(report, &rendered);
    write(dir, &charts, &rendered, page)
}

/// The comparison page and its charts (both sides overlaid) in `dir`; returns the page's path.
pub fn write_compare(
    comparison: &Comparison,
    sides: &[(String, &VariantReport)],
    server: Option<&ServerSettings>,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let plot_sides: Vec<Side> = sides
        .iter()
        .map(|(label, v)| Side {
            label: label.clone(),
            variant: v,
        })
        .collect();
    let charts = plots::charts(&plot_sides, server)?;
    let rendered = charts
        .iter()
        .map(|c| c.render())
        .collect::<Result<Vec<_>, _>>()?;
    let page = html::compare_page(comparison, sides, &rendered);
    write(dir, &charts, &rendered, page)
}

fn write(
    dir: &Path,
    charts: &[plots::Chart],
    rendered: &[plots::Rendered],
    page: Result<String, minijinja::Error>,
) -> Result<PathBuf, ReportError> {
    let path = dir.join(INDEX_FILE);
    let failed = |source| ReportError::Write {
        path: path.clone(),
        source,
    };
    let page = page.map_err(|e| failed(std::io::Error::other(e)))?;
    plots::write_files(charts, rendered, dir)?;
    std::fs::write(&path, page).map_err(failed)?;
    Ok(path)
}
