//! `tsm-agent`: the sender's agent on the command line. See `tsm-agent --help` and
//! `tsm_agent::cli`.
//!
//! Exit status: 0 success; 1 the controller refused (printed as one line naming the
//! culprit); 2 no controller could be reached, or the command line is wrong.

use std::process::ExitCode;

use clap::Parser;
use tsm_agent::cli::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs (RUST_LOG) go to standard error; standard output is the command's answer.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // Two workers: an embedded tsmd (bench) and the agent's own tasks run side by side.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    match runtime.block_on(run(&cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}
