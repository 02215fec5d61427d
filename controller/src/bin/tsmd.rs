//! `tsmd`: clap → configuration → tracing → `daemon::run`. Everything else lives in
//! `controller::daemon`, where the tests run it in-process. `tsmd demo` is
//! `controller::demo::main`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use controller::daemon::cli::{Cli, Cmd};
use controller::daemon::{logging, run};
use controller::demo::DemoArgs;

enum Parsed {
    Daemon(Box<Cli>),
    Demo(DemoArgs),
}

/// `tsmd run|check` as `Cli` says, plus `tsmd demo`.
fn parse() -> Result<Parsed, clap::Error> {
    let m = Cli::command()
        .subcommand(controller::demo::subcommand())
        .try_get_matches()?;
    match m.subcommand() {
        Some(("demo", sub)) => DemoArgs::from_arg_matches(sub).map(Parsed::Demo),
        _ => Cli::from_arg_matches(&m).map(|c| Parsed::Daemon(Box::new(c))),
    }
}

fn main() -> ExitCode {
    // Exit codes: 0 success (or --help), 1 any failure, usage errors included.
    let cli = match parse() {
        Ok(Parsed::Daemon(c)) => *c,
        Ok(Parsed::Demo(args)) => return controller::demo::main(&args),
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Cmd::Token(args) => {
            match controller::daemon::tokens::run(&args, &mut std::io::stdin().lock()) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tsmd token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Check(args) => match args.settings() {
            Ok(s) => {
                print!("{}", s.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Run(args) => {
            let settings = match args.settings() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = logging::init(settings.log_format, &settings.log_level) {
                eprintln!("tsmd: {e}");
                return ExitCode::FAILURE;
            }
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tsmd: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "tsmd failed");
                    eprintln!("tsmd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
