//! The `catsync` binary: parses arguments, sets up logging and the runtime, and exits with the
//! status the command returns. Everything else is in the library.

use std::process::ExitCode;

use catsync::cli::args::LogFormat;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Feed parsing allocates a handful of small strings per row; mimalloc serves that pattern far
/// faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = catsync::cli::Cli::parse();
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("CATSYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the tokio runtime starts");
    runtime.block_on(catsync::cli::run(cli))
}
