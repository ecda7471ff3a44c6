//! The `tokenstorm` binary: parse the command line, run one command, print what it says, exit with its code.

mod cli;

use clap::Parser;
use cli::{Cli, Command};
use std::io::Write as _;
use std::process::ExitCode;
use tokenstorm::app::{self, output, AppError, Output, Signals};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let done = app::runtime()
        .map_err(AppError::Runtime)
        .and_then(|runtime| runtime.block_on(command(cli.command)));
    match done {
        Ok(done) => {
            print(&done.text);
            ExitCode::from(done.code)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn command(command: Command) -> Result<Output, AppError> {
    match command {
        Command::Run(args) if args.dry_run => {
            let found = app::dryrun::run(&args.profile, &args.overrides()?).await?;
            Ok(output::dry_run(&found))
        }
        Command::Run(args) => {
            let result = app::run(args.options()?, Signals::listen()).await?;
            output::finished(&result, &args.shown())
        }
        Command::Search(args) => {
            let result = app::search::search(args.options()?, Signals::listen()).await?;
            output::searched(&result, &args.shown())
        }
        Command::Serve(args) => {
            let listening = |served: &_| print(&output::listening(served));
            app::serve::serve(&args.profile, args.addr, Signals::listen(), listening).await?;
            Ok(Output::success(String::new()))
        }
        Command::Compare(args) => {
            let options = args.options();
            output::compared(&app::compare::run(&options)?, &options, &args.shown())
        }
        Command::Merge(args) => {
            let result = app::merge::run(&args.shards, args.out.as_deref())?;
            output::finished(&result, &args.shown())
        }
        Command::Report(args) => {
            app::render::render(&args.report, args.out.as_deref()).map(output::page)
        }
        Command::Schema => Ok(Output::success(tokenstorm::profile::json_schema())),
        Command::Clients => Ok(Output::success(app::clients_table())),
        Command::Validate(args) => {
            app::validate(&args.profile).map(|l| output::validated(&args.profile, &l))
        }
    }
}

/// A closed stdout (`tokenstorm run | head`) ends the output quietly instead of panicking; the report
/// on disk is already written by then.
fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
