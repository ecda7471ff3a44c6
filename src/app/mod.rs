//! The one place that wires the stages together: profile -> plan -> engine -> report, for each command.

pub mod compare;
pub mod dryrun;
#[cfg(feature = "simulator")]
pub mod embedded;
pub mod merge;
pub mod output;
pub mod progress;
pub mod remote;
pub mod render;
pub mod run;
pub mod search;
pub mod serve;
pub mod signals;
pub mod target;
pub mod telemetry;
pub mod truth;
pub mod variant;

use crate::http::HttpError;
use crate::plan::PlanError;
use crate::profile::ProfileError;
use crate::report::plots::PlotError;
use crate::report::ReportError;

pub use output::Output;
pub use run::{run, RunOptions, RunResult};
pub use signals::{Signal, Signals};

/// With one core to run on (a container's quota, or `taskset` as the benchmarks pin it), a
/// current-thread runtime: the multi-thread one would still run its single worker beside the thread
/// that waits in `block_on`, and every hand-over between the two is a cross-thread wake. Pinned to one
/// core at 50k requests/s that cost the client ~15 % of its CPU per request, and `serve` ~10 %.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// Exit codes, documented in the README and `--help`.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const THRESHOLDS_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
    pub const RUNTIME: u8 = 4;
    /// `search`: the ceiling held, so the capacity is above the range searched.
    pub const ABOVE_RANGE: u8 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Merge(#[from] crate::report::merge::MergeError),
    #[error("cannot start the embedded target on {addr}: {source}")]
    Target {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Profile(ProfileError::Read { .. }) => exit::USAGE,
            AppError::Profile(_) | AppError::Plan(_) | AppError::Usage(_) => exit::USAGE,
            AppError::Merge(_) => exit::USAGE,
            AppError::Http(HttpError::Url { .. } | HttpError::Tls(_)) => exit::USAGE,
            AppError::Http(HttpError::Discovery { .. }) => exit::UNREACHABLE,
            AppError::Report(ReportError::Invalid { .. } | ReportError::Read { .. }) => exit::USAGE,
            // A histogram that does not decode came from the report file, not from this run.
            AppError::Report(ReportError::Charts(PlotError::Histogram { .. })) => exit::USAGE,
            AppError::Http(_) | AppError::Report(_) | AppError::Target { .. } => exit::RUNTIME,
            AppError::Runtime(_) => exit::RUNTIME,
        }
    }
}

/// `tokenstorm validate`: parse and check a profile, sending nothing.
pub fn validate(path: &std::path::Path) -> Result<crate::profile::Loaded, AppError> {
    let loaded = crate::profile::load(path)?;
    crate::plan::build(&loaded, &crate::plan::Overrides::default())?;
    Ok(loaded)
}

/// Writes a small text output (`--junit FILE`).
pub fn write_text(path: &std::path::Path, text: &str) -> Result<(), AppError> {
    std::fs::write(path, text).map_err(|source| {
        AppError::Report(ReportError::Write {
            path: path.to_owned(),
            source,
        })
    })
}

/// `tokenstorm clients`: every built-in preset with its one-line description.
pub fn clients_table() -> String {
    let mut out = String::new();
    for (name, text) in crate::profile::presets::BUILT_IN {
        let description = crate::profile::client::parse_settings(text)
            .ok()
            .and_then(|s| s.description)
            .unwrap_or_default();
        out.push_str(&format!("{name:<22} {description}\n"));
    }
    out.push_str("\nUse one in a profile with `client = \"NAME\"`, or `client = { preset = \"NAME\", ... }` to override settings.\n");
    out
}
