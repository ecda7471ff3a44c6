//! What each command prints on stdout when it is done, and the exit code it ends with.

use super::compare::{junit_xml, CompareOptions, Compared};
use super::dryrun::DryRun;
use super::search::SearchResult;
use super::serve::Served;
use super::{exit, write_text, AppError, RunResult};
use crate::report::pages::INDEX_FILE;
use crate::report::{junit, summary};
use crate::vocabulary::SearchVerdict;
use std::path::{Path, PathBuf};

/// A finished command: the text for stdout and the process's exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    pub code: u8,
}

impl Output {
    pub fn success(text: String) -> Output {
        Output {
            text,
            code: exit::SUCCESS,
        }
    }
}

/// How a command shows its result besides the files it writes: `--junit FILE` and `--json`.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub junit: Option<PathBuf>,
    /// JSON on stdout instead of the text table.
    pub json: bool,
}

/// `run` and `merge`, once their report is on disk: writes `--junit`, and says what the report holds.
pub fn finished(result: &RunResult, shown: &Shown) -> Result<Output, AppError> {
    if let Some(path) = &shown.junit {
        write_text(path, &junit::from_thresholds(&result.report))?;
    }
    let text = if shown.json {
        format!(
            "{}\n",
            summary::machine(&result.report, &result.report_path)
        )
    } else {
        let page = result.report_path.with_file_name(INDEX_FILE);
        format!(
            "{}\nreport: {}\npage:   {}\n",
            summary::render(&result.report),
            result.report_path.display(),
            page.display()
        )
    };
    Ok(Output {
        text,
        code: exit_code(result),
    })
}

/// The exit code of a finished run: a signal's, then unreachable, then failed thresholds.
pub fn exit_code(result: &RunResult) -> u8 {
    if let Some(signal) = result.interrupted {
        signal.exit_code()
    } else if result.unreachable {
        exit::UNREACHABLE
    } else if result.report.passed == Some(false) {
        exit::THRESHOLDS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// `search`, once its report is on disk: writes `--junit` (the gates at the answer), prints the
/// verdict and the steps (or the search block as JSON), and exits by the verdict.
pub fn searched(result: &SearchResult, shown: &Shown) -> Result<Output, AppError> {
    if let Some(path) = &shown.junit {
        write_text(path, &junit::from_thresholds(&result.report))?;
    }
    let Some(search) = result.search() else {
        return Err(AppError::Usage("the search wrote no search block".into()));
    };
    let text = if shown.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(search).unwrap_or_default()
        )
    } else {
        let page = result.report_path.with_file_name(INDEX_FILE);
        format!(
            "{}report: {}\npage:   {}\n",
            search.render(),
            result.report_path.display(),
            page.display()
        )
    };
    let code = match (result.interrupted, search.verdict) {
        (Some(signal), _) => signal.exit_code(),
        (None, SearchVerdict::Found) => exit::SUCCESS,
        (None, SearchVerdict::AboveRange) => exit::ABOVE_RANGE,
        (None, _) => exit::THRESHOLDS_FAILED,
    };
    Ok(Output { text, code })
}

/// `compare`, once compare.json is on disk: writes `--junit`, prints the table (or compare.json),
/// and fails only on a regression that `--fail-on-regression` asked about.
pub fn compared(
    done: &Compared,
    options: &CompareOptions,
    shown: &Shown,
) -> Result<Output, AppError> {
    if let Some(path) = &shown.junit {
        write_text(path, &junit_xml(&done.comparison))?;
    }
    let text = if shown.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&done.comparison).unwrap_or_default()
        )
    } else {
        format!(
            "{}\ncompare: {}\npage:    {}\n",
            crate::report::compare::render(&done.comparison),
            done.path.display(),
            done.page.display()
        )
    };
    let code = if options.fail_on_regression && done.comparison.regressed {
        exit::THRESHOLDS_FAILED
    } else {
        exit::SUCCESS
    };
    Ok(Output { text, code })
}

/// `run --dry-run`: what it found.
pub fn dry_run(found: &DryRun) -> Output {
    Output {
        text: found.to_string(),
        code: found.exit_code(),
    }
}

/// `serve`, once it listens.
pub fn listening(served: &Served) -> String {
    format!(
        "tokenstorm serve: listening on http://{} with {} orgs (Ctrl-C stops)\n",
        served.addr, served.orgs
    )
}

/// `report`: where the page went.
pub fn page(page: PathBuf) -> Output {
    Output::success(format!("page: {}\n", page.display()))
}

/// `validate`: the profile is good.
pub fn validated(path: &Path, loaded: &crate::profile::Loaded) -> Output {
    Output::success(format!(
        "{}: ok ({} variants)\n",
        path.display(),
        loaded.profile.variants.len()
    ))
}
