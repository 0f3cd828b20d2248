//! `hearth`: the Hearth service and its administration commands.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = assistant::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(assistant::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain: what we were doing, then why it failed.
            eprintln!("hearth: {e:#}");
            ExitCode::FAILURE
        }
    }
}
