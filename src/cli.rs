//! The command line: clap definitions and their translation into the library's typed options.

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokenstorm::app::compare::CompareOptions;
use tokenstorm::app::output::Shown;
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::app::{AppError, RunOptions};
use tokenstorm::plan::{Overrides, ShardSpec};
use tokenstorm::profile::units::Span;
use tokenstorm::report::compare::Limit;
use tokenstorm::report::live::push::NATIVE_HISTOGRAMS_ENV;

const EXIT_CODES: &str = "Exit codes:
  0    the run finished (and every threshold passed)
  1    a threshold failed
  2    usage error: bad arguments, an invalid profile, an unreadable report
  3    the target could not be reached at all
  4    a runtime error: the embedded target could not start, the report could not be written
  5    search: the ceiling held, so the capacity is above the range searched
  130  interrupted by Ctrl-C (SIGINT); the report was still written
  143  terminated by SIGTERM; the report was still written";

#[derive(Parser)]
#[command(name = "tokenstorm", version, about = "Load tester for the OAuth2 token lifecycle of chat-widget clients: 401 spikes at expiry, refresh storms, rotation races.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a profile's variants one after another and write a report.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Find the most load every threshold holds at: grow it step by step, then bisect to the knee
    /// (the profile's [search] section; README, "Sizing capacity").
    #[command(after_help = EXIT_CODES)]
    Search(SearchArgs),
    /// Serve the embedded OAuth2 + contacts target alone, until Ctrl-C (endpoints: docs/simulator.md).
    Serve(ServeArgs),
    /// Check a profile and report every problem with its key and line, sending nothing.
    Validate(ValidateArgs),
    /// Put two runs side by side (two reports, or two variants of one) and flag regressions.
    #[command(after_help = EXIT_CODES)]
    Compare(CompareArgs),
    /// Join the reports of a sharded run (`run --shard i/n`) into one, exactly (docs/distributed.md).
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
    /// Re-render a saved report's charts (plots/) and HTML page (index.html) without running.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// List the built-in client-model presets.
    Clients,
    /// Print the JSON Schema of profiles (kept in the repository as schema/profile.schema.json).
    Schema,
}

#[derive(Args)]
pub struct CompareArgs {
    /// The base report (report.json).
    pub base: PathBuf,
    /// The candidate report; leave out to compare two variants of the base report.
    pub candidate: Option<PathBuf>,
    /// Variant to compare: twice for base then candidate, once for the same name in both reports.
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// Folder for compare.json, index.html and plots/ [default: reports/compare-<unix time>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when the candidate is worse than a limit allows and, where the metric has a statistical
    /// test (latency p50/p99 of an endpoint, 401 and invalid_grant rates), the test calls it a
    /// significant regression; a limit exceeded by noise is reported, not failed.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Confidence level of the statistical tests (bootstrap intervals for p50/p99, Mann-Whitney on the
    /// latency distributions, two-proportion tests on rates).
    #[arg(long, value_name = "LEVEL", default_value_t = 0.95)]
    pub confidence: f64,
    /// A regression limit, METRIC=+N% or METRIC=+N (repeatable). With --fail-on-regression and no
    /// --limit: contacts.p99_ms=+10%, contacts.unauthorized_rate=+0, token.invalid_grant=+0,
    /// refresh.invalid_grant=+0, requests.dropped_rate=+0.
    #[arg(long = "limit", value_name = "METRIC=+N%")]
    pub limits: Vec<Limit>,
    /// Also write the limits as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print compare.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `--junit` and `--json`, which run, merge and compare share.
macro_rules! shown {
    ($($args:ty),+) => {
        $(impl $args {
            pub fn shown(&self) -> Shown {
                Shown {
                    junit: self.junit.clone(),
                    json: self.json,
                }
            }
        })+
    };
}
shown!(RunArgs, MergeArgs, CompareArgs, SearchArgs);

impl CompareArgs {
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            base: self.base.clone(),
            candidate: self.candidate.clone(),
            variants: self.variants.clone(),
            out: self.out.clone(),
            limits: self.limits.clone(),
            fail_on_regression: self.fail_on_regression,
            confidence: self.confidence,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Profile to run.
    #[arg(default_value = "profiles/default.toml")]
    pub profile: PathBuf,
    /// Where results go, repeatable: a folder for the report [default: reports/<profile>-<UTC
    /// timestamp>/], and/or `prometheus-rw=URL` to push live metrics by Prometheus remote write every
    /// second (auth from TOKENSTORM_PROMETHEUS_RW_USERNAME/_PASSWORD or _BEARER_TOKEN), and/or
    /// `otlp=URL` to push them as OTLP/HTTP metrics (e.g. http://collector:4318/v1/metrics; headers
    /// from TOKENSTORM_OTLP_HEADERS); docs/telemetry.md.
    #[arg(long, value_name = "DIR|prometheus-rw=URL|otlp=URL", value_parser = parse_out)]
    pub out: Vec<Out>,
    /// Serve live metrics for Prometheus to scrape at http://ADDR/metrics while the run goes
    /// (OpenMetrics text; docs/telemetry.md), e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// After the run, keep the metrics endpoint up until one scrape has read the final numbers,
    /// at most this long.
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub metrics_linger: Span,
    /// Run each variant this long instead of the profile's `duration` ("30s", "2m" or seconds).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<Span>,
    /// Seed for every random choice, instead of the profile's `seed`: same seed, same schedule.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run only this variant (repeat for several).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// No progress bar (it is also off when stdout is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write the thresholds as JUnit XML to FILE (one test case per threshold).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the machine-readable summary as JSON on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,
    /// Run shard INDEX of COUNT (0-based): a disjoint slice of the orgs and their share of the rate.
    /// `auto/COUNT` reads INDEX from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs).
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<ShardSpec>,
    /// Start pacing at this UTC time (RFC 3339, e.g. 2026-11-30T02:00:00Z), so all shards begin together.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start_at: Option<time::OffsetDateTime>,
    /// The target is a `tokenstorm serve` already running at URL (e.g. http://10.0.0.5:8080).
    #[arg(long, value_name = "URL")]
    pub target_url: Option<String>,
    /// Check the plan, the credentials, one token per org and one API call each, print what was found,
    /// and stop (exit 0 all good, 1 some check failed, 3 nothing answered). The safe first step against staging.
    #[arg(long, conflicts_with_all = ["json", "junit", "out"])]
    pub dry_run: bool,
}

impl RunArgs {
    /// `progress` and `announce` follow `--quiet`; the progress bar also needs a terminal.
    pub fn options(&self) -> Result<RunOptions, AppError> {
        let (out, telemetry) = outputs(&self.out, self.metrics_addr, self.metrics_linger)?;
        Ok(RunOptions {
            profile: self.profile.clone(),
            out,
            overrides: self.overrides()?,
            progress: !self.quiet && std::io::stdout().is_terminal(),
            announce: !self.quiet,
            telemetry,
        })
    }

    pub fn overrides(&self) -> Result<Overrides, AppError> {
        let index = std::env::var(tokenstorm::plan::shard::INDEX_ENV).ok();
        Ok(Overrides {
            duration: self.duration.map(|d| d.0),
            seed: self.seed,
            variants: self.variants.clone(),
            shard: self
                .shard
                .map(|s| s.resolve(index.as_deref()))
                .transpose()
                .map_err(AppError::Usage)?,
            start_at: self.start_at,
            target_url: self.target_url.clone(),
        })
    }
}

/// The report folder and the live export that `--out`s and `--metrics-addr` ask for; two `--out`s
/// of the same kind are a usage error.
fn outputs(
    outs: &[Out],
    metrics_addr: Option<SocketAddr>,
    linger: Span,
) -> Result<(Option<PathBuf>, TelemetryOptions), AppError> {
    let dir = one_out(outs, "report folder", |o| match o {
        Out::Dir(d) => Some(d.clone()),
        _ => None,
    })?;
    let telemetry = TelemetryOptions {
        metrics_addr,
        linger: linger.0,
        remote_write: one_out(outs, "prometheus-rw URL", |o| match o {
            Out::PrometheusRw(url) => Some(url.clone()),
            _ => None,
        })?,
        otlp: one_out(outs, "otlp URL", |o| match o {
            Out::Otlp(url) => Some(url.clone()),
            _ => None,
        })?,
        native_histograms: native_histograms(std::env::var(NATIVE_HISTOGRAMS_ENV).ok())?,
        hub: None,
    };
    Ok((dir, telemetry))
}

/// `TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS`: `true`/`1` or `false`/`0` (unset is false).
fn native_histograms(value: Option<String>) -> Result<bool, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(AppError::Usage(format!(
            "{NATIVE_HISTOGRAMS_ENV}=`{other}`: expected true or false"
        ))),
    }
}

fn one_out<T>(
    outs: &[Out],
    what: &str,
    pick: impl Fn(&Out) -> Option<T>,
) -> Result<Option<T>, AppError> {
    let mut found = outs.iter().filter_map(pick);
    let first = found.next();
    if found.next().is_some() {
        return Err(AppError::Usage(format!("--out names more than one {what}")));
    }
    Ok(first)
}

/// One `--out`: a report folder, or a live output.
#[derive(Debug, Clone)]
pub enum Out {
    Dir(PathBuf),
    PrometheusRw(String),
    Otlp(String),
}

fn parse_out(s: &str) -> Result<Out, String> {
    let (url, out, example): (&str, fn(String) -> Out, &str) =
        if let Some(url) = s.strip_prefix("prometheus-rw=") {
            (
                url,
                Out::PrometheusRw,
                "prometheus-rw=http://127.0.0.1:9090/api/v1/write",
            )
        } else if let Some(url) = s.strip_prefix("otlp=") {
            (url, Out::Otlp, "otlp=http://127.0.0.1:4318/v1/metrics")
        } else {
            return Ok(Out::Dir(PathBuf::from(s)));
        };
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(out(url.to_owned())),
        _ => Err(format!("`{url}` is not an http(s) URL such as {example}")),
    }
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-30T02:00:00Z: {e}"))
}

#[derive(Args)]
pub struct SearchArgs {
    /// Profile with a [search] section.
    #[arg(default_value = "profiles/capacity.toml")]
    pub profile: PathBuf,
    /// Where results go, repeatable: a folder for the report [default:
    /// reports/<profile>-search-<UTC timestamp>/], and/or `prometheus-rw=URL`, `otlp=URL` to export
    /// each step live, labelled `search_step` (as for `run`; docs/telemetry.md).
    #[arg(long, value_name = "DIR|prometheus-rw=URL|otlp=URL", value_parser = parse_out)]
    pub out: Vec<Out>,
    /// Serve live metrics at http://ADDR/metrics while the search goes (as for `run`).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// After the search, keep the metrics endpoint up until one scrape has read the final numbers,
    /// at most this long.
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub metrics_linger: Span,
    /// Seed for every random choice, instead of the profile's `seed`: same seed, same steps.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// No progress bar and no line per step.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write each gate at the answer as a JUnit test case to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print report.json's search block on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,
    /// The target is a `tokenstorm serve` already running at URL.
    #[arg(long, value_name = "URL")]
    pub target_url: Option<String>,
}

impl SearchArgs {
    pub fn options(&self) -> Result<RunOptions, AppError> {
        let (out, telemetry) = outputs(&self.out, self.metrics_addr, self.metrics_linger)?;
        Ok(RunOptions {
            profile: self.profile.clone(),
            out,
            telemetry,
            overrides: Overrides {
                seed: self.seed,
                target_url: self.target_url.clone(),
                ..Overrides::default()
            },
            progress: !self.quiet && std::io::stdout().is_terminal(),
            announce: !self.quiet,
        })
    }
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shard reports (each shard's report.json), one per shard index.
    #[arg(required = true, value_name = "SHARD.json")]
    pub shards: Vec<PathBuf>,
    /// Folder for the merged report [default: reports/<profile>-merged-<UTC timestamp>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the thresholds as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the machine-readable summary as JSON on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Profile whose [server] and [load].orgs settings shape the target.
    #[arg(default_value = "profiles/default.toml")]
    pub profile: PathBuf,
    /// Address to listen on; port 0 picks a free port and prints it.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The report to render (report.json).
    pub report: PathBuf,
    /// Folder for plots/ and index.html [default: the report's own folder].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Profile to check.
    pub profile: PathBuf,
}
