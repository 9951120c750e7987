//! `miroirctl`: parse the command line, run it, map the outcome to an exit code (0 done,
//! 2 refused, 1 failed). Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = miroirctl::Cli::parse();
    match miroirctl::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("miroirctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
