//! `tokenstorm compare`: two reports (or two variants of one) side by side, with regression limits.

use super::AppError;
use crate::report::capacity::CapacityComparison;
use crate::report::compare::{self, Comparison, Limit};
use crate::report::model::{Report, VariantReport};
use crate::report::{self as reports, junit, pages, ReportError};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Confidence level of the statistical tests, 0.5 to below 1.
    pub confidence: f64,
    pub base: PathBuf,
    /// `None`: compare two variants of the base report.
    pub candidate: Option<PathBuf>,
    pub variants: Vec<String>,
    pub out: Option<PathBuf>,
    pub limits: Vec<Limit>,
    pub fail_on_regression: bool,
}

pub struct Compared {
    pub comparison: Comparison,
    pub path: PathBuf,
    /// The HTML page (`index.html` next to compare.json).
    pub page: PathBuf,
}

pub fn run(options: &CompareOptions) -> Result<Compared, AppError> {
    let base_report = reports::load(&options.base)?;
    let candidate_report = options
        .candidate
        .as_deref()
        .map(reports::load)
        .transpose()?;
    let (base, candidate, base_label, candidate_label) =
        sides(options, &base_report, candidate_report.as_ref())?;
    let limits = if options.fail_on_regression && options.limits.is_empty() {
        compare::default_limits()
    } else {
        options.limits.clone()
    };
    if !(0.5..1.0).contains(&options.confidence) {
        return Err(AppError::Usage(format!(
            "--confidence must be at least 0.5 and below 1 (e.g. 0.95); got {}",
            options.confidence
        )));
    }
    let mut comparison = compare::compare(
        &base,
        &candidate,
        &base_label,
        &candidate_label,
        &limits,
        options.confidence,
    );
    let candidate_search = candidate_report.as_ref().and_then(|r| r.search.as_ref());
    if let (Some(b), Some(c)) = (&base_report.search, candidate_search) {
        if b.grow != c.grow {
            return Err(AppError::Usage(format!(
                "the base search grew {} and the candidate {}: their answers do not compare",
                b.grow.unit(),
                c.grow.unit()
            )));
        }
        let capacity = CapacityComparison::of(b, c);
        // The release question: a build that carries less has regressed, whatever else it does.
        comparison.regressed |= capacity.lowered;
        comparison.capacity = Some(capacity);
    }
    let dir = options.out.clone().unwrap_or_else(|| {
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        PathBuf::from("reports").join(format!("compare-{stamp}"))
    });
    let path = write(&comparison, &dir)?;
    let server = base_report.server.as_ref();
    let sides = [
        (format!("base: {}", base.name), &base),
        (format!("candidate: {}", candidate.name), &candidate),
    ];
    let page = pages::write_compare(&comparison, &sides, server, &dir)?;
    Ok(Compared {
        comparison,
        path,
        page,
    })
}

/// The two variants compared and their labels: two variants of the base report, or one of each.
fn sides(
    options: &CompareOptions,
    base_report: &Report,
    candidate_report: Option<&Report>,
) -> Result<(VariantReport, VariantReport, String, String), AppError> {
    let sides = match (&options.candidate, candidate_report) {
        (None, _) | (_, None) => {
            let (a, b) = match options.variants.as_slice() {
                [a, b] => (
                    pick(base_report, &options.base, Some(a))?,
                    pick(base_report, &options.base, Some(b))?,
                ),
                [] if base_report.variants.len() == 2 => {
                    (&base_report.variants[0], &base_report.variants[1])
                }
                _ => {
                    return Err(AppError::Usage(format!(
                        "comparing variants of one report needs two --variant names (it has: {})",
                        names(base_report)
                    )))
                }
            };
            let label = |v: &VariantReport| format!("{}:{}", options.base.display(), v.name);
            (a.clone(), b.clone(), label(a), label(b))
        }
        (Some(path), Some(other)) => {
            let (first, second) = match options.variants.as_slice() {
                [] => (None, None),
                [one] => (Some(one), Some(one)),
                [a, b] => (Some(a), Some(b)),
                _ => {
                    return Err(AppError::Usage(
                        "give --variant at most twice: base, then candidate".into(),
                    ))
                }
            };
            let a = pick(base_report, &options.base, first)?;
            let b = pick(other, path, second)?;
            (
                a.clone(),
                b.clone(),
                format!("{}:{}", options.base.display(), a.name),
                format!("{}:{}", path.display(), b.name),
            )
        }
    };
    Ok(sides)
}

/// The variant named `name`, or the only one when no name is given.
fn pick<'a>(
    report: &'a Report,
    path: &Path,
    name: Option<&String>,
) -> Result<&'a VariantReport, AppError> {
    let found = match name {
        Some(name) => report.variants.iter().find(|v| &v.name == name),
        None if report.variants.len() == 1 => report.variants.first(),
        None => {
            return Err(AppError::Usage(format!(
                "{} has several variants ({}); say which with --variant",
                path.display(),
                names(report)
            )))
        }
    };
    found.ok_or_else(|| {
        AppError::Usage(format!(
            "{} has no variant `{}` (it has: {})",
            path.display(),
            name.map_or("", |n| n.as_str()),
            names(report)
        ))
    })
}

fn names(report: &Report) -> String {
    report
        .variants
        .iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn write(comparison: &Comparison, dir: &Path) -> Result<PathBuf, AppError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AppError::Report(ReportError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join("compare.json");
    let text = serde_json::to_string_pretty(comparison)
        .map_err(|e| io(&path)(std::io::Error::other(e)))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}

/// The regression limits as JUnit XML, one test case per limit.
pub fn junit_xml(comparison: &Comparison) -> String {
    let cases: Vec<junit::Case> = comparison
        .limits
        .iter()
        .map(|l| junit::Case {
            suite: "compare",
            name: l.metric.clone(),
            failure: l.regressed.then(|| {
                format!(
                    "candidate {:?} is above the allowed {:?} (base {:?})",
                    l.candidate, l.allowed_up_to, l.base
                )
            }),
        })
        .collect();
    junit::render("tokenstorm-compare", &cases)
}
