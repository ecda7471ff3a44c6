//! The `tokenstorm` binary: parse the command line, run one command, map its result to an exit code.

mod cli;

use clap::Parser;
use cli::{Cli, Command};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use tokenstorm::app::{self, exit, AppError, Signals};
use tokenstorm::report::pages::INDEX_FILE;

/// Like `print!`, but a closed stdout (`tokenstorm run | head`) ends the output quietly instead of
/// panicking; the report on disk is already written by then.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match app::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    match runtime.block_on(command(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn command(command: Command) -> Result<u8, AppError> {
    match command {
        Command::Run(args) if args.dry_run => {
            let overrides = args.overrides().map_err(AppError::Usage)?;
            let found = app::dryrun::run(&args.profile, &overrides).await?;
            out!("{found}");
            Ok(found.exit_code())
        }
        Command::Run(args) => {
            let options = app::RunOptions {
                profile: args.profile.clone(),
                out: args.out.clone(),
                overrides: args.overrides().map_err(AppError::Usage)?,
                progress: !args.quiet && std::io::stdout().is_terminal(),
                announce: !args.quiet,
            };
            let result = app::run(options, Signals::listen()).await?;
            show(&result, args.junit.as_deref(), args.json)
        }
        Command::Serve(args) => {
            app::serve::serve(&args.profile, args.addr, Signals::listen(), |s| {
                outln!(
                    "tokenstorm serve: listening on http://{} with {} orgs (Ctrl-C stops)",
                    s.addr,
                    s.orgs
                );
            })
            .await?;
            Ok(exit::SUCCESS)
        }
        Command::Compare(args) => {
            let options = app::compare::CompareOptions {
                base: args.base,
                candidate: args.candidate,
                variants: args.variants,
                out: args.out,
                limits: args.limits,
                fail_on_regression: args.fail_on_regression,
                confidence: args.confidence,
            };
            let done = app::compare::run(&options)?;
            if let Some(path) = &args.junit {
                app::write_text(path, &app::compare::junit_xml(&done.comparison))?;
            }
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&done.comparison).unwrap_or_default()
                );
            } else {
                out!("{}", tokenstorm::report::compare::render(&done.comparison));
                outln!("\ncompare: {}", done.path.display());
                outln!("page:    {}", done.page.display());
            }
            let regressed = options.fail_on_regression && done.comparison.regressed;
            Ok(if regressed {
                exit::THRESHOLDS_FAILED
            } else {
                exit::SUCCESS
            })
        }
        Command::Merge(args) => {
            let result = app::merge::run(&args.shards, args.out.as_deref())?;
            show(&result, args.junit.as_deref(), args.json)
        }
        Command::Report(args) => {
            let page = app::render::render(&args.report, args.out.as_deref())?;
            outln!("page: {}", page.display());
            Ok(exit::SUCCESS)
        }
        Command::Schema => {
            out!("{}", tokenstorm::profile::json_schema());
            Ok(exit::SUCCESS)
        }
        Command::Clients => {
            out!("{}", app::clients_table());
            Ok(exit::SUCCESS)
        }
        Command::Validate(args) => {
            let loaded = app::validate(&args.profile)?;
            outln!(
                "{}: ok ({} variants)",
                args.profile.display(),
                loaded.profile.variants.len()
            );
            Ok(exit::SUCCESS)
        }
    }
}

/// What `run` and `merge` print and write once their report is on disk, and their exit code.
fn show(result: &app::RunResult, junit: Option<&Path>, json: bool) -> Result<u8, AppError> {
    if let Some(path) = junit {
        app::write_text(
            path,
            &tokenstorm::report::junit::from_thresholds(&result.report),
        )?;
    }
    if json {
        outln!(
            "{}",
            tokenstorm::report::summary::machine(&result.report, &result.report_path)
        );
    } else {
        out!("{}", tokenstorm::report::summary::render(&result.report));
        outln!("\nreport: {}", result.report_path.display());
        let page = result.report_path.with_file_name(INDEX_FILE);
        outln!("page:   {}", page.display());
    }
    Ok(app::exit_code(result))
}
