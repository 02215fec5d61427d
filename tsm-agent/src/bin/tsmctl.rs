//! `tsmctl`: the operator CLI of tsmd. See `tsmctl --help` and `tsm_agent::tsmctl`.
//!
//! Exit status: 0 success; 1 the controller answered with an error (printed as one line
//! naming the culprit); 2 no controller could be reached, or the command line is wrong.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tsm_agent::tsmctl::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`tsmctl groups | head -1`) is not a failure worth reporting.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
